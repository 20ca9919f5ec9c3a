"""Throughput of ``tracker.cluster`` on this machine, against one ``tracker.run`` process per stream.

    python -m tools.bench_cluster                                   # 1, 2, 4 streams; 1 and 2 actors; 200 frames
    python -m tools.bench_cluster --frames 5 --streams 1 2 --out bench.md   # a quick check

Every stream is a synthetic 640x480 clip (``tools/synthetic.py``, MJPG AVI written to a
temporary folder) with ``--targets`` targets (the moving square, then fixed patches of the
background), tracked by the shipped default model (``tracker.run``'s default) unless
``--model`` says otherwise. For each stream count:

* ``tracker.run x N``: N ``python -m tracker.run`` processes at once, one per stream, each
  with ``--threads`` = CPUs / N (at least 1). Target updates/s is the sum over processes of
  targets x their tracking fps (each process's own ``update`` time: frame reading and
  start-up excluded); ms per frame is their mean "ms per update".
* ``cluster, A actors``: ``tracker.cluster.run_streams`` on one local Ray instance of
  ``--cpus`` CPUs, A actors of CPUs / A CPUs (and network threads) each, no output files.
  Target updates/s is all target updates over the wall time from the first actor's first
  answer to the last rows (frame reading, the driver and Ray included; model loading
  excluded); ms per frame is the mean tick: the time an actor takes to read one frame of
  each of its streams and update all their targets (one network call).

Run it on a quiet machine: other load shifts every row (the load average is printed). The
table goes to stdout and, with ``--out``, to a Markdown file.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRACKING_LINE = re.compile(r"([\d.]+) fps tracking \(([\d.]+) ms per update\)")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_cluster", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4], help="stream counts (default: %(default)s)")
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2], help="actor counts (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=200, help="frames per stream (default: %(default)s)")
    parser.add_argument("--targets", type=int, default=2, help="targets per stream (default: %(default)s)")
    parser.add_argument("--size", default="640x480", help="frame size WxH (default: %(default)s)")
    parser.add_argument("--cpus", type=int, default=None, help="CPUs for Ray and the processes (default: all this process may use)")
    parser.add_argument("--model", help="model file (default: the shipped default, as tracker.run)")
    parser.add_argument("--runtime", choices=["auto", "onnxruntime", "openvino"], default=None, help="ONNX runtime (default: auto)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the tracker.run rows")
    parser.add_argument("--out", help="also write the table to this Markdown file")
    args = parser.parse_args(argv)
    if args.frames < 2 or args.targets < 1 or min(args.streams) < 1 or min(args.actors) < 1:
        parser.error("--frames must be >= 2, --targets, --streams and --actors >= 1")
    try:
        args.width, args.height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size must be WxH, e.g. 640x480, got {args.size!r}")
    if args.out and os.path.exists(args.out):
        parser.error(f"--out {args.out} exists; choose another name")
    args.cpus = args.cpus or len(os.sched_getaffinity(0))
    return args


def make_clips(folder: str, count: int, frames: int, width: int, height: int, targets: int) -> List[Tuple[str, List[tuple]]]:
    """``count`` synthetic clips as MJPG AVI files: ``[(path, boxes on frame 0)]``."""
    import cv2

    from tools.synthetic import moving_texture_clip

    clips = []
    for index in range(count):
        images, truth = moving_texture_clip(frame_count=frames, width=width, height=height, target_size=(64, 64), seed=index)
        path = os.path.join(folder, f"stream{index}.avi")
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 25, (width, height))
        for image in images:
            writer.write(image)
        writer.release()
        # More targets: fixed patches of the background, spread over the frame's top rows.
        patches = [(16.0 + k * (width - 96) / max(targets - 1, 1), 16.0, 64.0, 64.0) for k in range(targets - 1)]
        clips.append((path, [truth[0], *patches]))
    return clips


def bench_baseline(clips, threads: int, model: Optional[str], runtime: Optional[str]) -> Tuple[float, float]:
    """N tracker.run processes at once: (target updates/s, mean ms per update)."""
    processes = []
    for path, boxes in clips:
        command = [sys.executable, "-m", "tracker.run", path, "--quiet", "--threads", str(threads)]
        for box in boxes:
            command += ["--box", ",".join(f"{v:g}" for v in box)]
        if model:
            command += ["--model", model]
        if runtime:
            command += ["--runtime", runtime]
        processes.append(subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    updates_per_second, milliseconds = 0.0, []
    for process, (_, boxes) in zip(processes, clips):
        stdout, stderr = process.communicate()
        match = TRACKING_LINE.search(stdout)
        if process.returncode != 0 or not match:
            raise RuntimeError(f"tracker.run failed ({process.returncode}): {stderr.strip() or stdout.strip()}")
        updates_per_second += len(boxes) * float(match.group(1))
        milliseconds.append(float(match.group(2)))
    return updates_per_second, sum(milliseconds) / len(milliseconds)


def bench_cluster(clips, actors: int, cpus: int, model: Optional[str], runtime: Optional[str]) -> Tuple[float, float]:
    """One run_streams on the Ray instance already started: (target updates/s, mean ms per tick)."""
    from tracker.cluster import run_streams

    spec = {
        "actors": actors,
        "cpus_per_actor": max(1, cpus // actors),
        "streams": [{"name": f"stream{index}", "source": path, "boxes": [list(box) for box in boxes]}
                    for index, (path, boxes) in enumerate(clips)],
    }
    if model:
        spec["model"] = model
    if runtime:
        spec["runtime"] = runtime
    report = run_streams(spec)
    if not report.ok:
        raise RuntimeError("; ".join(f"{stream.name}: {stream.error}" for stream in report.streams if stream.error))
    return report.target_updates_per_second, report.mean_tick_ms


def main(argv=None) -> int:
    import logging

    import ray
    from tqdm import tqdm

    args = parse_args(argv)
    print(f"{args.cpus} CPUs, load average {os.getloadavg()[0]:.2f}; {args.frames} frames of {args.width}x{args.height}, "
          f"{args.targets} targets per stream", flush=True)
    settings = []
    for streams in args.streams:
        if not args.no_baseline:
            settings.append((streams, None))
        settings.extend((streams, actors) for actors in args.actors if actors <= streams and args.cpus // actors >= 1)
    rows: List[Tuple[int, str, float, float]] = []
    with tempfile.TemporaryDirectory() as folder:
        clips = make_clips(folder, max(args.streams), args.frames, args.width, args.height, args.targets)
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
        try:
            for streams, actors in tqdm(settings, unit="setting", leave=False):
                chosen = clips[:streams]
                if actors is None:
                    label = f"tracker.run x {streams}"
                    rate, milliseconds = bench_baseline(chosen, max(1, args.cpus // streams), args.model, args.runtime)
                else:
                    label = f"cluster, {actors} actor{'s' if actors > 1 else ''}"
                    rate, milliseconds = bench_cluster(chosen, actors, args.cpus, args.model, args.runtime)
                rows.append((streams, label, rate, milliseconds))
                tqdm.write(f"{streams} stream(s), {label}: {rate:.1f} target updates/s, {milliseconds:.1f} ms per frame")
        finally:
            ray.shutdown()
    table = ["| streams | run | target updates/s | ms per frame |", "|---|---|---|---|"]
    table += [f"| {streams} | {label} | {rate:.1f} | {milliseconds:.1f} |" for streams, label, rate, milliseconds in rows]
    print("\n".join(table))
    if args.out:
        with open(args.out, "x", encoding="utf-8") as handle:
            handle.write("\n".join(table) + "\n")
        print(f"table: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
