"""Shared plumbing at the bottom of dlperf: the CLI frame, file writing, strict JSON and progress bars.

``archcalc`` and ``staleness`` import this package and neither each other nor ``mlcore``; ``mlcore`` sits
on top. Nothing here imports any of the three (``tests/test_layers.py`` checks it).

>>> import dlperf
>>> dlperf.__version__
'0.1.0'
"""

__all__ = ["__version__"]

# The fallback of dlperf.cli.version() when no installed metadata is found (a plain source checkout);
# tests/test_dlperf_cli.py checks it equals the version in pyproject.toml.
__version__ = "0.1.0"
