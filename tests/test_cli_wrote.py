"""Every file a command writes is named on stderr: ``wrote FILE`` (issue 20, item 3).

For each output option of each command (the options :data:`dlperf.cli.OUTPUT_FILES` names, found by walking
the three parsers), the command runs with that option pointing into a fresh folder: the file must exist
afterwards and a line of stderr must start with ``wrote`` and name its path.
"""

from __future__ import annotations

import importlib

import pytest

from dlperf.cli import OUTPUT_FILES

SMALL_DATA = ["--subset", "60", "--device", "cpu", "--threads", "1"]
#: Fast arguments per command that writes files; test_every_output_option_is_checked keeps it complete.
BASE = {
    ("archcalc", "report"): ["report", "alexnet"],
    ("archcalc", "inception-module"): ["inception-module", "--c1", "64", "--c3", "128", "--c5", "32",
                                       "--input", "192x28x28"],
    ("archcalc", "peak"): ["peak", "resnet18", "--input", "3x32x32", "--training"],
    ("staleness", "simulate"): ["simulate", "--learners", "4", "--updates", "200"],
    ("staleness", "sweep"): ["sweep", "--learners", "2,4", "--updates", "1000"],
    ("staleness", "train"): ["train", *SMALL_DATA, "--epochs", "1", "--policy", "async"],
    ("mlcore", "batch-size-sweep"): ["batch-size-sweep", *SMALL_DATA, "--epochs", "1", "--min-batch", "16",
                                     "--max-batch", "16"],
    ("mlcore", "bias-variance"): ["bias-variance", "--datasets", "5", "--degrees", "1-2"],
    ("mlcore", "clr"): ["clr", *SMALL_DATA, "--epochs", "1", "--batch-size", "16"],
    ("mlcore", "curves"): ["curves"],
    ("mlcore", "lr-range-test"): ["lr-range-test", *SMALL_DATA, "--num-iter", "5", "--batch-size", "16"],
}
SLOW = {"train", "batch-size-sweep", "clr", "lr-range-test"}  # they train a model
SUFFIX = {"--plot": "png", "--per-gradient": "csv", "--output": "txt"}


def output_options() -> list[tuple[str, str, str]]:
    """(prog, command, flag) of every output option of every command, from the parsers themselves."""
    found = []
    for prog in ("archcalc", "staleness", "mlcore"):
        parser = importlib.import_module(f"{prog}.cli").FRAME.build_parser()
        for name, sub in parser._subparsers._group_actions[0].choices.items():
            found += [(prog, name, a.option_strings[0]) for a in sub._actions if a.dest in OUTPUT_FILES]
    return found


def test_every_output_option_is_checked():
    assert {(prog, name) for prog, name, _ in output_options()} <= set(BASE)


@pytest.mark.parametrize("prog, name, flag", [
    pytest.param(*case, id=" ".join(case), marks=[pytest.mark.slow] if case[1] in SLOW else [])
    for case in output_options()])
def test_each_file_written_is_named(prog, name, flag, tmp_path, capsys):
    path = tmp_path / f"out.{SUFFIX[flag]}"
    status = importlib.import_module(f"{prog}.cli").main([*BASE[(prog, name)], flag, str(path)])
    err = capsys.readouterr().err
    assert status == 0, err
    assert path.is_file() and path.stat().st_size > 0
    assert any(line.startswith("wrote") and str(path) in line for line in err.splitlines()), err
