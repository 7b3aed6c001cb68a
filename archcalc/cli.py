"""Command line of the archcalc package: ``archcalc MODEL [options]`` or ``archcalc COMMAND [options]``.

Each subcommand lives in its own module under :mod:`archcalc.commands` and is discovered by the shared
frame in :mod:`dlperf.cli`; module ``inception_module`` gives the command ``inception-module``. A first argument that is neither a command nor an option is a model name, and the
``report`` command runs: ``archcalc vgg19 --table`` is ``archcalc report vgg19 --table``.

Errors a user can cause (``ValueError`` from the library, ``OSError``, argparse errors) print one line naming
the argument, the value and the fix, and exit with status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys

from dlperf import cli as clikit

__all__ = ["main", "build_parser", "command_names", "PROG"]

PROG = "archcalc"
DEFAULT_COMMAND = "report"


def command_names() -> list[str]:
    """Command-line names of the discovered subcommands (module ``a_b`` gives ``a-b``)."""
    from archcalc import commands

    return clikit.command_names(commands, PROG)


def build_parser() -> argparse.ArgumentParser:
    """The full parser: one subparser per module in :mod:`archcalc.commands`."""
    from archcalc import commands

    epilog = "A first argument that is not a command is a model: `archcalc vgg19 --table`, `archcalc list`."
    return clikit.build_parser(PROG, __doc__.splitlines()[0], commands, epilog=epilog)


def _with_command(argv: list[str]) -> list[str]:
    if argv and not argv[0].startswith("-") and argv[0] not in command_names():
        return [DEFAULT_COMMAND, *argv]
    return argv


def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``) and return the exit status."""
    return clikit.run_cli(build_parser(), list(sys.argv[1:] if argv is None else argv), rewrite=_with_command)


if __name__ == "__main__":
    sys.exit(main())
