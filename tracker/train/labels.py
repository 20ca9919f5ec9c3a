"""Response-map labels and class-balanced weights for SiamFC's logistic loss."""
from __future__ import annotations

from typing import Tuple

import numpy as np


def response_labels(
    response_size: int, total_stride: int, positive_radius: float, target_offset: Tuple[float, float] = (0.0, 0.0)
) -> np.ndarray:
    """``(R, R)`` float32 labels: 1 within ``positive_radius`` search-crop pixels of the target, else 0.

    ``target_offset`` is the target centre's ``(dx, dy)`` from the search crop's centre in
    crop pixels (non-zero when augmentation shifted it). A cell is positive when its
    distance to the target, in cells, is at most ``positive_radius / total_stride``.
    """
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
