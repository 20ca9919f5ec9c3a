"""Track objects through a video from the command line.

    python -m tracker.run SOURCE --box x,y,w,h [--box x,y,w,h ...] [--model weights/box_mobilenet_v2.onnx] [--int8|--fp32]
                         [--out annotated.mp4] [--boxes boxes.csv|boxes.json] [--force]

SOURCE is a video file, an image folder, a camera index (0) or a stream URL (rtsp://,
http://) that OpenCV can open. Each --box is a target on the first frame, in 0-based
pixels (top-left corner and size); several targets are tracked with one batched
network call per frame. --model is an exported ONNX model (X.onnx names the pair
X.template.onnx + X.search.onnx; onnxruntime, no torch needed) or a torch weights file
(.pt); by default the shipped box model, weights/box_mobilenet_v2.int8.onnx (--fp32: its fp32
pair), else weights/box_mobilenet_v2.pt; SiamFC is --model weights/siamfc_mobilenet_v2.int8.onnx.

--boxes writes one row per frame and target: frame (0-based), target, x, y, w, h
(0-based pixels), score (empty on frame 0, where the box is the one given), lost.
Outputs appear only when complete: an error leaves nothing behind, an existing file is
replaced only with --force, and an input (the source, the model) never, even through a
link. They are written as X.<pid>-<random>.partial.EXT first; partials that a killed run
left for the same output are removed by the next run once their process is gone.

A video that ends early is tracked up to where it ends, with a note on stderr, when the
file is cut short or damaged at a frame that can be found (the frame numbers stay true);
a video that lost frames at a place that cannot be found is an error (its frame numbers
would be wrong). A stream that sends nothing for --timeout seconds is given up on.
Ctrl-C or SIGTERM stops a camera or stream and keeps what was tracked (exit 0); on a
file or folder it discards the outputs (exit 130 for Ctrl-C, 143 for SIGTERM).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from typing import List, Optional, Tuple

from .boxes import Box
from .backends import describe_backend
from .loader import RUNTIME_CHOICES, load_model, runtime_option
from .shipped import default_model
from .video import (DEFAULT_STREAM_TIMEOUT, VIDEO_EXTENSIONS, AtomicVideoWriter, FrameSource, Terminated, box_argument,
                    check_output_path, check_separate, partial_path, publish, sigterm_as_interrupt)

BOX_FORMATS = (".csv", ".json")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tracker.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="video file, image folder, camera index or stream URL")
    parser.add_argument("--box", type=box_argument, action="append", required=True, metavar="x,y,w,h",
                        help="a target on the first frame, 0-based pixels; repeat for several targets")
    parser.add_argument("--model", help="X.onnx (exported pair) or X.pt (torch weights); default: the shipped weights/box_mobilenet_v2.int8.onnx pair, else its .pt")
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument("--int8", dest="int8", action="store_true", default=None, help="without --model: the shipped int8 ONNX model")
    precision.add_argument("--fp32", dest="int8", action="store_false", help="without --model: the shipped fp32 model (ONNX, else torch)")
    parser.add_argument("--out", help=f"write the annotated video here ({', '.join(VIDEO_EXTENSIONS)})")
    parser.add_argument("--boxes", help="write the boxes here (.csv or .json)")
    parser.add_argument("--force", action="store_true", help="overwrite --out/--boxes if they exist")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    parser.add_argument("--timeout", type=float, default=DEFAULT_STREAM_TIMEOUT,
                        help="streams: seconds to wait for the stream to open and for each frame (default: %(default)g)")
    parser.add_argument("--device", default=None, help="torch models: auto, cpu or cuda (default: auto)")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default=None,
                        help="torch models: network precision; ONNX models: bf16 runs on OpenVINO (default: fp32)")
    parser.add_argument("--providers", nargs="+", default=None,
                        help="ONNX models: onnxruntime execution providers in order (default: CUDA then CPU when CUDA loads)")
    parser.add_argument("--threads", type=int, default=None, help="ONNX models: intra-op threads (default: all CPUs available)")
    parser.add_argument("--runtime", choices=RUNTIME_CHOICES, default=None,
                        help="ONNX models: auto (OpenVINO on CPU when installed, else onnxruntime; it says which), onnxruntime "
                             "or openvino; torch runs .pt weights (without --model: the shipped .pt) (default: auto)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.max_frames is not None and args.max_frames < 1:
        parser.error("--max-frames must be >= 1")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads} (leave it out for all CPUs available)")
    if not args.timeout > 0:
        parser.error(f"--timeout must be > 0 seconds, got {args.timeout:g}")
    if args.model and args.int8 is not None:
        parser.error(f"--{'int8' if args.int8 else 'fp32'} chooses among the shipped models and cannot apply to --model "
                     f"{args.model}; name the model file itself (X.int8.onnx is an int8 pair, X.onnx an fp32 one)")
    if args.boxes and os.path.splitext(args.boxes)[1].lower() not in BOX_FORMATS:
        parser.error(f"--boxes must end in {' or '.join(BOX_FORMATS)}, got {args.boxes!r}")
    if args.out and os.path.splitext(args.out)[1].lower() not in VIDEO_EXTENSIONS:
        parser.error(f"--out must end in {', '.join(VIDEO_EXTENSIONS)} (an mp4v video), got {args.out!r}")
    inputs = [("source", args.source)] + [("--model", path) for path in _model_files(args.model)]
    outputs = [(label, path) for label, path in (("--out", args.out), ("--boxes", args.boxes)) if path]
    try:
        check_separate(inputs, outputs)
    except ValueError as error:
        parser.error(str(error))
    return args


def _model_files(model: Optional[str]) -> List[str]:
    """The files ``--model`` stands for (an ONNX name stands for its pair)."""
    if not model:
        return []
    from .loader import model_kind

    try:
        return [model, *model_kind(model).files(model)]
    except ValueError:
        return [model]


def resolve_model(model: Optional[str], int8: Optional[bool] = None, runtime: Optional[str] = None) -> str:
    """The model path asked for, or the shipped default (ONNX when onnxruntime is there, else torch)."""
    if model:
        return model
    return str(default_model(int8, runtime))


def model_options(args: argparse.Namespace, model: str) -> dict:
    """The runtime options a command line gave (None: not given), for ``tracker.loader.load_model``."""
    options = {name: getattr(args, name, None) for name in ("device", "precision", "providers", "threads")}
    return {**options, "runtime": runtime_option(model, getattr(args, "runtime", None))}


class BoxWriter:
    """Rows of (frame, target, box, score, lost) to CSV or JSON, under a temporary name until closed."""

    def __init__(self, path: str, overwrite: bool) -> None:
        check_output_path(path, overwrite)
        self.path = path
        self.overwrite = overwrite
        self.format = os.path.splitext(path)[1].lower()
        self.partial_path = partial_path(path)
        self._handle = open(self.partial_path, "x", encoding="utf-8", newline="")
        self._rows = 0
        if self.format == ".csv":
            self._csv = csv.writer(self._handle)
            self._csv.writerow(["frame", "target", "x", "y", "w", "h", "score", "lost"])
        else:
            self._handle.write("[")

    def write(self, frame: int, target: int, box: Box, score: Optional[float], lost: bool) -> None:
        box = [round(float(v), 3) for v in box]
        if self.format == ".csv":
            self._csv.writerow([frame, target, *box, "" if score is None else f"{score:.5f}", int(lost)])
        else:
            record = {"frame": frame, "target": target, "box": box, "score": None if score is None else round(score, 5), "lost": lost}
            self._handle.write(("," if self._rows else "") + "\n  " + json.dumps(record))
        self._rows += 1

    def close(self) -> None:
        if self.format == ".json":
            self._handle.write("\n]\n")
        self._handle.close()
        publish(self.partial_path, self.path, self.overwrite)

    def discard(self) -> None:
        self._handle.close()
        if os.path.exists(self.partial_path):
            os.remove(self.partial_path)


def track(args: argparse.Namespace) -> Tuple[int, List[float], float]:
    """Run the tracking loop; returns (frames, update seconds per frame, wall seconds)."""
    from tqdm import tqdm

    from .draw import draw_given_box, draw_result
    from .multi import MultiTracker

    # Every output is checked before anything is tracked: a run never fails at the end for a bad name.
    for path, extensions in ((args.out, VIDEO_EXTENSIONS), (args.boxes, BOX_FORMATS)):
        if path:
            for stale in check_output_path(path, args.force, extensions):
                print(f"note: removed {stale}, left by an earlier run that was killed", file=sys.stderr)
    model = resolve_model(args.model, args.int8, args.runtime)
    source = FrameSource(args.source, timeout=args.timeout)  # before loading the model: a bad source fails at once
    total = source.frame_count
    live = total is None
    if args.max_frames:
        total = min(total, args.max_frames) if total else args.max_frames
    writer, boxes = None, None
    update_seconds: List[float] = []
    frames = 0
    started = time.perf_counter()
    try:
        backend, config = load_model(model, **model_options(args, model))
        print(f"model: {model} on {describe_backend(backend)}", flush=True)
        writer = AtomicVideoWriter(args.out, source.fps, overwrite=args.force) if args.out else None
        boxes = BoxWriter(args.boxes, overwrite=args.force) if args.boxes else None
        first = source.read()
        if first is None:
            raise ValueError(f"source {args.source!r} gave no frames")
        multi = MultiTracker(backend, config)
        for box in args.box:
            target = multi.add(first, box)
            if boxes:
                boxes.write(0, target, box, None, False)
        if writer:
            annotated = first.copy()
            for box in args.box:
                draw_given_box(annotated, box)
            writer.write(annotated)
        frames = 1
        bar = tqdm(total=total, initial=1, unit="frame", disable=args.quiet, leave=False, dynamic_ncols=True)
        try:
            while args.max_frames is None or frames < args.max_frames:
                frame = source.read()
                if frame is None:
                    break
                tick = time.perf_counter()
                results = multi.update(frame)
                update_seconds.append(time.perf_counter() - tick)
                if boxes:
                    for target, result in results.items():
                        boxes.write(frames, target, result.box, result.score, result.lost)
                if writer:
                    fps = len(update_seconds) / sum(update_seconds)
                    for index, result in enumerate(results.values()):
                        draw_result(frame, result, fps if index == 0 else None)
                    writer.write(frame)
                frames += 1
                bar.update(1)
        except KeyboardInterrupt as interrupt:
            if not live:
                raise
            print(f"stopped ({'SIGTERM' if isinstance(interrupt, Terminated) else 'Ctrl-C'}); keeping what was tracked",
                  file=sys.stderr)
        finally:
            bar.close()
        if source.note:
            print(f"note: {source.note}", file=sys.stderr)
        # Inside the try: should the second output fail to appear, the first's temporary file goes too.
        if writer:
            writer.close()
        if boxes:
            boxes.close()
    except BaseException:
        if writer:
            writer.discard()
        if boxes:
            boxes.discard()
        raise
    finally:
        source.close()
    return frames, update_seconds, time.perf_counter() - started


def _quiet_opencv_warnings() -> None:
    # OpenCV logs e.g. a stream timeout as a warning line of its own; the error below says it.
    import cv2

    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:
        pass


def main(argv=None) -> int:
    args = parse_args(argv)
    # FFmpeg reports an unreadable file on stderr before OpenCV returns; the error below says it in one line.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    _quiet_opencv_warnings()
    try:
        with sigterm_as_interrupt():
            frames, update_seconds, wall = track(args)
    except Terminated:
        print("error: terminated (SIGTERM); no output written", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("error: interrupted; no output written", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, RuntimeError) as error:
        print(f"error: {str(error).splitlines()[0] if str(error) else type(error).__name__}", file=sys.stderr)
        return 1
    targets = len(args.box)
    if update_seconds:
        tracking_fps = len(update_seconds) / sum(update_seconds)
        print(f"tracked {targets} target{'s' if targets > 1 else ''} over {frames} frames: {tracking_fps:.1f} fps tracking "
              f"({1000.0 * sum(update_seconds) / len(update_seconds):.1f} ms per update), {frames / wall:.1f} fps end to end")
    else:
        print(f"the source had only {frames} frame(s); nothing to track")
    for label, path in (("annotated video", args.out), ("boxes", args.boxes)):
        if path:
            print(f"{label}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
