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

The processes, their heartbeats and what happens when one dies or stops live in
:mod:`staleness.paramserver` (fault model: ``docs/distributed.md``); under ``torchrun`` the same server
runs across machines (:func:`run_parameter_server_rank`).

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
import time
from dataclasses import dataclass

import numpy as np

from dlperf.errors import ArgumentError, ref
from dlperf.results import Result

__all__ = ["DistributedRun", "SimulatorComparison", "run_parameter_server", "run_parameter_server_rank",
           "run_parameter_server_node",
           "compare_with_simulator", "dkw_bound", "distributed_table", "distributed_json", "plot_distributed"]


@dataclass(frozen=True, repr=False)
class DistributedRun(Result):
    """Per-gradient records of a real run, in the order the server received them (read-only arrays).

    ``worker`` (0-based), ``read_version``, ``version_before_apply`` (for a discarded push: the final
    version), ``staleness``, ``applied``, ``arrival_time`` (seconds since the server sent the initial
    parameters), ``compute_time`` (seconds the worker spent on the gradient, delay included) and ``loss``
    (its mini-batch loss). ``final_loss`` is the loss of the final parameters on the whole data.

    Times, the same way in a local and a torchrun launch: ``exchange_seconds`` from the server's first
    send of the parameters until it has stopped every worker (the parameter server at work);
    ``startup_seconds`` from the call (:func:`run_parameter_server` or :func:`run_parameter_server_rank`
    on rank 0) to that first send: starting the processes (local launch), their imports, the rendezvous
    (under torchrun: waiting for every other rank) and building the model; ``wall_seconds`` the whole
    call, teardown included. Under torchrun the processes start (and load the data) before the call: that
    part is torchrun's and in none of these. The two clocks meet through ``time.monotonic()``, which every
    process of one host shares (rank 0 is the server in both launches).
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
    startup_seconds: float = math.nan
    exchange_seconds: float = math.nan

    def intervals(self) -> list[list[float]]:
        """Per worker, the time between consecutive pushes as the server saw them (first: since start)."""
        out = []
        for w in range(self.workers):
            t = self.arrival_time[self.worker == w]
            out.append(np.diff(np.concatenate([[0.0], t])).tolist())
        return out


def _check(workers, pushes, lr, delay_mean, timeout, heartbeat, port) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ArgumentError("workers", workers, "give an integer >= 1")
    if isinstance(pushes, bool) or not isinstance(pushes, int) or pushes < 1:
        raise ArgumentError("pushes", pushes, "give an integer >= 1")
    for name, value in (("lr", lr), ("timeout", timeout)):
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise ArgumentError(name, value, "give a finite number > 0")
    if not (isinstance(delay_mean, int | float) and math.isfinite(delay_mean) and delay_mean >= 0):
        raise ArgumentError("delay_mean", delay_mean, "give a finite number >= 0 (seconds)")
    if not (isinstance(heartbeat, int | float) and math.isfinite(heartbeat) and 0 < heartbeat < timeout):
        raise ArgumentError("heartbeat", heartbeat, f"give seconds > 0 and below {ref('timeout')} ({timeout!r})")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535):
        raise ArgumentError("port", port, "give a TCP port 1..65535, or 0 / None for a free one")


#: Memory one process of a local run takes at least (a Python process that imported torch: ~0.5 GB peak RSS
#: measured here; 0.3 GB keeps the refusal for requests that cannot fit whatever the machine).
PROCESS_BYTES = 300 * 2**20


def check_local_processes(workers: int, available: int | None = None) -> None:
    """Refuse a local run whose ``workers + 1`` processes cannot fit in this machine's memory, before any
    starts (10,000 workers would otherwise start processes for minutes and then fail)."""
    from dlperf.resources import available_memory_bytes

    have = available_memory_bytes() if available is None else available
    need = (workers + 1) * PROCESS_BYTES
    if have is not None and need > have:
        most = max(have // PROCESS_BYTES - 1, 0)
        raise ArgumentError("workers", workers, f"give at most {most} on this machine, or spread them over nodes",
                            what=f"{workers + 1} local processes need at least {need / 2**30:,.1f} GiB "
                            f"({PROCESS_BYTES // 2**20} MiB each) and {have / 2**30:,.1f} GiB are available")


def _settings(x, y, pushes, lr, batch_size, hidden, delay_mean, seed, timeout, heartbeat):
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.ascontiguousarray(y, dtype=np.int64)
    if len(x) != len(y) or len(y) == 0:
        raise ArgumentError(("x", "y"), what=f"got {len(x)} inputs and {len(y)} labels", fix="give equal, non-zero counts")
    return x, y, {"pushes": pushes, "lr": float(lr), "batch_size": int(batch_size), "hidden": int(hidden),
                  "delay_mean": float(delay_mean), "seed": int(seed), "timeout": float(timeout),
                  "heartbeat": float(heartbeat), "classes": int(y.max()) + 1}


def _finish(outcome, workers, pushes, settings, started: float) -> DistributedRun:
    """The run from what the server recorded; a fault is raised with the completed part attached."""
    from staleness.paramserver import ParameterServerFault

    d = outcome.data
    if not d and outcome.fault is not None:  # nothing ran (a rendezvous that did not complete)
        raise ParameterServerFault(f"{outcome.fault}; 0 of {pushes} updates completed", rank=outcome.rank,
                                   interrupted=outcome.interrupted)
    cols = {k: d[k] for k in ("worker", "read_version", "version_before_apply")}
    cols["staleness"] = cols["version_before_apply"] - cols["read_version"]
    for k in ("applied", "arrival_time", "compute_time", "loss"):
        cols[k] = d[k]
    for a in cols.values():
        a.setflags(write=False)
    run = DistributedRun(workers, pushes, settings["lr"], settings["batch_size"], settings["delay_mean"],
                         settings["seed"], **cols, initial_loss=d["initial_loss"], final_loss=d["final_loss"],
                         wall_seconds=time.monotonic() - started, startup_seconds=d["exchange_start"] - started,
                         exchange_seconds=d["exchange_seconds"])
    if outcome.fault is not None:
        done = int(run.applied.sum())
        raise ParameterServerFault(f"{outcome.fault}; {done} of {pushes} updates completed",
                                   rank=outcome.rank, partial=run if len(run.worker) else None,
                                   interrupted=outcome.interrupted)
    return run


def run_parameter_server(x: np.ndarray, y: np.ndarray, *, workers: int = 3, pushes: int = 300, lr: float = 0.05,
                         batch_size: int = 32, hidden: int = 32, delay_mean: float = 0.005, seed: int = 0,
                         timeout: float = 60.0, show_progress: bool | None = None, port: int | None = None,
                         heartbeat: float = 3.0, launch: str = "local", nodes=None) -> DistributedRun:
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
        Seconds before the run is abandoned; never hangs.
    port : int, optional
        Port of the rendezvous store on 127.0.0.1 (default: a free one chosen by the system).
    heartbeat : float
        A process whose heartbeat has not moved for this many seconds counts as stopped (see
        ``docs/distributed.md`` for the fault model).
    launch : {"local", "torchrun", "nodes"}
        ``"local"``: start every process on this machine. ``"torchrun"``: this process is rank 0 of a
        torchrun launch (``workers`` must be ``WORLD_SIZE - 1``; ``port`` is torchrun's); the other ranks
        call :func:`run_parameter_server_rank`. ``"nodes"``: this is node 0 of a launch on several machines
        without torchrun (``nodes``, a :class:`staleness.paramserver.nodes.Nodes`; ``workers`` must be
        ``nodes.world - 1``); the other nodes call :func:`run_parameter_server_node`. Its rendezvous
        waits at most ``timeout`` seconds for every node.

    Raises
    ------
    staleness.paramserver.ParameterServerFault
        A process died, stopped responding, the run timed out or was interrupted: one line naming the
        rank, with ``partial`` holding the gradients recorded before it. Every process is gone by then.
    """
    from dlperf.progress import progress
    from staleness.paramserver.launch import launch_local
    from staleness.paramserver.torchrun import run_torchrun_rank, torchrun_rank

    _check(workers, pushes, lr, delay_mean, timeout, heartbeat, port)
    if launch not in ("local", "torchrun", "nodes"):
        raise ArgumentError("launch", launch, "give 'local', 'torchrun' or 'nodes'")
    if launch == "local":
        check_local_processes(workers)
    if launch == "nodes" and (nodes is None or nodes.node_rank != 0 or nodes.world != workers + 1 or port):
        raise ArgumentError("nodes", nodes, "give node 0's Nodes of workers + 1 processes in all, port None (the "
                            "master port is in nodes)", what=f"got {nodes!r} with workers={workers} and port={port!r}")
    if launch == "torchrun":
        where = torchrun_rank()
        if where is None or where[0] != 0 or where[1] != workers + 1 or port is not None:
            raise ArgumentError("launch", launch, "call it on rank 0 of a torchrun launch of workers + 1 processes, "
                                "port None", what=f"got 'torchrun' with workers={workers}, port={port!r} and torchrun "
                                f"rank/world {where}")
    x, y, settings = _settings(x, y, pushes, lr, batch_size, hidden, delay_mean, seed, timeout, heartbeat)
    started = time.monotonic()  # the server's exchange_start is on this clock (one host)
    with progress(pushes, f"parameter server, {workers} workers", show_progress) as bar:
        shown = [0]

        def advance(applied: int) -> None:
            bar.advance(applied - shown[0])
            shown[0] = applied

        if launch == "torchrun":
            outcome = run_torchrun_rank(x, y, settings, advance)
        elif launch == "nodes":
            from staleness.paramserver.nodes import launch_nodes

            outcome = launch_nodes(x, y, settings, nodes, advance)
        else:
            outcome = launch_local(x, y, settings, workers=workers, port=port or None, on_progress=advance)
    return _finish(outcome, workers, pushes, settings, started)


def run_parameter_server_rank(x: np.ndarray, y: np.ndarray, *, pushes: int = 300, lr: float = 0.05,
                              batch_size: int = 32, hidden: int = 32, delay_mean: float = 0.005, seed: int = 0,
                              timeout: float = 60.0, heartbeat: float = 3.0,
                              on_progress=None) -> DistributedRun | None:
    """Under ``torchrun``: run this process's rank; rank 0 (the server) returns the run, workers ``None``.

    The processes, machines and rendezvous are torchrun's (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``,
    ``MASTER_PORT``); there are ``WORLD_SIZE - 1`` workers. Faults raise
    :class:`~staleness.paramserver.ParameterServerFault` as :func:`run_parameter_server` does, but a
    process whose gloo call is blocked on a lost peer cannot be torn down cleanly: end it with
    ``os._exit`` after reporting.
    """
    from staleness.paramserver.torchrun import run_torchrun_rank, torchrun_rank

    where = torchrun_rank()
    if where is None:
        raise ValueError("RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT: not set; start this under torchrun")
    rank, world = where
    if world < 2:
        raise ValueError(f"WORLD_SIZE: got {world}; give torchrun at least 2 processes (1 server + workers)")
    _check(world - 1, pushes, lr, delay_mean, timeout, heartbeat, None)
    x, y, settings = _settings(x, y, pushes, lr, batch_size, hidden, delay_mean, seed, timeout, heartbeat)
    started = time.monotonic()
    outcome = run_torchrun_rank(x, y, settings, on_progress)
    if rank != 0:
        if outcome.fault is not None:
            from staleness.paramserver import ParameterServerFault

            raise ParameterServerFault(outcome.fault, rank=outcome.rank)
        return None
    return _finish(outcome, world - 1, pushes, settings, started)


def run_parameter_server_node(x: np.ndarray, y: np.ndarray, nodes, *, pushes: int = 300, lr: float = 0.05,
                              batch_size: int = 32, hidden: int = 32, delay_mean: float = 0.005, seed: int = 0,
                              timeout: float = 60.0, heartbeat: float = 3.0) -> None:
    """Node ``nodes.node_rank`` >= 1 of a launch on several machines without torchrun: join node 0's
    rendezvous (waiting at most ``timeout`` seconds) and run this node's ranks, all workers.

    Raises :class:`~staleness.paramserver.ParameterServerFault` with one line when the rendezvous fails
    (naming the ranks that never joined and the address) or the run ends on a fault.
    """
    from staleness.paramserver import ParameterServerFault
    from staleness.paramserver.nodes import launch_nodes

    if nodes.node_rank == 0:
        raise ArgumentError("node_rank", what="got 0", fix="node 0 runs the server: call run_parameter_server(launch='nodes')")
    _check(nodes.world - 1, pushes, lr, delay_mean, timeout, heartbeat, None)
    x, y, settings = _settings(x, y, pushes, lr, batch_size, hidden, delay_mean, seed, timeout, heartbeat)
    outcome = launch_nodes(x, y, settings, nodes)
    if outcome.fault is not None:
        raise ParameterServerFault(outcome.fault, rank=outcome.rank, interrupted=outcome.interrupted)


@dataclass(frozen=True, repr=False)
class SimulatorComparison(Result):
    """Measured staleness against the simulator.

    ``replay_staleness``: the simulator fed each worker's measured push intervals as traces (the same
    push order, so it should reproduce the measured sequence); ``replay_matches`` is the fraction of
    applied gradients whose staleness it reproduces.

    The distribution model: each worker's compute times (read to push, as the zero-latency simulator
    defines them) resampled i.i.d. from its own measured push intervals, which hold the gradient, the
    delay and the loopback communication. ``simulated_hist`` / ``simulated_mean`` come from a long run of it (``simulated_updates``, warm-up
    dropped); ``measured_hist`` are the probabilities of staleness 0, 1, ... in the real run;
    ``total_variation`` is half their L1 distance and ``tv_noise_p99`` the 99th percentile of that
    distance for 30 simulated runs as short as the real one (sampling noise alone).

    The distribution check: ``ks_distance`` is the largest difference between the measured and the
    simulated cumulative distributions of staleness (Kolmogorov); ``ks_bound`` the two-sample
    Dvoretzky-Kiefer-Wolfowitz bound at ``confidence`` for n measured and m simulated staleness values,
    sqrt(ln(4/d) / 2n) + sqrt(ln(4/d) / 2m) with d = 1 - confidence (each sample's empirical CDF is within
    sqrt(ln(2/(d/2)) / 2n) of its own with probability 1 - d/2, Massart's constant). It assumes independent
    draws; ``ks_noise_p99`` (the 99th percentile of the same distance for the 30 short simulated runs,
    whose staleness values are as dependent as the real ones) shows how much room that leaves.
    ``distribution_ok`` is ``ks_distance <= ks_bound``: false means the measured staleness does not follow
    the model of independent workers, e.g. on a saturated host the workers fall into lockstep and
    staleness P - 1 gathers mass (see docs/distributed.md). ``theory_mean`` is
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
    ks_distance: float = math.nan
    ks_bound: float = math.nan
    ks_noise_p99: float = math.nan
    confidence: float = 0.999
    simulated_values: int = 0  # m: the simulated staleness values (the window of the long run)

    @property
    def distribution_ok(self) -> bool:
        """Whether the measured staleness distribution is within ``ks_bound`` of the simulated one."""
        return self.ks_distance <= self.ks_bound


def _hist(stale: np.ndarray, size: int) -> np.ndarray:
    h = np.bincount(stale, minlength=size).astype(float)[:size]
    return h / max(1.0, h.sum())


def _tv(a: np.ndarray, b: np.ndarray) -> float:
    size = max(len(a), len(b))
    return float(0.5 * np.abs(np.pad(a, (0, size - len(a))) - np.pad(b, (0, size - len(b)))).sum())


def _ks(a: np.ndarray, b: np.ndarray) -> float:
    size = max(len(a), len(b))
    fa, fb = (np.cumsum(np.pad(h, (0, size - len(h)))) for h in (a, b))
    return float(np.abs(fa - fb).max(initial=0.0))


def dkw_bound(n: int, m: int, confidence: float) -> float:
    """Two-sample bound on the Kolmogorov distance of two empirical CDFs of the same law, at ``confidence``.

    DKW with Massart's constant: P(sup |F_n - F| > e) <= 2 exp(-2 n e^2); with probability d/2 each
    (d = 1 - confidence) -> e_n = sqrt(ln(4/d) / (2n)), and the triangle inequality adds e_m.

    >>> round(dkw_bound(240, 10**6, 0.999), 4)  # sqrt(ln 4000 / 480) = 0.13145, + 0.00204
    0.1335
    """
    if not 0 < confidence < 1:
        raise ArgumentError("confidence", confidence, "give a level in (0, 1), e.g. 0.999")
    if n < 1 or m < 1:
        raise ArgumentError(("n", "m"), what=f"got {n} and {m} staleness values",
                            fix="the comparison needs at least one of each")
    c = math.log(4.0 / (1.0 - confidence)) / 2.0
    return math.sqrt(c / n) + math.sqrt(c / m)


def compare_with_simulator(run: DistributedRun, *, updates: int = 20_000, seed: int = 0,
                           confidence: float = 0.999) -> SimulatorComparison:
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
    noise, ks_noise = [], []
    for _ in range(30):
        sg, _warm = model_run(run.pushes)
        short = sg.staleness[sg.applied]
        short_hist = _hist(short, int(short.max(initial=0)) + 1)
        noise.append(_tv(short_hist, sh))
        ks_noise.append(_ks(short_hist, sh))
    lost = int(run.staleness[~run.applied].sum())
    for a in (ours, mh, sh):
        a.setflags(write=False)
    return SimulatorComparison(float(measured.mean()), ours.copy(), matches, float(sim_stale.mean()), mh, sh,
                               _tv(mh, sh), float(np.percentile(noise, 99)), float(run.workers - 1), lost,
                               int(updates), ks_distance=_ks(mh, sh),
                               ks_bound=dkw_bound(len(measured), len(sim_stale), confidence),
                               ks_noise_p99=float(np.percentile(ks_noise, 99)), confidence=confidence,
                               simulated_values=len(sim_stale))


def distributed_table(run: DistributedRun, cmp: SimulatorComparison):
    """A rich Table: staleness probabilities measured and simulated, then the summary figures."""
    from rich.table import Table

    table = Table(title=f"Async parameter server: {run.workers} workers, {run.pushes} updates in "
                        f"{run.exchange_seconds:.2f} s (start-up {run.startup_seconds:.1f} s)")
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
    table.add_row("Kolmogorov distance", "", f"{cmp.ks_distance:.3f}")
    table.add_row(f"  DKW bound at {cmp.confidence:.1%}", "", f"{cmp.ks_bound:.3f} "
                  f"({'within' if cmp.distribution_ok else 'NOT within: workers not independent?'})")
    table.add_row("replay agrees", "", f"{100 * cmp.replay_matches:.1f} %")
    table.add_row("loss", f"{run.initial_loss:.4f} -> {run.final_loss:.4f}", "")
    return table


def distributed_json(run: DistributedRun, cmp: SimulatorComparison) -> str:
    """JSON text: settings, per-gradient records, and the comparison with the simulator."""
    from dlperf.jsonio import json_text

    return json_text({
        "backend": "distributed", "workers": run.workers, "pushes": run.pushes, "lr": run.lr,
        "batch_size": run.batch_size, "delay_mean": run.delay_mean, "seed": run.seed,
        "wall_seconds": run.wall_seconds, "startup_seconds": run.startup_seconds,
        "exchange_seconds": run.exchange_seconds, "initial_loss": run.initial_loss, "final_loss": run.final_loss,
        "records": {k: getattr(run, k).tolist() for k in ("worker", "read_version", "version_before_apply",
                                                         "staleness", "applied", "arrival_time", "compute_time",
                                                         "loss")},
        "measured_mean": cmp.measured_mean, "simulated_mean": cmp.simulated_mean, "theory_mean": cmp.theory_mean,
        "measured_hist": cmp.measured_hist.tolist(), "simulated_hist": cmp.simulated_hist.tolist(),
        "total_variation": cmp.total_variation, "tv_noise_p99": cmp.tv_noise_p99,
        "ks_distance": cmp.ks_distance, "ks_bound": cmp.ks_bound, "ks_noise_p99": cmp.ks_noise_p99,
        "confidence": cmp.confidence, "distribution_ok": cmp.distribution_ok,
        "replay_matches": cmp.replay_matches, "lost_staleness": cmp.lost_staleness,
    })


def plot_distributed(run: DistributedRun, cmp: SimulatorComparison, path) -> None:
    """Save the measured and simulated staleness distributions and the compute-time histogram as a PNG."""
    from dlperf.plotting import integer_ticks, legend, new_figure, save

    fig, (ax_s, ax_t) = new_figure(10, 3.6, 1, 2)
    s = np.arange(len(cmp.measured_hist))
    ax_s.bar(s - 0.2, cmp.measured_hist, width=0.4, label=f"measured (mean {cmp.measured_mean:.2f})")
    ax_s.bar(s + 0.2, cmp.simulated_hist, width=0.4, label=f"simulator (mean {cmp.simulated_mean:.2f})")
    nonzero = np.flatnonzero((cmp.measured_hist > 0.001) | (cmp.simulated_hist > 0.001))
    ax_s.set_xlim(-0.6, int(nonzero.max(initial=0)) + 0.6)
    integer_ticks(ax_s)
    ax_s.set_xlabel("staleness (updates between read and apply)")
    ax_s.set_ylabel("probability")
    ax_s.set_title(f"{run.workers} workers, theory mean P - 1 = {cmp.theory_mean:g}")
    legend(ax_s, fontsize=8)
    for w, iv in enumerate(run.intervals()):
        ax_t.hist(1000 * np.asarray(iv), bins=30, histtype="step", label=f"worker {w + 1}")
    ax_t.set_xlabel("interval between a worker's pushes (ms)")
    ax_t.set_ylabel("count")
    ax_t.set_title("measured compute + communication times")
    legend(ax_t, fontsize=8)
    save(fig, path)
