"""Predicted (archcalc time on a calibrated CPU profile) vs measured forward time, per op and end to end.

    PYTHONPATH=. python benchmarks/bench_time_cpu.py [--repeats 15] [--calibration-repeats 30] [--models a,b]

Runs ``archcalc calibrate``'s measurement (:func:`archcalc.time.calibrate.calibrate`, one torch thread),
writes the profile to a temporary TOML file and reads it back, then for each model traces it, predicts
every row on the profile and times the real forward on this CPU (:func:`archcalc.time.measure.time_check`:
leaf modules with hooks, the whole forward without; thread CPU time, the fastest of ``--repeats`` runs).
Prints per model: ops timed, median and worst per-op error, end-to-end predicted / measured / error; then
per op family over all models, and the medians over models. Functional ops (no module) count end to end
only. ``--training`` adds, for the image models, a training step end to end
(:func:`archcalc.time.measure.training_step_check`: train mode, ``output.sum()`` backward, SGD step).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def _gpt2_decoder():
    """A GPT-2-style decoder (4 layers, 256 wide, 4 heads, 64 positions) from a config: no weights."""
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(n_layer=4, n_embd=256, n_head=4, n_positions=64, vocab_size=2000, attn_implementation="sdpa")
    return GPT2LMHeadModel(cfg)


def _models():
    """``(label, build, per-sample shape, batch, input dtypes)``."""
    import torchvision

    def tv(name):
        return lambda: getattr(torchvision.models, name)(weights=None)

    return [
        ("resnet18", tv("resnet18"), (3, 64, 64), 8, ()),
        ("resnet50", tv("resnet50"), (3, 64, 64), 4, ()),
        ("alexnet", tv("alexnet"), (3, 96, 96), 8, ()),
        ("vgg11", tv("vgg11"), (3, 64, 64), 4, ()),
        ("vgg16_bn", tv("vgg16_bn"), (3, 32, 32), 4, ()),
        ("googlenet", lambda: torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False),
         (3, 64, 64), 4, ()),
        ("mobilenet_v2", tv("mobilenet_v2"), (3, 64, 64), 8, ()),
        ("squeezenet1_0", tv("squeezenet1_0"), (3, 64, 64), 8, ()),
        ("densenet121", tv("densenet121"), (3, 32, 32), 4, ()),
        ("shufflenet_v2_x1_0", tv("shufflenet_v2_x1_0"), (3, 64, 64), 8, ()),
        ("gpt2-4x256 (seq 64)", _gpt2_decoder, (64,), 4, ("int64",)),
    ]


def main() -> None:
    import torch

    from archcalc.time.calibrate import calibrate, write_profile
    from archcalc.time.measure import time_check
    from archcalc.time.profiles import get_profile

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--calibration-repeats", type=int, default=30)
    parser.add_argument("--models", default="", help="comma-separated labels (default: all)")
    parser.add_argument("--training", action="store_true",
                        help="also a training step (SGD) end to end for the image models")
    args = parser.parse_args()
    print(f"load average at start: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
    t0 = time.perf_counter()
    run = calibrate(threads=1, repeats=args.calibration_repeats)
    path = Path(tempfile.mkdtemp()) / "cpu-calibrated.toml"
    write_profile(str(path), "cpu-calibrated", run)
    cpu = get_profile("cpu-calibrated", str(path))
    print(f"calibrated in {time.perf_counter() - t0:.0f} s: {cpu.calibration.summary()}")
    print(f"{'model':<22} {'ops':>4} {'median err':>10} {'worst err':>10} {'worst op':<24} {'e2e pred':>9} "
          f"{'e2e meas':>9} {'e2e err':>8}")
    wanted = {m for m in args.models.split(",") if m}
    checks = []
    for label, build, shape, batch, dtypes in _models():
        if wanted and label not in wanted:
            continue
        torch.manual_seed(0)
        c = time_check(build(), shape, batch=batch, profile=cpu, input_dtypes=dtypes, repeats=args.repeats,
                       model=label)
        checks.append(c)
        w = c.worst
        print(f"{label:<22} {len(c.ops):>4} {100 * c.median_error:>9.0f}% {100 * w.error:>9.0f}% "
              f"{w.name[:24]:<24} {1e3 * c.predicted_s:>7.2f}ms {1e3 * c.measured_s:>7.2f}ms "
              f"{100 * c.error:>7.0f}%", flush=True)
    print("per op family, all models:")
    fams = sorted({o.family for c in checks for o in c.ops})
    for fam in fams:
        errs = [o.error for c in checks for o in c.ops if o.family == fam]
        print(f"  {fam:<12} {len(errs):>4} ops  median {100 * statistics.median(errs):.0f} %  "
              f"worst {100 * max(errs):.0f} %")
    allerr = [o.error for c in checks for o in c.ops]
    e2e = [c.error for c in checks]
    print(f"all ops: {len(allerr)}, median per-op error {100 * statistics.median(allerr):.0f} %, worst "
          f"{100 * max(allerr):.0f} %; end to end: median {100 * statistics.median(e2e):.0f} %, worst "
          f"{100 * max(e2e):.0f} % over {len(checks)} models")
    if args.training:
        from archcalc.time.measure import training_step_check

        print("training step (forward, output.sum() backward, SGD step), end to end:")
        steps = []
        for label, build, shape, batch, dtypes in _models():
            if dtypes or (wanted and label not in wanted):
                continue
            torch.manual_seed(0)
            s = training_step_check(build(), shape, batch=batch, profile=cpu, repeats=max(3, args.repeats // 3))
            steps.append(s.error)
            print(f"  {label:<22} predicted {1e3 * s.predicted_s:8.2f} ms  measured {1e3 * s.measured_s:8.2f} ms  "
                  f"error {100 * s.error:.0f} %", flush=True)
        print(f"  training step: median error {100 * statistics.median(steps):.0f} %, worst {100 * max(steps):.0f} %")
    print(f"load average at end: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
