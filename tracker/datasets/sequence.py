"""The annotated sequence every layout loads into."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from ..boxes import Box
from .decode import read_image, read_video_frames


@dataclass(frozen=True, eq=False)
class Sequence:
    """One annotated sequence.

    ``boxes`` is ``(N, 4)`` float64, 0-based ``(x, y, w, h)``, a NaN row where the target is
    absent or unannotated. Frames come from ``frame_paths`` (one image per row) or from
    ``video_path``. ``cover`` is GOT-10k's per-frame visible share (0..8) or None.
    ``layout`` names the registry entry that loaded it (``tracker.datasets.LAYOUTS``).
    """

    name: str
    boxes: np.ndarray
    frame_paths: Tuple[str, ...] = ()
    video_path: Optional[str] = None
    cover: Optional[np.ndarray] = None
    layout: str = "otb"

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float64)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"{self.name}: boxes must be an (N, 4) array, got shape {boxes.shape}")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "frame_paths", tuple(self.frame_paths))
        if (not self.frame_paths) == (self.video_path is None):
            raise ValueError(f"{self.name}: give either frame_paths or video_path, not both or neither")
        if self.frame_paths and len(self.frame_paths) != len(boxes):
            raise ValueError(f"{self.name}: {len(boxes)} boxes for {len(self.frame_paths)} frames; the box file needs one line per frame")
        if self.cover is not None and len(self.cover) != len(boxes):
            raise ValueError(f"{self.name}: cover.label has {len(self.cover)} lines for {len(boxes)} frames")

    def __len__(self) -> int:
        return len(self.boxes)

    def __repr__(self) -> str:
        return f"Sequence({self.name!r}, {len(self)} frames, layout={self.layout!r})"

    @property
    def init_box(self) -> Box:
        """The first frame's box, which a tracker is initialised with."""
        box = self.boxes[0]
        if not np.isfinite(box).all():
            raise ValueError(f"{self.name}: the first frame has no ground-truth box, so no tracker can be initialised")
        return tuple(float(v) for v in box)

    @property
    def visible(self) -> np.ndarray:
        """``(N,)`` bool: the frame has a box and (GOT-10k) the target is not fully covered."""
        visible = np.isfinite(self.boxes).all(axis=1)
        if self.cover is not None:
            visible &= np.asarray(self.cover) > 0
        return visible

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (0-based) as BGR uint8, read from disk now."""
        if not 0 <= index < len(self):
            raise IndexError(f"{self.name} has frames 0..{len(self) - 1}, asked for {index}")
        if self.frame_paths:
            return read_image(self.frame_paths[index])
        return self.read_frames(index + 1)[index]

    def read_frames(self, max_frames: Optional[int] = None) -> List[np.ndarray]:
        """The first ``max_frames`` (default all) frames, decoded once, as BGR uint8 arrays."""
        count = len(self) if max_frames is None else min(int(max_frames), len(self))
        if self.frame_paths:
            return [read_image(path) for path in self.frame_paths[:count]]
        frames = read_video_frames(self.video_path, count)
        if len(frames) < count:
            raise ValueError(f"{self.name}: {self.video_path} decoded to {len(frames)} frames, but its box file has {len(self)} lines")
        return frames

    def from_frame(self, start: int) -> "Sequence":
        """The same sequence from frame ``start`` (0-based) on, named ``NAME@N`` with ``N`` the
        1-based first frame (OTB's temporal robustness runs start trackers mid-sequence)."""
        if not 0 <= start < len(self):
            raise ValueError(f"{self.name} has frames 0..{len(self) - 1}; cannot start at {start}")
        if not self.frame_paths:
            raise ValueError(f"{self.name} is a video file; starting mid-sequence needs a folder of frames")
        return Sequence(f"{self.name}@{start + 1}", self.boxes[start:], self.frame_paths[start:], None,
                        None if self.cover is None else self.cover[start:], self.layout)

    def head(self, max_frames: int) -> "Sequence":
        """The same sequence cut to its first ``max_frames`` frames (for quick runs)."""
        count = min(int(max_frames), len(self))
        if count < 1:
            raise ValueError(f"max_frames must be >= 1, got {max_frames}")
        return Sequence(
            self.name,
            self.boxes[:count],
            self.frame_paths[:count],
            None if self.frame_paths else self.video_path,
            None if self.cover is None else self.cover[:count],
            self.layout,
        )
