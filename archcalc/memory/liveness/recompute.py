"""Activation recomputation (``torch.utils.checkpoint``, ``use_reentrant=False``) on the liveness schedule.

The one checkpointing model of :func:`archcalc.memory.liveness.peak.peak_memory`. A :class:`RecomputePlan` names
regions of consecutive nodes, each run under one checkpoint: the transformer layers or attention cores of
``--recompute`` (:mod:`archcalc.parallel.step`) and the segments of ``checkpoint_sequential``
(:mod:`archcalc.memory.liveness.checkpoint`) are both plans. What the schedule then does, as torch's non-reentrant
checkpoint does:

forward
    the region's ops run as usual but autograd keeps none of their saved tensors (extras such as dropout
    masks, pooling indices and normalisation statistics included): intermediate tensors are freed as in
    inference. Every allocation and release the region makes is recorded. The region's inputs (the
    activations it reads from outside) are kept for the rerun; torch's checkpoint frame holds them until the
    last of the region's packed saved tensors is released, i.e. until the backward of the region's lowest
    node that saves anything.
backward
    the first node of the region the backward reaches that saves something (its last such node) unpacks a
    saved tensor, and the region's forward runs again from its inputs, replaying the recorded allocations
    and releases (so the rerun frees what the forward freed, where it freed it), up to that node (torch's
    early stop: the rerun ends when the last saved tensor is packed; the stopping op computes its output
    only if it saves its output or a tensor it makes). Every re-created saved tensor lives until its own
    node's backward has run; what the rerun made and nothing saves dies with the rerun. Under autocast the
    rerun casts the weights again (its own autocast cache).

Examples
--------
>>> plan = RecomputePlan((("a", "b"),))
>>> plan.regions
(('a', 'b'),)
>>> RecomputePlan((("a",), ("a",)))
Traceback (most recent call last):
...
dlperf.errors.ArgumentError: recompute: node 'a' is in two regions; regions must not overlap
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dlperf.errors import ArgumentError
from dlperf.results import Result

__all__ = ["RecomputePlan"]


@dataclass(frozen=True, repr=False)
class RecomputePlan(Result):
    """Checkpointed regions, each a tuple of node names that follow each other in the graph."""

    regions: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for region in self.regions:
            if not region:
                raise ArgumentError("recompute", what="an empty region", fix="give at least one node name per region")
            for name in region:
                if name in seen:
                    raise ArgumentError("recompute", what=f"node {name!r} is in two regions", fix="regions must not overlap")
                seen.add(name)

    def start(self, nodes: tuple[Any, ...]) -> _Run:
        """The mutable state one schedule uses (internal to :mod:`archcalc.memory.liveness.peak`)."""
        index = {n.name: i for i, n in enumerate(nodes)}
        spans = []
        for region in self.regions:
            missing = [n for n in region if n not in index]
            if missing:
                raise ArgumentError("recompute", what=f"node {missing[0]!r} is not in the graph", fix="name nodes of the graph")
            ids = sorted(index[n] for n in region)
            if ids != list(range(ids[0], ids[-1] + 1)):
                raise ArgumentError("recompute", what=f"region starting at {region[0]!r} is not a run of consecutive nodes")
            spans.append((ids[0], ids[-1]))
        return _Run(nodes, tuple(spans))


@dataclass
class _Run:
    nodes: tuple[Any, ...]
    spans: tuple[tuple[int, int], ...]
    region_of: dict[int, int] = field(default_factory=dict)
    events: dict[int, list[tuple]] = field(default_factory=dict)  # node -> the schedule's events while it ran
    saves: dict[int, list[tuple[int, int, str]]] = field(default_factory=dict)  # node -> (sid, bytes, kind) saved
    packs: dict[int, bool] = field(default_factory=dict)  # node -> autograd saves anything (weights included)
    saves_output: dict[int, bool] = field(default_factory=dict)
    inputs_kept: dict[int, list[int]] = field(default_factory=dict)  # region -> storages the checkpoint keeps
    done: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        for k, (a, b) in enumerate(self.spans):
            for i in range(a, b + 1):
                self.region_of[i] = k
                self.events[i] = []

    def trace(self, i: int) -> list[tuple] | None:
        """The event list the schedule appends to while node ``i`` runs (None outside the regions)."""
        return self.events.get(i)

    def enter(self, i: int, s: Any, values: dict[str, Any]) -> None:
        """At a region's first node: the checkpoint keeps the activations the region reads from outside
        (``values``: value name -> its :class:`~archcalc.memory.liveness.step.Value` record)."""
        k = self.region_of.get(i)
        if k is None or self.spans[k][0] != i:
            return
        a, b = self.spans[k]
        made = {v for j in range(a, b + 1) for v in self.nodes[j].outputs}
        keep: list[int] = []
        for j in range(a, b + 1):
            for v in self.nodes[j].inputs:
                sid = values[v].storage if v in values else None
                if v not in made and sid is not None and s.kind.get(sid) == "act" and sid not in keep:
                    keep.append(sid)  # graph inputs and weights are held anyway
        for sid in keep:
            s.pin(sid)
        self.inputs_kept[k] = keep

    def record(self, i: int, s: Any, pinned: set[int], saves_output: bool) -> bool:
        """Note what node ``i`` would save instead of saving it; False outside the regions."""
        if i not in self.region_of:
            return False
        self.packs[i] = bool(pinned)
        self.saves[i] = [(sid, s.bytes[sid], s.kind[sid]) for sid in sorted(pinned)
                         if s.kind.get(sid) in ("act", "cast")]
        self.saves_output[i] = saves_output
        return True

    def release_inputs(self, saved_by: list[list[int]]) -> None:
        """After the forward pass: a region's kept inputs go with its lowest saving node's backward."""
        for k, (a, b) in enumerate(self.spans):
            first = next((j for j in range(a, b + 1) if self.packs.get(j)), a)
            saved_by[first].extend(self.inputs_kept.get(k, []))

    def recompute(self, i: int, s: Any, saved_by: list[list[int]]) -> None:
        """Before node ``i``'s backward: rerun its region if ``i`` is the first of it to unpack a saved tensor."""
        k = self.region_of.get(i)
        if k is None or k in self.done or not self.packs.get(i):
            return
        self.done.add(k)
        a, b = self.spans[k]
        stop = max(j for j in range(a, b + 1) if self.packs.get(j))
        new: dict[int, int] = {}  # forward storage -> its rerun twin
        for j in range(a, stop + 1):
            saved = {sid for sid, _, _ in self.saves[j]}
            made = j < stop or self.saves_output[j] or any(e[0] == "new" and e[1] in saved for e in self.events[j])
            for event in self.events[j]:
                if event[0] == "new" and (made or event[1] in saved):
                    new[event[1]] = s.new(event[2], event[3])
                elif event[0] == "free" and event[1] in new:
                    s.free(new[event[1]])
                elif event[0] == "sample":
                    for sid, nbytes, kind in self.saves[j]:
                        if sid in new:
                            sid = new[sid]
                        elif kind == "cast":  # a weight cast cached before the region: cast again
                            sid = s.new(nbytes, "cast")
                        s.pin(sid)
                        saved_by[j].append(sid)
                    s.sample("backward", f"{self.nodes[j].name} (recompute)")
                    if j == stop:
                        break
        for sid in new.values():  # the rerun's locals die with it; saved tensors are pinned
            s.free(sid)
