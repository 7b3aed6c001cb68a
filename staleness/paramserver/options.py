"""Command-line options of ``staleness train --backend distributed``, and how its faults are reported.

``train`` calls :func:`add_distributed_options` when it builds its parser and runs its distributed
branch through :func:`run_distributed`, which handles torchrun worker ranks, maps library parameter
names to flags, and turns a :class:`~staleness.paramserver.ParameterServerFault` into one line on
stderr (exit 1; 130 for Ctrl-C), after printing what completed as JSON when ``--json`` was given.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

from staleness.paramserver.faults import ParameterServerFault
from staleness.paramserver.torchrun import torchrun_rank

__all__ = ["add_distributed_options", "distributed_options_from_args", "run_distributed", "partial_json"]

def add_distributed_options(parser: argparse.ArgumentParser) -> None:
    """``--port`` and ``--heartbeat`` (the torchrun options belong to torchrun itself; see docs/distributed.md)."""
    group = parser.add_argument_group("distributed backend: rendezvous and fault detection")
    group.add_argument("--port", type=int, default=None,
                       help="distributed: port of the rendezvous store on 127.0.0.1 (default: a free one); "
                       "under torchrun use its --master-port instead")
    group.add_argument("--heartbeat", type=float, default=3.0,
                       help="distributed: seconds without a heartbeat after which a process counts as dead or "
                       "stopped and the run ends (default: 3)")


def distributed_options_from_args(args: argparse.Namespace) -> dict:
    """Keyword arguments of :func:`staleness.distributed.run_parameter_server` from the parsed options."""
    opts = {"heartbeat": args.heartbeat}
    if torchrun_rank() is not None:
        opts["launch"] = "torchrun"
    else:
        opts["port"] = args.port
    return opts


def partial_json(exc: ParameterServerFault) -> str:
    """JSON text of what completed before a fault: settings, the fault line, the per-gradient records."""
    run = exc.partial

    def clean(v):
        return None if isinstance(v, float) and not math.isfinite(v) else v

    return json.dumps({
        "backend": "distributed", "complete": False, "fault": str(exc), "fault_rank": exc.rank,
        "workers": run.workers, "pushes": run.pushes, "lr": run.lr, "batch_size": run.batch_size,
        "delay_mean": run.delay_mean, "seed": run.seed, "applied_updates": int(run.applied.sum()),
        "initial_loss": clean(run.initial_loss), "final_loss": clean(run.final_loss),
        "wall_seconds": clean(run.wall_seconds), "startup_seconds": clean(run.startup_seconds),
        "exchange_seconds": clean(run.exchange_seconds),
        "records": {k: getattr(run, k).tolist() for k in ("worker", "read_version", "version_before_apply",
                                                         "staleness", "applied", "arrival_time", "compute_time",
                                                         "loss")},
    }, indent=1)


def run_distributed(args: argparse.Namespace, load_data, body) -> int:
    """Run ``body()`` (the distributed branch of ``train``) with fault reporting; serve torchrun worker ranks.

    Under torchrun, ranks other than 0 only load the data and work; rank 0 runs ``body()`` as usual.
    """
    from staleness.distributed import run_parameter_server_rank

    where = torchrun_rank()
    try:
        if where is not None:
            rank, world = where
            if args.port is not None:
                raise ValueError(f"--port: got {args.port}; under torchrun the rendezvous is torchrun's "
                                 "--master-addr/--master-port: leave --port out")
            if args.workers is None:
                args.workers = world - 1
            elif args.workers != world - 1:
                raise ValueError(f"--learners: got {args.workers}, but torchrun started {world} processes "
                                 f"(1 server + {world - 1} workers); leave --learners out")
            if rank != 0:
                data = load_data(args)
                run_parameter_server_rank(data.train_x, data.train_y, batch_size=args.batch_size,
                                          delay_mean=args.delay, seed=args.seed, timeout=args.timeout,
                                          heartbeat=args.heartbeat)
                return 0
        return body()
    except ParameterServerFault as exc:
        if args.json and exc.partial is not None:
            sys.stdout.write(partial_json(exc) + "\n")
        prefix = "" if where is None else f"rank {where[0]}: "
        print(f"staleness: error: {prefix}{exc}", file=sys.stderr)
        return _end(130 if exc.interrupted else 1, where)
    except KeyboardInterrupt:
        print("staleness: interrupted (Ctrl-C)", file=sys.stderr)
        return _end(130, where)


def _end(code: int, where) -> int:
    if where is not None:  # a gloo call may still block on a lost peer: do not wait for it at exit
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
