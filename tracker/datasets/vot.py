"""VOT layout: ``<seq>/groundtruth.txt`` (rectangles or rotated polygons) and numbered frames.

Frames are ``<seq>/color/00000001.jpg`` (VOT2017 on), ``<seq>/00000001.jpg`` (VOT2013-2016)
or ``<seq>/imgs/00000001.jpg`` (copies in tracker repositories). Line *n* of
``groundtruth.txt`` belongs to frame number *n*, so a copy that ships only the first frames
of a sequence loads with the first lines. A polygon ``x1,y1,...,x4,y4`` becomes its
axis-aligned box (``x=min(xs)``, ``w=max(xs)-x``, likewise for ``y``); a 4-value line is
``x,y,w,h``. VOT does not state a pixel base; the values are treated as 1-based (as OTB's,
and as ``../shared/data``'s ball1 was converted), about 1 px of uncertainty. A line with
NaN means the target is not visible. Mask regions (VOT2020 ``m...`` lines) are not supported.
"""
from __future__ import annotations

import os
from typing import Iterable, Optional, Tuple

import numpy as np

from .annotations import read_text_lines, require_folder, split_numbers
from .decode import IMAGE_EXTENSIONS, numbered_images, select_frame_range
from .numbered import folder_name
from .sequence import Sequence

VOT_BOXES = "groundtruth.txt"
VOT_FRAME_FOLDERS = ("color", "imgs", "")


def parse_vot_lines(lines: Iterable[str], source: str) -> np.ndarray:
    """``(N, 4)`` 0-based ``x, y, w, h`` from VOT region lines (rectangles or polygons, 1-based)."""
    rows = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        if text[0] in "mM":
            raise ValueError(f"{source} line {number}: VOT mask regions (m...) are not supported; expected x,y,w,h or x1,y1,...,x4,y4")
        try:
            values = np.array([float(t) for t in split_numbers(text)], dtype=np.float64)
        except ValueError:
            values = np.zeros(0)
        if len(values) == 4:
            row = values
        elif len(values) >= 6 and len(values) % 2 == 0:
            xs, ys = values[0::2], values[1::2]
            row = np.array([xs.min(), ys.min(), xs.max() - xs.min(), ys.max() - ys.min()])
        else:
            raise ValueError(f"{source} line {number}: expected x,y,w,h or a polygon x1,y1,x2,y2,... (at least three points), got {text!r}")
        rows.append(row if np.isfinite(row).all() else np.full(4, np.nan))
    boxes = np.array(rows, dtype=np.float64).reshape(-1, 4)
    boxes[:, :2] -= 1.0
    return boxes


def _frames_folder(folder: str) -> Optional[str]:
    for sub in VOT_FRAME_FOLDERS:
        candidate = os.path.join(folder, sub) if sub else folder
        if os.path.isdir(candidate) and numbered_images(candidate):
            return candidate
    return None


def _first_line_is_polygon(path: str) -> bool:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                return len(split_numbers(line)) > 4
    return False


def is_vot_sequence(path: str) -> bool:
    """A folder with ``groundtruth.txt`` and frames in ``color/`` or ``imgs/``, or beside a polygon box file.

    (Frames beside a 4-value ``groundtruth.txt`` are GOT-10k's layout.)
    """
    boxes = os.path.join(path, VOT_BOXES)
    if not os.path.isfile(boxes):
        return False
    frames = _frames_folder(path)
    if frames is None:
        return False
    return frames != path or _first_line_is_polygon(boxes)


def load_vot_sequence(folder: str, name: Optional[str] = None, frame_range: Optional[Tuple[int, int]] = None) -> Sequence:
    """A VOT sequence: frame number *n* gets line *n* of ``groundtruth.txt`` as an axis-aligned box."""
    require_folder(folder)
    frames = _frames_folder(folder)
    if frames is None:
        raise ValueError(f"{folder} is not a VOT sequence: no numbered frames ({', '.join(IMAGE_EXTENSIONS)}) in color/, imgs/ or the folder itself")
    numbered = select_frame_range(numbered_images(frames), frame_range)
    if not numbered:
        raise ValueError(f"{frames} holds no frames in range {tuple(frame_range)}")
    boxes_path = os.path.join(folder, VOT_BOXES)
    boxes = parse_vot_lines(read_text_lines(boxes_path), boxes_path)
    last = numbered[-1][0]
    if last > len(boxes):
        raise ValueError(f"{folder}: frame {last} has no line in {VOT_BOXES} ({len(boxes)} lines); line n is frame n")
    rows = boxes[[n - 1 for n, _ in numbered]]
    return Sequence(name or folder_name(folder), rows, [p for _, p in numbered], layout="vot")
