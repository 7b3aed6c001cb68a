"""The one dtype table: every element type archcalc names, its bytes, and the spellings that mean it.

torch's names are the canonical ones (``float32``, ``bfloat16``, ``int64`` ...). The short names of the
``--dtype`` and ``--precision`` vocabularies (``fp32``, ``fp16``, ``bf16``, ``int8``) and torch's aliases
(``float``, ``half``, ``long``, ``int``) are spellings of them; :func:`canonical` and :func:`dtype_bytes`
accept any. The report's ``--dtype`` choices, the precisions of the memory model
(:mod:`archcalc.memory.precision`), the tracer's input dtypes and the liveness schedule's input sizes all
read this table.

Examples
--------
>>> dtype_bytes("bf16"), dtype_bytes("int64"), dtype_bytes("bool"), canonical("long")
(2, 8, 1, 'int64')
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from dlperf.errors import ArgumentError

__all__ = ["DTYPES", "ALIASES", "canonical", "dtype_bytes"]

#: Canonical dtype name -> bytes per element.
DTYPES: Mapping[str, int] = MappingProxyType({
    "float64": 8, "float32": 4, "float16": 2, "bfloat16": 2,
    "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "bool": 1,
})

#: Other spellings -> canonical name.
ALIASES: Mapping[str, str] = MappingProxyType({
    "fp64": "float64", "double": "float64", "fp32": "float32", "float": "float32", "fp16": "float16",
    "half": "float16", "bf16": "bfloat16", "long": "int64", "int": "int32", "short": "int16",
})


def canonical(name: str, argument: str = "dtype") -> str:
    """The canonical name of ``name``; ``ValueError`` naming ``argument`` for an unknown one."""
    if isinstance(name, str):
        name = ALIASES.get(name, name)
        if name in DTYPES:
            return name
    raise ArgumentError(argument, name, f"choose one of {', '.join(DTYPES)}")


def dtype_bytes(name: str, argument: str = "dtype") -> int:
    """Bytes per element of ``name`` (any spelling)."""
    return DTYPES[canonical(name, argument)]
