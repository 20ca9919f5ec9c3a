"""The onnxruntime backend: torch-free, provider choice, clear errors, same tracking loop."""
import logging
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest

from tracker import Tracker, TrackerConfig
from tracker.backends import Backend, BatchBackend
from tracker.backends import onnx_backend
from tracker.backends.onnx_backend import OnnxBackend, choose_providers, session_options
from tracker.export.exporter import export_onnx, random_model
from tools.synthetic import moving_texture_clip

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CPU = ["CPUExecutionProvider"]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    config = TrackerConfig()
    stem = str(tmp_path_factory.mktemp("onnx") / "random_alexnet")
    export_onnx(random_model(config, seed=0), config, stem)
    return stem + ".onnx"


def test_importing_and_running_the_onnx_path_never_imports_torch(model_path):
    code = (
        "import sys, numpy as np\n"
        "from tracker import Tracker\n"
        "from tracker.multi import MultiTracker\n"
        "from tracker.backends.onnx_backend import OnnxBackend\n"
        "import tracker.export.quantize, tracker.export.calibration, tracker.loader\n"
        f"backend = OnnxBackend({model_path!r}, providers=['CPUExecutionProvider'])\n"
        "tracker = Tracker(backend, backend.config)\n"
        "frame = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)\n"
        "tracker.init(frame, (100, 80, 40, 40)); tracker.update(frame)\n"
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_satisfies_both_protocols(model_path):
    backend = OnnxBackend(model_path, providers=CPU)
    assert isinstance(backend, Backend) and isinstance(backend, BatchBackend)
    assert backend.precision == "fp32" and backend.providers == CPU
    assert backend.config == TrackerConfig()


def test_either_file_of_the_pair_opens_it(model_path):
    stem = model_path[: -len(".onnx")]
    for path in (stem + ".template.onnx", stem + ".search.onnx"):
        assert OnnxBackend(path, providers=CPU).search_path == stem + ".search.onnx"


def test_outputs_are_float32_numpy(model_path):
    backend = OnnxBackend(model_path, providers=CPU)
    rng = np.random.default_rng(0)
    features = backend.embed(rng.integers(0, 256, (127, 127, 3), dtype=np.uint8))
    assert isinstance(features, np.ndarray) and features.shape == (1, 256, 6, 6) and features.dtype == np.float32
    outputs = backend.score(features, rng.integers(0, 256, (3, 255, 255, 3), dtype=np.uint8))
    assert list(outputs) == ["response"] == list(backend.outputs)
    assert outputs["response"].shape == (3, 1, 17, 17) and outputs["response"].dtype == np.float32


def test_tracks_the_moving_texture(model_path):
    frames, boxes = moving_texture_clip(frame_count=15, step=6.0, seed=3)
    backend = OnnxBackend(model_path, providers=CPU)
    tracker = Tracker(backend, backend.config)
    tracker.init(frames[0], boxes[0])
    for frame, box in zip(frames[1:], boxes[1:]):
        x, y, w, h = tracker.update(frame).box
        assert abs(x + w / 2 - (box[0] + box[2] / 2)) < 12 and abs(y + h / 2 - (box[1] + box[3] / 2)) < 12


def test_missing_and_foreign_files_are_clear_errors(model_path, tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m tracker.export"):
        OnnxBackend(tmp_path / "nothing.onnx", providers=CPU)
    with pytest.raises(ValueError, match="must end in .onnx"):
        OnnxBackend(tmp_path / "weights.pt", providers=CPU)
    # A valid ONNX pair without siamtrack metadata.
    stem = model_path[: -len(".onnx")]
    for role in ("template", "search"):
        model = onnx.load(f"{stem}.{role}.onnx")
        del model.metadata_props[:]
        onnx.save(model, str(tmp_path / f"foreign.{role}.onnx"))
    with pytest.raises(ValueError, match="not a siamtrack ONNX file"):
        OnnxBackend(tmp_path / "foreign.onnx", providers=CPU)
    # Garbage bytes.
    (tmp_path / "broken.template.onnx").write_bytes(b"not onnx")
    shutil.copy(f"{stem}.search.onnx", tmp_path / "broken.search.onnx")
    with pytest.raises(ValueError, match="onnxruntime could not load"):
        OnnxBackend(tmp_path / "broken.onnx", providers=CPU)


def test_files_from_different_exports_do_not_mix(model_path, tmp_path):
    config = TrackerConfig()
    export_onnx(random_model(config, seed=9), config, str(tmp_path / "other"))
    shutil.copy(model_path[: -len(".onnx")] + ".template.onnx", tmp_path / "mixed.template.onnx")
    shutil.copy(tmp_path / "other.search.onnx", tmp_path / "mixed.search.onnx")
    with pytest.raises(ValueError, match="different exports"):
        OnnxBackend(tmp_path / "mixed.onnx", providers=CPU)


def test_unknown_provider_is_a_clear_error():
    with pytest.raises(ValueError, match="not available"):
        choose_providers(["NoSuchExecutionProvider"])


def test_cuda_falls_back_to_cpu_with_one_log_line(monkeypatch, caplog):
    if onnx_backend.cuda_unavailable_reason() is None:
        pytest.skip("CUDA provider loads on this machine")
    onnx_backend._automatic_providers.cache_clear()
    with caplog.at_level(logging.WARNING, logger=onnx_backend.__name__):
        first = choose_providers()
        second = choose_providers()
    assert first == second == CPU
    if "CUDAExecutionProvider" in onnx_backend.ort.get_available_providers():
        assert len(caplog.records) == 1 and "running on CPU" in caplog.records[0].getMessage()
    with pytest.raises(ValueError, match="cannot load"):
        if "CUDAExecutionProvider" not in onnx_backend.ort.get_available_providers():
            raise ValueError("cannot load")  # a CPU-only onnxruntime: nothing more to check
        choose_providers(["CUDAExecutionProvider", "CPUExecutionProvider"])


def test_threads_default_and_override(monkeypatch):
    monkeypatch.delenv("SIAMTRACK_ORT_THREADS", raising=False)
    assert session_options().intra_op_num_threads == len(os.sched_getaffinity(0))
    assert session_options(threads=1).intra_op_num_threads == 1
    monkeypatch.setenv("SIAMTRACK_ORT_THREADS", "3")
    assert session_options().intra_op_num_threads == 3
    monkeypatch.setenv("SIAMTRACK_ORT_THREADS", "many")
    with pytest.raises(ValueError, match="positive integer"):
        session_options()
