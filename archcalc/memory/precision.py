"""Which registry kinds run in which dtype, per precision: pure fp32 / fp16 / bf16 and torch autocast.

``fp32``, ``fp16``, ``bf16``: the model and its input are converted (``model.to(dtype)``): every parameter,
activation and gradient has that dtype. ``fp16-mixed`` and ``bf16-mixed`` follow ``torch.autocast``: the
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
>>> [dtype_bytes(p) for p in ("fp32", "bf16", "bf16-mixed")]
[4, 2, 2]
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
           "dtype_bytes", "param_bytes", "is_mixed", "value_bytes"]


@dataclass(frozen=True)
class PrecisionSpec:
    """One precision: the parameters' dtype, the low (compute) dtype, and whether it is ``torch.autocast``."""

    name: str
    params: str
    compute: str
    autocast: bool


#: The one precision table (``--precision`` of every command; :mod:`archcalc.memory.formulas.states` too).
PRECISION_TABLE: Mapping[str, PrecisionSpec] = MappingProxyType({
    "fp32": PrecisionSpec("fp32", "float32", "float32", False),
    "fp16": PrecisionSpec("fp16", "float16", "float16", False),
    "bf16": PrecisionSpec("bf16", "bfloat16", "bfloat16", False),
    "fp16-mixed": PrecisionSpec("fp16-mixed", "float32", "float16", True),
    "bf16-mixed": PrecisionSpec("bf16-mixed", "float32", "bfloat16", True),
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


def _check(precision: str, device: str = "cpu") -> None:
    if precision not in PRECISIONS:
        raise ArgumentError("precision", precision, f"choose one of {', '.join(PRECISIONS)}")
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
    """Bytes per parameter element: 2 for pure fp16 / bf16, 4 otherwise (autocast keeps fp32 parameters)."""
    _check(precision)
    return DTYPES[PRECISION_TABLE[precision].params]


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
