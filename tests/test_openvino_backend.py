"""The OpenVINO backend: the same ONNX pair as onnxruntime, without torch or onnxruntime; explicit
precision, checked files, batched targets, threads, a compiled-model cache; parity with torch."""
import os
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnx
import pytest

pytest.importorskip("openvino")

from tracker import Tracker, TrackerConfig  # noqa: E402
from tracker import backends  # noqa: E402
from tracker.backends import Backend, BatchBackend  # noqa: E402
from tracker.backends import openvino_backend  # noqa: E402
from tracker.backends.onnx_backend import OnnxBackend  # noqa: E402
from tracker.backends.openvino_backend import OpenVinoBackend, cpu_has_bf16  # noqa: E402
from tracker.backends.torch_backend import TorchBackend  # noqa: E402
from tracker.datasets import default_data_root, load_sequence  # noqa: E402
from tracker.errors import WeightsError  # noqa: E402
from tracker.export.exporter import export_onnx, random_model  # noqa: E402
from tools.synthetic import moving_texture_clip  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CPU = ["CPUExecutionProvider"]
HAVE_DATA = os.path.isfile(os.path.join(default_data_root(), "README.md"))
SHIPPED_INT8 = os.path.join(REPO, "weights", "siamfc_mobilenet_v2.int8.onnx")
MAX_PIXELS = 0.5


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    """Compiled models go to a folder of this module's own, not the user's cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(openvino_backend.CACHE_ENV, str(tmp_path_factory.mktemp("ov-cache")))
        yield


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    config = TrackerConfig()
    model = random_model(config, seed=0)
    stem = str(tmp_path_factory.mktemp("openvino") / "random_alexnet")
    export_onnx(model, config, stem)
    return model, stem + ".onnx"


@pytest.fixture(scope="module")
def model_path(exported):
    return exported[1]


@pytest.fixture(scope="module")
def backend(model_path):
    return OpenVinoBackend(model_path, threads=2)


def crops(seed, count=3):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (127, 127, 3), dtype=np.uint8), rng.integers(0, 256, (count, 255, 255, 3), dtype=np.uint8)


def test_importing_and_running_the_openvino_path_imports_neither_torch_nor_onnxruntime(model_path):
    code = (
        "import sys, numpy as np\n"
        "from tracker import Tracker\n"
        "from tracker.multi import MultiTracker\n"
        "from tracker.loader import load_model\n"
        f"backend, config = load_model({model_path!r}, runtime='openvino', threads=1)\n"
        "tracker = Tracker(backend, config)\n"
        "frame = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)\n"
        "tracker.init(frame, (100, 80, 40, 40)); tracker.update(frame)\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnxruntime'))\n"
        "assert not loaded, loaded\n"
        "print(type(backend).__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "OpenVinoBackend", done.stderr


def test_satisfies_both_protocols_and_says_what_it_runs(backend):
    assert isinstance(backend, Backend) and isinstance(backend, BatchBackend)
    assert backend.runtime == "openvino" and backend.precision == "fp32" and backend.inference_precision == "fp32"
    assert backend.config == TrackerConfig() and backend.outputs == ("response",) and backend.threads == 2
    assert backend.properties["INFERENCE_PRECISION_HINT"] == "f32"  # never OpenVINO's own bf16 default on AMX


def test_either_file_of_the_pair_opens_it(model_path):
    stem = model_path[: -len(".onnx")]
    assert OpenVinoBackend(stem + ".template.onnx", threads=1).search_path == stem + ".search.onnx"


def test_responses_match_torch_and_onnxruntime_in_f32(exported, backend):
    model, path = exported
    torch_backend, ort_backend = TorchBackend(model, device="cpu"), OnnxBackend(path, providers=CPU, threads=1)
    for seed in range(2):
        template, search = crops(seed)
        features = backend.embed(template)
        assert isinstance(features, np.ndarray) and features.shape == (1, 256, 6, 6) and features.dtype == np.float32
        got = backend.score(features, search)
        assert list(got) == ["response"] and got["response"].shape == (3, 1, 17, 17) and got["response"].dtype == np.float32
        for other in (torch_backend, ort_backend):
            want = other.score(other.embed(template), search)["response"]
            assert np.abs(got["response"] - want).max() <= 1e-4 * np.abs(want).max()
            assert (got["response"].reshape(3, -1).argmax(1) == want.reshape(3, -1).argmax(1)).all()


def test_targets_in_one_call_match_one_call_each(backend):
    (template_a, search_a), (template_b, search_b) = crops(1), crops(2)
    features = [backend.embed(template_a), backend.embed(template_b)]
    together = backend.score_batch(features, np.concatenate([search_a, search_b]))["response"]
    apart = np.concatenate([backend.score(features[0], search_a)["response"], backend.score(features[1], search_b)["response"]])
    assert together.shape == (6, 1, 17, 17)
    assert np.abs(together - apart).max() <= 1e-5 * np.abs(apart).max()
    with pytest.raises(ValueError, match="cannot be split evenly"):
        backend.score_batch(features, search_a)


def test_outputs_are_the_callers_own(backend):
    template, search = crops(3)
    features = backend.embed(template)
    first = backend.score(features, search)["response"]
    kept = first.copy()
    backend.score(features, crops(4)[1])  # the same infer request runs again
    assert np.array_equal(first, kept)


def test_tracks_the_moving_texture(backend):
    frames, boxes = moving_texture_clip(frame_count=15, step=6.0, seed=3)
    tracker = Tracker(backend, backend.config)
    tracker.init(frames[0], boxes[0])
    for frame, box in zip(frames[1:], boxes[1:]):
        x, y, w, h = tracker.update(frame).box
        assert abs(x + w / 2 - (box[0] + box[2] / 2)) < 12 and abs(y + h / 2 - (box[1] + box[3] / 2)) < 12


def test_threads_sharing_one_backend_get_what_they_get_one_after_another(backend):
    work = [moving_texture_clip(frame_count=6, width=320, height=240, target_size=(40, 40), step=5.0, seed=seed) for seed in range(2)]

    def track(clip, start=None):
        frames, boxes = clip
        tracker = Tracker(backend, backend.config)
        if start is not None:
            start.wait()
        tracker.init(frames[0], boxes[0])
        return [tracker.update(frame).box for frame in frames[1:]]

    serial = [track(clip) for clip in work]
    start = threading.Barrier(len(work))
    with ThreadPoolExecutor(max_workers=len(work)) as pool:
        threaded = list(pool.map(lambda clip: track(clip, start), work))
    assert threaded == serial


def test_backends_going_away_leave_signals_working(model_path):
    # With a Core per backend, OpenVINO 2026.4 crashed the process at the next signal with a
    # Python handler (Ctrl-C, the CLI's SIGTERM) once two backends were gone, oldest first.
    code = (
        "import gc, os, signal, time\n"
        "from tracker.backends.openvino_backend import OpenVinoBackend\n"
        f"first = OpenVinoBackend({model_path!r}, threads=1, cache_dir='')\n"
        f"second = OpenVinoBackend({model_path!r}, threads=1, cache_dir='')\n"
        "del first, second; gc.collect()\n"
        "def stop(signum, frame): raise KeyboardInterrupt\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "try:\n"
        "    os.kill(os.getpid(), signal.SIGTERM); time.sleep(5)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "interrupted", (done.returncode, done.stderr[-500:])


def test_precision_is_an_explicit_choice(model_path):
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16, got 'int8'"):
        OpenVinoBackend(model_path, precision="int8")
    if not cpu_has_bf16():
        with pytest.raises(ValueError, match="no bfloat16 support"):
            OpenVinoBackend(model_path, precision="bf16")
        return
    fp32, bf16 = OpenVinoBackend(model_path, threads=1), OpenVinoBackend(model_path, precision="bf16", threads=1)
    assert bf16.inference_precision == "bf16" and bf16.precision == "fp32" and bf16.properties["INFERENCE_PRECISION_HINT"] == "bf16"
    template, search = crops(5)
    want, got = (b.score(b.embed(template), search)["response"] for b in (fp32, bf16))
    assert got.dtype == np.float32 and not np.array_equal(got, want)  # bf16 really ran
    assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.98


@pytest.mark.skipif(not os.path.isfile(SHIPPED_INT8[: -len(".onnx")] + ".search.onnx"), reason="no shipped int8 pair")
def test_the_int8_pair_runs_in_int8_and_follows_onnxruntime():
    backend, reference = OpenVinoBackend(SHIPPED_INT8, threads=1), OnnxBackend(SHIPPED_INT8, providers=CPU, threads=1)
    assert backend.precision == "int8" and backend.inference_precision == "fp32"
    template, search = crops(6)
    got, want = (b.score(b.embed(template), search)["response"] for b in (backend, reference))
    assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.99  # int8 rounding differs between runtimes, not the answer


def test_threads_default_and_override(model_path, monkeypatch):
    monkeypatch.delenv(backends.THREADS_ENV, raising=False)
    assert openvino_backend.default_threads() == len(os.sched_getaffinity(0))
    monkeypatch.setenv(backends.THREADS_ENV, "1")
    assert OpenVinoBackend(model_path).threads == 1
    monkeypatch.setenv(backends.THREADS_ENV, "many")
    with pytest.raises(ValueError, match="positive integer"):
        OpenVinoBackend(model_path)
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        OpenVinoBackend(model_path, threads=0)


def test_compiled_models_are_cached_where_asked(model_path, tmp_path, monkeypatch, caplog):
    OpenVinoBackend(model_path, threads=1, cache_dir=str(tmp_path / "cache"))
    assert any(name.endswith(".blob") for name in os.listdir(tmp_path / "cache"))
    monkeypatch.setenv(openvino_backend.CACHE_ENV, "")
    assert OpenVinoBackend(model_path, threads=1).cache_dir is None
    (tmp_path / "a-file").write_text("")
    with caplog.at_level("WARNING", logger=openvino_backend.__name__):
        unusable = OpenVinoBackend(model_path, threads=1, cache_dir=str(tmp_path / "a-file" / "cache"))
    assert unusable.cache_dir is None and "cannot write the compiled-model cache" in caplog.text


def test_the_cache_keeps_the_newest_compiled_models_within_its_limit(tmp_path):
    for age, name in enumerate(["newest", "newer", "older", "oldest"]):
        path = tmp_path / f"{name}.blob"
        path.write_bytes(b"x" * 100)
        os.utime(path, (1000 - age, 1000 - age))
    (tmp_path / "notes.txt").write_bytes(b"x" * 1000)  # not a compiled model: never removed
    openvino_backend.prune_cache(str(tmp_path), limit=250)
    assert sorted(os.listdir(tmp_path)) == ["newer.blob", "newest.blob", "notes.txt"]
    openvino_backend.prune_cache(str(tmp_path), limit=250)
    assert len(os.listdir(tmp_path)) == 3


def test_a_damaged_file_is_caught_before_openvino_reads_it(model_path, tmp_path):
    stem = model_path[: -len(".onnx")]
    for role in ("template", "search"):
        shutil.copy(f"{stem}.{role}.onnx", tmp_path / f"w.{role}.onnx")
    data = bytearray((tmp_path / "w.search.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "w.search.onnx").write_bytes(bytes(data))
    with pytest.raises(WeightsError, match=r"w\.search\.onnx is damaged"):
        OpenVinoBackend(tmp_path / "w.onnx")


def test_missing_foreign_and_broken_files_are_clear_errors(model_path, tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m tracker.export"):
        OpenVinoBackend(tmp_path / "nothing.onnx")
    with pytest.raises(ValueError, match="must end in .onnx"):
        OpenVinoBackend(tmp_path / "weights.pt")
    stem = model_path[: -len(".onnx")]
    for role in ("template", "search"):
        model = onnx.load(f"{stem}.{role}.onnx")
        del model.metadata_props[:]
        onnx.save(model, str(tmp_path / f"foreign.{role}.onnx"))
    with pytest.raises(ValueError, match="not a siamtrack ONNX file"):
        OpenVinoBackend(tmp_path / "foreign.onnx")
    (tmp_path / "broken.template.onnx").write_bytes(b"not onnx")
    shutil.copy(f"{stem}.search.onnx", tmp_path / "broken.search.onnx")
    with pytest.raises(ValueError, match="OpenVINO could not load .*broken.template.onnx"):
        OpenVinoBackend(tmp_path / "broken.onnx")


def test_files_from_different_exports_do_not_mix(model_path, tmp_path):
    config = TrackerConfig()
    export_onnx(random_model(config, seed=9), config, str(tmp_path / "other"))
    shutil.copy(model_path[: -len(".onnx")] + ".template.onnx", tmp_path / "mixed.template.onnx")
    shutil.copy(tmp_path / "other.search.onnx", tmp_path / "mixed.search.onnx")
    with pytest.raises(ValueError, match="different exports"):
        OpenVinoBackend(tmp_path / "mixed.onnx")


@pytest.fixture(scope="module")
def real_model(tmp_path_factory):
    """A seeded random AlexNet with BatchNorm statistics from real train-split crops (see test_onnx_parity)."""
    from tracker.export.calibration import calibration_crops

    config = TrackerConfig()
    pairs = calibration_crops(default_data_root(), config.model, config.tracking, ["Car1", "Human7", "Jumping", "Skiing"], 2)
    model = random_model(config, seed=0, images=[t for t, _ in pairs] + [c for _, c in pairs])
    stem = str(tmp_path_factory.mktemp("parity") / "random_alexnet")
    export_onnx(model, config, stem)
    return config, model, stem + ".onnx"


def largest_deviation(config, model, onnx_path, name, frame_limit=None):
    sequence = load_sequence(os.path.join(default_data_root(), name))
    frames = sequence.read_frames(frame_limit)
    trackers = [Tracker(TorchBackend(model, device="cpu"), config), Tracker(OpenVinoBackend(onnx_path), config)]
    for tracker in trackers:
        tracker.init(frames[0], sequence.init_box)
    deviations = []
    for frame in frames[1:]:
        torch_box, openvino_box = (np.array(tracker.update(frame).box) for tracker in trackers)
        deviations.append(float(np.abs(torch_box - openvino_box).max()))
    return deviations


@pytest.mark.skipif(not HAVE_DATA, reason="annotated sequences not found (set SIAMTRACK_DATA)")
def test_torch_and_openvino_trackers_agree_on_a_real_sequence(real_model):
    deviations = largest_deviation(*real_model, "Crossing", frame_limit=25)
    assert max(deviations) <= MAX_PIXELS, deviations


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_DATA, reason="annotated sequences not found (set SIAMTRACK_DATA)")
def test_torch_and_openvino_trackers_agree_on_a_whole_sequence(real_model):
    deviations = largest_deviation(*real_model, "Crossing")
    assert max(deviations) <= MAX_PIXELS, (max(deviations), int(np.argmax(deviations)) + 1)
