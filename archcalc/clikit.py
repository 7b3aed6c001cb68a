"""The command-line frame shared by ``archcalc``, ``staleness`` and ``mlcore``.

Each subcommand is a module in the package's ``commands`` folder that defines ``register(subparsers)``
(adding its parser with ``set_defaults(func=run)``) and ``run(args) -> int``; modules are discovered, so
adding a command touches no frame code, and module ``a_b`` gives the command ``a-b``. Errors a user can
cause (``ValueError`` from a library, ``FileNotFoundError``, argparse errors) print one line naming the
argument, the value and the fix, and exit with status 2; never a traceback.

Examples
--------
>>> from staleness import commands
>>> "simulate" in command_names(commands)
True
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from types import ModuleType

__all__ = ["OneLineParser", "command_names", "build_parser", "run_cli"]


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (argparse prints usage + message) and exit 2."""

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _modules(commands: ModuleType) -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_"))


def command_names(commands: ModuleType) -> list[str]:
    """Command-line names of the subcommand modules found in the package ``commands``."""
    return [name.replace("_", "-") for name in _modules(commands)]


def build_parser(prog: str, description: str, commands: ModuleType, epilog: str | None = None) -> argparse.ArgumentParser:
    """A parser with one subparser per module of ``commands``."""
    parser = OneLineParser(prog=prog, description=description, epilog=epilog)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for name in _modules(commands):
        importlib.import_module(f"{commands.__name__}.{name}").register(sub)
    return parser


def run_cli(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    """Parse ``argv``, run the chosen command and return its exit status (2 for user errors)."""
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, one line already printed)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, IsADirectoryError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
