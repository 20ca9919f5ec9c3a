import os
import re
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from tools.synthetic import moving_texture_clip
from tracker.errors import MissingFileError
from tracker.video import (STALE_PARTIAL_SECONDS, VIDEO_EXTENSIONS, AtomicVideoWriter, FrameSource, check_output_path,
                           check_separate, container_cut_short, parse_box, parse_source, partial_path,
                           Terminated, remove_stale_partials, same_file, sigterm_as_interrupt, unused_path)


def test_parse_box_and_source():
    assert parse_box(" 1, 2.5,3 ,4") == (1.0, 2.5, 3.0, 4.0)
    for bad in ("1,2,3", "a,b,c,d", ""):
        with pytest.raises(ValueError, match="four comma-separated numbers"):
            parse_box(bad)
    assert parse_source("0") == 0 and parse_source("clip.mp4") == "clip.mp4"


def test_unused_path(tmp_path):
    path = tmp_path / "a.mp4"
    assert unused_path(str(path)) == str(path)
    path.write_bytes(b"x")
    (tmp_path / "a-1.mp4").write_bytes(b"x")
    assert unused_path(str(path)) == str(tmp_path / "a-2.mp4")


def test_writer_renames_on_success_and_discards_on_error(tmp_path):
    frame = np.zeros((48, 64, 3), np.uint8)
    good = tmp_path / "good.mp4"
    with AtomicVideoWriter(str(good), 10.0) as writer:
        for _ in range(3):
            writer.write(frame)
    assert good.exists() and not (tmp_path / "good.partial.mp4").exists()
    bad = tmp_path / "bad.mp4"
    with pytest.raises(RuntimeError):
        with AtomicVideoWriter(str(bad), 10.0) as writer:
            writer.write(frame)
            raise RuntimeError("stream died")
    assert not bad.exists() and not (tmp_path / "bad.partial.mp4").exists()


def test_writer_refuses_existing_file(tmp_path):
    path = tmp_path / "exists.mp4"
    path.write_bytes(b"keep")
    with pytest.raises(FileExistsError, match="--force"):
        AtomicVideoWriter(str(path), 10.0)
    AtomicVideoWriter(str(path), 10.0, overwrite=True)  # allowed with force


def test_image_folder_source(tmp_path):
    for index in range(3):
        cv2.imwrite(str(tmp_path / f"{index:04d}.png"), np.full((8, 10, 3), index * 50, np.uint8))
    (tmp_path / "notes.txt").write_text("ignored")
    with FrameSource(str(tmp_path)) as source:
        frames = list(source)
    assert [int(f[0, 0, 0]) for f in frames] == [0, 50, 100]


def test_image_folder_source_names_an_undecodable_image(tmp_path):
    cv2.imwrite(str(tmp_path / "0000.png"), np.zeros((8, 10, 3), np.uint8))
    (tmp_path / "0001.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    with FrameSource(str(tmp_path)) as source:
        assert source.read().shape == (8, 10, 3)
        with pytest.raises(ValueError, match="could not decode image .*0001.png"):
            source.read()


def test_bad_sources(tmp_path):
    with pytest.raises(MissingFileError, match="video source not found"):
        FrameSource(str(tmp_path / "missing.mp4"))
    with pytest.raises(ValueError, match="holds no images"):
        FrameSource(str(tmp_path))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    with pytest.raises(ValueError, match="could not open"):
        FrameSource(str(junk))


# ---------------------------------------------------------------------------------------
# Inputs and outputs never the same file; output paths checked before any work


def test_same_file_sees_through_symbolic_and_hard_links(tmp_path):
    source = tmp_path / "src.mp4"
    source.write_bytes(b"video")
    (tmp_path / "link.mp4").symlink_to(source)
    os.link(source, tmp_path / "hard.mp4")
    (tmp_path / "other.mp4").write_bytes(b"video")
    for name in ("src.mp4", "link.mp4", "hard.mp4", "./src.mp4"):
        assert same_file(str(tmp_path / name), str(source)), name
    assert not same_file(str(tmp_path / "other.mp4"), str(source))
    assert not same_file(str(tmp_path / "missing.mp4"), str(source))


def test_check_separate_names_the_link(tmp_path):
    source = tmp_path / "src.mp4"
    source.write_bytes(b"video")
    (tmp_path / "link.mp4").symlink_to(source)
    with pytest.raises(ValueError, match=r"--out '.*src.mp4' is the source itself \(through a link: both are .*src.mp4\)"):
        check_separate([("source", str(tmp_path / "link.mp4"))], [("--out", str(source))])
    with pytest.raises(ValueError, match="--out and --boxes must be different files"):
        check_separate([], [("--out", str(source)), ("--boxes", str(tmp_path / "link.mp4"))])
    check_separate([("source", str(source))], [("--out", str(tmp_path / "new.mp4"))])


def test_check_output_path_refuses_folders_and_other_extensions(tmp_path):
    (tmp_path / "DIR.mp4").mkdir()
    for overwrite in (False, True):
        with pytest.raises(ValueError, match="is a folder"):
            check_output_path(str(tmp_path / "DIR.mp4"), overwrite)
    with pytest.raises(ValueError, match=r"must end in \.mp4"):
        check_output_path(str(tmp_path / "a.png"), False, VIDEO_EXTENSIONS)
    with pytest.raises(MissingFileError, match="output folder does not exist"):
        check_output_path(str(tmp_path / "missing" / "a.mp4"), False)
    assert check_output_path(str(tmp_path / "a.mp4"), False, VIDEO_EXTENSIONS) == []


def test_writer_refuses_frames_too_large_for_mp4v_without_blaming_the_extension(tmp_path):
    path = tmp_path / "big.mp4"
    with pytest.raises(ValueError, match=r"frames of 10000x10000 are too large .* at most 8191 pixels a side") as error:
        with AtomicVideoWriter(str(path), 10.0) as writer:
            writer.write(np.zeros((10000, 10000, 3), np.uint8))  # calloc'ed, never touched
    assert "extension" not in str(error.value)
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------------------
# Partial files: the pid in the name, and what a later run removes


def dead_pid():
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_partial_names_carry_the_pid(tmp_path):
    name = os.path.basename(partial_path(str(tmp_path / "out.mp4")))
    assert re.fullmatch(rf"out\.{os.getpid()}-[0-9a-f]{{8}}\.partial\.mp4", name), name


def test_stale_partials_of_the_same_output_are_removed(tmp_path):
    gone = dead_pid()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        names = {
            f"out.{gone}-0123abcd.partial.mp4": True,  # its writer is gone
            f"out.{alive.pid}-0123abcd.partial.mp4": False,  # still being written
            f"out.{os.getpid()}-0123abcd.partial.mp4": False,  # this process's own
            "out.0123abcd.partial.mp4": False,  # an old name without pid, recent
            f"other.{gone}-0123abcd.partial.mp4": False,  # another output's
            f"out.{gone}-0123abcd.partial.csv": False,  # another extension: another output
            "out.mp4": False,
        }
        for name in names:
            (tmp_path / name).write_bytes(b"x")
        removed = remove_stale_partials(str(tmp_path / "out.mp4"))
        assert sorted(os.path.basename(p) for p in removed) == sorted(n for n, stale in names.items() if stale)
        assert sorted(os.listdir(tmp_path)) == sorted(n for n, stale in names.items() if not stale)
        # A day later even a partial whose pid is in use, and one without a pid, are stale.
        later = time.time() + STALE_PARTIAL_SECONDS + 60
        removed = remove_stale_partials(str(tmp_path / "out.mp4"), now=later)
        assert sorted(os.path.basename(p) for p in removed) == sorted(
            ["out.0123abcd.partial.mp4", f"out.{alive.pid}-0123abcd.partial.mp4", f"out.{os.getpid()}-0123abcd.partial.mp4"])
    finally:
        alive.kill()
        alive.wait()


def test_check_output_path_removes_stale_partials_when_the_run_goes_ahead(tmp_path):
    stale = tmp_path / f"out.{dead_pid()}-0123abcd.partial.mp4"
    stale.write_bytes(b"x")
    (tmp_path / "out.mp4").write_bytes(b"keep")
    with pytest.raises(FileExistsError):
        check_output_path(str(tmp_path / "out.mp4"), False)
    assert stale.exists()  # a refused run touches nothing
    assert check_output_path(str(tmp_path / "out.mp4"), True) == [str(stale)]
    assert sorted(os.listdir(tmp_path)) == ["out.mp4"]


# ---------------------------------------------------------------------------------------
# Streams that never send; video files that end early


def test_stream_that_never_sends_times_out(silent_server):
    started = time.monotonic()
    with pytest.raises(ValueError, match=r"no answer from video source .* within 1 s"):
        FrameSource(f"http://127.0.0.1:{silent_server}/live.mp4", timeout=1)
    assert time.monotonic() - started < 10  # OpenCV's own default is 30 s
    with pytest.raises(ValueError, match="timeout must be > 0"):
        FrameSource(f"http://127.0.0.1:{silent_server}/live.mp4", timeout=0)


WIDTH, HEIGHT, FRAMES = 160, 120, 30


@pytest.fixture(scope="module")
def frames():
    return moving_texture_clip(frame_count=FRAMES, width=WIDTH, height=HEIGHT, target_size=(32, 32), step=2.0, seed=0)[0]


def write_video(path, frames, fourcc):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25, (WIDTH, HEIGHT))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path.read_bytes()


def damaged(path, data, start=0.45, stop=0.55):
    """``data`` with the bytes from ``start`` to ``stop`` (fractions of its length) zeroed."""
    data = bytearray(data)
    first, last = int(len(data) * start), int(len(data) * stop)
    data[first:last] = bytes(last - first)
    path.write_bytes(bytes(data))
    return path


def test_container_cut_short(tmp_path, frames):
    avi = write_video(tmp_path / "whole.avi", frames, "MJPG")
    mp4 = write_video(tmp_path / "whole.mp4", frames, "mp4v")
    (tmp_path / "cut.avi").write_bytes(avi[: len(avi) // 2])
    (tmp_path / "cut.mp4").write_bytes(mp4[: len(mp4) // 2])
    damaged(tmp_path / "damaged.avi", avi)
    damaged(tmp_path / "damaged.mp4", mp4)
    (tmp_path / "other.mkv").write_bytes(b"\x1a\x45\xdf\xa3" + bytes(100))
    expected = {"whole.avi": False, "whole.mp4": False, "cut.avi": True, "cut.mp4": True, "damaged.avi": False,
                "damaged.mp4": False, "other.mkv": None, "missing.avi": None}
    assert {name: container_cut_short(str(tmp_path / name)) for name in expected} == expected


def read_all(path):
    with FrameSource(str(path)) as source:
        return list(source), source.note


def test_video_that_lost_frames_inside_is_an_error_not_an_early_end(tmp_path, frames):
    """An MJPG AVI with zeroed bytes in the middle: OpenCV skips the damaged frames without a
    word, so the frames after them would be numbered too low."""
    avi = damaged(tmp_path / "damaged.avi", write_video(tmp_path / "whole.avi", frames, "MJPG"))
    with pytest.raises(ValueError, match=r"damaged\.avi is damaged: \d+ of the 30 frames .* wrong numbers"):
        read_all(avi)


def test_video_damaged_at_a_known_frame_stops_there_with_true_numbers(tmp_path, frames):
    """An mp4 with zeroed bytes in the middle: reading fails at the damage, later frames decode."""
    mp4 = damaged(tmp_path / "damaged.mp4", write_video(tmp_path / "whole.mp4", frames, "mp4v"))
    read, note = read_all(mp4)
    assert 0 < len(read) < FRAMES
    assert note.startswith(f"frame {len(read)} of {mp4} cannot be decoded though later frames can")
    for index in range(len(read) - 1):  # the last one may be concealed damage
        errors = [np.abs(read[index].astype(int) - frame.astype(int)).mean() for frame in frames]
        assert int(np.argmin(errors)) == index


def test_truncated_video_ends_early_with_a_note(tmp_path, frames):
    avi = write_video(tmp_path / "whole.avi", frames, "MJPG")
    (tmp_path / "cut.avi").write_bytes(avi[: len(avi) // 2])
    read, note = read_all(tmp_path / "cut.avi")
    assert note == f"the source ended after {len(read)} frames; its header announced 30 (the file is cut short: truncated)"
    assert read_all(tmp_path / "whole.avi")[1] is None


def test_sigterm_raises_terminated_once_then_has_its_default_action():
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated):
        with sigterm_as_interrupt():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)  # the handler raises here, at the latest
            finally:
                assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # a second SIGTERM ends the process
    assert signal.getsignal(signal.SIGTERM) is previous
    assert issubclass(Terminated, KeyboardInterrupt)  # the Ctrl-C clean-up runs for it
