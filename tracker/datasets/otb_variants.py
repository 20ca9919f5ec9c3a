"""OTB variants that tracker toolkits ship: ``imgs/`` or prefixed frame names, ``<seq>_gt.txt``.

For example ``dog1/imgs/img00001.jpg ...`` + ``dog1/dog1_gt.txt`` (the DSST/tb100 toolkits).
Frames are in ``img/`` or ``imgs/``, named by a number with an optional shared prefix
(``0001.jpg``, ``img00001.jpg``). The box file is ``<seq>_gt.txt`` inside the folder, else
``groundtruth_rect.txt`` when the frames are in ``imgs/`` (``img/`` + ``groundtruth_rect.txt``
is the plain OTB layout). Boxes are OTB's: 1-based ``x,y,w,h``. ``frame_range`` picks
frames by file number, as OTB's ``startFrame``/``endFrame`` do; the box file then has one
line per selected frame.
"""
from __future__ import annotations

import os
from typing import Optional, Tuple

from .annotations import first_existing, require_folder
from .decode import frame_name_prefix
from .numbered import folder_name, load_numbered_sequence
from .otb import OTB_BOXES
from .sequence import Sequence

FRAME_FOLDERS = ("img", "imgs")


def _frames_folder(folder: str) -> Optional[str]:
    return next((os.path.join(folder, f) for f in FRAME_FOLDERS if os.path.isdir(os.path.join(folder, f))), None)


def otb_variant_box_file(folder: str) -> Optional[str]:
    """``<seq>_gt.txt`` inside the folder, else ``groundtruth_rect.txt`` beside an ``imgs/`` folder."""
    candidates = [os.path.join(folder, f"{folder_name(folder)}_gt.txt")]
    if os.path.isdir(os.path.join(folder, "imgs")):
        candidates.append(os.path.join(folder, OTB_BOXES))
    return first_existing(candidates)


def is_otb_variant_sequence(path: str) -> bool:
    """``path`` has numbered frames in ``img/`` or ``imgs/`` and an OTB-variant box file."""
    frames = _frames_folder(path) if os.path.isdir(path) else None
    return frames is not None and frame_name_prefix(frames) is not None and otb_variant_box_file(path) is not None


def load_otb_variant_sequence(
    folder: str,
    name: Optional[str] = None,
    frame_range: Optional[Tuple[int, int]] = None,
    boxes_path: Optional[str] = None,
) -> Sequence:
    """An OTB-variant sequence (frames in ``img/``/``imgs/``, any shared name prefix, ``<seq>_gt.txt``)."""
    require_folder(folder)
    frames = _frames_folder(folder)
    if frames is None:
        raise ValueError(f"{folder} is not an OTB sequence: it has no img/ or imgs/ folder of frames")
    prefix = frame_name_prefix(frames)
    if prefix is None:
        raise ValueError(f"{frames}: the frames must all be named <prefix><number> with one shared prefix (0001.jpg, img00001.jpg)")
    boxes_path = boxes_path or otb_variant_box_file(folder)
    if boxes_path is None:
        raise ValueError(f"{folder} has no {folder_name(folder)}_gt.txt (nor {OTB_BOXES} beside imgs/)")
    return load_numbered_sequence(frames, boxes_path, name or folder_name(folder), "otb_variant", prefix=prefix, frame_range=frame_range)
