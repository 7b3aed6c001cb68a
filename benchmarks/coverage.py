"""Write ``docs/coverage.md``: the torch tracer on every torchvision classification model.

One row per name of ``torchvision.models.list_models(module=torchvision.models)`` at torchvision's input
size (:func:`archcalc.frontends.torch_trace.torchvision_input_size`), batch 1: graph nodes, unmodelled
ops, parameters, MACs, archcalc's 2 x MACs against ``FlopCounterMode``'s FLOPs for the real model on the
meta device, the fvcore convention against fvcore's ``FlopCountAnalysis`` (a real CPU run, so only for
the small subset in :data:`FVCORE_RUNS`, at the input given there) and the trace time
(``from_torchvision``: build on meta, trace, check).

Usage (from the repository root)::

    python benchmarks/coverage.py                    # print the page
    python benchmarks/coverage.py --write            # and write docs/coverage.md
    python benchmarks/coverage.py resnet18 vit_b_16  # some models only (never written)

``tests/test_archcalc_coverage_page.py`` recomputes three rows and compares them with the checked-in page.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "coverage.md"

#: Models fvcore is run on (a CPU forward under torch.jit.trace), with the square input side used.
FVCORE_RUNS = {"resnet18": 64, "mobilenet_v3_small": 64, "squeezenet1_1": 64, "shufflenet_v2_x0_5": 64,
               "efficientnet_b0": 64, "densenet121": 64, "googlenet": 64, "regnet_y_400mf": 64, "inception_v3": 75,
               "convnext_tiny": 64, "swin_t": 64, "swin_v2_t": 64, "vit_b_32": 224, "maxvit_t": 224}

COLUMNS = ("model", "input", "nodes", "unmodelled", "params", "MACs", "2 x MACs", "FlopCounterMode FLOPs",
           "fvcore input", "fvcore convention", "FlopCountAnalysis", "trace (s)")


@dataclass(frozen=True)
class CoverageRow:
    """One model's numbers (``fvcore_*`` are None where fvcore is not run)."""

    model: str
    input_size: int
    nodes: int
    unmodelled: int
    params: int
    macs: int
    torch_flops: int
    fvcore_size: int | None
    fvcore_ours: int | None
    fvcore_theirs: int | None
    trace_s: float

    def cells(self) -> tuple[str, ...]:
        def num(v: int | None) -> str:
            return "-" if v is None else f"{int(v):,}"

        return (self.model, f"3x{self.input_size}x{self.input_size}", str(self.nodes), str(self.unmodelled),
                num(self.params), num(self.macs), num(2 * self.macs), num(self.torch_flops),
                "-" if self.fvcore_size is None else f"3x{self.fvcore_size}x{self.fvcore_size}",
                num(self.fvcore_ours), num(self.fvcore_theirs), f"{self.trace_s:.2f}")


def measure(name: str, fvcore: bool = True) -> CoverageRow:
    """Trace ``name``, run the FlopCounterMode oracle on meta and, if listed and ``fvcore``, fvcore on CPU."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from archcalc.check.conventions import get_convention
    from archcalc.frontends.torch_trace import (
        build_torchvision_meta,
        from_torchvision,
        torchvision_input_size,
        unmodeled_nodes,
    )
    from archcalc.ir import evaluate

    shape = torchvision_input_size(name)
    start = time.perf_counter()
    graph = from_torchvision(name, shape)
    trace_s = time.perf_counter() - start
    ev = evaluate(graph)
    model = build_torchvision_meta(name, shape)
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, *shape, device="meta"))
    size = FVCORE_RUNS.get(name) if fvcore else None
    ours = theirs = None
    if size is not None:
        conv = get_convention("fvcore")
        ours = sum(conv.forward(r) for r in evaluate(from_torchvision(name, (3, size, size))).rows)
        theirs = int(_fvcore_total(name, size))
    return CoverageRow(name, shape[1], len(graph.nodes), len(unmodeled_nodes(graph)), ev.total("params"),
                       ev.total("macs"), counter.get_total_flops(), size, ours, theirs, trace_s)


def _fvcore_total(name: str, size: int) -> float:
    import torch
    from fvcore.nn import FlopCountAnalysis

    from archcalc.models.builders import build_twin

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    model = build_twin(f"torchvision:{name}", (3, size, size), "cpu")
    # grad enabled, as fvcore's examples run it (under no_grad nn.MultiheadAttention takes its fused path)
    analysis = FlopCountAnalysis(model, torch.zeros(1, 3, size, size))
    return analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).total()


def render(rows: list[CoverageRow], versions: str) -> str:
    """The markdown page for ``rows``."""
    ok_torch = sum(1 for r in rows if 2 * r.macs == r.torch_flops)
    clean = sum(1 for r in rows if r.unmodelled == 0)
    fv = [r for r in rows if r.fvcore_size is not None]
    ok_fv = sum(1 for r in fv if r.fvcore_ours == r.fvcore_theirs)
    lines = [
        "# Coverage: the torch tracer on every torchvision classification model",
        "",
        "Generated by `python benchmarks/coverage.py --write` (do not edit by hand); "
        "`tests/test_archcalc_coverage_page.py` recomputes three rows and compares.",
        "",
        f"- {versions}; {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        "- input: torchvision's size for the model (its DEFAULT weights' eval crop; vit_h_14 224, the size its",
        "  `weights=None` builder fixes), batch 1.",
        "- nodes: ops in archcalc's graph; unmodelled: ops without a formula (counted 0, listed in the notes).",
        "- FlopCounterMode FLOPs: `torch.utils.flop_counter.FlopCounterMode` on the real model on the meta device.",
        "- fvcore: archcalc's `fvcore` convention against fvcore 0.1.5 `FlopCountAnalysis(...).total()` on a CPU",
        "  run (one per multiply-add, BN / LayerNorm / pooling included), for a subset at a reduced input.",
        "- trace (s): `from_torchvision` (build on meta, trace, check parameters and shapes) on a shared 2-core",
        "  machine; not a benchmark.",
        "",
        f"**{len(rows)} models; {clean} with no unmodelled op; 2 x MACs = FlopCounterMode for {ok_torch}; "
        f"fvcore convention = FlopCountAnalysis for {ok_fv} of {len(fv)} run.**",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(COLUMNS) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def parse(text: str) -> dict[str, dict[str, str]]:
    """The page's table as ``{model: {column: cell}}`` (for the test that keeps the page fresh)."""
    out: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == len(COLUMNS) and cells[0] != "model":
            out[cells[0]] = dict(zip(COLUMNS, cells, strict=True))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="model names (default: every torchvision classification model)")
    parser.add_argument("--write", action="store_true", help="write docs/coverage.md (all models only)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import torch
    import torchvision

    names = args.models or torchvision.models.list_models(module=torchvision.models)
    if args.write and args.models:
        parser.error("--write: the page lists every model; drop the model names")
    torch.set_num_threads(1)
    rows = []
    for name in names:
        rows.append(measure(name))
        print(" | ".join(rows[-1].cells()), file=sys.stderr, flush=True)
    from importlib.metadata import version

    text = render(rows, f"torch {torch.__version__}, torchvision {torchvision.__version__}, fvcore {version('fvcore')}")
    if args.write:
        from dlperf.fileio import write_atomic

        # the timm / transformers part below the marker belongs to tools/coverage_select.py --gaps: keep it
        marker = "<!-- tools/coverage_select.py --gaps writes from here to the end -->"
        old = PAGE.read_text() if PAGE.exists() else ""
        write_atomic(PAGE, text + ("\n" + old[old.index(marker):] if marker in old else ""))
        print(f"wrote {PAGE.relative_to(ROOT)}", file=sys.stderr)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
