"""``python -m tracker.eval.tune``: grid parsing, the train-split guard, and a run on synthetic data."""
import csv

import pytest

from tracker.backends.onnx_backend import OnnxBackend
from tracker.config import TrackerConfig
from tracker.eval.tune import check_train_split, grid_configs, main, parse_grid_option
from tracker.shipped import default_model


def test_parse_grid_option_types_values_like_yaml():
    assert parse_grid_option("scale_step=1.025, 1.05") == ("scale_step", [1.025, 1.05])
    assert parse_grid_option("scale_count=3,5") == ("scale_count", [3, 5])
    assert parse_grid_option("redetect=true,false") == ("redetect", [True, False])
    for bad, message in (("scale_step", "FIELD=V1"), ("scale_step=", "FIELD=V1"), ("backbone=x", "not a tracking parameter"),
                         ("scale_lr=0.5,0.5", "repeat")):
        with pytest.raises(ValueError, match=message):
            parse_grid_option(bad)


def test_grid_configs_cover_every_combination_and_keep_the_rest():
    base = TrackerConfig()
    combinations = grid_configs(base, {"scale_step": [1.025, 1.05], "scale_lr": [0.3, 0.6]})
    assert [change for change, _ in combinations] == [
        {"scale_step": 1.025, "scale_lr": 0.3}, {"scale_step": 1.025, "scale_lr": 0.6},
        {"scale_step": 1.05, "scale_lr": 0.3}, {"scale_step": 1.05, "scale_lr": 0.6},
    ]
    _, last = combinations[-1]
    assert (last.tracking.scale_step, last.tracking.scale_lr) == (1.05, 0.6)
    assert last.tracking.window_influence == base.tracking.window_influence and last.model == base.model
    with pytest.raises(ValueError, match="scale_step"):
        grid_configs(base, {"scale_step": [0.5]})  # checked like a config file: must be >= 1


def test_eval_split_sequences_are_refused(data_root):
    check_train_split(data_root, ["gamma"])
    with pytest.raises(ValueError, match=r"alpha \(eval\)"):
        check_train_split(data_root, ["gamma", "alpha"])
    with pytest.raises(ValueError, match="not in the README"):
        check_train_split(data_root, ["nowhere"])


def test_runs_the_grid_marks_the_models_own_setting_and_writes_csv(data_root, tmp_path, capsys):
    own = OnnxBackend(str(default_model(int8=True))).config.tracking
    out = str(tmp_path / "grid.csv")
    grid = ["--grid", f"scale_step={own.scale_step},{own.scale_step + 0.05}", "--grid", f"scale_lr={own.scale_lr}"]
    assert main(["--data", data_root, *grid, "--out", out]) == 0
    printed = capsys.readouterr().out
    assert "2 combinations x 1 sequences (6 frames): gamma" in printed
    assert printed.count("(the model's own)") == 1
    with open(out, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["scale_step", "scale_lr", "mean AUC", "gamma"] and len(rows) == 3
    assert all(0.0 <= float(row[2]) <= 1.0 for row in rows[1:])
    assert main(["--data", data_root, "--grid", "scale_step=1.05", "--out", out]) == 2  # no overwrite without --force
    assert "already exists" in capsys.readouterr().err


def test_refuses_eval_sequences_before_tracking(data_root, capsys):
    assert main(["--data", data_root, "--grid", "scale_step=1.05", "--sequences", "alpha"]) == 2
    assert "train- or val-split sequences only" in capsys.readouterr().err


def test_no_train_sequences_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "README.md").write_text("| name | SPLIT |\n|---|---|\n| only | eval |\n")
    assert main(["--data", str(tmp_path), "--grid", "scale_step=1.05"]) == 2
    assert "no train-split sequences" in capsys.readouterr().err


def test_a_corpus_val_sequence_may_be_tuned_on(tmp_path):
    # A corpus holds val sequences out of training for choices like these; eval stays refused.
    (tmp_path / "splits.csv").write_text("name,split\nheld,val\ntrained,train\nscored,eval\n")
    check_train_split(str(tmp_path), ["held", "trained"])
    with pytest.raises(ValueError, match=r"scored \(eval\)"):
        check_train_split(str(tmp_path), ["held", "scored"])


def test_the_box_heads_loop_runs_the_grid(data_root, tmp_path, capsys):
    import torch

    from tracker.config import config_path, load_config
    from tracker.model import build_model
    from tracker.weights import save_weights

    config = load_config(config_path("box_mobilenet_v2"))
    torch.manual_seed(0)
    save_weights(tmp_path / "box.pt", build_model(config.model), config, {})
    assert main(["--data", data_root, "--model", str(tmp_path / "box.pt"), "--grid", "penalty_k=0.04,0.1"]) == 0
    assert "2 combinations x 1 sequences" in capsys.readouterr().out


def test_starts_splits_each_sequence_into_later_runs(data_root, capsys):
    from tracker.datasets import load_dataset
    from tracker.eval.tune import tuning_runs

    (gamma,) = load_dataset(data_root, names=["gamma"])
    runs = tuning_runs([gamma], 2, None)
    # 6 frames from frames 0 and 3 (floor(1 * 6 / 2)): 6 + 3 frames, each run's boxes from its own start
    assert [(run.name, len(frames)) for run, frames in runs] == [("gamma", 6), ("gamma@4", 3)]
    assert runs[1][0].init_box == pytest.approx(gamma.boxes[3])
    assert (runs[1][1][0] == runs[0][1][3]).all()  # the later run shares the decoded frames
    # --max-frames cuts first, then the starts split what is left: 4 frames -> starts 0 and 2
    assert [(run.name, len(frames)) for run, frames in tuning_runs([gamma], 2, 4)] == [("gamma", 4), ("gamma@3", 2)]

    assert main(["--data", data_root, "--grid", "scale_step=1.05", "--starts", "2"]) == 0
    assert "1 combinations x 2 runs (9 frames): gamma, gamma@4" in capsys.readouterr().out
    assert main(["--data", data_root, "--grid", "scale_step=1.05", "--starts", "0"]) == 2
    assert "--starts must be at least 1" in capsys.readouterr().err
