"""Stale-gradient training: the replay against a hand-written schedule (the classic two-learner exercise),
and the real torch.distributed parameter server against exact identities and the simulator."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mlcore.images import load_images  # noqa: E402
from mlcore.models import mlp  # noqa: E402
from mlcore.stale_training import compare_policies, default_sim_time, stale_training  # noqa: E402
from staleness import SimConfig, simulate  # noqa: E402
from tests.strategies import staleness_traces  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]



@pytest.fixture(scope="module")
def small():
    return load_images("digits", subset=100, seed=0)  # 80 training + 20 validation images


def _loss_and_grad(w, data):
    from torch.nn import functional as F
    from torch.nn.utils import vector_to_parameters

    torch.manual_seed(0)
    net = mlp(data.input_shape, 10)
    params = list(net.parameters())
    vector_to_parameters(w, params)
    x, y = torch.tensor(np.array(data.train_x)), torch.tensor(np.array(data.train_y))
    loss = F.cross_entropy(net(x), y)
    grads = torch.autograd.grad(loss, params)
    return float(loss.detach()), torch.cat([g.reshape(-1) for g in grads]).detach()


@pytest.mark.parametrize("rule", ["constant", "staleness-aware"])
def test_replay_of_the_two_learner_exercise(small, rule):
    # Exercise 1 of the staleness references: learner 1 pushes at t = 1, 2, 3, 4 and learner 2 at 2.5, 5.
    # Apply order and (read version -> update): g[L1,1] 0->1, g[L1,2] 1->2, g[L2,1] 0->3 (tau 2),
    # g[L1,3] 2->4 (tau 1), g[L1,4] 4->5 (tau 0), g[L2,2] 3->6 (tau 2).
    # With full-batch gradients (batch = all 80 images) the mini-batch order cannot matter, so
    # w_v = w_{v-1} - lr * s(tau) * grad(w_read) can be written out by hand; s = 1 or 1 / max(1, tau).
    from torch.nn.utils import parameters_to_vector

    lr = 0.5
    res = stale_training(small, times=[[1, 1, 1, 1], [2.5, 2.5]], batch_size=80, lr=lr, lr_rule=rule,
                         evaluations=6, device="cpu", show_progress=False)
    assert res.staleness.tolist() == [0, 0, 2, 1, 0, 2]
    assert res.times.tolist() == [1.0, 2.0, 2.5, 3.0, 4.0, 5.0]
    torch.manual_seed(0)
    w = [parameters_to_vector(mlp(small.input_shape, 10).parameters()).detach()]

    def s(tau):
        return 1.0 / max(1, tau) if rule == "staleness-aware" else 1.0

    for read, tau in ((0, 0), (1, 0), (0, 2), (2, 1), (4, 0), (3, 2)):
        w.append(w[-1] - lr * s(tau) * _loss_and_grad(w[read], small)[1])
    expected = [_loss_and_grad(v, small)[0] for v in w]
    assert res.eval_updates.tolist() == [0, 1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose(res.train_loss, expected, rtol=2e-5)


def test_replay_follows_the_simulator_for_every_policy(small):
    for policy, k in (("k-sync", 2), ("k-batch-async", 2), ("ssp", None)):
        extra = {"bound": 1} if policy == "ssp" else {}
        res = stale_training(small, policy=policy, k=k, learners=3, sim_time=6.0, evaluations=2, device="cpu",
                             show_progress=False, **extra)
        sim = simulate(SimConfig(learners=3, policy=policy, k=k, until=6.0, seed=0, **extra))
        g = sim.gradients
        assert res.updates == len(sim.update_times)
        assert res.gradients_applied == int(g.applied.sum()) and res.gradients_discarded == int((~g.applied).sum())
        np.testing.assert_array_equal(res.staleness, g.staleness[g.applied])
        assert np.all(np.isfinite(res.batch_loss))


@settings(max_examples=12)
@given(traces=staleness_traces(max_learners=3, max_len=4), policy=st.sampled_from(["async", "sync", "k-async"]))
def test_replay_uses_the_simulated_schedule_on_any_trace(small, traces, policy):
    k = 1 if policy == "k-async" else None
    res = stale_training(small, times=traces, policy=policy, k=k, evaluations=2, device="cpu", show_progress=False)
    sim = simulate(SimConfig(times=traces, policy=policy, k=k))
    g = sim.gradients
    assert res.updates == len(sim.update_times) == len(res.times) == len(res.batch_loss)
    np.testing.assert_array_equal(res.staleness, g.staleness[g.applied])
    # every update's mean mini-batch loss is a real cross-entropy (>= 0), and the curve starts at update 0
    assert np.all(res.batch_loss >= 0) and res.eval_updates[0] == 0 and res.eval_updates[-1] == res.updates


def test_sync_makes_fresh_updates_and_async_waits_less(small):
    cmp = compare_policies(small, learners=4, sim_time=12.0, evaluations=2, device="cpu", show_progress=False)
    again = compare_policies(small, learners=4, sim_time=12.0, evaluations=2, device="cpu", show_progress=False)
    assert [r.train_loss.tolist() for r in cmp.runs] == [r.train_loss.tolist() for r in again.runs]
    sync, asyn, ksync, aware = cmp.runs
    assert sync.mean_staleness == 0 and ksync.mean_staleness == 0
    # async makes one update per push: about P / E[X] = 4 per second; sync about 1 / H_4 = 0.48 per second
    assert asyn.updates > 3 * sync.updates
    assert aware.lr_rule == "staleness-aware" and aware.staleness.tolist() == asyn.staleness.tolist()
    # 80 images / 32 = 3 steps per epoch; 10 epochs * 3 * 1.0 / 4 learners = 7.5 simulated seconds
    assert default_sim_time(small, epochs=10, batch_size=32, learners=4) == 7.5


def test_stale_training_bad_arguments(small):
    with pytest.raises(ValueError, match="^lr_rule: got 'adaptive'"):
        stale_training(small, lr_rule="adaptive")
    with pytest.raises(ValueError, match="policy: got .hogwild."):
        stale_training(small, policy="hogwild", sim_time=1.0)
    with pytest.raises(ValueError, match="^model: got 'resnet'"):
        stale_training(small, model="resnet", sim_time=1.0, device="cpu")


@pytest.mark.slow
def test_distributed_parameter_server_agrees_with_the_simulator():
    from staleness.distributed import compare_with_simulator, run_parameter_server

    data = load_images("digits", subset=400, seed=0)
    workers, pushes = 3, 240
    # a 20 ms delay keeps the workers mostly asleep, so they stay independent on a busy 2-core host
    # (at 4 ms one run in six with 4 workers fell into lockstep: Kolmogorov distance 0.27, see below)
    run = run_parameter_server(data.train_x, data.train_y, workers=workers, pushes=pushes, delay_mean=0.02,
                               timeout=90, seed=0)
    applied = run.applied
    assert int(applied.sum()) == pushes and int((~applied).sum()) == workers - 1
    assert sorted(set(run.worker.tolist())) == [0, 1, 2]
    # Versions as the server recorded them: the k-th applied push saw version k - 1 before its update,
    # and a read version is never ahead of it.
    assert run.version_before_apply[applied].tolist() == list(range(pushes))
    assert np.all(run.staleness >= 0)
    cmp = compare_with_simulator(run, updates=10_000)
    # Exact identity (no tolerance): each applied push lies inside exactly one open interval of each of the
    # P - 1 other workers, which ends either in an applied push (counted in its staleness) or in the push
    # discarded at the stop (counted in lost_staleness), so the total is (P - 1) * pushes.
    assert int(run.staleness[applied].sum()) + cmp.lost_staleness == (workers - 1) * pushes
    # Replaying the measured push intervals reproduces the push order, and a worker reads the version
    # produced by its own previous push in both, so the simulator's staleness sequence is the measured one.
    assert cmp.replay_matches == 1.0
    # Distribution-free theory: steady-state mean P - 1 = 2. By the same identity the simulator's window mean
    # differs from 2 only through gradients cut at the window's two edges: a few dozen staleness units
    # spread over the ~9,000 updates of the window (< 0.01), so 0.1 is generous.
    assert abs(cmp.simulated_mean - 2) < 0.1
    # The measured mean is P - 1 minus the lost staleness spread over the pushes (the identity above).
    assert cmp.measured_mean == pytest.approx(2 - cmp.lost_staleness / pushes)
    # Shape: i.i.d. resampled push intervals against the real run, in Kolmogorov distance, within the
    # two-sample DKW bound at 99.9 %: sqrt(ln(4000) / (2 * 240)) = 0.1315 for the 240 pushes, plus
    # sqrt(ln(4000) / (2 m)) ~ 0.02 for the m ~ 9,000 simulated ones (fixed seed 0 for the resampling).
    m = cmp.simulated_values
    assert 9000 <= m <= 10_000 and cmp.confidence == 0.999
    assert cmp.ks_bound == pytest.approx(math.sqrt(math.log(4000) / 480) + math.sqrt(math.log(4000) / (2 * m)))
    assert cmp.ks_distance <= cmp.ks_bound, (cmp.ks_distance, cmp.ks_bound, cmp.measured_hist, cmp.simulated_hist)
    # DKW assumes independent draws; staleness values are not, but the same distance for 30 simulated runs
    # this short (the model's own noise) stays inside the bound.
    assert cmp.ks_noise_p99 <= cmp.ks_bound
    # Times: start-up (spawn, imports, rendezvous, model) and exchange apart, and both inside the call;
    # the exchange ends after the last push arrived (arrival times count from the exchange's start).
    assert run.startup_seconds > 0 and run.startup_seconds + run.exchange_seconds <= run.wall_seconds
    assert run.arrival_time.max() <= run.exchange_seconds < run.arrival_time.max() + 1.0
    assert run.final_loss < run.initial_loss


def test_distributed_bad_arguments_and_timeout():
    from staleness.distributed import run_parameter_server

    x, y = np.zeros((4, 3), np.float32), np.zeros(4, np.int64)
    with pytest.raises(ValueError, match="^workers: got 0"):
        run_parameter_server(x, y, workers=0)
    with pytest.raises(ValueError, match="^delay_mean: got -1"):
        run_parameter_server(x, y, delay_mean=-1)
    with pytest.raises(ValueError, match="x/y"):
        run_parameter_server(x, y[:2])


def test_a_run_with_no_update_is_warned_and_shown_as_undefined(small):
    # found by tests/test_cli_fuzz.py (staleness train --subset 64 --epochs 1): in 0.05 simulated seconds no
    # learner finishes (P(an exp(1) time <= 0.05) = 4.9 %, and seed 0 draws none), so no update is applied: the
    # mean staleness of no gradient is undefined and the table printed "nan" without a word
    import io

    from rich.console import Console

    from mlcore.stale_training import comparison_table

    with pytest.warns(UserWarning, match=r"^1 of 1 runs: no update in 0.05 s; raise sim_time or epochs$"):
        cmp = compare_policies(small, runs=(("async", None, "constant"),), learners=2, sim_time=0.05, device="cpu",
                               seed=0)
    run = cmp.runs[0]
    assert run.updates == 0 and math.isnan(run.mean_staleness)
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(comparison_table(cmp))
    row = next(line for line in console.export_text().splitlines() if line.startswith("│ async"))
    assert "nan" not in row and "│        - │" in row
