"""Drawing tracking results on frames (for the demo and the command-line tools)."""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from .siamese_tracker import TrackResult

TRACKING_COLOR = (80, 220, 60)  # BGR green
LOST_COLOR = (40, 40, 230)  # BGR red
GIVEN_COLOR = (255, 200, 0)  # BGR cyan: a box given on the first frame


def _label(frame: np.ndarray, text: str, origin, color) -> None:
    scale = max(0.5, frame.shape[0] / 900.0)
    thickness = max(1, int(round(scale * 2)))
    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    x, y = int(origin[0]), int(max(origin[1], height + baseline))
    cv2.rectangle(frame, (x, y - height - baseline), (x + width, y + baseline // 2), color, cv2.FILLED)
    cv2.putText(frame, text, (x, y - baseline // 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)


def draw_result(frame: np.ndarray, result: TrackResult, fps: Optional[float] = None) -> np.ndarray:
    """Draw ``result`` on ``frame`` in place: a solid box while tracking, a thin red one and
    "lost" when lost; the score by the box and the fps in the corner. Returns ``frame``."""
    x, y, w, h = result.box
    top_left, bottom_right = (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h)))
    thickness = max(2, frame.shape[0] // 240)
    if result.lost:
        cv2.rectangle(frame, top_left, bottom_right, LOST_COLOR, max(1, thickness // 2), cv2.LINE_AA)
        _label(frame, f"lost {result.score:.2f}", (top_left[0], top_left[1] - 4), LOST_COLOR)
    else:
        cv2.rectangle(frame, top_left, bottom_right, TRACKING_COLOR, thickness, cv2.LINE_AA)
        _label(frame, f"{result.score:.2f}", (top_left[0], top_left[1] - 4), TRACKING_COLOR)
    if fps is not None:
        _label(frame, f"{fps:.1f} fps", (6, 6), (60, 60, 60))
    return frame


def draw_given_box(frame: np.ndarray, box) -> np.ndarray:
    """Draw a box given on the first frame (0-based ``x, y, w, h``) on ``frame`` in place; returns ``frame``."""
    x, y, w, h = box
    cv2.rectangle(frame, (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h))), GIVEN_COLOR, 2, cv2.LINE_AA)
    return frame
