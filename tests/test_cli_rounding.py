"""Rounding never contradicts a comparison: a size printed as needing more than the budget reads as more.

The oracle is the library's exact result (integers of bytes); the printed figures are parsed back and must
keep the order of the exact values and lie within half a unit of the last printed digit of them.
"""

from __future__ import annotations

import re
from fractions import Fraction

import pytest

from archcalc.cli import main

FIGURE = r"([\d.]+) GB \(([\d.]+) GiB\)"


@pytest.mark.parametrize("margin", ["0", "5%"])
def test_fit_prints_the_next_size_above_the_usable_memory(capsys, margin):
    from archcalc.memory.liveness.fit import fit
    from archcalc.memory.units import parse_bytes
    from archcalc.report import resolve_model

    argv = ["fit", "resnet18", "--memory", "2GiB", "--training", "--input", "3x64x64", "--margin", margin]
    assert main(argv) == 0
    line = capsys.readouterr().out.splitlines()[0]
    net = resolve_model("resnet18", [(3, 64, 64)], 1)
    exact = fit(lambda batch, shape: net, parse_bytes("2GiB"), input_shape=(3, 64, 64), training=True,
                margin=0 if margin == "0" else 0.05)
    assert exact.usable_bytes < exact.next_peak_bytes  # the exact comparison the line states
    usable = re.search(FIGURE + (" usable" if margin != "0" else ":"), line)
    needs = re.search("one more needs " + FIGURE, line)
    assert usable and needs, line
    for (gb_text, gib_text), value in ((usable.groups(), exact.usable_bytes), (needs.groups(), exact.next_peak_bytes)):
        for text, unit in ((gb_text, 10**9), (gib_text, 2**30)):
            digits = len(text.split(".")[1])
            assert abs(Fraction(text) - Fraction(value, unit)) <= Fraction(1, 2 * 10**digits), (text, value)
    assert Fraction(needs.group(1)) > Fraction(usable.group(1)) and Fraction(needs.group(2)) > Fraction(usable.group(2))
