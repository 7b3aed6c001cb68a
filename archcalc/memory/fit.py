"""The largest batch (or sequence length) whose liveness peak fits in a memory budget.

:func:`fit` searches upwards by doubling, then bisects, calling :func:`~archcalc.memory.peak.peak_memory`
on a graph from ``graph_at(batch, input_shape)`` (a zoo graph evaluates at any shape; a traced graph is
traced again at each shape). It assumes the peak grows with the batch and with the sequence length, which
holds for every op in the registry (no op's memory shrinks as its input grows).

Examples
--------
>>> from archcalc.zoo import build
>>> f = fit(lambda b, s: build("resnet18"), 200 * 2**20, input_shape=(3, 64, 64), training=True, optimizer="adam")
>>> f.batch, f.peak.peak_bytes <= f.memory_bytes < f.next_peak_bytes
(71, True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from archcalc.memory.peak import PeakMemory, peak_memory

__all__ = ["FitResult", "fit", "FIT_LIMIT"]

#: The search stops here (a batch or length of 2**24 is far beyond any real device).
FIT_LIMIT = 2**24


@dataclass(frozen=True)
class FitResult:
    """The largest ``batch`` (or, with ``vary="seq"``, sequence length ``seq``) whose ``peak`` fits.

    ``next_peak_bytes`` is the peak one step further (batch + 1, or seq + ``step``: 1 unless the length
    must be a multiple of ``step``), which does not fit (``None`` when the search reached :data:`FIT_LIMIT`
    or, for a sequence length, ``limit``: a model's position table, which then fits whole).
    """

    network: str
    memory_bytes: int
    vary: str
    batch: int
    seq: int | None
    input_shape: tuple[int, ...]
    peak: PeakMemory
    next_peak_bytes: int | None
    step: int = 1
    limit: int | None = None

    @property
    def global_batch(self) -> int:
        """``batch`` times the data-parallel ranks (``batch`` is per device)."""
        return self.batch * self.peak.data_parallel


def fit(graph_at: Callable[[int, tuple[int, ...]], Any], memory_bytes: int, *, input_shape: tuple[int, ...],
        batch: int = 1, vary: str = "batch", training: bool = False, optimizer: str = "sgd",
        precision: str = "fp32", device: str = "cpu", checkpoint_segments: int = 1, data_parallel: int = 1,
        zero: int = 0, recompute: Any = None, step: int = 1, limit: int | None = None) -> FitResult:
    """Largest batch (``vary="batch"``) or last input dimension (``vary="seq"``, at ``batch``) that fits.

    Parameters
    ----------
    graph_at : callable
        ``graph_at(batch, per_sample_shape) -> Graph``.
    memory_bytes : int
        The budget (see :func:`archcalc.memory.parse_bytes`).
    input_shape : tuple of int
        Per-sample input shape; with ``vary="seq"`` its last entry is replaced by the length searched.
    batch : int
        Fixed batch for ``vary="seq"``.
    training, optimizer, precision, device, checkpoint_segments, data_parallel, zero, recompute
        As :func:`~archcalc.memory.peak.peak_memory`: with ``data_parallel > 1`` the batch searched is the
        per-device batch (``FitResult.global_batch`` is ``data_parallel`` times it) and the budget is one
        device's memory.
    step : int
        With ``vary="seq"``, search only lengths that are multiples of ``step`` (sequence parallelism over
        ``t`` ranks splits the sequence evenly: ``step=t``).
    limit : int, optional
        With ``vary="seq"``, the longest length the model takes (a learned position table's size): the search
        stops there.

    Raises
    ------
    ValueError
        When not even batch 1 (length 1) fits: the message gives that peak and its breakdown.
    """
    if isinstance(memory_bytes, bool) or not isinstance(memory_bytes, int) or memory_bytes < 1:
        raise ValueError(f"memory={memory_bytes!r} must be a positive number of bytes (e.g. 24GiB)")
    if vary not in ("batch", "seq"):
        raise ValueError(f"vary={vary!r} is unknown; choose batch or seq")
    if isinstance(step, bool) or not isinstance(step, int) or step < 1 or (step > 1 and vary != "seq"):
        raise ValueError(f"step={step!r} must be a positive integer, and above 1 only with vary='seq'")
    if limit is not None and (vary != "seq" or limit < step):
        raise ValueError(f"limit={limit!r} bounds a sequence length: give it with vary='seq', at least step={step}")

    def at(n: int) -> PeakMemory:
        b, shape = (n, tuple(input_shape)) if vary == "batch" else (batch, (*input_shape[:-1], n * step))
        return peak_memory(graph_at(b, shape), shape, b, training=training, optimizer=optimizer,
                           precision=precision, device=device, checkpoint_segments=checkpoint_segments,
                           data_parallel=data_parallel, zero=zero, recompute=recompute)

    first = at(1)
    if first.peak_bytes > memory_bytes:
        from archcalc.memory.units import format_bytes

        what = "batch 1" if vary == "batch" else f"sequence length {step} at batch {batch}"
        parts = ", ".join(f"{k.removesuffix('_bytes')} {format_bytes(v)}" for k, v in first.breakdown.as_dict().items()
                          if v and k != "total_bytes")
        raise ValueError(f"memory={memory_bytes}: nothing fits; {what} already peaks at "
                         f"{format_bytes(first.peak_bytes)} ({parts}); give more memory")
    lo, lo_peak, hi, hi_peak = 1, first, None, None
    top = min(FIT_LIMIT, limit or FIT_LIMIT) // step  # the largest n tried
    n = 2
    while hi is None and lo < top:
        n = min(n, top)
        p = at(n)
        if p.peak_bytes > memory_bytes:
            hi, hi_peak = n, p
        else:
            lo, lo_peak, n = n, p, n * 2
    while hi is not None and hi - lo > 1:
        mid = (lo + hi) // 2
        p = at(mid)
        if p.peak_bytes > memory_bytes:
            hi, hi_peak = mid, p
        else:
            lo, lo_peak = mid, p
    shape = tuple(input_shape) if vary == "batch" else (*input_shape[:-1], lo * step)
    return FitResult(lo_peak.network, memory_bytes, vary, lo if vary == "batch" else batch,
                     lo * step if vary == "seq" else None, shape, lo_peak,
                     None if hi_peak is None else hi_peak.peak_bytes, step, limit)
