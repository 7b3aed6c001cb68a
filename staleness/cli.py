"""Command line of the staleness package: ``staleness COMMAND [options]``.

Each subcommand lives in its own module under :mod:`staleness.commands`, listed in its table
``COMMANDS`` and imported by the shared frame in :mod:`dlperf.cli` only when chosen (one-line errors, exit
status 2 for user errors, 130 on Ctrl-C, tracebacks only for bugs or with ``--debug``). ``staleness train``
is added by mlcore through the entry-point group ``dlperf.staleness.commands``. The library's errors
name parameters (``learners``); on the command line the frame names them by flag (``--learners``): the
option with that ``dest``, else :data:`FLAGS`.
"""

from __future__ import annotations

from dlperf.cli import Frame

__all__ = ["main"]

PROG = "staleness"

#: The library parameters whose flag is not the option of the same ``dest`` ("COMMAND param" for one command).
FLAGS = {
    "learners": "--learners", "delay_mean": "--delay", "spec": "--model", "path": "--data", "force": "--force",
    "stream": "no --gradients or --csv", "x": "--data", "y": "--data",
}

FRAME = Frame(PROG, "staleness.commands", __doc__.splitlines()[0], flags=FLAGS)
build_parser = FRAME.build_parser
main = FRAME.main
