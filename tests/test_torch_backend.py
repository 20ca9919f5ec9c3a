import subprocess
import sys

import numpy as np
import pytest
import torch

from tracker import Tracker, TrackerConfig
from tracker.backends import Backend
from tracker.backends.torch_backend import TorchBackend
from tools.synthetic import moving_texture_clip


def iou(a, b):
    overlap_w = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    overlap_h = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    overlap = overlap_w * overlap_h
    return overlap / (a[2] * a[3] + b[2] * b[3] - overlap)


@pytest.fixture(scope="module")
def clip():
    return moving_texture_clip(frame_count=20, step=6.0, seed=3)


def track(tracker, frames, boxes):
    tracker.init(frames[0], boxes[0])
    return [tracker.update(frame) for frame in frames[1:]]


def test_backend_satisfies_protocol(random_model):
    assert isinstance(TorchBackend(random_model, device="cpu"), Backend)


def test_backend_matches_unfused_model(random_model):
    backend = TorchBackend(random_model, device="cpu")
    rng = np.random.default_rng(0)
    template = rng.integers(0, 256, (127, 127, 3), dtype=np.uint8)
    crops = rng.integers(0, 256, (3, 255, 255, 3), dtype=np.uint8)
    responses = backend.score(backend.embed(template), crops)["response"]
    with torch.inference_mode():
        to_nchw = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).float()
        expected = random_model.score(random_model.embed(to_nchw(template[None])), to_nchw(crops))["response"].numpy()
    assert responses.shape == (3, 1, 17, 17) and responses.dtype == np.float32
    np.testing.assert_allclose(responses, expected, atol=1e-4 * np.abs(expected).max())


def test_random_weights_follow_moving_texture_end_to_end(random_model, clip):
    frames, boxes = clip
    results = track(Tracker(TorchBackend(random_model, device="cpu"), TrackerConfig()), frames, boxes)
    overlaps = [iou(result.box, box) for result, box in zip(results, boxes[1:])]
    assert all(np.isfinite(result.box).all() and 0.0 <= result.score <= 1.0 for result in results)
    assert np.mean(overlaps) > 0.7, overlaps


def test_bf16_tracks_like_fp32(random_model, clip):
    frames, boxes = clip
    fp32 = track(Tracker(TorchBackend(random_model, device="cpu"), TrackerConfig()), frames, boxes)
    bf16 = track(Tracker(TorchBackend(random_model, device="cpu", precision="bf16"), TrackerConfig()), frames, boxes)
    overlaps = [iou(a.box, b.box) for a, b in zip(fp32, bf16)]
    assert np.mean(overlaps) > 0.7, overlaps


def test_bad_device_and_precision(random_model):
    with pytest.raises(ValueError, match="unknown device 'banana'"):
        TorchBackend(random_model, device="banana")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            TorchBackend(random_model, device="cuda")
    with pytest.raises(ValueError, match="precision must be one of"):
        TorchBackend(random_model, precision="fp8")


def test_importing_tracker_does_not_import_torch():
    code = "import sys, tracker, tracker.geometry, tracker.backends.fake; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
