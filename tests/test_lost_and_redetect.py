"""The lost state: normalised score, hysteresis, holding still, and re-detection by sweep.

A fake backend stands in for the network: it answers a bump at the centre of every crop,
as strong as the crop's centre is bright. The "target" is a bright square on a grey frame.
"""
import numpy as np
import pytest

from tracker import TrackerConfig

from fake_tracking import centre, make_tracker

GREY, BRIGHT = 90, 250
BOX = (300.0, 200.0, 40.0, 40.0)  # centre (320, 220)
LOGIT = 3.0


def frame_with_target(center, half=60):
    frame = np.full((480, 640, 3), GREY, dtype=np.uint8)
    x, y = center
    frame[max(0, y - half) : y + half, max(0, x - half) : x + half] = BRIGHT
    return frame


def brightness_responses(crops, row_offset=0, col_offset=0):
    """One 17x17 bump per crop, its height LOGIT * (share of bright pixels at the crop's centre)."""
    rows, cols = np.mgrid[0:17, 0:17]
    bump = np.exp(-((rows - 8 - row_offset) ** 2 + (cols - 8 - col_offset) ** 2) / 2.0)
    centre_share = (crops[:, 117:138, 117:138, 0] > 200).mean(axis=(1, 2))
    return np.stack([LOGIT * share * bump for share in centre_share]).astype(np.float32)


class Scripted:
    """Responses scaled by a script of amplitudes, one per score call after init's."""

    def __init__(self, amplitudes, col_offset=0):
        self.amplitudes = list(amplitudes)
        self.col_offset = col_offset
        self.calls = 0

    def __call__(self, crops):
        amplitude = 1.0 if self.calls == 0 else self.amplitudes[self.calls - 1]
        self.calls += 1
        return amplitude * brightness_responses(crops, col_offset=self.col_offset)


def test_score_is_the_peak_relative_to_the_first_frame():
    tracker = make_tracker(Scripted([1.0, 0.5]), window_influence=0.0, lost_threshold=0.2, found_threshold=0.3)
    frame = frame_with_target((320, 220))
    tracker.init(frame, BOX)
    assert tracker.update(frame).score == pytest.approx(1.0)
    assert tracker.update(frame).score == pytest.approx(0.5)


def test_hysteresis_holds_the_box_until_the_score_is_back_above_found():
    # The bump sits 2 cells right of centre, so every confident update moves the box right.
    script = Scripted([1.0, 0.2, 0.5, 0.7, 1.0], col_offset=2)
    tracker = make_tracker(script, window_influence=0.0, lost_threshold=0.3, found_threshold=0.6, redetect=False)
    frame = frame_with_target((320, 220), half=200)
    tracker.init(frame, BOX)
    moved = tracker.update(frame)
    assert not moved.lost and centre(moved.box)[0] > 320
    dropped = tracker.update(frame)  # 0.2 < lost_threshold: lost, box held
    assert dropped.lost and dropped.box == moved.box
    between = tracker.update(frame)  # 0.5: above lost_threshold but below found_threshold: still lost
    assert between.lost and between.box == moved.box
    back = tracker.update(frame)  # 0.7 >= found_threshold: found, moves again
    assert not back.lost and centre(back.box)[0] > centre(moved.box)[0]
    assert tracker.update(frame).lost is False


def test_size_does_not_drift_while_lost():
    # All the scale pyramid's weight is on the largest scale: a found target would grow.
    def grow_but_doubtful(crops):
        responses = 0.1 * brightness_responses(crops)
        responses[-1] *= 1.5
        return responses

    tracker = make_tracker(lambda crops: brightness_responses(crops), redetect=False)
    frame = frame_with_target((320, 220))
    tracker.init(frame, BOX)
    tracker.backend.response_fn = grow_but_doubtful
    sizes = {tuple(tracker.update(frame).box[2:]) for _ in range(10)}
    assert sizes == {BOX[2:]}
    assert tracker.lost


def test_lost_target_is_found_again_by_the_sweep_anywhere_in_the_frame():
    tracker = make_tracker(brightness_responses, lost_threshold=0.3, found_threshold=0.6)
    tracker.init(frame_with_target((320, 220)), BOX)
    elsewhere = frame_with_target((90, 400))  # jumped far outside the normal search region
    results = [tracker.update(elsewhere) for _ in range(40)]
    assert results[0].lost
    found_at = next(index for index, result in enumerate(results) if not result.lost)
    # 2 sweep tiles per update (3 crops: the last position + 2 tiles) over a grid of ~48 tiles.
    assert found_at <= 30
    assert np.abs(centre(results[found_at].box) - (90, 400)).max() < 60
    assert results[found_at].box[2:] == BOX[2:]
    assert all(not result.lost for result in results[found_at:])
    # While lost, every update scored the same number of crops as a normal one.
    assert {len(batch) for batch in tracker.backend.search_batches} == {3}


def test_without_redetection_a_far_target_stays_lost():
    tracker = make_tracker(brightness_responses, lost_threshold=0.3, found_threshold=0.6, redetect=False)
    tracker.init(frame_with_target((320, 220)), BOX)
    elsewhere = frame_with_target((90, 400))
    assert all(tracker.update(elsewhere).lost for _ in range(40))


def test_target_reappearing_where_it_was_lost_is_found_by_the_first_crop():
    tracker = make_tracker(brightness_responses, lost_threshold=0.3, found_threshold=0.6)
    frame = frame_with_target((320, 220))
    tracker.init(frame, BOX)
    occluded = np.full_like(frame, GREY)
    assert tracker.update(occluded).lost
    assert tracker.update(occluded).lost
    back = tracker.update(frame)
    assert not back.lost
    assert np.abs(centre(back.box) - (320, 220)).max() < 2


def test_thresholds_must_be_ordered():
    from tracker.config import from_dict

    with pytest.raises(ValueError, match="lost_threshold <= found_threshold"):
        from_dict(TrackerConfig, {"tracking": {"lost_threshold": 0.7, "found_threshold": 0.6}})
    with pytest.raises(ValueError, match="confidence"):
        from_dict(TrackerConfig, {"tracking": {"confidence": "psr2"}})


def test_lost_only_after_enough_low_scores_in_a_row():
    script = Scripted([1.0, 0.1, 0.1, 1.0, 0.1, 0.1, 0.1], col_offset=2)
    tracker = make_tracker(script, window_influence=0.0, lost_threshold=0.3, found_threshold=0.6, lost_after_frames=3, redetect=False)
    frame = frame_with_target((320, 220), half=200)
    tracker.init(frame, BOX)
    lost = [tracker.update(frame).lost for _ in range(7)]
    # Two dips are ridden through (the box keeps following the peak); the third in a row is a loss.
    assert lost == [False, False, False, False, False, False, True]


def test_a_far_match_must_beat_the_redetect_threshold():
    calls = []

    def half_bright_far_target(crops):
        # After init's call, sweep tiles (every crop but the first) see the target at half strength.
        calls.append(1)
        responses = brightness_responses(crops)
        if len(calls) <= 2:  # init of each tracker
            return responses
        return responses * np.where(np.arange(len(crops)) == 0, 1.0, 0.5)[:, None, None]

    strict = make_tracker(half_bright_far_target, lost_threshold=0.3, found_threshold=0.4, redetect_threshold=0.6)
    lenient = make_tracker(half_bright_far_target, lost_threshold=0.3, found_threshold=0.4, redetect_threshold=0.45)
    for tracker in (strict, lenient):
        tracker.init(frame_with_target((320, 220)), BOX)
    elsewhere = frame_with_target((90, 400))
    assert all(strict.update(elsewhere).lost for _ in range(40))
    assert not all(lenient.update(elsewhere).lost for _ in range(40))
