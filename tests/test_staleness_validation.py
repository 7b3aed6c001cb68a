"""Monte Carlo agrees with every closed form of the reference within 99.9% batch-means intervals.

Fixed seeds; sample sizes chosen so the intervals are a few percent of the value. The closed forms are
listed in staleness.theory (Dutta et al., AISTATS 2018): k-sync E[X_(K:P)], sync H_P / mu (+ delta),
k-batch-sync K / (P mu), k-batch-async K E[X] / P, async staleness P - 1 (any distribution), geometric
(1/P)(1 - 1/P)^s with variance P (P - 1), k-batch-async (P - 1) / K (any distribution), async-over-sync
speed-up P H_P; and beyond it: k-async (H_P - H_{P-K}) / mu and (P - K) / K, ssp with bound 0 (staleness uniform on 0..P-1,
E[X_(P:P)] / P per update), k-sync with Pareto times (a Beta-function order statistic).
"""

import pytest

from staleness.validate import DEFAULT_GRID, validate

FAST_GRID = tuple(c for c in DEFAULT_GRID if c.policy in ("async", "k-batch-async"))
EVENT_GRID = tuple(c for c in DEFAULT_GRID if c not in FAST_GRID)

def _report(v):
    return "\n".join(f"{c.case.label} {c.quantity}: theory {c.theory:.6g}, sim {c.estimate:.6g} +- "
                     f"{c.half_width:.3g} {'ok' if c.ok else 'FAIL'}" for c in v.checks)


def test_every_closed_form_is_covered():
    assert {c.policy for c in DEFAULT_GRID} == {"async", "k-batch-async", "sync", "k-sync", "k-batch-sync",
                                              "k-async", "ssp"}
    quantities = {c.quantity for c in validate(FAST_GRID[:1] + EVENT_GRID[:1], updates=2000).checks}
    assert quantities == {"time_per_update", "staleness_mean", "staleness_var", "staleness_pmf_0",
                          "staleness_pmf_1", "staleness_pmf_2", "speedup_async_over_sync"}


@pytest.mark.slow
def test_async_family_matches_theory():
    v = validate(FAST_GRID, updates=100_000, seed=0)
    assert v.all_ok, _report(v)
    assert len(v.checks) >= 20


@pytest.mark.slow
def test_sync_family_matches_theory():
    v = validate(EVENT_GRID, updates=20_000, seed=100)
    assert v.all_ok, _report(v)
    # the intervals are tight: a few percent of the value (sync P = 8: H_8 = 2.72)
    sync = next(c for c in v.checks if c.case.policy == "sync" and c.quantity == "time_per_update")
    assert sync.half_width < 0.05 * sync.theory
