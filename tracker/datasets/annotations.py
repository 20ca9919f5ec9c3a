"""Annotation text files shared by the layouts: one box per line, one label per line."""
from __future__ import annotations

import os
import re
from typing import Iterable, List, Optional

import numpy as np

from ..errors import MissingFileError

_SEPARATORS = re.compile(r"[,\s;]+")


def read_box_file(path: str, one_based: bool) -> np.ndarray:
    """An ``(N, 4)`` array of 0-based ``x, y, w, h`` from a text file, one box per line.

    Values may be separated by commas, tabs, spaces or semicolons; blank lines are
    skipped. A line with any NaN (or other non-finite value) becomes a NaN row.
    ``one_based=True`` shifts ``x, y`` by -1 (OTB); otherwise the values are kept.
    """
    return parse_box_lines(read_text_lines(path), path, one_based)


def read_text_lines(path: str) -> List[str]:
    """The lines of a text file (CRLF endings too); MissingFileError when it is absent."""
    if not os.path.isfile(path):
        raise MissingFileError(f"box file not found: {path}")
    with open(path, encoding="utf-8") as handle:
        return handle.read().splitlines()


def split_numbers(text: str) -> List[str]:
    """The tokens of one annotation line (commas, tabs, spaces or semicolons between them)."""
    return [t for t in _SEPARATORS.split(text.strip()) if t]


def parse_box_lines(lines: Iterable[str], source: str, one_based: bool) -> np.ndarray:
    """:func:`read_box_file` on lines already read (``source`` names them in errors)."""
    rows = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        try:
            values = [float(t) for t in split_numbers(text)]
        except ValueError:
            values = []
        if len(values) != 4:
            raise ValueError(
                f"{source} line {number}: expected four numbers x,y,w,h separated by commas, tabs or spaces, got {text!r}"
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


def first_existing(paths: Iterable[str]) -> Optional[str]:
    """The first of ``paths`` that is a file, or None."""
    return next((p for p in paths if os.path.isfile(p)), None)


def match_boxes_to_frames(folder: str, frame_count: int, boxes: np.ndarray, boxes_path: str, frame_range=None) -> None:
    """ValueError unless there is exactly one box per frame (the message names both counts and the range)."""
    if len(boxes) != frame_count:
        raise ValueError(
            f"{folder}: {boxes_path} has {len(boxes)} boxes for {frame_count} frames"
            + (f" in range {tuple(frame_range)}" if frame_range is not None else "")
            + "; it needs exactly one line per frame"
        )
