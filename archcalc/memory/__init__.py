"""Training memory, in three rooms and three shared tables.

``formulas/``
    the papers' closed forms as exact integers or sympy expressions: model states per ZeRO stage
    (:mod:`~archcalc.memory.formulas.states`) and a transformer layer's activations
    (:mod:`~archcalc.memory.formulas.activations`); what ``archcalc memory`` prints.
``liveness/``
    the liveness simulator: the peak live bytes of a forward pass or a training step over a graph's tensor
    values (:func:`~archcalc.memory.liveness.peak.peak_memory`, run phase by phase by
    :class:`~archcalc.memory.liveness.step.Step`), with checkpointing, ZeRO sharding and the batch that
    fits (:func:`~archcalc.memory.liveness.fit.fit`); what ``archcalc peak`` and ``archcalc fit`` print.
``render/``
    tables, JSON and plots of both rooms' results (computing never imports rendering).

Shared by all: :mod:`~archcalc.memory.optimizers` (the one optimizer table),
:mod:`~archcalc.memory.precision` (precisions, dtype sizes, autocast's op lists) and
:mod:`~archcalc.memory.units` (byte sizes parsed and printed exactly).
"""
