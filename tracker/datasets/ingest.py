"""Build the training corpus from fetched repositories: ``python -m tracker.datasets.ingest``.

For every entry of the source manifest (default: the packaged ``sources.yaml``, the
machine-readable ``../shared/data/SOURCES.md``) it reads the frames and the box file
straight out of the fetched git directory at the listed commit (or out of an unpacked copy
of the repository), converts the boxes with the dataset's convention (1-based ``x,y,w,h``,
VOT polygons to axis-aligned boxes, LaSOT occlusion flags to NaN) and writes the sequence in
the OTB layout::

    CORPUS/<name>/img/0001.jpg ...           the source's frame files, byte for byte
    CORPUS/<name>/groundtruth_rect.txt       1-based x,y,w,h, NaN,NaN,NaN,NaN = not visible
    CORPUS/splits.csv                        name,split (train, or val for held-out sequences)
    CORPUS/corpus.json                       per sequence: source repo@commit, frames, sha256 of the boxes

so ``python -m tracker.train --data CORPUS`` reads it as it reads ``../shared/data``.

It refuses (before writing anything) a manifest that lists a RESERVED or eval-split
sequence, and stops if any frame is byte-identical to a frame of an eval-split sequence of
``--data``. Entries whose repository is not fetched are skipped and reported; a sequence
whose frames were already taken under another name is skipped as a duplicate. A sequence
already written with the same frames and boxes is kept as it is, so a run can be repeated
or resumed. Repositories are looked for as ``MIRRORS/<owner>+<name>`` (what the ``fetch``
tool writes: a git directory, possibly inside ``repo/``) or ``MIRRORS/<owner>/<name>``.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence, Set, Tuple

import numpy as np

from .annotations import parse_box_lines
from .corpus import CORPUS_ENV, CORPUS_FILE, read_corpus
from .decode import IMAGE_EXTENSIONS
from .lasot import hide_flagged, parse_flags
from .manifest import Entry, Manifest, Source, check_manifest, load_manifest
from .otb import OTB_BOXES
from .splits import SPLITS_FILE, default_data_root, read_splits, repository_root
from .vot import parse_vot_lines

MIRRORS_ENV = "SIAMTRACK_MIRRORS"
# A sequence sharing at least this share of its frames with one already taken is a duplicate.
DUPLICATE_SHARE = 0.5
_FRAME_NAME = re.compile(r"^(\D*)(\d+)(\.[A-Za-z]+)$")


def blob_id(data: bytes) -> str:
    """Git's object id of a file's bytes (``git hash-object``), so unpacked files compare with blobs."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


# Repositories ------------------------------------------------------------------------------

class GitRepository:
    """Files of a git directory at given commits, read with ``git ls-tree`` and ``git cat-file``."""

    def __init__(self, git_dir: str):
        self.location = git_dir

    def _git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["git", f"--git-dir={self.location}", *args], capture_output=True, check=check)

    def has_commit(self, commit: str) -> bool:
        return self._git("cat-file", "-e", f"{commit}^{{commit}}", check=False).returncode == 0

    def list_folder(self, commit: str, folder: str) -> List[Tuple[str, str]]:
        """``(file name, object id)`` of the files directly inside ``folder`` at ``commit``."""
        result = self._git("ls-tree", "-z", commit, "--", folder.rstrip("/") + "/", check=False)
        if result.returncode != 0:
            raise ValueError(f"{self.location}: cannot list {folder} at {commit[:12]}: {result.stderr.decode(errors='replace').strip()}")
        files = []
        for record in result.stdout.split(b"\0"):
            if not record:
                continue
            meta, path = record.split(b"\t", 1)
            _, kind, object_id = meta.decode().split()
            if kind == "blob":
                files.append((os.path.basename(path.decode("utf-8", errors="surrogateescape")), object_id))
        return files

    def read_objects(self, specs: Sequence[str]) -> Iterator[Tuple[str, bytes]]:
        """``(spec, bytes)`` for object ids or ``commit:path`` specs, streamed through one ``git cat-file --batch``."""
        process = subprocess.Popen(["git", f"--git-dir={self.location}", "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            for spec in specs:
                process.stdin.write(spec.encode("utf-8", errors="surrogateescape") + b"\n")
                process.stdin.flush()
                header = process.stdout.readline().decode("utf-8", errors="replace").split()
                if len(header) != 3:
                    raise ValueError(f"{self.location}: {spec} is missing from the fetched copy (git says {' '.join(header)!r}; snapshots lack files of 4 MiB and more)")
                data = process.stdout.read(int(header[2]))
                process.stdout.read(1)
                yield spec, data
        finally:
            process.stdin.close()
            process.stdout.close()
            process.wait()

    def read_file(self, commit: str, path: str) -> bytes:
        return next(self.read_objects([f"{commit}:{path}"]))[1]

    def describe(self, repo: str, commit: str) -> str:
        return f"{repo}@{commit}"


class FolderRepository:
    """An unpacked copy of a repository (a plain folder tree); the commit cannot be checked."""

    def __init__(self, folder: str):
        self.location = folder

    def has_commit(self, commit: str) -> bool:
        return True

    def list_folder(self, commit: str, folder: str) -> List[Tuple[str, str]]:
        path = os.path.join(self.location, folder)
        if not os.path.isdir(path):
            raise ValueError(f"{self.location}: no folder {folder}")
        files = []
        for name in sorted(os.listdir(path)):
            full = os.path.join(path, name)
            if os.path.isfile(full):
                with open(full, "rb") as handle:
                    files.append((name, blob_id(handle.read())))
        return files

    def read_objects(self, specs: Sequence[str]) -> Iterator[Tuple[str, bytes]]:
        raise NotImplementedError  # frames of an unpacked copy are read by path (read_frame)

    def read_file(self, commit: str, path: str) -> bytes:
        full = os.path.join(self.location, path)
        if not os.path.isfile(full):
            raise ValueError(f"{self.location}: no file {path}")
        with open(full, "rb") as handle:
            return handle.read()

    def describe(self, repo: str, commit: str) -> str:
        return f"{repo}@{commit} (unpacked copy, commit not checked)"


def _is_git_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "HEAD")) and os.path.isdir(os.path.join(path, "objects"))


def find_repository(mirrors: str, repo: str):
    """The fetched copy of ``owner/name`` under ``mirrors``: a GitRepository, a FolderRepository, or None."""
    owner, name = repo.split("/", 1)
    roots = [os.path.join(mirrors, f"{owner}+{name}"), os.path.join(mirrors, owner, name)]
    for root in roots:
        for candidate in (os.path.join(root, "repo", ".git"), os.path.join(root, "repo"), os.path.join(root, ".git"), root):
            if os.path.isdir(candidate) and _is_git_dir(candidate):
                return GitRepository(candidate)
    for root in roots:
        for candidate in (os.path.join(root, "repo"), root):
            if os.path.isdir(candidate) and os.listdir(candidate):
                return FolderRepository(candidate)
    return None


# Reading one entry -------------------------------------------------------------------------

@dataclass
class Prepared:
    """An entry read from its source, before anything is written."""

    entry: Entry
    source: Source
    repository: object
    frame_names: List[str]  # file names inside source.frames, in frame order
    frame_ids: List[str]  # their git object ids
    boxes: np.ndarray  # 0-based, one row per frame
    described: str  # repo@commit
    boxes_described: str

    @property
    def groundtruth(self) -> str:
        return format_groundtruth(self.boxes)

    @property
    def frames_sha256(self) -> str:
        return hashlib.sha256("\n".join(self.frame_ids).encode()).hexdigest()


def select_frames(files: List[Tuple[str, str]], frame_range: Optional[Tuple[int, int]], where: str) -> List[Tuple[int, str, str]]:
    """``(number, name, id)`` of the numbered image files (one shared name prefix), in ``frame_range``, by number."""
    numbered, prefixes = [], set()
    for name, object_id in files:
        match = _FRAME_NAME.match(name)
        if match and match.group(3).lower() in IMAGE_EXTENSIONS:
            prefixes.add(match.group(1))
            numbered.append((int(match.group(2)), name, object_id))
    if len(prefixes) > 1:
        raise ValueError(f"{where}: frame names have different prefixes ({', '.join(sorted(prefixes))}); expected one numbering")
    numbered.sort()
    if len({n for n, _, _ in numbered}) != len(numbered):
        raise ValueError(f"{where}: two frame files have the same number")
    if frame_range is not None:
        numbered = [f for f in numbered if frame_range[0] <= f[0] <= frame_range[1]]
    return numbered


def convert_boxes(entry: Entry, text: str, flag_texts: Sequence[str], where: str) -> np.ndarray:
    """0-based boxes of ``entry`` from its box file's text (cut to ``box_lines``), in its format."""
    lines = text.splitlines()
    line_numbers = [number for number, line in enumerate(lines, start=1) if line.strip()]
    if entry.format == "vot-polygon":
        boxes = parse_vot_lines(lines, where)
    else:
        boxes = parse_box_lines(lines, where, one_based=True)
    if entry.format == "lasot":
        flags = [parse_flags(t.splitlines(), f"{where} flags", len(boxes)) for t in flag_texts]
        boxes = hide_flagged(boxes, *flags)
    if entry.box_lines is not None:
        first, last = entry.box_lines
        if last > len(lines):
            raise ValueError(f"{where}: box_lines {first}-{last} but the file has {len(lines)} lines")
        keep = [i for i, number in enumerate(line_numbers) if first <= number <= last]
        boxes = boxes[keep]
    return boxes


def format_groundtruth(boxes: np.ndarray) -> str:
    """OTB ``groundtruth_rect.txt`` text: 1-based ``x,y,w,h`` per line, ``NaN,NaN,NaN,NaN`` when not visible."""
    rows = []
    for x, y, w, h in boxes:
        if not np.isfinite([x, y, w, h]).all():
            rows.append("NaN,NaN,NaN,NaN")
        else:
            rows.append(",".join(f"{v:.10g}" for v in (x + 1.0, y + 1.0, w, h)))
    return "\n".join(rows) + "\n"


def _open_source(mirrors: str, source: Source, cache: Dict[str, object]) -> Tuple[Optional[object], Optional[object], str]:
    """The repositories of a source's frames and boxes, or a reason why they cannot be read."""
    def get(repo):
        if repo not in cache:
            cache[repo] = find_repository(mirrors, repo)
        return cache[repo]

    frames_repo, boxes_repo = get(source.repo), get(source.box_repo)
    missing = [r for r, found in ((source.repo, frames_repo), (source.box_repo, boxes_repo)) if found is None]
    if missing:
        return None, None, "not fetched: " + ", ".join(f"github:{r}" for r in dict.fromkeys(missing))
    for repo, found, commit in ((source.repo, frames_repo, source.commit), (source.box_repo, boxes_repo, source.box_commit)):
        if not found.has_commit(commit):
            return None, None, f"commit {commit[:12]} is not in the fetched copy of {repo}"
    return frames_repo, boxes_repo, ""


def prepare(entry: Entry, mirrors: str, cache: Dict[str, object]) -> Tuple[Optional[Prepared], str]:
    """Read an entry from the first of its sources that is fetched; ``(None, why)`` when none is.

    ValueError when a fetched source does not hold what the manifest says (counts, files).
    """
    reasons = []
    for source in entry.sources:
        frames_repo, boxes_repo, reason = _open_source(mirrors, source, cache)
        if frames_repo is None:
            reasons.append(reason)
            continue
        where = f"{entry.name} ({source.repo}:{source.frames})"
        frames = select_frames(frames_repo.list_folder(source.commit, source.frames), entry.frame_range, where)
        box_where = f"{entry.name} ({source.box_repo}:{source.boxes})"
        text = boxes_repo.read_file(source.box_commit, source.boxes).decode("utf-8", errors="replace")
        flag_texts = [boxes_repo.read_file(source.box_commit, f).decode("utf-8", errors="replace") for f in source.flags]
        boxes = convert_boxes(entry, text, flag_texts, box_where)
        if len(boxes) != len(frames):
            raise ValueError(
                f"{where}: {len(frames)} frames" + (f" in range {entry.frame_range}" if entry.frame_range else "")
                + f" but {len(boxes)} boxes in {source.boxes}" + (f" lines {entry.box_lines}" if entry.box_lines else "")
            )
        if entry.frame_count is not None and len(frames) != entry.frame_count:
            raise ValueError(f"{where}: {len(frames)} frames, but the manifest says {entry.frame_count}")
        if not np.isfinite(boxes[0]).all():
            raise ValueError(f"{where}: the first frame has no box, so no track can start there")
        return Prepared(
            entry, source, frames_repo, [n for _, n, _ in frames], [i for _, _, i in frames], boxes,
            frames_repo.describe(source.repo, source.commit), boxes_repo.describe(source.box_repo, source.box_commit),
        ), ""
    return None, "; ".join(dict.fromkeys(reasons))


# Writing -----------------------------------------------------------------------------------

def _frame_file_name(index: int, source_name: str) -> str:
    extension = os.path.splitext(source_name)[1].lower()
    return f"{index:04d}{'.jpg' if extension == '.jpeg' else extension}"


def _on_disk_matches(folder: str, prepared: Prepared, recorded: Optional[dict]) -> bool:
    """The sequence folder already holds these frames and boxes (checked by sha256/ids, not by date)."""
    boxes_file = os.path.join(folder, OTB_BOXES)
    image_folder = os.path.join(folder, "img")
    if not (os.path.isfile(boxes_file) and os.path.isdir(image_folder)):
        return False
    with open(boxes_file, "rb") as handle:
        if hashlib.sha256(handle.read()).hexdigest() != hashlib.sha256(prepared.groundtruth.encode()).hexdigest():
            return False
    expected = [_frame_file_name(i, n) for i, n in enumerate(prepared.frame_names, start=1)]
    if sorted(os.listdir(image_folder)) != sorted(expected):
        return False
    if recorded and recorded.get("frames_sha256") == prepared.frames_sha256 and recorded.get("boxes_sha256") == _sha256(prepared.groundtruth):
        return True
    # No record to trust: hash the files on disk.
    for name, object_id in zip(expected, prepared.frame_ids):
        with open(os.path.join(image_folder, name), "rb") as handle:
            if blob_id(handle.read()) != object_id:
                return False
    return True


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def write_sequence(out: str, prepared: Prepared, progress=None) -> None:
    """Write one sequence to ``out/<name>`` through a temporary folder, so a crash leaves no half sequence."""
    final = os.path.join(out, prepared.entry.name)
    partial = tempfile.mkdtemp(prefix=f".{prepared.entry.name}.", suffix=".partial", dir=out)
    try:
        os.makedirs(os.path.join(partial, "img"))
        names = [_frame_file_name(i, n) for i, n in enumerate(prepared.frame_names, start=1)]
        repository = prepared.repository
        if isinstance(repository, GitRepository):
            stream = (data for _, data in repository.read_objects(prepared.frame_ids))
        else:
            stream = (repository.read_file("", f"{prepared.source.frames}/{n}") for n in prepared.frame_names)
        for name, expected, data in zip(names, prepared.frame_ids, stream):
            if blob_id(data) != expected:
                raise ValueError(f"{prepared.entry.name}: {name} does not match its object id {expected[:12]}")
            with open(os.path.join(partial, "img", name), "wb") as handle:
                handle.write(data)
            if progress is not None:
                progress.update(1)
        with open(os.path.join(partial, OTB_BOXES), "w", encoding="utf-8", newline="\n") as handle:
            handle.write(prepared.groundtruth)
        if os.path.lexists(final):
            shutil.rmtree(final) if os.path.isdir(final) and not os.path.islink(final) else os.remove(final)
        os.replace(partial, final)
    finally:
        if os.path.isdir(partial):
            shutil.rmtree(partial, ignore_errors=True)


def _write_atomic(path: str, text: str) -> None:
    directory = os.path.dirname(path) or "."
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def _record(prepared: Prepared) -> dict:
    entry, source = prepared.entry, prepared.source
    boxes = prepared.boxes
    return {
        "name": entry.name,
        "dataset": entry.dataset,
        "video": entry.video,
        "split": entry.split,
        "source": f"{source.repo}@{source.commit}",
        "frames_path": source.frames,
        "frame_range": list(entry.frame_range) if entry.frame_range else None,
        "boxes_source": f"{source.box_repo}@{source.box_commit}:{source.boxes}",
        "box_lines": list(entry.box_lines) if entry.box_lines else None,
        "format": entry.format,
        "frames": len(boxes),
        "visible_frames": int(np.isfinite(boxes).all(axis=1).sum()),
        "boxes_sha256": _sha256(prepared.groundtruth),
        "frames_sha256": prepared.frames_sha256,
        "listed_in": entry.listed_in,
    }


def write_index(out: str, manifest: Manifest, records: List[dict], skipped: List[dict]) -> None:
    """``corpus.json`` and ``splits.csv`` for the sequences in ``records`` (atomically)."""
    records = sorted(records, key=lambda r: r["name"].lower())
    with open(manifest.path, "rb") as handle:
        manifest_sha = hashlib.sha256(handle.read()).hexdigest()
    totals: Dict[str, Dict[str, int]] = {}
    for record in records:
        for key in ("all", record["split"]):
            total = totals.setdefault(key, {"sequences": 0, "frames": 0})
            total["sequences"] += 1
            total["frames"] += record["frames"]
    corpus = {
        "written_by": "python -m tracker.datasets.ingest",
        "manifest": os.path.basename(manifest.path),
        "manifest_sha256": manifest_sha,
        "totals": totals,
        "sequences": records,
        "skipped": skipped,
    }
    _write_atomic(os.path.join(out, CORPUS_FILE), json.dumps(corpus, indent=1) + "\n")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["name", "split", "frames", "dataset", "source"])
    for record in records:
        writer.writerow([record["name"], record["split"], record["frames"], record["dataset"], record["source"]])
    _write_atomic(os.path.join(out, SPLITS_FILE), buffer.getvalue())


# Guards ------------------------------------------------------------------------------------

def eval_split_names(data_root: Optional[str]) -> List[str]:
    """The eval-split names of a data folder's split table ([] when there is no such folder)."""
    if not data_root or not os.path.isdir(data_root):
        return []
    try:
        return sorted(n for n, s in read_splits(data_root).items() if s == "eval")
    except (OSError, ValueError):
        return []


def eval_frame_ids(data_root: Optional[str], names: Sequence[str]) -> Dict[str, str]:
    """``{object id: sequence}`` of every frame file of the named eval sequences under ``data_root``."""
    ids: Dict[str, str] = {}
    for name in names:
        folder = os.path.join(data_root or "", name, "img")
        if not os.path.isdir(folder):
            continue
        for file_name in os.listdir(folder):
            with open(os.path.join(folder, file_name), "rb") as handle:
                ids[blob_id(handle.read())] = name
    return ids


# The command -------------------------------------------------------------------------------

@dataclass
class Summary:
    written: List[dict] = field(default_factory=list)
    kept: List[dict] = field(default_factory=list)
    skipped: List[dict] = field(default_factory=list)  # {"name", "why"}
    failed: List[dict] = field(default_factory=list)

    @property
    def records(self) -> List[dict]:
        return self.written + self.kept


def ingest(manifest: Manifest, mirrors: str, out: str, data_root: Optional[str] = None, only: Sequence[str] = (),
           check_only: bool = False, progress: bool = True, log=print) -> Summary:
    """Build (or bring up to date) the corpus in ``out``; see the module docstring."""
    eval_names = eval_split_names(data_root)
    check_manifest(manifest, eval_names)
    entries = list(manifest.entries)
    if only:
        unknown = [n for n in only if n not in {e.name for e in entries}]
        if unknown:
            raise ValueError(f"--only: {', '.join(unknown)} not in {manifest.path}; it lists {', '.join(e.name for e in entries)}")
        entries = [e for e in entries if e.name in only]
    forbidden_frames = eval_frame_ids(data_root, sorted(set(eval_names) | set(manifest.reserved.eval_split)))
    os.makedirs(out, exist_ok=True)
    previous = {}
    if not check_only:
        existing = read_corpus(out)
        previous = {r["name"]: r for r in (existing or {}).get("sequences", [])}

    summary = Summary()
    # Sequences of the manifest that this run does not visit (--only) stay in the index as they were.
    visited = {e.name for e in entries}
    untouched = [r for name, r in previous.items()
                 if name not in visited and name in {e.name for e in manifest.entries} and os.path.isdir(os.path.join(out, name))]
    taken: Dict[str, str] = {}  # frame object id -> sequence name
    cache: Dict[str, object] = {}
    from tqdm import tqdm

    bar = tqdm(total=sum(e.frame_count or 0 for e in entries), unit="frame", disable=not progress, file=sys.stderr, dynamic_ncols=True)
    try:
        for entry in entries:
            bar.set_postfix_str(entry.name)
            try:
                prepared, why = prepare(entry, mirrors, cache)
            except ValueError as error:
                summary.failed.append({"name": entry.name, "why": str(error)})
                bar.update(entry.frame_count or 0)
                continue
            if prepared is None:
                recorded = previous.get(entry.name)
                folder = os.path.join(out, entry.name)
                if recorded and recorded.get("source") in {f"{s.repo}@{s.commit}" for s in entry.sources} and os.path.isfile(os.path.join(folder, OTB_BOXES)):
                    with open(os.path.join(folder, OTB_BOXES), "rb") as handle:
                        if hashlib.sha256(handle.read()).hexdigest() == recorded.get("boxes_sha256"):
                            summary.kept.append(dict(recorded, split=entry.split))
                            bar.update(entry.frame_count or 0)
                            continue
                summary.skipped.append({"name": entry.name, "why": why})
                bar.update(entry.frame_count or 0)
                continue
            hits = sorted({forbidden_frames[i] for i in prepared.frame_ids if i in forbidden_frames})
            if hits:
                raise ValueError(
                    f"refusing {entry.name} ({prepared.described}:{prepared.source.frames}): its frames are byte-identical to frames of "
                    f"the eval-split sequence(s) {', '.join(hits)} of {data_root} (never train, tune or evaluate on these)"
                )
            shared: Dict[str, int] = {}
            for object_id in prepared.frame_ids:
                if object_id in taken:
                    shared[taken[object_id]] = shared.get(taken[object_id], 0) + 1
            twin = max(shared, key=shared.get) if shared else None
            if twin is not None and shared[twin] >= DUPLICATE_SHARE * len(prepared.frame_ids):
                summary.skipped.append({"name": entry.name, "why": f"duplicate of {twin} ({shared[twin]} of {len(prepared.frame_ids)} frames identical)"})
                bar.update(entry.frame_count or 0)
                continue
            for object_id in prepared.frame_ids:
                taken.setdefault(object_id, entry.name)
            record = _record(prepared)
            if check_only:
                summary.kept.append(record)
                bar.update(len(prepared.frame_ids))
                continue
            folder = os.path.join(out, entry.name)
            if _on_disk_matches(folder, prepared, previous.get(entry.name)):
                summary.kept.append(record)
                bar.update(len(prepared.frame_ids))
            else:
                try:
                    write_sequence(out, prepared, bar)
                except ValueError as error:
                    summary.failed.append({"name": entry.name, "why": str(error)})
                    continue
                summary.written.append(record)
            write_index(out, manifest, summary.records + untouched, summary.skipped + summary.failed)
    finally:
        bar.close()
    if not check_only:
        write_index(out, manifest, summary.records + untouched, summary.skipped + summary.failed)
    return summary


def _totals(records: List[dict]) -> str:
    by_split: Dict[str, Tuple[int, int]] = {}
    for record in records:
        count, frames = by_split.get(record["split"], (0, 0))
        by_split[record["split"]] = (count + 1, frames + record["frames"])
    parts = ", ".join(f"{split} {count} ({frames:,} frames)" for split, (count, frames) in sorted(by_split.items(), key=lambda kv: kv[0] != "train"))
    return f"{len(records)} sequences, {sum(r['frames'] for r in records):,} frames" + (f": {parts}" if parts else "")


def default_corpus_root() -> str:
    """``$SIAMTRACK_CORPUS`` when set, else ``../corpus`` next to the repository."""
    return os.environ.get(CORPUS_ENV) or os.path.normpath(os.path.join(repository_root(), "..", "corpus"))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tracker.datasets.ingest", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", default=None, help="source manifest YAML (default: the packaged tracker/datasets/sources.yaml)")
    parser.add_argument("--mirrors", default=os.environ.get(MIRRORS_ENV), help=f"folder of fetched repositories (default: ${MIRRORS_ENV})")
    parser.add_argument("--out", default=None, help=f"corpus folder to write (default: ${CORPUS_ENV}, else ../corpus next to the repository)")
    parser.add_argument("--data", default=None, help="data folder whose eval-split sequences must never enter the corpus (default: $SIAMTRACK_DATA or ../shared/data)")
    parser.add_argument("--only", nargs="+", default=(), metavar="NAME", help="ingest only these manifest entries")
    parser.add_argument("--check", action="store_true", help="read and check every entry (sources, counts, duplicates) but write nothing")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if not args.mirrors:
        print(f"error: say where the fetched repositories are: --mirrors DIR or ${MIRRORS_ENV}", file=sys.stderr)
        return 2
    if not os.path.isdir(args.mirrors):
        print(f"error: mirrors folder not found: {args.mirrors}", file=sys.stderr)
        return 2
    out = os.path.abspath(args.out or default_corpus_root())
    try:
        manifest = load_manifest(args.manifest)
        summary = ingest(manifest, args.mirrors, out, data_root=args.data or default_data_root(), only=args.only,
                         check_only=args.check, progress=not args.no_progress)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    records = summary.records
    if args.check:
        print(f"checked {len(records)} of {len(summary.records) + len(summary.skipped) + len(summary.failed)} entries: {_totals(records)}; nothing written")
    else:
        print(f"corpus: {out}")
        print(f"  written {len(summary.written)} sequences ({sum(r['frames'] for r in summary.written):,} frames), "
              f"kept {len(summary.kept)} unchanged ({sum(r['frames'] for r in summary.kept):,} frames)")
        print(f"  total: {_totals(records)}")
        print(f"  index: {os.path.join(out, CORPUS_FILE)}, {os.path.join(out, SPLITS_FILE)}")
    for item in summary.skipped:
        print(f"  skipped {item['name']}: {item['why']}")
    for item in summary.failed:
        print(f"  FAILED {item['name']}: {item['why']}")
    if not summary.skipped and not summary.failed:
        print("  skipped: none")
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
