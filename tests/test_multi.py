"""MultiTracker: one batched network call per update, the same results as independent trackers."""
import numpy as np
import pytest

from tracker import Tracker, TrackerConfig
from tracker.backends import score_batch
from tracker.backends.fake import FakeBackend
from tracker.backends.onnx_backend import OnnxBackend
from tracker.backends.torch_backend import TorchBackend
from tracker.multi import MultiTracker
from tracker.export.exporter import export_onnx, random_model
from tools.synthetic import moving_texture_clip


@pytest.fixture(scope="module")
def clips():
    """Three textured targets moving on different paths over one background."""
    frames, boxes = moving_texture_clip(frame_count=5, step=5.0, seed=3)
    second_frames, second_boxes = moving_texture_clip(frame_count=5, step=5.0, seed=4, target_size=(48, 64))
    merged, targets = [], []
    for index, (frame, other, box, other_box) in enumerate(zip(frames, second_frames, boxes, second_boxes)):
        frame = frame.copy()
        x, y, w, h = (int(v) for v in other_box)
        # Mirror the second clip's target horizontally so the paths differ.
        mirrored_x = frame.shape[1] - x - w
        frame[y : y + h, mirrored_x : mirrored_x + w] = other[y : y + h, x : x + w]
        merged.append(frame)
        targets.append([box, (float(mirrored_x), float(y), float(w), float(h)), (300.0, 200.0, 40.0, 40.0)])
    return merged, targets


def run_independent(backend, config, frames, targets):
    trackers = [Tracker(backend, config) for _ in targets[0]]
    for tracker, box in zip(trackers, targets[0]):
        tracker.init(frames[0], box)
    return [[tracker.update(frame) for tracker in trackers] for frame in frames[1:]]


def run_multi(backend, config, frames, targets):
    multi = MultiTracker(backend, config)
    ids = [multi.add(frames[0], box) for box in targets[0]]
    results = []
    for frame in frames[1:]:
        by_id = multi.update(frame)
        assert list(by_id) == ids
        results.append([by_id[i] for i in ids])
    return results


def assert_same(independent, batched, tolerance):
    for per_frame_a, per_frame_b in zip(independent, batched):
        for a, b in zip(per_frame_a, per_frame_b):
            np.testing.assert_allclose(a.box, b.box, atol=tolerance)
            assert abs(a.score - b.score) < 1e-4 and a.lost == b.lost


def test_fake_backend_gets_one_call_per_update(clips):
    frames, targets = clips
    backend = FakeBackend(lambda crops: np.tile(np.eye(17, dtype=np.float32)[None], (len(crops), 1, 1)))
    multi = MultiTracker(backend, TrackerConfig())
    for box in targets[0]:
        multi.add(frames[0], box)
    multi.update(frames[1])
    multi.update(frames[2])
    assert backend.batch_calls == 2 and len(multi) == 3


def test_torch_batched_equals_independent(random_model, clips):
    frames, targets = clips
    backend = TorchBackend(random_model, device="cpu")
    assert_same(run_independent(backend, TrackerConfig(), frames, targets), run_multi(backend, TrackerConfig(), frames, targets), 1e-3)


def test_onnx_batched_equals_independent(tmp_path, clips):
    config = TrackerConfig()
    export_onnx(random_model(config, seed=0), config, str(tmp_path / "model"))
    backend = OnnxBackend(tmp_path / "model.onnx", providers=["CPUExecutionProvider"])
    frames, targets = clips
    assert_same(run_independent(backend, config, frames, targets), run_multi(backend, config, frames, targets), 1e-3)


def test_torch_score_batch_equals_score(random_model):
    backend = TorchBackend(random_model, device="cpu")
    rng = np.random.default_rng(0)
    features = [backend.embed(rng.integers(0, 256, (127, 127, 3), dtype=np.uint8)) for _ in range(2)]
    crops = rng.integers(0, 256, (6, 255, 255, 3), dtype=np.uint8)
    batched = backend.score_batch(features, crops)["response"]
    singles = np.concatenate([backend.score(features[0], crops[:3])["response"], backend.score(features[1], crops[3:])["response"]])
    np.testing.assert_allclose(batched, singles, atol=1e-4 * np.abs(singles).max())


def test_backend_without_score_batch_is_called_per_target():
    class Plain:
        calls = 0

        def embed(self, crop):
            return crop

        def score(self, features, crops):
            Plain.calls += 1
            return {"response": np.zeros((len(crops), 1, 17, 17), np.float32)}

    out = score_batch(Plain(), [None, None], np.zeros((6, 255, 255, 3), np.uint8))
    assert out["response"].shape == (6, 1, 17, 17) and Plain.calls == 2
    with pytest.raises(ValueError, match="cannot be split evenly"):
        score_batch(Plain(), [None, None], np.zeros((5, 255, 255, 3), np.uint8))


def test_add_remove_and_ids(clips):
    frames, targets = clips
    multi = MultiTracker(FakeBackend(lambda crops: np.zeros((len(crops), 17, 17), np.float32)), TrackerConfig())
    assert multi.update(frames[1]) == {}
    first, second = multi.add(frames[0], targets[0][0]), multi.add(frames[0], targets[0][1])
    multi.remove(first)
    third = multi.add(frames[0], targets[0][2])
    assert (first, second, third) == (0, 1, 2) and multi.target_ids == [1, 2]
    assert list(multi.update(frames[1])) == [1, 2]
    with pytest.raises(ValueError, match="no target with id 0"):
        multi.remove(first)
    with pytest.raises(ValueError, match="must be > 0"):
        multi.add(frames[0], (10, 10, 0, 5))


def test_add_on_a_frame_of_another_size_is_refused_and_the_tracker_stays_usable():
    multi = MultiTracker(FakeBackend(lambda crops: np.zeros((len(crops), 17, 17), np.float32)), TrackerConfig())
    small, large = np.zeros((240, 360, 3), np.uint8), np.zeros((480, 720, 3), np.uint8)
    first = multi.add(small, (10, 10, 40, 40))
    with pytest.raises(ValueError, match=r"cannot add a target on a 720x480 frame: the 1 current target\(s\) are on 360x240"):
        multi.add(large, (10, 10, 40, 40))
    assert multi.target_ids == [first]
    assert list(multi.update(small)) == [first]  # still tracking
    with pytest.raises(ValueError, match=r"frame size changed from 360x240 .* to 720x480") as error:
        multi.update(large)
    assert "init()" not in str(error.value)  # MultiTracker has none
    assert list(multi.update(small)) == [first]
    second = multi.add(np.zeros((240, 360), np.uint8), (50, 50, 30, 30))  # grayscale of the same size is the same video
    multi.remove(first)
    multi.remove(second)
    third = multi.add(large, (10, 10, 40, 40))  # no targets left: a new video may start
    assert list(multi.update(large)) == [third]
