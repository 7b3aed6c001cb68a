"""``archcalc list``: the zoo, one line per model (name, default input, params, MACs at that input)."""

from __future__ import annotations

import argparse
import sys

from archcalc.report import list_models
from dlperf.jsonio import json_text


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
    import shutil
    import textwrap

    # a terminal: the description wraps under itself at the terminal's width; files and pipes: one line each
    columns = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
    for m in models:
        shape = "x".join(map(str, m.default_input))
        head = f"{m.name:<{name_w}}  {shape:>9}  {m.params:>{params_w},} params  {m.macs:>{macs_w},} MACs  "
        if columns is None:
            print(head + m.description)
            continue
        indent = len(head) if columns - len(head) >= 30 else 4
        lines = textwrap.wrap(m.description, max(20, columns - indent), break_on_hyphens=False)
        print(head.rstrip() if indent == 4 else head + lines.pop(0))
        for line in lines:
            print(" " * indent + line)
    return 0
