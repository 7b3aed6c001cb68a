"""Event engine and policies against schedules worked out by hand (the oracle is the arithmetic in comments)."""

import dataclasses

import numpy as np
import pytest

from staleness import EventQueue, SimConfig, simulate


def names(res):
    g = res.gradients
    return [g.name(r) for r in range(len(g))]


def by_name(res, column):
    g = res.gradients
    return {g.name(r): getattr(g, column)[r].item() for r in range(len(g))}


# ---- the kernel --------------------------------------------------------------------------------------------
def test_kernel_orders_by_time_priority_key_then_sequence():
    q = EventQueue()
    q.schedule(1.0, 1, (0.5, 0), "push", "late key")
    q.schedule(1.0, 1, (0.0, 1), "push", "early key")
    q.schedule(1.0, 0, (), "update", "priority 0")
    q.schedule(1.0, 1, (0.0, 1), "push", "same key, inserted later")
    q.schedule(0.5, 1, (9.0, 9), "push", "earliest")
    assert [q.pop()[5] for _ in range(5)] == [
        "earliest", "priority 0", "early key", "same key, inserted later", "late key"]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0])
def test_kernel_rejects_bad_times_with_the_value(bad):
    q = EventQueue()
    with pytest.raises(ValueError, match="event time"):
        q.schedule(bad, 0, (), "x", None)


# ---- exercise 1 --------------------------------------------------------------------------------------------
def test_exercise_1_async_two_learners():
    # L1 pushes at 1, 2, 3, 4; L2 (2.5x slower) at 2.5, 5. Versions: v1@1 (L1), v2@2 (L1), v3@2.5 (L2),
    # v4@3 (L1), v5@4 (L1), v6@5 (L2).
    # g[L1,1]: read v0 at 0, applied on v0 -> 0.   g[L1,2]: read v1 at 1, applied on v1 -> 0.
    # g[L1,3]: read v2 at 2, applied on v3 (L2's v3 came between) -> 1.
    # g[L1,4]: read v4 at 3, applied on v4 -> 0.
    # g[L2,1]: read v0 at 0, applied on v2 -> 2.   g[L2,2]: read v3 at 2.5, applied on v5 -> 2.
    res = simulate(SimConfig(times=[[1, 1, 1, 1], [2.5, 2.5]]))
    assert by_name(res, "staleness") == {"g[L1,1]": 0, "g[L1,2]": 0, "g[L1,3]": 1, "g[L1,4]": 0,
                                          "g[L2,1]": 2, "g[L2,2]": 2}
    assert res.update_times.tolist() == [1.0, 2.0, 2.5, 3.0, 4.0, 5.0]
    g = res.gradients
    last = names(res).index("g[L2,2]")
    assert [g.name(r) for r in g.intervening(last)] == ["g[L1,3]", "g[L1,4]"]


@pytest.mark.parametrize("engine", ["event", "vectorised"])
@pytest.mark.parametrize(("tie_break", "expected"), [("fifo", 2), ("learner", 3)])
def test_exercise_1_tie_at_t5(engine, tie_break, expected):
    # Give L1 a 5th gradient (read v5 at 4, pushed at 5) so both learners push at t = 5.
    # fifo: L2's push was scheduled at 2.5, L1's at 4 -> L2 first: applied on v5 -> 5 - 3 = 2.
    # learner: L1 (lower index) first -> L2 applied on v6 -> 6 - 3 = 3.
    res = simulate(SimConfig(times=[[1] * 5, [2.5, 2.5]], tie_break=tie_break), engine=engine)
    assert by_name(res, "staleness")["g[L2,2]"] == expected
    assert by_name(res, "staleness")["g[L1,5]"] == 3 - expected  # read v5: fifo applied on v6 -> 1; else 0


# ---- exercise 2 --------------------------------------------------------------------------------------------
EX2 = [[1.5, 0.9, 2.5, 1.2, 1.8, 0.9], [3, 2.5, 1.7, 3.0, 0.7, 0.8], [2.5, 1.5, 0.7, 0.9, 2.0, 2.2]]


def test_exercise_2_sync_three_updates():
    # Fully synchronous: each update waits for all three learners' next mini-batch.
    # update 1: max(1.5, 3, 2.5) = 3; update 2: 3 + max(0.9, 2.5, 1.5) = 5.5; update 3: 5.5 + max(2.5, 1.7, 0.7) = 8
    res = simulate(SimConfig(times=EX2, policy="sync", updates=3))
    assert res.update_times.tolist() == [3.0, 5.5, 8.0]
    assert res.summary.time_to_updates == 8.0
    assert (res.gradients.staleness == 0).all() and res.gradients.applied.all()


def test_exercise_2_async_three_updates():
    # Asynchronous: pushes L1 at 1.5, 1.5 + 0.9 = 2.4; L3 at 2.5; L2 at 3 -> the third update is at 2.5 ms
    # (g[L3,1] was read at v0 and applied on v2: staleness 2).
    res = simulate(SimConfig(times=EX2, policy="async", updates=3))
    assert res.update_times.tolist() == [1.5, 2.4, 2.5]
    assert names(res) == ["g[L1,1]", "g[L1,2]", "g[L3,1]"]
    assert res.gradients.staleness.tolist() == [0, 0, 2]
    # sync needs 8 / 2.5 = 3.2x as long for the same three updates
    sync = simulate(SimConfig(times=EX2, policy="sync", updates=3))
    assert sync.summary.time_to_updates / res.summary.time_to_updates == pytest.approx(3.2)


# ---- the other policies, by hand ---------------------------------------------------------------------------
def test_k_sync_discards_stragglers():
    # K = 2 of 3. Iteration 1 from 0: L1@1, L2@2, L3@3 -> update at 2 with L1, L2; g[L3,1] discarded at 2
    # after 2 s of work. Iteration 2 from 2: L1 2+3=5, L2 2+1=3, L3 2+2=4 -> update at 4 with L2, L3;
    # g[L1,2] discarded at 4.
    res = simulate(SimConfig(times=[[1, 3], [2, 1], [3, 2]], policy="k-sync", k=2))
    assert res.update_times.tolist() == [2.0, 4.0]
    assert names(res) == ["g[L3,1]", "g[L1,1]", "g[L2,1]", "g[L1,2]", "g[L2,2]", "g[L3,2]"]
    g = res.gradients
    assert g.applied.tolist() == [False, True, True, False, True, True]
    assert g.update.tolist() == [-1, 1, 1, -1, 2, 2]
    assert g.compute_time.tolist() == [2.0, 1.0, 2.0, 2.0, 1.0, 2.0]
    assert (g.staleness == 0).all()
    assert res.summary.gradients_discarded == 2


def test_k_batch_sync_continues_on_the_same_version():
    # K = 2, P = 2. From 0 on v0: L1 pushes at 1 and continues on v0 without a pull, pushes again at 2:
    # K reached -> g[L2,1] (2 s of work) discarded at 2, update v1 at 2. From 2 on v1: L1 and L2 both push
    # at 3 (fifo: both scheduled at 2, so L1 first); L1 continues on v1 (its 4th gradient, started at 3) and
    # is discarded at once when L2's push makes K = 2: update v2 at 3. The traces are then used up.
    res = simulate(SimConfig(times=[[1, 1, 1, 1], [2.5, 1]], policy="k-batch-sync", k=2))
    assert names(res) == ["g[L2,1]", "g[L1,1]", "g[L1,2]", "g[L1,4]", "g[L1,3]", "g[L2,2]"]
    g = res.gradients
    assert g.read_time.tolist() == [0.0, 0.0, 1.0, 3.0, 2.0, 2.0]
    assert g.read_version.tolist() == [0, 0, 0, 1, 1, 1]
    assert g.applied.tolist() == [False, True, True, False, True, True]
    assert g.compute_time.tolist() == [2.0, 1.0, 1.0, 0.0, 1.0, 1.0]
    assert res.update_times.tolist() == [2.0, 3.0]
    assert (g.staleness == 0).all()


def test_k_async_only_pushers_get_the_new_version():
    # K = 2, P = 3. L1@1 waits; L2@2 -> v1 at 2 with L1, L2; both read v1 at 2 (L1 -> 3, L2 -> 4).
    # t = 3: L3 (scheduled at 0) before L1 (scheduled at 2) under fifo -> v2 at 3 with L3 (read v0: stale 1)
    # and L1 (read v1: 0); L3 reads v2 -> 6. t = 4: L2 (read v1) waits; t = 6: L3 -> v3 with L2 (applied on
    # v2: stale 1) and L3 (read v2: 0).
    res = simulate(SimConfig(times=[[1, 1], [2, 2], [3, 3]], policy="k-async", k=2))
    assert res.update_times.tolist() == [2.0, 3.0, 6.0]
    assert names(res) == ["g[L1,1]", "g[L2,1]", "g[L3,1]", "g[L1,2]", "g[L2,2]", "g[L3,2]"]
    assert res.gradients.staleness.tolist() == [0, 0, 1, 0, 1, 0]


def test_ssp_bound_zero_waits_for_the_slowest():
    # s = 0, L1 every 1 s, L2 every 2 s. L1 pushes at 1 (v1), clock 1 > 0 + 0: waits. L2 pushes at 2
    # (read v0, applied on v1: 1) -> both restart at 2 on v2; L1 at 3 (0), waits; L2 at 4 (read v2, applied
    # on v3: 1); L1 at 5 (0); L2 at 6 (1).
    res = simulate(SimConfig(times=[[1, 1, 1], [2, 2, 2]], policy="ssp", bound=0))
    assert res.update_times.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert res.gradients.staleness.tolist() == [0, 1, 0, 1, 0, 1]
    assert res.gradients.read_time.tolist() == [0.0, 0.0, 2.0, 2.0, 4.0, 4.0]


def test_ssp_with_a_large_bound_is_async():
    cfg = dict(learners=5, dist="exp", updates=400, seed=7)
    a = simulate(SimConfig(policy="async", **cfg), engine="event")
    s = simulate(SimConfig(policy="ssp", bound=10**6, **cfg))
    assert a.gradients == s.gradients


def test_ssp_bound_holds():
    res = simulate(SimConfig(learners=4, policy="ssp", bound=2, dist="exp", updates=2000, seed=3,
                             speeds=[1, 1, 1, 4]))
    g = res.gradients
    # at each read of gradient j (0-based) of a learner, the slowest had >= j - s gradients received
    clocks = np.zeros(4, dtype=int)
    reads = sorted((g.read_time[r], g.learner[r], g.index[r]) for r in range(len(g)))
    pushes = sorted((g.push_time[r], g.learner[r]) for r in range(len(g)))
    n = 0
    for t, _i, j in reads:
        while n < len(pushes) and pushes[n][0] <= t:
            clocks[pushes[n][1]] += 1
            n += 1
        assert j - clocks.min() <= 2
    assert res.summary.max_staleness < simulate(SimConfig(learners=4, policy="async", dist="exp", updates=2000,
                                                          seed=3, speeds=[1, 1, 1, 4])).summary.max_staleness


def test_latencies_and_apply_time():
    # P = 1, pull 0.5, push 0.25, apply 0.1, compute 1. Read v0 at 0; compute 0.5..1.5; at the server 1.75;
    # update 1.75..1.85 -> v1. The pull rides on the push: read at 1.75 sees v0 (the update is not done);
    # compute 2.25..3.25; server 3.5; update -> v2 at 3.6, applied on v1: staleness 1.
    res = simulate(SimConfig(times=[[1, 1]], pull_latency=0.5, push_latency=0.25, apply_time=0.1))
    g = res.gradients
    assert res.engine == "event"
    assert res.update_times.tolist() == pytest.approx([1.85, 3.6])
    assert g.read_time.tolist() == [0.0, 1.75] and g.compute_start.tolist() == [0.5, 2.25]
    assert g.push_time.tolist() == [1.75, 3.5]
    assert g.read_version.tolist() == [0, 0] and g.staleness.tolist() == [0, 1]


def test_server_applies_one_update_at_a_time():
    # two learners push at 1; apply 0.5 each: v1 at 1.5, v2 at 2.0 (the second waited in the queue)
    res = simulate(SimConfig(times=[[1], [1]], apply_time=0.5))
    assert res.update_times.tolist() == [1.5, 2.0]
    assert res.gradients.staleness.tolist() == [0, 1]


def test_until_stops_at_the_time():
    res = simulate(SimConfig(times=[[1, 1, 1, 1], [2.5, 2.5]], until=2.5))
    assert res.update_times.tolist() == [1.0, 2.0, 2.5]  # events at exactly 2.5 are included
    assert res.end_time == 2.5
    # L1's third gradient started at 2 and runs past 2.5: 0.5 s in flight; L2 restarted at 2.5: 0
    assert res.inflight_busy.tolist() == [0.5, 0.0]
    assert res.summary.utilisation == (1.0, 1.0)


def test_speeds_divide_compute_times():
    base = simulate(SimConfig(learners=2, dist="exp", updates=50, seed=5))
    fast = simulate(SimConfig(learners=2, dist="exp", updates=50, seed=5, speeds=[2.0, 2.0]))
    assert np.allclose(fast.update_times * 2, base.update_times)


@pytest.mark.parametrize("policy", ["async", "sync", "k-sync", "k-batch-sync", "k-async", "k-batch-async", "ssp"])
def test_same_seed_same_trace(policy):
    cfg = SimConfig(learners=3, policy=policy, k=2 if policy.startswith("k-") else None,
                    bound=1 if policy == "ssp" else None, dist="lognormal", updates=200, seed=11)
    a, b = simulate(cfg), simulate(cfg)
    assert a.gradients == b.gradients and np.array_equal(a.update_times, b.update_times)
    assert a.summary == b.summary
    other = simulate(dataclasses.replace(cfg, seed=12))
    assert not np.array_equal(a.update_times, other.update_times)


def test_injected_generator():
    cfg = SimConfig(learners=3, policy="sync", updates=50)
    a = simulate(cfg, rng=np.random.default_rng(99))
    b = simulate(cfg, rng=np.random.default_rng(99))
    c = simulate(cfg, rng=np.random.default_rng(100))
    assert np.array_equal(a.update_times, b.update_times)
    assert not np.array_equal(a.update_times, c.update_times)


def test_results_are_frozen():
    res = simulate(SimConfig(learners=2, updates=20))
    with pytest.raises(ValueError):
        res.gradients.staleness[0] = 5
    with pytest.raises(AttributeError):
        res.summary = None  # type: ignore[misc]
    with pytest.raises(ValueError):
        res.update_times[0] = 0.0
