"""A backend with no network, for tests: responses come from a function you give it."""
from __future__ import annotations

from typing import Any, Callable, List, Sequence

import numpy as np

from . import Outputs, check_even_split


class FakeBackend:
    """Returns ``{"response": response_fn(search_crops)}`` (as SiamFC's head names it) and records every call.

    ``response_fn`` receives the ``(S, X, X, 3)`` crops and returns ``(S, R, R)`` maps.
    ``record=False`` keeps no copies (for soaks: recording grows without bound).
    """

    outputs = ("response",)

    def __init__(self, response_fn: Callable[[np.ndarray], np.ndarray], record: bool = True) -> None:
        self.response_fn = response_fn
        self.record = record
        self.template_crops: List[np.ndarray] = []
        self.search_batches: List[np.ndarray] = []
        self.batch_calls = 0

    def embed(self, template_crop: np.ndarray) -> np.ndarray:
        if self.record:
            self.template_crops.append(template_crop.copy())
        return template_crop

    def score(self, template_features: np.ndarray, search_crops: np.ndarray) -> Outputs:
        if self.record:
            self.search_batches.append(search_crops.copy())
        return {"response": np.asarray(self.response_fn(search_crops), dtype=np.float32)[:, None]}

    def score_batch(self, template_features: Sequence[Any], search_crops: np.ndarray) -> Outputs:
        """One call for N targets: ``response_fn`` gets each target's crops in turn; counted in ``batch_calls``."""
        self.batch_calls += 1
        per_target = check_even_split(len(search_crops), len(template_features))
        return {"response": np.concatenate([
            self.score(features, search_crops[index * per_target : (index + 1) * per_target])["response"]
            for index, features in enumerate(template_features)
        ])}
