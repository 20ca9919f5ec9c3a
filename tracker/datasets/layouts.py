"""The registry of sequence layouts: how a path is recognised and loaded.

A layout is one module (``otb.py``, ``got10k.py``, ``lasot.py``, ...) with a ``detect(path)``
test and a ``load(path, name=None)`` loader, plus one entry in :data:`LAYOUTS`. Detection
tries the entries in order and takes the first that matches, so a layout whose files
are a superset of another's goes first (LaSOT's ``img/`` + ``groundtruth.txt`` and VOT's
``groundtruth.txt`` + ``color/`` before GOT-10k's ``groundtruth.txt``). Loaders that cut
sub-sequences take ``frame_range=(first, last)`` (1-based file numbers) as well.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Mapping, Optional

from ..errors import MissingFileError
from .dtb70 import is_dtb70_sequence, load_dtb70_sequence
from .got10k import GOT10K_BOXES, is_got10k_sequence, load_got10k_sequence
from .lasot import LASOT_BOXES, is_lasot_sequence, load_lasot_sequence
from .otb import OTB_BOXES, is_otb_sequence, load_otb_sequence
from .otb_variants import is_otb_variant_sequence, load_otb_variant_sequence
from .sequence import Sequence
from .uav123 import is_uav123_sequence, load_uav123_sequence
from .uavdt import is_uavdt_sequence, load_uavdt_sequence
from .video import is_video_sequence, load_video_sequence
from .vot import VOT_BOXES, is_vot_sequence, load_vot_sequence


@dataclass(frozen=True)
class Layout:
    """One way of storing a sequence on disk."""

    detect: Callable[[str], bool]  # path -> does it hold a sequence in this layout
    load: Callable[..., Sequence]  # load(path, name=None) -> Sequence
    description: str  # what the files look like, for error messages


LAYOUTS: Mapping[str, Layout] = MappingProxyType({
    "otb": Layout(is_otb_sequence, load_otb_sequence, f"a folder with img/ and {OTB_BOXES}"),
    "lasot": Layout(is_lasot_sequence, load_lasot_sequence, f"a folder with img/ and {LASOT_BOXES} (LaSOT, optional full_occlusion.txt, out_of_view.txt)"),
    "vot": Layout(is_vot_sequence, load_vot_sequence, f"a folder with {VOT_BOXES} of polygons or rectangles and frames in color/, imgs/ or beside it"),
    "got10k": Layout(is_got10k_sequence, load_got10k_sequence, f"a folder of numbered frames and {GOT10K_BOXES}"),
    "otb_variant": Layout(is_otb_variant_sequence, load_otb_variant_sequence, "a folder with img/ or imgs/ (0001.jpg or img00001.jpg) and <name>_gt.txt"),
    "dtb70": Layout(is_dtb70_sequence, load_dtb70_sequence, "a folder with img/ and <name>.txt inside or beside it (DTB70)"),
    "uavdt": Layout(is_uavdt_sequence, load_uavdt_sequence, "a folder of img000001.jpg frames with <name>_gt.txt beside it or in anno/ (UAVDT)"),
    "uav123": Layout(is_uav123_sequence, load_uav123_sequence, "a folder of 000001.jpg frames with <name>.txt beside it or in the matching anno/ (UAV123)"),
    "video": Layout(is_video_sequence, load_video_sequence, "a video file with a <stem>.txt box file"),
})


def detect_layout(path: str) -> str:
    """The name of the first layout in :data:`LAYOUTS` that ``path`` matches; ValueError when none does."""
    if not (os.path.isfile(path) or os.path.isdir(path)):
        raise MissingFileError(f"sequence folder not found: {path}")
    for name, layout in LAYOUTS.items():
        if layout.detect(path):
            return name
    known = "; ".join(f"{name} ({layout.description})" for name, layout in LAYOUTS.items())
    raise ValueError(f"{path} is not a sequence in any registered layout: {known}")


def load_sequence(path: str, name: Optional[str] = None) -> Sequence:
    """Load a sequence of any registered layout, detected from what the path holds."""
    return LAYOUTS[detect_layout(path)].load(path, name=name)


def is_sequence_folder(path: str) -> bool:
    """``path`` is a folder that some registered layout recognises."""
    try:
        return os.path.isdir(path) and bool(detect_layout(path))
    except ValueError:
        return False
