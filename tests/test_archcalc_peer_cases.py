"""Peer tools' own test cases, ported (module definitions and expected numbers only) and run through archcalc.

Sources: PyTorch ``test/test_flop_counter.py`` (FLOPs = 2 x MACs) and fvcore ``tests/test_flop_count.py``
(fvcore's "flop" is one multiply-accumulate). The expected numbers are theirs, copied verbatim; the
arithmetic behind each is in the comment.
"""

from __future__ import annotations

import pytest

from archcalc.ir.evaluate import evaluate

pytestmark = pytest.mark.torch


def _call(fn, first, *others, training=False):
    """Trace ``fn(x, *others)`` with ``x`` of full shape ``first`` (its first dim the batch) and the other
    operands as buffers; return the evaluation."""
    import torch
    import torch.nn as nn

    from archcalc.frontends.torch_trace import from_torch

    class Call(nn.Module):
        def __init__(self):
            super().__init__()
            for i, shape in enumerate(others):
                self.register_buffer(f"b{i}", torch.zeros(shape))

        def forward(self, x):
            return fn(x, *(getattr(self, f"b{i}") for i in range(len(others))))

    return _eval(from_torch(Call(), tuple(first[1:]), batch=first[0], training=training), first[0])


def _eval(graph, batch):
    return evaluate(graph, batch=batch)


# ---------------------------------------------------------------------------------------------------------
# PyTorch test/test_flop_counter.py (TestFlopCounter.test_op / test_flop_counter_variety / test_backward)


def _torch_ops():
    import torch

    return [
        # 4 * 6 * 2 * 5 = 240
        ("mm", lambda a, b: torch.mm(a, b), (4, 5), [(5, 6)], 240),
        # 3 * 4 * 6 * 2 * 5 = 720
        ("bmm", lambda a, b: torch.bmm(a, b), (3, 4, 5), [(3, 5, 6)], 720),
        # addmm with a (4, 6), (4, 1) and (6,) addend: 240 each
        ("addmm", lambda a, c, b: torch.addmm(c, a, b), (4, 5), [(4, 6), (5, 6)], 240),
        ("addmm_col", lambda a, c, b: torch.addmm(c, a, b), (4, 5), [(4, 1), (5, 6)], 240),
        ("addmm_vec", lambda a, c, b: torch.addmm(c, a, b), (4, 5), [(6,), (5, 6)], 240),
        ("baddbmm", lambda a, c, b: torch.baddbmm(c, a, b), (3, 4, 5), [(3, 4, 6), (3, 5, 6)], 720),
        # out 2 x 5 x 5, kernel 4 x 4, c_out 6, c_in 3: 50 * 16 * 6 * 2 * 3 = 28800
        ("conv2d", lambda x, w: torch.conv2d(x, w, padding=1), (2, 3, 6, 6), [(6, 3, 4, 4)], 28800),
        # out 2 x 5, kernel 4, c_out 6, c_in 3: 10 * 4 * 6 * 2 * 3 = 1440
        ("conv1d", lambda x, w: torch.conv1d(x, w, padding=1), (2, 3, 6), [(6, 3, 4)], 1440),
    ]


@pytest.mark.parametrize("case", range(8))
def test_torch_flop_counter_ops(case):
    name, fn, first, others, flops = _torch_ops()[case]
    assert 2 * _call(fn, first, *others).total("macs") == flops, name


def test_torch_flop_counter_variety():
    import torch
    import torch.nn as nn

    from archcalc.frontends.torch_trace import from_torch

    class Variety(nn.Module):
        def __init__(self):
            super().__init__()
            self.mod = nn.Linear(9, 10)
            for name, shape in [("b", (5, 6)), ("c", (4, 6)), ("d", (5, 6)), ("e", (5, 6)), ("f", (6, 7)),
                                ("g", (6, 7)), ("h", (7, 8)), ("i", (8, 9))]:
                self.register_buffer(name, torch.zeros(shape))

        def forward(self, a):  # a: (4, 5)
            torch.mm(a, self.b)
            torch.addmm(self.c, a, self.d, beta=0.5, alpha=0.5)
            torch.matmul(self.e, self.f)
            torch.einsum("ab,bc->ac", self.g, self.h)
            return self.mod(self.i)

    # mm 4*6*5 = 120, addmm 120, matmul 5*7*6 = 210, einsum 6*8*7 = 336, linear 8*10*9 = 720 MACs:
    # 1506 MACs = 3012 FLOPs
    assert 2 * _eval(from_torch(Variety(), (5,), batch=4), 4).total("macs") == 3012


def test_torch_flop_counter_backward():
    import torch
    import torch.nn as nn

    from archcalc.frontends.torch_trace import from_torch

    class Backward(nn.Module):  # torch's a = T(4, 5, requires_grad=True) becomes a parameter
        def __init__(self):
            super().__init__()
            self.a = nn.Parameter(torch.zeros(4, 5))
            self.register_buffer("c", torch.zeros(7, 6, 7))

        def forward(self, x):  # x: torch's T(5, 6)
            return torch.bmm(torch.mm(self.a, x).unsqueeze(0).expand(7, 4, 6), self.c)

    # forward: mm 4*6*5 = 120, bmm 7*4*7*6 = 1176 -> 1296 MACs; backward: d a 120, d(expanded) 1176 -> 1296;
    # 2 * (1296 + 1296) = 5184
    ev = _eval(from_torch(Backward(), (6,), batch=5), 5)
    assert 2 * (ev.total("macs") + ev.total("backward_macs")) == 5184


def test_torch_flop_counter_resnet18_module():
    from archcalc.frontends.torch_trace import from_torchvision

    ev = evaluate(from_torchvision("resnet18"))
    layer1 = [r for r in ev.rows if r.name.startswith("layer1") and r.kind == "Conv2d"]
    # layer1: four 3x3 convs 64 -> 64 on 56 x 56: 4 * 56*56*64 * 576 = 462,422,016 MACs = 924,844,032 FLOPs;
    # their backward (input and weight gradients) twice that.
    assert 2 * sum(r.macs for r in layer1) == 924844032
    assert 2 * sum(r.backward_macs for r in layer1) == 1849688064
    # torch's input requires grad: archcalc's backward plus conv1's input gradient (its forward MACs,
    # 112*112*64 * 147 = 118,013,952).
    conv1 = next(r for r in ev.rows if r.name == "conv1")
    total = ev.total("macs") + ev.total("backward_macs") + conv1.macs
    assert 2 * total == 10884440064


def _sdpa(lq, lk, e=64, ev=64):
    from archcalc.ops import formula

    return formula("ScaledDotProductAttention")([(4, 8, lq, e), (4, 8, lk, e), (4, 8, lk, ev)], is_causal=True)


def test_torch_flop_counter_sdpa_forward():
    # test_sdpa (a CUDA test there; the counts are shape-only): 4 * 8 heads * 128 * 128 * (64 + 64) * 2
    assert 2 * _sdpa(128, 128).macs == 134217728
    # q 128, k 256: 4 * 8 * 128 * 256 * 128 * 2
    assert 2 * _sdpa(128, 256).macs == 268435456


def test_torch_flop_counter_sdpa_backward():
    # math backend, q, k, v requiring grad: forward + backward 805306368 (backward = 2 x forward)
    cost = _sdpa(128, 256)
    assert 2 * (cost.macs + sum(cost.input_grad_macs)) == 805306368


# ---------------------------------------------------------------------------------------------------------
# fvcore tests/test_flop_count.py (TestFlopCountAnalysis, TestFlopCountHandles): one "flop" = one MAC


def test_fvcore_linear():
    import torch.nn as nn

    from archcalc.frontends.torch_trace import from_torch

    # test_nn: batch 5, 8 -> 4: 5*8*4 = 160; test_linear: 5*10*20 = 1000 and with an extra dim 5: 5000
    assert evaluate(from_torch(nn.Linear(8, 4), (8,), batch=5), batch=5).total("macs") == 160
    assert evaluate(from_torch(nn.Linear(10, 20), (10,), batch=5), batch=5).total("macs") == 1000
    assert evaluate(from_torch(nn.Linear(10, 20), (5, 10), batch=5), batch=5).total("macs") == 5000


# (conv_dim, batch, in, out, spatial, kernel, padding, stride, groups, transpose, output_padding)
FVCORE_CONVS = [
    (2, 5, 10, 3, 15, 3, 1, 1, 1, False, 0),
    (2, 2, 10, 6, 20, 3, 1, 2, 1, False, 0),
    (2, 5, 16, 8, 15, 5, 2, 1, 4, False, 0),
    (2, 5, 16, 8, 15, 3, 1, 1, 8, False, 0),
    (1, 5, 10, 3, 15, 3, 1, 1, 1, False, 0),
    (3, 5, 10, 3, 15, 3, 1, 1, 1, False, 0),
    (2, 5, 10, 3, 15, 3, 1, 1, 1, True, 0),
    (2, 5, 10, 3, 15, 3, 1, 2, 1, True, 0),
    (2, 5, 10, 3, 15, 3, 1, 3, 1, True, 2),
]


@pytest.mark.parametrize("case", FVCORE_CONVS)
def test_fvcore_conv(case):
    import torch.nn as nn

    from archcalc.frontends.torch_trace import from_torch

    d, batch, c_in, c_out, spatial, k, pad, stride, groups, transpose, out_pad = case
    if transpose:
        layer = getattr(nn, f"ConvTranspose{d}d")(c_in, c_out, k, stride, pad, groups=groups, output_padding=out_pad)
    else:
        layer = getattr(nn, f"Conv{d}d")(c_in, c_out, k, stride, pad, groups=groups)
    # fvcore's ground truth: batch * in * out * k^d * size^d / groups, size = the output size
    # ((spatial + 2 pad - k) // stride + 1) for a convolution, the input size for a transposed one.
    size = spatial if transpose else (spatial + 2 * pad - k) // stride + 1
    expected = batch * c_in * c_out * k**d * size**d // groups
    ev = evaluate(from_torch(layer, (c_in,) + (spatial,) * d, batch=batch), batch=batch)
    assert ev.total("macs") == expected


@pytest.mark.parametrize(("first", "second", "expected"), [
    ((20, 10), (10, 100), 20 * 10 * 100),           # test_matmul
    ((1, 20, 10), (1, 10, 100), 20 * 10 * 100),     # test_matmul_broadcast
    ((2, 2, 20, 10), (2, 2, 10, 100), 4 * 20 * 10 * 100),
    ((1, 20, 10), (10, 100), 20 * 10 * 100),
    ((2, 20, 10), (10, 100), 2 * 20 * 10 * 100),
    ((3, 4), (4, 5), 60),                           # TestFlopCountHandles.test_torch_mm
])
def test_fvcore_matmul(first, second, expected):
    import torch

    assert _call(torch.matmul, first, second).total("macs") == expected


def test_fvcore_bmm_and_einsum():
    import torch

    # test_bmm: n=2, c=5, t=2, p=12: n * t * p * c = 240
    assert _call(torch.bmm, (2, 5, 2), (2, 2, 12)).total("macs") == 240
    # test_einsum: nct,ncp->ntp with n=1, c=5, t=2, p=12: 120; ntg,ncg->nct with g=6: 1*2*6*5 = 60
    assert _call(lambda x, y: torch.einsum("nct,ncp->ntp", x, y), (1, 5, 2), (1, 5, 12)).total("macs") == 120
    assert _call(lambda x, y: torch.einsum("ntg,ncg->nct", x, y), (1, 2, 6), (1, 5, 6)).total("macs") == 60
    # test_complicated_einsum: nc,nchw->hw on (3, 4), (3, 4, 2, 3): 3*4*2*3 = 72
    assert _call(lambda x, y: torch.einsum("nc,nchw->hw", x, y), (3, 4), (3, 4, 2, 3)).total("macs") == 72


def _three_net(input_dim, conv_dim, linear_dim):
    import torch
    import torch.nn as nn

    class ThreeNet(nn.Module):  # fvcore's ThreeNet
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(input_dim, conv_dim, 1, 1)
            self.pool = nn.AdaptiveAvgPool2d((1, 1))
            self.linear1 = nn.Linear(conv_dim, linear_dim)
            self.linear2 = nn.Linear(linear_dim, 1)

        def forward(self, x):
            return self.linear2(self.linear1(torch.flatten(self.pool(self.conv(x)), 1)))

    return ThreeNet()


def test_fvcore_three_net_by_module():
    from archcalc.frontends.torch_trace import from_torch

    ev = evaluate(from_torch(_three_net(2, 5, 3), (2, 10, 10), batch=4), batch=4)
    macs = {r.name: r.macs for r in ev.rows}
    # test_flop_counter_class: conv 4*5*2*10*10 = 4000, linear1 4*5*3 = 60, linear2 4*3*1 = 12
    assert (macs["conv"], macs["linear1"], macs["linear2"]) == (4000, 60, 12)
    # fvcore's pool count, flop1 // input_dim = 2000 (one add per input element): archcalc's pooling ops
    assert next(r.elementwise_ops for r in ev.rows if r.name == "pool") == 2000


def _fvcore_preset_total(module, shape, batch, training=False):
    from archcalc.check.conventions import get_convention
    from archcalc.frontends.torch_trace import from_torch

    fv = get_convention("fvcore")
    ev = evaluate(from_torch(module, shape, batch=batch, training=training), batch=batch)
    return sum(fv.forward(r) for r in ev.rows)


def _norm_cases():
    import torch.nn as nn

    return [
        # test_batchnorm: BatchNorm1d(10, affine=False).eval() on 10 x 10: 1 per element = 100
        (lambda: nn.BatchNorm1d(10, affine=False), (10,), 10, False, 100),
        # BatchNorm2d(10, affine=False), training, 10 x 10 x 5 x 5: 4 per element = 10000
        (lambda: nn.BatchNorm2d(10, affine=False), (10, 5, 5), 10, True, 10000),
        # TestFlopCountHandles.test_batch_norm on 2 x 2 x 2 x 2 (16 elements): affine eval 32, training 80
        (lambda: nn.BatchNorm2d(2), (2, 2, 2), 2, False, 32),
        (lambda: nn.BatchNorm2d(2), (2, 2, 2), 2, True, 80),
        # test_group_norm: 2 groups on 2 x 2 x 2 x 2: affine 80, without 64
        (lambda: nn.GroupNorm(2, 2), (2, 2, 2), 2, False, 80),
        (lambda: nn.GroupNorm(2, 2, affine=False), (2, 2, 2), 2, False, 64),
        # test_upsample: bilinear x2 on 2 x 2 x 2 x 2: 2**4 * 4 * 4 = 256 (4 per output element)
        (lambda: nn.Upsample(scale_factor=2, mode="bilinear"), (2, 2, 2), 2, False, 256),
    ]


# Measured: fvcore 0.1.5 itself gives these numbers, and archcalc's fvcore preset (archcalc/check/presets.py)
# reproduces each of them.
@pytest.mark.parametrize("case", range(7))
def test_fvcore_norm_and_upsample_handles_with_the_fvcore_preset(case):
    make, shape, batch, training, expected = _norm_cases()[case]
    assert _fvcore_preset_total(make(), shape, batch, training) == expected
