"""Predicted peak memory (archcalc's liveness schedule) against the peak measured on the CPU, model by model.

For every zoo model (with its torch twin) and seven more torchvision models, at batch 1 / 8 / 32 on
3x64x64 inputs (inception-small: 3x32x32), it runs one ``no_grad`` inference, one SGD and one Adam training
step (``zero_grad(set_to_none=True); loss = model(x).sum(); loss.backward(); step()``) and compares
:func:`archcalc.memory.liveness.peak.peak_memory` with ``tests/peak_tracker.py``: glibc's live heap bytes sampled
after every torch call and every autograd node of the real run (see that file for exactly what it
counts). ``--oracle profiler`` (or ``both``) measures tensor storage bytes only instead (or as well): the
CPU allocator's allocation events from ``torch.profiler`` (``tests/peak_profiler.py``); its ``--write`` fills
its own RESULTS.md section. ``--precision bf16-mixed`` runs the same steps under ``torch.autocast("cpu", torch.bfloat16)``.

Usage (from the repository root; one torch thread, a few minutes)::

    python benchmarks/bench_peak.py                         # fp32, every model, print the table
    python benchmarks/bench_peak.py --precision bf16-mixed --models resnet18,resnet50,torchvision:mobilenet_v2
    python benchmarks/bench_peak.py --write                 # and replace the peak section of RESULTS.md
    python benchmarks/bench_peak.py --cuda                  # on a GPU: torch.cuda.max_memory_allocated instead
    python benchmarks/bench_peak.py --oracle both           # and tensor storage bytes (tests/peak_profiler.py)
    python benchmarks/bench_peak.py --step 3 --modes sgd,momentum,adam --oracle both   # the steady state

``--step 3`` runs three training steps with one optimizer (``measure_steps`` / ``measure_steps_storage``)
and compares the third with archcalc's default, the steady-state step N >= 2; ``--step 1`` (the default
here, as every earlier RESULTS.md section) the first step with ``first_step=True``.

Target: every |error| <= 2 %. Activation checkpointing (``checkpoint_sequential`` on VGG / AlexNet) has its
own script and RESULTS.md section: ``benchmarks/bench_peak_checkpoint.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, replace
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


@dataclass(frozen=True)
class Row:
    """One case: archcalc's prediction and what each oracle that ran measured (``None`` where it did not run)."""

    name: str
    batch: int
    mode: str
    predicted: int
    predicted_at: str
    heap: int | None = None  # tests/peak_tracker.py (or torch.cuda.max_memory_allocated with --cuda)
    heap_at: str = ""
    storage: int | None = None  # tests/peak_profiler.py, at op boundaries
    storage_any: int | None = None  # tests/peak_profiler.py, after every allocation (op scratch included)
    storage_at: str = ""

    @staticmethod
    def error(predicted: int, measured: int | None) -> float | None:
        return None if measured is None else 100 * (predicted - measured) / measured

    @property
    def heap_err(self) -> float | None:
        return self.error(self.predicted, self.heap)

    @property
    def storage_err(self) -> float | None:
        return self.error(self.predicted, self.storage)


def _print_row(r: Row, oracle: str, seconds: float) -> None:
    cells = [r.name, str(r.batch), r.mode]
    if oracle in ("mallinfo", "both"):
        cells += [f"{r.heap:,}"]
    if oracle in ("profiler", "both"):
        cells += [f"{r.storage:,}", f"{r.storage_any:,}"]
    cells += [f"{r.predicted:,}"]
    if oracle in ("mallinfo", "both"):
        cells += [f"{r.heap_err:+.2f}"]
    if oracle in ("profiler", "both"):
        cells += [f"{r.storage_err:+.4f}"]
    cells += [r.predicted_at, r.heap_at if oracle == "mallinfo" else r.storage_at, f"{seconds:.1f} s"]
    print("| " + " | ".join(cells) + " |", flush=True)


def _header(oracle: str) -> str:
    cells = ["model", "batch", "step"]
    if oracle in ("mallinfo", "both"):
        cells += ["heap bytes (mallinfo)"]
    if oracle in ("profiler", "both"):
        cells += ["storage bytes (profiler)", "storage bytes, op scratch included"]
    cells += ["predicted bytes"]
    if oracle in ("mallinfo", "both"):
        cells += ["error % vs heap"]
    if oracle in ("profiler", "both"):
        cells += ["error % vs storage"]
    cells += ["predicted peak at", "measured at"]
    return "| " + " | ".join(cells) + " |\n|" + "---|" * len(cells)


def run(models, batches, modes, precision: str, cuda: bool, oracle: str = "mallinfo", step: int = 1) -> list[Row]:
    import torch

    # this checkout's archcalc, not an installed copy (a script's sys.path[0] is benchmarks/, not the root)
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    from peak_profiler import measure_step_storage, measure_steps_storage
    from peak_tracker import measure_step, measure_steps

    from archcalc.memory.liveness.peak import peak_memory

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
                steps = step if mode != "inference" else 1
                p = peak_memory(graph, (3, size, size), batch, training=mode != "inference",
                                optimizer=mode if mode != "inference" else "sgd", precision=precision,
                                device="cuda" if cuda else "cpu", first_step=steps == 1)
                row = Row(name, batch, mode, p.peak_bytes, f"{p.phase} `{p.peak_op}`")
                if cuda:
                    row = replace(row, heap=_measure_cuda(model, x, mode, dtype), heap_at="cuda")
                elif oracle in ("mallinfo", "both"):
                    m = (measure_step(model, x, mode, dtype) if steps == 1
                         else measure_steps(model, x, mode, steps, dtype)[-1])
                    row = replace(row, heap=m.peak_bytes, heap_at=m.peak_where)
                if oracle in ("profiler", "both"):
                    s = (measure_step_storage(model, x, mode, dtype) if steps == 1
                         else measure_steps_storage(model, x, mode, steps, dtype)[-1])
                    row = replace(row, storage=s.peak_bytes, storage_any=s.peak_any_bytes, storage_at=s.peak_where)
                rows.append(row)
                _print_row(row, oracle, time.perf_counter() - start)
    return rows


def _write_heap(rows: list[Row], precision: str, worst: float) -> None:
    from results import replace_section

    body = "\n".join(f"| {r.name} | {r.batch} | {r.mode} | {r.heap:,} | {r.predicted:,} | {r.heap_err:+.2f} |"
                     for r in rows)
    block = (f"{SECTION}\n\n`python benchmarks/bench_peak.py --precision {precision}` ({len(rows)} cases, "
             f"worst |error| {worst:.2f} %)\n\n| model | batch | step | measured bytes | predicted bytes | error % |\n"
             f"|---|---|---|---|---|---|\n{body}\n")
    replace_section(SECTION, block)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join([*ZOO, *(f"torchvision:{m}" for m in TORCHVISION)]))
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--modes", default="inference,sgd,adam")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16-mixed", "fp16-mixed"))
    parser.add_argument("--oracle", default="mallinfo", choices=("mallinfo", "profiler", "both"),
                        help="mallinfo: glibc live heap (tests/peak_tracker.py); profiler: tensor storage bytes "
                             "from torch.profiler's allocation events (tests/peak_profiler.py); both")
    parser.add_argument("--cuda", action="store_true", help="measure with torch.cuda.max_memory_allocated")
    parser.add_argument("--step", type=int, choices=(1, 3), default=1,
                        help="1: the first training step (first_step=True); 3: the third of three steps of one "
                             "optimizer against archcalc's steady state")
    parser.add_argument("--write", action="store_true", help="replace the peak section of RESULTS.md")
    args = parser.parse_args(argv)
    if args.step != 1 and args.cuda:
        parser.error("--step 3 runs on the CPU oracles; drop --cuda")
    if args.step == 1 and "momentum" in args.modes.split(","):
        parser.error("--modes momentum: the step-1 oracle runs sgd and adam; add --step 3")
    if args.cuda and args.oracle != "mallinfo":
        parser.error(f"--oracle {args.oracle} reads the CPU allocator; drop --cuda or use --oracle mallinfo")
    load_before = os.getloadavg()
    print(_header(args.oracle))
    rows = run(args.models.split(","), [int(b) for b in args.batches.split(",")], args.modes.split(","),
               args.precision, args.cuda, args.oracle, args.step)
    load_after = os.getloadavg()
    errors = [abs(r.storage_err if args.oracle != "mallinfo" else r.heap_err) for r in rows]
    worst = max(errors)
    print(f"\n{len(rows)} cases, worst |error| {worst:.4f} % against the "
          f"{'heap' if args.oracle == 'mallinfo' else 'storage'} oracle (target 2 %); load average "
          f"{load_before[0]:.2f} before / {load_after[0]:.2f} after (1-min)")
    if args.write:
        if args.oracle == "mallinfo":
            _write_heap(rows, args.precision, worst)
        else:
            from bench_peak_storage import write_storage_section

            write_storage_section(rows, argv if argv is not None else sys.argv[1:], load_before, load_after)
    return 0 if worst <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
