"""The weights this project ships: present, self-describing, and actually trained."""
import os

import numpy as np
import pytest
import yaml

from tracker.config import TrackerConfig, from_dict
from tracker.shipped import SHIPPED_MODELS, shipped_weights
from tracker.weights import read_weights_file

REAL_DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data")


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_shipped_weights_exist_and_are_small(model):
    path = shipped_weights(model)
    assert path.is_file(), f"{path} is missing: the product ships trained weights"
    assert path.stat().st_size < 20 * 1024 * 1024


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_shipped_yaml_is_the_config_inside_the_weights(model):
    carried = read_weights_file(shipped_weights(model))["config"]
    with open(shipped_weights(model).with_suffix(".yaml"), encoding="utf-8") as handle:
        written = yaml.safe_load(handle)
    assert from_dict(TrackerConfig, written) == from_dict(TrackerConfig, carried)


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_shipped_record_names_no_eval_or_reserved_sequence(model):
    from tracker.datasets import read_splits
    from tracker.datasets.manifest import forbidden_name_reason, load_manifest

    if not os.path.isdir(REAL_DATA):
        pytest.skip("../shared/data is not present")
    record = read_weights_file(shipped_weights(model))["record"]
    splits = read_splits(REAL_DATA)
    seen = list(record["train_sequences"]) + list(record["validation_sequences"])
    assert seen, "the record must say what the weights saw"
    assert not [name for name in seen if splits.get(name) == "eval"]
    reserved = load_manifest().reserved
    assert not {name: forbidden_name_reason(name, reserved) for name in seen if forbidden_name_reason(name, reserved)}
    # Sequences from outside ../shared/data come from the ingested corpus, whose manifest
    # entries (source repo@commit, frames, box sha256) the record carries.
    corpus = {entry["name"]: entry for entry in record.get("corpus", {}).get("sequences", [])}
    assert not [name for name in seen if name not in splits and name not in corpus]
    assert all("@" in entry["source"] and len(entry["boxes_sha256"]) == 64 for entry in corpus.values())


@pytest.mark.skipif(not os.path.isdir(REAL_DATA), reason="../shared/data is not present")
@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_shipped_weights_track_a_held_out_train_sequence(model):
    # Crossing, a train-split sequence: the weights must track what they learnt from.
    from tracker.datasets import load_dataset
    from tracker.eval.metrics import otb_metrics
    from tracker.eval.runner import run_sequence
    from tracker.siamese_tracker import Tracker

    (sequence,) = load_dataset(REAL_DATA, names=["Crossing"])
    tracker = Tracker.from_model(shipped_weights(model), device="cpu")
    boxes, _ = run_sequence(tracker, sequence.read_frames(), sequence.init_box)
    assert otb_metrics(boxes, sequence.boxes)["auc"] > 0.6
    assert np.isfinite(boxes).all()


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_shipped_config_file_is_the_config_inside_the_weights(model):
    from tracker.config import config_path, load_config

    carried = from_dict(TrackerConfig, read_weights_file(shipped_weights(model))["config"])
    assert load_config(config_path(model)) == carried


@pytest.mark.parametrize("model", SHIPPED_MODELS)
@pytest.mark.parametrize("int8", [False, True])
def test_shipped_onnx_models_carry_the_same_config(int8, model):
    pytest.importorskip("onnxruntime")
    from tracker.backends.onnx_backend import OnnxBackend
    from tracker.shipped import shipped_onnx

    backend = OnnxBackend(str(shipped_onnx(int8=int8, model=model)), providers=["CPUExecutionProvider"])
    assert backend.config == from_dict(TrackerConfig, read_weights_file(shipped_weights(model))["config"])
