"""Discrete-event simulation of parameter-server SGD: gradient staleness, runtime and throughput.

The closed forms live in :mod:`staleness.theory` (``theory``), Monte Carlo against them in
:mod:`staleness.validate` (``validate``), sweeps in :mod:`staleness.sweep` (``sweep``), rendering in
:mod:`staleness.render` and figures in :mod:`staleness.plot`.

>>> from staleness import SimConfig, simulate
>>> res = simulate(SimConfig(times=[[1, 1, 1, 1], [2.5, 2.5]]))
>>> res.gradients.staleness.tolist()
[0, 0, 2, 1, 0, 2]
"""

from staleness.config import DISTS, POLICIES, TIE_BREAKS, SimConfig
from staleness.distributions import Distribution
from staleness.engine import EventQueue
from staleness.result import Gradients, SimulationResult, Summary, summarize
from staleness.simulation import ENGINES, simulate

__all__ = [
    "SimConfig", "simulate", "SimulationResult", "Gradients", "Summary", "summarize", "Distribution",
    "EventQueue", "POLICIES", "DISTS", "TIE_BREAKS", "ENGINES",
]
