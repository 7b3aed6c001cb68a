"""timm models by name: ``timm:NAME`` is ``timm.create_model(NAME, pretrained=False)`` on the meta device, traced.

The default input is the model's ``pretrained_cfg["input_size"]`` (``(3, 224, 224)`` for most, 288 or 384
for some). Nothing is downloaded and no weights are allocated: the model is built on the meta device, or,
where its constructor computes with tensors, on the CPU with the random initialisation skipped and then
moved to meta (the pattern of :func:`archcalc.frontends.torch_trace.build_torchvision_meta`).

Examples
--------
>>> timm_input_size("convnext_tiny")
(3, 224, 224)
>>> g = from_timm("resnet18", (3, 64, 64))
>>> g.name, g.inputs[0].shape
('timm:resnet18', (3, 64, 64))
"""

from __future__ import annotations

import difflib
import functools
from typing import Any

from dlperf.errors import ArgumentError

__all__ = ["build_timm_meta", "timm_input_size", "from_timm", "check_timm_name"]


def check_timm_name(name: str) -> None:
    """Refuse a name timm does not know, in one line listing close matches."""
    try:
        import timm
    except ImportError as exc:
        raise ArgumentError("model", what=f"timm:{name} needs the timm package ({exc})", fix="pip install timm") from None

    if not isinstance(name, str) or not name:
        raise ArgumentError("model", what=f"got timm:{name!r}", fix="give timm:NAME (see timm.list_models())")
    if timm.is_model(name):
        return
    close = difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise ValueError(f"model: timm has no model {name!r}; {hint}timm.list_models() lists all "
                     f"{len(timm.list_models())} names")


@functools.lru_cache(maxsize=8)
def build_timm_meta(name: str) -> Any:
    """``timm.create_model(name, pretrained=False)`` in eval mode with its parameters on the meta device."""
    check_timm_name(name)  # first: timm missing or an unknown name is one line
    import timm
    import torch
    from torch.overrides import TorchFunctionMode

    from archcalc.frontends.torch_trace import _INIT_OPS, _fname

    try:
        with torch.device("meta"):
            return timm.create_model(name, pretrained=False).eval()
    except (NotImplementedError, RuntimeError):  # a constructor computing with tensors: build on the CPU
        pass

    class SkipInit(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
            kwargs = kwargs or {}
            target = args[0] if args else kwargs.get("tensor")
            if _fname(func) in _INIT_OPS and isinstance(target, torch.Tensor):
                return target  # random values a shape-only trace never reads
            return func(*args, **kwargs)

    try:
        with torch.no_grad(), SkipInit():
            module = timm.create_model(name, pretrained=False)
    except Exception as exc:  # one line naming the model
        raise ValueError(f"model: timm:{name} cannot be built: {type(exc).__name__}: "
                         f"{(str(exc).strip().splitlines() or [''])[0][:200]}") from None
    return module.to("meta").eval()


def timm_input_size(name: str) -> tuple[int, ...]:
    """The model's default per-sample input, ``pretrained_cfg["input_size"]`` (``(3, 224, 224)`` if absent)."""
    cfg = getattr(build_timm_meta(name), "pretrained_cfg", None) or {}
    return tuple(cfg.get("input_size") or (3, 224, 224))


def from_timm(name: str, input_shape: tuple[int, ...] | None = None, batch: int = 1, training: bool = False) -> Any:
    """Trace timm model ``name`` at the per-sample ``input_shape`` (default :func:`timm_input_size`; ``training``:
    in training mode, as :func:`~archcalc.frontends.torch_trace.from_torch`).

    Returns
    -------
    Graph
        Named ``timm:NAME``, ``twin`` ``timm:NAME`` (``archcalc crosscheck`` builds it).

    Raises
    ------
    ValueError
        An unknown name (one line with close matches), or an input the model cannot take.
    """
    from dataclasses import replace

    from archcalc.frontends.torch_trace import from_torch

    module = build_timm_meta(name)
    shape = tuple(input_shape) if input_shape is not None else timm_input_size(name)
    graph = from_torch(module, shape, batch=batch, name=f"timm:{name}", twin=f"timm:{name}", training=training)
    default = timm_input_size(name)
    note = f"timm {name}, pretrained=False; default input {'x'.join(map(str, default))} (pretrained_cfg)"
    return replace(graph, notes=(note, *graph.notes))
