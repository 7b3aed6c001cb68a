"""Command line of the mlcore package: ``mlcore COMMAND [options]``.

Each subcommand lives in its own module under :mod:`mlcore.commands` and is discovered by the shared
frame in :mod:`dlperf.cli` (one-line errors, exit status 2 for user errors, 130 on Ctrl-C, tracebacks
only for bugs or with ``--debug``).
"""

from __future__ import annotations

from dlperf.cli import Frame

__all__ = ["main"]

PROG = "mlcore"
FRAME = Frame(PROG, "mlcore.commands", __doc__.splitlines()[0])
build_parser = FRAME.build_parser
main = FRAME.main
