"""Command line of the mlcore package: ``mlcore COMMAND [options]``.

Each subcommand lives in its own module under :mod:`mlcore.commands` and is discovered by the shared
frame in :mod:`dlperf.cli` (one-line errors, exit status 2 for user errors, 130 on Ctrl-C, tracebacks
only for bugs or with ``--debug``).
"""

from __future__ import annotations

from dlperf.cli import Frame

__all__ = ["main"]

PROG = "mlcore"

#: The library parameters whose flag is not the option of the same ``dest`` ("COMMAND param" for one command);
#: every other parameter a library error names is the option with that dest (see :func:`dlperf.cli.flag_namer`).
FLAGS = {
    "spec": "--model", "path": "--data", "rules": "--rule", "n_datasets": "--datasets", "ridge_alpha": "--ridge",
    "smooth_f": "--smooth", "clr result": "--max-lr", "lr-range-test raw_losses": "--start-lr",
}

FRAME = Frame(PROG, "mlcore.commands", __doc__.splitlines()[0], flags=FLAGS)
build_parser = FRAME.build_parser
main = FRAME.main
