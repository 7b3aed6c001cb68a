"""The one optimizer table: what each ``--optimizer`` keeps per parameter and allocates in its update.

Every command and function that takes an optimizer reads this table (the model-state formulas of
:mod:`archcalc.memory.formulas.states`, the liveness schedule's optimizer step in :mod:`archcalc.memory.liveness.backward`
and :mod:`archcalc.memory.liveness.zero`, the per-layer report's ``optimizer_bytes``). The entries follow
``torch.optim``'s single-tensor implementations (the CPU default, ``foreach=False``):

``sgd``
    ``torch.optim.SGD(lr=...)``: ``param.add_(grad, alpha=-lr)`` in place; no state.
``momentum``
    ``torch.optim.SGD(momentum=0.9)``: one momentum buffer per parameter (the first step clones the
    gradient into it; later steps update it in place).
``adam``, ``adamw``
    ``torch.optim.Adam`` / ``AdamW``: two moments per parameter (``exp_avg``, ``exp_avg_sq``) and a 0-d fp32
    ``step`` count; the update allocates two parameter-sized temporaries alive together
    (``exp_avg_sq.sqrt()`` and its quotient by the bias correction). AdamW's decoupled weight decay
    (``param.mul_(1 - lr * wd)``) is in place: the same memory as Adam.

Examples
--------
>>> [OPTIMIZER_TABLE[o].moments for o in OPTIMIZERS]
[0, 1, 2, 2]
>>> optimizer_spec("adamw").step_tensor_bytes, optimizer_spec("momentum").step_tensor_bytes
(4, 0)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from dlperf.errors import ArgumentError

__all__ = ["OptimizerSpec", "OPTIMIZER_TABLE", "OPTIMIZERS", "optimizer_spec"]


@dataclass(frozen=True)
class OptimizerSpec:
    """One optimizer's memory facts.

    ``moments``: parameter-sized state tensors per parameter (in the parameters' dtype, as ``zeros_like``);
    ``step_tensor_bytes``: bytes of the per-parameter ``step`` count (torch keeps it as a 0-d fp32 tensor on
    the CPU; 0 when there is none); ``temporaries``: parameter-sized tensors the update of one parameter
    holds at once; ``torch``: the call it stands for.
    """

    name: str
    moments: int
    step_tensor_bytes: int
    temporaries: int
    torch: str


OPTIMIZER_TABLE: Mapping[str, OptimizerSpec] = MappingProxyType({
    "sgd": OptimizerSpec("sgd", 0, 0, 0, "torch.optim.SGD(params, lr)"),
    "momentum": OptimizerSpec("momentum", 1, 0, 0, "torch.optim.SGD(params, lr, momentum=0.9)"),
    "adam": OptimizerSpec("adam", 2, 4, 2, "torch.optim.Adam(params)"),
    "adamw": OptimizerSpec("adamw", 2, 4, 2, "torch.optim.AdamW(params)"),
})

#: The optimizer names every command accepts, in the order they are listed.
OPTIMIZERS: tuple[str, ...] = tuple(OPTIMIZER_TABLE)


def optimizer_spec(name: str, argument: str = "optimizer") -> OptimizerSpec:
    """The table's entry for ``name``; ``ValueError`` naming ``argument`` and the choices otherwise.

    Examples
    --------
    >>> optimizer_spec("rmsprop")
    Traceback (most recent call last):
    ...
    dlperf.errors.ArgumentError: optimizer: got 'rmsprop'; choose one of sgd, momentum, adam, adamw
    """
    spec = OPTIMIZER_TABLE.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ArgumentError(argument, name, f"choose one of {', '.join(OPTIMIZERS)}")
    return spec
