"""demos/track_webcam.py without a camera or a display."""
import importlib.util
from pathlib import Path

import cv2
import pytest

DEMO_PATH = Path(__file__).resolve().parent.parent / "demos" / "track_webcam.py"


@pytest.fixture(scope="module")
def demo():
    spec = importlib.util.spec_from_file_location("track_webcam", DEMO_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def no_windows(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("a window was opened in headless mode")

    monkeypatch.setattr(cv2, "imshow", forbidden)
    monkeypatch.setattr(cv2, "selectROI", forbidden)


def frame_count(path):
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    return count


@pytest.mark.parametrize(
    "key, action",
    [(ord("q"), "quit"), (27, "quit"), (ord(" "), "reselect"), (ord("r"), "reselect"),
     (ord("p"), "pause"), (ord("x"), None), (-1, None), (0x100000 | ord("q"), "quit")],
)
def test_key_action(demo, key, action):
    assert demo.key_action(key) == action


def test_parse_args(demo, capsys):
    args = demo.parse_args(["--source", "clip.mp4", "--box", "1,2,3,4.5", "--no-display", "--out", "o.mp4"])
    assert (args.source, args.box, args.no_display, args.out) == ("clip.mp4", (1.0, 2.0, 3.0, 4.5), True, "o.mp4")
    with pytest.raises(SystemExit):
        demo.parse_args(["--box", "1,2,3"])
    assert "four comma-separated numbers" in capsys.readouterr().err
    assert demo.parse_args(["--int8"]).int8 is True and demo.parse_args(["--fp32"]).int8 is False
    assert demo.parse_args([]).int8 is None
    with pytest.raises(SystemExit):
        demo.parse_args(["--int8", "--fp32"])


def test_model_choice_prefers_onnx_and_honours_int8_and_fp32(demo, tmp_path, monkeypatch, capsys):
    import tracker.shipped as shipped

    pytest.importorskip("onnxruntime")
    monkeypatch.setattr(shipped, "WEIGHTS_FOLDER", tmp_path)
    for name in ("box_mobilenet_v2.pt", "box_mobilenet_v2.template.onnx", "box_mobilenet_v2.search.onnx",
                 "siamfc_mobilenet_v2.int8.template.onnx", "siamfc_mobilenet_v2.int8.search.onnx"):
        (tmp_path / name).write_bytes(b"")
    assert shipped.default_model() == tmp_path / "box_mobilenet_v2.onnx"
    assert shipped.default_model(int8=False) == tmp_path / "box_mobilenet_v2.onnx"
    with pytest.raises(ValueError, match="no int8 model"):
        shipped.default_model(int8=True)  # the SiamFC int8 pair beside it is not the default model's
    (tmp_path / "box_mobilenet_v2.search.onnx").unlink()  # half a pair is no ONNX model
    assert shipped.default_model() == tmp_path / "box_mobilenet_v2.pt"


def test_headless_bundled_clip_writes_video(demo, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    code = demo.main(["--source", str(demo.BUNDLED_CLIP), "--box", "232,258,286,300",
                      "--out", str(out), "--no-display", "--max-frames", "6"])
    assert code == 0
    assert frame_count(out) == 6
    assert not list(tmp_path.glob("*.partial*"))
    printed = capsys.readouterr().out
    assert f"to {out}" in printed and "fps" in printed


def test_missing_camera_falls_back_to_bundled_clip(demo, tmp_path, capsys):
    out = tmp_path / "fallback.mp4"
    assert demo.main(["--source", "7", "--no-display", "--out", str(out), "--max-frames", "3"]) == 0
    printed = capsys.readouterr().out
    assert "No camera" in printed and "bundled clip" in printed
    assert frame_count(out) == 3


def test_no_display_without_box_tracks_bundled_clip(demo, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo, "display_available", lambda: False)
    monkeypatch.chdir(tmp_path)
    assert demo.main(["--source", str(demo.BUNDLED_CLIP), "--max-frames", "2"]) == 0
    assert (tmp_path / "tracked_bigbuckbunny.mp4").exists()  # the default output name
    assert "No display" in capsys.readouterr().out


def test_existing_output_is_not_overwritten(demo, tmp_path, capsys):
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"precious")
    assert demo.main(["--no-display", "--out", str(out), "--max-frames", "2"]) == 2
    assert out.read_bytes() == b"precious"
    assert "already exists" in capsys.readouterr().err


def test_missing_source_file_is_one_line_error(demo, tmp_path, capsys):
    assert demo.main(["--source", str(tmp_path / "nope.mp4"), "--box", "1,2,3,4", "--no-display"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: video source not found") and "Traceback" not in err
