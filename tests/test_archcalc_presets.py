"""Convention presets against the tools they reproduce: fvcore FlopCountAnalysis and torch's FlopCounterMode."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from archcalc.conventions import CONVENTIONS, get_convention
from archcalc.evaluate import evaluate
from archcalc.graph import Network, layer, seq
from archcalc.zoo import build
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
    return Network("random", "", shape, seq("", items))


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
    from archcalc.crosscheck import crosscheck_module

    shape, specs = case
    net = _network(shape, specs)
    try:
        evaluate(net)
    except ValueError:  # e.g. ceil_mode made a dimension reach zero: torch rejects it too
        return
    result = crosscheck_module(net, lambda device: _module(shape, specs, device), shape, batch=2)
    assert result.ok, [r.verdict for r in result.mismatches]
    assert result.total.get("fvcore_macs").oracle == result.total.get("fvcore_macs").archcalc
