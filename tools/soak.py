"""Soak: many updates on synthetic frames, watching memory and latency for leaks and drift.

    python -m tools.soak --backend onnx --updates 10000
    python -m tools.soak --backend torch --updates 10000 --small --threads 1
    python -m tools.soak --backend fake --updates 10000

The frames are a synthetic clip (``tools/synthetic.py``) played forwards then backwards,
so the target keeps moving smoothly however many updates are asked for. ``--backend
fake`` has no network (the tracking loop alone); ``torch`` and ``onnx`` run a
random-weights AlexNet, or ``--model`` (a ``.pt`` file, or an exported ``.onnx`` pair).
``--small`` shrinks the crops (exemplar 87, search 119) so a CPU soak takes minutes.

Prints a table: resident memory (RSS) after the warm-up updates and at the end, its
growth, and the median update latency (wall clock, and CPU time to tell a drift from
other processes' load) of the first and last ``--window`` updates. Exits
with status 1 when the growth is over ``--max-rss-growth-mb``, the last window's median
is over ``--max-latency-ratio`` times the first's, or any box was not finite or left the
frame. ``--latency-clock cpu`` judges the drift on CPU time instead of the wall clock: on a
machine shared with other work (a test suite beside a training run) a short window's
wall-clock median doubles whenever the scheduler gives the core away, while the work per
update, which is what a leak or a growing buffer inflates, shows in CPU time alone. Waits
(a lock, a sleep) show only on the wall clock, which stays the default.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from tracker.boxes import clip_to_frame
from tracker.config import ModelConfig, TrackerConfig
from tracker.loader import load_model
from tools.synthetic import moving_texture_clip

BACKENDS = ("fake", "torch", "onnx")
LATENCY_CLOCKS = ("wall", "cpu")
# AlexNet crops that keep the SiamFC geometry (stride 8) at about a fifth of the work.
SMALL_MODEL = ModelConfig(exemplar_size=87, search_size=119, response_size=5)
CLIP_FRAMES = 150


def rss_mb() -> float:
    """This process's resident memory now, in MiB (Linux ``/proc``; elsewhere the peak so far)."""
    try:
        with open("/proc/self/statm", "r", encoding="ascii") as handle:
            resident_pages = int(handle.read().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


@dataclass(frozen=True)
class SoakResult:
    backend: str
    updates: int
    window: int
    warmup: int
    seconds: float
    rss_start_mb: float  # after the warm-up updates
    rss_end_mb: float
    latency_first_ms: float  # median of the first `window` updates
    latency_last_ms: float  # median of the last `window` updates
    # The same medians in CPU time (all threads): flat when a wall-clock drift came from
    # other processes on the machine, growing when the work per update grew.
    cpu_first_ms: float
    cpu_last_ms: float
    bad_boxes: int  # updates whose box was not finite or did not overlap the frame
    lost_updates: int

    @property
    def rss_growth_mb(self) -> float:
        return self.rss_end_mb - self.rss_start_mb

    @property
    def latency_ratio(self) -> float:
        return self.latency_last_ms / self.latency_first_ms if self.latency_first_ms > 0 else math.inf

    @property
    def cpu_ratio(self) -> float:
        return self.cpu_last_ms / self.cpu_first_ms if self.cpu_first_ms > 0 else math.inf

    def drift_ratio(self, clock: str = "wall") -> float:
        """Last window's median over the first's, on the wall clock or in CPU time."""
        if clock not in LATENCY_CLOCKS:
            raise ValueError(f"clock must be one of {', '.join(LATENCY_CLOCKS)}; got {clock!r}")
        return self.latency_ratio if clock == "wall" else self.cpu_ratio


def soak_config(small: bool = False, scales: Optional[int] = None, base: Optional[TrackerConfig] = None) -> TrackerConfig:
    """The config to soak: ``base`` (default SiamFC-3s), with the small crops and/or ``scales`` scales."""
    config = base or TrackerConfig()
    if small:
        config = dataclasses.replace(config, model=SMALL_MODEL)
    if scales is not None:
        config = dataclasses.replace(config, tracking=dataclasses.replace(config.tracking, scale_count=scales))
    return config


def centred_bump(size: int):
    """A fake network's answer: a Gaussian peak in the middle of every map."""
    rows, cols = np.mgrid[0:size, 0:size]
    bump = np.exp(-((rows - size // 2) ** 2 + (cols - size // 2) ** 2) / 2.0).astype(np.float32)
    return lambda crops: np.repeat(bump[None], len(crops), axis=0)


def build_backend(
    kind: str,
    config: TrackerConfig,
    model: Optional[str] = None,
    threads: Optional[int] = None,
    folder: Optional[str] = None,
):
    """``(backend, config)`` for a soak: ``model`` (any file ``tracker.loader`` reads) with
    the config it carries, or else a random-weights network of ``kind`` built for ``config``.

    ``folder`` receives the exported random ONNX pair (``onnx`` without ``model``).
    """
    if kind not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {kind!r}")
    if kind == "fake":
        from tracker.backends.fake import FakeBackend

        return FakeBackend(centred_bump(config.model.response_size), record=False), config
    if kind == "torch":
        import torch

        if threads:
            torch.set_num_threads(threads)
        if not model:
            from tracker.backends.torch_backend import TorchBackend
            from tracker.export.exporter import random_model

            return TorchBackend(random_model(config, seed=0), device="cpu"), config
        return load_model(model, device="cpu")
    if not model:
        from tracker.export.exporter import export_onnx, random_model

        stem = os.path.join(folder or tempfile.mkdtemp(prefix="soak-"), "random")
        export_onnx(random_model(config, seed=0), config, stem)
        model = stem + ".onnx"
    return load_model(model, providers=["CPUExecutionProvider"], threads=threads)


def ping_pong(count: int) -> List[int]:
    """Frame indices ``0, 1, .., n-1, n-2, .., 1`` : a clip played forwards then backwards, as one loop."""
    return list(range(count)) + list(range(count - 2, 0, -1))


def run_soak(
    backend,
    config: TrackerConfig,
    updates: int,
    window: int = 1000,
    warmup: int = 100,
    width: int = 320,
    height: int = 240,
    label: str = "",
    progress: bool = True,
) -> SoakResult:
    """Track the looping synthetic clip for ``updates`` updates; memory and latency figures."""
    from tqdm import tqdm

    from tracker.siamese_tracker import tracker_class

    if updates < 1 or window < 1 or warmup < 0:
        raise ValueError(f"need updates >= 1, window >= 1, warmup >= 0; got {updates}, {window}, {warmup}")
    window = min(window, updates)
    warmup = min(warmup, updates)
    frames, boxes = moving_texture_clip(CLIP_FRAMES, width, height, target_size=(48, 48), step=3.0, seed=0)
    loop = ping_pong(len(frames))
    tracker = tracker_class(config)(backend, config)  # the model's own loop: SiamFC's or the box head's
    tracker.init(frames[0], boxes[0])
    latencies = np.empty(updates)
    cpu_times = np.empty(updates)
    bad_boxes = lost = 0
    rss_start = rss_mb()
    started = time.perf_counter()
    for index in tqdm(range(updates), desc=f"soak {label}".strip(), unit="update", disable=not progress,
                      mininterval=1.0, dynamic_ncols=True):
        frame = frames[loop[(index + 1) % len(loop)]]
        tick, cpu_tick = time.perf_counter(), time.process_time()
        result = tracker.update(frame)
        latencies[index] = time.perf_counter() - tick
        cpu_times[index] = time.process_time() - cpu_tick
        _, _, visible_w, visible_h = clip_to_frame(result.box, width, height)
        if not all(math.isfinite(v) for v in result.box) or not (visible_w > 0 and visible_h > 0):
            bad_boxes += 1
        lost += bool(result.lost)
        if index + 1 == warmup:
            rss_start = rss_mb()
    return SoakResult(
        backend=label,
        updates=updates,
        window=window,
        warmup=warmup,
        seconds=time.perf_counter() - started,
        rss_start_mb=rss_start,
        rss_end_mb=rss_mb(),
        latency_first_ms=1000.0 * float(np.median(latencies[:window])),
        latency_last_ms=1000.0 * float(np.median(latencies[-window:])),
        cpu_first_ms=1000.0 * float(np.median(cpu_times[:window])),
        cpu_last_ms=1000.0 * float(np.median(cpu_times[-window:])),
        bad_boxes=bad_boxes,
        lost_updates=lost,
    )


def failures(result: SoakResult, max_rss_growth_mb: float, max_latency_ratio: float, clock: str = "wall") -> List[str]:
    """What the soak found wrong, in words (empty when it passed); ``clock`` is the one the drift is judged on."""
    found = []
    if result.rss_growth_mb > max_rss_growth_mb:
        found.append(f"RSS grew {result.rss_growth_mb:.1f} MB (limit {max_rss_growth_mb:g})")
    ratio = result.drift_ratio(clock)
    if ratio > max_latency_ratio:
        what = "latency" if clock == "wall" else "CPU time per update"
        found.append(f"{what} drifted {ratio:.2f}x (limit {max_latency_ratio:g}x)")
    if result.bad_boxes:
        found.append(f"{result.bad_boxes} boxes were not finite or left the frame")
    return found


def table(result: SoakResult, max_rss_growth_mb: float, max_latency_ratio: float, clock: str = "wall") -> str:
    wall_limit, cpu_limit = (f", limit {max_latency_ratio:g}", "") if clock == "wall" else ("", f", limit {max_latency_ratio:g}")
    rows: Sequence[Tuple[str, str]] = [
        (f"RSS start (after {result.warmup} warm-up updates)", f"{result.rss_start_mb:9.1f} MB"),
        ("RSS end", f"{result.rss_end_mb:9.1f} MB"),
        ("RSS growth", f"{result.rss_growth_mb:9.1f} MB   (limit {max_rss_growth_mb:g})"),
        (f"median latency, first {result.window}", f"{result.latency_first_ms:9.2f} ms"),
        (f"median latency, last {result.window}",
         f"{result.latency_last_ms:9.2f} ms   (ratio {result.latency_ratio:.2f}{wall_limit})"),
        (f"median CPU time, first / last {result.window}",
         f"{result.cpu_first_ms:9.2f} / {result.cpu_last_ms:.2f} ms   (ratio {result.cpu_ratio:.2f}{cpu_limit})"),
        ("boxes not finite or off the frame", f"{result.bad_boxes:9d}"),
        ("updates reported lost", f"{result.lost_updates:9d}"),
    ]
    width = max(len(name) for name, _ in rows)
    head = f"soak: {result.backend}, {result.updates} updates in {result.seconds:.1f} s"
    return "\n".join([head] + [f"  {name:<{width}}  {value}" for name, value in rows])


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=BACKENDS, required=True, help="the network: none (fake), torch or onnxruntime")
    parser.add_argument("--updates", type=int, default=10000, help="number of updates (default: %(default)s)")
    parser.add_argument("--window", type=int, default=1000, help="updates in each latency median (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=100, help="updates before the starting RSS is taken (default: %(default)s)")
    parser.add_argument("--model", help="a .pt weights file (torch) or an exported .onnx pair (onnx); default: random AlexNet")
    parser.add_argument("--small", action="store_true", help="random AlexNet with small crops (exemplar 87, search 119)")
    parser.add_argument("--scales", type=int, choices=[1, 3, 5], default=None, help="scale count (default: the config's)")
    parser.add_argument("--threads", type=int, default=None, help="torch/onnxruntime threads (default: all available)")
    parser.add_argument("--size", default="320x240", help="frame size WxH (default: %(default)s)")
    parser.add_argument("--max-rss-growth-mb", type=float, default=20.0, help="fail above this growth (default: %(default)s)")
    parser.add_argument("--max-latency-ratio", type=float, default=1.5,
                        help="fail when the last window's median latency is over this times the first's (default: %(default)s)")
    parser.add_argument("--latency-clock", choices=LATENCY_CLOCKS, default="wall",
                        help="judge the drift on the wall clock or on CPU time, for a machine shared with other work "
                             "(default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.updates < 1 or args.window < 1 or args.warmup < 0:
        parser.error("--updates and --window must be >= 1, --warmup >= 0")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be >= 1")
    try:
        args.width, args.height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size must be WxH, e.g. 320x240; got {args.size!r}")
    if args.width < 16 or args.height < 16:
        parser.error("--size must be at least 16x16")
    if args.model and args.backend == "fake":
        parser.error("--model needs --backend torch or onnx")
    if args.model and args.small:
        parser.error("--small applies to the random network; a --model file carries its own crop sizes")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    config = soak_config(args.small, args.scales)
    try:
        with tempfile.TemporaryDirectory(prefix="soak-") as folder:
            backend, config = build_backend(args.backend, config, args.model, args.threads, folder)
            if args.scales is not None:
                config = soak_config(False, args.scales, config)
            network = "no network" if args.backend == "fake" else os.path.basename(args.model or "") or "random AlexNet"
            label = (f"{args.backend} ({network}, "
                     f"search {config.model.search_size}, {config.tracking.scale_count} scale(s), "
                     f"{args.width}x{args.height} frames)")
            result = run_soak(backend, config, args.updates, args.window, args.warmup, args.width, args.height,
                              label, progress=not args.quiet)
    except (ValueError, OSError) as error:
        print(f"error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1
    print(table(result, args.max_rss_growth_mb, args.max_latency_ratio, args.latency_clock))
    found = failures(result, args.max_rss_growth_mb, args.max_latency_ratio, args.latency_clock)
    print("result: " + ("FAIL: " + "; ".join(found) if found else "pass"))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
