"""The ONNX format module: names, pairing, metadata and whole-or-nothing writes, without torch or onnxruntime."""
import hashlib
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from tracker.backends import split_targets
from tracker.errors import WeightsError
from tracker.onnx_format import META_DIGEST, META_FLOAT_SCOPES, check_digest, float_scopes, metadata, model_files, set_metadata, write_models


def _tiny_model() -> onnx.ModelProto:
    graph = helper.make_graph([helper.make_node("Identity", ["a"], ["b"])], "tiny",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("b", TensorProto.FLOAT, [1])])
    return helper.make_model(graph)


def test_the_pair_is_named_after_one_stem():
    assert model_files("w/a.onnx") == ("w/a.template.onnx", "w/a.search.onnx")
    assert model_files("w/a.int8.search.onnx") == ("w/a.int8.template.onnx", "w/a.int8.search.onnx")
    with pytest.raises(ValueError, match="must end in .onnx"):
        model_files("w/a.pt")


def test_a_written_model_carries_a_digest_of_its_bytes(tmp_path):
    path = str(tmp_path / "z.search.onnx")
    write_models([(_tiny_model(), path)], overwrite=False)
    data = open(path, "rb").read()
    digest = metadata(onnx.load(path))[META_DIGEST]
    assert check_digest(data, path) == digest
    zeroed = data.replace(digest.encode(), b"0" * 64)
    assert hashlib.sha256(zeroed).hexdigest() == digest  # by hand: the bytes with the digest read as zeros
    damaged = bytearray(data)
    damaged[len(damaged) // 3] ^= 0xFF
    with pytest.raises(WeightsError, match="z.search.onnx is damaged"):
        check_digest(bytes(damaged), path)


def test_metadata_is_set_replaced_and_read():
    model = _tiny_model()
    set_metadata(model, {"k": "1", META_FLOAT_SCOPES: '["/head/"]'})
    set_metadata(model, {"k": 2})
    assert metadata(model) == {META_FLOAT_SCOPES: '["/head/"]', "k": "2"}
    assert float_scopes(metadata(model)) == ["/head/"] and float_scopes({}) == []


def test_a_pair_is_written_whole_or_not_at_all(tmp_path):
    paths = [str(tmp_path / "x.template.onnx"), str(tmp_path / "x.search.onnx")]
    write_models([(_tiny_model(), p) for p in paths], overwrite=False)
    assert [onnx.load(p).graph.name for p in paths] == ["tiny", "tiny"]
    with pytest.raises(FileExistsError, match="--force"):
        write_models([(_tiny_model(), p) for p in paths], overwrite=False)

    # The second file cannot be written: the first, already written as a partial, goes too.
    fresh = [str(tmp_path / "y.template.onnx"), str(tmp_path / "gone" / "y.search.onnx")]
    with pytest.raises(OSError):
        write_models([(_tiny_model(), path) for path in fresh], overwrite=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.search.onnx", "x.template.onnx"]


def test_the_format_module_imports_neither_torch_nor_onnxruntime():
    code = "import sys, tracker.onnx_format, tracker.loader, tracker.digests; " \
           "print(sorted(m for m in ('torch', 'onnxruntime', 'onnx') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr


def test_batched_outputs_split_by_target():
    outputs = {"response": np.arange(6).reshape(6, 1), "box": np.arange(12).reshape(6, 2)}
    parts = split_targets(outputs, 3)
    assert [p["response"].ravel().tolist() for p in parts] == [[0, 1], [2, 3], [4, 5]]
    assert parts[2]["box"].tolist() == [[8, 9], [10, 11]]
    with pytest.raises(ValueError, match="cannot be split evenly over 4 targets"):
        split_targets(outputs, 4)
