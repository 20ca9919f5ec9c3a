"""python -m tracker.datasets.ingest and its manifest: a tiny git repository made here is ingested
into a corpus (OTB layout, corpus.json, splits.csv), a second run keeps what is written,
RESERVED and eval-split sequences are refused, and training reads the corpus."""
import hashlib
import json
import os
import subprocess

import cv2
import numpy as np
import pytest
import yaml

from tracker.datasets import load_dataset, read_splits
from tracker.datasets.ingest import main as ingest_main
from tracker.datasets.manifest import (
    Reserved,
    check_manifest,
    forbidden_name_reason,
    forbidden_path_reason,
    forbidden_reason,
    load_manifest,
)

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(REPOSITORY, "..", "shared", "data")


def _jpeg(seed):
    pixels = np.random.default_rng(seed).integers(0, 255, (12, 16, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", pixels)[1].tobytes()


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if isinstance(data, bytes) else "w") as handle:
        handle.write(data)


def _git(folder, *args):
    return subprocess.run(["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


def _commit(folder):
    _git(folder, "init", "-q")
    _git(folder, "add", "-A")
    _git(folder, "commit", "-q", "-m", "data")
    return _git(folder, "rev-parse", "HEAD")


@pytest.fixture
def mirrors(tmp_path):
    """Fetched-style repositories: alice/tracks (four layouts), bob/boxes (a box file), carol/copy (alpha again)."""
    root = tmp_path / "mirrors"
    tracks = root / "alice+tracks" / "repo"
    for i in range(1, 5):
        _write(str(tracks / "seqs/alpha/img" / f"{i:04d}.jpg"), _jpeg(100 + i))
    _write(str(tracks / "seqs/alpha/groundtruth_rect.txt"), "11,21,5,6\n12\t22\t5\t6\r\nNaN,NaN,NaN,NaN\n13.5,23.5,5,6\n")
    for i in range(1, 7):
        _write(str(tracks / "uav/data_seq/video" / f"{i:06d}.jpg"), _jpeg(200 + i))
    _write(str(tracks / "uav/anno/video_2.txt"), "1,1,2,2\n2,2,2,2\n3,3,2,2\n4,4,2,2\n")
    for i in range(1, 4):
        _write(str(tracks / "vot/beta/imgs" / f"{i:08d}.jpg"), _jpeg(300 + i))
    _write(str(tracks / "vot/beta/groundtruth.txt"), "10,20,30,22,28,40,8,38\n1,1,5,1,5,5,1,5\n2,2,6,2,6,6,2,6\n9,9,9,9,9,9,9,9\n")
    for i in range(1, 4):
        _write(str(tracks / "lasot/cat-1/img" / f"{i:08d}.jpg"), _jpeg(400 + i))
    _write(str(tracks / "lasot/cat-1/groundtruth.txt"), "5,5,3,3\n6,6,3,3\n7,7,3,3\n")
    _write(str(tracks / "lasot/cat-1/full_occlusion.txt"), "0,1,0")
    _write(str(tracks / "lasot/cat-1/out_of_view.txt"), "0,0,0")
    boxes = root / "bob+boxes" / "repo"
    _write(str(boxes / "anno/video_1.txt"), "7,8,3,4\n8,9,3,4\n9,10,3,4\n")
    copy = root / "carol+copy"  # a work tree with .git inside, not repo/.git
    for i in range(1, 5):
        _write(str(copy / "alpha_copy/img" / f"img{i:05d}.jpg"), _jpeg(100 + i))
    _write(str(copy / "alpha_copy/alpha_copy_gt.txt"), "11,21,5,6\n12,22,5,6\n13,23,5,6\n14,24,5,6\n")
    return {"root": str(root), "tracks": _commit(tracks), "boxes": _commit(boxes), "copy": _commit(copy), "tracks_dir": str(tracks)}


def _manifest(tmp_path, mirrors, extra=(), reserved=None):
    t, b, c = mirrors["tracks"], mirrors["boxes"], mirrors["copy"]
    sequences = [
        {"name": "alpha", "dataset": "OTB", "repo": "alice/tracks", "commit": t, "frames": "seqs/alpha/img",
         "boxes": "seqs/alpha/groundtruth_rect.txt", "format": "xywh-1based", "frame_count": 4},
        {"name": "video_1", "dataset": "UAV123", "video": "video", "repo": "alice/tracks", "commit": t, "frames": "uav/data_seq/video",
         "frame_range": [1, 3], "boxes": "anno/video_1.txt", "boxes_repo": "bob/boxes", "boxes_commit": b, "format": "xywh-1based", "split": "val"},
        {"name": "video_2", "dataset": "UAV123", "video": "video", "repo": "alice/tracks", "commit": t, "frames": "uav/data_seq/video",
         "frame_range": [3, 6], "boxes": "uav/anno/video_2.txt", "format": "xywh-1based"},
        {"name": "beta", "dataset": "VOT", "repo": "alice/tracks", "commit": t, "frames": "vot/beta/imgs", "boxes": "vot/beta/groundtruth.txt",
         "box_lines": [1, 3], "format": "vot-polygon"},
        {"name": "cat-1", "dataset": "LaSOT", "repo": "alice/tracks", "commit": t, "frames": "lasot/cat-1/img", "boxes": "lasot/cat-1/groundtruth.txt",
         "flags": ["lasot/cat-1/full_occlusion.txt", "lasot/cat-1/out_of_view.txt"], "format": "lasot"},
        {"name": "alpha_again", "dataset": "OTB", "repo": "carol/copy", "commit": c, "frames": "alpha_copy/img",
         "boxes": "alpha_copy/alpha_copy_gt.txt", "format": "xywh-1based"},
        {"name": "gamma", "dataset": "OTB", "repo": "dave/not-fetched", "commit": "0" * 40, "frames": "g/img", "boxes": "g/gt.txt", "format": "xywh-1based"},
    ] + list(extra)
    data = {"version": 1, "reserved": reserved or {"names": ["Girl", "person9"], "families": ["group1_*"], "eval_split": ["Girl"]}, "sequences": sequences}
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def _run(manifest, mirrors, out, *more, data=None):
    return ingest_main(["--manifest", manifest, "--mirrors", mirrors["root"], "--out", str(out), "--no-progress",
                        "--data", str(data or os.path.join(str(out), "..", "no-data")), *more])


def test_ingest_writes_an_otb_corpus_with_index_and_skips_duplicates_and_unfetched(tmp_path, mirrors, capsys):
    out = tmp_path / "corpus"
    assert _run(_manifest(tmp_path, mirrors), mirrors, out) == 0
    printed = capsys.readouterr().out
    assert "written 5 sequences (17 frames), kept 0" in printed
    assert "total: 5 sequences, 17 frames: train 4 (14 frames), val 1 (3 frames)" in printed
    assert "skipped alpha_again: duplicate of alpha (4 of 4 frames identical)" in printed
    assert "skipped gamma: not fetched: github:dave/not-fetched" in printed

    # Frames are the source files byte for byte, renumbered from 0001; boxes 1-based, NaN kept.
    assert (out / "alpha/img/0001.jpg").read_bytes() == _jpeg(101)
    assert (out / "alpha/groundtruth_rect.txt").read_text() == "11,21,5,6\n12,22,5,6\nNaN,NaN,NaN,NaN\n13.5,23.5,5,6\n"
    assert sorted(os.listdir(out / "video_2/img")) == ["0001.jpg", "0002.jpg", "0003.jpg", "0004.jpg"]
    assert (out / "video_2/img/0001.jpg").read_bytes() == _jpeg(203)  # frame_range starts at 000003
    assert (out / "video_1/img/0003.jpg").read_bytes() == (out / "video_2/img/0001.jpg").read_bytes()  # shared boundary frame
    assert (out / "video_1/groundtruth_rect.txt").read_text() == "7,8,3,4\n8,9,3,4\n9,10,3,4\n"  # from the other repository
    assert (out / "beta/groundtruth_rect.txt").read_text() == "8,20,22,20\n1,1,4,4\n2,2,4,4\n"  # polygon -> min/max box, lines 1-3
    assert (out / "cat-1/groundtruth_rect.txt").read_text() == "5,5,3,3\nNaN,NaN,NaN,NaN\n7,7,3,3\n"  # full occlusion -> NaN

    corpus = json.loads((out / "corpus.json").read_text())
    by_name = {r["name"]: r for r in corpus["sequences"]}
    assert sorted(by_name) == ["alpha", "beta", "cat-1", "video_1", "video_2"]
    alpha = by_name["alpha"]
    assert alpha["source"] == f"alice/tracks@{mirrors['tracks']}" and alpha["frames"] == 4 and alpha["visible_frames"] == 3
    assert alpha["boxes_sha256"] == hashlib.sha256((out / "alpha/groundtruth_rect.txt").read_bytes()).hexdigest()
    assert by_name["video_1"]["boxes_source"] == f"bob/boxes@{mirrors['boxes']}:anno/video_1.txt"
    assert corpus["totals"]["all"] == {"sequences": 5, "frames": 17} and corpus["totals"]["val"] == {"sequences": 1, "frames": 3}
    assert {s["name"] for s in corpus["skipped"]} == {"alpha_again", "gamma"}
    assert read_splits(str(out)) == {"alpha": "train", "beta": "train", "cat-1": "train", "video_1": "val", "video_2": "train"}

    # The corpus is an ordinary data folder: the OTB loader reads every sequence back.
    loaded = {s.name: s for s in load_dataset(str(out))}
    np.testing.assert_array_equal(loaded["beta"].boxes[0], [7, 19, 22, 20])
    assert not loaded["cat-1"].visible[1]


def test_training_reads_the_corpus_with_val_sequences_held_out(tmp_path, mirrors):
    from tracker.train.sources import training_and_validation

    out = tmp_path / "corpus"
    assert _run(_manifest(tmp_path, mirrors), mirrors, out) == 0
    training, validation = training_and_validation(str(out), [])
    assert [s.name for s in training] == ["alpha", "beta", "cat-1", "video_2"]
    assert [s.name for s in validation] == ["video_1"]
    training, validation = training_and_validation(str(out), ["beta"])  # named ones replace the val split
    assert [s.name for s in validation] == ["beta"] and "video_1" not in [s.name for s in training]


def test_a_second_run_keeps_what_is_written_and_rewrites_only_what_changed(tmp_path, mirrors, capsys):
    manifest, out = _manifest(tmp_path, mirrors), tmp_path / "corpus"
    assert _run(manifest, mirrors, out) == 0
    frame = out / "alpha/img/0001.jpg"
    before = os.stat(frame).st_ino, os.stat(frame).st_mtime_ns
    capsys.readouterr()
    assert _run(manifest, mirrors, out) == 0
    assert "written 0 sequences (0 frames), kept 5 unchanged (17 frames)" in capsys.readouterr().out
    assert (os.stat(frame).st_ino, os.stat(frame).st_mtime_ns) == before

    (out / "beta/groundtruth_rect.txt").write_text("1,1,1,1\n1,1,1,1\n1,1,1,1\n")  # damaged
    (out / "video_2/img/0002.jpg").write_bytes(b"not the frame")
    os.remove(out / "corpus.json")  # without the index the frames are checked by their hashes
    assert _run(manifest, mirrors, out) == 0
    assert "written 2 sequences (7 frames), kept 3 unchanged (10 frames)" in capsys.readouterr().out
    assert (out / "beta/groundtruth_rect.txt").read_text().startswith("8,20,22,20\n")
    assert (out / "video_2/img/0002.jpg").read_bytes() == _jpeg(204)
    assert not [n for n in os.listdir(out) if n.endswith(".partial")]


def test_only_ingests_the_named_entries_and_keeps_the_rest_of_the_index(tmp_path, mirrors):
    manifest, out = _manifest(tmp_path, mirrors), tmp_path / "corpus"
    assert _run(manifest, mirrors, out) == 0
    assert _run(manifest, mirrors, out, "--only", "beta") == 0
    assert len(json.loads((out / "corpus.json").read_text())["sequences"]) == 5
    assert _run(manifest, mirrors, out, "--only", "nope") == 2


def test_check_reads_everything_and_writes_nothing(tmp_path, mirrors, capsys):
    out = tmp_path / "corpus"
    assert _run(_manifest(tmp_path, mirrors), mirrors, out, "--check") == 0
    assert "checked 5 of 7 entries: 5 sequences, 17 frames" in capsys.readouterr().out
    assert os.listdir(out) == []


@pytest.mark.parametrize("name, extra", [
    ("Girl", {}),  # RESERVED name (and eval split)
    ("girl", {}),  # any case
    ("group1_3", {}),  # a family
    ("person9_1", {}),  # a sub-sequence of a reserved video
    ("innocent", {"video": "person9"}),  # the video it is cut from
    ("innocent", {"frames": "copies/Girl/img"}),  # a folder named like a reserved video
])
def test_reserved_entries_are_refused_before_anything_is_written(tmp_path, mirrors, capsys, name, extra):
    entry = {"name": name, "dataset": "OTB", "repo": "alice/tracks", "commit": mirrors["tracks"], "frames": "seqs/alpha/img",
             "boxes": "seqs/alpha/groundtruth_rect.txt", "format": "xywh-1based", **extra}
    out = tmp_path / "corpus"
    assert _run(_manifest(tmp_path, mirrors, extra=[entry]), mirrors, out) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: refusing") and "never train" in error and len(error.strip().splitlines()) == 1
    assert not out.exists() or os.listdir(out) == []


def test_frames_identical_to_an_eval_sequence_are_refused(tmp_path, mirrors, capsys):
    data = tmp_path / "data"
    _write(str(data / "secret/img/0001.jpg"), _jpeg(302))  # beta's second frame under another name
    _write(str(data / "secret/groundtruth_rect.txt"), "1,1,2,2\n")
    _write(str(data / "README.md"), "| name | split |\n|---|---|\n| secret | eval |\n")
    out = tmp_path / "corpus"
    assert _run(_manifest(tmp_path, mirrors), mirrors, out, data=data) == 2
    error = capsys.readouterr().err
    assert "refusing beta" in error and "eval-split sequence(s) secret" in error
    # and an eval name from --data's split table is refused like a RESERVED one
    entry = {"name": "secret", "dataset": "OTB", "repo": "alice/tracks", "commit": mirrors["tracks"], "frames": "seqs/alpha/img",
             "boxes": "seqs/alpha/groundtruth_rect.txt", "format": "xywh-1based"}
    assert _run(_manifest(tmp_path, mirrors, extra=[entry]), mirrors, out, data=data) == 2
    assert "eval split" in capsys.readouterr().err


def test_a_source_that_does_not_match_the_manifest_fails_that_entry(tmp_path, mirrors, capsys):
    wrong = {"name": "delta", "dataset": "OTB", "repo": "alice/tracks", "commit": mirrors["tracks"], "frames": "seqs/alpha/img",
             "boxes": "uav/anno/video_2.txt", "format": "xywh-1based", "frame_count": 4, "frame_range": [1, 3]}
    out = tmp_path / "corpus"
    assert _run(_manifest(tmp_path, mirrors, extra=[wrong]), mirrors, out) == 1
    assert "FAILED delta: delta (alice/tracks:seqs/alpha/img): 3 frames in range (1, 3) but 4 boxes" in capsys.readouterr().out
    assert not (out / "delta").exists() and (out / "alpha").is_dir()


def test_an_unpacked_copy_is_read_like_a_git_directory(tmp_path, mirrors):
    unpacked = tmp_path / "unpacked" / "alice+tracks"
    unpacked.mkdir(parents=True)
    archive = subprocess.run(["git", f"--git-dir={mirrors['tracks_dir']}/.git", "archive", mirrors["tracks"], "seqs"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(unpacked)], input=archive, check=True)
    entry = {"name": "alpha", "dataset": "OTB", "repo": "alice/tracks", "commit": mirrors["tracks"], "frames": "seqs/alpha/img",
             "boxes": "seqs/alpha/groundtruth_rect.txt", "format": "xywh-1based"}
    manifest = tmp_path / "one.yaml"
    manifest.write_text(yaml.safe_dump({"sequences": [entry]}))
    out = tmp_path / "corpus"
    code = ingest_main(["--manifest", str(manifest), "--mirrors", str(tmp_path / "unpacked"), "--out", str(out), "--no-progress", "--data", str(tmp_path / "none")])
    assert code == 0 and (out / "alpha/img/0004.jpg").read_bytes() == _jpeg(104)


def test_help_and_missing_mirrors(tmp_path, capsys, monkeypatch):
    with pytest.raises(SystemExit) as exited:
        ingest_main(["--help"])
    assert exited.value.code == 0 and "--mirrors" in capsys.readouterr().out
    monkeypatch.delenv("SIAMTRACK_MIRRORS", raising=False)
    assert ingest_main(["--out", str(tmp_path / "c")]) == 2
    assert "--mirrors DIR or $SIAMTRACK_MIRRORS" in capsys.readouterr().err


# The manifest -------------------------------------------------------------------------------

def test_the_packaged_manifest_lists_no_reserved_or_eval_sequence():
    manifest = load_manifest()
    eval_names = []
    if os.path.isfile(os.path.join(SHARED_DATA, "README.md")):
        eval_names = [n for n, s in read_splits(SHARED_DATA).items() if s == "eval"]
        assert set(eval_names) <= set(manifest.reserved.eval_split)
    check_manifest(manifest, eval_names)
    names = [e.name for e in manifest.entries]
    assert len(names) == len({n.lower() for n in names}) >= 50
    assert sum(e.frame_count for e in manifest.entries) >= 15000
    assert {"Girl", "Woman", "MotorRolling", "Surfer", "ball1", "wakeboard7", "motocross"} <= set(manifest.reserved.eval_split)
    assert {e.split for e in manifest.entries} == {"train", "val"}
    from_sources = [e for e in manifest.entries if e.listed_in == "SOURCES.md"]
    assert len(from_sources) == 37 and sum(e.frame_count for e in from_sources) == 11774  # SOURCES.md's totals


def test_the_reserved_check_catches_names_families_sub_sequences_and_aliases():
    reserved = load_manifest().reserved
    for name in ("Girl", "MOTOCROSS", "Jogging-1", "jogging_2", "Jogging1", "group1_3", "group1", "person9", "person9_2",
                 "CarScale", "S0601", "Animal1", "bag", "Bolt2", "wakeboard7"):
        assert forbidden_name_reason(name, reserved), name
    for name in ("car1", "Car1", "car16_2", "vot15_car1", "Biker", "Bolt", "airplane-1", "Animal3", "person11", "group2_1", "S1001", "Dog1"):
        assert forbidden_name_reason(name, reserved) is None, name
    aliases = [
        ("vision4robotics/FCER-Tracker", "sequences/snowboarding4/img"),
        ("changruowang/OTB_Tools", "tracker_benchmark_v1.0/trackers/DAT/demo/sequence"),
        ("TianhongDai/mosse-object-tracking", "datasets/surfer/img"),
        ("ywpkwon/vot2014", "car"),
        ("ihpdep/samf", "data/Jogging1/img"),
        ("vision4robotics/OMFL-Tracker", "UAV123_10fps/data_seq/group1"),
        ("vision4robotics/OMFL-Tracker", "UAV123_10fps/anno/group1_2.txt"),
        ("vision4robotics/TSD-Tracker", "UAV123_10fps/data_seq/person9"),
        ("someone/else", "data/Girl/img"),  # any repository: a folder named like a reserved video
    ]
    for repo, path in aliases:
        assert forbidden_path_reason(repo, path, reserved), (repo, path)
    assert forbidden_path_reason("vision4robotics/OMFL-Tracker", "UAV123_10fps/data_seq/car10", reserved) is None
    assert forbidden_path_reason("changruowang/OTB_Tools", "tracker_benchmark_v1.0/trackers/KCF/data/Benchmark/Biker/img", reserved) is None
    entry = load_manifest().entry("building5")  # an OMFL-Tracker entry, next to its reserved group1 folder
    assert forbidden_reason(entry, reserved) is None


def test_manifest_errors_name_the_problem(tmp_path):
    good = {"name": "a", "dataset": "d", "repo": "o/r", "commit": "a" * 40, "frames": "f", "boxes": "b.txt", "format": "xywh-1based"}
    cases = [
        ({**good, "colour": 1}, "unknown key.*colour.*valid keys"),
        ({**good, "format": "ltrb"}, "format must be one of xywh-1based, vot-polygon, lasot"),
        ({**good, "commit": "abc"}, "40 lower-case hex"),
        ({**good, "frame_range": [5, 2]}, r"\[first, last\]"),
        ({**good, "split": "eval"}, "split must be one of train, val"),
        ({**good, "boxes_repo": "x/y"}, "boxes_repo needs boxes_commit"),
    ]
    for entry, message in cases:
        path = tmp_path / "m.yaml"
        path.write_text(yaml.safe_dump({"sequences": [entry]}))
        with pytest.raises(ValueError, match=message):
            load_manifest(str(path))
    path.write_text(yaml.safe_dump({"sequences": [good, {**good, "name": "A"}]}))
    with pytest.raises(ValueError, match="used twice"):
        load_manifest(str(path))
    path.write_text(yaml.safe_dump({"sequences": [good], "reserved": {"names": ["a"]}}))
    with pytest.raises(ValueError, match="refusing.*'a' is 'a', RESERVED"):
        check_manifest(load_manifest(str(path)))
    assert forbidden_name_reason("x", Reserved()) is None
