"""Subcommands of the mlcore CLI, one module each, listed in :data:`COMMANDS` for mlcore.cli.

The frame imports a command's module only when that command runs, so ``mlcore --help`` reads the names
and one-line helps from this table (``tests/test_cli_startup.py`` checks they equal the modules').
:data:`STALENESS_TRAIN` is the row that the entry point ``dlperf.staleness.commands`` (pyproject.toml)
adds to ``staleness``: ``staleness train`` lives here, and ``staleness`` never imports mlcore.
"""

from dlperf.cli import Command

#: One row per command module: name, the one-line help of ``mlcore --help``, the module.
COMMANDS = (
    Command("batch-size-sweep", "training loss and accuracy per batch size", "mlcore.commands.batch_size_sweep"),
    Command("bias-variance", "bias^2, variance, noise and expected MSE per polynomial degree (Monte Carlo)",
            "mlcore.commands.bias_variance"),
    Command("clr", "train with torch's CyclicLR (triangular, triangular2, exp_range)", "mlcore.commands.clr"),
    Command("curves", "ROC / PR / PRG areas for the blood-transfusion study or your own scores", "mlcore.commands.curves"),
    Command("derive", "print a symbolic derivation (sympy)", "mlcore.commands.derive"),
    Command("lr-range-test", "learning-rate range test with torch-lr-finder / fastai suggestions",
            "mlcore.commands.lr_range_test"),
)

#: ``staleness train``, added to the staleness CLI through the entry point (not listed by ``mlcore``).
STALENESS_TRAIN = Command("train", "training with stale gradients (simulated schedule or real processes)",
                          "mlcore.commands._staleness_train")
