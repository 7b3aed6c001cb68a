"""``archcalc fit`` at a budget this machine cannot hold, checked by three Adam steps on fake tensors.

``fit resnet50 --device-memory 24GiB --training --optimizer adam`` needs a real run at ~24 GiB to check, more
than this VM's 23 GB. ``tests/fake_peak.py`` runs the same training loop on ``FakeTensorMode`` tensors (no
data, real sizes) and follows every storage the ops return: exact storage bytes at op boundaries with no
memory behind them. Two parts:

1. the fake oracle against the real allocator (``tests/peak_profiler.py``, torch.profiler's allocation
   events) on the real torchvision ResNet-50, Adam, three steps, at small batches (``--validate``);
2. ``fit``'s batch B and B + 1 at the budget, with the default margin and with ``margin=0``: three Adam
   steps of each on fake tensors; B's step peaks must fit the budget ``fit`` searched (usable bytes), B + 1's
   step 3 must not. ``--memtracker`` adds ``torch.distributed._tools.mem_tracker.MemTracker`` (torch's own
   tracker, per-op samples) on the same fake steps as a second opinion.

Usage::

    python benchmarks/bench_fit_fake.py                       # validate at 2,4,8, then 24 GiB
    python benchmarks/bench_fit_fake.py --validate 1,2,4,8,32 --memtracker --write   # the RESULTS.md run
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _resnet50():
    import torchvision

    return torchvision.models.resnet50(weights=None)


def _memtracker_peaks(batch: int) -> list[int]:
    """Each step's peak by torch's MemTracker (per-op samples, outputs tracked by storage weakrefs)."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.distributed._tools.mem_tracker import MemTracker

    peaks = []
    with FakeTensorMode():
        model = _resnet50()
        opt = torch.optim.Adam(model.parameters(), lr=0.001)
        x = torch.randn(batch, 3, 224, 224)
        tracker = MemTracker()
        tracker.track_external(model, opt, x)
        with tracker:
            for _ in range(3):
                opt.zero_grad(set_to_none=True)
                model(x).sum().backward()
                opt.step()
                peaks.append(tracker.get_tracker_snapshot("peak")[torch.device("cpu")]["Total"])
                tracker.reset_mod_stats()
    return peaks


def validate(batches, memtracker: bool) -> list[str]:
    import torch
    from fake_peak import fake_steps
    from peak_profiler import measure_steps_storage

    rows = ["| batch | step | real allocator bytes (op boundaries) | real, op scratch included | fake oracle bytes | "
            "fake - real | " + ("MemTracker bytes | " if memtracker else "") + "fake s | real s |",
            "|---|---|---|---|---|---|" + ("---|" if memtracker else "") + "---|---|"]
    for batch in batches:
        t = time.perf_counter()
        fake = fake_steps(_resnet50, (batch, 3, 224, 224), "adam")
        t_fake = time.perf_counter() - t
        torch.manual_seed(0)
        t = time.perf_counter()
        real = measure_steps_storage(_resnet50(), torch.randn(batch, 3, 224, 224), "adam")
        t_real = time.perf_counter() - t
        mt = _memtracker_peaks(batch) if memtracker else None
        for i, (f, r) in enumerate(zip(fake, real, strict=True)):
            rows.append(f"| {batch} | {i + 1} | {r.peak_bytes:,} | {r.peak_any_bytes:,} | {f.peak_bytes:,} | "
                        f"{f.peak_bytes - r.peak_bytes:+,} | " + (f"{mt[i]:,} | " if mt else "")
                        + f"{t_fake:.1f} | {t_real:.1f} |")
            print(rows[-1], flush=True)
    return rows


def at_budget(budget: int, memtracker: bool) -> list[str]:
    from fake_peak import fake_steps

    from archcalc.memory.liveness.fit import DEFAULT_MARGIN, fit
    from archcalc.models.zoo import build

    rows = ["| margin | fit's batch | usable bytes | batch | archcalc peak | fake step 1 | fake step 2 | fake step 3 | "
            "fits usable? | fits the budget? | " + ("MemTracker steps 1-3 | " if memtracker else "") + "fake s |",
            "|---|---|---|---|---|---|---|---|---|---|" + ("---|" if memtracker else "") + "---|"]
    for margin in (DEFAULT_MARGIN, 0.0):
        f = fit(lambda b, s: build("resnet50"), budget, input_shape=(3, 224, 224), training=True,
                optimizer="adam", margin=margin)
        for batch, predicted in ((f.batch, f.peak.peak_bytes), (f.batch + 1, f.next_peak_bytes)):
            t = time.perf_counter()
            steps = fake_steps(_resnet50, (batch, 3, 224, 224), "adam")
            took = time.perf_counter() - t
            top = max(s.peak_bytes for s in steps)
            mt = ", ".join(f"{p:,}" for p in _memtracker_peaks(batch)) + " | " if memtracker else ""
            rows.append(f"| {margin:g} | {f.batch} | {f.usable_bytes:,} | {batch} | {predicted:,} | "
                        + " | ".join(f"{s.peak_bytes:,}" for s in steps)
                        + f" | {'yes' if top <= f.usable_bytes else 'no'} | {'yes' if top <= budget else 'no'} | "
                        + mt + f"{took:.1f} |")
            print(rows[-1], flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--validate", default="2,4,8", help="batches checked against the real allocator ('' for none)")
    parser.add_argument("--budget", default="24GiB", help="the fit budget (default 24GiB)")
    parser.add_argument("--memtracker", action="store_true", help="also torch's MemTracker on the fake steps")
    parser.add_argument("--write", action="store_true", help="replace this benchmark's section of RESULTS.md")
    args = parser.parse_args(argv)
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    import torch

    from archcalc.memory.units import parse_bytes

    torch.set_num_threads(1)
    budget = parse_bytes(args.budget)
    load_before = os.getloadavg()[0]
    t = time.perf_counter()
    batches = [int(b) for b in args.validate.split(",") if b]
    valid = validate(batches, args.memtracker) if batches else []
    fits = at_budget(budget, args.memtracker)
    wall = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    load_after = os.getloadavg()[0]
    print(f"wall {wall:.0f} s, max RSS {rss:,} MiB, load {load_before:.1f} -> {load_after:.1f}")
    if args.write:
        _write(argv if argv is not None else sys.argv[1:], valid, fits, wall, rss, load_before, load_after)
    return 0


def _write(argv, valid, fits, wall, rss, load_before, load_after) -> None:
    import torch
    from results import replace_section

    title = "## archcalc fit at 24 GiB checked on fake tensors (issue 19)"
    command = " ".join(["python", "benchmarks/bench_fit_fake.py", *argv])
    text = f"""{title}

`archcalc fit resnet50 --device-memory 24GiB --training --optimizer adam` (the issue's case) cannot be run for
real here (23 GB of RAM, no GPU). Oracle: `tests/fake_peak.py`, the training loop of the other oracles
(`opt.zero_grad(set_to_none=True); model(x).sum().backward(); opt.step()`, torch.optim.Adam single-tensor, as
on the CPU) on `FakeTensorMode` tensors, every storage an op returns followed by a weakref: exact tensor
storage bytes, sampled after each op (forward, optimizer) and each autograd node (backward), with no memory
behind them. It sees no allocator (no malloc headers, page or 512-byte CUDA rounding, no fragmentation) and
no scratch space a kernel frees before returning; it runs the CPU's kernel choice (single-tensor Adam, not
CUDA's foreach / fused). Nothing in it imports archcalc.

{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, torch {torch.__version__}, one torch
thread, load average {load_before:.1f} before / {load_after:.1f} after (1-min), wall {wall:.0f} s, max RSS
{rss:,} MiB:

    {command}

The fake oracle against the real allocator (`tests/peak_profiler.py`, torch.profiler's allocation events),
torchvision ResNet-50 (weights=None), Adam, steps 1-3:

""" + "\n".join(valid) + """

`fit` at the budget (zoo `resnet50`, the CLI's graph), then three fake Adam steps at its batch B and B + 1;
"fits usable" compares the largest step peak with the budget less fit's margin (what fit searched):

""" + "\n".join(fits) + "\n" + _READING
    replace_section(title, text)


_READING = """
Reading. The fake oracle equals the real allocator's op-boundary peak byte for byte at every batch and step
(the real peak with op scratch, the column beside it, is 4 bytes to 10 MB higher: oneDNN's and the
kernels' workspaces, which neither the fake oracle nor archcalc sees). Two things make it exact: (1) any
Python dispatch mode makes autograd's engine sum two gradients of one input out of place (the mode's
wrappers hold a reference, so the engine's "only holder" test fails), where the real engine adds in place
(ResNet-50: 16 sums per step, all `aten::add_` in the profiler); the oracle books those sums in place;
(2) Python numbers wrapped into 0-d float64 tensors (Adam's `/ bias_correction2_sqrt`) are counted though
the mode receives them unwrapped. MemTracker (per-op samples, no such bookings) reads 12 bytes low at
step 1 of batch 1-2 (the wrapped scalars) and 0.5-2.1 MB high elsewhere (the out-of-place sum and the
temporaries inside backward nodes, which it samples op by op); at batch 32 and 278 it gives the same
peaks.
At 24 GiB fit's batch survives three Adam steps within the budget it searched and batch + 1 does not, with
the default 5 % margin and with margin 0; archcalc's predictions are 8 bytes under the fake step 3 (the loss
and its seed gradient, alive through the backward pass). The fake runs at batch 278-294 take 3-9 s each (load 4-8); a
process running only those four peaks at 691 MiB RSS, torch included ("fake s" / "real s": all three
steps of that batch).
"""


if __name__ == "__main__":
    sys.exit(main())
