"""Formula sheets (``archcalc formula KIND``) for every registry kind but Unmodeled: the closed form
evaluated at concrete integers equals the integer formula exactly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from archcalc.costs.symbolic import SHEET_FIELDS, formula_sheet
from archcalc.ops import REGISTRY, formula
from archcalc.ops.sheets import NO_SHEET, sheet_kinds, sheet_spec, sheet_symbols

# Values meeting every sheet's condition: g = 3 divides C = 6 and K = 9; O = 2 divides H, W, L and T;
# G = 3 divides C; p = 1 <= k/2 = 1.5; dilation 2 exercises the effective kernel d (k - 1) + 1 = 5.
VALUES = {"B": 2, "C": 6, "H": 12, "W": 10, "T": 4, "L": 6, "D": 8, "E": 4, "S": 5, "F": 7, "N": 9, "K": 9, "O": 2,
          "G": 3, "I": 3, "V": 11, "k": 3, "s": 2, "d": 2, "g": 3, "heads": 2, "C_1": 3, "C_2": 5, "p": 1,
          "t": 2}


def _int(value, subs):
    import sympy

    if isinstance(value, tuple):
        return tuple(_int(v, subs) for v in value)
    if isinstance(value, sympy.Basic):
        out = value.subs(subs)
        assert out.is_integer, value
        return int(out)
    return value


def test_every_kind_but_unmodeled_has_a_sheet():
    assert sheet_kinds() == set(REGISTRY) - set(NO_SHEET)


@pytest.mark.parametrize("kind", sorted(set(REGISTRY) - set(NO_SHEET)))
def test_sheet_at_integers_equals_the_integer_formula(kind):
    subs = {sym: VALUES[name] for name, sym in sheet_symbols().items()}
    inputs, hparams, _ = sheet_spec(kind)
    sheet = formula_sheet(kind)
    cost = formula(kind)([_int(s, subs) for s in inputs], **{k: _int(v, subs) for k, v in hparams.items()})
    grads = cost.input_grad_macs
    exact = {"output_shape": tuple(cost.output_shape), "params": cost.params, "macs": cost.macs,
             "activations": cost.activations, "elementwise_ops": cost.elementwise_ops,
             "backward_macs": (grads[0] if grads else 0) + cost.backward_weight_macs
             + sum(g for group, g in cost.grouped_grad_macs if 0 in group)}
    for field in SHEET_FIELDS:
        assert isinstance(exact[field], int | tuple), (kind, field)
        assert _int(sheet.formulas[field], subs) == exact[field], (kind, field)


def test_all_gather_linear_sheet_by_hand():
    # the shard B x L x D is gathered from t ranks to B x tL x D, then a D -> N linear:
    # MACs B t L D N, params D N + N (Megatron's column-parallel linear with sequence parallelism)
    import sympy

    y = sheet_symbols()
    B, L, D, N, t = y["B"], y["L"], y["D"], y["N"], y["t"]
    f = formula_sheet("AllGatherLinear").formulas
    assert sympy.expand(f["macs"] - B * t * L * D * N) == 0
    assert sympy.expand(f["params"] - (D * N + N)) == 0
    assert f["output_shape"] == (B, L * t, N)


def test_lstm_sheet_by_hand():
    # one layer, batch_first (B, L, I), hidden H: params 4H*I + 4H*H + 2*4H;
    # MACs B L * 4H (I + H); element-wise (22 + 8 bias) per unit and step: 30 B L H
    import sympy

    y = sheet_symbols()
    B, L, IN, H = y["B"], y["L"], y["I"], y["H"]
    f = formula_sheet("LSTM").formulas
    assert sympy.expand(f["params"] - (4 * H * IN + 4 * H * H + 8 * H)) == 0
    assert sympy.expand(f["macs"] - B * L * 4 * H * (IN + H)) == 0
    assert sympy.expand(f["elementwise_ops"] - 30 * B * L * H) == 0
    assert f["output_shape"] == (B, L, H)


@pytest.mark.parametrize("kind", sorted(NO_SHEET))
def test_no_sheet_kinds_raise_naming_the_kind(kind):
    with pytest.raises(ValueError, match=f"kind: got '{kind}'"):
        formula_sheet(kind)


def test_cli_formula_lstm_exits_0():
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-m", "archcalc", "formula", "LSTM"], cwd=root, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "macs            = 4*B*H*L*(H + I)" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "archcalc", "formula", "Unmodeled"], cwd=root, capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
