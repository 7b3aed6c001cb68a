"""Hypothesis strategies shared by the test modules (one place, as attrs and more-itertools do)."""
