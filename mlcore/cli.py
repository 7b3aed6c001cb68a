"""Command line of the mlcore package: ``mlcore COMMAND [options]``.

Each subcommand lives in its own module under :mod:`mlcore.commands` and is discovered by the shared
frame in :mod:`dlperf.cli` (one-line errors, exit status 2 for user errors, 130 on Ctrl-C, tracebacks
only for bugs or with ``--debug``).
"""

from __future__ import annotations

import argparse
import sys

from dlperf.cli import build_parser as _build_parser
from dlperf.cli import run_cli

__all__ = ["main", "build_parser", "PROG"]

PROG = "mlcore"


def build_parser() -> argparse.ArgumentParser:
    """The full parser: one subparser per module in :mod:`mlcore.commands`."""
    from mlcore import commands

    return _build_parser(PROG, __doc__.splitlines()[0], commands)


def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``) and return the exit status."""
    return run_cli(build_parser(), list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
