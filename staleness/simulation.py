"""The public entry point: :func:`simulate` a configuration with the event engine or the vectorised path.

Examples
--------
>>> from staleness import SimConfig, simulate
>>> res = simulate(SimConfig(learners=4, policy="async", dist="exp", mean=1.0, updates=1000, seed=0))
>>> res.engine, res.summary.updates, len(res.update_times)
('vectorised', 1000, 1000)
>>> int(res.gradients.update[-1]), bool((res.gradients.staleness >= 0).all())
(1000, True)
"""

from __future__ import annotations

import numpy as np

from staleness._event_system import run_events
from staleness.config import SimConfig
from staleness.distributions import LearnerStreams
from staleness.result import SimulationResult, summarize
from staleness.vectorised import run_vectorised, vectorised_eligible

__all__ = ["simulate", "ENGINES"]

#: ``auto`` picks ``vectorised`` where it applies (see :mod:`staleness.vectorised`), else ``event``.
ENGINES = ("auto", "event", "vectorised")


def simulate(cfg: SimConfig, *, engine: str = "auto", rng: np.random.Generator | None = None) -> SimulationResult:
    """Simulate ``cfg`` and summarise it.

    Parameters
    ----------
    cfg : SimConfig
        What to simulate.
    engine : {"auto", "event", "vectorised"}
        ``auto`` uses the vectorised path when it applies and is exact (async / k-batch-async, no
        latencies, every compute time > 0), else the event engine. ``vectorised`` raises if it does not
        apply. Both give identical results on the same draws.
    rng : numpy.random.Generator, optional
        Source of the per-learner streams (``rng.spawn``); default: ``SeedSequence(cfg.seed)``.

    Returns
    -------
    SimulationResult
        Frozen; ``gradients`` are columnar records in apply / discard order.
    """
    if engine not in ENGINES:
        raise ValueError(f"--engine: got {engine!r}; choose one of {', '.join(ENGINES)}")
    if not isinstance(cfg, SimConfig):
        raise ValueError(f"cfg: got {type(cfg).__name__}; give a staleness.SimConfig")
    streams = LearnerStreams(cfg, rng)
    out = None
    used = "event"
    if engine == "vectorised" or (engine == "auto" and vectorised_eligible(cfg)):
        out = run_vectorised(cfg, streams)
        if out is None and engine == "vectorised":
            raise ValueError("--engine: vectorised needs every compute time > 0; use --engine event")
        used = "vectorised"
    if out is None:
        out = run_events(cfg, streams)
        used = "event"
    grads, update_times, end, busy = out
    summary = summarize(cfg, grads, update_times, end, busy)
    return SimulationResult(cfg, grads, update_times, end, busy, summary, used)
