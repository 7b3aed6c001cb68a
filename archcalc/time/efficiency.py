"""A calibrated efficiency model: achieved rate per op family as a function of the op's work, plus a fixed
per-op overhead, measured on the device (:func:`archcalc.time.calibrate.calibrate`), for the forward and,
separately, the backward pass.

Each op belongs to one family, read from the kind's traits (the ``ops`` module that declares it) and, for
a convolution, its shape class: ``gemm`` (linear, einsum), ``conv`` (a dense spatial kernel),
``conv_pointwise`` (a 1 x 1 kernel: a GEMM over the pixels), ``conv_depthwise`` (groups == input channels:
one small filter per channel, bound by memory and loop overhead), ``attention``, ``pool``, ``norm`` and
``elementwise`` (everything else that runs a kernel: activations, arithmetic, softmax, copies, global
pooling). The compute families' curves map FLOPs (2 x MACs) to achieved FLOP/s; the memory families'
curves map bytes (read + written) to achieved bytes/s. A curve is interpolated linearly in log-log space
between its measured points and held flat beyond them. One op's predicted time is::

    time_s = overhead_s + work / rate_family(work)

and a compute family's op also gets the time of its bytes at the ``stream`` curve (a copy of data not in
cache) as a floor (a GEMM that moves much more than it computes runs at the copy rate). Measured with ``time_s - overhead_s`` so that the
overhead is not counted twice. The backward pass of an op of family ``F`` uses the curve and overhead
``F_backward`` (measured on backward passes: gradients of the inputs and weights, autograd's per-node cost),
with the backward work archcalc counts (2 x backward MACs; bytes of :func:`backward_bytes`).

Examples
--------
>>> c = Curve((1e6, 1e8), (1e9, 1e11))       # 1 GFLOP/s at 1 MFLOP, 100 GFLOP/s at 100 MFLOP
>>> round(c.rate_at(1e7) / 1e9, 3)             # halfway in log space: 10 GFLOP/s
10.0
>>> c.rate_at(1e3) == 1e9, c.rate_at(1e12) == 1e11  # flat beyond the measured points
(True, True)
>>> family_of("Conv2d"), family_of("Linear"), family_of("ReLU"), family_of("MaxPool2d")
('conv', 'gemm', 'elementwise', 'pool')
>>> # a 3 x 3 depthwise convolution of 32 channels, and a 1 x 1 one: 8x32x16x16 in and out
>>> shapes = {"input_shapes": ((8, 32, 16, 16),), "output_shapes": ((8, 32, 16, 16),)}
>>> family_of("Conv2d", {"groups": 32}, macs=8 * 32 * 16 * 16 * 9, **shapes)
'conv_depthwise'
>>> family_of("Conv2d", {"groups": 1}, macs=8 * 32 * 16 * 16 * 32, **shapes)
'conv_pointwise'
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["Curve", "Calibration", "FAMILIES", "COMPUTE_FAMILIES", "MEMORY_FAMILIES", "OP_FAMILIES",
           "BACKWARD_FAMILIES", "family_of", "backward_bytes", "calibration_from_mapping", "calibration_to_mapping"]

#: Families whose curve is in FLOP/s of 2 x MACs, and those in bytes/s.
COMPUTE_FAMILIES = ("gemm", "conv", "conv_pointwise", "conv_depthwise", "attention")
MEMORY_FAMILIES = ("elementwise", "pool", "norm", "norm_training")
#: Families with an op overhead, forward (the op families) and backward (``FAMILY_backward``). A norm
#: with running statistics in training mode computes batch statistics (``norm_training``, several times
#: an eval-mode norm on a CPU); its backward is ``norm_backward`` (measured in training mode).
OP_FAMILIES = COMPUTE_FAMILIES + MEMORY_FAMILIES
BACKWARD_FAMILIES = tuple(f"{f}_backward" for f in OP_FAMILIES if f != "norm_training")
#: ``stream``: a copy of data not in cache (bytes/s), the memory floor of the compute families;
#: ``gemm_weights`` / ``conv_weights``: bytes/s of the weights of a GEMM / convolution with few rows or
#: pixels (the time of fetching and, for a convolution, reordering the weights), a floor on those ops'
#: forward time. No op is timed by these alone.
FLOOR_FAMILIES = ("stream", "gemm_weights", "conv_weights")
FAMILIES = OP_FAMILIES + FLOOR_FAMILIES + BACKWARD_FAMILIES
#: The weight floor of each compute family.
_WEIGHTS = MappingProxyType({"gemm": "gemm_weights", "conv": "conv_weights", "conv_pointwise": "conv_weights",
                             "conv_depthwise": "conv_weights"})
#: The ``ops`` module (``traits(kind).family``) to the calibration family; modules not listed: elementwise.
_MODULE_FAMILY = MappingProxyType({"linear": "gemm", "einsum": "gemm", "recurrent": "gemm", "conv": "conv",
                                   "attention": "attention", "pooling": "pool", "norms": "norm"})


def family_of(kind: str, hparams: Mapping[str, Any] | None = None, *, input_shapes: Any = None,
              output_shapes: Any = None, macs: int = 0) -> str:
    """The calibration family of an op (from its kind's traits, never its name, and its shapes).

    An adaptive pooling to one value per channel (global pooling) reduces like an element-wise op and is
    timed as one; to a larger output it runs a windowed kernel (``pool``). A convolution with its shapes
    given is ``conv_depthwise`` when its groups equal its input channels (more than one), ``conv_pointwise``
    when its kernel has one tap (``macs == output elements x input channels per group``), else ``conv``. A
    norm with running statistics traced in training mode is ``norm_training`` (batch statistics).
    """
    from archcalc.ops.traits import traits

    hparams = hparams or {}
    family = _MODULE_FAMILY.get(traits(kind).family, "elementwise")
    if family == "norm" and hparams.get("training") and traits(kind).running_stats:
        return "norm_training"
    if family == "pool" and "output_size" in hparams:
        out = hparams["output_size"]
        out = out if isinstance(out, (tuple, list)) else (out,)
        return "elementwise" if all(o in (1, None) for o in out) else "pool"
    if family == "conv" and input_shapes and output_shapes and macs:
        groups, channels = hparams.get("groups", 1), input_shapes[0][1]
        if groups > 1 and groups == channels:
            return "conv_depthwise"
        import math

        if macs == math.prod(output_shapes[0]) * (channels // groups):
            return "conv_pointwise"
    return family


def backward_bytes(input_bytes: int, output_bytes: int, weight_read_bytes: int, weight_bytes: int,
                   input_grad: bool) -> int:
    """Bytes one op's backward moves, as archcalc counts them: it reads the output's gradient, the saved
    input and the weights it read, and writes the input's gradient (when one is needed) and the weights'.

    >>> backward_bytes(400, 400, 0, 0, True)     # a ReLU of 100 fp32: grad out, input, grad in
    1200
    """
    return output_bytes + input_bytes + weight_read_bytes + (input_bytes if input_grad else 0) + weight_bytes


@dataclass(frozen=True)
class Curve:
    """Achieved rate (units per second) at measured amounts of work, sorted by work, interpolated in log-log."""

    work: tuple[float, ...]
    rate: tuple[float, ...] = field(repr=False)

    def __init__(self, work: Any, rate: Any) -> None:
        work, rate = list(work), list(rate)
        pairs = sorted(zip((float(w) for w in work), (float(r) for r in rate), strict=False))
        if not pairs or len(work) != len(rate) or any(not (w > 0 and r > 0 and math.isfinite(w) and math.isfinite(r)) for w, r in pairs):
            raise ValueError(f"curve: work {list(work)!r} and rate {list(rate)!r}: give equally many positive "
                             "finite numbers (at least one point)")
        object.__setattr__(self, "work", tuple(w for w, _ in pairs))
        object.__setattr__(self, "rate", tuple(r for _, r in pairs))

    def __call__(self, work: float) -> float:
        return self.rate_at(work)

    def rate_at(self, work: float) -> float:
        """The achieved rate at ``work`` (log-log interpolation, flat outside the measured range)."""
        xs = self.work
        if work <= xs[0]:
            return self.rate[0]
        if work >= xs[-1]:
            return self.rate[-1]
        i = bisect.bisect_right(xs, work)
        x0, x1, y0, y1 = map(math.log, (xs[i - 1], xs[i], self.rate[i - 1], self.rate[i]))
        return math.exp(y0 + (y1 - y0) * (math.log(work) - x0) / (x1 - x0))


@dataclass(frozen=True)
class Calibration:
    """Per-family curves and the per-op overhead of one device, and how they were measured.

    Attributes
    ----------
    curves : Mapping
        Family (:data:`FAMILIES`) to :class:`Curve`: FLOP/s for compute families, bytes/s for the others.
    overhead_s : Mapping
        Family to the seconds every op of it (module call, dispatch, kernel launch) costs on top of its work.
    source : str
        How and when it was measured (threads, repeats, statistic, torch version).
    sequence_factor : float
        A whole forward's time over the sum of its ops' times, measured on a chain of generic ops (>= 1):
        the cost between ops (the parent modules' Python, the caches each op leaves to the next, and the
        fastest whole run being slower than the sum of each op's fastest run). A step's prediction adds it
        as one row, ``(sequence_factor - 1) x`` the ops' time; 1.0: none measured.
    cold_overhead : tuple
        ``(bytes, seconds)``: the extra seconds a forward op costs right after an op that moved that many
        bytes (the caches left cold), interpolated linearly in log bytes, 0 below the first point and flat
        beyond the last; empty: none measured.
    """

    curves: Mapping[str, Curve]
    overhead_s: Mapping[str, float]
    source: str = ""
    sequence_factor: float = 1.0
    cold_overhead: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())

    def __post_init__(self) -> None:
        missing = [f for f in FAMILIES if f not in self.curves]
        if missing:
            raise ValueError(f"calibration: no curve for {', '.join(missing)}; a calibration needs "
                             f"{', '.join(FAMILIES)} (run `archcalc calibrate`)")
        for f in OP_FAMILIES + BACKWARD_FAMILIES:
            v = self.overhead_s.get(f) if isinstance(self.overhead_s, Mapping) else None
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (v >= 0 and math.isfinite(v)):
                raise ValueError(f"calibration: overhead_us.{f} = {v if v is None else v * 1e6!r}; give "
                                 "microseconds >= 0 for each family")
        f = self.sequence_factor
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not (1.0 <= f <= 10.0):
            raise ValueError(f"calibration: sequence_factor = {f!r}; give a number from 1 to 10")
        object.__setattr__(self, "sequence_factor", float(f))
        xs, ys = (tuple(float(v) for v in part) for part in self.cold_overhead)
        if len(xs) != len(ys) or any(not (x > 0 and y >= 0 and math.isfinite(x) and math.isfinite(y))
                                     for x, y in zip(xs, ys, strict=True)) or list(xs) != sorted(xs):
            raise ValueError(f"calibration: cold_overhead = {self.cold_overhead!r}; give equally many increasing "
                             "positive bytes and seconds >= 0")
        object.__setattr__(self, "cold_overhead", (xs, ys))
        object.__setattr__(self, "curves", MappingProxyType(dict(self.curves)))
        object.__setattr__(self, "overhead_s", MappingProxyType({f: float(self.overhead_s[f])
                                                                  for f in OP_FAMILIES + BACKWARD_FAMILIES}))

    def cold_seconds(self, previous_bytes: float) -> float:
        """The extra seconds of a forward op right after one that moved ``previous_bytes``."""
        xs, ys = self.cold_overhead
        if not xs or previous_bytes <= xs[0]:
            return ys[0] if xs and previous_bytes > 0 else 0.0
        if previous_bytes >= xs[-1]:
            return ys[-1]
        i = bisect.bisect_right(xs, previous_bytes)
        t = (math.log(previous_bytes) - math.log(xs[i - 1])) / (math.log(xs[i]) - math.log(xs[i - 1]))
        return ys[i - 1] + t * (ys[i] - ys[i - 1])

    @staticmethod
    def curve_of(family: str, backward: bool = False) -> str:
        """The curve (and overhead) name of ``family``'s forward or backward pass."""
        if not backward:
            return family
        return f"{'norm' if family == 'norm_training' else family}_backward"

    def op_seconds(self, family: str, flops: float, bytes_: float, weight_bytes: float = 0.0,
                   backward: bool = False) -> tuple[float, float, float]:
        """``(compute_s, memory_s, time_s)`` of one op of ``family`` (overhead included in ``time_s``); a
        GEMM's or convolution's compute time is at least its ``weight_bytes`` at its ``_weights`` curve.
        ``backward``: the op's backward pass, on the ``FAMILY_backward`` curve and overhead (its
        ``weight_bytes``: the weights' bytes once per GEMM-sized pass of the backward)."""
        curve = self.curve_of(family, backward)
        family = curve.removesuffix("_backward")
        memory_s = 0.0
        if bytes_:
            memory = self.curves[curve if family in MEMORY_FAMILIES else "stream"]
            memory_s = bytes_ / memory.rate_at(bytes_)
        compute_s = 0.0
        if family in COMPUTE_FAMILIES and flops:
            compute_s = flops / self.curves[curve].rate_at(flops)
        if family in _WEIGHTS and weight_bytes:
            compute_s = max(compute_s, weight_bytes / self.curves[_WEIGHTS[family]].rate_at(weight_bytes))
        return compute_s, memory_s, self.overhead_s[curve] + max(compute_s, memory_s)

    def lines(self) -> list[str]:
        """The overhead, then one short line per family with its rate range (for a terminal)."""
        o = [v * 1e6 for v in self.overhead_s.values()]
        out = [f"per-op overhead {min(o):.3g}-{max(o):.3g} us, sequence factor {self.sequence_factor:.3f}"]
        for f in FAMILIES:
            c = self.curves[f]
            out.append(f"{f.replace('_', ' '):<24} {min(c.rate) / 1e9:.3g}-{max(c.rate) / 1e9:.3g} {_unit(f)}")
        return out

    def summary(self) -> str:
        """One line: the overhead and each family's rate range."""
        parts = []
        for f in FAMILIES:
            c = self.curves[f]
            parts.append(f"{f.replace('_', ' ')} {min(c.rate) / 1e9:.3g}-{max(c.rate) / 1e9:.3g} {_unit(f)}")
        o = [v * 1e6 for v in self.overhead_s.values()]
        return (f"overhead {min(o):.3g}-{max(o):.3g} us/op, sequence factor {self.sequence_factor:.3f}; "
                + ", ".join(parts))


def _unit(family: str) -> str:
    return "GFLOP/s" if family.removesuffix("_backward") in COMPUTE_FAMILIES else "GB/s"


def calibration_from_mapping(data: Mapping[str, Any], where: str = "calibration") -> Calibration:
    """A :class:`Calibration` from a profile file's ``calibration`` table (``overhead_us``, and per family a
    table ``{ work = [...], rate = [...] }`` in FLOPs / bytes and per second)."""
    if not isinstance(data, Mapping) or "overhead_us" not in data:
        raise ValueError(f"{where}: expected a table with overhead_us and {', '.join(FAMILIES)} curves; "
                         "rerun `archcalc calibrate`")
    curves = {}
    for f in FAMILIES:
        entry = data.get(f)
        if not isinstance(entry, Mapping) or "work" not in entry or "rate" not in entry:
            raise ValueError(f"{where}: missing curve {f!r} (a table of work = [...] and rate = [...]); "
                             "rerun `archcalc calibrate`")
        try:
            curves[f] = Curve(entry["work"], entry["rate"])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}.{f}: {exc}") from None
    overhead = data["overhead_us"]
    if not isinstance(overhead, Mapping):
        raise ValueError(f"{where}: overhead_us = {overhead!r}; give a table of microseconds per family")
    seconds = {f: (v * 1e-6 if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
               for f, v in overhead.items()}
    cold = data.get("cold_overhead", {"bytes": [], "us": []})
    if not isinstance(cold, Mapping) or not isinstance(cold.get("bytes"), list) or not isinstance(cold.get("us"), list):
        raise ValueError(f"{where}: cold_overhead = {cold!r}; give a table of bytes = [...] and us = [...]")
    try:
        pairs = (tuple(cold["bytes"]), tuple(v * 1e-6 for v in cold["us"]))
    except TypeError:
        raise ValueError(f"{where}: cold_overhead.us = {cold['us']!r}; give numbers") from None
    return Calibration(curves, seconds, str(data.get("source", "")), data.get("sequence_factor", 1.0), pairs)


def calibration_to_mapping(cal: Calibration) -> dict[str, Any]:
    """The inverse of :func:`calibration_from_mapping`."""
    out: dict[str, Any] = {"overhead_us": {f: v * 1e6 for f, v in cal.overhead_s.items()}, "source": cal.source,
                           "sequence_factor": cal.sequence_factor,
                           "cold_overhead": {"bytes": list(cal.cold_overhead[0]),
                                             "us": [v * 1e6 for v in cal.cold_overhead[1]]}}
    for f in FAMILIES:
        out[f] = {"work": list(cal.curves[f].work), "rate": list(cal.curves[f].rate)}
    return out
