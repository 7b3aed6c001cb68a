"""Any torch model: trace a real forward pass at the torch-function level into archcalc's graph.

:func:`from_torch` runs the module once under a ``TorchFunctionMode`` on the meta device (no weight is
allocated or copied) and records every torch call. Tensors derived only from the inputs and factory calls
carry real CPU values (:mod:`archcalc.frontends.torch_values`), so masks, position ids, caches and
``.item()`` on them work; a CPU module whose forward reads values computed from its weights is traced
itself on the CPU. Every torch call (``F.conv2d``, ``F.linear``, ``torch.cat``, ``x.view(...)``, ``x + y``,
``x.chunk(3)`` ...) is recorded; Python control flow, tuples, modules called twice and shared weights are whatever the real run does.
Each call becomes one :class:`~archcalc.ir.graph.Node` of the registry kind :mod:`archcalc.frontends.torch_ops`
maps it to; a call without a mapping becomes an ``Unmodeled`` node (its traced shapes kept, every count
0) and is listed in the graph's notes, never dropped.

Never a silent wrong number: after tracing, the graph is evaluated and checked against the real run:
parameters equal the model's unique parameters (shared ones once) and every node's output shapes equal the
shapes torch produced. A mismatch raises ``ValueError``.

Node names are module names (``features.0``); an op a module runs besides its first, or a functional op,
is named ``{module}.{function}`` (``layer1.0.add``); a repeated name gets ``:2``, ``:3``.

Examples
--------
>>> import torch.nn as nn
>>> g = from_torch(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU6(), nn.Flatten(), nn.Linear(8 * 4 * 4, 2)),
...                (3, 4, 4))
>>> [(n.name, n.kind) for n in g.nodes]
[('0', 'Conv2d'), ('1', 'ReLU6'), ('2', 'Flatten'), ('3', 'Linear')]
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from archcalc.ir.graph import Graph, Node, TensorSpec
from archcalc.ops.misc import UNMODELED
from archcalc.ops.traits import traits
from dlperf.errors import ArgumentError
from dlperf.validate import check_int

__all__ = ["from_torch", "from_torchvision", "build_torchvision_meta", "torchvision_input_size", "unmodeled_nodes",
           "TraceError"]

# input dtypes a trace accepts (spellings of archcalc.ir.dtypes) -> canonical name
_DTYPES = {**{d: d for d in ("float32", "int64", "int32", "bool", "float16", "bfloat16")},
           "float": "float32", "long": "int64"}


class TraceError(ValueError):
    """The model cannot be traced at the given inputs (one line, naming the model and the cause)."""


class InputTraceError(TraceError, ArgumentError):
    """The user's forward fails at the given input shapes: a :class:`TraceError` naming ``input_shapes``."""


def unmodeled_nodes(graph: Graph) -> list[Node]:
    """The nodes of ``graph`` archcalc has no formula for (kind ``Unmodeled``)."""
    return [n for n in graph.nodes if not traits(n.kind).modeled]


def _flat_tensors(obj: Any) -> list[Any]:
    import torch

    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, list | tuple):
        return [t for o in obj for t in _flat_tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _flat_tensors(o)]
    return []


def _facts(tensors: list[Any]) -> dict[str, tuple[Any, ...]]:
    """The IR's facts about traced tensors, read off the real ones: dtype and whether autograd tracks them
    (a dtype outside archcalc's table, complex say, is left to evaluate's inference)."""
    from archcalc.ir.dtypes import DTYPES

    dtypes = tuple(str(t.dtype).removeprefix("torch.") for t in tensors)
    return {"dtypes": dtypes if all(d in DTYPES for d in dtypes) else (),
            "requires_grad": tuple(bool(t.requires_grad) for t in tensors)}


def _named_dtypes(module: Any) -> list[tuple[str, str]]:
    tensors = [*module.named_parameters(remove_duplicate=True), *module.named_buffers(remove_duplicate=True)]
    from archcalc.ir.dtypes import DTYPES

    named = [(n, str(t.dtype).removeprefix("torch.")) for n, t in tensors]
    return [(n, d) for n, d in named if d in DTYPES]


def _fname(func: Any) -> str:
    name = getattr(func, "__name__", None) or str(func)
    if name == "__get__":  # a property of Tensor: T, mT, data, real ...
        owner = getattr(func, "__self__", None)
        name = getattr(owner, "__name__", name)
    return name


def _grad_facts(t: Any) -> tuple[bool, tuple[Any, ...], int]:
    """(requires_grad, autograd functions that reach it, id) of a traced tensor. A view's base counts too: an
    in-place op on the view (``scores += bias`` on an einsum's permuted result) rebases the view's history
    onto its base, and the view's own ``grad_fn`` then drops out of the graph."""
    base = t._base
    fns = (t.grad_fn, base.grad_fn if base is not None else None)
    return bool(t.requires_grad), tuple(f for f in fns if f is not None), id(t)


class _Recorder:
    """State of one trace: tensors by id, nodes, module stack."""

    def __init__(self, module: Any) -> None:
        self.values: dict[int, str] = {}
        self.released: dict[str, int] = {}  # value -> index of the last node recorded before its tensor died
        self.running = True
        self.nodes: list[Node] = []
        self.real_shapes: dict[str, tuple[int, ...]] = {}
        self.real_alias: dict[str, tuple[int | None, ...]] = {}
        self.names: Counter[str] = Counter()
        self.stack: list[tuple[str, Any]] = []
        self.calls: dict[int, int] = {}  # id(module) -> ops recorded in its current call
        self.module_names = {id(m): n for n, m in module.named_modules(remove_duplicate=True)}
        self.leaves = {id(m) for m in module.modules() if not list(m.children())}
        self.params = {id(p): n for n, p in module.named_parameters(remove_duplicate=True)}
        self.buffers = {id(b): n for n, b in module.named_buffers(remove_duplicate=True)}
        self.unmodeled: Counter[str] = Counter()
        self.constants = 0
        self.module_seen: Counter[str] = Counter()
        self.call_name: dict[int, str] = {}
        self.inside = 0  # torch-function calls running now (aten ops outside them are opaque)
        self.opaque: Counter[str] = Counter()
        self.assumed_nodes: list[str] = []  # nodes whose inputs derive from a stated assumption (MoE routing)
        self.propagation: Any = None  # the value propagation of a meta trace (torch_values.Values)
        # node index -> each output's (requires_grad, grad_fns, id of the tensor): which get a gradient is
        # known only once the forward returns (autograd's graph from the outputs back, see reached)
        self.autograd: dict[int, list[tuple[bool, tuple[Any, ...], int]]] = {}
        self.no_grad: set[int] = set()  # nodes recorded with grad mode off
        self.rewrapped: set[int] = set()  # nodes whose output gained a gradient afterwards (check_rewrapped)
        self.rewrapped_by: dict[int, Any] = {}  # such a node -> the custom Function node that attached it
        self.wrapped_value: dict[int, tuple[int, str]] = {}  # id of that Function node -> (node index, value)
        self.custom: list[Any] = []  # torch_custom.TracedBackward of each custom Function the backward reaches
        self.module = module
        self.modelled_ids: set[int] = set()  # ids of the custom Function nodes whose backward was traced
        self.producer: dict[str, tuple[int, int]] = {}  # value -> (node index, output index), while recorded

    # -- module stack (global forward hooks)
    def enter(self, mod: Any) -> None:
        name = self.module_names.get(id(mod))
        if name is None:
            return
        self.module_seen[name] += 1
        k = self.module_seen[name]
        self.call_name[id(mod)] = name if k == 1 else f"{name}:{k}"
        self.stack.append((name, mod))
        self.calls[id(mod)] = 0

    def leave(self, mod: Any) -> None:
        if self.stack and self.stack[-1][1] is mod:
            self.stack.pop()

    # -- values
    def name_of(self, t: Any) -> str:
        key = id(t)
        if key in self.values:
            return self.values[key]
        if key in self.params:
            return self.params[key]
        if key in self.buffers:
            return self.buffers[key]
        # A tensor made outside the traced calls (a plain attribute, a tensor built at module init): a constant.
        self.constants += 1
        name = f"constant{self.constants}"
        self.autograd[len(self.nodes)] = [_grad_facts(t)]
        self.nodes.append(Node(name, "Constant", (), (name,), (("output_shape", tuple(t.shape)),), None,
                               **_facts([t]), constant=True))
        self.real_shapes[name] = tuple(t.shape)
        self.bind(t, name)
        return name

    def bind(self, t: Any, name: str) -> None:
        import weakref

        self.values[id(t)] = name
        weakref.finalize(t, self.died, id(t), name)

    def died(self, key: int, name: str) -> None:
        """A traced tensor's last reference went (its id may now be reused): when, in recorded nodes. Only the
        tensor's latest name is recorded: an in-place op rebinds the tensor, and the earlier value is then
        whatever storage the op model gives it (autograd's clone of a ``relu6_`` input, say)."""
        if self.values.get(key) == name:
            del self.values[key]
            if self.running and self.nodes:
                self.released[name] = len(self.nodes) - 1

    def scope(self) -> tuple[str, ...]:
        """The module calls the op now recorded runs inside: the innermost module's path and its prefixes."""
        parts = self.stack[-1][0].split(".") if self.stack else []
        return tuple(".".join(parts[: i + 1]) for i in range(len(parts)) if parts[i])

    def node_name(self, fname: str) -> tuple[str, str | None]:
        """(unique node name, leaf module name or None) for a call made now."""
        if not self.stack:
            base, module = fname, None
        else:
            path, mod = self.stack[-1]
            call = self.call_name[id(mod)]
            first = self.calls[id(mod)] == 0
            self.calls[id(mod)] += 1
            leaf = id(mod) in self.leaves
            module = path if leaf else None
            base = call if (leaf and first and path) else f"{call}.{fname}".lstrip(".")
        self.names[base] += 1
        k = self.names[base]
        return (base if k == 1 else f"{base}:{k}"), module

    def record_opaque(self, func: Any, args: tuple, kwargs: dict, result: Any, source: str | None) -> None:
        """An aten op that ran below the torch-function level: an ``Unmodeled`` node named ``aten.NAME``."""
        outs = _flat_tensors(result)
        if not outs:
            return
        op = f"aten.{func.overloadpacket.__name__}"
        self.opaque[f"{op} (in TorchScript {source})" if source else op] += 1
        tensors = _flat_tensors((args, kwargs))
        self.unmodeled[op] += 1
        name, module = self.node_name(op)
        hp = {"op": op, "traced_inputs": tuple(tuple(t.shape) for t in tensors),
              "output_shapes": tuple(tuple(o.shape) for o in outs)}
        inputs = tuple(self.name_of(t) for t in tensors)
        out_names = (name,) if len(outs) == 1 else tuple(f"{name}#{i}" for i in range(len(outs)))
        self.nodes.append(Node(name, "Unmodeled", inputs, out_names, tuple(hp.items()), module, **_facts(outs),
                               scope=self.scope()))
        for o, n in zip(outs, out_names, strict=True):
            self.real_shapes[n] = tuple(o.shape)
            self.real_alias[n] = (None,)
            self.bind(o, n)
    def reached(self, outputs: list[Any]) -> None:
        """Keep each node's ``requires_grad`` only where ``loss.backward()`` from ``outputs`` reaches the output:
        its ``grad_fn`` (or its base's, or the leaf tensor itself) is in autograd's graph of the outputs."""
        from dataclasses import replace

        from archcalc.frontends.torch_custom import autograd_reach

        seen, leaves = autograd_reach(outputs)
        for t in outputs:
            self.check_rewrapped(t)
        found = self.trace_custom(seen)
        self.modelled_ids = {id(fn) for fn, c in found if c.backward_macs is not None}
        inferred = self.rewrapped_regions(self.modelled_ids)
        for i, outs in self.autograd.items():
            flags = tuple(bool(req) and (any(id(f) in seen for f in fs) if fs else key in leaves)
                          for req, fs, key in outs)
            self.nodes[i] = replace(self.nodes[i], requires_grad=() if i in inferred else flags)
        self.autograd.clear()
        self.place_custom(found)

    def check_rewrapped(self, t: Any) -> None:
        """Note the producer of ``t`` when ``t`` requires grad now but did not when recorded: a custom autograd
        Function (a reentrant ``torch.utils.checkpoint``) ran grad-less ops and attached a gradient after."""
        at = self.producer.get(self.values.get(id(t), ""))
        if at is not None and t.requires_grad and not self.autograd[at[0]][at[1]][0]:
            self.rewrapped.add(at[0])
            self.rewrapped_by[at[0]] = t.grad_fn
            self.wrapped_value.setdefault(id(t.grad_fn), (at[0], self.nodes[at[0]].outputs[at[1]]))

    def trace_custom(self, seen: dict[int, Any]) -> list[tuple[Any, Any]]:
        """Trace the backward of each custom Function node in ``seen`` (:mod:`archcalc.frontends.torch_custom`):
        ``(Function node, TracedBackward)`` each. The module's gradients and the random state are put back
        afterwards (the backward may set ``.grad`` and reseed)."""
        import torch

        from archcalc.frontends.torch_custom import custom_nodes, trace_backward

        fns = custom_nodes(seen)
        if not fns:
            return []
        grads = [(p, p.grad) for p in self.module.parameters()]
        with torch.random.fork_rng(devices=[]):
            found = [(fn, trace_backward(fn, self.module, self.recording)) for fn in fns]
        for p, g in grads:
            p.grad = g
        self.custom.extend(c for _, c in found)
        return found

    def recording(self, module: Any) -> tuple[_Recorder, Any]:
        """A fresh recorder of ``module`` and its mode, placing calls as this trace does (a custom backward's)."""
        rec = _Recorder(module)
        rec.propagation = self.propagation
        return rec, _make_mode(rec, self.propagation)

    def place_custom(self, found: list[tuple[Any, Any]]) -> None:
        """One node per custom Function: ``CustomBackward`` with its traced MACs right after the op that made the
        Function's output (it takes that value and passes it on as a view that needs a gradient, so the ops
        after it differentiate into it), or ``Unmodeled`` at the end when its backward was not traced."""
        from archcalc.frontends.torch_custom import unmodelled_op

        placed = []
        for fn, result in found:
            name, _ = self.node_name(f"{result.function}.backward")
            where = self.wrapped_value.get(id(fn))
            if result.backward_macs is None:
                op = unmodelled_op(result.function)
                self.unmodeled[op] += 1
                hp = {"op": op, "traced_inputs": (), "output_shapes": ((0,),), "backward": True}
                node = Node(name, "Unmodeled", (), (name,), tuple(hp.items()), None, dtypes=("float32",))
                placed.append((len(self.nodes), node))
                self.real_shapes[name] = (0,)
                continue
            hp = {"function": result.function, "backward_macs": result.backward_macs}
            if where is None:  # its output is no value the forward made (an input passed through): at the end
                node = Node(name, "CustomBackward", (), (name,), tuple(hp.items()), None, dtypes=("float32",))
                placed.append((len(self.nodes), node))
                self.real_shapes[name] = (0,)
                continue
            index, value = where
            made = self.nodes[index]
            k = made.outputs.index(value)
            node = Node(name, "CustomBackward", (value,), (name,), tuple(hp.items()), None,
                        dtypes=made.dtypes[k:k + 1], requires_grad=(True,), scope=made.scope)
            placed.append((index + 1, node))
            self.real_shapes[name] = self.real_shapes[value]
        for at, node in sorted(placed, key=lambda p: p[0], reverse=True):
            self.nodes.insert(at, node)
            self.released = {v: i + 1 if i >= at else i for v, i in self.released.items()}

    def rewrapped_regions(self, modelled: set[int] = frozenset()) -> set[int]:
        """Each run of consecutive grad-less nodes that ends in a rewrapped node whose custom Function's backward
        is not modelled (``modelled``: ids of those that are): torch differentiates it in the backward
        (recomputing it with grad), so its gradients are inferred from the inputs, as without the
        checkpoint."""
        region: set[int] = set()
        for i in sorted(self.rewrapped):
            if id(self.rewrapped_by.get(i)) in modelled:
                continue
            j = i
            while j in self.no_grad and j not in region:
                region.add(j)
                j -= 1
        return region

    def record(self, func: Any, args: tuple, kwargs: dict, result: Any) -> None:
        import torch

        from archcalc.frontends.torch_ops import MAPPINGS

        outs = _flat_tensors(result)
        if not outs:
            return
        fname = _fname(func)
        mapping = MAPPINGS.get(fname)
        found = None
        if mapping is not None:
            try:
                found = mapping(args, kwargs)
            except Exception:  # an argument pattern the mapping does not know: keep the op as Unmodeled
                found = None
        if found is None:
            tensors = _flat_tensors((args, kwargs))
            kind, hp = UNMODELED, {"op": fname}
        else:
            kind, hp, tensors = found
        name, module = self.node_name(fname)
        facts = traits(kind)
        if facts.constant:  # a factory call (torch.zeros, x.new_zeros): its real shape, no inputs
            tensors, hp = [], {"output_shape": tuple(outs[0].shape)}
        if facts.value_dependent_shape:  # how many rows nonzero finds depends on the values: the traced shapes
            hp = {"output_shapes": tuple(tuple(o.shape) for o in outs), "traced_input": tuple(tensors[0].shape)}
        if not facts.modeled:
            self.unmodeled[fname] += 1
            hp = {**hp, "traced_inputs": tuple(tuple(t.shape) for t in tensors),
                  "output_shapes": tuple(tuple(o.shape) for o in outs)}
        # a view or a copy (reshape, contiguous, basic indexing): what torch did; advanced indexing always copies
        if facts.aliasing == "maybe_view" and "advanced" not in hp:
            hp["copy"] = not any(o.untyped_storage()._cdata == tensors[0].untyped_storage()._cdata for o in outs[:1])
        if hp.pop("advanced", False):
            hp = {"output_shape": tuple(outs[0].shape)}
        for t in tensors:
            self.check_rewrapped(t)
        inputs = tuple(self.name_of(t) for t in tensors)
        out_names = (name,) if len(outs) == 1 else tuple(f"{name}#{i}" for i in range(len(outs)))
        self.autograd[len(self.nodes)] = [_grad_facts(o) for o in outs]
        self.producer.update({n: (len(self.nodes), k) for k, n in enumerate(out_names)})
        if not torch.is_grad_enabled():
            self.no_grad.add(len(self.nodes))
        self.nodes.append(Node(name, kind, inputs, out_names, tuple(hp.items()), module, **_facts(outs),
                               scope=self.scope()))
        storages = [t.untyped_storage()._cdata for t in tensors]
        for o, n in zip(outs, out_names, strict=True):
            self.real_shapes[n] = tuple(o.shape)
            s = o.untyped_storage()._cdata
            self.real_alias[n] = (storages.index(s) if s in storages else None,)
            self.bind(o, n)


def _make_mode(rec: _Recorder, values: Any = None) -> Any:
    """The recorder's TorchFunctionMode; with ``values`` (a :class:`~archcalc.frontends.torch_values.Values`,
    meta traces) every call is placed by value propagation (real CPU values or meta)."""
    import torch
    from torch.overrides import TorchFunctionMode, redispatch_function

    from archcalc.frontends.torch_ops import DESCEND, IGNORE, MAPPINGS
    from archcalc.frontends.torch_values import SCALAR_READS

    class Mode(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
            rec.inside += 1
            try:
                return self._call(func, types, args, kwargs or {})
            finally:
                rec.inside -= 1

        def _call(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
            if isinstance(func, torch._ops.OpOverload | torch._ops.OpOverloadPacket):  # the dispatch mode's own call
                return func(*args, **kwargs)
            fname = _fname(func)
            if values is not None:
                values.where = rec.stack[-1][0] if rec.stack else ""
            if fname in IGNORE:
                if values is not None and fname in SCALAR_READS:
                    return values.call(func, fname, args, kwargs)
                if values is not None and fname in ("cpu", "cuda") and args and not values.is_real(args[0]):
                    return args[0]  # a value computed from the weights stays meta wherever it is asked to go
                return func(*args, **kwargs)
            if fname in DESCEND or (fname not in MAPPINGS and getattr(func, "__module__", "") == "torch.nn.functional"):
                with self:
                    return redispatch_function(func, types, args, kwargs)
            if fname in _SAME_DTYPE and not torch.is_autocast_enabled():
                _check_same_dtype(fname, args, kwargs)
            result = func(*args, **kwargs) if values is None else values.call(func, fname, args, kwargs)
            if not isinstance(result, torch.Tensor | list | tuple):
                return result
            rec.record(func, args, kwargs, result)
            if values is not None and any(values.assumed(t) for t in _flat_tensors((args, kwargs))) \
                    and rec.nodes and rec.nodes[-1].name not in rec.assumed_nodes:
                rec.assumed_nodes.append(rec.nodes[-1].name)
            return result

    return Mode()


#: Calls whose tensor operands real torch requires to share one dtype (the meta kernels do not check it, so
#: an int64 input into a float Linear traced quietly where the real forward raises).
_SAME_DTYPE = frozenset({"linear", "bilinear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                         "conv_transpose3d", "matmul", "mm", "bmm", "addmm", "baddbmm", "addbmm", "mv", "addmv",
                         "dot", "__matmul__", "__rmatmul__"})


def _check_same_dtype(fname: str, args: tuple, kwargs: dict) -> None:
    """Raise as real torch does when the operands of ``fname`` have different dtypes."""
    dtypes = [t.dtype for t in _flat_tensors((args, kwargs))]
    if len(set(dtypes)) > 1:
        names = " and ".join(str(d).replace("torch.", "") for d in dict.fromkeys(dtypes))
        raise RuntimeError(f"{fname} got operands of dtypes {names}; torch needs one dtype here "
                           "(give a floating input dtype, or cast the input in forward)")


def _first_line(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first[:300]}"


def _trace_on(module: Any, full: list[tuple[int, ...]], dtypes: tuple[str, ...], device: str, training: bool,
              keywords: tuple[tuple[str, tuple[int, ...], str, Any], ...] = ()) -> Any:
    """Run the recorder on ``module`` (already on ``device``) with zero inputs, in the requested mode;
    ``keywords``: (name, full shape, dtype, fill) of the keyword inputs.

    On meta, the inputs are real (CPU) tensors where small, and calls are placed by value propagation
    (:mod:`archcalc.frontends.torch_values`)."""
    import torch

    from archcalc.frontends.torch_values import Values

    values = Values() if device == "meta" else None
    where = "cpu" if values else device

    def make(shape: tuple[int, ...], dtype: str, fill: Any = 0) -> Any:
        t = torch.full(shape, fill, dtype=getattr(torch, _DTYPES[dtype]), device=where)
        return values.real_input(t) if values is not None else t

    was_training = module.training
    module.train(training)
    try:
        inputs = [make(s, d) for s, d in zip(full, dtypes, strict=True)]
        kw = {name: make(s, d, fill) for name, s, d, fill in keywords}
        return _run(module, inputs, values, kw)
    finally:
        module.train(was_training)


def _to_meta(module: Any) -> Any:
    """``module`` itself when its parameters are on meta already, else a meta copy (the original is kept).

    A module on meta is traced as it is, not copied: a forward bound to the module in a closure (archcalc's
    own hf: front end does this) would run the original's submodules from a copy. So whatever its forward
    caches on ``self`` stays there (ConViT caches relative indices, which value propagation makes on the
    CPU): build a fresh module to run it again on meta."""
    import copy

    import torch

    tensors = list(module.parameters()) + list(module.buffers())
    if tensors and all(t.device.type == "meta" for t in tensors):
        return module
    # Each parameter and buffer is copied as a meta tensor of its shape (the deepcopy memo maps it), so the
    # weights are never copied and shared ones stay shared.
    memo: dict[int, Any] = {}
    for p in module.parameters():
        memo[id(p)] = torch.nn.Parameter(torch.empty_like(p, device="meta"), requires_grad=p.requires_grad)
    for b in module.buffers():
        memo.setdefault(id(b), torch.empty_like(b, device="meta"))
    return copy.deepcopy(module, memo)


def move_keeping_ties(module: Any, move: Any) -> Any:
    """``move(module)`` (``.to("meta")``, ``.to_empty(device="cpu")``) with shared parameters shared again.

    Moving a module between devices gives every submodule its own new Parameter, which unties shared
    weights (a tied LM head, fvcore's NetWithReuse); each is tied back to the first name it had, so it is
    still counted once.
    """
    first: dict[int, str] = {}
    ties = []
    for name, p in module.named_parameters(remove_duplicate=False):
        if id(p) in first:
            ties.append((name, first[id(p)]))
        else:
            first[id(p)] = name
    moved = move(module)
    for name, source in ties:
        owner, _, attr = name.rpartition(".")
        setattr(moved.get_submodule(owner), attr, moved.get_parameter(source))
    return moved


def _pack(t: Any) -> tuple[Any, ...]:
    return tuple(t.shape), t.dtype, t.device


def _unpack(packed: tuple[Any, ...]) -> Any:
    """A saved tensor comes back as zeros of its shape: only a custom Function's traced backward unpacks one."""
    import torch

    shape, dtype, device = packed
    return torch.zeros(shape, dtype=dtype, device=device)


def _run(module: Any, inputs: list[Any], values: Any = None, kw: dict[str, Any] | None = None) -> _Recorder:
    import torch
    from torch.nn.modules import module as nn_module

    from archcalc.frontends.torch_opaque import opaque_mode

    rec = _Recorder(module)
    rec.propagation = values
    pre = nn_module.register_module_forward_pre_hook(lambda m, a: rec.enter(m))
    post = nn_module.register_module_forward_hook(lambda m, a, r: rec.leave(m))
    try:
        for i, t in enumerate(inputs):
            rec.bind(t, f"input{i}" if len(inputs) > 1 else "x")
        for name, t in (kw or {}).items():
            rec.bind(t, name)
        # Autograd's saved tensors are packed into their shapes only, so a tensor dies when the Python code
        # drops it: the release points the liveness schedule uses (archcalc.memory.liveness.peak).
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(_pack, _unpack), opaque_mode(rec), \
                _make_mode(rec, values):
            out = module(*inputs, **(kw or {}))
        rec.running = False
        rec.outputs = [rec.values[id(t)] for t in _flat_tensors(out) if id(t) in rec.values]
    finally:
        pre.remove()
        post.remove()
    rec.reached(_flat_tensors(out))
    return rec


def _autograd_on(fn: Any) -> Any:
    """Run ``fn`` outside a caller's ``torch.inference_mode()``: the trace reads which tensors autograd tracks."""
    import functools

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        import torch

        with torch.inference_mode(False):
            return fn(*args, **kwargs)

    return run


@_autograd_on
def from_torch(module: Any, *input_shapes: tuple[int, ...], batch: int = 1, input_dtypes: tuple[str, ...] = (),
               name: str | None = None, twin: str | None = None, training: bool = False,
               input_kwargs: dict[str, tuple] | None = None) -> Graph:
    """Trace ``module`` on inputs of per-sample ``input_shapes`` (batch ``batch``) into a checked graph.

    Parameters
    ----------
    module : torch.nn.Module
        Any module; it is not modified (a meta-device copy is traced unless it lives on meta already).
    *input_shapes : tuple of int
        Per-sample shape of each forward argument (``(3, 224, 224)``; ``(128,)`` for token ids).
    batch : int
        Batch size the trace runs at (the graph is fixed at these shapes: trace again for others).
    input_dtypes : tuple of str, optional
        dtype of each input (``float32`` default; ``int64`` for token ids).
    name, twin : str, optional
        Graph name (default: the class name) and the torch model it mirrors.
    training : bool
        Trace in training mode (dropout and batch statistics run) instead of eval mode.
    input_kwargs : dict, optional
        Keyword inputs of the forward, each ``name: (per-sample shape, dtype)`` or ``(shape, dtype, fill)``
        (batch ``batch`` prepended, filled with ``fill``, default 0): ``{"decoder_input_ids": ((16,),
        "int64"), "attention_mask": ((128,), "int64", 1)}``. They become graph inputs of those names, after
        the positional ones.

    Returns
    -------
    Graph
        ``traced_at`` holds the full input shapes; ``notes`` the ops archcalc does not model, by kind.

    Raises
    ------
    ValueError
        For bad shapes or dtypes, a model that fails on the inputs, or a trace whose parameters or shapes
        archcalc cannot reproduce (never a silent wrong number).
    """

    label = name or type(module).__name__
    if not input_shapes:
        raise ArgumentError("input_shapes", what=f"{label} needs at least one per-sample input shape, e.g. (3, 224, 224)")
    for shape in input_shapes:
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape):
            raise ArgumentError("input_shapes", shape, "give per-sample shapes of positive integers")
    check_int("batch", batch)
    dtypes = tuple(input_dtypes) + ("float32",) * (len(input_shapes) - len(input_dtypes))
    for d in dtypes:
        if d not in _DTYPES:
            raise ArgumentError("input_dtypes", d, f"choose one of {', '.join(sorted(set(_DTYPES.values())))}")
    keywords = _keyword_inputs(input_kwargs, batch)
    full = [(batch, *s) for s in input_shapes]
    shapes = ", ".join("x".join(map(str, s)) for s in [*full, *(k[1] for k in keywords)])
    meta = _to_meta(module)
    device = "meta"
    try:
        rec = _trace_on(meta, full, dtypes, "meta", training, keywords)
    except Exception as exc:  # a forward that reads values computed from the weights: trace the real module
        state = (*module.parameters(), *module.buffers())
        on_meta = bool(state) and all(t.device.type == "meta" for t in state)
        if on_meta or any(t.device.type != "cpu" for t in state):
            raise InputTraceError("input_shapes", what=f"{label} fails on input {shapes} (traced on the meta "
                                  f"device): {_first_line(exc)}") from None
        # The module itself, not a copy (no second copy of the weights): eval mode writes nothing; training
        # mode's running statistics are put back afterwards.
        meta, device = module, "cpu"
        saved = [(b, b.clone()) for b in module.buffers()] if training else []
        try:
            rec = _trace_on(meta, full, dtypes, "cpu", training, keywords)
        except Exception as exc2:  # any failure of the user's forward: one line naming the model and the input
            raise InputTraceError("input_shapes", what=f"{label} fails on input {shapes}: "
                                  f"{_first_line(exc2)}") from None
        finally:
            import torch

            with torch.no_grad():
                for b, old in saved:
                    b.copy_(old)
    specs = tuple(TensorSpec("x" if len(full) == 1 else f"input{i}", tuple(s), _DTYPES[d])
                  for i, (s, d) in enumerate(zip(input_shapes, dtypes, strict=True)))
    specs += tuple(TensorSpec(n, tuple(s[1:]), _DTYPES[d]) for n, s, d, _ in keywords)
    params = tuple((n, tuple(p.shape)) for n, p in meta.named_parameters(remove_duplicate=True))
    buffers = tuple((n, tuple(b.shape)) for n, b in meta.named_buffers(remove_duplicate=True))
    notes = [f"traced from {type(module).__name__} at input {shapes}"
             + ("" if device == "meta" else " on the CPU (its forward needs real values; inputs were zeros)")]
    if rec.propagation is not None and rec.propagation.assumptions:
        notes.extend(_assumption_notes(rec))
    if rec.opaque:
        notes.append("ran below the torch-function level (TorchScript or another opaque call), not modelled, "
                     "by aten op: " + ", ".join(f"{n} x {k}" for k, n in rec.opaque.most_common()))
    unmodelled_wraps = [i for i in rec.rewrapped if id(rec.rewrapped_by.get(i)) not in rec.modelled_ids]
    if unmodelled_wraps:
        notes.append(f"{len(unmodelled_wraps)} region(s) ran without grad and got a gradient from a custom autograd "
                     "Function (a reentrant checkpoint): their backward is counted as without it, the recompute "
                     "in the backward is not")
    notes.extend(_custom_notes(rec))
    if rec.unmodeled:
        notes.append("not modelled (counted 0, shapes as traced): "
                     + ", ".join(f"{n} x {k}" for k, n in rec.unmodeled.most_common()))
    graph = Graph(label, f"{type(module).__name__} traced at the torch-function level", specs, tuple(rec.nodes),
                  tuple(rec.outputs), params=params, buffers=buffers, twin=twin, notes=tuple(notes),
                  traced_at=(*full, *(k[1] for k in keywords)), released_after=tuple(rec.released.items()),
                  dtypes=tuple((n, d) for n, d in _named_dtypes(meta) if d != "float32"),
                  frozen_params=tuple(n for n, p in meta.named_parameters(remove_duplicate=True) if not p.requires_grad))
    _check(graph, rec, meta)
    return graph


def _custom_notes(rec: _Recorder) -> list[str]:
    """One note per custom autograd Function the backward reaches: its traced backward MACs, or why not."""
    notes = []
    for c in rec.custom:
        if c.backward_macs is not None:
            notes.append(f"custom autograd.Function {c.function}: its own backward traced and counted "
                         f"({c.backward_macs:,} MACs, recomputed forwards included)")
        else:
            notes.append(f"custom autograd.Function {c.function}: backward not modelled (counted 0): {c.reason}")
    return notes


def _assumption_notes(rec: _Recorder) -> list[str]:
    """One note per distinct assumption (with where it was made) and one counting the nodes that read values
    derived from it, by module, layer indices folded (``model.layers.{0..31}.mlp.experts``)."""
    import re

    def fold(names: list[str]) -> str:
        groups: dict[str, set[int]] = {}
        for n in names:
            key = re.sub(r"\.\d+(?=\.|$)", ".{i}", n)
            groups.setdefault(key, set()).update(int(m) for m in re.findall(r"\.(\d+)(?=\.|$)", n))
        parts = []
        for key, idx in groups.items():
            span = "" if not idx else str(min(idx)) if len(idx) == 1 else f"{min(idx)}..{max(idx)}"
            parts.append(key.replace("{i}", span if len(idx) == 1 else "{" + span + "}"))
        return ", ".join(parts)

    by_text: dict[str, list[str]] = {}
    for where, text in rec.propagation.assumptions:
        by_text.setdefault(text, []).append(where)
    notes = [f"assumed: {text} (at {fold(wheres)})" for text, wheres in by_text.items()]
    modules = list(dict.fromkeys(n.split(":")[0].rsplit(".", 1)[0] for n in rec.assumed_nodes))
    notes.append(f"data-dependent under that assumption (reads the assumed routing): {len(rec.assumed_nodes)} "
                 f"nodes in {fold(modules)}")
    return notes


def _keyword_inputs(input_kwargs: dict[str, tuple] | None, batch: int) -> tuple[tuple[str, tuple[int, ...], str, Any], ...]:
    """``input_kwargs`` checked: (name, full shape, dtype, fill) each."""
    out = []
    for key, spec in (input_kwargs or {}).items():
        if not isinstance(key, str) or not key.isidentifier() or not isinstance(spec, tuple) or not 1 <= len(spec) <= 3:
            raise ArgumentError("input_kwargs", key, "give name: (per-sample shape, dtype[, fill])", what=f"got {key!r}: {spec!r}")
        shape, dtype, fill = (*spec, "float32", 0)[:3] if len(spec) == 1 else (*spec, 0)[:3]
        if not isinstance(shape, tuple) or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                                   for v in shape):
            raise ArgumentError("input_kwargs", what=f"{key} has shape {shape!r}", fix="give a per-sample shape of positive integers")
        if dtype not in _DTYPES:
            raise ValueError(f"input_kwargs: {key} has dtype {dtype!r}; choose one of "
                             f"{', '.join(sorted(set(_DTYPES.values())))}")
        out.append((key, (batch, *shape), dtype, fill))
    return tuple(out)


def _check(graph: Graph, rec: _Recorder, module: Any) -> None:
    """Refuse a graph whose shapes or parameters differ from the real run's."""
    from archcalc.ir.evaluate import evaluate

    ev = evaluate(graph, batch=graph.traced_at[0][0] if graph.inputs[0].batched else 1)
    node_out = {n.name: n.outputs for n in graph.nodes}
    for row in ev.rows:
        for value, shape in zip(node_out[row.name], row.output_shapes, strict=True):
            real = rec.real_shapes.get(value)
            if real is not None and tuple(shape) != tuple(real):
                raise TraceError(f"{graph.name}: node {row.name} ({row.kind}) gives shape {tuple(shape)} in archcalc "
                                 f"but {real} in torch; archcalc refuses to print a wrong number")
    total = sum(p.numel() for p in module.parameters())
    counted = ev.total("params") + sum(n for _, n in ev.unused_params)
    if counted != total:
        raise TraceError(f"{graph.name}: archcalc counts {counted} parameters but the model has {total}")


def from_torchvision(name: str, input_shape: tuple[int, ...] = (3, 224, 224), batch: int = 1) -> Graph:
    """:func:`from_torch` on ``torchvision.models.NAME(weights=None)`` (built on the meta device).

    Examples
    --------
    >>> g = from_torchvision("mobilenet_v2")
    >>> sum(1 for n in g.nodes if n.kind == "ReLU6"), len(unmodeled_nodes(g))
    (35, 0)
    """
    module = build_torchvision_meta(name, tuple(input_shape))
    return from_torch(module, tuple(input_shape), batch=batch, name=f"torchvision:{name}", twin=f"torchvision:{name}")


#: Builders whose ``weights=None`` model fixes another input size than their DEFAULT weights' crop:
#: ``vit_h_14`` is built for 224 (its SWAG weights' 518 is set only when those weights are passed).
_BUILDER_SIZES = {"vit_h_14": 224}


def torchvision_input_size(name: str) -> tuple[int, int, int]:
    """torchvision's input size for model ``name``: ``(3, S, S)`` with ``S`` its DEFAULT weights' eval crop
    (224 for most, inception_v3 299, efficientnet_b7 600, swin_v2 256), or the image size the ``weights=None``
    builder fixes (vit_h_14: 224).

    Examples
    --------
    >>> torchvision_input_size("inception_v3"), torchvision_input_size("vit_h_14")
    ((3, 299, 299), (3, 224, 224))
    """
    from torchvision.models import get_model_weights

    try:
        weights = get_model_weights(name)
    except (KeyError, ValueError):
        raise ArgumentError("model", what=f"torchvision has no model {name!r}", fix="see torchvision.models.list_models()") from None
    crop = weights.DEFAULT.transforms.keywords["crop_size"]
    size = _BUILDER_SIZES.get(name, crop[0] if isinstance(crop, list | tuple) else crop)
    return (3, size, size)


#: In-place initialisers whose random values a shape-only trace never reads (``nn.init.*`` and the tensor
#: methods they call).
_INIT_OPS = frozenset({"normal_", "uniform_", "trunc_normal_", "kaiming_normal_", "kaiming_uniform_", "xavier_normal_",
                       "xavier_uniform_", "orthogonal_", "constant_", "zeros_", "ones_", "zero_", "fill_"})


def build_torchvision_meta(name: str, input_shape: tuple[int, ...] = (3, 224, 224)) -> Any:
    """``torchvision.models.NAME(weights=None)`` with its parameters on the meta device.

    Built on meta directly; a builder that computes with tensors at build time (RegNet's block widths,
    ``.tolist()`` of a tensor) is built on the CPU with the random initialisation skipped (its values are
    never read) and moved to meta: ``regnet_y_128gf`` then takes seconds and no memory for its weights.
    """
    import torch
    from torch.overrides import TorchFunctionMode

    from archcalc.models.torchvision_models import build_torchvision

    try:
        return build_torchvision(name, tuple(input_shape), "meta")
    except (NotImplementedError, RuntimeError):
        pass

    class SkipInit(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
            kwargs = kwargs or {}
            target = args[0] if args else kwargs.get("tensor")  # nn.init.* pass the tensor by keyword
            if _fname(func) in _INIT_OPS and isinstance(target, torch.Tensor):
                return target
            return func(*args, **kwargs)

    with torch.no_grad(), SkipInit():
        module = build_torchvision(name, tuple(input_shape), "cpu")
    return module.to("meta")
