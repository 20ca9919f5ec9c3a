"""Static int8 quantisation of an exported model pair with onnxruntime's own tools.

``quantize_pair("weights/X.onnx", "weights/X.int8.onnx", pairs)`` calibrates both graphs
on real template/search crops (``tracker.calibration``: train-split sequences only) and
writes QDQ graphs: int8 weights (per output channel) and uint8 activations for the
backbone, while the cross-correlation (the convolution over runtime template features,
its bias and scale: every node named ``correlation/...``) stays fp32, and so do the
backbone nodes ``FLOAT_NODE_PREFIXES`` names for the model's backbone (MobileNetV2's
first blocks). The int8 pair is then compared with the fp32 pair on the same crops
(Pearson correlation of the response maps, peak agreement); a model that disagrees
badly is an error.

Imports numpy, onnx and onnxruntime; never torch.
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from .backends.onnx_backend import (
    CORRELATION_PREFIX,
    CPU,
    META_PAIR,
    META_PRECISION,
    SEARCH_CROPS_INPUT,
    SEARCH_FEATURES_INPUT,
    TEMPLATE_INPUT,
    OnnxBackend,
    model_files,
    to_nchw,
)

META_CALIBRATION = "siamtrack.calibration"
# How an activation's uint8 range is chosen: onnxruntime's method and its extra options.
# "minmax-average" (onnxruntime's CalibMovingAverage) takes the mean over calibration pairs
# of each pair's min and max rather than the extremes of them all, so one odd crop does not
# stretch the range. On the shipped MobileNetV2 (120 held-out response maps, blocks 0-2
# fp32) it agreed best: correlation mean 0.99949 vs 0.99941 percentile (99.999th), 0.99922
# minmax and entropy. Percentile and entropy also keep every activation of every crop in
# memory (80 pairs did not fit in 24 GB) and calibrate 7x slower; min/max reduces on the fly.
CALIBRATION_METHODS = {
    "minmax-average": (CalibrationMethod.MinMax, {"CalibMovingAverage": True}),
    "minmax": (CalibrationMethod.MinMax, {}),
    "percentile": (CalibrationMethod.Percentile, {}),
    "entropy": (CalibrationMethod.Entropy, {}),
}
DEFAULT_CALIBRATION = "minmax-average"
# Backbone nodes int8 keeps fp32, by backbone: prefixes of the node names in the exported
# graphs (torch module paths). MobileNetV2's folded ImageNet BatchNorm leaves a few channels
# with huge weights (block 2's expansion channel 37: 100x the median weight norm; block 1's
# depthwise channel 29: 23x) that amplify int8 rounding anywhere upstream of them: with the
# whole backbone int8, channel 37 was 75% error and the responses correlated 0.971 with
# fp32 (same peak 73%). fp32 up to block 2's expansion gave 0.9992; up to the end of block 2
# 0.9995 and faster, since the hand-over to int8 is then a 24-channel 64x64 map rather than
# a 96-channel 128x128 one. int8 from the first conv on gave 0.994, from block 1's
# depthwise on 0.987; an int8 input normalisation lost a little (0.998) and saved no
# measurable time. Other options (symmetric activations, reduce_range, int8 Conv only,
# the depthwise convs, the last block or the adjust layer in fp32) did not help.
FLOAT_NODE_PREFIXES: Dict[str, Tuple[str, ...]] = {
    "mobilenet_v2": (
        "/backbone/Mul", "/backbone/Add",  # BGR [0, 255] -> ImageNet-normalised RGB
        "/backbone/features/features.0/", "/backbone/features/features.1/", "/backbone/features/features.2/",
    ),
}
# Below this mean response correlation with fp32 the int8 model is rejected outright.
MIN_MEAN_CORRELATION = 0.99


class QuantizationCheckError(RuntimeError):
    """The int8 model's responses disagree with the fp32 model's."""


class _Feeds(CalibrationDataReader):
    def __init__(self, feeds: List[Dict[str, np.ndarray]]) -> None:
        self._feeds = iter(feeds)

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        return next(self._feeds, None)


@dataclass(frozen=True)
class Agreement:
    """int8 vs fp32 responses over the same crops."""

    maps: int
    mean_correlation: float
    min_correlation: float
    same_peak_share: float  # share of maps whose peak is in the same cell
    mean_peak_distance: float  # cells between the two peaks, averaged

    def line(self) -> str:
        return (f"int8 vs fp32 over {self.maps} response maps: correlation mean {self.mean_correlation:.5f}, "
                f"min {self.min_correlation:.5f}; same peak cell in {100 * self.same_peak_share:.1f}%, "
                f"mean peak distance {self.mean_peak_distance:.2f} cells")


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else float(np.array_equal(a, b))


def agreement(reference: OnnxBackend, candidate: OnnxBackend, pairs: Sequence[Tuple[np.ndarray, np.ndarray]]) -> Agreement:
    """How closely ``candidate``'s responses follow ``reference``'s on ``(template, crops)`` pairs."""
    correlations, same, distances = [], [], []
    for template, crops in pairs:
        expected = reference.score(reference.embed(template), crops)
        got = candidate.score(candidate.embed(template), crops)
        for want, have in zip(expected, got):
            correlations.append(_correlation(want, have))
            peak_want = np.array(np.unravel_index(int(np.argmax(want)), want.shape))
            peak_have = np.array(np.unravel_index(int(np.argmax(have)), have.shape))
            same.append(bool((peak_want == peak_have).all()))
            distances.append(float(np.hypot(*(peak_want - peak_have))))
    return Agreement(len(correlations), float(np.mean(correlations)), float(np.min(correlations)), float(np.mean(same)), float(np.mean(distances)))


def float_backbone_nodes(graph: onnx.GraphProto, backbone: str) -> List[str]:
    """Names of the nodes of ``graph`` that stay fp32 for ``backbone`` (``FLOAT_NODE_PREFIXES``)."""
    prefixes = FLOAT_NODE_PREFIXES.get(backbone, ())
    names = [node.name for node in graph.node if node.name.startswith(prefixes)]
    missing = [prefix for prefix in prefixes if not any(name.startswith(prefix) for name in names)]
    if missing:
        raise ValueError(f"the {backbone} graph has no nodes named {', '.join(p + '*' for p in missing)}, which int8 keeps "
                         f"fp32; was it written by python -m export from a {backbone} model?")
    return names


def _set_metadata(path: str, entries: Dict[str, str]) -> onnx.ModelProto:
    model = onnx.load(path)
    kept = [p for p in model.metadata_props if p.key not in entries]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in entries.items():
        model.metadata_props.add(key=key, value=value)
    return model


def quantize_pair(
    fp32_path: str,
    int8_path: str,
    pairs: Sequence[Tuple[np.ndarray, np.ndarray]],
    check_pairs: Optional[Sequence[Tuple[np.ndarray, np.ndarray]]] = None,
    method: str = DEFAULT_CALIBRATION,
    description: str = "",
    overwrite: bool = False,
) -> Tuple[Tuple[str, str], Agreement]:
    """Quantise the fp32 pair named by ``fp32_path`` into the int8 pair named by ``int8_path``.

    ``pairs``: ``(template (E,E,3), search crops (S,X,X,3))`` uint8 BGR calibration crops.
    ``check_pairs`` (default: ``pairs``): crops on which int8 is compared with fp32.
    ``description`` (which sequences, how many crops) goes into the files' metadata.
    Writes nothing unless the check passes; refuses to overwrite unless ``overwrite``.
    """
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"calibration method must be one of {', '.join(CALIBRATION_METHODS)}, got {method!r}")
    if not pairs:
        raise ValueError("no calibration crops given")
    fp32_template, fp32_search = model_files(fp32_path)
    int8_template, int8_search = model_files(int8_path)
    existing = [p for p in (int8_template, int8_search) if os.path.exists(p)]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist(s); pass --force to overwrite")
    reference = OnnxBackend(fp32_path, providers=[CPU])
    template_feeds = [{TEMPLATE_INPUT: to_nchw(template[None])} for template, _ in pairs]
    search_feeds = [{SEARCH_FEATURES_INPUT: reference.embed(template), SEARCH_CROPS_INPUT: to_nchw(crops)} for template, crops in pairs]
    search_graph = onnx.load(fp32_search)
    correlation_nodes = [node.name for node in search_graph.graph.node if node.name.startswith(CORRELATION_PREFIX)]
    if not correlation_nodes:
        raise ValueError(f"{fp32_search} has no {CORRELATION_PREFIX}* nodes; was it written by python -m export?")
    backbone = reference.config.model.backbone
    template_float = float_backbone_nodes(onnx.load(fp32_template).graph, backbone)
    search_float = float_backbone_nodes(search_graph.graph, backbone)
    float_prefixes = FLOAT_NODE_PREFIXES.get(backbone, ())
    kept_fp32 = f" and backbone nodes {', '.join(p + '*' for p in float_prefixes)}" if float_prefixes else ""
    calibrate_method, calibration_options = CALIBRATION_METHODS[method]

    pair_id = uuid.uuid4().hex
    entries = {
        META_PRECISION: "int8",
        META_PAIR: pair_id,
        META_CALIBRATION: f"static QDQ, {method} calibration, per-channel int8 weights, uint8 activations, "
                          f"correlation{kept_fp32} in fp32; {len(pairs)} template/search pairs{': ' + description if description else ''}",
    }
    directory = os.path.dirname(os.path.abspath(int8_template))
    with tempfile.TemporaryDirectory(prefix="siamtrack-quantize-") as scratch:
        outputs = []
        for source, feeds, exclude, name in ((fp32_template, template_feeds, template_float, "template"),
                                             (fp32_search, search_feeds, correlation_nodes + search_float, "search")):
            # onnxruntime's recommended first step (shape inference, graph clean-up); node names survive it.
            prepared = os.path.join(scratch, f"prepared.{name}.onnx")
            quant_pre_process(source, prepared)
            quantized = os.path.join(scratch, f"model.{name}.onnx")
            # The calibrators print their progress; keep a library call quiet.
            with contextlib.redirect_stdout(io.StringIO()):
                quantize_static(
                    prepared,
                    quantized,
                    _Feeds(feeds),
                    quant_format=QuantFormat.QDQ,
                    per_channel=True,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    nodes_to_exclude=exclude,
                    calibrate_method=calibrate_method,
                    extra_options={"CalibTensorRangeSymmetric": False, **calibration_options},
                )
            onnx.save(_set_metadata(quantized, entries), quantized)
            outputs.append(quantized)
        candidate = OnnxBackend(os.path.join(scratch, "model.onnx"), providers=[CPU])
        result = agreement(reference, candidate, check_pairs if check_pairs is not None else pairs)
        if not result.mean_correlation >= MIN_MEAN_CORRELATION:
            raise QuantizationCheckError(f"{result.line()}; needs a mean correlation >= {MIN_MEAN_CORRELATION}")
        del candidate
        partials = []
        try:
            for quantized, final in zip(outputs, (int8_template, int8_search)):
                partial = os.path.join(directory, os.path.basename(final) + ".partial")
                shutil.copyfile(quantized, partial)
                partials.append((partial, final))
            for partial, final in partials:
                os.replace(partial, final)
        finally:
            for partial, _ in partials:
                if os.path.exists(partial):
                    os.remove(partial)
    return (int8_template, int8_search), result
