"""Hostile boxes and frames: a clear ``ValueError``/``TypeError``, or a finite box that overlaps the frame.

The properties run on a fake backend (fast); a few cases run the real network too.
"""
import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tracker import Tracker, TrackerConfig, TrackingConfig
from tracker.backends.fake import FakeBackend
from tracker.backends.torch_backend import TorchBackend
from tracker.boxes import MAX_BOX_FRAMES, MIN_BOX_SIDE, clip_to_frame, validate_box
from tracker.config import CONFIDENCE_MEASURES
from tools.synthetic import moving_texture_clip

RESPONSE_SIZE = TrackerConfig().model.response_size
FRAME = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
BOX = (100.0, 80.0, 40.0, 30.0)


def centred_bump(crops):
    rows, cols = np.mgrid[0:RESPONSE_SIZE, 0:RESPONSE_SIZE]
    bump = np.exp(-((rows - RESPONSE_SIZE // 2) ** 2 + (cols - RESPONSE_SIZE // 2) ** 2) / 2.0)
    return np.repeat(bump[None], len(crops), axis=0).astype(np.float32)


def fake_tracker(respond=centred_bump, **tracking):
    config = TrackerConfig(tracking=dataclasses.replace(TrackingConfig(), **tracking))
    return Tracker(FakeBackend(respond, record=False), config)


def assert_sane(result, width, height):
    """A finite box of positive size that overlaps the frame, a finite score, a bool ``lost``."""
    x, y, w, h = result.box
    assert all(math.isfinite(v) for v in result.box), result
    assert w > 0 and h > 0, result
    _, _, clipped_w, clipped_h = clip_to_frame(result.box, width, height)
    assert clipped_w > 0 and clipped_h > 0, f"{result} does not overlap the {width}x{height} frame"
    assert math.isfinite(result.score), result
    assert isinstance(result.lost, bool)


# ---------------------------------------------------------------------------------------
# Properties (fake backend)


@st.composite
def frames(draw, max_side=400):
    """Frames of any accepted kind: BGR, grayscale (2-D or one channel), BGRA,
    non-contiguous, read-only, Fortran-ordered; 1 to ``max_side`` pixels a side."""
    height, width = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    kind = draw(st.sampled_from(["bgr", "gray", "gray1", "bgra", "strided", "readonly", "fortran"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if kind == "gray":
        return rng.integers(0, 256, (height, width), dtype=np.uint8)
    if kind == "gray1":
        return rng.integers(0, 256, (height, width, 1), dtype=np.uint8)
    if kind == "bgra":
        return rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    if kind == "strided":
        return rng.integers(0, 256, (2 * height, 2 * width, 3), dtype=np.uint8)[::2, ::2]
    frame = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    if kind == "readonly":
        frame.setflags(write=False)
    if kind == "fortran":
        frame = np.asfortranarray(frame)
    return frame


@st.composite
def boxes_in(draw, width, height):
    """Any box ``validate_box`` accepts: sides from ``MIN_BOX_SIDE`` to ``MAX_BOX_FRAMES`` frames,
    anywhere that overlaps the frame (so partly outside too)."""
    w = draw(st.floats(MIN_BOX_SIDE, MAX_BOX_FRAMES * width))
    h = draw(st.floats(MIN_BOX_SIDE, MAX_BOX_FRAMES * height))
    along_x = draw(st.floats(0.0, 1.0, exclude_min=True, exclude_max=True))
    along_y = draw(st.floats(0.0, 1.0, exclude_min=True, exclude_max=True))
    return (-w + along_x * (width + w), -h + along_y * (height + h), w, h)


# One network answer per update: a bump anywhere, a flat map, noise, or extreme values.
RESPONSES = st.one_of(
    st.tuples(st.just("bump"), st.integers(0, RESPONSE_SIZE - 1), st.integers(0, RESPONSE_SIZE - 1), st.floats(-50, 50)),
    st.tuples(st.just("flat"), st.floats(-1e6, 1e6)),
    st.tuples(st.just("noise"), st.integers(0, 2**16)),
    st.tuples(st.just("extreme"), st.sampled_from([3e38, -3e38, 1e-38])),
)


def response_maps(spec, count):
    rows, cols = np.mgrid[0:RESPONSE_SIZE, 0:RESPONSE_SIZE]
    if spec[0] == "bump":
        _, row, col, logit = spec
        bump = logit * np.exp(-((rows - row) ** 2 + (cols - col) ** 2) / 2.0)
        return np.stack([bump * (1.0 - 0.1 * k) for k in range(count)]).astype(np.float32)
    if spec[0] == "flat":
        return np.full((count, RESPONSE_SIZE, RESPONSE_SIZE), spec[1], np.float32)
    if spec[0] == "noise":
        return np.random.default_rng(spec[1]).normal(0, 3, (count, RESPONSE_SIZE, RESPONSE_SIZE)).astype(np.float32)
    maps = np.zeros((count, RESPONSE_SIZE, RESPONSE_SIZE), np.float32)
    maps[:, RESPONSE_SIZE // 3, RESPONSE_SIZE // 2] = spec[1]
    return maps


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    data=st.data(),
    frame=frames(),
    responses=st.lists(RESPONSES, min_size=1, max_size=6),
    scale_count=st.sampled_from([1, 3, 5]),
    measure=st.sampled_from(CONFIDENCE_MEASURES),
    redetect=st.booleans(),
)
def test_any_valid_input_gives_a_finite_box_overlapping_the_frame(data, frame, responses, scale_count, measure, redetect):
    height, width = frame.shape[:2]
    box = data.draw(boxes_in(width, height))
    try:
        validate_box(box, width, height)
    except ValueError:  # float rounding at the very edge of the valid range
        assume(False)
    answers = iter([centred_bump] + [lambda crops, spec=spec: response_maps(spec, len(crops)) for spec in responses])
    tracker = fake_tracker(lambda crops: next(answers)(crops), scale_count=scale_count, confidence=measure, redetect=redetect)
    before = frame.copy()
    tracker.init(frame, box)
    for _ in responses:
        assert_sane(tracker.update(frame), width, height)
    np.testing.assert_array_equal(frame, before)  # the caller's frame is never written


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(1, 500),
    height=st.integers(1, 500),
    box=st.tuples(*[st.floats(allow_nan=True, allow_infinity=True)] * 4),
)
def test_any_box_is_accepted_or_refused_with_a_clear_error(width, height, box):
    """Whatever four floats: either ``init`` accepts them, or it raises a ValueError that says why."""
    tracker = fake_tracker()
    frame = np.zeros((height, width, 3), np.uint8)
    try:
        tracker.init(frame, box)
    except ValueError as error:
        assert "box" in str(error)
        assert not tracker.initialised
        return
    assert_sane(tracker.update(frame), width, height)


# ---------------------------------------------------------------------------------------
# Boxes: each hostile kind, with the words its error must contain


@pytest.mark.parametrize(
    "box, error, words",
    [
        ((10, 10, 0, 10), ValueError, "width and height must be > 0"),
        ((10, 10, 10, -3), ValueError, "width and height must be > 0"),
        ((10, 10, 1e-9, 10), ValueError, "at least 0.01 pixels"),
        ((10, 10, 5e-324, 5e-324), ValueError, "at least 0.01 pixels"),  # was ZeroDivisionError
        ((0, 0, 1e300, 1e300), ValueError, "too large for the 320x240 frame"),  # was a NaN box
        ((-1e9, -1e9, 2e9, 2e9), ValueError, "too large"),
        ((320, 0, 10, 10), ValueError, "entirely outside the 320x240 frame"),
        ((-10, 0, 10, 10), ValueError, "entirely outside"),
        ((0, -1e6, 10, 10), ValueError, "entirely outside"),
        ((math.nan, 0, 10, 10), ValueError, "finite"),
        ((0, 0, math.inf, 10), ValueError, "finite"),
        ((0, -math.inf, 10, 10), ValueError, "finite"),
        ((0, 0, 10), TypeError, "four numbers"),
        ((0, 0, 10, 10, 5), TypeError, "four numbers"),
        ("1234", TypeError, "string"),
        (("1", "2", "3", "4"), TypeError, "strings and booleans"),
        ((True, 0, 10, 10), TypeError, "strings and booleans"),
        (None, TypeError, "four numbers"),
        (7, TypeError, "four numbers"),
        ({"x": 1, "y": 2, "w": 3, "h": 4}, TypeError, "four numbers"),
        (((1, 2), (3, 4), 5, 6), TypeError, "four numbers"),
    ],
)
def test_hostile_boxes_are_clear_errors(box, error, words):
    tracker = fake_tracker()
    with pytest.raises(error, match=words) as raised:
        tracker.init(FRAME, box)
    assert "(x, y, w, h)" in str(raised.value) or error is ValueError
    assert not tracker.initialised


@pytest.mark.parametrize(
    "box",
    [
        (-30.0, -20.0, 50.0, 40.0),  # partly outside, top-left
        (300.0, 220.0, 50.0, 40.0),  # partly outside, bottom-right
        (-100.0, -100.0, 520.0, 440.0),  # larger than the frame on every side
        (0.0, 0.0, 320.0 * MAX_BOX_FRAMES, 240.0 * MAX_BOX_FRAMES),  # the largest accepted
        (159.5, 119.5, MIN_BOX_SIDE, MIN_BOX_SIDE),  # the smallest accepted
        (np.float32(10), np.int64(20), np.float16(30), 40),  # numpy scalars
        np.array([10.0, 20.0, 30.0, 40.0]),
    ],
)
def test_boxes_partly_outside_huge_or_tiny_are_tracked(box):
    tracker = fake_tracker()
    tracker.init(FRAME, box)
    for _ in range(3):
        assert_sane(tracker.update(FRAME), 320, 240)


# ---------------------------------------------------------------------------------------
# Frames


@pytest.mark.parametrize(
    "frame, error, words",
    [
        (FRAME.astype(np.float32), TypeError, "got dtype float32.*clip\\(0, 255\\)"),
        (FRAME.astype(np.float64) / 255, TypeError, "uint8"),
        (FRAME.astype(np.uint16), TypeError, "uint8"),
        (FRAME.astype(bool), TypeError, "uint8"),
        (FRAME.tolist(), TypeError, "got list"),
        (None, TypeError, "got NoneType"),
        (FRAME[None], ValueError, "shape \\(1, 240, 320, 3\\)"),
        (FRAME[:, :, :2], ValueError, "shape"),
        (np.zeros((240, 320, 5), np.uint8), ValueError, "shape"),
        (np.zeros((0, 320, 3), np.uint8), ValueError, "empty"),
        (np.zeros((240, 0), np.uint8), ValueError, "empty"),
        (np.zeros(320, np.uint8), ValueError, "shape"),
    ],
)
def test_hostile_frames_are_clear_errors_at_init_and_update(frame, error, words):
    tracker = fake_tracker()
    with pytest.raises(error, match=words) as raised:
        tracker.init(frame, BOX)
    assert "(H, W, 3)" in str(raised.value)  # says what is accepted
    assert not tracker.initialised
    tracker.init(FRAME, BOX)
    with pytest.raises(error, match=words):
        tracker.update(frame)
    assert_sane(tracker.update(FRAME), 320, 240)  # a refused frame leaves the tracker usable


def test_frame_size_change_is_a_clear_error_and_the_tracker_stays_usable():
    tracker = fake_tracker()
    tracker.init(FRAME, BOX)
    for other in (FRAME[:120], FRAME[:, :160], np.zeros((480, 640, 3), np.uint8), np.zeros((1, 1, 3), np.uint8)):
        with pytest.raises(ValueError, match="frame size changed from 320x240 at init to .*call init\\(\\) again"):
            tracker.update(other)
    assert_sane(tracker.update(FRAME), 320, 240)
    tracker.init(FRAME[:120, :160], (10, 10, 20, 20))  # a new init accepts the new size
    assert_sane(tracker.update(FRAME[:120, :160]), 160, 120)


def test_frame_kinds_may_change_between_updates():
    """Grayscale, BGRA and BGR frames of one size may be mixed in one run."""
    tracker = fake_tracker()
    tracker.init(FRAME[:, :, 0], BOX)
    bgra = np.dstack([FRAME, np.full(FRAME.shape[:2], 255, np.uint8)])
    for frame in (FRAME, bgra, FRAME[:, :, :1], FRAME[:, :, 0]):
        assert_sane(tracker.update(frame), 320, 240)


def test_an_8000_pixel_frame_with_a_small_target():
    frame = np.zeros((8000, 8000, 3), np.uint8)
    frame[3990:4030, 3990:4030] = 200
    tracker = fake_tracker()
    tracker.init(frame, (3990, 3990, 40, 40))
    for _ in range(2):
        assert_sane(tracker.update(frame), 8000, 8000)


# ---------------------------------------------------------------------------------------
# The real network (random-weights AlexNet)


@pytest.fixture(scope="module")
def network():
    import warnings

    import torch

    from tracker.model import build_model

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TorchBackend(build_model(TrackerConfig().model), device="cpu")


def real_tracker(network):
    return Tracker(network, TrackerConfig())


def track(tracker, frames, box):
    tracker.init(frames[0], box)
    return [tracker.update(frame) for frame in frames[1:]]


def test_real_network_gray_bgra_strided_and_read_only_frames_track_like_bgr(network):
    frames, boxes = moving_texture_clip(frame_count=2, width=320, height=240, target_size=(40, 40), seed=3)
    reference = track(real_tracker(network), frames, boxes[0])
    gray = [np.repeat(f[:, :, :1], 3, axis=2) for f in frames]  # what a grayscale frame becomes
    variants = {
        "gray": ([f[:, :, 0] for f in gray], track(real_tracker(network), gray, boxes[0])),
        "bgra": ([np.dstack([f, np.zeros(f.shape[:2], np.uint8)]) for f in frames], reference),
        "strided": ([np.repeat(np.repeat(f, 2, axis=0), 2, axis=1)[::2, ::2] for f in frames], reference),
        "fortran": ([np.asfortranarray(f) for f in frames], reference),
        "readonly": ([f.copy() for f in frames], reference),
    }
    for frame in variants["readonly"][0]:
        frame.setflags(write=False)
    for name, (inputs, expected) in variants.items():
        results = track(real_tracker(network), inputs, boxes[0])
        for got, want in zip(results, expected):
            np.testing.assert_allclose(got.box, want.box, atol=1e-6, err_msg=name)
            assert got.score == pytest.approx(want.score, abs=1e-6), name


@pytest.mark.parametrize(
    "shape, box",
    [
        ((1, 1, 3), (0, 0, 1, 1)),
        ((1, 1), (0, 0, 1, 1)),
        ((1, 500, 3), (100, 0, 20, 1)),
        ((240, 320, 3), (-30, -20, 50, 40)),
        ((240, 320, 3), (-100, -100, 520, 440)),
    ],
)
def test_real_network_tiny_frames_and_boxes_outside(network, shape, box):
    frame = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    tracker = real_tracker(network)
    tracker.init(frame, box)
    for _ in range(2):
        assert_sane(tracker.update(frame), shape[1], shape[0])


def test_real_network_8000x8000_frame(network):
    frame = np.zeros((8000, 8000, 3), np.uint8)
    frame[6000:6064, 1000:1064] = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    tracker = real_tracker(network)
    tracker.init(frame, (1000, 6000, 64, 64))
    assert_sane(tracker.update(frame), 8000, 8000)


# ---------------------------------------------------------------------------------------
# Non-finite network output (a damaged model, an fp16 overflow): the box must stay finite.


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("measure", CONFIDENCE_MEASURES)
def test_non_finite_responses_keep_the_box_finite(measure, bad):
    calls = []

    def respond(crops):
        calls.append(1)
        maps = centred_bump(crops)
        if len(calls) > 1:
            maps[:, 3, 4] = bad
        return maps

    tracker = fake_tracker(respond, confidence=measure)
    tracker.init(FRAME, BOX)
    for _ in range(3):
        result = tracker.update(FRAME)
        assert all(math.isfinite(v) for v in result.box), result


@pytest.mark.parametrize(
    "measure",
    [
        "normalised_peak",
        "psr",
        "sigmoid",
    ],
)
def test_nan_responses_are_a_lost_target_with_a_finite_score(measure):
    calls = []

    def respond(crops):
        calls.append(1)
        maps = centred_bump(crops)
        if len(calls) > 1:
            maps[:] = np.nan
        return maps

    tracker = fake_tracker(respond, confidence=measure)
    tracker.init(FRAME, BOX)
    for _ in range(3):
        result = tracker.update(FRAME)
    assert math.isfinite(result.score) and result.lost
    np.testing.assert_allclose(result.box, BOX)  # held at the last good estimate
