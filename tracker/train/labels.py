"""Response-map labels and class-balanced weights for SiamFC's logistic loss."""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np


def response_labels(
    response_size: int, total_stride: int, positive_radius: float, target_offset: Optional[Tuple[float, float]] = (0.0, 0.0)
) -> np.ndarray:
    """``(R, R)`` float32 labels: 1 within ``positive_radius`` search-crop pixels of the target, else 0.

    ``target_offset`` is the target centre's ``(dx, dy)`` from the search crop's centre in
    crop pixels (non-zero when augmentation shifted it). A cell is positive when its
    distance to the target, in cells, is at most ``positive_radius / total_stride``.
    ``target_offset`` None (a negative pair: the crop holds no target) gives every cell 0.
    """
    if target_offset is None:
        return np.zeros((response_size, response_size), np.float32)
    centre = (response_size - 1) / 2.0
    rows, cols = np.mgrid[0:response_size, 0:response_size].astype(np.float64)
    dx, dy = target_offset
    distance = np.hypot(cols - centre - dx / total_stride, rows - centre - dy / total_stride)
    return (distance <= positive_radius / total_stride).astype(np.float32)


def balanced_weights(labels: np.ndarray) -> np.ndarray:
    """Weights giving positives and negatives half of the total each; they sum to 1 per map.

    A map with no positives (a pair whose search crop lacks the target) gives all weight
    to the negatives.
    """
    labels = np.asarray(labels, dtype=np.float32)
    positives = labels.sum()
    negatives = labels.size - positives
    if positives == 0:
        return np.full_like(labels, 1.0 / labels.size)
    return np.where(labels > 0, 0.5 / positives, 0.5 / negatives).astype(np.float32)


def box_targets(
    box: Optional[Tuple[float, float, float, float]], response_size: int, total_stride: int, positive_fraction: float = 0.5
) -> dict:
    """Training targets of the box head for one search crop holding the target ``box``.

    ``box`` is ``(cx, cy, w, h)`` in search-crop pixels relative to the crop centre (the
    cell convention of ``tracker.box_geometry.cell_offsets``). Returns ``(R, R)`` float32
    maps: ``cls`` 1 for cells in the central ``positive_fraction`` of the box (and always
    the cell nearest its centre, so a tiny target has one), ``inside`` 1 for cells inside
    the box (where the edges are learned), ``centerness`` (FCOS/SiamFC++:
    ``sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b))``, 0 outside), and ``edges``
    ``(4, R, R)``: the distances ``(l, t, r, b)`` from each cell to the box's edges.
    ``box`` None (a negative pair: the crop holds no target) gives every map zero.
    """
    from ..box_geometry import cell_offsets

    if box is None:
        empty = np.zeros((response_size, response_size), np.float32)
        return {"cls": empty, "inside": empty.copy(), "centerness": empty.copy(), "edges": np.zeros((4, *empty.shape), np.float32)}

    cx, cy, w, h = (float(v) for v in box)
    offsets = cell_offsets(response_size, total_stride)
    x, y = np.meshgrid(offsets, offsets)
    left, top, right, bottom = x - (cx - w / 2), y - (cy - h / 2), (cx + w / 2) - x, (cy + h / 2) - y
    inside = np.minimum(np.minimum(left, right), np.minimum(top, bottom)) > 0
    cls = (np.abs(x - cx) <= positive_fraction * w / 2) & (np.abs(y - cy) <= positive_fraction * h / 2)
    nearest = np.unravel_index(int(np.argmin(np.hypot(x - cx, y - cy))), x.shape)
    cls[nearest] = True
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (np.minimum(left, right) / np.maximum(left, right)) * (np.minimum(top, bottom) / np.maximum(top, bottom))
    centerness = np.where(inside, np.sqrt(np.clip(ratio, 0.0, 1.0)), 0.0)
    return {
        "cls": cls.astype(np.float32),
        "inside": inside.astype(np.float32),
        "centerness": np.nan_to_num(centerness).astype(np.float32),
        "edges": np.stack([left, top, right, bottom]).astype(np.float32),
    }
