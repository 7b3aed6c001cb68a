"""Network descriptions: layers in sequence, parallel branches merged by Concat (Inception) or Add (residual).

Layer names are dotted paths equal to the torch module names of the torchvision twin where one exists
(``features.0``, ``inception3a.branch2.1.conv``, ``layer1.0.conv1``), so cross-checks join on names.
A layer that has no module in the twin (a functional ``F.relu``, a ``torch.cat``) has ``module=None``; a
module called twice (torchvision's ResNet blocks reuse ``relu``) gives rows ``relu`` and ``relu:2`` that
share ``module``.

Examples
--------
>>> net = Network("tiny", "two layers", (3, 8, 8), seq("", [
...     layer("conv", "Conv2d", out_channels=4, kernel_size=3, padding=1),
...     layer("relu", "ReLU")]))
>>> [l.name for l in net.layers()]
['conv', 'relu']
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

__all__ = ["Layer", "Sequential", "Parallel", "Network", "Node", "layer", "seq", "parallel"]

_SAME = object()


@dataclass(frozen=True)
class Layer:
    """One layer: a registry ``kind`` with its hyper-parameters.

    ``module`` is the torch twin's module name (defaults to ``name``; ``None`` when the twin computes it
    functionally).
    """

    name: str
    kind: str
    hparams: tuple[tuple[str, Any], ...] = ()
    module: str | None = None

    @property
    def options(self) -> dict[str, Any]:
        """Hyper-parameters as a dict (a fresh copy)."""
        return dict(self.hparams)


@dataclass(frozen=True)
class Sequential:
    """Children applied one after another; an empty Sequential is the identity (a residual shortcut)."""

    name: str
    children: tuple[Node, ...] = ()


@dataclass(frozen=True)
class Parallel:
    """Branches applied to the same input; their outputs are merged by ``merge`` (a Concat or Add layer)."""

    name: str
    branches: tuple[Node, ...]
    merge: Layer


Node = Union[Layer, Sequential, Parallel]  # noqa: UP007 (a runtime alias used in annotations above)


def layer(name: str, kind: str, module: Any = _SAME, **hparams: Any) -> Layer:
    """Build a :class:`Layer`; ``module`` defaults to ``name`` (pass ``None`` for a functional op)."""
    return Layer(name, kind, tuple(hparams.items()), name if module is _SAME else module)


def seq(name: str, children: Sequence[Node]) -> Sequential:
    """Build a :class:`Sequential`."""
    return Sequential(name, tuple(children))


def parallel(name: str, branches: Sequence[Node], merge: Layer) -> Parallel:
    """Build a :class:`Parallel` block."""
    return Parallel(name, tuple(branches), merge)


def _walk(node: Node) -> Iterator[Layer]:
    if isinstance(node, Layer):
        yield node
    elif isinstance(node, Sequential):
        for child in node.children:
            yield from _walk(child)
    else:
        for branch in node.branches:
            yield from _walk(branch)
        yield node.merge


@dataclass(frozen=True)
class Network:
    """A named network with its default per-sample input shape ``(C, H, W)``.

    ``twin`` names the torch model it mirrors (``"torchvision:vgg19"``, ``"archcalc:inception_small"``) or is
    ``None``.
    """

    name: str
    description: str
    default_input: tuple[int, int, int]
    body: Sequential
    twin: str | None = None
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for lay in _walk(self.body):
            if lay.name in seen:
                raise ValueError(f"network {self.name!r}: layer name {lay.name!r} is used twice")
            seen.add(lay.name)

    def layers(self) -> list[Layer]:
        """All layers in execution order (branches in order, each merge after its branches)."""
        return list(_walk(self.body))
