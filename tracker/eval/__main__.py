"""Evaluate trackers on annotated sequences (OTB one-pass protocol), or time them side by side.

    python -m tracker.eval --data ../shared/data --trackers siamfc,mil,nano,kcf,csrt --split eval --out results/
    python -m tracker.eval --speed --trackers siamfc,mil,nano --split eval --out results/

Evaluation writes to the folder --out: table.csv and table.json (per tracker x sequence: AUC,
precision@20, normalised precision, GOT-10k AO/SR, fps; plus an OVERALL row per tracker),
success.png and precision.png (OTB plots, AUC / precision@20 in the legend), and
cache/ (one file per tracker x sequence: a re-run reads these instead of tracking again;
a changed config, weights file, model file, OpenCV version or sequence invalidates its
entries). fps counts update() time only, measured while the run was made. Files already in
--out are replaced only with --force (checked before anything runs; the cache is always
reused), and each appears only when complete.

--speed times every tracker on the same decoded frames in one run, interleaved and
repeated, and writes speed.csv/speed.json with fps and the ratio to the first tracker.
Ratios measured this way are what to compare on a busy machine; absolute fps are not.

Trackers: siamfc (this project's SiamFC model, weights/siamfc_mobilenet_v2.pt;
random weights if it is missing; the default box model is --model box=weights/box_mobilenet_v2.int8.onnx), mil, nano (NanoTrack-v2), vit (VitTrack), kcf and csrt (skipped with a message
unless opencv-contrib is installed). Sequences come from --data (default
$SIAMTRACK_DATA, else ../shared/data next to the repository); --split picks them by
the SPLIT column of the data folder's README.md.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import time

from ..datasets import default_data_root, load_dataset
from ..video import Terminated, check_output_path, sigterm_as_interrupt
from .report import EVALUATION_FILES, SPEED_FILES
from .trackers import TRACKER_NAMES, available_specs, default_peers_root, model_spec, parse_tracker_names


def _load_average() -> str:
    if not hasattr(os, "getloadavg"):
        return "unknown"
    return ", ".join(f"{v:.2f}" for v in os.getloadavg()) + f" (1/5/15 min) on {os.cpu_count()} CPUs"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tracker.eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="data folder (default: $SIAMTRACK_DATA, else ../shared/data next to the repository)")
    parser.add_argument("--split", default="eval", help="README split to run: eval, train or all (default: %(default)s)")
    parser.add_argument("--sequences", default=None, help="comma-separated sequence names (default: every one in the split)")
    parser.add_argument("--trackers", default="siamfc,mil,nano", help=f"comma-separated, from: {', '.join(TRACKER_NAMES)} (default: %(default)s)")
    parser.add_argument("--out", default="results", help="output folder (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="replace the tables and plots of an earlier run in --out")
    parser.add_argument("--cache", default=None, help="run cache folder, shareable between --out folders (default: OUT/cache)")
    parser.add_argument("--no-cache", action="store_true", help="rerun every tracker x sequence instead of reading cached runs")
    parser.add_argument("--starts", type=int, default=1,
                        help="runs per sequence: from frame 1 and from later frames (OTB's TRE; tracker/eval/segments.py), default %(default)s")
    parser.add_argument("--max-frames", type=int, default=None, help="use only the first N frames of each sequence (quick checks)")
    parser.add_argument("--device", default=None, help="siamfc torch weights: auto, cpu or cuda (default: auto)")
    parser.add_argument("--precision", default=None, choices=["fp32", "bf16"],
                        help="siamfc network precision: torch weights, or an ONNX model on OpenVINO (default: fp32)")
    parser.add_argument("--runtime", default=None, choices=["auto", "onnxruntime", "openvino", "torch"],
                        help="siamfc ONNX models: auto (OpenVINO on CPU when installed, else onnxruntime), onnxruntime or "
                             "openvino; torch for .pt weights (default: auto)")
    parser.add_argument("--weights", default=None, help="siamfc weights file (.pt), or an exported ONNX model (X.onnx, X.int8.onnx: run on onnxruntime), run with the config it carries unless --config is given (default: weights/siamfc_mobilenet_v2.pt when present, else random weights)")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PATH",
                        help="also run this project's tracker on model file PATH as tracker NAME (repeat to compare models in one run; "
                             "--runtime applies to the ONNX ones, --device to the .pt ones)")
    parser.add_argument("--model-config", action="append", default=[], metavar="NAME=YAML",
                        help="run the --model named NAME with this tracker YAML instead of the config its file carries "
                             "(e.g. tracking parameters tuned with python -m tracker.eval.tune)")
    parser.add_argument("--config", default=None, help="siamfc tracker YAML (default: the weights file's own, else tracker/configs/siamfc_alexnet.yaml)")
    parser.add_argument("--peers", default=None, help="folder with nanotrack-v2/ and vittrack/ models (default: $SIAMTRACK_PEERS, else ../shared/peers)")
    parser.add_argument("--speed", action="store_true", help="speed benchmark instead of accuracy: fps of every tracker on the same frames")
    parser.add_argument("--speed-frames", type=int, default=100, help="--speed: frames per sequence (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="--speed: passes per tracker per sequence (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _quiet_opencv() -> None:
    # OpenCV 5's DNN engine logs a harmless warning per Nano/Vit tracker; keep the bar readable.
    import cv2

    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:
        pass


def check_output_folder(path: str, names, overwrite: bool) -> None:
    """Refuse an --out that is a file, or (unless ``overwrite``) a folder that holds any of
    ``names`` already; run before the work. A missing folder is fine (it is made)."""
    if os.path.lexists(path) and not os.path.isdir(path):
        raise ValueError(f"--out {path} is a file; --out names a folder (for {', '.join(names)}): choose another name")
    if os.path.isdir(path):
        for name in names:
            try:
                check_output_path(os.path.join(path, name), overwrite)
            except FileExistsError:
                raise FileExistsError(f"{os.path.join(path, name)} already exists (from an earlier run); choose another --out, "
                                      "or pass --force to replace that run's tables and plots") from None


def run(args: argparse.Namespace) -> int:
    from . import report
    from .runner import benchmark, evaluate

    check_output_folder(args.out, SPEED_FILES if args.speed else EVALUATION_FILES, args.force)
    started = time.perf_counter()
    data = args.data or default_data_root()
    # --trackers '' with --model: only the named models.
    names = parse_tracker_names(args.trackers) if args.trackers.strip() or not args.model else []
    sequence_names = [n.strip() for n in args.sequences.split(",") if n.strip()] if args.sequences else None
    sequences = load_dataset(data, split=args.split, names=sequence_names)
    if not sequences:
        raise ValueError(f"no sequences in split {args.split!r} of {data}")
    if args.max_frames is not None:
        sequences = [s.head(args.max_frames) for s in sequences]
    if args.starts != 1:
        from .segments import temporal_segments

        sequences = temporal_segments(sequences, args.starts)
    _quiet_opencv()
    specs = available_specs(names, device=args.device, precision=args.precision, weights=args.weights, config=args.config,
                            peers=args.peers or default_peers_root(), runtime=args.runtime)
    model_configs = {}
    for entry in args.model_config:
        name, separator, path = entry.partition("=")
        if not separator or not name.strip() or not path.strip():
            raise ValueError(f"--model-config takes NAME=YAML, got {entry!r}")
        model_configs[name.strip()] = path.strip()
    model_names = [entry.partition("=")[0].strip() for entry in args.model]
    unknown = sorted(set(model_configs) - set(model_names))
    if unknown:
        raise ValueError(f"--model-config names no --model: {', '.join(unknown)}")
    for entry, name in zip(args.model, model_names):
        spec = model_spec(entry, device=args.device, precision=args.precision, runtime=args.runtime,
                          config=model_configs.get(name))
        if spec.name in specs:
            raise ValueError(f"--model name {spec.name!r} is used twice")
        specs[spec.name] = spec
    if not specs:
        raise ValueError("none of the requested trackers can run here (see the messages above)")
    labels = {name: spec.label for name, spec in specs.items()}
    for spec in specs.values():
        if spec.note:
            print(f"{spec.name}: {spec.note}")
    frames = sum(len(s) for s in sequences)
    print(f"{len(sequences)} sequences ({frames} frames) from {data}, split {args.split}: {', '.join(s.name for s in sequences)}")
    print(f"trackers: {', '.join(labels.values())}")
    print(f"load average at start: {_load_average()}")
    out = report.ensure_folder(args.out)
    meta = {
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "data": data,
        "split": args.split,
        "sequences": [s.name for s in sequences],
        "max_frames": args.max_frames,
        "starts": args.starts,
        "trackers": {name: {"label": spec.label, "fingerprint": spec.fingerprint, "note": spec.note} for name, spec in specs.items()},
        "load_average_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "cpu_count": os.cpu_count(),
    }

    if args.speed:
        records = benchmark(sequences, specs, max_frames=args.speed_frames, repeats=args.repeats, progress=not args.quiet)
        rows = report.speed_rows(records)
        print(report.format_speed_table(rows, labels))
        meta.update(speed_frames=args.speed_frames, repeats=args.repeats, load_average_end=list(os.getloadavg()) if hasattr(os, "getloadavg") else None)
        csv_path = report.write_rows_csv(rows, os.path.join(out, "speed.csv"), args.force)
        json_path = report.write_json(rows, os.path.join(out, "speed.json"), meta, args.force)
        print(f"load average at end: {_load_average()}")
        print(f"speed table: {os.path.abspath(csv_path)} and {os.path.abspath(json_path)} ({time.perf_counter() - started:.0f} s)")
        return 0

    cache = None if args.no_cache else (args.cache or os.path.join(out, "cache"))
    records = evaluate(sequences, specs, cache_dir=cache, progress=not args.quiet)
    rows = report.score_records(records, sequences)
    overall = report.overall_rows(rows)
    print(report.format_table(rows + overall, labels))
    print("AUC: OTB success AUC (21 IoU thresholds, first frame included, frames without ground truth excluded); "
          "P@20: share of frames with centre error <= 20 px; fps: update() only")
    meta["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    table_csv = report.write_csv(rows + overall, os.path.join(out, "table.csv"), args.force)
    table_json = report.write_json(rows + overall, os.path.join(out, "table.json"), meta, args.force)
    title = f"OPE on {len(sequences)} sequences ({args.split})"
    success_png = report.plot_success({labels[r["tracker"]]: r["success_curve"] for r in overall}, os.path.join(out, "success.png"),
                                      "Success plot of " + title, args.force)
    precision_png = report.plot_precision({labels[r["tracker"]]: r["precision_curve"] for r in overall}, os.path.join(out, "precision.png"),
                                          "Precision plot of " + title, args.force)
    print(f"load average at end: {_load_average()}")
    print(f"outputs in {os.path.abspath(out)}: {', '.join(os.path.basename(p) for p in (table_csv, table_json, success_png, precision_png))}"
          + (f"; runs cached in {os.path.abspath(cache)}" if cache else "") + f" ({time.perf_counter() - started:.0f} s)")
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.max_frames is not None and args.max_frames < 2:
        print("error: --max-frames must be >= 2", file=sys.stderr)
        return 2
    if args.starts < 1:
        print("error: --starts must be >= 1", file=sys.stderr)
        return 2
    try:
        with sigterm_as_interrupt():
            return run(args)
    except Terminated:
        print("error: terminated (SIGTERM); files not yet complete were not written", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("error: interrupted; files not yet complete were not written", file=sys.stderr)
        return 130
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
