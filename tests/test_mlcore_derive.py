"""The sympy derivation of the bias-variance decomposition, checked against an exact discrete model."""

from __future__ import annotations

import itertools
from fractions import Fraction

from mlcore.biasvar import derive_bias_variance
from mlcore.cli import main


def test_derivation_is_verified_and_has_the_expected_result():
    import sympy as sp

    d = derive_bias_variance()
    assert d.verified
    f, gbar = sp.symbols("f gbar", real=True)
    sigma, var = sp.symbols("sigma Var_D[g]", nonnegative=True)
    assert sp.simplify(d.result.rhs - ((f - gbar) ** 2 + var + sigma**2)) == 0
    assert any("independent" in a for a in d.assumptions)


def test_derived_formula_against_exact_expectation_of_a_discrete_model():
    # Independent oracle: a training set D that gives g in {1, 2, 6} with probabilities 1/2, 1/3, 1/6,
    # noise eps in {-1/2, +1/2} with probability 1/2 each (mean 0, sigma^2 = 1/4), independent of D,
    # f = 3. Enumerate the joint distribution exactly and compare with the derived right-hand side.
    import sympy as sp

    g_vals = [(Fraction(1), Fraction(1, 2)), (Fraction(2), Fraction(1, 3)), (Fraction(6), Fraction(1, 6))]
    eps_vals = [(Fraction(-1, 2), Fraction(1, 2)), (Fraction(1, 2), Fraction(1, 2))]
    f = Fraction(3)
    lhs = sum(pg * pe * (f + e - g) ** 2 for (g, pg), (e, pe) in itertools.product(g_vals, eps_vals))
    gbar = sum(g * p for g, p in g_vals)  # 1/2 + 2/3 + 1 = 13/6
    var = sum(p * (g - gbar) ** 2 for g, p in g_vals)
    rhs_expr = derive_bias_variance().result.rhs
    subs = {s.name: s for s in rhs_expr.free_symbols}
    rhs = rhs_expr.subs(
        {
            subs["f"]: sp.Rational(3),
            subs["gbar"]: sp.Rational(gbar.numerator, gbar.denominator),
            subs["Var_D[g]"]: sp.Rational(var.numerator, var.denominator),
            subs["sigma"]: sp.Rational(1, 2),
        }
    )
    assert sp.Rational(lhs.numerator, lhs.denominator) == rhs
    # (3 - 13/6)^2 + var + 1/4, with var = E[g^2] - gbar^2 = (1/2 + 4/3 + 6) - 169/36 = 113/36
    assert lhs == Fraction(25, 36) + Fraction(113, 36) + Fraction(1, 4)


def test_text_and_latex_renderings(capsys):
    assert main(["derive", "bias-variance"]) == 0
    text = capsys.readouterr().out
    assert "Verified by sympy: True" in text and "independent of the training set" in text
    assert main(["derive", "bias-variance", "--latex"]) == 0
    latex = capsys.readouterr().out
    assert (
        latex.startswith("\\begin{align*}") and "\\operatorname{Var}_D[g]" in latex and "\\sigma^{2}" in latex
    )


def test_unknown_topic_exits_2(capsys):
    assert main(["derive", "nonsense"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "invalid choice: 'nonsense'" in err
