"""Training pairs: a cache of pre-cropped patches, SiamFC pair sampling, and batches.

Every annotated frame of a training sequence is cropped once, centred on its target at
the search crop's scale (context 0.5, the target's search crop resized to
``search_size``), with a margin for augmentation, and cached as uint8 on disk, so an
epoch costs network time, not JPEG decoding. A template is the centre of one patch and
the search crop comes from another frame of the same track at most ``max_frame_gap``
frames away. Same-frame pairs (template and search from one frame, independently
augmented) are also drawn from random boxes of the training frames, as trackers trained
on still images do, to show the network objects other than the few annotated targets.

A sequence's cache is a folder of ``.npy`` arrays read memory-mapped: the corpus's 21,000
frames take ~15 GB, more than a small machine's memory, and the pages a batch touches are
what the operating system keeps.
"""
from __future__ import annotations

import functools
import hashlib
import multiprocessing
import os
import shutil
from dataclasses import dataclass
from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from tqdm import tqdm

from .. import geometry
from ..boxes import xywh_to_center_size
from ..datasets import read_image
from .augment import AugmentConfig, paste_distractor, photometric, warp_patch
from .labels import balanced_weights, box_targets, response_labels

PATCH_MARGIN = 48  # extra pixels around the 255 search crop, room for shifts and stretch
CACHE_ARRAYS = ("frames", "targets", "randoms", "target_sizes", "random_sizes")


@dataclass(frozen=True)
class TrainingSequence:
    """What training needs of a sequence: its frames and 0-based boxes (NaN rows = absent)."""

    name: str
    frame_paths: Sequence[str]
    boxes: np.ndarray


def valid_frames(boxes: np.ndarray, min_size: float = 4.0) -> np.ndarray:
    """Indices of frames whose box is present (not NaN) and not degenerate."""
    boxes = np.asarray(boxes, dtype=np.float64)
    finite = np.isfinite(boxes).all(axis=1)
    sized = np.zeros(len(boxes), dtype=bool)
    sized[finite] = (boxes[finite, 2] >= min_size) & (boxes[finite, 3] >= min_size)
    return np.flatnonzero(finite & sized)


def sample_pair_positions(frame_numbers: np.ndarray, max_frame_gap: int, rng: np.random.Generator) -> Tuple[int, int]:
    """Positions in ``frame_numbers`` (the valid frames, sorted) of a template and a search
    frame at most ``max_frame_gap`` frames apart (the same frame when it has no neighbour)."""
    template = int(rng.integers(len(frame_numbers)))
    near = np.flatnonzero(np.abs(frame_numbers - frame_numbers[template]) <= max_frame_gap)
    return template, int(near[rng.integers(len(near))])


def crop_patch(frame: np.ndarray, box, context: float, exemplar_size: int, search_size: int) -> np.ndarray:
    """The search-scale patch around ``box`` with ``PATCH_MARGIN`` extra pixels each side."""
    center, size = xywh_to_center_size(box)
    _, search_crop = geometry.context_crop_sizes(size, context, exemplar_size, search_size)
    patch_size = search_size + 2 * PATCH_MARGIN
    fill = frame.reshape(-1, 3).mean(axis=0)
    return geometry.crop_and_resize(frame, center, search_crop * patch_size / search_size, patch_size, fill)


def patch_target_size(box, context: float, exemplar_size: int, search_size: int) -> np.ndarray:
    """``(w, h)`` of ``box``'s target in its patch's pixels (the search crop's scale)."""
    _, size = xywh_to_center_size(box)
    _, search_crop = geometry.context_crop_sizes(size, context, exemplar_size, search_size)
    return size * search_size / search_crop


def random_box(width: int, height: int, rng: np.random.Generator) -> Tuple[float, float, float, float]:
    """A box of 5-30% of the frame's shorter side and aspect 1:2..2:1 inside the frame."""
    side = rng.uniform(0.05, 0.3) * min(width, height)
    aspect = np.exp(rng.uniform(np.log(0.5), np.log(2.0)))
    w, h = side * np.sqrt(aspect), side / np.sqrt(aspect)
    return (rng.uniform(0, width - w), rng.uniform(0, height - h), w, h)


class PatchCache:
    """Per-sequence arrays of target patches (and one random-box patch per frame), on disk."""

    def __init__(self, cache_dir: str, context: float, exemplar_size: int, search_size: int, seed: int = 0, frame_step: int = 1) -> None:
        if frame_step < 1:
            raise ValueError(f"data.frame_step must be >= 1, got {frame_step}")
        self.cache_dir = cache_dir
        self.context, self.exemplar_size, self.search_size, self.seed = context, exemplar_size, search_size, seed
        self.frame_step = frame_step
        os.makedirs(cache_dir, exist_ok=True)

    def _path(self, sequence: TrainingSequence, max_frames: Optional[int]) -> str:
        # "v3": a folder of .npy arrays (v2, one .npz, had to be read whole into memory);
        # patches carry their targets' sizes (for the box head's labels).
        key = (f"v3|{sequence.name}|{len(sequence.frame_paths)}|{self.context}|{self.exemplar_size}|{self.search_size}|"
               f"{PATCH_MARGIN}|{self.seed}|{self.frame_step}|{max_frames}")
        digest = hashlib.sha1(key.encode()).hexdigest()[:12]
        return os.path.join(self.cache_dir, f"{sequence.name}-{digest}")

    def is_built(self, sequence: TrainingSequence, max_frames: Optional[int] = None) -> bool:
        return os.path.isdir(self._path(sequence, max_frames))

    def build(self, sequence: TrainingSequence, max_frames: Optional[int] = None) -> str:
        """Build the sequence's cache unless it exists (for a process pool); returns its name."""
        if not self.is_built(sequence, max_frames):
            self._build(sequence, max_frames, self._path(sequence, max_frames))
        return sequence.name

    def build_all(self, sequences: Sequence[TrainingSequence], max_frames: Optional[int] = None,
                  workers: Optional[int] = None, progress: bool = True) -> None:
        """Build the missing caches, ``workers`` sequences at a time (default: one per CPU):
        decoding and cropping is CPU-bound (the corpus's 21,000 frames: 5 min 51 s on 2 cores)."""
        missing = [s for s in sequences if not self.is_built(s, max_frames)]
        workers = min(len(missing), workers or os.cpu_count() or 1)
        bar = tqdm(total=len(missing), desc="patch cache", disable=not progress or not missing)
        if workers <= 1:
            for sequence in missing:
                self.build(sequence, max_frames)
                bar.update()
        else:
            # spawn, not fork: the parent may already run torch's and OpenCV's thread pools.
            with multiprocessing.get_context("spawn").Pool(workers) as pool:
                for _ in pool.imap_unordered(functools.partial(self.build, max_frames=max_frames), missing):
                    bar.update()
        bar.close()

    def load(self, sequence: TrainingSequence, max_frames: Optional[int] = None) -> dict:
        """The sequence's arrays (built and written first if absent), memory-mapped read-only."""
        self.build(sequence, max_frames)
        path = self._path(sequence, max_frames)
        return {name: np.load(os.path.join(path, name + ".npy"), mmap_mode="r") for name in CACHE_ARRAYS}

    def _build(self, sequence: TrainingSequence, max_frames: Optional[int], path: str) -> None:
        rng = np.random.default_rng(self.seed)
        valid = valid_frames(sequence.boxes)[:: self.frame_step]
        if max_frames is not None:
            valid = valid[:max_frames]
        patch_size = self.search_size + 2 * PATCH_MARGIN
        # Written straight into memory-mapped files: a long sequence's patches need not fit in memory.
        temporary = f"{path}.{os.getpid()}.partial"
        shutil.rmtree(temporary, ignore_errors=True)
        os.makedirs(temporary)
        patches = {name: np.lib.format.open_memmap(os.path.join(temporary, name + ".npy"), mode="w+", dtype=np.uint8,
                                                   shape=(len(valid), patch_size, patch_size, 3))
                   for name in ("targets", "randoms")}
        target_sizes, random_sizes = [], []
        for position, index in enumerate(valid):
            frame = read_image(sequence.frame_paths[index])
            patches["targets"][position] = crop_patch(frame, sequence.boxes[index], self.context, self.exemplar_size, self.search_size)
            target_sizes.append(patch_target_size(sequence.boxes[index], self.context, self.exemplar_size, self.search_size))
            box = random_box(frame.shape[1], frame.shape[0], rng)
            patches["randoms"][position] = crop_patch(frame, box, self.context, self.exemplar_size, self.search_size)
            random_sizes.append(patch_target_size(box, self.context, self.exemplar_size, self.search_size))
        for array in patches.values():
            array.flush()
        del patches
        small = {"frames": valid.astype(np.int64), "target_sizes": np.array(target_sizes, dtype=np.float32).reshape(-1, 2),
                 "random_sizes": np.array(random_sizes, dtype=np.float32).reshape(-1, 2)}
        for name, array in small.items():
            np.save(os.path.join(temporary, name + ".npy"), array)
        try:
            os.rename(temporary, path)
        except OSError:
            # Another process built the same sequence first: its copy is as good as ours.
            shutil.rmtree(temporary, ignore_errors=True)


SEQUENCE_WEIGHTINGS = {"frames": lambda n: n, "sqrt_frames": np.sqrt, "uniform": np.ones_like}


def sequence_weights(frame_counts, weighting: str) -> np.ndarray:
    """The probability of drawing each sequence, from its number of frames (``PairConfig.sequence_weighting``)."""
    weights = SEQUENCE_WEIGHTINGS[weighting](np.asarray(frame_counts, dtype=np.float64))
    return weights / weights.sum()


@dataclass(frozen=True)
class PairConfig:
    max_frame_gap: int = 100
    same_frame_fraction: float = 0.25  # share of pairs cut from random boxes of one frame
    positive_radius: float = 16.0  # pixels of the search crop
    # Share of pairs whose search crop holds another sequence's target and no target of its
    # own (SiamRPN++/SiamFC++'s negative pairs): every cell is background, so the head learns
    # that an object that is merely salient is not the one in the template.
    negative_fraction: float = 0.0
    # Added to the run's seed for the pairs and their augmentation only. The run's seed also
    # keys the patch cache, so a run continuing another (init_from) sets this instead, to
    # draw other pairs than its predecessor did without rebuilding the cache.
    seed_offset: int = 0
    # How often each sequence is drawn: in proportion to its frames ("frames"), to their
    # square root ("sqrt_frames") or equally ("uniform"). With a few long videos in a small
    # corpus, "frames" spends most pairs on them; the others spread the pairs over more
    # distinct targets and scenes (GOT-10k and SiamFC++ draw videos uniformly).
    sequence_weighting: str = "frames"
    # Box head only: the share of two-frame pairs cut around the same part of the target in
    # both frames (a sub-box of 35-85% of each side, at the same place within the box)
    # instead of the whole target. The box edges are then the template's, not the object's:
    # a face tracked on a person whose box must not grow to the whole body.
    part_fraction: float = 0.0

    def __post_init__(self) -> None:
        for name in ("same_frame_fraction", "negative_fraction", "part_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"pairs.{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.sequence_weighting not in SEQUENCE_WEIGHTINGS:
            raise ValueError(f"pairs.sequence_weighting must be one of {', '.join(SEQUENCE_WEIGHTINGS)}, got {self.sequence_weighting!r}")
        if self.seed_offset < 0:
            raise ValueError(f"pairs.seed_offset must be >= 0, got {self.seed_offset}")


class DrawnPair(NamedTuple):
    """The patches of one pair before augmentation; sizes are the targets' ``(w, h)`` in
    their patches' pixels (``search_size`` None: a negative pair, no target in the search)."""

    template: np.ndarray
    search: np.ndarray
    search_size: Optional[np.ndarray]
    template_size: np.ndarray
    sequence: int
    two_frames: bool  # two frames of one track (not a same-frame or negative pair)


def part_of_target(template_size, search_size, context: float, rng: np.random.Generator,
                   fraction_range: Tuple[float, float] = (0.35, 0.85)):
    """A random sub-box of the target, the same in both frames relative to each frame's box.

    Returns, per frame, the sub-box centre's offset from the patch centre (patch pixels),
    the zoom that makes the sub-box's context crop fill the crop as the whole target's did
    (the patch was cut at the whole target's search scale), and the sub-box's ``(w, h)``.
    """
    fractions = np.exp(rng.uniform(np.log(fraction_range[0]), np.log(fraction_range[1]), 2))
    place = rng.uniform(-0.5, 0.5, 2) * (1.0 - fractions)  # sub-box centre in units of the box's sides
    frames = []
    for size in (template_size, search_size):
        size = np.asarray(size, dtype=np.float64)
        part = size * fractions
        # Template and search crops share one image-to-crop scale, so the ratio of the
        # template crops is the zoom for both (the crop sizes themselves drop out).
        whole_crop = geometry.context_crop_sizes(size, context, 1, 1)[0]
        part_crop = geometry.context_crop_sizes(part, context, 1, 1)[0]
        frames.append((place * size, whole_crop / part_crop, part))
    return frames


class PairBatcher:
    """Draws augmented (template, search, labels, weights) batches from cached sequences."""

    def __init__(self, cached: List[dict], exemplar_size: int, search_size: int, response_size: int,
                 total_stride: int, pairs: PairConfig, augment: AugmentConfig, seed: int = 0, context: float = 0.5) -> None:
        if not cached:
            raise ValueError("no training sequences with valid boxes")
        self.cached = cached
        self.exemplar_size, self.search_size = exemplar_size, search_size
        self.response_size, self.total_stride = response_size, total_stride
        self.pairs, self.augment, self.context = pairs, augment, context
        self.rng = np.random.default_rng(seed)
        self.sequence_weights = sequence_weights([len(c["frames"]) for c in cached], pairs.sequence_weighting)

    def draw_patches(self) -> "DrawnPair":
        """A template and a search patch of one sequence, or of two for a negative pair (the
        search patch is another sequence's target and ``search_size`` is None)."""
        rng = self.rng
        sequence = int(rng.choice(len(self.cached), p=self.sequence_weights))
        data = self.cached[sequence]
        frames = data["frames"]
        if self.pairs.negative_fraction > 0 and len(self.cached) > 1 and rng.random() < self.pairs.negative_fraction:
            other = self.cached[self.other_sequence(sequence)]
            template = int(rng.integers(len(frames)))
            search = other["targets"][int(rng.integers(len(other["frames"])))]
            return DrawnPair(data["targets"][template], search, None, data["target_sizes"][template], sequence, False)
        if rng.random() < self.pairs.same_frame_fraction:
            index = int(rng.integers(len(frames)))
            size = data["random_sizes"][index]
            return DrawnPair(data["randoms"][index], data["randoms"][index], size, size, sequence, False)
        first, second = sample_pair_positions(frames, self.pairs.max_frame_gap, rng)
        return DrawnPair(data["targets"][first], data["targets"][second], data["target_sizes"][second],
                         data["target_sizes"][first], sequence, True)

    def other_sequence(self, sequence: int) -> int:
        """A uniformly drawn sequence index other than ``sequence`` (there must be two)."""
        return int((sequence + 1 + self.rng.integers(len(self.cached) - 1)) % len(self.cached))

    def sample(self):
        """One pair: template (E,E,3) uint8, search (X,X,3) uint8, labels and weights (R,R)."""
        rng, augment = self.rng, self.augment
        drawn = self.draw_patches()
        template_patch, search_patch, target_size = drawn.template, drawn.search, drawn.search_size
        flip = rng.random() < augment.flip_probability
        stretch = lambda: 1.0 + rng.uniform(-augment.stretch, augment.stretch)
        template_shift = rng.uniform(-augment.template_shift, augment.template_shift, 2)
        search_shift = rng.uniform(-augment.search_shift, augment.search_shift, 2)
        # Cutting the template at exemplar_size from the search-scale patch gives exactly the
        # template's context crop; shifting the crop window by s moves the target by -s.
        template = warp_patch(template_patch, self.exemplar_size, stretch(), tuple(template_shift), flip)
        search_scale = stretch()
        search = warp_patch(search_patch, self.search_size, search_scale, tuple(search_shift), flip)
        target_offset = (-search_shift[0] * search_scale * (-1 if flip else 1), -search_shift[1] * search_scale)
        labels = response_labels(self.response_size, self.total_stride, self.pairs.positive_radius,
                                 None if target_size is None else target_offset)
        return photometric(template, augment, rng), photometric(search, augment, rng), labels, balanced_weights(labels)

    def batch(self, size: int):
        samples = [self.sample() for _ in range(size)]
        return tuple(np.stack(parts) for parts in zip(*samples))


class BoxPairBatcher(PairBatcher):
    """Pairs for the box head: the search crop is also rescaled and stretched
    (``augment.search_scale_jitter``/``search_aspect_jitter``) and shifted, and the labels
    are :func:`tracker.train.labels.box_targets` of where the target ends up."""

    def sample(self):
        """One pair: template (E,E,3) uint8, search (X,X,3) uint8, and the box targets."""
        rng, augment = self.rng, self.augment
        drawn = self.draw_patches()
        target_size = drawn.search_size
        # Both patches sit at their whole target's search scale; a part pair recentres and
        # zooms each on the same sub-box (checked first, so configs without parts draw as before).
        template_offset, search_offset, template_zoom, search_zoom = np.zeros(2), np.zeros(2), 1.0, 1.0
        if self.pairs.part_fraction > 0 and drawn.two_frames and rng.random() < self.pairs.part_fraction:
            (template_offset, template_zoom, _), (search_offset, search_zoom, target_size) = part_of_target(
                drawn.template_size, drawn.search_size, self.context, rng)
        flip = rng.random() < augment.flip_probability
        stretch = (1.0 + rng.uniform(-augment.stretch, augment.stretch)) * template_zoom
        template_shift = rng.uniform(-augment.template_shift, augment.template_shift, 2) / template_zoom + template_offset
        template = warp_patch(drawn.template, self.exemplar_size, stretch, tuple(template_shift), flip)
        scale = np.exp(rng.uniform(-augment.search_scale_jitter, augment.search_scale_jitter))
        aspect = np.exp(rng.uniform(-augment.search_aspect_jitter, augment.search_aspect_jitter))
        scale_xy = np.array([scale * np.sqrt(aspect), scale / np.sqrt(aspect)]) * search_zoom
        # The shift is drawn in crop pixels, so a zoomed part moves as far in the crop as a whole target.
        search_shift = rng.uniform(-augment.search_shift, augment.search_shift, 2) / search_zoom
        search = warp_patch(drawn.search, self.search_size, tuple(scale_xy), tuple(search_shift + search_offset), flip)
        # The target (or part) sat at the patch centre (+ offset); warp_patch moves it by -shift * scale (mirrored in x).
        centre = (-search_shift[0] * scale_xy[0] * (-1 if flip else 1), -search_shift[1] * scale_xy[1])
        box = None if target_size is None else (centre[0], centre[1], float(target_size[0] * scale_xy[0]), float(target_size[1] * scale_xy[1]))
        targets = box_targets(box, self.response_size, self.total_stride)
        # Checked before drawing, so that configs without distractors draw the pairs they always did.
        if augment.distractor_probability > 0 and box is not None and len(self.cached) > 1 and rng.random() < augment.distractor_probability:
            other = self.cached[self.other_sequence(drawn.sequence)]
            index = int(rng.integers(len(other["frames"])))
            search = paste_distractor(search, other["targets"][index], other["target_sizes"][index], box, rng)
        return photometric(template, augment, rng), photometric(search, augment, rng), targets

    def batch(self, size: int):
        samples = [self.sample() for _ in range(size)]
        templates, searches, targets = zip(*samples)
        return np.stack(templates), np.stack(searches), {key: np.stack([t[key] for t in targets]) for key in targets[0]}
