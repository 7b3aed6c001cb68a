"""The small Inception: every listed module's output shape and the parameter count, derived by hand."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from mlcore.models import InceptionSmall, inception_small  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]


# Channels after each module (c1 + c3 for Inception, c + cin for Downsample):
# conv1 96; inception1 32+32 = 64; inception2 32+48 = 80; down1 80+80 = 160; inception3 112+48 = 160;
# inception4 96+64 = 160; inception5 80+80 = 160; inception6 48+96 = 144; down2 96+144 = 240;
# inception7 176+160 = 336; inception8 176+160 = 336.
CHANNELS = {"conv1": 96, "inception1": 64, "inception2": 80, "down1": 160, "inception3": 160,
            "inception4": 160, "inception5": 160, "inception6": 144, "down2": 240, "inception7": 336,
            "inception8": 336}
STAGE = {"conv1": 0, "inception1": 0, "inception2": 0, "down1": 1, "inception3": 1, "inception4": 1,
         "inception5": 1, "inception6": 1, "down2": 2, "inception7": 2, "inception8": 2}
# Stride-2 3x3 without padding: out = (in - 3) // 2 + 1.  28 -> 13 -> 6, 32 -> 15 -> 7, 8 -> 3 -> 1.
SIZES = {28: (28, 13, 6), 32: (32, 15, 7), 8: (8, 3, 1)}


def _shapes(model, x):
    seen = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: seen.__setitem__(name, tuple(out.shape)))
             for name, m in model.named_children()]
    with torch.no_grad():
        model.eval()(x)
    for h in hooks:
        h.remove()
    return seen


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8)])
def test_every_module_output_shape(shape):
    model = inception_small(shape, num_classes=10)
    seen = _shapes(model, torch.zeros(2, *shape))
    sizes = SIZES[shape[1]]
    expected = {name: (2, c, sizes[STAGE[name]], sizes[STAGE[name]]) for name, c in CHANNELS.items()}
    expected |= {"pool": (2, 336, 1, 1), "flatten": (2, 336), "fc": (2, 10)}
    assert seen == expected
    assert list(seen) == list(expected)  # forward order is the listed order


def _cbr(cin, cout, k):
    return cin * cout * k * k + 2 * cout  # conv without bias + batch-norm weight and bias


def test_parameter_count_by_hand():
    # conv1 1*96*9+192 = 1,056; inception1 3,136+27,712 = 30,848; inception2 2,112+27,744 = 29,856;
    # down1 57,760; inception3 18,144+69,216 = 87,360; inception4 15,552+92,288 = 107,840;
    # inception5 12,960+115,360 = 128,320; inception6 7,776+138,432 = 146,208; down2 124,608;
    # inception7 42,592+345,920 = 388,512; inception8 59,488+484,160 = 543,648; fc 336*10+10 = 3,370
    # total 1,649,386 (3 input channels: + 2*96*9 = 1,728 -> 1,651,114).
    blocks = [_cbr(1, 96, 3), _cbr(96, 32, 1) + _cbr(96, 32, 3), _cbr(64, 32, 1) + _cbr(64, 48, 3),
              _cbr(80, 80, 3), _cbr(160, 112, 1) + _cbr(160, 48, 3), _cbr(160, 96, 1) + _cbr(160, 64, 3),
              _cbr(160, 80, 1) + _cbr(160, 80, 3), _cbr(160, 48, 1) + _cbr(160, 96, 3), _cbr(144, 96, 3),
              _cbr(240, 176, 1) + _cbr(240, 160, 3), _cbr(336, 176, 1) + _cbr(336, 160, 3), 336 * 10 + 10]
    assert sum(blocks) == 1_649_386
    count = sum(p.numel() for p in inception_small((1, 28, 28)).parameters())
    assert count == 1_649_386
    assert sum(p.numel() for p in inception_small((3, 32, 32)).parameters()) == 1_651_114
    # The head does not depend on the input size (global mean pool).
    assert sum(p.numel() for p in inception_small((1, 8, 8)).parameters()) == count


def test_building_blocks_match_the_design():
    m = InceptionSmall()
    assert m.conv1.conv.bias is None and m.conv1.bn.eps == 1e-5 and not m.conv1.relu.inplace
    assert (m.down1.branch1.conv.stride, m.down1.branch1.conv.padding) == ((2, 2), (0, 0))
    assert (m.down1.branch2.kernel_size, m.down1.branch2.stride) == (3, 2)
    assert m.inception3.branch2.conv.padding == (1, 1) and m.fc.in_features == 336


@settings(max_examples=8)
@given(h=st.integers(7, 24), w=st.integers(7, 24))
def test_any_size_reaches_the_head(h, w):
    def down(n):
        return (n - 3) // 2 + 1

    seen = _shapes(inception_small((1, h, w), num_classes=3), torch.zeros(1, 1, h, w))
    assert seen["down2"] == (1, 240, down(down(h)), down(down(w)))
    assert seen["fc"] == (1, 3)


@pytest.mark.parametrize("shape", [(1, 6, 28), (0, 28, 28), (1, 28)])
def test_bad_input_shape(shape):
    with pytest.raises(ValueError, match="input_shape"):
        inception_small(shape)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8)])
def test_matches_the_archcalc_twin(shape):
    # archcalc describes the same network analytically with the same dotted names: every leaf module's
    # output shape and parameter count, and every block's concatenation, must agree.
    zoo = pytest.importorskip("archcalc.models.zoo")
    from archcalc.ir import evaluate

    rows = {r.name: r for r in evaluate(zoo.build("inception-small"), shape).rows}
    model = inception_small(shape)
    leaves = {name: m for name, m in model.named_modules() if name and not list(m.children())}
    seen = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: seen.__setitem__(name, tuple(out.shape)))
             for name, m in model.named_modules() if name]
    with torch.no_grad():
        model.eval()(torch.zeros(1, *shape))
    for h in hooks:
        h.remove()
    assert set(leaves) <= set(rows)
    for name, module in leaves.items():
        assert tuple(rows[name].output_shape) == seen[name], name
        assert rows[name].cost.params == sum(p.numel() for p in module.parameters()), name
    for block in ("inception1", "down1", "inception6", "down2", "inception8"):
        assert tuple(rows[f"{block}.cat"].output_shape) == seen[block]
    assert sum(r.cost.params for r in rows.values()) == sum(p.numel() for p in model.parameters())
