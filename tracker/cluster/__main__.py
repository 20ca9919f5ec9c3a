"""Track many streams on a Ray cluster.

    python -m tracker.cluster SPEC.yaml [--address auto|ray://HEAD:10001] [--num-cpus N] [--force] [--quiet]

SPEC.yaml lists the streams (source: a video file, an image folder, a camera index or an
rtsp:// or http:// URL; boxes: the targets on the first frame, 0-based x, y, w, h pixels),
the outputs (outputs.folder gets <stream name>.csv or .json, with tracker.run's --boxes
rows, and <stream name>.mp4 with outputs.video: true) and, optionally, the model and how
many Ray actors run the streams (docs/cluster.md has the format). Each actor owns one
model session and tracks the targets of all its streams with one network call per frame.

Without --address a local Ray instance is started (no set-up beyond the install) and shut
down at the end. An actor that dies is restarted by Ray and its streams resume from the
state the driver last received, so no frame is tracked twice or lost in the outputs.

Outputs follow tracker.run's rules: all checked before anything runs, an existing file is
replaced only with --force, and each file appears only when its stream is complete (a
stream that fails leaves nothing). Ctrl-C or SIGTERM keeps what camera and URL streams
tracked and discards the outputs of unfinished file streams (exit 130 or 143 then).
Exit status: 0 when every stream completed, 1 when one failed or the run could not start,
2 for a bad spec or command line.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Dict, Optional

from ..video import Terminated, sigterm_as_interrupt
from .driver import ChunkEvent, ClusterReport, run_streams
from .spec import load_spec

# Above this many streams one bar counts all frames; below it each stream has its own.
MAX_STREAM_BARS = 8


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tracker.cluster", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", help="the YAML spec of the streams and outputs (docs/cluster.md)")
    parser.add_argument("--address", help="an existing Ray cluster (auto, or ray://HEAD:10001); default: a local instance")
    parser.add_argument("--num-cpus", type=int, default=None,
                        help="the local instance's CPUs (default: all this process may use); not with --address")
    parser.add_argument("--force", action="store_true", help="overwrite output files that exist")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.num_cpus is not None and args.num_cpus < 1:
        parser.error(f"--num-cpus must be >= 1, got {args.num_cpus}")
    if args.num_cpus is not None and args.address:
        parser.error("--num-cpus sizes the local Ray instance; an existing cluster (--address) has its own CPUs")
    return args


class _Progress:
    """tqdm bars fed by the driver's chunk events: one per stream, or one for all of them."""

    def __init__(self, streams: int, disable: bool) -> None:
        self.per_stream = streams <= MAX_STREAM_BARS
        self.disable = disable
        self.bars: Dict[str, object] = {}
        self.total_bar = None

    def __call__(self, event: ChunkEvent) -> None:
        from tqdm import tqdm

        if self.disable:
            return
        if not self.per_stream:
            if self.total_bar is None:
                self.total_bar = tqdm(unit="frame", desc="all streams", leave=False, dynamic_ncols=True)
            self.total_bar.update(len({row.frame for row in event.rows}))
            return
        bar = self.bars.get(event.stream)
        if bar is None:
            bar = self.bars[event.stream] = tqdm(total=event.frame_count, desc=event.stream, unit="frame", leave=False,
                                                 dynamic_ncols=True, position=len(self.bars))
        bar.update(event.frames - bar.n)

    def close(self) -> None:
        # The lowest bar first: closing the top one first leaves the cursor mid-screen.
        for bar in [self.total_bar, *reversed(list(self.bars.values()))]:
            if bar is not None:
                bar.close()


class _TqdmHandler(logging.Handler):
    """The driver's notes on stderr without breaking the progress bars."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        tqdm.write(f"note: {record.getMessage()}", file=sys.stderr)


def print_report(report: ClusterReport) -> None:
    """The closing table: one row per stream, then the totals."""
    rows = [("stream", "actor", "targets", "frames", "fps", "restarts", "result")]
    for stream in report.streams:
        if stream.error:
            result = f"FAILED: {stream.error}"
        else:
            result = ", ".join(stream.outputs) or "done (no outputs)"
            if stream.note:
                result += f" (note: {stream.note})"
        rows.append((stream.name, str(stream.actor), str(stream.targets), str(stream.frames), f"{stream.fps:.1f}",
                     str(stream.restarts), result))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) if column == 0 else cell.rjust(width)
                        for column, (cell, width) in enumerate(zip(row, widths))) + "  " + row[-1])
    updates = sum(stream.target_updates for stream in report.streams)
    frames = sum(stream.frames for stream in report.streams)
    print(f"{len(report.streams)} stream(s) on {report.actors} actor(s): {frames} frames, {updates} target updates in "
          f"{report.tracking_seconds:.1f} s = {report.target_updates_per_second:.1f} target updates/s; "
          f"{report.mean_tick_ms:.1f} ms per frame (mean tick); start-up {report.startup_seconds:.1f} s")


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        spec = load_spec(args.spec)
    except (ValueError, TypeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # a bad file is the one-line error below, not FFmpeg's
    handler = _TqdmHandler()
    logger = logging.getLogger("tracker.cluster")
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    if spec.outputs.folder is None:
        print("note: the spec names no outputs.folder; nothing is written", file=sys.stderr)
    progress = _Progress(len(spec.streams), disable=args.quiet)
    report: Optional[ClusterReport] = None
    try:
        try:
            with sigterm_as_interrupt():
                report = run_streams(spec, force=args.force, address=args.address, num_cpus=args.num_cpus,
                                     on_chunk=progress)
        finally:  # the bars go before anything is said
            progress.close()
            logger.removeHandler(handler)
            logger.propagate = propagate
    except Terminated:
        print("error: terminated (SIGTERM); outputs of unfinished file streams discarded", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("error: interrupted; outputs of unfinished file streams discarded", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, RuntimeError) as error:
        text = str(error)
        print(f"error: {text.splitlines()[0] if text else type(error).__name__}", file=sys.stderr)
        return 1
    print_report(report)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
