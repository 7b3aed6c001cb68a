"""What the heap oracle counts beyond tensor storage: heap minus storage held after a forward pass, per autograd node.

For each model (3x64x64, batch 1, train mode, one torch thread, two warm-up passes) it runs
``model(x).sum()`` with gradients twice: once under ``tests/peak_profiler.py`` (the storage bytes the
forward pass leaves alive: saved tensors and the loss) and once between two readings of glibc's live heap
(``tests/peak_tracker.live_heap_bytes``). The difference is heap that is not tensor storage; divided by
the autograd graph's node count (walked from ``loss.grad_fn``) it is the bytes per node.

Usage::

    python benchmarks/bench_peak_gap.py [--models a,b,...] [--write]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Heap minus tensor storage after a forward pass, per autograd node (issue 11)"
MODELS = ("torchvision:shufflenet_v2_x1_0", "resnet18", "torchvision:mobilenet_v2", "torchvision:efficientnet_b0",
          "torchvision:densenet121")


def _nodes(root) -> int:
    seen, todo = set(), [root]
    while todo:
        fn = todo.pop()
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        todo.extend(f for f, _ in fn.next_functions)
    return len(seen)


def measure(name: str) -> tuple[int, int, int, int]:
    """(autograd nodes, heap bytes, storage bytes, heap - storage) held after ``model(x).sum()``."""
    import torch
    from bench_peak import _twin
    from peak_profiler import trace_storage
    from peak_tracker import live_heap_bytes

    model, x = _twin(name, 64).train(), torch.randn(1, 3, 64, 64)
    for _ in range(2):  # oneDNN caches and the allocator's arenas, as the oracles' warm-up step does
        model(x).sum()
    gc.collect()
    box: list = []
    storage = trace_storage(lambda: box.append(model(x).sum())).end_bytes
    nodes = _nodes(box[0].grad_fn)
    box.clear()
    gc.collect()
    before = live_heap_bytes()
    loss = model(x).sum()
    heap = live_heap_bytes() - before
    del loss
    return nodes, heap, storage, heap - storage


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--write", action="store_true", help="replace this section of RESULTS.md")
    args = parser.parse_args(argv)
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    lines = ["| model | autograd nodes | heap bytes | storage bytes | heap - storage | per node |", "|---|---|---|---|---|---|"]
    for name in args.models.split(","):
        nodes, heap, storage, gap = measure(name)
        lines.append(f"| {name} | {nodes} | {heap:,} | {storage:,} | {gap:,} | {gap / nodes:,.0f} B |")
        print(lines[-1], flush=True)
    if args.write:
        from results import replace_section

        command = " ".join(["python", "benchmarks/bench_peak_gap.py", *(argv if argv is not None else sys.argv[1:])])
        replace_section(SECTION, f"{SECTION}\n\n`{command}` (load average {load:.2f}, 1-min). What the forward pass "
                                 "of a training step leaves on the heap beyond tensor storage (see the script's "
                                 "docstring).\n\n" + "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
