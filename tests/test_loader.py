"""The loader: one registry turns any model file into (backend, config), for every entry point."""
import dataclasses
import os
import warnings

import pytest
import yaml

from tracker import Tracker, TrackerConfig, config_path, load_config
from tracker.backends.onnx_backend import OnnxBackend
from tracker.backends.torch_backend import TorchBackend
from tracker.export.exporter import export_onnx, random_model
from tracker.loader import MODEL_KINDS, load_model, model_kind
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
    with pytest.raises(ValueError, match=r"option\(s\) device do not apply to .*w.onnx .*takes providers, threads"):
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
    assert isinstance(tracker.backend, OnnxBackend) and tracker.backend.precision == "int8"
    assert tracker.backend.search_path == str(shipped_onnx(int8=True))[: -len(".onnx")] + ".search.onnx"
    multi = MultiTracker.default(threads=1)
    assert multi.backend.precision == "int8" and multi.config == tracker.config


def test_a_model_without_a_response_output_is_refused_by_the_siamfc_tracker():
    class BoxHeadBackend:
        outputs = ("cls", "box", "quality")

    with pytest.raises(ValueError, match="outputs are cls, box, quality; this tracker needs a SiamFC 'response' head"):
        Tracker(BoxHeadBackend(), TrackerConfig())
