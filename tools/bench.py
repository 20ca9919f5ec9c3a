"""Speed benchmark: ms per ``update`` split into crop / network / post-processing.

    python -m tools.bench [--scales 1 3 5] [--precisions fp32 bf16] [--updates 30]

Random weights, a 640x480 synthetic frame, torch backend. All rows are measured in one
run so their ratios are comparable on a noisy machine; absolute numbers are only as
good as the machine is quiet.
"""
from __future__ import annotations

import argparse
import dataclasses
import platform
import time
import warnings

import numpy as np

from tracker.config import TrackerConfig, config_path
from tracker.siamese_tracker import Tracker, tracker_class
from tools.synthetic import moving_texture_clip


def time_stages(tracker: Tracker, frame: np.ndarray, box, updates: int, warmup: int = 3):
    """Median ms of (crop, network, post, total) over ``updates`` calls after ``warmup``."""
    tracker.init(frame, box)
    rows = []
    for index in range(warmup + updates):
        start = time.perf_counter()
        crops, plan = tracker.search_crops(frame)
        cropped = time.perf_counter()
        responses = tracker.backend.score(tracker.template_features, crops)
        scored = time.perf_counter()
        tracker.locate(responses, plan)
        done = time.perf_counter()
        if index >= warmup:
            rows.append((cropped - start, scored - cropped, done - scored, done - start))
    return np.median(np.array(rows) * 1000.0, axis=0)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=config_path("siamfc_alexnet"), help="tracker YAML (default: %(default)s)")
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 3, 5], help="scale counts to time")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--updates", type=int, default=30, help="timed updates per row")
    args = parser.parse_args(argv)

    import torch  # after argument parsing, so --help is instant

    from tracker.loader import load_model

    frames, boxes = moving_texture_clip(frame_count=1, width=640, height=480)
    frame, box = frames[0], boxes[0]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
          f"frame 640x480, {args.updates} updates per row, median ms")
    print("| scales | precision | device | crop ms | network ms | post ms | update ms | fps |")
    print("|---|---|---|---|---|---|---|---|")
    for precision in args.precisions:
        torch.manual_seed(0)  # the same random network for every precision
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # random weights, as intended
            backend, base = load_model(args.config, device=args.device, precision=precision)
        for scale_count in args.scales:
            tracking = dataclasses.replace(base.tracking, scale_count=scale_count)
            config = TrackerConfig(model=base.model, tracking=tracking)
            tracker = tracker_class(config)(backend, config)  # SiamFC's loop, or the box head's for a box config
            crop, network, post, total = time_stages(tracker, frame, box, args.updates)
            print(f"| {scale_count} | {precision} | {backend.device} | {crop:.2f} | {network:.1f} | {post:.2f} | "
                  f"{total:.1f} | {1000.0 / total:.1f} |")


if __name__ == "__main__":
    main()
