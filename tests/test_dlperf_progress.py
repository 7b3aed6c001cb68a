"""dlperf.progress: a long command draws its rich bar on a terminal's stderr, and nothing on a pipe."""

from __future__ import annotations

import io
import re

import pytest

from dlperf.progress import progress

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal (what ``sys.stderr.isatty()`` and rich's console check)."""

    def isatty(self) -> bool:
        return True


def terminal_stderr(monkeypatch):
    """sys.stderr as a 100-column colour terminal; returns a function giving what was drawn, escapes removed.

    Called inside the test (pytest puts its own capture back on sys.stderr after the fixtures ran)."""
    for name in ("TTY_COMPATIBLE", "FORCE_COLOR", "NO_COLOR", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLUMNS", "100")
    fake = _Terminal()
    monkeypatch.setattr("sys.stderr", fake)
    return lambda: _ANSI.sub("", fake.getvalue())


def test_the_bar_draws_its_description_and_count_on_a_terminal(monkeypatch):
    drawn_text = terminal_stderr(monkeypatch)
    with progress(3, "fitting") as bar:
        for k in range(3):
            bar.advance(label=f"degree {k}")
    drawn = drawn_text()
    # the last frame, drawn when the bar stops (then erased: the bar is transient): 3 of 3 steps done
    assert "fitting: degree 2" in drawn and "3/3" in drawn


def test_the_bar_draws_nothing_on_a_pipe(capsys):
    with progress(3, "fitting") as bar:
        bar.advance(label="degree 0")
    assert capsys.readouterr().err == ""


@pytest.mark.torch
def test_archcalc_crosscheck_draws_its_bar_on_a_terminal_only(capsys, monkeypatch):
    from archcalc.check.crosscheck import STEPS
    from archcalc.cli import main

    drawn_text = terminal_stderr(monkeypatch)
    assert main(["crosscheck", "inception-small", "--input", "1x8x8"]) == 0
    drawn = drawn_text()
    # four stages (archcalc, torch on meta, fvcore on the CPU, comparison): 4 of 4 done, the last one named
    assert len(STEPS) == 4
    assert f"crosscheck inception-small: {STEPS[-1]}" in drawn and "4/4" in drawn
    assert "verdict: all rows agree" in capsys.readouterr().out  # the report itself still goes to stdout
    monkeypatch.undo()  # a pipe again
    assert main(["crosscheck", "inception-small", "--input", "1x8x8"]) == 0
    assert capsys.readouterr().err == ""


def test_staleness_sweep_draws_its_bar_on_a_terminal_only(capsys, monkeypatch):
    from staleness.cli import main

    argv = ["sweep", "--learners", "2,4", "--updates", "200"]
    drawn_text = terminal_stderr(monkeypatch)
    assert main(argv) == 0
    drawn = drawn_text()
    # --policy async,sync (the default) x --learners 2,4 = 4 runs; the last is sync at P = 4
    assert "sweeping: sync P=4" in drawn and "4/4" in drawn
    assert capsys.readouterr().out.count("sync") >= 2
    monkeypatch.undo()
    assert main(argv) == 0
    assert capsys.readouterr().err == ""
