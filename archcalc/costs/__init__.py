"""Per-layer cost reports of a graph: computing them, rendering them, and their closed forms.

:mod:`~archcalc.costs.report` computes the frozen report behind ``archcalc MODEL``;
:mod:`~archcalc.costs.render` turns it into a table, JSON, CSV, Markdown or LaTeX (nothing computed there);
:mod:`~archcalc.costs.symbolic` evaluates a graph on sympy symbols (closed forms in H, W, B).
"""
