"""Several targets on one video, one batched network call per frame.

``MultiTracker`` holds one :class:`Tracker` per target and runs their updates in three
stages: every target cuts its scale pyramid, the backend scores all N*S crops in one
call (``score_batch``: one onnxruntime run, or one torch backbone call), and every
target locates its peak in its own maps. Each target's result is what an independent
``Tracker`` on the same backend gives, up to float rounding of the batched call.

All targets share one video, so one frame size: ``add`` on a frame of another size is
refused (the tracker stays as it was); once every target is removed, any size goes.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .backends import Backend, score_batch, split_targets
from .config import TrackerConfig
from .frames import prepare_frame
from .siamese_tracker import Tracker, TrackResult, tracker_class


class MultiTracker:
    """N targets sharing one backend; ``update(frame)`` makes one network call for all.

    Targets get integer ids from :meth:`add` (never reused); :meth:`update` returns
    ``{id: TrackResult}`` in the order the targets were added.
    """

    def __init__(self, backend: Backend, config: TrackerConfig) -> None:
        self.backend = backend
        self.config = config
        self._trackers: Dict[int, Tracker] = {}
        self._next_id = 0
        self._frame_shape: Optional[Tuple[int, int]] = None  # (height, width) of the targets' video

    @classmethod
    def from_model(cls, path: str | os.PathLike, **options) -> "MultiTracker":
        """A multi-target tracker for the model file at ``path``; options as for ``Tracker.from_model``."""
        from .loader import load_model

        return cls(*load_model(path, **options))

    @classmethod
    def default(cls, **options) -> "MultiTracker":
        """The shipped model on the default runtime (see ``Tracker.default``)."""
        from .shipped import default_model

        return cls.from_model(default_model(), **options)

    def __len__(self) -> int:
        return len(self._trackers)

    @property
    def target_ids(self) -> List[int]:
        return list(self._trackers)

    def add(self, frame: np.ndarray, box: Sequence[float]) -> int:
        """Start tracking the object in ``box`` (0-based ``x, y, w, h``) of ``frame``; returns its id.

        ``frame`` must be the size of the frames the current targets were added on.
        """
        frame = prepare_frame(frame)
        self._check_frame_size(frame, adding=True)
        tracker = tracker_class(self.config)(self.backend, self.config)
        tracker.init(frame, box)
        target_id = self._next_id
        self._next_id += 1
        self._trackers[target_id] = tracker
        self._frame_shape = frame.shape[:2]
        return target_id

    def remove(self, target_id: int) -> None:
        """Stop tracking target ``target_id``."""
        if target_id not in self._trackers:
            raise ValueError(f"no target with id {target_id}; current ids: {self.target_ids}")
        del self._trackers[target_id]
        if not self._trackers:
            self._frame_shape = None

    def _check_frame_size(self, frame: np.ndarray, adding: bool) -> None:
        if not self._trackers or frame.shape[:2] == self._frame_shape:
            return
        height, width = self._frame_shape
        size, count = f"{frame.shape[1]}x{frame.shape[0]}", len(self)
        advice = ("pass frames of that size, or remove every target (or use another MultiTracker) to track in "
                  "another video")
        if adding:
            raise ValueError(f"cannot add a target on a {size} frame: the {count} current target(s) are on "
                             f"{width}x{height} frames; {advice}")
        raise ValueError(f"frame size changed from {width}x{height} (the frames the {count} current target(s) were "
                         f"added on) to {size}; {advice}")

    def update(self, frame: np.ndarray) -> Dict[int, TrackResult]:
        """Find every target in the next ``frame``: ``{id: TrackResult}``."""
        if not self._trackers:
            return {}
        frame = prepare_frame(frame)
        self._check_frame_size(frame, adding=False)
        trackers = list(self._trackers.values())
        searches = [tracker.search_crops(frame) for tracker in trackers]
        crops = np.concatenate([crops for crops, _ in searches]) if len(searches) > 1 else searches[0][0]
        outputs = score_batch(self.backend, [tracker.template_features for tracker in trackers], crops)
        return {
            target_id: tracker.locate(target_outputs, plan)
            for (target_id, tracker), (_, plan), target_outputs in zip(self._trackers.items(), searches, split_targets(outputs, len(trackers)))
        }
