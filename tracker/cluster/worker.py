"""What one Ray actor does: one model session, several streams, one network call per tick.

A :class:`StreamGroup` owns one backend and the streams the driver assigns to it. Each
*tick* reads the next frame of every stream it runs, cuts every target's search crops
(``Tracker.search_crops``), scores all the crops of all the streams in one network call
(``score_batch``), and lets every target locate itself in its own maps
(``Tracker.locate``): ``MultiTracker``'s three stages, over targets of several videos, so
frames of different sizes share the call too. :meth:`StreamGroup.step` runs a few ticks and
returns the rows and each stream's state after them (a :class:`StreamCheckpoint`), which
is all :meth:`StreamGroup.assign` needs to carry on from there in a fresh process.

This module does not import Ray: the driver wraps the class in ``ray.remote``, and tests
can run it in-process.
"""
from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..backends import score_batch, split_targets
from ..boxes import Box
from ..loader import load_model, model_kind
from ..siamese_tracker import TargetState, Tracker, tracker_class
from ..video import FrameSource
from .spec import StreamSpec

VIDEO_JPEG_QUALITY = 90  # annotated frames travel to the driver as JPEG (about 15x smaller than raw)


@dataclass(frozen=True)
class BoxRow:
    """One row of ``tracker.run --boxes``: frame (0-based), target, box (0-based x, y, w, h),
    score (None on frame 0, where the box is the one given), lost."""

    frame: int
    target: int
    box: Box
    score: Optional[float]
    lost: bool


@dataclass(frozen=True)
class StreamCheckpoint:
    """Where a stream is: the next frame to read and every target's tracker state after the
    frame before it. The driver keeps the last one per stream; ``assign`` resumes from it."""

    next_frame: int
    states: Tuple[TargetState, ...]


@dataclass(frozen=True)
class StreamOpened:
    """What ``assign`` learnt of a stream's source (``error`` set when it could not open it)."""

    name: str
    fps: float = 25.0
    frame_count: Optional[int] = None  # None for cameras and URLs
    error: Optional[str] = None


@dataclass(frozen=True)
class StreamChunk:
    """One stream's share of a :meth:`StreamGroup.step`.

    ``states`` are the targets' states after the chunk without their template features,
    which never change and travel once, in ``templates``, with the chunk that read frame 0.
    """

    name: str
    rows: Tuple[BoxRow, ...]
    next_frame: int
    states: Tuple[TargetState, ...]
    templates: Optional[Tuple[Any, ...]] = None
    video_frames: Tuple[bytes, ...] = ()  # JPEG-encoded annotated frames, when the driver asked for video
    finished: bool = False
    note: Optional[str] = None  # why a source ended early (FrameSource.note)
    error: Optional[str] = None  # the stream failed; its rows so far are void


@dataclass(frozen=True)
class GroupChunk:
    """A :meth:`StreamGroup.step`'s answer; ``assigned`` False means this process has no
    streams (Ray restarted it since the last ``assign``): assign them again."""

    pid: int
    assigned: bool
    streams: Tuple[StreamChunk, ...] = ()
    tick_seconds: Tuple[float, ...] = ()  # each tick: reading every stream's frame and tracking every target


class _Stream:
    """A stream being tracked in this process."""

    def __init__(self, spec: StreamSpec, source: FrameSource, next_frame: int) -> None:
        self.spec = spec
        self.source = source
        self.next_frame = next_frame
        self.trackers: Optional[List[Tracker]] = None
        self.finished = False
        self.error: Optional[str] = None
        self.rows: List[BoxRow] = []
        self.video_frames: List[bytes] = []
        self.templates: Optional[Tuple[Any, ...]] = None

    def read(self) -> Optional[np.ndarray]:
        if self.spec.max_frames is not None and self.next_frame >= self.spec.max_frames:
            return None
        return self.source.read()

    def finish(self, error: Optional[str] = None) -> None:
        self.finished = True
        self.error = self.error or error
        self.source.close()


class StreamGroup:
    """The streams of one actor on one model session.

    ``StreamGroup(model, runtime=None, threads=None, video=False, timeout=30)``; then
    :meth:`assign` the streams (with checkpoints to resume from, or None to start at
    frame 0) and call :meth:`step` until every stream is finished.
    """

    def __init__(self, model: str, runtime: Optional[str] = None, threads: Optional[int] = None,
                 video: bool = False, timeout: float = 30.0) -> None:
        options: Dict[str, Any] = {"runtime": runtime}
        if "threads" in model_kind(model).options:
            options["threads"] = threads
        elif threads is not None:
            import torch

            torch.set_num_threads(threads)
        self.backend, self.config = load_model(model, **options)
        self.video = video
        self.timeout = timeout
        self._streams: Optional[List[_Stream]] = None
        self._tick_seconds: List[float] = []

    def pid(self) -> int:
        return os.getpid()

    def assign(self, streams: Sequence[StreamSpec],
               checkpoints: Sequence[Optional[StreamCheckpoint]]) -> List[StreamOpened]:
        """Take over ``streams``, each from its checkpoint (None: from frame 0, with its boxes).

        Replaces whatever this process ran before. A file or folder resumes at the
        checkpoint's frame (the frames before it are read and dropped); a camera or URL
        goes on with its next frame, numbered after the checkpoint's.
        """
        self.close()
        self._streams = []
        opened = []
        for spec, checkpoint in zip(streams, checkpoints):
            try:
                source = FrameSource(spec.source, timeout=self.timeout)
            except (ValueError, OSError) as error:
                opened.append(StreamOpened(spec.name, error=_one_line(error)))
                continue
            stream = _Stream(spec, source, next_frame=0)
            self._streams.append(stream)
            opened.append(StreamOpened(spec.name, fps=source.fps, frame_count=source.frame_count))
            if checkpoint is not None:
                try:
                    self._resume(stream, checkpoint)
                except (ValueError, OSError) as error:
                    stream.finish(_one_line(error))
        return opened

    def _resume(self, stream: _Stream, checkpoint: StreamCheckpoint) -> None:
        if not stream.spec.live:
            for skipped in range(checkpoint.next_frame):
                if stream.source.read() is None:
                    raise ValueError(f"{stream.spec.source} ended at frame {skipped}, before the checkpoint's frame "
                                     f"{checkpoint.next_frame}; was it changed during the run?")
        trackers = []
        for state in checkpoint.states:
            tracker = tracker_class(self.config)(self.backend, self.config)
            tracker.set_state(state)
            trackers.append(tracker)
        stream.trackers = trackers
        stream.next_frame = checkpoint.next_frame

    def step(self, ticks: int) -> GroupChunk:
        """Run up to ``ticks`` ticks; every stream's rows, state and news since the last step."""
        if self._streams is None:
            return GroupChunk(pid=os.getpid(), assigned=False)
        self._tick_seconds = []
        for _ in range(ticks):
            if all(stream.finished for stream in self._streams):
                break
            self._tick()
        chunks = tuple(self._collect(stream) for stream in self._streams)
        return GroupChunk(pid=os.getpid(), assigned=True, streams=chunks, tick_seconds=tuple(self._tick_seconds))

    def _tick(self) -> None:
        started = time.perf_counter()
        frames: List[Tuple[_Stream, np.ndarray]] = []
        for stream in self._streams:
            if stream.finished:
                continue
            try:
                frame = stream.read()
            except (ValueError, OSError) as error:  # a damaged video: FrameSource says where
                stream.finish(_one_line(error))
                continue
            if frame is None:
                stream.finish()
            elif stream.trackers is None:
                self._start(stream, frame)
            else:
                frames.append((stream, frame))
        if frames:
            self._track(frames)
        self._tick_seconds.append(time.perf_counter() - started)

    def _start(self, stream: _Stream, frame: np.ndarray) -> None:
        """Frame 0: one tracker per box (each embeds its template; not batched, done once)."""
        trackers = []
        try:
            for box in stream.spec.boxes:
                tracker = tracker_class(self.config)(self.backend, self.config)
                tracker.init(frame, box)
                trackers.append(tracker)
        except (ValueError, TypeError) as error:
            stream.finish(f"frame 0: {_one_line(error)}")
            return
        stream.trackers = trackers
        stream.templates = tuple(tracker.template_features for tracker in trackers)
        stream.rows.extend(BoxRow(0, target, box, None, False) for target, box in enumerate(stream.spec.boxes))
        if self.video:
            from ..draw import draw_given_box

            annotated = frame.copy()
            for box in stream.spec.boxes:
                draw_given_box(annotated, box)
            stream.video_frames.append(_encode(annotated))
        stream.next_frame = 1

    def _track(self, frames: List[Tuple[_Stream, np.ndarray]]) -> None:
        """Every target of every stream in ``frames``: one network call for all their crops."""
        jobs = []  # (stream, tracker, crops, plan)
        for stream, frame in frames:
            try:
                searches = [(tracker, *tracker.search_crops(frame)) for tracker in stream.trackers]
            except (ValueError, TypeError) as error:  # e.g. a camera that changed its resolution
                stream.finish(f"frame {stream.next_frame}: {_one_line(error)}")
                continue
            jobs.extend((stream, tracker, crops, plan) for tracker, crops, plan in searches)
        if not jobs:
            return
        crops = np.concatenate([crops for _, _, crops, _ in jobs]) if len(jobs) > 1 else jobs[0][2]
        outputs = score_batch(self.backend, [tracker.template_features for _, tracker, _, _ in jobs], crops)
        results: Dict[int, list] = {}
        for (stream, tracker, _, plan), target_outputs in zip(jobs, split_targets(outputs, len(jobs))):
            results.setdefault(id(stream), []).append(tracker.locate(target_outputs, plan))
        fps = len(self._tick_seconds) / sum(self._tick_seconds) if self._tick_seconds and sum(self._tick_seconds) > 0 else None
        for stream, frame in frames:
            if id(stream) not in results:
                continue
            for target, result in enumerate(results[id(stream)]):
                stream.rows.append(BoxRow(stream.next_frame, target, result.box, result.score, result.lost))
            if self.video:
                from ..draw import draw_result

                for index, result in enumerate(results[id(stream)]):
                    draw_result(frame, result, fps if index == 0 else None)
                stream.video_frames.append(_encode(frame))
            stream.next_frame += 1

    def _collect(self, stream: _Stream) -> StreamChunk:
        states = ()
        if stream.trackers is not None:
            states = tuple(dataclasses.replace(tracker.get_state(), template_features=None) for tracker in stream.trackers)
        if stream.finished and stream.error is None and stream.trackers is None:
            stream.error = f"source {stream.spec.source!r} gave no frames"
        chunk = StreamChunk(
            name=stream.spec.name,
            rows=tuple(stream.rows),
            next_frame=stream.next_frame,
            states=states,
            templates=stream.templates,
            video_frames=tuple(stream.video_frames),
            finished=stream.finished,
            note=stream.source.note if stream.finished else None,
            error=stream.error,
        )
        stream.rows, stream.video_frames, stream.templates = [], [], None
        return chunk

    def close(self) -> None:
        """Close every source (the streams are forgotten)."""
        for stream in self._streams or ():
            stream.source.close()
        self._streams = None


def _encode(frame: np.ndarray) -> bytes:
    import cv2

    ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, VIDEO_JPEG_QUALITY])
    if not ok:
        raise ValueError(f"could not encode a {frame.shape[1]}x{frame.shape[0]} frame as JPEG")
    return encoded.tobytes()


def _one_line(error: BaseException) -> str:
    text = str(error)
    return text.splitlines()[0] if text else type(error).__name__
