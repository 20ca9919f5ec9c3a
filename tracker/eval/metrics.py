"""Tracking metrics as pure functions of predicted and ground-truth boxes.

Boxes are the library's 0-based ``(x, y, w, h)`` in ``(N, 4)`` float arrays. A NaN row
in the ground truth means "no target / no annotation in this frame"; a NaN row in the
prediction means "the tracker gave no box" (an OpenCV tracker returning ``ok=False``).

Protocol choices (the same as the OTB toolkit unless said otherwise):

* **First frame.** OTB counts the first frame, where the tracker's box is the given
  initial box, so :func:`otb_metrics` includes it. GOT-10k skips it, and so does
  :func:`got10k_metrics`.
* **Frames without ground truth** (NaN rows, e.g. ``motocross`` while the rider is out of
  view; GOT-10k frames marked absent) are excluded from every metric: they count in
  neither numerator nor denominator.
* **Frames without a prediction** count as failures: IoU 0, centre error infinite.
* **Success curve**: 21 thresholds ``linspace(0, 1, 21)``; a frame succeeds at threshold
  ``t`` when ``IoU > t``. The last threshold is 1.0, where ``IoU > 1`` can never hold, so
  toolkits that apply ``>`` to every bin (the OTB MATLAB toolkit, pysot, got10k-toolkit)
  give a perfect tracker 20/21 = 0.952. Here the last bin counts a frame when the boxes
  coincide (``IoU >= 1 - 1e-9``, a margin for floating-point rounding only), so a perfect
  tracker gets AUC exactly 1.0, as the issue demands. For real trackers the difference from those toolkits is 1/21 of the share of
  frames with IoU exactly 1, in practice only the first frame under OTB: at most
  ``1 / (21 * frames)`` per sequence.
* **AUC** is the mean of the success curve (the OTB "area under curve").
* **Precision curve**: share of frames whose centre error is ``<= t`` pixels for
  ``t = 0, 1, ..., 50``; *precision@20* is its value at 20 px (OTB's ranking number).
* **Normalised precision** (TrackingNet): the centre error divided by the ground-truth
  width and height per axis; the curve runs over ``t = 0, 0.01, ..., 0.5`` and the score
  is the mean of that curve (TrackingNet's AUC over [0, 0.5]; pytracking instead reports
  the curve's value at 0.2, available as ``normalized_precision_curve[20]``).
* **GOT-10k**: AO is the mean IoU; SR@0.5 and SR@0.75 the share of frames with
  ``IoU > 0.5`` / ``IoU > 0.75`` (got10k-toolkit's ``>``).
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

SUCCESS_THRESHOLDS = np.linspace(0.0, 1.0, 21)
PRECISION_THRESHOLDS = np.arange(0, 51, dtype=np.float64)
NORMALIZED_PRECISION_THRESHOLDS = np.linspace(0.0, 0.5, 51)
PRECISION_RANK_THRESHOLD = 20.0
# The last success bin counts IoU >= 1 - this: coincident boxes up to floating-point rounding.
EXACT_OVERLAP_TOLERANCE = 1e-9


def as_boxes(boxes, name: str = "boxes") -> np.ndarray:
    """``boxes`` as an ``(N, 4)`` float64 array (a single box becomes ``(1, 4)``)."""
    array = np.asarray(boxes, dtype=np.float64)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"{name} must be (x, y, w, h) rows, an (N, 4) array; got shape {np.shape(boxes)}")
    return array


def _pair(predicted, truth):
    predicted, truth = as_boxes(predicted, "predicted boxes"), as_boxes(truth, "ground-truth boxes")
    if len(predicted) != len(truth):
        raise ValueError(f"{len(predicted)} predicted boxes for {len(truth)} ground-truth boxes; give one per frame")
    return predicted, truth


def _corner_area(boxes: np.ndarray) -> np.ndarray:
    width = np.clip((boxes[:, 0] + boxes[:, 2]) - boxes[:, 0], 0.0, None)
    height = np.clip((boxes[:, 1] + boxes[:, 3]) - boxes[:, 1], 0.0, None)
    return width * height


def iou(predicted, truth) -> np.ndarray:
    """Intersection over union per row, in [0, 1]; NaN where either box has a NaN.

    Boxes with no area give 0 (not NaN) against anything.
    """
    predicted, truth = _pair(predicted, truth)
    x0 = np.maximum(predicted[:, 0], truth[:, 0])
    y0 = np.maximum(predicted[:, 1], truth[:, 1])
    x1 = np.minimum(predicted[:, 0] + predicted[:, 2], truth[:, 0] + truth[:, 2])
    y1 = np.minimum(predicted[:, 1] + predicted[:, 3], truth[:, 1] + truth[:, 3])
    intersection = np.clip(x1 - x0, 0.0, None) * np.clip(y1 - y0, 0.0, None)
    # Areas from the corners, computed the same way as the intersection, so that two
    # identical boxes give IoU exactly 1: ((x + w) - x) need not equal w in floating point.
    area_predicted = _corner_area(predicted)
    area_truth = _corner_area(truth)
    union = area_predicted + area_truth - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        overlap = np.where(union > 0, intersection / np.where(union > 0, union, 1.0), 0.0)
    overlap = np.clip(overlap, 0.0, 1.0)
    overlap[~(np.isfinite(predicted).all(axis=1) & np.isfinite(truth).all(axis=1))] = np.nan
    return overlap


def _centers(boxes: np.ndarray) -> np.ndarray:
    return boxes[:, :2] + boxes[:, 2:] / 2.0


def center_errors(predicted, truth) -> np.ndarray:
    """Euclidean distance in pixels between box centres; NaN where either box has a NaN."""
    predicted, truth = _pair(predicted, truth)
    return np.linalg.norm(_centers(predicted) - _centers(truth), axis=1)


def normalized_center_errors(predicted, truth) -> np.ndarray:
    """Centre offset divided by the ground truth's (w, h) per axis, then its length (TrackingNet).

    NaN where either box has a NaN or the ground truth has no width or height.
    """
    predicted, truth = _pair(predicted, truth)
    size = np.where(truth[:, 2:] > 0, truth[:, 2:], np.nan)
    return np.linalg.norm((_centers(predicted) - _centers(truth)) / size, axis=1)


def success_curve(ious, thresholds=SUCCESS_THRESHOLDS) -> np.ndarray:
    """Share of frames with ``IoU > t`` for each threshold; at ``t >= 1``, ``IoU >= 1 - 1e-9`` counts.

    Every entry of ``ious`` is a counted frame; NaN entries count as failures. See the
    module docstring for why the last bin uses ``>=``.
    """
    ious = np.asarray(ious, dtype=np.float64).reshape(-1)
    if ious.size == 0:
        raise ValueError("no frames to score: every frame lacks ground truth")
    thresholds = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    over = ious[:, None] > thresholds[None, :]
    exact = (thresholds[None, :] >= 1.0) & (ious[:, None] >= 1.0 - EXACT_OVERLAP_TOLERANCE)
    return (over | exact).mean(axis=0)


def precision_curve(errors, thresholds=PRECISION_THRESHOLDS) -> np.ndarray:
    """Share of frames with error ``<= t`` for each threshold; NaN entries count as failures."""
    errors = np.asarray(errors, dtype=np.float64).reshape(-1)
    if errors.size == 0:
        raise ValueError("no frames to score: every frame lacks ground truth")
    thresholds = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    return (errors[:, None] <= thresholds[None, :]).mean(axis=0)


def area_under_curve(curve) -> float:
    """The OTB AUC: the mean of a curve sampled at evenly spaced thresholds."""
    return float(np.mean(curve))


def otb_metrics(predicted, truth) -> Dict[str, object]:
    """OTB one-pass scores of one sequence, first frame included, NaN ground truth excluded.

    Returns ``frames`` (how many were scored), ``auc``, ``precision_20``,
    ``normalized_precision`` and the three curves (``success_curve``,
    ``precision_curve``, ``normalized_precision_curve``) as arrays.
    """
    predicted, truth = _pair(predicted, truth)
    scored = np.isfinite(truth).all(axis=1)
    predicted, truth = predicted[scored], truth[scored]
    failed = ~np.isfinite(predicted).all(axis=1)
    overlaps = np.where(failed, 0.0, iou(predicted, truth))
    errors = np.where(failed, np.inf, center_errors(predicted, truth))
    normalized = np.where(failed, np.inf, normalized_center_errors(predicted, truth))
    success = success_curve(overlaps)
    precision = precision_curve(errors)
    normalized_precision = precision_curve(normalized, NORMALIZED_PRECISION_THRESHOLDS)
    return {
        "frames": int(scored.sum()),
        "auc": area_under_curve(success),
        "precision_20": float(precision[int(PRECISION_RANK_THRESHOLD)]),
        "normalized_precision": area_under_curve(normalized_precision),
        "success_curve": success,
        "precision_curve": precision,
        "normalized_precision_curve": normalized_precision,
    }


def got10k_metrics(predicted, truth, visible: Optional[np.ndarray] = None) -> Dict[str, float]:
    """GOT-10k scores of one sequence: ``ao``, ``sr_50``, ``sr_75`` and ``frames`` scored.

    The first frame is skipped (as got10k-toolkit does); so are frames whose ground truth
    is NaN or whose ``visible`` entry is False (GOT-10k's ``cover.label == 0``).
    """
    predicted, truth = _pair(predicted, truth)
    scored = np.isfinite(truth).all(axis=1)
    if visible is not None:
        visible = np.asarray(visible, dtype=bool).reshape(-1)
        if len(visible) != len(truth):
            raise ValueError(f"visible has {len(visible)} entries for {len(truth)} frames")
        scored &= visible
    scored[0] = False
    if not scored.any():
        raise ValueError("no frames to score: after the first frame, every frame lacks a visible target")
    overlaps = iou(predicted[scored], truth[scored])
    overlaps = np.where(np.isnan(overlaps), 0.0, overlaps)
    return {
        "frames": int(scored.sum()),
        "ao": float(overlaps.mean()),
        "sr_50": float((overlaps > 0.5).mean()),
        "sr_75": float((overlaps > 0.75).mean()),
    }
