"""The vectorised path equals the event engine exactly; invariants of every policy (Hypothesis)."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import STALENESS_DISTS, staleness_async_configs, staleness_traces

from staleness import SimConfig, simulate
from staleness.vectorised import vectorised_eligible


def assert_identical(a, b):
    assert a.gradients == b.gradients
    assert np.array_equal(a.update_times, b.update_times)
    assert a.end_time == b.end_time
    assert np.array_equal(a.inflight_busy, b.inflight_busy)
    assert a.summary.to_dict() == b.summary.to_dict()  # NaN (empty runs) compare as None


@settings(max_examples=300)
@given(staleness_async_configs())
def test_vectorised_equals_event_engine(cfg):
    event = simulate(cfg, engine="event")
    fast = simulate(cfg, engine="vectorised")
    assert fast.engine == "vectorised" and event.engine == "event"
    assert_identical(event, fast)


@given(staleness_traces(allow_zero=True), st.sampled_from(("fifo", "learner", "random")))
def test_auto_falls_back_on_zero_compute_times(traces, tie_break):
    cfg = SimConfig(times=traces, tie_break=tie_break)
    auto = simulate(cfg)
    assert_identical(auto, simulate(cfg, engine="event"))
    if any(0.0 in t for t in traces):
        assert auto.engine == "event"
        with pytest.raises(ValueError, match="vectorised"):
            simulate(cfg, engine="vectorised")


def test_vectorised_large_run_matches_event_engine():
    cfg = SimConfig(learners=16, dist="exp", updates=20_000, seed=2)
    assert_identical(simulate(cfg, engine="event"), simulate(cfg))


def test_vectorised_k_sync_large_run_matches_event_engine():
    cfg = SimConfig(learners=8, policy="k-sync", k=3, dist="shifted-exp", updates=5000, seed=4)
    assert_identical(simulate(cfg, engine="event"), simulate(cfg))


@pytest.mark.parametrize("tie_break", ["fifo", "learner", "random"])
@pytest.mark.parametrize("p, k, dist, heap", [(16, 2, "exp", False), (6, 4, "constant", False), (5, 3, "uniform", False),
                                              (12, 5, "pareto", True), (9, 9, "constant", True)])
def test_vectorised_k_batch_sync_large_run_matches_event_engine(p, k, dist, heap, tie_break, monkeypatch):
    # the constant law ties every first push of an iteration (and restarts with the others' pushes): the
    # exact heap of the engine's keys takes those iterations; heap=True forces the heap of floats
    import staleness.vectorised_kbsync as kbsync

    if heap:
        monkeypatch.setattr(kbsync, "HEAP_K", 2)
        monkeypatch.setattr(kbsync, "HEAP_P", 1)
    cfg = SimConfig(learners=p, policy="k-batch-sync", k=k, dist=dist, updates=3000, seed=5, tie_break=tie_break,
                    speeds=[1.0 + (i % 3) for i in range(p)])
    event = simulate(cfg, engine="event")
    for chunk in (1, 50, None):
        fast = simulate(cfg, chunk=chunk)
        assert fast.engine == "vectorised"
        assert_identical(event, fast)
    until = dataclasses.replace(cfg, updates=None, until=float(event.update_times[1234]) + 0.01)
    assert_identical(simulate(until, engine="event"), simulate(until, chunk=64))
    assert_identical(simulate(until, engine="event", stream=True), simulate(until, chunk=64, stream=True))


@pytest.mark.parametrize("tie_break", ["fifo", "learner", "random"])
@pytest.mark.parametrize("k, untied", [(2, 3), (3, 2)])
def test_vectorised_k_batch_sync_tie_after_untied_pieces(k, untied, tie_break, monkeypatch):
    # each piece runs first with no tie checks, and the records are checked afterwards (pops strictly
    # increasing, every discarded push after the update); times on a 1/1024 grid give a first tie in piece
    # untied + 1 (pieces of 100 // (16 + K - 1) iterations, seed 3): the pieces before pass the check, that
    # one runs again on the exact loop, and so does the rest; every record equals the engine's (which
    # draws the same grid)
    import staleness.distributions as dist
    import staleness.vectorised_kbsync as kbsync

    sample = dist.Distribution.sample
    monkeypatch.setattr(dist.Distribution, "sample", lambda self, rng, n: np.round(sample(self, rng, n) * 1024) / 1024)
    checked = []
    piece = kbsync._piece

    def spy(*args, **kw):
        out = piece(*args, **kw)
        if kw.get("check"):
            checked.append(out is not None)
        return out

    monkeypatch.setattr(kbsync, "_piece", spy)
    cfg = SimConfig(learners=16, policy="k-batch-sync", k=k, updates=3000, seed=3, tie_break=tie_break)
    fast = simulate(cfg, chunk=100)
    assert checked == [True] * untied + [False]
    assert_identical(simulate(cfg, engine="event"), fast)

def test_vectorised_k_batch_sync_by_hand():
    # P = 3, K = 2, constant times 1 s (L1, L2) and 0.5 s (L3, speed 2). Iteration 1 from 0: L3 pushes at 0.5
    # and restarts, pushes again at 1.0, where L1 and L2 push too: fifo puts L1 and L2 (read at 0) before L3's
    # restart (read at 0.5), so L1's push at 1.0 is the K-th: update 1 at 1.0 with L3's first and L1's;
    # discarded: L2 (1 s of work, its push at 1.0 came too late) and L3's restart (0.5 s). Every iteration
    # repeats this 1 s later.
    cfg = SimConfig(learners=3, policy="k-batch-sync", k=2, dist="constant", mean=1.0, speeds=[1, 1, 2], updates=3)
    res = simulate(cfg, engine="vectorised")
    g = res.gradients
    assert res.update_times.tolist() == [1.0, 2.0, 3.0]
    assert g.learner.tolist() == [1, 2, 2, 0] * 3 and g.applied.tolist() == [False, False, True, True] * 3
    assert g.index.tolist() == [0, 1, 0, 0, 1, 3, 2, 1, 2, 5, 4, 2]
    assert g.read_time.tolist() == [0.0, 0.5, 0.0, 0.0, 1.0, 1.5, 1.0, 1.0, 2.0, 2.5, 2.0, 2.0]
    assert g.compute_time.tolist() == [1.0, 0.5, 0.5, 1.0] * 3
    assert res.end_time == 3.0 and res.inflight_busy.tolist() == [0.0, 0.0, 0.0]
    assert_identical(res, simulate(cfg, engine="event"))


@pytest.mark.parametrize("tie_break", ["fifo", "learner", "random"])
@pytest.mark.parametrize("p, bound, speeds", [(8, 1, None), (80, 3, [1.0] * 40 + [3.0] * 40), (5, 0, [1, 1, 2, 4, 1])])
def test_vectorised_ssp_large_run_matches_event_engine(p, bound, speeds, tie_break):
    # thousands of levels, blocked learners on most of them (bound 0 and 1) or P-wide levels (P = 80)
    cfg = SimConfig(learners=p, policy="ssp", bound=bound, dist="exp", updates=4000, seed=6, tie_break=tie_break,
                    speeds=speeds or 1.0)
    event = simulate(cfg, engine="event")
    for chunk in (1, 100, None):
        fast = simulate(cfg, chunk=chunk)
        assert fast.engine == "vectorised"
        assert_identical(event, fast)


def test_vectorised_ssp_by_hand():
    # bound 0, constant times 1 s (L1) and 0.5 s (L2, speed 2). L2 pushes at 0.5 (clock 1, slowest 0: 1 - 0 > 0,
    # it waits); L1 pushes at 1.0 (read version 0, version before 1: staleness 1) and releases L2; both read
    # version 2 at 1.0, L2 pushes at 1.5 (staleness 0), L1 at 2.0 (staleness 1), ... Update 6 is L1's push at
    # 3.0: the run stops there with L2 waiting (nothing in flight); busy 3 x 1.0 and 3 x 0.5 of 3.0 s
    cfg = SimConfig(learners=2, policy="ssp", bound=0, dist="constant", mean=1.0, speeds=[1, 2], updates=6)
    res = simulate(cfg, engine="vectorised")
    g = res.gradients
    assert res.update_times.tolist() == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    assert g.learner.tolist() == [1, 0] * 3 and g.staleness.tolist() == [0, 1] * 3
    assert g.read_time.tolist() == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0] and g.read_version.tolist() == [0, 0, 2, 2, 4, 4]
    assert res.end_time == 3.0 and res.inflight_busy.tolist() == [0.0, 0.0]
    assert res.summary.utilisation == (1.0, 0.5)


def test_vectorised_refuses_other_policies():
    cfg = SimConfig(times=[[1, 2], [2, 1]], policy="k-batch-sync", k=2)
    assert not vectorised_eligible(cfg)
    with pytest.raises(ValueError, match="vectorised"):
        simulate(cfg, engine="vectorised")
    assert not vectorised_eligible(SimConfig(learners=2, updates=3, push_latency=0.1))
    assert not vectorised_eligible(SimConfig(times=[[1], [2]], policy="sync"))
    # ssp: traces, or a window of P (2 s + 3) levels over 2^22 times: 16 x (2 x 131,071 + 3) = 4,194,320 > 4,194,304
    assert not vectorised_eligible(SimConfig(times=[[1], [2]], policy="ssp", bound=1))
    assert not vectorised_eligible(SimConfig(learners=16, policy="ssp", bound=131_071, updates=3))
    assert vectorised_eligible(SimConfig(learners=16, policy="ssp", bound=131_070, updates=3))  # 4,194,288
    assert not vectorised_eligible(SimConfig(learners=4, policy="k-async", k=2, updates=3, apply_time=0.1))
    with pytest.raises(ValueError, match=r"^bound: got 131071 at 16 learners; .* <= 4194304; use engine event$"):
        simulate(SimConfig(learners=16, policy="ssp", bound=131_071, updates=3), engine="vectorised")


POLICY_KW = st.sampled_from([
    {"policy": "async"}, {"policy": "sync"}, {"policy": "k-sync", "k": 2}, {"policy": "k-batch-sync", "k": 2},
    {"policy": "k-async", "k": 2}, {"policy": "k-batch-async", "k": 2}, {"policy": "ssp", "bound": 1},
])


@given(POLICY_KW, st.integers(2, 5), st.sampled_from(STALENESS_DISTS), st.integers(0, 1000),
       st.sampled_from(("fifo", "learner", "random")), st.sampled_from((0.0, 0.1)))
def test_invariants_of_every_policy(policy_kw, p, dist, seed, tie_break, latency):
    cfg = SimConfig(learners=p, dist=dist, updates=60, seed=seed, tie_break=tie_break, push_latency=latency,
                    pull_latency=latency, apply_time=latency / 2, **policy_kw)
    res = simulate(cfg)
    g, k = res.gradients, cfg.effective_k
    ok = g.applied
    assert len(res.update_times) == 60 and np.all(np.diff(res.update_times) >= 0)
    assert np.array_equal(g.update[ok], g.version_before_apply[ok] + 1) and np.all(g.update[~ok] == -1)
    assert np.array_equal(g.staleness, g.version_before_apply - g.read_version) and np.all(g.staleness >= 0)
    assert np.array_equal(np.bincount(g.update[ok])[1:], np.full(60, k))  # K gradients per update
    assert np.all(g.read_time <= g.compute_start) and np.all(g.compute_start <= g.push_time)
    assert np.all(g.push_time[ok] <= g.apply_time[ok])
    assert np.array_equal(g.apply_time[ok], res.update_times[g.update[ok] - 1])
    assert np.all(np.diff(g.apply_time) >= 0)  # rows in apply / discard order
    # each learner's gradients are numbered 0, 1, 2, ... in the order it computed them
    for i in range(p):
        assert sorted(g.index[g.learner == i].tolist()) == sorted(set(g.index[g.learner == i].tolist()))
    if cfg.policy in ("sync", "k-sync", "k-batch-sync"):
        assert np.all(g.staleness == 0)
    if cfg.policy == "ssp" or not ok.all():
        assert cfg.policy in ("ssp", "sync", "k-sync", "k-batch-sync")
    util = np.asarray(res.summary.utilisation)
    assert np.all(util >= 0) and np.all(util <= 1 + 1e-12)


def test_replace_keeps_validation():
    cfg = SimConfig(learners=2, updates=3)
    with pytest.raises(ValueError, match="^k: got 3 > 2"):
        dataclasses.replace(cfg, policy="k-sync", k=3)


@given(POLICY_KW, st.integers(1, 4), st.integers(0, 100))
def test_intervening_is_the_gradients_of_the_versions_in_between(policy_kw, p, seed):
    kw = dict(policy_kw)
    if kw.get("k", 1) > p:
        kw["k"] = p
    cfg = SimConfig(learners=p, dist="exp", updates=30, seed=seed, **kw)
    g = simulate(cfg).gradients
    for r, between in enumerate(g.intervening_all()):
        # brute force: every applied row whose update is in (read_version, version_before_apply]
        lo, hi = g.read_version[r], g.version_before_apply[r]
        expected = [x for x in range(len(g)) if g.applied[x] and lo < g.update[x] <= hi]
        assert between == expected
        assert len(between) == g.staleness[r] * cfg.effective_k
