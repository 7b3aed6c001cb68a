"""A graph's stack of layers (a transformer's blocks): where ``recompute`` and ``checkpoint_segments`` cut a
model that is not one ``nn.Sequential``.

The stack is a module scope whose nodes are one run of consecutive nodes, every one of them inside one of
its child scopes (``model.layers.0``, ``model.layers.1`` ... of an ``nn.ModuleList``, or the named children of
an ``nn.Sequential`` such as torchvision ViT's ``encoder.layers``), each child one run of consecutive nodes,
at least two children, and more than half of the graph's nodes in it (the trunk of the model, not one
stage of a ResNet). It is found from the IR's module scopes, never from names; of several candidates, the
one with the most children.

Plans on the stack (:class:`~archcalc.memory.liveness.recompute.RecomputePlan`, the schedule's one checkpointing
model):

``"full"``
    each layer runs under one checkpoint (Megatron's full recompute; Hugging Face's
    ``gradient_checkpointing_enable()``);
``"selective"``
    the attention core of each layer (its scaled dot-product attention nodes, the kinds whose traits say
    ``attention``; Korthikanti et al. 2022, section 5) runs under a checkpoint.

Examples
--------
>>> from archcalc.models.zoo import build
>>> stack = layer_stack(build("llama"))
>>> stack.scope, len(stack.bounds), stack.bounds[0]
('model.layers', 32, (3, 26))
>>> plan = stack_plan(build("bert-base"), "selective")
>>> plan.regions[0]
('encoder.layer.0.attention.self.scaled_dot_product_attention',)
>>> layer_stack(build("resnet18")) is None  # its stages hold under half of its nodes each
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archcalc.memory.liveness.recompute import RecomputePlan
from archcalc.ops.traits import traits
from dlperf.results import Result

__all__ = ["LayerStack", "layer_stack", "stack_plan", "STACK_RECOMPUTE"]

#: The recompute choices of :func:`stack_plan` (as ``--recompute``'s).
STACK_RECOMPUTE = ("none", "selective", "full")


@dataclass(frozen=True, repr=False)
class LayerStack(Result):
    """The module ``scope`` whose children are the layers; ``bounds``: (first, last) node index of each."""

    scope: str
    bounds: tuple[tuple[int, int], ...]


def _children(nodes: tuple[Any, ...], scope: str, run: list[int]) -> list[list[Any]] | None:
    """[child scope, first, last] per child of ``scope`` over its run of nodes, or None if it is no stack."""
    depth = nodes[run[0]].scopes.index(scope)
    out: list[list[Any]] = []
    for i in run:
        scopes = nodes[i].scopes
        if len(scopes) <= depth + 1 or scopes[depth] != scope:
            return None  # a node directly in the scope, outside any child
        child = scopes[depth + 1]
        if out and out[-1][0] == child:
            out[-1][2] = i
        else:
            out.append([child, i, i])
    if len(out) < 2 or len({c[0] for c in out}) != len(out):
        return None  # one child, or a child in two runs
    return out


def layer_stack(graph: Any) -> LayerStack | None:
    """The stack of layers of ``graph`` (see the module docstring), or ``None`` when it has none."""
    nodes = graph.nodes
    where: dict[str, list[int]] = {}
    for i, node in enumerate(nodes):
        for scope in node.scopes:
            where.setdefault(scope, []).append(i)
    best: tuple[str, list[list[Any]]] | None = None
    for scope, run in where.items():
        if run != list(range(run[0], run[-1] + 1)) or 2 * len(run) <= len(nodes):
            continue
        children = _children(nodes, scope, run)
        if children is not None and (best is None or len(children) > len(best[1])):
            best = (scope, children)
    if best is None:
        return None
    return LayerStack(best[0], tuple((c[1], c[2]) for c in best[1]))


def stack_plan(graph: Any, recompute: str, argument: str = "recompute") -> RecomputePlan | None:
    """The checkpointed regions of ``recompute`` (``"none"``: ``None``) on ``graph``'s stack of layers;
    ``ValueError`` naming ``argument`` when the graph has no stack or a layer no attention core."""
    if recompute not in STACK_RECOMPUTE:
        raise ValueError(f"{argument}={recompute!r} is unknown; choose one of {', '.join(STACK_RECOMPUTE)}")
    if recompute == "none":
        return None
    stack = layer_stack(graph)
    if stack is None:
        raise ValueError(f"{argument}={recompute!r}: {graph.name} has no stack of layers (a module whose children "
                         "are the model's repeated blocks); recompute applies to transformers")
    nodes, regions = graph.nodes, []
    for first, last in stack.bounds:
        layer = nodes[first:last + 1]
        if recompute == "full":
            regions.append(tuple(n.name for n in layer))
            continue
        cores = [(n.name,) for n in layer if traits(n.kind).attention]
        if not cores:
            raise ValueError(f"{argument}='selective': layer {layer[0].scopes[-1] if layer[0].scopes else first} "
                             "has no attention core (a scaled dot-product attention op) to recompute; use full")
        regions.extend(cores)
    return RecomputePlan(tuple(regions))
