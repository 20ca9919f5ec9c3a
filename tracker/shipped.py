"""Where the model this project ships lives: one name for every entry point.

The demo, the CLI, the evaluation harness and the benchmarks all default to these
files, so renaming the shipped model is a one-line change here.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Optional

WEIGHTS_FOLDER = Path(__file__).resolve().parents[1] / "weights"
# The default of the demo, the CLI and Tracker.default(): the box-regressing head (one
# search crop, box edges per cell). It replaced SiamFC as the default once it was ahead of it on
# the evaluation split (0.643 against 0.634, --starts 5) and on the 8 corpus videos neither
# model trained on (0.585 against 0.551), at a quarter of its time per update (README,
# "The box head"). SiamFC ships beside it: --model weights/siamfc_mobilenet_v2.int8.onnx.
SHIPPED_MODEL = "box_mobilenet_v2"
SHIPPED_SIAMFC_MODEL = "siamfc_mobilenet_v2"
SHIPPED_MODELS = (SHIPPED_MODEL, SHIPPED_SIAMFC_MODEL)
# int8 is the default only while it loses at most 0.01 AUC against fp32 on the evaluation
# split: for the box model 0.643 (int8) against 0.649 (fp32 ONNX), --starts 5, one run
# (README, "The box head"); for SiamFC 0.637 against 0.615. --fp32 asks for the fp32 pair.
INT8_IS_DEFAULT = True


def shipped_weights(model: str = SHIPPED_MODEL) -> Path:
    """A shipped model's torch weights file (default ``weights/box_mobilenet_v2.pt``); it carries its config."""
    return WEIGHTS_FOLDER / f"{model}.pt"


def shipped_onnx(int8: bool = False, model: str = SHIPPED_MODEL) -> Path:
    """A shipped model's ONNX name, which the runtime expands to its ``.template.onnx``/``.search.onnx`` pair."""
    return WEIGHTS_FOLDER / f"{model}{'.int8' if int8 else ''}.onnx"


def _onnx_pair_present(name: Path) -> bool:
    stem = str(name)[: -len(".onnx")]
    return os.path.isfile(stem + ".template.onnx") and os.path.isfile(stem + ".search.onnx")


def default_model(int8: Optional[bool] = None, runtime: Optional[str] = None) -> Path:
    """The shipped model to run: the ONNX pair when onnxruntime is installed (fastest on
    CPU), else the torch weights. ``int8=True`` asks for the int8 pair, ``False`` for fp32
    (ONNX, else torch), ``None`` for the project's default precision; ``runtime="torch"``
    for the torch weights."""
    if runtime == "torch":
        if int8:
            raise ValueError("the int8 model is an ONNX pair; the torch runtime runs the fp32 weights")
        if shipped_weights().is_file():
            return shipped_weights()
        raise ValueError(f"no shipped torch weights at {shipped_weights()}")
    onnx_runtime = importlib.util.find_spec("onnxruntime") is not None
    if int8 or (int8 is None and INT8_IS_DEFAULT):
        if onnx_runtime and _onnx_pair_present(shipped_onnx(int8=True)):
            return shipped_onnx(int8=True)
        if int8:
            raise ValueError(
                f"no int8 model at {shipped_onnx(int8=True)} (or onnxruntime is missing); "
                f"make it with: python -m export --weights {shipped_weights()}"
            )
    if onnx_runtime and _onnx_pair_present(shipped_onnx()):
        return shipped_onnx()
    if shipped_weights().is_file():
        return shipped_weights()
    raise ValueError(f"no shipped model in {WEIGHTS_FOLDER}: pass a model (X.onnx or X.pt) explicitly")
