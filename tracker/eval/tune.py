"""Choose tracking parameters on train-split sequences: every combination of a grid.

    python -m tracker.eval.tune --sequences Crossing,Dog,Human7,Car1 \\
        --grid scale_step=1.025,1.0375,1.05 --grid scale_lr=0.35,0.59,0.8 --grid scale_penalty=0.96,0.9745,0.985

Each ``--grid FIELD=V1,V2,...`` names a field of the ``tracking`` section of the config
(``tracker/config.py``); the model's own config supplies the rest. Every combination
tracks every sequence once (frames decoded once and reused), and the table lists the
mean OTB AUC per combination, best first, with the model's own setting marked, so a
change is judged against where it started. ``--starts K`` also runs each sequence from
later frames (``NAME@N`` columns), as ``python -m tracker.eval --starts`` does. The model
defaults to the shipped int8 ONNX pair (the fastest; ``--model`` takes any ``.onnx`` or
``.pt``).

Sequences must be in the ``train`` split of the data folder's split table, or in the
``val`` split a corpus holds out (``python -m tracker.datasets.ingest``; ``--data ../corpus``):
parameters chosen on the evaluation split would make its scores meaningless, so this
refuses them. Any model's tracking loop (SiamFC's or the box head's) runs.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import itertools
import sys
import time
from typing import Dict, List, Sequence as SequenceOf, Tuple

import numpy as np
import yaml

from ..config import TrackerConfig, TrackingConfig, from_dict
from ..datasets import Sequence, default_data_root, load_dataset, read_splits
from .metrics import otb_metrics
from .runner import run_sequence

TUNABLE = tuple(f.name for f in dataclasses.fields(TrackingConfig))


def parse_grid_option(text: str) -> Tuple[str, List[object]]:
    """``"scale_step=1.025,1.05"`` -> ``("scale_step", [1.025, 1.05])``; ValueError when malformed."""
    name, separator, values = str(text).partition("=")
    name = name.strip()
    if not separator or not values.strip():
        raise ValueError(f"--grid takes FIELD=V1,V2,... (e.g. scale_step=1.025,1.05), got {text!r}")
    if name not in TUNABLE:
        raise ValueError(f"{name!r} is not a tracking parameter; choose from: {', '.join(TUNABLE)}")
    parsed = [yaml.safe_load(value.strip()) for value in values.split(",")]
    if len(set(map(repr, parsed))) != len(parsed):
        raise ValueError(f"--grid {name}: values repeat in {values!r}")
    return name, parsed


def grid_configs(base: TrackerConfig, grid: Dict[str, SequenceOf[object]]) -> List[Tuple[Dict[str, object], TrackerConfig]]:
    """``(change, config)`` for every combination of ``grid`` applied to ``base``, each checked
    like a config file (types and ranges: a bad value is a ValueError naming it)."""
    combinations = []
    for values in itertools.product(*grid.values()):
        change = dict(zip(grid, values))
        data = base.to_dict()
        data["tracking"].update(change)
        combinations.append((change, from_dict(TrackerConfig, data)))
    return combinations


# Splits a grid may run on: training sequences, and a corpus's ``val`` sequences (held out
# from training for exactly this kind of choice). Never ``eval``.
TUNING_SPLITS = ("train", "val")


def check_train_split(data_dir: str, names: SequenceOf[str]) -> None:
    """ValueError unless every name is a ``train``- or ``val``-split sequence of ``data_dir``'s split table."""
    splits = read_splits(data_dir)
    refused = [f"{name} ({splits.get(name, 'not in the README')})" for name in names if splits.get(name) not in TUNING_SPLITS]
    if refused:
        raise ValueError(f"tuning uses train- or val-split sequences only; refused: {', '.join(refused)}")


def tuning_sequences(data_dir: str, sequences: str | None) -> List[str]:
    """The names in a comma-separated ``sequences`` option (default: the whole train split),
    checked to be train- or val-split sequences of ``data_dir``."""
    splits = read_splits(data_dir)
    names = [n.strip() for n in sequences.split(",") if n.strip()] if sequences else [n for n, s in splits.items() if s == "train"]
    if not names:
        raise ValueError(f"no train-split sequences listed in {data_dir}/README.md")
    check_train_split(data_dir, names)
    return names


def tuning_runs(sequences: SequenceOf[Sequence], starts: int, max_frames: int | None) -> List[Tuple[Sequence, List[np.ndarray]]]:
    """``(run, frames)`` for each sequence cut to ``max_frames`` and split into ``starts``
    runs (OTB's TRE, :func:`.segments.temporal_segments`; ``NAME@N`` from frame N), each
    sequence's frames decoded once and shared by its runs."""
    from .segments import temporal_segments

    runs = []
    for sequence in sequences:
        if max_frames is not None:
            sequence = sequence.head(max_frames)
        frames = sequence.read_frames()
        runs += [(run, frames[len(frames) - len(run):]) for run in temporal_segments([sequence], starts)]
    return runs


def mean_auc(backend, config: TrackerConfig, sequences: SequenceOf[Tuple[Sequence, List[np.ndarray]]]) -> Tuple[float, List[float]]:
    """Mean OTB AUC of a tracker with ``config`` over decoded ``(sequence, frames)``, and the per-sequence AUCs."""
    from ..siamese_tracker import tracker_class

    aucs = []
    for sequence, frames in sequences:
        boxes, _ = run_sequence(tracker_class(config)(backend, config), frames, sequence.init_box)
        aucs.append(otb_metrics(boxes, sequence.boxes[: len(frames)])["auc"])
    return float(np.mean(aucs)), aucs


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tracker.eval.tune", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", action="append", required=True, metavar="FIELD=V1,V2,...", help="a tracking parameter and its values (repeat for more)")
    parser.add_argument("--sequences", default=None, help="comma-separated train-split sequences (default: all of the train split)")
    parser.add_argument("--data", default=None, help="data folder (default: $SIAMTRACK_DATA, else ../shared/data)")
    parser.add_argument("--model", default=None, help="an .onnx pair or .pt weights (default: the shipped int8 ONNX pair)")
    parser.add_argument("--max-frames", type=int, default=None, help="track only the first N frames of each sequence")
    parser.add_argument("--starts", type=int, default=1,
                        help="runs per sequence, from frame 1 and from later frames (OTB's TRE, as python -m tracker.eval --starts): "
                             "a steadier mean on few sequences (default: %(default)s)")
    parser.add_argument("--out", default=None, help="also write the table as CSV here")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from ..loader import load_model
    from ..shipped import default_model
    from ..video import check_output_path, written_atomically

    try:
        grid = dict(parse_grid_option(option) for option in args.grid)
        if len(grid) != len(args.grid):
            raise ValueError("a field appears in more than one --grid")
        data_dir = args.data or default_data_root()
        names = tuning_sequences(data_dir, args.sequences)
        if args.max_frames is not None and args.max_frames < 2:
            raise ValueError("--max-frames must be at least 2 (the first frame only initialises)")
        if args.starts < 1:
            raise ValueError(f"--starts must be at least 1, got {args.starts}")
        if args.out:
            check_output_path(args.out, args.force)
        backend, base = load_model(args.model or default_model(int8=True))
        combinations = grid_configs(base, grid)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    sequences = load_dataset(data_dir, names=names)
    try:
        decoded = tuning_runs(sequences, args.starts, args.max_frames)
    except ValueError as error:  # e.g. a later start in a sequence stored as a video file
        print(f"error: {error}", file=sys.stderr)
        return 2
    frames = sum(len(f) for _, f in decoded)
    kind = "sequences" if args.starts == 1 else "runs"
    print(f"{len(combinations)} combinations x {len(decoded)} {kind} ({frames} frames): {', '.join(s.name for s, _ in decoded)}")
    started = time.perf_counter()
    own = {name: getattr(base.tracking, name) for name in grid}
    rows = []
    for index, (change, config) in enumerate(combinations, 1):
        mean, aucs = mean_auc(backend, config, decoded)
        rows.append((change, mean, aucs))
        print(f"  [{index}/{len(combinations)}] {change}: mean AUC {mean:.4f}", flush=True)
    rows.sort(key=lambda row: -row[1])
    header = list(grid) + ["mean AUC"] + [s.name for s, _ in decoded]
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for change, mean, aucs in rows:
        mark = " (the model's own)" if change == own else ""
        print("| " + " | ".join(str(change[n]) for n in grid) + f" | {mean:.4f}{mark} | " + " | ".join(f"{a:.3f}" for a in aucs) + " |")
    print(f"\n{time.perf_counter() - started:.0f} s")
    if args.out:
        try:
            with written_atomically(args.out, args.force) as temporary, open(temporary, "x", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(header)
                for change, mean, aucs in rows:
                    writer.writerow([change[n] for n in grid] + [f"{mean:.4f}"] + [f"{a:.4f}" for a in aucs])
        except OSError as error:  # e.g. the file appeared meanwhile: the table above is still printed
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"table written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
