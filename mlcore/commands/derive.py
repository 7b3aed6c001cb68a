"""``mlcore derive bias-variance [--latex]``: print the sympy derivation of the decomposition."""

from __future__ import annotations

import argparse

TOPICS = ("bias-variance",)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "derive",
        help="print a symbolic derivation (sympy)",
        description="Print the sympy derivation of E[(y - g)^2] = bias^2 + variance + sigma^2.",
    )
    p.add_argument("topic", choices=TOPICS, help="what to derive")
    p.add_argument("--latex", action="store_true", help="print LaTeX (an align* block) instead of text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dlperf.tables import fit_text, terminal_width
    from mlcore.biasvar.derivation import derive_bias_variance

    d = derive_bias_variance()
    # a terminal gets lines broken at spaces to its width (LaTeX reads a line break as a space)
    print(fit_text(d.to_latex() if args.latex else d.to_text(), terminal_width()), end="")
    return 0 if d.verified else 1
