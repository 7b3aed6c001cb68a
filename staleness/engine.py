"""A small discrete-event kernel: one heap of (time, priority, key, sequence, kind, data).

The order of events is total and documented:

1. earlier ``time`` first;
2. at the same instant, lower ``priority`` first (the simulator gives update completions priority 0 and
   gradient arrivals priority 1, so a read at time t sees every update finished at t);
3. then the tie-break ``key`` (a tuple chosen by the model: for ``fifo`` the time the event was scheduled
   and the learner index, for ``learner`` the learner index, for ``random`` a uniform draw and the
   learner index);
4. finally the insertion sequence number, so equal keys still pop in a fixed order.

There is no global state and no randomness in the kernel; the model owns its random streams.

Examples
--------
>>> q = EventQueue()
>>> q.schedule(2.0, 1, (0.0, 1), "push", "b")
>>> q.schedule(2.0, 1, (0.0, 0), "push", "a")
>>> q.schedule(1.0, 1, (0.0, 5), "push", "first")
>>> [q.pop()[5] for _ in range(len(q))]
['first', 'a', 'b']
>>> q.now
2.0
>>> q.schedule(1.0, 0, (), "late", None)
Traceback (most recent call last):
...
ValueError: event time 1.0 is before the current time 2.0; events cannot be scheduled in the past
"""

from __future__ import annotations

import heapq
import math
from typing import Any

__all__ = ["EventQueue"]


class EventQueue:
    """Heap-based future event list with a clock (``now``) that only moves forward."""

    __slots__ = ("_heap", "_seq", "now")

    def __init__(self) -> None:
        self._heap: list[tuple] = []
        self._seq = 0
        self.now = 0.0

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, time: float, priority: int, key: tuple, kind: str, data: Any) -> None:
        """Add an event; ``time`` must be a finite number not before ``now``."""
        if not time >= self.now or math.isinf(time):
            raise ValueError(
                f"event time {time!r} is before the current time {self.now!r}; events cannot be scheduled in the past"
            )
        heapq.heappush(self._heap, (time, priority, key, self._seq, kind, data))
        self._seq += 1

    def peek_time(self) -> float:
        """Time of the next event (``inf`` when none is left)."""
        return self._heap[0][0] if self._heap else math.inf

    def pop(self) -> tuple:
        """Remove and return the next event ``(time, priority, key, seq, kind, data)``; advance ``now``."""
        event = heapq.heappop(self._heap)
        self.now = event[0]
        return event
