import math

import pytest

from tracker import boxes


def test_center_size_round_trip():
    center, size = boxes.xywh_to_center_size((10, 20, 30, 40))
    assert tuple(center) == (25.0, 40.0) and tuple(size) == (30.0, 40.0)
    assert boxes.center_size_to_xywh(center, size) == (10.0, 20.0, 30.0, 40.0)


def test_corners_round_trip():
    assert boxes.xywh_to_corners((10, 20, 30, 40)) == (10.0, 20.0, 40.0, 60.0)
    assert boxes.corners_to_xywh((10, 20, 40, 60)) == (10.0, 20.0, 30.0, 40.0)


def test_one_based_conversion():
    # OTB's first pixel is (1, 1); ours is (0, 0). Size does not change.
    assert boxes.one_based_to_zero_based((1, 1, 5, 6)) == (0.0, 0.0, 5.0, 6.0)
    assert boxes.zero_based_to_one_based((0, 0, 5, 6)) == (1.0, 1.0, 5.0, 6.0)


def test_clip_to_frame():
    assert boxes.clip_to_frame((-10, -5, 30, 20), 100, 50) == (0.0, 0.0, 20.0, 15.0)
    assert boxes.clip_to_frame((90, 40, 30, 20), 100, 50) == (90.0, 40.0, 10.0, 10.0)


def test_validate_box_accepts_partly_outside():
    assert boxes.validate_box((-5, -5, 10, 10), 100, 100) == (-5.0, -5.0, 10.0, 10.0)


@pytest.mark.parametrize(
    "box, error, words",
    [
        ((0, 0, 0, 10), ValueError, "width and height must be > 0"),
        ((0, 0, 10, -1), ValueError, "width and height must be > 0"),
        ((math.nan, 0, 10, 10), ValueError, "finite"),
        ((0, 0, math.inf, 10), ValueError, "finite"),
        ((200, 10, 10, 10), ValueError, "entirely outside"),
        ((-20, 10, 10, 10), ValueError, "entirely outside"),
        ((0, 0, 10), TypeError, "four numbers"),
        ("abcd", TypeError, "four numbers"),
        (None, TypeError, "four numbers"),
    ],
)
def test_validate_box_rejects(box, error, words):
    with pytest.raises(error, match=words):
        boxes.validate_box(box, 100, 100)
