"""``archcalc calibrate [--output FILE] [--name KEY] [--threads N] [--repeats N] [--quick]``.

Runs micro-benchmarks on this machine with torch (GEMMs of several shapes, dense, pointwise and depthwise
convolutions, attention, element-wise ops and a copy, pooling, norms, and the backward of most of them;
fp32 on the CPU), and writes a device profile with the achieved rate per op family as a function of the
op's work, forward and backward, the per-op overheads and the between-op sequence factor, for
``archcalc time MODEL --device KEY --device-file FILE`` and ``archcalc crosscheck MODEL --time``.
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    from archcalc.commands._peakopts import positive_int

    parser = subparsers.add_parser(
        "calibrate", help="measure this device's per-op-family efficiency curves into a profile file (torch)",
        description=__doc__.split("\n\n")[1].replace("\n", " ").replace("``", "`"))
    parser.add_argument("--output", "-o", default="cpu-calibrated.toml", metavar="FILE",
                        help="profile file to write (default cpu-calibrated.toml; replaced atomically)")
    parser.add_argument("--name", default="cpu-calibrated", metavar="KEY",
                        help="the profile's --device name (default cpu-calibrated)")
    parser.add_argument("--threads", type=positive_int("--threads"), default=1, metavar="N",
                        help="torch threads while measuring (default 1)")
    parser.add_argument("--repeats", type=positive_int("--repeats"), default=30, metavar="N",
                        help="timed runs per benchmark at most; the fastest counts (default 30)")
    parser.add_argument("--quick", action="store_true", help="skip the largest sizes (about 10 s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import re

    from archcalc.time.calibrate import calibrate, write_profile
    from dlperf.fileio import check_output_path

    if not re.fullmatch(r"[A-Za-z0-9_-]+", args.name):
        raise ValueError(f"--name: got {args.name!r}; use letters, digits, '-' and '_' (a TOML bare key)")
    check_output_path("--output", args.output)
    result = calibrate(threads=args.threads, repeats=args.repeats, quick=args.quick)
    write_profile(args.output, args.name.lower(), result)
    sys.stdout.write("".join(f"{line}\n" for line in result.calibration.lines()))
    sys.stderr.write(f"wrote {args.output}\nuse it: archcalc time MODEL --device {args.name.lower()} "
                     f"--device-file {args.output}\n")
    return 0
