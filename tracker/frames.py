"""Checking and normalising the frames users pass in.

Accepted: a numpy ``uint8`` array of shape ``(H, W, 3)`` in BGR order (what OpenCV
reads). Also accepted and converted: grayscale ``(H, W)`` or ``(H, W, 1)`` (replicated
to three channels) and BGRA ``(H, W, 4)`` (alpha dropped). Non-contiguous and
read-only arrays are fine; the tracker never writes to a caller's frame.
"""
from __future__ import annotations

import cv2
import numpy as np

ACCEPTED = "a numpy uint8 array of shape (H, W, 3) in BGR order (or (H, W) grayscale, (H, W, 4) BGRA)"


def prepare_frame(frame) -> np.ndarray:
    """Return ``frame`` as a C-contiguous ``(H, W, 3)`` uint8 BGR array, or raise a clear error."""
    if not isinstance(frame, np.ndarray):
        raise TypeError(f"frame must be {ACCEPTED}; got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise TypeError(
            f"frame must be {ACCEPTED}; got dtype {frame.dtype}. "
            "Convert float images in [0, 1] with (frame * 255).round().astype(np.uint8), "
            "and 0..255 ones with frame.clip(0, 255).round().astype(np.uint8)"
        )
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim not in (2, 3) or (frame.ndim == 3 and frame.shape[2] not in (3, 4)):
        raise ValueError(f"frame must be {ACCEPTED}; got shape {frame.shape}")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError(f"frame is empty (shape {frame.shape}); expected {ACCEPTED}")
    frame = np.ascontiguousarray(frame)
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return frame
