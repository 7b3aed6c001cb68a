"""Closed forms for parameter-server SGD (Dutta et al., AISTATS 2018), as sympy expressions.

Symbols: P learners, K, compute time X with mean m; exponential rate mu = 1/m; shifted exponential
delta + Exp(mu) with delta = shape * m and mu = 1 / (m - delta); uniform on [a, b]; H_n the harmonic
number. No communication or apply time, identical learners.

- k-sync / sync (K = P): E[T per update] = E[X_{K:P}]; exponential (H_P - H_{P-K}) / mu, shifted
  exponential delta + (H_P - H_{P-K}) / mu, uniform a + (b - a) K / (P + 1), constant m.
- k-batch-sync, exponential: each update is Erlang(K, P mu): E[T] = K / (P mu).
- k-batch-async (async: K = 1), any distribution: E[T] = K E[X] / P.
- async, any distribution: mean staleness P - 1; exponential: P(tau = s) = (1/P)(1 - 1/P)^s, variance
  P (P - 1); k-batch-async, exponential: mean staleness (P - 1) / K.
- speed-up of async over sync per update, exponential: P H_P.
- sync family: staleness 0 by construction.

sympy is imported inside the functions (``staleness simulate`` never loads it).

Examples
--------
>>> t = theory("k-sync", learners=16, k=8, dist="exp", mean=1.0)
>>> f = t.get("time_per_update")
>>> f.formula, f.exact, round(f.value, 6)
('(harmonic(P) - harmonic(-K + P))/mu', '95549/144144', 0.662872)
>>> theory("async", learners=4).get("staleness_var").value
12.0
"""

from __future__ import annotations

from dataclasses import dataclass

from staleness.config import SimConfig

__all__ = ["Formula", "Theory", "theory", "QUANTITIES", "harmonic_asymptotic", "HARMONIC_EXACT_MAX"]

#: Quantities a closed form may exist for (``staleness_pmf_s`` is P(tau = s) for s = 0, 1, 2).
QUANTITIES = ("time_per_update", "staleness_mean", "staleness_var", "staleness_pmf_0", "staleness_pmf_1",
              "staleness_pmf_2", "speedup_async_over_sync")


@dataclass(frozen=True)
class Formula:
    """One closed form: the quantity, its sympy expression (text), exact value (text) and float value."""

    quantity: str
    formula: str
    exact: str
    value: float
    condition: str
    expr: object  # the sympy expression (before substitution)


@dataclass(frozen=True)
class Theory:
    """The closed forms that exist for one configuration (possibly none)."""

    policy: str
    learners: int
    k: int
    dist: str
    mean: float
    shape: float | None
    formulas: tuple[Formula, ...]

    def get(self, quantity: str) -> Formula | None:
        """The formula for ``quantity`` (one of :data:`QUANTITIES`), or None when there is none."""
        return next((f for f in self.formulas if f.quantity == quantity), None)


def theory(policy: str, learners: int, k: int | None = None, dist: str = "exp", mean: float = 1.0,
           shape: float | None = None) -> Theory:
    """Closed forms for ``policy`` with ``learners`` identical learners and i.i.d. compute times.

    Parameters are checked like :class:`staleness.SimConfig`'s. Returns every formula that applies
    (see the module docstring); an empty tuple when none does (k-async, ssp, heavy-tailed k-sync).
    """
    import sympy as sp

    cfg = SimConfig(learners=learners, policy=policy, k=k, dist=dist, mean=mean, shape=shape, updates=1,
                    bound=0 if policy == "ssp" else None)
    P, K, mu, delta, a, b, m, s = sp.symbols("P K mu delta a b m s", positive=True)
    kk = cfg.effective_k
    shp = cfg.effective_shape
    mean_q = sp.nsimplify(mean)
    subs = {P: learners, K: kk, m: mean_q}
    cond = "no communication or apply time, identical learners"
    if dist == "exp":
        subs[mu] = 1 / mean_q
    elif dist == "shifted-exp":
        subs[delta] = sp.nsimplify(shp) * mean_q
        subs[mu] = 1 / (mean_q - subs[delta])
    elif dist == "uniform":
        subs[a] = mean_q * (1 - sp.nsimplify(shp))
        subs[b] = mean_q * (1 + sp.nsimplify(shp))
    H = sp.harmonic
    exprs: list[tuple[str, object, str]] = []
    if policy in ("k-sync", "sync"):
        order_stat = {
            "exp": (H(P) - H(P - K)) / mu,
            "shifted-exp": delta + (H(P) - H(P - K)) / mu,
            "uniform": a + (b - a) * K / (P + 1),
            "constant": m,
        }.get(dist)
        if order_stat is not None:
            exprs.append(("time_per_update", order_stat, f"E[X_(K:P)], the K-th of P draws; {cond}"))
        exprs.append(("staleness_mean", sp.Integer(0), "every gradient is computed on the current version"))
    elif policy == "k-batch-sync":
        if dist == "exp":
            exprs.append(("time_per_update", K / (P * mu), f"Erlang(K, P mu) per update; {cond}"))
        exprs.append(("staleness_mean", sp.Integer(0), "every gradient is computed on the current version"))
    elif policy in ("async", "k-batch-async"):
        exprs.append(("time_per_update", K * m / P, f"K E[X] / P, any distribution, long run; {cond}"))
        if kk == 1:
            exprs.append(("staleness_mean", P - 1, f"steady state, any distribution; {cond}"))
            if dist == "exp":
                geo = (1 / P) * (1 - 1 / P) ** s
                exprs.append(("staleness_var", P * (P - 1), f"geometric staleness, exponential times; {cond}"))
                for v in (0, 1, 2):
                    exprs.append((f"staleness_pmf_{v}", geo.subs(s, v), f"P(tau = {v}) = (1/P)(1 - 1/P)^{v}"))
                exprs.append(("speedup_async_over_sync", P * H(P),
                              f"E[T sync] / E[T async] = (H_P / mu) / (1 / (P mu)); {cond}"))
        elif dist == "exp":
            exprs.append(("staleness_mean", (P - 1) / K, f"versions between read and apply, exponential; {cond}"))
    formulas = []
    for quantity, expr, condition in exprs:
        expr = sp.sympify(expr)
        if expr.has(sp.harmonic) and learners > HARMONIC_EXACT_MAX:
            value, bound = _asymptotic(expr, subs)
            formulas.append(Formula(quantity, sp.sstr(expr), "-", value, f"{condition}; H_n for n > "
                                    f"{HARMONIC_EXACT_MAX} by ln n + gamma + 1/(2n) - 1/(12n^2) + 1/(120n^4), "
                                    f"|error| <= {bound:.1e}", expr))
            continue
        exact = sp.nsimplify(expr.subs(subs).doit())
        formulas.append(Formula(quantity, sp.sstr(expr), sp.sstr(exact), float(exact), condition, expr))
    return Theory(policy, learners, kk, dist, float(mean), shp, tuple(formulas))


#: Harmonic numbers H_n are exact rationals up to this n (sympy needs ~0.2 s at 1000, and the digits grow
#: like n / 2.3); beyond, the asymptotic expansion with its error bound.
HARMONIC_EXACT_MAX = 1000


def harmonic_asymptotic(n: int, digits: int = 40) -> tuple[object, float]:
    """(H_n to ``digits`` digits as an mpmath number, a bound on its error) for n >= 1.

    H_n = ln n + gamma + 1/(2n) - 1/(12 n^2) + 1/(120 n^4) - r with 0 < r < 1/(252 n^6) (the
    Euler-Maclaurin remainder is smaller than the first omitted term and of its sign).

    >>> from fractions import Fraction
    >>> h, bound = harmonic_asymptotic(10)
    >>> exact = sum(Fraction(1, i) for i in range(1, 11))
    >>> abs(float(h) - float(exact)) <= bound, bound < 1e-8
    (True, True)
    """
    import mpmath

    with mpmath.workdps(digits):
        n_ = mpmath.mpf(n)
        h = mpmath.log(n_) + mpmath.euler + 1 / (2 * n_) - 1 / (12 * n_**2) + 1 / (120 * n_**4)
    return h, 1.0 / (252.0 * float(n) ** 6)


def _asymptotic(expr, subs) -> tuple[float, float]:
    """Value of ``expr`` at ``subs`` with every harmonic number > HARMONIC_EXACT_MAX from the expansion,
    and the propagated error bound (sum over the H terms of |d expr / d H| * bound)."""
    import mpmath
    import sympy as sp

    terms = {}
    holder = sp.Function("Hterm")
    e = expr.replace(sp.harmonic, holder).subs(subs)
    values, bound = {}, 0.0
    for atom in e.atoms(holder):
        n = int(atom.args[0])
        if n <= HARMONIC_EXACT_MAX:
            values[atom] = sp.harmonic(n)
            continue
        h, b = harmonic_asymptotic(n)
        values[atom] = sp.Float(mpmath.nstr(h, 40), 40)
        terms[atom] = b
    for atom, b in terms.items():
        bound += abs(float(sp.diff(e, atom).subs(values))) * b
    return float(e.subs(values).evalf(40)), bound

