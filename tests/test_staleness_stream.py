"""Streaming runs: identical to runs kept in memory, chunked vectorised paths equal to the event engine,
the on-the-fly summary equal to one computed from every record with numpy, memory O(chunk)."""

import csv
import io
import math
import tracemalloc
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import STALENESS_DISTS, staleness_async_configs

from staleness import SimConfig, simulate
from staleness.estimate import check, estimate
from staleness.records import CsvRecords, read_records
from staleness.render import histogram_bins
from staleness.theory import HARMONIC_EXACT_MAX, harmonic_asymptotic, theory

POLICY_KW = [("async", {}), ("sync", {}), ("k-sync", {"k": 2}), ("k-batch-sync", {"k": 2}),
             ("k-async", {"k": 2}), ("k-batch-async", {"k": 3}), ("ssp", {"bound": 1})]


def same_run(a, b):
    assert a.gradients == b.gradients
    assert np.array_equal(a.update_times, b.update_times)
    assert a.end_time == b.end_time and np.array_equal(a.inflight_busy, b.inflight_busy)
    assert a.summary.to_dict() == b.summary.to_dict()


@pytest.mark.parametrize("policy, kw", POLICY_KW)
@pytest.mark.parametrize("stop", [{"updates": 400}, {"until": 60.0}])
def test_streamed_summary_equals_kept_for_every_policy(policy, kw, stop):
    for latency in (0.0, 0.1):
        cfg = SimConfig(learners=5, policy=policy, speeds=[1, 1, 2, 0.5, 1], seed=7, push_latency=latency,
                        **kw, **stop)
        kept = simulate(cfg)
        for chunk in (1, 13, 1 << 16):
            streamed = simulate(cfg, stream=True, chunk=chunk)
            assert streamed.gradients is None and streamed.engine == kept.engine
            assert streamed.summary.to_dict() == kept.summary.to_dict()  # every field, floats bit for bit
            same_run(kept, simulate(cfg, chunk=chunk))  # kept in blocks of `chunk`: the same records


@settings(max_examples=150, deadline=None)
@given(staleness_async_configs(), st.sampled_from([1, 2, 5, 64]))
def test_chunked_vectorised_equals_event_engine(cfg, chunk):
    event = simulate(cfg, engine="event")
    fast = simulate(cfg, chunk=chunk)
    same_run(event, fast)
    assert simulate(cfg, chunk=chunk, stream=True).summary.to_dict() == event.summary.to_dict()  # NaN as None


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(POLICY_KW), st.integers(1, 5), st.integers(0, 10**6), st.sampled_from(STALENESS_DISTS),
       st.sampled_from(("fifo", "learner", "random")), st.sampled_from((0.0, 0.2)),
       st.sampled_from([{"updates": 1}, {"updates": 90}, {"until": 0.0}, {"until": 25.0}]), st.integers(1, 40))
def test_every_policy_streamed_and_chunked_equals_kept(policy_kw, p, seed, dist, tie_break, latency, stop, chunk):
    # any policy, with or without latencies (event engine or a vectorised path), stopped by updates or by
    # until (two passes when streamed), cut into blocks of 1..40 records: the same records and summary
    policy, kw = policy_kw
    kw = {k: min(v, p) if k == "k" else v for k, v in kw.items()}
    cfg = SimConfig(learners=p, policy=policy, dist=dist, seed=seed, tie_break=tie_break, push_latency=latency,
                    apply_time=latency / 4, **kw, **stop)
    kept = simulate(cfg)
    same_run(kept, simulate(cfg, chunk=chunk))
    streamed = simulate(cfg, stream=True, chunk=chunk)
    assert streamed.summary.to_dict() == kept.summary.to_dict() and streamed.engine == kept.engine


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(POLICY_KW), st.integers(1, 6), st.integers(0, 50), st.sampled_from(["exp", "constant"]),
       st.sampled_from([1, 3, 100]))
def test_summary_equals_numpy_on_every_record(policy_kw, p, seed, dist, points):
    policy, kw = policy_kw
    kw = {k: min(v, p) if k == "k" else v for k, v in kw.items()}
    res = simulate(SimConfig(learners=p, policy=policy, updates=300, seed=seed, dist=dist, **kw),
                   series_points=points)
    g, s, n = res.gradients, res.summary, len(res.update_times)
    warm = max(math.ceil(n / 10), 10 * p)
    warm = 0 if 2 * warm > n else warm
    win = g.staleness[g.applied & (g.update > warm)]
    assert s.histogram == tuple(np.bincount(win).tolist())
    assert s.mean_staleness == pytest.approx(win.mean(), rel=1e-12)
    assert s.std_staleness == pytest.approx(win.std(), rel=1e-9, abs=1e-12)
    assert s.mean_staleness_all == pytest.approx(g.staleness[g.applied].mean(), rel=1e-12)
    assert s.gradients_applied == int(g.applied.sum()) and s.gradients_discarded == int((~g.applied).sum())
    # series: point i covers updates (every * i, every * (i + 1)]
    every = s.series_every
    assert every == math.ceil(n / points)
    for i, (last, t, m) in enumerate(zip(s.series_update, s.series_time, s.series_mean_staleness, strict=True)):
        sel = g.applied & (g.update > i * every) & (g.update <= last)
        assert last == min((i + 1) * every, n) and t == res.update_times[last - 1]
        assert m == pytest.approx(g.staleness[sel].mean(), rel=1e-12)


def test_streaming_memory_is_bounded_by_the_chunk():
    # 400,000 pushes at P = 16: kept, 12 columns x 8 bytes x 400,000 = 38.4 MB at least; streamed in chunks
    # of 2^14 pushes: the draw buffer (about 35 chunks x 2^14 x 8 bytes = 4.6 MB, twice while refilled) and
    # one chunk's arrays, whatever the length
    cfg = SimConfig(learners=16, updates=400_000, seed=0)
    peaks = {}
    for stream in (False, True):
        tracemalloc.start()
        simulate(cfg, stream=stream, chunk=1 << 14)
        peaks[stream] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks[False] > 38.4e6 and peaks[True] < 14e6, peaks


def test_until_runs_stream_in_memory_bounded_by_the_chunk():
    # until = 25,000 s at P = 16, mean 1 s: about 400,000 pushes. Kept: 12 columns x 8 bytes x 400,000 =
    # 38.4 MB at least. Streamed, the updates are counted first (one learner's draws at a time: 25,000 x
    # 1.1 x 8 bytes = 0.2 MB), then reduced in chunks as a run stopped by `updates` is (< 14 MB above)
    cfg = SimConfig(learners=16, until=25_000.0, seed=0)
    peaks, summaries = {}, {}
    for stream in (False, True):
        tracemalloc.start()
        summaries[stream] = simulate(cfg, stream=stream, chunk=1 << 14).summary
        peaks[stream] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert summaries[True] == summaries[False] and summaries[True].updates > 390_000
    assert peaks[False] > 38.4e6 and peaks[True] < 14e6, peaks


@pytest.mark.parametrize("policy, kw", POLICY_KW)
def test_until_two_passes_see_the_same_draws_from_a_given_generator(policy, kw):
    # the counting pass and the run draw from copies of the caller's generator: the streamed summary
    # equals the kept one, and the generator moves on exactly as one kept run moves it
    cfg = SimConfig(learners=4, policy=policy, until=80.0, **kw)
    kept_rng, streamed_rng = np.random.default_rng(11), np.random.default_rng(11)
    kept = simulate(cfg, rng=kept_rng)
    streamed = simulate(cfg, rng=streamed_rng, stream=True, chunk=5)
    assert streamed.summary == kept.summary and streamed.engine == kept.engine
    assert kept_rng.spawn(1)[0].random() == streamed_rng.spawn(1)[0].random()


def test_until_count_of_async_updates_equals_the_pushes_before_until():
    # the first pass of an async run counts pushes <= until from each learner's running sums; oracle: the
    # kept run's update times (K = 3: one update per 3 pushes, so floor(pushes / 3) updates)
    from staleness.distributions import LearnerStreams
    from staleness.pushes import count_async_updates

    for policy, k in (("async", None), ("k-batch-async", 3)):
        cfg = SimConfig(learners=6, policy=policy, k=k, until=500.0, seed=4, speeds=[1, 2, 1, 0.5, 1, 3])
        kept = simulate(cfg)
        assert count_async_updates(cfg, LearnerStreams(cfg)) == len(kept.update_times) == kept.summary.updates
        assert kept.update_times[-1] <= 500.0 and int((kept.gradients.push_time <= 500.0).sum()) // (k or 1) == len(
            kept.update_times)


def test_requests_that_cannot_finish_are_refused_at_once():
    big = SimConfig(learners=16, updates=10**12)
    assert estimate(big, stream=True).gradients == 10**12  # async: one gradient per update
    # 10^12 x 4.4e-8 s (the reference speed; the tests never calibrate) = 44,000 s = 12 h of CPU
    with pytest.raises(ValueError, match=r"^updates: 1000000000000 gradients take about 12 h of CPU .*or give force$"):
        simulate(big, stream=True)
    with pytest.raises(ValueError, match=r"^learners: .* learners need about .*available"):
        check(SimConfig(learners=10**7, updates=10), stream=True)
    with pytest.raises(ValueError, match="stream the run"):
        check(SimConfig(learners=16, updates=10**11), stream=False)


def test_per_gradient_csv_reads_back_the_records():
    cfg = SimConfig(learners=3, policy="k-sync", k=2, updates=50, seed=2)
    kept = simulate(cfg)
    out = io.StringIO()
    w = CsvRecords(out)
    streamed = simulate(cfg, stream=True, chunk=7, on_block=w.write, records=True)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    g = kept.gradients
    assert w.rows == len(rows) == len(g) and streamed.summary == kept.summary
    for name in ("learner", "index", "read_version", "staleness"):
        assert [int(r[name]) for r in rows] == getattr(g, name).tolist()
    for name in ("read_time", "compute_start", "push_time", "compute_time", "apply_time"):
        assert [float(r[name]) for r in rows] == getattr(g, name).tolist()  # shortest repr reads back exactly
    assert read_records(io.StringIO(out.getvalue())) == g  # with the left-out columns (staleness.records)


@given(st.lists(st.integers(0, 50), min_size=1, max_size=400), st.integers(4, 30))
def test_histogram_bins_partition_the_counts(hist, rows):
    bins = histogram_bins(hist, rows)
    assert len(bins) == len(hist) if len(hist) <= rows else len(bins) <= rows
    assert bins[0][0] == 0 and bins[-1][1] == len(hist) - 1
    assert all(b[0] == a[1] + 1 for a, b in zip(bins, bins[1:], strict=False))
    assert [n for _, _, n in bins] == [sum(hist[a : b + 1]) for a, b, _ in bins]


@pytest.mark.parametrize("n", [HARMONIC_EXACT_MAX + 1, 5000])
def test_harmonic_asymptotic_against_exact_fractions(n):
    exact = sum(Fraction(1, i) for i in range(1, n + 1))
    h, bound = harmonic_asymptotic(n)
    assert abs(Fraction(mpmath.nstr(h, 40)) - exact) <= Fraction(bound) + Fraction(1, 10**35)
    # sync, exponential, mean 1: E[max of n] = H_n; k-sync K = 3: H_n - H_{n-3} = 1/n + 1/(n-1) + 1/(n-2)
    assert theory("sync", n).get("time_per_update").value == pytest.approx(float(exact), rel=1e-15)
    k3 = theory("k-sync", n, 3).get("time_per_update")
    assert k3.exact == "-" and "|error| <=" in k3.condition
    assert k3.value == pytest.approx(float(Fraction(1, n) + Fraction(1, n - 1) + Fraction(1, n - 2)), rel=1e-15)


def test_theory_for_ten_million_learners():
    # async speed-up P H_P with H_P from the expansion; oracle H_n = digamma(n + 1) + gamma (mpmath, 30 digits):
    # H_(10^7) = 16.69531136585985181539...
    with mpmath.workdps(30):
        h = mpmath.digamma(10**7 + 1) + mpmath.euler
    f = theory("async", 10**7).get("speedup_async_over_sync")
    assert f.value == pytest.approx(float(10**7 * h), rel=1e-15)


@pytest.mark.parametrize("tie_break", ["fifo", "random"])
@pytest.mark.parametrize("policy, k", [("async", None), ("k-batch-async", 3)])
def test_many_learners_gather_path_equals_event_engine(policy, k, tie_break):
    # P > 64 takes each chunk from a window per learner (the 1-d gather); small chunks cross many windows
    cfg = SimConfig(learners=80, policy=policy, k=k, updates=3000, seed=5, tie_break=tie_break,
                    speeds=[1.0] * 40 + [2.0] * 40)
    event = simulate(cfg, engine="event")
    same_run(event, simulate(cfg, chunk=300))
    assert simulate(cfg, chunk=300, stream=True).summary == event.summary
