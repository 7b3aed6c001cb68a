"""Integer arithmetic that works unchanged on Python ints and on sympy expressions.

The formula registry is written once with these helpers and plain ``+ - * //``, so the same code gives
exact integers (the fast path: sympy is never imported) or closed forms when handed sympy symbols.

Examples
--------
>>> floordiv(7, 2), ceildiv(7, 2)
(3, 4)
>>> prod((3, 224, 224))
150528
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["floordiv", "ceildiv", "prod", "is_concrete"]


def is_concrete(*values: Any) -> bool:
    """True when every value is a plain ``int`` (so comparisons and loops are allowed)."""
    return all(isinstance(v, int) for v in values)


def floordiv(a: Any, b: Any) -> Any:
    """``floor(a / b)``; for sympy operands this is ``sympy.floor`` (via ``__floordiv__``)."""
    return a // b


def ceildiv(a: Any, b: Any) -> Any:
    """``ceil(a / b)`` written as ``-((-a) // b)`` so it needs no import and stays exact."""
    return -((-a) // b)


def prod(values: Iterable[Any]) -> Any:
    """Product of the values (1 for an empty sequence)."""
    out: Any = 1
    for v in values:
        out = out * v
    return out
