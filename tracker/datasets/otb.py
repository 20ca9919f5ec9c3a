"""OTB layout: ``<seq>/img/0001.jpg ...`` + ``<seq>/groundtruth_rect.txt``.

Boxes are 1-based ``x,y,w,h``, separated by commas, tabs or spaces; ``NaN`` rows mean the
target is not visible. An optional ``frame_range=(first, last)`` selects frames by their
1-based file number (OTB's ``startFrame``/``endFrame``); the box file then has one line
per selected frame.
"""
from __future__ import annotations

import os
from typing import Optional, Tuple

from .annotations import read_box_file, require_folder
from .decode import IMAGE_EXTENSIONS, numbered_images
from .sequence import Sequence

OTB_BOXES = "groundtruth_rect.txt"


def is_otb_sequence(path: str) -> bool:
    """``path`` is a folder with ``img/`` and ``groundtruth_rect.txt``."""
    return os.path.isdir(os.path.join(path, "img")) and os.path.isfile(os.path.join(path, OTB_BOXES))


def load_otb_sequence(
    folder: str,
    frame_range: Optional[Tuple[int, int]] = None,
    boxes_file: str = OTB_BOXES,
    name: Optional[str] = None,
) -> Sequence:
    """An OTB-layout sequence: ``img/NNNN.jpg`` and a 1-based ``groundtruth_rect.txt``."""
    require_folder(folder)
    image_folder = os.path.join(folder, "img")
    if not os.path.isdir(image_folder):
        raise ValueError(f"{folder} is not an OTB sequence: it has no img/ folder of numbered frames")
    numbered = numbered_images(image_folder)
    if frame_range is not None:
        first, last = (int(v) for v in frame_range)
        if first < 1 or last < first:
            raise ValueError(f"frame_range must be (first, last) 1-based frame numbers with first <= last, got {frame_range}")
        numbered = [(n, p) for n, p in numbered if first <= n <= last]
    if not numbered:
        raise ValueError(f"{image_folder} holds no numbered frames ({', '.join(IMAGE_EXTENSIONS)})" + (f" in range {frame_range}" if frame_range else ""))
    boxes = read_box_file(os.path.join(folder, boxes_file), one_based=True)
    if len(boxes) != len(numbered):
        raise ValueError(
            f"{folder}: {boxes_file} has {len(boxes)} boxes for {len(numbered)} frames"
            + (f" in range {frame_range}" if frame_range else "")
            + "; it needs exactly one line per frame"
        )
    return Sequence(name or os.path.basename(os.path.normpath(folder)), boxes, [p for _, p in numbered], layout="otb")
