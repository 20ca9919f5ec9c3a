"""Runtime speed side by side, in one run on the same frames: SiamFC on torch (CPU), onnxruntime
and OpenVINO (each pair, each inference precision), and OpenCV's trackers; then N targets
per frame; then the search graph alone (OpenCV DNN too), start-up times, and the runtimes'
agreement with each other.

    python -m tools.bench_runtime                                  # random model, exported on the fly
    python -m tools.bench_runtime --weights weights/siamfc_mobilenet_v2.pt
    python -m tools.bench_runtime --onnx weights/siamfc_mobilenet_v2.onnx --weights weights/siamfc_mobilenet_v2.pt
    python -m tools.bench_runtime --parity Crossing --auc           # also tracker parity and AUC per runtime x precision

Every row tracks the same decoded frames of one train-split sequence (default
airplane-1, 640x360) from its first box; per-update times (crop + network + post, the
whole ``update``) are medians over ``--rounds`` interleaved rounds of ``--updates``
updates after a warm-up, so a busy machine slows every row alike. Compare ratios, not
absolute numbers, when the load average printed at the top is high.

Without --weights the SiamFC rows use a seeded random AlexNet whose BatchNorm statistics
come from train-split crops, exported to a temporary folder (fp32 and int8, int8
calibrated on train-split crops). --auc runs the ONNX trackers (every runtime x precision)
over the eval-split sequences with the evaluation toolkit and prints their OTB AUC; with
random weights that number says nothing about accuracy, only about the differences.

OpenVINO rows appear when it is installed (pip install -c constraints.txt -e ".[openvino]"):
"OpenVINO fp32" forces f32 inference, "bf16" rows run the float parts in bfloat16 (only on
CPUs with AVX-512 BF16 or AMX). The line "auto picks" says which runtime
``tracker.loader.load_model`` chooses here by default.
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

WARMUP = 3


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_runtime", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", help="torch weights file (default: a seeded random model)")
    parser.add_argument("--onnx", help="fp32 ONNX model X.onnx (default: export --weights or the random model to a temporary folder)")
    parser.add_argument("--onnx-int8", help="int8 ONNX model (default: X.int8.onnx beside --onnx, else quantised on the fly)")
    parser.add_argument("--data", default=None, help="annotated sequences (default: $SIAMTRACK_DATA or ../shared/data)")
    parser.add_argument("--sequence", default="airplane-1", help="train-split sequence whose frames are tracked (default: %(default)s)")
    parser.add_argument("--updates", type=int, default=20, help="timed single-target updates per row and round (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default: %(default)s)")
    parser.add_argument("--targets", type=int, nargs="+", default=[1, 4, 16], help="target counts for the multi-target table")
    parser.add_argument("--baseline-int8", metavar="X.int8.onnx",
                        help="another model's int8 pair (e.g. the shipped SiamFC) timed in the same interleaved single- and multi-target rounds, "
                             "with its own config; the multi-target table then prints each row's target-updates/s as a multiple of it")
    parser.add_argument("--multi-updates", type=int, default=4, help="timed multi-target updates per row and round (default: %(default)s)")
    parser.add_argument("--peers", nargs="*", default=["nano", "vit", "mil", "kcf", "csrt"], help="OpenCV trackers to time (default: %(default)s)")
    parser.add_argument("--no-bf16", action="store_true", help="skip the torch bf16 row (OpenVINO's bf16 rows stay)")
    parser.add_argument("--no-openvino", action="store_true", help="skip the OpenVINO rows even when it is installed")
    parser.add_argument("--network-runs", type=int, default=40, help="timed calls per runtime for the search-graph table (default: %(default)s)")
    parser.add_argument("--parity", metavar="SEQUENCE",
                        help="also run torch fp32 against each fp32 ONNX runtime (f32) over this sequence and print the largest box difference")
    parser.add_argument("--auc", action="store_true", help="also run every ONNX runtime x precision over the eval-split sequences and print OTB AUC")
    return parser.parse_args(argv)


def _load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"


def time_single(rows: List[Tuple[str, Callable[[], object]]], frames: List[np.ndarray], box, updates: int, rounds: int) -> Dict[str, List[float]]:
    """Seconds per ``update`` for every row, rounds interleaved across rows."""
    times: Dict[str, List[float]] = {label: [] for label, _ in rows}
    trackers = {label: make() for label, make in rows}
    for _ in range(rounds):
        for label, _ in rows:
            tracker = trackers[label]
            tracker.init(frames[0], box)
            for index in range(1, WARMUP + updates + 1):
                start = time.perf_counter()
                tracker.update(frames[index])
                if index > WARMUP:
                    times[label].append(time.perf_counter() - start)
    return times


def grid_boxes(box, count: int, width: int, height: int) -> List[Tuple[float, float, float, float]]:
    """``count`` boxes of ``box``'s size: the box itself, then spread over the frame on a grid."""
    x, y, w, h = box
    boxes = [tuple(box)]
    side = int(np.ceil(np.sqrt(count)))
    for index in range(1, count):
        row, col = divmod(index, side)
        cx = (col + 0.5) * width / side
        cy = (row + 0.5) * height / side
        boxes.append((min(max(cx - w / 2, 0.0), width - w), min(max(cy - h / 2, 0.0), height - h), w, h))
    return boxes


def time_multi(backends: List[Tuple[str, object, object]], frames, box, counts: Sequence[int], updates: int, rounds: int) -> Dict[Tuple[str, int], List[float]]:
    """Seconds per ``MultiTracker.update`` for every ``(label, backend, config)`` and target count, rounds interleaved."""
    from tracker.multi import MultiTracker

    height, width = frames[0].shape[:2]
    times: Dict[Tuple[str, int], List[float]] = {}
    for count in counts:
        boxes = grid_boxes(box, count, width, height)
        for _ in range(rounds):
            for label, backend, config in backends:
                multi = MultiTracker(backend, config)
                for target_box in boxes:
                    multi.add(frames[0], target_box)
                for index in range(1, 2 + updates):  # one warm-up update
                    start = time.perf_counter()
                    multi.update(frames[index])
                    if index > 1:
                        times.setdefault((label, count), []).append(time.perf_counter() - start)
    return times


def multi_ratio(times: Dict[Tuple[str, int], List[float]], label: str, baseline: str, count: int) -> float:
    """``label``'s target-updates/s as a multiple of ``baseline``'s at ``count`` targets (ratio of median times)."""
    return float(np.median(times[(baseline, count)]) / np.median(times[(label, count)]))


def time_network(calls: List[Tuple[str, Callable[[], object]]], runs: int, block: int = 10) -> Dict[str, List[float]]:
    """Seconds per call of each callable (the search graph alone), in blocks of ``block`` calls per
    runtime, blocks interleaved. Each block starts with an untimed call: onnxruntime's threads
    spin for a while after a call and would slow down whichever runtime came right after it."""
    times: Dict[str, List[float]] = {label: [] for label, _ in calls}
    while min(len(values) for values in times.values()) < runs:
        for label, call in calls:
            call()
            for _ in range(min(block, runs - len(times[label]))):
                start = time.perf_counter()
                call()
                times[label].append(time.perf_counter() - start)
    return times


class OpenCVDnnPair:
    """The exported pair in OpenCV's DNN module (``cv2.dnn.readNetFromONNX``): ``embed``/``score`` only,
    to show the files load there and agree; not a backend of the library."""

    def __init__(self, path: str) -> None:
        import cv2

        from tracker.onnx_format import SEARCH_CROPS_INPUT, SEARCH_FEATURES_INPUT, TEMPLATE_INPUT, model_files

        template_path, search_path = model_files(path)
        self._template, self._search = cv2.dnn.readNetFromONNX(template_path), cv2.dnn.readNetFromONNX(search_path)
        self._names = TEMPLATE_INPUT, SEARCH_FEATURES_INPUT, SEARCH_CROPS_INPUT

    def embed(self, template_crop: np.ndarray) -> np.ndarray:
        self._template.setInput(np.ascontiguousarray(template_crop[None].transpose(0, 3, 1, 2), dtype=np.float32), self._names[0])
        return self._template.forward()

    def score(self, features: np.ndarray, crops: np.ndarray) -> Dict[str, np.ndarray]:
        self._search.setInput(features, self._names[1])
        self._search.setInput(np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32), self._names[2])
        return {"response": self._search.forward()}


def largest_difference(reference, candidate, pairs) -> Tuple[float, float]:
    """Largest |response difference| between two backends over ``(template, crops)`` pairs, and the largest reference peak."""
    worst, peak = 0.0, 0.0
    for template, crops in pairs:
        wanted = reference.score(reference.embed(template), crops)
        had = candidate.score(candidate.embed(template), crops)
        for name in wanted.keys() & had.keys():  # every output both return, by name
            want, have = wanted[name], had[name]
            worst, peak = max(worst, float(np.abs(want - have).max())), max(peak, float(np.abs(want).max()))
    return worst, peak


def parity(torch_backend, onnx_backend, config, data_dir: str, name: str) -> Tuple[float, float, int]:
    """Largest and mean per-frame box difference (px, any coordinate) between the two trackers, frames."""
    from tracker.datasets import load_sequence
    from tracker.siamese_tracker import tracker_class

    sequence = load_sequence(os.path.join(data_dir, name))
    trackers = [tracker_class(config)(torch_backend, config), tracker_class(config)(onnx_backend, config)]
    frames = sequence.read_frames()
    for tracker in trackers:
        tracker.init(frames[0], sequence.init_box)
    deviations = []
    for frame in frames[1:]:
        a, b = (np.array(tracker.update(frame).box) for tracker in trackers)
        deviations.append(float(np.abs(a - b).max()))
    return max(deviations), float(np.mean(deviations)), len(deviations)


def eval_auc(backends: List[Tuple[str, object]], config, data_dir: str) -> List[Tuple[str, Dict[str, float]]]:
    from tracker.datasets import load_dataset
    from tracker.eval.metrics import otb_metrics
    from tracker.eval.runner import run_sequence
    from tracker.siamese_tracker import tracker_class

    results = []
    sequences = load_dataset(data_dir, split="eval")
    for sequence in sequences:
        frames = sequence.read_frames()
        row = {}
        for label, backend in backends:
            boxes, _ = run_sequence(tracker_class(config)(backend, config), frames, sequence.init_box)
            row[label] = otb_metrics(boxes, sequence.boxes)["auc"]
        results.append((sequence.name, row))
    return results


def main(argv=None) -> None:
    args = parse_args(argv)
    import importlib.util

    import onnxruntime
    import torch

    from tracker.backends.onnx_backend import default_threads
    from tracker.backends.torch_backend import TorchBackend
    from tracker.export.calibration import calibration_crops, train_sequences
    from tracker.config import config_path, load_config
    from tracker.datasets import default_data_root, load_sequence, read_image
    from tracker.eval.trackers import TrackerUnavailable, make_tracker_spec
    from tracker.loader import choose_runtime, load_model, load_network
    from tracker.onnx_format import model_files
    try:
        from tracker.export.exporter import export_onnx, random_model
        from tracker.export.quantize import agreement, quantize_pair
    except ModuleNotFoundError as error:
        raise SystemExit(f"error: the benchmark exports and compares ONNX models and needs {error.name}: "
                         "pip install -c constraints.txt -e \".[export]\"") from None
    from tracker.siamese_tracker import tracker_class

    openvino = None
    if not args.no_openvino and importlib.util.find_spec("openvino") is not None:
        import openvino

        from tracker.backends.openvino_backend import cpu_has_bf16

    data_dir = args.data or default_data_root()
    train_sequences(data_dir, [args.sequence])  # refuses eval-split sequences
    if args.weights:
        model, config = load_network(args.weights)
        pairs = calibration_crops(data_dir, config.model, config.tracking, search_frames_per_sequence=2)
    else:
        config = load_config(config_path("siamfc_alexnet"))
        pairs = calibration_crops(data_dir, config.model, config.tracking, search_frames_per_sequence=2)
        model = random_model(config, 0, [t for t, _ in pairs] + [c for _, c in pairs])
    torch_fp32 = TorchBackend(model, device="cpu")
    source = args.weights or "random AlexNet (seed 0, BatchNorm statistics from train-split crops)"

    scratch = tempfile.TemporaryDirectory(prefix="siamtrack-bench-")
    fp32_path = args.onnx
    if fp32_path is None:
        fp32_path = os.path.join(scratch.name, "model.onnx")
        export_onnx(model, config, fp32_path[: -len(".onnx")], source=source)
    int8_path = args.onnx_int8
    if int8_path is None:
        beside = fp32_path[: -len(".onnx")] + ".int8.onnx"
        if all(os.path.isfile(p) for p in model_files(beside)):
            int8_path = beside
        else:
            int8_path = os.path.join(scratch.name, "model.int8.onnx")
            quantize_pair(fp32_path, int8_path, pairs[0::2], check_pairs=pairs[1::2])

    sequence = load_sequence(os.path.join(data_dir, args.sequence))
    needed = max(WARMUP + args.updates, 1 + args.multi_updates) + 1
    frames = [read_image(p) for p in sequence.frame_paths[:needed]]
    if len(frames) < needed:
        raise SystemExit(f"error: {args.sequence} has {len(frames)} frames; need {needed} (lower --updates)")
    box = sequence.init_box
    height, width = frames[0].shape[:2]

    # Start-up: load_model for each runtime (OpenVINO with an empty compiled-model cache, then with it filled).
    startup: List[Tuple[str, float]] = []
    onnx_backends: List[Tuple[str, object]] = []  # (label, backend): every ONNX runtime x pair x precision
    for pair_label, path in (("fp32", fp32_path), ("int8", int8_path)):
        start = time.perf_counter()
        onnx_backends.append((f"ORT {pair_label}", load_model(path, runtime="onnxruntime", providers=["CPUExecutionProvider"])[0]))
        startup.append((f"ORT {pair_label}", time.perf_counter() - start))
    ov_precisions: List[str] = []
    if openvino is not None:
        ov_precisions = ["fp32"] + (["bf16"] if cpu_has_bf16() else [])
        cache = tempfile.TemporaryDirectory(prefix="siamtrack-ov-cache-")
        previous = os.environ.get("SIAMTRACK_OPENVINO_CACHE")
        os.environ["SIAMTRACK_OPENVINO_CACHE"] = cache.name
        try:
            for pair_label, path in (("fp32", fp32_path), ("int8", int8_path)):
                for precision in ov_precisions:
                    label = f"OpenVINO {pair_label}" + (", bf16" if precision == "bf16" else "")
                    for state in ("empty cache", "cache filled"):
                        start = time.perf_counter()
                        backend, _ = load_model(path, runtime="openvino", precision=precision)
                        startup.append((f"{label} ({state})", time.perf_counter() - start))
                    onnx_backends.append((label, backend))
        finally:
            if previous is None:
                os.environ.pop("SIAMTRACK_OPENVINO_CACHE", None)
            else:
                os.environ["SIAMTRACK_OPENVINO_CACHE"] = previous
    backend_of = dict(onnx_backends)
    # The onnxruntime row of the same pair, which each OpenVINO row is compared with.
    same_pair = {label: "ORT int8" if " int8" in label else "ORT fp32" for label, _ in onnx_backends}

    # The tracking loop of the model's head (SiamFC's pyramid, or the box head's single crop).
    loop = tracker_class(config)
    ours = "box head" if config.model.head == "box" else "SiamFC"
    rows: List[Tuple[str, Callable[[], object]]] = [
        (f"{ours} torch fp32", lambda: loop(torch_fp32, config)),
    ]
    if not args.no_bf16:
        torch_bf16 = TorchBackend(model, device="cpu", precision="bf16")
        rows.append((f"{ours} torch bf16", lambda: loop(torch_bf16, config)))
    rows += [(f"{ours} {label}", (lambda backend=backend: loop(backend, config))) for label, backend in onnx_backends]
    missing = []
    for name in args.peers:
        try:
            spec = make_tracker_spec(name)
        except TrackerUnavailable as error:
            missing.append(str(error).split(";")[0])
            continue
        rows.append((spec.label, spec.create))
    baseline = None  # (label, backend, config) of --baseline-int8
    if args.baseline_int8:
        baseline_backend, baseline_config = load_model(args.baseline_int8, runtime="onnxruntime", providers=["CPUExecutionProvider"])
        baseline_loop = tracker_class(baseline_config)
        baseline_label = f"baseline {os.path.basename(args.baseline_int8)} ORT int8"
        baseline = (baseline_label, baseline_backend, baseline_config)
        rows.append((baseline_label, lambda: baseline_loop(baseline_backend, baseline_config)))

    scales = config.tracking.scale_count
    automatic, why = choose_runtime()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; load average before: {_load_average()}")
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), onnxruntime {onnxruntime.__version__} "
          f"({default_threads()} intra-op threads), OpenVINO {openvino.__version__.split('-')[0] if openvino else 'not timed'}, "
          f"OpenCV {__import__('cv2').__version__}")
    print(f"model: {source}; {scales} scales; frames: {args.sequence} {width}x{height}; "
          f"{args.rounds} rounds x {args.updates} updates per row, interleaved")
    print(f"auto picks: {automatic} ({why})")
    print()
    single = time_single(rows, frames, box, args.updates, args.rounds)
    reference = float(np.median(single[rows[0][0]]))
    print("| tracker | median ms per update | p90 ms | fps | speed vs torch fp32 |")
    print("|---|---|---|---|---|")
    for label, _ in rows:
        values = np.array(single[label]) * 1000.0
        median = float(np.median(values))
        print(f"| {label} | {median:.1f} | {np.percentile(values, 90):.1f} | {1000.0 / median:.1f} | {reference * 1000.0 / median:.2f}x |")
    for line in missing:
        print(f"(not timed: {line})")

    print()
    backends = [(label, backend, config) for label, backend in [("torch fp32", torch_fp32)] + onnx_backends]
    backends += [baseline] if baseline else []
    multi = time_multi(backends, frames, box, args.targets, args.multi_updates, args.rounds)
    print(f"multi-target: one batched network call per frame ({scales} crops per target), median over "
          f"{args.rounds} rounds x {args.multi_updates} updates")
    print("| targets | backend | ms per frame | frames/s | target-updates/s |" + (" x baseline |" if baseline else ""))
    print("|---|---|---|---|---|" + ("---|" if baseline else ""))
    for count in args.targets:
        for label, _, _ in backends:
            median = float(np.median(multi[(label, count)])) * 1000.0
            ratio = f" {multi_ratio(multi, label, baseline[0], count):.2f}x |" if baseline else ""
            print(f"| {count} | {label} | {median:.1f} | {1000.0 / median:.1f} | {count * 1000.0 / median:.1f} |{ratio}")

    held_out = pairs[1::2]
    template, crops = held_out[0]
    crops = crops[:scales]
    dnn = OpenCVDnnPair(fp32_path)
    network_rows = [(label, backend) for label, backend in onnx_backends] + [("OpenCV DNN fp32", dnn)]
    calls = []
    for label, backend in network_rows:
        features = backend.embed(template)
        calls.append((label, (lambda backend=backend, features=features: backend.score(features, crops))))
    network = time_network(calls, args.network_runs)
    print()
    print(f"the search graph alone ({len(crops)} crops of {crops.shape[1]}, one target), median of {args.network_runs} calls in interleaved blocks:")
    print("| runtime | ms per call |")
    print("|---|---|")
    for label, _ in calls:
        print(f"| {label} | {np.median(network[label]) * 1000.0:.2f} |")
    print()
    print("start-up, load_model until the first update can run:")
    print("| runtime | ms |")
    print("|---|---|")
    for label, seconds in startup:
        print(f"| {label} | {seconds * 1000.0:.0f} |")

    print()
    print(agreement(backend_of["ORT fp32"], backend_of["ORT int8"], held_out).line() + " (held-out train-split crops)")
    # OpenCV DNN's wrapper returns one map, named as SiamFC's response: nothing to compare for other heads.
    comparisons = [("OpenCV DNN fp32", "ORT fp32", dnn)] if config.model.head == "correlation" else []
    comparisons += [(label, same_pair[label], backend)
                                                           for label, backend in onnx_backends if label.startswith("OpenVINO")]
    for label, against, backend in comparisons:
        worst, peak = largest_difference(backend_of[against], backend, held_out)
        result = agreement(backend_of[against], backend, held_out)
        print(f"{label} vs {against}: largest response difference {worst:.2g} (largest peak {peak:.2f}); "
              f"correlation mean {result.mean_correlation:.5f}, same peak cell in {100 * result.same_peak_share:.1f}%")
    if args.parity:
        for label in [label for label in ("ORT fp32", "OpenVINO fp32") if label in backend_of]:
            worst, mean, count = parity(torch_fp32, backend_of[label], config, data_dir, args.parity)
            print(f"parity torch fp32 vs {label} trackers on {args.parity} ({count} updates): "
                  f"largest box difference {worst:.4f} px, mean {mean:.5f} px")
    if args.auc:
        print()
        results = eval_auc(onnx_backends, config, data_dir)
        names = [name for name, _ in results]
        print(f"| eval AUC | {' | '.join(names)} | mean | mean - ORT, same pair |")
        print("|---" * (len(names) + 3) + "|")
        means = {label: float(np.mean([row[label] for _, row in results])) for label, _ in onnx_backends}
        for label, _ in onnx_backends:
            print(f"| {label} | {' | '.join(f'{row[label]:.3f}' for _, row in results)} | {means[label]:.3f} | "
                  f"{means[label] - means[same_pair[label]]:+.3f} |")
    print(f"\nload average after: {_load_average()}")
    scratch.cleanup()


if __name__ == "__main__":
    main()
