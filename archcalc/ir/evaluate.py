"""Evaluate a :class:`~archcalc.ir.graph.Graph` at input shapes and a batch size: one :class:`Row` per node.

The walk follows tensor values: each output is a new storage unless the formula says it aliases an input
(a view, an in-place op), so the tensors autograd saves are counted once each, as autograd does.
Parameters are counted once, by the first node that uses them (shared weights, modules called twice).
With ``int`` inputs everything is an exact integer; with sympy symbols every number is a closed form.

Examples
--------
>>> from archcalc.models.zoo import build
>>> ev = evaluate(build("vgg19"))
>>> ev.total("params"), ev.total("macs")
(143667240, 19632062464)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from archcalc.ir.graph import Graph, Node, ValueInfo
from archcalc.ops.arith import is_concrete, prod
from archcalc.ops.registry import OpCost, formula
from archcalc.ops.traits import OpTraits, traits
from dlperf.errors import ArgumentError
from dlperf.results import Result
from dlperf.validate import check_int

__all__ = ["Row", "Evaluation", "evaluate", "TOTAL_FIELDS"]

TOTAL_FIELDS = ("params", "macs", "activations", "elementwise_ops")



@dataclass(frozen=True)
class Row:
    """One evaluated node.

    Attributes
    ----------
    name, kind, module : str
        Node name, registry kind and torch module (``None`` for a functional op).
    hparams : tuple
    input_shapes, output_shapes : tuple of tuple
        Full shapes (batch dimension included) of the activation inputs and of every output.
    cost : OpCost
    params : int
        Elements of the parameters this node is the first to use (each parameter counted once per graph).
    param_names : tuple of str
        Those parameters' names.
    macs_kind : str or None
        ``"weight"`` when the contraction involves a parameter, ``"activation"`` for activation-activation
        products (attention's ``Q K^T``), ``None`` without MACs.
    input_requires_grad : bool
        Whether some activation input needs a gradient (False for ops fed only by the network input).
    grad_input_macs, grad_weight_macs : int
        Backward MACs: gradients of the activation inputs that need one, and of the parameters.
    saved_elements : int
        Elements (activation dtype) of the tensors this node is the first to save for backward.
    grad_of_input : tuple
        Gradient MACs counted for each input of the node (parameters included, in the node's input order; 0
        where the input gets no gradient): a grouped convolution's weight gradient, parameter or computed.
    """

    name: str
    kind: str
    module: str | None
    hparams: tuple[tuple[str, Any], ...]
    input_shapes: tuple[tuple[Any, ...], ...]
    output_shapes: tuple[tuple[Any, ...], ...]
    cost: OpCost
    params: Any
    param_names: tuple[str, ...]
    macs_kind: str | None
    input_requires_grad: bool
    grad_input_macs: Any
    grad_weight_macs: Any
    saved_elements: Any
    allocates: bool = True
    grad_of_input: tuple[Any, ...] = ()

    @property
    def output_shape(self) -> tuple[Any, ...]:
        return self.output_shapes[0]

    @property
    def macs(self) -> Any:
        return self.cost.macs

    @property
    def weight_macs(self) -> Any:
        """MACs of weight contractions (0 for activation-activation products)."""
        return self.cost.macs if self.macs_kind == "weight" else 0

    @property
    def activation_macs(self) -> Any:
        """MACs of activation-activation products (attention's ``Q K^T`` and ``A V``, matmul of activations)."""
        return self.cost.macs if self.macs_kind == "activation" else 0

    @property
    def flops(self) -> Any:
        """2 x MACs (one multiply and one add per MAC)."""
        return 2 * self.cost.macs

    @property
    def activations(self) -> Any:
        return self.cost.activations

    @property
    def elementwise_ops(self) -> Any:
        return self.cost.elementwise_ops

    @property
    def backward_macs(self) -> Any:
        """Weight-gradient MACs plus input-gradient MACs where the input needs a gradient."""
        return self.grad_input_macs + self.grad_weight_macs


@dataclass(frozen=True, repr=False)
class Evaluation(Result):
    """All rows of a graph evaluated at one set of input shapes.

    ``input_shape`` is the first input's per-sample shape; ``input_shapes`` every input's full shape.
    ``unused_params`` lists known parameters no node reads (e.g. an auxiliary head not run in eval mode).
    """

    network: str
    input_shape: tuple[Any, ...]
    batch: Any
    rows: tuple[Row, ...]
    input_shapes: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    outputs: tuple[tuple[Any, ...], ...] = ()
    unused_params: tuple[tuple[str, Any], ...] = ()
    value_info: tuple[tuple[str, ValueInfo], ...] = ()

    def info(self) -> dict[str, ValueInfo]:
        """Every value's dtype, requires-grad and constness: the node's declared facts where it has them, else
        inferred (the inputs' floating dtype, float32 if none; requires grad when an input or a parameter does).
        """
        return dict(self.value_info)

    _repr_fields = ("network", "input_shape", "batch", "rows")

    def _headline(self) -> dict[str, Any]:
        return {"params": self.total("params"), "macs": self.total("macs")}

    def total(self, field: str) -> Any:
        """Sum of a row attribute (``params``, ``macs``, ``flops``, ``activations``, ``backward_macs`` ...)."""
        return sum((getattr(r, field) for r in self.rows), 0)

    @property
    def output_shape(self) -> tuple[Any, ...]:
        """Shape of the graph's first output."""
        return self.outputs[0] if self.outputs else (self.rows[-1].output_shape if self.rows else self.input_shape)

    def saved(self) -> dict[str, Any]:
        """Elements autograd keeps for backward, by storage type (each tensor once)."""
        return {
            "activation_elements": self.total("saved_elements"),
            "fp32_elements": sum((r.cost.saved_fp32_elements for r in self.rows), 0),
            "int64_elements": sum((r.cost.saved_index_elements for r in self.rows), 0),
            "bool_elements": sum((r.cost.saved_mask_elements for r in self.rows), 0),
        }


@dataclass
class _Value:
    storage: int
    shape: tuple[Any, ...]
    requires_grad: bool
    param: str | None = None
    buffer: bool = False
    dtype: str = "float32"
    constant: bool = False


def _promoted(values: list[_Value]) -> str:
    """torch's promotion among the inputs' floating dtypes (float32 when there are none or they differ)."""
    floats = {v.dtype for v in values if ValueInfo(v.dtype).floating}
    if len(floats) == 1:
        return floats.pop()
    return "float64" if "float64" in floats else "float32"


class TooSmall(ValueError):
    """An input so small that some node's output dimension reaches zero."""

    def __init__(self, node: Node, shapes: str, out: tuple[Any, ...]) -> None:
        self.node = node
        super().__init__(f"layer {node.name} ({node.kind}) gets input {shapes} and would output "
                         f"{'x'.join(map(str, out))}: a dimension reaches zero")


def _fmt(shape: tuple[Any, ...]) -> str:
    return "x".join(map(str, shape))


class _Walker:
    def __init__(self, graph: Graph, training: bool | None = None, formulas: Mapping[str, Any] | None = None,
                 op_traits: Mapping[str, OpTraits] | None = None) -> None:
        self.graph = graph
        self.training = training
        self.formulas = dict(formulas or {})
        self.op_traits = dict(op_traits or {})
        self.values: dict[str, _Value] = {}
        self.param_shapes: dict[str, tuple[Any, ...]] = dict(graph.params)
        self.used: set[str] = set()
        self.saved: set[int] = set()
        self.storages = 0
        self.rows: list[Row] = []

    def new_storage(self) -> int:
        self.storages += 1
        return self.storages

    def mark(self, v: _Value) -> Any:
        if v.param is not None or v.buffer or v.storage in self.saved:
            return 0
        self.saved.add(v.storage)
        return prod(v.shape)

    def use_param(self, name: str, shape: tuple[Any, ...], node: Node) -> Any:
        known = self.param_shapes.get(name)
        if known is not None and is_concrete(*known, *shape) and tuple(known) != tuple(shape):
            raise ValueError(f"layer {node.name} ({node.kind}) needs parameter {name} of shape {_fmt(shape)}, "
                             f"but it has shape {_fmt(known)} (shared with another layer?)")
        self.param_shapes.setdefault(name, tuple(shape))
        if name in self.used:
            return 0
        self.used.add(name)
        return prod(shape)

    def apply(self, node: Node) -> None:
        try:
            ins = [self.values[v] for v in node.inputs]
        except KeyError as exc:
            raise ValueError(f"layer {node.name}: input {exc.args[0]!r} is not defined") from None
        options = node.options
        # kinds that compute differently in training mode (dropout masks, batch statistics) get the call's mode;
        # None keeps each node's own (a traced graph records the mode it was traced in)
        facts = traits(node.kind, self.op_traits)
        if self.training is not None and facts.training_sensitive:
            options["training"] = self.training
        try:
            cost = (self.formulas.get(node.kind) or formula(node.kind))([v.shape for v in ins], **options)
        except TypeError as exc:
            raise ValueError(f"layer {node.name} ({node.kind}): {exc}") from None
        # A traced graph runs only at the shapes torch ran (and from_torch checks every shape against that run),
        # so an empty tensor there is one torch made too (a cache, a split), never an input too small.
        empty_ok = self.graph.traced_at is not None
        for out in cost.output_shapes:
            if any(is_concrete(d) and (d < 0 or (d == 0 and not empty_ok)) for d in out):
                raise TooSmall(node, " + ".join(_fmt(v.shape) for v in ins if v.param is None), out)
        if len(cost.output_shapes) != len(node.outputs):
            raise ValueError(f"layer {node.name} ({node.kind}) produces {len(cost.output_shapes)} outputs, "
                             f"the graph names {len(node.outputs)}")
        params, names = 0, []
        for role, shape in cost.param_shapes:
            name = node.param_name(role)
            added = self.use_param(name, shape, node)
            params += added
            if added:
                names.append(name)
        grads = cost.input_grad_macs
        # a traced node whose outputs get no gradient (a torch.no_grad() region, a dropped result) has no
        # backward at all; one that gets a gradient passes it only to the inputs that get one
        recorded = node.requires_grad
        differentiable = any(recorded) if recorded else True
        grad_in, grad_w = 0, cost.backward_weight_macs if differentiable else 0
        per_input: list[Any] = [0] * len(ins)
        has_param_input = False
        for i, v in enumerate(ins):
            g = grads[i] if i < len(grads) and differentiable and v.requires_grad else 0
            per_input[i] = g
            if v.param is not None:
                has_param_input = True
                # a view of a parameter (w.t(), class_token.expand(B, ...)) counts the parameter's own shape
                added = self.use_param(v.param, self.param_shapes.get(v.param, v.shape), node)
                params += added
                if added:
                    names.append(v.param)
                grad_w = grad_w + g
            else:
                grad_in = grad_in + g
        for group, g in cost.grouped_grad_macs:  # an intermediate's gradient: when any member needs one
            wanting = [ins[i] for i in group if ins[i].requires_grad] if differentiable else []
            if any(v.param is None for v in wanting):
                grad_in = grad_in + g
            elif wanting:
                grad_w = grad_w + g
        acts = [v for v in ins if v.param is None and not v.buffer]
        in_grad = differentiable and any(v.requires_grad for v in acts)
        # declared facts (a traced graph: torch's own) win over the inference from the kind's traits: the
        # output dtypes (bool for a comparison, int64 for indices), and a gradient only for a floating output
        # of an op whose differentiable inputs (or declared parameters) need one
        dtypes = node.dtypes or tuple(facts.output_dtype(i, _promoted(ins), options)
                                      for i in range(len(cost.output_shapes)))
        needs = bool(cost.param_shapes) or any(v.requires_grad for i, v in enumerate(ins)
                                               if facts.differentiable_at(i) and (v.param is not None or differentiable))
        grads_out = recorded or tuple(needs and ValueInfo(d).floating for d in dtypes)
        alias = cost.alias_of
        outs = []
        for i, shape in enumerate(cost.output_shapes):
            j = alias[i] if i < len(alias) else None
            if j is not None and j < len(ins):
                base = ins[j]
                outs.append(_Value(base.storage, tuple(shape), grads_out[i], base.param, base.buffer, dtypes[i],
                                   node.constant))
            else:
                outs.append(_Value(self.new_storage(), tuple(shape), grads_out[i], dtype=dtypes[i],
                                   constant=node.constant))
        for name, v in zip(node.outputs, outs, strict=True):
            self.values[name] = v
        for i, v in enumerate(outs):  # an in-place write with a gradient (``buf[..., :d].copy_(k)`` into a
            j = alias[i] if i < len(alias) else None  # new_empty buffer): autograd rebases every view of the
            if j is not None and j < len(ins) and v.requires_grad and not ins[j].requires_grad:  # storage
                for other in self.values.values():
                    if other.storage == v.storage and other.param is None:
                        other.requires_grad = True
        saved = 0
        if cost.saves_input or cost.saved_inputs:
            keep = facts.saved_given([v.requires_grad for v in ins])  # None: as the formula says
            for i, v in enumerate(ins):
                if v.param is None and not v.buffer and cost.saves_input_at(i) and (keep is None or i in keep):
                    saved += self.mark(v)
        if cost.saves_output:
            for v in outs:
                saved += self.mark(v)
        saved += cost.saved_copy_elements  # a new tensor, saved once
        macs_kind = None
        if not (is_concrete(cost.macs) and cost.macs == 0):
            macs_kind = "weight" if (cost.param_shapes or has_param_input) else "activation"
        allocates = not all(i < len(alias) and alias[i] is not None for i in range(len(outs)))
        self.rows.append(Row(node.name, node.kind, node.module, node.hparams, tuple(v.shape for v in acts),
                             tuple(v.shape for v in outs), cost, params, tuple(names), macs_kind, in_grad,
                             grad_in if in_grad else 0, grad_w, saved, allocates, tuple(per_input)))

    def info(self) -> tuple[tuple[str, ValueInfo], ...]:
        return tuple((name, ValueInfo(v.dtype, v.requires_grad, v.constant)) for name, v in self.values.items())

    def run(self, full_inputs: dict[str, tuple[Any, ...]]) -> None:
        for spec in self.graph.inputs:
            self.values[spec.name] = _Value(self.new_storage(), full_inputs[spec.name], False, dtype=spec.dtype)
        declared = dict(self.graph.dtypes)
        frozen = set(self.graph.frozen_params)
        for name, shape in self.graph.params:
            self.values[name] = _Value(self.new_storage(), tuple(shape), name not in frozen, name,
                                       dtype=declared.get(name, "float32"))
        for name, shape in self.graph.buffers:
            self.values[name] = _Value(self.new_storage(), tuple(shape), False, None, True,
                                       dtype=declared.get(name, "float32"))
        for node in self.graph.nodes:
            self.apply(node)


def _check_positive(name: str, shape: tuple[Any, ...]) -> None:
    for v in shape:
        if is_concrete(v) and v <= 0:
            raise ArgumentError(name, _fmt(shape), "give positive integers for every dimension")


def full_input_shapes(graph: Graph, input_shape: tuple[Any, ...] | None = None, batch: Any = 1,
                      inputs: dict[str, tuple[Any, ...]] | None = None) -> dict[str, tuple[Any, ...]]:
    """Full shapes of every graph input: per-sample shapes (the first from ``input_shape``, others from
    ``inputs`` or the defaults) with ``batch`` prepended to batched inputs."""
    check_int("batch", batch, symbolic=True)
    given = dict(inputs or {})
    out = {}
    for i, spec in enumerate(graph.inputs):
        shape = tuple(spec.shape)
        if i == 0 and input_shape is not None:
            shape = tuple(input_shape)
            if len(shape) != len(spec.shape):
                want = "x".join(("C", "H", "W", "D")[: len(spec.shape)]) if len(spec.shape) <= 4 else f"rank {len(spec.shape)}"
                raise ArgumentError("input_shape", _fmt(shape), f"{graph.name} takes a per-sample input of rank "
                                    f"{len(spec.shape)} ({want}), e.g. {_fmt(spec.shape)}")
        if spec.name in given:
            shape = tuple(given.pop(spec.name))
        _check_positive("input_shape" if i == 0 else "inputs", shape)
        out[spec.name] = (batch, *shape) if spec.batched else shape
    if given:
        raise ValueError(f"inputs: {graph.name} has no input named {', '.join(given)}; its inputs are "
                         f"{', '.join(s.name for s in graph.inputs)}")
    return out


def _smallest_square(graph: Graph, channels: Any) -> int | None:
    """Smallest H = W a CxHxW network accepts (None if none up to 8192); used only to phrase the error."""
    def ok(size: int) -> bool:
        try:
            _Walker(graph).run({graph.inputs[0].name: (1, channels, size, size)})
            return True
        except TooSmall:
            return False

    hi = 1
    while not ok(hi):
        hi *= 2
        if hi > 8192:
            return None
    lo = hi // 2
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def evaluate(graph: Graph, input_shape: tuple[Any, ...] | None = None, batch: Any = 1,
             inputs: dict[str, tuple[Any, ...]] | None = None, training: bool | None = None,
             formulas: Mapping[str, Any] | None = None, op_traits: Mapping[str, OpTraits] | None = None) -> Evaluation:
    """Evaluate every node of ``graph`` for per-sample ``input_shape`` (first input) and ``batch``.

    Parameters
    ----------
    graph : Graph
        From :func:`archcalc.models.zoo.build`, :func:`archcalc.from_torch` or built with :mod:`archcalc.ir.build`.
    input_shape : tuple, optional
        Per-sample shape of the first input (``(C, H, W)`` for an image model); defaults to the graph's own.
        Entries may be ints or sympy symbols.
    batch : int or sympy.Symbol
        Batch size, prepended to every batched input.
    inputs : dict, optional
        Per-sample shapes of further inputs by name (a model with several inputs).
    training : bool, optional
        Evaluate the training-sensitive kinds (:attr:`~archcalc.ops.traits.OpTraits.training_sensitive`) in
        training mode (dropout draws and saves masks, batch norm computes batch statistics) or, with False, in
        inference mode; None keeps each node's own mode (inference for zoo graphs, the traced mode for traced
        graphs).
    formulas : mapping, optional
        ``{kind: formula}`` used instead of the registry's formula of ``kind`` for this call only (as torch's
        ``FlopCounterMode(custom_mapping=...)``); each kind must be registered, each formula takes what the
        registry's takes (``(input_shapes, **hparams) -> OpCost``). The registry is not changed.
    op_traits : mapping, optional
        ``{kind: OpTraits}`` used instead of the kind's declared traits (:mod:`archcalc.ops.traits`: training
        sensitivity, output dtypes, differentiable inputs) for this call only.

    Returns
    -------
    Evaluation

    Raises
    ------
    ValueError
        For a malformed shape or batch, an input so small that some dimension reaches zero (the message names
        the layer and, for image models, the smallest square input that works), a traced graph evaluated at
        another input than it was traced at, or shapes a node rejects.

    Examples
    --------
    >>> from archcalc.models.zoo import build
    >>> ev = evaluate(build("vgg11"), (3, 32, 32), batch=2)
    >>> ev.rows[0].output_shape, ev.output_shape
    ((2, 64, 32, 32), (2, 1000))
    >>> import dataclasses
    >>> from archcalc.ops.registry import formula
    >>> def no_linear(shapes, **hp):  # count Linear layers as free, for this call only
    ...     return dataclasses.replace(formula("Linear")(shapes, **hp), macs=0)
    >>> evaluate(build("vgg11"), (3, 32, 32), formulas={"Linear": no_linear}).total("macs")
    152764416
    >>> evaluate(build("vgg11"), (3, 32, 32)).total("macs")  # 152,764,416 + 102,760,448 + 16,777,216 + 4,096,000
    276398080
    """
    from dlperf.validate import check_type
    check_type("graph", graph, Graph, "an archcalc Graph (archcalc.models.zoo.build, resolve_model or from_torch)")
    for kind, facts in (op_traits or {}).items():
        formula(kind)  # an unknown kind raises, naming the known ones
        if not isinstance(facts, OpTraits):
            raise ValueError(f"op_traits: the traits of {kind!r} are {facts!r}, not an OpTraits "
                             "(archcalc.ops.traits)")
    for kind, fn in (formulas or {}).items():
        formula(kind)  # an unknown kind raises, naming the known ones
        if not callable(fn):
            raise ValueError(f"formulas: the formula for {kind!r} is {fn!r}, not a function; give "
                             "(input_shapes, **hparams) -> OpCost")
    full = full_input_shapes(graph, input_shape, batch, inputs)
    if graph.traced_at is not None and tuple(full.values()) != tuple(graph.traced_at):
        raise ArgumentError(("input_shape", "batch"), what=f"{graph.name} was traced at "
                            f"{', '.join(map(_fmt, graph.traced_at))}",
                            fix=f"trace it again at {', '.join(map(_fmt, full.values()))} (pass that input shape "
                            "and batch)")
    walker = _Walker(graph, training, formulas, op_traits)
    first = graph.inputs[0].name
    try:
        walker.run(full)
    except TooSmall as exc:
        hint = ""
        shape = full[first]
        if len(shape) == 4 and is_concrete(*shape):
            smallest = _smallest_square(graph, shape[1])
            if smallest is not None:
                hint = f"; {graph.name} needs at least {shape[1]}x{smallest}x{smallest}"
        raise ArgumentError("input_shape", what=f"{_fmt(shape[1:])} is too small: {exc}{hint}") from None
    unused = tuple((name, prod(shape)) for name, shape in graph.params if name not in walker.used)
    outputs = tuple(walker.values[v].shape for v in graph.outputs)
    per_sample = full[first][1:] if graph.inputs[0].batched else full[first]
    return Evaluation(graph.name, tuple(per_sample), batch, tuple(walker.rows), tuple(full.items()), outputs, unused,
                      walker.info())
