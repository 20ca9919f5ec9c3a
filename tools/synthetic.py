"""Synthetic clips with exact ground truth, for tests, soaks and benchmarks.

A block-textured square moves on a smooth path over a blurred-noise background: the
kind of target a correlation tracker must follow even with random weights. Frames are
generated, never downloaded.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import cv2
import numpy as np

from tracker.boxes import Box


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


def scripted_clip(
    centers: Sequence[Tuple[float, float]],
    sizes: Sequence[Tuple[float, float]],
    width: int = 320,
    height: int = 240,
    seed: int = 0,
) -> Tuple[List[np.ndarray], List[Box]]:
    """Frames with the block-textured target at ``centers[i]`` with size ``sizes[i]`` in frame ``i``.

    The target may lie partly or wholly outside the frame (it is then cut off or absent),
    and it is rescaled, not re-textured, as its size changes. Returns the frames and the
    target's whole 0-based ``(x, y, w, h)`` in each, outside parts included.
    """
    if len(centers) != len(sizes):
        raise ValueError(f"need one size per centre, got {len(centers)} centres and {len(sizes)} sizes")
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 256, (max(height // 8, 1), max(width // 8, 1), 3), dtype=np.uint8)
    background = cv2.GaussianBlur(cv2.resize(background, (width, height), interpolation=cv2.INTER_LINEAR), (0, 0), 3)
    blocks = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    frames, boxes = [], []
    for (cx, cy), (w, h) in zip(centers, sizes):
        frame = background.copy()
        side_w, side_h = max(int(round(w)), 1), max(int(round(h)), 1)
        x0, y0 = int(round(cx - side_w / 2.0)), int(round(cy - side_h / 2.0))
        # The visible part only: a target far larger than the frame is never rendered whole.
        vx0, vy0 = max(x0, 0), max(y0, 0)
        vx1, vy1 = min(x0 + side_w, width), min(y0 + side_h, height)
        if vx1 > vx0 and vy1 > vy0:
            # Texture pixel for frame pixel (u, v): block (8 * (u - x0) / side_w, 8 * (v - y0) / side_h).
            columns = np.minimum((np.arange(vx0, vx1) - x0) * 8 // side_w, 7)
            rows = np.minimum((np.arange(vy0, vy1) - y0) * 8 // side_h, 7)
            frame[vy0:vy1, vx0:vx1] = blocks[rows[:, None], columns[None, :]]
        noise = rng.integers(-6, 7, frame.shape, dtype=np.int16)
        frames.append(np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8))
        boxes.append((float(x0), float(y0), float(side_w), float(side_h)))
    return frames, boxes
