"""Real template and search crops from annotated sequences, for int8 calibration and export checks.

Crops are cut the way the tracker cuts them (same geometry functions): the template
around the first frame's box, the search pyramid around the *previous* frame's box, so
the target sits off-centre by its real motion. Only sequences of the data set's
``train`` split are used: calibrating on evaluation sequences would leak them into the
numbers reported on them.

The data folder is ``--data`` on the command line, else ``$SIAMTRACK_DATA``, else
``../shared/data`` next to the repository; sequences, splits and frames are read with
:mod:`tracker.datasets` (any layout it knows). This module imports numpy and OpenCV only.
"""
from __future__ import annotations

import os
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .. import geometry
from ..boxes import xywh_to_center_size
from ..config import ModelConfig, TrackingConfig
from ..datasets import Sequence as AnnotatedSequence, load_sequence, read_image, read_splits
from ..errors import MissingFileError


def train_sequences(data_dir: str, names: Optional[Sequence[str]] = None) -> List[str]:
    """The train-split sequences in ``data_dir`` (all of them, or the ``names`` asked for).

    Asking for an eval-split or unknown sequence is an error: calibration must never see
    the sequences the tracker is evaluated on.
    """
    splits = read_splits(data_dir)
    train = sorted((name for name, split in splits.items() if split == "train"), key=str.lower)
    if names is None:
        names = train
    for name in names:
        if splits.get(name) != "train":
            what = f"an {splits[name]}-split sequence" if name in splits else "not listed in the split table"
            raise ValueError(f"sequence {name!r} is {what}; calibration uses train-split sequences only: {', '.join(train)}")
    missing = [name for name in names if not os.path.exists(os.path.join(data_dir, name))]
    if missing:
        raise MissingFileError(f"sequence folder(s) missing under {data_dir}: {', '.join(missing)}")
    return list(names)


def sequence_crops(
    sequence: AnnotatedSequence,
    model: ModelConfig,
    tracking: TrackingConfig,
    search_frames: int,
) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """``(template (E,E,3), search pyramid (S,X,X,3))`` uint8 BGR pairs from one sequence.

    The template comes from the first frame; ``search_frames`` search pyramids come from
    frames spread evenly over the rest, each cut around the previous frame's box.
    """
    first = read_image(sequence.frame_paths[0])
    fill_color = tuple(float(c) for c in first.reshape(-1, 3).mean(axis=0))
    center, size = xywh_to_center_size(sequence.init_box)
    template_crop_size, _ = geometry.context_crop_sizes(size, tracking.context, model.exemplar_size, model.search_size)
    template = geometry.crop_and_resize(first, center, template_crop_size, model.exemplar_size, fill_color)
    factors = geometry.scale_factors(tracking.scale_count, tracking.scale_step)
    visible = np.isfinite(sequence.boxes).all(axis=1)
    usable = [i for i in range(1, len(sequence)) if visible[i - 1]]
    picks = [usable[int(round(k))] for k in np.linspace(0, len(usable) - 1, min(search_frames, len(usable)))] if usable else []
    for index in picks:
        frame = read_image(sequence.frame_paths[index])
        center, size = xywh_to_center_size(sequence.boxes[index - 1])
        _, search_crop_size = geometry.context_crop_sizes(size, tracking.context, model.exemplar_size, model.search_size)
        crops = geometry.crop_scales(frame, center, search_crop_size * factors, model.search_size, fill_color)
        yield template, crops


def calibration_crops(
    data_dir: str,
    model: ModelConfig,
    tracking: TrackingConfig,
    sequences: Optional[Sequence[str]] = None,
    search_frames_per_sequence: int = 4,
) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Template/search pairs from every train-split sequence (or those named), in a fixed order."""
    pairs = []
    for name in train_sequences(data_dir, sequences):
        pairs.extend(sequence_crops(load_sequence(os.path.join(data_dir, name), name=name), model, tracking, search_frames_per_sequence))
    if not pairs:
        raise ValueError(f"no crops could be cut from the sequences in {data_dir}")
    return pairs
