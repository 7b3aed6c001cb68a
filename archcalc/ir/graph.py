"""The intermediate representation: a DAG of named tensor values and op nodes.

A :class:`Graph` has inputs (:class:`TensorSpec`, per-sample shapes with a batch dimension prepended at
evaluation), nodes in execution order (:class:`Node`: a registry kind, named input and output values,
hyper-parameters, the torch module it belongs to) and outputs. Parameters are values with an identity: a
zoo node declares them by name (``features.0.weight``; two nodes naming the same parameter share it), a
traced node reads them as inputs (values listed in ``Graph.params`` with their known shapes). Either way a
parameter is counted once, by the first node that uses it.

Examples
--------
>>> g = Graph("tiny", "", (TensorSpec("x", (3, 8, 8)),), (
...     Node("conv", "Conv2d", ("x",), ("conv",), (("out_channels", 4), ("kernel_size", 3))),
...     Node("relu", "ReLU", ("conv",), ("relu",))), ("relu",))
>>> [n.name for n in g.nodes], g.default_input
(['conv', 'relu'], (3, 8, 8))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archcalc.ir.dtypes import DTYPES

__all__ = ["TensorSpec", "Node", "Graph", "ValueInfo", "DTYPE_BYTES"]

#: Bytes per element of each dtype a value may declare: the one dtype table (:mod:`archcalc.ir.dtypes`).
DTYPE_BYTES = DTYPES


@dataclass(frozen=True)
class ValueInfo:
    """What the IR knows about one tensor value besides its shape.

    ``dtype`` (a key of :data:`DTYPE_BYTES`); ``requires_grad``: autograd tracks it (a gradient reaches it
    in the backward pass); ``constant``: made outside the traced calls and held by the model (a plain tensor
    attribute), so neither freed nor saved by the forward pass.

    Examples
    --------
    >>> ValueInfo("bool").floating, DTYPE_BYTES[ValueInfo("int64").dtype], ValueInfo().requires_grad
    (False, 8, False)
    """

    dtype: str = "float32"
    requires_grad: bool = False
    constant: bool = False

    @property
    def floating(self) -> bool:
        """Whether the dtype is a floating-point one (only those carry gradients)."""
        return self.dtype.startswith(("float", "bfloat"))


@dataclass(frozen=True)
class TensorSpec:
    """A graph input: its value name, per-sample shape and dtype.

    ``batched`` inputs get the batch size prepended at evaluation (``(3, 224, 224)`` -> ``(B, 3, 224, 224)``).
    """

    name: str
    shape: tuple[Any, ...]
    dtype: str = "float32"
    batched: bool = True


@dataclass(frozen=True)
class Node:
    """One op: ``kind`` from the registry applied to the ``inputs`` values, producing the ``outputs`` values.

    ``params`` maps the formula's parameter roles to parameter names (default ``{module or name}.{role}``);
    ``module`` is the torch module the op belongs to (``None`` for a functional op at the top level).

    Facts about the outputs, declared by the front end (the tracer reads them off the real tensors); left
    empty, :func:`~archcalc.ir.evaluate.evaluate` infers them from the inputs (:meth:`Graph.value_info`):
    ``dtypes`` and ``requires_grad`` one per output, ``constant`` for a tensor made outside the traced calls.
    ``requires_grad`` means a gradient reaches the value in ``loss.backward()`` (``loss`` = the sum of the
    graph's outputs): the tracer reads the real tensor's flag and keeps it only where autograd's graph from
    the outputs reaches the tensor, so a ``.detach()``, a ``torch.no_grad()`` region, frozen parameters and a
    result the forward drops all show there.
    ``scope`` lists the module calls the op runs inside, outermost first (``("layer1", "layer1.0")``); ``None``:
    derived from ``module``, else from the dotted node name (graphs built by hand).
    """

    name: str
    kind: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    hparams: tuple[tuple[str, Any], ...] = ()
    module: str | None = None
    params: tuple[tuple[str, str], ...] = ()
    dtypes: tuple[str, ...] = ()
    requires_grad: tuple[bool, ...] = ()
    constant: bool = False
    scope: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for field_name in ("dtypes", "requires_grad"):
            declared = getattr(self, field_name)
            if declared and len(declared) != len(self.outputs):
                raise ValueError(f"node {self.name!r}: {field_name} has {len(declared)} entries for "
                                 f"{len(self.outputs)} outputs")
        for d in self.dtypes:
            if d not in DTYPE_BYTES:
                raise ValueError(f"node {self.name!r}: dtype {d!r} is unknown; choose one of {', '.join(DTYPE_BYTES)}")

    @property
    def scopes(self) -> tuple[str, ...]:
        """The module calls this op runs inside, outermost first (``scope``, or derived for hand-built graphs)."""
        if self.scope is not None:
            return self.scope
        import re

        base = self.module if self.module else ".".join(self.name.split(".")[:-1])
        parts = [re.sub(r":\d+$", "", p) for p in base.split(".") if p]
        return tuple(".".join(parts[: i + 1]) for i in range(len(parts)))

    @property
    def options(self) -> dict[str, Any]:
        """Hyper-parameters as a dict (a fresh copy)."""
        return dict(self.hparams)

    def param_name(self, role: str) -> str:
        """The parameter name behind ``role`` (e.g. ``weight``)."""
        mapping = dict(self.params)
        if role in mapping:
            return mapping[role]
        owner = self.name if self.module is None else self.module
        return f"{owner}.{role}" if owner else role


@dataclass(frozen=True)
class Graph:
    """A named network: inputs, nodes in execution order, outputs, and known parameter shapes.

    Attributes
    ----------
    name, description : str
    inputs : tuple of TensorSpec
    nodes : tuple of Node
    outputs : tuple of str
        Value names the network returns.
    params : tuple of (str, tuple)
        Parameters with known shapes (traced graphs: every parameter the model has, used or not); zoo graphs
        leave it empty and their nodes declare parameters.
    buffers : tuple of (str, tuple)
        Buffers (BatchNorm running statistics ...) with their shapes, for memory accounting.
    twin : str or None
        The torch model it mirrors (``torchvision:vgg19``), for cross-checks.
    notes : tuple of str
    traced_at : tuple or None
        For a traced graph, the full input shapes it was traced at (its view sizes are fixed there).
    released_after : tuple of (str, int)
        For a traced graph, value name -> index of the last node that had run when the traced forward
        dropped its last reference to the value's tensor (observed with weakref finalizers; autograd kept
        no saved tensors). Values still referenced when the forward returned are absent.
    dtypes : tuple of (str, str)
        dtypes of the parameters and buffers that are not float32 (BatchNorm's int64 ``num_batches_tracked``).
    frozen_params : tuple of str
        Parameters that do not require grad (``requires_grad=False``): no gradient, no weight-gradient MACs.
    """

    name: str
    description: str
    inputs: tuple[TensorSpec, ...]
    nodes: tuple[Node, ...]
    outputs: tuple[str, ...]
    params: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    buffers: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    twin: str | None = None
    notes: tuple[str, ...] = field(default=())
    traced_at: tuple[tuple[Any, ...], ...] | None = None
    released_after: tuple[tuple[str, int], ...] = ()
    dtypes: tuple[tuple[str, str], ...] = ()
    frozen_params: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for field_name in ("inputs", "nodes", "outputs"):
            if not isinstance(getattr(self, field_name), tuple | list):
                from dlperf.validate import ArgumentTypeError

                raise ArgumentTypeError(f"{field_name}={getattr(self, field_name)!r} must be a tuple")
        defined = {spec.name for spec in self.inputs} | {name for name, _ in self.params + self.buffers}
        names: set[str] = set()
        for node in self.nodes:
            if node.name in names:
                raise ValueError(f"graph {self.name!r}: node name {node.name!r} is used twice")
            names.add(node.name)
            for value in node.inputs:
                if value not in defined:
                    raise ValueError(f"graph {self.name!r}: node {node.name!r} reads {value!r} before it is defined")
            defined.update(node.outputs)
        for value in self.outputs:
            if value not in defined:
                raise ValueError(f"graph {self.name!r}: output {value!r} is never produced")

    @property
    def default_input(self) -> tuple[Any, ...]:
        """The first input's per-sample shape."""
        return tuple(self.inputs[0].shape)

    @property
    def constants(self) -> frozenset[str]:
        """Values made outside the traced calls (declared ``constant`` by their node)."""
        return frozenset(v for n in self.nodes if n.constant for v in n.outputs)

    def layers(self) -> list[Node]:
        """Every node in execution order."""
        return list(self.nodes)

    def renamed(self, name: str | None = None, description: str | None = None) -> Graph:
        """A copy with another name or description."""
        from dataclasses import replace

        return replace(self, name=self.name if name is None else name,
                       description=self.description if description is None else description)
