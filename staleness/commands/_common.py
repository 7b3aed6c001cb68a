"""Argument helpers shared by the staleness subcommands (parsing only; values are checked by SimConfig)."""

from __future__ import annotations

import argparse

from staleness.config import DISTS, POLICIES, TIE_BREAKS, UNITS


def number_list(flag: str, text: str) -> list[float]:
    """``"1,2.5"`` -> [1.0, 2.5]; a non-numeric entry is a one-line error naming the flag."""
    out = []
    for part in text.split(","):
        try:
            out.append(float(part))
        except ValueError:
            raise ValueError(f"{flag}: got {text!r}; give comma-separated numbers such as 1,1,2.5") from None
    return out


def scalar_or_list(flag: str, text: str | None) -> float | list[float] | None:
    if text is None:
        return None
    values = number_list(flag, text)
    return values[0] if len(values) == 1 else values


def add_system_options(parser: argparse.ArgumentParser, with_learners: bool = True, lists: bool = False) -> None:
    """Options that describe the system (everything but the stopping rule and the output); with ``lists``
    (sweep) ``--k`` takes a comma list like every list option."""
    if with_learners:
        parser.add_argument("--learners", "-P", type=int, default=None, help="number of learners P (default 4)")
    parser.add_argument("--policy", default="async", help=("server policies, comma-separated: " if lists else
                        "server policy: ") + f"{', '.join(POLICIES)} (default async)")
    if lists:
        parser.add_argument("--k", "-K", default=None, help="comma-separated K values of the k-* policies (required "
                            "with them)")
    else:
        parser.add_argument("--k", "-K", type=int, default=None, help="K of the k-* policies (1 <= K <= P), required "
                            "with them")
    parser.add_argument("--bound", type=int, default=None, help="staleness bound s of ssp")
    parser.add_argument("--dist", default="exp", help=f"compute-time distribution: {', '.join(DISTS)} (default exp)")
    parser.add_argument("--mean", type=float, default=1.0, help="mean compute time (default 1, in --unit)")
    parser.add_argument("--shape", type=float, default=None,
                        help="shifted-exp: shift/mean (0.5); uniform: half-width/mean (1); lognormal: sigma (0.5); "
                        "pareto: alpha (3)")
    parser.add_argument("--speeds", default=None, help="speed factor per learner, comma-separated (2 = twice as fast)")
    parser.add_argument("--pull-latency", default=None, help="seconds, one value or one per learner")
    parser.add_argument("--push-latency", default=None, help="seconds, one value or one per learner")
    parser.add_argument("--apply-time", type=float, default=0.0, help="seconds per server update (default 0)")
    parser.add_argument("--unit", default="s", help=f"time unit of every time given and shown: {', '.join(UNITS)} "
                        "(default s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-learner random streams (default 0)")
    parser.add_argument("--tie-break", default="fifo",
                        help=f"order of simultaneous pushes: {', '.join(TIE_BREAKS)} (default fifo: the computation "
                        "scheduled first is served first, then the lower learner)")


def system_kwargs(args: argparse.Namespace) -> dict:
    """SimConfig keyword arguments from the options of :func:`add_system_options`."""
    kw = dict(policy=args.policy, k=args.k, bound=args.bound, dist=args.dist, mean=args.mean, shape=args.shape,
              apply_time=args.apply_time, seed=args.seed, tie_break=args.tie_break, unit=args.unit)
    for name, flag in (("speeds", "--speeds"), ("pull_latency", "--pull-latency"), ("push_latency", "--push-latency")):
        value = scalar_or_list(flag, getattr(args, name))
        if value is not None:
            kw[name] = value
    return kw
