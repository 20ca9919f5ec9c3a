"""The loader: one registry turns any model file into (backend, config), for every entry point."""
import dataclasses
import logging
import os
import warnings

import pytest
import yaml

from tracker import Tracker, TrackerConfig, config_path, load_config
from tracker.backends.onnx_backend import OnnxBackend
from tracker.backends.torch_backend import TorchBackend
from tracker.export.exporter import export_onnx, random_model
from tracker import loader
from tracker.loader import MODEL_KINDS, choose_runtime, load_model, model_kind
from tracker.model import UntrainedWarning
from tracker.multi import MultiTracker
from tracker.shipped import shipped_onnx
from tracker.weights import save_weights

CPU = ["CPUExecutionProvider"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("loader")
    config = TrackerConfig()
    model = random_model(config, seed=0)
    save_weights(folder / "w.pt", model, config)
    export_onnx(model, config, str(folder / "w"))
    return folder, config


@pytest.mark.parametrize("path, kind", [
    ("a/w.int8.onnx", "onnx-int8"), ("a/w.int8.search.onnx", "onnx-int8"), ("a/w.onnx", "onnx"),
    ("a/w.template.onnx", "onnx"), ("a/w.pt", "torch"), ("a/w.PTH", "torch"), ("c.yaml", "config"),
])
def test_the_name_says_the_kind(path, kind):
    assert model_kind(path).name == kind


def test_a_name_of_no_kind_lists_the_kinds():
    with pytest.raises(ValueError, match=r"cannot tell what kind of model 'w.h5'.*\.int8\.onnx.*\.onnx.*\.pt.*\.yaml"):
        model_kind("w.h5")
    assert list(MODEL_KINDS) == ["onnx-int8", "onnx", "torch", "config"]


def test_each_kind_gives_its_backend_and_the_config_the_file_carries(files):
    folder, config = files
    backend, carried = load_model(folder / "w.pt", device="cpu")
    assert isinstance(backend, TorchBackend) and carried == config
    backend, carried = load_model(str(folder / "w.onnx"), providers=CPU, threads=1)
    assert isinstance(backend, OnnxBackend) and backend.precision == "fp32" and carried == config
    assert model_kind(folder / "w.onnx").files(str(folder / "w.onnx")) == (str(folder / "w.template.onnx"), str(folder / "w.search.onnx"))


def test_options_of_another_kind_are_an_error_and_none_means_default(files):
    folder, _ = files
    with pytest.raises(ValueError, match=r"option\(s\) device do not apply to .*w.onnx .*takes providers, threads, runtime, precision"):
        load_model(folder / "w.onnx", device="cuda")
    with pytest.raises(ValueError, match=r"option\(s\) threads do not apply to .*w.pt"):
        load_model(folder / "w.pt", threads=2)
    backend, _ = load_model(folder / "w.onnx", device=None, precision=None, providers=CPU)  # a CLI's unset options
    assert isinstance(backend, OnnxBackend)


def test_a_config_replaces_the_tracking_section_only(files, tmp_path):
    folder, config = files
    other = dataclasses.replace(config, tracking=dataclasses.replace(config.tracking, scale_step=1.05))
    path = tmp_path / "tracking.yaml"
    path.write_text(yaml.safe_dump(other.to_dict()))
    for model in ("w.pt", "w.onnx"):
        _, chosen = load_model(folder / model, config=str(path))
        assert chosen == other
    tracker = Tracker.from_model(folder / "w.onnx", config=other, providers=CPU)
    assert tracker.config.tracking.scale_step == 1.05
    with pytest.raises(ValueError, match="config's model section does not match .*exemplar_size"):
        load_model(folder / "w.pt", config=dataclasses.replace(config, model=dataclasses.replace(config.model, exemplar_size=119)))


def test_an_int8_name_on_fp32_files_is_refused(files, tmp_path):
    folder, _ = files
    for role in ("template", "search"):
        os.link(folder / f"w.{role}.onnx", tmp_path / f"w.int8.{role}.onnx")
    with pytest.raises(ValueError, match="names an int8 model, but its files hold fp32 graphs"):
        load_model(tmp_path / "w.int8.onnx")


def test_a_yaml_config_gives_random_weights_with_a_warning():
    with pytest.warns(UntrainedWarning, match="random weights"):
        backend, config = load_model(config_path("siamfc_alexnet"), device="cpu")
    assert isinstance(backend, TorchBackend) and config == load_config(config_path("siamfc_alexnet"))
    with pytest.raises(ValueError, match="is itself a config"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedWarning)
        load_model(config_path("siamfc_alexnet"), config=config_path("siamfc_alexnet"))


def test_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        load_model(tmp_path / "none.pt")
    with pytest.raises(FileNotFoundError, match="ONNX file not found"):
        load_model(tmp_path / "none.onnx")


@pytest.mark.skipif(not os.path.isfile(str(shipped_onnx(int8=True))[: -len(".onnx")] + ".search.onnx"), reason="no shipped int8 pair")
def test_default_is_the_shipped_int8_pair_with_no_arguments():
    tracker = Tracker.default()
    assert tracker.backend.runtime == choose_runtime()[0] and tracker.backend.precision == "int8"
    assert tracker.backend.search_path == str(shipped_onnx(int8=True))[: -len(".onnx")] + ".search.onnx"
    multi = MultiTracker.default(threads=1)
    assert multi.backend.precision == "int8" and multi.config == tracker.config


def test_a_model_without_a_response_output_is_refused_by_the_siamfc_tracker():
    class BoxHeadBackend:
        outputs = ("cls", "box", "quality")

    with pytest.raises(ValueError, match=r"outputs are cls, box, quality; Tracker needs response \(config model.head: correlation\)"):
        Tracker(BoxHeadBackend(), TrackerConfig())


_PROBE_ONCE = loader._automatic_runtime


def _with_runtimes(monkeypatch, installed):
    """Pretend only the runtimes in ``installed`` are there (and onnxruntime has no GPU)."""
    monkeypatch.setattr(loader, "_installed", lambda module: module in installed)
    monkeypatch.setattr("tracker.backends.onnx_backend.cuda_unavailable_reason", lambda: "no GPU here")
    monkeypatch.setattr(loader, "_automatic_runtime", _PROBE_ONCE.__wrapped__)  # probed at every call, not once


def test_auto_runs_openvino_on_cpu_when_installed_else_onnxruntime(monkeypatch):
    _with_runtimes(monkeypatch, {"onnxruntime", "openvino"})
    assert choose_runtime() == ("openvino", "on CPU OpenVINO is the faster runtime (README, 'ONNX runtime and CLI')")
    assert choose_runtime("auto", providers=CPU)[0] == "onnxruntime"  # providers are onnxruntime's option
    assert choose_runtime("onnxruntime") == ("onnxruntime", "asked for")
    monkeypatch.setattr("tracker.backends.onnx_backend.cuda_unavailable_reason", lambda: None)
    assert choose_runtime() == ("onnxruntime", "onnxruntime can run on CUDA here")
    _with_runtimes(monkeypatch, {"onnxruntime"})
    assert choose_runtime()[0] == "onnxruntime" and "pip install" in choose_runtime()[1]
    with pytest.raises(ValueError, match=r"OpenVINO is not installed: pip install -c constraints.txt -e \"\.\[openvino\]\""):
        choose_runtime("openvino")
    with pytest.raises(ValueError, match="by precision bf16, but OpenVINO is not installed"):
        choose_runtime(precision="bf16")
    _with_runtimes(monkeypatch, {"openvino"})
    assert choose_runtime()[0] == "openvino"


def test_runtime_and_precision_options_are_checked(monkeypatch):
    _with_runtimes(monkeypatch, {"onnxruntime", "openvino"})
    with pytest.raises(ValueError, match="runtime must be one of auto, onnxruntime, openvino, got 'tensorrt'"):
        choose_runtime("tensorrt")
    with pytest.raises(ValueError, match="precision of an ONNX pair must be fp32 or bf16 .*got 'int8'"):
        choose_runtime(precision="int8")
    with pytest.raises(ValueError, match="precision 'bf16' is OpenVINO's"):
        choose_runtime("onnxruntime", precision="bf16")
    with pytest.raises(ValueError, match="providers .* are onnxruntime's"):
        choose_runtime("openvino", providers=CPU)
    assert choose_runtime(precision="bf16")[0] == "openvino" and choose_runtime("onnxruntime", precision="fp32")[0] == "onnxruntime"


def test_the_runtime_option_picks_the_backend_and_auto_says_which(files, caplog):
    pytest.importorskip("openvino")
    from tracker.backends.openvino_backend import OpenVinoBackend

    folder, config = files
    backend, carried = load_model(folder / "w.onnx", runtime="onnxruntime", threads=1)
    assert isinstance(backend, OnnxBackend) and backend.runtime == "onnxruntime" and carried == config
    backend, carried = load_model(folder / "w.onnx", runtime="openvino", precision="fp32", threads=1)
    assert isinstance(backend, OpenVinoBackend) and backend.runtime == "openvino" and carried == config
    assert backend.inference_precision == "fp32"
    tracker = Tracker.from_model(folder / "w.onnx", runtime="openvino", threads=1)
    assert isinstance(tracker.backend, OpenVinoBackend)
    with caplog.at_level(logging.INFO, logger=loader.__name__):
        backend, _ = load_model(folder / "w.onnx", threads=1)
    chosen, why = choose_runtime()
    assert backend.runtime == chosen and f"runtime auto: {chosen} for {folder / 'w.onnx'} ({why})" in caplog.text
    with pytest.raises(ValueError, match="names an int8 model, but its files hold fp32 graphs"):
        os.makedirs(folder / "int8name", exist_ok=True)
        for role in ("template", "search"):
            if not os.path.exists(folder / "int8name" / f"w.int8.{role}.onnx"):
                os.link(folder / f"w.{role}.onnx", folder / "int8name" / f"w.int8.{role}.onnx")
        load_model(folder / "int8name" / "w.int8.onnx", runtime="openvino", threads=1)
    with pytest.raises(ValueError, match=r"option\(s\) runtime do not apply to .*w.pt"):
        load_model(folder / "w.pt", runtime="openvino")


def test_a_command_lines_runtime_becomes_the_loaders_option():
    from tracker.loader import runtime_option

    assert runtime_option("w.int8.onnx", None) is None
    assert runtime_option("w.onnx", "openvino") == "openvino" and runtime_option("w.onnx", "auto") == "auto"
    assert runtime_option("w.pt", "torch") is None
    with pytest.raises(ValueError, match="--runtime torch runs torch weights"):
        runtime_option("w.onnx", "torch")
    with pytest.raises(ValueError, match="--runtime onnxruntime runs exported ONNX pairs; w.pt"):
        runtime_option("w.pt", "onnxruntime")


def test_the_cli_says_what_runs_the_network(files, tmp_path, capsys):
    import cv2
    import numpy as np

    from tracker import run as run_cli

    folder, _ = files
    frames = tmp_path / "frames"
    frames.mkdir()
    for index in range(3):
        cv2.imwrite(str(frames / f"{index:04d}.png"), np.full((120, 160, 3), 60 * index, np.uint8))
    assert run_cli.main([str(frames), "--box", "40,30,40,40", "--model", str(folder / "w.onnx"), "--runtime", "onnxruntime", "--quiet"]) == 0
    assert f"model: {folder / 'w.onnx'} on onnxruntime (fp32 files, CPUExecutionProvider)" in capsys.readouterr().out
    assert run_cli.main([str(frames), "--box", "40,30,40,40", "--model", str(folder / "w.onnx"), "--runtime", "torch"]) != 0
    assert "--runtime torch runs torch weights" in capsys.readouterr().err
