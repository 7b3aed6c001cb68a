"""Command line of the archcalc package: ``archcalc MODEL [options]`` or ``archcalc COMMAND [options]``.

Each subcommand lives in its own module under :mod:`archcalc.commands` and is discovered by the shared
frame in :mod:`dlperf.cli`; module ``inception_module`` gives the command ``inception-module``. A first
argument that is neither a command nor an option is a model name, and the ``report`` command runs:
``archcalc vgg19 --table`` is ``archcalc report vgg19 --table``.

Errors a user can cause (``ValueError`` from the library, ``OSError``, argparse errors) print one line naming
the argument, the value and the fix, and exit with status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

from dlperf.cli import Frame

__all__ = ["main"]

PROG = "archcalc"
DEFAULT_COMMAND = "report"


def _with_command(argv: list[str]) -> list[str]:
    if argv and not argv[0].startswith("-") and argv[0] not in FRAME.command_names():
        return [DEFAULT_COMMAND, *argv]
    return argv


FRAME = Frame(PROG, "archcalc.commands", __doc__.splitlines()[0],
              epilog="A first argument that is not a command is a model: `archcalc vgg19 --table`, `archcalc list`.",
              rewrite=_with_command)
build_parser = FRAME.build_parser
command_names = FRAME.command_names
main = FRAME.main
