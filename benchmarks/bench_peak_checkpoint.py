"""Predicted peak of a training step with activation checkpointing against the real CPU run.

The real step is ``checkpoint_sequential(model.features, segments, x, use_reentrant=False)`` followed by
``avgpool``, ``flatten`` and ``classifier`` (torchvision's VGG / AlexNet, ``weights=None``), in
``zero_grad(set_to_none=True); loss = model(x).sum(); loss.backward(); step()``; the prediction is
``peak_memory(build(name), ..., checkpoint_segments=segments)``. The oracle is ``tests/peak_tracker.py``
with ``every_kernel=True``: it also samples after every ATen kernel, including those inside a backward node,
because the tensors a checkpointed segment recomputes are dropped as soon as their node returns, before
the node post-hook the default sampling uses.

Usage (from the repository root; one torch thread, about ten minutes)::

    python benchmarks/bench_peak_checkpoint.py            # print the table
    python benchmarks/bench_peak_checkpoint.py --write    # and replace its section of RESULTS.md

Target: every |error| <= 2 %.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## archcalc peak memory with activation checkpointing (issue 11)"


def _model(name: str, segments: int):
    import torch
    import torchvision

    torch.manual_seed(0)
    net = getattr(torchvision.models, name)(weights=None)

    class Checkpointed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x):
            from torch.utils.checkpoint import checkpoint_sequential

            m = self.net
            x = checkpoint_sequential(m.features, segments, x, use_reentrant=False) if segments > 1 else m.features(x)
            return m.classifier(torch.flatten(m.avgpool(x), 1))

    return Checkpointed()


def run(models, batches, segment_counts, modes, size: int) -> list[tuple]:
    import torch

    sys.path.insert(0, str(ROOT / "tests"))
    sys.path.insert(0, str(ROOT))
    from peak_tracker import measure_step

    from archcalc.memory.liveness.peak import peak_memory
    from archcalc.zoo import build

    torch.set_num_threads(1)
    rows = []
    for name in models:
        graph = build(name)
        for batch in batches:
            x = torch.randn(batch, 3, size, size)
            for segments in segment_counts:
                model = _model(name, segments)
                for mode in modes:
                    start = time.perf_counter()
                    measured = measure_step(model, x, mode, every_kernel=True).peak_bytes
                    p = peak_memory(graph, (3, size, size), batch, training=True, optimizer=mode,
                                    checkpoint_segments=segments)
                    err = 100 * (p.peak_bytes - measured) / measured
                    rows.append((name, batch, segments, mode, measured, p.peak_bytes, err, f"{p.phase} `{p.peak_op}`"))
                    print(f"| {name} | {batch} | {segments} | {mode} | {measured:,} | {p.peak_bytes:,} | {err:+.2f} | "
                          f"{p.phase} `{p.peak_op}` | {time.perf_counter() - start:.1f} s", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="vgg11,vgg16,alexnet")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--segments", default="1,4")
    parser.add_argument("--modes", default="sgd,adam")
    parser.add_argument("--size", type=int, default=224, help="input height and width (default 224)")
    parser.add_argument("--write", action="store_true", help="replace this benchmark's section of RESULTS.md")
    args = parser.parse_args(argv)
    print("| model | batch | segments | step | measured bytes | predicted bytes | error % | predicted peak at |")
    print("|---|---|---|---|---|---|---|---|")
    rows = run(args.models.split(","), [int(b) for b in args.batches.split(",")],
               [int(k) for k in args.segments.split(",")], args.modes.split(","), args.size)
    worst = max(abs(r[6]) for r in rows)
    print(f"\n{len(rows)} cases, worst |error| {worst:.2f} % (target 2 %)")
    if args.write:
        from results import replace_section

        body = "\n".join(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:,} | {r[5]:,} | {r[6]:+.2f} | {r[7]} |"
                         for r in rows)
        block = (f"{SECTION}\n\n`python benchmarks/bench_peak_checkpoint.py` (3x{args.size}x{args.size}, one torch "
                 f"thread, {len(rows)} cases, worst |error| {worst:.2f} %). Real step: `checkpoint_sequential("
                 "model.features, segments, x, use_reentrant=False)`, then avgpool, flatten, classifier; oracle "
                 "`tests/peak_tracker.py` with `every_kernel=True` (samples after every ATen kernel too).\n\n"
                 "| model | batch | segments | step | measured bytes | predicted bytes | error % | predicted peak at |\n"
                 f"|---|---|---|---|---|---|---|---|\n{body}\n")
        replace_section(SECTION, block)
    return 0 if worst <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
