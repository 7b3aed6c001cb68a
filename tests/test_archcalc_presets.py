"""Convention presets against the tools they reproduce: fvcore FlopCountAnalysis and torch's FlopCounterMode."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from archcalc.check.conventions import CONVENTIONS, get_convention
from archcalc.ir import evaluate
from archcalc.ir.build import from_tree, layer, seq
from archcalc.models.zoo import build
from tests.strategies import archcalc_layer_stacks


def _total(conv_name: str, model: str, backward: bool = False) -> int:
    conv = get_convention(conv_name)
    fn = conv.backward if backward else conv.forward
    return sum(fn(r) for r in evaluate(build(model)).rows)


def test_presets_registered_with_units():
    assert {"macs", "flops", "fvcore", "torch"} <= set(CONVENTIONS)
    assert CONVENTIONS["fvcore"].unit == "MACs" and CONVENTIONS["fvcore"].backward is None
    assert CONVENTIONS["torch"].unit == "FLOPs"


def test_fvcore_preset_resnet18_by_hand():
    # fvcore 0.1.5 FlopCountAnalysis(resnet18, 1x3x224x224).total() prints 1,819,065,856 =
    # 1,814,073,344 conv/linear MACs + 2 x 2,483,712 BN elements + 512*7*7 = 25,088 (adaptive avg-pool input).
    # BN elements: 64*112*112 + 4*64*56*56 + 5*128*28*28 + 5*256*14*14 + 5*512*7*7
    #            = 802,816 + 802,816 + 501,760 + 250,880 + 125,440 = 2,483,712
    ev = evaluate(build("resnet18"))
    bn_elems = sum(r.activations for r in ev.rows if r.kind == "BatchNorm2d")
    assert bn_elems == 2_483_712
    assert ev.total("macs") == 1_814_073_344
    assert _total("fvcore", "resnet18") == 1_814_073_344 + 2 * 2_483_712 + 25_088 == 1_819_065_856


def test_torch_preset_vgg11_by_hand():
    # FlopCounterMode(vgg11): forward = 2 x 7,609,090,048 MACs; backward = 2 x (2 x MACs - first conv's input grad)
    # first conv: 224*224*64 * 3*3*3 = 86,704,128 MACs -> 4 * 7,609,090,048 - 2 * 86,704,128 = 30,262,951,936
    assert _total("torch", "vgg11") == 15_218_180_096
    assert _total("torch", "vgg11", backward=True) == 30_262_951_936


def _network(shape, specs):
    items = [layer(str(i), kind, **spec) for i, (kind, spec) in enumerate(specs)]
    items += [layer(str(len(specs)), "Flatten"), layer(str(len(specs) + 1), "Linear", out_features=3)]
    return from_tree("random", "", shape, seq("", items))


def _module(shape, specs, device):
    import torch
    from torch import nn

    mods, c = [], shape[0]
    with torch.device(device):
        for kind, spec in specs:
            if kind == "Conv2d":
                mods.append(nn.Conv2d(c, **spec))
                c = spec["out_channels"]
            else:
                mods.append(getattr(nn, kind)(**spec))
        mods.append(nn.Flatten())
        body = nn.Sequential(*mods)
        feats = body(torch.zeros((1, *shape), device=device)).shape[1]
        return nn.Sequential(*mods, nn.Linear(feats, 3))


@pytest.mark.torch
@pytest.mark.slow
@settings(max_examples=20)
@given(archcalc_layer_stacks())
def test_random_stacks_match_fvcore_and_torch(case):
    # Random conv / pool / linear stacks: fvcore MACs, FlopCounterMode FLOPs (forward and backward, grouped
    # convolutions included), parameters and every output shape agree row by row.
    from archcalc.check.crosscheck import crosscheck_module

    shape, specs = case
    net = _network(shape, specs)
    try:
        evaluate(net)
    except ValueError:  # e.g. ceil_mode made a dimension reach zero: torch rejects it too
        return
    result = crosscheck_module(net, lambda device: _module(shape, specs, device), shape, batch=2)
    assert result.ok, [r.verdict for r in result.mismatches]
    assert result.total.get("fvcore_macs").oracle == result.total.get("fvcore_macs").archcalc


def test_cli_convention_presets_reproduce_tool_totals(capsys):
    import json

    from archcalc.cli import main

    # fvcore FlopCountAnalysis(resnet18).total() = 1,819,065,856 (measured with fvcore 0.1.5, torch 2.14.1)
    assert main(["resnet18", "--convention", "fvcore", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["compute"] == 1_819_065_856
    # FlopCounterMode on alexnet: forward 1,428,376,960; backward 2,716,200,320 (table in docs/crosscheck.md)
    assert main(["alexnet", "--convention", "torch", "--training", "--json"]) == 0
    totals = json.loads(capsys.readouterr().out)["totals"]
    assert (totals["compute"], totals["backward_compute"]) == (1_428_376_960, 2_716_200_320)


def test_symbolic_presets_at_default_input():
    from archcalc.costs.symbolic import closed_form

    cf = closed_form(build("resnet18"), convention="fvcore")
    assert cf.at("compute", 224, 224) == 1_819_065_856
    # inside the condition the polynomial agrees with the preset evaluated on integers
    assert cf.at("compute", 320, 256, 2, simplified=True) == sum(
        get_convention("fvcore").forward(r) for r in evaluate(build("resnet18"), (3, 320, 256), 2).rows)
    cf = closed_form(build("vgg11"), convention="torch")
    assert cf.at("backward_compute", 224, 224) == 30_262_951_936


@pytest.mark.torch
def test_torch_preset_against_live_flop_counter():
    # An independent run of FlopCounterMode (meta device) on googlenet at 3x96x128, batch 3.
    import torch
    import torchvision
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        model = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False).eval()
    x = torch.zeros(3, 3, 96, 128, device="meta")
    with FlopCounterMode(display=False) as counter:
        out = model(x)
        forward = counter.get_total_flops()
        out.sum().backward()
        total = counter.get_total_flops()
    ev = evaluate(build("googlenet"), (3, 96, 128), 3)
    conv = get_convention("torch")
    assert sum(conv.forward(r) for r in ev.rows) == forward
    assert sum(conv.backward(r) for r in ev.rows) == total - forward
