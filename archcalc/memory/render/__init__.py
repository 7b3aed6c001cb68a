"""Rendering of memory results: tables and JSON of the closed forms
(:mod:`~archcalc.memory.render.formulas`), of the liveness peak and fit (:mod:`~archcalc.memory.render.peak`),
and the peak's timeline plot (:mod:`~archcalc.memory.render.plot`)."""
