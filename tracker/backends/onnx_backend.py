"""The onnxruntime backend: the exported network, without torch.

``OnnxBackend("weights/siamfc_mobilenet_v2.onnx")`` (or either file's path) opens the pair
described in ``tracker/onnx_format.py``; the int8 pair is ``weights/siamfc_mobilenet_v2.int8.onnx``.
``score`` returns every output of the search graph by name, so any head's export runs here.

This module imports numpy, PyYAML, onnxruntime and the torch-free parts of the package;
never torch (a test checks).
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import io
import logging
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnxruntime as ort

from ..onnx_format import (
    SEARCH_CROPS_INPUT,
    SEARCH_FEATURES_INPUT,
    TEMPLATE_INPUT,
    TEMPLATE_OUTPUT,
    check_pair,
    existing_pair,
    read_checked,
)
from . import Outputs, check_even_split, default_threads

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"

log = logging.getLogger(__name__)


def cuda_unavailable_reason() -> Optional[str]:
    """None when onnxruntime's CUDA provider can load here, else why not (in a few words)."""
    if CUDA not in ort.get_available_providers():
        return "this onnxruntime build has no CUDA provider"
    library = os.path.join(os.path.dirname(ort.__file__), "capi", "libonnxruntime_providers_cuda.so")
    if os.name != "posix" or not os.path.exists(library):
        return None  # cannot probe: let onnxruntime try (it falls back to CPU itself)
    try:
        ctypes.CDLL(library)
        return None
    except OSError:
        pass
    # CUDA/cuDNN from pip's nvidia-* packages are found only after preloading them.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(Exception):
        ort.preload_dlls()
    try:
        ctypes.CDLL(library)
        return None
    except OSError as error:
        return str(error).split(":")[0] + " not found" if "cannot open" in str(error) else str(error)


@functools.lru_cache(maxsize=1)
def _automatic_providers() -> Tuple[str, ...]:
    """CUDA then CPU when CUDA loads, else CPU; probed (and a fallback logged) once per process."""
    reason = cuda_unavailable_reason()
    if reason is None:
        return (CUDA, CPU)
    if CUDA in ort.get_available_providers():
        log.warning("onnxruntime: CUDA provider unavailable (%s); running on CPU", reason)
    return (CPU,)


def choose_providers(providers: Optional[Sequence[str]] = None) -> List[str]:
    """Execution providers: ``providers`` as given (checked), or CUDA then CPU when CUDA can load, else CPU.

    A GPU build of onnxruntime on a machine without the CUDA libraries falls back to
    CPU with one log line instead of onnxruntime's error messages.
    """
    if providers is None:
        return list(_automatic_providers())
    available = ort.get_available_providers()
    providers = list(providers)
    unknown = [p for p in providers if p not in available]
    if unknown or not providers:
        raise ValueError(f"execution provider(s) {unknown or providers} not available; this onnxruntime has {', '.join(available)}")
    if CUDA in providers:
        reason = cuda_unavailable_reason()
        if reason:
            raise ValueError(f"{CUDA} asked for but cannot load ({reason}); use {CPU}")
    return providers


def session_options(threads: Optional[int] = None) -> ort.SessionOptions:
    """Sequential execution on ``threads`` intra-op threads, all graph optimisations."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads or default_threads())
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


def open_session(path: str, providers: Sequence[str], threads: Optional[int] = None) -> ort.InferenceSession:
    """An onnxruntime session for the file at ``path``, after checking the digest it carries."""
    data = read_checked(path)
    try:
        return ort.InferenceSession(data, session_options(threads), providers=list(providers))
    except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph/... types for damaged files
        raise ValueError(f"onnxruntime could not load {path}: {str(error).splitlines()[0]}") from None


def session_metadata(session: ort.InferenceSession) -> Dict[str, str]:
    """The metadata entries of a session's model (checked by ``tracker.onnx_format.check_pair``)."""
    return dict(session.get_modelmeta().custom_metadata_map)


def to_nchw(crops: np.ndarray) -> np.ndarray:
    """``(B, H, W, 3)`` uint8 BGR -> contiguous ``(B, 3, H, W)`` float32, in one pass."""
    return np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32)


class OnnxBackend:
    """Runs an exported model pair with onnxruntime; the same protocol as the torch backend.

    ``providers``: None picks CUDA then CPU when CUDA can load, else CPU; or a list such
    as ``["CPUExecutionProvider"]``. ``threads``: intra-op threads (default
    ``$SIAMTRACK_ORT_THREADS`` or all CPUs this process may use). ``config`` is the
    tracker config stored in the files: ``Tracker(backend, backend.config)``.
    """

    runtime = "onnxruntime"

    def __init__(self, path: str | os.PathLike, providers: Optional[Sequence[str]] = None, threads: Optional[int] = None) -> None:
        self.template_path, self.search_path = existing_pair(path)
        chosen = choose_providers(providers)
        self.template_session = open_session(self.template_path, chosen, threads)
        self.search_session = open_session(self.search_path, chosen, threads)
        pair = check_pair(session_metadata(self.template_session), session_metadata(self.search_session),
                          self.template_path, self.search_path)
        self.metadata, self.config, self.precision = pair.metadata, pair.config, pair.precision
        self.providers = self.search_session.get_providers()
        self.outputs = tuple(output.name for output in self.search_session.get_outputs())

    def __repr__(self) -> str:
        return f"OnnxBackend({self.search_path!r}, precision={self.precision!r}, providers={self.providers})"

    def embed(self, template_crop: np.ndarray) -> np.ndarray:
        (features,) = self.template_session.run([TEMPLATE_OUTPUT], {TEMPLATE_INPUT: to_nchw(template_crop[None])})
        return features

    def score(self, template_features: np.ndarray, search_crops: np.ndarray) -> Outputs:
        return self.score_batch([template_features], search_crops)

    def score_batch(self, template_features: Sequence[np.ndarray], search_crops: np.ndarray) -> Outputs:
        """N targets' features and their ``(N*S, X, X, 3)`` crops (grouped by target) -> named outputs, one run."""
        features = np.concatenate(list(template_features), axis=0) if len(template_features) > 1 else template_features[0]
        check_even_split(len(search_crops), len(features))
        arrays = self.search_session.run(
            list(self.outputs), {SEARCH_FEATURES_INPUT: features, SEARCH_CROPS_INPUT: to_nchw(search_crops)}
        )
        return dict(zip(self.outputs, arrays))
