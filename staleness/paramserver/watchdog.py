"""Heartbeats through the c10d store: every process beats, and watches the peers whose loss stops it.

A blocking gloo ``recv`` from a peer that died or was stopped (SIGSTOP) can wait for the whole
process-group timeout, so liveness is not left to gloo. Each process runs a :class:`Watchdog` thread
that adds 1 to its counter ``hb/<rank>`` every ``period`` seconds and reads its peers' counters; a
counter that has not moved during ``grace / period`` of the watcher's own beats is a fault. Counting
its own beats rather than reading a clock needs no clock sync across machines, and a watcher that was
itself stopped or starved (Ctrl-Z on the whole run, an overloaded machine) does not blame its peers
for time it did not see; a peer that has not beaten yet is still starting, which the launcher
watches (locally: process state and exit code; under torchrun: the rendezvous timeout). So is the ``fault`` key, set by whoever saw a fault first
(``compare_set``: the first message wins), and a store that no longer answers. A SIGSTOPped process
stops all its threads, heartbeat included, so it is caught like a dead one.
"""

from __future__ import annotations

import threading

from staleness.paramserver.protocol import role

__all__ = ["Watchdog", "report_fault"]


def report_fault(store, message: str) -> str:
    """Publish ``message`` as the run's fault unless one is already there; return the one that stands."""
    try:
        return store.compare_set("fault", "", message).decode()
    except Exception:  # the store is gone too: our own message is the best there is
        return message


class Watchdog(threading.Thread):
    """Beat for ``rank`` and watch ``peers``; call ``on_fault(message)`` once, from this thread."""

    def __init__(self, store, rank: int, peers, grace: float, on_fault, on_beat=None):
        super().__init__(name=f"watchdog-{rank}", daemon=True)
        self.store, self.rank, self.grace = store, rank, float(grace)
        self.peers = set(peers)
        self.period = min(0.2, self.grace / 10)
        self.on_fault, self.on_beat = on_fault, on_beat
        self._stop_event = threading.Event()
        self._lock = threading.Lock()

    def unwatch(self, rank: int) -> None:
        """Stop watching ``rank`` (it finished normally, so its silence is no fault)."""
        with self._lock:
            self.peers.discard(rank)

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        seen: dict[int, tuple[int, int]] = {}  # rank -> (its counter, our beats since it last moved)
        while not self._stop_event.wait(self.period):
            try:
                message = self._check(seen)
            except Exception as exc:  # noqa: BLE001 - any store failure means the rendezvous is gone
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                message = f"rank {self.rank} ({role(self.rank)}) lost the rendezvous store: {first}"
                message = report_fault(self.store, message)
            if message is not None and not self._stop_event.is_set():
                self.on_fault(message)
                return

    def _check(self, seen: dict[int, tuple[int, int]]) -> str | None:
        self.store.add(f"hb/{self.rank}", 1)
        if self.on_beat is not None:
            self.on_beat()
        if self.store.check(["fault"]):
            return self.store.get("fault").decode()
        with self._lock:
            peers = sorted(self.peers)
        for r in peers:
            count = self.store.add(f"hb/{r}", 0)
            if count == 0:
                continue  # not started yet (importing torch): startup is the launcher's to watch
            if r not in seen or seen[r][0] != count:
                seen[r] = (count, 0)
                continue
            seen[r] = (count, seen[r][1] + 1)
            if seen[r][1] * self.period >= self.grace:
                return report_fault(self.store, f"rank {r} ({role(r)}) stopped responding: no heartbeat for "
                                                f"{self.grace:g} s (dead, stopped or unreachable)")
        return None
