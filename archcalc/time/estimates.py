"""The papers' closed forms for training compute and time, beside archcalc's exact count.

- Narayanan et al. 2021 (Megatron-LM at scale, SC'21), eq. (3): FLOPs per iteration of a GPT model with
  full activation recomputation ``F = 96 B s l h^2 (1 + s / (6h) + V / (16 l h))``: each layer's forward
  GEMMs (``24 B s h^2``) and attention products (``4 B s^2 h``) four times (forward, recomputed forward,
  backward = 2 x forward), the logit layer (``2 B s h V``) three times; element-wise work is dropped.
- The same paper's training time ``8 T P / (n X)`` (``T`` tokens, ``P`` parameters, ``n`` GPUs, ``X``
  achieved FLOP/s per GPU): ``F`` per token is about ``8 P`` with recomputation.
- Kaplan et al. 2020 / Hoffmann et al. 2022: training compute ``C = 6 N D`` (``N`` parameters, ``D`` tokens).

Every function takes and returns exact numbers when given ``int`` or ``Fraction``.

Examples
--------
>>> from fractions import Fraction
>>> days = megatron_training_seconds(300 * 10**9, 175 * 10**9, 1024, 140 * 10**12) / 86400
>>> round(float(days), 1)       # 8 * 300e9 * 175e9 / (1024 * 140e12) / 86400
33.9
>>> kaplan_compute(175 * 10**9, 300 * 10**9)
315000000000000000000000
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from dlperf.errors import ArgumentError

__all__ = ["megatron_flops", "megatron_training_seconds", "kaplan_compute", "ExactTraining", "exact_training_flops",
           "Run", "plan_run"]


def megatron_flops(batch: int, seq: int, layers: int, hidden: int, vocab: int) -> Fraction:
    """Narayanan et al. 2021 eq. (3): FLOPs per iteration with full recomputation, as an exact Fraction."""
    B, s, ell, h, V = (Fraction(x) for x in (batch, seq, layers, hidden, vocab))
    return 96 * B * s * ell * h**2 * (1 + s / (6 * h) + V / (16 * ell * h))


def megatron_training_seconds(tokens: Any, params: Any, devices: Any, flops_per_device: Any) -> Fraction:
    """Narayanan et al. 2021: end-to-end training time ``8 T P / (n X)`` in seconds (exact)."""
    for name, v in (("tokens", tokens), ("params", params), ("devices", devices), ("flops_per_device", flops_per_device)):
        if not v > 0:
            raise ArgumentError(name, v, "give a positive number")
    return Fraction(8) * Fraction(tokens) * Fraction(params) / (Fraction(devices) * Fraction(flops_per_device))


def kaplan_compute(params: Any, tokens: Any) -> Any:
    """Kaplan et al. 2020 / Hoffmann et al. 2022 training compute ``C = 6 N D`` in FLOPs."""
    return 6 * params * tokens


@dataclass(frozen=True)
class ExactTraining:
    """archcalc's exact count of one training iteration with full recomputation of every transformer layer.

    ``forward_macs``, ``backward_macs``, ``recompute_macs``: the three passes' MACs; ``flops`` = 2 x their
    sum; ``elementwise_by_kind``: forward element-wise operations (forward + recomputed forward of the
    layers) by op kind, the terms ``F`` drops (archcalc counts no backward element-wise work).
    """

    params: int
    forward_macs: int
    backward_macs: int
    recompute_macs: int
    elementwise_by_kind: dict[str, int]

    @property
    def flops(self) -> int:
        return 2 * (self.forward_macs + self.backward_macs + self.recompute_macs)


def exact_training_flops(cfg: Any, seq: int, batch: int) -> ExactTraining:
    """Evaluate the zoo's GPT graph of ``cfg`` and count a training iteration with full recomputation."""
    from archcalc.ir.evaluate import evaluate
    from archcalc.parallel.rank_graph import layer_prefix
    from archcalc.zoo_transformers import build_transformer

    ev = evaluate(build_transformer(cfg, seq), (seq,), batch, training=True)
    layer_rows = {r.name for r in ev.rows if any(r.name.startswith(layer_prefix(i)) for i in range(cfg.layers))}
    by_kind: dict[str, int] = {}
    for r in ev.rows:
        times = 2 if r.name in layer_rows else 1
        if r.elementwise_ops:
            by_kind[r.kind] = by_kind.get(r.kind, 0) + times * r.elementwise_ops
    return ExactTraining(params=ev.total("params"), forward_macs=ev.total("macs"),
                         backward_macs=ev.total("backward_macs"),
                         recompute_macs=sum(r.macs for r in ev.rows if r.name in layer_rows),
                         elementwise_by_kind=by_kind)


@dataclass(frozen=True)
class Run:
    """A training run of ``steps`` steps of ``step_s`` seconds on ``devices`` devices.

    ``tokens_per_step`` is what one step consumes over all data-parallel ranks (samples for a model without a
    sequence); ``hours`` is wall-clock, ``device_hours`` = hours x devices.
    """

    steps: int
    tokens_per_step: int
    step_s: float
    devices: int

    @property
    def tokens(self) -> int:
        return self.steps * self.tokens_per_step

    @property
    def seconds(self) -> float:
        return self.steps * self.step_s

    @property
    def hours(self) -> float:
        return self.seconds / 3600

    @property
    def days(self) -> float:
        return self.seconds / 86400

    @property
    def device_hours(self) -> float:
        return self.hours * self.devices


def plan_run(step_s: float, tokens_per_step: int, devices: int, *, tokens: int | None = None,
             steps: int | None = None) -> Run:
    """The run of ``steps`` steps, or of the steps ``tokens`` need (rounded up): exactly one must be given.

    >>> plan_run(2.0, 1000, 8, tokens=10_500).steps, plan_run(2.0, 1000, 8, steps=3).hours * 3600
    (11, 6.0)
    """
    if (tokens is None) == (steps is None):
        raise ValueError("tokens / steps: give exactly one of them")
    if tokens is not None and not (isinstance(tokens, int) and tokens > 0):
        raise ArgumentError("tokens", tokens, "give a positive integer")
    if steps is not None and not (isinstance(steps, int) and steps > 0):
        raise ArgumentError("steps", steps, "give a positive integer")
    n = steps if steps is not None else -(-tokens // tokens_per_step)
    return Run(steps=n, tokens_per_step=tokens_per_step, step_s=step_s, devices=devices)
