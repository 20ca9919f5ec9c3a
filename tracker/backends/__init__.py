"""Backends run the network for the tracker: embed a template, score search crops.

The protocol is deliberately tiny so that torch, onnxruntime and test fakes share
one tracking loop. This module imports neither torch nor onnxruntime.
"""
from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np


@runtime_checkable
class Backend(Protocol):
    def embed(self, template_crop: np.ndarray) -> Any:
        """``(E, E, 3)`` uint8 BGR template crop -> opaque template features."""

    def score(self, template_features: Any, search_crops: np.ndarray) -> np.ndarray:
        """Template features and ``(S, X, X, 3)`` uint8 BGR crops -> ``(S, R, R)`` float32 responses."""


@runtime_checkable
class BatchBackend(Backend, Protocol):
    """A backend that can also score several targets' crops in one network call (optional)."""

    def score_batch(self, template_features: Sequence[Any], search_crops: np.ndarray) -> np.ndarray:
        """N targets' features and ``(N*S, X, X, 3)`` crops, grouped by target -> ``(N*S, R, R)`` float32."""


def score_batch(backend: Backend, template_features: Sequence[Any], search_crops: np.ndarray) -> np.ndarray:
    """Score N targets' crops (``S`` consecutive crops per target): in one call when the
    backend has ``score_batch``, else one ``score`` call per target."""
    targets = len(template_features)
    if targets == 0 or len(search_crops) % targets:
        raise ValueError(f"{len(search_crops)} search crops cannot be split evenly over {targets} targets")
    if isinstance(backend, BatchBackend):
        return backend.score_batch(template_features, search_crops)
    per_target = len(search_crops) // targets
    return np.concatenate([
        backend.score(features, search_crops[index * per_target : (index + 1) * per_target])
        for index, features in enumerate(template_features)
    ])
