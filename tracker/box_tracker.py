"""The tracking loop of the box head: one search crop, a box per cell, SiamFC++'s post-processing.

``update`` cuts one context crop around the last position, and the network gives every
cell of its map a classification and a quality probability and the distances to the box
edges. The score of a cell is their product; candidates whose size or aspect ratio jumps
from the last box are penalised, a cosine window favours small moves, the best cell's box
is the new position, and its size is blended with the last one at a rate that grows with
the score (SiamRPN/SiamFC++). Confidence, lost state and the box held while lost are the
SiamFC tracker's; only the search and the decoding differ.
"""
from __future__ import annotations

import dataclasses
from typing import Tuple

import numpy as np

from . import box_geometry, geometry
from .backends import Outputs
from .boxes import center_size_to_xywh
from .config import TrackerConfig
from .siamese_tracker import TRACKING_LOOPS, SearchPlan, Tracker, TrackResult


class BoxTracker(Tracker):
    """A tracker for a box-head model (``model.head: box``); same API as :class:`Tracker`."""

    REQUIRED_OUTPUTS: Tuple[str, ...] = ("cls", "quality", "box")
    HEAD = "box"

    def __init__(self, backend, config: TrackerConfig) -> None:
        if config.tracking.scale_count != 1:
            raise ValueError(f"the box head searches one crop per update; set tracking.scale_count: 1 (got {config.tracking.scale_count})")
        if config.tracking.confidence != "box_score":
            raise ValueError(f"the box head's confidence is its own score; set tracking.confidence: box_score (got {config.tracking.confidence!r})")
        super().__init__(backend, config)
        self._cell_window = geometry.hann_window(config.model.response_size)

    def _reference_peak(self, frame, center, search_crop_size, template_features, fill_color) -> float:
        return 1.0  # scores are probabilities already; nothing to normalise by

    def locate(self, outputs: Outputs, plan: SearchPlan) -> TrackResult:
        """Stage 3: the best penalised cell's box becomes the new state."""
        state = self._state
        tracking, model = self.config.tracking, self.config.model
        cls, quality, edges = outputs["cls"][0, 0], outputs["quality"][0, 0], outputs["box"][0]
        if not (np.isfinite(cls).all() and np.isfinite(quality).all() and np.isfinite(edges).all()):
            return self._hold_on_broken_answer()
        score = box_geometry.sigmoid(cls) * box_geometry.sigmoid(quality)
        boxes = box_geometry.decode_boxes(edges, model.total_stride)  # crop pixels, relative to the crop centre
        boxes[2] *= tracking.box_width_scale  # the model's size bias, measured on train-split data
        boxes[3] *= tracking.box_height_scale
        crop_scale = model.search_size / plan.crop_sizes[0]  # crop pixels per image pixel
        if plan.redetecting:
            return self._locate_in_tile(score, boxes, crop_scale, plan)
        penalty = box_geometry.change_penalty(boxes[2], boxes[3], tuple(state.size * crop_scale), tracking.penalty_k)
        row, col = box_geometry.choose_cell(score, penalty, self._cell_window, tracking.window_influence)
        confidence = float(score[row, col])
        lost, streak = self._hysteresis(confidence)
        if lost:
            # A lost update at the last position; with redetect, the next one searches a tile.
            sweep = state.sweep_position + 1 if tracking.redetect else 0
            self._state = dataclasses.replace(state, lost=True, low_score_streak=streak, sweep_position=sweep)
            return TrackResult(center_size_to_xywh(state.center, state.size), confidence, True)
        cx, cy, width, height = boxes[:, row, col] / crop_scale
        # Capped at 1: a scale_lr above 1 / score (chosen for a head whose scores stay low)
        # would otherwise overshoot the regressed size, or flip its sign.
        rate = min(1.0, float(penalty[row, col]) * confidence * tracking.scale_lr)
        size = geometry.clamp_target_size(
            (1.0 - rate) * state.size + rate * np.array([width, height]),
            state.initial_size, tracking.min_scale, tracking.max_scale, tracking.min_size,
        )
        frame_height, frame_width = state.frame_shape
        center = geometry.clamp_center(plan.centers[0] + np.array([cx, cy]), frame_width, frame_height)
        self._state = dataclasses.replace(state, center=center, size=size, lost=False, low_score_streak=streak, sweep_position=0)
        return TrackResult(center_size_to_xywh(center, size), confidence, False)

    def _locate_in_tile(self, score: np.ndarray, boxes: np.ndarray, crop_scale: float, plan: SearchPlan) -> TrackResult:
        """Re-detection in one sweep tile: its best cell is taken only at ``redetect_threshold``
        (a look-alike far from the last position often scores about ``found_threshold``),
        with no window and the last good size, as SiamFC's sweep does."""
        state = self._state
        row, col = np.unravel_index(int(np.argmax(score)), score.shape)
        confidence = float(score[row, col])
        if confidence < self.config.tracking.redetect_threshold:
            self._state = dataclasses.replace(state, sweep_position=state.sweep_position + 1)
            return TrackResult(center_size_to_xywh(state.center, state.size), confidence, True)
        frame_height, frame_width = state.frame_shape
        center = geometry.clamp_center(plan.centers[0] + boxes[:2, row, col] / crop_scale, frame_width, frame_height)
        self._state = dataclasses.replace(state, center=center, lost=False, low_score_streak=0, sweep_position=0)
        return TrackResult(center_size_to_xywh(center, state.size), confidence, False)


TRACKING_LOOPS[BoxTracker.HEAD] = BoxTracker
