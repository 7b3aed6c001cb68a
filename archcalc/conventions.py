"""Counting conventions: what one number in the "compute" column means.

archcalc's own conventions are ``macs`` (one per multiply-accumulate of a contraction: weights and
activation-activation products such as attention's) and
``flops`` (2 x MACs). Presets that reproduce other tools' totals register here too, so a user can see why
tools disagree. A convention maps an evaluated row to its forward count and, where the tool counts one,
its backward count.

Examples
--------
>>> from archcalc.zoo import build
>>> from archcalc.ir.evaluate import evaluate
>>> ev = evaluate(build("alexnet"))
>>> conv = get_convention("flops")
>>> sum(conv.forward(r) for r in ev.rows) == 2 * ev.total("macs")
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from archcalc import presets
from archcalc.ir.evaluate import Row
from dlperf.errors import ArgumentError

__all__ = ["Convention", "CONVENTIONS", "register_convention", "get_convention"]


@dataclass(frozen=True)
class Convention:
    """A named way of counting compute.

    Attributes
    ----------
    name : str
        Command-line name (``--convention NAME``).
    unit : str
        ``"MACs"`` or ``"FLOPs"``: printed next to every number.
    description : str
        One line saying what is counted and what is not (bias, BN, pooling, activations).
    forward : callable
        ``Row -> count`` for the forward pass.
    backward : callable or None
        ``Row -> count`` for the backward pass, or None when the convention has no backward count.
    """

    name: str
    unit: str
    description: str
    forward: Callable[[Row], Any]
    backward: Callable[[Row], Any] | None = None


CONVENTIONS: dict[str, Convention] = {}


def register_convention(conv: Convention) -> Convention:
    """Add ``conv``; a name registered twice raises ``ValueError``."""
    if conv.name in CONVENTIONS:
        raise ValueError(f"convention {conv.name!r} is already registered")
    CONVENTIONS[conv.name] = conv
    return conv


def get_convention(name: str) -> Convention:
    """The convention called ``name``; unknown names raise ``ValueError`` listing the known ones."""
    try:
        return CONVENTIONS[name]
    except KeyError:
        raise ArgumentError("convention", name, f"choose one of {', '.join(CONVENTIONS)}") from None


register_convention(
    Convention(
        "macs",
        "MACs",
        "one per multiply-accumulate of a contraction (conv, linear, matmul, attention's QK^T and AV); bias, "
        "norms, activations and pooling are not MACs (see elementwise_ops)",
        forward=lambda r: r.macs,
        backward=lambda r: r.backward_macs,
    )
)
register_convention(
    Convention(
        "flops",
        "FLOPs",
        "2 per multiply-accumulate of a contraction (= 2 x MACs); bias, norms, activations and pooling not included",
        forward=lambda r: 2 * r.macs,
        backward=lambda r: 2 * r.backward_macs,
    )
)

# The presets reproducing other tools, listed explicitly (their formulas live in archcalc/presets.py).
for _name, _unit, _forward, _backward in (("fvcore", "MACs", presets.fvcore_forward, None),
                                          ("torch", "FLOPs", presets.torch_forward, presets.torch_backward),
                                          ("ptflops", "MACs", presets.ptflops_forward, None),
                                          ("thop", "MACs", presets.thop_forward, None)):
    register_convention(Convention(_name, _unit, presets.DESCRIPTIONS[_name], forward=_forward, backward=_backward))
