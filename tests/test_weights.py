import dataclasses

import pytest
import torch

from tracker import Tracker, config_path, load_config
from tracker.config import ModelConfig, TrackerConfig
from tracker.errors import MissingFileError, WeightsError
from tracker.model import build_model
from tracker.weights import read_weights_file, save_weights, write_payload


def test_round_trip_gives_same_outputs(random_model, tmp_path):
    path = tmp_path / "w.pt"
    save_weights(path, random_model, TrackerConfig(), record={"epochs": 3})
    assert not (tmp_path / "w.pt.partial").exists()
    loaded = build_model(ModelConfig(), path)
    assert loaded.training_record == {"epochs": 3}
    x = torch.rand(2, 3, 255, 255) * 255
    z = torch.rand(1, 3, 127, 127) * 255
    with torch.inference_mode():
        torch.testing.assert_close(loaded.score(loaded.embed(z), x), random_model.score(random_model.embed(z), x))


def test_tracker_from_model_with_a_config_file_loads_weights(random_model, tmp_path):
    path = tmp_path / "w.pt"
    save_weights(path, random_model, load_config(config_path("siamfc_alexnet")))
    tracker = Tracker.from_model(path, config=config_path("siamfc_alexnet"), device="cpu")
    assert tracker.initialised is False and tracker.config == load_config(config_path("siamfc_alexnet"))


def test_missing_file(tmp_path):
    with pytest.raises(MissingFileError, match="weights file not found") as raised:
        build_model(ModelConfig(), tmp_path / "nope.pt")
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, FileNotFoundError)


def test_truncated_file(random_model, tmp_path):
    path = tmp_path / "w.pt"
    save_weights(path, random_model, TrackerConfig())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="could not be read"):
        build_model(ModelConfig(), path)


def test_not_a_weights_file(tmp_path):
    path = tmp_path / "plain.pt"
    torch.save({"weight": torch.zeros(1)}, path)
    with pytest.raises(WeightsError, match="is not a siamtrack-weights file"):
        read_weights_file(path)
    text = tmp_path / "text.pt"
    text.write_text("hello")
    with pytest.raises(WeightsError, match="could not be read"):
        read_weights_file(text)


def test_other_architecture(random_model, tmp_path):
    path = tmp_path / "w.pt"
    other = TrackerConfig(model=dataclasses.replace(ModelConfig(), backbone="mobilenet_v2"))
    save_weights(path, random_model, other)
    with pytest.raises(WeightsError, match="another architecture: backbone: file has 'mobilenet_v2', config asks for 'alexnet'"):
        build_model(ModelConfig(), path)


def test_missing_and_unexpected_keys_are_named(random_model, tmp_path):
    path = tmp_path / "w.pt"
    save_weights(path, random_model, TrackerConfig())
    payload = torch.load(path, weights_only=True)
    del payload["state_dict"]["backbone.features.0.weight"]
    payload["state_dict"]["extra.weight"] = torch.zeros(1)
    payload["state_dict"]["backbone.features.4.bias"] = torch.zeros(7)
    write_payload(path, payload)  # sealed: well-formed, but for another network
    with pytest.raises(WeightsError) as raised:
        build_model(ModelConfig(), path)
    message = str(raised.value)
    assert "missing keys: backbone.features.0.weight" in message
    assert "unexpected keys: extra.weight" in message
    assert "backbone.features.4.bias file (7,) vs model (256,)" in message


def test_tracker_from_weights_uses_the_carried_config(random_model, tmp_path):
    config = load_config(config_path("siamfc_alexnet_5s"))
    path = tmp_path / "w.pt"
    save_weights(path, random_model, config)
    tracker = Tracker.from_model(path, device="cpu")
    assert tracker.config == config
