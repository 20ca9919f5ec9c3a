"""Track an object live from a camera, or on a bundled clip when there is no camera or display.

    python demos/track_webcam.py                       # camera 0, draw the target with the mouse
    python demos/track_webcam.py --source clip.mp4 --box x,y,w,h --out out.mp4 --no-display

Keys in the window: space or r re-selects the target, p pauses, q or Esc quits.
With no camera, or no display, it says so in one line and tracks the bundled clip
(Big Buck Bunny, CC BY 3.0) into an annotated video instead.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Optional

import cv2
from tqdm import tqdm

from tracker import Tracker, config_path
from tracker.boxes import Box
from tracker.draw import draw_result
from tracker.model import UntrainedWarning
from tracker.backends import describe_backend
from tracker.loader import RUNTIME_CHOICES, runtime_option
from tracker.shipped import WEIGHTS_FOLDER, default_model
from tracker.video import (VIDEO_EXTENSIONS, AtomicVideoWriter, FrameSource, Terminated, box_argument, check_output_path,
                           check_separate, sigterm_as_interrupt, unused_path)

REPO = Path(__file__).resolve().parent.parent
BUNDLED_CLIP = REPO / "demos" / "assets" / "bigbuckbunny.mp4"
BUNDLED_BOX: Box = (232.0, 258.0, 286.0, 300.0)  # the rabbit in frame 0, checked by drawing it
WINDOW = "siamtrack (space/r: reselect, p: pause, q/Esc: quit)"
CAMERA_WARMUP_READS = 5


def key_action(key: int) -> Optional[str]:
    """Map a ``cv2.waitKey`` code to ``"quit"``, ``"reselect"``, ``"pause"`` or None."""
    if key < 0:
        return None
    key &= 0xFF
    if key in (ord("q"), ord("Q"), 27):
        return "quit"
    if key in (ord(" "), ord("r"), ord("R")):
        return "reselect"
    if key in (ord("p"), ord("P")):
        return "pause"
    return None


def display_available() -> bool:
    """Whether a window can be shown. The full OpenCV build aborts the process on imshow
    without a display, so this must be decided before any window call."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default="0", help="camera index, video file, image folder or URL (default: camera 0)")
    parser.add_argument("--box", type=box_argument, help="first-frame box x,y,w,h in 0-based pixels (skips the mouse)")
    parser.add_argument("--out", help="write the annotated video here (default without a display: tracked_<source>.mp4)")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    parser.add_argument("--no-display", action="store_true", help="never open a window; write a video instead")
    parser.add_argument("--model", help="X.onnx (exported pair) or X.pt (torch weights); default: the shipped ONNX model "
                        "when onnxruntime is installed (fastest on CPU), else the shipped torch weights")
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument("--int8", dest="int8", action="store_true", default=None, help="without --model: the shipped int8 ONNX model")
    precision.add_argument("--fp32", dest="int8", action="store_false", help="without --model: the shipped fp32 model")
    parser.add_argument("--config", default=None, help="tracker YAML config whose tracking section replaces the model's (default: the one the model carries)")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default=None,
                        help="network precision: torch weights, or an ONNX model on OpenVINO (default: fp32)")
    parser.add_argument("--runtime", choices=RUNTIME_CHOICES, default=None,
                        help="ONNX models: auto (OpenVINO on CPU when installed, else onnxruntime), onnxruntime or openvino; "
                             "torch runs .pt weights (default: auto)")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    return parser.parse_args(argv)


def build_tracker(args: argparse.Namespace) -> Tracker:
    """The tracker for ``--model`` (or the shipped default), saying which model runs."""
    if args.model and args.int8 is not None:
        raise ValueError(f"--{'int8' if args.int8 else 'fp32'} chooses among the shipped models and cannot apply to --model {args.model}")
    try:
        model = args.model or str(default_model(args.int8, args.runtime))
    except ValueError:
        if args.int8:
            raise
        print(f"note: no trained model in {WEIGHTS_FOLDER.relative_to(REPO)}/; using random weights (tracking will be poor)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UntrainedWarning)
            return Tracker.from_model(args.config or config_path("siamfc_alexnet"), precision=args.precision)
    shown = os.path.relpath(model) if os.path.isabs(model) else model
    tracker = Tracker.from_model(model, config=args.config, precision=args.precision, runtime=runtime_option(model, args.runtime))
    print(f"model: {shown} on {describe_backend(tracker.backend)}" + (f" with config {args.config}" if args.config else ""))
    return tracker


def open_source(args: argparse.Namespace):
    """The frame source and first box to use, falling back to the bundled clip with a one-line reason."""
    display = not args.no_display and display_available()
    bundled = (FrameSource(str(BUNDLED_CLIP)), BUNDLED_BOX)
    try:
        source = FrameSource(args.source)
    except ValueError as error:
        if str(args.source).isdigit():
            print(f"No camera: {error}; tracking the bundled clip {BUNDLED_CLIP.name} instead.")
            return bundled
        raise
    if not display and args.box is None:
        source.close()
        print("No display to draw the target on and no --box given; tracking the bundled clip "
              f"{BUNDLED_CLIP.name} instead (pass --box x,y,w,h to track your own source headless).")
        return bundled
    return source, args.box


def track_headless(tracker: Tracker, source: FrameSource, box: Box, out: str, force: bool, max_frames) -> None:
    total = source.frame_count
    if max_frames is not None and total is not None:
        total = min(total, max_frames)
    updates, seconds = 0, 0.0
    with AtomicVideoWriter(out, source.fps, overwrite=force) as writer:
        first = source.read()
        if first is None:
            raise ValueError(f"source {source.source!r} delivered no frames")
        tracker.init(first, box)
        progress = tqdm(total=total, initial=1, unit="frame", desc="tracking", disable=None)
        x, y, w, h = box
        cv2.rectangle(first, (int(x), int(y)), (int(x + w), int(y + h)), (255, 200, 0), 2)
        writer.write(first)
        for frame in source:
            if max_frames is not None and writer.frames_written >= max_frames:
                break
            start = time.perf_counter()
            result = tracker.update(frame)
            seconds += time.perf_counter() - start
            updates += 1
            writer.write(draw_result(frame, result, updates / seconds))
            progress.update(1)
        progress.close()
    fps = updates / seconds if seconds else 0.0
    print(f"Wrote {writer.frames_written} annotated frames to {out}")
    print(f"Average: {fps:.1f} fps over {updates} updates ({1000.0 * seconds / max(updates, 1):.1f} ms per update)")


def select_box(frame) -> Optional[Box]:
    x, y, w, h = cv2.selectROI(WINDOW, frame, showCrosshair=True, fromCenter=False)
    return (float(x), float(y), float(w), float(h)) if w > 0 and h > 0 else None


def track_live(tracker: Tracker, source: FrameSource, box: Optional[Box], out: Optional[str], force: bool, max_frames) -> None:
    if source.is_camera:
        for _ in range(CAMERA_WARMUP_READS):  # first camera frames are often dark or blank
            source.read()
    writer = AtomicVideoWriter(out, source.fps, overwrite=force) if out else None
    updates, seconds, paused, frame_index = 0, 0.0, False, 0
    frame = source.read()
    try:
        while frame is not None and (max_frames is None or frame_index < max_frames):
            if box is None:
                box = select_box(frame)
                if box is None:
                    print("No box selected; quitting.")
                    break
                tracker.init(frame, box)
            else:
                if not tracker.initialised:
                    tracker.init(frame, box)
                else:
                    start = time.perf_counter()
                    result = tracker.update(frame)
                    seconds += time.perf_counter() - start
                    updates += 1
                    draw_result(frame, result, updates / seconds)
            cv2.imshow(WINDOW, frame)
            if writer:
                writer.write(frame)
            action = key_action(cv2.waitKey(0 if paused else 1))
            if action == "quit":
                break
            if action == "pause":
                paused = not paused
            if action == "reselect":
                box = None
                tracker.reset()
                continue  # select on the same frame
            if not paused:
                frame = source.read()
                frame_index += 1
    except BaseException:
        if writer:
            writer.discard()
        raise
    finally:
        cv2.destroyAllWindows()
    if writer:
        writer.close()
        print(f"Wrote {writer.frames_written} annotated frames to {out}")
    fps = updates / seconds if seconds else 0.0
    print(f"Average: {fps:.1f} fps over {updates} updates")


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        with sigterm_as_interrupt():
            display = not args.no_display and display_available()
            if not display and not args.no_display:
                print("No display found (DISPLAY is not set); running headless and writing a video.")
            if args.out:
                check_separate([("--source", args.source)] + ([("--model", args.model)] if args.model else []), [("--out", args.out)])
                check_output_path(args.out, args.force, VIDEO_EXTENSIONS)
            source, box = open_source(args)
            with source:
                tracker = build_tracker(args)
                if display:
                    track_live(tracker, source, box, args.out, args.force, args.max_frames)
                else:
                    name = Path(str(source.source)).stem if not source.is_camera else f"camera{source.source}"
                    out = args.out or unused_path(f"tracked_{name}.mp4")
                    track_headless(tracker, source, box, out, args.force, args.max_frames)
                if source.note:
                    print(f"Note: {source.note}")
    except (ValueError, TypeError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Terminated:
        print("Terminated (SIGTERM); the video was not written.", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
