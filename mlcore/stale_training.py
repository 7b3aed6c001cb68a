"""Training with stale gradients replayed from the staleness simulator.

The simulator (``staleness.simulate``) decides, for a given server policy and compute-time distribution,
which parameter version each learner read and which server update used its gradient. This module replays
that schedule on a real model: gradient ``g`` of learner ``i`` is computed on the parameters of version
``read_version[g]`` with learner ``i``'s next mini-batch, and update ``v`` applies the mean of the
gradients the simulator assigned to it::

    w_v = w_{v-1} - lr * mean_g( scale(tau_g) * grad_g ),   scale = 1, or 1 / max(1, tau_g)

the second being the staleness-aware learning rate ``alpha / tau`` of Zhang, Gupta, Lian and Liu
("Staleness-aware async-SGD", IJCAI 2016). Discarded gradients (k-sync stragglers) are never computed. With the small Inception, batch-norm running
statistics are updated by every gradient's forward pass, as if the server kept them.
Every policy runs for the same simulated wall-clock time, so the loss curves against time show the
error-runtime trade-off of Dutta et al. (AISTATS 2018): synchronous SGD makes fewer, fresher updates;
asynchronous SGD makes more, staler ones.

Examples
--------
>>> from mlcore.images import load_images
>>> res = stale_training(load_images(subset=200), policy="async", learners=3, sim_time=8.0, device="cpu",
...                      show_progress=False)
>>> res.updates == len(res.times), round(float(res.mean_staleness), 2)
(True, 1.82)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dlperf.errors import ArgumentError
from dlperf.jsonio import json_text
from dlperf.results import Result
from mlcore.training import MAX_LR, check_positive_float, check_positive_int

if TYPE_CHECKING:  # pragma: no cover
    from mlcore.images import ImageData

__all__ = ["MODELS", "LR_RULES", "StaleTrainingResult", "StaleComparison", "stale_training", "compare_policies",
           "default_sim_time", "comparison_table", "comparison_json", "comparison_figure", "plot_comparison"]

MODELS = ("mlp", "inception")
LR_RULES = ("constant", "staleness-aware")


@dataclass(frozen=True, repr=False)
class StaleTrainingResult(Result):
    """One replayed run.

    Attributes
    ----------
    times : numpy.ndarray
        Simulated time at which version v = 1 .. ``updates`` was produced (``times[v - 1]``).
    batch_loss : numpy.ndarray
        Mean mini-batch loss of the gradients used by update v (as the learners measured it).
    staleness : numpy.ndarray
        Staleness of every applied gradient, in apply order.
    eval_updates, eval_times, train_loss, val_loss, val_acc : numpy.ndarray
        Evaluations of the server's model: after update ``eval_updates[j]`` (0 = the initial model), at
        simulated time ``eval_times[j]``, its loss on the whole training split and loss / accuracy on
        the validation split.
    """

    policy: str
    learners: int
    k: int | None
    lr: float
    lr_rule: str
    sim_time: float
    updates: int
    gradients_applied: int
    gradients_discarded: int
    mean_staleness: float
    times: np.ndarray
    batch_loss: np.ndarray
    staleness: np.ndarray
    eval_updates: np.ndarray
    eval_times: np.ndarray
    train_loss: np.ndarray
    val_loss: np.ndarray
    val_acc: np.ndarray

    @property
    def label(self) -> str:
        """Short name, e.g. ``k-sync (K=2)`` or ``async, alpha/tau``."""
        name = self.policy + (f" (K={self.k})" if self.k is not None and self.policy.startswith("k-") else "")
        return name + (", alpha/tau" if self.lr_rule == "staleness-aware" else "")


def _build(model: str, data: ImageData):
    from mlcore.models import inception_small, mlp

    if model not in MODELS:
        raise ArgumentError("model", model, f"give one of {', '.join(MODELS)}")
    return mlp(data.input_shape, data.num_classes) if model == "mlp" else inception_small(data.input_shape,
                                                                                           data.num_classes)


def default_sim_time(data: ImageData, *, epochs: int, batch_size: int, learners: int, mean: float = 1.0) -> float:
    """Simulated seconds in which asynchronous SGD makes ``epochs`` passes of mini-batches:
    ``epochs * ceil(n_train / batch_size) * mean / learners`` (async makes P / mean updates per second)."""
    steps = math.ceil(len(data.train_y) / check_positive_int("batch_size", batch_size))
    return check_positive_int("epochs", epochs) * steps * mean / check_positive_int("learners", learners)


def _learner_batches(n: int, batch_size: int, seed: int, learner: int):
    """Learner ``learner``'s endless stream of shuffled mini-batches (its own seeded generator)."""
    import torch

    gen = torch.Generator().manual_seed(seed * 1_000_003 + learner + 1)
    while True:
        yield from torch.split(torch.randperm(n, generator=gen), batch_size)


def stale_training(data: ImageData, *, policy: str = "async", learners: int = 4, k: int | None = None,
                   bound: int | None = None, sim_time: float | None = None, epochs: int = 10,
                   batch_size: int = 32, lr: float = 0.1, lr_rule: str = "constant", model: str = "mlp",
                   dist: str = "exp", mean: float = 1.0, seed: int = 0, device: str = "auto",
                   evaluations: int = 50, times=None, show_progress: bool | None = None) -> StaleTrainingResult:
    """Replay ``staleness.simulate`` for ``policy`` on a real model (see the module docstring).

    Parameters
    ----------
    policy, learners, k, bound, dist, mean
        Passed to ``staleness.SimConfig`` (any policy of the staleness package); ``bound`` is used by
        ``ssp`` only, so one set of keywords can serve several policies.
    sim_time : float, optional
        Simulated seconds to run; default :func:`default_sim_time` for ``epochs``.
    lr, lr_rule
        Server learning rate and ``"constant"`` or ``"staleness-aware"`` (``lr / max(1, tau)``).
    model : {"mlp", "inception"}
        The network trained (the MLP keeps the replay fast; the small Inception works too).
    evaluations : int
        Number of evaluations of the server's model spread over the updates (plus the initial one).
    times : list of lists of float, optional
        Compute-time traces per learner instead of ``dist`` (``learners`` follows from them; the run
        ends when they are used up, or at ``sim_time`` if given).
    """
    from dlperf.validate import check_type
    from mlcore.images import ImageData
    check_type("data", data, ImageData, "an ImageData (load_images, or mlcore.user_inputs for your own data)")
    import torch
    from torch.nn import functional as F
    from torch.nn.utils import parameters_to_vector, vector_to_parameters

    from dlperf.progress import progress
    from mlcore.training import deterministic, evaluate, select_device, to_tensors
    from staleness import SimConfig, simulate

    if lr_rule not in LR_RULES:
        raise ArgumentError("lr_rule", lr_rule, f"give one of {', '.join(LR_RULES)}")
    lr = check_positive_float("lr", lr, MAX_LR)
    batch_size = check_positive_int("batch_size", batch_size)
    evaluations = check_positive_int("evaluations", evaluations)
    if times is not None:
        if sim_time is not None:
            sim_time = check_positive_float("sim_time", sim_time)
        cfg = SimConfig(times=times, policy=policy, k=k, bound=bound if policy == "ssp" else None, until=sim_time, seed=seed)
        learners = cfg.learners
    else:
        learners = check_positive_int("learners", learners)
        if sim_time is None:
            sim_time = default_sim_time(data, epochs=epochs, batch_size=batch_size, learners=learners, mean=mean)
        sim_time = check_positive_float("sim_time", sim_time)
        cfg = SimConfig(learners=learners, policy=policy, k=k, bound=bound if policy == "ssp" else None, dist=dist, mean=mean, until=sim_time,
                        seed=seed)
    sim = simulate(cfg)
    if sim_time is None:
        sim_time = float(sim.end_time)
    g = sim.gradients
    n_updates = len(sim.update_times)
    dev = select_device(device)
    applied = np.flatnonzero(g.applied)
    # rows of each update, and the last update that reads each version (to free old versions)
    rows_of = [[] for _ in range(n_updates + 1)]
    for r in applied:
        rows_of[int(g.update[r])].append(int(r))
    last_read = {}
    for r in applied:
        last_read[int(g.read_version[r])] = max(last_read.get(int(g.read_version[r]), 0), int(g.update[r]))
    eval_at = set(np.unique(np.linspace(0, n_updates, evaluations + 1).round().astype(int)).tolist())

    with deterministic(seed):
        t = to_tensors(data, dev)
        net = _build(model, data).to(dev)
        params = list(net.parameters())
        current = parameters_to_vector(params).detach().clone()
        versions = {0: current.clone()}
        streams = [_learner_batches(len(data.train_y), batch_size, seed, i) for i in range(learners)]
        taken = [0] * learners  # mini-batches each learner has drawn so far
        batch_loss = np.zeros(n_updates)
        evals = []

        def record(v: int) -> None:
            vector_to_parameters(current, params)
            tr = evaluate(net, t.train_x, t.train_y)
            va = evaluate(net, t.val_x, t.val_y)
            evals.append((v, float(sim.update_times[v - 1]) if v else 0.0, tr.loss, va.loss, va.accuracy))

        record(0)
        with progress(n_updates, f"replay {cfg.policy}", show_progress) as bar:
            for v in range(1, n_updates + 1):
                step = torch.zeros_like(current)
                losses = []
                for r in rows_of[v]:
                    i, j = int(g.learner[r]), int(g.index[r])
                    while taken[i] <= j:  # skip the batches of discarded gradients too
                        idx = next(streams[i])
                        taken[i] += 1
                    net.train()
                    vector_to_parameters(versions[int(g.read_version[r])], params)
                    net.zero_grad(set_to_none=True)
                    idx = idx.to(dev)
                    loss = F.cross_entropy(net(t.train_x[idx]), t.train_y[idx])
                    loss.backward()
                    grad = torch.cat([p.grad.reshape(-1) for p in params])
                    tau = int(g.staleness[r])
                    step += grad / max(1, tau) if lr_rule == "staleness-aware" else grad
                    losses.append(float(loss.detach()))
                current = current - lr * step / len(rows_of[v])
                batch_loss[v - 1] = float(np.mean(losses))
                versions[v] = current.clone()
                for old in [u for u in versions if u < v and last_read.get(u, -1) <= v]:
                    del versions[old]
                if v in eval_at:
                    record(v)
                bar.advance()
    ev = [np.array(c) for c in zip(*evals, strict=True)]
    stale = g.staleness[applied]
    arrays = [np.asarray(sim.update_times, dtype=float).copy(), batch_loss, stale.copy(),
              ev[0].astype(np.int64), *(c.astype(float) for c in ev[1:])]
    for a in arrays:
        a.setflags(write=False)
    return StaleTrainingResult(cfg.policy, learners, cfg.k, lr, lr_rule, sim_time, n_updates, len(applied),
                               int((~g.applied).sum()), float(stale.mean()) if len(stale) else math.nan, *arrays)


@dataclass(frozen=True, repr=False)
class StaleComparison(Result):
    """Several replayed runs over the same simulated time (``runs[i]`` in the order requested)."""

    runs: tuple[StaleTrainingResult, ...]
    sim_time: float


def compare_policies(data: ImageData, *, runs=(("sync", None, "constant"), ("async", None, "constant"),
                                               ("k-sync", 2, "constant"), ("async", None, "staleness-aware")),
                     learners: int = 4, epochs: int = 10, batch_size: int = 32, sim_time: float | None = None,
                     **kwargs) -> StaleComparison:
    """Replay each ``(policy, k, lr_rule)`` in ``runs`` for the same simulated time.

    Examples
    --------
    >>> from mlcore.images import load_images
    >>> cmp = compare_policies(load_images(subset=100), learners=2, sim_time=3.0, device="cpu",
    ...                        show_progress=False, evaluations=3)
    >>> [r.label for r in cmp.runs]
    ['sync', 'async', 'k-sync (K=2)', 'async, alpha/tau']
    """
    from dlperf.validate import check_type
    from mlcore.images import ImageData
    check_type("data", data, ImageData, "an ImageData (load_images, or mlcore.user_inputs for your own data)")
    if sim_time is None:
        sim_time = default_sim_time(data, epochs=epochs, batch_size=batch_size, learners=learners,
                                    mean=kwargs.get("mean", 1.0))
    out = tuple(stale_training(data, policy=p, k=k, lr_rule=rule, learners=learners, batch_size=batch_size,
                               sim_time=sim_time, **kwargs) for p, k, rule in runs)
    idle = [r.label for r in out if r.updates == 0]
    if idle:  # the losses are the initial model's and the mean staleness is undefined: say so, never a quiet nan
        import warnings

        # short enough for an 80-column terminal after "staleness: warning: "; the table shows which runs (-)
        warnings.warn(f"{len(idle)} of {len(out)} runs: no update in {float(sim_time):g} s; raise sim_time or epochs",
                      stacklevel=2)
    return StaleComparison(out, float(sim_time))


def comparison_table(cmp: StaleComparison):
    """A rich Table, one row per run: updates, gradients, mean staleness, final losses and accuracy."""
    from rich.table import Table

    table = Table(title=f"Stale-gradient training for {cmp.sim_time:g} simulated seconds")
    for name in ("run", "updates", "grads", "dropped", "mean tau", "train loss", "val loss", "val acc %"):
        table.add_column(name, justify="left" if name == "run" else "right", no_wrap=name == "run")
    for r in cmp.runs:
        table.add_row(r.label, str(r.updates), str(r.gradients_applied), str(r.gradients_discarded),
                      "-" if math.isnan(r.mean_staleness) else f"{r.mean_staleness:.3f}", f"{r.train_loss[-1]:.4f}", f"{r.val_loss[-1]:.4f}",
                      f"{100 * r.val_acc[-1]:.2f}")
    return table


def _run_dict(r: StaleTrainingResult) -> dict:
    return {"label": r.label, "policy": r.policy, "learners": r.learners, "k": r.k, "lr": r.lr,
            "lr_rule": r.lr_rule, "updates": r.updates, "gradients_applied": r.gradients_applied,
            "gradients_discarded": r.gradients_discarded, "mean_staleness": r.mean_staleness,
            "eval_updates": r.eval_updates.tolist(), "eval_times": r.eval_times.tolist(),
            "train_loss": r.train_loss.tolist(), "val_loss": r.val_loss.tolist(), "val_acc": r.val_acc.tolist()}


def comparison_json(cmp: StaleComparison) -> str:
    """JSON text: ``sim_time`` and one object per run with its evaluation curve."""
    return json_text({"backend": "simulated", "sim_time": cmp.sim_time, "runs": [_run_dict(r) for r in cmp.runs]})


def comparison_figure(cmp: StaleComparison):
    """Training loss against simulated wall-clock time and against server updates, one line per run, each
    panel with its legend (a matplotlib ``Figure``, not yet saved)."""
    from dlperf.plotting import legend, new_figure

    fig, (ax_t, ax_u) = new_figure(10, 3.6, 1, 2, sharey=True)
    for n, r in enumerate(cmp.runs):
        style = "--" if r.lr_rule == "staleness-aware" else "-"
        ax_t.plot(r.eval_times, r.train_loss, style, color=f"C{n}", label=f"{r.label} ({r.updates} updates)")
        ax_u.plot(r.eval_updates, r.train_loss, style, color=f"C{n}", label=r.label)
    ax_t.set_xlabel("simulated wall-clock time (mean compute time = 1)")
    ax_t.set_ylabel("training loss (whole training split)")
    ax_t.set_title("error against runtime")
    ax_u.set_xlabel("server updates")
    ax_u.set_title("error against updates")
    ax_u.set_xscale("symlog", linthresh=10)
    legend(ax_t, fontsize=8)
    legend(ax_u, fontsize=8)
    return fig


def plot_comparison(cmp: StaleComparison, path) -> None:
    """Save :func:`comparison_figure` to ``path`` (png, pdf or svg)."""
    from dlperf.plotting import save

    save(comparison_figure(cmp), path)
