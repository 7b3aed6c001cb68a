"""The public entry point: :func:`simulate` a configuration with the event engine or the vectorised path,
keeping every gradient in memory or streaming them (summary, time series, optional per-gradient sink).

Examples
--------
>>> from staleness import SimConfig, simulate
>>> res = simulate(SimConfig(learners=4, policy="async", dist="exp", mean=1.0, updates=1000, seed=0))
>>> res.engine, res.summary.updates, len(res.update_times)
('vectorised', 1000, 1000)
>>> int(res.gradients.update[-1]), bool((res.gradients.staleness >= 0).all())
(1000, True)
>>> streamed = simulate(SimConfig(learners=4, updates=1000, seed=0), stream=True, chunk=64)
>>> streamed.gradients is None, streamed.summary == res.summary
(True, True)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from dlperf.errors import ArgumentError, ref
from staleness.config import SimConfig
from staleness.distributions import LearnerStreams, spawn_seeds
from staleness.pushes import count_async_updates
from staleness.result import Gradients, SimulationResult
from staleness.stream import SERIES_POINTS, Block, SummaryBuilder
from staleness.vectorised import DEFAULT_CHUNK, ZeroComputeTime, iter_vectorised, vectorised_eligible

__all__ = ["simulate", "ENGINES", "collect"]

#: ``auto`` picks ``vectorised`` where it applies (see :mod:`staleness.vectorised`), else ``event``.
ENGINES = ("auto", "event", "vectorised")


def _drive(blocks: Iterator[Block], sink: Callable[[Block], None]) -> tuple[float, np.ndarray]:
    """Feed every block to ``sink``; return the generator's (end_time, inflight_busy)."""
    while True:
        try:
            b = next(blocks)
        except StopIteration as stop:
            return stop.value
        sink(b)


def collect(blocks: Iterator[Block]) -> tuple[Gradients, np.ndarray, float, np.ndarray]:
    """Concatenate a run's blocks: (gradients, update_times, end_time, inflight_busy)."""
    kept: list[Block] = []
    end, busy = _drive(blocks, kept.append)
    names = [f for f in Gradients.__dataclass_fields__]
    if len(kept) == 1:
        grads = kept[0].gradients
    else:
        cols = {n: np.concatenate([getattr(b.gradients, n) for b in kept]) if kept else np.zeros(0) for n in names}
        grads = Gradients.from_columns(**cols)
    ut = np.concatenate([b.update_times for b in kept]) if kept else np.zeros(0)
    ut.setflags(write=False)
    return grads, ut, end, busy


def simulate(cfg: SimConfig, *, engine: str = "auto", rng: np.random.Generator | None = None,
             stream: bool = False, chunk: int | None = None, on_block: Callable[[Block], None] | None = None,
             series_points: int = SERIES_POINTS, records: bool | None = None,
             force: bool = False) -> SimulationResult:
    """Simulate ``cfg`` and summarise it.

    Parameters
    ----------
    cfg : SimConfig
        What to simulate.
    engine : {"auto", "event", "vectorised"}
        ``auto`` uses the vectorised path when it applies and is exact (async / k-batch-async and k-async;
        sync / k-sync / k-batch-sync / ssp with drawn times; no latencies, every compute time > 0 except on
        the k-async and k-batch-sync loops), else the event engine.
        ``vectorised`` raises if it does not apply. Both give identical results on the same draws.
    rng : numpy.random.Generator, optional
        Source of the per-learner streams (``rng.spawn``); default: ``SeedSequence(cfg.seed)``.
    stream : bool
        False: keep every gradient (``result.gradients``). True: reduce the records as they come, in
        memory O(P + largest staleness + chunk); ``gradients`` is then None. A run stopped by ``until``
        needs its number of updates for the steady-state window before the first record is reduced: a
        first pass over the same draws counts them (for async / k-batch-async on the vectorised path by
        summing each learner's draws, no ordering; otherwise by running it, keeping nothing), so it
        takes up to twice the time. Runs on explicit traces keep their records (the traces are in
        memory already).
    chunk : int, optional
        Records per block (default max(2^14, 32 P) for the vectorised path, which stays in the CPU caches;
        2^16 for the engine).
    on_block : callable, optional
        Called with every :class:`staleness.stream.Block` in order (for example to write each gradient;
        it has ``gradients`` only when ``stream`` is False or the engine is ``event``).
    series_points : int
        Points of the staleness time series in the summary.
    records : bool, optional
        Build every per-gradient column for ``on_block`` (``block.gradients``) even when streaming
        (default: only when not streaming).
    force : bool
        Run even when :func:`staleness.estimate.check` expects more memory than is available or more
        than an hour; otherwise such a request is refused at once with its estimate.

    Returns
    -------
    SimulationResult
        Frozen; the summary is identical whether streamed or not.
    """
    if engine not in ENGINES:
        raise ArgumentError("engine", engine, f"choose one of {', '.join(ENGINES)}")
    if not isinstance(cfg, SimConfig):
        raise ArgumentError("cfg", type(cfg).__name__, "give a staleness.SimConfig")
    if chunk is not None and (not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 1):
        raise ArgumentError("chunk", chunk, "give an integer >= 1")
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise ArgumentError("rng", type(rng).__name__, "give a numpy.random.Generator (np.random.default_rng(seed))")
    from staleness.estimate import check

    check(cfg, stream, engine, chunk, force)
    full = (not stream) if records is None else bool(records) or not stream
    use_vectorised = engine == "vectorised" or (engine == "auto" and vectorised_eligible(cfg))
    if engine == "vectorised" and not vectorised_eligible(cfg):
        iter_vectorised(cfg, LearnerStreams(cfg)).send(None)  # raises the explanation
    # every pass draws the same numbers: from the seed, or from the children rng spawns once for this run
    # (so a caller's generator moves on once per run); no copy of the generator, whose seed sequence a
    # deepcopy keeps only from numpy 2.0 on
    seeds = None if rng is None else spawn_seeds(rng, 2 * cfg.learners)

    def same_streams() -> LearnerStreams:
        return LearnerStreams(cfg, seeds)

    total = cfg.updates if cfg.times is None else None
    if stream and cfg.until is not None and cfg.times is None:
        # the steady-state window needs the number of updates: a first pass over the same draws counts
        # them, keeping nothing; then the records stream (memory O(P + chunk), about twice the time)
        total, use_vectorised = _count_updates(cfg, engine, use_vectorised, same_streams, chunk)
    builder = SummaryBuilder(cfg.learners, total, series_points)
    kept: list[Block] = []
    started = [False]

    def sink(b: Block) -> None:
        started[0] = True
        builder.add(b)
        if not stream:
            kept.append(b)
        if on_block is not None:
            on_block(b)

    used = "event"
    out = None
    if use_vectorised:
        try:
            out = _drive(iter_vectorised(cfg, LearnerStreams(cfg, seeds), chunk or _vectorised_chunk(cfg), full=full),
                         sink)
            used = "vectorised"
        except ZeroComputeTime:
            if engine == "vectorised":
                raise ArgumentError("engine", what="vectorised needs every compute time > 0", fix=f"use {ref('engine')} event") from None
            if started[0]:  # cannot happen for traces (one chunk); for drawn times it has probability ~0
                raise ArgumentError("engine", what="a compute time of exactly 0 was drawn after records were "
                                    "emitted", fix=f"rerun with {ref('engine')} event") from None
            builder = SummaryBuilder(cfg.learners, total, series_points)
    if out is None:
        # after a vectorised attempt the engine draws what that attempt drew
        streams = same_streams()
        out = _drive(iter_events(cfg, streams, chunk or (1 << 16)), sink)
    end, busy = out
    summary = builder.finish(end, busy)
    if stream:
        return SimulationResult(cfg, None, None, end, busy, summary, used)
    grads, update_times, _, _ = collect(_replay(kept, out))
    return SimulationResult(cfg, grads, update_times, end, busy, summary, used)


def _vectorised_chunk(cfg: SimConfig) -> int:
    return max(DEFAULT_CHUNK, 32 * cfg.learners)


def _count_updates(cfg: SimConfig, engine: str, use_vectorised: bool, streams: Callable[[], LearnerStreams],
                   chunk: int | None) -> tuple[int, bool]:
    """Updates a run stopped by ``until`` makes, from a pass over the same draws that keeps nothing; and
    whether the vectorised path stays usable (False when it met a compute time of 0)."""
    counted = [0]

    def count(b: Block) -> None:
        counted[0] += b.n_updates

    if use_vectorised:
        if cfg.policy in ("async", "k-batch-async"):  # no ordering needed: every push by `until` counts
            n = count_async_updates(cfg, streams())
            if n is not None:
                return n, True
        else:
            try:
                _drive(iter_vectorised(cfg, streams(), chunk or _vectorised_chunk(cfg), full=False), count)
                return counted[0], True
            except ZeroComputeTime:
                counted[0] = 0
        if engine == "vectorised":
            raise ArgumentError("engine", what="vectorised needs every compute time > 0", fix=f"use {ref('engine')} event")
    _drive(iter_events(cfg, streams(), chunk or (1 << 16)), count)
    return counted[0], False


def _replay(kept: list[Block], out):
    yield from kept
    return out


from staleness._event_system import iter_events  # noqa: E402  (the engine imports collect from here)
