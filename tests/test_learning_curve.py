"""``python -m tools.learning_curve``: records in, one PNG out."""
import json

import cv2
import pytest

from tools.learning_curve import curve_points, main


def test_loss_is_relative_to_the_first_epoch():
    record = {"epochs": [{"epoch": 1, "loss": 2.0, "validation_auc": 0.4}, {"epoch": 2, "loss": 1.5}]}
    epochs, loss, auc = curve_points(record)
    assert epochs == [1, 2] and loss == [1.0, 0.75] and auc[0] == 0.4 and auc[1] != auc[1]  # NaN: not validated


def test_draws_runs_and_refuses_what_is_not_a_run(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "record.json").write_text(json.dumps({"train_frames": 21129, "epochs": [
        {"epoch": 1, "loss": 0.5, "validation_auc": 0.6}, {"epoch": 2, "loss": 0.4, "validation_auc": 0.65}]}))
    out = tmp_path / "curve.png"
    assert main([str(run), "--out", str(out)]) == 0
    assert "run: epoch 2 loss x0.800 validation AUC 0.650" in capsys.readouterr().out
    assert cv2.imread(str(out)).shape[2] == 3
    assert main([str(tmp_path / "absent"), "--out", str(out)]) == 2
    assert "no record.json" in capsys.readouterr().err
    (run / "record.json").write_text(json.dumps({"epochs": []}))
    assert main([str(run), "--out", str(out)]) == 2
    assert "no finished epoch" in capsys.readouterr().err
