"""The one precision vocabulary: what each ``--precision`` keeps in which dtype, and which registry kinds
run in which dtype under ``torch.autocast``.

Every command and function that takes a precision reads :data:`PRECISION_TABLE` (``archcalc memory``,
``peak``, ``fit``, ``time``, ``report``; :mod:`archcalc.memory.formulas.states`, :mod:`archcalc.memory.liveness.peak`,
:mod:`archcalc.time.roofline`). Seven names, three layouts:

=================  ===========  ============  ==========  =======================  ==========================
name               weights      gradients     activations optimizer states         what it is
=================  ===========  ============  ==========  =======================  ==========================
``fp32``           fp32         fp32          fp32        fp32                     plain fp32 training
``fp16``, ``bf16`` 16-bit       16-bit        16-bit      16-bit (``zeros_like``)  ``model.to(dtype)``
``fp16-mixed``,    fp32         fp32          per op      fp32                     ``torch.autocast`` (AMP),
``bf16-mixed``                                                                     no master copy
``fp16-master``,   16-bit       16-bit        16-bit      fp32 master copy + fp32  ZeRO's, Megatron-LM's,
``bf16-master``                                           moments                  DeepSpeed's, apex O2's
=================  ===========  ============  ==========  =======================  ==========================

``fp32``, ``fp16``, ``bf16``: the model and its input are converted (``model.to(dtype)``): every parameter,
activation and gradient has that dtype. ``fp16-master`` and ``bf16-master`` (Rajbhandari et al. 2020, section
3.1: 2 + 2 + K bytes per parameter, K = 12 for Adam) run the model as the pure 16-bit precision does and keep,
for the optimizer only, an fp32 copy of the weights and fp32 moments: the step turns each 16-bit gradient
into an fp32 one, updates the master copy and writes it back into the 16-bit weights.
``fp16-mixed`` and ``bf16-mixed`` follow ``torch.autocast``: the
parameters (and so their gradients and the optimizer states) stay fp32, and each op's inputs are cast by the
op's autocast policy:

- ``lower``: cast floating inputs to the low dtype, output in the low dtype (convolutions, linear layers and
  matrix products, attention). Casts of parameters are cached for the autocast region (torch caches casts of
  leaf tensors that require grad), so each weight is cast once per forward.
- ``fp32``: cast floating inputs to fp32 (the ops torch lists as numerically sensitive; on the CPU mostly
  losses, on CUDA also normalisations, softmax and exponentials).
- anything else runs in the dtype of its inputs (the widest one when they differ, torch's type promotion).

The lists are torch's ``aten/src/ATen/autocast_mode.cpp`` (CPU and CUDA) mapped onto archcalc's registry
kinds, declared by each kind (:attr:`~archcalc.ops.traits.OpTraits.autocast`); ops of those lists archcalc has
no kind for are not listed.

Examples
--------
>>> autocast_policy("Conv2d", "cpu"), autocast_policy("LayerNorm", "cpu"), autocast_policy("LayerNorm", "cuda")
('lower', None, 'fp32')
>>> [dtype_bytes(p) for p in ("fp32", "bf16", "bf16-mixed", "bf16-master")]
[4, 2, 2, 2]
>>> [(param_bytes(p), master_bytes(p), state_bytes(p)) for p in ("bf16", "bf16-mixed", "bf16-master")]
[(2, 0, 2), (4, 0, 4), (2, 4, 4)]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from archcalc.ir.dtypes import DTYPES
from archcalc.ops.registry import REGISTRY
from archcalc.ops.traits import traits
from dlperf.errors import ArgumentError

__all__ = ["PRECISIONS", "PRECISION_TABLE", "PrecisionSpec", "DEVICES", "LOWER_PRECISION", "FP32", "autocast_policy",
           "dtype_bytes", "param_bytes", "is_mixed", "is_master", "master_bytes", "state_bytes", "value_bytes",
           "precision_spec", "precision_help"]


@dataclass(frozen=True)
class PrecisionSpec:
    """One precision: the parameters' dtype, the low (compute) dtype, whether it is ``torch.autocast``, whether
    the optimizer keeps an fp32 master copy of the weights (and fp32 states), and the layout in words."""

    name: str
    params: str
    compute: str
    autocast: bool
    master: bool = False
    layout: str = ""


#: The one precision table (``--precision`` of every command; :mod:`archcalc.memory.formulas.states` too).
PRECISION_TABLE: Mapping[str, PrecisionSpec] = MappingProxyType({
    "fp32": PrecisionSpec("fp32", "float32", "float32", False, layout="everything fp32"),
    "fp16": PrecisionSpec("fp16", "float16", "float16", False, layout="model.to(float16): everything 16-bit"),
    "bf16": PrecisionSpec("bf16", "bfloat16", "bfloat16", False, layout="model.to(bfloat16): everything 16-bit"),
    "fp16-mixed": PrecisionSpec("fp16-mixed", "float32", "float16", True,
                                layout="torch.autocast: fp32 weights, grads and states, 16-bit casts per op"),
    "bf16-mixed": PrecisionSpec("bf16-mixed", "float32", "bfloat16", True,
                                layout="torch.autocast: fp32 weights, grads and states, 16-bit casts per op"),
    "fp16-master": PrecisionSpec("fp16-master", "float16", "float16", False, master=True,
                                 layout="16-bit weights and grads + fp32 master copy and states (ZeRO, Megatron)"),
    "bf16-master": PrecisionSpec("bf16-master", "bfloat16", "bfloat16", False, master=True,
                                 layout="16-bit weights and grads + fp32 master copy and states (ZeRO, Megatron)"),
})
PRECISIONS: tuple[str, ...] = tuple(PRECISION_TABLE)
DEVICES = ("cpu", "cuda")


def _autocast_kinds(cls: str) -> dict[str, frozenset[str]]:
    import archcalc.ops  # noqa: F401  (importing the package registers every family)

    return {d: frozenset(k for k in REGISTRY if traits(k).autocast_policy(d) == cls) for d in DEVICES}


#: Kinds autocast runs in the low dtype, per device (CPU: torch's ``lower_precision_fp`` CPU list), from
#: the kinds' traits (a view for reading; :func:`autocast_policy` asks the traits).
LOWER_PRECISION: dict[str, frozenset[str]] = _autocast_kinds("lower")

#: Kinds autocast runs in fp32, per device (``fp32`` and ``fp32_set_opt_dtype`` lists), from the traits.
FP32: dict[str, frozenset[str]] = _autocast_kinds("fp32")


def precision_spec(precision: str, argument: str = "precision") -> PrecisionSpec:
    """The table's entry for ``precision``; :class:`~dlperf.errors.ArgumentError` naming ``argument`` otherwise.

    Examples
    --------
    >>> precision_spec("bf16-master").master, precision_spec("bf16-mixed").autocast
    (True, True)
    >>> precision_spec("mixed")
    Traceback (most recent call last):
    ...
    dlperf.errors.ArgumentError: precision: got 'mixed'; choose one of fp32, fp16, bf16, fp16-mixed, bf16-mixed, fp16-master, bf16-master
    """
    spec = PRECISION_TABLE.get(precision) if isinstance(precision, str) else None
    if spec is None:
        raise ArgumentError(argument, precision, f"choose one of {', '.join(PRECISIONS)}")
    return spec


def precision_help() -> str:
    """One help text naming every precision and its layout (the ``--precision`` help of every command).

    >>> "bf16-master = 16-bit weights and grads + fp32 master copy" in precision_help()
    True
    """
    return ("fp32; fp16, bf16 = model.to(dtype); fp16-mixed, bf16-mixed = torch.autocast (fp32 weights, no master "
            "copy); fp16-master, bf16-master = 16-bit weights and grads + fp32 master copy and optimizer states "
            "(ZeRO, Megatron-LM, DeepSpeed)")


def _check(precision: str, device: str = "cpu") -> None:
    precision_spec(precision)
    if device not in DEVICES:
        raise ArgumentError("device", device, f"choose one of {', '.join(DEVICES)}")


def is_mixed(precision: str) -> bool:
    """Whether ``precision`` is an autocast mode (``fp16-mixed``, ``bf16-mixed``)."""
    _check(precision)
    return PRECISION_TABLE[precision].autocast


def dtype_bytes(precision: str) -> int:
    """Bytes of the low dtype of ``precision``: 4 for fp32, 2 for every 16-bit mode (pure or mixed)."""
    _check(precision)
    return DTYPES[PRECISION_TABLE[precision].compute]


def param_bytes(precision: str) -> int:
    """Bytes per parameter element the model holds: 2 for fp16 / bf16 and the master layouts, 4 otherwise
    (autocast keeps fp32 parameters)."""
    _check(precision)
    return DTYPES[PRECISION_TABLE[precision].params]


def is_master(precision: str) -> bool:
    """Whether the optimizer keeps an fp32 master copy of 16-bit weights (``fp16-master``, ``bf16-master``)."""
    return precision_spec(precision).master


def master_bytes(precision: str) -> int:
    """Bytes per parameter of the fp32 master copy: 4 for the master layouts, 0 otherwise."""
    return DTYPES["float32"] if is_master(precision) else 0


def state_bytes(precision: str) -> int:
    """Bytes per element of the optimizer's moments: fp32 (4) under a master copy, else the parameters' dtype
    (``torch.optim`` makes them with ``zeros_like(param)``)."""
    return DTYPES["float32"] if is_master(precision) else param_bytes(precision)


def autocast_policy(kind: str, device: str = "cpu") -> str | None:
    """``"lower"``, ``"fp32"`` or ``None`` (runs in its inputs' dtype) for registry ``kind`` under autocast."""
    _check("fp32", device)
    return traits(kind).autocast_policy(device)


def value_bytes(dtype: str, floating_bytes: int) -> int:
    """Bytes per element of a value of IR ``dtype``: ``floating_bytes`` (what the precision gives float32
    values) for float32, the dtype's own size otherwise (a bool mask 1, int64 indices 8, an explicit fp16 cast 2).

    >>> value_bytes("float32", 2), value_bytes("bool", 4), value_bytes("int64", 4), value_bytes("bfloat16", 4)
    (2, 1, 8, 2)
    """
    if dtype == "float32":
        return floating_bytes
    return DTYPES[dtype]
