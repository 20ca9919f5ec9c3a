"""``python -m tracker.eval.score_levels``: the on/off-target shares, pinned by hand, and the CLI."""
import math

import numpy as np
import pytest

from tracker.eval.score_levels import main, score_levels


def test_shares_of_on_and_off_target_frames_at_each_threshold():
    # On target (IoU > 0.5): scores 0.5 and 0.2. Off (IoU < 0.1): 0.25 and 0.01. IoU 0.3
    # (in between) and NaN (no ground truth) count in neither.
    ious = [0.9, 0.8, 0.05, 0.0, 0.3, np.nan]
    scores = [0.5, 0.2, 0.25, 0.01, 0.9, 0.99]
    levels = score_levels(ious, scores, thresholds=(0.1, 0.25, 0.6))
    assert levels["on_target_frames"] == 2 and levels["off_target_frames"] == 2
    assert levels["rows"] == [(0.1, 1.0, 0.5), (0.25, 0.5, 0.5), (0.6, 0.0, 0.0)]  # "at or above": 0.25 reaches 0.25


def test_a_group_without_frames_has_no_share_and_shapes_must_agree():
    levels = score_levels([0.9, 0.7], [0.4, 0.1], thresholds=(0.3,))
    threshold, on, off = levels["rows"][0]
    assert on == 0.5 and math.isnan(off) and levels["off_target_frames"] == 0
    with pytest.raises(ValueError, match="one length"):
        score_levels([0.9, 0.7], [0.4])


def test_prints_the_table_for_train_sequences_and_refuses_eval_ones(data_root, capsys):
    assert main(["--data", data_root, "--thresholds", "0.1,0.3"]) == 0
    printed = capsys.readouterr().out
    assert "1 sequences: " in printed and "| 0.1 | " in printed and "| 0.3 | " in printed
    assert "lost_threshold" in printed and "found_threshold" in printed
    assert main(["--data", data_root, "--sequences", "alpha"]) == 2
    assert "train- or val-split sequences only" in capsys.readouterr().err
    assert main(["--data", data_root, "--thresholds", "low"]) == 2
    assert "comma-separated numbers" in capsys.readouterr().err
