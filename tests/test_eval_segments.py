"""Temporal robustness runs (``--starts``): where the runs start, hand-checked, and the CLI."""
import csv
import os

import numpy as np
import pytest

from tracker.datasets import Sequence
from tracker.eval.__main__ import main
from tracker.eval.segments import segment_starts, temporal_segments

BOX = [10.0, 10.0, 5.0, 5.0]
NO_BOX = [np.nan] * 4


def test_starts_at_even_fractions_moved_on_to_annotated_frames():
    boxes = np.array([BOX] * 9)
    assert segment_starts(boxes, 1) == [0]
    assert segment_starts(boxes, 3) == [0, 3, 6]  # floor(i * 9 / 3)
    boxes[3] = NO_BOX
    boxes[4] = NO_BOX
    assert segment_starts(boxes, 3) == [0, 5, 6]  # frame 3 has no box: the run starts at 5
    boxes[5] = NO_BOX
    assert segment_starts(boxes, 3) == [0, 6]  # 3 -> 6, the same start as the third: once
    assert segment_starts(np.array([BOX] * 4), 4) == [0, 1, 2]  # a start needs 2 frames left
    with pytest.raises(ValueError, match=">= 1"):
        segment_starts(boxes, 0)


def test_segments_are_named_by_their_first_frame_and_cut_frames_and_boxes_together():
    boxes = np.arange(36, dtype=float).reshape(9, 4) + 1
    sequence = Sequence("walk", boxes, tuple(f"{i:04d}.jpg" for i in range(1, 10)))
    runs = temporal_segments([sequence], 3)
    assert [r.name for r in runs] == ["walk", "walk@4", "walk@7"]
    assert runs[1].frame_paths[0] == "0004.jpg" and runs[1].init_box == tuple(boxes[3]) and len(runs[2]) == 3
    assert temporal_segments([sequence], 1) == [sequence]
    video = Sequence("clip", boxes, video_path="clip.mp4")
    with pytest.raises(ValueError, match="video file"):
        temporal_segments([video], 2)


def test_the_cli_lists_every_run_and_averages_over_them(data_root, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert main(["--data", data_root, "--trackers", "mil", "--starts", "2", "--out", out, "--quiet"]) == 0
    with open(os.path.join(out, "table.csv"), newline="") as handle:
        table = list(csv.DictReader(handle))
    # Six frames each: runs from frames 1 and 4.
    assert [r["sequence"] for r in table] == ["alpha", "alpha@4", "beta", "beta@4", "OVERALL"]
    assert main(["--data", data_root, "--trackers", "mil", "--starts", "0", "--out", out, "--force"]) == 2
    assert "--starts must be >= 1" in capsys.readouterr().err
