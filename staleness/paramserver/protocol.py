"""What the processes of the parameter server agree on: roles, store keys, record layout, exit codes.

Rank 0 is the server, rank r >= 1 is worker r. Besides gloo (parameters and gradients), the processes
share a c10d key-value store: ``hb/<rank>`` heartbeat counters, ``fault`` (the first fault anyone
detected, one line), ``records`` (the server's per-gradient rows, appended as float64 bytes a few
times a second so that a crash loses at most the last fraction of a second), ``applied``,
``initial_loss``, ``final_loss``, ``exchange_start`` (the server's ``time.monotonic()`` when it sends the
first parameters) and ``exchange_seconds`` (from then until every worker is stopped).

Examples
--------
>>> role(0), role(2)
('server', 'worker 2')
>>> describe_exit(-9), describe_exit(1)
('killed by SIGKILL', 'exited with status 1')
>>> unpack_records(pack_records([(0, 0, 0, 1, 0.5, 0.1, 2.3)]))["arrival_time"].tolist()
[0.5]
"""

from __future__ import annotations

import signal

import numpy as np

__all__ = ["RECORD_FIELDS", "EXIT_FAULT", "role", "describe_exit", "pack_records", "unpack_records"]

RECORD_FIELDS = ("worker", "read_version", "version_before_apply", "applied", "arrival_time", "compute_time",
                 "loss")
EXIT_FAULT = 3  # a process that stops because it detected (or was told of) a fault elsewhere


def role(rank: int) -> str:
    """``"server"`` for rank 0, ``"worker r"`` for rank r."""
    return "server" if rank == 0 else f"worker {rank}"


def describe_exit(code: int) -> str:
    """A process exit code as words: negative codes are the signal that ended it."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


def pack_records(rows) -> bytes:
    """Rows of the seven :data:`RECORD_FIELDS` as float64 bytes (integers below 2**53 stay exact)."""
    return np.asarray(rows, dtype=np.float64).reshape(-1, len(RECORD_FIELDS)).tobytes()


def unpack_records(data: bytes) -> dict[str, np.ndarray]:
    """The inverse of :func:`pack_records`: one array per field (float64)."""
    table = np.frombuffer(data, dtype=np.float64).reshape(-1, len(RECORD_FIELDS))
    return {name: table[:, i].copy() for i, name in enumerate(RECORD_FIELDS)}
