"""Scores, tables and plots from evaluation runs.

Per tracker x sequence: OTB AUC, precision@20, normalised precision, GOT-10k AO/SR and
fps. The overall row of a tracker follows the OTB toolkit: its success and precision
curves are the means of the per-sequence curves (so its AUC is the mean of the
per-sequence AUCs, every sequence weighing the same); its fps is all its updates
divided by all its update time. matplotlib is imported only when plotting.

Every file is written under a temporary name and published when complete
(``tracker.video.written_atomically``); an existing file is replaced only with ``overwrite``.
"""
from __future__ import annotations

import csv
import json
import os
from typing import Dict, Iterable, List, Mapping, Optional, Sequence as SequenceOf

import numpy as np

from ..datasets import Sequence
from ..video import written_atomically
from .metrics import PRECISION_RANK_THRESHOLD, PRECISION_THRESHOLDS, SUCCESS_THRESHOLDS, got10k_metrics, otb_metrics
from .runner import RunRecord, SpeedRecord

OVERALL = "OVERALL"
TABLE_FIELDS = ("tracker", "sequence", "frames", "auc", "precision_20", "normalized_precision", "ao", "sr_50", "sr_75", "fps")


def score_records(records: Iterable[RunRecord], sequences: SequenceOf[Sequence]) -> List[Dict[str, object]]:
    """One row per record: the table fields plus the three OTB curves (arrays)."""
    by_name = {s.name: s for s in sequences}
    rows = []
    for record in records:
        sequence = by_name[record.sequence]
        otb = otb_metrics(record.boxes, sequence.boxes)
        got = got10k_metrics(record.boxes, sequence.boxes, sequence.visible) if sequence.visible[1:].any() else {}
        rows.append(
            {
                "tracker": record.tracker,
                "sequence": record.sequence,
                "frames": otb["frames"],
                "auc": otb["auc"],
                "precision_20": otb["precision_20"],
                "normalized_precision": otb["normalized_precision"],
                "ao": got.get("ao", float("nan")),
                "sr_50": got.get("sr_50", float("nan")),
                "sr_75": got.get("sr_75", float("nan")),
                "fps": record.fps,
                "updates": len(record.update_seconds),
                "update_seconds": float(np.sum(record.update_seconds)),
                "success_curve": otb["success_curve"],
                "precision_curve": otb["precision_curve"],
                "normalized_precision_curve": otb["normalized_precision_curve"],
            }
        )
    return rows


def overall_rows(rows: SequenceOf[Mapping[str, object]]) -> List[Dict[str, object]]:
    """One OVERALL row per tracker (see the module docstring), in first-seen order."""
    trackers = list(dict.fromkeys(r["tracker"] for r in rows))
    result = []
    for tracker in trackers:
        mine = [r for r in rows if r["tracker"] == tracker]
        success = np.mean([r["success_curve"] for r in mine], axis=0)
        precision = np.mean([r["precision_curve"] for r in mine], axis=0)
        normalized = np.mean([r["normalized_precision_curve"] for r in mine], axis=0)
        seconds = sum(r["update_seconds"] for r in mine)
        result.append(
            {
                "tracker": tracker,
                "sequence": OVERALL,
                "frames": int(sum(r["frames"] for r in mine)),
                "auc": float(np.mean(success)),
                "precision_20": float(precision[int(PRECISION_RANK_THRESHOLD)]),
                "normalized_precision": float(np.mean(normalized)),
                "ao": float(np.nanmean([r["ao"] for r in mine])) if any(np.isfinite(r["ao"]) for r in mine) else float("nan"),
                "sr_50": float(np.nanmean([r["sr_50"] for r in mine])) if any(np.isfinite(r["sr_50"]) for r in mine) else float("nan"),
                "sr_75": float(np.nanmean([r["sr_75"] for r in mine])) if any(np.isfinite(r["sr_75"]) for r in mine) else float("nan"),
                "fps": sum(r["updates"] for r in mine) / seconds if seconds > 0 else float("nan"),
                "updates": sum(r["updates"] for r in mine),
                "update_seconds": seconds,
                "success_curve": success,
                "precision_curve": precision,
                "normalized_precision_curve": normalized,
            }
        )
    return result


def _number(value, digits: int) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def format_table(rows: SequenceOf[Mapping[str, object]], labels: Optional[Mapping[str, str]] = None) -> str:
    """A fixed-width text table: one line per sequence (then OVERALL), per tracker AUC, P@20, fps."""
    labels = labels or {}
    trackers = list(dict.fromkeys(r["tracker"] for r in rows))
    sequences = list(dict.fromkeys(r["sequence"] for r in rows if r["sequence"] != OVERALL))
    if any(r["sequence"] == OVERALL for r in rows):
        sequences.append(OVERALL)
    cell = {(r["tracker"], r["sequence"]): r for r in rows}
    first = max([len("sequence")] + [len(s) for s in sequences])
    width = max([19] + [len(labels.get(t, t)) for t in trackers])
    header = "sequence".ljust(first) + "".join(f" | {labels.get(t, t):<{width}}" for t in trackers)
    sub = " " * first + "".join(f" | {'AUC':>5} {'P@20':>5} {'fps':>6}".ljust(width + 3) for _ in trackers)
    lines = [header, sub, "-" * len(sub)]
    for sequence in sequences:
        if sequence == OVERALL:
            lines.append("-" * len(sub))
        parts = [sequence.ljust(first)]
        for tracker in trackers:
            row = cell.get((tracker, sequence))
            if row is None:
                parts.append(f" | {'':<{width}}")
            else:
                parts.append(f" | {_number(row['auc'], 3):>5} {_number(row['precision_20'], 3):>5} {_number(row['fps'], 1):>6}".ljust(width + 3))
        lines.append("".join(parts))
    return "\n".join(lines)


def _plain(row: Mapping[str, object]) -> Dict[str, object]:
    plain = {}
    for key, value in row.items():
        if isinstance(value, np.ndarray):
            value = [float(v) for v in value]
        elif isinstance(value, (float, np.floating)):
            value = float(value) if np.isfinite(value) else None
        elif isinstance(value, np.integer):
            value = int(value)
        plain[key] = value
    return plain


def write_csv(rows: SequenceOf[Mapping[str, object]], path: str, overwrite: bool = False) -> str:
    """The table fields of ``rows`` as CSV (empty cells for undefined values)."""
    with written_atomically(path, overwrite) as temporary, open(temporary, "x", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(TABLE_FIELDS)
        for row in rows:
            values = []
            for field in TABLE_FIELDS:
                value = row[field]
                if isinstance(value, (float, np.floating)):
                    value = "" if not np.isfinite(value) else f"{value:.6g}"
                values.append(value)
            writer.writerow(values)
    return path


def write_json(rows: SequenceOf[Mapping[str, object]], path: str, meta: Optional[Mapping[str, object]] = None,
               overwrite: bool = False) -> str:
    """``{"meta": ..., "thresholds": ..., "rows": [...]}`` with curves as lists and NaN as null."""
    document = {
        "meta": dict(meta or {}),
        "thresholds": {
            "success": [float(v) for v in SUCCESS_THRESHOLDS],
            "precision_px": [float(v) for v in PRECISION_THRESHOLDS],
        },
        "rows": [_plain(r) for r in rows],
    }
    with written_atomically(path, overwrite) as temporary, open(temporary, "x", encoding="utf-8") as handle:
        json.dump(document, handle, indent=1)
    return path


def _plot(curves, thresholds, scores, path, title, xlabel, ylabel, score_name, overwrite):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.8), dpi=100)
    for label in sorted(curves, key=lambda name: -scores[name]):
        axes.plot(thresholds, curves[label], linewidth=2, label=f"{label} [{scores[label]:.3f}]")
    axes.set_xlim(thresholds[0], thresholds[-1])
    axes.set_ylim(0, 1.02)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower left" if score_name == "AUC" else "lower right", title=score_name, fontsize=9)
    figure.tight_layout()
    try:
        with written_atomically(path, overwrite) as temporary:
            figure.savefig(temporary)
    finally:
        plt.close(figure)
    return path


def plot_success(curves: Mapping[str, np.ndarray], path: str, title: str = "Success plot of OPE", overwrite: bool = False) -> str:
    """OTB success plot: one line per tracker, legend ``label [AUC]`` sorted by AUC."""
    scores = {label: float(np.mean(curve)) for label, curve in curves.items()}
    return _plot(curves, SUCCESS_THRESHOLDS, scores, path, title, "Overlap threshold (IoU)", "Success rate", "AUC", overwrite)


def plot_precision(curves: Mapping[str, np.ndarray], path: str, title: str = "Precision plot of OPE", overwrite: bool = False) -> str:
    """OTB precision plot: one line per tracker, legend ``label [precision@20]`` sorted by it."""
    scores = {label: float(curve[int(PRECISION_RANK_THRESHOLD)]) for label, curve in curves.items()}
    return _plot(curves, PRECISION_THRESHOLDS, scores, path, title, "Location error threshold (pixels)", "Precision", "P@20",
                 overwrite)


def speed_rows(records: SequenceOf[SpeedRecord], reference: Optional[str] = None) -> List[Dict[str, object]]:
    """Per tracker x sequence fps, then OVERALL (all updates / all time), with the ratio to ``reference``."""
    trackers = list(dict.fromkeys(r.tracker for r in records))
    reference = reference or (trackers[0] if trackers else None)
    rows = [{"tracker": r.tracker, "sequence": r.sequence, "updates": r.updates * len(r.seconds), "seconds": sum(r.seconds), "fps": r.fps} for r in records]
    for tracker in trackers:
        mine = [r for r in rows if r["tracker"] == tracker]
        updates, seconds = sum(r["updates"] for r in mine), sum(r["seconds"] for r in mine)
        rows.append({"tracker": tracker, "sequence": OVERALL, "updates": updates, "seconds": seconds, "fps": updates / seconds})
    fps_of = {(r["tracker"], r["sequence"]): r["fps"] for r in rows}
    for row in rows:
        row["ratio_to_" + str(reference)] = row["fps"] / fps_of[(reference, row["sequence"])]
    return rows


def format_speed_table(rows: SequenceOf[Mapping[str, object]], labels: Optional[Mapping[str, str]] = None) -> str:
    """One line per sequence (then OVERALL): each tracker's fps and its ratio to the reference."""
    labels = labels or {}
    ratio_key = next(k for k in rows[0] if k.startswith("ratio_to_"))
    trackers = list(dict.fromkeys(r["tracker"] for r in rows))
    sequences = list(dict.fromkeys(r["sequence"] for r in rows))
    cell = {(r["tracker"], r["sequence"]): r for r in rows}
    first = max([len("sequence")] + [len(s) for s in sequences])
    width = max([19] + [len(labels.get(t, t)) for t in trackers])
    lines = [
        "sequence".ljust(first) + "".join(f" | {labels.get(t, t):<{width}}" for t in trackers),
        " " * first + "".join(f" | {'fps':>8} {'x ' + ratio_key[9:]:>10}".ljust(width + 3) for _ in trackers),
    ]
    lines.append("-" * len(lines[1]))
    for sequence in sequences:
        if sequence == OVERALL:
            lines.append("-" * len(lines[1]))
        lines.append(
            sequence.ljust(first)
            + "".join(f" | {cell[(t, sequence)]['fps']:>8.1f} {cell[(t, sequence)][ratio_key]:>10.2f}".ljust(width + 3) for t in trackers)
        )
    return "\n".join(lines)


def write_rows_csv(rows: SequenceOf[Mapping[str, object]], path: str, overwrite: bool = False) -> str:
    """Any flat rows as CSV, columns in the first row's order."""
    fields = list(rows[0])
    with written_atomically(path, overwrite) as temporary, open(temporary, "x", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return path


EVALUATION_FILES = ("table.csv", "table.json", "success.png", "precision.png")
SPEED_FILES = ("speed.csv", "speed.json")


def ensure_folder(path: str) -> str:
    if os.path.lexists(path) and not os.path.isdir(path):
        raise ValueError(f"{path} is a file, not a folder")
    os.makedirs(path, exist_ok=True)
    return path
