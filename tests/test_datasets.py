"""tracker.datasets: the layout registry, OTB/GOT-10k/video loaders, box files, the image
reader, split tables (splits.csv and README), the real data folder."""
import os
from types import MappingProxyType

import cv2
import numpy as np
import pytest

from tracker.datasets import (
    LAYOUTS,
    SPLITS_FILE,
    Layout,
    Sequence,
    detect_layout,
    load_dataset,
    load_got10k_sequence,
    load_otb_sequence,
    load_sequence,
    load_video_sequence,
    read_box_file,
    read_image,
    read_splits,
)
from tracker.datasets import layouts

REAL_DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data")
needs_real_data = pytest.mark.skipif(not os.path.isdir(REAL_DATA), reason="../shared/data (the real sequences) is not present")


def _write_frames(folder, names, size=(12, 10)):
    os.makedirs(folder, exist_ok=True)
    for index, name in enumerate(names):
        frame = np.full((size[1], size[0], 3), 20 * index, np.uint8)
        cv2.imwrite(os.path.join(folder, name), frame)


def _write_text(path, text):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def _otb(tmp_path, lines, frames=None, name="Seq"):
    folder = tmp_path / name
    _write_frames(str(folder / "img"), [f"{i:04d}.jpg" for i in range(1, (frames or len(lines)) + 1)])
    _write_text(str(folder / "groundtruth_rect.txt"), "\n".join(lines) + "\n")
    return str(folder)


def test_box_file_separators_nan_and_one_based(tmp_path):
    path = str(tmp_path / "boxes.txt")
    _write_text(path, "1,1,4,4\n2\t3\t4\t5\n3 4 5 6\n\nNaN,NaN,NaN,NaN\n4, 5,\t6 7\n")
    boxes = read_box_file(path, one_based=True)
    expected = [[0, 0, 4, 4], [1, 2, 4, 5], [2, 3, 5, 6], [np.nan] * 4, [3, 4, 6, 7]]
    np.testing.assert_array_equal(boxes, expected)
    np.testing.assert_array_equal(read_box_file(path, one_based=False)[0], [1, 1, 4, 4])


def test_box_file_partial_nan_row_is_all_nan(tmp_path):
    path = str(tmp_path / "boxes.txt")
    _write_text(path, "nan,2,3,4\n")
    assert np.isnan(read_box_file(path, one_based=True)).all()


def test_box_file_bad_line_names_the_line(tmp_path):
    path = str(tmp_path / "boxes.txt")
    _write_text(path, "1,2,3,4\n1,2,3\n")
    with pytest.raises(ValueError, match="line 2: expected four numbers"):
        read_box_file(path, one_based=True)
    with pytest.raises(ValueError, match="box file not found"):
        read_box_file(str(tmp_path / "missing.txt"), one_based=True)


def test_otb_sequence_loads_and_converts(tmp_path):
    folder = _otb(tmp_path, ["1,1,4,4", "2\t3\t4\t5", "3 4 5 6", "NaN,NaN,NaN,NaN"])
    sequence = load_otb_sequence(folder)
    assert sequence.name == "Seq" and len(sequence) == 4 and sequence.layout == "otb"
    assert sequence.init_box == (0.0, 0.0, 4.0, 4.0)
    np.testing.assert_array_equal(sequence.boxes[2], [2, 3, 5, 6])
    assert list(sequence.visible) == [True, True, True, False]
    frames = sequence.read_frames()
    assert len(frames) == 4 and frames[1].shape == (10, 12, 3) and frames[1].dtype == np.uint8
    np.testing.assert_array_equal(sequence.frame(2), frames[2])
    assert len(sequence.read_frames(2)) == 2
    assert load_sequence(folder).layout == "otb"


def test_otb_frames_sort_numerically(tmp_path):
    folder = tmp_path / "Seq"
    _write_frames(str(folder / "img"), ["0009.jpg", "0010.jpg", "0100.jpg"])
    _write_text(str(folder / "groundtruth_rect.txt"), "1,1,2,2\n1,1,2,2\n1,1,2,2\n")
    paths = load_otb_sequence(str(folder)).frame_paths
    assert [os.path.basename(p) for p in paths] == ["0009.jpg", "0010.jpg", "0100.jpg"]


def test_otb_frame_range(tmp_path):
    folder = tmp_path / "Seq"
    _write_frames(str(folder / "img"), [f"{i:04d}.jpg" for i in range(1, 6)])
    _write_text(str(folder / "groundtruth_rect.txt"), "1,1,2,2\n2,2,2,2\n3,3,2,2\n")
    sequence = load_otb_sequence(str(folder), frame_range=(2, 4))
    assert [os.path.basename(p) for p in sequence.frame_paths] == ["0002.jpg", "0003.jpg", "0004.jpg"]
    np.testing.assert_array_equal(sequence.boxes[:, 0], [0, 1, 2])
    with pytest.raises(ValueError, match="first <= last"):
        load_otb_sequence(str(folder), frame_range=(4, 2))


def test_otb_count_mismatch_and_missing_folder(tmp_path):
    folder = _otb(tmp_path, ["1,1,4,4"] * 3, frames=4)
    with pytest.raises(ValueError, match="3 boxes for 4 frames"):
        load_otb_sequence(folder)
    with pytest.raises(ValueError, match="sequence folder not found"):
        load_otb_sequence(str(tmp_path / "nope"))
    os.makedirs(tmp_path / "empty")
    with pytest.raises(ValueError, match="not a sequence"):
        load_sequence(str(tmp_path / "empty"))


def test_first_frame_without_box_cannot_initialise(tmp_path):
    sequence = load_otb_sequence(_otb(tmp_path, ["NaN,NaN,NaN,NaN", "1,1,4,4"]))
    with pytest.raises(ValueError, match="first frame has no ground-truth box"):
        sequence.init_box


def test_got10k_sequence_absence_and_cover(tmp_path):
    folder = tmp_path / "GOT-10k_Val_000001"
    _write_frames(str(folder), [f"{i:08d}.jpg" for i in range(1, 5)])
    _write_text(str(folder / "groundtruth.txt"), "1.0,2.0,3.0,4.0\n2,3,4,5\n0,0,0,0\n4\t5\t6\t7\n")
    _write_text(str(folder / "absence.label"), "0\n0\n1\n0\n")
    _write_text(str(folder / "cover.label"), "8\n0\n0\n5\n")
    sequence = load_got10k_sequence(str(folder))
    assert sequence.layout == "got10k" and len(sequence) == 4
    np.testing.assert_array_equal(sequence.boxes[0], [1, 2, 3, 4])  # GOT-10k boxes are not shifted
    assert np.isnan(sequence.boxes[2]).all()
    assert list(sequence.cover) == [8, 0, 0, 5]
    assert list(sequence.visible) == [True, False, False, True]
    assert load_sequence(str(folder)).layout == "got10k"


def test_got10k_without_labels_and_bad_labels(tmp_path):
    folder = tmp_path / "seq"
    _write_frames(str(folder), [f"{i:08d}.jpg" for i in range(1, 3)])
    _write_text(str(folder / "groundtruth.txt"), "1,2,3,4\n2,3,4,5\n")
    sequence = load_got10k_sequence(str(folder))
    assert sequence.cover is None and sequence.visible.all()
    _write_text(str(folder / "absence.label"), "0\n")
    with pytest.raises(ValueError, match="absence.label has 1 lines for 2 frames"):
        load_got10k_sequence(str(folder))


def test_video_sequence(tmp_path):
    path = str(tmp_path / "clip.avi")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    if not writer.isOpened():
        pytest.skip("this OpenCV cannot write MJPG .avi files")
    for index in range(5):
        writer.write(np.full((24, 32, 3), 40 * index, np.uint8))
    writer.release()
    _write_text(str(tmp_path / "clip.txt"), "1,2,8,6\n" * 5)
    sequence = load_video_sequence(path)
    assert sequence.name == "clip" and sequence.layout == "video" and len(sequence) == 5
    np.testing.assert_array_equal(sequence.boxes[0], [1, 2, 8, 6])  # 0-based by default
    np.testing.assert_array_equal(load_video_sequence(path, one_based=True).boxes[0], [0, 1, 8, 6])
    frames = sequence.read_frames()
    assert len(frames) == 5 and frames[0].shape == (24, 32, 3)
    assert sequence.frame(3).shape == (24, 32, 3)
    assert load_sequence(path).layout == "video"
    _write_text(str(tmp_path / "short.txt"), "1,2,8,6\n" * 4)
    with pytest.raises(ValueError, match="5 frames but .* 4 boxes"):
        load_video_sequence(path, str(tmp_path / "short.txt"))
    with pytest.raises(ValueError, match="video file not found"):
        load_video_sequence(str(tmp_path / "missing.avi"))


def test_sequence_checks_and_head(tmp_path):
    sequence = load_otb_sequence(_otb(tmp_path, ["1,1,4,4", "2,2,4,4", "3,3,4,4"]))
    short = sequence.head(2)
    assert len(short) == 2 and len(short.frame_paths) == 2
    with pytest.raises(ValueError, match="2 boxes for 3 frames"):
        Sequence("x", np.zeros((2, 4)), sequence.frame_paths)
    with pytest.raises(ValueError, match="either frame_paths or video_path"):
        Sequence("x", np.zeros((2, 4)))


def test_read_splits_and_load_dataset(tmp_path):
    root = tmp_path / "data"
    for name in ("A", "b", "C"):
        _otb(root, ["1,1,4,4", "1,1,4,4"], name=name)
    _write_text(
        str(root / "README.md"),
        "# data\n\nSome text.\n\n| other | table |\n|---|---|\n| x | y |\n\n"
        "| name | frames | SPLIT |\n|---|---|---|\n| A | 2 | eval |\n| b | 2 | Train |\n| C | 2 | eval |\n\nMore text.\n",
    )
    assert read_splits(str(root)) == {"A": "eval", "b": "train", "C": "eval"}
    assert [s.name for s in load_dataset(str(root), split="eval")] == ["A", "C"]
    assert [s.name for s in load_dataset(str(root), split="all")] == ["A", "b", "C"]
    assert [s.name for s in load_dataset(str(root), split="eval", names=["C"])] == ["C"]
    with pytest.raises(ValueError, match="unknown split 'test'.*eval, train, all"):
        load_dataset(str(root), split="test")
    with pytest.raises(ValueError, match="unknown sequence.*available: A, C"):
        load_dataset(str(root), split="eval", names=["b"])
    with pytest.raises(ValueError, match="data folder not found"):
        load_dataset(str(tmp_path / "nope"))


def test_load_dataset_without_readme(tmp_path):
    root = tmp_path / "data"
    _otb(root, ["1,1,4,4"], name="Only")
    os.makedirs(root / "not_a_sequence")
    assert [s.name for s in load_dataset(str(root))] == ["Only"]
    with pytest.raises(ValueError, match="README.md not found, nor .*splits.csv"):
        load_dataset(str(root), split="eval")



def test_registry_lists_the_layouts_and_dispatches_to_their_loaders(tmp_path):
    assert list(LAYOUTS)[0] == "otb" and {"got10k", "video"} <= set(LAYOUTS)  # the others: tests/test_datasets_layouts.py
    folder = _otb(tmp_path, ["1,1,4,4", "2,2,4,4"])
    assert detect_layout(folder) == "otb"
    sequence = load_sequence(folder, name="renamed")
    assert sequence.name == "renamed" and sequence.layout == "otb"
    np.testing.assert_array_equal(sequence.boxes[1], [1, 1, 4, 4])  # through the OTB loader: shifted to 0-based


def test_a_new_layout_is_one_registry_entry(tmp_path, monkeypatch):
    folder = tmp_path / "custom"
    _write_frames(str(folder), ["a.png", "b.png"])
    _write_text(str(folder / "boxes.fake"), "0,0,3,3\n1,1,3,3\n")

    def load_fake(path, name=None):
        paths = [os.path.join(path, n) for n in ("a.png", "b.png")]
        return Sequence(name or "fake", read_box_file(os.path.join(path, "boxes.fake"), one_based=False), paths, layout="fake")

    fake = Layout(lambda path: os.path.isfile(os.path.join(path, "boxes.fake")), load_fake, "a folder with boxes.fake")
    with pytest.raises(ValueError, match="not a sequence"):
        load_sequence(str(folder))
    monkeypatch.setattr(layouts, "LAYOUTS", MappingProxyType({**LAYOUTS, "fake": fake}))
    assert detect_layout(str(folder)) == "fake"
    sequence = load_sequence(str(folder), name="x")
    assert sequence.layout == "fake" and sequence.name == "x" and len(sequence) == 2
    # A data folder without a split table picks up folders of the new layout too.
    assert [s.layout for s in load_dataset(str(tmp_path))] == ["fake"]


def test_unknown_layout_error_lists_the_registered_layouts(tmp_path):
    folder = tmp_path / "loose"
    _write_frames(str(folder), ["0001.jpg"])
    with pytest.raises(ValueError, match="not a sequence") as raised:
        load_sequence(str(folder))
    message = str(raised.value)
    assert str(folder) in message
    for name, layout in LAYOUTS.items():
        assert f"{name} ({layout.description})" in message
    with pytest.raises(FileNotFoundError, match="sequence folder not found"):
        detect_layout(str(tmp_path / "nowhere"))


def test_read_image_names_a_damaged_or_missing_file(tmp_path):
    good = str(tmp_path / "0001.png")
    cv2.imwrite(good, np.full((6, 8), 77, np.uint8))  # grey on disk, BGR when read
    frame = read_image(good)
    assert frame.shape == (6, 8, 3) and frame.dtype == np.uint8 and (frame == 77).all()
    damaged = tmp_path / "0002.png"
    damaged.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    with pytest.raises(ValueError, match="could not decode image .*0002.png"):
        read_image(str(damaged))
    with pytest.raises(ValueError, match="could not decode image .*0003.png"):
        read_image(str(tmp_path / "0003.png"))


def test_a_damaged_frame_fails_when_read_and_names_the_file(tmp_path):
    folder = _otb(tmp_path, ["1,1,4,4"] * 3)
    (tmp_path / "Seq" / "img" / "0002.jpg").write_bytes(b"\xff\xd8\xff" + b"\x00" * 32)
    sequence = load_otb_sequence(folder)  # loading reads no pixels
    assert sequence.frame(0).shape == (10, 12, 3)
    with pytest.raises(ValueError, match="0002.jpg"):
        sequence.read_frames()


def _two_split_sources(tmp_path):
    root = tmp_path / "data"
    for name in ("A", "B", "C"):
        _otb(root, ["1,1,4,4"], name=name)
    _write_text(str(root / "README.md"), "| name | split |\n|---|---|\n| A | eval |\n| B | train |\n| C | train |\n")
    return root


def test_split_file_takes_precedence_over_the_readme(tmp_path):
    root = _two_split_sources(tmp_path)
    assert read_splits(str(root)) == {"A": "eval", "B": "train", "C": "train"}
    _write_text(str(root / SPLITS_FILE), "Name, Split, note\nA, Train, moved\n\nB, eval,\n")
    assert read_splits(str(root)) == {"A": "train", "B": "eval"}
    assert read_splits(str(root / "README.md"))["A"] == "eval"  # a README given directly is still read
    assert [s.name for s in load_dataset(str(root), split="train")] == ["A"]
    assert [s.name for s in load_dataset(str(root))] == ["A", "B"]  # C is not in the split file
    with pytest.raises(ValueError, match="unknown split 'test'; .*splits.csv has: eval, train, all"):
        load_dataset(str(root), split="test")


def test_a_malformed_split_file_is_an_error_not_all_training_data(tmp_path):
    root = _two_split_sources(tmp_path)
    for text, words in (
        ("sequence,set\nA,train\n", "header with name and split"),
        ("name,split\nA,train,extra\n", "line 2: expected 2 values"),
        ("name,split\nA,train\nA,eval\n", "line 3: sequence 'A' is listed twice"),
        ("name,split\n", "lists no sequences"),
    ):
        _write_text(str(root / SPLITS_FILE), text)
        with pytest.raises(ValueError, match=words):
            load_dataset(str(root))


@needs_real_data
def test_real_splits_from_the_data_readme():
    splits = read_splits(REAL_DATA)
    assert len(splits) == 27
    assert sorted(n for n, s in splits.items() if s == "eval") == sorted(
        ["Girl", "Woman", "MotorRolling", "Surfer", "ball1", "wakeboard7", "motocross"]
    )
    assert sum(s == "train" for s in splits.values()) == 20


@needs_real_data
def test_every_real_sequence_loads():
    sequences = load_dataset(REAL_DATA, split="all")
    assert len(sequences) == 27 and sum(len(s) for s in sequences) == 4577
    by_name = {s.name: s for s in sequences}
    for sequence in sequences:
        assert sequence.layout == "otb" and np.isfinite(sequence.init_box).all()
        assert (np.isnan(sequence.boxes).any(axis=1).sum() > 0) == (sequence.name == "motocross")
    # motocross: 1-based frames 30-33, 36-44 and 92-95 are NaN.
    absent = np.flatnonzero(~by_name["motocross"].visible) + 1
    assert list(absent) == list(range(30, 34)) + list(range(36, 45)) + list(range(92, 96))
    # First Girl line is "57,21,31,45" 1-based.
    with open(os.path.join(REAL_DATA, "Girl", "groundtruth_rect.txt"), encoding="utf-8") as handle:
        first = [float(v) for v in handle.readline().split(",")]
    assert by_name["Girl"].init_box == (first[0] - 1, first[1] - 1, first[2], first[3])
