"""Evaluate a :class:`~archcalc.graph.Network` on an input shape and batch: one :class:`Row` per layer.

The walk follows the tensors: each layer's output is a tensor (an in-place layer or a view reuses its
input's), so the training estimate counts every tensor autograd saves exactly once, as autograd does.
With ``int`` inputs everything is an exact integer; with sympy symbols every number is a closed form.

Examples
--------
>>> from archcalc.zoo import build
>>> ev = evaluate(build("vgg19"))
>>> ev.total("params"), ev.total("macs")
(143667240, 19632062464)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archcalc.arith import is_concrete, prod
from archcalc.formulas import LayerCost, formula
from archcalc.graph import Layer, Network, Node, Parallel, Sequential

__all__ = ["Row", "Evaluation", "evaluate", "TOTAL_FIELDS"]

TOTAL_FIELDS = ("params", "macs", "activations", "elementwise_ops")


@dataclass(frozen=True)
class Row:
    """One evaluated layer.

    ``input_requires_grad`` is False for layers fed only by the network input (or by layers without
    parameters that are), whose input gradient the backward pass never computes. ``saved_elements`` are
    the activation-dtype elements of the tensors this layer is the first to save for backward.
    """

    name: str
    kind: str
    module: str | None
    hparams: tuple[tuple[str, Any], ...]
    input_shapes: tuple[tuple[Any, ...], ...]
    output_shape: tuple[Any, ...]
    cost: LayerCost
    input_requires_grad: bool
    saved_elements: Any

    @property
    def params(self) -> Any:
        return self.cost.params

    @property
    def macs(self) -> Any:
        return self.cost.macs

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
        grad_in = self.cost.backward_input_macs if self.input_requires_grad else 0
        return grad_in + self.cost.backward_weight_macs


@dataclass(frozen=True)
class Evaluation:
    """All rows of a network evaluated at one input shape and batch size."""

    network: str
    input_shape: tuple[Any, ...]
    batch: Any
    rows: tuple[Row, ...]

    def total(self, field: str) -> Any:
        """Sum of a row attribute (``params``, ``macs``, ``flops``, ``activations``, ``backward_macs`` ...)."""
        return sum((getattr(r, field) for r in self.rows), 0)

    @property
    def output_shape(self) -> tuple[Any, ...]:
        return self.rows[-1].output_shape if self.rows else self.input_shape

    def saved(self) -> dict[str, Any]:
        """Elements autograd keeps for backward, by storage type (each tensor once)."""
        return {
            "activation_elements": self.total("saved_elements"),
            "fp32_elements": sum((r.cost.saved_fp32_elements for r in self.rows), 0),
            "int64_elements": sum((r.cost.saved_index_elements for r in self.rows), 0),
            "bool_elements": sum((r.cost.saved_mask_elements for r in self.rows), 0),
        }


@dataclass
class _Tensor:
    ident: int
    shape: tuple[Any, ...]
    requires_grad: bool


class _Walker:
    def __init__(self, batch: Any) -> None:
        self.batch = batch
        self.rows: list[Row] = []
        self.saved: set[int] = set()
        self.count = 0

    def new_tensor(self, shape: tuple[Any, ...], requires_grad: bool) -> _Tensor:
        self.count += 1
        return _Tensor(self.count, shape, requires_grad)

    def mark(self, t: _Tensor) -> Any:
        if t.ident in self.saved:
            return 0
        self.saved.add(t.ident)
        return self.batch * prod(t.shape)

    def apply(self, lay: Layer, inputs: list[_Tensor]) -> _Tensor:
        cost = formula(lay.kind)([t.shape for t in inputs], self.batch, **lay.options)
        for dim in cost.output_shape:
            if is_concrete(dim) and dim <= 0:
                shapes = " + ".join("x".join(map(str, t.shape)) for t in inputs)
                raise _TooSmall(lay, shapes, cost.output_shape)
        in_grad = any(t.requires_grad for t in inputs)
        if (cost.inplace or cost.alias) and len(inputs) == 1:
            out = _Tensor(inputs[0].ident, tuple(cost.output_shape), in_grad or cost.params != 0)
        else:
            out = self.new_tensor(tuple(cost.output_shape), in_grad or cost.params != 0)
        saved = 0
        if cost.saves_input:
            for t in inputs:
                saved += self.mark(t)
        if cost.saves_output:
            saved += self.mark(out)
        self.rows.append(
            Row(
                lay.name,
                lay.kind,
                lay.module,
                lay.hparams,
                tuple(t.shape for t in inputs),
                tuple(cost.output_shape),
                cost,
                in_grad,
                saved,
            )
        )
        return out

    def run(self, node: Node, x: _Tensor) -> _Tensor:
        if isinstance(node, Layer):
            return self.apply(node, [x])
        if isinstance(node, Sequential):
            for child in node.children:
                x = self.run(child, x)
            return x
        assert isinstance(node, Parallel)
        outs = [self.run(branch, x) for branch in node.branches]
        return self.apply(node.merge, outs)


class _TooSmall(ValueError):
    def __init__(self, lay: Layer, shapes: str, out: tuple[Any, ...]) -> None:
        self.layer = lay
        super().__init__(
            f"layer {lay.name} ({lay.kind}) gets input {shapes} and would output "
            f"{'x'.join(map(str, out))}: a dimension reaches zero"
        )


def _check_shape(input_shape: tuple[Any, ...], batch: Any) -> None:
    if len(input_shape) != 3:
        raise ValueError(f"--input: got {'x'.join(map(str, input_shape))}; give CxHxW, e.g. 3x224x224")
    for v in input_shape:
        if is_concrete(v) and v <= 0:
            raise ValueError(
                f"--input: got {'x'.join(map(str, input_shape))}; channels, height and width must be positive integers"
            )
    if is_concrete(batch) and batch <= 0:
        raise ValueError(f"--batch: got {batch}; give a positive integer")


def _smallest_square(network: Network, channels: Any) -> int | None:
    """Smallest H = W the network accepts (None if none up to 8192); used only to phrase the error."""
    def ok(size: int) -> bool:
        try:
            _Walker(1).run(network.body, _Tensor(0, (channels, size, size), False))
            return True
        except _TooSmall:
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


def evaluate(network: Network, input_shape: tuple[Any, ...] | None = None, batch: Any = 1) -> Evaluation:
    """Evaluate every layer of ``network`` for a per-sample ``input_shape`` ``(C, H, W)`` and ``batch``.

    Parameters
    ----------
    network : Network
        From :func:`archcalc.zoo.build` or built by hand with :mod:`archcalc.graph`.
    input_shape : tuple, optional
        ``(C, H, W)``; defaults to the network's own. Entries may be ints or sympy symbols.
    batch : int or sympy.Symbol
        Batch size (MACs, activations and saved tensors scale with it; parameters do not).

    Returns
    -------
    Evaluation
        Frozen rows in execution order.

    Raises
    ------
    ValueError
        For a malformed shape or batch, or an input so small that some dimension reaches zero (the message
        names the layer and the smallest square input that works).

    Examples
    --------
    >>> from archcalc.zoo import build
    >>> ev = evaluate(build("vgg11"), (3, 32, 32), batch=2)
    >>> ev.rows[0].output_shape, ev.output_shape
    ((64, 32, 32), (1000,))
    """
    shape = tuple(network.default_input if input_shape is None else input_shape)
    _check_shape(shape, batch)
    walker = _Walker(batch)
    try:
        walker.run(network.body, _Tensor(0, shape, False))
    except _TooSmall as exc:
        hint = ""
        if is_concrete(*shape):
            smallest = _smallest_square(network, shape[0])
            if smallest is not None:
                hint = f"; {network.name} needs at least {shape[0]}x{smallest}x{smallest}"
        raise ValueError(f"--input {'x'.join(map(str, shape))} is too small: {exc}{hint}") from None
    return Evaluation(network.name, shape, batch, tuple(walker.rows))
