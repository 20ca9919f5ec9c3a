"""Where training sequences come from, and the validation used during training."""
from __future__ import annotations

import glob
import os
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np

from ..boxes import one_based_to_zero_based
from .data import TrainingSequence


def read_splits(root: str) -> Dict[str, str]:
    """``{sequence: split}`` from the SPLIT column of ``root/README.md``'s sequence table."""
    path = os.path.join(root, "README.md")
    if not os.path.isfile(path):
        raise ValueError(f"{path} not found: the data folder's README must give each sequence's split")
    splits, header = {}, None
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not line.startswith("|") or len(cells) < 2:
                header = None if not line.startswith("|") else header
                continue
            if header is None:
                header = [c.lower() for c in cells]
                continue
            if set(cells[0]) <= set("-: "):
                continue
            if "split" in header and "name" in header:
                splits[cells[header.index("name")]] = cells[header.index("split")].lower()
    return splits


def load_otb_sequence(folder: str) -> TrainingSequence:
    frames = sorted(glob.glob(os.path.join(folder, "img", "*.jpg")))
    boxes_path = os.path.join(folder, "groundtruth_rect.txt")
    rows = []
    with open(boxes_path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                values = [float(v) for v in line.replace("\t", ",").replace(" ", ",").split(",") if v != ""]
                rows.append(one_based_to_zero_based(values) if np.isfinite(values).all() else (np.nan,) * 4)
    if len(rows) != len(frames):
        raise ValueError(f"{folder}: {len(rows)} boxes for {len(frames)} frames")
    return TrainingSequence(os.path.basename(folder.rstrip("/")), frames, np.array(rows, dtype=np.float64))


def training_and_validation(root: str, validation_names: Sequence[str]) -> Tuple[List[TrainingSequence], List[TrainingSequence]]:
    """Train-split sequences minus the validation ones, and the validation ones (also train split)."""
    splits = read_splits(root)
    for name in validation_names:
        if splits.get(name) != "train":
            raise ValueError(f"validation sequence {name!r} must be a train-split sequence of {root} (eval sequences are never used in training)")
    names = sorted(n for n, split in splits.items() if split == "train" and os.path.isdir(os.path.join(root, n)))
    training = [load_otb_sequence(os.path.join(root, n)) for n in names if n not in validation_names]
    validation = [load_otb_sequence(os.path.join(root, n)) for n in validation_names]
    return training, validation


def _success_auc(predicted: np.ndarray, truth: np.ndarray) -> float:
    # TODO(eval): use tracker.eval.metrics once the evaluation toolkit lands.
    valid = np.isfinite(truth).all(axis=1)
    p, t = predicted[valid], truth[valid]
    w = np.clip(np.minimum(p[:, 0] + p[:, 2], t[:, 0] + t[:, 2]) - np.maximum(p[:, 0], t[:, 0]), 0, None)
    h = np.clip(np.minimum(p[:, 1] + p[:, 3], t[:, 1] + t[:, 3]) - np.maximum(p[:, 1], t[:, 1]), 0, None)
    iou = w * h / (p[:, 2] * p[:, 3] + t[:, 2] * t[:, 3] - w * h)
    return float(np.mean([(iou > th).mean() for th in np.linspace(0, 1, 21)]))


def validation_function(sequences: Sequence[TrainingSequence], max_frames: int):
    """A ``validate(model, tracker_config) -> {"validation_auc": ...}`` over the first frames of each sequence."""
    clips = []
    for sequence in sequences:
        count = min(max_frames, len(sequence.frame_paths))
        clips.append(([cv2.imread(p) for p in sequence.frame_paths[:count]], sequence.boxes[:count]))

    def validate(model, tracker_config) -> Dict[str, float]:
        from ..backends.torch_backend import TorchBackend
        from ..siamese_tracker import Tracker

        tracker = Tracker(TorchBackend(model, device="cpu"), tracker_config)
        scores = []
        for frames, boxes in clips:
            tracker.init(frames[0], boxes[0])
            predicted = [boxes[0]] + [tracker.update(f).box for f in frames[1:]]
            scores.append(_success_auc(np.array(predicted), boxes))
        return {"validation_auc": float(np.mean(scores))}

    return validate
