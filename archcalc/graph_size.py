"""Bounds on the size of a graph before any work on it (issue 22, item 4: every long request estimated).

A zoo transformer's graph grows by the same ops per layer, so its op count for ``layers`` is known from
one- and two-layer builds in milliseconds: :func:`check_transformer_size` refuses a config whose graph
would pass :data:`MAX_OPS` (the analysis, and a table of one row per op, take seconds up to there and
minutes beyond), saying the estimate and the way out. A training step's peak memory walks the live
storages at every op (time growing with the square of the op count), so :func:`check_training_size`
refuses graphs above :data:`MAX_TRAINING_OPS` for it.

Measured on one core (``archcalc gpt --layers L --json``, user time): inference 5 s for 34,024 ops
(L = 2000); a training step 1.7 s for 1,724 ops (L = 100), 5.3 s for 3,424 (L = 200).

Examples
--------
>>> from archcalc.zoo_transformers import CONFIGS, with_sizes
>>> transformer_ops(with_sizes(CONFIGS["gpt"], layers=100))  # 24 + 99 x 17
1707
>>> check_transformer_size(with_sizes(CONFIGS["gpt"], layers=100000))
Traceback (most recent call last):
...
dlperf.errors.ArgumentError: layers: got 100000; the graph would hold 1,700,007 ops, over the 20,000 analysed in seconds; give layers <= 1176 (every layer is the same: a layer's figures times the layer count give the totals)
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

__all__ = ["MAX_OPS", "MAX_TRAINING_OPS", "transformer_ops", "check_transformer_size", "check_training_size"]

#: Ops in one graph, above which a zoo transformer is refused before it is built.
MAX_OPS = 20_000
#: Ops in a graph whose training-step peak memory is computed (the walk is quadratic in the ops).
MAX_TRAINING_OPS = 8_000


def transformer_ops(cfg: Any) -> int:
    """The op count of ``cfg``'s graph, from one- and two-layer builds (each layer adds the same ops)."""
    one, per = _per_layer(cfg)
    return one + (cfg.layers - 1) * per


def _per_layer(cfg: Any) -> tuple[int, int]:
    """The ops of a one-layer graph and the ops each further layer adds."""
    from archcalc.zoo_transformers import build_transformer

    one = len(build_transformer(replace(cfg, layers=1), 1).nodes)
    return one, len(build_transformer(replace(cfg, layers=2), 1).nodes) - one


def check_transformer_size(cfg: Any) -> None:
    """Raise ``ValueError`` naming ``layers`` when ``cfg``'s graph would pass :data:`MAX_OPS` ops."""
    if not isinstance(cfg.layers, int) or cfg.layers <= 64:  # every real model: nothing to estimate
        return
    one, per = _per_layer(cfg)
    ops = one + (cfg.layers - 1) * per
    if ops > MAX_OPS:
        most = 1 + (MAX_OPS - one) // per  # 24 + 1175 x 17 = 19,999 ops for gpt
        from dlperf.errors import ArgumentError, ref

        raise ArgumentError("layers", cfg.layers, f"give {ref('layers')} <= {most} (every layer is the same: a layer's "
                            "figures times the layer count give the totals)",
                            what=f"got {cfg.layers}; the graph would hold {ops:,} ops, over the {MAX_OPS:,} "
                                 "analysed in seconds")


def check_training_size(graph: Any) -> None:
    """Raise ``ValueError`` when a training step's peak memory of ``graph`` would take minutes."""
    ops = len(graph.nodes)
    if ops > MAX_TRAINING_OPS:
        raise ValueError(f"training: the graph holds {ops:,} ops; a training step's peak memory takes time "
                         f"growing with the square of the ops (about 5 s for 3,400, minutes past "
                         f"{MAX_TRAINING_OPS:,}); analyse a smaller model (fewer layers) or leave training out")
