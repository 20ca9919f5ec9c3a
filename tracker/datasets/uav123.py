"""UAV123 layout: a video folder ``<video>/000001.jpg ...`` and box files ``<sequence>.txt`` outside it.

The official release keeps frames in ``data_seq/UAV123[_10fps]/<video>/`` and boxes in
``anno/UAV123[_10fps]/<sequence>.txt``; many tracker repositories keep both in one folder
(``seq/<video>/`` beside ``seq/<sequence>.txt``). Both are found. Boxes are 1-based
``x,y,w,h``; ``NaN`` rows mean the target is not visible.

Some videos are cut into sub-sequences (``group2`` into ``group2_1``, ``group2_2``, ...).
Each has its own box file and a frame range in UAV123's ``configSeqs.m``
(``startFrame``/``endFrame``, 1-based file numbers; consecutive ones share their boundary
frame). Load one with ``name="group2_2", frame_range=(303, 591)``; :func:`read_config_seqs`
reads the ranges from ``configSeqs.m``.
"""
from __future__ import annotations

import glob
import os
import re
from typing import Dict, List, Optional, Tuple

from .annotations import first_existing, require_folder
from .decode import numbered_images
from .numbered import folder_name, load_numbered_sequence
from .sequence import Sequence

_CONFIG_ENTRY = re.compile(
    r"struct\(\s*'name'\s*,\s*'([^']+)'\s*,\s*'path'\s*,\s*\[[^\]]*?'[\\/]?([^'\\/]+)[\\/]?'\s*\]"
    r"\s*,\s*'startFrame'\s*,\s*(\d+)\s*,\s*'endFrame'\s*,\s*(\d+)"
)


def _box_folders(folder: str) -> List[str]:
    """Where the box files of a video folder may be: beside it, and the matching ``anno`` folder."""
    parent = os.path.dirname(os.path.normpath(os.path.abspath(folder)))
    places = [parent]
    parts = parent.split(os.sep)
    if "data_seq" in parts:
        index = len(parts) - 1 - parts[::-1].index("data_seq")
        places.append(os.sep.join(parts[:index] + ["anno"] + parts[index + 1:]))
    return places


def uav123_box_file(folder: str, name: str) -> Optional[str]:
    """``<name>.txt`` beside the video folder or in the matching ``anno`` folder; None when neither exists."""
    return first_existing(os.path.join(place, f"{name}.txt") for place in _box_folders(folder))


def sub_sequence_box_files(folder: str) -> List[str]:
    """The ``<video>_<k>.txt`` box files of a video folder's sub-sequences, sorted by ``k``."""
    video = folder_name(folder)
    found = []
    for place in _box_folders(folder):
        for path in glob.glob(os.path.join(glob.escape(place), f"{glob.escape(video)}_*.txt")):
            suffix = os.path.splitext(os.path.basename(path))[0][len(video) + 1:]
            if suffix.isdigit():
                found.append((int(suffix), path))
    return [p for _, p in sorted(found)]


def is_uav123_sequence(path: str) -> bool:
    """``path`` is a folder of numbered frames with ``<folder>.txt`` (or sub-sequence box files) outside it."""
    if not os.path.isdir(path) or not numbered_images(path):
        return False
    return uav123_box_file(path, folder_name(path)) is not None or bool(sub_sequence_box_files(path))


def load_uav123_sequence(
    folder: str,
    name: Optional[str] = None,
    frame_range: Optional[Tuple[int, int]] = None,
    boxes_path: Optional[str] = None,
) -> Sequence:
    """A UAV123 sequence: the frames of ``folder`` in ``frame_range`` and the box file ``<name>.txt``.

    ``name`` (default: the folder's name) picks the box file, so a sub-sequence is
    ``name="group2_2", frame_range=(303, 591)``. ``boxes_path`` overrides the search.
    """
    require_folder(folder)
    name = name or folder_name(folder)
    boxes_path = boxes_path or uav123_box_file(folder, name)
    if boxes_path is None:
        parts = [os.path.splitext(os.path.basename(p))[0] for p in sub_sequence_box_files(folder)]
        if parts:
            raise ValueError(
                f"{folder} is the video of the UAV123 sub-sequences {', '.join(parts)}; load one with "
                f"name=<sub-sequence> and frame_range=(startFrame, endFrame) from configSeqs.m"
            )
        places = " or ".join(_box_folders(folder))
        raise ValueError(f"{folder} is not a UAV123 sequence: no {name}.txt in {places}")
    try:
        return load_numbered_sequence(folder, boxes_path, name, "uav123", frame_range=frame_range)
    except ValueError as error:
        if frame_range is None and "boxes for" in str(error):
            raise ValueError(
                f"{error}; a UAV123 sub-sequence or a shortened sequence (truck2: frames 1-129) needs "
                "frame_range=(startFrame, endFrame) from configSeqs.m"
            ) from None
        raise


def read_config_seqs(text: str) -> Dict[str, Tuple[str, int, int]]:
    """``{sequence: (video folder, startFrame, endFrame)}`` from the text of UAV123's ``configSeqs.m``."""
    ranges = {}
    for match in _CONFIG_ENTRY.finditer(text):
        name, video, first, last = match.group(1), match.group(2), int(match.group(3)), int(match.group(4))
        ranges[name] = (video, first, last)
    if not ranges:
        raise ValueError("no struct('name',...,'path',...,'startFrame',...,'endFrame',...) entries found; is this UAV123's configSeqs.m?")
    return ranges
