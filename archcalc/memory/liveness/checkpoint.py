"""Activation checkpointing of a sequential network: ``torch.utils.checkpoint.checkpoint_sequential``.

Which graphs qualify
    The sequence is what ``checkpoint_sequential(functions, segments, x, use_reentrant=False)`` receives:

    - a graph whose every node is a top-level module (``nn.Sequential(conv, relu, ...)`` traced: nodes
      ``0``, ``1``, ...) is the sequence itself;
    - otherwise the graph's first top-level child, when it is a sequence of modules with one node each
      (VGG's and AlexNet's ``features``, in the zoo and traced from torchvision): the step is
      ``x = checkpoint_sequential(model.features, segments, x, use_reentrant=False)`` followed by the rest of
      the model (``avgpool``, ``flatten``, ``classifier``) run as usual.

    The sequence must be a chain: each node reads only the previous node's output (plus parameters and
    buffers), the first one the graph input, and only the last one's output is read after the sequence.
    - otherwise the graph's stack of layers (:func:`~archcalc.memory.liveness.stack.layer_stack`: a transformer's
      blocks, ``model.layers`` of a Llama): the step is ``checkpoint_sequential(layers, segments, x,
      use_reentrant=False)`` over the blocks, each child a layer of many nodes; what the blocks read from
      outside besides the previous block's output (rotary tables, masks) is kept for the rerun as every
      checkpoint input is.

    Every other graph (ResNets, GoogLeNet) is refused.
How the segments are split (as torch does)
    ``size = len(sequence) // segments``; segments ``1 .. segments - 1`` are ``size`` children each and run
    under ``checkpoint``; the last segment is the rest and runs without checkpoint. ``segments=1`` is the
    plain run. A checkpointed segment must not start with an in-place op: it would modify the input the
    checkpoint saved, and torch raises in the backward pass ("modified by an inplace operation").
What is kept
    Each checkpointed segment is one region of a :class:`~archcalc.memory.liveness.recompute.RecomputePlan`
    (:meth:`CheckpointPlan.recompute_plan`), the schedule's one model of ``torch.utils.checkpoint``: in the
    forward pass the segment saves nothing and only its input is kept; when the backward reaches the
    segment's last node that saves a tensor, the segment runs again from its input up to that node (torch's
    early stop), and the saved tensors made by the rerun live until their own node's backward has run.
    Training only: an inference pass does not save anything.

Examples
--------
>>> from archcalc.models.zoo import build
>>> plan = checkpoint_plan(build("vgg16"), 4)
>>> plan.children, plan.segment_bounds  # 31 // 4 = 7 modules per checkpointed segment, the last 10 plain
(31, ((0, 6), (7, 13), (14, 20)))
>>> plan.recompute_plan(build("vgg16")).regions[1][:2]
('features.7', 'features.8')
>>> llama = checkpoint_plan(build("llama"), 4)  # 32 layers of 24 nodes: layers 0-7, 8-15, 16-23; 24-31 plain
>>> llama.sequence, llama.children, llama.segment_bounds
('model.layers', 32, ((3, 194), (195, 386), (387, 578)))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archcalc.memory.liveness.recompute import RecomputePlan
from dlperf.errors import ArgumentError
from dlperf.results import Result
from dlperf.validate import check_int

__all__ = ["CheckpointPlan", "checkpoint_plan"]


@dataclass(frozen=True, repr=False)
class CheckpointPlan(Result):
    """Where ``checkpoint_sequential`` cuts the graph.

    ``sequence`` names the module that is the sequence (``""``: the whole graph), ``children`` its length
    (modules, or layers of a stack), ``segment_bounds`` the (first, last) node indices of each checkpointed
    segment (the last segment, never checkpointed, is not listed).
    """

    segments: int
    sequence: str
    children: int
    segment_bounds: tuple[tuple[int, int], ...]

    def recompute_plan(self, graph: Any) -> RecomputePlan:
        """The checkpointed segments of ``graph`` (the graph this plan was made for) as recompute regions."""
        return RecomputePlan(tuple(tuple(n.name for n in graph.nodes[a:b + 1]) for a, b in self.segment_bounds))


def _top(node: Any) -> list[str]:
    """The module scopes of a module's node, outermost first (the IR's scopes, never the dotted name)."""
    return list(node.scopes) if node.module else []


class _NotASequence(ArgumentError):
    pass


def _refuse(segments: int, graph: Any, why: str) -> ValueError:
    return _NotASequence("checkpoint_segments", segments, "checkpointing applies to an nn.Sequential model, to "
                         "VGG's / AlexNet's features or to a transformer's stack of layers",
                         what=f"{graph.name} is not a sequence of modules ({why})")


def checkpoint_plan(graph: Any, segments: int) -> CheckpointPlan:
    """The segments ``checkpoint_sequential(sequence, segments, x)`` makes of ``graph``; ``ValueError`` if it
    has no sequence (see the module docstring) or the split is one torch refuses."""
    check_int("checkpoint_segments", segments)
    try:
        return _sequence_plan(graph, segments)
    except _NotASequence:
        from archcalc.memory.liveness.stack import layer_stack

        stack = layer_stack(graph)
        if stack is None:
            raise
    return _split(graph, segments, stack.scope, stack.bounds)


def _sequence_plan(graph: Any, segments: int) -> CheckpointPlan:
    nodes = graph.nodes
    if not nodes or not _top(nodes[0]):
        raise _refuse(segments, graph, "its first op is not a module call")
    if all(len(_top(n)) == 1 for n in nodes):
        prefix, run = "", len(nodes)
    else:
        prefix = _top(nodes[0])[0]
        run = 0
        while run < len(nodes) and _top(nodes[run])[:1] == [prefix] and len(_top(nodes[run])) == 2:
            run += 1
        inside_later = [n for n in nodes[run:] if _top(n)[:1] == [prefix] or prefix in n.scopes]
        if run == 0 or inside_later:
            raise _refuse(segments, graph, f"its first child {prefix} is not an nn.Sequential")
    children = [_top(n)[-1] for n in nodes[:run]]
    if len(set(children)) != run:
        raise _refuse(segments, graph, f"a child of {prefix or 'the model'} is more than one op")
    fixed = {name for name, _ in (*graph.params, *graph.buffers)} | graph.constants
    prev = graph.inputs[0].name if len(graph.inputs) == 1 else None
    for n in nodes[:run]:
        acts = [v for v in n.inputs if v not in fixed]
        if acts != [prev] or len(n.outputs) != 1:
            raise _refuse(segments, graph, f"{n.name} reads {', '.join(acts) or 'nothing'}, not the previous output")
        prev = n.outputs[0]
    inside = {v for n in nodes[:run - 1] for v in n.outputs}
    for n in nodes[run:]:
        if inside.intersection(n.inputs):
            raise _refuse(segments, graph, f"{n.name} reads an inner value of the sequence")
    return _split(graph, segments, prefix, tuple((i, i) for i in range(run)))


def _split(graph: Any, segments: int, sequence: str, children: tuple[tuple[int, int], ...]) -> CheckpointPlan:
    """torch's split of ``children`` (each a (first, last) node index) into ``segments``."""
    nodes, run = graph.nodes, len(children)
    if segments > run:
        raise ArgumentError("checkpoint_segments", segments, f"give at most {run}", what=f"got {segments}, more than "
                            f"the {run} modules of {sequence or graph.name}")
    size = run // segments
    bounds = tuple((children[k][0], children[k + size - 1][1]) for k in range(0, size * (segments - 1), size))
    for start, _ in bounds:
        if dict(nodes[start].hparams).get("inplace"):
            raise ArgumentError("checkpoint_segments", segments, "choose another number of segments",
                                what=f"a checkpointed segment starts with {nodes[start].name}, an in-place "
                                f"{nodes[start].kind} that would modify the segment's saved input (torch raises in "
                                "backward)")
    return CheckpointPlan(segments, sequence, run, bounds)
