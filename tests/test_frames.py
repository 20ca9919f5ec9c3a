import numpy as np
import pytest

from tracker.frames import prepare_frame


def test_bgr_passes_through():
    frame = np.zeros((4, 5, 3), np.uint8)
    assert prepare_frame(frame) is frame


def test_grayscale_is_replicated_to_three_channels():
    gray = np.arange(20, dtype=np.uint8).reshape(4, 5)
    for frame in (gray, gray[:, :, None]):
        out = prepare_frame(frame)
        assert out.shape == (4, 5, 3)
        np.testing.assert_array_equal(out[:, :, 0], gray)
        np.testing.assert_array_equal(out[:, :, 2], gray)


def test_bgra_drops_alpha():
    frame = np.zeros((4, 5, 4), np.uint8)
    frame[..., 0], frame[..., 3] = 9, 255
    out = prepare_frame(frame)
    assert out.shape == (4, 5, 3) and (out[..., 0] == 9).all()


def test_non_contiguous_and_read_only_are_accepted():
    frame = np.zeros((10, 12, 3), np.uint8)[::2, ::2]
    frame.setflags(write=False)
    out = prepare_frame(frame)
    assert out.flags["C_CONTIGUOUS"] and out.shape == (5, 6, 3)


@pytest.mark.parametrize(
    "frame, error, words",
    [
        (np.zeros((4, 5, 3), np.float32), TypeError, "dtype float32"),
        (np.zeros((4, 5, 2), np.uint8), ValueError, r"shape \(4, 5, 2\)"),
        (np.zeros((4, 5, 3, 1), np.uint8), ValueError, "shape"),
        (np.zeros((0, 5, 3), np.uint8), ValueError, "empty"),
        ([[1, 2], [3, 4]], TypeError, "got list"),
        (None, TypeError, "got NoneType"),
    ],
)
def test_bad_frames(frame, error, words):
    with pytest.raises(error, match=words):
        prepare_frame(frame)
