"""Where a model's confidence sits when it holds the target and when it does not, to place
``lost_threshold`` and ``found_threshold`` where a grid search cannot:

    python -m tracker.eval.score_levels --data ../corpus --model runs/NAME/weights.pt \\
        --sequences Gull1,Animal3,Soccer,car14,Freeman1,MountainBike6,S0310

``tracker.eval.tune`` judges thresholds by AUC, which moves only on sequences where the
tracker turns lost; a model that never does there leaves ``found_threshold`` unmeasured,
and one set above the scores the model gives while tracking never lets a lost target be
found again (the box stays frozen while the target walks on). This tool tracks the
sequences once and reports, for candidate thresholds, the share of frames *on target*
(IoU with the ground truth above 0.5) whose score reaches it and the share of frames
*off target* (IoU below 0.1) that do. Same data rule as ``tune``: train- or val-split
sequences only.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Dict, List, Sequence as SequenceOf, Tuple

import numpy as np

from ..datasets import default_data_root, load_dataset
from .metrics import iou
from .runner import box_of
from .tune import tuning_sequences

ON_TARGET_IOU = 0.5
OFF_TARGET_IOU = 0.1
DEFAULT_THRESHOLDS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5)


def score_levels(ious, scores, thresholds: SequenceOf[float] = DEFAULT_THRESHOLDS) -> Dict[str, object]:
    """Per threshold, the share of on-target frames (IoU > 0.5) and of off-target frames
    (IoU < 0.1) scoring at or above it; frames in between and NaN IoUs (no ground truth)
    count in neither. Shares are NaN where a group has no frames."""
    ious, scores = np.asarray(ious, dtype=np.float64), np.asarray(scores, dtype=np.float64)
    if ious.shape != scores.shape or ious.ndim != 1:
        raise ValueError(f"ious and scores must be 1-D and of one length, got {ious.shape} and {scores.shape}")
    known = np.isfinite(ious)
    on, off = scores[known & (ious > ON_TARGET_IOU)], scores[known & (ious < OFF_TARGET_IOU)]

    def share(group: np.ndarray, threshold: float) -> float:
        return float(np.mean(group >= threshold)) if len(group) else float("nan")

    return {
        "on_target_frames": int(len(on)),
        "off_target_frames": int(len(off)),
        "rows": [(float(t), share(on, t), share(off, t)) for t in thresholds],
    }


def track_scores(tracker, frames, sequence) -> Tuple[np.ndarray, np.ndarray]:
    """``(ious, scores)`` of every update after the first frame."""
    tracker.init(frames[0], sequence.init_box)
    ious, scores = [], []
    for index in range(1, len(frames)):
        result = tracker.update(frames[index])
        truth = sequence.boxes[index]
        ious.append(float(iou(np.array([box_of(result)]), truth[None])[0]) if np.isfinite(truth).all() else np.nan)
        scores.append(float(result.score))
    return np.array(ious), np.array(scores)


def parse_thresholds(text: str) -> List[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--thresholds takes comma-separated numbers, got {text!r}") from None
    if not values:
        raise ValueError("--thresholds is empty")
    return values


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tracker.eval.score_levels", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="an .onnx pair or .pt weights (default: the shipped int8 ONNX pair)")
    parser.add_argument("--sequences", default=None, help="comma-separated train- or val-split sequences (default: the whole train split)")
    parser.add_argument("--data", default=None, help="data folder (default: $SIAMTRACK_DATA, else ../shared/data)")
    parser.add_argument("--thresholds", default=",".join(str(t) for t in DEFAULT_THRESHOLDS), help="candidate thresholds")
    args = parser.parse_args(argv)
    from ..loader import load_model
    from ..shipped import default_model
    from ..siamese_tracker import tracker_class

    try:
        thresholds = parse_thresholds(args.thresholds)
        data_dir = args.data or default_data_root()
        names = tuning_sequences(data_dir, args.sequences)
        backend, config = load_model(args.model or default_model(int8=True))
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    all_ious, all_scores = [], []
    for sequence in load_dataset(data_dir, names=names):
        ious, scores = track_scores(tracker_class(config)(backend, config), sequence.read_frames(), sequence)
        all_ious.append(ious)
        all_scores.append(scores)
    levels = score_levels(np.concatenate(all_ious), np.concatenate(all_scores), thresholds)
    tracking = config.tracking
    print(f"{len(names)} sequences: {levels['on_target_frames']} frames on target (IoU > {ON_TARGET_IOU}), "
          f"{levels['off_target_frames']} off it (IoU < {OFF_TARGET_IOU}); the model's config: "
          f"lost_threshold {tracking.lost_threshold}, found_threshold {tracking.found_threshold}")
    print("| threshold | on-target frames at or above | off-target frames at or above |")
    print("|---|---|---|")
    for threshold, on, off in levels["rows"]:
        print(f"| {threshold:g} | {on:.3f} | {off:.3f} |")
    print(f"\n{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
