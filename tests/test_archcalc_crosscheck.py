"""archcalc crosscheck: every zoo model with a torch twin agrees with fvcore, FlopCounterMode and real shapes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from archcalc.cli import main
from archcalc.ir.build import from_tree, layer, seq

ROOT = Path(__file__).resolve().parents[1]
TWINS = ["vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn", "alexnet",
         "googlenet", "resnet18", "resnet34", "resnet50", "inception-small"]


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.parametrize("model", TWINS)
def test_zoo_model_agrees_with_its_twin(model):
    from archcalc.check.crosscheck import crosscheck

    result = crosscheck(model)
    assert result.ok, [(r.name, r.verdict) for r in result.mismatches]
    # Every archcalc row with a module was joined with a real module that ran.
    assert all(r.get("shape").oracle is not None for r in result.rows if r.module is not None)
    # Functional merges (torch.cat, residual +) are shape-checked against the block module they end.
    assert all(r.get("shape").oracle is not None for r in result.rows if r.kind in ("Concat", "Add"))
    # max-pooling is the op fvcore skips in every one of these models: listed, not hidden.
    assert dict(result.unsupported_ops).get("aten::max_pool2d", 0) >= 1


@pytest.mark.torch
def test_resnet18_numbers_and_skipped_ops(capsys):
    assert main(["crosscheck", "resnet18", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    # 8 residual additions (aten::add_) and the stem max-pool are what fvcore does not count
    assert data["unsupported_ops"] == {"aten::add_": 8, "aten::max_pool2d": 1}
    conv1 = next(r for r in data["rows"] if r["name"] == "conv1")
    # 112*112*64 * 3*7*7 = 118,013,952 MACs; FlopCounterMode: 2x
    assert conv1["checks"]["fvcore_macs"] == {"archcalc": 118_013_952, "oracle": 118_013_952}
    assert conv1["checks"]["torch_forward_flops"]["oracle"] == 236_027_904
    assert conv1["checks"]["shape"] == {"archcalc": [1, 64, 112, 112], "oracle": [1, 64, 112, 112]}
    assert data["total"]["checks"]["params"]["oracle"] == 11_689_512
    assert data["ok"] is True


@pytest.mark.torch
def test_table_output_and_small_input(capsys):
    assert main(["crosscheck", "inception-small", "--input", "1x8x8", "--batch", "2", "--all"]) == 0
    every = capsys.readouterr().out
    assert "all agree" in every and "aten::max_pool2d x2" in every and "inception8.branch2.conv" in every
    # the default lists the mismatching rows (none) and the total, and counts the agreeing rows left out
    from archcalc.check.crosscheck import crosscheck

    rows = len(crosscheck("inception-small", (1, 8, 8), 2).rows)
    assert main(["crosscheck", "inception-small", "--input", "1x8x8", "--batch", "2"]) == 0
    out = capsys.readouterr().out
    assert "all agree" in out and "(total)" in out and "inception8.branch2.conv" not in out
    assert f"{rows} agreeing rows not shown; --all lists every row" in " ".join(out.split())


@pytest.mark.torch
def test_wrong_description_is_a_mismatch_exit_1(capsys):
    # A description with the wrong padding: shapes, MACs and FLOPs of that row and the total disagree.
    from archcalc.check.crosscheck import crosscheck_module
    from archcalc.check.crosscheck_render import to_json

    def module(device):
        import torch
        from torch import nn

        with torch.device(device):
            return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 8 * 8, 2))

    wrong = from_tree("wrong", "", (3, 8, 8), seq("", [
        layer("0", "Conv2d", out_channels=4, kernel_size=3, padding=0),
        layer("1", "Flatten"),
        layer("2", "Linear", out_features=2),
    ]))
    result = crosscheck_module(wrong, module)
    assert not result.ok
    assert result.rows[0].verdict.startswith("MISMATCH: shape, fvcore_macs")
    # 6*6*4 * 3*3*3 = 3,888 MACs described; torch: 8*8*4 * 27 = 6,912
    assert result.rows[0].get("fvcore_macs").archcalc == 3_888
    assert result.rows[0].get("fvcore_macs").oracle == 6_912
    assert to_json(result)["ok"] is False


@pytest.mark.torch
def test_cli_exit_status_1_on_mismatch(monkeypatch, capsys):
    import archcalc.models.zoo as zoo

    real = zoo.build

    def broken(name):  # resnet18 described with a 5x5 stem instead of 7x7
        from dataclasses import replace

        net = real(name)
        stem = replace(net.nodes[0], hparams=(("out_channels", 64), ("kernel_size", 5), ("stride", 2),
                                              ("padding", 2), ("bias", False)))
        return replace(net, nodes=(stem, *net.nodes[1:]))

    monkeypatch.setattr(zoo, "build", broken)
    assert main(["crosscheck", "resnet18", "--input", "3x32x32"]) == 1
    assert "MISMATCH" in capsys.readouterr().out


def test_bad_input_exit_2_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "archcalc", "crosscheck", "vgg11", "--input", "3x8x8"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "too small" in proc.stderr


def test_model_without_twin_is_rejected(capsys):
    from archcalc.check.crosscheck import crosscheck
    from archcalc.models.zoo import inception_module

    with pytest.raises(ValueError, match="no torch twin"):
        crosscheck(inception_module((8, 4, 4), 2, 2, 2))


def test_a_zoo_transformer_is_refused_in_one_line_naming_hf(capsys):
    # gpt2's twin is "transformers:gpt2" (compared with the zoo in tests/test_archcalc_transformers_torch.py);
    # crosscheck's builders take torchvision / timm / hf / archcalc twins: it said "twin: got ..." before
    from archcalc.cli import main

    assert main(["crosscheck", "gpt2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'gpt2' is a zoo transformer" in err and "hf:gpt2" in err


def test_crosscheck_too_big_for_memory_is_refused_up_front(capsys):
    # vgg19 at 3x4096x4096, batch 64: conv1_1 alone outputs 64*64*4096*4096 floats = 256 GiB; refused in
    # one line before torch is imported, whatever the machine (24 GiB here)
    from archcalc.check.crosscheck import check_real_run_memory, real_run_bytes
    from archcalc.ir import evaluate
    from archcalc.models.zoo import build

    ev = evaluate(build("vgg19"), (3, 4096, 4096), 64)
    assert real_run_bytes(ev) > 4 * 64 * 64 * 4096 * 4096
    with pytest.raises(ValueError, match="input_shape/batch: the real forward pass at 3x4096x4096, batch 64 needs"):
        check_real_run_memory(ev, available=24 * 2**30)
    check_real_run_memory(evaluate(build("vgg11"), (3, 32, 32), 1), available=24 * 2**30)  # fits: no error
    assert main(["crosscheck", "vgg19", "--input", "3x4096x4096", "--batch", "64"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "needs up to" in err
