"""Backward MACs respect what autograd really differentiates: ``.detach()``, ``torch.no_grad()`` regions,
parameters with ``requires_grad=False``, results the forward drops, and weights computed in the forward.

Oracle: FlopCounterMode around ``loss = sum(outputs); loss.backward()`` on the real module
(:mod:`tests.backward_oracle`), against archcalc's ``torch`` convention (2 x MACs; a grouped convolution's
weight gradient x groups, as FlopCounterMode counts it). The network input never requires grad.
"""

from __future__ import annotations

import pytest

from tests.backward_oracle import compare_backward

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional
pytestmark = pytest.mark.torch


def _x(*shape):
    return [torch.zeros(*shape)]


class Detach(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(4, 8), nn.Linear(8, 3), nn.Linear(8, 3)

    def forward(self, x):
        h = self.a(x)
        return self.b(h.detach()) + self.c(h)


def test_detach_stops_the_gradient():
    # batch 2. forward: a 2*4*8 = 64, b 2*8*3 = 48, c 48: 160 MACs = 320 FLOPs.
    # backward: b's weight 48 (its input is detached: no input gradient), c's weight 48 and input 48, a's
    # weight 64 (x needs none): 208 MACs = 416 FLOPs (without the detach: 256 MACs)
    ours, theirs = compare_backward(Detach(), _x(2, 4))
    assert ours == theirs == (320, 416)


class NoGrad(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 8), nn.Linear(8, 3)

    def forward(self, x):
        with torch.no_grad():
            h = self.a(x)
        return self.b(h)


def test_no_grad_region_has_no_backward():
    # forward 64 + 48 = 112 MACs = 224 FLOPs; backward: only b's weight, 48 MACs = 96 FLOPs
    ours, theirs = compare_backward(NoGrad(), _x(2, 4))
    assert ours == theirs == (224, 96)


def test_frozen_weight_gets_no_gradient():
    # a's weight frozen, its bias trainable: a's output needs a gradient (through the bias), so b's input
    # gradient 48 and b's weight 48 count, a's weight gradient (64) does not: 96 MACs = 192 FLOPs
    model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 3))
    model[0].weight.requires_grad_(False)
    ours, theirs = compare_backward(model, _x(2, 4))
    assert ours == theirs == (224, 192)
    # the whole first layer frozen: its output needs no gradient, b's input gradient goes too: 48 MACs
    model[0].bias.requires_grad_(False)
    ours, theirs = compare_backward(model, _x(2, 4))
    assert ours == theirs == (224, 96)


class Dropped(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(4, 8), nn.Linear(8, 3), nn.Linear(8, 5)

    def forward(self, x):
        h = self.a(x)
        self.c(h)  # computed and dropped: the loss does not depend on it
        return self.b(h)


def test_dropped_result_has_no_backward():
    # forward 64 + 48 + c 2*8*5 = 80: 192 MACs = 384 FLOPs; backward b weight 48 + input 48, a weight 64:
    # 160 MACs = 320 FLOPs (c's 80 + 80 would be counted if the dropped branch had a backward)
    ours, theirs = compare_backward(Dropped(), _x(2, 4))
    assert ours == theirs == (384, 320)


class ScoresPlusBias(nn.Module):
    """T5-family attention scores: an einsum (whose result is a view of ATen's bmm output) then an in-place
    ``+=``, which rebases the view's autograd history onto its base."""

    def __init__(self):
        super().__init__()
        self.q, self.k = nn.Linear(8, 8, bias=False), nn.Linear(8, 8, bias=False)
        self.bias = nn.Parameter(torch.zeros(4, 4))

    def forward(self, x):
        scores = torch.einsum("bqd,bkd->bqk", self.q(x), self.k(x))
        scores += self.bias
        return scores


def test_in_place_on_an_einsum_result_keeps_its_backward():
    # x: 2x4x8. forward: q, k 2*4*8*8 = 512 MACs each, scores bmm 2 x 4 x 8 x 4 = 256: 1,280 MACs = 2,560 FLOPs;
    # backward: q's and k's weights 512 each, the einsum's two sides 256 each: 1,536 MACs = 3,072 FLOPs
    ours, theirs = compare_backward(ScoresPlusBias(), _x(2, 4, 8))
    assert ours == theirs == (2560, 3072)


class Checkpointed(nn.Module):
    def __init__(self, reentrant: bool):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(4, 8), nn.Linear(8, 8), nn.Linear(8, 3)
        self.reentrant = reentrant

    def forward(self, x):
        from torch.utils.checkpoint import checkpoint

        return self.c(checkpoint(self.b, self.a(x), use_reentrant=self.reentrant))


@pytest.mark.parametrize("reentrant", [False, True])
def test_checkpointed_region_keeps_its_backward(reentrant):
    # forward: a 2*4*8 = 64, b 2*8*8 = 128, c 2*8*3 = 48: 240 MACs = 480 FLOPs. backward: a's weight 64, b's
    # weight and input 128 + 128, c's weight and input 48 + 48: 416 MACs = 832 FLOPs. A reentrant checkpoint
    # is a custom autograd.Function (CheckpointFunction): b runs without grad and the Function's own backward
    # reruns b with grad (128 MACs = 256 FLOPs) and calls torch.autograd.backward through it; archcalc traces
    # that backward (torch_custom) and counts the rerun too, as FlopCounterMode does.
    from archcalc.frontends.torch_trace import from_torch

    model = Checkpointed(reentrant)
    graph = from_torch(model, (4,), batch=2, training=True)
    ours, theirs = compare_backward(model, _x(2, 4), graph, training=True)
    assert ours == theirs == (480, 832 + (256 if reentrant else 0))
    assert any("CheckpointFunction: its own backward traced" in n for n in graph.notes) == reentrant


class StdConv(nn.Module):
    """A grouped convolution whose weight is computed in the forward (NFNet's scaled weight standardisation,
    reduced to a gain), after an ordinary convolution so that its input needs a gradient too."""

    def __init__(self, first: bool):
        super().__init__()
        self.first = nn.Conv2d(8, 8, 1, bias=False) if first else None
        self.weight = nn.Parameter(torch.zeros(8, 2, 3, 3))
        self.gain = nn.Parameter(torch.ones(8, 1, 1, 1))

    def forward(self, x):
        if self.first is not None:
            x = self.first(x)
        return F.conv2d(x, self.weight * self.gain, padding=1, groups=4)


def test_computed_grouped_weight_keeps_the_groups_factor():
    # x: 2x8x6x6, groups 4. forward: 2*8*6*6 outputs x (8/4 * 3*3) = 576 * 18 = 10,368 MACs = 20,736 FLOPs.
    # backward: the computed weight's gradient, 10,368 MACs, which FlopCounterMode counts x groups (its
    # formula ignores groups): 41,472 MACs = 82,944 FLOPs (the input needs no gradient)
    ours, theirs = compare_backward(StdConv(first=False), _x(2, 8, 6, 6))
    assert ours == theirs == (20736, 82944)
    # with a 1x1 conv first (2*8*6*6 * 8 = 4,608 MACs): + its weight gradient 4,608 and the grouped conv's
    # input gradient 10,368: 41,472 + 14,976 = 56,448 MACs = 112,896 FLOPs
    ours, theirs = compare_backward(StdConv(first=True), _x(2, 8, 6, 6))
    assert ours == theirs == (2 * (10368 + 4608), 112896)


@pytest.mark.parametrize("context", ["no_grad", "inference_mode"])
def test_tracing_under_a_callers_grad_mode(context):
    # from_torch called inside torch.no_grad() / torch.inference_mode(): the trace still sees autograd.
    # a 2*4*8 = 64 MACs, b 2*8*3 = 48; backward: a's weight 64, b's weight 48 and input 48: 160 MACs
    from archcalc.frontends.torch_trace import from_torch
    from archcalc.ir.evaluate import evaluate

    with getattr(torch, context)():
        graph = from_torch(nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 3)), (4,), batch=2)
    assert evaluate(graph, batch=2).total("backward_macs") == 160


def test_zoo_and_untraced_graphs_keep_the_structural_rule():
    # a zoo graph records nothing about gradients: every parameter trains, the input needs none
    from archcalc.ir.evaluate import evaluate
    from archcalc.models.zoo import build

    ev = evaluate(build("vgg11"), (3, 32, 32))
    first = ev.rows[0]
    assert (first.grad_input_macs, first.grad_weight_macs) == (0, first.macs)
    assert all(r.grad_weight_macs == r.macs for r in ev.rows if r.macs_kind == "weight")


def test_nfnet_f0_exact():
    """timm's dm_nfnet_f0: every convolution's weight is standardised in the forward (ScaledStdConv2d), grouped
    3x3s among them; forward and backward FLOPs equal FlopCounterMode's (the backward was 0.60x)."""
    timm = pytest.importorskip("timm")
    from archcalc.frontends.torch_trace import _to_meta

    model = _to_meta(timm.create_model("dm_nfnet_f0", pretrained=False))
    for training in (False, True):
        ours, theirs = compare_backward(model, [torch.zeros(2, 3, 64, 64, device="meta")], training=training)
        assert ours == theirs


@pytest.mark.slow
def test_raft_small_exact():
    """torchvision's raft_small detaches its flow estimate between refinement steps: no gradient flows
    through the earlier steps' coordinates."""
    import torchvision

    from archcalc.frontends.torch_trace import _to_meta

    model = _to_meta(torchvision.models.optical_flow.raft_small(weights=None))
    inputs = [torch.zeros(1, 3, 128, 128, device="meta"), torch.zeros(1, 3, 128, 128, device="meta")]
    ours, theirs = compare_backward(model, inputs, training=True)
    assert ours == theirs
