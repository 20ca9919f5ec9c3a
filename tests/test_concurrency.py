"""Several ``Tracker`` instances in threads of one process, sharing one backend, give exactly
the results they give run one after another (no shared mutable state)."""
import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
import torch

from tracker import Tracker
from tracker.backends.fake import FakeBackend
from tools.soak import build_backend, soak_config
from tools.synthetic import moving_texture_clip

THREADS = 4


def clips(count, frames, width=320, height=240):
    return [moving_texture_clip(frame_count=frames, width=width, height=height, target_size=(40, 40), step=5.0, seed=seed)
            for seed in range(count)]


def track(backend, config, clip, start=None):
    frames, boxes = clip
    tracker = Tracker(backend, config)
    if start is not None:
        start.wait()  # all threads start together, so their updates interleave
    tracker.init(frames[0], boxes[0])
    return [(r.box, r.score, r.lost) for r in (tracker.update(frame) for frame in frames[1:])]


def serial_and_threaded(backend, config, work):
    serial = [track(backend, config, clip) for clip in work]
    start = threading.Barrier(len(work))
    with ThreadPoolExecutor(max_workers=len(work)) as pool:
        threaded = list(pool.map(lambda clip: track(backend, config, clip, start), work))
    return serial, threaded


def brightness_response(size):
    """A fake network whose answer depends on the crops: each crop's brightness, shrunk to
    ``size`` x ``size``; the trackers then go where their own frames take them."""

    def respond(crops):
        return np.stack([cv2.resize(cv2.cvtColor(c, cv2.COLOR_BGR2GRAY), (size, size), interpolation=cv2.INTER_AREA)
                         for c in crops]).astype(np.float32) / 255.0

    return respond


def test_many_threads_on_a_shared_fake_backend():
    config = soak_config()
    backend = FakeBackend(brightness_response(config.model.response_size), record=False)
    work = clips(8, 25)
    serial, threaded = serial_and_threaded(backend, config, work)
    assert threaded == serial
    assert len({tuple(r[0][0]) for r in serial}) == len(work)  # the targets really differ


@pytest.mark.parametrize("kind", ["torch", "onnx"])
def test_trackers_in_threads_sharing_a_network_match_serial_runs(kind, tmp_path):
    config = soak_config(small=True)  # 3 scales, small crops: the same code paths, faster
    # One intra-op thread each keeps the test fast on a small machine; the Python threads
    # still call into the one shared torch model / onnxruntime session at the same time.
    torch_threads = torch.get_num_threads()
    backend, config = build_backend(kind, config, threads=1, folder=str(tmp_path))
    try:
        work = clips(THREADS, 6)
        serial, threaded = serial_and_threaded(backend, config, work)
        assert threaded == serial  # bit for bit
        # The same clip in every thread at once: every thread gets the serial answer.
        _, threaded_same = serial_and_threaded(backend, config, [work[0]] * THREADS)
        assert all(result == serial[0] for result in threaded_same)
    finally:
        torch.set_num_threads(torch_threads)
