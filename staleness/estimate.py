"""What a run will cost before it starts: gradients, bytes, CPU seconds; refuse what cannot finish.

Time: CPU seconds = P x (seconds per learner) + gradients x (seconds per gradient at P), for the path the
run takes (:data:`PATHS`). Both costs were measured on the reference machine (benchmarks/RESULTS.md,
"run-size guard": a 2-core machine shared with other work, CPU time, which load barely changes) at
P = 16, 1,000 and 100,000; between those the per-gradient cost is interpolated on log-log axes (it grows
with P as a chunk of pushes outgrows the CPU caches), below 16 it is P = 16's, beyond 100,000 the last
segment's slope goes on. This machine's speed enters through :mod:`staleness.calibration` (a short
timing on the first run that matters, cached). Keeping every record adds a per-gradient cost; a streamed
run stopped by ``until`` passes over its draws twice. Wall time is longer on a shared machine.

Memory: the records a kept run holds are the columns of :class:`staleness.Gradients` (their dtypes'
sizes, 89 bytes a gradient), twice (the blocks, then their concatenation), plus 16 bytes per update; a
streamed run holds one chunk of pushes at a time (about 150 bytes a push on the vectorised path,
measured; 450 for the event engine's Python rows); every learner costs its random generator and buffers
(measured per path: 1.3 KB on the sync path to 6 KB on the async path, :data:`PATHS`).

Examples
--------
>>> from staleness import SimConfig
>>> e = estimate(SimConfig(learners=16, updates=10**12), stream=True, calibrate=False)  # the reference speed
>>> e.gradients, e.engine, e.path, round(e.seconds)  # 10^12 x 4.4e-8 s + 16 x 2.4e-5 s
(1000000000000, 'vectorised', 'vectorised async', 44000)
>>> check(SimConfig(learners=16, updates=10**12), stream=True, calibrate=False)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
dlperf.errors.ArgumentError: updates: 1000000000000 gradients take about ... h of CPU (vectorised async path, ...
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from dlperf.errors import ArgumentError, ref
from dlperf.resources import available_memory_bytes
from dlperf.results import Result
from staleness.config import SimConfig

__all__ = ["Estimate", "estimate", "check", "available_bytes", "MAX_SECONDS", "PATHS", "record_bytes"]

#: Runs estimated to take longer than this (CPU seconds) are refused unless forced.
MAX_SECONDS = 3600.0
#: By path, on the reference machine: CPU seconds per gradient (streamed) at P = 16, 1,000 and 100,000,
#: per learner at P = 5,000 and 100,000, and bytes per learner.
PATHS = {
    "vectorised async": {"gradient": (4.4e-8, 5.7e-8, 3.0e-7), "learner": (2.4e-5, 4.1e-5), "learner_bytes": 6_000},
    "vectorised sync": {"gradient": (6.2e-8, 1.15e-7, 1.8e-7), "learner": (1.1e-5, 1.4e-5), "learner_bytes": 1_300},
    "vectorised ssp": {"gradient": (2.0e-7, 1.0e-7, 5.4e-7), "learner": (1.4e-5, 3.3e-5), "learner_bytes": 4_300},
    "vectorised k-async": {"gradient": (4.0e-7, 6.8e-7, 6.1e-6), "learner": (1.5e-5, 1.9e-5),
                           "learner_bytes": 2_700},
    "vectorised k-batch-sync": {"gradient": (1.7e-7, 3.0e-7, 5.7e-7), "learner": (2.2e-5, 2.2e-5),
                                "learner_bytes": 4_500},
    "event": {"gradient": (3.2e-6, 3.9e-6, 1.4e-5), "learner": (1.6e-5, 2.4e-5), "learner_bytes": 2_900},
}
_P_POINTS = (16, 1_000, 100_000)
_P_LEARNER = (5_000, 100_000)
_KEEP_GRADIENT = 1.5e-7  # CPU seconds per gradient to keep the record (columns, concatenation)
_CHUNK_BYTES = {"vectorised": 150, "event": 450}  # per push of a streamed chunk
_BASE = 48 * 2**20  # the interpreter, numpy, the package and the summary's working arrays (measured: 31 + 17 MB)
#: Runs whose estimate with the reference factors stays below this many seconds never trigger a calibration.
CALIBRATE_ABOVE = 1.0


def record_bytes() -> int:
    """Bytes one kept gradient takes: the itemsizes of :class:`staleness.Gradients`'s columns.

    >>> record_bytes()  # 11 columns of int64 / float64 and one bool
    89
    """
    from staleness.result import Gradients

    empty = Gradients.from_columns(**{f.name: [] for f in fields(Gradients)})
    return sum(getattr(empty, f.name).itemsize for f in fields(Gradients))


def _path(cfg: SimConfig, engine: str) -> str:
    if engine == "event":
        return "event"
    k, p = cfg.effective_k, cfg.learners
    if cfg.policy == "k-async" and (1 < k < p or cfg.times is not None):
        return "vectorised k-async"
    if cfg.policy == "ssp":
        return "vectorised ssp"
    if cfg.policy == "k-batch-sync" and k > 1:
        return "vectorised k-batch-sync"
    if cfg.policy in ("sync", "k-sync", "k-batch-sync") or (cfg.policy == "k-async" and k == p):
        return "vectorised sync"
    return "vectorised async"


def _interpolate(points: tuple, values: tuple, p: int) -> float:
    """``values`` at ``points`` (increasing P) interpolated on log-log axes; flat below the first point, the
    last segment's slope beyond the last."""
    x = math.log(max(p, points[0]))
    xs, ys = [math.log(v) for v in points], [math.log(v) for v in values]
    i = next((j for j in range(len(xs) - 2) if x <= xs[j + 1]), len(xs) - 2)
    slope = (ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i])
    return math.exp(ys[i] + slope * (x - xs[i]))


def _per_gradient(path: str, p: int) -> float:
    return _interpolate(_P_POINTS, PATHS[path]["gradient"], p)


def _per_learner(path: str, p: int) -> float:
    return _interpolate(_P_LEARNER, PATHS[path]["learner"], p)


@dataclass(frozen=True, repr=False)
class Estimate(Result):
    """Expected size of a run: ``gradients`` recorded, peak ``bytes``, CPU ``seconds``, which ``engine`` and
    ``path``, and where the machine's speed came from (``calibration``: reference, cached or measured)."""

    gradients: int
    bytes: int
    seconds: float
    engine: str
    stream: bool
    path: str = ""
    calibration: str = "reference"

    @property
    def rate(self) -> float:
        """Gradients per CPU second, over the whole run."""
        return self.gradients / self.seconds if self.seconds > 0 else math.inf


def _gradients(cfg: SimConfig) -> int:
    p, k = cfg.learners, cfg.effective_k
    if cfg.times is not None:
        return sum(len(t) for t in cfg.times)
    if cfg.updates is not None:
        per_update = {"sync": p, "k-sync": p, "k-batch-sync": k + p}.get(cfg.policy, k)
        n = cfg.updates * per_update
        if cfg.apply_time and cfg.policy not in ("sync", "k-sync", "k-batch-sync"):
            # the server applies one update at a time: the run lasts at least updates x apply_time, and
            # learners that never wait for it push all along (one gradient per mean compute time each)
            n = max(n, int(math.ceil(cfg.updates * cfg.apply_time * sum(cfg._speeds) / cfg.mean)))
        return n
    # stopped by time: every learner busy all along, one gradient per mean compute time (an upper end)
    return int(math.ceil(cfg.until * sum(cfg._speeds) / cfg.mean)) + p


def _updates(cfg: SimConfig, n: int) -> int:
    return cfg.updates if cfg.updates is not None else n // max(1, cfg.effective_k)


def estimate(cfg: SimConfig, stream: bool = False, engine: str = "auto", chunk: int | None = None,
             calibrate: bool | None = None) -> Estimate:
    """Gradients, peak bytes and CPU seconds of ``simulate(cfg, engine=engine, stream=stream)``.

    ``calibrate``: None (default) measures this machine's speed (:mod:`staleness.calibration`, once, cached)
    only when the estimate with the reference speed exceeds :data:`CALIBRATE_ABOVE` seconds, and otherwise
    uses a cached measurement if there is one; True always, False never (the reference speed).
    """
    from dlperf.validate import check_type
    check_type("cfg", cfg, SimConfig, "a staleness.SimConfig")
    from staleness.calibration import Calibration, calibration
    from staleness.vectorised import DEFAULT_CHUNK, vectorised_eligible

    eng = "vectorised" if engine == "vectorised" or (engine == "auto" and vectorised_eligible(cfg)) else "event"
    n = _gradients(cfg)
    p = cfg.learners
    path = _path(cfg, eng)
    passes = 2 if stream and cfg.until is not None and cfg.times is None else 1
    per_gradient = _per_gradient(path, p) * passes + (0.0 if stream else _KEEP_GRADIENT)
    per_learner = _per_learner(path, p) * passes

    def seconds(cal: Calibration) -> float:
        return n * per_gradient * cal.gradient + p * per_learner * cal.learner

    cal = Calibration(1.0, 1.0, "reference")
    if calibrate is not False:
        cal = calibration(measure_if_missing=bool(calibrate) or seconds(cal) > CALIBRATE_ABOVE)
    learner_bytes = PATHS[path]["learner_bytes"] * p
    if eng == "vectorised" and cfg.policy == "ssp":  # its window of levels (5 arrays of P values each)
        from staleness.vectorised import ssp_window_levels

        learner_bytes += 48 * p * ssp_window_levels(cfg.bound)
    c = chunk or (DEFAULT_CHUNK if eng == "vectorised" else 1 << 16)
    c = max(c, 32 * p) if eng == "vectorised" and chunk is None else c
    held = min(n, c) * _CHUNK_BYTES[eng]
    if not stream or cfg.times is not None:  # kept (traces keep their records): blocks, then concatenated
        held += 2 * (n * record_bytes() + 8 * _updates(cfg, n))
    return Estimate(n, _BASE + learner_bytes + held, seconds(cal), eng, stream, path, cal.source)


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
          force: bool = False, calibrate: bool | None = None) -> Estimate:
    """The estimate, or ValueError (naming the parameter, the estimate and the way out) when the run
    needs more memory than is available or more than :data:`MAX_SECONDS`; ``force`` skips the refusal."""
    e = estimate(cfg, stream, engine, chunk, calibrate)
    if force:
        return e
    what = "updates" if cfg.updates is not None else "until" if cfg.until is not None else "times"
    if cfg.learners > 1000 and e.bytes > available_bytes():
        what = "learners"
    avail = available_bytes()
    if e.bytes > avail:
        way = "ask for fewer updates or learners"
        if not stream:
            way += f", stream the run ({ref('stream')})"
        raise ArgumentError(what, what=f"{e.gradients} gradients at {cfg.learners} learners need about "
                            f"{_human_bytes(e.bytes)} ({e.engine}, {'streamed' if stream else 'kept in memory'}) but "
                            f"{_human_bytes(avail)} is available", fix=f"{way}, or give {ref('force')}")
    if e.seconds > MAX_SECONDS:
        raise ArgumentError(what, what=f"{e.gradients} gradients take about {_human_seconds(e.seconds)} of CPU "
                            f"({e.path} path, ~{e.rate:.1e} gradients/s at {cfg.learners} learners, limit "
                            f"{_human_seconds(MAX_SECONDS)})", fix=f"ask for fewer updates, or give {ref('force')}")
    return e
