"""``python -m tracker.eval`` on a small synthetic data folder."""
import json
import csv
import os

import cv2
import pytest

from tracker.eval.__main__ import main


def test_help_exits_cleanly(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "--trackers" in capsys.readouterr().out


def test_evaluates_writes_outputs_and_reuses_the_cache(data_root, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert main(["--data", data_root, "--trackers", "mil", "--out", out, "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "alpha, beta" in printed and "gamma" not in printed
    assert "OVERALL" in printed and f"outputs in {os.path.abspath(out)}" in printed
    for name in ("table.csv", "table.json", "success.png", "precision.png"):
        assert os.path.getsize(os.path.join(out, name)) > 0
    with open(os.path.join(out, "table.csv"), newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [(r["tracker"], r["sequence"]) for r in table] == [("mil", "alpha"), ("mil", "beta"), ("mil", "OVERALL")]
    assert float(table[-1]["auc"]) > 0.3

    assert main(["--data", data_root, "--trackers", "mil", "--out", out, "--quiet", "--force"]) == 0
    assert "2 of 2 tracker x sequence runs read from the cache" in capsys.readouterr().out


def test_speed_mode(data_root, tmp_path, capsys):
    from tracker.eval.trackers import default_peers_root

    trackers = "mil,nano" if os.path.isdir(os.path.join(default_peers_root(), "nanotrack-v2")) else "mil"
    out = str(tmp_path / "out")
    assert main(["--data", data_root, "--split", "all", "--trackers", trackers, "--speed", "--speed-frames", "4", "--repeats", "2", "--out", out, "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "x mil" in printed and printed.count("OVERALL") == 1 and "speed table:" in printed
    with open(os.path.join(out, "speed.csv"), newline="") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 4 * len(trackers.split(",")) and "ratio_to_mil" in table[0]


def test_bad_input_gives_a_clear_error(data_root, tmp_path, capsys):
    assert main(["--data", data_root, "--trackers", "mil,foo", "--out", str(tmp_path)]) == 2
    assert "valid names: siamfc, mil, nano" in capsys.readouterr().err
    assert main(["--data", str(tmp_path / "missing"), "--trackers", "mil", "--out", str(tmp_path)]) == 2
    assert "data folder not found" in capsys.readouterr().err
    assert main(["--data", data_root, "--split", "test", "--out", str(tmp_path)]) == 2
    assert "unknown split 'test'" in capsys.readouterr().err


def test_contrib_trackers_are_skipped_with_a_message(data_root, tmp_path, capsys):
    if hasattr(cv2, "TrackerKCF_create"):
        pytest.skip("this OpenCV has contrib trackers")
    assert main(["--data", data_root, "--trackers", "mil,kcf", "--out", str(tmp_path / "o"), "--quiet", "--max-frames", "3"]) == 0
    assert "skipping kcf" in capsys.readouterr().out


@pytest.mark.slow
def test_siamfc_says_random_weights(data_root, tmp_path, capsys):
    assert main(["--data", data_root, "--trackers", "siamfc", "--sequences", "alpha", "--out", str(tmp_path / "o"), "--quiet", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    if not os.path.isfile(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "weights", "siamfc_mobilenet_v2.pt")):
        assert "siamfc (random weights)" in printed


def test_siamfc_runs_an_onnx_model(data_root, tmp_path, capsys):
    from tracker.shipped import default_model

    model = str(default_model(int8=True))
    out = str(tmp_path / "onnx")
    assert main(["--data", data_root, "--trackers", "siamfc", "--sequences", "alpha", "--weights", model, "--out", out, "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "siamfc (box_mobilenet_v2.int8, ONNX)" in printed  # --weights takes any model, the default box one here
    with open(os.path.join(out, "table.csv"), newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["sequence"] == "alpha"]
    assert len(rows) == 1 and float(rows[0]["auc"]) > 0.5  # an easy synthetic clip


def test_missing_onnx_model_is_a_clear_error(data_root, tmp_path, capsys):
    code = main(["--data", data_root, "--trackers", "siamfc", "--weights", str(tmp_path / "none.onnx"), "--out", str(tmp_path / "o"), "--quiet"])
    assert code != 0
    assert "model file(s) not found" in capsys.readouterr().err


def test_out_that_is_a_file_is_one_line_error(data_root, tmp_path, capsys):
    results = tmp_path / "results.csv"
    results.write_text("an earlier table")
    assert main(["--data", data_root, "--trackers", "mil", "--out", str(results), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {results} is a file; --out names a folder") and err.count("\n") == 1, err
    assert "Traceback" not in err and results.read_text() == "an earlier table"


def test_existing_outputs_are_replaced_only_with_force_and_checked_before_the_run(data_root, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--data", data_root, "--trackers", "mil", "--out", str(out), "--quiet", "--no-cache"]) == 0
    capsys.readouterr()
    before = {name: (out / name).read_bytes() for name in ("table.csv", "table.json", "success.png", "precision.png")}
    inodes = {name: (out / name).stat().st_ino for name in before}
    assert main(["--data", data_root, "--trackers", "mil", "--out", str(out), "--quiet", "--no-cache"]) == 2
    printed = capsys.readouterr()
    assert "table.csv already exists" in printed.err and "--force" in printed.err and printed.out == ""  # refused before evaluating
    assert {name: (out / name).read_bytes() for name in before} == before
    # --speed writes other files, so the folder is fine for it.
    assert main(["--data", data_root, "--trackers", "mil", "--speed", "--speed-frames", "3", "--repeats", "1", "--out", str(out), "--quiet"]) == 0
    assert main(["--data", data_root, "--trackers", "mil", "--out", str(out), "--quiet", "--force"]) == 0
    assert all((out / name).stat().st_ino != inodes[name] for name in before)  # new files moved into place
    assert not [name for name in os.listdir(out) if "partial" in name]


def test_several_models_run_side_by_side_under_their_names(data_root, tmp_path, capsys):
    from tracker.shipped import default_model

    from tracker.shipped import shipped_weights

    int8, fp32 = str(default_model(int8=True)), str(default_model(int8=False))
    out = str(tmp_path / "models")
    assert main(["--data", data_root, "--trackers", "", "--model", f"int8={int8}", "--model", f"fp32={fp32}",
                 "--sequences", "alpha", "--max-frames", "6", "--runtime", "onnxruntime", "--out", out, "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "int8 (box_mobilenet_v2.int8, ONNX)" in printed and "fp32 (box_mobilenet_v2, ONNX)" in printed
    with open(os.path.join(out, "table.csv"), newline="") as handle:
        assert sorted({row["tracker"] for row in csv.DictReader(handle)}) == ["fp32", "int8"]
    # --runtime onnxruntime runs the ONNX models; a .pt beside them runs on torch.
    assert main(["--data", data_root, "--trackers", "", "--model", f"int8={int8}", "--model", f"torch={shipped_weights()}",
                 "--sequences", "alpha", "--max-frames", "3", "--runtime", "onnxruntime", "--device", "cpu",
                 "--out", str(tmp_path / "mixed"), "--quiet"]) == 0
    for bad, message in ((["--model", "nothing"], "--model takes NAME=PATH"), (["--model", f"mil={int8}"], "must be letters"),
                         (["--model", f"a={int8}", "--model", f"a={fp32}"], "used twice")):
        assert main(["--data", data_root, "--trackers", "mil", *bad, "--out", str(tmp_path / "bad"), "--quiet"]) == 2
        assert message in capsys.readouterr().err


def test_a_model_runs_with_another_tracking_config(data_root, tmp_path, capsys):
    import yaml

    from tracker.shipped import default_model
    from tracker.weights import read_weights_file
    from tracker.shipped import shipped_weights

    int8 = str(default_model(int8=True))
    carried = read_weights_file(shipped_weights())["config"]
    tuned = dict(carried, tracking=dict(carried["tracking"], window_influence=0.3))
    (tmp_path / "tuned.yaml").write_text(yaml.safe_dump(tuned))
    out = str(tmp_path / "configs")
    assert main(["--data", data_root, "--trackers", "", "--model", f"own={int8}", "--model", f"tuned={int8}",
                 "--model-config", f"tuned={tmp_path / 'tuned.yaml'}", "--sequences", "alpha", "--max-frames", "4",
                 "--runtime", "onnxruntime", "--out", out, "--quiet"]) == 0
    with open(os.path.join(out, "table.json")) as handle:
        trackers = json.load(handle)["meta"]["trackers"]
    # The config is part of the fingerprint, so cached runs of the carried config are not reused.
    assert "config=carried" in trackers["own"]["fingerprint"] and "config=carried" not in trackers["tuned"]["fingerprint"]
    for bad, message in ((["--model-config", "nobody=x.yaml"], "names no --model: nobody"),
                         (["--model-config", f"own={tmp_path / 'absent.yaml'}"], "config file not found"),
                         (["--model-config", "own"], "NAME=YAML")):
        assert main(["--data", data_root, "--trackers", "", "--model", f"own={int8}", *bad, "--out", str(tmp_path / "bad"), "--quiet"]) == 2
        assert message in capsys.readouterr().err
