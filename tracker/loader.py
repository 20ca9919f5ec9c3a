"""One way from a model file to ``(backend, config)``: a registry of model-file kinds.

Every entry point (the library's ``Tracker.from_model``, the CLI, the demo, the evaluation,
the tools) calls :func:`load_model`; a new kind of model file (another runtime, another
format) is one entry in ``MODEL_KINDS``. A kind is recognised by the end of the path:

==============  =========================  ================================================
kind            path                       backend
==============  =========================  ================================================
``onnx-int8``   ``X.int8.onnx``            OpenVINO or onnxruntime on the int8 pair ``X.int8.{template,search}.onnx``
``onnx``        ``X.onnx``                 OpenVINO or onnxruntime on the pair ``X.{template,search}.onnx``
``torch``       ``X.pt`` / ``X.pth``       torch, weights with the config they carry
``config``      ``X.yaml``                 torch with **random** weights (tests, benchmarks; warns)
==============  =========================  ================================================

Options are passed by keyword and belong to a kind: ``device`` and ``precision`` (torch);
``runtime``, ``threads``, ``providers`` (onnxruntime) and ``precision`` (OpenVINO) for the
ONNX kinds. One that the kind does not take is an error, and an option given as ``None``
means "the default". ``config`` (any kind but ``config``) replaces the tracking config the
file carries: a ``TrackerConfig`` or a YAML path whose ``model`` section must match the file's.

``runtime`` runs an ONNX pair on ``"onnxruntime"``, ``"openvino"`` or ``"auto"`` (the
default; see :func:`choose_runtime`): OpenVINO when it is installed and onnxruntime has no
GPU here, else onnxruntime. The choice is logged and is the backend's ``runtime``
attribute. ``precision`` (``fp32``, ``bf16``) is OpenVINO's inference precision, fp32 unless
asked; onnxruntime runs the graphs as stored, so it takes only ``fp32``.

Importing this module imports neither torch nor onnxruntime nor OpenVINO; a kind imports
its runtime when it loads.
"""
from __future__ import annotations

import functools
import importlib.util
import logging
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

from .config import TrackerConfig, from_dict, load_config
from .onnx_format import model_files

Loaded = Tuple[Any, TrackerConfig]

RUNTIMES = ("auto", "onnxruntime", "openvino")
OPENVINO_INSTALL = 'pip install -c constraints.txt -e ".[openvino]"'

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelKind:
    """One kind of model file: how it is named, which options it takes, how it loads."""

    name: str
    suffixes: Tuple[str, ...]
    description: str
    options: Tuple[str, ...]
    load: Callable[..., Loaded]
    files: Callable[[str], Tuple[str, ...]] = lambda path: (path,)  # the files the path stands for


def load_network(path: str | os.PathLike) -> Tuple[Any, TrackerConfig]:
    """The torch network (``tracker.model.SiamFC``, eval mode) of a weights file and the config
    it carries: for the exporter and tools that need the module itself, not a backend."""
    from .model import build_model
    from .weights import read_weights_file

    payload = read_weights_file(path)
    config = from_dict(TrackerConfig, payload.get("config", {}))
    return build_model(config.model, path, payload=payload), config


def _load_torch_weights(path: str, device: str = "auto", precision: str = "fp32") -> Loaded:
    from .backends.torch_backend import TorchBackend

    network, config = load_network(path)
    return TorchBackend(network, device=device, precision=precision), config


def _load_random_weights(path: str, device: str = "auto", precision: str = "fp32") -> Loaded:
    from .backends.torch_backend import TorchBackend
    from .model import build_model

    config = load_config(path)
    return TorchBackend(build_model(config.model), device=device, precision=precision), config


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@functools.lru_cache(maxsize=1)
def _automatic_runtime() -> Tuple[str, str]:
    """``auto``'s runtime for an ONNX pair and why; probed once per process."""
    if not _installed("openvino"):
        return "onnxruntime", f"OpenVINO is not installed ({OPENVINO_INSTALL} adds it)"
    if not _installed("onnxruntime"):
        return "openvino", "onnxruntime is not installed"
    from .backends.onnx_backend import cuda_unavailable_reason

    if cuda_unavailable_reason() is None:
        return "onnxruntime", "onnxruntime can run on CUDA here"
    return "openvino", "on CPU OpenVINO is the faster runtime (README, 'ONNX runtime and CLI')"


def choose_runtime(runtime: Optional[str] = None, providers: Optional[Sequence[str]] = None,
                   precision: Optional[str] = None) -> Tuple[str, str]:
    """``(runtime, why)`` for an ONNX pair: ``"onnxruntime"`` or ``"openvino"``.

    ``"auto"`` (or None) is onnxruntime when ``providers`` are given (they are its option),
    OpenVINO when ``precision="bf16"`` is (only OpenVINO runs bf16), else OpenVINO when it is
    installed and onnxruntime has no GPU here, else onnxruntime. A named runtime is checked
    against the options: a combination that cannot run is a ValueError saying why.
    """
    runtime = runtime or "auto"
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    if precision is not None and precision not in ("fp32", "bf16"):
        raise ValueError(f"precision of an ONNX pair must be fp32 or bf16 (the file's name says int8), got {precision!r}")
    if runtime == "auto":
        if providers is not None:
            runtime, why = "onnxruntime", "providers are onnxruntime's option"
        elif precision == "bf16":
            runtime, why = "openvino", "precision bf16 runs on OpenVINO"
        else:
            runtime, why = _automatic_runtime()
    else:
        why = "asked for"
    if runtime == "onnxruntime":
        if precision == "bf16":
            raise ValueError("precision 'bf16' is OpenVINO's (runtime='openvino'); onnxruntime runs the graphs as stored (fp32, int8)")
        if not _installed("onnxruntime"):
            raise ValueError("runtime 'onnxruntime' asked for, but onnxruntime is not installed: pip install onnxruntime")
    else:
        if providers is not None:
            raise ValueError(f"providers ({', '.join(providers)}) are onnxruntime's; OpenVINO runs on the CPU (use runtime='onnxruntime' for them)")
        if not _installed("openvino"):
            raise ValueError(f"runtime 'openvino' asked for{' by precision bf16' if why != 'asked for' else ''}, "
                             f"but OpenVINO is not installed: {OPENVINO_INSTALL}")
    return runtime, why


def _onnx_loader(file_precision: str) -> Callable[..., Loaded]:
    def load(path: str, providers=None, threads=None, runtime=None, precision=None) -> Loaded:
        chosen, why = choose_runtime(runtime, providers, precision)
        if runtime in (None, "auto"):
            log.info("runtime auto: %s for %s (%s)", chosen, path, why)
        if chosen == "openvino":
            from .backends.openvino_backend import OpenVinoBackend

            backend = OpenVinoBackend(path, precision=precision or "fp32", threads=threads)
        else:
            from .backends.onnx_backend import OnnxBackend

            backend = OnnxBackend(path, providers=providers, threads=threads)
        if backend.precision != file_precision:
            raise ValueError(f"{path} names an {file_precision} model, but its files hold {backend.precision} graphs "
                             "(X.int8.onnx names an int8 pair, X.onnx an fp32 one); rename the files")
        return backend, backend.config

    return load


ONNX_OPTIONS = ("providers", "threads", "runtime", "precision")

# Checked in order: the first kind whose suffix ends the path wins (".int8.onnx" before ".onnx").
MODEL_KINDS: Dict[str, ModelKind] = {
    kind.name: kind
    for kind in (
        ModelKind("onnx-int8", (".int8.onnx", ".int8.template.onnx", ".int8.search.onnx"),
                  "int8 ONNX pair (X.int8.onnx), OpenVINO or onnxruntime", ONNX_OPTIONS, _onnx_loader("int8"), model_files),
        ModelKind("onnx", (".onnx",), "fp32 ONNX pair (X.onnx), OpenVINO or onnxruntime", ONNX_OPTIONS, _onnx_loader("fp32"), model_files),
        ModelKind("torch", (".pt", ".pth"), "torch weights file (X.pt)", ("device", "precision"), _load_torch_weights),
        ModelKind("config", (".yaml", ".yml"), "tracker YAML config: random weights, for tests and benchmarks",
                  ("device", "precision"), _load_random_weights),
    )
}


def model_kind(path: str | os.PathLike) -> ModelKind:
    """The kind of model file ``path`` names, or a ValueError listing the kinds there are."""
    text = os.fspath(path)
    for kind in MODEL_KINDS.values():
        if text.lower().endswith(kind.suffixes):
            return kind
    accepted = "; ".join(f"{'/'.join(kind.suffixes[:2])}: {kind.description}" for kind in MODEL_KINDS.values())
    raise ValueError(f"cannot tell what kind of model {text!r} is from its name; accepted: {accepted}")


def load_model(path: str | os.PathLike, config: TrackerConfig | str | os.PathLike | None = None, **options) -> Loaded:
    """``(backend, config)`` for the model file at ``path``; see the module docstring for kinds and options."""
    path = os.fspath(path)
    kind = model_kind(path)
    given = {name: value for name, value in options.items() if value is not None}
    foreign = sorted(set(given) - set(kind.options))
    if foreign:
        takes = f"takes {', '.join(kind.options)}" if kind.options else "takes no options"
        raise ValueError(f"option(s) {', '.join(foreign)} do not apply to {path} ({kind.description}); that kind {takes}")
    backend, carried = kind.load(path, **given)
    if config is None:
        return backend, carried
    if kind.name == "config":
        raise ValueError(f"{path} is itself a config; pass a weights or ONNX file together with config=")
    return backend, config_for_file(path, carried, config)


def config_for_file(path: str | os.PathLike, carried: TrackerConfig, config: TrackerConfig | str | os.PathLike) -> TrackerConfig:
    """``config`` (a config or a YAML path) in place of the one the model file at ``path``
    carries: ValueError unless its model section matches; only its tracking section may differ."""
    chosen = config if isinstance(config, TrackerConfig) else load_config(config)
    if chosen.model != carried.model:
        differences = ", ".join(f"{key}: file {getattr(carried.model, key)!r}, config {value!r}"
                                for key, value in chosen.model.__dict__.items() if getattr(carried.model, key) != value)
        raise ValueError(f"the config's model section does not match {os.fspath(path)} ({differences}); "
                         "only its tracking section may differ")
    return chosen


# What a command line's --runtime offers: the ONNX runtimes, or torch for .pt weights.
RUNTIME_CHOICES = (*RUNTIMES, "torch")


def runtime_option(path: str | os.PathLike, runtime: Optional[str]) -> Optional[str]:
    """The ``runtime=`` option for :func:`load_model` from a command line's ``--runtime``:
    None for torch files (and when not given); a ValueError when the runtime cannot run the file."""
    if runtime is None:
        return None
    if runtime not in RUNTIME_CHOICES:
        raise ValueError(f"--runtime must be one of {', '.join(RUNTIME_CHOICES)}, got {runtime!r}")
    kind = model_kind(path)
    torch_file = kind.name in ("torch", "config")
    if runtime == "torch" and not torch_file:
        raise ValueError(f"--runtime torch runs torch weights (X.pt); {os.fspath(path)} is an {kind.description}")
    if runtime != "torch" and torch_file:
        raise ValueError(f"--runtime {runtime} runs exported ONNX pairs; {os.fspath(path)} is a {kind.description}, which runs on torch")
    return None if torch_file else runtime
