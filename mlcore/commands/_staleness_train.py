"""``staleness train``: train a model with stale gradients, replayed from the simulator or on a real
asynchronous parameter server (torch.distributed, gloo over 127.0.0.1).

The command belongs to the ``staleness`` command line but needs mlcore's training code, so it lives here and
is declared in pyproject.toml's entry-point group ``dlperf.staleness.commands``; :mod:`dlperf.cli` adds it
to ``staleness`` (which never imports mlcore). The leading underscore keeps it out of ``mlcore``'s own
command list.
"""

from __future__ import annotations

import argparse
import math
import sys

from dlperf.cli import hidden_alias
from mlcore.commands._common import add_common, emit, load_data, show_progress
from staleness.config import POLICIES


def register(subparsers) -> None:
    from staleness.paramserver.options import add_distributed_options

    p = subparsers.add_parser("train", help="training with stale gradients (simulated schedule or real processes)",
                              description=__doc__)
    p.add_argument("--backend", choices=("simulated", "distributed"), default="simulated",
                   help="simulated: replay staleness.simulate on a model; distributed: a real parameter server "
                   "with worker processes (default: simulated)")
    p.add_argument("--learners", dest="workers", type=int, default=None,
                   help="learners / worker processes (default: 4 simulated, 3 distributed)")
    hidden_alias(p, "--workers", "--learners")  # the old spelling, kept for one release
    p.add_argument("--policy", nargs="+", default=None, metavar="POLICY[,POLICY...]",
                   help=f"simulated: a comma list of {', '.join(POLICIES)}, as in `staleness sweep` (default: "
                   "sync,async,k-sync; spaces work too); distributed: async only")
    p.add_argument("--k", type=int, default=None, help="K of the k-* policies (default: 2, or 1 with one worker)")
    p.add_argument("--bound", type=int, default=2, help="staleness bound of ssp (default: 2)")
    p.add_argument("--lr", type=float, default=0.1, help="server learning rate alpha (default: 0.1)")
    p.add_argument("--no-staleness-aware", action="store_true",
                   help="simulated: leave out the async run with the staleness-aware rate alpha / tau")
    p.add_argument("--model", choices=("mlp", "inception"), default="mlp", help="simulated: network (default: mlp)")
    p.add_argument("--sim-time", type=float, default=None, help="simulated seconds per policy (default: the time "
                   "async needs for --epochs passes)")
    p.add_argument("--pushes", type=int, default=None, help="distributed: updates to apply (default: --epochs passes)")
    p.add_argument("--delay", type=float, default=0.005, help="distributed: mean exponential delay per gradient in "
                   "seconds, a stand-in for slower devices (default: 0.005)")
    p.add_argument("--timeout", type=float, default=120.0, help="distributed: abandon the run after this many "
                   "seconds (default: 120)")
    add_common(p, epochs=10, batch_size=32)
    add_distributed_options(p)
    p.set_defaults(func=run)


def _policies(args: argparse.Namespace) -> list[str] | None:
    """``--policy sync,async`` (the comma lists of every staleness command) or ``--policy sync async``."""
    if args.policy is None:
        return None
    return [p.strip() for item in args.policy for p in item.split(",") if p.strip()]


def _runs(args: argparse.Namespace, workers: int) -> list[tuple[str, int | None, str]]:
    policies = _policies(args) or ["sync", "async", "k-sync"]
    k = args.k if args.k is not None else min(2, max(1, workers))
    for pol in policies:
        if pol not in POLICIES:
            raise ValueError(f"--policy: got {pol!r}; choose one of {', '.join(POLICIES)}")
    runs = [(pol, k if pol.startswith("k-") else None, "constant") for pol in policies]
    if not args.no_staleness_aware and "async" in policies:
        runs.append(("async", None, "staleness-aware"))
    return runs


def _check_before_loading(args: argparse.Namespace, workers: int) -> None:
    """The options that need no data, checked before the data loads (scikit-learn and torch take seconds to
    import), so that a bad value costs no more than the start-up."""
    from mlcore.training import check_positive_float, check_positive_int, check_seed

    check_seed(args.seed)
    for flag, value in (("--learners", workers), ("--batch", args.batch_size)):
        check_positive_int(flag, value)
    if args.threads is not None:
        from dlperf.validate import check_threads

        check_threads("--threads", args.threads)
    check_positive_float("--lr", args.lr)


def run(args: argparse.Namespace) -> int:
    if args.backend == "simulated":  # silently ignoring a distributed-only flag would mislead
        for flag, value in (("--pushes", args.pushes), ("--port", args.port), ("--nnodes", args.nnodes),
                            ("--node-rank", args.node_rank), ("--nproc-per-node", args.nproc_per_node),
                            ("--master-addr", args.master_addr), ("--master-port", args.master_port)):
            if value is not None:
                raise ValueError(f"{flag}: got {value}; it applies to --backend distributed only: add "
                                 "--backend distributed or leave it out")
    if args.backend == "distributed":
        from staleness.paramserver.options import run_distributed

        return run_distributed(args, load_data, lambda: _distributed(args))
    from mlcore.stale_training import compare_policies, comparison_json, comparison_table, plot_comparison
    from mlcore.training import check_positive_float, check_positive_int
    from staleness import SimConfig

    workers = 4 if args.workers is None else args.workers
    runs = _runs(args, workers)
    _check_before_loading(args, workers)
    check_positive_int("--epochs", args.epochs)
    if args.sim_time is not None:
        check_positive_float("--sim-time", args.sim_time)
    for policy, k, _ in runs:  # K and the bound against P: the configuration each run builds, whatever it stops at
        SimConfig(learners=workers, policy=policy, k=k, bound=args.bound if policy == "ssp" else None, updates=1)
    data = load_data(args)
    cmp = compare_policies(data, runs=runs, learners=workers, epochs=args.epochs, batch_size=args.batch_size,
                           sim_time=args.sim_time, lr=args.lr, model=args.model, seed=args.seed, device=args.device,
                           bound=args.bound, show_progress=show_progress(args))
    emit(args, comparison_table(cmp), comparison_json(cmp), lambda path: plot_comparison(cmp, path))
    return 0


def _distributed(args: argparse.Namespace) -> int:
    from staleness.distributed import (
        _check,
        check_local_processes,
        compare_with_simulator,
        distributed_json,
        distributed_table,
        plot_distributed,
        run_parameter_server,
    )
    from staleness.paramserver.options import distributed_options_from_args

    if _policies(args) not in (None, ["async"]):
        raise ValueError(f"--policy: got {','.join(_policies(args))!r}; the distributed backend runs async only")
    if args.device == "cuda":
        raise ValueError("--device: got 'cuda'; the distributed backend runs its tiny model on the CPU")
    workers = 3 if args.workers is None else args.workers
    _check_before_loading(args, workers)
    if args.pushes is None and (isinstance(args.epochs, bool) or not isinstance(args.epochs, int) or args.epochs < 1):
        raise ValueError(f"--epochs: got {args.epochs!r}; give an integer >= 1")
    # before the data loads: any count >= 1 passes, and --epochs >= 1 passes of >= 1 batch give one
    _check(workers, 1 if args.pushes is None else args.pushes, args.lr, args.delay, args.timeout, args.heartbeat,
           args.port)
    data = load_data(args)
    pushes = args.pushes
    if pushes is None:
        pushes = args.epochs * math.ceil(len(data.train_y) / args.batch_size)
    # the options are checked before the "starting" line, so a bad one prints one line only
    _check(workers, pushes, args.lr, args.delay, args.timeout, args.heartbeat, args.port)
    if args.port:  # a taken port, too, is one line; the launcher binds it again just after
        from staleness.paramserver.launch import listen

        listen(args.port).close()
    from staleness.paramserver.options import nodes_from_args, torchrun_rank

    if torchrun_rank() is None and nodes_from_args(args) is None:  # all processes start on this machine
        check_local_processes(workers)  # before the "starting" line: 10,000 workers cannot start here
    if not args.json:
        print(f"starting 1 server + {workers} worker processes for {pushes} updates ...", file=sys.stderr)
    res = run_parameter_server(data.train_x, data.train_y, workers=workers, pushes=pushes, lr=args.lr,
                               batch_size=args.batch_size, delay_mean=args.delay, seed=args.seed,
                               timeout=args.timeout, show_progress=show_progress(args),
                               **distributed_options_from_args(args))
    cmp = compare_with_simulator(res, seed=args.seed)
    emit(args, distributed_table(res, cmp), distributed_json(res, cmp), lambda path: plot_distributed(res, cmp, path))
    return 0
