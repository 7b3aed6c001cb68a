"""Activation checkpointing (``checkpoint_sequential``): the split against torch's own, refusals, and the predicted
peak against the real CPU run (tests/peak_tracker.py sampling after every kernel)."""

from __future__ import annotations

import pytest

from archcalc.ir.graph import Graph, Node, TensorSpec
from archcalc.memory.liveness.checkpoint import checkpoint_plan
from archcalc.memory.liveness.peak import peak_memory
from archcalc.zoo import build


def chain(length: int) -> Graph:
    nodes = tuple(Node(str(i), "ReLU", (str(i - 1) if i else "x",), (str(i),), (), module=str(i)) for i in range(length))
    return Graph(f"chain{length}", "", (TensorSpec("x", (4,)),), nodes, (str(length - 1),))


@pytest.mark.torch
@pytest.mark.parametrize("length", [5, 7, 13, 31])
def test_segments_are_torchs(length):
    """A module runs twice (forward and rerun) exactly when torch checkpointed it."""
    torch = pytest.importorskip("torch")
    from torch.utils.checkpoint import checkpoint_sequential

    class Sin(torch.nn.Module):
        calls = 0

        def forward(self, x):
            self.calls += 1
            return torch.sin(x)  # saves its input, so every checkpointed module is rerun

    for segments in range(1, length + 1):
        seq = torch.nn.Sequential(*(Sin() for _ in range(length)))
        checkpoint_sequential(seq, segments, torch.ones(3, requires_grad=True), use_reentrant=False).sum().backward()
        twice = [i for i, m in enumerate(seq) if m.calls == 2]
        plan = checkpoint_plan(chain(length), segments)
        assert twice == [i for a, b in plan.segment_bounds for i in range(a, b + 1)], segments


def test_vgg_and_alexnet_features_are_the_sequence():
    plan = checkpoint_plan(build("vgg11"), 4)
    # 21 modules in VGG-11's features: 21 // 4 = 5 per checkpointed segment, the last 6 run plainly
    assert (plan.sequence, plan.children, plan.segment_bounds) == ("features", 21, ((0, 4), (5, 9), (10, 14)))
    assert checkpoint_plan(build("alexnet"), 2).segment_bounds == ((0, 5),)  # 13 modules: 6, then 7


@pytest.mark.parametrize("name, segments, message", [
    ("resnet18", 2, "checkpoint_segments: resnet18 is not a sequence of modules"),
    ("googlenet", 3, "checkpoint_segments: googlenet is not a sequence of modules"),
    ("vgg11", 22, "checkpoint_segments: got 22, more than the 21 modules of features; give at most 21"),
    # 21 // 3 = 7: the second segment would start at features.7, an in-place ReLU
    ("vgg11", 3, "a checkpointed segment starts with features.7, an in-place ReLU"),
    ("vgg11", 0, "checkpoint_segments: got 0; give a positive integer"),
])
def test_refusals(name, segments, message):
    with pytest.raises(ValueError, match=message):
        peak_memory(build(name), (3, 32, 32), training=True, checkpoint_segments=segments)


def test_inference_unchanged():
    # (autocast with checkpointing is measured in tests/test_archcalc_peak_combined.py)
    plain, ck = (peak_memory(build("vgg11"), (3, 32, 32), 2, checkpoint_segments=k) for k in (1, 4))
    assert ck.timeline == plain.timeline  # no_grad saves nothing, so there is nothing to drop


def test_checkpointing_keeps_less_in_the_forward_pass():
    graph = build("vgg16")
    plain = peak_memory(graph, (3, 224, 224), 8, training=True)
    ck = peak_memory(graph, (3, 224, 224), 8, training=True, checkpoint_segments=4)
    end = [s.live_bytes for s in plain.timeline if s.phase == "forward"][-1]
    end_ck = [s.live_bytes for s in ck.timeline if s.phase == "forward"][-1]
    # segments 0-6, 7-13, 14-20 keep only their inputs; the saved activations of features.0-20 go
    assert end_ck < end and ck.peak_bytes < plain.peak_bytes
    assert any(s.op.endswith("(recompute)") for s in ck.timeline)


def _sequential_cnn(torch):
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1),
                         nn.BatchNorm2d(32), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(32 * 16 * 16, 10))


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.parametrize("batch, segments, mode", [(1, 3, "sgd"), (8, 1, "sgd"), (8, 2, "sgd"), (8, 3, "sgd"),
                                                   (8, 5, "adam")])
def test_peak_matches_the_real_checkpointed_run(batch, segments, mode, one_torch_thread):
    torch = pytest.importorskip("torch")
    from peak_tracker import measure_step
    from torch.utils.checkpoint import checkpoint_sequential

    from archcalc.frontends.torch_trace import from_torch

    torch.manual_seed(0)
    seq = _sequential_cnn(torch)

    class Checkpointed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.seq = seq

        def forward(self, x):
            return checkpoint_sequential(self.seq, segments, x, use_reentrant=False) if segments > 1 else self.seq(x)

    graph = from_torch(seq, (3, 64, 64), batch=batch, name="cnn")
    measured = measure_step(Checkpointed(), torch.randn(batch, 3, 64, 64), mode, every_kernel=True)
    p = peak_memory(graph, (3, 64, 64), batch, training=True, optimizer=mode, checkpoint_segments=segments,
                    first_step=True)  # measure_step runs step 1
    assert abs(p.peak_bytes - measured.peak_bytes) <= 0.02 * measured.peak_bytes, (p.peak_bytes, measured)
