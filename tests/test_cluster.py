"""``tracker.cluster``: the spec, the actor's batching and checkpoints, and runs on a local Ray
instance: rows equal to ``tracker.run``'s, actors killed mid-run, bad specs, existing outputs."""
import dataclasses
import os
import signal
import subprocess
import sys

import cv2
import pytest

from tracker import run as run_cli
from tracker.cluster import StreamCheckpoint, StreamGroup, load_spec, run_streams
from tracker.cluster import __main__ as cluster_cli
from tracker.cluster.driver import _place
from tracker.cluster.spec import StreamSpec
from tracker.shipped import default_model
from tools.synthetic import moving_texture_clip

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAMES = 12
# Three streams: two image folders of different sizes, one video file; 1, 2 and 1 targets.
STREAMS = (
    ("alpha", "folder", (320, 240), 1),
    ("beta", "folder", (256, 192), 2),
    ("gamma", "video", (320, 240), 1),
)
SECOND_BOX = (12.0, 16.0, 48.0, 40.0)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """``{name: (source path, boxes)}`` for the synthetic streams."""
    root = tmp_path_factory.mktemp("streams")
    clips = {}
    for seed, (name, kind, (width, height), targets) in enumerate(STREAMS):
        frames, truth = moving_texture_clip(frame_count=FRAMES, width=width, height=height, target_size=(40, 40),
                                            step=4.0, seed=seed)
        if kind == "folder":
            source = root / name
            source.mkdir()
            for index, frame in enumerate(frames):
                cv2.imwrite(str(source / f"{index:04d}.png"), frame)
        else:
            source = root / f"{name}.avi"
            writer = cv2.VideoWriter(str(source), cv2.VideoWriter_fourcc(*"MJPG"), 25, (width, height))
            for frame in frames:
                writer.write(frame)
            writer.release()
        clips[name] = (str(source), (truth[0], SECOND_BOX)[:targets])
    return clips


@pytest.fixture(scope="module")
def reference(clips, tmp_path_factory):
    """Each stream's rows from ``python -m tracker.run --boxes`` (in this process): ``{name: {ext: text}}``."""
    folder = tmp_path_factory.mktemp("reference")
    rows = {}
    for name, (source, boxes) in clips.items():
        rows[name] = {}
        for ext in ("csv", "json"):
            path = folder / f"{name}.{ext}"
            arguments = [source, "--boxes", str(path), "--quiet"]
            for box in boxes:
                arguments += ["--box", ",".join(str(v) for v in box)]
            assert run_cli.main(arguments) == 0
            rows[name][ext] = path.read_text()
    return rows


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance for the module (starting one takes seconds); run_streams uses it."""
    ray = pytest.importorskip("ray")
    import logging

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    yield ray
    ray.shutdown()


def spec_for(clips, folder, boxes="csv", **options):
    return {
        "outputs": {"folder": str(folder), "boxes": boxes},
        "streams": [{"name": name, "source": source, "boxes": [list(box) for box in boxes_]}
                    for name, (source, boxes_) in clips.items()],
        **options,
    }


def outputs_of(folder, ext="csv"):
    return {name: (folder / f"{name}.{ext}").read_text() for name, *_ in STREAMS}


# --- the spec -----------------------------------------------------------------------------

def test_spec_reads_streams_boxes_and_defaults(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("outputs: {folder: out}\nstreams:\n  - {source: a.mp4, boxes: [1, 2, 3, 4]}\n"
                    "  - {name: cam, source: 0, boxes: ['5,6,7,8', [9, 10, 11, 12]], max_frames: 50}\n")
    spec = load_spec(str(path))
    first, second = spec.streams
    assert (first.name, first.source, first.boxes, first.live) == ("stream-0", "a.mp4", ((1.0, 2.0, 3.0, 4.0),), False)
    assert (second.name, second.source, second.max_frames, second.live) == ("cam", 0, 50, True)
    assert second.boxes == ((5.0, 6.0, 7.0, 8.0), (9.0, 10.0, 11.0, 12.0))
    assert spec.outputs.boxes_path("cam") == os.path.join("out", "cam.csv") and spec.outputs.video_path("cam") is None
    assert (spec.actors, spec.cpus_per_actor, spec.max_restarts, spec.model) == (None, 1, 3, None)
    assert load_spec({"streams": [{"source": "rtsp://h/s", "boxes": [1, 2, 3, 4]}]}).streams[0].live


@pytest.mark.parametrize("text, message", [
    ("streams: []", "'streams' must be a non-empty list"),
    ("outputs: {folder: o}", "the spec has no 'streams'"),
    ("streams:\n  - {source: a.mp4, boxs: [1, 2, 3, 4]}", "unknown key(s) boxs in streams[0]; valid keys: name, source, boxes"),
    ("streams:\n  - {source: a.mp4}", "streams[0] has no 'boxes'"),
    ("streams:\n  - {source: a.mp4, boxes: [[1, 2, 3]]}", "streams[0].boxes[0] must be four numbers"),
    ("streams:\n  - {source: a.mp4, boxes: [1, 2, 0, 4]}", "streams[0].boxes[0] must be four finite numbers x, y, w, h with w, h > 0"),
    ("streams:\n  - {source: a.mp4, boxes: ['1,2,x,4']}", "streams[0].boxes[0]: box must be four comma-separated numbers"),
    ("streams:\n  - {name: a, source: a.mp4, boxes: [1, 2, 3, 4]}\n  - {name: a, source: b.mp4, boxes: [1, 2, 3, 4]}",
     "streams[1].name 'a' is also the name of streams[0]"),
    ("streams:\n  - {name: a/b, source: a.mp4, boxes: [1, 2, 3, 4]}", "names the stream's output files"),
    ("actors: 0\nstreams:\n  - {source: a.mp4, boxes: [1, 2, 3, 4]}", "'actors' must be >= 1"),
    ("actors: two\nstreams:\n  - {source: a.mp4, boxes: [1, 2, 3, 4]}", "'actors' must be an integer"),
    ("outputs: {folder: o, boxes: xml}\nstreams:\n  - {source: a.mp4, boxes: [1, 2, 3, 4]}", "outputs.boxes must be one of csv, json"),
    ("outputs: {boxes: csv}\nstreams:\n  - {source: a.mp4, boxes: [1, 2, 3, 4]}", "outputs.folder must name the folder"),
    ("streams: [unclosed", "is not valid YAML"),
    ("- just\n- a list", "the spec must be a mapping"),
])
def test_bad_spec_is_one_line_error_exit_2(tmp_path, capsys, text, message):
    path = tmp_path / "spec.yaml"
    path.write_text(text + "\n")
    assert cluster_cli.main([str(path), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.err.startswith("error: ") and captured.err.count("\n") == 1
    assert "Traceback" not in captured.err


def test_missing_spec_file_and_source_are_one_line_errors(tmp_path, capsys):
    assert cluster_cli.main([str(tmp_path / "nope.yaml")]) == 2
    assert "spec file not found" in capsys.readouterr().err
    path = tmp_path / "spec.yaml"
    path.write_text(f"outputs: {{folder: {tmp_path}}}\n"
                    f"streams:\n  - {{name: lobby, source: {tmp_path / 'gone.mp4'}, boxes: [1, 2, 3, 4]}}\n")
    assert cluster_cli.main([str(path)]) == 1
    err = capsys.readouterr().err
    assert "streams[0] (lobby): source not found" in err and err.count("\n") == 1


def test_placement_balances_targets_and_keeps_spec_order():
    streams = [StreamSpec(f"s{i}", f"{i}.mp4", ((0, 0, 1, 1),) * targets) for i, targets in enumerate((1, 3, 1, 2, 1))]
    groups = _place(streams, 2)
    assert [[s.name for s in group] for group in groups] == [["s1", "s2"], ["s0", "s3", "s4"]]
    assert [sum(len(s.boxes) for s in group) for group in groups] == [4, 4]


def drain(group, ticks, rows):
    """Step ``group`` ``ticks`` at a time until all its streams finish, adding their rows to ``rows``."""
    while True:
        chunk = group.step(ticks)
        for stream in chunk.streams:
            rows[stream.name].extend(stream.rows)
        if all(stream.finished for stream in chunk.streams):
            return rows


# --- the actor's work, in this process ----------------------------------------------------

def test_stream_group_resumes_from_a_checkpoint_exactly(clips):
    """Several streams in one network call per tick; a fresh group restored from a checkpoint
    mid-way gives the rows the uninterrupted one gives."""
    specs = [StreamSpec(name, source, tuple(boxes)) for name, (source, boxes) in clips.items()]
    whole = StreamGroup(str(default_model()), threads=1)
    whole.assign(specs, [None] * len(specs))
    rows = drain(whole, 5, {spec.name: [] for spec in specs})
    assert all(len(rows[spec.name]) == FRAMES * len(spec.boxes) for spec in specs)

    first = StreamGroup(str(default_model()), threads=1)
    first.assign(specs, [None] * len(specs))
    chunk = first.step(5)
    resumed = {stream.name: list(stream.rows) for stream in chunk.streams}
    checkpoints = [StreamCheckpoint(stream.next_frame, tuple(
        dataclasses.replace(state, template_features=features) for state, features in zip(stream.states, stream.templates)))
        for stream in chunk.streams]
    assert [checkpoint.next_frame for checkpoint in checkpoints] == [5, 5, 5]
    first.close()
    second = StreamGroup(str(default_model()), threads=1)
    second.assign(specs, checkpoints)
    drain(second, 4, resumed)
    assert resumed == rows


class ScriptedSource:
    """Stands in for FrameSource: frames from a list, counting what was read."""

    frames = {}

    def __init__(self, source, timeout=None):
        self.pending = list(self.frames[source])
        self.read_count = 0
        self.note, self.fps, self.frame_count = None, 25.0, None

    def read(self):
        self.read_count += 1
        return self.pending.pop(0) if self.pending else None

    def close(self):
        pass


def test_stream_group_live_resume_and_a_failing_stream(clips, monkeypatch):
    """A camera or URL resumes with its next frame, numbered after the checkpoint's (nothing to
    skip); a stream whose box is outside its first frame fails alone, its neighbour goes on."""
    from tracker.cluster import worker

    frames, truth = moving_texture_clip(frame_count=8, width=320, height=240, target_size=(40, 40), step=4.0, seed=0)
    ScriptedSource.frames = {"rtsp://camera/a": frames, "rtsp://camera/b": frames[4:], "rtsp://camera/bad": frames}
    monkeypatch.setattr(worker, "FrameSource", ScriptedSource)
    live = StreamSpec("cam", "rtsp://camera/a", (truth[0],))
    bad = StreamSpec("bad", "rtsp://camera/bad", ((1000.0, 1000.0, 20.0, 20.0),))
    group = StreamGroup(str(default_model()), threads=1)
    group.assign([live, bad], [None, None])
    chunk = group.step(4)
    cam, failed = chunk.streams
    assert failed.finished and failed.error.startswith("frame 0: ") and "outside" in failed.error and not failed.rows
    assert [row.frame for row in cam.rows] == [0, 1, 2, 3] and not cam.finished
    state = dataclasses.replace(cam.states[0], template_features=cam.templates[0])
    # The camera went on sending while the actor was down: the restarted one reads frames[4:] as they come.
    resumed = StreamGroup(str(default_model()), threads=1)
    resumed.assign([dataclasses.replace(live, source="rtsp://camera/b")], [StreamCheckpoint(4, (state,))])
    rest = resumed.step(10).streams[0]
    assert [row.frame for row in rest.rows] == [4, 5, 6, 7] and rest.finished and rest.error is None
    assert resumed._streams[0].source.read_count == 5  # four frames and the end: none dropped


# --- runs on Ray --------------------------------------------------------------------------

def test_rows_equal_tracker_run(ray_instance, clips, reference, tmp_path):
    seen = []
    report = run_streams(spec_for(clips, tmp_path, actors=2, chunk_frames=5), on_chunk=seen.append)
    assert report.ok and report.actors == 2
    assert outputs_of(tmp_path) == {name: reference[name]["csv"] for name in reference}
    assert [(s.name, s.frames, s.targets, s.restarts) for s in report.streams] == [
        ("alpha", FRAMES, 1, 0), ("beta", FRAMES, 2, 0), ("gamma", FRAMES, 1, 0)]
    assert report.target_updates_per_second > 0 and len(report.tick_seconds) >= FRAMES
    # Every row reached on_chunk once, in frame order, and the partial files are gone.
    for name, *_ in STREAMS:
        frames = [row.frame for event in seen if event.stream == name for row in event.rows]
        assert frames == sorted(frames) and len(frames) == FRAMES * len(clips[name][1])
    assert sorted(os.listdir(tmp_path)) == ["alpha.csv", "beta.csv", "gamma.csv"]


def test_killed_actors_resume_without_duplicate_or_missing_rows(ray_instance, clips, reference, tmp_path):
    """Actor 0 killed through Ray after its first chunk, actor 1's process SIGKILLed after its
    second: both restart, their streams resume from the driver's checkpoints, and the rows are
    those of the run that was not killed (tracker.run's)."""
    ray = ray_instance
    killed = {}

    def on_chunk(event):
        # The driver has already asked the actor for its next chunk: the kill lands mid-call.
        if event.stream == "beta" and event.frames >= 3 and "beta" not in killed:
            killed["beta"] = (event.actor, event.actor_pid)
            ray.kill(ray.get_actor(event.actor_name), no_restart=False)
        if event.stream == "alpha" and event.frames >= 6 and "alpha" not in killed:
            killed["alpha"] = (event.actor, event.actor_pid)
            os.kill(event.actor_pid, signal.SIGKILL)

    report = run_streams(spec_for(clips, tmp_path, actors=2, chunk_frames=3), on_chunk=on_chunk)
    assert sorted(actor for actor, _ in killed.values()) == [0, 1] and report.ok, report
    assert [s.restarts for s in report.streams] == [1, 1, 1]
    assert outputs_of(tmp_path) == {name: reference[name]["csv"] for name in reference}
    assert sorted(os.listdir(tmp_path)) == ["alpha.csv", "beta.csv", "gamma.csv"]


def test_existing_output_refused_without_force(clips, tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    out = tmp_path / "out"
    out.mkdir()
    (out / "beta.csv").write_text("keep me\n")
    import yaml

    spec.write_text(yaml.safe_dump(spec_for(clips, out)))
    assert cluster_cli.main([str(spec), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "beta.csv already exists" in err and "--force" in err and err.count("\n") == 1
    assert (out / "beta.csv").read_text() == "keep me\n" and os.listdir(out) == ["beta.csv"]


def test_cli_json_video_and_force(clips, reference, tmp_path):
    """The command line end to end on its own local Ray instance: JSON rows as tracker.run's,
    an annotated video per stream, --force over an existing file, the closing table."""
    import yaml

    out = tmp_path / "out"
    out.mkdir()
    (out / "alpha.json").write_text("old\n")
    spec = spec_for(clips, out, boxes="json", actors=1, chunk_frames=4)
    spec["outputs"]["video"] = True
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    done = subprocess.run([sys.executable, "-m", "tracker.cluster", str(tmp_path / "spec.yaml"), "--force", "--quiet",
                           "--num-cpus", "1"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert outputs_of(out, "json") == {name: reference[name]["json"] for name in reference}
    for name, *_ in STREAMS:
        capture = cv2.VideoCapture(str(out / f"{name}.mp4"))
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES
        capture.release()
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["stream", "actor", "targets", "frames", "fps", "restarts", "result"]
    assert lines[2].split()[:4] == ["beta", "0", "2", str(FRAMES)]
    assert "3 stream(s) on 1 actor(s)" in lines[-1] and "target updates/s" in lines[-1]
    assert "Traceback" not in done.stderr
