"""The exported model format: a pair of ONNX files, their names and metadata, how they are written.

A model is two ONNX files named after one stem::

    X.template.onnx   template (1, 3, E, E)                        -> the template branch's outputs
    X.search.onnx     the template outputs (N, ...), x (N*S, 3, X, X) -> the head's named outputs (N*S, ...)

``N`` targets and ``S`` search crops per target are dynamic; the crops of target ``n``
are rows ``n*S .. n*S+S-1`` of ``x`` and of every output. Inputs are float32 NCHW, BGR,
pixel values 0..255 as read (any normalisation is inside the graph). Each file's
metadata holds the tracker YAML, this contract, the precision and an id shared by the two
files of one export, so a file is all a runtime needs. ``X.int8.onnx`` names the int8 pair.

Digests of the files are ``tracker.digests.file_sha256``. This module is shared by the exporter (torch), the quantiser (onnx) and the
runtimes (onnxruntime, OpenVINO) and imports none of them: ``ModelProto`` objects are only passed through, and a
runtime hands over a file's metadata as a dict to :func:`check_pair`.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import yaml

from .config import TrackerConfig, from_dict
from .errors import MissingFileError, UnverifiedModelWarning, WeightsError

FORMAT = "siamtrack-onnx"
FORMAT_VERSION = "1"
OPSET = 17

TEMPLATE_INPUT = "template"
TEMPLATE_OUTPUT = "z_feat"
SEARCH_CROPS_INPUT = "x"
# The search graph takes the template graph's output under the same name.
SEARCH_FEATURES_INPUT = TEMPLATE_OUTPUT

PREPROCESSING = (
    "float32 NCHW; channel order BGR (as OpenCV reads frames); pixel values 0..255 as read, "
    "no mean or std applied outside the graph (any normalisation is inside it); "
    "template: the (exemplar_size)^2 context crop around the target, search: (search_size)^2 crops of the scale pyramid"
)

# Metadata keys written into every exported file.
META_FORMAT = "siamtrack.format"
META_FORMAT_VERSION = "siamtrack.format_version"
META_ROLE = "siamtrack.role"
META_PRECISION = "siamtrack.precision"
META_CONFIG = "siamtrack.config_yaml"
META_PREPROCESSING = "siamtrack.preprocessing"
META_PAIR = "siamtrack.pair_id"
META_SOURCE = "siamtrack.source_weights"
META_IO = "siamtrack.io"
META_CALIBRATION = "siamtrack.calibration"
# sha256 of the file's bytes with this entry's value read as 64 zeros: written last, checked
# at load (see seal / check_digest), so damage anywhere in the file is an error.
META_DIGEST = "siamtrack.sha256"
# JSON list of ONNX node-name prefixes (torch module scopes, e.g. "/head/") that int8 keeps
# in fp32; written by the exporter from the modules' own declarations, read by the quantiser.
META_FLOAT_SCOPES = "siamtrack.int8_float_scopes"

PAIR_SUFFIXES = {"template": ".template.onnx", "search": ".search.onnx"}


def model_files(path: str | os.PathLike) -> Tuple[str, str]:
    """``(template_path, search_path)`` of the model named by ``path``.

    ``path`` is either file of the pair (``X.template.onnx``, ``X.search.onnx``) or the
    pair's name ``X.onnx``.
    """
    path = os.fspath(path)
    for suffix in (*PAIR_SUFFIXES.values(), ".onnx"):
        if path.endswith(suffix):
            stem = path[: -len(suffix)]
            return stem + PAIR_SUFFIXES["template"], stem + PAIR_SUFFIXES["search"]
    raise ValueError(f"ONNX model path must end in .onnx (X.onnx, X.template.onnx or X.search.onnx), got {path!r}")


def existing_pair(path: str | os.PathLike) -> Tuple[str, str]:
    """:func:`model_files`, or a :class:`MissingFileError` naming the first file of the pair that is not there."""
    pair = model_files(path)
    for file in pair:
        if not os.path.isfile(file):
            raise MissingFileError(
                f"ONNX file not found: {file} (a model is a .template.onnx/.search.onnx pair; "
                "export one with: python -m tracker.export --weights WEIGHTS.pt)"
            )
    return pair


def read_checked(path: str) -> bytes:
    """The bytes of the exported file at ``path``, after checking the digest they carry (:func:`check_digest`).

    Every runtime reads a file through this and hands the bytes to its parser, so what is
    checked is what runs."""
    if not os.path.isfile(path):
        raise MissingFileError(f"ONNX file not found: {path} (export one with: python -m tracker.export --weights WEIGHTS.pt)")
    with open(path, "rb") as handle:
        data = handle.read()
    check_digest(data, path)
    return data


@dataclass(frozen=True)
class PairInfo:
    """What an exported pair's metadata says, checked: the search file's entries, the tracker
    config they carry and the precision of the graphs (``fp32`` or ``int8``)."""

    metadata: Dict[str, str]
    config: TrackerConfig
    precision: str


def check_pair(template_entries: Mapping[str, str], search_entries: Mapping[str, str],
               template_path: str, search_path: str) -> PairInfo:
    """Check a pair's metadata (as each runtime reads it from its files) as every runtime must:
    the siamtrack format and version, each file's role, one export's pair id; then the config.

    Every error is a ValueError naming the file and saying how to get a good one."""
    for path, entries, role in ((template_path, template_entries, "template"), (search_path, search_entries, "search")):
        if entries.get(META_FORMAT) != FORMAT:
            raise ValueError(f"{path} is not a siamtrack ONNX file (no {META_FORMAT}={FORMAT} metadata); export with python -m tracker.export")
        if entries.get(META_FORMAT_VERSION) != FORMAT_VERSION:
            raise ValueError(f"{path} has siamtrack ONNX format version {entries.get(META_FORMAT_VERSION)}; this library reads {FORMAT_VERSION}")
        if entries.get(META_ROLE) != role:
            raise ValueError(f"{path} holds the {entries.get(META_ROLE)!r} graph, expected the {role!r} one")
    if template_entries.get(META_PAIR) != search_entries.get(META_PAIR):
        raise ValueError(
            f"{template_path} and {search_path} come from different exports "
            f"({META_PAIR} {template_entries.get(META_PAIR)} vs {search_entries.get(META_PAIR)}); re-export them together"
        )
    try:
        config = from_dict(TrackerConfig, yaml.safe_load(search_entries[META_CONFIG]) or {})
    except (KeyError, ValueError, TypeError, yaml.YAMLError) as error:
        raise ValueError(f"{search_path}: the config in its metadata is missing or invalid: {error}") from None
    return PairInfo(dict(search_entries), config, search_entries.get(META_PRECISION, "fp32"))


def metadata(model: Any) -> Dict[str, str]:
    """An ``onnx.ModelProto``'s ``metadata_props`` as a dict."""
    return {entry.key: entry.value for entry in model.metadata_props}


def set_metadata(model: Any, entries: Dict[str, Any]) -> None:
    """Set (replace) ``metadata_props`` entries of an ``onnx.ModelProto``, in place."""
    kept = [entry for entry in model.metadata_props if entry.key not in entries]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in entries.items():
        model.metadata_props.add(key=key, value=str(value))


def float_scopes(entries: Dict[str, str]) -> List[str]:
    """The node-name prefixes that int8 keeps fp32, from a file's metadata (empty when absent)."""
    text = entries.get(META_FLOAT_SCOPES)
    return list(json.loads(text)) if text else []


_UNSEALED = b"0" * 64
# A metadata entry is a StringStringEntryProto: key (field 1) then value (field 2, 64 bytes long).
_DIGEST_ENTRY = META_DIGEST.encode() + b"\x12\x40"


def seal(model: Any) -> bytes:
    """``model`` serialised, with ``siamtrack.sha256`` in its metadata: the sha256 of these very
    bytes with the digest's 64 characters read as zeros."""
    set_metadata(model, {META_DIGEST: _UNSEALED.decode()})
    data = model.SerializeToString()
    if data.count(_DIGEST_ENTRY + _UNSEALED) != 1:
        raise ValueError("could not place the content digest in the serialised model")
    digest = hashlib.sha256(data).hexdigest().encode()
    set_metadata(model, {META_DIGEST: digest.decode()})
    return data.replace(_DIGEST_ENTRY + _UNSEALED, _DIGEST_ENTRY + digest)


def check_digest(data: bytes, path: str) -> Optional[str]:
    """The digest an exported file's bytes carry, checked against them; None for files written
    before files carried one (with a warning). Damage is a :class:`WeightsError` naming the file.

    Needs no ONNX parser: the digest entry is found by its key in the raw bytes."""
    found = re.findall(re.escape(_DIGEST_ENTRY) + b"([0-9a-f]{64})", data)
    if not found:
        if META_FORMAT.encode() not in data:
            return None  # not a siamtrack file at all: the format check says so
        warnings.warn(f"{path} carries no digest of its content (written before files had one), so damage to it "
                      f"cannot be detected; add one with: python -m tracker.export.seal {path}", UnverifiedModelWarning, stacklevel=3)
        return None
    carried = found[-1]
    if len(found) > 1 or hashlib.sha256(data.replace(_DIGEST_ENTRY + carried, _DIGEST_ENTRY + _UNSEALED)).hexdigest().encode() != carried:
        raise WeightsError(f"ONNX file {path} is damaged: its content no longer matches the sha256 digest it carries; "
                           "restore it or export it again (python -m tracker.export)")
    return carried.decode()


def write_models(models: Sequence[Tuple[Any, str]], overwrite: bool) -> None:
    """Write every ``(ModelProto, path)`` as a whole or not at all.

    Each model is sealed with a digest of its content (:func:`seal`) and goes to
    ``<path>.partial`` first; only when all are written are they renamed into place, so a
    failure (a full disk, an interrupt) never leaves half a pair. Existing files are
    refused unless ``overwrite``.
    """
    existing = [path for _, path in models if os.path.exists(path)]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist(s); pass --force to overwrite")
    partials = []
    try:
        for model, path in models:
            partial = path + ".partial"
            partials.append((partial, path))
            with open(partial, "wb") as handle:
                handle.write(seal(model))
        for partial, path in partials:
            os.replace(partial, path)
    finally:
        for partial, _ in partials:
            if os.path.exists(partial):
                os.remove(partial)
