"""The box head's tracking loop, driven by a fake network whose answer is known."""
import dataclasses

import numpy as np
import pytest

from tracker import Tracker, TrackerConfig, config_path, load_config
from tracker.box_geometry import cell_offsets
from tracker.box_tracker import BoxTracker
from tracker.siamese_tracker import tracker_class

CONFIG = load_config(config_path("box_mobilenet_v2"))


class FakeBoxBackend:
    """Every crop: one confident cell (row, col) whose box is ``box`` (cx, cy, w, h in crop pixels, relative to the centre)."""

    outputs = ("cls", "quality", "box")

    def __init__(self, row, col, box, size=16, stride=16):
        self.row, self.col, self.box, self.size, self.stride = row, col, box, size, stride
        self.crops = []

    def embed(self, crop):
        return crop

    def score(self, features, crops):
        self.crops.append(crops)
        cls = np.full((len(crops), 1, self.size, self.size), -8.0, np.float32)
        cls[:, 0, self.row, self.col] = 8.0
        quality = np.full_like(cls, 8.0)
        offsets = cell_offsets(self.size, self.stride)
        x, y = np.meshgrid(offsets, offsets)
        cx, cy, w, h = self.box
        edges = np.stack([x - (cx - w / 2), y - (cy - h / 2), (cx + w / 2) - x, (cy + h / 2) - y])
        return {"cls": cls, "quality": quality, "box": np.repeat(edges[None], len(crops), 0).astype(np.float32)}


def test_the_config_picks_the_tracking_loop():
    assert tracker_class(CONFIG) is BoxTracker and tracker_class(TrackerConfig()) is Tracker


def test_one_crop_and_a_move_to_the_best_cell():
    frame = np.zeros((480, 640, 3), np.uint8)
    box = (300.0, 200.0, 40.0, 40.0)  # centre (320, 220); context 0.5: crop sqrt(80*80)*255/127 = 160.6 px
    backend = FakeBoxBackend(row=7, col=9, box=(cell_offsets(16, 16)[9], 0.0, 80.0, 80.0))
    tracker = BoxTracker(backend, dataclasses.replace(CONFIG, tracking=dataclasses.replace(CONFIG.tracking, window_influence=0.0)))
    tracker.init(frame, box)
    result = tracker.update(frame)
    assert len(backend.crops) == 1 and backend.crops[0].shape == (1, 255, 255, 3)
    crop_size = np.sqrt(80.0 * 80.0) * 255 / 127
    scale = 255 / crop_size
    # The best cell is 1.5 cells right of centre: 24 crop px -> 24 / scale image px.
    x, y, w, h = result.box
    assert x + w / 2 == pytest.approx(320.0 + 24.0 / scale, abs=1e-6)
    assert y + h / 2 == pytest.approx(220.0, abs=1e-6)
    # Size: the box is 80 crop px = 80 / scale image px; blended at penalty * score * scale_lr.
    predicted = 80.0 / scale
    score = (1 / (1 + np.exp(-8.0))) ** 2  # cls and quality probabilities, both sigmoid(8)
    assert result.score == pytest.approx(score, rel=1e-6) and not result.lost
    assert 40.0 < w < predicted  # moved towards the prediction, damped


def test_low_scores_turn_lost_and_hold_the_box():
    frame = np.zeros((240, 320, 3), np.uint8)
    backend = FakeBoxBackend(row=7, col=7, box=(0.0, 0.0, 40.0, 40.0))
    tracker = BoxTracker(backend, CONFIG)
    tracker.init(frame, (100, 100, 30, 30))
    backend.score = lambda features, crops: {"cls": np.full((1, 1, 16, 16), -8.0, np.float32),
                                               "quality": np.zeros((1, 1, 16, 16), np.float32),
                                               "box": np.full((1, 4, 16, 16), 16.0, np.float32)}
    results = [tracker.update(frame) for _ in range(CONFIG.tracking.lost_after_frames + 2)]
    lost_at = CONFIG.tracking.lost_after_frames - 1
    assert [r.lost for r in results] == [False] * lost_at + [True] * 3
    # From the update that turns lost on, the box holds the last good estimate.
    assert results[lost_at].box == results[lost_at - 1].box == results[-1].box


def test_box_tracker_settings_are_checked():
    with pytest.raises(ValueError, match="scale_count: 1"):
        BoxTracker(FakeBoxBackend(0, 0, (0, 0, 1, 1)), dataclasses.replace(CONFIG, tracking=dataclasses.replace(CONFIG.tracking, scale_count=3)))
    with pytest.raises(ValueError, match="needs cls, quality, box"):
        BoxTracker(type("Plain", (), {"outputs": ("response",)})(), CONFIG)


def test_multitracker_runs_the_box_loop_for_a_box_model():
    from tracker.multi import MultiTracker

    frame = np.zeros((480, 640, 3), np.uint8)
    backend = FakeBoxBackend(row=7, col=9, box=(cell_offsets(16, 16)[9], 0.0, 80.0, 80.0))
    multi = MultiTracker(backend, CONFIG)
    ids = [multi.add(frame, (300.0, 200.0, 40.0, 40.0)), multi.add(frame, (100.0, 100.0, 40.0, 40.0))]
    results = multi.update(frame)
    assert list(results) == ids and all(not r.lost for r in results.values())
    single = BoxTracker(FakeBoxBackend(row=7, col=9, box=(cell_offsets(16, 16)[9], 0.0, 80.0, 80.0)), CONFIG)
    single.init(frame, (300.0, 200.0, 40.0, 40.0))
    assert results[ids[0]].box == pytest.approx(single.update(frame).box)


# crop px per image px for a 40 x 40 target (context 0.5: a 160.6 px crop resized to 255)
EAGER_SCALE = 255 / (np.sqrt(80.0 * 80.0) * 255 / 127)


def _eager_update(box_width_scale, box_height_scale):
    """One update whose size takes the regressed box outright (scale_lr 50 with penalty 1 and
    score ~1 is capped at 1): cell (7, 7) regresses 120 x 60 crop px. Returns the new box."""
    frame = np.zeros((480, 640, 3), np.uint8)
    backend = FakeBoxBackend(row=7, col=7, box=(cell_offsets(16, 16)[7], cell_offsets(16, 16)[7], 120.0, 60.0))
    eager = dataclasses.replace(CONFIG.tracking, scale_lr=50.0, penalty_k=0.0, window_influence=0.0,
                                box_width_scale=box_width_scale, box_height_scale=box_height_scale)
    tracker = BoxTracker(backend, dataclasses.replace(CONFIG, tracking=eager))
    tracker.init(frame, (300.0, 200.0, 40.0, 40.0))
    return tracker.update(frame).box


def test_a_large_scale_lr_takes_the_regressed_size_and_never_overshoots():
    x, y, w, h = _eager_update(1.0, 1.0)
    # penalty 1 (k = 0) x score ~1 x 50 is capped at 1: the new size is the regressed one.
    assert (w, h) == pytest.approx((120.0 / EAGER_SCALE, 60.0 / EAGER_SCALE), rel=1e-6)


def test_the_size_bias_correction_scales_the_regressed_box():
    x, y, w, h = _eager_update(0.9, 0.8)
    # The chosen cell's 120 x 60 crop px box is scaled by 0.9 and 0.8.
    assert (w, h) == pytest.approx((108.0 / EAGER_SCALE, 48.0 / EAGER_SCALE), rel=1e-6)
    # The box's centre is cell 7's, half a cell (8 crop px) up and left of the crop centre.
    assert (x + w / 2, y + h / 2) == pytest.approx((320.0 - 8.0 / EAGER_SCALE, 220.0 - 8.0 / EAGER_SCALE), abs=1e-6)


class BlobBackend:
    """Every crop: one confident cell on the bright blob the crop shows, if it shows one;
    otherwise nothing scores. Records where each crop was cut (its bright share)."""

    outputs = ("cls", "quality", "box")

    def __init__(self, confidence_logit=8.0):
        self.logit = confidence_logit
        self.saw_blob, self.crop_counts = [], []

    def embed(self, crop):
        return crop

    def score(self, features, crops):
        count = len(crops)
        self.crop_counts.append(count)
        cls = np.full((count, 1, 16, 16), -8.0, np.float32)
        quality = np.full_like(cls, 8.0)
        edges = np.full((count, 4, 16, 16), 16.0, np.float32)
        offsets = cell_offsets(16, 16)
        for index, crop in enumerate(crops):
            ys, xs = np.nonzero(crop[..., 0] > 128)
            cx, cy = (xs.mean() - 127.0, ys.mean() - 127.0) if len(xs) else (np.inf, np.inf)  # from the crop centre
            # Like a network, it answers only for a target well inside the crop (not cut off
            # by its edge); the sweep's tiles overlap by half, so one of them has it there.
            self.saw_blob.append(max(abs(cx), abs(cy)) < 64)
            if not self.saw_blob[-1]:
                continue
            row, col = int(np.argmin(abs(offsets - cy))), int(np.argmin(abs(offsets - cx)))
            cls[index, 0, row, col] = self.logit
            x, y = offsets[col], offsets[row]
            edges[index, :, row, col] = (x - (cx - 20), y - (cy - 20), (cx + 20) - x, (cy + 20) - y)
        return {"cls": cls, "quality": quality, "box": edges}


def _redetecting(**tracking):
    return dataclasses.replace(CONFIG, tracking=dataclasses.replace(
        CONFIG.tracking, redetect=True, found_threshold=0.15, redetect_threshold=0.5, **tracking))


def test_while_lost_one_crop_alternates_between_the_last_position_and_the_sweep_and_finds_a_far_target():
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[170:210, 240:280] = 255  # the target, far from where the tracker last saw it
    backend = BlobBackend()
    tracker = BoxTracker(backend, _redetecting())
    tracker.init(np.zeros_like(frame), (100, 100, 30, 30))
    results = []
    for _ in range(80):
        results.append(tracker.update(frame))
        if not results[-1].lost and len(results) > 3:
            break
    lost_after = CONFIG.tracking.lost_after_frames
    assert [r.lost for r in results[lost_after - 1 : -1]] == [True] * (len(results) - lost_after)
    assert len(results) > lost_after + 2 and not results[-1].lost  # swept for a while, then found
    # One crop per update throughout; crops at the last position (even lost updates) never see it.
    assert set(backend.crop_counts) == {1} and backend.saw_blob[-1] and not any(backend.saw_blob[:lost_after])
    # From the update after the one that turned lost: tile 0, last position, tile 1, last
    # position, ...; the crops at the last position never see the far target.
    assert not any(backend.saw_blob[lost_after + 1 :: 2]) and (len(results) - lost_after) % 2 == 1
    x, y, w, h = results[-1].box
    assert (x + w / 2, y + h / 2) == pytest.approx((259.5, 189.5), abs=6.0)  # the blob's centre; the held size
    assert (w, h) == pytest.approx(results[lost_after - 1].box[2:])
    assert tracker.get_state().sweep_position == 0


def test_a_tile_match_below_the_redetect_threshold_is_not_taken_and_redetect_off_never_sweeps():
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[170:210, 240:280] = 255
    weak = BlobBackend(confidence_logit=0.0)  # the blob scores sigmoid(0) * sigmoid(8) = 0.4998 < 0.5
    tracker = BoxTracker(weak, _redetecting())
    tracker.init(np.zeros_like(frame), (100, 100, 30, 30))
    results = [tracker.update(frame) for _ in range(80)]
    assert any(weak.saw_blob) and all(r.lost for r in results[CONFIG.tracking.lost_after_frames - 1 :])
    held = BlobBackend()
    still = BoxTracker(held, dataclasses.replace(_redetecting(), tracking=dataclasses.replace(_redetecting().tracking, redetect=False)))
    still.init(np.zeros_like(frame), (100, 100, 30, 30))
    results = [still.update(frame) for _ in range(80)]
    assert results[-1].lost and not any(held.saw_blob) and still.get_state().sweep_position == 0
