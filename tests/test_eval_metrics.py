"""Metrics against hand-computed numbers."""
import math

import numpy as np
import pytest

from tracker.eval.metrics import (
    NORMALIZED_PRECISION_THRESHOLDS,
    PRECISION_THRESHOLDS,
    SUCCESS_THRESHOLDS,
    center_errors,
    got10k_metrics,
    iou,
    normalized_center_errors,
    otb_metrics,
    precision_curve,
    success_curve,
)

NAN_BOX = [np.nan] * 4


def test_thresholds_are_the_otb_ones():
    assert len(SUCCESS_THRESHOLDS) == 21 and SUCCESS_THRESHOLDS[0] == 0.0 and SUCCESS_THRESHOLDS[-1] == 1.0
    np.testing.assert_allclose(np.diff(SUCCESS_THRESHOLDS), 0.05)
    assert list(PRECISION_THRESHOLDS) == list(range(51))
    assert NORMALIZED_PRECISION_THRESHOLDS[0] == 0.0 and NORMALIZED_PRECISION_THRESHOLDS[-1] == 0.5 and len(NORMALIZED_PRECISION_THRESHOLDS) == 51


def test_iou_hand_cases():
    truth = [[0, 0, 10, 10]] * 5
    predicted = [
        [0, 0, 10, 10],  # identical: 1
        [5, 0, 10, 10],  # half shifted: 50 / 150
        [20, 20, 5, 5],  # disjoint: 0
        [2, 2, 4, 4],  # inside: 16 / 100
        [10, 0, 10, 10],  # touching edges: 0
    ]
    np.testing.assert_allclose(iou(predicted, truth), [1.0, 1 / 3, 0.0, 0.16, 0.0])
    assert iou([3.5, 1.25, 7.75, 9.5], [3.5, 1.25, 7.75, 9.5])[0] == 1.0


def test_identical_boxes_give_iou_exactly_one_despite_rounding():
    # (x + w) - x != w in floating point for these: the naive w * h area gives IoU != 1.
    boxes = np.array([[292.6, 52.16, 18.06, 17.06], [0.1, 0.7, 0.3, 0.9], [1e6 + 0.1, 3.3, 0.7, 1.1]])
    assert ((boxes[:, 0] + boxes[:, 2]) - boxes[:, 0] != boxes[:, 2]).any()
    assert (iou(boxes, boxes) == 1.0).all()


def test_iou_no_area_and_nan():
    assert iou([0, 0, 0, 0], [0, 0, 10, 10])[0] == 0.0
    assert iou([0, 0, 0, 0], [0, 0, 0, 0])[0] == 0.0
    result = iou([NAN_BOX, [0, 0, 1, 1]], [[0, 0, 1, 1], NAN_BOX])
    assert np.isnan(result).all()


def test_iou_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        iou([[0, 0, 1]], [[0, 0, 1]])
    with pytest.raises(ValueError, match="2 predicted boxes for 1"):
        iou([[0, 0, 1, 1]] * 2, [[0, 0, 1, 1]])


def test_center_errors_by_hand():
    truth = [[0, 0, 10, 10]] * 3
    predicted = [[0, 0, 10, 10], [3, 4, 10, 10], [0, 0, 20, 20]]  # centres (5,5), (8,9), (10,10)
    np.testing.assert_allclose(center_errors(predicted, truth), [0.0, 5.0, math.sqrt(50)])


def test_normalized_center_errors_by_hand():
    truth = [[0, 0, 10, 20]] * 2
    predicted = [[5, 0, 10, 20], [3, 8, 10, 20]]  # offsets (5, 0) and (3, 8) over (10, 20)
    np.testing.assert_allclose(normalized_center_errors(predicted, truth), [0.5, 0.5])
    assert np.isnan(normalized_center_errors([0, 0, 1, 1], [0, 0, 0, 5])[0])


def test_success_curve_by_hand():
    # IoU 1 succeeds at all 21 thresholds, 0.5 at t = 0.00..0.45 (10), 0 at none.
    curve = success_curve([1.0, 0.5, 0.0])
    np.testing.assert_allclose(curve, [2 / 3] * 10 + [1 / 3] * 11)
    assert np.mean(curve) == pytest.approx(31 / 63)


def test_perfect_tracker_gets_auc_exactly_one():
    curve = success_curve(np.ones(7))
    assert np.mean(curve) == 1.0
    # The pitfall: '>' in the last bin too would give 20/21.
    assert np.mean(np.ones(7)[:, None] > SUCCESS_THRESHOLDS[None, :]) == pytest.approx(20 / 21)


def test_last_success_bin_needs_coincident_boxes():
    assert success_curve([1.0 - 1e-12])[-1] == 1.0  # rounding only
    assert success_curve([0.999])[-1] == 0.0
    assert success_curve([0.999])[-2] == 1.0  # 0.999 > 0.95


def test_success_curve_counts_nan_as_failure_and_rejects_empty():
    np.testing.assert_allclose(success_curve([1.0, np.nan]), [0.5] * 21)
    with pytest.raises(ValueError, match="no frames"):
        success_curve([])


def test_precision_curve_by_hand():
    curve = precision_curve([0.0, 10.0, 20.0, 30.0, np.inf])
    assert curve[0] == pytest.approx(1 / 5)
    assert curve[9] == pytest.approx(1 / 5)
    assert curve[10] == pytest.approx(2 / 5)
    assert curve[20] == pytest.approx(3 / 5)  # '<=' 20 px, as OTB
    assert curve[50] == pytest.approx(4 / 5)


def test_otb_metrics_constant_box_by_hand():
    truth = [[0, 0, 10, 10], [5, 0, 10, 10], [20, 20, 10, 10]]
    predicted = [[0, 0, 10, 10]] * 3
    scores = otb_metrics(predicted, truth)
    # IoUs 1, 1/3, 0: 21 + 7 (t = 0..0.30) + 0 bins of 63.
    assert scores["auc"] == pytest.approx(28 / 63)
    # Centre errors 0, 5, sqrt(800) = 28.3 px.
    assert scores["precision_20"] == pytest.approx(2 / 3)
    assert scores["frames"] == 3


def test_otb_metrics_exclude_frames_without_truth():
    truth = [[0, 0, 10, 10], NAN_BOX, [0, 0, 10, 10]]
    predicted = [[0, 0, 10, 10], [500, 500, 1, 1], [0, 0, 10, 10]]
    scores = otb_metrics(predicted, truth)
    assert scores["frames"] == 2
    assert scores["auc"] == 1.0 and scores["precision_20"] == 1.0 and scores["normalized_precision"] == 1.0


def test_otb_metrics_count_missing_prediction_as_failure():
    truth = [[0, 0, 10, 10]] * 2
    scores = otb_metrics([[0, 0, 10, 10], NAN_BOX], truth)
    assert scores["auc"] == pytest.approx(0.5)
    assert scores["precision_20"] == pytest.approx(0.5)
    assert scores["precision_curve"][50] == pytest.approx(0.5)


def test_got10k_metrics_by_hand():
    truth = [[0, 0, 10, 10]] * 5
    # Frame 0 is skipped; IoUs 0.8, 0.6, 1/3, and frame 4 is not visible.
    predicted = [[50, 50, 1, 1], [0, 0, 8, 10], [0, 0, 6, 10], [5, 0, 10, 10], [0, 0, 10, 10]]
    scores = got10k_metrics(predicted, truth, visible=[True, True, True, True, False])
    assert scores["frames"] == 3
    assert scores["ao"] == pytest.approx((0.8 + 0.6 + 1 / 3) / 3)
    assert scores["sr_50"] == pytest.approx(2 / 3)
    assert scores["sr_75"] == pytest.approx(1 / 3)


def test_got10k_metrics_skip_nan_truth_and_fail_missing_prediction():
    truth = [[0, 0, 10, 10], NAN_BOX, [0, 0, 10, 10], [0, 0, 10, 10]]
    predicted = [[0, 0, 10, 10], [0, 0, 10, 10], NAN_BOX, [0, 0, 10, 10]]
    scores = got10k_metrics(predicted, truth)
    assert scores["frames"] == 2 and scores["ao"] == pytest.approx(0.5) and scores["sr_50"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="no frames"):
        got10k_metrics([[0, 0, 1, 1]], [[0, 0, 1, 1]])
