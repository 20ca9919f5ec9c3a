"""int8 quantisation: calibrated on train-split crops, the modules the export marks kept fp32, close to fp32."""
import os

import numpy as np
import onnx
import pytest

from tracker.backends.onnx_backend import OnnxBackend
from tracker.export.calibration import calibration_crops, train_sequences
from tracker.config import TrackerConfig, config_path, load_config
from tracker.datasets import default_data_root as default_data_dir
from tracker.datasets import read_splits
from tracker.export.exporter import export_onnx, random_model
from tracker.export.quantize import (
    CALIBRATION_METHODS,
    DEFAULT_CALIBRATION,
    QuantizationCheckError,
    agreement,
    float_nodes,
    quantize_pair,
)
from tracker.onnx_format import float_scopes, metadata

HAVE_DATA = os.path.isfile(os.path.join(default_data_dir(), "README.md"))
pytestmark = pytest.mark.skipif(not HAVE_DATA, reason="annotated sequences not found (set SIAMTRACK_DATA)")
CPU = ["CPUExecutionProvider"]
WEIGHTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "weights")
SHIPPED_INT8 = os.path.join(WEIGHTS, "siamfc_mobilenet_v2.int8.onnx")


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    config = TrackerConfig()
    pairs = calibration_crops(default_data_dir(), config.model, config.tracking, ["Crossing", "Dog", "Vase", "Bird2"], 2)
    model = random_model(config, seed=0, images=[t for t, _ in pairs] + [c for _, c in pairs])
    stem = str(tmp_path_factory.mktemp("int8") / "random_alexnet")
    export_onnx(model, config, stem)
    paths, result = quantize_pair(stem + ".onnx", stem + ".int8.onnx", pairs[0::2], check_pairs=pairs[1::2], description="test")
    return stem, paths, result, pairs


def test_int8_pair_is_written_with_int8_metadata(quantized):
    stem, (template_path, search_path), _, _ = quantized
    assert (template_path, search_path) == (stem + ".int8.template.onnx", stem + ".int8.search.onnx")
    backend = OnnxBackend(stem + ".int8.onnx", providers=CPU)
    assert backend.precision == "int8" and backend.config == TrackerConfig()
    assert f"{DEFAULT_CALIBRATION} calibration" in backend.metadata["siamtrack.calibration"]
    assert not [name for name in os.listdir(os.path.dirname(stem)) if "partial" in name]


def test_backbone_is_int8_and_the_head_stays_fp32(quantized):
    _, (template_path, search_path), _, _ = quantized
    for path in (template_path, search_path):
        graph = onnx.load(path).graph
        quantized_convs = [n for n in graph.node if n.op_type == "Conv" and any(i.endswith("DequantizeLinear_Output") for i in n.input[1:2])]
        assert len(quantized_convs) == 5  # AlexNet's five convolutions take int8 weights
    graph = onnx.load(search_path).graph
    head = [n for n in graph.node if n.name.startswith("/head/")]
    assert any(n.op_type == "MatMul" for n in head)  # the template-by-features product
    produced_by_qdq = {o for n in graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear") for o in n.output}
    inputs_of_head = {i for n in head for i in n.input}
    # Only the backbone's output feeds the head through a DequantizeLinear; the template
    # features, the head's own constants and its output are plain fp32.
    assert len(inputs_of_head & produced_by_qdq) == 1
    assert not any(n.op_type in ("QuantizeLinear", "DequantizeLinear") and set(n.input) & {o for c in head for o in c.output}
                   for n in graph.node)


def test_int8_responses_follow_fp32(quantized):
    _, _, result, _ = quantized
    assert result.maps == 12 and result.mean_correlation > 0.995 and result.min_correlation > 0.98


def test_int8_agreement_can_be_recomputed_on_other_crops(quantized):
    stem, _, _, pairs = quantized
    result = agreement(OnnxBackend(stem + ".onnx", providers=CPU), OnnxBackend(stem + ".int8.onnx", providers=CPU), pairs[:1])
    assert result.maps == 3 and result.mean_correlation > 0.99


def test_a_bad_int8_model_is_refused_and_not_written(quantized, tmp_path, monkeypatch):
    stem, _, _, pairs = quantized
    import tracker.export.quantize as quantize

    monkeypatch.setattr(quantize, "MIN_MEAN_CORRELATION", 1.01)  # nothing can pass
    with pytest.raises(QuantizationCheckError, match="needs a mean correlation"):
        quantize_pair(stem + ".onnx", str(tmp_path / "refused.int8.onnx"), pairs[:1])
    assert os.listdir(tmp_path) == []


def test_refuses_to_overwrite(quantized):
    stem, _, _, pairs = quantized
    with pytest.raises(FileExistsError, match="--force"):
        quantize_pair(stem + ".onnx", stem + ".int8.onnx", pairs[:1])


def test_splits_come_from_the_data_readme():
    splits = read_splits(default_data_dir())
    assert splits["Girl"] == "eval" and splits["Crossing"] == "train"
    names = train_sequences(default_data_dir())
    assert "Crossing" in names and not set(names) & {n for n, s in splits.items() if s == "eval"}
    with pytest.raises(ValueError, match="not listed"):
        train_sequences(default_data_dir(), ["NoSuchSequence"])


def _int8_weight_convs(graph):
    return {n.name for n in graph.node if n.op_type == "Conv" and any(i.endswith("DequantizeLinear_Output") for i in n.input[1:2])}


def test_mobilenet_v2_keeps_its_input_normalisation_and_first_blocks_fp32(tmp_path):
    config = load_config(config_path("siamfc_mobilenet_v2"))
    stem = str(tmp_path / "mobilenet")
    export_onnx(random_model(config, seed=0), config, stem)
    graph = onnx.load(stem + ".search.onnx")
    scopes = float_scopes(metadata(graph))
    assert scopes == ["/backbone/normalise/", "/backbone/features/features.0/", "/backbone/features/features.1/",
                      "/backbone/features/features.2/", "/head/"]
    names = set(float_nodes(graph.graph, scopes))
    convs = {n.name for n in graph.graph.node if n.op_type == "Conv"} & names
    # The stem conv, block 1 (depthwise, projection) and block 2 (expansion, depthwise, projection);
    # not blocks 10-13, whose names also start with "features.1".
    assert convs == {"/backbone/features/features.0/features.0.0/Conv", "/backbone/features/features.1/conv/conv.0/Conv",
                     "/backbone/features/features.1/conv/conv.2/Conv", "/backbone/features/features.2/conv/conv.0/Conv",
                     "/backbone/features/features.2/conv/conv.2/Conv", "/backbone/features/features.2/conv/conv.4/Conv"}
    assert {"/backbone/normalise/Mul", "/backbone/normalise/Add"} <= names


def test_files_that_do_not_say_what_stays_fp32_are_refused(tmp_path):
    from tracker.onnx_format import META_DIGEST, META_FLOAT_SCOPES, write_models

    # The shipped fp32 pair as an exporter before the scopes existed wrote it: no scopes
    # entry in the metadata (and a digest of the files as they now are).
    old = tmp_path / "old"
    old.mkdir()
    models = []
    for role in ("template", "search"):
        model = onnx.load(os.path.join(WEIGHTS, f"siamfc_mobilenet_v2.{role}.onnx"))
        kept = [p for p in model.metadata_props if p.key not in (META_FLOAT_SCOPES, META_DIGEST)]
        del model.metadata_props[:]
        model.metadata_props.extend(kept)
        models.append((model, str(old / f"x.{role}.onnx")))
    write_models(models, overwrite=False)
    crops = (np.zeros((127, 127, 3), np.uint8), np.zeros((3, 255, 255, 3), np.uint8))
    with pytest.raises(ValueError, match="re-export it with python -m tracker.export"):
        quantize_pair(str(old / "x.onnx"), str(tmp_path / "x.int8.onnx"), [crops])
    assert sorted(os.listdir(tmp_path)) == ["old"]


# The node-name prefixes the shipped int8 pair's quantiser kept fp32 (MobileNetV2's input
# normalisation, from pairs exported before it was a module of its own, and blocks 0-2).
SHIPPED_FP32_PREFIXES = ("/backbone/Mul", "/backbone/Add", "/backbone/features/features.0/",
                         "/backbone/features/features.1/", "/backbone/features/features.2/")


def test_shipped_int8_model_is_int8_after_block_2():
    backend = OnnxBackend(SHIPPED_INT8, providers=CPU)
    assert backend.precision == "int8" and f"{DEFAULT_CALIBRATION} calibration" in backend.metadata["siamtrack.calibration"]
    for role in ("template", "search"):
        graph = onnx.load(os.path.join(WEIGHTS, f"siamfc_mobilenet_v2.int8.{role}.onnx")).graph
        backbone_convs = {n.name for n in graph.node if n.op_type == "Conv" and n.name.startswith("/backbone/")}
        # 40 backbone convs: 6 stay fp32, the other 34 (blocks 3-13 and the adjust layer) take int8 weights.
        assert len(backbone_convs) == 40
        assert _int8_weight_convs(graph) == backbone_convs - set(float_nodes(graph, SHIPPED_FP32_PREFIXES))
        assert len(_int8_weight_convs(graph)) == 34


def test_export_offers_the_calibration_methods_of_quantize():
    from tracker.export.__main__ import parse_args

    assert parse_args(["--weights", "w.pt"]).calibration == DEFAULT_CALIBRATION
    for method in CALIBRATION_METHODS:
        assert parse_args(["--weights", "w.pt", "--calibration", method]).calibration == method
