"""Every model file carries a digest of its content, checked at load: damage is an error naming the file."""
import os
import re
import shutil
import subprocess
import sys
import warnings

import pytest
import torch

from tracker import Tracker, TrackerConfig
from tracker.digests import file_sha256
from tracker.errors import UnverifiedModelWarning, WeightsError
from tracker.export.exporter import export_onnx, random_model
from tracker.export.seal import seal_file
from tracker.loader import load_model
from tracker.onnx_format import META_DIGEST, model_files
from tracker.shipped import SHIPPED_MODELS
from tracker.weights import DIGEST_KEY, content_digest, read_weights_file, save_weights

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEIGHTS = os.path.join(REPO, "weights")
SHIPPED = [f"{model}{kind}" for model in SHIPPED_MODELS for kind in (".pt", ".onnx", ".int8.onnx")]
CPU = ["CPUExecutionProvider"]


def flip_middle(path, count=2000):
    """Invert ``count`` bytes in the middle of a file, as the damage report did."""
    data = bytearray(open(path, "rb").read())
    middle = len(data) // 2
    for offset in range(middle, min(middle + count, len(data))):
        data[offset] ^= 0xFF
    with open(path, "wb") as handle:
        handle.write(data)


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("digests")
    config = TrackerConfig()
    model = random_model(config, seed=0)
    save_weights(folder / "w.pt", model, config)
    export_onnx(model, config, str(folder / "w"))
    return folder


def copy_model(source_folder, name, target_folder):
    kind_files = model_files(os.path.join(source_folder, name)) if name.endswith(".onnx") else (os.path.join(source_folder, name),)
    copies = []
    for path in kind_files:
        copies.append(os.path.join(target_folder, os.path.basename(path)))
        shutil.copyfile(path, copies[-1])
    return os.path.join(target_folder, name), copies


@pytest.mark.parametrize("name, victim", [("w.pt", 0), ("w.onnx", 0), ("w.onnx", 1)])
def test_bytes_flipped_in_the_middle_are_a_weights_error_naming_the_file(model_folder, tmp_path, name, victim):
    path, files = copy_model(model_folder, name, tmp_path)
    flip_middle(files[victim])
    with pytest.raises(WeightsError, match=re.escape(files[victim]) + " is damaged"):
        load_model(path)


@pytest.mark.parametrize("name, victim", [(name, victim) for name in SHIPPED for victim in ((0,) if name.endswith(".pt") else (0, 1))])
def test_the_shipped_files_carry_digests_and_damage_to_any_of_them_is_caught(tmp_path, name, victim):
    path, files = copy_model(WEIGHTS, name, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnverifiedModelWarning)
        load_model(path)  # intact: loads without a warning
    flip_middle(files[victim])
    with pytest.raises(WeightsError, match=re.escape(files[victim])):
        load_model(path)


def test_a_damaged_model_is_a_one_line_error_in_the_cli(model_folder, tmp_path):
    path, files = copy_model(model_folder, "w.pt", tmp_path)
    flip_middle(files[0])
    frames = tmp_path / "frames"
    frames.mkdir()
    import cv2
    import numpy as np

    for index in range(3):
        cv2.imwrite(str(frames / f"{index:04d}.png"), np.full((120, 160, 3), 40 * index, np.uint8))
    done = subprocess.run([sys.executable, "-m", "tracker.run", str(frames), "--box", "40,30,30,30", "--model", path,
                           "--boxes", str(tmp_path / "b.csv"), "--quiet"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "is damaged" in done.stderr, done.stderr
    assert not (tmp_path / "b.csv").exists()


def test_the_digest_covers_config_record_and_every_tensor(model_folder):
    payload = read_weights_file(model_folder / "w.pt")
    assert payload[DIGEST_KEY] == content_digest(payload)
    for change in ("config", "record", "tensor"):
        changed = {**payload, "config": dict(payload["config"]), "record": dict(payload["record"]), "state_dict": dict(payload["state_dict"])}
        if change == "config":
            changed["config"]["tracking"] = {**changed["config"]["tracking"], "scale_lr": 0.5}
        elif change == "record":
            changed["record"]["epochs"] = 99
        else:
            name = next(iter(changed["state_dict"]))
            changed["state_dict"][name] = changed["state_dict"][name].clone()
            changed["state_dict"][name].view(-1)[0] += 1
        assert content_digest(changed) != payload[DIGEST_KEY], change


def test_files_written_before_digests_load_with_a_warning_and_can_be_sealed(model_folder, tmp_path):
    payload = {key: value for key, value in read_weights_file(model_folder / "w.pt").items() if key != DIGEST_KEY}
    old = tmp_path / "old.pt"
    torch.save(payload, old)
    import onnx

    path, files = copy_model(model_folder, "w.onnx", tmp_path)
    for file in files:  # an ONNX file of the time: the same graph and metadata without the digest entry
        model = onnx.load(file)
        kept = [entry for entry in model.metadata_props if entry.key != META_DIGEST]
        del model.metadata_props[:]
        model.metadata_props.extend(kept)
        onnx.save(model, file)
    for model_path in (old, path):
        with pytest.warns(UnverifiedModelWarning, match="python -m tracker.export.seal"):
            load_model(model_path)
    assert seal_file(str(old)) == [f"{old}: sealed"]
    assert seal_file(path) == [f"{file}: sealed" for file in files]
    assert seal_file(path) == [f"{file}: already carries a digest; checked, left as it is" for file in files]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnverifiedModelWarning)
        Tracker.from_model(old, device="cpu")
        Tracker.from_model(path, providers=CPU)
    flip_middle(files[1])
    with pytest.raises(WeightsError, match="is damaged"):
        seal_file(path)  # a file that no longer matches its digest is never re-sealed


def test_the_weights_readme_lists_the_shipped_files_sha256():
    text = open(os.path.join(WEIGHTS, "README.md"), encoding="utf-8").read()
    listed = dict(re.findall(r"^\| `([\w.]+)` \|.*\| `([0-9a-f]{64})` \|$", text, flags=re.M))
    assert listed, "no sha256 column in weights/README.md"
    for name, digest in listed.items():
        assert file_sha256(os.path.join(WEIGHTS, name)) == digest, name
