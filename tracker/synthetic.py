"""Synthetic clips with exact ground truth, for tests, soaks and benchmarks.

A block-textured square moves on a smooth path over a blurred-noise background: the
kind of target a correlation tracker must follow even with random weights. Frames are
generated, never downloaded.
"""
from __future__ import annotations

from typing import List, Tuple

import cv2
import numpy as np

from .boxes import Box


def moving_texture_clip(
    frame_count: int = 30,
    width: int = 640,
    height: int = 480,
    target_size: Tuple[int, int] = (64, 64),
    step: float = 4.0,
    seed: int = 0,
) -> Tuple[List[np.ndarray], List[Box]]:
    """``frame_count`` BGR uint8 frames and the target's 0-based ``(x, y, w, h)`` in each.

    The target follows a Lissajous path moving about ``step`` pixels per frame.
    """
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    background = cv2.GaussianBlur(cv2.resize(background, (width, height), interpolation=cv2.INTER_LINEAR), (0, 0), 3)
    target_w, target_h = target_size
    blocks = rng.integers(0, 256, (max(target_h // 8, 1), max(target_w // 8, 1), 3), dtype=np.uint8)
    texture = cv2.resize(blocks, (target_w, target_h), interpolation=cv2.INTER_NEAREST)

    span_x, span_y = (width - target_w) / 2.0 - 1, (height - target_h) / 2.0 - 1
    # Angular speed chosen so the path advances about `step` pixels per frame.
    speed = step / max(np.hypot(span_x, span_y), 1.0)
    frames, boxes = [], []
    for index in range(frame_count):
        phase = index * speed
        x = int(round(span_x + span_x * np.sin(phase)))
        y = int(round(span_y + span_y * np.sin(2 * phase + 0.5)))
        frame = background.copy()
        frame[y : y + target_h, x : x + target_w] = texture
        noise = rng.integers(-6, 7, frame.shape, dtype=np.int16)
        frames.append(np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8))
        boxes.append((float(x), float(y), float(target_w), float(target_h)))
    return frames, boxes
