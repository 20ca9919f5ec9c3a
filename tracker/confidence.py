"""Confidence of one update, from the raw response maps, as pure functions.

The sigmoid of the peak logit says how sure the network is about a cell, but logits
drift with the target's appearance: a textured target gives large peaks everywhere, a
plain one small peaks even when found. Two measures are therefore compared in
``python -m tracker.eval.reliability``:

- the peak-to-sidelobe ratio (PSR, from the correlation-filter trackers): how far the
  peak stands above the rest of the map, in standard deviations;
- the normalised peak: the peak divided by the template's peak on its own first frame,
  so 1 means "as similar as at the start" whatever the target's texture.
"""
from __future__ import annotations

import numpy as np


def peak_to_sidelobe_ratio(response: np.ndarray, exclude_radius: int = 2) -> float:
    """``(peak - mean(sidelobe)) / std(sidelobe)`` of a 2-D map.

    The sidelobe is every cell farther than ``exclude_radius`` cells (Chebyshev distance)
    from the peak. A flat map gives 0.
    """
    response = np.asarray(response, dtype=np.float64)
    if response.ndim != 2:
        raise ValueError(f"response must be a 2-D map, got shape {response.shape}")
    row, col = np.unravel_index(int(np.argmax(response)), response.shape)
    rows, cols = np.indices(response.shape)
    sidelobe = response[np.maximum(np.abs(rows - row), np.abs(cols - col)) > exclude_radius]
    if sidelobe.size < 2:
        raise ValueError(f"a {response.shape} map has no sidelobe beyond radius {exclude_radius}")
    spread = float(sidelobe.std())
    if spread < 1e-12:
        return 0.0
    return float((response[row, col] - sidelobe.mean()) / spread)


def normalised_peak(raw_peak: float, reference_peak: float) -> float:
    """``raw_peak / reference_peak`` clipped to ``[0, 1]``.

    The reference is the template's own peak on its first frame; a reference that is not
    positive carries no scale information, and the ratio falls back to 1 for any
    positive peak (0 otherwise) rather than dividing by noise.
    """
    if not np.isfinite(raw_peak):
        return 0.0
    if reference_peak <= 1e-12 or not np.isfinite(reference_peak):
        return 1.0 if raw_peak > 0 else 0.0
    return float(min(max(raw_peak / reference_peak, 0.0), 1.0))
