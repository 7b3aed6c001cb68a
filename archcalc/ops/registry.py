"""The op registry: one shape-only formula per op kind, written once as plain arithmetic.

A formula takes the full shapes of a node's inputs (batch dimension included; graph parameters passed as
inputs are ordinary inputs) and the node's hyper-parameters, and returns an :class:`OpCost`. Only
``+ - * //`` and the helpers of :mod:`archcalc.arith` are used, so the same function evaluates to exact
``int`` values or, given sympy symbols, to closed forms. Registering a kind twice raises.

What is counted (the conventions, also in docs/archcalc.md):

- ``macs``: multiply-accumulates of contractions, one per multiply-add, for the whole batch: weight
  contractions (convolutions, linear layers, recurrent cells) and activation-activation products (matmul,
  attention's ``Q K^T`` and ``A V`` over the full ``L x L`` as torch executes them). Which of the two a row
  is, the evaluator says (``Row.macs_kind``). Bias additions are *not* MACs.
- ``elementwise_ops``: every other arithmetic operation, one per operation (bias adds, normalisation,
  activation functions, pooling comparisons and adds, softmax, residual adds ...); each formula's docstring
  says how many per element.
- ``activations``: elements of the node's outputs for the whole batch.
- ``input_grad_macs`` / ``backward_weight_macs``: MACs of the gradients with respect to each input and to
  the declared weights.
- ``saves_input`` / ``saves_output`` and the ``saved_*`` extras: what autograd keeps for the backward pass.

Examples
--------
>>> cost = formula("Conv2d")([(1, 3, 224, 224)], out_channels=64, kernel_size=3, padding=1)
>>> cost.output_shape, cost.params, cost.macs
((1, 64, 224, 224), 1792, 86704128)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from archcalc.arith import is_concrete, prod
from archcalc.ops.traits import TRAITS, OpTraits

__all__ = ["OpCost", "REGISTRY", "register", "formula", "pair", "ntuple", "one_input", "elementwise_cost",
           "broadcast_shapes", "dim_index", "Shape"]

Shape = tuple[Any, ...]


@dataclass(frozen=True)
class OpCost:
    """Exact costs of one op for a whole batch (``params`` is per model, not per sample).

    Attributes
    ----------
    output_shape : tuple
        Full shape of the (first) output, batch dimension included.
    more_outputs : tuple of tuple
        Shapes of further outputs of a multi-output op (``chunk``, ``LSTM``'s ``(h, c)`` ...).
    param_shapes : tuple of (str, tuple)
        Parameters the op declares (zoo ops: ``("weight", (64, 3, 3, 3))``, ``("bias", (64,))``); traced ops
        receive their parameters as inputs instead and declare none.
    macs : int or sympy.Expr
        Forward multiply-accumulates of contractions, whole batch.
    activations : int or sympy.Expr
        Output elements, whole batch (every output).
    elementwise_ops : int or sympy.Expr
        Forward operations that are not MACs, whole batch.
    input_grad_macs : tuple
        MACs of the gradient with respect to each input (index-aligned with the inputs; missing entries are
        0), whole batch. The evaluator adds those of the inputs that need a gradient.
    grouped_grad_macs : tuple of (tuple of int, int or sympy.Expr)
        Gradient MACs autograd spends when *any* of a group of inputs needs a gradient (an einsum's
        intermediate result: its gradient is computed if one of the operands it was made of needs one).
    backward_weight_macs : int or sympy.Expr
        MACs of the gradient of the parameters the op declares, whole batch.
    saves_input, saves_output : bool
        Whether autograd saves the op's (activation) inputs / outputs for the backward pass.
    saved_inputs : tuple of int or None
        Where autograd keeps only some inputs: their positions (``addcmul`` keeps ``tensor1`` and ``tensor2``,
        not ``self``); None keeps every activation input when ``saves_input``. An int64 index or bool mask
        input autograd keeps is counted in ``saved_index_elements`` / ``saved_mask_elements`` instead (its
        dtype), never listed here.
    saved_fp32_elements, saved_index_elements, saved_mask_elements : int or sympy.Expr
        Extra float32 (BatchNorm / LayerNorm statistics), int64 (argmax indices) and bool (dropout mask)
        elements saved.
    alias_of : tuple of (int or None)
        For each output, the index of the input whose storage it shares (a view or an in-place op), or None
        for a new tensor. Empty means every output is new.
    saved_copy_elements : int or sympy.Expr
        Elements of new tensors in the activation dtype that autograd saves in place of an input (the
        contiguous copy ``F.linear`` makes of a strided 3-d input it cannot fold into a matrix).
    view_gradients : tuple of (int or str)
        Inputs (by index) and declared parameters (by role) whose gradient the backward returns as a view of
        another tensor (``F.linear``'s weight gradient passes through ``w.t()``'s backward). Autograd's engine
        adds a second gradient into such a view out of place (a new tensor), never in place.
    """

    output_shape: Shape
    more_outputs: tuple[Shape, ...] = ()
    param_shapes: tuple[tuple[str, Shape], ...] = ()
    macs: Any = 0
    activations: Any = 0
    elementwise_ops: Any = 0
    input_grad_macs: tuple[Any, ...] = ()
    grouped_grad_macs: tuple[tuple[tuple[int, ...], Any], ...] = ()
    backward_weight_macs: Any = 0
    saves_input: bool = False
    saves_output: bool = False
    saved_fp32_elements: Any = 0
    saved_index_elements: Any = 0
    saved_mask_elements: Any = 0
    alias_of: tuple[int | None, ...] = ()
    saved_inputs: tuple[int, ...] | None = None
    view_gradients: tuple[int | str, ...] = ()
    saved_copy_elements: Any = 0

    @property
    def output_shapes(self) -> tuple[Shape, ...]:
        """Every output's shape, the first one first."""
        return (self.output_shape, *self.more_outputs)

    def saves_input_at(self, i: int) -> bool:
        """Whether autograd keeps input ``i`` (an activation) for the backward pass."""
        return self.saves_input if self.saved_inputs is None else i in self.saved_inputs

    @property
    def params(self) -> Any:
        """Elements of the parameters the op declares."""
        return sum((prod(s) for _, s in self.param_shapes), 0)

    @property
    def inplace(self) -> bool:
        """The first output shares the first input's storage (in-place op or view)."""
        return bool(self.alias_of) and self.alias_of[0] == 0


Formula = Callable[..., OpCost]
REGISTRY: dict[str, Formula] = {}


def register(kind: str, traits: OpTraits | None = None) -> Callable[[Formula], Formula]:
    """Decorator adding a formula under ``kind`` with the kind's :class:`~archcalc.ops.traits.OpTraits`
    (``traits``: what the kind is, :mod:`archcalc.ops.traits`; every kind must declare them, the traits test
    says so); registering a kind twice raises ``ValueError``."""

    def deco(fn: Formula) -> Formula:
        if kind in REGISTRY:
            raise ValueError(f"formula for op kind {kind!r} is already registered; choose another name")
        REGISTRY[kind] = fn
        if traits is not None:
            TRAITS[kind] = replace(traits, family=fn.__module__.rsplit(".", 1)[-1])
        return fn

    return deco


def formula(kind: str) -> Formula:
    """The registered formula for ``kind``; unknown kinds raise ``ValueError`` listing the known ones."""
    import archcalc.ops  # noqa: F401  (importing the package registers every family)

    try:
        return REGISTRY[kind]
    except KeyError:
        raise ValueError(f"op kind: got {kind!r}; known kinds are {', '.join(sorted(REGISTRY))}") from None


def ntuple(value: Any, n: int, what: str = "value") -> tuple[Any, ...]:
    """``3 -> (3,)*n``; a sequence of length ``n`` is returned as a tuple (others raise ``ValueError``)."""
    if isinstance(value, tuple | list):
        if len(value) == 1:
            return tuple(value) * n
        if len(value) != n:
            raise ValueError(f"{what}: expected one value or {n}, got {value!r}")
        return tuple(value)
    return (value,) * n


def pair(value: Any) -> tuple[Any, Any]:
    """``3 -> (3, 3)``; a pair is returned as a tuple."""
    a, b = ntuple(value, 2)
    return (a, b)


def dim_index(d: int, rank: int, kind: str) -> int:
    """``d`` as a non-negative dim of a rank-``rank`` tensor (a scalar takes 0 and -1); out of range raises."""
    if not -rank <= d < max(rank, 1):
        raise ValueError(f"{kind}: dim {d} is out of range for rank {rank}")
    return d % max(rank, 1)


def one_input(in_shapes: list[Shape], kind: str, ranks: tuple[int, ...] | None = None) -> Shape:
    """The single input's shape, checked to have one of ``ranks`` (``None``: any rank)."""
    if len(in_shapes) != 1:
        raise ValueError(f"{kind} takes one input, got {len(in_shapes)}")
    shape = tuple(in_shapes[0])
    if ranks is not None and len(shape) not in ranks:
        raise ValueError(f"{kind} expects an input of rank {' or '.join(map(str, ranks))}, got shape {shape}")
    return shape


def broadcast_shapes(shapes: list[Shape], kind: str) -> Shape:
    """numpy / torch broadcasting of ``shapes`` (symbolic sizes must be equal or 1 to broadcast)."""
    rank = max(len(s) for s in shapes)
    out: list[Any] = []
    for axis in range(rank):
        sizes = [s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0]
        non_one = [v for v in sizes if not (is_concrete(v) and v == 1)]
        if not non_one:
            out.append(1)
            continue
        first = non_one[0]
        for v in non_one[1:]:
            if is_concrete(v, first) and v != first:
                raise ValueError(f"{kind}: shapes {[tuple(s) for s in shapes]} do not broadcast")
        out.append(first)
    return tuple(out)


def elementwise_cost(shape: Shape, ops_per_element: Any, **extra: Any) -> OpCost:
    """An op producing one ``shape`` tensor with ``ops_per_element`` operations per output element."""
    elems = prod(shape)
    return OpCost(output_shape=tuple(shape), activations=elems, elementwise_ops=elems * ops_per_element, **extra)
