"""Predicted (archcalc time, calibrated CPU profile) vs measured forward time per module, on this CPU.

    PYTHONPATH=. python benchmarks/bench_time_cpu.py [--threads 1] [--repeats 7]

Calibrates the CPU (fp32 GEMM, streaming copy), writes the profile to ``cpu-measured.toml`` in a temporary
folder and reads it back as a device profile, traces each torchvision model at a small input, then times every
leaf module's forward with hooks (median of the repeats after a warm-up) and compares with the roofline's
forward time of the row of the same name. Functional ops (``x + y``, ``flatten``) have no module: they count
in the end-to-end figure only. Prints per model: ops compared, median and worst absolute relative error per
op, and end to end (sum of the model's predicted rows vs the measured forward).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

MODELS = (("resnet18", (3, 64, 64), 8), ("alexnet", (3, 96, 96), 8), ("vgg11", (3, 64, 64), 4))


def measure(model, x, repeats):
    import torch

    starts, per = {}, {}
    leaves = {n: m for n, m in model.named_modules() if n and not list(m.children())}

    def pre(name):
        return lambda mod, inp: starts.__setitem__(name, time.perf_counter())

    def post(name):
        return lambda mod, inp, out: per.setdefault(name, []).append(time.perf_counter() - starts[name])

    handles = [m.register_forward_pre_hook(pre(n)) for n, m in leaves.items()]
    handles += [m.register_forward_hook(post(n)) for n, m in leaves.items()]
    totals = []
    with torch.no_grad():
        model(x)
        per.clear()
        for _ in range(repeats):
            t = time.perf_counter()
            model(x)
            totals.append(time.perf_counter() - t)
    for h in handles:
        h.remove()
    return {n: statistics.median(v) for n, v in per.items()}, statistics.median(totals)


def main() -> None:
    import torch
    import torchvision

    from archcalc.frontends.torch_trace import from_torchvision
    from archcalc.ir.evaluate import evaluate
    from archcalc.time.calibrate import calibrate_cpu, profile_toml
    from archcalc.time.profiles import get_profile
    from archcalc.time.roofline import step_time

    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    prof = calibrate_cpu(threads=args.threads)
    path = Path(tempfile.mkdtemp()) / "cpu-measured.toml"
    path.write_text(profile_toml("cpu-measured", prof))
    cpu = get_profile("cpu-measured", str(path))
    print(f"calibrated: fp32 GEMM {cpu.peak('fp32') / 1e9:.1f} GFLOP/s, copy {cpu.memory_bandwidth / 1e9:.1f} GB/s, "
          f"{args.threads} thread(s); {prof['notes']}")
    print(f"{'model':<10} {'ops':>4} {'median err':>10} {'worst err':>10} {'worst op':<22} {'e2e pred':>9} "
          f"{'e2e meas':>9} {'e2e err':>8}")
    for name, shape, batch in MODELS:
        torch.manual_seed(0)
        model = getattr(torchvision.models, name)(weights=None).eval()
        measured, total = measure(model, torch.randn(batch, *shape), args.repeats)
        step = step_time(evaluate(from_torchvision(name, shape, batch), shape, batch), cpu, precision="fp32")
        predicted = {o.name: o.time_s for o in step.ops}
        errors = {n: abs(predicted[n] - t) / t for n, t in measured.items() if n in predicted}
        worst = max(errors, key=errors.get)
        print(f"{name:<10} {len(errors):>4} {100 * statistics.median(errors.values()):>9.0f}% "
              f"{100 * errors[worst]:>9.0f}% {worst[:22]:<22} {1e3 * step.time_s:>7.2f}ms {1e3 * total:>7.2f}ms "
              f"{100 * abs(step.time_s - total) / total:>7.0f}%")


if __name__ == "__main__":
    main()
