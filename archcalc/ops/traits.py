"""What an op kind *is*, declared once beside its formula: one :class:`OpTraits` record per registry kind.

A formula (:mod:`archcalc.ops.registry`) answers "how much, at these shapes"; the traits answer the questions
every analysis asks about a kind whatever the shapes: the dtype of its outputs, which inputs can receive a
gradient, whether its output may share its input's storage, whether it broadcasts, how ``torch.autocast``
treats it, whether training mode changes it, what its backward allocates, and whether it is a constant, a
collective or a record of an op archcalc does not model. Analyses ask :func:`traits` and never test a kind's
name (``tests/test_op_traits.py`` enforces both: every registered kind declares traits, and no module outside
``ops/`` and the presets branches on a kind's name).

Declaring a kind is one line: ``@register("Add", traits=binary(grad_alias=True))``. The small constructors
(:func:`pointwise`, :func:`binary`, :func:`view`, :func:`reduction`, :func:`contraction`, :func:`indices`,
:func:`comparison`) give the common records; keyword arguments change single fields.

Examples
--------
>>> traits("Compare").output_dtype(0, "float16"), traits("Compare").differentiable_at(0)
('bool', False)
>>> traits("Linear").autocast_policy("cpu"), traits("LayerNorm").autocast_policy("cuda")
('lower', 'fp32')
>>> traits("Dropout").training_sensitive, traits("Add").broadcasting, traits("Transpose").aliasing
(True, True, 'view')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from archcalc.ops.kinds import REGISTRY, unknown_kind
from dlperf.errors import ArgumentError

__all__ = ["OpTraits", "TRAITS", "traits", "declared", "pointwise", "binary", "view", "reduction", "contraction",
           "indices", "comparison", "ALIASING", "AUTOCAST", "COLLECTIVES", "SAME"]

#: ``output_dtypes`` entry: the inputs' dtype (torch's promotion among floating inputs, float32 if none).
SAME = "same"
#: ``aliasing``: a new tensor; always a view of input 0; a view or a copy (decided by the input's strides, the
#: tracer records which: ``reshape``, ``contiguous``, basic indexing); a new tensor unless called with
#: ``inplace=True`` (then it writes input 0).
ALIASING = ("new", "view", "maybe_view", "inplace")
#: ``torch.autocast`` classes: run in the low dtype (``lower_precision_fp``), in fp32 (``fp32`` lists).
AUTOCAST = ("lower", "fp32")
_DEVICES = ("cpu", "cuda")
_DROPS = (None, "element", "channel", "sample")
_LISTS = (None, "join", "split")
#: ``collective`` patterns.
COLLECTIVES = (None, "all_reduce", "reduce_scatter", "all_gather")


@dataclass(frozen=True)
class OpTraits:
    """The shape-independent facts of one op kind (per-call facts that depend on hyper-parameters, such as
    which outputs alias for ``inplace=True`` or exactly what is saved, stay with the formula's ``OpCost``).

    Attributes
    ----------
    output_dtypes : tuple of str
        Dtype of each output (the last entry repeats for further outputs): :data:`SAME` (the promoted floating
        dtype of the inputs), a dtype name (``"bool"`` for comparisons, ``"int64"`` for indices), or
        ``"=name"``: the value of hyper-parameter ``name`` (``Cast``'s ``dtype``).
    differentiable : tuple of int or None
        Positions of the inputs autograd can pass a gradient to (``()``: none, the op is not differentiable;
        ``Gather``'s index never gets one); None: every floating input.
    aliasing : str
        One of :data:`ALIASING`.
    broadcasting : bool
        Inputs broadcast to the output's shape, so the gradient of a broadcast input is computed at the
        output's shape and summed to the input's (autograd's ``sum_to``).
    autocast : tuple of (str, str)
        ``(device, class)`` pairs, class one of :data:`AUTOCAST` (torch's ``autocast_mode.cpp`` lists); a
        device not listed runs the op in its inputs' dtype.
    training_sensitive : bool
        The op computes differently in training mode (dropout masks, batch statistics, recurrent and attention
        dropout): the evaluator sets its ``training`` option.
    drop : str or None
        Random zeroing: ``"element"`` (dropout), ``"channel"`` (feature dropout), ``"sample"`` (stochastic
        depth); the identity (torch returns the input) when ``p = 0`` or not training.
    default_p : float
        The drop probability when the node does not give ``p``.
    grad_alias : bool
        The gradient passed to each input is the incoming gradient itself (a view of it, no new tensor): sums,
        views, concatenation, identity.
    kernel_saves : bool
        What autograd saves depends on the kernel torch selects on the device (attention: the fused kernel
        saves q, k, v, the output and a log-sum-exp; the math path its matrices).
    running_stats : bool
        Keeps running statistics buffers (batch norm's mean and variance, a counter).
    lists : str or None
        ``"join"``: takes a list of tensors into one (``cat``, ``stack``); ``"split"``: returns a list of pieces
        of its input (``split``, ``chunk``, ``unbind``).
    reshapes : bool
        Keeps the elements' order and changes only the shape (``view``, ``reshape``, ``flatten``,
        ``contiguous``, ``squeeze``): a view whenever the input's memory order allows.
    dim_order : callable or None
        For an op that only reorders dimensions (a view): ``dim_order(hparams, order) -> order``, the list
        ``order`` (which source dimension sits at each position) after the op.
    constant : bool
        A factory: makes a tensor from no input (``torch.zeros``, ``arange``); no gradient flows into it.
    collective : str or None
        A communication between devices (its cost is bytes on a link, not arithmetic), by pattern (one of
        :data:`COLLECTIVES`).
    attention : bool
        Scaled dot-product attention on its inputs ``(q, k, v[, mask])``, heads already split: ``q k^T`` and
        ``A v`` over the full ``L x S`` scores (``k`` and ``v`` are what a KV cache keeps).
    lookup : bool
        A table lookup: reads only the rows of its weight that its indices select (an embedding).
    stats_in_input_dtype : tuple of str
        Devices whose kernel keeps the saved statistics in the input's dtype (else float32): layer norm's
        CPU kernel.
    value_dependent_shape : bool
        The output's shape depends on the input's values (``nonzero``): a trace records the shape it saw.
    modeled : bool
        False for the record of an op archcalc has no formula for (``Unmodeled``: listed, counted as zero).
    saves_for_grad : tuple of tuple of int, or None
        Entry ``i``: the inputs autograd keeps when input ``i`` needs a gradient (``x * y``: ``y`` for ``x``'s
        gradient, ``x`` for ``y``'s: ``((1,), (0,))``); of the inputs the formula says it saves, only those
        are kept. None: every input the formula says, whichever need a gradient.
    family : str
        The ``ops`` module that declares the kind (set by :func:`~archcalc.ops.registry.register`).
    """

    output_dtypes: tuple[str, ...] = (SAME,)
    differentiable: tuple[int, ...] | None = None
    aliasing: str = "new"
    broadcasting: bool = False
    autocast: tuple[tuple[str, str], ...] = ()
    training_sensitive: bool = False
    drop: str | None = None
    default_p: float = 0.0
    grad_alias: bool = False
    kernel_saves: bool = False
    running_stats: bool = False
    lists: str | None = None
    reshapes: bool = False
    dim_order: Callable[[Mapping[str, Any], list[int]], list[int]] | None = None
    constant: bool = False
    collective: str | None = None
    attention: bool = False
    lookup: bool = False
    stats_in_input_dtype: tuple[str, ...] = ()
    value_dependent_shape: bool = False
    modeled: bool = True
    saves_for_grad: tuple[tuple[int, ...], ...] | None = None
    family: str = ""

    def __post_init__(self) -> None:
        if self.aliasing not in ALIASING:
            raise ArgumentError("aliasing", self.aliasing, f"choose one of {', '.join(ALIASING)}")
        for device, cls in self.autocast:
            if device not in _DEVICES or cls not in AUTOCAST:
                raise ArgumentError("autocast", (device, cls), f"devices {_DEVICES}, classes {AUTOCAST}")
        if self.drop not in _DROPS:
            raise ArgumentError("drop", self.drop, f"choose one of {_DROPS}")
        if self.lists not in _LISTS:
            raise ArgumentError("lists", self.lists, f"choose one of {_LISTS}")
        if self.collective not in COLLECTIVES:
            raise ArgumentError("collective", self.collective, f"choose one of {COLLECTIVES}")
        if not self.output_dtypes:
            raise ArgumentError("output_dtypes", what="give at least one entry")

    def output_dtype(self, i: int, same: str, hparams: Mapping[str, Any] | None = None) -> str:
        """Dtype of output ``i``, given ``same`` (the inputs' promoted dtype) and the node's hyper-parameters."""
        spec = self.output_dtypes[min(i, len(self.output_dtypes) - 1)]
        if spec == SAME:
            return same
        if spec.startswith("="):
            return str((hparams or {}).get(spec[1:], same))
        return spec

    def saved_given(self, needs_grad: Sequence[bool]) -> frozenset[int] | None:
        """The inputs autograd keeps when input ``i`` needs a gradient exactly where ``needs_grad[i]``; None:
        those the formula says (no :attr:`saves_for_grad`).

        >>> traits("Mul").saved_given([True, False]), traits("Mul").saved_given([True, True])
        (frozenset({1}), frozenset({0, 1}))
        """
        if self.saves_for_grad is None:
            return None
        return frozenset(k for i, need in enumerate(needs_grad) if need and i < len(self.saves_for_grad)
                         for k in self.saves_for_grad[i])

    def differentiable_at(self, i: int) -> bool:
        """Whether input ``i`` can receive a gradient through this op (if it is floating and requires one)."""
        return self.differentiable is None or i in self.differentiable

    @property
    def merges(self) -> bool:
        """Joins several tensors into one without arithmetic of its own: a concatenation or stack, or a sum of
        tensors whose gradient passes through unchanged (a residual add)."""
        return self.lists == "join" or (self.broadcasting and self.grad_alias)

    def autocast_policy(self, device: str) -> str | None:
        """``"lower"``, ``"fp32"`` or None (the inputs' dtype) under ``torch.autocast`` on ``device``."""
        return dict(self.autocast).get(device)


def pointwise(**changes: Any) -> OpTraits:
    """An element-wise op on one tensor (may run in place with ``inplace=True``)."""
    return replace(OpTraits(aliasing="inplace"), **changes)


def binary(**changes: Any) -> OpTraits:
    """A broadcasting element-wise op of several tensors (``inplace=True`` writes the first)."""
    return replace(OpTraits(aliasing="inplace", broadcasting=True), **changes)


def view(**changes: Any) -> OpTraits:
    """A view of input 0 (same storage); its gradient is the incoming one, reshaped."""
    return replace(OpTraits(aliasing="view", grad_alias=True), **changes)


def reduction(**changes: Any) -> OpTraits:
    """A reduction over some dimensions into a new tensor."""
    return replace(OpTraits(), **changes)


_LOWER_EVERYWHERE = (("cpu", "lower"), ("cuda", "lower"))


def contraction(**changes: Any) -> OpTraits:
    """A matrix product or convolution: autocast runs it in the low dtype on the CPU and on CUDA."""
    return replace(OpTraits(autocast=_LOWER_EVERYWHERE), **changes)


def indices(**changes: Any) -> OpTraits:
    """An op returning int64 indices only: not differentiable."""
    return replace(OpTraits(output_dtypes=("int64",), differentiable=()), **changes)


def comparison(**changes: Any) -> OpTraits:
    """An op returning a bool tensor: not differentiable."""
    return replace(OpTraits(output_dtypes=("bool",), differentiable=()), **changes)


#: Every declared kind's traits (filled by :func:`~archcalc.ops.registry.register`).
TRAITS: dict[str, OpTraits] = {}
_UNDECLARED = OpTraits(family="(undeclared)")


def declared(kind: str) -> bool:
    """Whether ``kind`` declared its traits (``tests/test_op_traits.py`` requires it of every kind)."""
    return kind in TRAITS  # complete: archcalc/ops/__init__.py imports every family before this module runs


def traits(kind: str, overrides: Mapping[str, OpTraits] | None = None) -> OpTraits:
    """The traits of registry ``kind`` (``overrides[kind]`` first, as one analysis's own mapping).

    An unknown kind raises ``ValueError`` listing the known ones. A registered kind that declared no traits
    gets the neutral record (new floating tensor, every input differentiable, nothing special): what an
    analysis assumed of a kind it had no set for; the traits test fails for such a kind.
    """
    if overrides and kind in overrides:
        return overrides[kind]
    found = TRAITS.get(kind)
    if found is not None:
        return found
    if kind not in REGISTRY:
        raise unknown_kind(kind)
    return _UNDECLARED
