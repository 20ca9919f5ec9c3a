"""The single-target tracker: holds state and calls the tracking math and the backend.

``update`` reads like the SiamFC paper: crop the scale pyramid around the last position,
score it against the template, upsample, penalise scale changes, mix in the cosine
window, take the peak, move there and damp the scale change.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from . import geometry
from .backends import Backend
from .boxes import Box, center_size_to_xywh, validate_box, xywh_to_center_size
from .config import TrackerConfig, load_config
from .config import from_dict as config_from_dict
from .frames import prepare_frame


@dataclass(frozen=True)
class TrackResult:
    """One update's answer: the box ``(x, y, w, h)`` in 0-based pixels, a confidence in
    ``(0, 1)`` (the sigmoid of the peak response), and whether that confidence is below
    the config's ``lost_threshold``."""

    box: Box
    score: float
    lost: bool


@dataclass(frozen=True)
class _TargetState:
    center: np.ndarray  # (cx, cy)
    size: np.ndarray  # (w, h)
    initial_size: np.ndarray
    template_features: Any
    fill_color: Tuple[float, float, float]
    frame_shape: Tuple[int, int]  # (height, width)


class Tracker:
    """A SiamFC tracker for one target.

    ``Tracker(backend, config)``; or :meth:`from_files` to build the torch backend from a
    YAML config and a weights file. Instances share nothing mutable, so separate
    instances may run in separate threads (they may share one backend).
    """

    def __init__(self, backend: Backend, config: TrackerConfig) -> None:
        self.backend = backend
        self.config = config
        tracking, model = config.tracking, config.model
        self._scale_factors = geometry.scale_factors(tracking.scale_count, tracking.scale_step)
        self._scale_penalties = geometry.scale_penalties(tracking.scale_count, tracking.scale_penalty)
        self._upsampled_size = model.response_size * tracking.response_upsample
        self._window = geometry.hann_window(self._upsampled_size).astype(np.float32)
        self._state: Optional[_TargetState] = None

    @classmethod
    def from_files(
        cls,
        config_path: str | os.PathLike,
        weights_path: Optional[str | os.PathLike] = None,
        device: str = "auto",
        precision: str = "fp32",
    ) -> "Tracker":
        """Build a torch-backed tracker. ``weights_path=None`` gives random weights (with a warning)."""
        from .backends.torch_backend import TorchBackend
        from .model import build_model

        config = load_config(config_path)
        model = build_model(config.model, weights_path)
        return cls(TorchBackend(model, device=device, precision=precision), config)

    @classmethod
    def from_weights(cls, weights_path: str | os.PathLike, device: str = "auto", precision: str = "fp32") -> "Tracker":
        """Build a torch-backed tracker from a weights file alone, with the config it carries."""
        from .backends.torch_backend import TorchBackend
        from .model import build_model
        from .weights import read_weights_file

        config = config_from_dict(TrackerConfig, read_weights_file(weights_path)["config"])
        model = build_model(config.model, weights_path)
        return cls(TorchBackend(model, device=device, precision=precision), config)

    @property
    def initialised(self) -> bool:
        return self._state is not None

    @property
    def template_features(self) -> Any:
        """The backend's features of the template (None before ``init``); lets a caller batch several trackers' network calls."""
        return None if self._state is None else self._state.template_features

    def reset(self) -> None:
        """Forget the target; ``init`` must be called again."""
        self._state = None

    def init(self, frame: np.ndarray, box: Sequence[float]) -> None:
        """Start tracking the object in ``box`` (0-based ``x, y, w, h`` pixels) of ``frame`` (BGR uint8)."""
        frame = prepare_frame(frame)
        height, width = frame.shape[:2]
        box = validate_box(box, width, height)
        center, size = xywh_to_center_size(box)
        model = self.config.model
        template_crop_size, _ = geometry.context_crop_sizes(
            size, self.config.tracking.context, model.exemplar_size, model.search_size
        )
        fill_color = tuple(float(c) for c in frame.reshape(-1, 3).mean(axis=0))
        template = geometry.crop_and_resize(frame, center, template_crop_size, model.exemplar_size, fill_color)
        self._state = _TargetState(
            center=center,
            size=size,
            initial_size=size.copy(),
            template_features=self.backend.embed(template),
            fill_color=fill_color,
            frame_shape=(height, width),
        )

    def update(self, frame: np.ndarray) -> TrackResult:
        """Find the target in the next ``frame``; returns its box, a confidence and a lost flag."""
        crops, crop_sizes = self.search_crops(frame)
        responses = self.backend.score(self._state.template_features, crops)
        return self.locate(responses, crop_sizes)

    # The three stages of update(), public so that a caller can time them or batch the
    # network call of several trackers into one.

    def search_crops(self, frame: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Stage 1: the ``(S, X, X, 3)`` scale pyramid around the last position, and each crop's size in pixels."""
        state = self._state
        if state is None:
            raise ValueError("update() called before init(): call init(frame, box) with the first frame and box")
        frame = prepare_frame(frame)
        if frame.shape[:2] != state.frame_shape:
            raise ValueError(
                f"frame size changed from {state.frame_shape[1]}x{state.frame_shape[0]} at init to "
                f"{frame.shape[1]}x{frame.shape[0]}; call init() again for a new video or resize the frames"
            )
        model = self.config.model
        _, search_crop_size = geometry.context_crop_sizes(
            state.size, self.config.tracking.context, model.exemplar_size, model.search_size
        )
        crop_sizes = search_crop_size * self._scale_factors
        crops = geometry.crop_scales(frame, state.center, crop_sizes, model.search_size, state.fill_color)
        return crops, crop_sizes

    def locate(self, responses: np.ndarray, crop_sizes: np.ndarray) -> TrackResult:
        """Stage 3: turn the network's ``(S, R, R)`` responses into the new state and result."""
        state = self._state
        tracking, model = self.config.tracking, self.config.model
        upsampled = geometry.upsample_responses(responses, tracking.response_upsample)
        scale_index = geometry.select_scale(upsampled, self._scale_penalties)
        response = geometry.apply_window(upsampled[scale_index], self._window, tracking.window_influence)
        displacement = geometry.peak_to_displacement(
            geometry.peak_location(response),
            self._upsampled_size,
            tracking.response_upsample,
            model.total_stride,
            crop_sizes[scale_index],
            model.search_size,
        )

        height, width = state.frame_shape
        center = geometry.clamp_center(state.center + displacement, width, height)
        scale = geometry.damped_scale(self._scale_factors[scale_index], tracking.scale_lr)
        size = geometry.clamp_target_size(
            state.size * scale, state.initial_size, tracking.min_scale, tracking.max_scale, tracking.min_size
        )
        self._state = dataclasses.replace(state, center=center, size=size)
        score = geometry.response_confidence(float(responses[scale_index].max()))
        return TrackResult(center_size_to_xywh(center, size), score, score < tracking.lost_threshold)
