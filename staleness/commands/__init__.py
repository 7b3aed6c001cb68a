"""Subcommands of the staleness CLI, one module each, listed in :data:`COMMANDS` for staleness.cli.

The frame imports a command's module only when that command runs, so ``staleness --help`` reads the names
and one-line helps from this table (``tests/test_cli_startup.py`` checks they equal the modules').
"""

from dlperf.cli import Command

#: One row per command module: name, the one-line help of ``staleness --help``, the module.
COMMANDS = (
    Command("simulate", "simulate one parameter-server run", "staleness.commands.simulate"),
    Command("sweep", "simulate over learners, K, distributions and policies", "staleness.commands.sweep"),
    Command("theory", "closed forms (sympy) for a policy and distribution", "staleness.commands.theory"),
    Command("validate", "simulation against every closed form, with confidence intervals", "staleness.commands.validate"),
)
