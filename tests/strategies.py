"""Hypothesis strategies shared by the test modules (one place, as attrs and more-itertools do)."""

# --- mlstats: binary labels with tied scores (ROC / PR / PRG tests) ---
import numpy as np  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def labels_and_tied_scores(draw, min_size: int = 2, max_size: int = 60):
    """0/1 labels with both classes present and scores drawn from few levels, so ties are common."""
    n = draw(st.integers(min_size, max_size))
    labels = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda v: 0 < sum(v) < len(v)))
    levels = draw(st.integers(1, 12))
    raw = draw(st.lists(st.integers(0, levels), min_size=n, max_size=n))
    scale = draw(st.sampled_from([1.0, 0.1, 1 / 7, 1e3]))
    return np.array(labels), np.array(raw, dtype=float) * scale
