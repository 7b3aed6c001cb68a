"""``archcalc list``: the zoo, one line per model (name, default input, params, MACs at that input)."""

from __future__ import annotations

import argparse
import sys

from archcalc.costs.report import list_models
from dlperf.jsonio import json_text


def register(subparsers) -> None:
    parser = subparsers.add_parser("list", help="zoo models with default input, params and MACs", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of lines")
    parser.add_argument("--hf", action="store_true",
                        help="the hub names whose config.json ships with archcalc (hf:NAME works offline)")
    parser.set_defaults(func=run)


def _run_hf(args: argparse.Namespace) -> int:
    from archcalc.frontends.hf import catalogue_config, catalogue_names

    rows = [(n, catalogue_config(n)) for n in catalogue_names()]
    if args.json:
        doc = [{"name": f"hf:{n}", "model_type": c["model_type"], "architecture": c["architectures"][0]} for n, c in rows]
        sys.stdout.write(json_text(doc, indent=2) + "\n")
        return 0
    width = max(len(n) for n, _ in rows) + 3
    for n, c in rows:
        print(f"{'hf:' + n:<{width}}  {c['model_type']:<10}  {c['architectures'][0]}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.hf:
        return _run_hf(args)
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
