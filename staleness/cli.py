"""Command line of the staleness package: ``staleness COMMAND [options]``.

Each subcommand lives in its own module under :mod:`staleness.commands` and is discovered by the shared
frame in :mod:`archcalc.clikit` (one-line errors, exit status 2 for user errors, no traceback).
"""

from __future__ import annotations

import argparse
import sys

from archcalc.clikit import build_parser as _build_parser
from archcalc.clikit import run_cli

__all__ = ["main", "build_parser", "PROG"]

PROG = "staleness"


def build_parser() -> argparse.ArgumentParser:
    """The full parser: one subparser per module in :mod:`staleness.commands`."""
    from staleness import commands
    from staleness.commands._common import to_flags

    parser = _build_parser(PROG, __doc__.splitlines()[0], commands)
    for action in parser._subparsers._group_actions:  # library messages name parameters; show flags
        for sub in action.choices.values():
            func = sub.get_default("func")
            if func is not None:
                sub.set_defaults(func=_flagged(func, to_flags))
    return parser


def _flagged(func, to_flags):
    def run(args):
        try:
            return func(args)
        except ValueError as exc:
            raise ValueError(to_flags(str(exc))) from None

    return run


def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``) and return the exit status."""
    return run_cli(build_parser(), list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
