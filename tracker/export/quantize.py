"""Static int8 quantisation of an exported model pair with onnxruntime's own tools.

``quantize_pair("weights/X.onnx", "weights/X.int8.onnx", pairs)`` calibrates both graphs
on real template/search crops (``tracker.export.calibration``: train-split sequences only) and
writes QDQ graphs: int8 weights (per output channel) and uint8 activations, except for
the modules the exporter recorded as fp32 in the files' metadata (the head, whose
correlation multiplies two runtime activations, and whatever the backbone lists, such as
MobileNetV2's first blocks: ``int8_float`` in ``tracker/heads.py`` and
``tracker/backbones.py``; ``docs/int8.md`` has the experiments behind them). The int8
pair is then compared with the fp32 pair on the same crops (Pearson correlation of every
output map, peak agreement); a model that disagrees badly is an error.

Imports numpy, onnx and onnxruntime; never torch.
"""
from __future__ import annotations

import contextlib
import io
import os
import tempfile
import uuid
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from ..backends.onnx_backend import CPU, OnnxBackend, to_nchw
from ..onnx_format import (
    META_CALIBRATION,
    META_PAIR,
    META_PRECISION,
    SEARCH_CROPS_INPUT,
    SEARCH_FEATURES_INPUT,
    TEMPLATE_INPUT,
    float_scopes,
    metadata,
    model_files,
    seal,
    set_metadata,
    write_models,
)

# How an activation's uint8 range is chosen: onnxruntime's method and its extra options.
# "minmax-average" (onnxruntime's CalibMovingAverage: the mean over calibration pairs of
# each pair's min and max, so one odd crop does not stretch the range) agreed best on the
# shipped model; docs/int8.md has the comparison.
CALIBRATION_METHODS = {
    "minmax-average": (CalibrationMethod.MinMax, {"CalibMovingAverage": True}),
    "minmax": (CalibrationMethod.MinMax, {}),
    "percentile": (CalibrationMethod.Percentile, {}),
    "entropy": (CalibrationMethod.Entropy, {}),
}
DEFAULT_CALIBRATION = "minmax-average"
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
        return (f"int8 vs fp32 over {self.maps} output maps: correlation mean {self.mean_correlation:.5f}, "
                f"min {self.min_correlation:.5f}; same peak cell in {100 * self.same_peak_share:.1f}%, "
                f"mean peak distance {self.mean_peak_distance:.2f} cells")


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else float(np.array_equal(a, b))


def agreement(reference: OnnxBackend, candidate: OnnxBackend, pairs: Sequence[Tuple[np.ndarray, np.ndarray]]) -> Agreement:
    """How closely ``candidate``'s outputs follow ``reference``'s on ``(template, crops)`` pairs (every output, every map)."""
    correlations, same, distances = [], [], []
    for template, crops in pairs:
        expected = reference.score(reference.embed(template), crops)
        got = candidate.score(candidate.embed(template), crops)
        for name in expected:
            for want, have in zip(expected[name], got[name]):
                correlations.append(_correlation(want, have))
                peak_want = np.array(np.unravel_index(int(np.argmax(want)), want.shape))
                peak_have = np.array(np.unravel_index(int(np.argmax(have)), have.shape))
                same.append(bool((peak_want == peak_have).all()))
                distances.append(float(np.linalg.norm(peak_want - peak_have)))
    return Agreement(len(correlations), float(np.mean(correlations)), float(np.min(correlations)), float(np.mean(same)), float(np.mean(distances)))


def float_nodes(graph: onnx.GraphProto, scopes: Sequence[str]) -> List[str]:
    """Names of the nodes of ``graph`` inside any of the module ``scopes`` (node-name prefixes)."""
    return [node.name for node in graph.node if node.name.startswith(tuple(scopes))]


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
    template_graph, search_graph = onnx.load(fp32_template), onnx.load(fp32_search)
    scopes = float_scopes(metadata(search_graph))
    if not scopes:
        raise ValueError(f"{fp32_search} does not say which modules int8 must keep fp32 (no siamtrack.int8_float_scopes "
                         "metadata; files exported before that was recorded); re-export it with python -m tracker.export")
    template_float, search_float = float_nodes(template_graph.graph, scopes), float_nodes(search_graph.graph, scopes)
    del template_graph, search_graph
    calibrate_method, calibration_options = CALIBRATION_METHODS[method]
    entries = {
        META_PRECISION: "int8",
        META_PAIR: uuid.uuid4().hex,
        META_CALIBRATION: f"static QDQ, {method} calibration, per-channel int8 weights, uint8 activations, "
                          f"{', '.join(s + '*' for s in scopes)} in fp32; {len(pairs)} template/search pairs{': ' + description if description else ''}",
    }
    with tempfile.TemporaryDirectory(prefix="siamtrack-quantize-") as scratch:
        outputs = []
        for source, feeds, exclude, name in ((fp32_template, template_feeds, template_float, "template"),
                                             (fp32_search, search_feeds, search_float, "search")):
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
            model = onnx.load(quantized)
            set_metadata(model, entries)
            with open(quantized, "wb") as handle:  # sealed, as every file the runtime opens
                handle.write(seal(model))
            outputs.append(model)
        candidate = OnnxBackend(os.path.join(scratch, "model.onnx"), providers=[CPU])
        result = agreement(reference, candidate, check_pairs if check_pairs is not None else pairs)
        if not result.mean_correlation >= MIN_MEAN_CORRELATION:
            raise QuantizationCheckError(f"{result.line()}; needs a mean correlation >= {MIN_MEAN_CORRELATION}")
        del candidate
        write_models(list(zip(outputs, (int8_template, int8_search))), overwrite=overwrite)
    return (int8_template, int8_search), result
