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

__all__ = ["TensorSpec", "Node", "Graph"]


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
    ``module`` is the torch module the op belongs to (``None`` for a functional op at the top level);
    ``gets_grad`` says, for each output, whether ``loss.backward()`` (``loss`` = the sum of the graph's
    outputs) computes its gradient: the traced tensor required grad and the outputs depend on it through
    autograd (empty: not recorded, the evaluator infers it from the inputs). A ``.detach()``, a
    ``torch.no_grad()`` region, frozen parameters or a result the forward drops show there.
    """

    name: str
    kind: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    hparams: tuple[tuple[str, Any], ...] = ()
    module: str | None = None
    params: tuple[tuple[str, str], ...] = ()
    gets_grad: tuple[bool, ...] = ()

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
    frozen_params : tuple of str
        Parameters that do not require grad (``requires_grad=False``): no gradient, no weight-gradient MACs.
    released_after : tuple of (str, int)
        For a traced graph, value name -> index of the last node that had run when the traced forward
        dropped its last reference to the value's tensor (observed with weakref finalizers; autograd kept
        no saved tensors). Values still referenced when the forward returned are absent.
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
    frozen_params: tuple[str, ...] = ()

    def __post_init__(self) -> None:
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

    def layers(self) -> list[Node]:
        """Every node in execution order."""
        return list(self.nodes)

    def renamed(self, name: str | None = None, description: str | None = None) -> Graph:
        """A copy with another name or description."""
        from dataclasses import replace

        return replace(self, name=self.name if name is None else name,
                       description=self.description if description is None else description)
