"""Train a tracker: ``python -m tracker.train --config tracker/configs/train_mobilenet_v2.yaml --out runs/NAME``.

Trains on every sequence of ``--data`` whose split (from the data folder's README.md)
is ``train``, except those listed as validation sequences, which give the per-epoch
validation AUC. Sequences marked ``eval`` are never read. Writes ``checkpoint.pt`` each
epoch (``--resume`` continues from it) and ``weights.pt`` (best validation AUC); copy
the latter into ``weights/`` to ship it.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

from .config import load_train_config


def corpus_record(root: str, train_sequences, validation_sequences) -> dict:
    """``{"corpus": ...}``: the manifest entries (source repo@commit, frames, box sha256) of
    the sequences read, when ``root`` is a corpus written by ``tracker.datasets.ingest``."""
    from ..datasets.corpus import read_corpus

    corpus = read_corpus(root)
    if corpus is None:
        return {}
    used = {s.name for s in train_sequences} | {s.name for s in validation_sequences}
    return {"corpus": {"manifest_sha256": corpus.get("manifest_sha256"), "written_by": corpus.get("written_by"),
                       "sequences": [entry for entry in corpus["sequences"] if entry.get("name") in used]}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="training YAML (see tracker/configs/train_*.yaml)")
    parser.add_argument("--out", required=True, help="run folder for checkpoint.pt, weights.pt and record.json")
    parser.add_argument("--data", default=None, help="data root (default: the config's data.root, or $SIAMTRACK_DATA)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument("--epochs", type=int, default=None, help="override optim.epochs")
    parser.add_argument("--keep-epochs", action="store_true",
                        help="also write every epoch's weights as OUT/epochN.pt (weights.pt stays the best by validation)")
    args = parser.parse_args(argv)

    try:
        config = load_train_config(args.config)
        if args.epochs is not None:
            config = dataclasses.replace(config, optim=dataclasses.replace(config.optim, epochs=args.epochs))
        root = args.data or os.environ.get("SIAMTRACK_DATA") or config.data.root
        from .loop import train
        from .sources import training_and_validation, validation_function

        train_sequences, validation_sequences = training_and_validation(root, config.data.validation_sequences)
        print(f"training on {len(train_sequences)} sequences: {', '.join(s.name for s in train_sequences)}")
        print(f"validating on {len(validation_sequences)}: {', '.join(s.name for s in validation_sequences) or 'none'}")
        if not config.data.validation_sequences:
            # The split table chose them: the record names them all the same.
            names = tuple(s.name for s in validation_sequences)
            config = dataclasses.replace(config, data=dataclasses.replace(config.data, validation_sequences=names))
        validate = validation_function(validation_sequences, config.data.validation_max_frames) if validation_sequences else None
        record = train(config, train_sequences, args.out, validate=validate, resume=args.resume,
                       data_record=corpus_record(root, train_sequences, validation_sequences), keep_epochs=args.keep_epochs)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with open(os.path.join(args.out, "record.json"), "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2)
    if record.get("best_epoch") is None:
        # --epochs 0: only the patch cache was built (the one command that builds it on a new machine).
        print(f"patch cache built in {config.data.cache_dir} ({record['train_frames']} frames); no epochs run, no weights written")
    else:
        print(f"weights: {os.path.join(args.out, 'weights.pt')} (best epoch {record.get('best_epoch')}); record: {os.path.join(args.out, 'record.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
