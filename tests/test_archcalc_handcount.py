"""MACs, parameters and element-wise operations derived by hand (arithmetic in the comments), against
:func:`archcalc.costs.report.report`. Parameter counts are also checked against torch where it is installed."""

from __future__ import annotations

import pytest

from archcalc.costs.report import report
from archcalc.ir.build import from_tree, layer, seq
from archcalc.models.resolve import resolve_model
from archcalc.models.zoo import inception_module


def one_layer(kind: str, shape: tuple[int, int, int], batch: int = 1, **hparams):
    net = from_tree("one", "", shape, seq("", [layer("l", kind, **hparams)]))
    row = report(net, shape, batch=batch).rows[0]
    assert row.output_shape[0] == batch  # full shapes: the batch dimension first
    return row


# (input, hyper-parameters, output shape, params, MACs), each derived in its comment.
CONV_CASES = [
    # stride 2, padding 3, 7x7 (ResNet stem): out = floor((224 + 2*3 - 7) / 2) + 1 = 112;
    # MACs = 64*112*112 * 3*7*7 = 802,816 * 147 = 118,013,952; params = 64*3*49 = 9,408 (no bias)
    ((3, 224, 224), dict(out_channels=64, kernel_size=7, stride=2, padding=3, bias=False), (64, 112, 112), 9_408, 118_013_952),
    # dilation 2, 3x3, no padding: span 2*(3-1)+1 = 5, out = 32 - 5 + 1 = 28;
    # MACs = 8*28*28 * 16*3*3 = 6,272 * 144 = 903,168; params = 8*16*9 + 8 = 1,160
    ((16, 32, 32), dict(out_channels=8, kernel_size=3, dilation=2), (8, 28, 28), 1_160, 903_168),
    # padding "same", even 4x4 kernel (torch pads 1 left, 2 right): out = in = 10x12;
    # MACs = 6*10*12 * 5*4*4 = 720 * 80 = 57,600; params = 6*5*16 + 6 = 486
    ((5, 10, 12), dict(out_channels=6, kernel_size=4, padding="same"), (6, 10, 12), 486, 57_600),
    # non-square 3x5 kernel, stride (2, 1), padding (1, 2): H = floor((15 + 2 - 3) / 2) + 1 = 8,
    # W = (20 + 4 - 5) / 1 + 1 = 20; MACs = 7*8*20 * 4*3*5 = 1,120 * 60 = 67,200; params = 7*4*15 + 7 = 427
    ((4, 15, 20), dict(out_channels=7, kernel_size=(3, 5), stride=(2, 1), padding=(1, 2)), (7, 8, 20), 427, 67_200),
    # grouped, 4 groups of 8 input channels: MACs = 64*14*14 * (32/4)*3*3 = 12,544 * 72 = 903,168;
    # params = 64 * 8*9 + 64 = 4,672
    ((32, 14, 14), dict(out_channels=64, kernel_size=3, padding=1, groups=4), (64, 14, 14), 4_672, 903_168),
    # depthwise (groups = channels = 32): MACs = 32*14*14 * 1*3*3 = 6,272 * 9 = 56,448; params = 32*9 + 32 = 320
    ((32, 14, 14), dict(out_channels=32, kernel_size=3, padding=1, groups=32), (32, 14, 14), 320, 56_448),
    # stride 2 on an odd size drops the last column: out = floor((7 - 3) / 2) + 1 = 3;
    # MACs = 2*3*3 * 1*3*3 = 162; params = 2*9 + 2 = 20
    ((1, 7, 7), dict(out_channels=2, kernel_size=3, stride=2), (2, 3, 3), 20, 162),
]


@pytest.mark.parametrize(("shape", "hparams", "out", "params", "macs"), CONV_CASES)
def test_conv_by_hand(shape, hparams, out, params, macs):
    row = one_layer("Conv2d", shape, **hparams)
    assert (row.output_shape[1:], row.params, row.macs, row.flops) == (out, params, macs, 2 * macs)
    # Bias adds are element-wise operations, one per output element, not MACs.
    out_elems = out[0] * out[1] * out[2]
    assert row.elementwise_ops == (out_elems if hparams.get("bias", True) else 0)


def test_conv_batch_scales_macs_not_params():
    # batch 8: MACs = 8 * 86,704,128 = 693,633,024; params stay 64*27 + 64 = 1,792
    row = one_layer("Conv2d", (3, 224, 224), batch=8, out_channels=64, kernel_size=3, padding=1)
    assert (row.params, row.macs, row.activations) == (1_792, 693_633_024, 8 * 64 * 224 * 224)


@pytest.mark.torch
@pytest.mark.parametrize(("shape", "hparams", "out", "params", "macs"), CONV_CASES)
def test_conv_params_match_torch(shape, hparams, out, params, macs):
    torch = pytest.importorskip("torch")
    module = torch.nn.Conv2d(shape[0], **hparams)
    assert sum(p.numel() for p in module.parameters()) == params
    assert tuple(module(torch.zeros(1, *shape)).shape[1:]) == out


def test_linear_by_hand():
    # batch 4, 512 -> 1000: MACs = 4 * 512*1000 = 2,048,000; params = 512*1000 + 1000 = 513,000;
    # bias adds = 4*1000 = 4,000 element-wise operations
    from archcalc.ops import REGISTRY

    cost = REGISTRY["Linear"]([(4, 512)], out_features=1000)
    assert (cost.output_shape, cost.params, cost.macs, cost.elementwise_ops) == ((4, 1000), 513_000, 2_048_000, 4_000)
    # any leading dims: (2, 128, 768) -> 3072: 2*128 * 768*3072 = 603,979,776 MACs
    assert REGISTRY["Linear"]([(2, 128, 768)], out_features=3072).macs == 603_979_776


def test_pooling_elementwise_ops_by_hand():
    # 2x2 max-pool, stride 2 on 64x224x224: 64*112*112 = 802,816 outputs, 2*2 - 1 = 3 comparisons each
    # = 2,408,448 operations, 0 MACs
    row = one_layer("MaxPool2d", (64, 224, 224), kernel_size=2, stride=2)
    assert (row.output_shape[1:], row.macs, row.elementwise_ops) == ((64, 112, 112), 0, 2_408_448)
    # 3x3 average pool, stride 1, padding 1 on 8x10x10: 8*10*10 = 800 outputs, 8 adds + 1 division = 9 each
    # = 7,200 operations
    row = one_layer("AvgPool2d", (8, 10, 10), kernel_size=3, stride=1, padding=1)
    assert (row.output_shape[1:], row.macs, row.elementwise_ops) == ((8, 10, 10), 0, 7_200)
    # 3x3 max-pool, stride 2, ceil_mode on 64x112x112 (GoogLeNet): ceil((112 - 3) / 2) + 1 = 56;
    # 64*56*56 = 200,704 outputs x 8 comparisons = 1,605,632
    row = one_layer("MaxPool2d", (64, 112, 112), kernel_size=3, stride=2, ceil_mode=True)
    assert (row.output_shape[1:], row.elementwise_ops) == ((64, 56, 56), 1_605_632)
    # adaptive average pool 512x14x14 -> 7x7: windows of 2x2 tile the input, so 512*14*14 = 100,352 operations
    row = one_layer("AdaptiveAvgPool2d", (512, 14, 14), output_size=7)
    assert (row.output_shape[1:], row.elementwise_ops) == ((512, 7, 7), 100_352)


def test_vgg19_by_hand():
    rep = report(resolve_model("vgg19"))
    conv1_1 = rep.rows[0]
    # conv1_1: 224*224*64 * 3*3*3 = 86,704,128 MACs; params 3*3*3*64 + 64 = 1,792
    assert (conv1_1.name, conv1_1.macs, conv1_1.params) == ("features.0", 86_704_128, 1_792)
    # Convolutions, H*W*Cout * Cin*9 per layer:
    #   conv1_1 224*224*64*27 = 86,704,128; the 8 layers with Cin = Cout (64@224, 128@112, 256@56 x3, 512@28 x3)
    #   are 1,849,688,064 each = 14,797,504,512; the 3 widening layers (64->128@112, 128->256@56,
    #   256->512@28) are 924,844,032 each = 2,774,532,096; the 4 layers at 14x14 are 196*512*4608 = 462,422,016
    #   each = 1,849,688,064. Convolutions: 19,508,428,800.
    # Classifier: 25088*4096 + 4096*4096 + 4096*1000 = 102,760,448 + 16,777,216 + 4,096,000 = 123,633,664.
    # Total 19,508,428,800 + 123,633,664 = 19,632,062,464 MACs.
    assert rep.totals["macs"] == 19_632_062_464
    assert rep.totals["flops"] == 2 * 19_632_062_464
    # Parameters: conv weights 20,018,880 + conv biases 5,504 (2*64 + 2*128 + 4*256 + 8*512)
    #   + fc 25088*4096 + 4096 + 4096*4096 + 4096 + 4096*1000 + 1000 = 123,642,856 -> 143,667,240.
    assert rep.totals["params"] == 20_018_880 + 5_504 + 123_642_856 == 143_667_240
    conv_weights = sum(r.params for r in rep.rows if r.kind == "Conv2d") - 5_504
    assert conv_weights == 20_018_880


def test_inception_module_naive_by_hand():
    rep = report(inception_module((256, 32, 32), 128, 192, 96))
    # per position 32*32 = 1,024:
    #   1x1: 1,024 * 128 * 256*1*1 = 33,554,432
    #   3x3: 1,024 * 192 * 256*3*3 = 452,984,832
    #   5x5: 1,024 *  96 * 256*5*5 = 629,145,600
    #   total 1,115,684,864 MACs (the max-pool branch has no MACs)
    assert rep.totals["macs"] == 33_554_432 + 452_984_832 + 629_145_600 == 1_115_684_864
    # output channels 128 + 192 + 96 + 256 (the pool keeps its input's channels) = 672
    assert rep.output_shape == (1, 672, 32, 32)
    # params: 256*128 + 128 + 256*192*9 + 192 + 256*96*25 + 96 = 32,896 + 442,560 + 614,496 = 1,089,952
    assert rep.totals["params"] == 1_089_952


def test_inception_module_reduced_by_hand():
    rep = report(inception_module((256, 32, 32), 128, 192, 96, reduce3=128, reduce5=32, pool_proj=64))
    # per position 1,024:
    #   1x1          1,024 * 128 * 256    = 33,554,432
    #   3x3 reduce   1,024 * 128 * 256    = 33,554,432
    #   3x3          1,024 * 192 * 128*9  = 226,492,416
    #   5x5 reduce   1,024 *  32 * 256    = 8,388,608
    #   5x5          1,024 *  96 * 32*25  = 78,643,200
    #   pool proj    1,024 *  64 * 256    = 16,777,216
    #   total 397,410,304 MACs, 35.6 % of the naive module's 1,115,684,864
    assert rep.totals["macs"] == 397_410_304
    assert rep.output_shape == (1, 128 + 192 + 96 + 64, 32, 32) == (1, 480, 32, 32)
    # params: (256*128+128) + (256*128+128) + (128*192*9+192) + (256*32+32) + (32*96*25+96) + (256*64+64)
    #   = 32,896 + 32,896 + 221,376 + 8,224 + 76,896 + 16,448 = 388,736
    assert rep.totals["params"] == 388_736


def test_vgg16_allocated_activations_by_hand():
    t = report(resolve_model("vgg16")).totals
    # conv outputs 224*224*64*2 + 112*112*128*2 + 56*56*256*3 + 28*28*512*3 + 14*14*512*3
    #   = 6,422,528 + 3,211,264 + 2,408,448 + 1,204,224 + 301,056 = 13,547,520
    # max-pool outputs 112*112*64 + 56*56*128 + 28*28*256 + 14*14*512 + 7*7*512 = 1,530,368
    # adaptive pool 7*7*512 = 25,088; Linear 4096 + 4096 + 1000 = 9,192; in-place ReLUs, the Flatten view
    # and the two eval-mode dropouts (torch returns the input tensor itself: `F.dropout(x, training=False) is x`)
    # allocate nothing: 15,112,168 elements, x 4 bytes = 60,448,672
    assert t["allocated_activations"] == 13_547_520 + 1_530_368 + 25_088 + 9_192 == 15_112_168
    assert t["allocated_bytes"] == 60_448_672
    # the row total also counts the 13 + 2 in-place ReLU outputs, the Flatten view and the dropouts' outputs:
    # 15,112,168 + 13,547,520 + 8,192 + 25,088 + 2*4096 = 28,701,160
    assert t["activations"] == 28_701_160
