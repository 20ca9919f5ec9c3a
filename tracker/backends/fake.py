"""A backend with no network, for tests: responses come from a function you give it."""
from __future__ import annotations

from typing import Callable, List

import numpy as np


class FakeBackend:
    """Returns ``response_fn(search_crops)`` as the responses and records every call.

    ``response_fn`` receives the ``(S, X, X, 3)`` crops and returns ``(S, R, R)``.
    """

    def __init__(self, response_fn: Callable[[np.ndarray], np.ndarray]) -> None:
        self.response_fn = response_fn
        self.template_crops: List[np.ndarray] = []
        self.search_batches: List[np.ndarray] = []

    def embed(self, template_crop: np.ndarray) -> np.ndarray:
        self.template_crops.append(template_crop.copy())
        return template_crop

    def score(self, template_features: np.ndarray, search_crops: np.ndarray) -> np.ndarray:
        self.search_batches.append(search_crops.copy())
        return np.asarray(self.response_fn(search_crops), dtype=np.float32)
