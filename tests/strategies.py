"""Hypothesis strategies shared by the test modules (one place, as attrs and more-itertools do)."""


# ---- staleness -----------------------------------------------------------------------------------------
from hypothesis import strategies as st  # noqa: E402

STALENESS_DISTS = ("constant", "exp", "shifted-exp", "uniform", "lognormal", "pareto")


@st.composite
def staleness_traces(draw, max_learners: int = 4, max_len: int = 6, allow_zero: bool = False):
    """Compute-time traces from a coarse grid of values, so that simultaneous pushes (ties) are common."""
    values = [0.5, 1.0, 1.5, 2.0, 2.5] + ([0.0] if allow_zero else [])
    p = draw(st.integers(1, max_learners))
    return [draw(st.lists(st.sampled_from(values), min_size=1, max_size=max_len)) for _ in range(p)]


@st.composite
def staleness_async_configs(draw):
    """A SimConfig on a vectorised path: (k-batch-)async, or sync / k-sync without traces; no latencies."""
    from staleness import SimConfig

    kw = {"tie_break": draw(st.sampled_from(("fifo", "learner", "random"))), "seed": draw(st.integers(0, 2**16))}
    if draw(st.booleans()):
        kw["times"] = draw(staleness_traces())
        p = len(kw["times"])
        if draw(st.booleans()):
            kw["updates"] = draw(st.integers(1, 12))
    else:
        p = draw(st.integers(1, 6))
        kw["learners"] = p
        kw["dist"] = draw(st.sampled_from(STALENESS_DISTS))
        kw["mean"] = draw(st.sampled_from((0.5, 1.0, 3.0)))
        if draw(st.booleans()):
            kw["speeds"] = draw(st.lists(st.sampled_from((0.5, 1.0, 2.0)), min_size=p, max_size=p))
        if draw(st.booleans()):
            kw["updates"] = draw(st.integers(1, 300))
        else:
            kw["until"] = draw(st.sampled_from((0.0, 1.0, 7.5, 40.0)))
    k = draw(st.integers(1, p))
    families = ["async"] + ([] if "times" in kw else ["sync"])
    if draw(st.sampled_from(families)) == "async":
        kw["policy"] = "async" if k == 1 and draw(st.booleans()) else "k-batch-async"
    else:
        kw["policy"] = "sync" if k == p and draw(st.booleans()) else "k-sync"
    if kw["policy"] in ("k-batch-async", "k-sync"):
        kw["k"] = k
    return SimConfig(**kw)


# --- training experiments (tests/test_experiments_*.py) -------------------------------------------------


@st.composite
def lr_loss_curves(draw, min_size: int = 2, max_size: int = 120):
    """(lrs, raw_losses): an increasing learning-rate grid and positive mini-batch losses on it."""
    n = draw(st.integers(min_size, max_size))
    start = draw(st.floats(1e-7, 1e-2))
    decades = draw(st.floats(1.0, 8.0))
    losses = draw(st.lists(st.floats(0.01, 20.0, allow_nan=False), min_size=n, max_size=n))
    lrs = [start * 10 ** (decades * i / (n - 1)) for i in range(n)]
    return lrs, losses
