"""Command line of the staleness package: ``staleness COMMAND [options]``.

Each subcommand lives in its own module under :mod:`staleness.commands` and is discovered by the shared
frame in :mod:`dlperf.cli` (one-line errors, exit status 2 for user errors, 130 on Ctrl-C, tracebacks
only for bugs or with ``--debug``). ``staleness train`` is added by mlcore through the entry-point group
``dlperf.staleness.commands``. The library's messages name parameters (``learners``); on the command line
they name the flags (``--learners``).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from dataclasses import dataclass

from dlperf.cli import Frame

__all__ = ["main"]

PROG = "staleness"


def _flagged(func, to_flags):
    def run(args):
        try:
            return func(args)
        except ValueError as exc:
            raise ValueError(to_flags(str(exc))) from None

    return run


@dataclass(frozen=True)
class _Frame(Frame):
    def build_parser(self) -> argparse.ArgumentParser:
        """The frame's parser, each command's library messages rewritten to name flags."""
        from staleness.commands._common import to_flags

        parser = super().build_parser()
        for action in parser._subparsers._group_actions:
            for sub in action.choices.values():
                func = sub.get_default("func")
                if func is not None:
                    sub.set_defaults(func=_flagged(func, to_flags))
        return parser


FRAME = _Frame(PROG, "staleness.commands", __doc__.splitlines()[0])
build_parser = FRAME.build_parser


def _builtin(argv: list[str]) -> str | None:
    """The module of the built-in command ``argv`` starts with (``--debug`` aside), else None."""
    first = next((a for a in argv if a != "--debug"), "")
    if not first or first.startswith(("-", "_")) or not first.replace("-", "_").isidentifier():
        return None
    name = f"staleness.commands.{first.replace('-', '_')}"
    return name if importlib.util.find_spec(name) is not None else None


def main(argv: list[str] | None = None) -> int:
    """Run ``staleness`` on ``argv`` and return the exit status.

    A built-in command (``staleness simulate ...``) gets a parser holding only that command: the same
    subparser, messages and exit codes, without importing the other commands or looking up plugins and
    the version in the installed metadata (about 50 ms of a cold start). Anything else (``--help``,
    ``--version``, a plugin such as ``train``, a typo) goes through the full frame.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    module = _builtin(args)
    if module is None:
        return FRAME.main(args)
    from dlperf.cli import DEBUG_ENV, OneLineParser, run_cli
    from staleness.commands._common import to_flags

    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true",
                        help=f"show the full traceback of any error (also: {DEBUG_ENV}=1; allowed anywhere)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    importlib.import_module(module).register(sub)
    for choice in sub.choices.values():
        choice.set_defaults(func=_flagged(choice.get_default("func"), to_flags))
    return run_cli(parser, args)
