"""Start the parameter server on this machine: one process per rank, all on 127.0.0.1.

The parent hosts the c10d store on a socket it binds itself (``port``; 0 lets the system pick a free
one, so there is no window between "find a free port" and "listen on it" for another program to take
it), spawns the ranks, and watches their exit codes and the store's ``fault`` key. A rank that dies is
named from its exit code at once; one that stops is named by a peer's watchdog (:mod:`.watchdog`). Then
the survivors are told (the server flushes its records), stragglers are killed, and what the server
recorded is read back from the store: no file is written, so nothing is left behind by any death.
Children die with the parent (``PR_SET_PDEATHSIG``) and ignore SIGINT, which the parent handles once.
"""

from __future__ import annotations

import errno
import re
import signal
import socket
import time
from dataclasses import dataclass

from dlperf.errors import ArgumentError
from staleness.paramserver.node import child_main, collect
from staleness.paramserver.protocol import EXIT_FAULT, describe_exit, role
from staleness.paramserver.watchdog import report_fault

__all__ = ["Outcome", "listen", "launch_local", "spawn_and_watch", "blamed_rank"]


@dataclass(frozen=True)
class Outcome:
    """What a launch produced: the server's records (see :func:`.node.collect`) and the fault, if any."""

    data: dict
    fault: str | None
    rank: int | None
    interrupted: bool


def blamed_rank(message: str) -> int | None:
    """The rank a fault message starts with (``"rank 2 (worker 2) ..."`` -> 2), else ``None``.

    >>> blamed_rank("rank 2 (worker 2) died (killed by SIGKILL)"), blamed_rank("timeout: ...")
    (2, None)
    """
    m = re.match(r"rank (\d+)\b", message)
    return int(m.group(1)) if m else None


def listen(port: int | None, host: str = "127.0.0.1", param: str = "port") -> socket.socket:
    """A socket listening on ``host:port`` (``None``: a free port); ``ValueError`` naming ``param`` if it is
    taken or cannot be bound."""
    try:
        family = socket.getaddrinfo(host, port or 0, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as exc:
        raise ArgumentError("master_addr", host, "give this node's address",
                            what=f"got {host!r}, which does not resolve ({exc.strerror})") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers are not "in use"
    try:
        sock.bind((host, port or 0))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ArgumentError(param, port, "give a free port or leave it out to let the system pick one",
                                what=f"got {port}, but {host}:{port} is already in use") from None
        raise ArgumentError(param, port, f"cannot listen on {host}:{port} ({exc.strerror})") from None
    sock.listen(128)
    return sock


def _interrupt(signum, _frame):
    raise KeyboardInterrupt


def _stopped(pid: int) -> bool:
    """Whether ``pid`` is stopped (SIGSTOP / SIGTSTP), from /proc; False where there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] in (b"T", b"t")
    except (OSError, IndexError):
        return False


def _watch(procs, store, settings: dict, on_progress, ranks=None) -> str | None:
    try:
        return _watch_store(procs, store, settings, on_progress, ranks)
    except Exception as exc:  # noqa: BLE001 - the store's host (node 0) is gone: one line, not a stack
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"rank 0 (server) lost: the rendezvous store stopped answering ({first})"


def _watch_store(procs, store, settings: dict, on_progress, ranks=None) -> str | None:
    deadline = time.monotonic() + settings["timeout"]
    stopped_polls: dict[int, int] = {}  # consecutive polls (<= 0.1 s apart) that found the rank stopped
    from multiprocessing.connection import wait

    ranks = list(range(len(procs))) if ranks is None else list(ranks)  # the global rank of each process
    while True:
        codes = [p.exitcode for p in procs]
        for r, code in zip(ranks, codes, strict=True):
            if code is not None and code not in (0, EXIT_FAULT):
                return f"rank {r} ({role(r)}) died ({describe_exit(code)})"
        for i, (r, p) in enumerate(zip(ranks, procs, strict=True)):  # also covers the startup, before heartbeats begin
            if codes[i] is None and _stopped(p.pid):
                # Polls, not a clock: after Ctrl-Z + fg of the whole run, the time it was suspended is no fault.
                stopped_polls[r] = stopped_polls.get(r, 0) + 1
                if stopped_polls[r] * 0.1 >= settings["heartbeat"]:
                    return f"rank {r} ({role(r)}) stopped (SIGSTOP) for {settings['heartbeat']:g} s"
            else:
                stopped_polls.pop(r, None)
        if all(code == 0 for code in codes):
            return None
        if store.check(["fault"]) or EXIT_FAULT in codes:
            # Whoever saw it first may be a peer of a process that died: its exit code is more precise.
            end = time.monotonic() + 0.5
            while time.monotonic() < end:
                for r, p in zip(ranks, procs, strict=True):
                    if p.exitcode is not None and p.exitcode not in (0, EXIT_FAULT):
                        return f"rank {r} ({role(r)}) died ({describe_exit(p.exitcode)})"
                time.sleep(0.05)
            if store.check(["fault"]):
                return store.get("fault").decode()
            r = ranks[codes.index(EXIT_FAULT)]
            return f"rank {r} ({role(r)}) stopped on a fault it could not report"
        if on_progress is not None and store.check(["applied"]):
            on_progress(int(store.get("applied")))
        if time.monotonic() > deadline:
            return (f"timeout: the run did not finish within timeout={settings['timeout']:g} s; raise timeout on a "
                    "slow machine")
        wait([p.sentinel for p in procs if p.exitcode is None], timeout=0.1)


def _stop(procs, patience: float) -> None:
    if procs:
        procs[0].join(patience)  # the server flushes its last records; workers have nothing to save
    for p in procs:
        if p.is_alive():
            p.kill()  # SIGKILL also ends a SIGSTOPped process
    for p in procs:
        p.join(5)


def launch_local(x, y, settings: dict, *, workers: int, port: int | None, on_progress=None) -> Outcome:
    """Run 1 server + ``workers`` worker processes on 127.0.0.1 and return what the server recorded."""
    import datetime

    import torch.distributed as dist

    sock = listen(port)
    bound = sock.getsockname()[1]
    store = dist.TCPStore("127.0.0.1", bound, is_master=True, wait_for_workers=False,  # it owns the socket now
                          timeout=datetime.timedelta(seconds=settings["timeout"]), master_listen_fd=sock.detach())
    try:
        return spawn_and_watch(x, y, settings, store, list(range(workers + 1)), workers + 1, "127.0.0.1",
                               store.port, True, on_progress)
    finally:
        del store  # closes the listening socket


def spawn_and_watch(x, y, settings: dict, store, ranks: list[int], world: int, host: str, port: int,
                    loopback: bool, on_progress=None, collect_records: bool = True) -> Outcome:
    """Start the processes of ``ranks`` (of ``world``; each joins the store at ``host:port``), watch them
    until they end or a fault, and return the server's records (when ``collect_records``) and the fault."""
    import os

    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=child_main, args=(r, world, port, x, y, settings, os.getpid(), host, loopback),
                         name=f"ps-rank{r}", daemon=True) for r in ranks]
    fault, interrupted = None, False
    previous = signal.signal(signal.SIGTERM, _interrupt) if _main_thread() else None
    try:
        for p in procs:
            p.start()
        fault = _watch(procs, store, settings, on_progress, ranks)
    except KeyboardInterrupt:
        fault, interrupted = "interrupted (Ctrl-C or SIGTERM)", True
    finally:
        if fault is not None:
            report_fault(store, fault)  # the survivors stop; the server flushes what it recorded
        _stop([p for p in procs if p.pid is not None], patience=1.0 if fault else 5.0)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    data = collect(store) if collect_records else {}
    return Outcome(data, fault, None if fault is None else blamed_rank(fault), interrupted)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
