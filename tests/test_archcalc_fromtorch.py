"""from_torch: graphs traced from real modules at the torch-function level (archcalc.frontends.torch_trace)."""

from __future__ import annotations

import json

import pytest

from archcalc.cli import main
from archcalc.ir import evaluate
from archcalc.zoo import build

pytestmark = pytest.mark.torch


@pytest.mark.parametrize("model", ["resnet18", "googlenet", "vgg11_bn", "alexnet"])
def test_derived_description_equals_zoo(model):
    # The hand-written zoo twin and the description traced from torchvision give identical numbers.
    from archcalc.frontends.torch_trace import from_torchvision

    derived, zoo = evaluate(from_torchvision(model)), evaluate(build(model))
    for field in ("params", "macs", "activations", "elementwise_ops", "backward_macs"):
        assert derived.total(field) == zoo.total(field), field
    assert derived.saved() == zoo.saved()
    assert [r.output_shape for r in derived.rows if r.module] == [r.output_shape for r in zoo.rows if r.module]


@pytest.mark.slow
@pytest.mark.parametrize("model", ["mobilenet_v2", "resnext50_32x4d"])
def test_depthwise_grouped_relu6_models_crosscheck(model):
    # Depthwise (mobilenet_v2), grouped (resnext, 32 groups) convolutions, ReLU6 and residual adds.
    from archcalc.crosscheck import crosscheck
    from archcalc.frontends.torch_trace import from_torchvision

    result = crosscheck(from_torchvision(model, (3, 64, 64)), (3, 64, 64))
    assert result.ok, [(r.name, r.verdict) for r in result.mismatches]


def test_small_module_by_hand():
    import torch.nn as nn

    from archcalc.frontends.torch_trace import from_torch

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.dw = nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False)
            self.act = nn.ReLU6()
            self.pw = nn.Conv2d(4, 4, 1)

        def forward(self, x):
            return x + self.pw(self.act(self.dw(x)))

    net = from_torch(Block(), (4, 8, 8))
    ev = evaluate(net)
    assert [(r.name, r.kind) for r in ev.rows] == [("dw", "Conv2d"), ("act", "ReLU6"), ("pw", "Conv2d"), ("add", "Add")]
    # depthwise: 8*8*4 * 1*3*3 = 2,304 MACs; pointwise: 8*8*4 * 4 = 1,024 MACs
    assert [r.macs for r in ev.rows] == [2_304, 0, 1_024, 0]
    # params: 4*1*3*3 = 36 (no bias) + 4*4 + 4 = 20
    assert ev.total("params") == 56


def test_unmodeled_ops_listed_not_dropped(capsys):
    import torch.nn as nn

    from archcalc.frontends.torch_trace import from_torch, unmodeled_nodes

    class Cumulative(nn.Module):  # torch.logaddexp and logcumsumexp have no archcalc formula
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, x):
            return self.fc(x.logaddexp(x)).logaddexp(x) + x.logcumsumexp(-1)

    net = from_torch(Cumulative(), (8,))
    names = [n.name for n in unmodeled_nodes(net)]
    assert names == ["logaddexp", "logaddexp:2", "logcumsumexp"]
    assert any(note.startswith("not modelled") and "2 x logaddexp" in note and "1 x logcumsumexp" in note
               for note in net.notes)
    # the rows stay in the table, counted 0: shapes follow through them and the Linear is still counted
    ev = evaluate(net)
    assert ev.output_shape == (1, 8) and ev.total("macs") == 8 * 8
    with pytest.raises(ValueError, match="traced at 1x8"):
        evaluate(net, (16,))


def test_cli_torchvision_name(capsys):
    assert main(["torchvision:resnet18", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["params"] == 11_689_512  # sum(p.numel()) of torchvision's resnet18


def test_input_dependent_module_traced_on_meta_with_real_values():
    import torch.nn as nn

    from archcalc.frontends.torch_trace import from_torch

    class Dynamic(nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x  # control flow on the input's values: the input is real

    net = from_torch(Dynamic(), (1, 2, 2))
    assert [n.kind for n in net.nodes] == ["Sum", "Compare", "Neg"]  # zeros: sum 0 is not > 0, so -x
    assert "on the CPU" not in net.notes[0]


def test_weight_dependent_module_traced_on_the_cpu_without_a_copy():
    import torch
    import torch.nn as nn

    from archcalc.frontends.torch_trace import from_torch

    class Dynamic(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.bn = nn.BatchNorm1d(4)

        def forward(self, x):
            y = self.bn(self.fc(x))
            return y if y.sum() > 1e9 else -y  # reads a value computed from the weights

    model = Dynamic()
    before = model.bn.running_mean.clone()
    net = from_torch(model, (4,), batch=2, training=True)
    assert "on the CPU" in net.notes[0]
    assert [n.kind for n in net.nodes][-1] == "Neg"
    assert torch.equal(model.bn.running_mean, before)  # training statistics put back
    with torch.device("meta"):
        meta = Dynamic()
    with pytest.raises(ValueError, match=r"__bool__ in the top-level forward reads values computed from the weights") as info:
        from_torch(meta, (4,), batch=2)
    assert "\n" not in str(info.value)


def test_failing_module_is_one_line():
    import torch.nn as nn

    from archcalc.frontends.torch_trace import from_torch

    class Broken(nn.Module):
        def forward(self, x):
            return x @ x  # 1x3x4 @ 1x3x4: inner sizes differ

    with pytest.raises(ValueError, match=r"^input_shapes: Broken fails on input 1x3x4: RuntimeError") as info:
        from_torch(Broken(), (3, 4))
    assert "\n" not in str(info.value)


def test_two_input_module():
    import torch.nn as nn

    from archcalc.frontends.torch_trace import from_torch

    class Two(nn.Module):
        def forward(self, x, y):
            return x + y

    with pytest.raises(ValueError, match="missing 1 required positional argument"):
        from_torch(Two(), (1, 2, 2))
    net = from_torch(Two(), (1, 2, 2), (1, 2, 2))
    # two inputs of 1*2*2 = 4 elements, one add each: 4 operations
    assert [s.name for s in net.inputs] == ["input0", "input1"] and evaluate(net).total("elementwise_ops") == 4


@pytest.mark.slow
def test_crosscheck_lists_what_fvcore_skips(capsys):
    # mobilenet_v3_small: archcalc models Hardswish / Hardsigmoid and the squeeze-excitation product; fvcore
    # skips them (listed) and counts them 0, as archcalc's fvcore convention does, so the totals agree.
    assert main(["crosscheck", "torchvision:mobilenet_v3_small", "--input", "3x224x224", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["unmodeled"] == []
    assert data["unsupported_ops"]["aten::hardswish_"] == 19
    assert data["ok"] is True


def test_top_level_shortcut_is_lazy():
    import subprocess
    import sys

    code = "import sys, archcalc; assert 'torch' not in sys.modules; f = archcalc.from_torch; print(f.__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=__import__("pathlib").Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "archcalc.frontends.torch_trace"


def test_identity_modules_get_no_row():
    import torch.nn as nn

    from archcalc.frontends.torch_trace import from_torch

    class Res(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 3, padding=1)
            self.shortcut = nn.Identity()
            self.head = nn.Identity()

        def forward(self, x):
            return self.head(self.conv(x) + self.shortcut(x))

    net = from_torch(Res(), (2, 5, 5))
    assert [lay.kind for lay in net.layers()] == ["Conv2d", "Add"]
    # 5*5*2 * 2*3*3 = 900 MACs; the add: 2*5*5 = 50 element-wise additions
    ev = evaluate(net)
    assert (ev.total("macs"), ev.rows[-1].elementwise_ops) == (900, 50)
