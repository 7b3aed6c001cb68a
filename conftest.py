"""Shared test configuration: Hypothesis profile without wall-clock deadlines (2-core CI machine)."""

import os

import matplotlib
from hypothesis import settings

matplotlib.use("Agg")

settings.register_profile("ci", deadline=None, max_examples=60, print_blob=True)
settings.register_profile("dev", deadline=None, max_examples=25)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# The run-size guard measures this machine's speed on the first big run (staleness.calibration); tests and
# doctests use the reference speed instead, so no test's timing includes a calibration and nothing is
# written to the user's cache. Tests of the calibration itself clear this (subprocesses inherit it).
os.environ.setdefault("STALENESS_CALIBRATION", "off")
