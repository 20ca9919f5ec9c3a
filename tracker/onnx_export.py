"""Export a SiamFC model to the two ONNX graphs of ``tracker.backends.onnx_backend``, and check them.

``export_onnx(model, config, stem)`` writes ``<stem>.template.onnx`` and
``<stem>.search.onnx`` (opset 17, see the backend's docstring for names and shapes),
runs ``onnx.checker`` on both, and compares onnxruntime with torch on random crops and
on real crops (when given): the largest absolute difference relative to the response
peak, and the peak's location, for every response map. Any failure raises
:class:`ExportCheckError` and leaves no file behind.

The backbones are traced by torch's exporter. The cross-correlation is written
directly in ONNX because torch's exporter cannot express a convolution whose kernel
(the template features) has a dynamic batch of targets; writing it here lets one run
score N targets' crops: a batched MatMul of each target's template taps with its own
crops' features, then a shifted sum (see ``_append_correlation``), which costs N times
one target's correlation and nothing in the backbone. The checks against
``SiamFC.score`` make sure it computes what the torch head computes.
"""
from __future__ import annotations

import hashlib
import io
import os
import uuid
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnx
import torch
import yaml
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from .backends.onnx_backend import (
    CORRELATION_PREFIX,
    CPU,
    FORMAT,
    FORMAT_VERSION,
    META_CONFIG,
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
    SEARCH_OUTPUT,
    TEMPLATE_INPUT,
    TEMPLATE_OUTPUT,
    OnnxBackend,
    model_files,
    to_nchw,
)
from .config import TrackerConfig
from .model import SiamFC, fuse_batchnorm

# ORT and torch run the same fp32 maths in different orders; on the random models tried
# the gap is a few 1e-6 of the peak. 1e-4 leaves room and still catches a real mistake
# (a head scale off by 1% fails; see the tests).
RELATIVE_TOLERANCE = 1e-4
# Two cells whose responses differ by less than this (relative to the peak) are a tie:
# either may be the argmax without the export being wrong.
TIE_TOLERANCE = 1e-5


class ExportCheckError(RuntimeError):
    """The exported graphs failed onnx.checker or do not compute what the torch model computes."""


class _Search(nn.Module):
    """The search branch up to its features; the correlation is appended in ONNX."""

    def __init__(self, model: SiamFC) -> None:
        super().__init__()
        self.backbone = model.backbone

    def forward(self, search: torch.Tensor) -> torch.Tensor:
        return self.backbone(search)


class _Template(nn.Module):
    def __init__(self, model: SiamFC) -> None:
        super().__init__()
        self.model = model

    def forward(self, template: torch.Tensor) -> torch.Tensor:
        return self.model.embed(template)


def _export_module(module: nn.Module, example: torch.Tensor, input_name: str, output_name: str, dynamic: bool, opset: int) -> onnx.ModelProto:
    buffer = io.BytesIO()
    torch.onnx.export(
        module.eval(),  # eval: BatchNorm must not export in training mode
        (example,),
        buffer,
        input_names=[input_name],
        output_names=[output_name],
        dynamic_axes={input_name: {0: "crops"}, output_name: {0: "crops"}} if dynamic else None,
        opset_version=opset,
        do_constant_folding=True,
        dynamo=False,
    )
    return onnx.load_from_string(buffer.getvalue())


def _append_correlation(
    backbone: onnx.ModelProto,
    feature_shape: Tuple[int, int, int],
    response_size: int,
    scale: float,
    bias: Optional[float],
    similarity: str = "xcorr",
    eps: float = 1e-6,
) -> onnx.ModelProto:
    """Turn the backbone graph ``x -> x_feat`` into ``(z_feat, x) -> response`` for N targets.

    ``response[n*S + s] = scale * corr(x_feat[n*S + s], z_feat[n]) + bias``, as the torch
    head computes it; with ``similarity="cosine"`` the kernel is divided by its norm and
    each window's correlation by the window's norm (``heads.CrossCorrelation``).

    A convolution with the template features as its one-output-channel kernel is a
    matrix-vector product over a (C*h*w) x (R*R) im2col matrix on CPU (3.7 ms for three
    MobileNetV2 crops, measured). Written instead as ``corr[i, j] = sum_{u,v} P[u, v, i+u, j+v]``
    with ``P[u, v] = z[:, u, v] . x_feat`` (one batched MatMul, per target, so N targets
    cost N times one), the shifted sum is two "skew" steps: padding a flattened axis
    by one row's worth turns the diagonal ``P[u, i+u]`` into the column ``i`` of a
    reshaped view, which a ReduceSum adds up. Same sums, 1.2 ms for those crops.
    """
    if similarity not in ("xcorr", "cosine"):
        raise ValueError(f"cannot export head similarity {similarity!r}; supported: xcorr, cosine")
    graph = backbone.graph
    features_name = graph.output[0].name
    channels, kernel_h, kernel_w = feature_shape
    rows, cols = response_size + kernel_h - 1, response_size + kernel_w - 1  # the search features' size
    p = CORRELATION_PREFIX
    ints = lambda name, values: numpy_helper.from_array(np.asarray(values, dtype=np.int64), p + name)
    floats = lambda name, values: numpy_helper.from_array(np.asarray(values, dtype=np.float32), p + name)
    graph.initializer.extend([
        ints("minus_one", [-1]),
        ints("zero", [0]),
        ints("axis_1", [1]),
        ints("axis_2", [2]),
        ints("axis_3", [3]),
        ints("channels", [channels]),
        ints("kernel_by_channel", [0, kernel_w * kernel_h, channels]),
        ints("feature_pixels", [rows * cols]),
        # Skew over (u, i): (M, w, h*rows*cols) padded by h*cols -> (M, w, h, rows*cols + cols), first response_size rows.
        ints("by_column_tap", [-1, kernel_w, kernel_h * rows * cols]),
        ints("row_skew_pad", [0, 0, 0, 0, 0, kernel_h * cols]),
        ints("row_skewed", [-1, kernel_w, kernel_h, rows * cols + cols]),
        ints("response_rows_end", [response_size * cols]),
        # Skew over (v, j): (M, w*response_size*cols) padded by w -> (M, w, response_size*cols + 1).
        ints("flat_rows", [-1, kernel_w * response_size * cols]),
        ints("column_skew_pad", [0, 0, 0, kernel_w]),
        ints("column_skewed", [-1, kernel_w, response_size * cols + 1]),
        ints("column_taps", [-1, kernel_w, response_size, cols]),
        ints("response_end", [response_size]),
        floats("scale", scale),
    ])
    nodes = []
    kernel_source = SEARCH_FEATURES_INPUT
    if similarity == "cosine":
        graph.initializer.extend([floats("eps", eps), floats("zero_f", 0.0), floats("window_ones", np.ones((1, 1, kernel_h, kernel_w)))])
        nodes += [
            helper.make_node("ReduceL2", [SEARCH_FEATURES_INPUT], [p + "z_norm"], axes=[1, 2, 3], keepdims=1, name=p + "z_norm"),
            helper.make_node("Add", [p + "z_norm", p + "eps"], [p + "z_norm_eps"], name=p + "z_norm_eps"),
            helper.make_node("Div", [SEARCH_FEATURES_INPUT, p + "z_norm_eps"], [p + "z_unit"], name=p + "z_unit"),
        ]
        kernel_source = p + "z_unit"
    outside = {SEARCH_FEATURES_INPUT, features_name, kernel_source}  # names not of this block's making

    def node(op: str, inputs: Sequence[str], output: str, **attributes) -> onnx.NodeProto:
        return helper.make_node(op, [i if i in outside else p + i for i in inputs], [p + output], name=p + output, **attributes)

    nodes += [
        # Template (N, C, h, w) -> (N, 1, w*h, C): tap (v, u) is row v*h + u.
        node("Transpose", [kernel_source], "taps_vu", perm=[0, 3, 2, 1]),
        node("Reshape", ["taps_vu", "kernel_by_channel"], "taps"),
        node("Unsqueeze", ["taps", "axis_1"], "taps_per_target"),
        # Search features (N*S, C, rows, cols) -> (N, S, C, rows*cols).
        node("Shape", [SEARCH_FEATURES_INPUT], "targets", start=0, end=1),
        node("Concat", ["targets", "minus_one", "channels", "feature_pixels"], "by_target_shape", axis=0),
        node("Reshape", [features_name, "by_target_shape"], "by_target"),
        # P (N, S, w*h, rows*cols): every tap's dot product with every feature pixel.
        node("MatMul", ["taps_per_target", "by_target"], "tap_maps"),
        # Sum over u of P[v, u, i+u, x] -> (N*S, w, response_size*cols).
        node("Reshape", ["tap_maps", "by_column_tap"], "row_flat"),
        node("Pad", ["row_flat", "row_skew_pad"], "row_padded"),
        node("Reshape", ["row_padded", "row_skewed"], "row_aligned"),
        node("Slice", ["row_aligned", "zero", "response_rows_end", "axis_3"], "row_windows"),
        node("ReduceSum", ["row_windows", "axis_2"], "row_sums", keepdims=0),
        # Sum over v of Q[v, i, j+v] -> (N*S, 1, response_size, response_size).
        node("Reshape", ["row_sums", "flat_rows"], "column_flat"),
        node("Pad", ["column_flat", "column_skew_pad"], "column_padded"),
        node("Reshape", ["column_padded", "column_skewed"], "column_aligned"),
        node("Slice", ["column_aligned", "zero", "response_rows_end", "axis_2"], "column_trimmed"),
        node("Reshape", ["column_trimmed", "column_taps"], "column_windows_wide"),
        node("Slice", ["column_windows_wide", "zero", "response_end", "axis_3"], "column_windows"),
        node("ReduceSum", ["column_windows", "axis_1"], "raw", keepdims=1),
    ]
    last = p + "raw"
    if similarity == "cosine":
        nodes += [
            node("Mul", [features_name, features_name], "x_squared"),
            # Sum over channels first, then over the window: the same sum as a ones kernel over (C, h, w).
            node("ReduceSum", ["x_squared", "axis_1"], "x_squared_sum", keepdims=1),
            node("Conv", ["x_squared_sum", "window_ones"], "window_sq", kernel_shape=[kernel_h, kernel_w]),
            node("Max", ["window_sq", "zero_f"], "window_sq_pos"),
            node("Sqrt", ["window_sq_pos"], "window_norm"),
            node("Add", ["window_norm", "eps"], "window_norm_eps"),
            node("Div", ["raw", "window_norm_eps"], "cosine"),
        ]
        last = p + "cosine"
    output = SEARCH_OUTPUT if bias is None else p + "scaled"
    nodes.append(helper.make_node("Mul", [last, p + "scale"], [output], name=p + "scale_mul"))
    if bias is not None:
        graph.initializer.append(floats("bias", bias))
        nodes.append(helper.make_node("Add", [output, p + "bias"], [SEARCH_OUTPUT], name=p + "bias_add"))
    graph.node.extend(nodes)
    graph.input.insert(0, helper.make_tensor_value_info(SEARCH_FEATURES_INPUT, TensorProto.FLOAT, ["targets", channels, kernel_h, kernel_w]))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(SEARCH_OUTPUT, TensorProto.FLOAT, ["crops", 1, response_size, response_size]))
    return backbone


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def set_metadata(model: onnx.ModelProto, entries: Dict[str, str]) -> None:
    """Set (replace) ``metadata_props`` entries."""
    kept = [p for p in model.metadata_props if p.key not in entries]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in entries.items():
        model.metadata_props.add(key=key, value=str(value))


def metadata(model: onnx.ModelProto) -> Dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def build_graphs(model: SiamFC, config: TrackerConfig, opset: int = OPSET, source: str = "random weights") -> Tuple[onnx.ModelProto, onnx.ModelProto]:
    """The template and search graphs of ``model`` (BatchNorm folded), with metadata, in memory."""
    if model.config != config.model:
        raise ValueError(f"the model was built for {model.config}, but the config to embed says {config.model}")
    inference = fuse_batchnorm(model).float().eval()
    mc = config.model
    with torch.inference_mode():
        z_feat = inference.embed(torch.zeros(1, 3, mc.exemplar_size, mc.exemplar_size))
        response = inference.score(z_feat, torch.zeros(1, 3, mc.search_size, mc.search_size))
    feature_shape = tuple(int(v) for v in z_feat.shape[1:])
    response_size = int(response.shape[-1])
    if response_size != mc.response_size:
        raise ValueError(f"the network gives {response_size}x{response_size} responses but the config says response_size={mc.response_size}")

    template = _export_module(_Template(inference), torch.rand(1, 3, mc.exemplar_size, mc.exemplar_size) * 255,
                              TEMPLATE_INPUT, TEMPLATE_OUTPUT, dynamic=False, opset=opset)
    search = _export_module(_Search(inference), torch.rand(2, 3, mc.search_size, mc.search_size) * 255,
                            SEARCH_CROPS_INPUT, "x_feat", dynamic=True, opset=opset)
    head = inference.head
    bias = None if head.bias is None else float(head.bias.detach().reshape(-1)[0])
    search = _append_correlation(search, feature_shape, response_size, head.scale, bias, getattr(head, "similarity", "xcorr"))

    channels, kernel_h, kernel_w = feature_shape
    pair_id = uuid.uuid4().hex
    common = {
        META_FORMAT: FORMAT,
        META_FORMAT_VERSION: FORMAT_VERSION,
        META_PRECISION: "fp32",
        META_CONFIG: yaml.safe_dump(config.to_dict(), sort_keys=False),
        META_PREPROCESSING: PREPROCESSING,
        META_PAIR: pair_id,
        META_SOURCE: source,
    }
    e, x, r = mc.exemplar_size, mc.search_size, response_size
    set_metadata(template, {**common, META_ROLE: "template",
                            META_IO: f"{TEMPLATE_INPUT} float32 (1,3,{e},{e}) -> {TEMPLATE_OUTPUT} float32 (1,{channels},{kernel_h},{kernel_w})"})
    set_metadata(search, {**common, META_ROLE: "search",
                          META_IO: f"{SEARCH_FEATURES_INPUT} float32 (N,{channels},{kernel_h},{kernel_w}), {SEARCH_CROPS_INPUT} float32 (N*S,3,{x},{x}) "
                                   f"-> {SEARCH_OUTPUT} float32 (N*S,1,{r},{r}); crops of target n are rows n*S..n*S+S-1"})
    for graph_model, name, doc in ((template, "siamtrack_template", "SiamFC template branch: " + metadata(template)[META_IO]),
                                   (search, "siamtrack_search", "SiamFC search branch and cross-correlation: " + metadata(search)[META_IO])):
        graph_model.graph.name = name
        graph_model.graph.doc_string = doc
        graph_model.producer_name = "siamtrack"
        graph_model.doc_string = f"{doc}. Preprocessing: {PREPROCESSING}"
    return template, search


@dataclass
class CheckReport:
    """Worst agreement between onnxruntime and torch over the checked crops."""

    samples: Dict[str, int] = field(default_factory=dict)  # kind -> number of response maps compared
    max_relative_error: Dict[str, float] = field(default_factory=dict)  # kind -> max |ort - torch| / max |torch|
    template_relative_error: float = 0.0

    def lines(self) -> List[str]:
        rows = [f"template features: max |ort - torch| / max |torch| = {self.template_relative_error:.2e}"]
        for kind, count in self.samples.items():
            rows.append(f"{kind}: {count} response maps, max |ort - torch| / peak = {self.max_relative_error[kind]:.2e}, same argmax in all")
        return rows


def _torch_responses(model: SiamFC, template: np.ndarray, crops: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    with torch.inference_mode():
        z_feat = model.embed(torch.from_numpy(to_nchw(template[None])))
        return z_feat.numpy(), model.score(z_feat, torch.from_numpy(to_nchw(crops)))[:, 0].numpy()


def compare(model: SiamFC, backend: OnnxBackend, samples: Sequence[Tuple[str, np.ndarray, np.ndarray]], tolerance: float = RELATIVE_TOLERANCE) -> CheckReport:
    """Compare ``backend`` with ``model`` (unfused, fp32) on ``(kind, template, crops)`` samples; raise on a mismatch.

    Targets are also scored two at a time through the batched path, which must give
    the same maps as one at a time.
    """
    model = model.float().eval()
    report = CheckReport()
    batched_features, batched_crops, batched_expected = [], [], []
    for kind, template, crops in samples:
        torch_features, expected = _torch_responses(model, template, crops)
        features = backend.embed(template)
        feature_error = float(np.abs(features - torch_features).max() / max(np.abs(torch_features).max(), 1e-12))
        report.template_relative_error = max(report.template_relative_error, feature_error)
        if not feature_error <= tolerance:
            raise ExportCheckError(f"{kind} template: ONNX features differ from torch by {feature_error:.2e} of their peak (allowed {tolerance:.0e})")
        got = backend.score(features, crops)
        _check_maps(kind, got, expected, tolerance, report)
        batched_features.append(features)
        batched_crops.append(crops)
        batched_expected.append(expected)
    for start in range(0, len(batched_features) - 1, 2):
        got = backend.score_batch(batched_features[start : start + 2], np.concatenate(batched_crops[start : start + 2]))
        _check_maps("batched targets", got, np.concatenate(batched_expected[start : start + 2]), tolerance, report)
    return report


def _check_maps(kind: str, got: np.ndarray, expected: np.ndarray, tolerance: float, report: CheckReport) -> None:
    if got.shape != expected.shape:
        raise ExportCheckError(f"{kind}: ONNX responses have shape {got.shape}, torch {expected.shape}")
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


def write_atomically(models: Sequence[Tuple[onnx.ModelProto, str]], overwrite: bool) -> None:
    """Save every model to ``<path>.partial`` then rename them all; refuse to replace files unless ``overwrite``."""
    existing = [path for _, path in models if os.path.exists(path)]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist(s); pass --force to overwrite")
    partials = []
    try:
        for model, path in models:
            partial = path + ".partial"
            onnx.save(model, partial)
            partials.append((partial, path))
        for partial, path in partials:
            os.replace(partial, path)
    finally:
        for partial, _ in partials:
            if os.path.exists(partial):
                os.remove(partial)


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
    ``tracker.calibration``), compared besides random crops. Returns the two paths and
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
        write_atomically([(template, scratch + ".template.onnx"), (search, scratch + ".search.onnx")], overwrite=True)
        backend = OnnxBackend(scratch + ".onnx", providers=[CPU])
        samples = random_samples(config) + [("real crops", t, c) for t, c in real_samples]
        report = compare(model, backend, samples)
        del backend
        write_atomically([(template, template_path), (search, search_path)], overwrite=overwrite)
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
    import warnings

    from .model import UntrainedWarning, build_model

    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedWarning)
        model = build_model(config.model)
    return set_batchnorm_statistics(model, images) if len(images) else model
