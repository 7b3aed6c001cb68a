"""RESULTS.md section for ``bench_peak.py --oracle profiler|both``: predictions against tensor storage bytes.

One section per precision (``## archcalc peak memory against tensor storage, fp32 (issue 11)``), replaced
whole by each ``--write`` run: a per-model summary, then every case.
"""

from __future__ import annotations

import platform
import time


def _pct(v: float | None) -> str:
    return "" if v is None else f"{v:+.4f}"


def _summary(rows) -> str:
    lines = ["| model | cases | worst error % vs storage | worst error % vs heap | heap - storage at the peaks, "
             "largest | op scratch above the op-boundary peak, largest |", "|---|---|---|---|---|---|"]
    for name in dict.fromkeys(r.name for r in rows):
        mine = [r for r in rows if r.name == name]
        s = max(mine, key=lambda r: abs(r.storage_err))
        cell_heap, cell_gap = "", ""
        if mine[0].heap is not None:
            h = max(mine, key=lambda r: abs(r.heap_err))
            g = max(mine, key=lambda r: r.heap - r.storage)
            cell_heap = f"{h.heap_err:+.2f} (batch {h.batch} {h.mode})"
            cell_gap = f"{(g.heap - g.storage) / 1e3:,.1f} kB (batch {g.batch} {g.mode})"
        a = max(mine, key=lambda r: (r.storage_any - r.storage) / r.storage)
        lines.append(f"| {name} | {len(mine)} | {s.storage_err:+.4f} (batch {s.batch} {s.mode}) | {cell_heap} | "
                     f"{cell_gap} | {100 * (a.storage_any - a.storage) / a.storage:.2f} % (batch {a.batch} {a.mode}) |")
    return "\n".join(lines)


def _cases(rows) -> str:
    both = rows[0].heap is not None
    head = ("| model | batch | step | " + ("heap bytes | " if both else "") + "storage bytes | storage bytes, "
            "op scratch included | predicted bytes | error % vs storage | " + ("error % vs heap | " if both else "")
            + "storage peak after")
    lines = [head, "|" + "---|" * head.count("|")]
    for r in rows:
        lines.append(f"| {r.name} | {r.batch} | {r.mode} | " + (f"{r.heap:,} | " if both else "")
                     + f"{r.storage:,} | {r.storage_any:,} | {r.predicted:,} | {_pct(r.storage_err)} | "
                     + (f"{_pct(r.heap_err)} | " if both else "") + f"`{r.storage_at}` |")
    return "\n".join(lines)


def write_storage_section(rows, argv: list[str], load_before, load_after) -> None:
    """Replace (or append) this precision's storage section of benchmarks/RESULTS.md."""
    import torch
    from results import replace_section

    precision = argv[argv.index("--precision") + 1] if "--precision" in argv else "fp32"
    title = f"## archcalc peak memory against tensor storage, {precision} (issue 11)"
    worst = max(rows, key=lambda r: abs(r.storage_err))
    within = sum(abs(r.storage_err) <= 2 for r in rows)
    command = " ".join(["python", "benchmarks/bench_peak.py", *argv])
    text = f"""{title}

Oracle: `tests/peak_profiler.py`, tensor storage bytes only: the CPU allocator's allocation / free events
from `torch.profiler.profile(activities=[CPU], profile_memory=True)`, summed in order (checked against the
allocator's own running total at every event), sampled when each ATen op or autograd node returns (the
moments `tests/peak_tracker.py` samples), plus the parameters', buffers' and input's storages. "heap" is
`tests/peak_tracker.py` (glibc `mallinfo2`: storage and every other malloc'd byte). Error = (predicted -
measured) / measured. Steps, inputs and warm-up as in "archcalc peak memory (issue 11)"; one torch thread.

`{command}` ({len(rows)} cases, {within} within 2 % of storage, worst {worst.storage_err:+.4f} %:
{worst.name} batch {worst.batch} {worst.mode}). {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, load
average (1-min, `uptime`) {load_before[0]:.2f} before / {load_after[0]:.2f} after; {platform.machine()},
Python {platform.python_version()}, torch {torch.__version__.split("+")[0]}.

{_summary(rows)}

Every case:

{_cases(rows)}
"""
    replace_section(title, text)
