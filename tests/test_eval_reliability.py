"""The reliability report's arithmetic, on hand-made numbers."""
import numpy as np
import pytest

from tracker.eval.reliability import SequenceTrace, distribution_rows, reacquisition_lags, separation

NAN = float("nan")


def test_separation_is_the_probability_a_held_frame_outscores_a_lost_one():
    assert separation(np.array([0.9, 0.8]), np.array([0.1, 0.2])) == 1.0
    assert separation(np.array([0.1]), np.array([0.9])) == 0.0
    # pairs: (0.5>0.4) yes, (0.5 vs 0.5) tie, (0.3>0.4) no, (0.3 vs 0.5) no -> (1 + 0.5) / 4
    assert separation(np.array([0.5, 0.3]), np.array([0.4, 0.5])) == pytest.approx(0.375)
    assert np.isnan(separation(np.array([]), np.array([0.1])))


def test_reacquisition_lags_count_frames_until_iou_is_good_again():
    ious = np.array([0.8, 0.0, 0.0, 0.3, 0.7, 0.9, 0.0, NAN, 0.6, 0.0, 0.0])
    # run 1 starts at index 1, good again at 4: lag 3; run 2 at 6, good at 8 (NaN = not visible): 2; run 3 never.
    assert reacquisition_lags(ious) == [3, 2, None]
    assert reacquisition_lags(np.array([0.9, NAN, 0.7])) == []


def test_distribution_rows_split_held_and_lost_frames():
    trace = SequenceTrace(
        "s", np.array([0.9, 0.6, 0.0, 0.0, 0.3, NAN]),
        {name: np.array([0.9, 0.7, 0.2, 0.1, 0.5, 0.0]) for name in ("score", "sigmoid_peak", "psr", "normalised_peak")},
        np.zeros(6, bool),
    )
    row = distribution_rows([trace])[0]
    assert (row["held_frames"], row["lost_frames"]) == (2, 2)
    assert row["held_median"] == pytest.approx(0.8) and row["lost_median"] == pytest.approx(0.15)
    assert row["separation"] == 1.0
