"""Saved-for-backward bytes: archcalc's training estimate against what autograd really keeps."""

from __future__ import annotations

import pytest

from archcalc.ir import evaluate
from archcalc.saved import archcalc_saved_bytes, check_saved
from archcalc.zoo import build

# Small inputs keep the real train-mode forward passes short; the accounting does not depend on the size.
CASES = [
    ("inception-small", (1, 28, 28)),
    ("vgg11", (3, 32, 32)),
    ("vgg13_bn", (3, 32, 32)),
    ("alexnet", (3, 63, 63)),
    ("googlenet", (3, 64, 64)),
    ("resnet18", (3, 64, 64)),
    ("resnet50", (3, 64, 64)),
]


@pytest.mark.torch
@pytest.mark.parametrize(("model", "shape"), CASES)
def test_saved_bytes_agree_with_autograd(model, shape):
    result = check_saved(model, shape, batch=2)
    assert result.ok, (result.archcalc_cpu_by_dtype, result.torch_by_dtype)
    # The one remaining difference: on the CPU each dropout mask element is a float32 (4 bytes), archcalc
    # counts the bool mask CUDA keeps (1 byte): autograd keeps 3 bytes more per mask element.
    masks = evaluate(build(model), shape, 2, training=True).saved()["bool_elements"]
    assert result.difference_bytes == 3 * masks


def test_archcalc_saved_bytes_by_hand():
    # One 3x3 conv (pad 1) + ReLU + 2x2 max-pool on 1x4x4, batch 2:
    #   conv saves its input: 2*1*4*4 = 32 floats; ReLU saves its output: 2*2*4*4 = 64 floats (the in-place
    #   ReLU's output is also the max-pool's input: counted once); max-pool int64 indices: 2*2*2*2 = 16
    from archcalc.ir.build import from_tree, layer, seq

    net = from_tree("t", "", (1, 4, 4), seq("", [
        layer("c", "Conv2d", out_channels=2, kernel_size=3, padding=1),
        layer("r", "ReLU", inplace=True),
        layer("p", "MaxPool2d", kernel_size=2),
    ]))
    assert archcalc_saved_bytes(net, (1, 4, 4), 2) == {"float32": (32 + 64) * 4, "int64": 16 * 8}


@pytest.mark.torch
def test_measured_bytes_by_hand():
    # Real autograd on the network above: the same 384 float32 bytes and 128 int64 bytes.
    import torch
    from torch import nn

    from archcalc.saved import measure_saved

    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2))
    measured = measure_saved(module, torch.randn(2, 1, 4, 4))
    assert dict(measured.bytes_by_dtype) == {"float32": 384, "int64": 128}


def test_bad_batch():
    with pytest.raises(ValueError, match="batch: got 1"):
        check_saved("resnet18", (3, 32, 32), batch=1)


@pytest.mark.torch
def test_in_place_relu6_saves_a_clone():
    # torchvision's mobilenet_v2 uses ReLU6(inplace=True): autograd clones the input of hardtanh_ and saves
    # the clone, so each ReLU6 costs a full extra tensor, as archcalc's ReLU6 formula counts.
    from archcalc.frontends.torch_trace import from_torchvision

    result = check_saved(from_torchvision("mobilenet_v2", (3, 64, 64), batch=2), (3, 64, 64), batch=2)
    assert result.ok, (result.archcalc_cpu_by_dtype, result.torch_by_dtype)


@pytest.mark.torch
def test_relu6_in_place_by_hand():
    # conv (saves its 2*1*4*4 = 32-float input) -> ReLU6 in place (clone of the 2*2*4*4 = 64-float conv
    # output) -> conv (saves its input, the overwritten conv output: 64 floats): 160 floats = 640 bytes
    import torch
    from torch import nn

    from archcalc.frontends.torch_trace import from_torch
    from archcalc.saved import measure_saved

    module = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU6(inplace=True), nn.Conv2d(2, 2, 1))
    assert dict(measure_saved(module, torch.randn(2, 1, 4, 4)).bytes_by_dtype) == {"float32": 640}
    assert archcalc_saved_bytes(from_torch(module, (1, 4, 4), batch=2), (1, 4, 4), 2) == {"float32": 640}


@pytest.mark.torch
def test_crosscheck_saved_flag(capsys):
    import json

    from archcalc.cli import main

    assert main(["crosscheck", "vgg11", "--input", "3x32x32", "--saved", "--json"]) == 0
    saved = json.loads(capsys.readouterr().out)["saved"]
    # 2 dropout masks x batch 2 x 4096 elements x (4 - 1) bytes = 49,152 bytes, explained, so still "ok"
    assert saved["difference_bytes"] == 49_152 and saved["ok"] is True
    assert main(["crosscheck", "resnet18", "--input", "3x32x32", "--saved"]) == 0
    assert "saved for backward at batch 2" in capsys.readouterr().out
