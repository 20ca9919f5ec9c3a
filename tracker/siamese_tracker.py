"""The single-target tracker: holds state and calls the tracking math and the backend.

``update`` reads like the SiamFC paper: crop the scale pyramid around the last position,
score it against the template, upsample, penalise scale changes, mix in the cosine
window, take the peak, move there and damp the scale change.

On top of the paper: a confidence per update, a ``lost`` state with hysteresis in which
the box holds still instead of following noise, and re-detection while lost (a search
at the last position plus tiles sweeping the frame, re-acquiring when the template's
score is confidently back).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from . import confidence, geometry
from .backends import Backend, Outputs
from .boxes import Box, center_size_to_xywh, validate_box, xywh_to_center_size
from .config import TrackerConfig
from .frames import prepare_frame


def response_maps(outputs: Outputs) -> np.ndarray:
    """The ``(S, R, R)`` response maps in a backend's outputs (SiamFC's head names them ``response``)."""
    try:
        responses = outputs["response"]
    except KeyError:
        raise ValueError(f"the model's outputs are {', '.join(outputs)}; this tracker needs a SiamFC "
                         "'response' head (config model.head: correlation)") from None
    return responses[:, 0]


@dataclass(frozen=True)
class TrackResult:
    """One update's answer: the box ``(x, y, w, h)`` in 0-based pixels, a confidence
    ``score`` (the config's ``confidence`` measure; in ``[0, 1]`` for the default
    normalised peak, 1 meaning "as similar as on the first frame"), and ``lost``: the
    tracker's hysteresis state. While lost, ``box`` is the last good estimate."""

    box: Box
    score: float
    lost: bool


@dataclass(frozen=True)
class SearchPlan:
    """Where an update's crops were cut: one row per crop of ``search_crops``."""

    centers: np.ndarray  # (S, 2) crop centres in image pixels
    crop_sizes: np.ndarray  # (S,) crop sides in image pixels
    redetecting: bool  # crops are the lost-target sweep (one scale, many places), not the pyramid


@dataclass(frozen=True)
class TargetState:
    """Everything a tracker knows of its target: what :meth:`Tracker.get_state` returns and
    :meth:`Tracker.set_state` takes (picklable, never changed in place). ``template_features``
    are the backend's and fit only a tracker of the same model."""

    center: np.ndarray  # (cx, cy)
    size: np.ndarray  # (w, h)
    initial_size: np.ndarray
    template_features: Any
    fill_color: Tuple[float, float, float]
    frame_shape: Tuple[int, int]  # (height, width)
    reference_peak: float  # the template's raw peak on its own first frame
    lost: bool = False
    low_score_streak: int = 0  # updates in a row below lost_threshold
    # While lost: the sweep's progress. With several crops per update, the next tile; with
    # one (the box head), the count of lost updates, the crop alternating between the last
    # position (even) and tile ``sweep_position // 2`` (odd).
    sweep_position: int = 0


class Tracker:
    """A SiamFC tracker for one target.

    ``Tracker(backend, config)``; or :meth:`from_model` for a model file and :meth:`default`
    for the shipped model. Thread safety: all per-target state lives in the instance and is
    replaced, never mutated in place, so separate instances may run in separate threads,
    sharing one backend (torch and onnxruntime inference calls are thread-safe). One
    instance must not be updated from two threads at once.
    """

    # The backend outputs this tracking loop reads, and the head that gives them.
    REQUIRED_OUTPUTS: Tuple[str, ...] = ("response",)
    HEAD = "correlation"

    def __init__(self, backend: Backend, config: TrackerConfig) -> None:
        outputs = getattr(backend, "outputs", None)
        if outputs is not None and not set(self.REQUIRED_OUTPUTS) <= set(outputs):
            raise ValueError(f"the model's outputs are {', '.join(outputs)}; {type(self).__name__} needs "
                             f"{', '.join(self.REQUIRED_OUTPUTS)} (config model.head: {self.HEAD})")
        self.backend = backend
        self.config = config
        tracking, model = config.tracking, config.model
        self._scale_factors = geometry.scale_factors(tracking.scale_count, tracking.scale_step)
        self._scale_penalties = geometry.scale_penalties(tracking.scale_count, tracking.scale_penalty)
        self._upsampled_size = model.response_size * tracking.response_upsample
        self._window = geometry.hann_window(self._upsampled_size).astype(np.float32)
        self._state: Optional[TargetState] = None

    @classmethod
    def from_model(cls, path: str | os.PathLike, **options) -> "Tracker":
        """A tracker for the model file at ``path`` (``X.int8.onnx``, ``X.onnx``, ``X.pt``, or a
        YAML config for random weights), with the config the file carries.

        Options (see ``tracker.loader``): ``device``/``precision`` for torch files,
        ``providers``/``threads`` for ONNX pairs, ``config`` to replace the tracking config.
        """
        from .loader import load_model

        backend, config = load_model(path, **options)
        return tracker_class(config)(backend, config)

    @classmethod
    def default(cls, **options) -> "Tracker":
        """The shipped model on the default runtime (the int8 ONNX pair when onnxruntime is
        installed), as ``cv2.TrackerNano_create()`` needs no arguments."""
        from .shipped import default_model

        return cls.from_model(default_model(), **options)

    @property
    def initialised(self) -> bool:
        return self._state is not None

    @property
    def lost(self) -> bool:
        """Whether the target is currently lost (False before ``init``)."""
        return self._state is not None and self._state.lost

    @property
    def reference_peak(self) -> Optional[float]:
        """The template's raw peak on its own first frame, which scores are measured against (None before ``init``)."""
        return None if self._state is None else self._state.reference_peak

    @property
    def template_features(self) -> Any:
        """The backend's features of the template (None before ``init``); lets a caller batch several trackers' network calls."""
        return None if self._state is None else self._state.template_features

    def reset(self) -> None:
        """Forget the target; ``init`` must be called again."""
        self._state = None

    def get_state(self) -> Optional[TargetState]:
        """A snapshot of the target's state (None before ``init``), e.g. to checkpoint a stream:
        :meth:`set_state` on a tracker of the same model continues exactly from here."""
        return self._state

    def set_state(self, state: TargetState) -> None:
        """Continue from a snapshot that :meth:`get_state` took (on this or another tracker of the same model)."""
        if not isinstance(state, TargetState):
            raise TypeError(f"set_state() takes the TargetState that get_state() returns, got {type(state).__name__}")
        if state.template_features is None:
            raise ValueError("the state has no template features; restore them before set_state()")
        self._state = state

    def init(self, frame: np.ndarray, box: Sequence[float]) -> None:
        """Start tracking the object in ``box`` (0-based ``x, y, w, h`` pixels) of ``frame`` (BGR uint8).

        Besides the template it scores one search crop of this frame, so that later
        scores can be measured against how well the template matches itself.
        """
        frame = prepare_frame(frame)
        height, width = frame.shape[:2]
        box = validate_box(box, width, height)
        center, size = xywh_to_center_size(box)
        model = self.config.model
        template_crop_size, search_crop_size = geometry.context_crop_sizes(
            size, self.config.tracking.context, model.exemplar_size, model.search_size
        )
        fill_color = tuple(float(c) for c in frame.reshape(-1, 3).mean(axis=0))
        template = geometry.crop_and_resize(frame, center, template_crop_size, model.exemplar_size, fill_color)
        template_features = self.backend.embed(template)
        reference_peak = self._reference_peak(frame, center, search_crop_size, template_features, fill_color)
        self._state = TargetState(
            center=center,
            size=size,
            initial_size=size.copy(),
            template_features=template_features,
            fill_color=fill_color,
            frame_shape=(height, width),
            reference_peak=reference_peak,
        )

    def _reference_peak(self, frame, center, search_crop_size, template_features, fill_color) -> float:
        """The template's raw peak on its own first frame, which ``normalised_peak`` scores divide by."""
        # The whole pyramid, though only its middle scale is used: every score call then
        # has the shape update() gives the backend.
        model = self.config.model
        own_search = geometry.crop_scales(frame, center, search_crop_size * self._scale_factors, model.search_size, fill_color)
        own_responses = response_maps(self.backend.score(template_features, own_search))
        return float(np.max(own_responses[len(self._scale_factors) // 2]))

    def update(self, frame: np.ndarray) -> TrackResult:
        """Find the target in the next ``frame``; returns its box, a confidence and a lost flag."""
        crops, plan = self.search_crops(frame)
        return self.locate(self.backend.score(self._state.template_features, crops), plan)

    # The three stages of update(), public so that a caller can time them or batch the
    # network call of several trackers into one.

    def search_crops(self, frame: np.ndarray) -> Tuple[np.ndarray, SearchPlan]:
        """Stage 1: the ``(S, X, X, 3)`` crops to score and the plan of where they were cut.

        Normally the scale pyramid around the last position; while lost (with
        ``redetect``), one crop there plus ``S - 1`` tiles of the frame sweep, or, with one
        crop per update (``S = 1``), the last position and the next tile in turn.
        """
        state = self._state
        if state is None:
            raise ValueError("update() called before init(): call init(frame, box) with the first frame and box")
        frame = prepare_frame(frame)
        if frame.shape[:2] != state.frame_shape:
            raise ValueError(
                f"frame size changed from {state.frame_shape[1]}x{state.frame_shape[0]} at init to "
                f"{frame.shape[1]}x{frame.shape[0]}; call init() again for a new video or resize the frames"
            )
        tracking, model = self.config.tracking, self.config.model
        _, search_crop_size = geometry.context_crop_sizes(state.size, tracking.context, model.exemplar_size, model.search_size)
        count = len(self._scale_factors)
        if state.lost and tracking.redetect and (count > 1 or state.sweep_position % 2 == 1):
            height, width = state.frame_shape
            tiles = geometry.sweep_tile_centers(width, height, search_crop_size, state.center)
            if count == 1:
                # One crop per update (same latency while lost): every other one is a tile.
                centers = tiles[[(state.sweep_position // 2) % len(tiles)]]
            else:
                picked = [(state.sweep_position + k) % len(tiles) for k in range(count - 1)]
                centers = np.vstack([state.center[None, :], tiles[picked]])
            crop_sizes = np.full(count, search_crop_size)
            crops = np.stack([
                geometry.crop_and_resize(frame, c, search_crop_size, model.search_size, state.fill_color) for c in centers
            ])
            return crops, SearchPlan(centers, crop_sizes, redetecting=True)
        crop_sizes = search_crop_size * self._scale_factors
        crops = geometry.crop_scales(frame, state.center, crop_sizes, model.search_size, state.fill_color)
        return crops, SearchPlan(np.repeat(state.center[None, :], count, axis=0), crop_sizes, redetecting=False)

    def locate(self, outputs: Outputs, plan: SearchPlan) -> TrackResult:
        """Stage 3: turn the network's outputs for this target's crops into the new state and result."""
        responses = response_maps(outputs)
        state = self._state
        tracking, model = self.config.tracking, self.config.model
        if not np.isfinite(responses).all():
            return self._hold_on_broken_answer()
        if plan.redetecting:
            return self._locate_lost_target(responses, plan)
        upsampled = geometry.upsample_responses(responses, tracking.response_upsample)
        scale_index = geometry.select_scale(upsampled, self._scale_penalties)
        response = geometry.apply_window(upsampled[scale_index], self._window, tracking.window_influence)
        displacement = geometry.peak_to_displacement(
            geometry.peak_location(response),
            self._upsampled_size,
            tracking.response_upsample,
            model.total_stride,
            plan.crop_sizes[scale_index],
            model.search_size,
        )
        score = self._score(responses[scale_index])
        lost, streak = self._hysteresis(score)
        if lost:
            # Lost: hold the last good box rather than follow noise.
            self._state = dataclasses.replace(state, lost=True, low_score_streak=streak)
            return TrackResult(center_size_to_xywh(state.center, state.size), score, True)
        height, width = state.frame_shape
        center = geometry.clamp_center(state.center + displacement, width, height)
        scale = geometry.damped_scale(self._scale_factors[scale_index], tracking.scale_lr)
        size = geometry.clamp_target_size(
            state.size * scale, state.initial_size, tracking.min_scale, tracking.max_scale, tracking.min_size
        )
        self._state = dataclasses.replace(state, center=center, size=size, lost=False, low_score_streak=streak, sweep_position=0)
        return TrackResult(center_size_to_xywh(center, size), score, False)

    def _hysteresis(self, score: float) -> Tuple[bool, int]:
        """``(lost, low-score streak)`` after an update scoring ``score``: lost after
        ``lost_after_frames`` low scores in a row, found again only at ``found_threshold``."""
        state, tracking = self._state, self.config.tracking
        streak = state.low_score_streak + 1 if score < tracking.lost_threshold else 0
        return (state.lost and score < tracking.found_threshold) or streak >= tracking.lost_after_frames, streak

    def _hold_on_broken_answer(self) -> TrackResult:
        """A non-finite network answer is no evidence: count it as a low score and hold still."""
        state = self._state
        streak = state.low_score_streak + 1
        lost = state.lost or streak >= self.config.tracking.lost_after_frames
        self._state = dataclasses.replace(state, lost=lost, low_score_streak=streak)
        return TrackResult(center_size_to_xywh(state.center, state.size), 0.0, lost)

    def _locate_lost_target(self, responses: np.ndarray, plan: SearchPlan) -> TrackResult:
        """Re-detection: the best of the sweep's crops, taken only when confidently found.

        No cosine window and no scale change here: after a loss, the last position is no
        better a prior than anywhere else, and the size is the last good one.
        """
        state = self._state
        tracking, model = self.config.tracking, self.config.model
        scores = np.array([self._score(response) for response in responses])
        # Crop 0 is at the last position: found_threshold there, redetect_threshold elsewhere.
        needed = np.full(len(scores), tracking.redetect_threshold)
        needed[0] = tracking.found_threshold
        best = int(np.argmax(scores - needed))
        if scores[best] < needed[best]:
            self._state = dataclasses.replace(state, sweep_position=state.sweep_position + len(responses) - 1)
            return TrackResult(center_size_to_xywh(state.center, state.size), float(scores.max()), True)
        upsampled = geometry.upsample_responses(responses[best : best + 1], tracking.response_upsample)[0]
        displacement = geometry.peak_to_displacement(
            geometry.peak_location(upsampled),
            self._upsampled_size,
            tracking.response_upsample,
            model.total_stride,
            plan.crop_sizes[best],
            model.search_size,
        )
        height, width = state.frame_shape
        center = geometry.clamp_center(plan.centers[best] + displacement, width, height)
        self._state = dataclasses.replace(state, center=center, lost=False, low_score_streak=0, sweep_position=0)
        return TrackResult(center_size_to_xywh(center, state.size), float(scores[best]), False)

    def _score(self, response: np.ndarray) -> float:
        """The config's confidence measure of one raw ``(R, R)`` response map."""
        measure = self.config.tracking.confidence
        peak = float(response.max())
        if measure == "normalised_peak":
            return confidence.normalised_peak(peak, self._state.reference_peak)
        if measure == "psr":
            return confidence.peak_to_sidelobe_ratio(response)
        return geometry.response_confidence(peak)


# The tracking loop for each head family (``model.head``); a loop for a new head registers
# itself here when its module is imported (``tracker/__init__.py`` imports them all).
TRACKING_LOOPS: Dict[str, type] = {"correlation": Tracker}


def tracker_class(config: TrackerConfig) -> type:
    """The tracking loop for a model's head: :class:`Tracker` (SiamFC's response map) or
    ``tracker.box_tracker.BoxTracker`` (the box head)."""
    try:
        return TRACKING_LOOPS[config.model.head]
    except KeyError:
        raise ValueError(f"no tracking loop for head {config.model.head!r}; loops exist for: {', '.join(sorted(TRACKING_LOOPS))}") from None
