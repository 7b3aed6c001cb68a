"""Exact per-layer shapes, parameters, MACs, activations and memory of any PyTorch model, as integers or formulas."""

from typing import Any

__all__ = ["from_torch", "from_hf", "from_timm", "closed_form", "evaluate", "Graph", "GraphBuilder", "build"]

# Lazy top-level shortcuts: importing archcalc never imports torch or sympy.
_LAZY = {"from_torch": "archcalc.frontends.torch_trace", "from_hf": "archcalc.frontends.hf",
         "from_timm": "archcalc.frontends.timm_models", "closed_form": "archcalc.symbolic",
         "evaluate": "archcalc.ir.evaluate", "Graph": "archcalc.ir.graph", "GraphBuilder": "archcalc.ir.build",
         "build": "archcalc.zoo"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'archcalc' has no attribute {name!r}")
