"""Make the README's picture: the tracker on the bundled clip, four annotated frames in a strip.

    python demos/make_readme_strip.py [--model weights/FILE.pt] [--out docs/demo_strip.png]

Also writes one full-size annotated frame (``docs/demo_frame.png``) as the demo's screenshot.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from track_webcam import BUNDLED_BOX, BUNDLED_CLIP, build_tracker, parse_args as demo_args  # noqa: E402

from tracker.draw import draw_result  # noqa: E402
from tracker.video import FrameSource, check_output_path  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="weights or ONNX file (default: the demo's default model)")
    parser.add_argument("--out", default="docs/demo_strip.png", help="strip PNG (default: %(default)s)")
    parser.add_argument("--frame-out", default="docs/demo_frame.png", help="single annotated frame PNG")
    parser.add_argument("--frames", type=int, nargs=4, default=[0, 40, 85, 131], help="frame indices to show")
    parser.add_argument("--force", action="store_true", help="overwrite existing PNGs")
    args = parser.parse_args(argv)
    for path in (args.out, args.frame_out):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        check_output_path(path, args.force)

    tracker = build_tracker(demo_args(["--no-display"] + (["--model", args.model] if args.model else [])))
    picked = {}
    with FrameSource(str(BUNDLED_CLIP)) as source:
        for index, frame in enumerate(source):
            if index == 0:
                tracker.init(frame, BUNDLED_BOX)
                x, y, w, h = (int(v) for v in BUNDLED_BOX)
                cv2.rectangle(frame, (x, y), (x + w, y + h), (255, 200, 0), 3)
            else:
                draw_result(frame, tracker.update(frame))
            if index in args.frames:
                cv2.putText(frame, f"frame {index}", (12, frame.shape[0] - 16), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 3, cv2.LINE_AA)
                picked[index] = frame
    missing = [i for i in args.frames if i not in picked]
    if missing:
        print(f"error: the clip has no frames {missing}", file=sys.stderr)
        return 2
    cv2.imwrite(args.frame_out, picked[args.frames[2]])
    small = [cv2.resize(picked[i], (480, 270), interpolation=cv2.INTER_AREA) for i in args.frames]
    cv2.imwrite(args.out, np.hstack(small))
    print(f"Wrote {args.out} and {args.frame_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
