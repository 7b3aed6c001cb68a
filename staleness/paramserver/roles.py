"""The server and worker loops (the protocol of :mod:`staleness.distributed`, unchanged by fault handling).

A worker receives ``[stop, version, parameters]`` and sends ``[read_version, compute_seconds, loss,
gradient]``; the server applies pushes in arrival order and answers the pusher. The server's rows go
to a :class:`RecordLog` that the watchdog thread flushes to the store while the run goes on.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from staleness.paramserver.protocol import pack_records

__all__ = ["RecordLog", "model", "serve", "work"]


class RecordLog:
    """The server's per-gradient rows, flushed to the store's ``records`` key incrementally."""

    def __init__(self):
        self.rows: list[tuple] = []
        self.applied = 0
        self._flushed = 0
        self._lock = threading.Lock()

    def add(self, row: tuple, applied: bool) -> None:
        self.rows.append(row)
        self.applied += int(applied)

    def flush(self, store) -> None:
        with self._lock:
            n = len(self.rows)
            if n > self._flushed:
                store.append("records", pack_records(self.rows[self._flushed:n]))
                self._flushed = n
                store.set("applied", str(self.applied))


def model(d_in: int, classes: int, hidden: int):
    import torch

    return torch.nn.Sequential(torch.nn.Linear(d_in, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, classes))


def serve(dist, net, xs, ys, workers: int, settings: dict, log: RecordLog, store, watchdog) -> None:
    """Apply ``settings["pushes"]`` updates; record every push; stop each worker at its next push."""
    import torch
    from torch.nn import functional as F
    from torch.nn.utils import parameters_to_vector, vector_to_parameters

    params = list(net.parameters())
    w = parameters_to_vector(params).detach().clone()
    with torch.no_grad():
        store.set("initial_loss", repr(float(F.cross_entropy(net(xs), ys))))
    version = 0
    msg = torch.empty(3 + w.numel())
    t0 = time.perf_counter()
    # the exchange starts here, on the clock every process of this host shares (time.monotonic): the
    # caller subtracts its own start to get the start-up time, the same way in a local and a torchrun launch
    store.set("exchange_start", repr(time.monotonic()))
    for r in range(1, workers + 1):
        dist.send(torch.cat([torch.tensor([0.0, 0.0]), w]), dst=r)
    active = set(range(1, workers + 1))
    while active:
        src = dist.recv(msg)
        now = time.perf_counter() - t0
        read_v, ctime, loss = int(msg[0]), float(msg[1]), float(msg[2])
        apply = log.applied < settings["pushes"]
        log.add((src - 1, read_v, version, 1.0 if apply else 0.0, now, ctime, loss), apply)
        if apply:
            w -= settings["lr"] * msg[3:]
            version += 1
        stop = log.applied >= settings["pushes"]
        dist.send(torch.cat([torch.tensor([1.0 if stop else 0.0, float(version)]), w]), dst=src)
        if stop:
            active.discard(src)
            watchdog.unwatch(src)
    store.set("exchange_seconds", repr(time.perf_counter() - t0))
    vector_to_parameters(w, params)
    with torch.no_grad():
        store.set("final_loss", repr(float(F.cross_entropy(net(xs), ys))))
    log.flush(store)


def work(dist, net, xs, ys, rank: int, settings: dict, watchdog) -> None:
    """Pull, compute a gradient (plus the random delay), push; until the server says stop."""
    import torch
    from torch.nn import functional as F
    from torch.nn.utils import vector_to_parameters

    params = list(net.parameters())
    rng = np.random.default_rng([settings["seed"], rank])
    gen = torch.Generator().manual_seed(settings["seed"] * 1_000_003 + rank)
    msg = torch.empty(2 + sum(p.numel() for p in params))
    pending: list = []
    while True:
        dist.recv(msg, src=0)
        if msg[0] > 0:
            watchdog.stop()  # the server may now finish and go away: that is no fault
            return
        start = time.perf_counter()
        vector_to_parameters(msg[2:], params)
        if not pending:
            pending = list(torch.split(torch.randperm(len(ys), generator=gen), settings["batch_size"]))
        idx = pending.pop()
        net.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(xs[idx]), ys[idx])
        loss.backward()
        grad = torch.cat([p.grad.reshape(-1) for p in params])
        if settings["delay_mean"] > 0:
            time.sleep(float(rng.exponential(settings["delay_mean"])))
        ctime = time.perf_counter() - start
        dist.send(torch.cat([torch.tensor([msg[1], ctime, float(loss.detach())]), grad]), dst=0)
