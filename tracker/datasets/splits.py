"""A data folder: where it is, which sequences it holds, and each one's split.

The split of a sequence (``train``/``eval``) is not a property of its folder. It comes
from ``splits.csv`` beside the sequences (a header ``name,split`` and one row per
sequence) when that file exists, else from the first markdown table of the folder's
``README.md`` that has ``name`` and ``split`` columns.
"""
from __future__ import annotations

import csv
import os
from typing import Dict, List, Optional

from ..errors import MissingFileError
from .layouts import is_sequence_folder, load_sequence
from .sequence import Sequence

DATA_ENV = "SIAMTRACK_DATA"
SPLITS_FILE = "splits.csv"
README_FILE = "README.md"


def repository_root() -> str:
    """The folder holding the ``tracker`` package (the repository root in a checkout)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def default_data_root() -> str:
    """``$SIAMTRACK_DATA`` when set, else ``../shared/data`` relative to the repository root."""
    return os.environ.get(DATA_ENV) or os.path.normpath(os.path.join(repository_root(), "..", "shared", "data"))


def splits_source(root: str) -> str:
    """The file :func:`read_splits` reads for ``root``: ``root`` itself when it is a file,
    else ``root/splits.csv`` when present, else ``root/README.md`` (which may not exist)."""
    if not os.path.isdir(root):
        return root
    csv_path = os.path.join(root, SPLITS_FILE)
    return csv_path if os.path.isfile(csv_path) else os.path.join(root, README_FILE)


def read_splits(root: str) -> Dict[str, str]:
    """``{sequence name: split}`` for a data folder (or for a ``splits.csv`` or README given directly).

    ``splits.csv`` takes precedence over the README table. Split values are lower-cased.
    """
    path = splits_source(root)
    if not os.path.isfile(path):
        if os.path.isdir(root):
            raise MissingFileError(
                f"{path} not found, nor {os.path.join(root, SPLITS_FILE)}: one of them says which sequences are train "
                f"and which eval ({SPLITS_FILE}: a name,split header and one row per sequence; {README_FILE}: a markdown "
                f"table with name and split columns); point --data (or ${DATA_ENV}) at the sequences folder"
            )
        raise MissingFileError(f"{path} not found")
    if path.lower().endswith(".csv"):
        return _read_split_file(path)
    return _read_readme_table(path)


def has_split_table(root: str) -> bool:
    """``root`` has a ``splits.csv`` or a README table of splits.

    A ``splits.csv`` counts even when it is malformed, so that reading it reports the
    mistake instead of every sequence silently becoming training data.
    """
    if os.path.isdir(root) and os.path.isfile(os.path.join(root, SPLITS_FILE)):
        return True
    try:
        read_splits(root)
    except (MissingFileError, ValueError):
        return False
    return True


def _read_split_file(path: str) -> Dict[str, str]:
    splits: Dict[str, str] = {}
    header: Optional[List[str]] = None
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        for row in reader:
            cells = [c.strip() for c in row]
            if not any(cells):
                continue
            if header is None:
                header = [c.lower() for c in cells]
                if "name" not in header or "split" not in header:
                    raise ValueError(f"{path}: the first line must be a header with name and split columns, got {','.join(cells)!r}")
                continue
            if len(cells) != len(header):
                raise ValueError(f"{path} line {reader.line_num}: expected {len(header)} values ({','.join(header)}), got {','.join(cells)!r}")
            name, split = cells[header.index("name")], cells[header.index("split")].lower()
            if not name or not split:
                raise ValueError(f"{path} line {reader.line_num}: name and split must not be empty")
            if name in splits:
                raise ValueError(f"{path} line {reader.line_num}: sequence {name!r} is listed twice")
            splits[name] = split
    if not splits:
        raise ValueError(f"{path} lists no sequences; expected a name,split header and one row per sequence")
    return splits


def _read_readme_table(path: str) -> Dict[str, str]:
    """The first markdown table whose header has ``name`` and ``split`` columns (any case)."""
    splits: Dict[str, str] = {}
    header: Optional[List[str]] = None
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line.startswith("|"):
                if header is not None and splits:
                    break
                header = None
                continue
            cells = [c.strip() for c in line.strip("|").split("|")]
            if header is None:
                header = [c.lower() for c in cells]
                continue
            if all(set(c) <= set("-: ") for c in cells) or "name" not in header or "split" not in header:
                continue
            if len(cells) == len(header):
                splits[cells[header.index("name")]] = cells[header.index("split")].lower()
    if not splits:
        raise ValueError(f"{path} has no markdown table with 'name' and 'split' columns")
    return splits


def load_dataset(root: str, split: Optional[str] = None, names: Optional[List[str]] = None) -> List[Sequence]:
    """The sequences of a data folder, sorted by name (case-insensitive).

    ``split`` (``train``, ``eval``, ... or None/``all`` for every one) selects by the split
    table (:func:`read_splits`); ``names`` selects by name. Without a split table,
    ``split`` must be None/``all`` and every sequence folder is loaded.
    """
    if not os.path.isdir(root):
        raise MissingFileError(f"data folder not found: {root} (pass --data or set ${DATA_ENV})")
    source = splits_source(root)
    if split in (None, "all"):
        if has_split_table(root):
            candidates = sorted(read_splits(root))
        else:
            candidates = sorted(n for n in os.listdir(root) if is_sequence_folder(os.path.join(root, n)))
    else:
        splits = read_splits(root)
        valid = sorted(set(splits.values()))
        if split not in valid:
            raise ValueError(f"unknown split {split!r}; {source} has: {', '.join(valid + ['all'])}")
        candidates = sorted(n for n, s in splits.items() if s == split)
    if names:
        unknown = [n for n in names if n not in candidates]
        if unknown:
            raise ValueError(
                f"unknown sequence(s) {', '.join(unknown)}"
                + (f" in split {split!r}" if split not in (None, "all") else "")
                + f"; available: {', '.join(sorted(candidates, key=str.lower))}"
            )
        candidates = list(names)
    missing = [n for n in candidates if not os.path.exists(os.path.join(root, n))]
    if missing:
        raise MissingFileError(f"sequence folder(s) listed in {source} but missing from {root}: {', '.join(missing)}")
    sequences = [load_sequence(os.path.join(root, n), name=n) for n in candidates]
    return sorted(sequences, key=lambda s: s.name.lower())
