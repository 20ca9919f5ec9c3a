"""The OpenVINO backend: the exported ONNX pair on Intel's CPU runtime, without torch or onnxruntime.

``OpenVinoBackend("weights/siamfc_mobilenet_v2.onnx")`` (or ``.int8.onnx``) runs the same
files as the onnxruntime backend (``tracker/onnx_format.py``): OpenVINO reads ONNX as it
is. Each file's bytes are read and their digest checked here (``onnx_format.read_checked``),
then handed to OpenVINO, so what is checked is what runs; the metadata checks are the
onnxruntime backend's (``onnx_format.check_pair``).

``precision`` is the precision of the float parts of the graphs, always an explicit choice:
``fp32`` (the default) forces f32 inference; ``bf16`` runs them in bfloat16 where the CPU
has it (AVX-512 BF16 or AMX: about twice as fast there, responses differ by a few percent of
their peak). OpenVINO's own default on such CPUs is bf16, which this backend never takes
silently. The int8 pair's quantised layers run in int8 either way.

The search graph is compiled for one target and the config's number of scales (a static
shape runs faster than the dynamic one on OpenVINO's CPU plugin: 22 against 27 ms for three
crops in f32), and several targets are scored one after another on it. Compiled models are cached on disk (``$SIAMTRACK_OPENVINO_CACHE``,
default ``~/.cache/siamtrack/openvino``; an empty value turns the cache off) so that a
later start-up skips most of the compilation; beyond 256 MB the oldest are removed.

This module imports numpy, OpenVINO and the torch-free parts of the package; never torch
or onnxruntime (a test checks).
"""
from __future__ import annotations

import functools
import logging
import os
import threading
from typing import Dict, Optional, Sequence

import numpy as np
import openvino as ov

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

PRECISIONS = ("fp32", "bf16")
_HINTS = {"fp32": "f32", "bf16": "bf16"}
DEVICE = "CPU"
CACHE_ENV = "SIAMTRACK_OPENVINO_CACHE"
# Every export is a new model to OpenVINO (a random AlexNet compiles to 9 MB): beyond this the
# oldest compiled models in the cache folder are removed, so that the folder cannot grow
# without bound (a test run alone writes some 300 MB).
CACHE_LIMIT_BYTES = 256 * 2**20
# Compiled search graphs kept per backend (one per number of crops per target seen; the oldest goes first).
MAX_SHAPES = 8

log = logging.getLogger(__name__)


def default_cache_dir() -> Optional[str]:
    """``$SIAMTRACK_OPENVINO_CACHE`` (empty: no cache), else ``$XDG_CACHE_HOME/siamtrack/openvino``."""
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return value or None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "siamtrack", "openvino")


@functools.lru_cache(maxsize=1)
def shared_core() -> ov.Core:
    """The one OpenVINO ``Core`` of the process, used by every backend.

    With a Core per backend, OpenVINO 2026.4 crashes the process (SIGSEGV) at the next signal
    that has a Python handler (Ctrl-C, the CLI's SIGTERM) once two Cores have been destroyed
    in the order they were made; with one Core it does not. Settings that differ between
    backends (precision, threads, cache folder) go to ``compile_model``, never to the Core."""
    return ov.Core()


def cpu_has_bf16() -> bool:
    """Whether OpenVINO can run bfloat16 on this CPU (AVX-512 BF16 or AMX)."""
    return "BF16" in shared_core().get_property(DEVICE, "OPTIMIZATION_CAPABILITIES")


def to_nchw(crops: np.ndarray) -> np.ndarray:
    """``(B, H, W, 3)`` uint8 BGR -> contiguous ``(B, 3, H, W)`` float32, in one pass."""
    return np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32)


def prune_cache(folder: str, limit: int = CACHE_LIMIT_BYTES) -> None:
    """Remove the oldest compiled models (``*.blob``) from ``folder`` until the rest take at most ``limit`` bytes."""
    blobs = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.endswith(".blob") and entry.is_file():
                info = entry.stat()
                blobs.append((info.st_mtime, info.st_size, entry.path))
    total = sum(size for _, size, _ in blobs)
    for _, size, path in sorted(blobs):
        if total <= limit:
            break
        try:
            os.remove(path)
        except OSError:  # gone already (another process pruning) or not ours to remove
            continue
        total -= size


def _usable_cache(folder: Optional[str]) -> Optional[str]:
    if not folder:
        return None
    try:
        os.makedirs(folder, exist_ok=True)
        if os.access(folder, os.W_OK):
            prune_cache(folder)
            return folder
    except OSError:
        pass
    log.warning("OpenVINO: cannot write the compiled-model cache %s; compiling at every start (set %s)", folder, CACHE_ENV)
    return None


class OpenVinoBackend:
    """Runs an exported model pair with OpenVINO on the CPU; the same protocol as the other backends.

    ``precision``: ``"fp32"`` (default) or ``"bf16"`` (a ValueError on a CPU without
    bfloat16). ``threads``: inference threads (default ``$SIAMTRACK_ORT_THREADS`` or all CPUs
    this process may use). ``cache_dir``: where compiled models are kept (default
    :func:`default_cache_dir`; ``""`` for none). ``config`` is the tracker config stored in
    the files; ``precision`` the files' (``fp32``/``int8``), ``inference_precision`` the one
    chosen here. Several threads may share one backend: each gets its own infer requests.
    """

    runtime = "openvino"

    def __init__(self, path: str | os.PathLike, precision: str = "fp32", threads: Optional[int] = None,
                 cache_dir: Optional[str] = None) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"OpenVINO precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be a positive integer, got {threads!r}")
        self.template_path, self.search_path = existing_pair(path)
        self.core = shared_core()
        if precision == "bf16" and not cpu_has_bf16():
            raise ValueError("precision 'bf16' asked for, but this CPU has no bfloat16 support (AVX-512 BF16 or AMX); use 'fp32'")
        self.cache_dir = _usable_cache(default_cache_dir() if cache_dir is None else cache_dir)
        self.inference_precision = precision
        self.threads = int(threads or default_threads())
        self.properties = {
            "INFERENCE_PRECISION_HINT": _HINTS[precision],
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": self.threads,
            **({"CACHE_DIR": self.cache_dir} if self.cache_dir else {}),
        }
        template_model = self._read(self.template_path)
        self._search_model = self._read(self.search_path)
        pair = check_pair(_metadata(template_model), _metadata(self._search_model), self.template_path, self.search_path)
        self.metadata, self.config, self.precision = pair.metadata, pair.config, pair.precision
        self.outputs = tuple(output.get_any_name() for output in self._search_model.outputs)
        self._template = self._compile(template_model, self.template_path)
        self._search: Dict[int, ov.CompiledModel] = {}
        self._compile_lock = threading.Lock()
        self._local = threading.local()
        self._search_for(self.config.tracking.scale_count)  # compiled now, so the first update is not slow

    def __repr__(self) -> str:
        return (f"OpenVinoBackend({self.search_path!r}, precision={self.precision!r}, "
                f"inference_precision={self.inference_precision!r}, threads={self.threads})")

    def _read(self, path: str) -> ov.Model:
        data = read_checked(path)
        try:
            return self.core.read_model(data)
        except Exception as error:  # OpenVINO raises RuntimeError/its own types for damaged files
            raise ValueError(f"OpenVINO could not load {path}: {str(error).strip().splitlines()[0]}") from None

    def _compile(self, model: ov.Model, path: str) -> ov.CompiledModel:
        try:
            return self.core.compile_model(model, DEVICE, self.properties)
        except Exception as error:
            raise ValueError(f"OpenVINO could not compile {path}: {str(error).strip().splitlines()[0]}") from None

    def _search_for(self, crops: int) -> ov.CompiledModel:
        """The search graph compiled for one template and ``crops`` search crops."""
        compiled = self._search.get(crops)
        if compiled is None:
            with self._compile_lock:
                compiled = self._search.get(crops)
                if compiled is None:
                    model = self._search_model.clone()
                    shapes = {}
                    for port, rows in ((SEARCH_FEATURES_INPUT, 1), (SEARCH_CROPS_INPUT, crops)):
                        shape = model.input(port).get_partial_shape()
                        shape[0] = rows
                        shapes[port] = shape
                    model.reshape(shapes)
                    compiled = self._compile(model, self.search_path)
                    if len(self._search) >= MAX_SHAPES:
                        self._search.pop(next(iter(self._search)))
                    self._search[crops] = compiled
        return compiled

    def _request(self, key: int, compiled: ov.CompiledModel) -> ov.InferRequest:
        """This thread's infer request for ``compiled`` (an infer request is not thread-safe)."""
        requests = getattr(self._local, "requests", None)
        if requests is None:
            requests = self._local.requests = {}
        held = requests.get(key)
        if held is None or held[0] is not compiled:
            if len(requests) > MAX_SHAPES:
                requests.pop(next(iter(requests)))
            held = requests[key] = (compiled, compiled.create_infer_request())
        return held[1]

    def embed(self, template_crop: np.ndarray) -> np.ndarray:
        results = self._request(0, self._template).infer({TEMPLATE_INPUT: to_nchw(template_crop[None])})
        return results[TEMPLATE_OUTPUT]

    def score(self, template_features: np.ndarray, search_crops: np.ndarray) -> Outputs:
        return self.score_batch([template_features], search_crops)

    def score_batch(self, template_features: Sequence[np.ndarray], search_crops: np.ndarray) -> Outputs:
        """N targets' features and their ``(N*S, X, X, 3)`` crops (grouped by target) -> named outputs, ``N*S`` rows each.

        Runs the single-target graph once per target, like the torch backend's calls of a few
        crops on CPU: 16 targets took 444 ms this way against 700 ms as one call of 48 crops
        (fp32; int8 251 against 279), as MobileNetV2's early activations for many crops fall
        out of cache; and no new shape has to be compiled when targets come and go.
        """
        features = np.concatenate(list(template_features), axis=0) if len(template_features) > 1 else template_features[0]
        per_target = check_even_split(len(search_crops), len(features))
        features = np.ascontiguousarray(features, dtype=np.float32)
        crops = to_nchw(search_crops)
        request = self._request(per_target, self._search_for(per_target))
        parts = []
        for index in range(len(features)):
            results = request.infer({SEARCH_FEATURES_INPUT: features[index : index + 1],
                                     SEARCH_CROPS_INPUT: crops[index * per_target : (index + 1) * per_target]}, share_inputs=True)
            parts.append({name: results[name] for name in self.outputs})
        if len(parts) == 1:
            return parts[0]
        return {name: np.concatenate([part[name] for part in parts]) for name in self.outputs}


def _metadata(model: ov.Model) -> Dict[str, str]:
    """An ONNX file's metadata entries, as OpenVINO's ONNX reader keeps them (``rt_info["framework"]``)."""
    if not model.has_rt_info("framework"):
        return {}
    return {key: value.astype(str) for key, value in model.get_rt_info()["framework"].items()}

