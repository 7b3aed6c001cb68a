"""Model-state bytes of data-parallel training: weights, gradients, master weights, optimizer states, ZeRO.

The precision names the layout (:mod:`archcalc.memory.precision`, the one vocabulary of every command):

``fp16-master``, ``bf16-master`` (Rajbhandari et al. 2020, section 3.1; Megatron-LM, DeepSpeed)
    half-precision weights (2 bytes) and gradients (2 bytes) plus K bytes per parameter of fp32 state that
    only the optimizer touches: a master copy of the weights (4) and the optimizer's moments (Adam: 4 + 4),
    so K = 12 and Adam costs 2 + 2 + 12 = 16 bytes per parameter.
``fp16-mixed``, ``bf16-mixed`` (``torch.autocast`` with a ``GradScaler``)
    the parameters stay fp32 and are cast per op on the fly, so weights (4) and gradients (4) are fp32 and
    there is no separate master copy; Adam's moments are fp32 (4 + 4): again 16 bytes per parameter, laid
    out differently (K = 8). The half-precision casts autocast makes are transient (its weight cache lives
    until the autocast region exits, and autograd saves the casts for backward), so they belong to the
    activation peak, not to model states, and are not counted here.

Before the two were named apart, ``archcalc memory`` called the master layout ``bf16-mixed`` (its
``--memory-convention zero``, the default, against ``torch``); ``convention="zero"`` still turns a ``-mixed``
name into its ``-master`` layout and ``convention="torch"`` keeps it autocast, so old calls that named the
convention keep their numbers.

For ``fp32``, ``fp16`` and ``bf16`` (pure, no master copy) every state has the parameters' dtype, as
``torch.optim`` creates its moments with ``zeros_like(param)``.

ZeRO stage ``z`` on ``N_d`` data-parallel ranks shards, on top of the previous stage, the optimizer states
and master weights (z >= 1), the gradients (z >= 2) and the weights (z >= 3). A sharded state keeps
``ceil(params / N_d)`` elements per rank (DeepSpeed and FSDP pad the flat buffer so that every rank's
partition is equal; their further alignment padding is not counted); that is the paper's ``Psi / N_d``
whenever ``N_d`` divides ``Psi``.

Every function is plain integer arithmetic, so sympy symbols work too (``ceil`` becomes ``-floor(-x)``).

Examples
--------
>>> from archcalc.memory.units import format_bytes
>>> for z in range(4):  # ZeRO's Figure 1: Psi = 7.5e9, N_d = 64, mixed-precision Adam
...     print(z, format_bytes(model_state_bytes(7_500_000_000, data_parallel=64, zero=z).per_device_bytes))
0 120.0 GB (111.8 GiB)
1 31.4 GB (29.2 GiB)
2 16.6 GB (15.5 GiB)
3 1.9 GB (1.7 GiB)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archcalc.memory.optimizers import OPTIMIZERS, optimizer_spec
from archcalc.memory.precision import PRECISIONS, master_bytes, param_bytes, precision_spec, state_bytes
from dlperf.errors import ArgumentError, ref
from dlperf.results import Result
from dlperf.validate import check_int

__all__ = ["OPTIMIZERS", "PRECISIONS", "CONVENTIONS", "ZERO_STAGES", "BytesPerParam", "ModelStateMemory",
           "bytes_per_param", "model_state_bytes", "resolve_precision"]

#: The old ``--memory-convention`` values (hidden aliases): ``zero`` = the ``-master`` layout, ``torch`` = autocast.
CONVENTIONS = ("zero", "torch")
ZERO_STAGES = (0, 1, 2, 3)

_ZERO_SHARDS = {0: "nothing", 1: "optimizer states", 2: "optimizer states, gradients",
                3: "optimizer states, gradients, weights"}


def _choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ArgumentError(name, value, f"choose one of {', '.join(choices)}")
    return value


def _positive(name: str, value: Any) -> None:
    check_int(name, value, symbolic=True, what="a positive integer (or a sympy expression)")


@dataclass(frozen=True)
class BytesPerParam:
    """Bytes each parameter costs in every model state, before any sharding.

    ``k`` is ZeRO's K: the bytes per parameter that only the optimizer step touches (master weights plus
    optimizer states), the part ZeRO stage 1 shards.

    Examples
    --------
    >>> layout = bytes_per_param("adam", "bf16-master")
    >>> (layout.weights, layout.gradients, layout.k, layout.total)
    (2, 2, 12, 16)
    """

    weights: int
    gradients: int
    master_weights: int
    optimizer_states: int

    @property
    def k(self) -> int:
        return self.master_weights + self.optimizer_states

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.k


def resolve_precision(precision: str, convention: str | None = None) -> str:
    """The precision ``precision`` names under the old ``convention`` (``None``: itself).

    ``convention="zero"`` turns ``fp16-mixed`` / ``bf16-mixed`` into ``fp16-master`` / ``bf16-master`` (what
    ``archcalc memory`` called mixed before the names were apart); ``"torch"`` keeps them autocast.

    Examples
    --------
    >>> resolve_precision("bf16-mixed", "zero"), resolve_precision("bf16-mixed"), resolve_precision("fp32", "zero")
    ('bf16-master', 'bf16-mixed', 'fp32')
    >>> resolve_precision("bf16-master", "torch")
    Traceback (most recent call last):
    ...
    dlperf.errors.ArgumentError: convention: got 'torch', autocast's layout, but precision 'bf16-master' keeps a master copy; give precision 'bf16-mixed' (torch.autocast) or drop convention
    """
    spec = precision_spec(precision)
    if convention is None:
        return precision
    _choice("convention", convention, CONVENTIONS)
    if convention == "zero" and spec.autocast:
        return precision.replace("-mixed", "-master")
    if convention == "torch" and spec.master:
        raise ArgumentError("convention", convention, f"give {ref('precision')} "
                            f"{precision.replace('-master', '-mixed')!r} (torch.autocast) or drop {ref('convention')}",
                            what=f"got 'torch', autocast's layout, but {ref('precision')} {precision!r} keeps a "
                            "master copy")
    return precision


def bytes_per_param(optimizer: str = "adam", precision: str = "bf16-master",
                    convention: str | None = None) -> BytesPerParam:
    """The per-parameter layout of ``optimizer`` trained in ``precision``.

    ``optimizer`` is ``sgd`` (no momentum: no state), ``momentum`` (one buffer), ``adam`` or ``adamw`` (two
    moments). ``precision`` is any name of :data:`~archcalc.memory.precision.PRECISIONS` (the module
    docstring says each layout); ``convention`` is the old spelling (:func:`resolve_precision`).

    Examples
    --------
    >>> [bytes_per_param(o, "fp32").total for o in OPTIMIZERS]  # 4 + 4 + 4 x moments
    [8, 12, 16, 16]
    >>> bytes_per_param("adam", "bf16-mixed")
    BytesPerParam(weights=4, gradients=4, master_weights=0, optimizer_states=8)
    """
    moments = optimizer_spec(optimizer).moments
    precision = resolve_precision(precision, convention)
    weights = param_bytes(precision)
    return BytesPerParam(weights=weights, gradients=weights, master_weights=master_bytes(precision),
                         optimizer_states=state_bytes(precision) * moments)


@dataclass(frozen=True, repr=False)
class ModelStateMemory(Result):
    """Model-state bytes of one data-parallel training setup.

    ``precision`` is the resolved name (a ``-master`` one where ``convention="zero"`` was given). The
    ``*_bytes`` components are for the whole model on one unsharded copy; ``total_bytes`` is their sum
    (ZeRO's ``(4 + K) Psi`` for mixed-precision Adam). ``per_device_bytes`` is what one of the
    ``data_parallel`` ranks holds under ZeRO stage ``zero``; ``shard_params`` is the parameters per rank of
    a sharded state, ``ceil(params / data_parallel)``.
    """

    params: Any
    optimizer: str
    precision: str
    data_parallel: Any
    zero: int
    layout: BytesPerParam
    weights_bytes: Any
    gradients_bytes: Any
    master_weights_bytes: Any
    optimizer_bytes: Any
    total_bytes: Any
    shard_params: Any
    per_device_bytes: Any

    @property
    def sharded(self) -> str:
        """Which states ZeRO stage ``zero`` shards, in words."""
        return _ZERO_SHARDS[self.zero]


def model_state_bytes(params: Any, *, optimizer: str = "adam", precision: str = "bf16-master",
                      data_parallel: Any = 1, zero: int = 0, convention: str | None = None) -> ModelStateMemory:
    """Bytes of weights, gradients, master weights and optimizer states, in total and per ZeRO rank.

    Parameters
    ----------
    params : int or sympy expression
        Number of parameters (ZeRO's Psi).
    optimizer, precision : str
        See :func:`bytes_per_param`; ``precision`` in the result is the resolved name.
    convention : str, optional
        The old spelling of the mixed layouts (:func:`resolve_precision`).
    data_parallel : int or sympy expression
        Data-parallel ranks N_d that shard the states under ZeRO.
    zero : int
        ZeRO stage 0 (plain data parallelism), 1, 2 or 3.

    Examples
    --------
    >>> m = model_state_bytes(7_500_000_000, data_parallel=64, zero=1)  # 4 Psi + 12 Psi / 64
    >>> m.total_bytes, m.per_device_bytes
    (120000000000, 31406250000)
    >>> import sympy
    >>> psi, n = sympy.symbols("Psi N_d", positive=True, integer=True)
    >>> model_state_bytes(psi, data_parallel=n, zero=3).per_device_bytes
    -16*floor(-Psi/N_d)
    """
    _positive("params", params)
    _positive("data_parallel", data_parallel)
    if zero not in ZERO_STAGES:
        raise ArgumentError("zero", zero, "choose a ZeRO stage: 0, 1, 2 or 3")
    precision = resolve_precision(precision, convention)
    layout = bytes_per_param(optimizer, precision)
    shard = -((-params) // data_parallel)  # ceil without an import, exact for ints and sympy
    held = {stage: shard if zero >= stage else params for stage in (1, 2, 3)}
    per_device = layout.k * held[1] + layout.gradients * held[2] + layout.weights * held[3]
    return ModelStateMemory(
        params=params, optimizer=optimizer, precision=precision,
        data_parallel=data_parallel, zero=zero, layout=layout,
        weights_bytes=layout.weights * params, gradients_bytes=layout.gradients * params,
        master_weights_bytes=layout.master_weights * params, optimizer_bytes=layout.optimizer_states * params,
        total_bytes=layout.total * params, shard_params=shard, per_device_bytes=per_device,
    )
