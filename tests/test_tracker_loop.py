"""The tracking loop with a fake backend: known responses must give known moves."""
import numpy as np
import pytest

from tracker import Tracker, TrackerConfig
from tracker.backends import Backend
from tracker.backends.fake import FakeBackend

from fake_tracking import centre, make_tracker

FRAME = np.full((480, 640, 3), 90, dtype=np.uint8)
BOX = (300.0, 200.0, 40.0, 40.0)  # centre (320, 220); 40x40 -> template crop 80, search crop 80*255/127
SEARCH_CROP = 80.0 * 255 / 127
CELL = 8.0 * SEARCH_CROP / 255  # image pixels per response cell at the middle scale


def bump_responses(row_offset=0, col_offset=0, scale_amplitudes=(0.5, 1.0, 0.5), logit=3.0, offset=0.0, sigma=1.0):
    """Gaussian bumps (sigma in cells) at centre + (row, col) offset, one per scale: offset + logit * amplitude * bump."""
    rows, cols = np.mgrid[0:17, 0:17]
    bump = np.exp(-((rows - 8 - row_offset) ** 2 + (cols - 8 - col_offset) ** 2) / (2.0 * sigma**2))

    def respond(crops):
        assert crops.shape == (len(scale_amplitudes), 255, 255, 3)
        return np.stack([offset + logit * a * bump for a in scale_amplitudes]).astype(np.float32)

    return respond


def test_fake_backend_satisfies_protocol():
    assert isinstance(FakeBackend(lambda c: c), Backend)


def test_init_crops_template_and_update_crops_pyramid():
    backend = FakeBackend(bump_responses())
    tracker = Tracker(backend, TrackerConfig())
    tracker.init(FRAME, BOX)
    assert backend.template_crops[0].shape == (127, 127, 3)
    tracker.update(FRAME)
    assert backend.search_batches[0].shape == (3, 255, 255, 3)


@pytest.mark.parametrize("row_offset, col_offset", [(0, 2), (1, 0), (-2, -3)])
def test_peak_offset_moves_box_by_expected_pixels(row_offset, col_offset):
    tracker = make_tracker(bump_responses(row_offset, col_offset), window_influence=0.0)
    tracker.init(FRAME, BOX)
    result = tracker.update(FRAME)
    moved = centre(result.box) - centre(BOX)
    # A bump centred on a cell has its upsampled maximum split between two pixels half an
    # upsampled pixel either side; argmax takes the first: at most 0.5 * 8/16 crop pixels off.
    tolerance = 0.25 * SEARCH_CROP / 255 + 1e-9
    np.testing.assert_allclose(moved, [col_offset * CELL, row_offset * CELL], atol=tolerance)
    assert result.box[2:] == pytest.approx(BOX[2:])  # middle scale: no size change


def test_window_pulls_peak_towards_centre():
    # A broad bump, so that the window's slope can move its maximum.
    free = make_tracker(bump_responses(0, 5, sigma=4.0), window_influence=0.0)
    windowed = make_tracker(bump_responses(0, 5, sigma=4.0), window_influence=0.176)
    for tracker in (free, windowed):
        tracker.init(FRAME, BOX)
    move_free = centre(free.update(FRAME).box)[0] - centre(BOX)[0]
    move_windowed = centre(windowed.update(FRAME).box)[0] - centre(BOX)[0]
    assert 0 < move_windowed < move_free


def test_peak_on_larger_scale_grows_box_by_damped_factor():
    tracker = make_tracker(bump_responses(scale_amplitudes=(0.5, 0.5, 1.0)))
    tracker.init(FRAME, BOX)
    result = tracker.update(FRAME)
    # (1 - 0.59) + 0.59 * 1.0375 = 1.022125
    assert result.box[2] == pytest.approx(40 * 1.022125)
    assert result.box[3] == pytest.approx(40 * 1.022125)
    np.testing.assert_allclose(centre(result.box), centre(BOX), atol=0.25 * SEARCH_CROP * 1.0375 / 255 * 1.5)


def test_peak_on_smaller_scale_shrinks_box_five_scales():
    respond = bump_responses(scale_amplitudes=(1.0, 0.3, 0.3, 0.3, 0.3))
    tracker = make_tracker(respond, scale_count=5, scale_step=1.0255, scale_penalty=0.962, scale_lr=0.34)
    tracker.init(FRAME, BOX)
    result = tracker.update(FRAME)
    assert result.box[2] == pytest.approx(40 * (0.66 + 0.34 * 1.0255**-2))


def test_penalty_keeps_scale_when_side_peak_is_only_slightly_higher():
    tracker = make_tracker(bump_responses(scale_amplitudes=(0.5, 1.0, 1.02)))
    tracker.init(FRAME, BOX)
    assert tracker.update(FRAME).box[2] == pytest.approx(40.0)  # 1.02 * 0.9745 < 1.0


def test_size_is_clamped_to_max_scale():
    tracker = make_tracker(bump_responses(scale_amplitudes=(0.1, 0.1, 1.0)), max_scale=1.05)
    tracker.init(FRAME, BOX)
    sizes = [tracker.update(FRAME).box[2] for _ in range(10)]
    assert max(sizes) == pytest.approx(40 * 1.05)


def test_sigmoid_confidence_is_sigmoid_of_peak_and_sets_lost():
    confident = make_tracker(bump_responses(logit=4.0), confidence="sigmoid", lost_threshold=0.5, found_threshold=0.5)
    confident.init(FRAME, BOX)
    result = confident.update(FRAME)
    assert result.score == pytest.approx(1 / (1 + np.exp(-4.0)), rel=1e-5)
    assert result.lost is False
    doubtful = make_tracker(bump_responses(logit=1.0, offset=-3.0), confidence="sigmoid", lost_threshold=0.5, found_threshold=0.5)
    doubtful.init(FRAME, BOX)
    result = doubtful.update(FRAME)
    assert result.score == pytest.approx(1 / (1 + np.exp(2.0)), rel=1e-5)
    assert result.lost is True


def test_centre_stays_inside_frame():
    tracker = make_tracker(bump_responses(0, 8), window_influence=0.0)
    tracker.init(FRAME, (600.0, 200.0, 40.0, 40.0))
    for _ in range(20):
        result = tracker.update(FRAME)
    assert centre(result.box)[0] <= 640


def test_reset_requires_init_again():
    tracker = make_tracker(bump_responses())
    tracker.init(FRAME, BOX)
    tracker.update(FRAME)
    tracker.reset()
    assert not tracker.initialised
    with pytest.raises(ValueError, match="before init"):
        tracker.update(FRAME)


def test_state_moves_to_another_tracker_and_continues_exactly():
    """get_state/set_state (checkpoints for tracker.cluster): a fresh tracker given the state goes on
    as the original does, through a lost stretch (streak, sweep position) and back."""
    phases = [bump_responses(1, 2)] * 2 + [bump_responses(logit=0.0, offset=-5.0)] * 3 + [bump_responses(0, -1)] * 3
    current = {"respond": bump_responses()}

    def tracker():
        return make_tracker(lambda crops: current["respond"](crops), confidence="sigmoid", lost_after_frames=2)

    def run(tracker, steps):
        results = []
        for respond in steps:
            current["respond"] = respond
            results.append(tracker.update(FRAME))
        return results

    whole, first, second = tracker(), tracker(), tracker()
    for each in (whole, first):
        current["respond"] = bump_responses()
        each.init(FRAME, BOX)
    expected = run(whole, phases)
    before = run(first, phases[:4])
    state = first.get_state()
    assert state.lost and state.low_score_streak == 2
    second.set_state(state)
    assert before + run(second, phases[4:]) == expected
    assert [result.lost for result in expected] == [False, False, False, True, True, False, False, False]
    with pytest.raises(TypeError, match="takes the TargetState"):
        second.set_state({"center": (1, 2)})
    assert tracker().get_state() is None


def test_grayscale_frames_are_tracked():
    tracker = make_tracker(bump_responses())
    tracker.init(FRAME[:, :, 0], BOX)
    assert tracker.update(FRAME[:, :, 0]).box[2:] == pytest.approx(BOX[2:])


class TestBadInput:
    def setup_method(self):
        self.tracker = make_tracker(bump_responses())

    def test_update_before_init(self):
        with pytest.raises(ValueError, match=r"update\(\) called before init\(\)"):
            self.tracker.update(FRAME)

    @pytest.mark.parametrize(
        "box, words",
        [
            ((0, 0, 0, 10), "width and height must be > 0"),
            ((0, 0, -5, 10), "width and height must be > 0"),
            ((np.nan, 0, 10, 10), "finite"),
            ((0, 0, np.inf, 10), "finite"),
            ((700, 0, 10, 10), "entirely outside the 640x480 frame"),
        ],
    )
    def test_bad_boxes(self, box, words):
        with pytest.raises(ValueError, match=words):
            self.tracker.init(FRAME, box)
        assert not self.tracker.initialised

    @pytest.mark.parametrize(
        "frame, error, words",
        [
            (FRAME.astype(np.float32), TypeError, "uint8"),
            (FRAME[:, :, :2], ValueError, "shape"),
            (np.zeros((0, 0, 3), np.uint8), ValueError, "empty"),
        ],
    )
    def test_bad_frames(self, frame, error, words):
        with pytest.raises(error, match=words):
            self.tracker.init(frame, BOX)
        self.tracker.init(FRAME, BOX)
        with pytest.raises(error, match=words):
            self.tracker.update(frame)

    def test_frame_size_change(self):
        self.tracker.init(FRAME, BOX)
        with pytest.raises(ValueError, match="frame size changed from 640x480 at init to 320x240"):
            self.tracker.update(FRAME[:240, :320])
