"""Command line of the staleness package: ``staleness COMMAND [options]``.

Each subcommand lives in its own module under :mod:`staleness.commands`, listed in its table
``COMMANDS`` and imported by the shared frame in :mod:`dlperf.cli` only when chosen (one-line errors, exit
status 2 for user errors, 130 on Ctrl-C, tracebacks only for bugs or with ``--debug``). ``staleness train``
is added by mlcore through the entry-point group ``dlperf.staleness.commands``. The library's messages
name parameters (``learners``); on the command line they name the flags (``--learners``).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from dlperf.cli import Frame

__all__ = ["main"]

PROG = "staleness"


def _flagged(func):
    def run(args):
        try:
            return func(args)
        except ValueError as exc:
            from staleness.commands._common import to_flags

            raise ValueError(to_flags(str(exc))) from None

    return run


@dataclass(frozen=True)
class _Frame(Frame):
    def build_parser(self, chosen: str | None = None, *, lazy: bool = False) -> argparse.ArgumentParser:
        """The frame's parser, each command's library messages rewritten to name flags."""
        parser = super().build_parser(chosen, lazy=lazy)
        for action in parser._subparsers._group_actions:
            for sub in action.choices.values():
                func = sub.get_default("func")
                if func is not None:
                    sub.set_defaults(func=_flagged(func))
        return parser


FRAME = _Frame(PROG, "staleness.commands", __doc__.splitlines()[0])
build_parser = FRAME.build_parser
main = FRAME.main
