"""Long runs: soaks for memory growth and latency drift, a target that leaves the frame and
comes back, a target that grows to fill the frame and shrinks to a few pixels."""
import math
import time

import numpy as np
import pytest

from tools import soak
from tracker.backends.fake import FakeBackend
from tracker.boxes import clip_to_frame
from tools.synthetic import scripted_clip

MAX_RSS_GROWTH_MB = 20.0
# The default suite shares two CPU cores with other work: a window's median may move with the
# machine's load, so the suite allows 2x; the soak command's own default is 1.5x.
MAX_LATENCY_RATIO = 2.0


def soak_main(capsys, *args):
    status = soak.main([str(a) for a in args] + ["--quiet"])
    out = capsys.readouterr().out
    return status, out


def test_fake_backend_soak_of_10000_updates(capsys):
    status, out = soak_main(capsys, "--backend", "fake", "--updates", 10000, "--small",
                            "--max-rss-growth-mb", MAX_RSS_GROWTH_MB, "--max-latency-ratio", MAX_LATENCY_RATIO)
    assert status == 0, out
    assert "10000 updates" in out and "RSS growth" in out and "median latency, last 1000" in out
    assert out.rstrip().endswith("result: pass")


@pytest.mark.parametrize("backend, extra", [("torch", ["--threads", 1]), ("onnx", ["--threads", 1])])
def test_real_network_soak_short(capsys, backend, extra):
    # CPU time: the suite may share its two cores with a training run, and a 50-update window
    # (a quarter of a second) then doubles its wall-clock median whenever the core is taken
    # away (seen: 3.7 -> 8.1 ms wall, 3.7 -> 4.1 ms CPU). The 10,000-update soak keeps the wall clock.
    status, out = soak_main(capsys, "--backend", backend, "--updates", 200, "--window", 50, "--warmup", 20,
                            "--small", "--scales", 1, *extra, "--latency-clock", "cpu",
                            "--max-rss-growth-mb", MAX_RSS_GROWTH_MB, "--max-latency-ratio", MAX_LATENCY_RATIO)
    assert status == 0, out
    assert out.rstrip().endswith("result: pass")


def test_soak_runs_the_shipped_default_model(capsys):
    """The default model is the box head, whose tracking loop is not SiamFC's."""
    from tracker.shipped import default_model

    pytest.importorskip("onnxruntime")
    status, out = soak_main(capsys, "--backend", "onnx", "--model", default_model(int8=True), "--threads", 1,
                            "--updates", 200, "--window", 50, "--warmup", 20, "--latency-clock", "cpu",
                            "--max-rss-growth-mb", MAX_RSS_GROWTH_MB, "--max-latency-ratio", MAX_LATENCY_RATIO)
    assert status == 0, out
    assert "200 updates" in out and out.rstrip().endswith("result: pass")


@pytest.mark.slow
def test_real_network_soak_of_10000_updates(capsys):
    """About 2.5 minutes on two CPU cores (torch, one thread); for the ONNX runtime run the
    same command with --backend onnx (about 3 minutes)."""
    status, out = soak_main(capsys, "--backend", "torch", "--threads", 1, "--updates", 10000, "--small", "--scales", 1,
                            "--max-rss-growth-mb", MAX_RSS_GROWTH_MB, "--max-latency-ratio", MAX_LATENCY_RATIO)
    print(out)
    assert status == 0, out


def test_the_soak_catches_a_leak_and_a_drift():
    """The soak must be able to fail: a backend that keeps 1 MiB per update, and one that slows down."""
    config = soak.soak_config(small=True)
    respond = soak.centred_bump(config.model.response_size)
    kept = []

    def leaking(crops):
        kept.append(np.ones(2**20 // 8))  # 1 MiB, written, per update: more than the allocator's free pages
        return respond(crops)

    result = soak.run_soak(FakeBackend(leaking, record=False), config, updates=250, window=50, warmup=20, progress=False)
    assert result.rss_growth_mb > MAX_RSS_GROWTH_MB
    kept.clear()
    assert any("RSS grew" in found for found in soak.failures(result, MAX_RSS_GROWTH_MB, MAX_LATENCY_RATIO))

    calls = []

    def slowing(crops):
        calls.append(1)
        time.sleep(0.00002 * len(calls))  # 0 ms at the start, 6 ms after 300 calls
        return respond(crops)

    result = soak.run_soak(FakeBackend(slowing, record=False), config, updates=300, window=50, warmup=10, progress=False)
    assert result.latency_ratio > 3
    assert any("latency drifted" in found for found in soak.failures(result, MAX_RSS_GROWTH_MB, MAX_LATENCY_RATIO))


def test_the_cpu_clock_sees_work_that_grows_and_not_waits():
    """``--latency-clock cpu`` fails a loop whose work per update grows; a wait that grows
    (a sleep, as from a neighbour taking the core) shows on the wall clock only."""
    config = soak.soak_config(small=True)
    respond = soak.centred_bump(config.model.response_size)

    calls = []

    def burn(seconds):
        deadline = time.process_time() + seconds
        while time.process_time() < deadline:
            pass

    # Both loops burn a fixed 2 ms of CPU per update: process_time counts every thread of the
    # process, and threads left by earlier tests (thread pools, monitors) bill CPU in proportion
    # to the wall time; on a bare 0.3 ms update that noise alone once read as a 2.5x drift.
    def burning(crops):
        calls.append(1)
        burn(0.002 + 0.00005 * len(calls))  # CPU work, 2 ms at the start, 17 ms after 300 calls
        return respond(crops)

    result = soak.run_soak(FakeBackend(burning, record=False), config, updates=300, window=50, warmup=10,
                           progress=False)
    assert result.cpu_ratio > 3 and result.drift_ratio("cpu") == result.cpu_ratio
    assert any("CPU time per update drifted" in found
               for found in soak.failures(result, MAX_RSS_GROWTH_MB, MAX_LATENCY_RATIO, clock="cpu"))

    calls.clear()

    def sleeping(crops):
        calls.append(1)
        burn(0.002)
        time.sleep(0.0001 * len(calls))  # 0 ms at the start, 30 ms after 300 calls
        return respond(crops)

    result = soak.run_soak(FakeBackend(sleeping, record=False), config, updates=300, window=50, warmup=10,
                           progress=False)
    assert result.latency_ratio > 3 and result.cpu_ratio < MAX_LATENCY_RATIO
    assert soak.failures(result, MAX_RSS_GROWTH_MB, MAX_LATENCY_RATIO, clock="cpu") == []
    with pytest.raises(ValueError, match="clock must be one of wall, cpu"):
        result.drift_ratio("gpu")


def test_soak_arguments_are_checked(capsys):
    for args in (["--backend", "fake", "--updates", "0"], ["--backend", "fake", "--size", "big"],
                 ["--backend", "fake", "--model", "x.pt"], ["--backend", "gpu"],
                 ["--backend", "fake", "--latency-clock", "gpu"]):
        with pytest.raises(SystemExit) as exit_info:
            soak.main(args)
        assert exit_info.value.code == 2
        assert "error:" in capsys.readouterr().err


def test_ping_pong_loops_without_a_jump():
    loop = soak.ping_pong(5)
    assert loop == [0, 1, 2, 3, 4, 3, 2, 1]
    steps = np.abs(np.diff(loop + loop[:1]))
    assert steps.max() == 1


# ---------------------------------------------------------------------------------------
# Targets that leave the frame, and that grow and shrink (real network: random-weights AlexNet, ONNX)


def onnx_tracker_factory(folder, small):
    from tracker import Tracker

    backend, config = soak.build_backend("onnx", soak.soak_config(small=small), folder=str(folder))
    return lambda: Tracker(backend, config)


@pytest.fixture(scope="module")
def small_onnx(tmp_path_factory):
    """Random AlexNet with small crops, 3 scales: the same code paths at a fraction of the work."""
    return onnx_tracker_factory(tmp_path_factory.mktemp("small"), small=True)


@pytest.fixture(scope="module")
def full_onnx(tmp_path_factory):
    return onnx_tracker_factory(tmp_path_factory.mktemp("full"), small=False)


def assert_sane(result, width, height):
    assert all(math.isfinite(v) for v in result.box), result
    assert result.box[2] > 0 and result.box[3] > 0, result
    _, _, visible_w, visible_h = clip_to_frame(result.box, width, height)
    assert visible_w > 0 and visible_h > 0, f"{result} does not overlap the frame"
    assert math.isfinite(result.score)


def iou(a, b):
    ax0, ay0, aw, ah = a
    bx0, by0, bw, bh = b
    w = max(0.0, min(ax0 + aw, bx0 + bw) - max(ax0, bx0))
    h = max(0.0, min(ay0 + ah, by0 + bh) - max(ay0, by0))
    return w * h / (aw * ah + bw * bh - w * h)


def leave_and_return(width=320, height=240, side=40, step=8.0, away=12):
    """Centre path: from the middle out past the right edge (gone entirely), ``away`` frames
    unseen, then back to the middle."""
    out_x = width + side  # wholly outside
    going = list(np.arange(width / 2, out_x, step))
    path = going + [out_x] * away + going[::-1]
    return [(x, height / 2) for x in path], [(side, side)] * len(path)


def check_leave_and_return(make_tracker):
    width, height = 320, 240
    centers, sizes = leave_and_return(width, height)
    frames, truth = scripted_clip(centers, sizes, width, height, seed=4)
    tracker = make_tracker()
    tracker.init(frames[0], truth[0])
    results = [tracker.update(frame) for frame in frames[1:]]
    for result in results:
        assert_sane(result, width, height)
    gone = [r for r, t in zip(results, truth[1:]) if clip_to_frame(t, width, height)[2] <= 0]
    assert gone, "the path must take the target wholly out of the frame"


def test_target_leaves_the_frame_and_returns(small_onnx):
    check_leave_and_return(small_onnx)


@pytest.mark.slow
def test_target_leaves_the_frame_and_returns_full_size_network(full_onnx):
    check_leave_and_return(full_onnx)


def grow_and_shrink(width=320, height=240, start=40, largest=400, smallest=4, frames_each=20):
    """Side: ``start`` -> ``largest`` (past filling the frame) -> ``smallest`` pixels, centred."""
    grow = np.geomspace(start, largest, frames_each)
    shrink = np.geomspace(largest, smallest, 2 * frames_each)
    sides = list(grow) + list(shrink[1:])
    return [(width / 2, height / 2)] * len(sides), [(s, s) for s in sides]


def check_grow_and_shrink(make_tracker):
    width, height = 320, 240
    centers, sizes = grow_and_shrink(width, height)
    frames, truth = scripted_clip(centers, sizes, width, height, seed=5)
    tracker = make_tracker()
    tracker.init(frames[0], truth[0])
    config = tracker.config.tracking
    for frame in frames[1:]:
        result = tracker.update(frame)
        assert_sane(result, width, height)
        # The size stays within the configured bounds around the first box.
        side = math.sqrt(result.box[2] * result.box[3])
        assert config.min_scale * 40 - 1e-6 <= side <= config.max_scale * 40 + 1e-6


def test_target_grows_to_fill_the_frame_and_shrinks_to_a_few_pixels(small_onnx):
    check_grow_and_shrink(small_onnx)


@pytest.mark.slow
def test_target_grows_and_shrinks_full_size_network(full_onnx):
    check_grow_and_shrink(full_onnx)


@pytest.mark.parametrize("path", ["leave", "zoom"])
def test_scripted_paths_with_the_fake_backend(path):
    """The same paths through the tracking loop alone, with a network answer that follows nothing."""
    from tracker import Tracker
    from tracker.config import TrackerConfig

    width, height = 320, 240
    centers, sizes = leave_and_return(width, height) if path == "leave" else grow_and_shrink(width, height)
    frames, truth = scripted_clip(centers, sizes, width, height)
    config = TrackerConfig()
    rng = np.random.default_rng(0)
    tracker = Tracker(FakeBackend(lambda crops: rng.normal(0, 1, (len(crops), 17, 17)).astype(np.float32), record=False), config)
    tracker.init(frames[0], truth[0])
    for frame in frames[1:]:
        assert_sane(tracker.update(frame), width, height)


def test_scripted_clip_draws_the_target_where_it_says():
    frames, boxes = scripted_clip([(50, 40), (-100, 40), (60, 50)], [(20, 10), (20, 10), (1000, 1000)], 160, 120, seed=1)
    x, y, w, h = (int(v) for v in boxes[0])
    assert (x, y, w, h) == (40, 35, 20, 10)
    background = scripted_clip([(-100, -100)], [(20, 10)], 160, 120, seed=1)[0][0]
    differs = np.abs(frames[0].astype(int) - background.astype(int)).max(axis=2) > 20
    rows, cols = np.nonzero(differs)
    assert rows.min() >= y and rows.max() < y + h and cols.min() >= x and cols.max() < x + w
    assert np.abs(frames[1].astype(int) - background.astype(int)).max() <= 12  # wholly outside: noise only
    assert boxes[2] == (60.0 - 500, 50.0 - 500, 1000.0, 1000.0)
    with pytest.raises(ValueError, match="one size per centre"):
        scripted_clip([(1, 1)], [], 10, 10)
