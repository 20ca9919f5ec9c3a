"""GOT-10k layout: ``<seq>/00000001.jpg ...`` + ``<seq>/groundtruth.txt``, optional labels.

``absence.label`` (1 = target absent) turns that frame's box into NaN; ``cover.label``
(visible share 0..8) is kept as :attr:`Sequence.cover`. GOT-10k boxes are taken as
0-based, as got10k-toolkit and pytracking read them (no shift).
"""
from __future__ import annotations

import os
from typing import Optional

import numpy as np

from .annotations import read_box_file, read_label_file, require_folder
from .decode import IMAGE_EXTENSIONS, numbered_images
from .sequence import Sequence

GOT10K_BOXES = "groundtruth.txt"


def is_got10k_sequence(path: str) -> bool:
    """``path`` is a folder with ``groundtruth.txt``."""
    return os.path.isfile(os.path.join(path, GOT10K_BOXES))


def load_got10k_sequence(folder: str, name: Optional[str] = None) -> Sequence:
    """A GOT-10k-layout sequence: ``NNNNNNNN.jpg``, ``groundtruth.txt``, optional labels.

    Frames marked in ``absence.label`` get a NaN box; ``cover.label`` is kept as
    :attr:`Sequence.cover` (frames with cover 0 are not scored by the GOT-10k metrics).
    """
    require_folder(folder)
    numbered = numbered_images(folder)
    if not numbered:
        raise ValueError(f"{folder} is not a GOT-10k sequence: it has no numbered frames ({', '.join(IMAGE_EXTENSIONS)})")
    boxes = read_box_file(os.path.join(folder, GOT10K_BOXES), one_based=False)
    if len(boxes) != len(numbered):
        raise ValueError(
            f"{folder}: {GOT10K_BOXES} has {len(boxes)} boxes for {len(numbered)} frames; it needs one line per frame "
            "(the GOT-10k test split ships only the first box and cannot be scored here)"
        )
    absence = read_label_file(os.path.join(folder, "absence.label"), len(boxes))
    if absence is not None:
        boxes[absence.astype(bool)] = np.nan
    cover = read_label_file(os.path.join(folder, "cover.label"), len(boxes))
    return Sequence(name or os.path.basename(os.path.normpath(folder)), boxes, [p for _, p in numbered], cover=cover, layout="got10k")
