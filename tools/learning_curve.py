"""Learning curves of training runs: loss and validation AUC per epoch, as one PNG.

    python -m tools.learning_curve runs/siamfc_corpus runs/box_corpus --out docs/learning_curve.png

Each argument is a run folder (its ``record.json``, else ``checkpoint.pt``'s record, so a
run still in progress can be drawn) or a weights file (``.pt``, whose record carries the
epochs). Losses of different heads are on different scales, so each run's loss is drawn
relative to its first epoch.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List, Tuple

import matplotlib

matplotlib.use("Agg")  # a file, never a window: this runs headless
import matplotlib.pyplot as plt  # noqa: E402


def read_record(path: str) -> dict:
    """The training record of a run folder or a weights file."""
    if os.path.isdir(path):
        record_json = os.path.join(path, "record.json")
        if os.path.isfile(record_json):
            with open(record_json, encoding="utf-8") as handle:
                return json.load(handle)
        path = os.path.join(path, "checkpoint.pt")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no record.json, checkpoint.pt or weights file at {path}")
    import torch

    payload = torch.load(path, map_location="cpu", weights_only=False)
    record = payload.get("record") if isinstance(payload, dict) else None
    if not isinstance(record, dict):
        raise ValueError(f"{path} carries no training record")
    return record


def curve_points(record: dict) -> Tuple[List[int], List[float], List[float]]:
    """``(epochs, loss relative to the first epoch, validation AUC or NaN)``."""
    epochs = record.get("epochs") or []
    if not epochs:
        raise ValueError("the record has no finished epoch")
    first = epochs[0]["loss"]
    return ([e["epoch"] for e in epochs], [e["loss"] / first for e in epochs],
            [e.get("validation_auc", float("nan")) for e in epochs])


def plot_runs(runs: List[Tuple[str, dict]], out: str) -> str:
    figure, (loss_axis, auc_axis) = plt.subplots(1, 2, figsize=(12, 5))
    for label, record in runs:
        epochs, loss, auc = curve_points(record)
        frames, validation = record.get("train_frames"), record.get("validation_sequences") or []
        # The validation sequences go in the legend: AUCs on different ones do not compare.
        parts = ([f"{frames:,} frames"] if frames else []) + ([f"val: {', '.join(validation)}"] if validation else [])
        name = f"{label} ({'; '.join(parts)})" if parts else label
        loss_axis.plot(epochs, loss, marker="o", label=name)
        auc_axis.plot(epochs, auc, marker="o", label=name)
    loss_axis.set(title="Training loss (relative to epoch 1)", xlabel="epoch", ylabel="loss / loss of epoch 1")
    auc_axis.set(title="Validation AUC (held-out sequences)", xlabel="epoch", ylabel="OTB success AUC")
    for axis in (loss_axis, auc_axis):
        axis.grid(alpha=0.3)
    # One legend under both plots: inside either it would hide the curves.
    handles, labels = auc_axis.get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=min(2, len(handles)), fontsize=8)
    figure.tight_layout(rect=(0, 0.06 * ((len(handles) + 1) // 2) + 0.02, 1, 1))
    temporary = out + ".partial.png"
    figure.savefig(temporary, dpi=110)
    plt.close(figure)
    os.replace(temporary, out)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.learning_curve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run folders or weights files")
    parser.add_argument("--label", action="append", default=[], help="a legend label per run, in order (default: the folder name)")
    parser.add_argument("--out", required=True, help="PNG to write")
    args = parser.parse_args(argv)
    if args.label and len(args.label) != len(args.runs):
        print(f"error: {len(args.label)} --label for {len(args.runs)} runs", file=sys.stderr)
        return 2
    try:
        labels = args.label or [os.path.basename(os.path.normpath(run)) for run in args.runs]
        runs = [(label, read_record(run)) for label, run in zip(labels, args.runs)]
        for label, record in runs:
            for epoch, loss, auc in zip(*curve_points(record)):
                print(f"{label}: epoch {epoch} loss x{loss:.3f} validation AUC {auc:.3f}")
        print(f"wrote {plot_runs(runs, args.out)}")
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
