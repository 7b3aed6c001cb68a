"""Checks against other tools and the real run, and the counting conventions that make them comparable.

:mod:`~archcalc.check.crosscheck` compares every row with the real torch module (fvcore, torch's FLOP
counter, forward shapes); :mod:`~archcalc.check.saved` compares saved activations with what autograd keeps;
:mod:`~archcalc.check.crosscheck_render` renders both (nothing computed there);
:mod:`~archcalc.check.conventions` lists what one "compute" number means, and
:mod:`~archcalc.check.presets` reproduces other tools' totals from archcalc's rows (no torch).
"""
