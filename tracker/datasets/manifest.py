"""The training-source manifest: which public repositories hold which benchmark sequences.

``sources.yaml`` (beside this module) is the machine-readable copy of
``../shared/data/SOURCES.md`` plus the full-length originals of the truncated ``train``
sequences of ``../shared/data/README.md``. Each entry names a sequence, the repository and
commit that hold its frames, the frames folder and frame range (1-based file numbers),
the box file (possibly in another repository), the lines of it to use and their format.
``python -m tracker.datasets.ingest`` turns it into a training corpus.

The manifest also carries the RESERVED list of SOURCES.md and the ``eval`` split of
README.md: sequences that must never be trained, tuned or evaluated on, under any name.
:func:`forbidden_reason` says why a name or an entry is one of them (a reserved name, a
sub-sequence ``<video>_<k>`` of a reserved video, a family such as ``group1_*``, or a
repository path that SOURCES.md names as a copy of a reserved video);
:func:`check_manifest` refuses a manifest that lists any.
"""
from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, fields
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import yaml

MANIFEST_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sources.yaml")

# Box formats an entry can name; the conversion to 0-based boxes is in tracker.datasets.ingest.
BOX_FORMATS = ("xywh-1based", "vot-polygon", "lasot")
SPLITS = ("train", "val")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_SUB_SEQUENCE = re.compile(r"^(.+)_\d+$")


@dataclass(frozen=True)
class Source:
    """One copy of a sequence: frames (and boxes) in a repository at a commit."""

    repo: str  # owner/name on GitHub
    commit: str  # 40 hex digits
    frames: str  # folder of numbered frames, relative to the repository root
    boxes: str  # box file, relative to the root of boxes_repo
    boxes_repo: Optional[str] = None  # default: repo
    boxes_commit: Optional[str] = None  # default: commit
    flags: Tuple[str, ...] = ()  # LaSOT full_occlusion.txt / out_of_view.txt, in boxes_repo

    @property
    def box_repo(self) -> str:
        return self.boxes_repo or self.repo

    @property
    def box_commit(self) -> str:
        return self.boxes_commit or self.commit

    def paths(self) -> List[Tuple[str, str]]:
        """``(repo, path)`` of everything this copy reads."""
        return [(self.repo, self.frames), (self.box_repo, self.boxes)] + [(self.box_repo, f) for f in self.flags]


@dataclass(frozen=True)
class Entry:
    """One sequence of the manifest; ``sources`` holds the copies to try, in order."""

    name: str
    dataset: str
    video: str  # the video it is cut from (the name itself unless a sub-sequence)
    format: str  # one of BOX_FORMATS
    sources: Tuple[Source, ...]
    frame_range: Optional[Tuple[int, int]] = None  # 1-based frame file numbers, both included
    box_lines: Optional[Tuple[int, int]] = None  # 1-based lines of the box file, both included
    frame_count: Optional[int] = None  # frames with a box, as SOURCES.md/README.md state
    split: str = "train"  # train or val
    listed_in: str = ""  # the document that lists it
    note: str = ""


@dataclass(frozen=True)
class Alias:
    """A repository path that holds a reserved video under another name."""

    repo: str
    path: Optional[str] = None  # that folder (or file) and everything under it
    folder: Optional[str] = None  # any path component of that name (or a <name>_<k> sub-sequence of it)
    is_: str = ""  # which reserved video it is


@dataclass(frozen=True)
class Reserved:
    names: Tuple[str, ...] = ()
    families: Tuple[str, ...] = ()  # fnmatch patterns, case-insensitive
    aliases: Tuple[Alias, ...] = ()
    eval_split: Tuple[str, ...] = ()  # ../shared/data README.md's eval split


@dataclass(frozen=True)
class Manifest:
    entries: Tuple[Entry, ...]
    reserved: Reserved
    path: str = ""

    def entry(self, name: str) -> Entry:
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise KeyError(name)


def _normalise(name: str) -> str:
    """Lower case without separators, so ``Jogging-1``, ``jogging_1`` and ``Jogging1`` compare equal."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def forbidden_name_reason(name: str, reserved: Reserved) -> Optional[str]:
    """Why ``name`` is RESERVED or eval-split (None when it is neither).

    A name matches a reserved one ignoring case and separators; ``<video>_<k>`` matches when
    ``<video>`` does (another sub-sequence of the same video); families are fnmatch patterns.
    """
    stem = os.path.splitext(name)[0] if os.path.splitext(name)[1].lower() in (".txt", ".jpg", ".png") else name
    candidates = [stem]
    match = _SUB_SEQUENCE.match(stem)
    if match:
        candidates.append(match.group(1))
    for candidate in candidates:
        for listed, why in [(n, "RESERVED in SOURCES.md") for n in reserved.names] + [(n, "eval split of README.md") for n in reserved.eval_split]:
            if _normalise(candidate) == _normalise(listed):
                return f"{name!r} is {listed!r}, {why}" if candidate == stem else f"{name!r} is a sub-sequence of {listed!r}, {why}"
    for pattern in reserved.families:
        if fnmatch.fnmatch(stem.lower(), pattern.lower()) or fnmatch.fnmatch(stem.lower() + "_1", pattern.lower()):
            return f"{name!r} is in the family {pattern!r}, RESERVED in SOURCES.md"
    return None


def forbidden_path_reason(repo: str, path: str, reserved: Reserved) -> Optional[str]:
    """Why ``repo:path`` holds a RESERVED or eval-split video (a named alias, or a folder named like one)."""
    parts = [p for p in path.strip("/").split("/") if p]
    for alias in reserved.aliases:
        if alias.repo.lower() != repo.lower():
            continue
        if alias.path is not None:
            prefix = alias.path.strip("/")
            if path.strip("/") == prefix or path.strip("/").startswith(prefix + "/"):
                return f"{repo}:{path} is {alias.is_} (SOURCES.md names {repo}:{alias.path} as a copy of it)"
        if alias.folder is not None:
            for part in parts:
                stem = os.path.splitext(part)[0]
                match = _SUB_SEQUENCE.match(stem)
                if _normalise(stem) == _normalise(alias.folder) or (match and _normalise(match.group(1)) == _normalise(alias.folder)):
                    return f"{repo}:{path} is {alias.is_} (SOURCES.md names the {alias.folder} folders of {repo})"
    for part in parts:
        reason = forbidden_name_reason(part, reserved)
        if reason:
            return f"{repo}:{path} reads the folder or file {part!r}: {reason}"
    return None


def forbidden_reason(entry: Entry, reserved: Reserved) -> Optional[str]:
    """Why a manifest entry must not be used (its name, its video or any path it reads); None when it may."""
    for name in dict.fromkeys([entry.name, entry.video]):
        reason = forbidden_name_reason(name, reserved)
        if reason:
            return reason
    for source in entry.sources:
        for repo, path in source.paths():
            reason = forbidden_path_reason(repo, path, reserved)
            if reason:
                return reason
    return None


def check_manifest(manifest: Manifest, extra_forbidden: Iterable[str] = ()) -> None:
    """ValueError (one line) naming every entry that is RESERVED, eval-split or in ``extra_forbidden``."""
    reserved = manifest.reserved
    extra = tuple(extra_forbidden)
    if extra:
        reserved = Reserved(reserved.names, reserved.families, reserved.aliases, tuple(reserved.eval_split) + extra)
    problems = [reason for reason in (forbidden_reason(e, reserved) for e in manifest.entries) if reason]
    if problems:
        raise ValueError(f"refusing {manifest.path or 'the manifest'}: {'; '.join(problems)} (never train, tune or evaluate on these)")


# Reading the YAML --------------------------------------------------------------------------

def _strict(data: Any, allowed: Sequence[str], where: str, required: Sequence[str] = ()) -> Dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a mapping with keys {', '.join(allowed)}, got {type(data).__name__}")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; valid keys: {', '.join(allowed)}")
    missing = [k for k in required if data.get(k) in (None, "")]
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}")
    return dict(data)


def _pair(value: Any, where: str) -> Optional[Tuple[int, int]]:
    if value is None:
        return None
    if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value)) or not 1 <= value[0] <= value[1]:
        raise ValueError(f"{where}: expected [first, last], 1-based integers with first <= last, got {value!r}")
    return int(value[0]), int(value[1])


def _commit(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _HEX40.match(value):
        raise ValueError(f"{where}: commit must be 40 lower-case hex digits, got {value!r}")
    return value


def _source(data: Any, where: str) -> Source:
    valid = [f.name for f in fields(Source)]
    data = _strict(data, valid, where, required=("repo", "commit", "frames", "boxes"))
    if data.get("boxes_commit") is not None:
        _commit(data["boxes_commit"], f"{where}.boxes_commit")
    if data.get("boxes_repo") is not None and data.get("boxes_commit") is None:
        raise ValueError(f"{where}: boxes_repo needs boxes_commit too")
    for key in ("repo", "boxes_repo"):
        if data.get(key) is not None and not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$", str(data[key])):
            raise ValueError(f"{where}.{key}: expected owner/name, got {data[key]!r}")
    return Source(
        repo=data["repo"], commit=_commit(data["commit"], f"{where}.commit"), frames=str(data["frames"]).strip("/"),
        boxes=str(data["boxes"]), boxes_repo=data.get("boxes_repo"), boxes_commit=data.get("boxes_commit"),
        flags=tuple(data.get("flags") or ()),
    )


def _entry(data: Any, where: str) -> Entry:
    source_keys = [f.name for f in fields(Source)]
    entry_keys = ["name", "dataset", "video", "format", "frame_range", "box_lines", "frame_count", "split", "listed_in", "note", "also_in"]
    data = _strict(data, entry_keys + source_keys, where, required=("name", "dataset", "format", "repo", "commit", "frames", "boxes"))
    where = f"{where} ({data['name']})"
    if data["format"] not in BOX_FORMATS:
        raise ValueError(f"{where}: format must be one of {', '.join(BOX_FORMATS)}, got {data['format']!r}")
    split = data.get("split") or "train"
    if split not in SPLITS:
        raise ValueError(f"{where}: split must be one of {', '.join(SPLITS)}, got {split!r}")
    count = data.get("frame_count")
    if count is not None and (not isinstance(count, int) or count < 1):
        raise ValueError(f"{where}: frame_count must be a positive integer, got {count!r}")
    primary = _source({k: data[k] for k in source_keys if k in data}, where)
    alternatives = tuple(_source(alt, f"{where}.also_in[{i}]") for i, alt in enumerate(data.get("also_in") or ()))
    return Entry(
        name=str(data["name"]), dataset=str(data["dataset"]), video=str(data.get("video") or data["name"]),
        format=data["format"], sources=(primary,) + alternatives,
        frame_range=_pair(data.get("frame_range"), f"{where}.frame_range"), box_lines=_pair(data.get("box_lines"), f"{where}.box_lines"),
        frame_count=count, split=split, listed_in=str(data.get("listed_in") or ""), note=str(data.get("note") or ""),
    )


def _reserved(data: Any, where: str) -> Reserved:
    data = _strict(data or {}, ["names", "families", "aliases", "eval_split"], where)
    aliases = []
    for i, alias in enumerate(data.get("aliases") or ()):
        alias = _strict(alias, ["repo", "path", "folder", "is"], f"{where}.aliases[{i}]", required=("repo", "is"))
        if (alias.get("path") is None) == (alias.get("folder") is None):
            raise ValueError(f"{where}.aliases[{i}]: give exactly one of path and folder")
        aliases.append(Alias(alias["repo"], alias.get("path"), alias.get("folder"), str(alias["is"])))
    return Reserved(
        tuple(str(n) for n in data.get("names") or ()), tuple(str(f) for f in data.get("families") or ()),
        tuple(aliases), tuple(str(n) for n in data.get("eval_split") or ()),
    )


def load_manifest(path: Optional[str] = None) -> Manifest:
    """Read and check a manifest (default: the packaged ``sources.yaml``).

    Unknown keys, malformed commits or ranges, an unknown format and names used twice
    (ignoring case) are errors; RESERVED entries are refused by :func:`check_manifest`.
    """
    path = path or MANIFEST_FILE
    if not os.path.isfile(path):
        raise FileNotFoundError(f"manifest not found: {path}")
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    data = _strict(data, ["version", "reserved", "sequences"], path, required=("sequences",))
    if data.get("version", 1) != 1:
        raise ValueError(f"{path}: version {data.get('version')!r} is not supported (only 1)")
    entries = tuple(_entry(item, f"{path}: sequences[{i}]") for i, item in enumerate(data["sequences"] or ()))
    seen: Dict[str, str] = {}
    for entry in entries:
        key = entry.name.lower()
        if key in seen:
            raise ValueError(f"{path}: sequence name {entry.name!r} is used twice (as {seen[key]!r} too); names must differ ignoring case")
        seen[key] = entry.name
    return Manifest(entries, _reserved(data.get("reserved"), f"{path}: reserved"), path)
