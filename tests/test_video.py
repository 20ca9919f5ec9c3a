import cv2
import numpy as np
import pytest

from tracker.errors import MissingFileError
from tracker.video import AtomicVideoWriter, FrameSource, parse_box, parse_source, unused_path


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
