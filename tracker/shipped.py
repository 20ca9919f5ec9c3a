"""Where the model this project ships lives: one name for every entry point.

The demo, the CLI, the evaluation harness and the benchmarks all default to these
files, so renaming the shipped model is a one-line change here.
"""
from __future__ import annotations

from pathlib import Path

WEIGHTS_FOLDER = Path(__file__).resolve().parents[1] / "weights"
SHIPPED_MODEL = "siamfc_mobilenet_v2"


def shipped_weights() -> Path:
    """The torch weights file (``weights/siamfc_mobilenet_v2.pt``); it carries its config."""
    return WEIGHTS_FOLDER / f"{SHIPPED_MODEL}.pt"


def shipped_onnx(int8: bool = False) -> Path:
    """The ONNX model name the runtime expands to its ``.template.onnx``/``.search.onnx`` pair."""
    return WEIGHTS_FOLDER / f"{SHIPPED_MODEL}{'.int8' if int8 else ''}.onnx"
