"""LaSOT layout: ``<class>-<k>/img/00000001.jpg ...`` + ``groundtruth.txt`` + visibility flags.

Boxes are 1-based ``x,y,w,h``, one line per frame of the video (line *n* is frame number
*n*). ``full_occlusion.txt`` and ``out_of_view.txt`` (one line of comma-separated 0/1, one
per frame) mark frames where the target cannot be seen; those frames get a NaN box. Either
file may be missing (then it marks nothing). ``frame_range`` cuts the video to frames
*first..last* (file numbers), so a copy with only the first frames loads with the first lines.
"""
from __future__ import annotations

import os
from typing import Iterable, Optional, Tuple

import numpy as np

from .annotations import read_box_file, read_text_lines, require_folder, split_numbers
from .decode import numbered_images, select_frame_range
from .numbered import folder_name
from .sequence import Sequence

LASOT_BOXES = "groundtruth.txt"
LASOT_FLAG_FILES = ("full_occlusion.txt", "out_of_view.txt")


def parse_flags(lines: Iterable[str], source: str, count: int) -> np.ndarray:
    """``(count,)`` bool from 0/1 values (comma-separated on one line, or one per line)."""
    values = [t for line in lines for t in split_numbers(line)]
    if any(v not in ("0", "1") for v in values):
        raise ValueError(f"{source}: expected 0/1 values separated by commas, got {', '.join(sorted(set(values) - {'0', '1'}))[:80]!r}")
    if len(values) != count:
        raise ValueError(f"{source} has {len(values)} flags for {count} boxes; it needs one per frame")
    return np.array([v == "1" for v in values], dtype=bool)


def hide_flagged(boxes: np.ndarray, *flags: np.ndarray) -> np.ndarray:
    """``boxes`` with a NaN row wherever any flag array is set (the target cannot be seen)."""
    hidden = boxes.copy()
    for flag in flags:
        hidden[flag] = np.nan
    return hidden


def is_lasot_sequence(path: str) -> bool:
    """``path`` is a folder with ``img/`` and ``groundtruth.txt``."""
    return os.path.isdir(os.path.join(path, "img")) and os.path.isfile(os.path.join(path, LASOT_BOXES))


def load_lasot_sequence(folder: str, name: Optional[str] = None, frame_range: Optional[Tuple[int, int]] = None) -> Sequence:
    """A LaSOT sequence; fully occluded and out-of-view frames get a NaN box."""
    require_folder(folder)
    numbered = select_frame_range(numbered_images(os.path.join(folder, "img")), frame_range)
    if not numbered:
        raise ValueError(f"{os.path.join(folder, 'img')} holds no numbered frames" + (f" in range {tuple(frame_range)}" if frame_range else ""))
    boxes = read_box_file(os.path.join(folder, LASOT_BOXES), one_based=True)
    flags = []
    for flag_file in LASOT_FLAG_FILES:
        path = os.path.join(folder, flag_file)
        if os.path.isfile(path):
            flags.append(parse_flags(read_text_lines(path), path, len(boxes)))
    boxes = hide_flagged(boxes, *flags)
    last = numbered[-1][0]
    if last > len(boxes):
        raise ValueError(f"{folder}: frame {last} has no line in {LASOT_BOXES} ({len(boxes)} lines); line n is frame n")
    rows = boxes[[n - 1 for n, _ in numbered]]
    return Sequence(name or folder_name(folder), rows, [p for _, p in numbered], layout="lasot")
