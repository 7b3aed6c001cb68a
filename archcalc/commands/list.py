"""``archcalc list``: the zoo, one line per model (name, default input, params, MACs at that input)."""

from __future__ import annotations

import argparse
import sys

from archcalc.report import list_models
from dlperf.jsonio import json_text

__all__ = ["register", "run"]


def register(subparsers) -> None:
    parser = subparsers.add_parser("list", help="zoo models with default input, params and MACs", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of lines")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    models = list_models()
    if args.json:
        doc = [
            {"name": m.name, "input": list(m.default_input), "params": m.params, "macs": m.macs, "description": m.description}
            for m in models
        ]
        sys.stdout.write(json_text(doc, indent=2) + "\n")
        return 0
    name_w = max(len(m.name) for m in models)
    params_w = max(len(f"{m.params:,}") for m in models)
    macs_w = max(len(f"{m.macs:,}") for m in models)
    for m in models:
        shape = "x".join(map(str, m.default_input))
        print(f"{m.name:<{name_w}}  {shape:>9}  {m.params:>{params_w},} params  {m.macs:>{macs_w},} MACs  {m.description}")
    return 0
