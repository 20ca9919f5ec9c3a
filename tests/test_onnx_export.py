"""ONNX export: fixed names and shapes, pinned opset, metadata, checks that fail loudly, atomic files."""
import dataclasses
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
import yaml

from tracker.backends.onnx_backend import OnnxBackend
from tracker.onnx_format import OPSET
from tracker.export.calibration import calibration_crops
from tracker.datasets import default_data_root as default_data_dir
from tracker.config import ModelConfig, TrackerConfig, config_path, load_config
from tracker.export.exporter import ExportCheckError, build_graphs, export_onnx, float_scopes, onnx_scope, random_model
from tracker.heads import HEADS, CorrelationHead
from tracker.weights import save_weights

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAVE_DATA = os.path.isfile(os.path.join(default_data_dir(), "README.md"))
needs_data = pytest.mark.skipif(not HAVE_DATA, reason="annotated sequences not found (set SIAMTRACK_DATA)")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    config = TrackerConfig()
    model = random_model(config, seed=0)
    stem = str(tmp_path_factory.mktemp("onnx") / "random_alexnet")
    paths, report = export_onnx(model, config, stem)
    return model, config, stem, paths, report


def test_export_writes_the_documented_pair(exported):
    _, _, stem, (template_path, search_path), report = exported
    assert (template_path, search_path) == (stem + ".template.onnx", stem + ".search.onnx")
    assert sorted(os.listdir(os.path.dirname(stem))) == ["random_alexnet.search.onnx", "random_alexnet.template.onnx"]
    assert report.samples["random crops, response"] == 6 and report.samples["2 targets in one run, response"] == 6
    assert max(report.max_relative_error.values()) < 1e-4


def _dims(value_info):
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def test_graph_names_shapes_and_opset(exported):
    _, _, _, (template_path, search_path), _ = exported
    template, search = onnx.load(template_path), onnx.load(search_path)
    for model in (template, search):
        onnx.checker.check_model(model, full_check=True)
        assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [OPSET]
    assert [(i.name, _dims(i)) for i in template.graph.input] == [("template", [1, 3, 127, 127])]
    assert [(o.name, _dims(o)) for o in template.graph.output] == [("z_feat", [1, 256, 6, 6])]
    assert [(i.name, _dims(i)) for i in search.graph.input] == [("z_feat", ["targets", 256, 6, 6]), ("x", ["crops", 3, 255, 255])]
    assert [(o.name, _dims(o)) for o in search.graph.output] == [("response", ["crops", 1, 17, 17])]


def test_metadata_carries_config_and_preprocessing(exported):
    _, config, _, (template_path, search_path), _ = exported
    metas = [{p.key: p.value for p in onnx.load(path).metadata_props} for path in (template_path, search_path)]
    for meta, role in zip(metas, ("template", "search")):
        assert meta["siamtrack.format"] == "siamtrack-onnx" and meta["siamtrack.role"] == role
        assert meta["siamtrack.precision"] == "fp32"
        assert yaml.safe_load(meta["siamtrack.config_yaml"]) == config.to_dict()
        assert "BGR" in meta["siamtrack.preprocessing"] and "0..255" in meta["siamtrack.preprocessing"]
    assert metas[0]["siamtrack.pair_id"] == metas[1]["siamtrack.pair_id"]
    assert OnnxBackend(search_path, providers=["CPUExecutionProvider"]).config == config


def test_dynamic_scales_and_targets(exported):
    model, _, stem, _, _ = exported
    backend = OnnxBackend(stem + ".onnx", providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(5)
    templates = rng.integers(0, 256, (3, 127, 127, 3), dtype=np.uint8)
    features = [backend.embed(t) for t in templates]
    for scales in (1, 5):
        crops = rng.integers(0, 256, (3 * scales, 255, 255, 3), dtype=np.uint8)
        batched = backend.score_batch(features, crops)["response"]
        assert batched.shape == (3 * scales, 1, 17, 17)
        with torch.inference_mode():
            nchw = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).float()
            expected = torch.cat([model.score(model.embed(nchw(templates[n : n + 1])), nchw(crops[n * scales : (n + 1) * scales]))["response"]
                                  for n in range(3)]).numpy()
        np.testing.assert_allclose(batched, expected, atol=1e-4 * np.abs(expected).max())


def test_refuses_to_overwrite_without_force(exported):
    model, config, stem, _, _ = exported
    with pytest.raises(FileExistsError, match="--force"):
        export_onnx(model, config, stem)


def test_a_wrong_graph_fails_loudly_and_writes_nothing(tmp_path, monkeypatch):
    config = TrackerConfig()
    model = random_model(config, seed=1)
    import tracker.export.exporter as exporter

    original = exporter._SearchGraph.forward
    # A head scale off by 1% in the exported graph only: exactly the kind of silent mistake the comparison must catch.
    monkeypatch.setattr(exporter._SearchGraph, "forward", lambda self, z, x: tuple(1.01 * out for out in original(self, z, x)))
    with pytest.raises(ExportCheckError, match="differs from torch"):
        export_onnx(model, config, str(tmp_path / "bad"))
    assert os.listdir(tmp_path) == []


def test_config_must_match_the_model():
    config = TrackerConfig()
    model = random_model(config)
    other = TrackerConfig(model=dataclasses.replace(ModelConfig(), head_scale=0.002))
    with pytest.raises(ValueError, match="the model was built for"):
        build_graphs(model, other)


def test_head_bias_exports_like_the_torch_head(tmp_path):
    config = TrackerConfig(model=dataclasses.replace(ModelConfig(), head_bias=True))
    model = random_model(config, seed=2)
    with torch.no_grad():
        model.head.bias.fill_(-3.0)
    export_onnx(model, config, str(tmp_path / "biased"))  # raises if the graph's bias differs from SiamFC.score


def test_cosine_head_exports_like_the_torch_head(tmp_path):
    if "head_similarity" not in {f.name for f in dataclasses.fields(ModelConfig)}:
        pytest.skip("this config has no head_similarity")
    config = TrackerConfig(model=dataclasses.replace(ModelConfig(), head_similarity="cosine", head_bias=True))
    model = random_model(config, seed=4)
    export_onnx(model, config, str(tmp_path / "cosine"))


@pytest.mark.slow
def test_other_backbone_exports(tmp_path):
    path = config_path("siamfc_mobilenet_v2")
    if not os.path.exists(path):
        pytest.skip("no mobilenet_v2 config")
    config = load_config(path)
    model = random_model(config, seed=0)
    _, report = export_onnx(model, config, str(tmp_path / "mobilenet"))
    search = onnx.load(str(tmp_path / "mobilenet.search.onnx"))
    r = config.model.response_size
    assert _dims(search.graph.output[0]) == ["crops", 1, r, r]
    assert max(report.max_relative_error.values()) < 1e-4


@needs_data
def test_export_command_from_a_weights_file(tmp_path):
    config = TrackerConfig()
    weights = tmp_path / "tiny.pt"
    save_weights(weights, random_model(config, seed=3), config, record={"note": "test"})
    command = [sys.executable, "-m", "export", "--weights", str(weights), "--sequences", "Crossing", "Dog",
               "--frames-per-sequence", "1", "--no-int8"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "real crops, response: 3 output maps" in done.stdout  # the held-out half: 1 pair x 3 scales
    assert sorted(os.listdir(tmp_path)) == ["tiny.pt", "tiny.search.onnx", "tiny.template.onnx"]
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "tiny.search.onnx")).metadata_props}
    assert meta["siamtrack.source_weights"].startswith("tiny.pt sha256 ")
    again = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 1 and "--force" in again.stderr and again.stderr.count("\n") == 1


@needs_data
def test_export_config_replaces_the_weights_tracking_section(tmp_path):
    config = TrackerConfig()  # the AlexNet model, 3 scales
    weights = tmp_path / "tiny.pt"
    save_weights(weights, random_model(config, seed=3), config, record={})
    five_scales = os.path.join(REPO, "tracker", "configs", "siamfc_alexnet_5s.yaml")  # same model, 5 scales, scale_lr 0.34
    command = [sys.executable, "-m", "tracker.export", "--weights", str(weights), "--config", five_scales,
               "--sequences", "Crossing", "--frames-per-sequence", "1", "--no-int8"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    exported = OnnxBackend(str(tmp_path / "tiny.onnx")).config
    assert exported == load_config(five_scales) and exported.tracking.scale_count == 5

    other_model = os.path.join(REPO, "tracker", "configs", "box_mobilenet_v2.yaml")
    command[command.index(five_scales)] = other_model
    refused = subprocess.run(command + ["--out", str(tmp_path / "other")], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 1 and "model section does not match" in refused.stderr, refused.stderr
    assert not any(name.startswith("other") for name in os.listdir(tmp_path))


def test_export_command_runs_from_any_directory(tmp_path):
    for module in ("tracker.export", "export"):
        cwd = tmp_path if module == "tracker.export" else REPO  # the top-level entry point is the repository's
        done = subprocess.run([sys.executable, "-m", module, "--help"], cwd=cwd, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and "usage: python -m tracker.export" in done.stdout, done.stderr


@needs_data
def test_export_command_refuses_eval_sequences(tmp_path):
    done = subprocess.run([sys.executable, "-m", "export", "--random-weights", "--out", str(tmp_path / "x"), "--sequences", "Girl"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "eval-split" in done.stderr
    assert os.listdir(tmp_path) == []


@needs_data
def test_real_crops_come_from_train_sequences_only():
    config = TrackerConfig()
    pairs = calibration_crops(default_data_dir(), config.model, config.tracking, ["Crossing"], search_frames_per_sequence=3)
    assert len(pairs) == 3
    template, crops = pairs[0]
    assert template.shape == (127, 127, 3) and crops.shape == (3, 255, 255, 3) and crops.dtype == np.uint8
    with pytest.raises(ValueError, match="eval-split"):
        calibration_crops(default_data_dir(), config.model, config.tracking, ["Girl"])


def test_onnx_scope_names_modules_as_torch_names_their_nodes():
    assert onnx_scope("head") == "/head/"
    assert onnx_scope("backbone.normalise") == "/backbone/normalise/"
    assert onnx_scope("backbone.features.0") == "/backbone/features/features.0/"
    assert onnx_scope("backbone.features.1.conv.3") == "/backbone/features/features.1/conv/conv.3/"


def test_the_head_is_traced_by_torch_and_recorded_as_fp32(exported):
    _, _, _, (_, search_path), _ = exported
    search = onnx.load(search_path)
    head_ops = {n.op_type for n in search.graph.node if n.name.startswith("/head/")}
    assert {"MatMul", "Pad", "ReduceSum"} <= head_ops
    # Every product and sum of the correlation is the head's (no hand-written "correlation/" block).
    assert all(n.name.startswith("/head/") for n in search.graph.node if n.op_type in ("MatMul", "Pad", "ReduceSum"))
    meta = {p.key: p.value for p in search.metadata_props}
    assert yaml.safe_load(meta["siamtrack.int8_float_scopes"]) == ["/head/"]


def test_a_module_scope_torch_does_not_name_is_an_error(exported):
    model, _, _, (template_path, search_path), _ = exported
    model.head.int8_float_children = ("no_such_part",)
    try:
        with pytest.raises(ExportCheckError, match="/head/no_such_part/"):
            float_scopes(model, [onnx.load(template_path), onnx.load(search_path)])
    finally:
        del model.head.int8_float_children


class _TwoOutputHead(CorrelationHead):
    """A head with a second named output, as a box head will have."""

    OUTPUTS = ("response", "energy")

    def forward(self, z_feat, x_feat):
        return {**super().forward(z_feat, x_feat), "energy": (x_feat * x_feat).mean(1, keepdim=True)}


def test_every_named_output_of_a_registered_head_is_exported_and_run(tmp_path, monkeypatch):
    monkeypatch.setitem(HEADS, "two_outputs", _TwoOutputHead.from_config)
    config = TrackerConfig(model=dataclasses.replace(ModelConfig(), head="two_outputs"))
    model = random_model(config, seed=3)
    _, report = export_onnx(model, config, str(tmp_path / "two"))
    assert report.samples["random crops, energy"] == 6
    backend = OnnxBackend(str(tmp_path / "two.onnx"), providers=["CPUExecutionProvider"])
    assert backend.outputs == ("response", "energy")
    rng = np.random.default_rng(0)
    outputs = backend.score(backend.embed(rng.integers(0, 256, (127, 127, 3), dtype=np.uint8)),
                            rng.integers(0, 256, (3, 255, 255, 3), dtype=np.uint8))
    assert outputs["response"].shape == (3, 1, 17, 17) and outputs["energy"].shape == (3, 1, 22, 22)
