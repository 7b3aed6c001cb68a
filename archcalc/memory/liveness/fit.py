"""The largest batch (or sequence length) whose liveness peak fits in a memory budget.

:func:`fit` searches upwards by doubling, then bisects, calling :func:`~archcalc.memory.liveness.peak.peak_memory`
on a graph from ``graph_at(batch, input_shape)`` (a zoo graph evaluates at any shape; a traced graph is
traced again at each shape). It assumes the peak grows with the batch and with the sequence length, which
holds for every op in the registry (no op's memory shrinks as its input grows).

Training is the steady step N >= 2 (optimizer state alive throughout, :mod:`archcalc.memory.liveness.peak`) unless
``first_step=True``: the batch must survive every step, not only the first.

The margin. The peak counts tensor storage bytes; the real allocator needs more: the CPU heap measured
up to 2.2 % above storage (malloc headers, page rounding, autograd's C++ nodes; benchmarks/RESULTS.md),
and CUDA's caching allocator rounds every block up to 512 B, carves blocks out of 2 MiB / 20 MiB
segments it does not return, and so fragments. :func:`fit` keeps ``margin`` (default
:data:`DEFAULT_MARGIN`, 5 % of the budget: the measured 2.2 % with room for the caching allocator's
rounding; not a bound on fragmentation, which depends on the order of allocations) free: the batch
whose peak fits in ``memory_bytes - margin_bytes``. ``margin=0`` searches the whole budget.

Examples
--------
>>> from archcalc.zoo import build
>>> f = fit(lambda b, s: build("resnet18"), 256 * 2**20, input_shape=(3, 64, 64), training=True, optimizer="adam")
>>> f.batch, f.peak.peak_bytes <= f.usable_bytes < f.next_peak_bytes, f.margin_bytes  # 5 % of 256 MiB
(42, True, 13421772)
>>> whole = fit(lambda b, s: build("resnet18"), 256 * 2**20, input_shape=(3, 64, 64), training=True,
...             optimizer="adam", margin=0)
>>> first = fit(lambda b, s: build("resnet18"), 256 * 2**20, input_shape=(3, 64, 64), training=True,
...             optimizer="adam", first_step=True, margin=0)
>>> whole.batch, first.batch  # step 1 only: Adam's 93.5 MB of moments do not exist yet in its backward pass
(50, 104)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from archcalc.memory.liveness.peak import PeakMemory, peak_memory
from dlperf.errors import ArgumentError, ref
from dlperf.results import Result
from dlperf.validate import check_int

__all__ = ["FitResult", "fit", "FIT_LIMIT", "DEFAULT_MARGIN"]

#: The search stops here (a batch or length of 2**24 is far beyond any real device).
FIT_LIMIT = 2**24

#: Fraction of the budget :func:`fit` leaves free for the allocator (see the module docstring).
DEFAULT_MARGIN = 0.05


@dataclass(frozen=True, repr=False)
class FitResult(Result):
    """The largest ``batch`` (or, with ``vary="seq"``, sequence length ``seq``) whose ``peak`` fits.

    ``next_peak_bytes`` is the peak one step further (batch + 1, or seq + ``step``: 1 unless the length
    must be a multiple of ``step``), which does not fit (``None`` when the search reached :data:`FIT_LIMIT`
    or, for a sequence length, ``limit``: a model's position table, which then fits whole).
    ``margin_bytes`` of the budget are kept free for the allocator; the peak fits in ``usable_bytes``
    (``memory_bytes - margin_bytes``); ``left_bytes`` is what the budget has beyond the peak (margin included).
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
    margin_bytes: int = 0

    @property
    def at_search_limit(self) -> bool:
        """True when the search stopped at :data:`FIT_LIMIT` with everything fitting: the answer is then
        "at least" ``batch`` (or ``seq``), not the largest that fits."""
        return self.next_peak_bytes is None and (self.limit is None or self.limit > FIT_LIMIT)

    @property
    def usable_bytes(self) -> int:
        """The budget less the allocator margin: what the peak must fit in."""
        return self.memory_bytes - self.margin_bytes

    @property
    def left_bytes(self) -> int:
        """The budget beyond the peak, margin included."""
        return self.memory_bytes - self.peak.peak_bytes

    @property
    def global_batch(self) -> int:
        """``batch`` times the data-parallel ranks (``batch`` is per device)."""
        return self.batch * self.peak.data_parallel


def fit(graph_at: Callable[[int, tuple[int, ...]], Any], memory_bytes: int, *, input_shape: tuple[int, ...],
        batch: int = 1, vary: str = "batch", training: bool = False, optimizer: str = "sgd",
        precision: str = "fp32", device: str = "cpu", checkpoint_segments: int = 1, data_parallel: int = 1,
        zero: int = 0, recompute: Any = None, step: int = 1, limit: int | None = None, first_step: bool = False,
        margin: float = DEFAULT_MARGIN) -> FitResult:
    """Largest batch (``vary="batch"``) or last input dimension (``vary="seq"``, at ``batch``) that fits.

    Parameters
    ----------
    graph_at : callable
        ``graph_at(batch, per_sample_shape) -> Graph``.
    memory_bytes : int
        The budget (see :func:`archcalc.memory.units.parse_bytes`).
    input_shape : tuple of int
        Per-sample input shape; with ``vary="seq"`` its last entry is replaced by the length searched.
    batch : int
        Fixed batch for ``vary="seq"``.
    training, optimizer, precision, device, checkpoint_segments, data_parallel, zero, recompute, first_step
        As :func:`~archcalc.memory.liveness.peak.peak_memory` (training: the steady step unless ``first_step``): with ``data_parallel > 1`` the batch searched is the
        per-device batch (``FitResult.global_batch`` is ``data_parallel`` times it) and the budget is one
        device's memory.
    step : int
        With ``vary="seq"``, search only lengths that are multiples of ``step`` (sequence parallelism over
        ``t`` ranks splits the sequence evenly: ``step=t``).
    limit : int, optional
        With ``vary="seq"``, the longest length the model takes (a learned position table's size): the search
        stops there.
    margin : float
        Fraction of ``memory_bytes`` kept free for the allocator, in [0, 1) (default 0.05, module docstring).

    Raises
    ------
    ValueError
        When not even batch 1 (length 1) fits: the message gives that peak and its breakdown.
    """
    _check_search(memory_bytes, vary, step, limit, margin)
    margin_bytes = int(memory_bytes * margin)
    budget = memory_bytes - margin_bytes

    def at(n: int) -> PeakMemory:
        b, shape = (n, tuple(input_shape)) if vary == "batch" else (batch, (*input_shape[:-1], n * step))
        return peak_memory(graph_at(b, shape), shape, b, training=training, optimizer=optimizer,
                           precision=precision, device=device, checkpoint_segments=checkpoint_segments,
                           data_parallel=data_parallel, zero=zero, recompute=recompute, first_step=first_step)

    first = at(1)
    if first.peak_bytes > budget:
        what = "batch 1" if vary == "batch" else f"sequence length {step} at batch {batch}"
        raise _nothing_fits(first, memory_bytes, margin, margin_bytes, what)
    lo, lo_peak, hi_peak = _largest(at, first, budget, top=min(FIT_LIMIT, limit or FIT_LIMIT) // step)
    shape = tuple(input_shape) if vary == "batch" else (*input_shape[:-1], lo * step)
    return FitResult(network=lo_peak.network, memory_bytes=memory_bytes, vary=vary,
                     batch=lo if vary == "batch" else batch, seq=lo * step if vary == "seq" else None,
                     input_shape=shape, peak=lo_peak, next_peak_bytes=None if hi_peak is None else hi_peak.peak_bytes,
                     step=step, limit=limit, margin_bytes=margin_bytes)


def _check_search(memory_bytes: Any, vary: Any, step: Any, limit: Any, margin: Any) -> None:
    """``ValueError`` naming the argument for a search :func:`fit` cannot run."""
    check_int("memory", memory_bytes, what="a positive number of bytes (e.g. 24GiB)")
    if vary not in ("batch", "seq"):
        raise ArgumentError("vary", vary, "choose batch or seq")
    check_int("step", step, what="a positive integer, and above 1 only with vary='seq'")
    if step > 1 and vary != "seq":
        raise ArgumentError("step", step, f"give a positive integer, above 1 only with {ref('vary')} seq")
    if limit is not None and (vary != "seq" or limit < step):
        raise ArgumentError("limit", limit, f"it bounds a sequence length: give it with {ref('vary')} seq, at least "
                            f"{ref('step')} ({step})")
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 <= margin < 1:
        raise ArgumentError("margin", margin, "give a fraction of the memory in [0, 1), e.g. 0.05 for 5 %")


def _nothing_fits(first: PeakMemory, memory_bytes: int, margin: float, margin_bytes: int, what: str) -> ValueError:
    """The refusal when the smallest batch or length already peaks above the budget, with its breakdown."""
    from archcalc.memory.units import format_bytes

    parts = ", ".join(f"{k.removesuffix('_bytes')} {format_bytes(v)}" for k, v in first.breakdown.to_dict().items()
                      if v and k != "total_bytes")
    kept = (f" or a smaller margin ({100 * margin:g} % of the memory, {format_bytes(margin_bytes)}, is kept "
            "free for the allocator)" if margin_bytes else "")
    return ArgumentError("memory_bytes", memory_bytes, f"give more memory{kept}", what=f"{memory_bytes} bytes: "
                         f"nothing fits; {what} already peaks at {format_bytes(first.peak_bytes)} ({parts})")


def _largest(at: Callable[[int], PeakMemory], first: PeakMemory, budget: int,
             top: int) -> tuple[int, PeakMemory, PeakMemory | None]:
    """The largest n <= ``top`` whose peak ``at(n)`` fits in ``budget`` (doubling, then bisecting; n = 1
    fits, its peak is ``first``), its peak, and the peak of the smallest n found not to fit (or None)."""
    lo, lo_peak, hi, hi_peak = 1, first, None, None
    n = 2
    while hi is None and lo < top:
        n = min(n, top)
        p = at(n)
        if p.peak_bytes > budget:
            hi, hi_peak = n, p
        else:
            lo, lo_peak, n = n, p, n * 2
    while hi is not None and hi - lo > 1:
        mid = (lo + hi) // 2
        p = at(mid)
        if p.peak_bytes > budget:
            hi, hi_peak = mid, p
        else:
            lo, lo_peak = mid, p
    return lo, lo_peak, hi_peak
