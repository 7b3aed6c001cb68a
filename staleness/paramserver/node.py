"""The body of one parameter-server process: model, watchdog, role loop, and how it ends.

The role loop (:func:`~staleness.paramserver.roles.serve` / ``work``) runs in a daemon thread while the
main thread waits for it, for the watchdog's fault, or for the deadline; a gloo call blocked on a dead
peer therefore never holds the process: it ends with the fault as soon as the watchdog names it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
import time

from staleness.paramserver.protocol import EXIT_FAULT, role, unpack_records
from staleness.paramserver.roles import RecordLog, model, serve, work
from staleness.paramserver.watchdog import Watchdog, report_fault

__all__ = ["run_node", "child_main", "collect", "die_with_parent"]

_PR_SET_PDEATHSIG, _PR_SET_NAME = 1, 15


def die_with_parent(parent_pid: int, name: str) -> None:
    """Linux: get SIGKILL when the parent dies (no orphans) and show ``name`` in ps/top; elsewhere: no-op."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        libc.prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(EXIT_FAULT)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def run_node(rank: int, world: int, store, settings: dict, x, y, on_progress=None, init_group=None) -> str | None:
    """Run rank ``rank`` of the parameter server in this process; return the fault message or ``None``.

    ``store`` is the c10d store shared by all ranks; ``init_group()``, if given, initialises the process
    group (after the heartbeat has started, so a peer lost during the rendezvous is noticed too);
    ``on_progress(applied)`` is called about ten times a second on rank 0.
    """
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    torch.manual_seed(settings["seed"])
    xs, ys = torch.tensor(x.reshape(len(x), -1)), torch.tensor(y)  # copies: the arrays may be read-only
    net = model(xs.shape[1], settings["classes"], settings["hidden"])
    log = RecordLog() if rank == 0 else None
    wake, faults, errors = threading.Event(), [], []

    def on_fault(message: str) -> None:
        faults.append(message)
        wake.set()

    watchdog = Watchdog(store, rank, range(1, world) if rank == 0 else [0], settings["heartbeat"], on_fault,
                        on_beat=None if log is None else (lambda: log.flush(store)))

    def body() -> None:
        try:
            if init_group is not None:
                init_group()
            if rank == 0:
                serve(dist, net, xs, ys, world - 1, settings, log, store, watchdog)
            else:
                work(dist, net, xs, ys, rank, settings, watchdog)
        except BaseException as exc:  # noqa: BLE001 - reported as the fault below, never as a traceback
            errors.append(exc)
        finally:
            wake.set()

    watchdog.start()
    loop = threading.Thread(target=body, name=f"rank-{rank}", daemon=True)
    loop.start()
    deadline = time.monotonic() + settings["timeout"]
    while loop.is_alive() and not faults:
        wake.wait(0.1)
        if on_progress is not None and log is not None:
            on_progress(log.applied)
        if time.monotonic() > deadline:
            faults.append(report_fault(store, f"timeout: the run did not finish within timeout={settings['timeout']:g} "
                                              "s; raise timeout on a slow machine"))
    if errors and not faults:
        # A gloo error usually means a peer is gone; give the watchdog the time to name it.
        end = time.monotonic() + settings["heartbeat"] + 0.5
        while not faults and time.monotonic() < end:
            time.sleep(0.05)
        if not faults:
            faults.append(report_fault(store, f"rank {rank} ({role(rank)}): {type(errors[0]).__name__}: "
                                              f"{_first_line(errors[0])}"))
    watchdog.stop()
    if log is not None:
        with contextlib.suppress(Exception):  # the store is gone: what was flushed before is all there is
            log.flush(store)
    return faults[0] if faults else None


def collect(store) -> dict:
    """What the server left in the store: the record arrays, ``initial_loss``, ``final_loss``, ``exchange_start``
    (``time.monotonic()`` when the server sent the first parameters) and ``exchange_seconds`` (NaN if absent)."""
    import numpy as np

    out = unpack_records(store.get("records") if store.check(["records"]) else b"")
    for key in ("initial_loss", "final_loss", "exchange_start", "exchange_seconds"):
        out[key] = float(store.get(key).decode()) if store.check([key]) else float("nan")
    for name in ("worker", "read_version", "version_before_apply"):
        out[name] = out[name].astype(np.int64)
    out["applied"] = out["applied"].astype(bool)
    return out


def _loopback_interface() -> str | None:
    import socket

    names = [name for _i, name in socket.if_nameindex()]
    return next((n for n in ("lo", "lo0") if n in names), None)


def child_main(rank: int, world: int, port: int, x, y, settings: dict, parent_pid: int, host: str = "127.0.0.1",
               loopback: bool = True) -> None:
    """Entry point of a process started by :func:`staleness.paramserver.launch.spawn_and_watch`: join the
    store at ``host:port`` (gloo pinned to the loopback interface when ``loopback``)."""
    die_with_parent(parent_pid, f"ps-rank{rank}")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle, once
    if not os.environ.get("STALENESS_PS_DEBUG"):  # the parent reports faults in one line; no gloo noise
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
    lo = _loopback_interface() if loopback else None
    if lo is not None:
        os.environ["GLOO_SOCKET_IFNAME"] = lo  # gloo listens on 127.0.0.1 only
    import datetime

    import torch.distributed as dist

    timeout = datetime.timedelta(seconds=settings["timeout"])
    store = dist.TCPStore(host, port, is_master=False, timeout=timeout)
    try:
        store.set(f"pid/{rank}", str(os.getpid()))
        fault = run_node(rank, world, store, settings, x, y, init_group=lambda: dist.init_process_group(
            "gloo", store=dist.PrefixStore("gloo", store), rank=rank, world_size=world, timeout=timeout))
    except BaseException as exc:  # noqa: BLE001
        fault = report_fault(store, f"rank {rank} ({role(rank)}): {type(exc).__name__}: {_first_line(exc)}")
    # os._exit: no gloo teardown, which can block on a peer that is already gone.
    os._exit(EXIT_FAULT if fault else 0)
