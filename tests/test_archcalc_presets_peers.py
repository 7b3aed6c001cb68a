"""The ptflops and thop presets against the real tools (ptflops 0.7.5, default pytorch backend; thop 0.1.1)."""

from __future__ import annotations

import contextlib
import io

import pytest
from hypothesis import given, settings

from archcalc.check.conventions import CONVENTIONS, get_convention
from archcalc.ir import evaluate
from archcalc.ir.build import from_tree, layer, seq
from archcalc.ir.graph import Graph
from archcalc.models.zoo import build
from tests.strategies import archcalc_layer_stacks


def _preset(conv_name: str, net: Graph, shape=None) -> int:
    conv = get_convention(conv_name)
    return sum(conv.forward(r) for r in evaluate(net, shape).rows)


def test_peer_presets_registered_with_units():
    for name in ("ptflops", "thop"):
        assert CONVENTIONS[name].unit == "MACs" and CONVENTIONS[name].backward is None


def test_presets_resnet18_by_hand():
    # resnet18 at 3x224x224: 1,814,073,344 conv/linear MACs, 2,483,712 BN elements (test_archcalc_presets).
    # ReLU inputs: stem 64*112*112 = 802,816, then 2 per block, 2 blocks per stage:
    #   4 * (64*56*56 + 128*28*28 + 256*14*14 + 512*7*7) = 4 * 376,320 = 1,505,280 -> 2,308,096
    # ptflops = MACs + fc bias 1,000 + BN 2 x 2,483,712 + 2 x (ReLU 2,308,096 + max-pool input 802,816
    #           + avg-pool input 512*7*7 = 25,088) = 1,814,073,344 + 1,000 + 4,967,424 + 6,272,000 = 1,825,313,768
    # thop    = MACs + BN 4 x 2,483,712 + avg-pool (7*7 + 1) * 512 = 25,600 = 1,824,033,792
    ev = evaluate(build("resnet18"))
    assert sum(r.activations for r in ev.rows if r.kind == "ReLU") == 2_308_096
    assert _preset("ptflops", build("resnet18")) == 1_814_073_344 + 1_000 + 4_967_424 + 6_272_000 == 1_825_313_768
    assert _preset("thop", build("resnet18")) == 1_814_073_344 + 4 * 2_483_712 + 25_600 == 1_824_033_792


def _ptflops(model, shape) -> int:
    from ptflops import get_model_complexity_info

    with contextlib.redirect_stdout(io.StringIO()):
        macs, _ = get_model_complexity_info(
            model, tuple(shape), print_per_layer_stat=False, as_strings=False, verbose=False, backend="pytorch"
        )
    assert macs is not None, "ptflops failed on the model"
    return macs


def _thop(model, shape) -> int:
    import torch
    from thop import profile

    total, _ = profile(model, (torch.zeros(1, *shape),), verbose=False)
    assert total == int(total)  # a float64 sum of integers (exact below 2**53)
    return int(total)


@pytest.mark.torch
@pytest.mark.parametrize(
    "model, shape",
    [
        ("vgg11_bn", (3, 64, 64)),  # adaptive avg-pool 2x2 -> 7x7: overlapping windows
        ("alexnet", (3, 64, 64)),  # adaptive avg-pool 1x1 -> 6x6
        ("googlenet", (3, 64, 64)),  # functional F.relu, ceil-mode pools, torch.cat
        ("resnet18", (3, 64, 64)),  # modules called twice, residual +=
        ("inception-small", (1, 28, 28)),
    ],
)
def test_presets_match_ptflops_and_thop(model, shape, one_torch_thread):
    from archcalc.models.builders import build_twin

    net = build(model)
    # ptflops first: thop leaves empty total_ops buffers on modules it does not hook.
    assert _preset("ptflops", net, shape) == _ptflops(build_twin(net.twin, shape), shape)
    assert _preset("thop", net, shape) == _thop(build_twin(net.twin, shape), shape)


def _torch_stack(shape, specs):
    import torch
    from torch import nn
    from torch.nn import functional as F

    class FunctionalReLU(nn.Module):  # holds no hookable module: ptflops sees only the patched F.relu
        def forward(self, x):
            return F.relu(x)

    mods, c = [], shape[0]
    for kind, spec in specs:
        if kind == "Conv2d":
            mods.append(nn.Conv2d(c, **spec))
            c = spec["out_channels"]
        elif kind == "BatchNorm2d":
            mods.append(nn.BatchNorm2d(c, **spec))
        elif kind == "Linear":
            mods.append(nn.Linear(c, **spec))
            c = spec["out_features"]
        elif kind == "F.relu":
            mods.append(FunctionalReLU())
        else:
            mods.append(getattr(nn, kind)(**spec))
        if kind == "Flatten":
            c = nn.Sequential(*mods)(torch.zeros(1, *shape)).shape[1]
    return nn.Sequential(*mods)


def _net_stack(shape, specs):
    items = [
        layer(str(i), "ReLU", module=None) if kind == "F.relu" else layer(str(i), kind, **spec)
        for i, (kind, spec) in enumerate(specs)
    ]
    return from_tree("stack", "", shape, seq("", items))


def _check_stack(shape, specs):
    net = _net_stack(shape, specs)
    assert _preset("ptflops", net) == _ptflops(_torch_stack(shape, specs), shape)
    assert _preset("thop", net) == _thop(_torch_stack(shape, specs), shape)


@pytest.mark.torch
@pytest.mark.parametrize(
    "shape, specs",
    [
        # conv 2->4, 3x3, groups 2, bias, on 2x5x5 -> 4x3x3: MACs 36 * (2/2)*3*3 = 324;
        # ptflops 324 + 36 bias = 360; thop 324
        ((2, 5, 5), [("Conv2d", dict(out_channels=4, kernel_size=3, groups=2))]),
        ((3, 6, 6), [("Conv2d", dict(out_channels=6, kernel_size=3, groups=3, bias=False, stride=2, padding=1))]),
        ((3, 4, 4), [("Flatten", {}), ("Linear", dict(out_features=5)), ("Linear", dict(out_features=2, bias=False))]),
        ((3, 4, 4), [("BatchNorm2d", {})]),  # ptflops 2, thop 4 per element
        ((3, 4, 4), [("BatchNorm2d", dict(affine=False))]),  # ptflops 1, thop 2 per element
        ((2, 5, 5), [("ReLU", {}), ("F.relu", {}), ("ReLU6", {}), ("Dropout", {})]),
        ((2, 7, 7), [("MaxPool2d", dict(kernel_size=3, stride=2, ceil_mode=True))]),
        ((2, 7, 7), [("AvgPool2d", dict(kernel_size=2, padding=1))]),
        # thop: int((2/11 * 2/11 + 1.0) * 64*11*11) = int(7999.999...) = 7999, not the exact 8000
        ((64, 2, 2), [("AdaptiveAvgPool2d", dict(output_size=11))]),
        ((3, 8, 6), [("AdaptiveAvgPool2d", dict(output_size=(3, 4)))]),
    ],
)
def test_presets_match_tools_on_single_layers(shape, specs, one_torch_thread):
    _check_stack(shape, specs)


@pytest.mark.torch
@settings(max_examples=15, deadline=None)
@given(archcalc_layer_stacks())
def test_random_stacks_match_ptflops_and_thop(case):
    # random conv (groups, dilation, bias) / max / avg-pool stacks, then Flatten + Linear(3)
    shape, specs = case
    specs = [*specs, ("Flatten", {}), ("Linear", dict(out_features=3))]
    try:
        evaluate(_net_stack(shape, specs))
    except ValueError:  # a dimension reaches zero: torch rejects it too
        return
    _check_stack(shape, specs)


def test_thop_float_truncation_of_adaptive_pool():
    # int((2/11 * 2/11 + 1.0) * 7,744) = 7,999 in float64; the exact rational value is 4*64 + 7,744 = 8,000
    net = _net_stack((64, 2, 2), [("AdaptiveAvgPool2d", dict(output_size=11))])
    assert _preset("thop", net) == 7_999
    assert _preset("ptflops", net) == 2 * 4 * 64


def test_cli_convention_ptflops_and_thop(capsys):
    import json

    from archcalc.cli import main

    for name, total in (("ptflops", 1_825_313_768), ("thop", 1_824_033_792)):
        assert main(["resnet18", "--convention", name, "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["totals"]["compute"] == total
    assert main(["resnet18", "--convention", "ptflops"]) == 0
    assert "MACs" in capsys.readouterr().out


def test_symbolic_peer_presets_agree_with_integer_rows():
    from archcalc.costs.symbolic import closed_form

    # the 3x64x64 values are the real tools' totals (test_presets_match_ptflops_and_thop)
    for name, at_224, at_64 in (("ptflops", 1_825_313_768, 149_476_328), ("thop", 1_824_033_792, 149_371_392)):
        cf = closed_form(build("resnet18"), convention=name)
        assert (cf.at("compute", 224, 224), cf.at("compute", 64, 64)) == (at_224, at_64)
