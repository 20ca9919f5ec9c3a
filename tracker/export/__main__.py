"""Export a weights file to ONNX (fp32 and int8), check both against torch, write them beside it.

    python -m tracker.export --weights weights/siamfc_mobilenet_v2.pt

writes, next to the weights (or under --out):

    weights/siamfc_mobilenet_v2.template.onnx        fp32 template graph
    weights/siamfc_mobilenet_v2.search.onnx          fp32 search graph (N targets x S scales per run)
    weights/siamfc_mobilenet_v2.int8.template.onnx   int8 (static QDQ) template graph
    weights/siamfc_mobilenet_v2.int8.search.onnx     int8 search graph; the correlation stays fp32

The config comes from the weights file; ``--config YAML`` replaces its tracking section
(tracking settings chosen after training; the YAML's model section must match). Every
export runs onnx.checker and compares onnxruntime with torch on random and real crops;
int8 is calibrated on crops of the train-split sequences in --data (default
$SIAMTRACK_DATA or ../shared/data) and compared with fp32 on other crops of them. Any
failed check is an error and writes nothing. Existing files are replaced only with --force.

    python -m tracker.export --random-weights --out /tmp/random_alexnet

exports a seeded random model instead (BatchNorm statistics taken from real crops so its
activations are sane), for tests and benchmarks; never ship that.
"""
from __future__ import annotations

import argparse
import os
import sys
import time


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tracker.export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--weights", help="weights file written by tracker.weights.save_weights (carries its config)")
    source.add_argument("--random-weights", action="store_true", help="export a seeded random model (needs --out)")
    parser.add_argument("--config", default=None,
                        help="tracker YAML: the model for --random-weights (default: tracker/configs/siamfc_mobilenet_v2.yaml); "
                             "with --weights, its tracking section replaces the weights file's (its model section must match)")
    parser.add_argument("--seed", type=int, default=0, help="seed for --random-weights (default: %(default)s)")
    parser.add_argument("--out", help="output name X: writes X.template.onnx, X.search.onnx, X.int8.*.onnx (default: the weights path without .pt)")
    parser.add_argument("--data", default=None, help="annotated sequences folder (default: $SIAMTRACK_DATA or ../shared/data)")
    parser.add_argument("--sequences", nargs="+", default=None, help="train-split sequences to cut real crops from (default: all train ones)")
    parser.add_argument("--frames-per-sequence", type=int, default=4, help="search frames per sequence (default: %(default)s)")
    # The names and default of tracker.export.quantize.CALIBRATION_METHODS (not imported here: it needs onnxruntime).
    parser.add_argument("--calibration", default="minmax-average", choices=["minmax-average", "minmax", "percentile", "entropy"],
                        help="int8 calibration method: minmax-average is the mean of each calibration pair's min and max "
                             "(docs/int8.md has how they compared) (default: %(default)s)")
    parser.add_argument("--no-int8", action="store_true", help="export fp32 only")
    parser.add_argument("--force", action="store_true", help="overwrite existing output files")
    args = parser.parse_args(argv)
    if args.random_weights and not args.out:
        parser.error("--random-weights needs --out (random models do not belong in weights/)")
    if args.frames_per_sequence < 1:
        parser.error("--frames-per-sequence must be >= 1")
    return args


def run(args: argparse.Namespace) -> None:
    from ..datasets import default_data_root
    from .calibration import calibration_crops, train_sequences
    from ..config import config_path, load_config
    from ..loader import config_for_file, load_network
    from ..digests import file_sha256
    from ..onnx_format import model_files
    from .exporter import export_onnx, random_model
    from .quantize import quantize_pair

    started = time.perf_counter()
    stem = args.out or os.path.splitext(args.weights)[0]
    outputs = list(model_files(stem + ".onnx")) + ([] if args.no_int8 else list(model_files(stem + ".int8.onnx")))
    existing = [path for path in outputs if os.path.exists(path)]
    if existing and not args.force:
        raise FileExistsError(f"{', '.join(existing)} already exist(s); pass --force to overwrite")

    data_dir = args.data or default_data_root()
    sequences = train_sequences(data_dir, args.sequences)
    if args.weights:
        model, config = load_network(args.weights)
        if args.config:  # tracking settings chosen after the weights were written
            config = config_for_file(args.weights, config, args.config)
        source = f"{os.path.basename(args.weights)} sha256 {file_sha256(args.weights)}"
    else:
        config = load_config(args.config or config_path("siamfc_mobilenet_v2"))
        source = f"random weights (seed {args.seed}, BatchNorm statistics from train-split crops)"

    print(f"cutting real crops from {len(sequences)} train-split sequence(s) in {data_dir} ...", flush=True)
    pairs = calibration_crops(data_dir, config.model, config.tracking, sequences, args.frames_per_sequence)
    if args.random_weights:
        model = random_model(config, args.seed, [t for t, _ in pairs] + [c for _, c in pairs])
    # Calibrate int8 on half the crops and judge it on the other half.
    calibration, held_out = pairs[0::2], pairs[1::2] or pairs
    print(f"{len(pairs)} template/search pairs; exporting fp32 and comparing onnxruntime with torch ...", flush=True)
    (template_path, search_path), report = export_onnx(model, config, stem, real_samples=held_out, source=source, overwrite=args.force)
    for line in report.lines():
        print("  " + line)
    print(f"wrote {template_path}\n      {search_path}", flush=True)
    if not args.no_int8:
        print(f"quantising to int8 ({args.calibration} calibration on {len(calibration)} pairs, checked on {len(held_out)}) ...", flush=True)
        description = f"{len(sequences)} train-split sequences ({', '.join(sequences)}), {args.frames_per_sequence} search frames each"
        (int8_template, int8_search), agreement = quantize_pair(
            stem + ".onnx", stem + ".int8.onnx", calibration, check_pairs=held_out,
            method=args.calibration, description=description, overwrite=args.force,
        )
        print("  " + agreement.line())
        print(f"wrote {int8_template}\n      {int8_search}")
    print(f"done in {time.perf_counter() - started:.0f} s")


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except ModuleNotFoundError as error:
        if error.name not in ("onnx", "torch", "onnxruntime"):
            raise
        print(f"error: python -m tracker.export needs the {error.name} package; install it with: pip install -c constraints.txt -e '.[export]'", file=sys.stderr)
        return 1
    except (ValueError, TypeError, FileExistsError, FileNotFoundError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
