"""Command line of the archcalc package: ``archcalc MODEL [options]`` or ``archcalc COMMAND [options]``.

Each subcommand lives in its own module under :mod:`archcalc.commands` and is discovered here, so
adding a command never touches this file. A module there defines ``register(subparsers)`` which adds a
parser and sets ``func=run`` with ``run(args) -> int``; module ``inception_module`` gives the command
``inception-module``. A first argument that is neither a command nor an option is a model name, and the
``report`` command runs: ``archcalc vgg19 --table`` is ``archcalc report vgg19 --table``.

Errors a user can cause (``ValueError`` from the library, ``FileNotFoundError``, argparse errors) print one
line naming the argument, the value and the fix, and exit with status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

__all__ = ["main", "build_parser", "command_names", "PROG"]

PROG = "archcalc"
DEFAULT_COMMAND = "report"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage + message)
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _command_modules() -> list[str]:
    from archcalc import commands

    return sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_"))


def command_names() -> list[str]:
    """Command-line names of the discovered subcommands (module ``a_b`` gives ``a-b``)."""
    return [name.replace("_", "-") for name in _command_modules()]


def build_parser() -> argparse.ArgumentParser:
    """The full parser: one subparser per module in :mod:`archcalc.commands`."""
    parser = _Parser(
        prog=PROG,
        description=__doc__.splitlines()[0],
        epilog="A first argument that is not a command is a model: `archcalc vgg19 --table`, `archcalc list`.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in _command_modules():
        importlib.import_module(f"archcalc.commands.{name}").register(sub)
    return parser


def _with_command(argv: list[str]) -> list[str]:
    if argv and not argv[0].startswith("-") and argv[0] not in command_names():
        return [DEFAULT_COMMAND, *argv]
    return argv


def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``) and return the exit status."""
    args_list = _with_command(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # --help (0) or a usage error (2, one line already printed)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, IsADirectoryError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
