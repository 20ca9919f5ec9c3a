"""Confidence measures against hand-computed numbers."""
import numpy as np
import pytest

from tracker.confidence import normalised_peak, peak_to_sidelobe_ratio


def test_psr_ignores_the_ring_around_the_peak():
    response = np.zeros((5, 5))
    border = [(r, c) for r in range(5) for c in range(5) if max(abs(r - 2), abs(c - 2)) == 2]
    for index, (r, c) in enumerate(border):
        response[r, c] = 1.0 if index % 2 else -1.0  # 16 sidelobe cells: mean 0, std 1
    response[1:4, 1:4] = 5.0  # the excluded ring (radius 1) ...
    response[2, 2] = 10.0  # ... around the peak
    assert peak_to_sidelobe_ratio(response, exclude_radius=1) == pytest.approx(10.0)


def test_psr_of_a_flat_map_is_zero_and_bad_shapes_are_refused():
    assert peak_to_sidelobe_ratio(np.ones((17, 17))) == 0.0
    with pytest.raises(ValueError, match="2-D"):
        peak_to_sidelobe_ratio(np.ones((3, 17, 17)))
    with pytest.raises(ValueError, match="no sidelobe"):
        peak_to_sidelobe_ratio(np.ones((3, 3)), exclude_radius=2)


@pytest.mark.parametrize(
    "peak, reference, expected",
    [(2.0, 4.0, 0.5), (5.0, 4.0, 1.0), (-1.0, 4.0, 0.0), (3.0, 0.0, 1.0), (-3.0, 0.0, 0.0), (float("nan"), 4.0, 0.0)],
)
def test_normalised_peak(peak, reference, expected):
    assert normalised_peak(peak, reference) == pytest.approx(expected)
