"""The liveness schedule's bookkeeping: storages with bytes and a category, samples, the breakdown at the peak.

Shared by :mod:`archcalc.memory.liveness.peak` (the forward pass), :mod:`archcalc.memory.liveness.backward` (the backward pass
and the optimizer step), :mod:`archcalc.memory.liveness.recompute` (checkpointed regions) and :mod:`archcalc.memory.liveness.zero`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dlperf.results import Result

__all__ = ["CATEGORIES", "MemoryBreakdown", "MemorySample", "Schedule", "StorageKind"]

#: Breakdown categories, in the order they are printed.
CATEGORIES = ("weights", "gradients", "optimizer_state", "saved", "transient", "inputs")


class StorageKind(StrEnum):
    """What a storage holds. The first four are breakdown categories of their own; an ``ACT`` or ``CAST``
    storage is ``saved`` while a pending backward node pins it and ``transient`` otherwise.

    A ``str`` enum: each member equals its value (``StorageKind.ACT == "act"``).
    """

    WEIGHTS = "weights"  # parameters and buffers
    GRADIENTS = "gradients"  # parameters' .grad
    OPTIMIZER_STATE = "optimizer_state"  # moments, momentum buffers, Adam's step tensors
    INPUTS = "inputs"  # the graph inputs (the caller holds them)
    ACT = "act"  # activations, activation gradients, temporaries: freed by the schedule
    CAST = "cast"  # autocast's cached 16-bit copy of a parameter


_PINNABLE = (StorageKind.ACT, StorageKind.CAST)


@dataclass(frozen=True, repr=False)
class MemoryBreakdown(Result):
    """Live bytes by category at one instant; ``total_bytes`` is their sum.

    ``weights_bytes``: parameters and buffers. ``gradients_bytes``: parameters' ``.grad``.
    ``optimizer_state_bytes``: moments / momentum buffers. ``saved_bytes``: tensors autograd keeps for a
    backward that has not run yet (activations, statistics, masks, indices, 16-bit weight casts).
    ``transient_bytes``: everything else in flight (activations between ops, activation gradients, casts,
    optimizer temporaries). ``inputs_bytes``: the graph inputs.
    """

    weights_bytes: int
    gradients_bytes: int
    optimizer_state_bytes: int
    saved_bytes: int
    transient_bytes: int
    inputs_bytes: int

    @property
    def total_bytes(self) -> int:
        return (self.weights_bytes + self.gradients_bytes + self.optimizer_state_bytes + self.saved_bytes
                + self.transient_bytes + self.inputs_bytes)

    def as_dict(self) -> dict[str, int]:
        """Deprecated spelling of :meth:`to_dict`."""
        import warnings

        warnings.warn("MemoryBreakdown.as_dict() is deprecated: use to_dict()", DeprecationWarning, stacklevel=2)
        return self.to_dict()

    def to_dict(self) -> dict[str, int]:
        """``{category}_bytes`` keys, plus ``total_bytes``."""
        out = {f"{c}_bytes": getattr(self, f"{c}_bytes") for c in CATEGORIES}
        out["total_bytes"] = self.total_bytes
        return out


@dataclass(frozen=True)
class MemorySample:
    """Live bytes right after ``op`` ran in ``phase`` (``forward``, ``backward`` or ``optimizer``)."""

    phase: str
    op: str
    live_bytes: int


class Schedule:
    """Storages with bytes and a category; running totals; samples.

    While ``trace`` is a list, every allocation, release and sample is appended to it (a checkpointed
    region's record, replayed by :mod:`archcalc.memory.liveness.recompute`).

    Examples
    --------
    >>> s = Schedule()
    >>> a = s.new(100)
    >>> s.sample("forward", "op")
    >>> s.free(a)
    >>> s.best[0], s.bytes
    (100, {})
    """

    def __init__(self) -> None:
        self.bytes: dict[int, int] = {}
        self.kind: dict[int, StorageKind] = {}
        self.pins: dict[int, int] = {}  # act and cast storages: pending backward nodes that saved them
        self.next_id = 0
        self.samples: list[MemorySample] = []
        self.best: tuple[int, int, MemoryBreakdown | None] = (-1, -1, None)
        self.trace: list[tuple] | None = None  # events of a checkpointed node

    def new(self, nbytes: int, kind: StorageKind | str = StorageKind.ACT) -> int:
        """A new storage of ``nbytes`` bytes; returns its id."""
        self.next_id += 1
        self.bytes[self.next_id] = int(nbytes)
        self.kind[self.next_id] = kind = StorageKind(kind)
        if self.trace is not None:
            self.trace.append(("new", self.next_id, int(nbytes), kind))
        return self.next_id

    def free(self, sid: int) -> None:
        """Release ``sid`` unless it is pinned (saved for a backward node) or already gone."""
        if sid in self.bytes and not self.pins.get(sid):
            del self.bytes[sid]
            self.kind.pop(sid, None)
            if self.trace is not None:
                self.trace.append(("free", sid))

    def breakdown(self) -> MemoryBreakdown:
        sums = dict.fromkeys(CATEGORIES, 0)
        for sid, n in self.bytes.items():
            kind = self.kind[sid]
            category = kind.value if kind not in _PINNABLE else "saved" if self.pins.get(sid) else "transient"
            sums[category] += n
        return MemoryBreakdown(**{f"{c}_bytes": sums[c] for c in CATEGORIES})

    def pin(self, sid: int) -> None:
        """One more pending backward node holds ``sid`` (a saved tensor)."""
        self.pins[sid] = self.pins.get(sid, 0) + 1

    def unpin(self, sid: int) -> None:
        """A backward node that held ``sid`` has run: release it if nothing else holds it."""
        self.pins[sid] -= 1
        self.free(sid)

    def sample(self, phase: str, op: str) -> None:
        """Record the live bytes after ``op`` in ``phase``; the largest sample so far is ``best``."""
        if self.trace is not None:
            self.trace.append(("sample",))
        live = sum(self.bytes.values())
        self.samples.append(MemorySample(phase=phase, op=op, live_bytes=live))
        if live > self.best[0]:
            self.best = (live, len(self.samples) - 1, self.breakdown())
