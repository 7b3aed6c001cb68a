"""Measure this machine's CPU as a device profile: fp32 GEMM throughput and streaming-copy bandwidth (torch).

The profile is the median of ``repeats`` timed runs after a warm-up, at ``threads`` torch threads: the GEMM
figure is the best median over the square sizes tried (achieved, not the datasheet peak: a prediction with
it is "calibrated"), the bandwidth is ``2 x bytes / time`` of ``dst.copy_(src)`` (one read, one write).
The result is the mapping :func:`archcalc.time.profiles.profile_from_mapping` reads, so it can be written
to a TOML file and given back with ``--device-file``.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

__all__ = ["calibrate_cpu", "profile_toml"]


def _median_seconds(fn: Any, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def calibrate_cpu(threads: int = 1, gemm_sizes: tuple[int, ...] = (256, 512, 1024), copy_mib: int = 64,
                  repeats: int = 5) -> dict[str, Any]:
    """Measure fp32 GEMM FLOP/s and copy bandwidth on the CPU; return a profile mapping (SI units as the
    profile file: TFLOP/s and GB/s)."""
    import torch

    torch.set_num_threads(threads)
    best, per_size = 0.0, {}
    for n in gemm_sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        rate = 2 * n**3 / _median_seconds(lambda a=a, b=b: torch.mm(a, b), repeats)
        per_size[n] = rate
        best = max(best, rate)
    elements = copy_mib * 2**20 // 4
    src, dst = torch.randn(elements), torch.empty(elements)
    bandwidth = 2 * elements * 4 / _median_seconds(lambda: dst.copy_(src), repeats)
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    sizes = ", ".join(f"{n}: {r / 1e9:.1f} GFLOP/s" for n, r in per_size.items())
    return {"name": f"this CPU ({threads} torch thread{'s' if threads > 1 else ''}, measured)",
            "peak_tflops": {"fp32": best / 1e12}, "memory_bandwidth_gbs": bandwidth / 1e9,
            "memory_gb": memory / 1e9, "interconnect_gbs": bandwidth / 1e9,
            "source": f"archcalc.time.calibrate: median of {repeats} runs, torch {torch.__version__}",
            "notes": f"fp32 GEMM by size ({sizes}); copy of {copy_mib} MiB; interconnect = the copy bandwidth "
                     "(processes on one host share memory)"}


def profile_toml(key: str, profile: dict[str, Any]) -> str:
    """One ``[key]`` table of a profile file."""
    def value(v: Any) -> str:
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        return repr(float(v)) if isinstance(v, (int, float)) else '"' + str(v).replace('"', "'") + '"'
    return f"[{key}]\n" + "".join(f"{k} = {value(v)}\n" for k, v in profile.items())
