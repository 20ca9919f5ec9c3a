"""The runner: any init/update tracker, OpenCV adapters, the cache, frames decoded once, speed mode."""
import os
import time

import numpy as np
import pytest

from tracker.datasets import Sequence, load_otb_sequence
from tracker.eval.metrics import otb_metrics
from tracker.eval.runner import benchmark, box_of, evaluate, run_sequence
from tracker.eval.trackers import (
    TRACKER_NAMES,
    OpenCVTracker,
    TrackerSpec,
    TrackerUnavailable,
    _box_to_rect,
    available_specs,
    default_peers_root,
    make_tracker_spec,
    parse_tracker_names,
)
from tracker.siamese_tracker import TrackResult
from tools.synthetic import moving_texture_clip

REAL_DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data")
needs_real_data = pytest.mark.skipif(not os.path.isdir(REAL_DATA), reason="../shared/data (the real sequences) is not present")


class GroundTruthTracker:
    """Answers every update with the sequence's ground truth: a perfect tracker."""

    def __init__(self, boxes):
        self.boxes, self.index, self.updates = np.asarray(boxes), 0, 0

    def init(self, frame, box):
        self.index = 0

    def update(self, frame):
        self.index += 1
        self.updates += 1
        return TrackResult(tuple(self.boxes[self.index]), 1.0, False)


class ConstantTracker:
    def init(self, frame, box):
        self.box = tuple(box)

    def update(self, frame):
        return self.box


def _blank_frames(count, width=40, height=40):
    return [np.zeros((height, width, 3), np.uint8) for _ in range(count)]


@needs_real_data
def test_ground_truth_tracker_scores_one_on_a_real_sequence():
    # motocross has NaN rows (target out of view): they are excluded, not failures.
    sequence = load_otb_sequence(os.path.join(REAL_DATA, "motocross"))
    boxes, times = run_sequence(GroundTruthTracker(sequence.boxes), sequence.read_frames(), sequence.init_box)
    assert boxes.shape == (100, 4) and times.shape == (99,)
    scores = otb_metrics(boxes, sequence.boxes)
    assert scores["auc"] == 1.0 and scores["precision_20"] == 1.0
    assert scores["frames"] == 100 - 17


def test_constant_box_tracker_by_hand():
    truth = [(0, 0, 10, 10), (5, 0, 10, 10), (20, 20, 10, 10)]
    boxes, _ = run_sequence(ConstantTracker(), _blank_frames(3), truth[0])
    scores = otb_metrics(boxes, truth)
    assert scores["auc"] == pytest.approx(28 / 63)  # IoUs 1, 1/3, 0: 21 + 7 + 0 of 63 bins
    assert scores["precision_20"] == pytest.approx(2 / 3)  # centre errors 0, 5, 28.3 px


def test_only_update_is_timed():
    class SlowInit(ConstantTracker):
        def init(self, frame, box):
            time.sleep(0.2)
            super().init(frame, box)

    boxes, times = run_sequence(SlowInit(), _blank_frames(4), (1, 2, 3, 4))
    assert len(times) == 3 and times.sum() < 0.1
    np.testing.assert_array_equal(boxes, [(1, 2, 3, 4)] * 4)


def test_box_of_accepts_every_answer_shape():
    assert box_of(TrackResult((1.0, 2.0, 3.0, 4.0), 0.5, False)) == (1, 2, 3, 4)
    assert box_of((True, (1, 2, 3, 4))) == (1, 2, 3, 4)
    assert np.isnan(box_of((False, (0, 0, 0, 0)))).all()
    assert np.isnan(box_of(None)).all()
    assert box_of(np.array([1, 2, 3, 4])) == (1, 2, 3, 4)
    with pytest.raises(TypeError, match="a box is"):
        box_of((1, 2, 3))
    with pytest.raises(ValueError, match="init_box"):
        run_sequence(ConstantTracker(), _blank_frames(2), (np.nan, 0, 1, 1))


def test_opencv_adapter_rounds_boxes_and_maps_failure():
    assert _box_to_rect((10.4, 20.6, 30.2, 40.5)) == (10, 21, 31, 40)
    assert _box_to_rect((0.2, 0.2, 0.1, 0.1)) == (0, 0, 1, 1)

    class FakeOpenCV:
        def __init__(self):
            self.calls = []

        def init(self, frame, rect):
            assert all(isinstance(v, int) for v in rect)
            self.calls.append(rect)

        def update(self, frame):
            return (len(self.calls) % 2 == 0, (1, 2, 3, 4))

    created = []
    adapter = OpenCVTracker(lambda: created.append(FakeOpenCV()) or created[-1])
    with pytest.raises(ValueError, match="before init"):
        adapter.update(_blank_frames(1)[0])
    boxes, _ = run_sequence(adapter, _blank_frames(3), (1.2, 2.0, 3.0, 4.0))
    assert np.isnan(boxes[1:]).all()  # one init call -> ok=False
    run_sequence(adapter, _blank_frames(2), (1.2, 2.0, 3.0, 4.0))
    assert len(created) == 2  # a fresh OpenCV tracker per init


def test_tracker_names_are_checked():
    assert parse_tracker_names("siamfc, MIL,nano") == ["siamfc", "mil", "nano"]
    with pytest.raises(ValueError, match="unknown tracker.*'foo'.*valid names: siamfc, mil, nano, vit, kcf, csrt"):
        parse_tracker_names("mil,foo")
    with pytest.raises(ValueError, match="repeat"):
        parse_tracker_names("mil,mil")
    with pytest.raises(ValueError, match="valid names"):
        make_tracker_spec("goturn")
    assert set(TRACKER_NAMES) >= {"siamfc", "mil", "nano", "kcf", "csrt"}


def test_unavailable_trackers_are_skipped_with_a_message(tmp_path):
    messages = []
    specs = available_specs(["mil", "nano"], log=messages.append, peers=str(tmp_path))
    assert list(specs) == ["mil"]
    assert "nano" in messages[0] and "not found" in messages[0]
    with pytest.raises(TrackerUnavailable):
        make_tracker_spec("vit", peers=str(tmp_path))


def test_kcf_and_csrt_need_contrib():
    import cv2

    for name in ("kcf", "csrt"):
        if hasattr(cv2, f"Tracker{name.upper()}_create") or hasattr(getattr(cv2, "legacy", None), f"Tracker{name.upper()}_create"):
            assert make_tracker_spec(name).name == name
        else:
            with pytest.raises(TrackerUnavailable, match="opencv-contrib"):
                make_tracker_spec(name)


def test_siamfc_spec_says_random_weights_and_rejects_missing_files(tmp_path):
    spec = make_tracker_spec("siamfc")
    if not os.path.isfile(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "weights", "siamfc_mobilenet_v2.pt")):
        assert spec.label == "siamfc (random weights)" and "random weights" in spec.note
    assert make_tracker_spec("siamfc", precision="bf16").fingerprint != spec.fingerprint
    with pytest.raises(ValueError, match=r"model file\(s\) not found"):
        make_tracker_spec("siamfc", weights=str(tmp_path / "none.pt"))


def _clip_sequence(tmp_path, name="clip", frames=6, width=160, height=120):
    import cv2

    images, boxes = moving_texture_clip(frame_count=frames, width=width, height=height, target_size=(32, 32), step=2.0)
    folder = tmp_path / name / "img"
    os.makedirs(folder)
    paths = []
    for index, image in enumerate(images, start=1):
        paths.append(str(folder / f"{index:04d}.jpg"))
        cv2.imwrite(paths[-1], image)
    return Sequence(name, np.array(boxes), paths)


def _counting_spec(name, fingerprint="v1"):
    counter = {"updates": 0}

    class Counting(ConstantTracker):
        def update(self, frame):
            counter["updates"] += 1
            return super().update(frame)

    return TrackerSpec(name, name.upper(), fingerprint, Counting), counter


def test_evaluate_decodes_once_and_caches(tmp_path, monkeypatch):
    sequences = [_clip_sequence(tmp_path, "one"), _clip_sequence(tmp_path, "two")]
    reads = []
    original = Sequence.read_frames
    monkeypatch.setattr(Sequence, "read_frames", lambda self, max_frames=None: reads.append(self.name) or original(self, max_frames))
    first, first_count = _counting_spec("a")
    second, second_count = _counting_spec("b")
    cache = str(tmp_path / "cache")
    records = evaluate(sequences, {"a": first, "b": second}, cache_dir=cache, progress=False)
    assert reads == ["one", "two"]  # once per sequence, shared by both trackers
    assert [(r.tracker, r.sequence, r.cached) for r in records] == [("a", "one", False), ("b", "one", False), ("a", "two", False), ("b", "two", False)]
    # Each tracker warms up once (5 updates) then runs 5 updates per sequence.
    assert first_count["updates"] == 5 + 10 and second_count["updates"] == 5 + 10

    reads.clear()
    messages = []
    again = evaluate(sequences, {"a": first, "b": second}, cache_dir=cache, progress=False, log=messages.append)
    assert reads == [] and all(r.cached for r in again) and "4 of 4" in messages[0]
    assert first_count["updates"] == 15
    for old, new in zip(records, again):
        np.testing.assert_array_equal(old.boxes, new.boxes)
        np.testing.assert_array_equal(old.update_seconds, new.update_seconds)

    changed, changed_count = _counting_spec("a", fingerprint="v2")
    rerun = evaluate(sequences, {"a": changed}, cache_dir=cache, progress=False)
    assert not any(r.cached for r in rerun) and changed_count["updates"] == 15


def test_cache_keeps_nan_boxes(tmp_path):
    sequence = _clip_sequence(tmp_path, frames=3)

    class Failing(ConstantTracker):
        def update(self, frame):
            return (False, (0, 0, 0, 0))

    spec = TrackerSpec("f", "F", "x", Failing)
    evaluate([sequence], {"f": spec}, cache_dir=str(tmp_path / "c"), progress=False)
    (record,) = evaluate([sequence], {"f": spec}, cache_dir=str(tmp_path / "c"), progress=False, log=lambda m: None)
    assert record.cached and np.isnan(record.boxes[1:]).all() and np.isfinite(record.boxes[0]).all()


def test_mil_and_nano_track_a_synthetic_clip(tmp_path):
    sequence = _clip_sequence(tmp_path, frames=5)
    names = ["mil"] + (["nano"] if os.path.isdir(os.path.join(default_peers_root(), "nanotrack-v2")) else [])
    specs = available_specs(names, log=lambda m: None)
    records = evaluate([sequence], specs, progress=False)
    assert [r.tracker for r in records] == names
    for record in records:
        assert np.isfinite(record.boxes).all() and record.fps > 0
        assert otb_metrics(record.boxes, sequence.boxes)["auc"] > 0.3


def test_benchmark_times_every_tracker_on_the_same_frames(tmp_path):
    sequences = [_clip_sequence(tmp_path, "one", frames=5), _clip_sequence(tmp_path, "two", frames=4)]
    first, first_count = _counting_spec("a")
    second, _ = _counting_spec("b")
    records = benchmark(sequences, {"a": first, "b": second}, max_frames=4, repeats=2, progress=False)
    assert [(r.tracker, r.sequence, r.updates, len(r.seconds)) for r in records] == [
        ("a", "one", 3, 2), ("b", "one", 3, 2), ("a", "two", 3, 2), ("b", "two", 3, 2)
    ]
    assert first_count["updates"] == 4 + 3 * 2 * 2  # warm-up on the first sequence's 5 frames
    assert all(r.fps > 0 for r in records)
    with pytest.raises(ValueError, match="repeats"):
        benchmark(sequences, {"a": first}, repeats=0, progress=False)


def test_default_siamfc_runs_the_shipped_siamfc_weights_with_the_config_they_carry():
    from tracker.shipped import SHIPPED_SIAMFC_MODEL, shipped_weights

    if not shipped_weights(SHIPPED_SIAMFC_MODEL).is_file():
        pytest.skip("no shipped weights")
    tracker = make_tracker_spec("siamfc", device="cpu").create()
    assert tracker.config.model.backbone == "mobilenet_v2"
    assert tracker.config.model.head == "correlation"  # the name says SiamFC, though the default model is the box head
