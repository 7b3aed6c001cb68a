"""Run one rank of the parameter server inside a ``torchrun`` launch (several machines, env:// rendezvous).

torchrun starts the processes and sets ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``;
rank 0 (on the node with ``--node-rank 0``) is the server, every other rank a worker. The store is
torchrun's own (hosted by the agent on ``--master-addr``), the heartbeats and records go through it as
in a local launch, and each process dies with its torchrun agent (``PR_SET_PDEATHSIG``).

Examples
--------
>>> torchrun_rank({"RANK": "1", "WORLD_SIZE": "4", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"})
(1, 4)
>>> torchrun_rank({}) is None
True
"""

from __future__ import annotations

import os

from staleness.paramserver.launch import Outcome, blamed_rank
from staleness.paramserver.node import collect, die_with_parent, run_node

__all__ = ["torchrun_rank", "run_torchrun_rank"]

_KEYS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def torchrun_rank(environ=None) -> tuple[int, int] | None:
    """``(rank, world_size)`` when this process was started by torchrun (or any env:// launcher), else None."""
    env = os.environ if environ is None else environ
    if not all(k in env for k in _KEYS):
        return None
    return int(env["RANK"]), int(env["WORLD_SIZE"])


def run_torchrun_rank(x, y, settings: dict, on_progress=None) -> Outcome:
    """Join the env:// rendezvous and run this process's rank; rank 0's outcome holds the records."""
    import datetime

    import torch.distributed as dist
    from torch.distributed.distributed_c10d import _get_default_store

    rank, world = torchrun_rank()
    die_with_parent(os.getppid(), f"ps-rank{rank}")
    dist.init_process_group("gloo", init_method="env://", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=settings["timeout"]))
    store = dist.PrefixStore("paramserver", _get_default_store())
    fault = run_node(rank, world, store, settings, x, y, on_progress if rank == 0 else None)
    data = collect(store) if rank == 0 else {}
    if fault is None:
        dist.destroy_process_group()
    return Outcome(data, fault, None if fault is None else blamed_rank(fault), False)
