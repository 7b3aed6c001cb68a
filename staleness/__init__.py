"""Discrete-event simulation of parameter-server SGD: gradient staleness, runtime and throughput.

The closed forms live in :mod:`staleness.theory` (``theory``), Monte Carlo against them in
:mod:`staleness.validate` (``validate``), sweeps in :mod:`staleness.sweep` (``sweep``), rendering in
:mod:`staleness.render` and figures in :mod:`staleness.plot`.

>>> from staleness import SimConfig, simulate
>>> res = simulate(SimConfig(times=[[1, 1, 1, 1], [2.5, 2.5]]))
>>> res.gradients.staleness.tolist()
[0, 0, 2, 1, 0, 2]
"""

# public name -> the module that defines it; imported on first use, so ``staleness --help`` and the
# command-line frame import neither numpy nor the engine
_EXPORTS = {
    "DISTS": "staleness.config", "POLICIES": "staleness.config", "TIE_BREAKS": "staleness.config",
    "SimConfig": "staleness.config", "Distribution": "staleness.distributions", "EventQueue": "staleness.engine",
    "Gradients": "staleness.result", "SimulationResult": "staleness.result", "Summary": "staleness.result",
    "summarize": "staleness.result", "ENGINES": "staleness.simulation", "simulate": "staleness.simulation",
}

__all__ = [
    "SimConfig", "simulate", "SimulationResult", "Gradients", "Summary", "summarize", "Distribution",
    "EventQueue", "POLICIES", "DISTS", "TIE_BREAKS", "ENGINES",
]


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'staleness' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
