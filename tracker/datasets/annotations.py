"""Annotation text files shared by the layouts: one box per line, one label per line."""
from __future__ import annotations

import os
import re
from typing import Optional

import numpy as np

from ..errors import MissingFileError

_SEPARATORS = re.compile(r"[,\s;]+")


def read_box_file(path: str, one_based: bool) -> np.ndarray:
    """An ``(N, 4)`` array of 0-based ``x, y, w, h`` from a text file, one box per line.

    Values may be separated by commas, tabs, spaces or semicolons; blank lines are
    skipped. A line with any NaN (or other non-finite value) becomes a NaN row.
    ``one_based=True`` shifts ``x, y`` by -1 (OTB); otherwise the values are kept.
    """
    if not os.path.isfile(path):
        raise MissingFileError(f"box file not found: {path}")
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text:
                continue
            tokens = [t for t in _SEPARATORS.split(text) if t]
            try:
                values = [float(t) for t in tokens]
            except ValueError:
                values = []
            if len(values) != 4:
                raise ValueError(
                    f"{path} line {number}: expected four numbers x,y,w,h separated by commas, tabs or spaces, got {text!r}"
                )
            rows.append(values if np.isfinite(values).all() else [np.nan] * 4)
    boxes = np.array(rows, dtype=np.float64).reshape(-1, 4)
    if one_based:
        boxes[:, :2] -= 1.0
    return boxes


def read_label_file(path: str, count: int) -> Optional[np.ndarray]:
    """``(count,)`` int64 from a file of one integer per line (GOT-10k's ``*.label``); None when absent."""
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        try:
            labels = np.array([int(float(line)) for line in handle if line.strip()], dtype=np.int64)
        except ValueError:
            raise ValueError(f"{path}: expected one integer per line") from None
    if len(labels) != count:
        raise ValueError(f"{path} has {len(labels)} lines for {count} frames; it needs one per frame")
    return labels


def require_folder(folder: str) -> None:
    """MissingFileError unless ``folder`` is a directory."""
    if not os.path.isdir(folder):
        raise MissingFileError(f"sequence folder not found: {folder}")
