"""Add a content digest to model files written before files carried one.

    python -m tracker.export.seal weights/old.pt weights/old.onnx weights/old.int8.onnx

Weights files (``.pt``) get ``content_sha256`` (``tracker/weights.py``), ONNX files the
``siamtrack.sha256`` metadata entry (``tracker/onnx_format.py``; ``X.onnx`` names both files
of a pair). From then on every load checks the file against its digest, and a damaged file
is an error instead of a model that tracks the wrong thing. Seal only files you trust:
the digest vouches for the bytes as they are now. A file that already carries a digest is
checked and left as it is. Each file is rewritten atomically (temporary file + rename).
"""
from __future__ import annotations

import argparse
import sys
import warnings
from typing import List


def seal_file(path: str) -> List[str]:
    """Seal one weights file or ONNX model (both files of a pair); returns a line per file."""
    from ..errors import UnverifiedModelWarning
    from ..loader import model_kind

    kind = model_kind(path)
    lines = []
    for file in kind.files(path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnverifiedModelWarning)  # the missing digest is why we are here
            if kind.name == "torch":
                from ..weights import DIGEST_KEY, read_weights_file, write_payload

                payload = read_weights_file(file)  # raises if a digest it carries does not match
                if DIGEST_KEY in payload:
                    lines.append(f"{file}: already carries a digest; checked, left as it is")
                    continue
                write_payload(file, payload)
            elif kind.name.startswith("onnx"):
                import onnx

                from ..onnx_format import META_DIGEST, check_digest, metadata, write_models

                with open(file, "rb") as handle:
                    check_digest(handle.read(), file)  # raises if a digest it carries does not match
                model = onnx.load(file)
                if META_DIGEST in metadata(model):
                    lines.append(f"{file}: already carries a digest; checked, left as it is")
                    continue
                write_models([(model, file)], overwrite=True)
            else:
                raise ValueError(f"{path}: {kind.description} files carry no weights to seal")
        lines.append(f"{file}: sealed")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tracker.export.seal", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", help="X.pt weights files, X.onnx / X.int8.onnx pairs or single ONNX files")
    args = parser.parse_args(argv)
    status = 0
    for path in args.files:
        try:
            for line in seal_file(path):
                print(line)
        except (ValueError, OSError) as error:
            print(f"error: {str(error).splitlines()[0]}", file=sys.stderr)
            status = 1
        except ModuleNotFoundError as error:
            print(f"error: sealing ONNX files needs the {error.name} package: pip install -c constraints.txt -e '.[export]'", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
