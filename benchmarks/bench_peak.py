"""Predicted peak memory (archcalc's liveness schedule) against the peak measured on the CPU, model by model.

For every zoo model (with its torch twin) and seven more torchvision models, at batch 1 / 8 / 32 on
3x64x64 inputs (inception-small: 3x32x32), it runs one ``no_grad`` inference, one SGD and one Adam training
step (``zero_grad(set_to_none=True); loss = model(x).sum(); loss.backward(); step()``) and compares
:func:`archcalc.memory.peak.peak_memory` with ``tests/peak_tracker.py``: glibc's live heap bytes sampled
after every torch call and every autograd node of the real run (see that file for exactly what it
counts). ``--precision bf16-mixed`` runs the same steps under ``torch.autocast("cpu", torch.bfloat16)``.

Usage (from the repository root; one torch thread, a few minutes)::

    python benchmarks/bench_peak.py                         # fp32, every model, print the table
    python benchmarks/bench_peak.py --precision bf16-mixed --models resnet18,resnet50,torchvision:mobilenet_v2
    python benchmarks/bench_peak.py --write                 # and replace the peak section of RESULTS.md
    python benchmarks/bench_peak.py --cuda                  # on a GPU: torch.cuda.max_memory_allocated instead

Target: every |error| <= 2 %. Activation checkpointing (``checkpoint_sequential`` on VGG / AlexNet) has its
own script and RESULTS.md section: ``benchmarks/bench_peak_checkpoint.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
ZOO = ("vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn", "alexnet", "googlenet",
       "resnet18", "resnet34", "resnet50", "inception-small")
TORCHVISION = ("mobilenet_v2", "mobilenet_v3_small", "shufflenet_v2_x1_0", "squeezenet1_1", "efficientnet_b0",
               "densenet121", "convnext_tiny")
SECTION = "## archcalc peak memory (issue 11)"


def _twin(name: str, size: int):
    import torch
    import torchvision

    torch.manual_seed(0)
    if name == "inception-small":
        from mlcore.models import inception_small

        return inception_small((3, size, size))
    tv = name.removeprefix("torchvision:")
    kwargs = {"aux_logits": False, "init_weights": False} if tv in ("googlenet", "inception_v3") else {}
    return getattr(torchvision.models, tv)(weights=None, **kwargs)


def _graph(name: str, size: int, batch: int):
    if name.startswith("torchvision:"):
        from archcalc.frontends.torch_trace import from_torchvision

        return from_torchvision(name.removeprefix("torchvision:"), (3, size, size), batch)
    from archcalc.zoo import build

    return build(name)


def _measure_cuda(model, x, mode: str, autocast_dtype) -> int:
    import contextlib

    import torch

    model, x = model.cuda().train(mode != "inference"), x.cuda()
    for p in model.parameters():
        p.grad = None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    ctx = torch.autocast("cuda", dtype=autocast_dtype) if autocast_dtype else contextlib.nullcontext()
    if mode == "inference":
        with torch.no_grad(), ctx:
            model(x)
    else:
        # the schedule models torch's single-tensor optimizers (the CPU default); CUDA defaults to foreach
        opt = (torch.optim.SGD(model.parameters(), lr=0.01, foreach=False) if mode == "sgd"
               else torch.optim.Adam(model.parameters(), foreach=False))
        with ctx:
            loss = model(x).sum()
        loss.backward()
        opt.step()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated()


def run(models, batches, modes, precision: str, cuda: bool) -> list[tuple]:
    import torch

    sys.path.insert(0, str(ROOT / "tests"))
    from peak_tracker import measure_step

    from archcalc.memory.peak import peak_memory

    torch.set_num_threads(1)
    dtype = torch.bfloat16 if precision == "bf16-mixed" else (torch.float16 if precision == "fp16-mixed" else None)
    rows = []
    for name in models:
        size = 32 if name == "inception-small" else 64
        model = _twin(name, size)
        for batch in batches:
            graph = _graph(name, size, batch)
            x = torch.randn(batch, 3, size, size)
            for mode in modes:
                start = time.perf_counter()
                if cuda:
                    measured, where = _measure_cuda(model, x, mode, dtype), "cuda"
                else:
                    m = measure_step(model, x, mode, dtype)
                    measured, where = m.peak_bytes, m.peak_where
                p = peak_memory(graph, (3, size, size), batch, training=mode != "inference",
                                optimizer="adam" if mode == "adam" else "sgd", precision=precision,
                                device="cuda" if cuda else "cpu")
                err = 100 * (p.peak_bytes - measured) / measured
                rows.append((name, batch, mode, measured, p.peak_bytes, err, f"{p.phase} {p.peak_op}", where))
                print(f"| {name} | {batch} | {mode} | {measured:,} | {p.peak_bytes:,} | {err:+.2f} | "
                      f"{p.phase} `{p.peak_op}` | {where} | {time.perf_counter() - start:.1f} s", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join([*ZOO, *(f"torchvision:{m}" for m in TORCHVISION)]))
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--modes", default="inference,sgd,adam")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16-mixed", "fp16-mixed"))
    parser.add_argument("--cuda", action="store_true", help="measure with torch.cuda.max_memory_allocated")
    parser.add_argument("--write", action="store_true", help="replace the peak section of RESULTS.md")
    args = parser.parse_args(argv)
    print("| model | batch | step | measured bytes | predicted bytes | error % | predicted peak at | measured at |")
    print("|---|---|---|---|---|---|---|---|")
    rows = run(args.models.split(","), [int(b) for b in args.batches.split(",")], args.modes.split(","),
               args.precision, args.cuda)
    worst = max(abs(r[5]) for r in rows)
    print(f"\n{len(rows)} cases, worst |error| {worst:.2f} % (target 2 %)")
    if args.write:
        from results import replace_section

        body = "\n".join(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:,} | {r[4]:,} | {r[5]:+.2f} |" for r in rows)
        block = (f"{SECTION}\n\n`python benchmarks/bench_peak.py --precision {args.precision}` ({len(rows)} cases, "
                 f"worst |error| {worst:.2f} %)\n\n| model | batch | step | measured bytes | predicted bytes | error % |\n"
                 f"|---|---|---|---|---|---|\n{body}\n")
        replace_section(SECTION, block)
    return 0 if worst <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
