"""Reading a torch call's arguments, shared by the mapping tables (:mod:`archcalc.frontends.torch_ops` and
:mod:`archcalc.frontends.torch_ops_kinds`).

Examples
--------
>>> arg((1, 2), {"dim": 0}, 1, "dim"), arg((1,), {"axis": -1}, 1, "dim"), arg((1,), {}, 1, "dim", 3)
(0, -1, 3)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Mapped", "arg", "is_tensor", "reduction"]

#: What a mapping returns: ``(kind, hparams, tensor inputs in the formula's order)``.
Mapped = tuple[str, dict[str, Any], list[Any]]


def arg(args: tuple, kw: dict, i: int, name: str, default: Any = None) -> Any:
    """Argument ``name`` at position ``i`` (or by keyword)."""
    if name in kw:
        return kw[name]
    if name == "dim" and "axis" in kw:  # numpy's spelling, which torch accepts too (LongT5's cumsum)
        return kw["axis"]
    return args[i] if len(args) > i else default


def is_tensor(x: Any) -> bool:
    import torch

    return isinstance(x, torch.Tensor)


def reduction(kind: str) -> Callable[[tuple, dict], Mapped]:
    """The mapping of a ``(input, dim=None, keepdim=False)`` reduction (``prod``, ``argmax``, ``logsumexp`` ...)
    to ``kind``: a list of dims becomes a tuple."""
    def m(args: tuple, kw: dict) -> Mapped:
        dim = arg(args, kw, 1, "dim")
        return kind, {"dim": tuple(dim) if isinstance(dim, list | tuple) else dim,
                      "keepdim": bool(arg(args, kw, 2, "keepdim", False))}, [args[0]]
    return m
