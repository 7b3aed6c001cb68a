"""The commands in a real pseudo-terminal of 80 columns: every printed line fits.

The polish tests patch rich's console to ``Console(width=80)``; these run the installed command line in a pty
whose window size is set to 24 x 80 with ``TIOCSWINSZ`` (what a terminal emulator does), so the width comes
from the operating system the way a user's does. ANSI escapes are removed before measuring; lines are counted
in characters (``len``), which equals columns for the box-drawing and ASCII characters these tables use.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
REDRAW = re.compile(r"\r|\x1b\[2K|\x1b\[[0-9]*A")  # a progress bar redraws in place: each redraw is a line


def run_in_terminal(args: list[str], columns: int = 80, timeout: float = 300) -> tuple[int, list[str]]:
    """Run ``python -m ARGS`` with stdout and stderr on a pty of ``columns``; return (status, visible lines)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed its side
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    status = proc.wait(timeout=timeout)
    text = ANSI.sub("", REDRAW.sub("\n", b"".join(chunks).decode("utf-8", "replace")))
    return status, [line for line in text.split("\n")]


SMALL_DATA = ["--subset", "60", "--device", "cpu", "--threads", "1"]

#: Representative, fast arguments for every subcommand of the three command lines (several for the commands
#: whose modes print different things); test_every_subcommand_is_measured keeps the list complete.
CASES = [
    ["archcalc", "--help"],
    ["archcalc", "vgg19", "--table"],
    ["archcalc", "resnet50"],
    ["archcalc", "resnet18", "--table", "--training", "--explain"],
    ["archcalc", "resnet18", "--all", "--training"],
    ["archcalc", "vgg19", "--symbolic"],
    ["archcalc", "gpt2", "--per-token"],
    ["archcalc", "gpt2", "--per-token", "--kv-cache"],
    ["archcalc", "gpt", "--symbolic", "--symbolic-config"],
    ["archcalc", "formula", "Conv2d"],
    ["archcalc", "list"],
    ["archcalc", "inception-module", "--c1", "64", "--c3", "128", "--c5", "32", "--input", "192x28x28"],
    ["archcalc", "peak", "resnet18", "--training", "--optimizer", "adam", "--input", "3x64x64"],
    ["archcalc", "fit", "resnet18", "--device-memory", "2GiB", "--training", "--input", "3x64x64"],
    ["archcalc", "time", "gpt2", "--device", "h100", "--precision", "bf16-mixed", "--training", "--batch", "8",
     "--tensor-parallel", "2", "--data-parallel", "4", "--recompute", "full", "--tokens", "1e9"],
    ["archcalc", "time", "resnet18", "--device", "h100"],
    pytest.param(["archcalc", "calibrate", "--quick", "--repeats", "3", "--output", "/dev/null"], marks=pytest.mark.slow),
    ["archcalc", "memory", "--params", "7.5e9", "--data-parallel", "64", "--zero", "0,1,2,3"],
    ["archcalc", "memory", "--megatron", "--seq", "2048", "--hidden", "12288", "--heads", "96", "--tensor-parallel", "8"],
    pytest.param(["archcalc", "crosscheck", "resnet18", "--input", "3x32x32"], marks=pytest.mark.slow),
    ["staleness", "--help"],
    ["staleness", "simulate", "--learners", "16", "--updates", "20000"],
    ["staleness", "theory", "--learners", "16"],
    ["staleness", "theory", "--learners", "8", "--policy", "ssp", "--bound", "0", "--dist", "pareto"],
    ["staleness", "theory", "--learners", "8", "--policy", "k-async", "--k", "2"],
    ["staleness", "validate", "--updates", "5000"],
    ["staleness", "sweep", "--learners", "2,4", "--updates", "5000"],
    pytest.param(["staleness", "train", *SMALL_DATA, "--epochs", "1"], marks=pytest.mark.slow),
    ["mlcore", "--help"],
    pytest.param(["mlcore", "batch-size-sweep", *SMALL_DATA, "--epochs", "1", "--min-batch", "16", "--max-batch", "32"],
                 marks=pytest.mark.slow),
    ["mlcore", "bias-variance", "--datasets", "5", "--degrees", "1-3", "--compare-ridge", "1"],
    pytest.param(["mlcore", "clr", *SMALL_DATA, "--epochs", "1", "--batch-size", "16"], marks=pytest.mark.slow),
    ["mlcore", "curves"],
    ["mlcore", "derive", "bias-variance"],
    ["mlcore", "derive", "bias-variance", "--latex"],
    pytest.param(["mlcore", "lr-range-test", *SMALL_DATA, "--num-iter", "20", "--batch-size", "16"],
                 marks=pytest.mark.slow),
]


def _argv(case) -> list[str]:
    return list(case.values[0]) if hasattr(case, "values") else case


def test_every_subcommand_is_measured():
    # the oracle: each command line's own table of commands (and plugins such as staleness train)
    from archcalc.cli import FRAME as ARCHCALC
    from mlcore.cli import FRAME as MLCORE
    from staleness.cli import FRAME as STALENESS

    measured = {(argv[0], argv[1]) for argv in map(_argv, CASES)}
    for frame in (ARCHCALC, STALENESS, MLCORE):
        for name in frame.command_names():
            implicit = frame.prog == "archcalc" and name == "report"  # `archcalc vgg19` is the report command
            assert implicit or (frame.prog, name) in measured, f"{frame.prog} {name}: add a case to CASES"
        assert (frame.prog, "--help") in measured


@pytest.mark.parametrize("args", CASES, ids=lambda a: " ".join(a[:4]))
def test_every_line_fits_an_80_column_terminal(args):
    status, lines = run_in_terminal(args)
    assert status == 0, "\n".join(lines[-5:])
    assert len([line for line in lines if line.strip()]) >= 3, lines
    widest = max(lines, key=len)
    assert len(widest) <= 80, (len(widest), widest)


def test_the_default_report_fits_one_screen_and_all_gives_every_row():
    # resnet50 has 175 rows (torchvision's 53 convs, 53 norms, 49 relus, 16 adds, pool, flatten, fc ...):
    # the default shows the 10 heaviest, the total and a short caption; --all every row
    status, lines = run_in_terminal(["archcalc", "resnet50"])
    shown = [line for line in lines if line.strip()]
    assert status == 0 and len(shown) <= 30, len(shown)
    assert any("25,557,032" in line and "4,089,184,256" in line for line in shown)  # sum(p.numel()), MACs
    status, lines = run_in_terminal(["archcalc", "resnet50", "--all"])
    assert status == 0 and any("layer4.2.conv3" in line for line in lines)
    assert len([line for line in lines if line.strip()]) > 175


def test_a_wider_terminal_gets_wider_tables():
    # the same table at 200 columns keeps columns the 80-column one drops: more text per line
    _, narrow = run_in_terminal(["archcalc", "resnet18", "--table", "--training"], columns=80)
    status, wide = run_in_terminal(["archcalc", "resnet18", "--table", "--training"], columns=200)
    assert status == 0
    assert 80 < max(map(len, wide)) <= 200
    assert max(map(len, narrow)) <= 80


def test_fitted_tables_keep_every_number_whole():
    # ZeRO's Figure 1 (7.5e9 parameters, N_d = 64): 16 Psi = 120,000,000,000 bytes, 4 Psi + 12 Psi / 64 =
    # 31,406,250,000, 2 Psi + 14 Psi / 64 = 16,640,625,000, 16 Psi / 64 = 1,875,000,000; each on one line
    _, lines = run_in_terminal(["archcalc", "memory", "--params", "7.5e9", "--data-parallel", "64", "--zero", "0,1,2,3"])
    text = "\n".join(lines)
    for number in ("120,000,000,000", "31,406,250,000", "16,640,625,000", "1,875,000,000"):
        assert number in text


def test_memory_at_80_columns_keeps_the_readable_sizes():
    # with --device-memory the ZeRO table is too wide for 80 columns: the exact byte count goes, the
    # GB (GiB) column stays; ZeRO-3 at Psi = 7.5e9, N_d = 64: 16 Psi / 64 = 1,875,000,000 B = 1.9 GB (1.7 GiB)
    status, lines = run_in_terminal(["archcalc", "memory", "--params", "7.5e9", "--data-parallel", "64",
                                     "--zero", "0,1,2,3", "--device-memory", "80GB"])
    text = "\n".join(lines)
    assert status == 0 and "1.9 GB (1.7 GiB)" in text and "120.0 GB (111.8 GiB)" in text
    assert "left out to fit 80 columns: bytes per device" in text and "1,875,000,000" not in text


def test_staleness_validate_fits_one_screen_and_all_gives_every_check():
    # the default grid: 29 cases, 82 checks; the default prints one row per policy (7) and the totals, the
    # whole table on a 24-line screen once the progress bar is gone; --all one row per check
    status, lines = run_in_terminal(["staleness", "validate", "--updates", "2000"])
    start = max(i for i, line in enumerate(lines) if "Simulation vs theory" in line)
    shown = [line for line in lines[start:] if line.strip()]
    assert status == 0 and len(shown) <= 24, shown
    assert sum(line.startswith("│") for line in shown) == 7
    assert shown[-1].startswith("82 of 82 checks within their interval (29 cases)")
    status, lines = run_in_terminal(["staleness", "validate", "--updates", "2000", "--all"])
    assert status == 0 and max(map(len, lines)) <= 80
    assert sum("staleness_pmf_0" in line for line in lines) > 1  # the per-check rows are back
