"""Where training sequences come from, and the validation used during training.

Sequences are read by :mod:`tracker.datasets`, the loaders evaluation uses (OTB and
GOT-10k layouts, one box convention), so training and evaluation can never disagree about
a box or a split. Training takes every ``train``-split sequence of the data folder's split
table (``splits.csv`` or the README table); a folder without one (a GOT-10k or ILSVRC-VID
train folder, say) is all training data. Sequences marked ``eval`` are never read; ``val``
ones (a corpus from ``python -m tracker.datasets.ingest``) only validate.
"""
from __future__ import annotations

import os
from typing import Dict, List, Sequence, Tuple

import numpy as np

from ..datasets import Sequence as AnnotatedSequence
from ..datasets import has_split_table, load_dataset, load_sequence, read_image, read_splits
from ..eval.metrics import otb_metrics
from .data import TrainingSequence

# GOT-10k cover.label: 0 is fully occluded, 8 fully visible; below this a pair is not cut.
MIN_GOT10K_COVER = 2


def as_training_sequence(sequence: AnnotatedSequence) -> TrainingSequence:
    """Frames and boxes for pair sampling; absent and mostly-occluded frames get a NaN box so they are skipped."""
    if not sequence.frame_paths:
        raise ValueError(f"{sequence.name}: training needs image frames; extract the video's frames into a folder first")
    boxes = sequence.boxes.copy()
    if sequence.cover is not None:
        boxes[np.asarray(sequence.cover) < MIN_GOT10K_COVER] = np.nan
    return TrainingSequence(sequence.name, list(sequence.frame_paths), boxes)


def load_otb_sequence(folder: str) -> TrainingSequence:
    """One sequence folder (OTB or GOT-10k layout) as training data."""
    return as_training_sequence(load_sequence(folder))


def training_and_validation(root: str, validation_names: Sequence[str]) -> Tuple[List[TrainingSequence], List[TrainingSequence]]:
    """Train-split sequences minus the validation ones, and the validation ones.

    Validation sequences are ``validation_names`` (each of the ``train`` or ``val`` split) or,
    when none are named, every ``val``-split sequence of the split table (a corpus written by
    ``python -m tracker.datasets.ingest`` marks a few). ``val`` sequences are never trained on.
    """
    if has_split_table(root):
        splits = read_splits(root)
        for name in validation_names:
            if splits.get(name) not in ("train", "val"):
                raise ValueError(
                    f"validation sequence {name!r} must be a train-split sequence (or val) of {root} (eval sequences are never used in training)"
                )
        present = {n for n in splits if os.path.isdir(os.path.join(root, n))}
        if not validation_names:
            validation_names = sorted((n for n, split in splits.items() if split == "val" and n in present), key=str.lower)
        names = [n for n, split in splits.items() if (split == "train" or n in validation_names) and n in present]
        sequences = load_dataset(root, names=sorted(names, key=str.lower)) if names else []
    else:
        sequences = load_dataset(root)
    by_name = {s.name: s for s in sequences}
    missing = [n for n in validation_names if n not in by_name]
    if missing:
        raise ValueError(f"validation sequence(s) {', '.join(missing)} not found in {root}")
    training = [as_training_sequence(s) for s in sequences if s.name not in validation_names]
    validation = [as_training_sequence(by_name[n]) for n in validation_names]
    return training, validation


def validation_function(sequences: Sequence[TrainingSequence], max_frames: int):
    """A ``validate(model, tracker_config) -> {"validation_auc": ...}`` over the first frames of each sequence."""
    clips = []
    for sequence in sequences:
        count = min(max_frames, len(sequence.frame_paths))
        clips.append(([read_image(p) for p in sequence.frame_paths[:count]], sequence.boxes[:count]))

    def validate(model, tracker_config) -> Dict[str, float]:
        from ..backends.torch_backend import TorchBackend
        from ..siamese_tracker import tracker_class

        tracker = tracker_class(tracker_config)(TorchBackend(model, device="cpu"), tracker_config)
        scores = []
        for frames, boxes in clips:
            tracker.init(frames[0], boxes[0])
            predicted = [boxes[0]] + [tracker.update(f).box for f in frames[1:]]
            scores.append(otb_metrics(np.array(predicted), boxes)["auc"])
        return {"validation_auc": float(np.mean(scores))}

    return validate
