"""Backends run the network for the tracker: embed a template, score search crops.

The protocol is deliberately tiny so that torch, onnxruntime and test fakes share
one tracking loop. ``score`` returns the head's **named outputs** as float32 arrays, one
row per search crop (``{"response": (S, 1, R, R)}`` for SiamFC's head; see
``tracker.heads``), so a backend never needs to know which head it runs. This module
imports neither torch nor onnxruntime.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Protocol, Sequence, runtime_checkable

import numpy as np

Outputs = Dict[str, np.ndarray]
# Intra-op threads of the ONNX runtimes (onnxruntime and OpenVINO), when set.
THREADS_ENV = "SIAMTRACK_ORT_THREADS"


@runtime_checkable
class Backend(Protocol):
    # Backends also name their outputs in ``outputs`` (a tuple of str) when they know them.

    def embed(self, template_crop: np.ndarray) -> Any:
        """``(E, E, 3)`` uint8 BGR template crop -> opaque template features."""

    def score(self, template_features: Any, search_crops: np.ndarray) -> Outputs:
        """Template features and ``(S, X, X, 3)`` uint8 BGR crops -> named float32 outputs, ``S`` rows each."""


@runtime_checkable
class BatchBackend(Backend, Protocol):
    """A backend that can also score several targets' crops in one network call (optional)."""

    def score_batch(self, template_features: Sequence[Any], search_crops: np.ndarray) -> Outputs:
        """N targets' features and ``(N*S, X, X, 3)`` crops, grouped by target -> named outputs, ``N*S`` rows each."""


def check_even_split(crops: int, targets: int) -> int:
    """Crops per target, or a ValueError when ``crops`` search crops do not split evenly over ``targets``."""
    if targets == 0 or crops % targets:
        raise ValueError(f"{crops} search crops cannot be split evenly over {targets} targets")
    return crops // targets


def score_batch(backend: Backend, template_features: Sequence[Any], search_crops: np.ndarray) -> Outputs:
    """Score N targets' crops (``S`` consecutive crops per target): in one call when the
    backend has ``score_batch``, else one ``score`` call per target."""
    per_target = check_even_split(len(search_crops), len(template_features))
    if isinstance(backend, BatchBackend):
        return backend.score_batch(template_features, search_crops)
    parts = [backend.score(features, search_crops[index * per_target : (index + 1) * per_target])
             for index, features in enumerate(template_features)]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def split_targets(outputs: Outputs, targets: int) -> List[Outputs]:
    """Batched outputs (``N*S`` rows each) -> one mapping per target (``S`` rows each)."""
    rows = len(next(iter(outputs.values())))
    per_target = check_even_split(rows, targets)
    return [{name: array[index * per_target : (index + 1) * per_target] for name, array in outputs.items()}
            for index in range(targets)]


def describe_backend(backend) -> str:
    """What runs the network, in a few words, e.g. ``openvino (int8 files, fp32 inference)``."""
    runtime = getattr(backend, "runtime", None)
    if runtime == "onnxruntime":
        return f"onnxruntime ({backend.precision} files, {', '.join(backend.providers)})"
    if runtime == "openvino":
        return f"openvino ({backend.precision} files, {backend.inference_precision} inference)"
    return f"torch ({getattr(backend, 'device', '?')}, {getattr(backend, 'precision', '?')})"


def default_threads() -> int:
    """``$SIAMTRACK_ORT_THREADS``, else the CPUs this process may run on (the ONNX runtimes' default)."""
    value = os.environ.get(THREADS_ENV)
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{THREADS_ENV} must be a positive integer, got {value!r}")
        return int(value)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)
