"""Video layout: any file OpenCV decodes + a box file (default: same name, ``.txt``).

Boxes are 0-based unless ``one_based=True``.
"""
from __future__ import annotations

import os
from typing import Optional

from ..errors import MissingFileError
from .annotations import read_box_file
from .decode import video_frame_count
from .sequence import Sequence


def is_video_sequence(path: str) -> bool:
    """``path`` is a file (which file types OpenCV decodes is found when it is loaded)."""
    return os.path.isfile(path)


def load_video_sequence(
    video_path: str,
    boxes_path: Optional[str] = None,
    one_based: bool = False,
    name: Optional[str] = None,
) -> Sequence:
    """A video file and a box file with one line per frame (default ``<video stem>.txt``)."""
    if not os.path.isfile(video_path):
        raise MissingFileError(f"video file not found: {video_path}")
    boxes_path = boxes_path or os.path.splitext(video_path)[0] + ".txt"
    boxes = read_box_file(boxes_path, one_based=one_based)
    count = video_frame_count(video_path)
    # The container's frame count can be missing (0) or approximate; Sequence.read_frames checks again.
    if count > 0 and count != len(boxes):
        raise ValueError(f"{video_path} has {count} frames but {boxes_path} has {len(boxes)} boxes; it needs one line per frame")
    if len(boxes) == 0:
        raise ValueError(f"{boxes_path} holds no boxes")
    return Sequence(name or os.path.splitext(os.path.basename(video_path))[0], boxes, video_path=video_path, layout="video")
