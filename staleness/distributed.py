"""A real asynchronous parameter server on ``torch.distributed`` (gloo over 127.0.0.1) that records staleness.

Rank 0 is the server, ranks 1..N are workers, each a separate process. A worker receives
``[stop, version, parameters]``, computes a gradient of a small MLP on its next mini-batch (plus an
optional random delay that stands in for a slower device), and sends ``[read_version, compute_seconds,
loss, gradient]``. The server takes pushes in the order they arrive (``recv`` from any source), applies
each at once (plain SGD: ``w <- w - lr * g``, version + 1) and answers the pusher with the new parameters,
so a worker's read version is the version right after its previous push. After ``pushes`` updates the
server answers every later push with stop and records it as discarded.

For every gradient the server records the worker, its read version, the version before its update
(``staleness = version_before_apply - read_version``), arrival time and the worker's compute time. These
are the quantities of :mod:`staleness`'s simulator, so the measured run can be replayed there
(:func:`compare_with_simulator`): with each worker's measured push intervals as traces the simulator must
give the same staleness sequence, and with those times resampled i.i.d. it gives the steady-state
distribution the run should follow if the workers' times were independent.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x, y = rng.normal(size=(64, 8)).astype(np.float32), rng.integers(0, 3, 64)
>>> run = run_parameter_server(x, y, workers=2, pushes=20, delay_mean=0.002, timeout=60)
>>> int(run.applied.sum()), sorted(set(run.worker.tolist()))
(20, [0, 1])
"""

from __future__ import annotations

import math
import os
import socket
import tempfile
import time
from dataclasses import dataclass

import numpy as np

__all__ = ["DistributedRun", "SimulatorComparison", "run_parameter_server", "compare_with_simulator",
           "distributed_table", "distributed_json", "plot_distributed"]


@dataclass(frozen=True)
class DistributedRun:
    """Per-gradient records of a real run, in the order the server received them (read-only arrays).

    ``worker`` (0-based), ``read_version``, ``version_before_apply`` (for a discarded push: the final
    version), ``staleness``, ``applied``, ``arrival_time`` (seconds since the server sent the initial
    parameters), ``compute_time`` (seconds the worker spent on the gradient, delay included) and ``loss``
    (its mini-batch loss). ``final_loss`` is the loss of the final parameters on the whole data.
    """

    workers: int
    pushes: int
    lr: float
    batch_size: int
    delay_mean: float
    seed: int
    worker: np.ndarray
    read_version: np.ndarray
    version_before_apply: np.ndarray
    staleness: np.ndarray
    applied: np.ndarray
    arrival_time: np.ndarray
    compute_time: np.ndarray
    loss: np.ndarray
    initial_loss: float
    final_loss: float
    wall_seconds: float

    def intervals(self) -> list[list[float]]:
        """Per worker, the time between consecutive pushes as the server saw them (first: since start)."""
        out = []
        for w in range(self.workers):
            t = self.arrival_time[self.worker == w]
            out.append(np.diff(np.concatenate([[0.0], t])).tolist())
        return out


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _model(d_in: int, classes: int, hidden: int):
    import torch

    return torch.nn.Sequential(torch.nn.Linear(d_in, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, classes))


def _process(rank: int, world: int, port: int, x, y, settings: dict, out_path: str, counter) -> None:
    import datetime

    import torch
    import torch.distributed as dist
    from torch.nn import functional as F
    from torch.nn.utils import parameters_to_vector, vector_to_parameters

    torch.set_num_threads(1)
    torch.manual_seed(settings["seed"])
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=settings["timeout"]))
    xs, ys = torch.from_numpy(x.reshape(len(x), -1)), torch.from_numpy(y)
    model = _model(xs.shape[1], settings["classes"], settings["hidden"])
    params = list(model.parameters())
    n = parameters_to_vector(params).numel()
    try:
        if rank == 0:
            _server(dist, model, params, n, xs, ys, world - 1, settings, out_path, counter)
        else:
            _worker(dist, F, model, params, n, xs, ys, rank, settings, vector_to_parameters)
    finally:
        dist.destroy_process_group()


def _server(dist, model, params, n, xs, ys, workers, settings, out_path, counter) -> None:
    import torch
    from torch.nn import functional as F
    from torch.nn.utils import parameters_to_vector, vector_to_parameters

    w = parameters_to_vector(params).detach().clone()
    with torch.no_grad():
        initial = float(F.cross_entropy(model(xs), ys))
    version = 0
    msg = torch.empty(3 + n)
    rec = []
    t0 = time.perf_counter()
    for r in range(1, workers + 1):
        dist.send(torch.cat([torch.tensor([0.0, 0.0]), w]), dst=r)
    active = set(range(1, workers + 1))
    applied = 0
    while active:
        src = dist.recv(msg)
        now = time.perf_counter() - t0
        read_v, ctime, loss = int(msg[0]), float(msg[1]), float(msg[2])
        if applied < settings["pushes"]:
            rec.append((src - 1, read_v, version, True, now, ctime, loss))
            w -= settings["lr"] * msg[3:]
            version += 1
            applied += 1
            counter.value = applied  # read by the parent's progress bar
        else:
            rec.append((src - 1, read_v, version, False, now, ctime, loss))
        stop = applied >= settings["pushes"]
        dist.send(torch.cat([torch.tensor([1.0 if stop else 0.0, float(version)]), w]), dst=src)
        if stop:
            active.discard(src)
    vector_to_parameters(w, params)
    with torch.no_grad():
        final = float(F.cross_entropy(model(xs), ys))
    cols = list(zip(*rec, strict=True))
    np.savez(out_path, worker=np.array(cols[0]), read_version=np.array(cols[1]),
             version_before_apply=np.array(cols[2]), applied=np.array(cols[3]), arrival_time=np.array(cols[4]),
             compute_time=np.array(cols[5]), loss=np.array(cols[6]), initial_loss=initial, final_loss=final)


def _worker(dist, F, model, params, n, xs, ys, rank, settings, vector_to_parameters) -> None:
    import torch

    rng = np.random.default_rng([settings["seed"], rank])
    gen = torch.Generator().manual_seed(settings["seed"] * 1_000_003 + rank)
    msg = torch.empty(2 + n)
    pending: list = []
    while True:
        dist.recv(msg, src=0)
        if msg[0] > 0:
            return
        start = time.perf_counter()
        vector_to_parameters(msg[2:], params)
        if not pending:
            pending = list(torch.split(torch.randperm(len(ys), generator=gen), settings["batch_size"]))
        idx = pending.pop()
        model.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xs[idx]), ys[idx])
        loss.backward()
        grad = torch.cat([p.grad.reshape(-1) for p in params])
        if settings["delay_mean"] > 0:
            time.sleep(float(rng.exponential(settings["delay_mean"])))
        ctime = time.perf_counter() - start
        dist.send(torch.cat([torch.tensor([msg[1], ctime, float(loss.detach())]), grad]), dst=0)


def run_parameter_server(x: np.ndarray, y: np.ndarray, *, workers: int = 3, pushes: int = 300, lr: float = 0.05,
                         batch_size: int = 32, hidden: int = 32, delay_mean: float = 0.005, seed: int = 0,
                         timeout: float = 60.0, show_progress: bool | None = None) -> DistributedRun:
    """Run the parameter server with ``workers`` worker processes until ``pushes`` updates are applied.

    Parameters
    ----------
    x, y : numpy.ndarray
        Training inputs (any shape, flattened per sample) and integer labels.
    workers : int
        Worker processes (>= 1); the server is one more process.
    pushes : int
        Server updates to apply.
    delay_mean : float
        Mean of an exponential delay each worker adds to every gradient (seconds; 0 = none), so compute
        times vary as on a shared cluster and dominate the loopback communication.
    timeout : float
        Seconds before the run is abandoned (processes are killed, ``RuntimeError``); never hangs.
    show_progress : bool, optional
        A rich progress bar of applied updates on stderr (default: when stderr is a terminal).
    """
    import torch.multiprocessing as mp

    from dlperf.progress import progress

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"--workers: got {workers!r}; give an integer >= 1")
    if isinstance(pushes, bool) or not isinstance(pushes, int) or pushes < 1:
        raise ValueError(f"--pushes: got {pushes!r}; give an integer >= 1")
    for name, value in (("--lr", lr), ("--timeout", timeout)):
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name}: got {value!r}; give a finite number > 0")
    if not (isinstance(delay_mean, int | float) and math.isfinite(delay_mean) and delay_mean >= 0):
        raise ValueError(f"--delay: got {delay_mean!r}; give a finite number >= 0 (seconds)")
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.ascontiguousarray(y, dtype=np.int64)
    if len(x) != len(y) or len(y) == 0:
        raise ValueError(f"x/y: got {len(x)} inputs and {len(y)} labels; give equal, non-zero counts")
    settings = {"pushes": pushes, "lr": float(lr), "batch_size": int(batch_size), "hidden": int(hidden),
                "delay_mean": float(delay_mean), "seed": int(seed), "timeout": float(timeout),
                "classes": int(y.max()) + 1}
    ctx = mp.get_context("spawn")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out_path = os.path.join(tmp, "server.npz")
        port = _free_port()
        counter = ctx.Value("i", 0)
        procs = [ctx.Process(target=_process, args=(r, workers + 1, port, x, y, settings, out_path, counter),
                             daemon=True) for r in range(workers + 1)]
        for p in procs:
            p.start()
        deadline = started + timeout
        try:
            with progress(pushes, f"parameter server, {workers} workers", show_progress) as bar:
                shown = 0
                while any(p.is_alive() for p in procs) and time.perf_counter() < deadline:
                    procs[0].join(0.1)
                    bar.advance(counter.value - shown)
                    shown = counter.value
                    if procs[0].exitcode not in (None, 0):  # the server failed: do not wait for workers
                        break
            for p in procs:
                p.join(max(0.0, min(5.0, deadline - time.perf_counter())))
        finally:
            alive = [p for p in procs if p.is_alive()]
            for p in alive:
                p.kill()
                p.join(5)
        if alive:
            raise RuntimeError(f"distributed run: {len(alive)} process(es) still running after {timeout:g} s; "
                               "killed them (raise --timeout on a slow machine)")
        bad = [p.exitcode for p in procs if p.exitcode != 0]
        if bad or not os.path.exists(out_path):
            raise RuntimeError(f"distributed run: process exit codes {[p.exitcode for p in procs]}; see stderr")
        with np.load(out_path) as z:
            data = {k: z[k] for k in z.files}
    wall = time.perf_counter() - started
    cols = {"worker": data["worker"].astype(np.int64), "read_version": data["read_version"].astype(np.int64),
            "version_before_apply": data["version_before_apply"].astype(np.int64)}
    cols["staleness"] = cols["version_before_apply"] - cols["read_version"]
    cols["applied"] = data["applied"].astype(bool)
    for k in ("arrival_time", "compute_time", "loss"):
        cols[k] = data[k].astype(float)
    for a in cols.values():
        a.setflags(write=False)
    return DistributedRun(workers, pushes, float(lr), int(batch_size), float(delay_mean), int(seed), **cols,
                          initial_loss=float(data["initial_loss"]), final_loss=float(data["final_loss"]),
                          wall_seconds=wall)


@dataclass(frozen=True)
class SimulatorComparison:
    """Measured staleness against the simulator.

    ``replay_staleness``: the simulator fed each worker's measured push intervals as traces (the same
    push order, so it should reproduce the measured sequence); ``replay_matches`` is the fraction of
    applied gradients whose staleness it reproduces.

    The distribution model: each worker's compute times (read to push, as the zero-latency simulator
    defines them) resampled i.i.d. from its own measured push intervals, which hold the gradient, the
    delay and the loopback communication. ``simulated_hist`` / ``simulated_mean`` come from a long run of it (``simulated_updates``, warm-up
    dropped); ``measured_hist`` are the probabilities of staleness 0, 1, ... in the real run;
    ``total_variation`` is half their L1 distance and ``tv_noise_p99`` the 99th percentile of that
    distance for 30 simulated runs as short as the real one (sampling noise alone). ``theory_mean`` is
    P - 1, the steady-state mean for any compute-time distribution; ``lost_staleness`` is the staleness
    the discarded in-flight pushes had gathered at the stop, so that exactly
    ``sum(measured staleness) + lost_staleness == (P - 1) * pushes``.
    """

    measured_mean: float
    replay_staleness: np.ndarray
    replay_matches: float
    simulated_mean: float
    measured_hist: np.ndarray
    simulated_hist: np.ndarray
    total_variation: float
    tv_noise_p99: float
    theory_mean: float
    lost_staleness: int
    simulated_updates: int


def _hist(stale: np.ndarray, size: int) -> np.ndarray:
    h = np.bincount(stale, minlength=size).astype(float)[:size]
    return h / max(1.0, h.sum())


def _tv(a: np.ndarray, b: np.ndarray) -> float:
    size = max(len(a), len(b))
    return float(0.5 * np.abs(np.pad(a, (0, size - len(a))) - np.pad(b, (0, size - len(b)))).sum())


def compare_with_simulator(run: DistributedRun, *, updates: int = 20_000, seed: int = 0) -> SimulatorComparison:
    """Replay ``run`` in :func:`staleness.simulate` (async policy; see :class:`SimulatorComparison`)."""
    from staleness import SimConfig, simulate

    traces = run.intervals()
    replay = simulate(SimConfig(times=traces, policy="async", updates=run.pushes, tie_break="fifo"))
    rg = replay.gradients
    measured = run.staleness[run.applied]
    ours = rg.staleness[rg.applied]
    m = min(len(measured), len(ours))
    matches = float(np.mean(measured[:m] == ours[:m])) if m else math.nan
    # A worker's "compute time" in the zero-latency simulator is everything between its read (the
    # server's reply) and its push: the measured push interval (gradient, delay, loopback both ways).
    pools = [np.asarray(t[1:] if len(t) > 1 else t) for t in traces]
    rng = np.random.default_rng(seed)

    def model_run(n: int):
        draws = [rng.choice(pool, size=n).tolist() for pool in pools]  # n each: no trace runs out first
        res = simulate(SimConfig(times=draws, policy="async", updates=n))
        return res.gradients, res.summary.warmup_updates

    lg, warm = model_run(updates)
    sim_stale = lg.staleness[lg.applied & (lg.update > warm)]
    size = int(max(measured.max(initial=0), sim_stale.max(initial=0))) + 1
    mh, sh = _hist(measured, size), _hist(sim_stale, size)
    noise = []
    for _ in range(30):
        sg, _warm = model_run(run.pushes)
        short = sg.staleness[sg.applied]
        noise.append(_tv(_hist(short, int(short.max(initial=0)) + 1), sh))
    lost = int(run.staleness[~run.applied].sum())
    for a in (ours, mh, sh):
        a.setflags(write=False)
    return SimulatorComparison(float(measured.mean()), ours.copy(), matches, float(sim_stale.mean()), mh, sh,
                               _tv(mh, sh), float(np.percentile(noise, 99)), float(run.workers - 1), lost,
                               int(updates))


def distributed_table(run: DistributedRun, cmp: SimulatorComparison):
    """A rich Table: staleness probabilities measured and simulated, then the summary figures."""
    from rich.table import Table

    table = Table(title=f"Async parameter server: {run.workers} workers, {run.pushes} updates, "
                        f"{run.wall_seconds:.1f} s")
    table.add_column("staleness", justify="right")
    table.add_column("measured", justify="right")
    table.add_column("simulated", justify="right")
    shown = np.flatnonzero((cmp.measured_hist >= 0.0005) | (cmp.simulated_hist >= 0.0005))
    last = int(shown.max(initial=0))
    for s in range(last + 1):
        table.add_row(str(s), f"{cmp.measured_hist[s]:.3f}", f"{cmp.simulated_hist[s]:.3f}")
    if last + 1 < len(cmp.measured_hist):
        table.add_row(f"> {last}", f"{cmp.measured_hist[last + 1:].sum():.3f}",
                      f"{cmp.simulated_hist[last + 1:].sum():.3f}")
    table.add_row("mean", f"{cmp.measured_mean:.3f}", f"{cmp.simulated_mean:.3f}")
    table.add_row("theory (P - 1)", f"{cmp.theory_mean:g}", f"{cmp.theory_mean:g}")
    table.add_row("total variation", "", f"{cmp.total_variation:.3f}")
    table.add_row("  noise p99 at this length", "", f"{cmp.tv_noise_p99:.3f}")
    table.add_row("replay agrees", "", f"{100 * cmp.replay_matches:.1f} %")
    table.add_row("loss", f"{run.initial_loss:.4f} -> {run.final_loss:.4f}", "")
    return table


def distributed_json(run: DistributedRun, cmp: SimulatorComparison) -> str:
    """JSON text: settings, per-gradient records, and the comparison with the simulator."""
    from dlperf.jsonio import json_text

    return json_text({
        "backend": "distributed", "workers": run.workers, "pushes": run.pushes, "lr": run.lr,
        "batch_size": run.batch_size, "delay_mean": run.delay_mean, "seed": run.seed,
        "wall_seconds": run.wall_seconds, "initial_loss": run.initial_loss, "final_loss": run.final_loss,
        "records": {k: getattr(run, k).tolist() for k in ("worker", "read_version", "version_before_apply",
                                                         "staleness", "applied", "arrival_time", "compute_time",
                                                         "loss")},
        "measured_mean": cmp.measured_mean, "simulated_mean": cmp.simulated_mean, "theory_mean": cmp.theory_mean,
        "measured_hist": cmp.measured_hist.tolist(), "simulated_hist": cmp.simulated_hist.tolist(),
        "total_variation": cmp.total_variation, "tv_noise_p99": cmp.tv_noise_p99,
        "replay_matches": cmp.replay_matches, "lost_staleness": cmp.lost_staleness,
    })


def plot_distributed(run: DistributedRun, cmp: SimulatorComparison, path) -> None:
    """Save the measured and simulated staleness distributions and the compute-time histogram as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from dlperf.fileio import save_figure

    fig = Figure(figsize=(10, 3.6))
    ax_s, ax_t = fig.subplots(1, 2)
    s = np.arange(len(cmp.measured_hist))
    ax_s.bar(s - 0.2, cmp.measured_hist, width=0.4, label=f"measured (mean {cmp.measured_mean:.2f})")
    ax_s.bar(s + 0.2, cmp.simulated_hist, width=0.4, label=f"simulator (mean {cmp.simulated_mean:.2f})")
    nonzero = np.flatnonzero((cmp.measured_hist > 0.001) | (cmp.simulated_hist > 0.001))
    ax_s.set_xlim(-0.6, int(nonzero.max(initial=0)) + 0.6)
    ax_s.xaxis.get_major_locator().set_params(integer=True)
    ax_s.set_xlabel("staleness (updates between read and apply)")
    ax_s.set_ylabel("probability")
    ax_s.set_title(f"{run.workers} workers, theory mean P - 1 = {cmp.theory_mean:g}")
    ax_s.legend(fontsize=8)
    for w, iv in enumerate(run.intervals()):
        ax_t.hist(1000 * np.asarray(iv), bins=30, histtype="step", label=f"worker {w + 1}")
    ax_t.set_xlabel("interval between a worker's pushes (ms)")
    ax_t.set_ylabel("count")
    ax_t.set_title("measured compute + communication times")
    ax_t.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
