"""Start the parameter server on several machines without torchrun: one launcher per node, a rendezvous
bounded by ``timeout``.

Node 0 hosts the c10d store on ``master_addr:master_port``; every node's launcher joins it (``node/<r>``),
and once all ``nnodes`` have joined each starts its own ``nproc`` ranks (node r holds ranks
``r * nproc .. r * nproc + nproc - 1``; rank 0, on node 0, is the server). The rendezvous waits at most
``timeout`` seconds: then every started launcher ends with one line naming the ranks that never joined
and the address (node 0 publishes its verdict in the store's ``fault`` key; the others name what they
see themselves if node 0 itself is missing). The timeout counts from each process's start. A node started late, within the timeout, simply joins. From
then on the run is a local launch's (:mod:`.launch`): heartbeats, the ``fault`` key, exit codes.

Examples
--------
>>> n = Nodes(nnodes=2, node_rank=1, nproc=2, master_addr="127.0.0.1", master_port=29500)
>>> n.world, list(n.ranks), n.ranks_text(1)
(4, [2, 3], 'ranks 2-3 (workers 2-3) of node 1')
>>> Nodes(nnodes=2, node_rank=0, nproc=1, master_addr="h", master_port=1).ranks_text(1)
'rank 1 (worker 1) of node 1'
"""

from __future__ import annotations

import contextlib
import datetime
import os
import socket
import time
from dataclasses import dataclass

from dlperf.errors import ArgumentError, ref
from staleness.paramserver.launch import Outcome, blamed_rank, listen, spawn_and_watch

__all__ = ["Nodes", "join", "launch_nodes", "check_nodes", "process_age"]


@dataclass(frozen=True)
class Nodes:
    """Where this launcher sits in a multi-node run (the names of torchrun's options)."""

    nnodes: int
    node_rank: int
    nproc: int
    master_addr: str
    master_port: int

    @property
    def world(self) -> int:
        return self.nnodes * self.nproc

    @property
    def ranks(self) -> range:
        return range(self.node_rank * self.nproc, (self.node_rank + 1) * self.nproc)

    @property
    def address(self) -> str:
        return f"{self.master_addr}:{self.master_port}"

    def ranks_text(self, node: int) -> str:
        """``rank 1 (worker 1) of node 1`` / ``ranks 2-3 (workers 2-3) of node 1`` / node 0 with the server."""
        lo, hi = node * self.nproc, (node + 1) * self.nproc - 1
        if lo == hi:
            return f"rank {lo} ({'server' if lo == 0 else f'worker {lo}'}) of node {node}"
        roles = ("server, worker 1" if hi == 1 else f"server, workers 1-{hi}") if lo == 0 else f"workers {lo}-{hi}"
        return f"ranks {lo}-{hi} ({roles}) of node {node}"


def check_nodes(nnodes, node_rank, nproc, master_addr, master_port) -> Nodes:
    """Validate the options (ValueError naming the parameter); node 0 needs the server and a worker."""
    for name, value, low in (("nnodes", nnodes, 1), ("nproc_per_node", nproc, 1), ("node_rank", node_rank, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ArgumentError(name, value, f"give an integer >= {low}")
    if node_rank >= nnodes:
        raise ArgumentError("node_rank", node_rank, f"give 0..{nnodes - 1}", what=f"got {node_rank} with "
                            f"{ref('nnodes')} {nnodes}")
    if nnodes * nproc < 2:
        raise ArgumentError("nproc_per_node", nproc, "the run needs at least 2 processes (1 server + workers)",
                            what=f"got {nproc} with {ref('nnodes')} {nnodes}")
    if not master_addr:
        raise ArgumentError("master_addr", master_addr, "give node 0's address (e.g. 127.0.0.1 or a host name)")
    if isinstance(master_port, bool) or not isinstance(master_port, int) or not 1 <= master_port <= 65535:
        raise ArgumentError("master_port", master_port, "give a TCP port 1..65535, the same on every node")
    return Nodes(nnodes, node_rank, nproc, master_addr, master_port)


def _missing(store, nodes: Nodes) -> list[int]:
    return [r for r in range(nodes.nnodes) if not store.check([f"node/{r}"])]


def _missing_line(nodes: Nodes, missing: list[int], timeout: float) -> str:
    who = "; ".join(nodes.ranks_text(r) for r in missing)
    how = ", ".join(f"--node-rank {r}" for r in missing)
    return (f"{who} did not join the rendezvous at {nodes.address} within timeout={timeout:g} s; start "
            f"{'it' if len(missing) == 1 else 'them'} ({how}, the same --master-addr/--master-port) or raise "
            "--timeout")


def _wait_reachable(nodes: Nodes, deadline: float) -> bool:
    """Poll ``master_addr:master_port`` until it accepts a connection (node 0 may start late)."""
    while True:
        with contextlib.suppress(OSError), socket.create_connection((nodes.master_addr, nodes.master_port),
                                                                    timeout=max(0.1, min(1.0, deadline - time.monotonic()))):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def _rendezvous(nodes: Nodes, settings: dict, deadline: float):
    """The joined store, or ``(None, message)`` when the rendezvous failed; the store stays open for the run."""
    import torch.distributed as dist

    timeout = settings["timeout"]
    ttl = datetime.timedelta(seconds=max(timeout, settings["heartbeat"] + 5))
    if nodes.node_rank == 0:
        sock = listen(nodes.master_port, host=nodes.master_addr, param="master_port")
        store = dist.TCPStore(nodes.master_addr, sock.getsockname()[1], is_master=True, wait_for_workers=False,
                              timeout=ttl, master_listen_fd=sock.detach())
    else:
        if not _wait_reachable(nodes, deadline):
            return None, (f"{nodes.ranks_text(0)} did not open the rendezvous at {nodes.address} within "
                          f"timeout={timeout:g} s; start it (--node-rank 0) or check --master-addr/--master-port")
        try:
            store = dist.TCPStore(nodes.master_addr, nodes.master_port, is_master=False, timeout=ttl)
        except Exception as exc:  # noqa: BLE001 - refused or reset: one line, not torch's stack
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            return None, f"the rendezvous at {nodes.address} refused node {nodes.node_rank}: {first}"
    store.set(f"node/{nodes.node_rank}", str(os.getpid()))
    while True:
        if store.check(["fault"]):
            return store, store.get("fault").decode()
        if store.check(["go"]):
            return store, None
        missing = _missing(store, nodes)
        if not missing and nodes.node_rank == 0:
            store.set("go", "1")
            return store, None
        if time.monotonic() >= deadline:
            # node 0 publishes the verdict; another node names what it sees (node 0 may be the late one)
            from staleness.paramserver.watchdog import report_fault

            return store, report_fault(store, _missing_line(nodes, missing, timeout))
        time.sleep(0.05)


def process_age() -> float:
    """Seconds since this process started (Linux, from /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/stat", "rb") as f:
            start_ticks = int(f.read().rsplit(b")", 1)[1].split()[19])
        with open("/proc/uptime", "rb") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


_JOINED: dict[Nodes, tuple] = {}  # rendezvous done early in this process (join), waiting for launch_nodes


def join(nodes: Nodes, timeout: float, heartbeat: float) -> str | None:
    """Meet the other nodes now (before the data loads, say); return the fault line, or None once all joined.

    The rendezvous ends ``timeout`` seconds after this process started (its imports count), so a missing
    node ends every started one within the timeout, whatever each took to start. The store is kept for
    :func:`launch_nodes`.
    """
    if nodes not in _JOINED:
        settings = {"timeout": float(timeout), "heartbeat": float(heartbeat)}
        store, fault = _rendezvous(nodes, settings, time.monotonic() + settings["timeout"] - process_age())
        if store is not None and fault is not None:
            if nodes.node_rank == 0:  # let the waiting nodes read the verdict before the store goes
                _linger(store, nodes, "seen", 1.0)
            else:
                _mark(store, f"seen/{nodes.node_rank}")
        _JOINED[nodes] = (store, fault)
    return _JOINED[nodes][1]


def launch_nodes(x, y, settings: dict, nodes: Nodes, on_progress=None) -> Outcome:
    """Join the rendezvous (unless :func:`join` did), run this node's ranks, and (node 0) return what the
    server recorded."""
    join(nodes, settings["timeout"], settings["heartbeat"])
    store, fault = _JOINED.pop(nodes)
    if fault is not None:
        return Outcome({}, fault, blamed_rank(fault), False)
    try:
        loopback = nodes.master_addr in ("127.0.0.1", "localhost", "::1")
        outcome = spawn_and_watch(x, y, settings, store, list(nodes.ranks), nodes.world, nodes.master_addr,
                                  nodes.master_port if nodes.node_rank else store.port, loopback,
                                  on_progress if nodes.node_rank == 0 else None, collect_records=nodes.node_rank == 0)
        if nodes.node_rank == 0:  # remote workers may still beat against the store: let them finish first
            _linger(store, nodes, "done", settings["heartbeat"] + 2.0)
        else:
            _mark(store, f"done/{nodes.node_rank}")
        return outcome
    finally:
        del store


def _mark(store, key: str) -> None:
    with contextlib.suppress(Exception):
        store.set(key, "1")


def _linger(store, nodes: Nodes, what: str, seconds: float) -> None:
    end = time.monotonic() + seconds
    others = [f"{what}/{r}" for r in range(1, nodes.nnodes) if store.check([f"node/{r}"])]
    while others and time.monotonic() < end and not store.check(others):
        time.sleep(0.05)
