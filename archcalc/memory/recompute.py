"""Activation recomputation (``torch.utils.checkpoint``, ``use_reentrant=False``) on the liveness schedule.

A :class:`RecomputePlan` names regions of consecutive nodes run under a checkpoint. What the schedule of
:func:`archcalc.memory.peak.peak_memory` then does, as torch's non-reentrant checkpoint does:

forward
    the region's ops run as usual but autograd keeps none of their saved tensors (extras such as dropout
    masks and normalisation statistics included): intermediate tensors are freed as soon as liveness allows.
    The region's inputs (the activations it reads from outside) are kept, for the recomputation, until the
    region's backward has finished.
backward
    when the backward reaches the region (its last node), the region's forward runs again up to the last op
    that saves something (torch's early stop) and re-creates every saved tensor; tensors it makes that
    nothing saves are freed when their last reader in the region has run; each saved tensor is then
    released after its node's backward, as without recomputation.

Examples
--------
>>> plan = RecomputePlan((("a", "b"),))
>>> plan.regions
(('a', 'b'),)
>>> RecomputePlan((("a",), ("a",)))
Traceback (most recent call last):
...
ValueError: recompute: node 'a' is in two regions; regions must not overlap
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["RecomputePlan"]


@dataclass(frozen=True)
class RecomputePlan:
    """Checkpointed regions, each a tuple of node names that follow each other in the graph."""

    regions: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for region in self.regions:
            if not region:
                raise ValueError("recompute: an empty region; give at least one node name per region")
            for name in region:
                if name in seen:
                    raise ValueError(f"recompute: node {name!r} is in two regions; regions must not overlap")
                seen.add(name)

    def start(self, nodes: tuple[Any, ...]) -> _Run:
        """The mutable state one schedule uses (internal to :mod:`archcalc.memory.peak`)."""
        index = {n.name: i for i, n in enumerate(nodes)}
        spans = []
        for region in self.regions:
            missing = [n for n in region if n not in index]
            if missing:
                raise ValueError(f"recompute: node {missing[0]!r} is not in the graph; name nodes of the graph")
            ids = sorted(index[n] for n in region)
            if ids != list(range(ids[0], ids[-1] + 1)):
                raise ValueError(f"recompute: region starting at {region[0]!r} is not a run of consecutive nodes")
            spans.append((ids[0], ids[-1]))
        return _Run(nodes, tuple(spans))


@dataclass
class _Run:
    nodes: tuple[Any, ...]
    spans: tuple[tuple[int, int], ...]
    region_of: dict[int, int] = field(default_factory=dict)
    inputs_pinned: dict[int, list[int]] = field(default_factory=dict)  # region -> storages kept for it
    new_outputs: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # node -> (forward sid, bytes)
    saved: dict[int, list[int]] = field(default_factory=dict)  # node -> forward sids it saves (made in region)
    extras: dict[int, list[int]] = field(default_factory=dict)  # node -> bytes of saved tensors with no value
    readers: dict[int, int] = field(default_factory=dict)  # forward sid -> last node of its region reading it

    def __post_init__(self) -> None:
        for k, (a, b) in enumerate(self.spans):
            for i in range(a, b + 1):
                self.region_of[i] = k

    def defers(self, i: int) -> bool:
        return i in self.region_of

    def forward(self, i: int, s: Any, node: Any, value_sid: dict[str, int], in_sids: set[int],
                pinned: set[int], extra_sid: int | None) -> None:
        """Node ``i`` of a region ran in the forward pass: note what it would save instead of pinning it."""
        k = self.region_of[i]
        a, _ = self.spans[k]
        if i == a:  # the checkpoint keeps the region's inputs
            produced = {v for j in range(a, self.spans[k][1] + 1) for v in self.nodes[j].outputs}
            keep = []
            for j in range(a, self.spans[k][1] + 1):
                for v in self.nodes[j].inputs:
                    sid = value_sid.get(v)
                    if v not in produced and sid is not None and s.kind.get(sid) == "act" and sid not in keep:
                        keep.append(sid)
            for sid in keep:
                s.pins[sid] = s.pins.get(sid, 0) + 1
            self.inputs_pinned[k] = keep
        kept = set(self.inputs_pinned[k])
        self.new_outputs[i] = [(value_sid[v], s.bytes[value_sid[v]]) for v in node.outputs
                               if value_sid[v] not in in_sids and value_sid[v] in s.bytes]
        for v in node.inputs:
            sid = value_sid.get(v)
            if sid is not None:
                self.readers[sid] = i
        self.saved[i], self.extras[i] = [], []
        for sid in pinned:
            if sid == extra_sid or sid not in s.bytes or s.kind.get(sid) == "cast":
                self.extras[i].append(s.bytes.get(sid, 0))
            elif sid not in kept:
                self.saved[i].append(sid)

    def backward(self, i: int, s: Any, saved_by: list[list[int]]) -> None:
        """Before node ``i``'s backward: at a region's last node, recompute the region."""
        k = self.region_of.get(i)
        if k is None or i != self.spans[k][1]:
            return
        a, b = self.spans[k]
        last = max((j for j in range(a, b + 1) if self.saved.get(j) or self.extras.get(j)), default=a - 1)
        live: dict[int, int] = {}  # forward sid -> its recomputed storage
        for j in range(a, last + 1):
            for fwd, nbytes in self.new_outputs.get(j, []):
                live[fwd] = s.new(nbytes)
            pins = [live[fwd] for fwd in self.saved.get(j, []) if fwd in live]
            pins += [s.new(nbytes) for nbytes in self.extras.get(j, [])]
            for sid in dict.fromkeys(pins):
                s.pins[sid] = s.pins.get(sid, 0) + 1
                saved_by[j].append(sid)
            s.sample("backward", f"{self.nodes[j].name} (recomputed)")
            for fwd, sid in list(live.items()):
                if self.readers.get(fwd, a - 1) <= j:
                    s.free(sid)  # a pinned storage stays
                    if sid not in s.bytes:
                        del live[fwd]
        for sid in live.values():  # stopped early: what the rest of the region would read goes too
            s.free(sid)

    def after_backward(self, i: int, s: Any) -> None:
        """After node ``i``'s backward: at a region's first node, release the inputs kept for it."""
        k = self.region_of.get(i)
        if k is None or i != self.spans[k][0]:
            return
        for sid in self.inputs_pinned.pop(k, []):
            s.pins[sid] -= 1
            s.free(sid)
