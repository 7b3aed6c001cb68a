"""Command line of the archcalc package: ``archcalc MODEL [options]`` or ``archcalc COMMAND [options]``.

Each subcommand lives in its own module under :mod:`archcalc.commands`, listed in its table
``COMMANDS`` and imported by the shared frame in :mod:`dlperf.cli` only when chosen; module
``inception_module`` gives the command ``inception-module``. A first argument that is neither a command
nor a top-level option (``--help``, ``--version``) starts the ``report`` command: ``archcalc vgg19 --table``
is ``archcalc report vgg19 --table``, and ``archcalc --batch 0 vgg19`` is ``archcalc report --batch 0 vgg19``.

Errors a user can cause (``ValueError`` from the library, ``OSError``, argparse errors) print one line naming
the argument, the value and the fix, and exit with status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

from dlperf.cli import Frame, plugin_commands

__all__ = ["main"]

PROG = "archcalc"
DEFAULT_COMMAND = "report"
_TOP_LEVEL_OPTIONS = ("-h", "--help", "--version")


def _with_command(argv: list[str]) -> list[str]:
    if not argv or argv[0] in _TOP_LEVEL_OPTIONS or argv[0] in FRAME.builtin_names():
        return argv
    if argv[0].startswith("-") or argv[0] not in plugin_commands(PROG):
        return [DEFAULT_COMMAND, *argv]
    return argv


#: The library parameters whose flag is not the option of the same ``dest`` ("COMMAND param" for one command);
#: every other parameter a library error names is the option with that dest (see :func:`dlperf.cli.flag_namer`).
FLAGS = {
    "input_shape": "--input", "input_shapes": "--input", "inputs": "--input", "input_dtypes": "--input-dtype",
    "network": "model", "cfg": "model", "checkpoint_segments": "--checkpoint", "size": "--device-memory",
    "memory_bytes": "--device-memory", "convention": "--memory-convention", "time name": "--device",
    "report cfg": "--kv-cache",
    "efficiency": "--compute-efficiency / --memory-efficiency / --launch-overhead",
}

FRAME = Frame(PROG, "archcalc.commands", __doc__.splitlines()[0],
              epilog="A first argument that is not a command is a model: `archcalc vgg19 --table`, `archcalc list`.",
              rewrite=_with_command, flags=FLAGS)
build_parser = FRAME.build_parser
command_names = FRAME.command_names
main = FRAME.main
