"""DTB70 layout as tracker repositories ship it: ``<seq>/img/00001.jpg ...`` + ``<seq>.txt``.

The box file is ``<seq>/<seq>.txt`` or ``<seq>.txt`` beside the folder. (The official release,
``<seq>/img/`` + ``<seq>/groundtruth_rect.txt``, is the OTB layout and loads as such.)
Boxes are comma-separated ``x,y,w,h``; DTB70 does not state their base, so they are treated
as 1-based like OTB's (about 1 px of uncertainty).
"""
from __future__ import annotations

import os
from typing import Optional, Tuple

from .annotations import first_existing, require_folder
from .decode import numbered_images
from .numbered import folder_name, load_numbered_sequence
from .sequence import Sequence


def dtb70_box_file(folder: str) -> Optional[str]:
    """``<seq>/<seq>.txt``, else ``<seq>.txt`` beside the folder; None when neither exists."""
    name = folder_name(folder)
    parent = os.path.dirname(os.path.normpath(os.path.abspath(folder)))
    return first_existing([os.path.join(folder, f"{name}.txt"), os.path.join(parent, f"{name}.txt")])


def is_dtb70_sequence(path: str) -> bool:
    """``path`` is a folder with numbered frames in ``img/`` and a ``<folder name>.txt`` box file."""
    return os.path.isdir(os.path.join(path, "img")) and bool(numbered_images(os.path.join(path, "img"))) and dtb70_box_file(path) is not None


def load_dtb70_sequence(
    folder: str,
    name: Optional[str] = None,
    frame_range: Optional[Tuple[int, int]] = None,
    boxes_path: Optional[str] = None,
) -> Sequence:
    """A DTB70 sequence: ``img/NNNNN.jpg`` (those in ``frame_range`` when given) and one box line per frame."""
    require_folder(folder)
    boxes_path = boxes_path or dtb70_box_file(folder)
    if boxes_path is None:
        raise ValueError(f"{folder} is not a DTB70 sequence: no {folder_name(folder)}.txt inside or beside it")
    return load_numbered_sequence(os.path.join(folder, "img"), boxes_path, name or folder_name(folder), "dtb70", frame_range=frame_range)
