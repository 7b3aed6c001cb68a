"""Exact per-layer shapes, parameters, MACs, activations and memory of any PyTorch model, as integers or formulas.

The curated API (each name is imported on first use: ``import archcalc`` imports neither torch nor sympy):

- models: :func:`build` (a zoo model by name), :func:`from_torch` (trace an ``nn.Module``), :func:`from_hf`
  (a Hugging Face model from its config), :func:`from_timm` (a timm model by name), :class:`Graph`,
  :class:`GraphBuilder`;
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

from dlperf.lazy import lazy_exports

__all__ = ["build", "from_torch", "from_hf", "from_timm", "Graph", "GraphBuilder", "evaluate", "report",
           "closed_form", "crosscheck", "peak_memory", "fit"]

# Lazy top-level shortcuts: importing archcalc never imports torch or sympy.
_LAZY = {"from_torch": "archcalc.frontends.torch_trace", "from_hf": "archcalc.frontends.hf",
         "from_timm": "archcalc.frontends.timm_models", "closed_form": "archcalc.symbolic",
         "evaluate": "archcalc.ir.evaluate", "Graph": "archcalc.ir.graph", "GraphBuilder": "archcalc.ir.build",
         "build": "archcalc.zoo", "report": "archcalc.report", "crosscheck": "archcalc.crosscheck",
         "peak_memory": "archcalc.memory.liveness.peak", "fit": "archcalc.memory.liveness.fit"}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
