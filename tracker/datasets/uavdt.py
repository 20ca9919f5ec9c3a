"""UAVDT (single-object) layout: ``<seq>/img000001.jpg ...`` + ``<seq>_gt.txt`` outside the folder.

The box file is ``<seq>_gt.txt`` beside the folder or in an ``anno/`` folder beside it or
one level up (the official release), or ``<seq>.txt`` beside the folder (some tracker
repositories). Boxes are comma-separated ``x,y,w,h`` as the UAVDT toolkit writes them,
treated as 1-based like OTB's (about 1 px of uncertainty).
"""
from __future__ import annotations

import os
from typing import Optional, Tuple

from .annotations import first_existing, require_folder
from .decode import numbered_images
from .numbered import folder_name, load_numbered_sequence
from .sequence import Sequence

UAVDT_FRAME_PREFIX = "img"


def uavdt_box_file(folder: str) -> Optional[str]:
    """The first of ``<seq>_gt.txt`` beside, in ``anno/`` beside or one level up, ``<seq>.txt`` beside."""
    name = folder_name(folder)
    parent = os.path.dirname(os.path.normpath(os.path.abspath(folder)))
    return first_existing([
        os.path.join(parent, f"{name}_gt.txt"),
        os.path.join(parent, "anno", f"{name}_gt.txt"),
        os.path.join(os.path.dirname(parent), "anno", f"{name}_gt.txt"),
        os.path.join(parent, f"{name}.txt"),
    ])


def is_uavdt_sequence(path: str) -> bool:
    """``path`` is a folder of ``img<number>`` frames with a ``<folder name>_gt.txt`` (or ``.txt``) box file."""
    return os.path.isdir(path) and bool(numbered_images(path, UAVDT_FRAME_PREFIX)) and uavdt_box_file(path) is not None


def load_uavdt_sequence(
    folder: str,
    name: Optional[str] = None,
    frame_range: Optional[Tuple[int, int]] = None,
    boxes_path: Optional[str] = None,
) -> Sequence:
    """A UAVDT sequence: ``img000001.jpg ...`` (those in ``frame_range`` when given) and one box line per frame."""
    require_folder(folder)
    boxes_path = boxes_path or uavdt_box_file(folder)
    if boxes_path is None:
        raise ValueError(f"{folder} is not a UAVDT sequence: no {folder_name(folder)}_gt.txt beside it or in anno/")
    return load_numbered_sequence(folder, boxes_path, name or folder_name(folder), "uavdt", prefix=UAVDT_FRAME_PREFIX, frame_range=frame_range)
