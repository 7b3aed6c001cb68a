"""Measure this machine's CPU as a device profile: fp32 GEMM throughput and streaming-copy bandwidth (torch).

The profile is the median of ``repeats`` timed runs after a warm-up, at ``threads`` torch threads: the GEMM
figure is the best median over the square sizes tried (achieved, not the datasheet peak: a prediction with
it is "calibrated"), the bandwidth is ``2 x bytes / time`` of ``dst.copy_(src)`` (one read, one write).
The result is the mapping :func:`archcalc.time.profiles.profile_from_mapping` reads, so it can be written
to a TOML file and given back with ``--device-file``.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from archcalc.time.efficiency import (
    BACKWARD_FAMILIES,
    FAMILIES,
    MEMORY_FAMILIES,
    Calibration,
    Curve,
    backward_bytes,
    calibration_to_mapping,
)
from archcalc.time.measure import _measure, clock_for

__all__ = ["calibrate_cpu", "profile_toml", "calibrate", "CalibrationRun", "write_profile"]


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
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(float(v)) if isinstance(v, (int, float)) else '"' + str(v).replace('"', "'") + '"'
    return f"[{key}]\n" + "".join(f"{k} = {value(v)}\n" for k, v in profile.items())


# --- the per-family calibration (archcalc calibrate) -------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One micro-benchmark: its family, what it ran, its work (FLOPs or bytes) and its fastest time."""

    family: str
    label: str
    work: float
    seconds: float


@dataclass(frozen=True)
class CalibrationRun:
    """What :func:`calibrate` measured: every point, the overhead, the calibration and the profile mapping
    (the fields :func:`archcalc.time.profiles.profile_from_mapping` reads, with a ``calibration`` table)."""

    points: tuple[Point, ...]
    calibration: Calibration
    profile: Mapping[str, Any]
    threads: int
    repeats: int


def _fastest(fn: Any, repeats: int, budget_s: float, clock: Any = time.perf_counter) -> float:
    """The minimum over timed calls (at least 3, at most ``repeats``, stopping once ``budget_s`` is spent)
    after two warm-up calls: on a shared, loaded machine the minimum is the run least disturbed."""
    fn()
    fn()
    best, spent, n = math.inf, 0.0, 0
    while n < 3 or (n < repeats and spent < budget_s):
        start = clock()
        fn()
        t = clock() - start
        best, spent, n = min(best, t), spent + t, n + 1
    return best


def _copies(torch: Any, shape: tuple[int, ...], cold_bytes: int = 32 * 2**20) -> Any:
    """An endless cycle over enough copies of a random weight of ``shape`` (at most 64) that they fill
    ``cold_bytes``: each call reads a weight no recent call touched, out of the per-core caches as a model's
    weights are, while the code and the activations stay in cache."""
    import itertools

    n = max(1, min(64, -(-cold_bytes // (4 * math.prod(shape)))))
    return itertools.cycle([torch.randn(*shape) for _ in range(n)])


def _benchmarks(torch: Any, quick: bool) -> list[tuple[str, str, float, Any]]:
    """``(family, label, work, fn)``: work in FLOPs (2 x MACs) or bytes read + written, as archcalc counts."""
    F = torch.nn.functional
    out: list[tuple[str, str, float, Any]] = []
    # (rows, in features, out features): generic shapes, none a layer of the validated models
    gemms = [(8, 320, 320), (32, 448, 448), (64, 64, 64), (128, 640, 640), (256, 384, 384), (512, 512, 512),
             (2048, 64, 128)]
    if not quick:
        gemms += [(512, 640, 2560), (1024, 1024, 1024)]
    # weight-dominated (few rows, large weights): the time of reading the weights
    for m, k, n in [(1, 640, 640), (4, 1280, 960), (4, 2560, 1920)] + ([] if quick else [(4, 8192, 3584)]):
        x, ws = torch.randn(m, k), _copies(torch, (n, k))
        out.append(("gemm_weights", f"linear {m}x{k}x{n}", 4.0 * n * k, lambda x=x, ws=ws: F.linear(x, next(ws))))
    for m, k, n in gemms:
        x, ws = torch.randn(m, k), _copies(torch, (n, k))
        out.append(("gemm", f"linear {m}x{k}x{n}", 2.0 * m * k * n, lambda x=x, ws=ws: F.linear(x, next(ws))))
    # (batch, in channels, out channels, height = width, kernel, stride, groups); a grid of generic shapes
    # per class, none a layer of the models benchmarks/bench_time_cpu.py validates on
    convs = [(2, 16, 16, 8, 3, 1), (4, 3, 48, 56, 7, 2), (4, 48, 48, 20, 3, 1), (4, 96, 96, 10, 3, 1),
             (2, 3, 64, 80, 11, 4), (8, 40, 40, 12, 3, 1), (2, 192, 192, 6, 3, 1), (4, 80, 160, 10, 3, 2)]
    pointwise = [(8, 16, 16, 8, 1, 1), (8, 24, 96, 12, 1, 1), (4, 48, 192, 18, 1, 1), (2, 160, 320, 8, 1, 1),
                 (4, 320, 640, 6, 1, 1), (4, 96, 192, 14, 1, 2)]
    depthwise = [(2, 16, 16, 48, 3, 1), (4, 64, 64, 24, 3, 1), (4, 128, 128, 12, 3, 1), (8, 384, 384, 6, 3, 1),
                 (4, 64, 64, 24, 3, 2), (2, 256, 256, 12, 5, 1)]
    if not quick:
        convs += [(8, 48, 96, 28, 3, 1), (4, 24, 24, 40, 3, 1)]
        pointwise += [(8, 56, 224, 24, 1, 1), (4, 640, 1280, 3, 1, 1)]
        depthwise += [(8, 64, 64, 48, 3, 1)]
    weighted = [(8, 512, 512, 2, 3, 1), (8, 256, 256, 2, 3, 1), (8, 1024, 1024, 2, 1, 1)]
    for fam, shapes in (("conv", convs), ("conv_pointwise", pointwise), ("conv_depthwise", depthwise),
                        ("conv_weights", weighted)):
        for b, ci, co, hw, k, s in shapes:
            g = ci if fam == "conv_depthwise" else 1
            x, ws = torch.randn(b, ci, hw, hw), _copies(torch, (co, ci // g, k, k))
            ho = (hw + 2 * (k // 2) - k) // s + 1
            work = 2.0 * b * co * ho * ho * ci // g * k * k if fam != "conv_weights" else 4.0 * co * ci * k * k
            out.append((fam, f"conv {b}x{ci}x{hw}^2 -> {co} k{k} s{s} g{g}", work,
                        lambda x=x, ws=ws, s=s, k=k, g=g: F.conv2d(x, next(ws), stride=s, padding=k // 2, groups=g)))
    for b, h, s, d in [(1, 2, 16, 32), (1, 4, 64, 32), (2, 8, 128, 64), (4, 12, 256, 64)]:
        q = torch.randn(b, h, s, d)
        out.append(("attention", f"sdpa {b}x{h}x{s}x{d}", 4.0 * b * h * s * s * d,
                    lambda q=q: F.scaled_dot_product_attention(q, q, q)))
    for n in (1 << 16, 1 << 20, 1 << 22, 1 << 24):  # cold copies: the floor of ops that stream their weights
        xs, z = _copies(torch, (n,)), torch.empty(n)
        out.append(("stream", f"copy-cold {n}", 8.0 * n, lambda z=z, xs=xs: z.copy_(next(xs))))
    sizes = (256, 4096, 65536, 1 << 20) + (() if quick else (1 << 22,))
    for n in sizes:
        x, y, z = torch.randn(n), torch.randn(n), torch.empty(n)
        out += [("elementwise", f"relu {n}", 8.0 * n, lambda x=x: torch.relu(x)),
                ("elementwise", f"add {n}", 12.0 * n, lambda x=x, y=y: x + y),
                ("elementwise", f"copy {n}", 8.0 * n, lambda x=x, z=z: z.copy_(x)),
                ("elementwise", f"gelu {n}", 8.0 * n, lambda x=x: F.gelu(x)),
                ("elementwise", f"softmax {n}", 8.0 * n, lambda x=x: torch.softmax(x.view(-1, 64), -1))]
        c, hw = 16, max(2, int(math.isqrt(n // 16)) // 2 * 2)
        img = torch.randn(1, c, hw, hw)
        el = c * hw * hw
        out += [("pool", f"maxpool k2 {n}", 4.0 * (el + el // 4), lambda t=img: F.max_pool2d(t, 2)),
                ("pool", f"maxpool k3s2 {n}", 4.0 * (el + ((hw - 1) // 2) ** 2 * c),
                 lambda t=img: F.max_pool2d(t, 3, 2)),
                ("elementwise", f"avgpool-global {n}", 4.0 * (el + c), lambda t=img: F.adaptive_avg_pool2d(t, 1))]
        rows = x.view(-1, 64)
        lw = torch.ones(64)
        out.append(("norm", f"layernorm {n}", 4.0 * (2 * n + 128), lambda r=rows, w=lw: F.layer_norm(r, (64,), w, w)))
        # batch norm over few and over many channels (a per-channel cost): eval mode (running statistics) and
        # training mode (batch statistics: a forward of a training step)
        for cn, hwn in ((c, hw), _wide(n)):
            t, mean, var = torch.randn(1, cn, hwn, hwn), torch.zeros(cn), torch.ones(cn)
            work = 4.0 * (2 * cn * hwn * hwn + 4 * cn)
            out += [("norm", f"batchnorm c{cn} {n}", work,
                     lambda t=t, m=mean, v=var: F.batch_norm(t, m, v, v, m, False)),
                    ("norm_training", f"batchnorm c{cn} {n}", work,
                     lambda t=t, m=mean, v=var: F.batch_norm(t, m, v, v, m, True))]
    return out


def _wide(n: int) -> tuple[int, int]:
    """Channels and height = width of an image of about ``n`` elements with many channels (up to 512)."""
    c = min(512, max(16, n // 16))
    return c, max(2, math.isqrt(n // c))


def _backward_benchmarks(torch: Any, quick: bool) -> list[tuple[str, str, float, Any]]:
    """``(FAMILY_backward, label, work, fn)``: ``fn`` runs the backward pass of one op (its graph built once,
    ``torch.autograd.grad`` of every input and weight, no accumulation); work as archcalc counts a backward:
    2 x (input-gradient + weight-gradient MACs) for the compute families, :func:`backward_bytes` for the
    others. Norms run in training mode (their backward in a training step)."""
    F = torch.nn.functional
    out: list[tuple[str, str, float, Any]] = []

    def case(family: str, label: str, work: float, fn: Any, *shapes: tuple[int, ...], grad_of: int | None = None) -> None:
        leaves = [torch.randn(*s, requires_grad=True) for s in shapes]
        result = fn(*leaves)
        want = leaves if grad_of is None else leaves[grad_of:]
        g = torch.ones_like(result)
        out.append((f"{family}_backward", label, work,
                    lambda r=result, w=want, g=g: torch.autograd.grad(r, w, g, retain_graph=True)))

    for m, k, n in [(8, 320, 320), (64, 256, 256), (256, 384, 384), (512, 512, 512)] + (
            [] if quick else [(1024, 640, 640)]):
        case("gemm", f"linear {m}x{k}x{n}", 4.0 * m * k * n, F.linear, (m, k), (n, k))
    classes = {"conv": [(2, 16, 16, 8, 3, 1), (4, 48, 48, 20, 3, 1), (4, 96, 96, 10, 3, 1), (2, 3, 32, 56, 7, 2)]
               + ([] if quick else [(8, 48, 96, 28, 3, 1)]),
               "conv_pointwise": [(8, 16, 16, 8, 1, 1), (8, 24, 96, 12, 1, 1), (4, 48, 192, 18, 1, 1),
                                  (2, 160, 320, 8, 1, 1)] + ([] if quick else [(4, 320, 640, 6, 1, 1)]),
               "conv_depthwise": [(2, 16, 16, 48, 3, 1), (4, 64, 64, 24, 3, 1), (4, 128, 128, 12, 3, 1),
                                  (4, 64, 64, 24, 3, 2)] + ([] if quick else [(8, 384, 384, 6, 3, 1)])}
    for fam, shapes in classes.items():
        for b, ci, co, hw, k, s in shapes:
            g = ci if fam == "conv_depthwise" else 1
            ho = (hw + 2 * (k // 2) - k) // s + 1
            macs = b * co * ho * ho * ci // g * k * k
            first = ci == 3  # a stem: no input gradient (the network input needs none), the weight's only
            case(fam, f"conv {b}x{ci}x{hw}^2 -> {co} k{k} s{s} g{g}", 2.0 * macs * (1 if first else 2),
                 lambda x, w, s=s, k=k, g=g: F.conv2d(x, w, stride=s, padding=k // 2, groups=g),
                 (b, ci, hw, hw), (co, ci // g, k, k), grad_of=1 if first else None)
    for b, h, sq, d in [(1, 2, 16, 32), (1, 4, 64, 32), (2, 8, 128, 64)]:
        # archcalc's attention backward: 2 x the forward's 2 b h s^2 d MACs
        case("attention", f"sdpa {b}x{h}x{sq}x{d}", 8.0 * b * h * sq * sq * d,
             F.scaled_dot_product_attention, *[(b, h, sq, d)] * 3)
    for n in (256, 4096, 65536, 1 << 20) + (() if quick else (1 << 22,)):
        b4 = 4.0 * n
        case("elementwise", f"relu {n}", backward_bytes(b4, b4, 0, 0, True), torch.relu, (n,))
        case("elementwise", f"gelu {n}", backward_bytes(b4, b4, 0, 0, True), F.gelu, (n,))
        case("elementwise", f"mul {n}", backward_bytes(2 * b4, b4, 0, 0, True), torch.mul, (n,), (n,))
        c, hw = 16, max(2, int(math.isqrt(n // 16)) // 2 * 2)
        el = 4.0 * c * hw * hw
        case("pool", f"maxpool k2 {n}", backward_bytes(el, el / 4, 0, 0, True), lambda t: F.max_pool2d(t, 2),
             (1, c, hw, hw))
        case("pool", f"maxpool k3s2 {n}", backward_bytes(el, 4.0 * c * ((hw - 1) // 2) ** 2, 0, 0, True),
             lambda t: F.max_pool2d(t, 3, 2), (1, c, hw, hw))
        for cn, hwn in ((c, hw), _wide(n)):
            e = 4.0 * cn * hwn * hwn
            case("norm", f"batchnorm c{cn} {n}", backward_bytes(e, e, 8.0 * cn, 8.0 * cn, True),
                 lambda t, w, b: F.batch_norm(t, None, None, w, b, True), (1, cn, hwn, hwn), (cn,), (cn,))
        case("norm", f"layernorm {n}", backward_bytes(b4, b4, 512.0, 512.0, True),
             lambda t, w, b: F.layer_norm(t, (64,), w, b), (n // 64, 64), (64,), (64,))
    return out


def _backward_overheads(torch: Any, repeats: int, budget_s: float, clock: Any, links: int = 16) -> dict[str, float]:
    """Per family, autograd's cost of one backward node of it: the backward of a chain of ``links`` small
    ops of the family (one or a few elements), divided by ``links``."""
    F = torch.nn.functional
    small: dict[str, tuple[Any, tuple[tuple[int, ...], ...]]] = {
        "gemm": (lambda x, w: F.linear(x, w), ((1, 1), (1, 1))),
        "conv": (lambda x, w: F.conv2d(x, w, padding=1), ((1, 1, 1, 1), (1, 1, 3, 3))),
        "conv_pointwise": (lambda x, w: F.conv2d(x, w), ((1, 1, 1, 1), (1, 1, 1, 1))),
        "conv_depthwise": (lambda x, w: F.conv2d(x, w, padding=1, groups=2), ((1, 2, 1, 1), (2, 1, 3, 3))),
        "attention": (lambda x: F.scaled_dot_product_attention(x, x, x), ((1, 1, 1, 1),)),
        "elementwise": (torch.relu, ((1,),)),
        "pool": (lambda x: F.max_pool2d(x, 3, 1, 1), ((1, 1, 2, 2),)),
        "norm": (lambda x, w, b: F.batch_norm(x, None, None, w, b, True), ((2, 1, 1, 1), (1,), (1,))),
    }
    out = {}
    for fam, (fn, shapes) in small.items():
        x, *rest = [torch.randn(*s, requires_grad=True) for s in shapes]
        y = x
        for _ in range(links):
            y = fn(y, *rest)
        g = torch.ones_like(y)
        seconds = _fastest(lambda y=y, x=x, rest=rest, g=g: torch.autograd.grad(y, [x, *rest], g, retain_graph=True),
                           repeats, budget_s, clock)
        out[f"{fam}_backward"] = seconds / links
    return out


def _tiny_modules(torch: Any) -> list[tuple[str, Any, Any]]:
    """Per family, a module on a tensor of one or a few elements: its call is the family's per-op overhead
    (module call, dispatch, kernel launch)."""
    nn = torch.nn

    class Attention(nn.Module):
        def forward(self, q: Any) -> Any:
            return nn.functional.scaled_dot_product_attention(q, q, q)

    one = torch.randn(1, 1, 1, 1)
    return [("gemm", nn.Linear(1, 1), torch.randn(1, 1)), ("conv", nn.Conv2d(1, 1, 3, padding=1), one),
            ("conv_pointwise", nn.Conv2d(1, 1, 1), one),
            ("conv_depthwise", nn.Conv2d(2, 2, 3, padding=1, groups=2), torch.randn(1, 2, 1, 1)),
            ("attention", Attention(), one), ("elementwise", nn.ReLU(), one),
            ("pool", nn.MaxPool2d(2), torch.randn(1, 1, 2, 2)), ("norm", nn.BatchNorm2d(1).eval(), one),
            ("norm_training", nn.BatchNorm2d(1).train(), torch.randn(2, 1, 1, 1))]


def _overheads_in_context(torch: Any, repeats: int, clock: Any, stream_bytes: int = 0) -> dict[str, float]:
    """Per family, the fastest call of its small module (:func:`_tiny_modules`) timed as
    :mod:`archcalc.time.measure` times a model's modules (forward hooks), each call after a larger op (a
    16 x 256 x 256 GEMM, 256 KiB of weights) as inside a model: the larger op evicts the small one's code and
    data from the per-core caches, which a tight loop of the small op alone never sees (it is then 2-5x
    faster). ``stream_bytes``: the larger op is instead a copy moving that many bytes (read + written)."""
    nn = torch.nn
    tiny = _tiny_modules(torch)
    src, dst = (torch.randn(stream_bytes // 8), torch.empty(stream_bytes // 8)) if stream_bytes else (None, None)

    class Context(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.big = nn.Linear(256, 256)
            self.small = nn.ModuleList(m for _, m, _ in tiny)
            self.inputs = [x for _, _, x in tiny]
            self.x = torch.randn(16, 256)

        def forward(self, _: Any) -> Any:
            for m, x in zip(self.small, self.inputs, strict=True):
                if src is None:
                    self.big(self.x)
                else:
                    dst.copy_(src)
                m(x)
            return None

    times, _ = _measure(Context(), (None,), repeats, clock)
    return {f: times[f"small.{i}"] for i, (f, _, _) in enumerate(tiny)}


def _cold_overheads(torch: Any, repeats: int, clock: Any, warm: dict[str, float],
                    sizes: tuple[int, ...] = (1 << 22, 1 << 25, 1 << 27)) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``(bytes, seconds)``: what a small op costs beyond its overhead right after an op that moved that
    many bytes (a copy; the median over the families' small modules of the extra over ``warm``, at least 0):
    a large op leaves the caches and the TLB to the next op cold."""
    extra = []
    for n in sizes:
        cold = _overheads_in_context(torch, repeats, clock, stream_bytes=n)
        extra.append(max(0.0, statistics.median(cold[f] - warm[f] for f in warm)))
    # the warm context (a 256 KiB GEMM) is the overhead itself: no extra below it
    return (float(1 << 18),) + tuple(float(n) for n in sizes), (0.0,) + tuple(extra)


def _sequence_factor(torch: Any, repeats: int, clock: Any, trials: int = 7) -> float:
    """A whole forward's fastest run over the sum of its ops' fastest runs (forward hooks, as
    :mod:`archcalc.time.measure` times a model), on a chain of generic ops (3 x 3, 1 x 1 and depthwise
    convolutions, batch norms, ReLUs, pooling, a linear head; shapes of no validated model), each the fastest
    of ``repeats`` runs (15 at most, as a model's whole forward is timed: a longer run meets more
    interference); the median of ``trials`` measurements, at least 1."""
    nn = torch.nn

    def block(ci: int, co: int, s: int) -> list[Any]:
        return [nn.Conv2d(ci, co, 3, s, 1, bias=False), nn.BatchNorm2d(co), nn.ReLU(inplace=True),
                nn.Conv2d(co, co, 1, bias=False), nn.BatchNorm2d(co), nn.ReLU(inplace=True)]

    net = nn.Sequential(*block(3, 24, 1), nn.MaxPool2d(2), *block(24, 40, 1), *block(40, 80, 2),
                        nn.Conv2d(80, 80, 3, 1, 1, groups=80), nn.ReLU(), *block(80, 160, 2),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(160, 100)).eval()
    x = torch.randn(12, 3, 40, 40)
    ratios = []
    for _ in range(trials):
        per_op, whole = _measure(net, (x,), repeats, clock)
        ratios.append(whole / sum(per_op.values()))
    return min(10.0, max(1.0, statistics.median(ratios)))


def _curve(points: list[Point], overhead: float, memory: bool) -> Curve:
    """One curve point per group of benchmarks: the geometric means of their work and of their rates
    ``work / (t - overhead)`` (floored at a tenth of the measured time, so a point as fast as the overhead
    stays finite). Groups: a memory family's benchmarks of one tensor size; a compute family's of work within
    a factor of 4 (shapes of about the same work, skinny and square, averaged)."""
    groups: dict[float, list[Point]] = {}
    for p in points:
        key = float(p.label.rsplit(" ", 1)[-1].split("x")[0]) if memory else round(math.log(p.work, 4))
        groups.setdefault(key, []).append(p)

    def gmean(values: Any) -> float:
        return math.exp(statistics.fmean(math.log(v) for v in values))

    pairs = [(gmean(p.work for p in g), gmean(p.work / max(p.seconds - overhead, 0.1 * p.seconds) for p in g))
             for g in groups.values()]
    return Curve([w for w, _ in pairs], [r for _, r in pairs])


def calibrate(threads: int = 1, repeats: int = 30, quick: bool = False, budget_s: float = 0.3) -> CalibrationRun:
    """Measure this machine's per-family efficiency curves and per-op overhead with torch (CPU, fp32).

    Runs GEMMs of several shapes (skinny and small ones included), convolutions, attention, element-wise
    ops and a copy, pooling and norms, each timed ``repeats`` times at most (``budget_s`` seconds at most
    per benchmark, 3 at least) after two warm-ups; the statistic is the minimum (see :func:`_fastest`).
    The per-op overhead of a family is the fastest call of a small module of it (:func:`_tiny_modules`)
    after a larger op, timed with forward hooks (:func:`_overheads_in_context`).
    Times are thread CPU time at one thread, wall time otherwise (:func:`~archcalc.time.measure.clock_for`). ``quick`` drops the largest sizes (tests).

    Returns
    -------
    CalibrationRun
        Its ``profile`` is a profile mapping whose peak is the fastest GEMM rate and whose bandwidth the
        fastest copy, with the curves in its ``calibration`` table (:func:`write_profile` writes it).

    Examples
    --------
    >>> run = calibrate(quick=True, repeats=3, budget_s=0.01)      # doctest: +SKIP
    >>> run.calibration.summary()                                   # doctest: +SKIP
    'overhead 2.1 us/op; gemm 0.9-60 GFLOP/s, ...'
    """
    import torch

    from dlperf.errors import ArgumentError
    from dlperf.validate import check_int

    check_int("threads", threads)
    check_int("repeats", repeats)
    cpus = os.cpu_count() or 1
    if threads > cpus:  # torch would start the threads (and may crash) before timing anything
        raise ArgumentError("threads", threads, f"give 1 to {cpus}, this machine's CPU count")
    if repeats > 10_000:  # each benchmark stops at budget_s anyway: more repeats only hide a typo
        raise ArgumentError("repeats", repeats, "give at most 10000 (each benchmark stops after "
                            f"{budget_s} s anyway)")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            clock = clock_for(threads)
            tiny = torch.randn(1)
            base = _fastest(lambda: torch.relu(tiny), max(repeats, 200), budget_s, clock)
            overheads = _overheads_in_context(torch, max(repeats, 30), clock)
            sequence = _sequence_factor(torch, min(repeats, 15), clock)
            cold = _cold_overheads(torch, min(repeats, 15), clock, overheads)
            points = tuple(Point(fam, label, work, _fastest(fn, repeats, budget_s, clock))
                           for fam, label, work, fn in _benchmarks(torch, quick))
        overheads.update(_backward_overheads(torch, max(repeats, 30), budget_s, clock))
        points += tuple(Point(fam, label, work, _fastest(fn, repeats, budget_s, clock))
                        for fam, label, work, fn in _backward_benchmarks(torch, quick))
    finally:
        torch.set_num_threads(previous)
    curves = {f: _curve([p for p in points if p.family == f], overheads[f] if f in BACKWARD_FAMILIES else base,
                        f.removesuffix("_backward") in MEMORY_FAMILIES) for f in FAMILIES}
    source = (f"archcalc calibrate: fastest of <= {repeats} runs per benchmark, {threads} torch thread(s), "
              f"{'thread CPU time' if threads == 1 else 'wall time'}, "
              f"torch {torch.__version__}, fp32, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    cal = Calibration(curves, overheads, source, sequence, cold)
    copies = [p for p in points if p.label.startswith("copy")]
    bandwidth = max(p.work / p.seconds for p in copies)
    peak = max(curves["gemm"].rate + curves["conv"].rate)
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    profile = {"name": f"this CPU ({threads} torch thread{'s' if threads > 1 else ''}, calibrated)",
               "peak_tflops": {"fp32": peak / 1e12}, "memory_bandwidth_gbs": bandwidth / 1e9,
               "memory_gb": memory / 1e9, "interconnect_gbs": bandwidth / 1e9, "source": source,
               "notes": "peak = the fastest GEMM / conv rate measured, bandwidth = the fastest copy; per-op "
                        "times use the calibration curves; interconnect = the copy bandwidth",
               "calibration": calibration_to_mapping(cal)}
    return CalibrationRun(points, cal, MappingProxyType(profile), threads, repeats)


def write_profile(path: str, key: str, run: CalibrationRun, flag: str = "--output") -> None:
    """Write ``run``'s profile as the ``[key]`` table of a TOML file, atomically (:mod:`dlperf.fileio`)."""
    from dlperf.fileio import write_atomic

    profile = dict(run.profile)
    calibration = profile.pop("calibration")
    text = profile_toml(key, profile) + f"\n[{key}.calibration]\n" + "".join(
        f"{k} = {_toml_value(v)}\n" for k, v in calibration.items())
    write_atomic(path, text, flag)


def _toml_value(v: Any) -> str:
    body = profile_toml("x", {"v": v})
    return body.split("v = ", 1)[1].rstrip("\n")
