"""Ops the torch-function tracer cannot see: TorchScript and other calls below ``__torch_function__``.

``@torch.jit.script`` functions and scripted modules run in TorchScript's interpreter, which never calls
``__torch_function__``, so the tracer's ``TorchFunctionMode`` misses every op inside them. Their aten ops
still pass torch's dispatcher: :func:`opaque_mode` is a ``TorchDispatchMode`` that records each aten op run
outside any traced torch-function call as an ``Unmodeled`` node ``aten.NAME`` (listed by kind, counted 0,
never a silent zero), and :func:`script_caller` names the TorchScript function from the caller's line.
"""

from __future__ import annotations

from typing import Any

__all__ = ["opaque_mode", "script_caller"]


def script_caller() -> str | None:
    """The TorchScript function or module being called now, or None: TorchScript runs without a Python frame,
    so the first Python frame up the stack outside torch is the caller, and its current line names it."""
    import linecache
    import re
    import sys

    import torch

    frame = sys._getframe(1)
    while frame is not None and ("/torch/" in frame.f_code.co_filename or frame.f_code.co_filename.endswith(("torch_opaque.py", "torch_trace.py", "torch_values.py"))):
        frame = frame.f_back
    if frame is None:
        return None
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno)
    for chain in re.findall(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", line):
        head, *rest = chain.split(".")
        value = frame.f_locals.get(head, frame.f_globals.get(head))
        for attr in rest:
            value = getattr(value, attr, None) if value is not None and not isinstance(value, torch.Tensor) else None
        if isinstance(value, torch.jit.ScriptFunction):
            return value.name
        if isinstance(value, torch.jit.ScriptModule):
            return getattr(value, "original_name", chain)
    return None


def opaque_mode(rec: Any, skip: frozenset[str] = frozenset()) -> Any:
    """A TorchDispatchMode that sees the aten ops no torch-function call accounts for: a ``@torch.jit.script``
    helper (TorchScript never calls ``__torch_function__``) or another call below the torch-function level.
    Each is recorded as ``Unmodeled`` (op ``aten.NAME``, listed, never a silent zero), but those named in
    ``skip`` (``"detach"``: autograd's own, when it hands out a saved tensor)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Opaque(TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
            out = func(*args, **(kwargs or {}))
            if rec.inside == 0 and rec.running and func.overloadpacket.__name__ not in skip:
                rec.record_opaque(func, args, kwargs or {}, out, script_caller())
            return out

    return Opaque()
