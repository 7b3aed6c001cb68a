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
    nodes = parser.add_argument_group("distributed backend on several machines without torchrun (one command "
                                      "per machine; the rendezvous waits at most --timeout)")
    nodes.add_argument("--nnodes", type=int, default=None, help="machines in the run (default: 1)")
    nodes.add_argument("--node-rank", type=int, default=None, help="this machine's number 0..nnodes-1; node 0 "
                       "hosts the rendezvous and the server (default: 0)")
    nodes.add_argument("--nproc-per-node", type=int, default=None,
                       help="processes on each machine (default: 2); node 0's first is the server")
    nodes.add_argument("--master-addr", default=None, help="node 0's address, the same on every node "
                       "(default: 127.0.0.1)")
    nodes.add_argument("--master-port", type=int, default=None, help="the rendezvous port on node 0, the same on "
                       "every node (default: 29500)")


_NODE_FLAGS = {"nnodes": "--nnodes", "node_rank": "--node-rank", "nproc_per_node": "--nproc-per-node",
               "master_addr": "--master-addr", "master_port": "--master-port"}


def nodes_from_args(args: argparse.Namespace):
    """The :class:`~staleness.paramserver.nodes.Nodes` of a launch on several machines, or None (no node flag)."""
    given = {k: getattr(args, k, None) for k in _NODE_FLAGS}
    if all(v is None for v in given.values()):
        return None
    if torchrun_rank() is not None:
        flag = _NODE_FLAGS[next(k for k, v in given.items() if v is not None)]
        raise ValueError(f"{flag}: given under torchrun, whose own --nnodes/--node-rank/--master-addr/--master-port "
                         "place the processes; leave it out")
    if args.port is not None:
        raise ValueError(f"--port: got {args.port}; with --nnodes the rendezvous is --master-addr/--master-port: "
                         "leave --port out")
    from staleness.paramserver.nodes import check_nodes

    return check_nodes(1 if given["nnodes"] is None else given["nnodes"],
                       0 if given["node_rank"] is None else given["node_rank"],
                       2 if given["nproc_per_node"] is None else given["nproc_per_node"],
                       given["master_addr"] or "127.0.0.1",
                       29500 if given["master_port"] is None else given["master_port"])


def distributed_options_from_args(args: argparse.Namespace) -> dict:
    """Keyword arguments of :func:`staleness.distributed.run_parameter_server` from the parsed options."""
    opts = {"heartbeat": args.heartbeat}
    nodes = nodes_from_args(args)
    if torchrun_rank() is not None:
        opts["launch"] = "torchrun"
    elif nodes is not None:
        opts["launch"], opts["nodes"] = "nodes", nodes
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

    where, nodes = torchrun_rank(), None
    try:
        nodes = nodes_from_args(args)
        if nodes is not None:
            if args.workers is None:
                args.workers = nodes.world - 1
            elif args.workers != nodes.world - 1:
                raise ValueError(f"--learners: got {args.workers}, but {nodes.nnodes} nodes x {nodes.nproc} processes "
                                 f"are 1 server + {nodes.world - 1} workers; leave --learners out")
            where = (nodes.node_rank, nodes.world)  # a fault ends with os._exit, as a torchrun rank's
            from staleness.distributed import _check
            from staleness.paramserver.launch import blamed_rank
            from staleness.paramserver.nodes import join

            _check(nodes.world - 1, 1, args.lr, args.delay, args.timeout, args.heartbeat, None)
            fault = join(nodes, args.timeout, args.heartbeat)  # before the data loads: the timeout counts imports only
            if fault is not None:
                raise ParameterServerFault(fault, rank=blamed_rank(fault))
            if nodes.node_rank != 0:
                from staleness.distributed import run_parameter_server_node

                data = load_data(args)
                run_parameter_server_node(data.train_x, data.train_y, nodes, pushes=args.pushes or 1,
                                          batch_size=args.batch_size, delay_mean=args.delay, seed=args.seed,
                                          timeout=args.timeout, heartbeat=args.heartbeat, lr=args.lr)
                return 0
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
        prefix = "" if where is None or nodes is not None else f"rank {where[0]}: "
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
