"""Does the tracker's confidence tell the truth, and how fast does it re-acquire?

    python -m tracker.eval.reliability --weights weights/siamfc_mobilenet_v2.pt --split train
    python -m tracker.eval.reliability --split eval --compare-redetect

For every frame it records the candidate confidence measures of ``tracker.confidence``
(and the tracker's own score) next to the IoU of the tracker's box with the ground truth,
then prints, per measure, the distribution on frames the tracker has lost (IoU = 0)
and on frames it holds (IoU > 0.5), and the separation between the two: the
probability that a held frame scores higher than a lost one (ROC AUC; 0.5 = useless).

Re-acquisition: for each stretch where the target was lost (IoU = 0 while visible)
it counts the frames until the box overlaps the target again (IoU > 0.5 for the first
time), run with re-detection on and off (``--compare-redetect``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence as SequenceOf

import numpy as np

from .. import confidence, geometry
from ..siamese_tracker import response_maps
from ..datasets import Sequence, default_data_root, load_dataset
from .metrics import iou

MEASURES = ("score", "sigmoid_peak", "psr", "normalised_peak")


class _RecordingBackend:
    """Passes calls through to a backend and keeps the last responses."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.last_responses: Optional[np.ndarray] = None

    def embed(self, template_crop):
        return self.backend.embed(template_crop)

    def score(self, template_features, search_crops):
        outputs = self.backend.score(template_features, search_crops)
        self.last_responses = response_maps(outputs)
        return outputs


@dataclass
class SequenceTrace:
    name: str
    ious: np.ndarray  # per update, NaN where the target is not visible
    measures: Dict[str, np.ndarray]
    lost: np.ndarray


def trace_sequence(tracker, sequence: Sequence) -> SequenceTrace:
    """Run ``tracker`` over ``sequence`` and record every update's measures and IoU.

    The candidate measures are taken on the response map with the highest peak (the scale
    the tracker picks, up to its scale penalty); ``score``/``lost`` are the tracker's own.
    """
    recorder = _RecordingBackend(tracker.backend)
    tracker.backend = recorder
    frames = sequence.read_frames()
    tracker.init(frames[0], sequence.init_box)
    reference = tracker.reference_peak
    values = {name: [] for name in MEASURES}
    boxes, lost = [], []
    for frame in frames[1:]:
        result = tracker.update(frame)
        responses = recorder.last_responses
        best = int(np.argmax(responses.reshape(len(responses), -1).max(axis=1)))
        raw_peak = float(responses[best].max())
        values["score"].append(result.score)
        values["sigmoid_peak"].append(geometry.response_confidence(raw_peak))
        values["psr"].append(confidence.peak_to_sidelobe_ratio(responses[best]))
        values["normalised_peak"].append(confidence.normalised_peak(raw_peak, reference))
        boxes.append(result.box)
        lost.append(result.lost)
    ious = iou(np.asarray(boxes), sequence.boxes[1:])
    return SequenceTrace(sequence.name, ious, {k: np.asarray(v) for k, v in values.items()}, np.asarray(lost))


def separation(held: np.ndarray, lost: np.ndarray) -> float:
    """P(a held frame's score > a lost frame's score), ties counted half (ROC AUC)."""
    if len(held) == 0 or len(lost) == 0:
        return float("nan")
    greater = (held[:, None] > lost[None, :]).mean()
    ties = (held[:, None] == lost[None, :]).mean()
    return float(greater + 0.5 * ties)


def distribution_rows(traces: SequenceOf[SequenceTrace]) -> List[Dict[str, object]]:
    ious = np.concatenate([t.ious for t in traces])
    visible = np.isfinite(ious)
    held, missed = visible & (ious > 0.5), visible & (ious == 0)
    rows = []
    for name in MEASURES:
        values = np.concatenate([t.measures[name] for t in traces])
        row = {"measure": name, "held_frames": int(held.sum()), "lost_frames": int(missed.sum())}
        for label, mask in (("held", held), ("lost", missed)):
            q = np.percentile(values[mask], [10, 50, 90]) if mask.any() else [float("nan")] * 3
            row.update({f"{label}_p10": q[0], f"{label}_median": q[1], f"{label}_p90": q[2]})
        row["separation"] = separation(values[held], values[missed])
        rows.append(row)
    return rows


def reacquisition_lags(ious: np.ndarray) -> List[Optional[int]]:
    """For each run of visible frames with IoU = 0, the frames from its start until IoU > 0.5
    again (None when that never happens)."""
    lags: List[Optional[int]] = []
    index = 0
    count = len(ious)
    while index < count:
        if np.isfinite(ious[index]) and ious[index] == 0:
            start = index
            while index < count and not (np.isfinite(ious[index]) and ious[index] > 0.5):
                index += 1
            lags.append(index - start if index < count else None)
        index += 1
    return lags


def reacquisition_rows(traces_by_mode: Dict[str, SequenceOf[SequenceTrace]]) -> List[Dict[str, object]]:
    """Per sequence and mode: loss events (runs of IoU = 0), how many were re-acquired, and the lags."""
    rows = []
    for mode, traces in traces_by_mode.items():
        for trace in traces:
            lags = reacquisition_lags(trace.ious)
            found = [lag for lag in lags if lag is not None]
            rows.append({
                "mode": mode,
                "sequence": trace.name,
                "losses": len(lags),
                "reacquired": len(found),
                "median_lag": float(np.median(found)) if found else float("nan"),
                "lags": lags,
                "lost_frames": int(np.sum(np.isfinite(trace.ious) & (trace.ious == 0))),
                "reported_lost": int(trace.lost.sum()),
            })
    return rows


def format_reacquisition(rows) -> str:
    header = f"{'mode':12} {'sequence':14} {'losses':>6} {'found':>6} {'lag p50':>7} {'IoU=0 frames':>12} {'flagged lost':>12}  lags"
    lines = [header, "-" * len(header)]
    for row in rows:
        lags = ",".join("never" if lag is None else str(lag) for lag in row["lags"])
        lines.append(
            f"{row['mode']:12} {row['sequence']:14} {row['losses']:>6} {row['reacquired']:>6} {row['median_lag']:>7.1f} "
            f"{row['lost_frames']:>12} {row['reported_lost']:>12}  {lags}"
        )
    return "\n".join(lines)


def format_distribution(rows) -> str:
    header = f"{'measure':16} {'held p10/p50/p90':>24} {'lost p10/p50/p90':>24} {'separation':>10}"
    lines = [header, "-" * len(header)]
    for row in rows:
        held = f"{row['held_p10']:.3f}/{row['held_median']:.3f}/{row['held_p90']:.3f}"
        lost = f"{row['lost_p10']:.3f}/{row['lost_median']:.3f}/{row['lost_p90']:.3f}"
        lines.append(f"{row['measure']:16} {held:>24} {lost:>24} {row['separation']:>10.3f}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tracker.eval.reliability", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default=None, help="data folder (default: $SIAMTRACK_DATA, else ../shared/data)")
    parser.add_argument("--split", default="eval", help="README split: eval, train or all (default: eval)")
    parser.add_argument("--sequences", default=None, help="comma-separated sequence names")
    parser.add_argument("--weights", default=None, help="weights file (default: the shipped weights)")
    parser.add_argument("--never-lost", action="store_true", help="run plain SiamFC (no lost state, no re-detection) to judge the measures")
    parser.add_argument("--compare-redetect", action="store_true", help="run with re-detection on and off and compare re-acquisition")
    parser.add_argument("--out", default=None, help="write the per-frame traces and the tables as JSON here")
    return parser


def main(argv=None) -> int:
    from tqdm import tqdm

    from ..siamese_tracker import Tracker
    from .trackers import default_weights_path

    args = build_parser().parse_args(argv)
    weights = args.weights or default_weights_path()
    if not os.path.isfile(weights):
        print(f"error: weights file not found: {weights}", file=sys.stderr)
        return 2
    names = args.sequences.split(",") if args.sequences else None
    try:
        sequences = load_dataset(args.data or default_data_root(), None if names else args.split, names)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    base = Tracker.from_model(weights)
    tracking = base.config.tracking
    if args.never_lost:
        # Plain SiamFC: never lost, never holds still; what the candidate measures are judged on.
        tracking = dataclasses.replace(tracking, confidence="sigmoid", lost_threshold=0.0, found_threshold=0.0, redetect=False)
    modes = {"tracker": tracking}
    if args.compare_redetect:
        modes = {"redetect": dataclasses.replace(tracking, redetect=True), "no-redetect": dataclasses.replace(tracking, redetect=False)}
    traces_by_mode = {}
    for mode, mode_tracking in modes.items():
        config = dataclasses.replace(base.config, tracking=mode_tracking)
        traces_by_mode[mode] = [trace_sequence(Tracker(base.backend, config), s) for s in tqdm(sequences, desc=f"{mode}: sequences")]
    traces = next(iter(traces_by_mode.values()))
    rows = distribution_rows(traces)
    print(f"confidence on {len(traces)} sequences ({mode_label(tracking, args)}): held = IoU > 0.5, lost = IoU 0")
    print(format_distribution(rows))
    reacquisition = reacquisition_rows(traces_by_mode)
    print("\nre-acquisition: frames from the start of each IoU = 0 run until IoU > 0.5 again")
    print(format_reacquisition(reacquisition))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump({"distribution": rows, "reacquisition": reacquisition, "traces": {
                mode: [
                    {"name": t.name, "ious": np.nan_to_num(t.ious, nan=-1).tolist(), "lost": t.lost.tolist(),
                     **{k: v.tolist() for k, v in t.measures.items()}}
                    for t in mode_traces
                ]
                for mode, mode_traces in traces_by_mode.items()
            }}, handle)
        print(f"tables and per-frame traces written to {args.out}")
    return 0


def mode_label(tracking, args) -> str:
    if args.never_lost:
        return "plain SiamFC, never lost"
    return f"{tracking.confidence}, lost below {tracking.lost_threshold}, found at {tracking.found_threshold}"


if __name__ == "__main__":
    sys.exit(main())
