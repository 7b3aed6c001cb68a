"""How fast this machine runs the simulator, relative to the reference machine: measured once, cached.

:mod:`staleness.estimate` models a run's CPU time from per-gradient and per-learner costs measured on
the reference machine (benchmarks/RESULTS.md). This machine's speed enters as two factors, each the
ratio of a short timing here to the same timing there:

- ``gradient``: an async run of 16 learners and 400,000 gradients (streamed), CPU seconds per gradient;
- ``learner``: an async run of 3,000 learners and one gradient each, CPU seconds per learner (a
  learner's random generator and buffers).

Each timing is the fastest of three (load only ever slows a run down), about 0.4 s of CPU in all. The
factors are cached in ``$XDG_CACHE_HOME/dlperf/staleness-calibration.json`` (default ``~/.cache``), keyed by
the machine (host name, CPU count, Python and numpy versions) and the model version; a cache that cannot
be read or written is ignored (the factors are then measured once per process). ``STALENESS_CALIBRATION=off``
uses the reference factors (1.0) and measures nothing.

Examples
--------
>>> Calibration(1.0, 1.0, "reference").gradient
1.0
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from dlperf.results import Result

__all__ = ["Calibration", "calibration", "measure", "cache_path", "MODEL_VERSION", "REF_GRADIENT_S",
           "REF_LEARNER_S"]

#: Bumped whenever the timings or the model change: an older cache is then measured again.
MODEL_VERSION = 2
#: The reference machine's CPU seconds per gradient of the ``gradient`` timing and per learner of the
#: ``learner`` timing (benchmarks/RESULTS.md, "run-size guard").
REF_GRADIENT_S = 4.4e-8
REF_LEARNER_S = 2.15e-5
_GRADIENT_RUN = (16, 400_000)  # learners, gradients
_LEARNER_RUN = 3_000  # learners, one gradient each


@dataclass(frozen=True, repr=False)
class Calibration(Result):
    """This machine's speed relative to the reference: CPU time here / there (2.0 = half as fast)."""

    gradient: float
    learner: float
    source: str  # "reference", "cached" or "measured"


_memo: Calibration | None = None


def cache_path() -> Path:
    """Where the factors are cached."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "dlperf" / "staleness-calibration.json"


def _machine() -> dict:
    import numpy as np

    return {"host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "model": MODEL_VERSION}


def _cpu_seconds(cfg) -> float:
    from staleness.simulation import simulate

    best = float("inf")
    for _ in range(3):
        t = time.process_time()
        simulate(cfg, stream=True, force=True)
        best = min(best, time.process_time() - t)
    return best


def measure() -> Calibration:
    """Time the two reference runs here (about 0.4 s of CPU) and return the factors."""
    from staleness.config import SimConfig

    p, n = _GRADIENT_RUN
    per_gradient = _cpu_seconds(SimConfig(learners=p, updates=n, seed=0)) / n
    q = _LEARNER_RUN
    per_learner = max(0.0, _cpu_seconds(SimConfig(learners=q, updates=q, seed=0)) - q * per_gradient) / q
    return Calibration(max(per_gradient / REF_GRADIENT_S, 0.05), max(per_learner / REF_LEARNER_S, 0.05), "measured")


def _read(path: Path) -> Calibration | None:
    try:
        data = json.loads(path.read_text())
        if data.get("machine") != _machine():
            return None
        g, lr = float(data["gradient"]), float(data["learner"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return Calibration(g, lr, "cached") if g > 0 and lr > 0 else None


def _write(path: Path, cal: Calibration) -> None:
    try:
        from dlperf.fileio import write_atomic

        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps({"machine": _machine(), "gradient": cal.gradient, "learner": cal.learner,
                                       "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}) + "\n")
    except (OSError, ValueError):
        pass  # a read-only home: measured again by the next process


def calibration(measure_if_missing: bool = True) -> Calibration:
    """The factors: from this process's memo, the cache, a measurement (when ``measure_if_missing``), or the
    reference (1.0, 1.0) when ``STALENESS_CALIBRATION=off`` or nothing may be measured."""
    global _memo
    if os.environ.get("STALENESS_CALIBRATION", "").lower() in ("off", "0", "no"):
        return Calibration(1.0, 1.0, "reference")
    if _memo is not None:
        return _memo
    path = cache_path()
    cached = _read(path)
    if cached is not None:
        _memo = cached
        return cached
    if not measure_if_missing:
        return Calibration(1.0, 1.0, "reference")
    try:
        _memo = measure()
    except Exception:  # noqa: BLE001 - the guard must never fail for want of a timing: fall back
        return Calibration(1.0, 1.0, "reference")
    _write(path, _memo)
    return _memo
