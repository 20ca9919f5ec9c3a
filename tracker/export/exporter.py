"""Export a twin network to the ONNX pair of ``tracker/onnx_format.py``, and check it.

``export_onnx(model, config, stem)`` writes ``<stem>.template.onnx`` and
``<stem>.search.onnx`` (opset 17), runs ``onnx.checker`` on both, and compares onnxruntime
with torch on random crops and on real crops (when given): for every named output of the
head and every crop, the largest absolute difference relative to the output's peak, and
the peak's location. Any failure raises :class:`ExportCheckError` and leaves no file behind.

Both graphs are traced by torch's exporter, the head included: the search graph is
``(template features of N targets, their N*S crops) -> the head's named outputs``, with N
and S dynamic, so one run scores every target. The head's correlation is written with
ops that export (matmul, pad, reshape, slice, sum; ``tracker.heads.correlate_taps``), so
no ONNX graph is written by hand. The modules that int8 must keep in fp32 (the head, and
whatever a backbone lists) are recorded in the files' metadata as node-name scopes, for
the quantiser.
"""
from __future__ import annotations

import io
import json
import os
import uuid
import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnx
import torch
import yaml
from torch import nn

from ..backends.onnx_backend import CPU, OnnxBackend, to_nchw
from ..config import TrackerConfig
from ..model import SiamFC, UntrainedWarning, build_model, fuse_batchnorm, int8_float_modules
from ..onnx_format import (
    FORMAT,
    FORMAT_VERSION,
    META_CONFIG,
    META_FLOAT_SCOPES,
    META_FORMAT,
    META_FORMAT_VERSION,
    META_IO,
    META_PAIR,
    META_PRECISION,
    META_PREPROCESSING,
    META_ROLE,
    META_SOURCE,
    OPSET,
    PREPROCESSING,
    SEARCH_CROPS_INPUT,
    SEARCH_FEATURES_INPUT,
    TEMPLATE_INPUT,
    TEMPLATE_OUTPUT,
    metadata,
    model_files,
    set_metadata,
    write_models,
)

# ORT and torch run the same fp32 maths in different orders; on the random models tried
# the gap is a few 1e-6 of the peak. 1e-4 leaves room and still catches a real mistake
# (a head scale off by 1% fails; see the tests).
RELATIVE_TOLERANCE = 1e-4
# Two cells whose responses differ by less than this (relative to the peak) are a tie:
# either may be the argmax without the export being wrong.
TIE_TOLERANCE = 1e-5


class ExportCheckError(RuntimeError):
    """The exported graphs failed onnx.checker or do not compute what the torch model computes."""


class _TemplateGraph(nn.Module):
    """``template -> z_feat``; the backbone is registered here so its node names start ``/backbone/``."""

    def __init__(self, model: SiamFC) -> None:
        super().__init__()
        self.backbone = model.backbone
        self._embed = model.embed  # a bound method, not a submodule: it runs self.backbone

    def forward(self, template: torch.Tensor) -> torch.Tensor:
        return self._embed(template)


class _SearchGraph(nn.Module):
    """``(z_feat of N targets, N*S crops) -> the head's outputs``, as a tuple in the head's order."""

    def __init__(self, model: SiamFC) -> None:
        super().__init__()
        self.backbone = model.backbone
        self.head = model.head
        self.outputs = model.outputs

    def forward(self, z_feat: torch.Tensor, search: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        outputs = self.head(z_feat, self.backbone(search))
        return tuple(outputs[name] for name in self.outputs)


def _export_module(module: nn.Module, examples: Tuple[torch.Tensor, ...], input_names: Sequence[str],
                   output_names: Sequence[str], dynamic_axes: Optional[Dict[str, Dict[int, str]]], opset: int) -> onnx.ModelProto:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The tracer warns that shapes read in Python may be constants; the dynamic ones are
        # checked below by scoring batches of other sizes than the traced one.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # Torch notes that it leaves some slices to onnxruntime's own constant folding.
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
        torch.onnx.export(
            module.eval(),  # eval: BatchNorm must not export in training mode
            examples,
            buffer,
            input_names=list(input_names),
            output_names=list(output_names),
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    return onnx.load_from_string(buffer.getvalue())


def onnx_scope(module_path: str) -> str:
    """The node-name prefix torch's exporter gives the ops of the submodule at ``module_path``
    (relative to the exported module): ``backbone.features.0`` -> ``/backbone/features/features.0/``
    (an index is named together with its container)."""
    parts = module_path.split(".")
    names = [f"{parts[index - 1]}.{part}" if part.isdigit() and index else part for index, part in enumerate(parts)]
    return "/" + "/".join(names) + "/"


def float_scopes(model: SiamFC, graphs: Sequence[onnx.ModelProto]) -> List[str]:
    """The node-name scopes of the modules that int8 keeps fp32 (``model.int8_float_modules``),
    each checked to name nodes in at least one of ``graphs``."""
    scopes = [onnx_scope(path) for path in int8_float_modules(model)]
    names = [node.name for graph in graphs for node in graph.graph.node]
    unmatched = [scope for scope in scopes if not any(name.startswith(scope) for name in names)]
    if unmatched:
        raise ExportCheckError(f"no exported nodes are named {', '.join(s + '*' for s in unmatched)}; "
                               "torch's node naming changed, so int8 could not keep those modules fp32")
    return scopes


def build_graphs(model: SiamFC, config: TrackerConfig, opset: int = OPSET, source: str = "random weights") -> Tuple[onnx.ModelProto, onnx.ModelProto]:
    """The template and search graphs of ``model`` (BatchNorm folded), with metadata, in memory."""
    if model.config != config.model:
        raise ValueError(f"the model was built for {model.config}, but the config to embed says {config.model}")
    inference = fuse_batchnorm(model).float().eval()
    mc = config.model
    e, x = mc.exemplar_size, mc.search_size
    with torch.inference_mode():
        z_feat = inference.embed(torch.zeros(1, 3, e, e))
        outputs = inference.score(z_feat, torch.zeros(1, 3, x, x))
    response_size = int(next(iter(outputs.values())).shape[-1])
    if response_size != mc.response_size:
        raise ValueError(f"the network gives {response_size}x{response_size} outputs but the config says response_size={mc.response_size}")

    template = _export_module(_TemplateGraph(inference), (torch.rand(1, 3, e, e) * 255,), [TEMPLATE_INPUT], [TEMPLATE_OUTPUT],
                              None, opset)
    # Traced with 2 targets x 2 crops, so that no size of 1 is mistaken for a constant.
    examples = (torch.randn(2, *z_feat.shape[1:]), torch.rand(4, 3, x, x) * 255)
    dynamic = {SEARCH_FEATURES_INPUT: {0: "targets"}, SEARCH_CROPS_INPUT: {0: "crops"}, **{name: {0: "crops"} for name in inference.outputs}}
    search = _export_module(_SearchGraph(inference), examples, [SEARCH_FEATURES_INPUT, SEARCH_CROPS_INPUT], inference.outputs,
                            dynamic, opset)
    # torch's shape inference leaves the head's map sizes symbolic; they are fixed by the config.
    for value, tensor in zip(search.graph.output, outputs.values()):
        for dim, size in zip(value.type.tensor_type.shape.dim[1:], tensor.shape[1:]):
            dim.Clear()
            dim.dim_value = int(size)
    scopes = float_scopes(inference, (template, search))

    z_shape = ",".join(str(int(v)) for v in z_feat.shape[1:])
    output_shapes = ", ".join(f"{name} float32 (N*S,{','.join(str(int(v)) for v in tensor.shape[1:])})" for name, tensor in outputs.items())
    common = {
        META_FORMAT: FORMAT,
        META_FORMAT_VERSION: FORMAT_VERSION,
        META_PRECISION: "fp32",
        META_CONFIG: yaml.safe_dump(config.to_dict(), sort_keys=False),
        META_PREPROCESSING: PREPROCESSING,
        META_PAIR: uuid.uuid4().hex,
        META_SOURCE: source,
        META_FLOAT_SCOPES: json.dumps(scopes),
    }
    set_metadata(template, {**common, META_ROLE: "template",
                            META_IO: f"{TEMPLATE_INPUT} float32 (1,3,{e},{e}) -> {TEMPLATE_OUTPUT} float32 (1,{z_shape})"})
    set_metadata(search, {**common, META_ROLE: "search",
                          META_IO: f"{SEARCH_FEATURES_INPUT} float32 (N,{z_shape}), {SEARCH_CROPS_INPUT} float32 (N*S,3,{x},{x}) "
                                   f"-> {output_shapes}; crops of target n are rows n*S..n*S+S-1"})
    for graph_model, name, doc in ((template, "siamtrack_template", "template branch: " + metadata(template)[META_IO]),
                                   (search, "siamtrack_search", "search branch and head: " + metadata(search)[META_IO])):
        graph_model.graph.name = name
        graph_model.graph.doc_string = doc
        graph_model.producer_name = "siamtrack"
        graph_model.doc_string = f"{doc}. Preprocessing: {PREPROCESSING}"
    return template, search


@dataclass
class CheckReport:
    """Worst agreement between onnxruntime and torch over the checked crops."""

    samples: Dict[str, int] = field(default_factory=dict)  # kind -> number of output maps compared
    max_relative_error: Dict[str, float] = field(default_factory=dict)  # kind -> max |ort - torch| / max |torch|
    template_relative_error: float = 0.0

    def lines(self) -> List[str]:
        rows = [f"template features: max |ort - torch| / max |torch| = {self.template_relative_error:.2e}"]
        for kind, count in self.samples.items():
            rows.append(f"{kind}: {count} output maps, max |ort - torch| / peak = {self.max_relative_error[kind]:.2e}, same argmax in all")
        return rows


def _torch_outputs(model: SiamFC, template: np.ndarray, crops: np.ndarray) -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
    with torch.inference_mode():
        z_feat = model.embed(torch.from_numpy(to_nchw(template[None])))
        outputs = model.score(z_feat, torch.from_numpy(to_nchw(crops)))
        return z_feat.numpy(), {name: tensor.numpy() for name, tensor in outputs.items()}


def compare(model: SiamFC, backend: OnnxBackend, samples: Sequence[Tuple[str, np.ndarray, np.ndarray]], tolerance: float = RELATIVE_TOLERANCE) -> CheckReport:
    """Compare ``backend`` with ``model`` (unfused, fp32) on ``(kind, template, crops)`` samples; raise on a mismatch.

    Every target is scored alone, then all of them in one batched run (a number of
    targets and crops other than the traced ones), which must give the same outputs.
    """
    model = model.float().eval()
    report = CheckReport()
    all_features, all_crops, all_expected = [], [], []
    for kind, template, crops in samples:
        torch_features, expected = _torch_outputs(model, template, crops)
        features = backend.embed(template)
        feature_error = float(np.abs(features - torch_features).max() / max(np.abs(torch_features).max(), 1e-12))
        report.template_relative_error = max(report.template_relative_error, feature_error)
        if not feature_error <= tolerance:
            raise ExportCheckError(f"{kind} template: ONNX features differ from torch by {feature_error:.2e} of their peak (allowed {tolerance:.0e})")
        _check_outputs(kind, backend.score(features, crops), expected, tolerance, report)
        all_features.append(features)
        all_crops.append(crops)
        all_expected.append(expected)
    if len(samples) > 1:
        got = backend.score_batch(all_features, np.concatenate(all_crops))
        expected = {name: np.concatenate([e[name] for e in all_expected]) for name in all_expected[0]}
        _check_outputs(f"{len(samples)} targets in one run", got, expected, tolerance, report)
    return report


def _check_outputs(kind: str, got: Dict[str, np.ndarray], expected: Dict[str, np.ndarray], tolerance: float, report: CheckReport) -> None:
    if set(got) != set(expected):
        raise ExportCheckError(f"{kind}: ONNX outputs are {', '.join(got)}, torch's {', '.join(expected)}")
    for name in expected:
        _check_maps(f"{kind}, {name}", got[name], expected[name], tolerance, report)


def _check_maps(kind: str, got: np.ndarray, expected: np.ndarray, tolerance: float, report: CheckReport) -> None:
    if got.shape != expected.shape:
        raise ExportCheckError(f"{kind}: ONNX gives shape {got.shape}, torch {expected.shape}")
    for index, (ort_map, torch_map) in enumerate(zip(got, expected)):
        peak = max(float(np.abs(torch_map).max()), 1e-12)
        error = float(np.abs(ort_map - torch_map).max()) / peak
        if not error <= tolerance:  # also catches NaN
            raise ExportCheckError(f"{kind} map {index}: ONNX differs from torch by {error:.2e} of the peak (allowed {tolerance:.0e})")
        ort_peak, torch_peak = int(np.argmax(ort_map)), int(np.argmax(torch_map))
        if ort_peak != torch_peak and abs(float(torch_map.flat[ort_peak]) - float(torch_map.flat[torch_peak])) > TIE_TOLERANCE * peak:
            raise ExportCheckError(
                f"{kind} map {index}: peak at cell {np.unravel_index(ort_peak, ort_map.shape)} in ONNX but "
                f"{np.unravel_index(torch_peak, torch_map.shape)} in torch"
            )
        report.samples[kind] = report.samples.get(kind, 0) + 1
        report.max_relative_error[kind] = max(report.max_relative_error.get(kind, 0.0), error)


def random_samples(config: TrackerConfig, count: int = 2, seed: int = 0) -> List[Tuple[str, np.ndarray, np.ndarray]]:
    """Uniform-noise template and search crops (``scale_count`` crops each)."""
    rng = np.random.default_rng(seed)
    e, x, s = config.model.exemplar_size, config.model.search_size, config.tracking.scale_count
    return [("random crops", rng.integers(0, 256, (e, e, 3), dtype=np.uint8), rng.integers(0, 256, (s, x, x, 3), dtype=np.uint8))
            for _ in range(count)]


def export_onnx(
    model: SiamFC,
    config: TrackerConfig,
    stem: str,
    real_samples: Sequence[Tuple[np.ndarray, np.ndarray]] = (),
    source: str = "random weights",
    overwrite: bool = False,
    opset: int = OPSET,
    scratch_dir: Optional[str] = None,
) -> Tuple[Tuple[str, str], CheckReport]:
    """Export ``model`` to ``<stem>.template.onnx`` and ``<stem>.search.onnx`` and check them.

    ``real_samples``: ``(template, search crops)`` pairs cut from real frames (see
    ``tracker.export.calibration``), compared besides random crops. Returns the two paths and
    the check report; raises :class:`ExportCheckError` (and writes nothing) on failure.
    """
    template, search = build_graphs(model, config, opset=opset, source=source)
    for graph_model, role in ((template, "template"), (search, "search")):
        try:
            onnx.checker.check_model(graph_model, full_check=True)
        except onnx.checker.ValidationError as error:
            raise ExportCheckError(f"onnx.checker rejected the {role} graph: {error}") from None
    template_path, search_path = model_files(stem + ".onnx")
    directory = os.path.dirname(os.path.abspath(template_path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"output folder does not exist: {directory}")
    # Check from temporary files in the output folder, then rename: nothing is left on failure.
    scratch = os.path.join(scratch_dir or directory, f".export-{uuid.uuid4().hex[:8]}")
    try:
        write_models([(template, scratch + ".template.onnx"), (search, scratch + ".search.onnx")], overwrite=True)
        backend = OnnxBackend(scratch + ".onnx", providers=[CPU])
        samples = random_samples(config) + [("real crops", t, c) for t, c in real_samples]
        report = compare(model, backend, samples)
        del backend
        write_models([(template, template_path), (search, search_path)], overwrite=overwrite)
    finally:
        for suffix in (".template.onnx", ".search.onnx"):
            if os.path.exists(scratch + suffix):
                os.remove(scratch + suffix)
    return (template_path, search_path), report


def set_batchnorm_statistics(model: SiamFC, images: Sequence[np.ndarray]) -> SiamFC:
    """Give a random-weights model's BatchNorm layers the statistics of ``images`` (uint8 HWC BGR crops).

    With unit statistics, a randomly initialised AlexNet on 0..255 pixels has
    activations in the thousands and near-flat responses; with the real statistics of
    real crops the activations are normalised as in a trained network. For tests and
    benchmarks of random-weight models; trained weights already carry theirs.
    """
    batchnorms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [(m, m.momentum) for m in batchnorms]
    for module in batchnorms:
        module.reset_running_stats()
        module.momentum = None  # cumulative average over the batches below
    model.train()
    try:
        with torch.no_grad():
            for image in images:
                batch = image[None] if image.ndim == 3 else image
                model.backbone(torch.from_numpy(to_nchw(batch)))
    finally:
        for module, momentum in saved:
            module.momentum = momentum
        model.eval()
    return model


def random_model(config: TrackerConfig, seed: int = 0, images: Sequence[np.ndarray] = ()) -> SiamFC:
    """A seeded random-weights model, with BatchNorm statistics from ``images`` when given (see
    :func:`set_batchnorm_statistics`). For tests and benchmarks."""
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedWarning)
        model = build_model(config.model)
    return set_batchnorm_statistics(model, images) if len(images) else model
