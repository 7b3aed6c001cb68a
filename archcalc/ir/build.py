"""Building graphs without torch: a :class:`GraphBuilder` with tensor handles, and the series-parallel
helpers the zoo is written in (:func:`layer`, :func:`seq`, :func:`parallel`) lowered onto it.

Layer names are dotted paths equal to the torch twin's module names where one exists (``features.0``,
``layer1.0.conv1``), so cross-checks join on names. A layer without a module in the twin (a functional
``F.relu``, a ``torch.cat``) has ``module=None``; a module called twice (ResNet's ``relu``) gives nodes
``relu`` and ``relu:2`` that share ``module``.

Examples
--------
>>> b = GraphBuilder("tiny", inputs=[("x", (3, 8, 8))])
>>> y = b.op("conv", "Conv2d", "x", out_channels=4, kernel_size=3, padding=1)
>>> z = b.op("relu", "ReLU", y)
>>> g = b.build(z)
>>> [n.name for n in g.nodes]
['conv', 'relu']
>>> g2 = from_tree("tiny", "", (3, 8, 8), seq("", [layer("conv", "Conv2d", out_channels=4, kernel_size=3),
...                                                   layer("relu", "ReLU")]))
>>> [(n.name, n.inputs) for n in g2.nodes]
[('conv', ('x',)), ('relu', ('conv',))]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Union

from archcalc.ir.graph import Graph, Node, TensorSpec

__all__ = ["GraphBuilder", "Layer", "Sequential", "Parallel", "layer", "seq", "parallel", "from_tree"]

_SAME = object()


class GraphBuilder:
    """Appends nodes in execution order; each :meth:`op` returns its output value name(s)."""

    def __init__(self, name: str, description: str = "", inputs: Iterable[tuple[str, tuple[Any, ...]] | TensorSpec] = (),
                 twin: str | None = None, notes: Sequence[str] = ()) -> None:
        self.name, self.description, self.twin, self.notes = name, description, twin, tuple(notes)
        self.inputs = tuple(s if isinstance(s, TensorSpec) else TensorSpec(s[0], tuple(s[1])) for s in inputs)
        self.nodes: list[Node] = []

    def op(self, name: str, kind: str, *inputs: str, module: Any = _SAME, outputs: int = 1,
           params: dict[str, str] | None = None, **hparams: Any) -> Any:
        """Add node ``name`` of ``kind`` on ``inputs``; returns its output name (a tuple if ``outputs > 1``).

        ``module`` defaults to ``name`` (pass ``None`` for a functional op); ``params`` renames parameter
        roles (``{"weight": "shared.weight"}`` shares a weight with another node).
        """
        outs = (name,) if outputs == 1 else tuple(f"{name}#{i}" for i in range(outputs))
        node = Node(name, kind, tuple(inputs), outs, tuple(hparams.items()), name if module is _SAME else module,
                    tuple((params or {}).items()))
        # the builder writes names as module paths: it declares the scopes they spell (``layer1.0.add`` runs
        # inside ``layer1`` and ``layer1.0``); dtypes and requires-grad are left to evaluate's inference
        # (float32, or the input's dtype; parameters require grad)
        self.nodes.append(replace(node, scope=node.scopes))
        return outs[0] if outputs == 1 else outs

    def build(self, *outputs: str) -> Graph:
        """The finished graph returning ``outputs``."""
        return Graph(self.name, self.description, self.inputs, tuple(self.nodes), tuple(outputs), twin=self.twin,
                     notes=self.notes)


@dataclass(frozen=True)
class Layer:
    """One single-input op in a series-parallel description (``module`` defaults to ``name``)."""

    name: str
    kind: str
    hparams: tuple[tuple[str, Any], ...] = ()
    module: str | None = None


@dataclass(frozen=True)
class Sequential:
    """Children applied one after another; an empty Sequential is the identity (a residual shortcut)."""

    name: str
    children: tuple[Tree, ...] = ()


@dataclass(frozen=True)
class Parallel:
    """Branches applied to the same input, their outputs merged by ``merge`` (a Concat or Add layer)."""

    name: str
    branches: tuple[Tree, ...]
    merge: Layer


Tree = Union[Layer, Sequential, Parallel]  # noqa: UP007 (a runtime alias used in annotations above)


def layer(name: str, kind: str, module: Any = _SAME, **hparams: Any) -> Layer:
    """Build a :class:`Layer`; ``module`` defaults to ``name`` (pass ``None`` for a functional op)."""
    return Layer(name, kind, tuple(hparams.items()), name if module is _SAME else module)


def seq(name: str, children: Sequence[Tree]) -> Sequential:
    """Build a :class:`Sequential`."""
    return Sequential(name, tuple(children))


def parallel(name: str, branches: Sequence[Tree], merge: Layer) -> Parallel:
    """Build a :class:`Parallel` block."""
    return Parallel(name, tuple(branches), merge)


def _lower(b: GraphBuilder, node: Tree, x: str) -> str:
    if isinstance(node, Layer):
        return b.op(node.name, node.kind, x, module=node.module, **dict(node.hparams))
    if isinstance(node, Sequential):
        for child in node.children:
            x = _lower(b, child, x)
        return x
    outs = [_lower(b, branch, x) for branch in node.branches]
    m = node.merge
    return b.op(m.name, m.kind, *outs, module=m.module, **dict(m.hparams))


def from_tree(name: str, description: str, input_shape: tuple[Any, ...], body: Tree, twin: str | None = None,
              notes: Sequence[str] = (), input_name: str = "x") -> Graph:
    """Lower a series-parallel description on one input ``x`` (per-sample ``input_shape``) to a :class:`Graph`."""
    b = GraphBuilder(name, description, [(input_name, tuple(input_shape))], twin=twin, notes=notes)
    out = _lower(b, body, input_name)
    return b.build(out)
