"""Symbolic mode: closed forms equal the integer evaluation; formula sheets; --symbolic output."""

from __future__ import annotations

import json

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from archcalc.cli import main
from archcalc.costs.symbolic import TOTALS, closed_form, formula_sheet
from archcalc.ir import evaluate
from archcalc.models.zoo import MODELS, build
from archcalc.ops import REGISTRY
from tests.strategies import archcalc_layer_stacks

#: Zoo models on a C x H x W input of any size (closed forms in H, W, B); transformers have their own
#: closed forms in B and L (tests/test_archcalc_transformers.py), ViT-B/16 takes 224 x 224 only.
IMAGE_MODELS = sorted(m for m in MODELS if len(build(m).default_input) == 3 and m != "vit-b-16")


@pytest.mark.parametrize("model", IMAGE_MODELS)
def test_closed_form_equals_integer_evaluation(model):
    net = build(model)
    cf = closed_form(net)
    c, h0, w0 = net.default_input
    # the default input, a larger one in the condition's class, and two that break it (floor form only)
    sizes = [(h0, w0, 1), (h0 + cf.modulus[0], w0, 2), (h0 + 1, w0 + 3, 1), (2 * h0 + 5, w0 + 7, 3)]
    for h, w, b in sizes:
        ev = evaluate(net, (c, h, w), b)
        for field in TOTALS:
            assert cf.at(field, h, w, b) == ev.total(field), (field, h, w, b)
            if cf.holds(h, w):
                assert cf.at(field, h, w, b, simplified=True) == ev.total(field), (field, h, w, b)
    assert cf.holds(h0, w0) and not cf.holds(h0 + 1, w0 + 3)


def test_vgg_condition_and_polynomial_by_hand():
    cf = closed_form(build("vgg16"))
    # 5 max-pools of stride 2 (32) and the adaptive pool to 7x7 must tile its input (x7): H, W multiples of 224
    assert cf.modulus == (224, 224) and cf.residue == (0, 0)
    h, w, b = sympy.symbols("H W B", integer=True, positive=True)
    # conv MACs per input pixel: 3*64*9 + 64*64*9 = 38,592 at full size, ... summed and divided out:
    # 15,346,630,656 conv MACs at 224x224 / 50,176 pixels = 305,856; classifier 25088*4096 + 4096*4096 + 4096*1000
    assert sympy.expand(cf.simplified["macs"] - (305_856 * b * h * w + 123_633_664 * b)) == 0
    assert 305_856 * 224 * 224 + 123_633_664 == 15_470_264_320 == evaluate(build("vgg16")).total("macs")


@pytest.mark.parametrize("kind", sorted(k for k in REGISTRY if k != "Unmodeled"))
def test_formula_command_every_kind(kind, capsys):
    assert main(["formula", kind]) == 0
    text = capsys.readouterr().out
    for field in ("output_shape", "params", "macs", "activations", "backward_macs"):
        assert field in text
    assert main(["formula", kind, "--latex"]) == 0
    assert "\\begin{aligned}" in capsys.readouterr().out


def test_conv_sheet_by_hand():
    sheet = formula_sheet("Conv2d")
    s = {str(x): x for x in sheet.formulas["macs"].free_symbols}
    # out = floor((H + 2p - d(k-1) - 1)/s) + 1; 3x224x224 -> 64 channels, k=3, p=1: 224*224*64*27 = 86,704,128
    values = {s["B"]: 1, s["C"]: 3, s["H"]: 224, s["W"]: 224, s["K"]: 64, s["k"]: 3, s["s"]: 1, s["p"]: 1,
              s["d"]: 1, s["g"]: 1}
    assert sheet.formulas["macs"].subs(values) == 86_704_128
    assert sheet.formulas["backward_macs"].subs(values) == 2 * 86_704_128


def test_unknown_kind_exit_2(capsys):
    assert main(["formula", "Conv4d"]) == 2
    assert "known kinds are" in capsys.readouterr().err


def test_symbolic_json_parses_and_matches_table(capsys):
    assert main(["resnet18", "--symbolic", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    h, w, b = sympy.symbols("H W B")
    macs = sympy.sympify(data["totals"]["macs"])
    # resnet18 at 224: 1,814,073,344 MACs (torchvision's 1.81 GMACs), at batch 2 twice that
    assert macs.subs({h: 224, w: 224, b: 2}) == 2 * 1_814_073_344
    assert macs.subs({h: 100, w: 60, b: 1}) == evaluate(build("resnet18"), (3, 100, 60)).total("macs")
    assert data["condition"].startswith("H = 0 (mod 32)")
    assert main(["vgg11", "--symbolic", "--latex"]) == 0
    assert "\\left\\lfloor" in capsys.readouterr().out


def test_symbolic_rejects_csv(capsys):
    assert main(["vgg11", "--symbolic", "--csv"]) == 2
    assert "--symbolic" in capsys.readouterr().err


@settings(max_examples=25)
@given(archcalc_layer_stacks(), st.integers(1, 3))
def test_symbolic_layer_formulas_equal_integer_evaluation(case, batch):
    # Each layer's formula on symbols H, W, B, substituted, equals the integer evaluation.
    from archcalc.ir.build import from_tree, layer, seq

    shape, specs = case
    specs = [(k, {**v, "ceil_mode": False} if k != "Conv2d" else v) for k, v in specs]
    items = [layer(str(i), k, **v) for i, (k, v) in enumerate(specs)]
    net = from_tree("r", "", shape, seq("", [*items, layer("f", "Flatten"), layer("fc", "Linear", out_features=2)]))
    try:
        ev = evaluate(net, shape, batch)
    except ValueError:
        return
    h, w, b = sympy.symbols("H W B", integer=True, positive=True)
    sym = evaluate(net, (shape[0], h, w), b)
    for field in ("params", "macs", "activations", "elementwise_ops", "backward_macs"):
        assert sympy.sympify(sym.total(field)).subs({h: shape[1], w: shape[2], b: batch}) == ev.total(field)


def test_formula_json_parses(capsys):
    assert main(["formula", "Concat", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    c1, c2, h, w, b = sympy.symbols("C_1 C_2 H W B")
    assert [sympy.sympify(x) for x in data["output_shape"]] == [b, c1 + c2, h, w]
    # concatenating 64- and 128-channel 28x28 maps for a batch of 2: 2 * 192*28*28 = 301,056 elements
    assert sympy.sympify(data["activations"]).subs({c1: 64, c2: 128, h: 28, w: 28, b: 2}) == 301_056


@pytest.mark.parametrize("model", IMAGE_MODELS)
def test_closed_form_equals_report_table_totals(model):
    # The numbers the report prints (archcalc.costs.report.report) at the default input and at one other size.
    from archcalc.costs.report import report

    net = build(model)
    cf = closed_form(net)
    c, h0, w0 = net.default_input
    for h, w, b in [(h0, w0, 1), (h0 + 2 * cf.modulus[0], w0 + cf.modulus[1], 2)]:
        totals = report(net, (c, h, w), b).totals
        for field in ("params", "macs", "activations", "elementwise_ops"):
            assert cf.at(field, h, w, b) == totals[field], (field, h, w)
            assert cf.at(field, h, w, b, simplified=True) == totals[field], (field, h, w)
