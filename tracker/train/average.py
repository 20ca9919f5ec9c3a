"""Average the weights of several epochs of one run into one weights file (stochastic weight
averaging, Izmailov et al., UAI 2018): ``python -m tracker.train.average --out OUT.pt A.pt B.pt ...``.

Neighbouring epochs of a run at a low learning rate sit around one basin of the loss; their
mean lies nearer its centre than any of them, so it tracks more like the run's average model
and less like whichever epoch a noisy validation happened to pick. Every file must be of the
same architecture (the model config must match); floating-point tensors (weights and the
batch-norm running statistics) are averaged, integer ones (batch counters) are taken from
the last file.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Dict, Sequence

from ..errors import WeightsError
from ..weights import FORMAT, VERSION, read_weights_file, write_payload


def average_payloads(payloads: Sequence[Dict[str, Any]], names: Sequence[str]) -> Dict[str, Any]:
    """One weights payload whose tensors are the mean of ``payloads``' (named by ``names`` in
    errors and in the record). Refuses files of different model configs or tensor layouts."""
    if not payloads:
        raise ValueError("no weights files to average")
    first, first_name = payloads[0], names[0]
    model = first.get("config", {}).get("model")
    for payload, name in zip(payloads[1:], names[1:]):
        if payload.get("config", {}).get("model") != model:
            raise WeightsError(f"{name} is another architecture than {first_name} (their model configs differ); "
                               "only epochs of one run can be averaged")
        keys, first_keys = set(payload["state_dict"]), set(first["state_dict"])
        if keys != first_keys:
            raise WeightsError(f"{name} and {first_name} hold different tensors "
                               f"({len(keys ^ first_keys)} names differ, e.g. {sorted(keys ^ first_keys)[0]})")
        for key, tensor in payload["state_dict"].items():
            if tuple(tensor.shape) != tuple(first["state_dict"][key].shape):
                raise WeightsError(f"{key} has shape {tuple(tensor.shape)} in {name} but "
                                   f"{tuple(first['state_dict'][key].shape)} in {first_name}")
    averaged = {}
    for key, tensor in first["state_dict"].items():
        if tensor.is_floating_point():
            total = sum(payload["state_dict"][key].double() for payload in payloads)
            averaged[key] = (total / len(payloads)).to(tensor.dtype)
        else:
            averaged[key] = payloads[-1]["state_dict"][key].clone()
    record = dict(payloads[-1].get("record") or {})
    record["averaged_from"] = [os.path.basename(name) for name in names]
    return {"format": FORMAT, "version": VERSION, "config": payloads[-1]["config"], "state_dict": averaged, "record": record}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", nargs="+", help="weights files of one run (e.g. runs/NAME/epoch8.pt epoch9.pt epoch10.pt)")
    parser.add_argument("--out", required=True, help="the averaged weights file to write")
    args = parser.parse_args(argv)
    if len(args.weights) < 2:
        print("error: give at least two weights files to average", file=sys.stderr)
        return 2
    if os.path.abspath(args.out) in {os.path.abspath(path) for path in args.weights}:
        print(f"error: --out {args.out} is one of the inputs; write the average to a new file", file=sys.stderr)
        return 2
    try:
        payloads = [read_weights_file(path) for path in args.weights]
        write_payload(args.out, average_payloads(payloads, args.weights))
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: the mean of {len(args.weights)} weights files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
