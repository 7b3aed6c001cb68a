"""Discrete-event simulation of parameter-server SGD: gradient staleness, runtime and throughput.

The top level holds the curated API, each name imported on first use: :func:`simulate` a
:class:`SimConfig`, the closed forms :func:`theory`, Monte Carlo against them :func:`validate`, grids
:func:`sweep`, run-time :func:`estimate`. Rendering lives in :mod:`staleness.render` and figures in
:mod:`staleness.plot`. Every result has a short repr, ``to_dict()`` and ``to_pandas()``.

>>> from staleness import SimConfig, simulate
>>> res = simulate(SimConfig(times=[[1, 1, 1, 1], [2.5, 2.5]]))
>>> res.gradients.staleness.tolist()
[0, 0, 2, 1, 0, 2]
"""

from dlperf.lazy import lazy_exports

# public name -> the module that defines it; imported on first use, so ``import staleness``, ``staleness --help``
# and the command-line frame import neither numpy nor the engine
_EXPORTS = {
    "SimConfig": "staleness.config", "POLICIES": "staleness.config", "DISTS": "staleness.config",
    "TIE_BREAKS": "staleness.config", "Distribution": "staleness.distributions", "EventQueue": "staleness.engine",
    "simulate": "staleness.simulation", "ENGINES": "staleness.simulation",
    "SimulationResult": "staleness.result", "Gradients": "staleness.result", "Summary": "staleness.result",
    "summarize": "staleness.result",
    "theory": "staleness.theory", "Theory": "staleness.theory",
    "validate": "staleness.validate", "Validation": "staleness.validate", "Case": "staleness.validate",
    "sweep": "staleness.sweep", "SweepResult": "staleness.sweep",
    "estimate": "staleness.estimate", "Estimate": "staleness.estimate",
}
__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
