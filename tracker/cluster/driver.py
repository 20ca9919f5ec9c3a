"""The driver: place streams on Ray actors, write their rows, resume them when an actor dies.

:func:`run_streams` checks the spec and every output before anything runs, starts Ray (a
local instance unless ``address`` names a cluster, or the one already initialised), spreads
the streams over actors (each a :class:`~tracker.cluster.worker.StreamGroup`: one model
session, one network call per tick for all its streams' targets) and keeps one call in
flight per actor, each running ``chunk_frames`` ticks.

Checkpoints: every call returns each stream's rows together with its state after them
(:class:`~tracker.cluster.worker.StreamCheckpoint`), and the driver keeps the last state per
stream in memory as it writes the rows. When an actor dies, Ray restarts it
(``max_restarts``) and the driver assigns it its unfinished streams again from their
checkpoints: the rows of the call that was lost are tracked again from the same state, and
nothing from it was written, so no frame appears twice or goes missing. A driver that dies
takes its actors with it (Ray's ownership), and its outputs were never published.

Outputs follow ``tracker.run``'s rules: checked before any work, no overwrite without
``force``, written as partial files and published when their stream is complete; a stream
that fails leaves nothing.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ..loader import model_kind, runtime_option
from ..run import BOX_FORMATS, BoxWriter, resolve_model
from ..video import VIDEO_EXTENSIONS, AtomicVideoWriter, check_output_path, check_separate
from .spec import ClusterSpec, StreamSpec, load_spec
from .worker import BoxRow, GroupChunk, StreamCheckpoint, StreamChunk, StreamGroup, StreamOpened

log = logging.getLogger("tracker.cluster")

RAY_INSTALL = 'pip install -c constraints.txt -e ".[cluster]"'
# After an actor died: how long Ray may take to restart it, and how often to ask whether it is back.
RECOVERY_SECONDS = 300.0
RETRY_PAUSE_SECONDS = 0.5


@dataclass(frozen=True)
class ChunkEvent:
    """What ``on_chunk`` receives each time a stream's rows arrive (rows are in frame order)."""

    stream: str
    rows: Tuple[BoxRow, ...]
    frames: int  # frames of this stream tracked so far (frame 0 included)
    frame_count: Optional[int]  # the source's frame count (or max_frames); None for cameras and URLs
    finished: bool
    actor: int  # which actor runs the stream (0-based)
    actor_name: str  # the Ray actor's name (ray.get_actor finds it)
    actor_pid: int  # the actor's process id on its node


@dataclass(frozen=True)
class StreamReport:
    name: str
    source: Union[int, str]
    actor: int
    targets: int
    frames: int  # frames tracked (frame 0 included)
    seconds: float  # from its actor's first answer to the stream's last rows
    restarts: int  # how often its actor was restarted (or re-assigned) during the run
    error: Optional[str] = None  # the stream failed: nothing was published for it
    note: Optional[str] = None  # why the source ended early, if it did
    outputs: Tuple[str, ...] = ()  # the files published

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def target_updates(self) -> int:
        """Target updates made (frame 0 is the given box, no update)."""
        return self.targets * max(self.frames - 1, 0)


@dataclass(frozen=True)
class ClusterReport:
    streams: Tuple[StreamReport, ...]
    actors: int
    startup_seconds: float  # Ray start (when it was started here), actors' model loading, sources opened
    tracking_seconds: float  # from the first actor's first answer to the last rows
    tick_seconds: Tuple[float, ...]  # every tick of every actor: its streams' frames read and targets tracked
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return all(stream.error is None for stream in self.streams)

    @property
    def target_updates_per_second(self) -> float:
        updates = sum(stream.target_updates for stream in self.streams)
        return updates / self.tracking_seconds if self.tracking_seconds > 0 else 0.0

    @property
    def mean_tick_ms(self) -> float:
        return 1000.0 * sum(self.tick_seconds) / len(self.tick_seconds) if self.tick_seconds else 0.0


class _StreamRun:
    """The driver's side of one stream: its outputs, checkpoint and counts."""

    def __init__(self, spec: StreamSpec, actor: int, boxes_path: Optional[str], video_path: Optional[str], force: bool):
        self.spec = spec
        self.actor = actor
        self.boxes_path, self.video_path, self.force = boxes_path, video_path, force
        self.boxes = BoxWriter(boxes_path, overwrite=force) if boxes_path else None
        self.video: Optional[AtomicVideoWriter] = None
        self.opened: Optional[StreamOpened] = None
        self.checkpoint: Optional[StreamCheckpoint] = None
        self.templates: Optional[Tuple[Any, ...]] = None
        self.frames = 0  # rows written up to this frame (the next frame expected)
        self.finished = False
        self.error: Optional[str] = None
        self.note: Optional[str] = None
        self.started: Optional[float] = None
        self.ended: Optional[float] = None
        self.published: Tuple[str, ...] = ()

    @property
    def frame_count(self) -> Optional[int]:
        count = self.opened.frame_count if self.opened else None
        if self.spec.max_frames is not None:
            return min(count, self.spec.max_frames) if count else self.spec.max_frames
        return count

    def take(self, chunk: StreamChunk) -> None:
        """Write a chunk's rows and move the checkpoint past them."""
        if chunk.templates is not None:
            self.templates = chunk.templates
        expected = [frame for frame in range(self.frames, chunk.next_frame) for _ in range(len(self.spec.boxes))]
        if [row.frame for row in chunk.rows] != expected and chunk.error is None:
            raise RuntimeError(f"stream {self.spec.name}: rows for frames {sorted({r.frame for r in chunk.rows})} arrived "
                               f"when frame {self.frames} was next (a bug: please report it)")
        for row in chunk.rows:
            if self.boxes:
                self.boxes.write(row.frame, row.target, row.box, row.score, row.lost)
        if self.video is None and self.video_path and chunk.video_frames:
            self.video = AtomicVideoWriter(self.video_path, self.opened.fps if self.opened else 25.0, overwrite=self.force)
        for encoded in chunk.video_frames:
            self.video.write(_decode(encoded))
        self.frames = chunk.next_frame
        if chunk.states:
            states = tuple(dataclasses.replace(state, template_features=features)
                           for state, features in zip(chunk.states, self.templates))
            self.checkpoint = StreamCheckpoint(chunk.next_frame, states)

    def finish(self, error: Optional[str] = None, note: Optional[str] = None) -> None:
        """Publish the outputs (or, on ``error``, remove them)."""
        self.finished = True
        self.ended = time.perf_counter()
        self.error, self.note = error, note
        if error is not None:
            self.discard()
            return
        published = []
        try:
            for writer in (self.video, self.boxes):
                if writer is not None:
                    writer.close()
                    published.append(writer.path)
        except OSError as error:  # e.g. the file appeared meanwhile (never replaced without force)
            self.error = str(error).splitlines()[0]
            self.discard()
        self.published = tuple(published)

    def discard(self) -> None:
        for writer in (self.video, self.boxes):
            if writer is not None:
                writer.discard()


def run_streams(spec: Union[str, os.PathLike, Mapping[str, Any], ClusterSpec], *, force: bool = False,
                address: Optional[str] = None, num_cpus: Optional[int] = None,
                on_chunk: Optional[Callable[[ChunkEvent], None]] = None) -> ClusterReport:
    """Track every stream of ``spec`` on Ray actors; returns a :class:`ClusterReport`.

    ``spec`` is a YAML file's path, the same mapping, or a :class:`ClusterSpec`. Outputs
    that exist are replaced only with ``force``. Ray: the instance already initialised in
    this process, else the cluster at ``address`` (``"auto"``, ``"ray://head:10001"``), else
    a new local instance with ``num_cpus`` CPUs (default: the CPUs this process may use),
    shut down at the end. ``on_chunk`` is called in this thread with every stream's rows
    as they arrive. Bad input (spec, sources, model, outputs) is a ValueError before
    anything runs; a stream that fails later is reported in its :class:`StreamReport`.
    Ctrl-C keeps what camera and URL streams tracked and discards file streams'
    outputs (then re-raises KeyboardInterrupt when there were any).
    """
    spec = load_spec(spec)
    model = os.path.abspath(resolve_model(spec.model, None, spec.runtime))  # actors need not share our directory
    runtime = runtime_option(model, spec.runtime)
    streams = _resolved_streams(spec.streams)
    _check_model(model)
    outputs = _check_outputs(spec, streams, model, force)
    ray = _import_ray()
    started = time.perf_counter()
    own_ray = not ray.is_initialized()
    if own_ray:
        _start_ray(ray, address, num_cpus)
    elif address is not None:
        log.warning("Ray is already initialised in this process; using it, not %s", address)
    actors: List[Any] = []
    runs: Dict[str, _StreamRun] = {}
    try:
        groups = _place(streams, _actor_count(ray, spec, len(streams), own_ray and address is None))
        actor_of = {stream.name: index for index, group in enumerate(groups) for stream in group}
        for stream in streams:  # in the spec's order, which the report keeps
            runs[stream.name] = _StreamRun(stream, actor_of[stream.name], *outputs[stream.name], force)
        return _drive(ray, spec, model, runtime, groups, runs, actors, started, on_chunk)
    except BaseException:
        for run in runs.values():
            if not run.finished:
                run.discard()
        raise
    finally:
        for actor in actors:
            _kill(ray, actor)
        if own_ray:
            ray.shutdown()


def _drive(ray, spec: ClusterSpec, model: str, runtime: Optional[str], groups: List[List[StreamSpec]],
           runs: Dict[str, _StreamRun], actors: List[Any], started: float,
           on_chunk: Optional[Callable[[ChunkEvent], None]]) -> ClusterReport:
    names = [f"siamtrack-{uuid.uuid4().hex[:8]}-{index}" for index in range(len(groups))]
    remote = ray.remote(StreamGroup)
    threads = spec.threads or spec.cpus_per_actor
    video = spec.outputs.folder is not None and spec.outputs.video
    for index in range(len(groups)):
        options = dict(name=names[index], num_cpus=spec.cpus_per_actor, max_restarts=spec.max_restarts, max_task_retries=0)
        actors.append(remote.options(**options).remote(model, runtime, threads, video, spec.timeout))
    driver = _Driver(ray, spec, groups, runs, actors, names, on_chunk)
    interrupted = False
    try:
        driver.run()
    except KeyboardInterrupt:
        if any(not run.finished and not run.spec.live for run in runs.values()):
            raise
        interrupted = True
        for run in runs.values():
            if not run.finished:
                run.finish(note="stopped (Ctrl-C or SIGTERM); kept what was tracked")
    ended = time.perf_counter()
    tracking_started = driver.tracking_started
    reports = tuple(
        StreamReport(
            name=run.spec.name, source=run.spec.source, actor=run.actor, targets=len(run.spec.boxes), frames=run.frames,
            seconds=((run.ended or ended) - run.started) if run.started else 0.0, restarts=driver.failures[run.actor],
            error=run.error, note=run.note, outputs=run.published,
        )
        for run in runs.values()
    )
    return ClusterReport(
        streams=reports, actors=len(groups), startup_seconds=(tracking_started or ended) - started,
        tracking_seconds=ended - tracking_started if tracking_started else 0.0, tick_seconds=tuple(driver.ticks),
        interrupted=interrupted,
    )


class _Driver:
    """One call in flight per actor: ``assign`` (streams and checkpoints), then ``step`` after
    ``step``; each answer's rows are written and its states become the checkpoints."""

    def __init__(self, ray, spec: ClusterSpec, groups: List[List[StreamSpec]], runs: Dict[str, _StreamRun],
                 actors: List[Any], names: List[str], on_chunk: Optional[Callable[[ChunkEvent], None]]) -> None:
        self.ray, self.spec, self.groups, self.runs = ray, spec, groups, runs
        self.actors, self.names, self.on_chunk = actors, names, on_chunk
        self.pending: Dict[Any, Tuple[int, str]] = {}  # call -> (actor, "assign" or "step")
        self.failures = [0] * len(groups)  # failures counted against max_restarts
        self.recovering: List[Optional[float]] = [None] * len(groups)  # since when Ray has been restarting it
        self.retry_at: Dict[int, float] = {}  # actor -> when to assign it again
        self.ticks: List[float] = []
        self.tracking_started: Optional[float] = None

    def run(self) -> None:
        for index in range(len(self.groups)):
            self._assign(index)
        while self.pending or self.retry_at:
            now = time.perf_counter()
            for index, when in list(self.retry_at.items()):
                if when <= now:
                    del self.retry_at[index]
                    self._assign(index)
            if not self.pending:
                time.sleep(RETRY_PAUSE_SECONDS / 5)
                continue
            ready, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=RETRY_PAUSE_SECONDS)
            if ready:
                index, kind = self.pending.pop(ready[0])
                try:
                    answer = self.ray.get(ready[0])
                except self.ray.exceptions.RayError as error:
                    self._failed(index, error)
                    continue
                if kind == "assign":
                    self._assigned(index, answer)
                else:
                    self._stepped(index, answer)

    def _unfinished(self, index: int) -> List[_StreamRun]:
        return [self.runs[stream.name] for stream in self.groups[index] if not self.runs[stream.name].finished]

    def _assign(self, index: int) -> None:
        todo = self._unfinished(index)
        if not todo:
            _kill(self.ray, self.actors[index])
            return
        call = self.actors[index].assign.remote([run.spec for run in todo], [run.checkpoint for run in todo])
        self.pending[call] = (index, "assign")

    def _step(self, index: int) -> None:
        if not self._unfinished(index):
            _kill(self.ray, self.actors[index])
            return
        self.pending[self.actors[index].step.remote(self.spec.chunk_frames)] = (index, "step")

    def _assigned(self, index: int, opened: List[StreamOpened]) -> None:
        now = time.perf_counter()
        self.tracking_started = self.tracking_started or now
        self.recovering[index] = None
        for answer in opened:
            run = self.runs[answer.name]
            run.opened = run.opened or answer
            run.started = run.started or now
            if answer.error is not None:
                run.finish(error=answer.error)
        self._step(index)

    def _stepped(self, index: int, chunk: GroupChunk) -> None:
        if not chunk.assigned:
            self._count_failure(index, "Ray restarted it (its process died)")
            return
        self.ticks.extend(chunk.tick_seconds)
        events = []
        for stream_chunk in chunk.streams:
            run = self.runs[stream_chunk.name]
            if run.finished:
                continue
            try:
                run.take(stream_chunk)
            except (ValueError, OSError) as error:  # its video cannot be written, say: this stream fails alone
                run.finish(error=str(error).splitlines()[0])
            else:
                if stream_chunk.finished:
                    run.finish(error=stream_chunk.error, note=stream_chunk.note)
            events.append(ChunkEvent(run.spec.name, stream_chunk.rows, run.frames, run.frame_count, run.finished,
                                     index, self.names[index], chunk.pid))
        self._step(index)  # before the callback: the actor works while the caller looks at the rows
        if self.on_chunk is not None:
            for event in events:
                self.on_chunk(event)

    def _failed(self, index: int, error: BaseException) -> None:
        """A call failed: the actor died (Ray restarts it, or has given up on it) or raised."""
        exceptions = self.ray.exceptions
        reason = _actor_error(error)
        if isinstance(error, exceptions.ActorDiedError):
            self._give_up(index, reason if error.actor_init_failed else f"its actor died and Ray will not restart it: {reason}")
        elif isinstance(error, exceptions.RayActorError) and self.recovering[index] is not None:
            # Still restarting after the failure already counted: ask again in a moment.
            if time.perf_counter() - self.recovering[index] > RECOVERY_SECONDS:
                self._give_up(index, f"its actor did not come back within {RECOVERY_SECONDS:g} s: {reason}")
            else:
                self.retry_at[index] = time.perf_counter() + RETRY_PAUSE_SECONDS
        elif self._count_failure(index, reason, assign=False):
            self.recovering[index] = time.perf_counter()
            self.retry_at[index] = time.perf_counter() + (RETRY_PAUSE_SECONDS if isinstance(error, exceptions.RayActorError) else 0.0)

    def _count_failure(self, index: int, reason: str, assign: bool = True) -> bool:
        """Count a failure against max_restarts; False when that was one too many (streams failed)."""
        self.failures[index] += 1
        if self.failures[index] > self.spec.max_restarts:
            self._give_up(index, f"its actor failed {self.failures[index]} times (max_restarts {self.spec.max_restarts}); "
                                 f"last: {reason}")
            return False
        where = ", ".join(f"{run.spec.name} at frame {run.frames}" for run in self._unfinished(index))
        log.warning("actor %d: %s; resuming its streams from their checkpoints (%s)", index, reason, where)
        if assign:
            self._assign(index)
        return True

    def _give_up(self, index: int, reason: str) -> None:
        for run in self._unfinished(index):
            run.finish(error=reason)
        self.retry_at.pop(index, None)
        _kill(self.ray, self.actors[index])


def _resolved_streams(streams: Sequence[StreamSpec]) -> List[StreamSpec]:
    """The streams with file and folder sources made absolute (actors need not share the driver's
    working directory); a missing file is a ValueError now rather than a failed stream later."""
    resolved = []
    for index, stream in enumerate(streams):
        if not stream.live:
            if not os.path.exists(stream.source):
                raise ValueError(f"streams[{index}] ({stream.name}): source not found: {stream.source}")
            stream = dataclasses.replace(stream, source=os.path.abspath(stream.source))
        resolved.append(stream)
    return resolved


def _check_model(model: str) -> None:
    for path in model_kind(model).files(model):
        if not os.path.isfile(path):
            raise ValueError(f"model file not found: {path}")


def _check_outputs(spec: ClusterSpec, streams: Sequence[StreamSpec], model: str,
                   force: bool) -> Dict[str, Tuple[Optional[str], Optional[str]]]:
    """Every stream's ``(boxes path, video path)``, checked as ``tracker.run`` checks its outputs."""
    paths = {stream.name: (spec.outputs.boxes_path(stream.name), spec.outputs.video_path(stream.name)) for stream in streams}
    inputs = [(f"the source of {stream.name}", stream.source) for stream in streams if not stream.live]
    inputs += [("the model", path) for path in model_kind(model).files(model)]
    outputs = [(f"{name}'s {label}", path) for name, pair in paths.items()
               for label, path in zip(("boxes", "video"), pair) if path]
    check_separate(inputs, outputs)
    for name, (boxes, video) in paths.items():
        for path, extensions in ((boxes, BOX_FORMATS), (video, VIDEO_EXTENSIONS)):
            if path:
                for stale in check_output_path(path, force, extensions):
                    log.warning("removed %s, left by an earlier run that was killed", stale)
    return paths


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ValueError(f"tracker.cluster runs on Ray, which is not installed: {RAY_INSTALL}") from None
    return ray


def _start_ray(ray, address: Optional[str], num_cpus: Optional[int]) -> None:
    # No usage report leaves the machine unless the user's environment asks for it.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    options = dict(include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    if address is not None:
        ray.init(address=address, **options)
    else:
        ray.init(num_cpus=num_cpus or _local_cpus(), **options)


def _local_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _actor_count(ray, spec: ClusterSpec, streams: int, local: bool) -> int:
    cpus = int(ray.cluster_resources().get("CPU", 0))
    count = spec.actors or max(1, min(streams, cpus // spec.cpus_per_actor))
    if spec.actors and spec.actors > streams:
        log.warning("%d actors asked for, but only %d stream(s): running %d", spec.actors, streams, streams)
        count = streams
    needed = count * spec.cpus_per_actor
    if needed > cpus:
        message = (f"{count} actor(s) of {spec.cpus_per_actor} CPU(s) need {needed} CPUs, and the Ray cluster has {cpus}: "
                   "lower actors or cpus_per_actor")
        if local:
            raise ValueError(message + " (or give Ray more with --num-cpus)")
        log.warning("%s; the actors that do not fit wait until the cluster grows", message)
    return count


def _place(streams: Sequence[StreamSpec], actors: int) -> List[List[StreamSpec]]:
    """Streams over ``actors`` groups, balancing targets (most targets first, to the least loaded
    actor); each group keeps the spec's order. Deterministic, so a re-run places alike."""
    loads = [0] * actors
    members: List[List[int]] = [[] for _ in range(actors)]
    for index in sorted(range(len(streams)), key=lambda i: (-len(streams[i].boxes), i)):
        target = min(range(actors), key=lambda a: (loads[a], a))
        loads[target] += len(streams[index].boxes)
        members[target].append(index)
    return [[streams[i] for i in sorted(group)] for group in members]


def _kill(ray, actor) -> None:
    try:
        ray.kill(actor, no_restart=True)
    except Exception:  # already gone
        pass


def _actor_error(error: BaseException) -> str:
    """The useful line of a Ray error (they run to dozens of lines, with colour codes)."""
    cause = getattr(error, "cause", None)  # a RayTaskError's: what the actor's method raised
    if isinstance(cause, BaseException) and not isinstance(cause, type(error)):
        lines = [f"{type(cause).__name__}: {str(cause).strip()}"]
    else:
        lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(error).splitlines()]
        lines = [line for line in lines if line]
        if getattr(error, "actor_init_failed", False) and lines:
            # The message ends with the traceback of __init__: its last line says what went wrong.
            return f"the actor could not start: {lines[-1]}"
    return lines[0].splitlines()[0] if lines else type(error).__name__


def _decode(encoded: bytes):
    import cv2
    import numpy as np

    return cv2.imdecode(np.frombuffer(encoded, np.uint8), cv2.IMREAD_COLOR)
