"""Start-up of the three command lines: a table of commands that cannot drift from the modules, ``--help``
that imports no command module, ``--version`` read on demand, refusals that load no data.

The time itself is measured by ``benchmarks/bench_startup.py`` (ratios to ``import numpy`` in
benchmarks/RESULTS.md); here the imports behind it are checked, which a loaded machine cannot blur.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

from dlperf import cli

ROOT = Path(__file__).resolve().parents[1]
PROGS = ("archcalc", "staleness", "mlcore")
HEAVY = ("torch", "sympy", "sklearn", "scipy", "matplotlib", "rich", "numpy")


def _modules_of(package: str) -> set[str]:
    pkg = importlib.import_module(package)
    return {f"{package}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_")}


def _registered(command: cli.Command) -> tuple[str, str]:
    """(name, help) of the one parser that the command's module adds."""
    sub = argparse.ArgumentParser().add_subparsers()
    command.register(sub)
    assert len(sub._choices_actions) == 1, command
    action = sub._choices_actions[0]
    return action.dest, action.help


@pytest.mark.parametrize("prog", PROGS)
def test_the_table_lists_every_command_module_with_its_own_help(prog):
    table = importlib.import_module(f"{prog}.commands").COMMANDS
    assert {c.module for c in table} == _modules_of(f"{prog}.commands")
    assert [c.name for c in table] == sorted(c.name for c in table)  # --help lists them in this order
    for command in table:
        assert command.name == command.module.rsplit(".", 1)[1].replace("_", "-")
        assert _registered(command) == (command.name, command.help)


def test_the_staleness_plugin_row_matches_its_module():
    from mlcore.commands import STALENESS_TRAIN

    assert cli.plugin_commands("staleness") == {"train": "mlcore.commands:STALENESS_TRAIN"}
    assert cli._load("mlcore.commands:STALENESS_TRAIN") is STALENESS_TRAIN
    assert _registered(STALENESS_TRAIN) == ("train", STALENESS_TRAIN.help)


@pytest.mark.parametrize("prog", PROGS)
def test_lazy_help_equals_the_full_parsers_help(prog):
    # the placeholders carry the same one-liners as the real parsers, so nothing is lost in `prog --help`
    frame = importlib.import_module(f"{prog}.cli").FRAME
    assert frame.build_parser(lazy=True).format_help() == frame.build_parser().format_help()


def _imports(code: str) -> tuple[dict, str]:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1]), out.stdout


_RUN = ("import contextlib, io, json, sys\n"
        "from {prog}.cli import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):\n"
        "    rc = main({argv!r})\n"
        "print(buf.getvalue())\n"
        "print(json.dumps({{'rc': rc, 'modules': sorted(sys.modules)}}))\n")


@pytest.mark.parametrize("prog", PROGS)
def test_help_imports_no_command_module_and_nothing_heavy(prog):
    found, text = _imports(_RUN.format(prog=prog, argv=["--help"]))
    assert found["rc"] == 0 and "usage:" in text
    loaded = set(found["modules"])
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}
    commands = {m for m in loaded if ".commands." in m}
    assert not commands, commands
    table = importlib.import_module(f"{prog}.commands").COMMANDS
    assert all(c.name in text for c in table)


def test_a_subcommands_help_imports_that_module_alone():
    found, text = _imports(_RUN.format(prog="archcalc", argv=["list", "--help"]))
    assert found["rc"] == 0 and "usage: archcalc list" in text
    commands = {m for m in found["modules"] if m.startswith("archcalc.commands.")}
    assert commands == {"archcalc.commands.list"}
    assert not {m for m in found["modules"] if m.split(".")[0] in ("torch", "sympy")}


def test_version_is_read_only_when_asked():
    found, text = _imports(_RUN.format(prog="staleness", argv=["simulate", "--learners", "0"]))
    assert found["rc"] == 2 and "importlib.metadata" not in found["modules"]
    found, text = _imports(_RUN.format(prog="mlcore", argv=["--version"]))
    assert found["rc"] == 0 and text.startswith("mlcore ")


@pytest.mark.parametrize(("prog", "argv"), [
    ("staleness", ["train", "--learners", "0"]),
    ("staleness", ["train", "--policy", "k-sync", "--k", "9"]),
    ("staleness", ["train", "--lr", "nan"]),
    ("staleness", ["train", "--backend", "distributed", "--timeout", "0"]),
    ("archcalc", ["--batch", "0", "vgg19"]),
])
def test_a_refusal_loads_no_data_and_no_torch(prog, argv):
    # before the fix, `staleness train --workers 0` loaded scikit-learn's digits and torch (~3 s of CPU)
    # before refusing
    found, _ = _imports(_RUN.format(prog=prog, argv=argv))
    assert found["rc"] == 2
    assert not {m for m in found["modules"] if m.split(".")[0] in ("torch", "sklearn", "scipy", "sympy")}


def test_an_option_before_the_model_starts_the_report(capsys):
    from archcalc.cli import main

    # `archcalc --batch 0 vgg19` used to say "argument COMMAND: invalid choice: '0'"
    assert main(["--batch", "0", "vgg19"]) == 2
    assert capsys.readouterr().err == "archcalc: error: --batch: got 0; give an integer >= 1\n"
    assert main(["--batch", "2", "alexnet", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["batch"] == 2
