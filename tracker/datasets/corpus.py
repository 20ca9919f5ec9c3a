"""A training corpus written by ``python -m tracker.datasets.ingest``: what it holds and where from.

The corpus is a data folder in the OTB layout with a ``splits.csv`` (``train``/``val``) and a
``corpus.json`` that names, per sequence, the source repository and commit, the frame
count and the sha256 of the written box file, so a training record can say exactly what it
was trained on (:func:`read_corpus`).
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional

CORPUS_FILE = "corpus.json"
CORPUS_ENV = "SIAMTRACK_CORPUS"


def read_corpus(root: str) -> Optional[Dict[str, Any]]:
    """The parsed ``corpus.json`` of a data folder; None when the folder has none.

    ValueError when it exists but is not the JSON object ingest writes.
    """
    path = os.path.join(root, CORPUS_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not readable JSON ({error}); re-run python -m tracker.datasets.ingest") from None
    if not isinstance(data, dict) or not isinstance(data.get("sequences"), list):
        raise ValueError(f"{path} has no 'sequences' list; it is not a corpus manifest written by tracker.datasets.ingest")
    return data
