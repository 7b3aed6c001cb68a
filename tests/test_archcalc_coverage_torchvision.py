"""The torch tracer on every torchvision classification model (issue 9, items 5 and 7).

For each name of ``torchvision.models.list_models(module=torchvision.models)``, at torchvision's own input
size (its DEFAULT weights' eval crop: 224, inception_v3 299, efficientnet_b7 600, swin_v2 256 ...; vit_h_14
224, the size its ``weights=None`` builder fixes), batch 1: no unmodelled op, parameters equal to the
model's unique parameters, 2 x MACs equal to ``torch.utils.flop_counter.FlopCounterMode``'s total for the
real model on the meta device (the independent oracle), and the output shape equal to the real output's.

fvcore needs a real CPU forward (a ``torch.jit.trace``), so its convention is checked on a subset of
small models at reduced inputs (ViTs and MaxViT only run at the size they are built for) in
``test_fvcore_convention_equals_fvcore``.
"""

from __future__ import annotations

import logging

import pytest

from archcalc.ir import evaluate

pytestmark = pytest.mark.torch

#: torchvision 0.29's classification models; test_every_model_is_listed fails when torchvision adds one.
MODELS = (
    "alexnet", "convnext_base", "convnext_large", "convnext_small", "convnext_tiny", "densenet121", "densenet161",
    "densenet169", "densenet201", "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
    "efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7", "efficientnet_v2_l",
    "efficientnet_v2_m", "efficientnet_v2_s", "googlenet", "inception_v3", "maxvit_t", "mnasnet0_5", "mnasnet0_75",
    "mnasnet1_0", "mnasnet1_3", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "regnet_x_16gf",
    "regnet_x_1_6gf", "regnet_x_32gf", "regnet_x_3_2gf", "regnet_x_400mf", "regnet_x_800mf", "regnet_x_8gf",
    "regnet_y_128gf", "regnet_y_16gf", "regnet_y_1_6gf", "regnet_y_32gf", "regnet_y_3_2gf", "regnet_y_400mf",
    "regnet_y_800mf", "regnet_y_8gf", "resnet101", "resnet152", "resnet18", "resnet34", "resnet50",
    "resnext101_32x8d", "resnext101_64x4d", "resnext50_32x4d", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0",
    "shufflenet_v2_x1_5", "shufflenet_v2_x2_0", "squeezenet1_0", "squeezenet1_1", "swin_b", "swin_s", "swin_t",
    "swin_v2_b", "swin_v2_s", "swin_v2_t", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19",
    "vgg19_bn", "vit_b_16", "vit_b_32", "vit_h_14", "vit_l_16", "vit_l_32", "wide_resnet101_2", "wide_resnet50_2",
)

#: Models whose trace + oracle take more than ~2 s on a loaded 2-core machine (they still run in CI).
SLOW = frozenset({
    "convnext_base", "convnext_large", "convnext_small", "densenet161", "densenet169", "densenet201",
    "efficientnet_b5", "efficientnet_b6", "efficientnet_b7", "efficientnet_v2_l", "efficientnet_v2_m",
    "efficientnet_v2_s", "maxvit_t", "regnet_x_16gf", "regnet_x_32gf", "regnet_y_128gf", "regnet_y_16gf",
    "regnet_y_32gf", "resnet152", "swin_b", "swin_s", "swin_v2_b", "swin_v2_s", "swin_v2_t", "vit_h_14",
    "vit_l_16", "vit_l_32",
})


def test_every_model_is_listed():
    import torchvision

    assert set(torchvision.models.list_models(module=torchvision.models)) == set(MODELS)
    assert set(MODELS) >= SLOW


def test_input_sizes_are_torchvisions():
    # The DEFAULT weights' eval crop (torchvision's ImageClassification transform) ...
    from archcalc.frontends.torch_trace import build_torchvision_meta, torchvision_input_size

    assert torchvision_input_size("inception_v3") == (3, 299, 299)
    assert torchvision_input_size("efficientnet_b7") == (3, 600, 600)
    assert torchvision_input_size("swin_v2_t") == (3, 256, 256)
    # ... unless the weights=None builder fixes another size: a ViT checks its input against image_size.
    for name in ("vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14"):
        assert torchvision_input_size(name)[1:] == (build_torchvision_meta(name).image_size,) * 2, name


def _oracle(name: str, shape: tuple[int, int, int]) -> tuple[int, int, tuple[int, ...]]:
    """(unique parameters, FlopCounterMode FLOPs, output shape) of the real model on the meta device."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from archcalc.frontends.torch_trace import build_torchvision_meta

    model = build_torchvision_meta(name, shape)
    params = sum(p.numel() for p in model.parameters())  # Module.parameters() yields a shared tensor once
    with FlopCounterMode(display=False) as counter:
        out = model(torch.zeros(1, *shape, device="meta"))
    return params, counter.get_total_flops(), tuple(out.shape)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in MODELS])
def test_traced_model_matches_torch(name):
    from archcalc.frontends.torch_trace import from_torchvision, torchvision_input_size, unmodeled_nodes

    shape = torchvision_input_size(name)
    graph = from_torchvision(name, shape)
    ev = evaluate(graph)
    assert [(n.name, dict(n.hparams)["op"]) for n in unmodeled_nodes(graph)] == []
    params, torch_flops, out_shape = _oracle(name, shape)
    assert ev.total("params") == params and ev.unused_params == ()
    # e.g. resnet18 at 3x224x224: FlopCounterMode 3,628,146,688 = 2 x 1,814,073,344 MACs
    assert 2 * ev.total("macs") == torch_flops
    assert ev.output_shape == out_shape == (1, 1000)


def test_resnet18_numbers_by_hand():
    # The sweep's oracle agrees with the published counts: 11,689,512 parameters, 1.814 GMACs.
    from archcalc.frontends.torch_trace import from_torchvision

    ev = evaluate(from_torchvision("resnet18"))
    assert ev.total("params") == 11_689_512
    # conv1: 112*112*64 * 3*7*7 = 118,013,952 MACs; fc: 512*1000 = 512,000 MACs
    rows = {r.name: r for r in ev.rows}
    assert rows["conv1"].macs == 118_013_952 and rows["fc"].macs == 512_000
    assert ev.total("macs") == 1_814_073_344


#: fvcore subset: (model, square input size). Small inputs where the model accepts any size; ViT / MaxViT at
#: the size they are built for. Together they use every fvcore handle torchvision's classifiers reach:
#: conv (grouped, depthwise), linear, matmul, einsum, batch_norm, layer_norm, adaptive_avg_pool2d.
FVCORE_SUBSET = (
    ("resnet18", 64), ("mobilenet_v3_small", 64), ("squeezenet1_1", 64), ("shufflenet_v2_x0_5", 64),
    ("efficientnet_b0", 64), ("densenet121", 64), ("googlenet", 64), ("regnet_y_400mf", 64),
    ("inception_v3", 75), ("convnext_tiny", 64), ("swin_t", 64), ("swin_v2_t", 64),
)
FVCORE_SLOW = (("vit_b_32", 224), ("maxvit_t", 224))


def _fvcore_total(name: str, size: int) -> int:
    import torch
    from fvcore.nn import FlopCountAnalysis

    from archcalc.models.builders import build_twin

    model = build_twin(f"torchvision:{name}", (3, size, size), "cpu")
    logging.getLogger("fvcore").setLevel(logging.ERROR)  # unsupported-op warnings
    analysis = FlopCountAnalysis(model, torch.zeros(1, 3, size, size))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return analysis.total()


@pytest.mark.slow
@pytest.mark.parametrize(("name", "size"), [*FVCORE_SUBSET, *FVCORE_SLOW], ids=lambda v: str(v))
def test_fvcore_convention_equals_fvcore(name, size, one_torch_thread):
    from archcalc.check.conventions import get_convention
    from archcalc.frontends.torch_trace import from_torchvision

    conv = get_convention("fvcore")
    ours = sum(conv.forward(r) for r in evaluate(from_torchvision(name, (3, size, size))).rows)
    # e.g. resnet18 at 64x64: conv 148,045,824 + batch_norm 405,504 + adaptive_avg_pool2d 2,048
    #      + linear 512,000 = 148,965,376
    assert ours == _fvcore_total(name, size)
