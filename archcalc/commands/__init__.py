"""Subcommands of the archcalc CLI, one module each, listed in :data:`COMMANDS` for archcalc.cli.

Module ``report`` is the default command (``archcalc MODEL``); its :func:`~archcalc.commands.report.add_report_options`
and :func:`~archcalc.commands.report.report_from_args` are the one place the report's options are parsed,
shared by every command that prints a report (``inception-module``).

The frame imports a command's module only when that command runs, so ``archcalc --help`` reads the names
and one-line helps from this table (``tests/test_cli_startup.py`` checks they equal the modules').
"""

from dlperf.cli import Command

#: One row per command module: name, the one-line help of ``archcalc --help``, the module.
COMMANDS = (
    Command("crosscheck", "compare every layer with the real torch model (fvcore, torch's FLOP counter, shapes); "
            "exit 1 on mismatch", "archcalc.commands.crosscheck"),
    Command("fit", "largest batch (or sequence length) whose peak fits in --device-memory", "archcalc.commands.fit"),
    Command("formula", "formulas of one layer kind (output size, params, MACs, activations, backward MACs) on symbols",
            "archcalc.commands.formula"),
    Command("inception-module", "one Inception module: naive, or with --reduce3/--reduce5/--pool-proj",
            "archcalc.commands.inception_module"),
    Command("list", "zoo models with default input, params and MACs", "archcalc.commands.list"),
    Command("memory", "training memory: ZeRO model states or Megatron activations", "archcalc.commands.memory"),
    Command("peak", "peak memory of inference or a training step (liveness; steady state N >= 2 unless --first-step)",
            "archcalc.commands.peak"),
    Command("report", "per-op report of a model: zoo, torchvision:NAME, timm:NAME, hf:NAME_OR_PATH or FILE.py:NAME "
            "(the default command: `archcalc MODEL`)", "archcalc.commands.report"),
    Command("time", "predicted time per op and per step on a device (roofline)", "archcalc.commands.time"),
)
