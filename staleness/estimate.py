"""What a run will cost before it starts: gradients, bytes, seconds; refuse what cannot finish.

The figures are upper-end rates measured on the 2-core benchmark machine (benchmarks/RESULTS.md):
the vectorised path holds about 200 bytes per gradient in memory (12 columns of 8 bytes and the
temporaries of one sort) and about 150 bytes per gradient of a chunk when streaming; the event engine
holds about 350 bytes per gradient in memory and handles about 2 x 10^5 gradients per second (a streamed
run stopped by ``until`` passes over its draws twice: counted as twice the time); k-async (beyond
K = 1 and K = P, which take the async and sync paths) runs batch by batch at about 2 x 10^6; every
learner costs about 2 KB (its random generator and buffers), 30 KB on the vectorised path (the draws
buffered for a chunk).

Examples
--------
>>> from staleness import SimConfig
>>> e = estimate(SimConfig(learners=16, updates=10**12), stream=True)
>>> e.gradients, e.engine, e.seconds > 3600
(1000000000000, 'vectorised', True)
>>> check(SimConfig(learners=16, updates=10**12), stream=True)
Traceback (most recent call last):
...
ValueError: updates: 1000000000000 gradients take about 14 h (vectorised, ~2e+07 gradients/s, limit 1 h); ask for fewer updates, or pass force=True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dlperf.resources import available_memory_bytes
from staleness.config import SimConfig

__all__ = ["Estimate", "estimate", "check", "available_bytes", "MAX_SECONDS"]

#: Runs estimated to take longer than this are refused unless forced.
MAX_SECONDS = 3600.0
_RATE = {"vectorised": 2e7, "event": 2e5}  # gradients per second (quiet machine)
_BYTES_KEPT = {"vectorised": 200, "event": 350}  # per gradient kept in memory
_BYTES_CHUNK = 150  # per gradient of a streamed chunk
_BYTES_LEARNER = {"vectorised": 30_000, "event": 2_000}
_BASE = 120 * 2**20  # the interpreter, numpy and the package


def _rate(cfg: SimConfig, engine: str) -> float:
    # the vectorised ssp path steps through clock values one at a time: ~3e6 pushes/s at P = 16; k-async
    # (1 < K < P, or traces) one batch at a time in Python: ~2e6 pushes/s at P = 16, K = 2 (CPU time)
    if engine == "vectorised" and cfg.policy == "k-async" and (
            1 < cfg.effective_k < cfg.learners or cfg.times is not None):
        return 2e6
    return 3e6 if engine == "vectorised" and cfg.policy == "ssp" else _RATE[engine]


@dataclass(frozen=True)
class Estimate:
    """Expected size of a run: ``gradients`` recorded, peak ``bytes``, ``seconds``, and which ``engine``."""

    gradients: int
    bytes: int
    seconds: float
    engine: str
    stream: bool


def _gradients(cfg: SimConfig) -> int:
    p, k = cfg.learners, cfg.effective_k
    if cfg.times is not None:
        return sum(len(t) for t in cfg.times)
    if cfg.updates is not None:
        per_update = {"sync": p, "k-sync": p, "k-batch-sync": k + p}.get(cfg.policy, k)
        return cfg.updates * per_update
    # stopped by time: every learner busy all along, one gradient per mean compute time (an upper end)
    return int(math.ceil(cfg.until * sum(cfg._speeds) / cfg.mean)) + p


def estimate(cfg: SimConfig, stream: bool = False, engine: str = "auto", chunk: int | None = None) -> Estimate:
    """Gradients, peak bytes and seconds of ``simulate(cfg, engine=engine, stream=stream)``."""
    from staleness.vectorised import DEFAULT_CHUNK, vectorised_eligible

    eng = "vectorised" if engine == "vectorised" or (engine == "auto" and vectorised_eligible(cfg)) else "event"
    n = _gradients(cfg)
    p = cfg.learners
    per_learner = _BYTES_LEARNER[eng] * p
    if eng == "vectorised" and cfg.policy == "ssp":  # its window of levels (5 arrays of P values each)
        from staleness.vectorised import ssp_window_levels

        per_learner += 48 * p * ssp_window_levels(cfg.bound)
    if stream and cfg.times is None:  # stopped by updates, or by until (two passes, nothing kept)
        c = chunk or (DEFAULT_CHUNK if eng == "vectorised" else 1 << 16)
        c = max(c, 16 * p) if eng == "vectorised" else c
        held = min(n, c) * _BYTES_CHUNK
    else:  # kept, or a run stopped by time (its window is known at the end): every record is held
        held = n * _BYTES_KEPT[eng]
    seconds = n / _rate(cfg, eng) * (2 if stream and cfg.until is not None else 1) + p * 2e-5
    return Estimate(n, _BASE + per_learner + held, seconds, eng, stream)


def available_bytes() -> int:
    """Memory the system can give now (:func:`dlperf.resources.available_memory_bytes`); where that is
    unknown, no limit (a request is then refused only for its time)."""
    avail = available_memory_bytes()
    return (1 << 62) if avail is None else avail


def _human_bytes(b: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if b < 1024 or unit == "TB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1024
    raise AssertionError


def _human_seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min" if s < 3600 else f"{s / 3600:.0f} h"


def check(cfg: SimConfig, stream: bool = False, engine: str = "auto", chunk: int | None = None,
          force: bool = False) -> Estimate:
    """The estimate, or ValueError (naming the parameter, the estimate and the way out) when the run
    needs more memory than is available or more than :data:`MAX_SECONDS`; ``force`` skips the refusal."""
    e = estimate(cfg, stream, engine, chunk)
    if force:
        return e
    what = "updates" if cfg.updates is not None else "until" if cfg.until is not None else "times"
    if cfg.learners > 1000 and e.bytes > available_bytes():
        what = "learners"
    avail = available_bytes()
    if e.bytes > avail:
        way = "ask for fewer updates or learners"
        if not stream:
            way += ", stream the run (stream=True)"
        raise ValueError(f"{what}: {e.gradients} gradients at {cfg.learners} learners need about "
                         f"{_human_bytes(e.bytes)} ({e.engine}, {'streamed' if stream else 'kept in memory'}) but "
                         f"{_human_bytes(avail)} is available; {way}, or pass force=True")
    if e.seconds > MAX_SECONDS:
        raise ValueError(f"{what}: {e.gradients} gradients take about {_human_seconds(e.seconds)} ({e.engine}, "
                         f"~{_rate(cfg, e.engine):.0e} gradients/s, limit {_human_seconds(MAX_SECONDS)}); ask for fewer "
                         "updates, or pass force=True")
    return e
