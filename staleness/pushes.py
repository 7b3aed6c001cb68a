"""Push-time sequences of the vectorised paths: their merge into the server's order, and a count of the
pushes before a time without any ordering.

With zero latencies each learner's push times are an increasing sequence (the running sum of its
compute times, or the level-by-level times of :mod:`staleness.vectorised_ssp`). The server's order is
the merge of the P sequences by (time, the tie-break's key, learner).

Examples
--------
>>> import numpy as np
>>> t = np.array([1.0, 2.5, 4.0, 2.5, 3.0])  # learner 0: 1, 2.5, 4; learner 1: 2.5, 3 (learner-major)
>>> learner_s, rank, _ = merge_order(t, np.array([0, 0, 0, 1, 1]), None, 2)
>>> learner_s.tolist(), rank.tolist()  # the tie at 2.5 goes to the lower learner
([0, 0, 1, 1, 0], [0, 1, 4, 2, 3])
"""

from __future__ import annotations

import numpy as np

from staleness.config import SimConfig
from staleness.distributions import LearnerStreams

__all__ = ["merge_order", "count_async_updates"]


def merge_order(t_lm: np.ndarray, learner_lm: np.ndarray, sec_lm, p: int) -> tuple:
    """Merge P increasing sequences of push times > 0 given learner-major (learner i's pushes in time
    order, ids in ``learner_lm``) by (time, ``sec_lm``, learner) (``sec_lm``: an array, None, or a
    function giving the array, called only when two keys collide); return the sorted learner ids, the rank
    of every learner-major push, and the sorted -> learner-major map (None when no keys collided: it is
    then the inverse of the ranks)."""
    n = len(t_lm)
    bits = (p - 1).bit_length()
    mask = (1 << bits) - 1
    key = (t_lm.view(np.int64) & ~mask) | learner_lm
    key.sort()
    # the counting sort below is a radix sort over the id's bytes: one byte is half the work of two
    small = np.uint8 if p <= 1 << 8 else np.uint16 if p <= 1 << 16 else np.int64
    learner_s = (key & mask).astype(small)
    rank = np.argsort(learner_s, kind="stable")  # learner i's j-th occurrence is its j-th push
    hi = key >> bits
    near = np.flatnonzero(hi[1:] == hi[:-1])
    order = None
    if len(near):
        order = np.empty(n, dtype=np.int64)
        order[rank] = np.arange(n)
        pos = np.unique(np.concatenate([near, near + 1]))
        group = np.cumsum(np.concatenate([[True], hi[1:] != hi[:-1]]))[pos]
        lm = order[pos]
        if callable(sec_lm):  # built only now that it is needed
            sec_lm = sec_lm()
        sec = (learner_lm[lm],) if sec_lm is None else (learner_lm[lm], sec_lm[lm])
        perm = np.lexsort((*sec, t_lm[lm], group))
        order[pos] = lm[perm]
        learner_s = learner_lm[order].astype(small)
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
    return learner_s, rank, order


def count_async_updates(cfg: SimConfig, streams: LearnerStreams) -> int | None:
    """Updates an ``async`` / ``k-batch-async`` run with drawn times stopped by ``until`` makes: every
    push at or before ``until`` reaches the server (pushes are the running sums of each learner's draws,
    summed as the run sums them), K to an update. None when a compute time of 0 is drawn (the run then
    goes to the event engine, which counts itself). Memory O(draws of one block); nothing is sorted."""
    until, pushes = float(cfg.until), 0
    for i in range(cfg.learners):
        cum = 0.0
        while True:
            n = int(min(max((until - cum) * cfg._speeds[i] / cfg.mean * 1.1 + 16, 16), 1 << 22))
            x = streams.take_times(i, n)
            if x.min() <= 0:
                return None
            x[0] += cum  # the same additions in the same order as the run's running sum
            c = np.cumsum(x)
            below = int(c.searchsorted(until, side="right"))
            pushes += below
            if below < n:
                break
            cum = float(c[-1])
    return pushes // cfg.effective_k
