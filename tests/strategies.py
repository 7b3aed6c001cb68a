"""Hypothesis strategies shared by the test modules (one place, as attrs and more-itertools do)."""


# --- training experiments (tests/test_experiments_*.py) -------------------------------------------------
from hypothesis import strategies as st  # noqa: E402


@st.composite
def lr_loss_curves(draw, min_size: int = 2, max_size: int = 120):
    """(lrs, raw_losses): an increasing learning-rate grid and positive mini-batch losses on it."""
    n = draw(st.integers(min_size, max_size))
    start = draw(st.floats(1e-7, 1e-2))
    decades = draw(st.floats(1.0, 8.0))
    losses = draw(st.lists(st.floats(0.01, 20.0, allow_nan=False), min_size=n, max_size=n))
    lrs = [start * 10 ** (decades * i / (n - 1)) for i in range(n)]
    return lrs, losses
