"""The loader most layouts share: a folder of numbered frames and a box file with one line per frame.

The layouts differ in where the frames and the box file live and in the frame names
(``0001.jpg``, ``00001.jpg``, ``img000001.jpg``); what a line means is the same for all of
them: ``x,y,w,h``, 1-based (OTB, UAV123, DTB70, UAVDT), line *k* for the *k*-th frame of the
selected range.
"""
from __future__ import annotations

import os
from typing import Optional, Tuple

from .annotations import match_boxes_to_frames, read_box_file, require_folder
from .decode import IMAGE_EXTENSIONS, numbered_images, select_frame_range
from .sequence import Sequence


def load_numbered_sequence(
    frames_folder: str,
    boxes_path: str,
    name: str,
    layout: str,
    prefix: str = "",
    frame_range: Optional[Tuple[int, int]] = None,
    one_based: bool = True,
) -> Sequence:
    """Frames ``<prefix><number>.<ext>`` of ``frames_folder`` (those in ``frame_range`` when given,
    by 1-based file number) and ``boxes_path`` with exactly one ``x,y,w,h`` line per selected frame."""
    require_folder(frames_folder)
    numbered = select_frame_range(numbered_images(frames_folder, prefix), frame_range)
    if not numbered:
        raise ValueError(
            f"{frames_folder} holds no frames named {prefix or ''}<number> ({', '.join(IMAGE_EXTENSIONS)})"
            + (f" in range {tuple(frame_range)}" if frame_range is not None else "")
        )
    boxes = read_box_file(boxes_path, one_based=one_based)
    match_boxes_to_frames(frames_folder, len(numbered), boxes, boxes_path, frame_range)
    return Sequence(name, boxes, [p for _, p in numbered], layout=layout)


def folder_name(path: str) -> str:
    """The last component of a folder path (trailing separators ignored)."""
    return os.path.basename(os.path.normpath(path))
