"""The exported model format: a pair of ONNX files, their names and metadata, how they are written.

A model is two ONNX files named after one stem::

    X.template.onnx   template (1, 3, E, E)                        -> the template branch's outputs
    X.search.onnx     the template outputs (N, ...), x (N*S, 3, X, X) -> the head's named outputs (N*S, ...)

``N`` targets and ``S`` search crops per target are dynamic; the crops of target ``n``
are rows ``n*S .. n*S+S-1`` of ``x`` and of every output. Inputs are float32 NCHW, BGR,
pixel values 0..255 as read (any normalisation is inside the graph). Each file's
metadata holds the tracker YAML, this contract, the precision and an id shared by the two
files of one export, so a file is all a runtime needs. ``X.int8.onnx`` names the int8 pair.

Digests of the files are ``tracker.digests.file_sha256``. This module is shared by the exporter (torch), the quantiser (onnx) and the runtime
(onnxruntime) and imports none of them: ``ModelProto`` objects are only passed through.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Sequence, Tuple

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


def write_models(models: Sequence[Tuple[Any, str]], overwrite: bool) -> None:
    """Write every ``(ModelProto, path)`` as a whole or not at all.

    Each model goes to ``<path>.partial`` first and only when all are written are they
    renamed into place, so a failure (a full disk, an interrupt) never leaves half a pair.
    Existing files are refused unless ``overwrite``.
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
                handle.write(model.SerializeToString())
        for partial, path in partials:
            os.replace(partial, path)
    finally:
        for partial, _ in partials:
            if os.path.exists(partial):
                os.remove(partial)
