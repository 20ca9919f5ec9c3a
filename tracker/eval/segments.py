"""Temporal robustness (OTB's TRE, Wu et al. 2013): every sequence also run from later
starting frames, so that one early failure does not decide a tracker's whole score there.

``python -m tracker.eval --starts 3`` runs each sequence from its first frame and from
about a third and two thirds of the way in (each to the end); the tables list every run as
its own row (``Woman@200``: from frame 200) and average over them. The frames a later
start skips are the ones a tracker most often lost the target in, so the figure is not
comparable to the one-pass (``--starts 1``) figure; compare trackers within one table.
"""
from __future__ import annotations

from typing import List

import numpy as np

from ..datasets import Sequence


def segment_starts(boxes: np.ndarray, count: int) -> List[int]:
    """0-based first frames of ``count`` runs: frame ``floor(i * N / count)`` for i in
    0..count-1, each moved on to the next frame with a ground-truth box (a tracker needs
    one to start); duplicates and starts with fewer than 2 frames left are dropped."""
    if count < 1:
        raise ValueError(f"the number of starts must be >= 1, got {count}")
    boxes = np.asarray(boxes, dtype=np.float64)
    annotated = np.flatnonzero(np.isfinite(boxes).all(axis=1))
    starts: List[int] = []
    for index in range(count):
        nominal = (index * len(boxes)) // count
        later = annotated[annotated >= nominal]
        if len(later) and later[0] <= len(boxes) - 2 and int(later[0]) not in starts:
            starts.append(int(later[0]))
    return starts


def temporal_segments(sequences: List[Sequence], count: int) -> List[Sequence]:
    """Each sequence as ``count`` runs (the first from frame 0, under its own name)."""
    if count == 1:
        return list(sequences)
    runs: List[Sequence] = []
    for sequence in sequences:
        for start in segment_starts(sequence.boxes, count):
            runs.append(sequence if start == 0 else sequence.from_frame(start))
    return runs
