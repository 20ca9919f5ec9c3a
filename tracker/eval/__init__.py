"""Evaluation toolkit: OTB/GOT-10k metrics, a runner for any tracker with
``init``/``update``, reports and plots. ``python -m tracker.eval --help`` is the CLI.
The sequence loaders live in :mod:`tracker.datasets`; the common ones are re-exported
here so ``tracker.eval`` alone covers loading, running and scoring.

Knows nothing of how a tracker works: ours, OpenCV's and test fakes all go through
:func:`runner.run_sequence`. Importing this package imports neither torch nor matplotlib.
"""
from ..datasets import (
    Sequence,
    default_data_root,
    load_dataset,
    load_got10k_sequence,
    load_otb_sequence,
    load_sequence,
    load_video_sequence,
    read_box_file,
    read_splits,
)
from .metrics import (
    NORMALIZED_PRECISION_THRESHOLDS,
    PRECISION_THRESHOLDS,
    SUCCESS_THRESHOLDS,
    center_errors,
    got10k_metrics,
    iou,
    normalized_center_errors,
    otb_metrics,
    precision_curve,
    success_curve,
)
from .runner import run_sequence

__all__ = [
    "NORMALIZED_PRECISION_THRESHOLDS",
    "PRECISION_THRESHOLDS",
    "SUCCESS_THRESHOLDS",
    "Sequence",
    "center_errors",
    "default_data_root",
    "got10k_metrics",
    "iou",
    "load_dataset",
    "load_got10k_sequence",
    "load_otb_sequence",
    "load_sequence",
    "load_video_sequence",
    "normalized_center_errors",
    "otb_metrics",
    "precision_curve",
    "read_box_file",
    "read_splits",
    "run_sequence",
    "success_curve",
]
