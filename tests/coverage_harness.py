"""One coverage check: build a timm or transformers model, trace it with archcalc, compare with torch.

An entry of ``tests/coverage/timm_models.json`` or ``tests/coverage/hf_models.json`` (written by
``tools/coverage_select.py``) names a model, how to build it and its inputs. :func:`check` builds it on the
entry's device (``meta`` where the plain torch forward runs there, else the CPU at the small size the
entry gives), traces it with :func:`archcalc.frontends.torch_trace.from_torch` in eval mode, and runs the
independent oracle on the same module: ``torch.utils.flop_counter.FlopCounterMode`` around the forward and
then around ``out.sum().backward()`` of the first floating output (the model's inputs need no gradient).
An entry with ``"mode": "train"`` (a model whose backward runs only in training mode, Reformer's) is built,
traced and counted in training mode, and its oracle counts the whole model only (no per-module attribution:
FlopCounterMode's module tracker cannot hook the grad-less views inside a custom autograd.Function; the
total does not depend on it).
:meth:`Outcome.failures` lists every disagreement as one short, deterministic line:

- ``params``: archcalc's parameters (``total("params")`` plus the known parameters no node reads) ==
  ``sum(p.numel() for p in model.parameters())`` (each shared tensor once);
- ``forward``: ``2 * total("macs")`` == FlopCounterMode's forward FLOPs;
- ``backward``: ``2 * total("backward_macs")`` == FlopCounterMode's FLOPs inside ``backward()``;
- ``output``: the graph's first output shape == the real output's;
- ``unmodelled``: no ``Unmodeled`` node (listed by op and count);
- ``trace``: from_torch raised (its first line).

The tests (``test_archcalc_coverage_{hf,timm}.py``) and the regeneration of ``known_gaps.json`` and
``docs/coverage.md`` (``python tools/coverage_select.py --gaps``) all call :func:`check`, so they cannot
disagree.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "coverage"
LISTS = {"timm": DATA / "timm_models.json", "hf": DATA / "hf_models.json"}
GAPS = DATA / "known_gaps.json"


def load(source: str) -> list[dict[str, Any]]:
    """The checked-in entries of ``source`` (``"timm"`` or ``"hf"``), in file order."""
    return json.loads(LISTS[source].read_text())["models"]


def excluded(source: str) -> dict[str, str]:
    """The families (timm) or model types (transformers) the selection left out, with the reason."""
    return json.loads(LISTS[source].read_text())["excluded"]


def timm_family(name: str) -> str:
    """A timm model's family: its name's first ``_``-separated token (``convnext_atto`` -> ``convnext``)."""
    return name.split("_", 1)[0]


def known_gaps(source: str) -> dict[str, list[str]]:
    """``{model: [failure, ...]}`` of the models of ``source`` that do not pass yet."""
    if not GAPS.exists():
        return {}
    return json.loads(GAPS.read_text()).get(source, {})


def key(entry: dict[str, Any]) -> str:
    """The entry's id: its timm name, or its transformers model type."""
    return entry["name"]


# ----------------------------------------------------------------------------------------------- building


def _hf_config(entry: dict[str, Any]) -> Any:
    from transformers import AutoConfig

    config = AutoConfig.for_model(entry["model_type"], **entry["config"])
    # mixture-of-experts layers run their eager loop: FlopCounterMode has no formula for grouped_mm (the
    # default), so the oracle would count the experts as 0; the loop multiplies exactly tokens x k rows, the
    # MACs archcalc counts for any routing (tests/test_archcalc_trace_hf.py checks grouped_mm's own count)
    if hasattr(config, "_experts_implementation"):
        config._experts_implementation = "eager"
    return config


def build(entry: dict[str, Any], device: str) -> Any:
    """The entry's model (eval mode) on ``device``: timm with ``pretrained=False``, transformers from config."""
    torch.manual_seed(0)
    with torch.device(device):
        if entry["source"] == "timm":
            import timm

            model = timm.create_model(entry["name"], pretrained=False, **entry.get("kwargs", {}))
        else:
            import transformers

            cls = getattr(transformers, entry["class"])
            model = _Named(cls(_hf_config(entry)), tuple(i["name"] for i in entry["inputs"]))
    return model.train(training(entry))


def training(entry: dict[str, Any]) -> bool:
    """Whether the entry is checked in training mode (``"mode": "train"``), else eval mode."""
    return entry.get("mode", "eval") == "train"


class _Named(torch.nn.Module):
    """Calls a transformers model with keyword inputs; returns its floating output tensors (first: the main)."""

    def __init__(self, model: Any, names: tuple[str, ...]) -> None:
        super().__init__()
        self.model = model
        self.names = names

    def forward(self, *tensors: Any) -> Any:
        return tuple(floats(self.model(**dict(zip(self.names, tensors, strict=True)))))


def floats(obj: Any) -> list[Any]:
    """The floating-point tensors of a (nested) output in order: ``last_hidden_state``, ``pooler_output`` ..."""
    if isinstance(obj, torch.Tensor):
        return [obj] if obj.is_floating_point() else []
    values = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, list | tuple) else ()
    return [t for v in values for t in floats(v)]


def inputs(entry: dict[str, Any], device: str) -> list[Any]:
    """Zero tensors for the entry's inputs (batch 1, ``device``)."""
    if entry["source"] == "timm":
        return [torch.zeros(1, *entry["input"], device=device)]
    return [torch.zeros(1, *i["shape"], dtype=getattr(torch, i["dtype"]), device=device) for i in entry["inputs"]]


def _trace_args(entry: dict[str, Any]) -> tuple[list[tuple[int, ...]], tuple[str, ...]]:
    if entry["source"] == "timm":
        return [tuple(entry["input"])], ("float32",)
    return [tuple(i["shape"]) for i in entry["inputs"]], tuple(i["dtype"] for i in entry["inputs"])


# ----------------------------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class Outcome:
    """Everything one check measured (``None`` where a step did not run)."""

    name: str
    device: str
    params: int | None = None
    torch_params: int | None = None
    macs: int | None = None
    torch_flops: int | None = None
    backward_macs: int | None = None
    torch_backward_flops: int | None = None
    output_shape: tuple[int, ...] | None = None
    torch_output_shape: tuple[int, ...] | None = None
    unmodelled: tuple[tuple[str, int], ...] = ()
    error: str | None = None
    nodes: int = 0
    seconds: float = 0.0  # CPU seconds of this process (build, trace, oracle): stable on a shared machine
    notes: tuple[str, ...] = field(default=())

    def failures(self) -> list[str]:
        """One line per disagreement with torch (empty when the model passes)."""
        if self.error is not None:
            return [self.error]
        out = []
        if self.params != self.torch_params:
            out.append(f"params {self.params:,} != torch {self.torch_params:,}")
        if self.output_shape != self.torch_output_shape:
            out.append(f"output shape {self.output_shape} != torch {self.torch_output_shape}")
        if self.unmodelled:
            out.append("unmodelled: " + ", ".join(f"{op} x {n}" for op, n in self.unmodelled))
        if 2 * self.macs != self.torch_flops:
            out.append(f"forward {_ratio(2 * self.macs, self.torch_flops)} ({2 * self.macs:,} vs {self.torch_flops:,} FLOPs)")
        if self.torch_backward_flops is not None and 2 * self.backward_macs != self.torch_backward_flops:
            out.append(f"backward {_ratio(2 * self.backward_macs, self.torch_backward_flops)} "
                       f"({2 * self.backward_macs:,} vs {self.torch_backward_flops:,} FLOPs)")
        return out


def _ratio(ours: int, theirs: int) -> str:
    return f"{ours / theirs:.3f}x" if theirs else "vs 0"


_ADDRESS = re.compile(r"0x[0-9a-f]{6,}")


def _one_line(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0]
    return _ADDRESS.sub("0x...", f"{type(exc).__name__}: {first[:200]}")


def conv_backward_flop(grad_out_shape: Any, x_shape: Any, w_shape: Any, bias: Any, stride: Any, padding: Any,
                       dilation: Any, transposed: bool, output_padding: Any, groups: int, output_mask: Any,
                       out_shape: Any = None, **kwargs: Any) -> int:
    """torch's ``aten.convolution_backward`` FLOP formula with the weight gradient divided by ``groups``.

    torch 2.14's formula counts the weight gradient as ``conv(x^T, grad_out^T)`` over all ``C_in`` input
    channels, ignoring groups, so a depthwise conv's weight gradient comes out ``groups`` times too high.
    The weight gradient of a grouped conv has exactly its forward's multiply-adds (each weight element
    meets the same input / grad-output pairs as in the forward): for a depthwise 3x3 conv on 1x32x8x8,
    8*8*32*9 = 18,432 MACs, where torch counts 32 x 18,432. The input gradient term is torch's own (it
    reads the per-group weight shape, so groups are right there).
    """
    from torch.utils import flop_counter as fc

    args = (grad_out_shape, x_shape, w_shape, bias, stride, padding, dilation, transposed, output_padding, groups)
    total = fc.conv_backward_flop(*args, [output_mask[0], False, False], out_val=out_shape)
    if output_mask[1]:
        weight = fc.conv_backward_flop(*args, [False, True, False], out_val=out_shape)
        assert weight % groups == 0, (weight, groups)
        total += weight // groups
    return total


class _WholeModel:
    """A stand-in for FlopCounterMode's module tracker that attributes every op to the whole model only."""

    parents = frozenset({"Global"})

    def __enter__(self) -> _WholeModel:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


def flop_counter(per_module: bool = True) -> Any:
    """``FlopCounterMode`` with :func:`conv_backward_flop` for ``aten.convolution_backward``; with
    ``per_module=False`` it counts the whole model only (its total, ``"Global"``, is the same)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False,
                              custom_mapping={torch.ops.aten.convolution_backward: conv_backward_flop})
    if not per_module:
        counter.mod_tracker = _WholeModel()
    return counter


def oracle(model: Any, xs: list[Any], per_module: bool = True) -> tuple[int, int | None, int, tuple[int, ...]]:
    """(unique parameters, forward FLOPs, backward FLOPs or None, output shape) by FlopCounterMode.

    The loss is the sum of every floating output that needs a gradient (archcalc's backward assumes the
    loss depends on every output: a pooler's gradient is counted too). Attention runs torch's math kernel,
    the decomposition FlopCounterMode sees on the meta device, so CPU and meta rows count the same ops (the
    CPU flash kernel is not in FlopCounterMode's table, and its backward recomputes the scores).
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    params = sum(p.numel() for p in model.parameters())  # Module.parameters() yields a shared tensor once
    with sdpa_kernel([SDPBackend.MATH]):
        with flop_counter(per_module) as counter:
            outs = floats(model(*xs))
        forward = counter.get_total_flops()
        backward = None
        grads = [o for o in outs if o.requires_grad]
        if grads:
            with flop_counter(per_module) as counter:
                sum(o.sum() for o in grads).backward()
            backward = counter.get_total_flops()
    model.zero_grad(set_to_none=True)
    return params, forward, backward, tuple(outs[0].shape) if outs else ()


def check(entry: dict[str, Any]) -> Outcome:
    """Build, trace and compare one entry (see the module docstring); never raises for a model's failure."""
    from archcalc.frontends.torch_trace import from_torch, unmodeled_nodes
    from archcalc.ir.evaluate import evaluate

    name, device = key(entry), entry.get("device", "meta")
    start = time.process_time()
    try:
        model = build(entry, device)
    except Exception as exc:  # the selection script only lists models that build; report, never hide
        return Outcome(name, device, error="build: " + _one_line(exc), seconds=time.process_time() - start)
    shapes, dtypes = _trace_args(entry)
    try:
        graph = from_torch(model, *shapes, input_dtypes=dtypes, name=name, training=training(entry))
        ev = evaluate(graph)
    except Exception as exc:
        return Outcome(name, device, error="trace: " + _one_line(exc), seconds=time.process_time() - start)
    unmodelled = Counter(dict(n.hparams).get("op", "?") for n in unmodeled_nodes(graph))
    try:
        # a fresh module: a traced forward may cache values on the module (ConViT's relative indices, real
        # CPU tensors under value propagation) that the oracle's meta run could not combine with its own
        model = build(entry, device)
        params, flops, back, shape = oracle(model, inputs(entry, device), per_module=not training(entry))
    except Exception as exc:
        return Outcome(name, device, error="torch oracle: " + _one_line(exc), seconds=time.process_time() - start)
    del model
    return Outcome(
        name, device,
        params=ev.total("params") + sum(n for _, n in ev.unused_params), torch_params=params,
        macs=ev.total("macs"), torch_flops=flops, backward_macs=ev.total("backward_macs"),
        torch_backward_flops=back, output_shape=tuple(ev.output_shape), torch_output_shape=shape,
        unmodelled=tuple(sorted(unmodelled.items(), key=lambda kv: (-kv[1], kv[0]))), nodes=len(graph.nodes),
        seconds=time.process_time() - start,
    )


class KnownGap(AssertionError):
    """The model fails exactly as ``known_gaps.json`` says (the tests' strict xfail expects this type)."""


def assert_passes(entry: dict[str, Any], gaps: dict[str, list[str]]) -> Outcome:
    """Raise ``KnownGap`` for the recorded failure, ``AssertionError`` for any other, nothing on a pass."""
    outcome = check(entry)
    failures = outcome.failures()
    expected = gaps.get(key(entry))
    if failures and failures == expected:
        raise KnownGap("; ".join(failures))
    assert failures == [], f"{key(entry)} ({outcome.device}): " + "; ".join(failures)
    return outcome


def pytest_params(entries: list[dict[str, Any]], gaps: dict[str, list[str]]) -> list[Any]:
    """One slow ``pytest.param`` per entry, id'd by its key; a recorded gap is a strict xfail that expects
    exactly :class:`KnownGap` (a pass, or another failure, fails the suite)."""
    import pytest

    out = []
    for entry in entries:
        name = key(entry)
        marks = [pytest.mark.slow]
        if name in gaps:
            marks.append(pytest.mark.xfail(strict=True, raises=KnownGap, reason="; ".join(gaps[name])))
        out.append(pytest.param(entry, id=name, marks=marks))
    return out
