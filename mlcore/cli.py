"""Command line of the mlcore package: ``mlcore SUBCOMMAND [options]``.

Each subcommand lives in its own module under :mod:`mlcore.commands` and is discovered here, so
adding a command never touches this file. A module there defines ``register(subparsers)`` which adds a
parser and sets ``func=run`` with ``run(args) -> int``.

Errors a user can cause (``ValueError`` from the library, ``FileNotFoundError``, argparse errors) print one
line naming the argument, the value and the fix, and exit with status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

PROG = "mlcore"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage + message)
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from mlcore import commands

    parser = _Parser(prog=PROG, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, IsADirectoryError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
