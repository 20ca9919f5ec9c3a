"""The box head's tracking math (SiamFC++/SiamRPN post-processing), as pure functions.

Conventions as in ``tracker.geometry``: points and sizes are ``(x, y)`` / ``(w, h)``,
response cells ``(row, col)``. Cell positions and boxes are in search-crop pixels,
relative to the crop's centre, which is where the target was.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np


def cell_offsets(response_size: int, total_stride: int) -> np.ndarray:
    """``(R,)`` offsets of the cells from the crop centre, in crop pixels: ``(j - (R-1)/2) * stride``.

    The same convention as SiamFC's response map (the centre of the map is "no move"),
    and the one the training labels use."""
    return (np.arange(response_size, dtype=np.float64) - (response_size - 1) / 2.0) * total_stride


def decode_boxes(edges: np.ndarray, total_stride: int) -> np.ndarray:
    """``(4, R, R)`` distances ``(l, t, r, b)`` from each cell to the box edges -> ``(4, R, R)``
    boxes ``(cx, cy, w, h)`` in crop pixels relative to the crop centre."""
    left, top, right, bottom = (np.asarray(edges, dtype=np.float64)[k] for k in range(4))
    offsets = cell_offsets(left.shape[-1], total_stride)
    x, y = offsets[None, :], offsets[:, None]
    return np.stack([x + (right - left) / 2.0, y + (bottom - top) / 2.0, left + right, top + bottom])


def padded_size(width, height):
    """SiamRPN's size measure: ``sqrt((w + p)(h + p))`` with ``p = (w + h) / 2``."""
    pad = (width + height) / 2.0
    return np.sqrt((width + pad) * (height + pad))


def change_penalty(widths: np.ndarray, heights: np.ndarray, previous_size: Tuple[float, float], penalty_k: float) -> np.ndarray:
    """SiamRPN's penalty on a change of size and aspect ratio from ``previous_size`` (same units):
    ``exp(-(r_c * s_c - 1) * k)`` with ``s_c``, ``r_c`` the size and aspect changes as ratios >= 1.
    1 for no change, smaller for bigger changes."""
    change = lambda ratio: np.maximum(ratio, 1.0 / ratio)
    previous_w, previous_h = (float(v) for v in previous_size)
    widths, heights = np.maximum(widths, 1e-6), np.maximum(heights, 1e-6)
    size_change = change(padded_size(widths, heights) / padded_size(previous_w, previous_h))
    ratio_change = change((previous_w / previous_h) / (widths / heights))
    return np.exp(-(ratio_change * size_change - 1.0) * penalty_k)


def choose_cell(score: np.ndarray, penalty: np.ndarray, window: np.ndarray, window_influence: float) -> Tuple[int, int]:
    """``(row, col)`` of the best cell: the penalised score mixed with the cosine window
    (``window`` scaled to peak 1, as the scores are probabilities)."""
    mixed = (1.0 - window_influence) * score * penalty + window_influence * window / window.max()
    row, col = np.unravel_index(int(np.argmax(mixed)), mixed.shape)
    return int(row), int(col)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(logits, -60.0, 60.0)))
