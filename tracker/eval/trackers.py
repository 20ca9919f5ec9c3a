"""Trackers the evaluation can run, by name: ours and OpenCV's, behind one ``init``/``update``.

``make_tracker_spec(name, ...)`` returns a :class:`TrackerSpec`: a label for tables and
plots, a fingerprint that changes whenever the tracker's results could (config, weights,
model files, OpenCV version), and ``create()`` for a tracker ready for ``init``.

Names: ``siamfc`` (this project's SiamFC model: the shipped ``weights/siamfc_mobilenet_v2.pt`` when
present, otherwise a random AlexNet, seeded; or any weights file / config given), ``mil`` (cv2.TrackerMIL), ``nano``
(cv2.TrackerNano, NanoTrack-v2 ONNX), ``vit`` (cv2.TrackerVit), ``kcf`` and ``csrt``
(need opencv-contrib; :class:`TrackerUnavailable` otherwise).
"""
from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Sequence

import cv2
import numpy as np

from ..digests import file_sha256
from ..shipped import SHIPPED_SIAMFC_MODEL, shipped_weights
from ..datasets import repository_root

TRACKER_NAMES = ("siamfc", "mil", "nano", "vit", "kcf", "csrt")
PEERS_ENV = "SIAMTRACK_PEERS"


class TrackerUnavailable(ValueError):
    """A known tracker that cannot be built here (missing opencv-contrib or model files)."""


@dataclass(frozen=True)
class TrackerSpec:
    """How to build one tracker, and what identifies its results."""

    name: str
    label: str
    fingerprint: str
    create: Callable[[], object] = field(repr=False, compare=False)
    note: str = ""


def default_peers_root() -> str:
    """``$SIAMTRACK_PEERS`` when set, else ``../shared/peers`` relative to the repository root."""
    return os.environ.get(PEERS_ENV) or os.path.normpath(os.path.join(repository_root(), "..", "shared", "peers"))


def default_weights_path() -> str:
    """What the ``siamfc`` tracker name runs: the shipped SiamFC model (the default box model is a ``--model``)."""
    return str(shipped_weights(SHIPPED_SIAMFC_MODEL))


def _box_to_rect(box: Sequence[float]):
    """A 0-based float box -> OpenCV's integer Rect covering the same pixels (rounded edges)."""
    x, y, w, h = (float(v) for v in box)
    x0, y0 = int(round(x)), int(round(y))
    x1, y1 = int(round(x + w)), int(round(y + h))
    return (x0, y0, max(x1 - x0, 1), max(y1 - y0, 1))


class OpenCVTracker:
    """Adapter for OpenCV's trackers (``init(frame, Rect)``, ``update -> (ok, Rect)``).

    A new OpenCV tracker is created at every ``init``. ``update`` returns the box as a
    4-tuple of floats, or a NaN box when OpenCV reports ``ok=False`` (scored as a failure).
    """

    def __init__(self, create: Callable[[], object]) -> None:
        self._create = create
        self._tracker = None

    def init(self, frame: np.ndarray, box: Sequence[float]) -> None:
        self._tracker = self._create()
        self._tracker.init(frame, _box_to_rect(box))

    def update(self, frame: np.ndarray):
        if self._tracker is None:
            raise ValueError("update() called before init(): call init(frame, box) with the first frame and box")
        ok, rect = self._tracker.update(frame)
        if not ok:
            return (float("nan"),) * 4
        return tuple(float(v) for v in rect)


def _opencv_factory(*names: str) -> Optional[Callable[[], object]]:
    """The first of ``cv2.<name>`` / ``cv2.legacy.<name>`` that exists."""
    for module in (cv2, getattr(cv2, "legacy", None)):
        for name in names:
            factory = getattr(module, name, None) if module is not None else None
            if factory is not None:
                return factory
    return None


def _siamfc_spec(device: Optional[str], precision: Optional[str], weights: Optional[str], config: Optional[str],
                 runtime: Optional[str] = None) -> TrackerSpec:
    """Our tracker on any model file ``tracker.loader`` reads (``.pt``, ``X.onnx``, ``X.int8.onnx``).

    With neither ``weights`` nor ``config``: the shipped weights when present, else random
    AlexNet weights; with ``config`` alone: random weights for that config.
    """
    from ..config import config_path
    from ..loader import choose_runtime, model_kind, runtime_option

    if weights is None and config is None and os.path.isfile(default_weights_path()):
        weights = default_weights_path()
    if config is not None and not os.path.isfile(config):
        raise ValueError(f"config file not found: {config}")
    if weights is None:
        # Random weights: the config file is the model (tracker.loader's "config" kind).
        model, config_option = config or config_path("siamfc_alexnet"), None
        label, note = "siamfc (random weights)", "random weights (no trained weights file): expect poor accuracy"
    else:
        model, config_option = weights, config
        onnx_label = ", ONNX" if model_kind(model).name.startswith("onnx") else ""
        label, note = f"siamfc ({os.path.splitext(os.path.basename(model))[0]}{onnx_label})", f"model {model}"
    files = model_kind(model).files(model)
    missing = [path for path in files if not os.path.isfile(path)]
    if missing:
        raise ValueError(f"model file(s) not found: {', '.join(missing)}")
    built = []

    def create():
        # One network for every sequence: init() replaces all of the tracker's state.
        if not built:
            from ..model import UntrainedWarning
            from ..siamese_tracker import Tracker

            if weights is None:
                import torch

                torch.manual_seed(0)
            with warnings.catch_warnings():
                # The spec's label and note already say "random weights".
                warnings.simplefilter("ignore", UntrainedWarning)
                built.append(Tracker.from_model(model, config=config_option, device=device, precision=precision,
                                                runtime=runtime_option(model, runtime)))
        return built[0]

    # Results depend on what runs the network: the cache must not mix onnxruntime's and OpenVINO's.
    if model_kind(model).name in ("torch", "config"):
        runtime_option(model, runtime)  # a mismatch (--runtime openvino with .pt) is an error here, not later
        chosen_runtime = "torch"
    else:
        chosen_runtime = choose_runtime(runtime_option(model, runtime), precision=precision)[0]
    fingerprint = "|".join([
        "siamfc",
        "model=" + ",".join(file_sha256(path) for path in files) + ("|random-weights-seed0" if weights is None else ""),
        "config=" + (file_sha256(config_option) if config_option else "carried"),
        f"device={device or 'auto'}|precision={precision or 'fp32'}|runtime={chosen_runtime}",
    ])
    return TrackerSpec("siamfc", label, fingerprint, create, note)


def _onnx_files(paths: Sequence[str], name: str, peers: str) -> str:
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise TrackerUnavailable(f"{name}: model file(s) not found: {', '.join(missing)} (pass --peers or set ${PEERS_ENV}; peers folder: {peers})")
    return ",".join(file_sha256(p) for p in paths)


def make_tracker_spec(
    name: str,
    device: Optional[str] = None,
    precision: Optional[str] = None,
    weights: Optional[str] = None,
    peers: Optional[str] = None,
    config: Optional[str] = None,
    runtime: Optional[str] = None,
) -> TrackerSpec:
    """The :class:`TrackerSpec` for ``name`` (one of :data:`TRACKER_NAMES`).

    ``device``, ``precision``, ``weights`` and ``config`` concern ``siamfc`` only:
    ``weights`` alone loads the config the file carries; ``config`` alone (or neither, when
    the shipped weights are absent) gives random weights. ``peers`` is the folder
    with ``nanotrack-v2/`` and ``vittrack/``.
    """
    name = name.strip().lower()
    peers = peers or default_peers_root()
    opencv = f"opencv={cv2.__version__}"
    if name == "siamfc":
        return _siamfc_spec(device, precision, weights, config, runtime)
    if name == "mil":
        return TrackerSpec("mil", "MIL (OpenCV)", f"mil|{opencv}", lambda: OpenCVTracker(cv2.TrackerMIL_create))
    if name == "nano":
        backbone = os.path.join(peers, "nanotrack-v2", "nanotrack_backbone_sim.onnx")
        head = os.path.join(peers, "nanotrack-v2", "nanotrack_head_sim.onnx")
        digests = _onnx_files([backbone, head], name, peers)

        def create_nano():
            params = cv2.TrackerNano_Params()
            params.backbone, params.neckhead = backbone, head
            return cv2.TrackerNano_create(params)

        return TrackerSpec("nano", "NanoTrack-v2 (OpenCV)", f"nano|{opencv}|{digests}", lambda: OpenCVTracker(create_nano))
    if name == "vit":
        model = os.path.join(peers, "vittrack", "vitTracker.onnx")
        digests = _onnx_files([model], name, peers)

        def create_vit():
            params = cv2.TrackerVit_Params()
            params.net = model
            return cv2.TrackerVit_create(params)

        return TrackerSpec("vit", "VitTrack (OpenCV)", f"vit|{opencv}|{digests}", lambda: OpenCVTracker(create_vit))
    if name in ("kcf", "csrt"):
        factory = _opencv_factory(f"Tracker{name.upper()}_create")
        if factory is None:
            raise TrackerUnavailable(
                f"{name}: this OpenCV ({cv2.__version__}) has no Tracker{name.upper()}; it needs opencv-contrib-python, "
                "which is not one of this project's dependencies"
            )
        return TrackerSpec(name, f"{name.upper()} (OpenCV)", f"{name}|{opencv}", lambda: OpenCVTracker(factory))
    raise ValueError(f"unknown tracker {name!r}; valid names: {', '.join(TRACKER_NAMES)}")


def model_spec(entry: str, device: Optional[str] = None, precision: Optional[str] = None,
               runtime: Optional[str] = None, config: Optional[str] = None) -> TrackerSpec:
    """``"NAME=PATH"``: this project's tracker on the model file PATH, as a tracker named NAME
    (so that several of our models run side by side in one table); ``config``: a tracker
    YAML to run it with instead of the config the file carries."""
    name, separator, path = entry.partition("=")
    name, path = name.strip(), path.strip()
    if not separator or not name or not path:
        raise ValueError(f"--model takes NAME=PATH (a name for the table and a model file), got {entry!r}")
    if name in TRACKER_NAMES or not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"--model name {name!r} must be letters, digits, - or _, and not one of {', '.join(TRACKER_NAMES)}")
    from ..loader import model_kind

    # --runtime picks what runs the ONNX models and --device places the .pt ones, each
    # beside the other kind.
    if model_kind(path).name in ("torch", "config"):
        runtime = None
    else:
        device = None
    if config is not None and not os.path.isfile(config):
        raise ValueError(f"--model-config for {name!r}: config file not found: {config}")
    spec = _siamfc_spec(device, precision, path, config, runtime)
    return dataclasses.replace(spec, name=name, label=f"{name} ({spec.label.partition('(')[2].rstrip(')')})",
                               fingerprint=spec.fingerprint.replace("siamfc|", name + "|", 1))


def parse_tracker_names(text: str) -> list:
    """``"siamfc,mil"`` -> ``["siamfc", "mil"]``; ValueError for unknown or repeated names."""
    names = [n.strip().lower() for n in str(text).split(",") if n.strip()]
    if not names:
        raise ValueError(f"no tracker named; valid names: {', '.join(TRACKER_NAMES)}")
    unknown = [n for n in names if n not in TRACKER_NAMES]
    if unknown:
        raise ValueError(f"unknown tracker(s) {', '.join(map(repr, unknown))}; valid names: {', '.join(TRACKER_NAMES)}")
    if len(set(names)) != len(names):
        raise ValueError(f"tracker names repeat in {text!r}")
    return names


def available_specs(names: Sequence[str], log: Callable[[str], None] = print, **options) -> Dict[str, TrackerSpec]:
    """Specs for ``names``, skipping (with a message through ``log``) those unavailable here."""
    specs = {}
    for name in names:
        try:
            specs[name] = make_tracker_spec(name, **options)
        except TrackerUnavailable as error:
            log(f"skipping {error}")
    return specs
