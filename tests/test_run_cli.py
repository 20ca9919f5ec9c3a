"""``python -m tracker.run``: sources, models, box files, overwrite rules, one-line errors, no partial outputs."""
import csv
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from tracker import TrackerConfig
from tracker import run as run_cli
from tracker.export.exporter import export_onnx, random_model
from tools.synthetic import moving_texture_clip
from tracker.weights import save_weights

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAMES = 6


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    frames, boxes = moving_texture_clip(frame_count=FRAMES, width=320, height=240, target_size=(40, 40), step=4.0, seed=1)
    images = folder / "img"
    images.mkdir()
    for index, frame in enumerate(frames):
        cv2.imwrite(str(images / f"{index + 1:04d}.png"), frame)
    video = folder / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25, (320, 240))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return str(images), str(video), boxes


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory):
    config = TrackerConfig()
    stem = str(tmp_path_factory.mktemp("model") / "random")
    export_onnx(random_model(config, seed=0), config, stem)
    return stem + ".onnx"


def box_arg(box):
    return ",".join(str(v) for v in box)


def run(*args):
    """Run the CLI in a subprocess; returns (returncode, stdout, stderr)."""
    done = subprocess.run([sys.executable, "-m", "tracker.run", *args], cwd=REPO, capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout, done.stderr


def test_image_folder_to_video_and_csv(clip, onnx_model, tmp_path):
    images, _, boxes = clip
    out, table = tmp_path / "annotated.mp4", tmp_path / "boxes.csv"
    code, stdout, stderr = run(images, "--box", box_arg(boxes[0]), "--model", onnx_model, "--out", str(out), "--boxes", str(table))
    assert code == 0, stderr
    assert "fps tracking" in stdout and f"over {FRAMES} frames" in stdout and str(out) in stdout
    rows = list(csv.DictReader(open(table)))
    assert [int(r["frame"]) for r in rows] == list(range(FRAMES))
    assert rows[0]["score"] == "" and [float(rows[0][k]) for k in "xywh"] == list(boxes[0])
    assert all(0.0 <= float(r["score"]) <= 1.0 and r["lost"] in ("0", "1") for r in rows[1:])
    capture = cv2.VideoCapture(str(out))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES
    assert sorted(os.listdir(tmp_path)) == ["annotated.mp4", "boxes.csv"]


def test_onnx_cli_never_imports_torch(clip, onnx_model):
    images, _, boxes = clip
    code = (
        "import sys\n"
        "from tracker.run import main\n"
        f"status = main([{images!r}, '--box', {box_arg(boxes[0])!r}, '--model', {onnx_model!r}, '--quiet', '--max-frames', '2'])\n"
        "assert status == 0 and 'torch' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_video_file_two_targets_json_max_frames(clip, onnx_model, tmp_path, capsys):
    _, video, boxes = clip
    table = tmp_path / "boxes.json"
    second = (20.0, 30.0, 50.0, 40.0)
    status = run_cli.main([video, "--box", box_arg(boxes[0]), "--box", box_arg(second), "--model", onnx_model,
                           "--boxes", str(table), "--max-frames", "4", "--quiet"])
    assert status == 0, capsys.readouterr().err
    records = json.load(open(table))
    assert [(r["frame"], r["target"]) for r in records] == [(f, t) for f in range(4) for t in range(2)]
    assert records[1]["box"] == list(second) and records[1]["score"] is None
    assert "tracked 2 targets over 4 frames" in capsys.readouterr().out


def test_torch_weights_file(clip, tmp_path, capsys):
    images, _, boxes = clip
    weights = tmp_path / "random.pt"
    save_weights(weights, random_model(TrackerConfig(), seed=0), TrackerConfig())
    status = run_cli.main([images, "--box", box_arg(boxes[0]), "--model", str(weights), "--device", "cpu", "--quiet", "--max-frames", "3"])
    assert status == 0, capsys.readouterr().err
    assert "over 3 frames" in capsys.readouterr().out


def test_refuses_to_overwrite_unless_forced(clip, onnx_model, tmp_path, capsys):
    images, _, boxes = clip
    table = tmp_path / "boxes.csv"
    table.write_text("keep me")
    args = [images, "--box", box_arg(boxes[0]), "--model", onnx_model, "--boxes", str(table), "--quiet", "--max-frames", "2"]
    assert run_cli.main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--force" in err and table.read_text() == "keep me"
    assert run_cli.main(args + ["--force"]) == 0
    assert table.read_text().startswith("frame,target")


def test_unopenable_source_is_one_line_and_writes_nothing(onnx_model, tmp_path):
    bad = tmp_path / "not_a_video.mp4"
    bad.write_bytes(b"\x00" * 1000)
    for source in (str(tmp_path / "missing.mp4"), str(bad)):
        code, _, stderr = run(source, "--box", "1,1,5,5", "--model", onnx_model, "--out", str(tmp_path / "o.mp4"), "--boxes", str(tmp_path / "b.csv"))
        assert code == 1 and stderr.startswith("error: ") and stderr.count("\n") == 1, stderr
    assert sorted(os.listdir(tmp_path)) == ["not_a_video.mp4"]


def test_error_mid_video_leaves_no_partial_outputs(clip, onnx_model, tmp_path, capsys):
    images, _, boxes = clip
    folder = tmp_path / "frames"
    folder.mkdir()
    for name in sorted(os.listdir(images))[:3]:
        os.link(os.path.join(images, name), folder / name)
    cv2.imwrite(str(folder / "0004.png"), np.zeros((100, 100, 3), np.uint8))  # a frame of another size
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    status = run_cli.main([str(folder), "--box", box_arg(boxes[0]), "--model", onnx_model, "--quiet",
                           "--out", str(out_dir / "a.mp4"), "--boxes", str(out_dir / "b.json")])
    assert status == 1 and "frame size changed" in capsys.readouterr().err
    assert os.listdir(out_dir) == []


def test_bad_arguments_are_clear(clip, onnx_model, tmp_path, capsys, monkeypatch):
    images, _, boxes = clip
    with pytest.raises(SystemExit) as exit_info:
        run_cli.main([images, "--box", box_arg(boxes[0]), "--boxes", str(tmp_path / "b.txt")])
    assert exit_info.value.code == 2 and "--boxes must end in .csv or .json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_cli.main([images, "--box", "1,2,3"])
    assert "four comma-separated numbers" in capsys.readouterr().err
    video = tmp_path / "in.mp4"
    video.write_bytes(b"not really a video")
    with pytest.raises(SystemExit):
        run_cli.main([str(video), "--box", "1,2,3,4", "--out", str(video), "--force"])
    assert "is the source itself" in capsys.readouterr().err and video.read_bytes() == b"not really a video"
    assert run_cli.main([images, "--box", "1000,1000,5,5", "--model", onnx_model, "--quiet"]) == 1
    assert "outside" in capsys.readouterr().err
    assert run_cli.main([images, "--box", box_arg(boxes[0]), "--model", str(tmp_path / "w.h5")]) == 1
    assert "cannot tell what kind of model" in capsys.readouterr().err
    import tracker.shipped

    monkeypatch.setattr(tracker.shipped, "WEIGHTS_FOLDER", tmp_path / "empty")
    assert run_cli.main([images, "--box", box_arg(boxes[0])]) == 1
    assert "no shipped model in" in capsys.readouterr().err
    assert run_cli.main([images, "--box", box_arg(boxes[0]), "--int8"]) == 1
    assert "no int8 model" in capsys.readouterr().err
