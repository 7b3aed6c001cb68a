"""The backward of a custom ``torch.autograd.Function`` met while tracing: run it, count it, or list it.

autograd runs a custom Function's own ``backward`` instead of differentiating the ops of its ``forward``
(which run without grad). Reformer's reversible layers recompute each layer with grad enabled in that
backward and call ``.backward()`` on the recomputed output; a straight-through estimator returns its
incoming gradient. Neither is the analytical backward of the forward's ops.

After the traced forward, every custom Function node autograd's graph reaches from the outputs is found
(its ``grad_fn`` has ``_forward_cls``). :func:`trace_backward` calls that class's ``backward`` once, with
zero gradients of the Function's output shapes and the context autograd kept (saved tensors come back as
zeros of their shapes), under a fresh recorder of the same tracer: every torch call it makes is recorded
and its forward MACs count, and each ``.backward()`` / ``torch.autograd.backward`` it calls adds the
analytical backward of the recorded ops that call reaches (the real call then runs, so ``.grad`` is set as
the code expects). A custom Function inside that region (met again in the recomputed ops) is traced the same
way. The sum is the Function's backward MACs, exactly what autograd runs in ``loss.backward()``.

A backward that cannot be traced (it raises, calls ``torch.autograd.grad`` or ``backward(inputs=...)``,
runs an op archcalc does not model, or nests deeper than :data:`MAX_DEPTH`) is listed by the tracer as not
modelled, ``custom autograd.Function backward (NAME)``, with the reason in the graph's notes.

Examples
--------
>>> import torch
>>> class Twice(torch.autograd.Function):  # y = x @ w; backward gx = 2 (g @ w^T): 4x2 @ 2x3 = 24 MACs
...     @staticmethod
...     def forward(ctx, x, w):
...         ctx.save_for_backward(w)
...         return x @ w
...     @staticmethod
...     def backward(ctx, g):
...         (w,) = ctx.saved_tensors
...         return 2 * (g @ w.t()), None
>>> class Net(torch.nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.w = torch.nn.Parameter(torch.ones(3, 2))
...     def forward(self, x):
...         return Twice.apply(x * 1.0, self.w)
>>> from archcalc.frontends.torch_trace import from_torch
>>> from archcalc.ir.evaluate import evaluate
>>> g = from_torch(Net(), (3,), batch=4, training=True)
>>> [(n.kind, dict(n.hparams)["backward_macs"]) for n in g.nodes if n.kind == "CustomBackward"]
[('CustomBackward', 24)]
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["TracedBackward", "MAX_DEPTH", "autograd_reach", "custom_nodes", "trace_backward", "unmodelled_op"]

#: Custom Functions inside a custom backward's recomputed region are traced too, this many levels deep.
MAX_DEPTH = 4


@dataclass(frozen=True)
class TracedBackward:
    """What tracing one custom Function's backward found.

    ``function``: the Function's class name; ``backward_macs``: MACs its backward runs (None when it could
    not be traced); ``reason``: why not (one line), else None.
    """

    function: str
    backward_macs: int | None = None
    reason: str | None = None


class _Untraceable(Exception):
    """The backward does something whose cost the tracer cannot count (the message says what)."""


def unmodelled_op(function: str) -> str:
    """The name a custom Function's untraced backward is listed under (``op`` of its ``Unmodeled`` node).

    >>> unmodelled_op("MyClamp")
    'custom autograd.Function backward (MyClamp)'
    """
    return f"custom autograd.Function backward ({function})"


def autograd_reach(outputs: list[Any]) -> tuple[dict[int, Any], set[int]]:
    """(autograd nodes reached from ``outputs`` by id, ids of the leaf tensors that get a gradient)."""
    fns, leaves = [t.grad_fn for t in outputs], {id(t) for t in outputs if t.grad_fn is None}
    seen: dict[int, Any] = {}  # id -> the function itself, kept alive so that no id is reused meanwhile
    while fns:
        fn = fns.pop()
        if fn is None or id(fn) in seen:
            continue
        seen[id(fn)] = fn
        if hasattr(fn, "variable"):  # AccumulateGrad: a leaf that gets its gradient
            leaves.add(id(fn.variable))
        fns.extend(f for f, _ in fn.next_functions)
    return seen, leaves


def custom_nodes(seen: dict[int, Any]) -> list[Any]:
    """The custom Function nodes among autograd nodes ``seen`` (their class has ``_forward_cls``), in order."""
    return [fn for fn in seen.values() if getattr(fn, "_forward_cls", None) is not None]


def _zeros(meta: Any) -> Any:
    import torch

    return torch.zeros(tuple(meta.shape), dtype=meta.dtype, device=meta.device)


def trace_backward(fn: Any, module: Any, recording: Any, depth: int = 0) -> TracedBackward:
    """Run the backward of custom Function node ``fn`` (a ``grad_fn``) under the tracer and count its MACs.

    ``module``: the traced module (its parameters are named as in the forward); ``recording(module)``: a
    fresh recorder of the tracer and its TorchFunctionMode, placing each call as the forward did (the
    forward's value propagation on a meta trace).
    """
    name = fn._forward_cls.__name__
    try:
        macs = _run_backward(fn, module, recording, depth)
    except _Untraceable as exc:
        return TracedBackward(name, reason=str(exc))
    except Exception as exc:  # the user's backward failed on the traced values (Reformer's asserts train mode)
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        return TracedBackward(name, reason=f"its backward raised {type(exc).__name__}: {first}")
    return TracedBackward(name, backward_macs=macs)


def _run_backward(fn: Any, module: Any, recording: Any, depth: int) -> int:
    import torch

    from archcalc.frontends.torch_opaque import opaque_mode

    if depth > MAX_DEPTH:
        raise _Untraceable(f"custom Functions nest more than {MAX_DEPTH} deep")
    grads = [_zeros(m) for m in fn._input_metadata]
    rec, mode = recording(module)
    for i, g in enumerate(grads):
        rec.bind(g, f"grad{i}")
    calls = _BackwardCalls(rec, module, recording, depth, grads)
    # autograd runs a backward with grad mode off; the code turns it on where it recomputes. autograd
    # detaches each saved tensor it hands out (ctx.saved_tensors): no op of the user's backward
    with torch.no_grad(), opaque_mode(rec, skip=frozenset({"detach"})), mode, calls:
        fn._forward_cls.backward(fn, *grads)
    rec.running = False
    unmodelled = sorted(rec.unmodeled)
    if unmodelled:
        raise _Untraceable("its backward runs ops archcalc does not model: " + ", ".join(unmodelled))
    ev = _evaluate(rec, module, grads, {})
    return int(ev.total("macs")) + calls.macs


@contextmanager
def _no_modes() -> Iterator[None]:
    """No torch function mode (the recorders') sees the calls made inside; they are put back afterwards."""
    from torch.overrides import _get_current_function_mode_stack, _pop_mode, _push_mode

    stack = _get_current_function_mode_stack()
    for _ in stack:
        _pop_mode()
    try:
        yield
    finally:
        for mode in stack:
            _push_mode(mode)


class _BackwardCalls:
    """A TorchFunctionMode (built on first use) over the recorder's: each ``backward`` call inside the traced
    backward adds the analytical backward MACs of the recorded ops it reaches, then runs for real."""

    def __new__(cls, *args: Any) -> Any:
        from torch.overrides import TorchFunctionMode

        class Mode(TorchFunctionMode):
            def __init__(self, rec: Any, module: Any, recording: Any, depth: int, grads: list[Any]) -> None:
                super().__init__()
                self.rec, self.module, self.recording, self.depth, self.grads = rec, module, recording, depth, grads
                self.macs = 0

            def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
                import torch

                kwargs = kwargs or {}
                name = getattr(func, "__name__", "")
                if name == "__get__" and getattr(getattr(func, "__self__", None), "__name__", "") == "grad":
                    # ``x.grad`` after an inner backward: a tensor made outside the recorded calls (a constant)
                    with torch._C.DisableTorchFunction():
                        return func(*args, **kwargs)
                if name == "grad" and func is torch.autograd.grad:
                    raise _Untraceable("its backward calls torch.autograd.grad (only the gradients it asks for "
                                       "are computed, which the analytical backward does not follow)")
                if name != "backward" or not args:
                    return func(*args, **kwargs)
                if kwargs.get("inputs") is not None or kwargs.get("create_graph"):
                    raise _Untraceable("its backward calls backward(inputs=...) or create_graph=True")
                from torch.utils._pytree import tree_leaves

                # the counting itself is no op of the traced code: no mode records it (a nested custom Function's
                # backward is traced under its own recorder)
                self.rec.inside += 1
                try:
                    with _no_modes():
                        roots = [t for t in tree_leaves(args[0]) if isinstance(t, torch.Tensor)]
                        macs, seen = _reached_backward_macs(self.rec, self.module, self.recording, self.depth,
                                                            roots, self.grads)
                        self.macs += macs
                        self._set_leaf_grads(seen)
                finally:
                    self.rec.inside -= 1
                return None

            @staticmethod
            def _set_leaf_grads(seen: dict[int, Any]) -> None:
                """The real call is not run: the engine cannot mix a meta trace's real CPU values with meta
                gradients, and its ops are the analytical backward just counted. Each leaf it reaches gets a
                gradient of its shape, which is all the code after it reads (``x.grad`` added to the next
                gradient)."""
                import torch

                for f in seen.values():
                    leaf = getattr(f, "variable", None)
                    if leaf is not None and leaf.grad is None:
                        leaf.grad = torch.zeros_like(leaf)

        return Mode(*args)


def _reached_backward_macs(rec: Any, module: Any, recording: Any, depth: int, roots: list[Any],
                           grads: list[Any]) -> tuple[int, dict[int, Any]]:
    """(backward MACs, autograd nodes reached) of ``roots``' backward over the ops ``rec`` recorded: the
    analytical backward of each recorded op autograd reaches from them, plus the traced backward of each
    custom Function it reaches."""
    seen, leaves = autograd_reach(roots)
    # a tensor made without grad and then marked ``requires_grad = True`` (Reformer's recomputed input) is
    # a leaf now: read that off the live tensor, not the flag recorded when it was made
    flags = {i: tuple(any(id(f) in seen for f in fs) if fs else
                      (key in leaves and rec.values.get(key) == rec.nodes[i].outputs[k])
                      for k, (_, fs, key) in enumerate(outs)) for i, outs in rec.autograd.items()}
    total = 0
    for inner in custom_nodes(seen):
        found = trace_backward(inner, module, recording, depth + 1)
        if found.backward_macs is None:
            raise _Untraceable(f"{unmodelled_op(found.function)} inside it: {found.reason}")
        total += found.backward_macs
    ev = _evaluate(rec, module, grads, flags)
    return total + int(ev.total("backward_macs")), seen


def _evaluate(rec: Any, module: Any, grads: list[Any], flags: dict[int, tuple[bool, ...]]) -> Any:
    """Evaluate the ops ``rec`` recorded so far as a graph (``flags``: which outputs get a gradient, by node;
    a node without flags gets none)."""
    from archcalc.ir.dtypes import DTYPES
    from archcalc.ir.evaluate import evaluate
    from archcalc.ir.graph import Graph, TensorSpec

    def dtype(t: Any) -> str:
        name = str(t.dtype).removeprefix("torch.")
        return name if name in DTYPES else "float32"

    nodes = tuple(replace(n, requires_grad=flags.get(i, (False,) * len(n.outputs))) for i, n in enumerate(rec.nodes))
    specs = tuple(TensorSpec(f"grad{i}", tuple(g.shape), dtype(g), batched=False) for i, g in enumerate(grads))
    params = list(module.named_parameters(remove_duplicate=True))
    state = [*params, *module.named_buffers(remove_duplicate=True)]
    graph = Graph("custom backward", "", specs, nodes, (), params=tuple((n, tuple(p.shape)) for n, p in params),
                  buffers=tuple((n, tuple(b.shape)) for n, b in module.named_buffers(remove_duplicate=True)),
                  traced_at=tuple(s.shape for s in specs),
                  dtypes=tuple((n, dtype(t)) for n, t in state if dtype(t) != "float32"),
                  frozen_params=tuple(n for n, p in params if not p.requires_grad))
    return evaluate(graph)
