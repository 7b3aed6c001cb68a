"""k-async without the event engine (staleness.vectorised_kasync) equals the engine record for record, and a
SimPy model of the policy (Hypothesis, a case worked by hand, every inner loop forced)."""

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import STALENESS_DISTS, staleness_traces
from test_staleness_simpy_oracle import draws, simpy_k_async

import staleness.vectorised_kasync as kasync
from staleness import SimConfig, simulate
from staleness.estimate import estimate
from staleness.vectorised import vectorised_eligible


def same_run(a, b):
    assert a.gradients == b.gradients
    assert np.array_equal(a.update_times, b.update_times)
    assert a.end_time == b.end_time and np.array_equal(a.inflight_busy, b.inflight_busy)
    assert a.summary.to_dict() == b.summary.to_dict()  # every field, floats bit for bit (NaN as None)


@st.composite
def k_async_configs(draw):
    """k-async on drawn or traced times (traces on a coarse grid with 0: ties and zero compute times are
    common), every tie-break, stopped by updates, by time or by the traces."""
    kw = {"tie_break": draw(st.sampled_from(("fifo", "learner", "random"))), "seed": draw(st.integers(0, 2**16))}
    if draw(st.booleans()):
        kw["times"] = draw(staleness_traces(max_learners=6, max_len=8, allow_zero=True))
        p = len(kw["times"])
        stop = draw(st.sampled_from(("traces", "updates", "until")))
    else:
        p = draw(st.integers(1, 9))
        kw["learners"] = p
        kw["dist"] = draw(st.sampled_from(STALENESS_DISTS))
        if draw(st.booleans()):
            kw["speeds"] = draw(st.lists(st.sampled_from((0.5, 1.0, 2.0)), min_size=p, max_size=p))
        stop = draw(st.sampled_from(("updates", "until")))
    if stop == "updates":
        kw["updates"] = draw(st.integers(1, 120))
    elif stop == "until":
        kw["until"] = draw(st.sampled_from((0.0, 0.5, 2.0, 7.5, 30.0)))
    return SimConfig(policy="k-async", k=draw(st.integers(1, p)), **kw)


@settings(max_examples=250, deadline=None)
@given(k_async_configs(), st.sampled_from([1, 2, 3, 7, 40, None]), st.sampled_from([1, 3, None]))
def test_k_async_equals_event_engine(cfg, chunk, wide):
    # wide: the K from which a batch is chosen by a numpy sort (1 and 3 force it onto small runs)
    event = simulate(cfg, engine="event")
    saved = kasync.WIDE
    kasync.WIDE = wide or saved
    try:
        fast = simulate(cfg, engine="vectorised", chunk=chunk)
        streamed = simulate(cfg, engine="vectorised", chunk=chunk, stream=True)
        auto = simulate(cfg, chunk=chunk)
    finally:
        kasync.WIDE = saved
    assert fast.engine == "vectorised" and event.engine == "event"
    same_run(event, fast)
    assert streamed.gradients is None and streamed.summary.to_dict() == event.summary.to_dict()
    same_run(event, auto)  # auto: vectorised, or the engine where the async path meets a compute time of 0 (K = 1)


def test_k_async_by_hand_every_tie_break():
    # P = 3, K = 2, traces L0 1,1,1; L1 2,2; L2 3,3. Pushes L0@1, L1@2: update 1 at 2; L0 and L1 read v1 at 2
    # (L0 -> 3, L1 -> 4). At 3 L2 (read v0 at 0) and L0 (read v1 at 2) tie: fifo serves the earlier read (L2
    # first), learner the lower index (L0 first); update 2 at 3; both read v2 (L0 -> 4, L2 -> 6). At 4 L1 (read
    # 2) and L0 (read 3) tie: fifo L1 first, learner L0 first; update 3 at 4; L0 and L1 have no draws left. L2
    # pushes at 6 alone: no batch, the run ends at 6 with its 3 s of compute (3 -> 6) not in the records.
    # Busy: L0 1 + 1 + 1 = 3 of 6, L1 2 + 2 = 4 of 6, L2 3 + 3 = 6 of 6.
    for tie, learners, stale in (("fifo", [0, 1, 2, 0, 1, 0], [0, 0, 1, 0, 1, 0]),
                                 ("learner", [0, 1, 0, 2, 0, 1], [0, 0, 0, 1, 0, 1])):
        cfg = SimConfig(times=[[1, 1, 1], [2, 2], [3, 3]], policy="k-async", k=2, tie_break=tie)
        for chunk in (1, 2, None):
            res = simulate(cfg, engine="vectorised", chunk=chunk)
            g = res.gradients
            assert g.learner.tolist() == learners and g.staleness.tolist() == stale
            assert res.update_times.tolist() == [2.0, 3.0, 4.0] and g.apply_time.tolist() == [2, 2, 3, 3, 4, 4]
            assert res.end_time == 6.0 and res.inflight_busy.tolist() == [0.0, 0.0, 3.0]
            assert res.summary.utilisation == (3 / 6, 4 / 6, 6 / 6)


@pytest.mark.parametrize("p,k", [(2, 1), (4, 2), (6, 3), (5, 5), (9, 4)])
def test_k_async_vectorised_matches_simpy(p, k):
    # the SimPy model of tests/test_staleness_simpy_oracle.py (continuous draws: no ties), on the new path
    cfg = SimConfig(learners=p, policy="k-async", k=k, dist="uniform", updates=300, seed=10 + p)
    res = simulate(cfg, engine="vectorised")
    g = res.gradients
    rows = list(zip(g.learner.tolist(), g.index.tolist(), g.read_version.tolist(), g.version_before_apply.tolist(),
                    strict=True))
    theirs, times = simpy_k_async(draws(cfg), k)
    assert rows == theirs and res.update_times.tolist() == times


@pytest.mark.parametrize("cfg", [
    SimConfig(learners=16, policy="k-async", k=2, dist="exp", updates=20_000, seed=2),  # the K = 2 loop
    SimConfig(learners=16, policy="k-async", k=5, dist="lognormal", until=300.0, seed=3, tie_break="random"),
    SimConfig(learners=6, policy="k-async", k=4, dist="constant", updates=3_000, seed=4),  # every push tied
    SimConfig(learners=300, policy="k-async", k=150, dist="exp", updates=60, seed=5),  # the numpy sort per batch
], ids=["k2", "k5-until", "constant", "wide"])
def test_k_async_large_runs_equal_event_engine(cfg):
    event = simulate(cfg, engine="event")
    for chunk in (977, None):
        same_run(event, simulate(cfg, chunk=chunk))
    assert simulate(cfg, stream=True, chunk=977).summary.to_dict() == event.summary.to_dict()


def test_k_async_eligibility():
    assert vectorised_eligible(SimConfig(learners=4, policy="k-async", k=2, updates=3))
    assert vectorised_eligible(SimConfig(times=[[1, 0], [2]], policy="k-async", k=1))
    for kw in ({"push_latency": 0.1}, {"pull_latency": [0, 0.1, 0, 0]}, {"apply_time": 0.01}):
        cfg = SimConfig(learners=4, policy="k-async", k=2, updates=3, **kw)
        assert not vectorised_eligible(cfg) and simulate(cfg).engine == "event"
        with pytest.raises(ValueError, match="^policy: got 'k-async'; the vectorised path needs .* and no latencies; use engine event$"):
            simulate(cfg, engine="vectorised")


@pytest.mark.parametrize("k, updates", [(2, 60_000), (3, 20_000)])
def test_k_async_streams_in_memory_bounded_by_the_chunk(k, updates):
    # kept: 12 columns x 8 bytes x (K x updates) gradients = 11.5 MB (K = 2) / 5.8 MB (K = 3) at least. Streamed
    # in chunks of 1,024 pushes: the piece's Python floats and ids (~1,024 x 100 bytes), the dict of push
    # times (<= P + 1,024 entries), 16 learners' draws (64 x 32 bytes each) and the summary: well under 1 MB,
    # whatever the number of updates
    cfg = SimConfig(learners=16, policy="k-async", k=k, updates=updates, seed=0)
    peaks, summaries = {}, {}
    for stream in (False, True):
        tracemalloc.start()
        summaries[stream] = simulate(cfg, stream=stream, chunk=1024).summary
        peaks[stream] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert summaries[True] == summaries[False]
    assert peaks[False] > 12 * 8 * k * updates and peaks[True] < 1e6, peaks


def test_k_async_estimate():
    # k-async beyond K = 1 and K = P takes its own path, 4.0e-7 CPU s per gradient at P = 16 (reference speed):
    # 10^6 updates x K = 2 -> 2 x 10^6 gradients, 0.8 s + 16 learners x 1.5e-5 s; K = 1 is the async path
    # (4.4e-8 s: 0.044 s + 16 x 2.4e-5 s)
    e = estimate(SimConfig(learners=16, policy="k-async", k=2, updates=10**6), stream=True)
    assert e.path == "vectorised k-async" and e.seconds == pytest.approx(0.8 + 16 * 1.5e-5, rel=1e-12)
    e = estimate(SimConfig(learners=16, policy="k-async", k=1, updates=10**6), stream=True)
    assert e.path == "vectorised async" and e.seconds == pytest.approx(0.044 + 16 * 2.4e-5, rel=1e-12)
    # 2 x 10^10 gradients x 4e-7 s = 8,000 s > 1 h: refused, naming the path and the rate
    with pytest.raises(ValueError, match=r"^updates: 20000000000 gradients take about 2 h of CPU \(vectorised k-async "
                                         r"path, ~2\.5e\+06 gradients/s"):
        simulate(SimConfig(learners=16, policy="k-async", k=2, updates=10**10), stream=True)
