"""`archcalc fit torchvision:vit_b_16 --training` against three real steps at its batch and one more (issue 19).

The batch comes from :func:`~archcalc.memory.liveness.fit.fit` on the command line's own graph factory
(``archcalc.commands._peakopts.graph_factory``: torchvision's ``vit_b_16(weights=None)`` traced in training
mode at each batch tried); the real steps run ``torchvision.models.vit_b_16(weights=None)`` under
``tests/peak_profiler.py`` ``measure_steps_storage`` (tensor storage bytes from the CPU allocator's events,
three steps after a warm-up step on a copy). Every real step at ``B`` must fit the usable memory and step 3
at ``B + 1`` must not. One torch thread.

Usage::

    python benchmarks/bench_fit_vit.py [--budget 1500000000] [--optimizer adam] [--write]
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

TITLE = "## archcalc fit on torchvision's ViT-B/16: the batch and one more, three real steps (issue 19)"


@functools.cache
def _steps(batch: int, optimizer: str) -> tuple[int, ...]:
    import torch
    from peak_profiler import measure_steps_storage

    from archcalc.models.torchvision_models import build_torchvision

    torch.manual_seed(0)
    model = build_torchvision("vit_b_16", (3, 224, 224), "cpu")
    return tuple(s.peak_bytes for s in measure_steps_storage(model, torch.randn(batch, 3, 224, 224), optimizer))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=1_500_000_000, help="bytes (default %(default)s)")
    parser.add_argument("--optimizer", default="adam", choices=("sgd", "momentum", "adam", "adamw"))
    parser.add_argument("--write", action="store_true", help="write the table into benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    import torch

    from archcalc.commands._peakopts import graph_factory
    from archcalc.memory.liveness.fit import fit

    torch.set_num_threads(1)
    load_before, start = os.getloadavg(), time.time()
    options = argparse.Namespace(training=True, decoder_seq=None, trust_remote_code=False, input_dtype=None)
    graph_at = graph_factory("torchvision:vit_b_16", options)
    lines = ["| optimizer | budget | margin | usable | fit's batch B | predicted at B | measured steps 1-3 at B | "
             "predicted at B + 1 | measured step 3 at B + 1 | B fits, B + 1 does not |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    ok = True
    for label, margin in (("0", {"margin": 0.0}), ("default (5%)", {})):
        f = fit(graph_at, args.budget, input_shape=(3, 224, 224), training=True, optimizer=args.optimizer, **margin)
        at, over = _steps(f.batch, args.optimizer), _steps(f.batch + 1, args.optimizer)
        good = max(at) <= f.usable_bytes < over[2]
        ok &= good
        lines.append(f"| {args.optimizer} | {args.budget:,} | {label} | {f.usable_bytes:,} | {f.batch} | "
                     f"{f.peak.peak_bytes:,} | {' / '.join(f'{m:,}' for m in at)} | {f.next_peak_bytes:,} | "
                     f"{over[2]:,} | {'yes' if good else '**no**'} |")
        print(lines[-1], flush=True)
    if args.write:
        from results import replace_section

        load_after = os.getloadavg()
        table = "\n".join(lines)
        command = " ".join(["python", "benchmarks/bench_fit_vit.py", *argv])
        replace_section(TITLE, f"""{TITLE}

`fit`'s batch for torchvision's `vit_b_16(weights=None)` at 3 x 224 x 224 (the command line's graph, traced in
training mode at each batch tried: its 37 dropouts have p = 0 and are the identity) against three real steps
at B and at B + 1 (`tests/peak_profiler.py` `measure_steps_storage`, tensor storage; one torch thread).

`{command}`: {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, {time.time() - start:.0f} s, load
average (1-min) {load_before[0]:.2f} before / {load_after[0]:.2f} after; {platform.machine()}, Python
{platform.python_version()}, torch {torch.__version__.split("+")[0]}.

{table}
""")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
