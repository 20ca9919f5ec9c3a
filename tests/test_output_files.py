"""What the CLI and the demo write: never over an existing file without --force, and nothing
half-written (no partial or temporary file) when a run fails part-way."""
import importlib.util
import os
from pathlib import Path

import cv2
import pytest

from tracker import TrackerConfig
from tracker import run as run_cli
from tracker.export.exporter import export_onnx, random_model
from tools.soak import soak_config
from tools.synthetic import moving_texture_clip
from tracker.video import FrameSource
from tracker.weights import save_weights

WIDTH, HEIGHT = 160, 120
FRAMES = 8
DEMO_PATH = Path(__file__).resolve().parent.parent / "demos" / "track_webcam.py"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    frames, boxes = moving_texture_clip(frame_count=FRAMES, width=WIDTH, height=HEIGHT, target_size=(30, 30), step=3.0, seed=6)
    video = tmp_path_factory.mktemp("clip") / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25, (WIDTH, HEIGHT))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return str(video), ",".join(str(v) for v in boxes[0])


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory):
    config = soak_config(small=True)
    stem = str(tmp_path_factory.mktemp("onnx") / "small")
    export_onnx(random_model(config, seed=0), config, stem)
    return stem + ".onnx"


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    config = soak_config(small=True)
    path = tmp_path_factory.mktemp("weights") / "small.pt"
    save_weights(path, random_model(config, seed=0), config)
    return str(path)


def failing_source(after, error, live=False, on_read=None):
    """A FrameSource that raises ``error`` instead of its frame ``after`` (0-based); ``live``
    makes it look like a camera (no frame count); ``on_read(index)`` runs before each read."""

    class Failing(FrameSource):
        def __init__(self, source, **options):
            super().__init__(source, **options)
            self.served = 0

        @property
        def frame_count(self):
            return None if live else super().frame_count

        def read(self):
            if on_read:
                on_read(self.served)
            if self.served >= after:
                raise error
            self.served += 1
            return super().read()

    return Failing


def leftovers(folder):
    return sorted(name for name in os.listdir(folder))


OUTPUTS = {"video": ["a.mp4"], "csv": ["b.csv"], "json": ["b.json"], "all": ["a.mp4", "b.csv"]}


def output_args(folder, names):
    args = []
    for name in names:
        args += ["--out" if name.endswith(".mp4") else "--boxes", str(folder / name)]
    return args


# ---------------------------------------------------------------------------------------
# The CLI


@pytest.mark.parametrize(
    "outputs, error",
    [("video", RuntimeError("camera disconnected")), ("csv", OSError("read error")), ("json", ValueError("bad frame")),
     ("all", RuntimeError("camera disconnected"))],
)
def test_cli_error_mid_stream_leaves_nothing(clip, onnx_model, tmp_path, monkeypatch, capsys, outputs, error):
    video, box = clip
    monkeypatch.setattr(run_cli, "FrameSource", failing_source(after=4, error=error))
    status = run_cli.main([video, "--box", box, "--model", onnx_model, "--quiet", *output_args(tmp_path, OUTPUTS[outputs])])
    err = capsys.readouterr().err
    assert status == 1 and err.startswith("error: ") and str(error) in err, err
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("outputs", ["video", "csv", "json"])
def test_cli_error_with_force_keeps_the_existing_file(clip, onnx_model, tmp_path, monkeypatch, capsys, outputs):
    video, box = clip
    (name,) = OUTPUTS[outputs]
    (tmp_path / name).write_bytes(b"the old output")
    monkeypatch.setattr(run_cli, "FrameSource", failing_source(after=3, error=RuntimeError("stream died")))
    status = run_cli.main([video, "--box", box, "--model", onnx_model, "--quiet", "--force", *output_args(tmp_path, [name])])
    assert status == 1 and "stream died" in capsys.readouterr().err
    assert leftovers(tmp_path) == [name] and (tmp_path / name).read_bytes() == b"the old output"


@pytest.mark.parametrize("outputs", ["video", "json"])
def test_cli_never_overwrites_without_force(clip, onnx_model, tmp_path, capsys, outputs):
    video, box = clip
    (name,) = OUTPUTS[outputs]
    (tmp_path / name).write_bytes(b"keep me")
    status = run_cli.main([video, "--box", box, "--model", onnx_model, "--quiet", *output_args(tmp_path, [name])])
    err = capsys.readouterr().err
    assert status == 1 and "already exists" in err and "--force" in err
    assert leftovers(tmp_path) == [name] and (tmp_path / name).read_bytes() == b"keep me"
    assert run_cli.main([video, "--box", box, "--model", onnx_model, "--quiet", "--force", *output_args(tmp_path, [name])]) == 0
    assert leftovers(tmp_path) == [name] and (tmp_path / name).read_bytes() != b"keep me"


def test_cli_output_that_appears_while_writing_is_kept(clip, onnx_model, tmp_path, monkeypatch, capsys):
    """Someone else creates the output file during the run: it is not replaced."""
    video, box = clip
    table = tmp_path / "b.csv"

    def intruder(index):
        if index == 3:
            table.write_text("written meanwhile")

    monkeypatch.setattr(run_cli, "FrameSource", failing_source(after=FRAMES + 1, error=AssertionError, on_read=intruder))
    status = run_cli.main([video, "--box", box, "--model", onnx_model, "--quiet", *output_args(tmp_path, ["a.mp4", "b.csv"])])
    err = capsys.readouterr().err
    assert status == 1 and "appeared while the output was being written" in err, err
    assert table.read_text() == "written meanwhile"
    assert leftovers(tmp_path) == ["a.mp4", "b.csv"]  # the video was complete and published first; no temporary files


def test_cli_ctrl_c_on_a_file_discards_and_on_a_camera_keeps(clip, onnx_model, tmp_path, monkeypatch, capsys):
    video, box = clip
    file_run, camera_run = tmp_path / "file", tmp_path / "camera"
    file_run.mkdir()
    camera_run.mkdir()
    monkeypatch.setattr(run_cli, "FrameSource", failing_source(after=4, error=KeyboardInterrupt()))
    assert run_cli.main([video, "--box", box, "--model", onnx_model, "--quiet", *output_args(file_run, OUTPUTS["all"])]) == 130
    assert leftovers(file_run) == []
    monkeypatch.setattr(run_cli, "FrameSource", failing_source(after=4, error=KeyboardInterrupt(), live=True))
    assert run_cli.main([video, "--box", box, "--model", onnx_model, "--quiet", *output_args(camera_run, OUTPUTS["all"])]) == 0
    assert leftovers(camera_run) == ["a.mp4", "b.csv"]
    assert len((camera_run / "b.csv").read_text().splitlines()) == 1 + 4  # header + the 4 frames read
    capture = cv2.VideoCapture(str(camera_run / "a.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    capture.release()


def test_cli_unwritable_video_format_is_refused_before_anything_runs(clip, onnx_model, tmp_path, capsys):
    video, box = clip
    with pytest.raises(SystemExit) as exit_info:
        run_cli.main([video, "--box", box, "--model", onnx_model, "--quiet",
                      "--out", str(tmp_path / "a.png"), "--boxes", str(tmp_path / "b.csv")])
    assert exit_info.value.code == 2 and "--out must end in .mp4, .avi" in capsys.readouterr().err
    assert leftovers(tmp_path) == []


def test_cli_success_leaves_only_the_outputs(clip, onnx_model, tmp_path, capsys):
    video, box = clip
    assert run_cli.main([video, "--box", box, "--model", onnx_model, "--quiet", *output_args(tmp_path, ["a.mp4", "b.json"])]) == 0
    assert leftovers(tmp_path) == ["a.mp4", "b.json"]


# ---------------------------------------------------------------------------------------
# The demo (headless)


@pytest.fixture(scope="module")
def demo():
    spec = importlib.util.spec_from_file_location("track_webcam_files", DEMO_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def demo_args(clip, weights, out=None, *extra):
    video, box = clip
    args = ["--source", video, "--box", box, "--model", weights, "--no-display", *extra]
    return args + (["--out", str(out)] if out else [])


def test_demo_error_mid_stream_leaves_nothing(demo, clip, weights, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo, "FrameSource", failing_source(after=4, error=RuntimeError("camera disconnected")))
    with pytest.raises(RuntimeError, match="camera disconnected"):  # not a user error: the demo lets it show
        demo.main(demo_args(clip, weights, tmp_path / "out.mp4"))
    assert leftovers(tmp_path) == []
    monkeypatch.setattr(demo, "FrameSource", failing_source(after=4, error=OSError("read error")))
    assert demo.main(demo_args(clip, weights, tmp_path / "out.mp4")) != 0
    assert "read error" in capsys.readouterr().err
    assert leftovers(tmp_path) == []


def test_demo_error_with_force_keeps_the_existing_file(demo, clip, weights, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"the old video")
    monkeypatch.setattr(demo, "FrameSource", failing_source(after=3, error=OSError("read error")))
    assert demo.main(demo_args(clip, weights, out, "--force")) != 0
    assert leftovers(tmp_path) == ["out.mp4"] and out.read_bytes() == b"the old video"


def test_demo_default_output_name_never_replaces_a_file(demo, clip, weights, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tracked_clip.mp4").write_bytes(b"an earlier run")
    assert demo.main(demo_args(clip, weights, None, "--max-frames", "3")) == 0
    assert (tmp_path / "tracked_clip.mp4").read_bytes() == b"an earlier run"
    assert leftovers(tmp_path) == ["tracked_clip-1.mp4", "tracked_clip.mp4"]
    assert "tracked_clip-1.mp4" in capsys.readouterr().out
