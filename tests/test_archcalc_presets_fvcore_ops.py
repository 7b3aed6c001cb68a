"""The fvcore convention op by op: every handle of fvcore 0.1.5's ``_DEFAULT_SUPPORTED_OPS`` (and ops it
does not support) on small modules, against ``FlopCountAnalysis`` itself on a CPU run (the oracle).

The arithmetic of fvcore's handles (``fvcore/nn/jit_handles.py``) is in each case's comment.
"""

from __future__ import annotations

import logging

import pytest

from archcalc.check.conventions import get_convention
from archcalc.ir import evaluate

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional
pytest.importorskip("fvcore")

pytestmark = pytest.mark.torch


class Fn(nn.Module):
    """A module running ``fn(self, x)``; ``parts`` become submodules / parameters."""

    def __init__(self, fn, **parts):
        super().__init__()
        self.fn = fn
        for k, v in parts.items():
            setattr(self, k, v)

    def forward(self, x):
        return self.fn(self, x)


def _fvcore(model, shape) -> float:
    from fvcore.nn import FlopCountAnalysis

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    analysis = FlopCountAnalysis(model, torch.zeros(1, *shape))
    return analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).total()


def _ours(model, shape, training=False) -> int:
    from archcalc.frontends.torch_trace import from_torch

    conv = get_convention("fvcore")
    return sum(conv.forward(r) for r in evaluate(from_torch(model, shape, training=training)).rows)


CASES = {
    # conv_flop_jit: batch * prod(w) * prod(out spatial) = 1 * 8*4*3 * 14 = 1,344
    "conv1d": (lambda: nn.Conv1d(4, 8, 3), (4, 16), 1_344),
    # 4*2*27 * 4*4*4 = 13,824
    "conv3d": (lambda: nn.Conv3d(2, 4, 3), (2, 6, 6, 6), 13_824),
    # transposed: batch * prod(w) * prod(IN spatial) = 4*6*9 * 25 = 5,400
    "conv_transpose2d": (lambda: nn.ConvTranspose2d(4, 6, 3, stride=2), (4, 5, 5), 5_400),
    # grouped: 8*(4/2)*9 * 36 = 5,184
    "conv2d_grouped": (lambda: nn.Conv2d(4, 8, 3, groups=2), (4, 8, 8), 5_184),
    # linear_flop_jit: prod(x) * out = 3*5 * 7 = 105
    "linear_3d": (lambda: nn.Linear(5, 7), (3, 5), 105),
    # addmm_flop_jit: batch * in * out = 1 * 5 * 7 = 35
    "addmm": (lambda: Fn(lambda m, x: torch.addmm(m.b, x, m.w), w=nn.Parameter(torch.ones(5, 7)),
                         b=nn.Parameter(torch.ones(7))), (5,), 35),
    # matmul_flop_jit: prod(a) * b[-1] = (5*7) * 4 = 140, though the broadcast product takes 2*5*7*4 = 280 MACs
    "matmul_broadcast": (lambda: Fn(lambda m, x: x[0] @ torch.ones(2, 7, 4)), (5, 7), 140),
    # bmm_flop_jit: n*c*t*d = 1*5*7*5 = 175
    "bmm": (lambda: Fn(lambda m, x: torch.bmm(x, x.transpose(1, 2))), (5, 7), 175),
    # einsum with a summed index: numpy's optimal count 2*5*7*5 + 1 = 351 -> "3.510e+02" / 2 -> 175
    "einsum_contract": (lambda: Fn(lambda m, x: torch.einsum("bij,bkj->bik", x, x)), (5, 7), 175),
    # outer product, no summed index: 1*7*7 + 1 = 50 -> "5.000e+01" / 2 -> 25
    "einsum_outer": (lambda: Fn(lambda m, x: torch.einsum("bi,bj->bij", x[:, 0], x[:, 0])), (5, 7), 25),
    # batchnorm_flop_jit at inference: 2 per element (affine) = 2 * 4*8*8 = 512; without affine 1 per element
    "batch_norm": (lambda: nn.BatchNorm2d(4), (4, 8, 8), 512),
    "batch_norm_no_affine": (lambda: nn.BatchNorm2d(4, affine=False), (4, 8, 8), 256),
    # norm_flop_counter: 5 per element with affine, 4 without: 5 * 4*8*8 = 1,280
    "group_norm": (lambda: nn.GroupNorm(2, 4), (4, 8, 8), 1_280),
    "group_norm_no_affine": (lambda: nn.GroupNorm(2, 4, affine=False), (4, 8, 8), 1_024),
    "layer_norm_no_affine": (lambda: nn.LayerNorm(8, elementwise_affine=False), (3, 8), 96),
    "instance_norm": (lambda: nn.InstanceNorm2d(4), (4, 8, 8), 1_024),
    "instance_norm_affine": (lambda: nn.InstanceNorm2d(4, affine=True), (4, 8, 8), 1_280),
    # adaptive_avg_pool2d: 1 per INPUT element = 4*8*8 = 256
    "adaptive_avg_pool2d": (lambda: nn.AdaptiveAvgPool2d(2), (4, 8, 8), 256),
    # upsample_nearest2d 1 per output element: 4*16*16 = 1,024; bilinear 4 per output element: 4,096
    "upsample_nearest": (lambda: nn.Upsample(scale_factor=2), (4, 8, 8), 1_024),
    "upsample_bilinear": (lambda: nn.Upsample(scale_factor=2, mode="bilinear"), (4, 8, 8), 4_096),
    # area interpolation runs adaptive_avg_pool2d: the input's 4*8*8 = 256
    "interpolate_area": (lambda: Fn(lambda m, x: F.interpolate(x, size=(3, 3), mode="area")), (4, 8, 8), 256),
    # grid_sampler 4 per output element whatever the mode ("assume bilinear"): 4 channels at 5x6 = 120, x 4
    "grid_sample": (lambda: Fn(lambda m, x: F.grid_sample(x, m.grid, align_corners=False),
                               grid=nn.Parameter(torch.zeros(1, 5, 6, 2))), (4, 8, 8), 480),
    # not supported by fvcore: 0
    "upsample_bicubic": (lambda: nn.Upsample(scale_factor=2, mode="bicubic"), (4, 8, 8), 0),
    "interpolate_antialias": (lambda: Fn(lambda m, x: F.interpolate(x, size=(4, 4), mode="bilinear",
                                                                    antialias=True)), (4, 8, 8), 0),
    "sdpa": (lambda: Fn(lambda m, x: F.scaled_dot_product_attention(x, x, x)), (2, 5, 8), 0),
    "max_pool_relu_add": (lambda: Fn(lambda m, x: F.relu(F.max_pool2d(x, 2)) + 1), (4, 8, 8), 0),
    # F.normalize's norm / clamp_min / div: 0; the matmul of swin v2's cosine attention: 5*8 * 5 = 200
    "cosine_attention": (lambda: Fn(lambda m, x: F.normalize(x, dim=-1) @ F.normalize(x, dim=-1).transpose(-2, -1)),
                         (5, 8), 200),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fvcore_preset_equals_fvcore(case):
    build, shape, by_hand = CASES[case]
    model = build().eval()
    expected = _fvcore(model, shape)
    if by_hand is not None:
        assert expected == by_hand
    assert _ours(model, shape) == expected


def test_batch_norm_training_counts_five_per_element():
    # batchnorm_flop_jit in training: norm_flop_counter(1): 5 per element = 5 * 4*8*8 = 1,280
    model = nn.BatchNorm2d(4).train()
    assert _fvcore(model, (4, 8, 8)) == 1_280 == _ours(model, (4, 8, 8), training=True)


def test_einsum_three_operands_runs_numpy_as_fvcore_does():
    # three operands: numpy's optimal path contracts pairwise; fvcore halves its printed count
    model = Fn(lambda m, x: torch.einsum("bij,bjk,bkl->bil", x, x.transpose(1, 2), x))
    assert _ours(model, (6, 9)) == _fvcore(model, (6, 9))


def test_einsum_symbolic_two_operands_is_the_macs():
    # with sympy shapes numpy cannot run: the unrounded count, the MACs when an index is summed
    import sympy

    from archcalc.ir.build import GraphBuilder

    n = sympy.Symbol("n", positive=True, integer=True)
    b = GraphBuilder("e", inputs=[("x", (n, 7))])
    ev = evaluate(b.build(b.op("e", "Einsum", "x", "x", equation="bij,bkj->bik")))
    assert sympy.simplify(get_convention("fvcore").forward(ev.rows[0]) - n * n * 7) == 0


@pytest.mark.parametrize("need_weights", [False, True])
def test_multihead_attention_node_and_trace_equal_fvcore(need_weights):
    # fvcore sees nn.MultiheadAttention's slow path: in_proj linear 6*16*48 = 4,608 + out_proj 6*16*16 = 1,536;
    # need_weights adds bmm Q K^T 4 heads * 6*6*4 = 576 and A V 576; SDPA (need_weights=False) counts 0.
    from archcalc.frontends.torch_trace import from_torch
    from archcalc.ir.build import GraphBuilder

    mha = nn.MultiheadAttention(16, 4, batch_first=True)
    model = Fn(lambda m, x: m.mha(x, x, x, need_weights=need_weights)[0], mha=mha).eval()
    expected = _fvcore(model, (6, 16))
    assert expected == 6_144 + (1_152 if need_weights else 0)
    b = GraphBuilder("mha", inputs=[("x", (6, 16))])
    node = b.op("mha", "MultiheadAttention", "x", "x", "x", embed_dim=16, num_heads=4, batch_first=True,
                need_weights=need_weights)
    conv = get_convention("fvcore")
    assert sum(conv.forward(r) for r in evaluate(b.build(node)).rows) == expected
    assert sum(conv.forward(r) for r in evaluate(from_torch(model, (6, 16))).rows) == expected
