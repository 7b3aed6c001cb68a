"""Exact per-layer shapes, parameters, MACs, activations and memory of any PyTorch model, as integers or formulas.

The curated API (each name is imported on first use: ``import archcalc`` imports neither torch nor sympy):

- models: :func:`build` (a zoo model by name), :func:`from_torch` (trace an ``nn.Module``),
  :class:`Graph`, :class:`GraphBuilder`;
- counts: :func:`evaluate` (every row of a graph), :func:`report` (the table ``archcalc MODEL`` prints),
  :func:`closed_form` (formulas in the input size), :func:`crosscheck` (against torch, fvcore);
- memory: :func:`peak_memory` (peak live bytes of inference or a training step), :func:`fit` (the largest
  batch that fits a budget).

Every result has a short repr, ``to_dict()`` and ``to_pandas()``.

>>> import archcalc
>>> ev = archcalc.evaluate(archcalc.build("vgg11"), (3, 32, 32))
>>> ev.total("params"), ev.total("macs")  # torchvision vgg11: 132,863,336 parameters
(132863336, 276398080)
"""

import sys
import types
from typing import Any

__all__ = ["build", "from_torch", "Graph", "GraphBuilder", "evaluate", "report", "closed_form", "crosscheck",
           "peak_memory", "fit"]

# Lazy top-level shortcuts: importing archcalc never imports torch or sympy.
_LAZY = {"from_torch": "archcalc.frontends.torch_trace", "closed_form": "archcalc.symbolic",
         "evaluate": "archcalc.ir.evaluate", "Graph": "archcalc.ir.graph", "GraphBuilder": "archcalc.ir.build",
         "build": "archcalc.zoo", "report": "archcalc.report", "crosscheck": "archcalc.crosscheck",
         "peak_memory": "archcalc.memory.peak", "fit": "archcalc.memory.fit"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'archcalc' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


class _Package(types.ModuleType):
    """``archcalc.report`` and ``archcalc.crosscheck`` are the functions, though modules of the same names
    exist: importing those modules (``from archcalc.report import Report``) leaves the package attribute alone."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
