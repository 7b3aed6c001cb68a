"""Bounds on the size of a graph before any work on it (issue 22, item 4: every long request estimated).

A zoo transformer's graph grows by the same ops per layer, so its op count for ``layers`` is known from
one- and two-layer builds in milliseconds: :func:`~archcalc.models.zoo_transformers.check_transformer_size`
refuses a config whose graph would pass :data:`MAX_OPS` (the analysis, and a table of one row per op, take seconds up to there and
minutes beyond), saying the estimate and the way out. A training step's peak memory walks the live
storages at every op (time growing with the square of the op count), so :func:`check_training_size`
refuses graphs above :data:`MAX_TRAINING_OPS` for it.

Measured on one core (``archcalc gpt --layers L --json``, user time): inference 5 s for 34,024 ops
(L = 2000); a training step 1.7 s for 1,724 ops (L = 100), 5.3 s for 3,424 (L = 200).

Examples
--------
>>> from archcalc.models.zoo import build
>>> len(build("resnet18").nodes) <= MAX_TRAINING_OPS, check_training_size(build("resnet18"))
(True, None)
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_OPS", "MAX_TRAINING_OPS", "check_training_size"]

#: Ops in one graph, above which a zoo transformer is refused before it is built.
MAX_OPS = 20_000
#: Ops in a graph whose training-step peak memory is computed (the walk is quadratic in the ops).
MAX_TRAINING_OPS = 8_000


def check_training_size(graph: Any) -> None:
    """Raise ``ValueError`` when a training step's peak memory of ``graph`` would take minutes."""
    ops = len(graph.nodes)
    if ops > MAX_TRAINING_OPS:
        raise ValueError(f"training: the graph holds {ops:,} ops; a training step's peak memory takes time "
                         f"growing with the square of the ops (about 5 s for 3,400, minutes past "
                         f"{MAX_TRAINING_OPS:,}); analyse a smaller model (fewer layers) or leave training out")
