"""Backends run the network for the tracker: embed a template, score search crops.

The protocol is deliberately tiny so that torch, onnxruntime and test fakes share
one tracking loop. This module imports neither torch nor onnxruntime.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Backend(Protocol):
    def embed(self, template_crop: np.ndarray) -> Any:
        """``(E, E, 3)`` uint8 BGR template crop -> opaque template features."""

    def score(self, template_features: Any, search_crops: np.ndarray) -> np.ndarray:
        """Template features and ``(S, X, X, 3)`` uint8 BGR crops -> ``(S, R, R)`` float32 responses."""
