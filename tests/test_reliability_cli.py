"""``python -m tracker.run`` (and the demo) on the reliability issues: an output that is an input
through a link, SIGTERM and a killed run, damaged videos, outputs checked before tracking,
streams that never send, and contradictory options. Each test reproduces one reported case."""
import csv
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from tools.soak import soak_config
from tools.synthetic import moving_texture_clip
from tracker import run as run_cli
from tracker import video
from tracker.export.exporter import export_onnx, random_model
from tracker.video import FrameSource, Terminated
from tracker.weights import save_weights

REPO = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT = 160, 120
FRAMES = 30


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 30-frame MJPG AVI and its first box."""
    frames, boxes = moving_texture_clip(frame_count=FRAMES, width=WIDTH, height=HEIGHT, target_size=(32, 32), step=2.0, seed=5)
    path = tmp_path_factory.mktemp("clip") / "clip.avi"
    write_avi(path, frames)
    return path, ",".join(str(v) for v in boxes[0]), frames


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory):
    config = soak_config(small=True)
    stem = str(tmp_path_factory.mktemp("onnx") / "small")
    export_onnx(random_model(config, seed=0), config, stem)
    return stem + ".onnx"


def write_avi(path, frames):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (WIDTH, HEIGHT))
    for frame in frames:
        writer.write(frame)
    writer.release()


def frame_count(path):
    capture = cv2.VideoCapture(str(path))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    return count


def run(capsys, *args):
    """The CLI in this process: (status, stdout, stderr); a parser error is status 2."""
    try:
        status = run_cli.main([str(a) for a in args])
    except SystemExit as exit_info:
        status = exit_info.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# ---------------------------------------------------------------------------------------
# 2. An output is never an input, under any name, with or without --force


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_source_through_a_symlink_is_never_overwritten(clip, onnx_model, tmp_path, capsys, force):
    """ln -s src.avi link.avi; tracker.run link.avi --out src.avi --force replaced the source."""
    source = tmp_path / "src.avi"
    source.write_bytes(clip[0].read_bytes())
    (tmp_path / "link.avi").symlink_to(source)
    status, out, err = run(capsys, tmp_path / "link.avi", "--box", clip[1], "--model", onnx_model, "--quiet",
                           "--max-frames", "10", "--out", source, *force)
    assert status == 2 and f"--out '{source}' is the source itself (through a link" in err, err
    assert source.read_bytes() == clip[0].read_bytes() and frame_count(source) == FRAMES
    # The other way round: the output named through the link.
    status, _, err = run(capsys, source, "--box", clip[1], "--model", onnx_model, "--quiet", "--out", tmp_path / "link.avi", *force)
    assert status == 2 and "is the source itself" in err
    assert sorted(os.listdir(tmp_path)) == ["link.avi", "src.avi"]


def test_hard_links_and_box_files_are_compared_too(clip, onnx_model, tmp_path, capsys):
    source = tmp_path / "src.avi"
    source.write_bytes(clip[0].read_bytes())
    os.link(source, tmp_path / "hard.avi")
    status, _, err = run(capsys, source, "--box", clip[1], "--model", onnx_model, "--out", tmp_path / "hard.avi", "--force")
    assert status == 2 and "is the source itself (hard links to one file)" in err
    # A video OpenCV opens whatever its name; a box file must not replace it either.
    named_csv = tmp_path / "video.csv"
    named_csv.write_bytes(clip[0].read_bytes())
    (tmp_path / "b.csv").symlink_to(named_csv)
    status, _, err = run(capsys, named_csv, "--box", clip[1], "--model", onnx_model, "--boxes", tmp_path / "b.csv", "--force")
    assert status == 2 and "--boxes" in err and "is the source itself" in err
    assert named_csv.read_bytes() == clip[0].read_bytes()


def test_model_files_are_inputs_too(clip, tmp_path, capsys):
    weights = tmp_path / "small.pt"
    config = soak_config(small=True)
    save_weights(weights, random_model(config, seed=0), config)
    (tmp_path / "boxes.json").symlink_to(weights)
    status, _, err = run(capsys, clip[0], "--box", clip[1], "--model", weights, "--boxes", tmp_path / "boxes.json", "--force")
    assert status == 2 and "is the --model itself" in err


# ---------------------------------------------------------------------------------------
# 3. SIGTERM cleans up like Ctrl-C; a killed run's partials are removed by the next run


def start_run(source, onnx_model, out_dir, *extra):
    command = [sys.executable, "-m", "tracker.run", str(source), "--box", "60,40,32,32", "--model", onnx_model, "--quiet",
               "--out", str(out_dir / "a.mp4"), "--boxes", str(out_dir / "b.csv"), *extra]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_partials(process, folder, count=2, timeout=120):
    """Wait until the run has written its first frames (both partial files exist)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        partials = [name for name in os.listdir(folder) if ".partial." in name]
        if len(partials) == count and all(os.path.getsize(folder / name) > 0 for name in partials):
            return sorted(partials)
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    raise AssertionError(f"no partial files in {folder} after {timeout} s")


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    frames, boxes = moving_texture_clip(frame_count=600, width=WIDTH, height=HEIGHT, target_size=(32, 32), step=2.0, seed=7)
    path = tmp_path_factory.mktemp("long") / "long.avi"
    write_avi(path, frames)
    return path


def test_sigterm_leaves_no_partial_files(long_clip, onnx_model, tmp_path):
    process = start_run(long_clip, onnx_model, tmp_path)
    wait_for_partials(process, tmp_path)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert "error: terminated (SIGTERM); no output written" in err
    assert os.listdir(tmp_path) == []


def test_partials_of_a_killed_run_are_removed_by_the_next_run_of_that_output(long_clip, onnx_model, tmp_path):
    process = start_run(long_clip, onnx_model, tmp_path)
    partials = wait_for_partials(process, tmp_path)
    assert all(name.startswith((f"a.{process.pid}-", f"b.{process.pid}-")) for name in partials), partials
    process.kill()
    process.wait()
    assert sorted(os.listdir(tmp_path)) == partials  # SIGKILL: nothing can clean up
    again = start_run(long_clip, onnx_model, tmp_path, "--max-frames", "3")
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    for name in partials:
        assert f"note: removed {tmp_path / name}, left by an earlier run that was killed" in err
    assert sorted(os.listdir(tmp_path)) == ["a.mp4", "b.csv"]


def failing_source(after, error, live=False):
    class Failing(FrameSource):
        served = 0

        @property
        def frame_count(self):
            return None if live else super().frame_count

        def read(self):
            if self.served >= after:
                raise error
            self.served += 1
            return super().read()

    return Failing


def test_sigterm_on_a_live_source_keeps_what_was_tracked(clip, onnx_model, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(run_cli, "FrameSource", failing_source(after=4, error=Terminated(), live=True))
    status, out, err = run(capsys, clip[0], "--box", clip[1], "--model", onnx_model, "--quiet",
                           "--out", tmp_path / "a.mp4", "--boxes", tmp_path / "b.csv")
    assert status == 0 and "stopped (SIGTERM); keeping what was tracked" in err
    assert sorted(os.listdir(tmp_path)) == ["a.mp4", "b.csv"] and frame_count(tmp_path / "a.mp4") == 4


# ---------------------------------------------------------------------------------------
# 6. Damaged videos, outputs checked before tracking, streams, contradictory options


def zero_middle(path, data):
    data = bytearray(data)
    first, last = len(data) * 45 // 100, len(data) * 55 // 100
    data[first:last] = bytes(last - first)
    path.write_bytes(bytes(data))
    return path


def test_video_damaged_in_the_middle_is_not_reported_as_ended_early(clip, onnx_model, tmp_path, capsys):
    """Frames after the damage used to be numbered too low, with 'the source ended after N frames'."""
    source = zero_middle(tmp_path / "damaged.avi", clip[0].read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    status, _, err = run(capsys, source, "--box", clip[1], "--model", onnx_model, "--quiet",
                         "--out", out / "a.mp4", "--boxes", out / "b.csv")
    assert status == 1 and err.startswith(f"error: video {source} is damaged: ") and err.count("\n") == 1, err
    assert "ended after" not in err and os.listdir(out) == []


def test_mp4_damaged_in_the_middle_stops_at_the_damage_with_true_frame_numbers(clip, onnx_model, tmp_path, capsys):
    whole = tmp_path / "whole.mp4"
    writer = cv2.VideoWriter(str(whole), cv2.VideoWriter_fourcc(*"mp4v"), 25, (WIDTH, HEIGHT))
    for frame in clip[2]:
        writer.write(frame)
    writer.release()
    source = zero_middle(tmp_path / "damaged.mp4", whole.read_bytes())
    table = tmp_path / "b.csv"
    status, out, err = run(capsys, source, "--box", clip[1], "--model", onnx_model, "--quiet", "--boxes", table)
    assert status == 0, err
    tracked = int(out.split(" over ")[1].split(" frames")[0])
    assert 0 < tracked < FRAMES
    assert f"note: frame {tracked} of {source} cannot be decoded though later frames can" in err
    with open(table, newline="") as handle:
        assert [int(row["frame"]) for row in csv.DictReader(handle)] == list(range(tracked))


def test_output_folder_named_like_a_video_fails_before_tracking(clip, onnx_model, tmp_path, monkeypatch, capsys):
    """--out DIR.mp4 --force tracked the whole input, then failed with a raw Errno 21."""
    (tmp_path / "DIR.mp4").mkdir()

    def no_tracking(*args, **kwargs):
        raise AssertionError("the model was loaded: the output should have been refused first")

    monkeypatch.setattr(run_cli, "load_model", no_tracking)
    status, _, err = run(capsys, clip[0], "--box", clip[1], "--model", onnx_model, "--out", tmp_path / "DIR.mp4", "--force")
    assert status == 1 and err == f"error: {tmp_path / 'DIR.mp4'} is a folder; name a file to write (even with --force, a folder is never replaced)\n"
    (tmp_path / "DIR.csv").mkdir()
    status, _, err = run(capsys, clip[0], "--box", clip[1], "--model", onnx_model, "--boxes", tmp_path / "DIR.csv", "--force")
    assert status == 1 and "DIR.csv is a folder" in err and "Errno" not in err
    assert sorted(os.listdir(tmp_path)) == ["DIR.csv", "DIR.mp4"]


def test_frames_too_large_for_the_video_writer_are_not_blamed_on_the_extension(clip, onnx_model, tmp_path, monkeypatch, capsys):
    """A 10000x10000 source said 'is the extension .mp4 or .avi?'; here the limit is lowered
    to the test clip's size instead of decoding a 300 MB frame."""
    monkeypatch.setattr(video, "MAX_VIDEO_SIDE", WIDTH - 1)
    status, _, err = run(capsys, clip[0], "--box", clip[1], "--model", onnx_model, "--quiet",
                         "--out", tmp_path / "a.mp4", "--boxes", tmp_path / "b.csv")
    assert status == 1 and f"frames of {WIDTH}x{HEIGHT} are too large for the video writer" in err, err
    assert "extension" not in err and os.listdir(tmp_path) == []


def test_stream_that_never_sends_gives_up_after_timeout(onnx_model, silent_server, tmp_path, capsys):
    started = time.monotonic()
    status, _, err = run(capsys, f"http://127.0.0.1:{silent_server}/live.mp4", "--box", "1,1,10,10", "--model", onnx_model,
                         "--timeout", "1", "--boxes", tmp_path / "b.csv")
    assert time.monotonic() - started < 10  # it was 30 s, with no option
    assert status == 1 and err.startswith("error: no answer from video source") and "within 1 s" in err
    assert err.count("\n") == 1 and os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "options, words",
    [(["--threads", "-3"], "--threads must be >= 1, got -3"),
     (["--threads", "0"], "--threads must be >= 1, got 0"),
     (["--int8"], "--int8 chooses among the shipped models and cannot apply to --model"),
     (["--fp32"], "--fp32 chooses among the shipped models and cannot apply to --model"),
     (["--timeout", "0"], "--timeout must be > 0 seconds"),
     (["--out", "a.webm"], "--out must end in .mp4, .avi, .mov, .mkv, .m4v")],
)
def test_contradictory_options_are_usage_errors(clip, onnx_model, capsys, options, words):
    status, _, err = run(capsys, clip[0], "--box", clip[1], "--model", onnx_model, *options)
    assert status == 2 and words in err, err


@pytest.mark.parametrize(
    "options, words",
    [(["--device", "cuda"], "option(s) device do not apply to"),
     (["--device", "cpu", "--precision", "fp32"], "option(s) device do not apply to"),
     # bf16 is OpenVINO's precision for an ONNX pair, providers are onnxruntime's: both cannot hold
     (["--precision", "bf16", "--providers", "CPUExecutionProvider"], "precision 'bf16' is OpenVINO's")],
)
def test_options_of_another_runtime_with_an_onnx_model_are_refused(clip, onnx_model, capsys, options, words):
    status, _, err = run(capsys, clip[0], "--box", clip[1], "--model", onnx_model, *options)
    assert status == 1 and err.startswith("error: ") and words in err and err.count("\n") == 1, err


def test_onnx_options_with_torch_weights_are_refused(clip, tmp_path, capsys):
    weights = tmp_path / "small.pt"
    config = soak_config(small=True)
    save_weights(weights, random_model(config, seed=0), config)
    status, _, err = run(capsys, clip[0], "--box", clip[1], "--model", weights, "--threads", "2")
    assert status == 1 and "option(s) threads do not apply to" in err, err


# ---------------------------------------------------------------------------------------
# The demo writes a video too: the same rules


@pytest.fixture(scope="module")
def demo():
    spec = importlib.util.spec_from_file_location("track_webcam_reliability", REPO / "demos" / "track_webcam.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_never_writes_over_its_source_or_into_a_folder(demo, clip, tmp_path, capsys):
    source = tmp_path / "src.avi"
    source.write_bytes(clip[0].read_bytes())
    (tmp_path / "link.avi").symlink_to(source)
    (tmp_path / "DIR.mp4").mkdir()
    for out, words in ((source, "is the --source itself (through a link"), (tmp_path / "DIR.mp4", "is a folder")):
        status = demo.main(["--source", str(tmp_path / "link.avi"), "--box", clip[1], "--no-display", "--out", str(out), "--force"])
        err = capsys.readouterr().err
        assert status == 2 and words in err, err
    assert source.read_bytes() == clip[0].read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["DIR.mp4", "link.avi", "src.avi"]
