"""Closed forms for parameter-server SGD (Dutta et al., AISTATS 2018), as sympy expressions.

Symbols: P learners, K, compute time X with mean m; exponential rate mu = 1/m; shifted exponential
delta + Exp(mu) with delta = shape * m and mu = 1 / (m - delta); uniform on [a, b]; Pareto type I
with tail index alpha = shape and scale x_m = m (alpha - 1) / alpha; H_n the harmonic number. No
communication or apply time, identical learners, unless a condition says more.

- k-sync / sync (K = P): E[T per update] = E[X_{K:P}]; exponential (H_P - H_{P-K}) / mu, shifted
  exponential delta + (H_P - H_{P-K}) / mu, uniform a + (b - a) K / (P + 1), constant m, Pareto
  x_m B(P - K + 1 - 1/alpha, K) / B(P - K + 1, K) = x_m prod_{i=P-K+1}^{P} i / (i - 1/alpha).
  (X = x_m U^(-1/alpha) with U uniform, so X_{K:P} = x_m V^(-1/alpha) with V = U_{P-K+1:P} ~
  Beta(P - K + 1, K), and E[V^-c] = B(P - K + 1 - c, K) / B(P - K + 1, K), finite iff
  alpha (P - K + 1) > 1: always, as alpha > 1.)
- k-batch-sync, exponential: each update is Erlang(K, P mu): E[T] = K / (P mu).
- k-batch-async (async: K = 1), any distribution: E[T] = K E[X] / P.
- k-async, exponential: E[T] = (H_P - H_{P-K}) / mu: after an update the K pushers start afresh and,
  memoryless, so do the P - K still computing; the update waits for the first K of P exponentials.
- mean staleness, steady state, any distribution: async P - 1, k-batch-async (P - 1) / K, k-async
  (P - K) / K. Proof: a learner's consecutive reads telescope. Under k-async a pusher reads the version
  its own update made: sum over its gradients of (tau + 1) = U, the updates in the window, for each of
  the P learners; K U gradients are applied, so E[tau] = P / K - 1. Under k-batch-async the pusher reads
  at its push, which includes its update only if its gradient completed the batch (one per update):
  sum over all gradients of tau = P U - U over K U gradients. Neither step uses the distribution, the
  speeds or the latencies; k-batch-async needs apply time 0 (the push must see its own update).
- async, exponential: P(tau = s) = (1/P)(1 - 1/P)^s, variance P (P - 1).
- ssp with bound 0: rounds; a round ends when the slowest learner's push is applied, then all P read
  that version: each round's P gradients have staleness 0, 1, ..., P - 1 (uniform: mean (P - 1) / 2,
  variance (P^2 - 1) / 12), and E[T per update] = E[X_{P:P}] / P (sync's time per iteration over P).
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
>>> theory("k-sync", learners=2, k=2, dist="pareto", shape=2.0).get("time_per_update").exact  # 1/2 * 2*4/3
'4/3'
>>> theory("ssp", learners=4, bound=0).get("staleness_mean").exact
'3/2'
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from dlperf.errors import ArgumentError
from dlperf.results import Result
from staleness.config import SimConfig

__all__ = ["Formula", "Theory", "theory", "QUANTITIES", "harmonic_asymptotic", "HARMONIC_EXACT_MAX",
           "pareto_order_statistic"]

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


@dataclass(frozen=True, repr=False)
class Theory(Result):
    """The closed forms that exist for one configuration (possibly none)."""

    _table_field = "formulas"

    policy: str
    learners: int
    k: int
    dist: str
    mean: float
    shape: float | None
    formulas: tuple[Formula, ...]
    bound: int | None = None

    def get(self, quantity: str) -> Formula | None:
        """The formula for ``quantity`` (one of :data:`QUANTITIES`), or None when there is none."""
        return next((f for f in self.formulas if f.quantity == quantity), None)


_COND = "no communication or apply time, identical learners"
_ANY = "steady state, any distribution, speeds and latencies"


def theory(policy: str, learners: int, k: int | None = None, dist: str = "exp", mean: float = 1.0,
           shape: float | None = None, bound: int | None = None) -> Theory:
    """Closed forms for ``policy`` with ``learners`` identical learners and i.i.d. compute times.

    Parameters are checked like :class:`staleness.SimConfig`'s (``bound`` is required for ssp). Returns
    every formula that applies (see the module docstring); an empty tuple when none does (ssp with a
    bound > 0, k-sync with lognormal times, ...).
    """
    cfg = SimConfig(learners=learners, policy=policy, k=k, dist=dist, mean=mean, shape=shape, updates=1,
                    bound=bound)  # checked before sympy loads: a bad argument costs no import
    import sympy as sp

    P, K, mu, delta, a, b, m, s, alpha, xm = sp.symbols("P K mu delta a b m s alpha x_m", positive=True)
    kk = cfg.effective_k
    shp = cfg.effective_shape
    mean_q = sp.nsimplify(mean)
    subs = {P: learners, K: kk, m: mean_q}
    if dist == "exp":
        subs[mu] = 1 / mean_q
    elif dist == "shifted-exp":
        subs[delta] = sp.nsimplify(shp) * mean_q
        subs[mu] = 1 / (mean_q - subs[delta])
    elif dist == "uniform":
        subs[a] = mean_q * (1 - sp.nsimplify(shp))
        subs[b] = mean_q * (1 + sp.nsimplify(shp))
    elif dist == "pareto":
        subs[alpha] = sp.nsimplify(shp)
        subs[xm] = mean_q * (subs[alpha] - 1) / subs[alpha]
    H = sp.harmonic
    order_stat = {  # E[X_(K:P)], the K-th smallest of P draws
        "exp": (H(P) - H(P - K)) / mu,
        "shifted-exp": delta + (H(P) - H(P - K)) / mu,
        "uniform": a + (b - a) * K / (P + 1),
        "constant": m,
        "pareto": xm * sp.beta(P - K + 1 - 1 / alpha, K) / sp.beta(P - K + 1, K),
    }.get(dist)
    exprs: list[tuple[str, object, str]] = []
    if policy in ("k-sync", "sync"):
        if order_stat is not None:
            exprs.append(("time_per_update", order_stat, f"E[X_(K:P)], the K-th of P draws; {_COND}"))
        exprs.append(("staleness_mean", sp.Integer(0), "every gradient is computed on the current version"))
    elif policy == "k-batch-sync":
        if dist == "exp":
            exprs.append(("time_per_update", K / (P * mu), f"Erlang(K, P mu) per update; {_COND}"))
        exprs.append(("staleness_mean", sp.Integer(0), "every gradient is computed on the current version"))
    elif policy in ("async", "k-batch-async"):
        exprs.append(("time_per_update", K * m / P, f"K E[X] / P, any distribution, long run; {_COND}"))
        exprs.append(("staleness_mean", (P - 1) / K, f"{_ANY}; apply time 0"))
        if kk == 1 and dist == "exp":
            geo = (1 / P) * (1 - 1 / P) ** s
            exprs.append(("staleness_var", P * (P - 1), f"geometric staleness, exponential times; {_COND}"))
            for v in (0, 1, 2):
                exprs.append((f"staleness_pmf_{v}", geo.subs(s, v), f"P(tau = {v}) = (1/P)(1 - 1/P)^{v}"))
            exprs.append(("speedup_async_over_sync", P * H(P),
                          f"E[T sync] / E[T async] = (H_P / mu) / (1 / (P mu)); {_COND}"))
    elif policy == "k-async":
        if dist == "exp":
            exprs.append(("time_per_update", (H(P) - H(P - K)) / mu,
                          f"E[X_(K:P)]: memoryless, all P restart at each update; {_COND}"))
        exprs.append(("staleness_mean", (P - K) / K, "steady state, any distribution, speeds, latencies and "
                      "apply time"))
    elif policy == "ssp" and cfg.bound == 0:
        if order_stat is not None:
            exprs.append(("time_per_update", order_stat.subs(K, P) / P,
                          f"E[X_(P:P)] / P: a round of P pushes lasts as one sync iteration; {_COND}"))
        rounds = "each round of P gradients has staleness 0, 1, ..., P - 1"
        exprs.append(("staleness_mean", (P - 1) / 2, f"{rounds}; {_ANY}; apply time 0"))
        exprs.append(("staleness_var", (P**2 - 1) / 12, f"uniform on 0..P-1; {_ANY}; apply time 0"))
        for v in (0, 1, 2):
            exprs.append((f"staleness_pmf_{v}", 1 / P if v < learners else sp.Integer(0),
                          f"P(tau = {v}) for uniform staleness on 0..P-1; apply time 0"))
    formulas = []
    for quantity, expr, condition in exprs:
        expr = sp.sympify(expr)
        if expr.has(sp.beta):  # the Pareto order statistic: a finite product, not sympy's Beta of rationals
            order = learners if policy == "ssp" else kk
            per = 1 if policy != "ssp" else learners  # ssp: a round of P updates lasts E[X_(P:P)]
            formulas.append(_pareto_formula(quantity, expr, condition, learners, order, per, shp, mean))
        elif expr.has(sp.harmonic) and learners > HARMONIC_EXACT_MAX:
            value, err = _asymptotic(expr, subs)
            formulas.append(Formula(quantity, sp.sstr(expr), "-", value, f"{condition}; H_n for n > "
                                    f"{HARMONIC_EXACT_MAX} by ln n + gamma + 1/(2n) - 1/(12n^2) + 1/(120n^4), "
                                    f"|error| <= {err:.1e}", expr))
        else:
            exact = sp.nsimplify(expr.subs(subs).doit())
            formulas.append(Formula(quantity, sp.sstr(expr), sp.sstr(exact), float(exact), condition, expr))
    return Theory(policy, learners, kk, dist, float(mean), shp, tuple(formulas), cfg.bound)


def _pareto_formula(quantity: str, expr, condition: str, p: int, order: int, per: int, shape: float,
                    mean: float) -> Formula:
    """E[X_(order:p)] / per for Pareto times, exact (a rational) where :func:`pareto_order_statistic` is."""
    import sympy as sp

    exact, value = pareto_order_statistic(p, order, Fraction(str(float(shape))), Fraction(str(float(mean))))
    # E[V^(-1/alpha)] for V ~ Beta(P - K + 1, K) is finite iff P - K + 1 - 1/alpha > 0
    condition = (f"{condition}; finite iff alpha (P - K + 1) > 1 (K = {order}: {float(shape):g} x "
                 f"{p - order + 1})")
    if exact is None:
        return Formula(quantity, sp.sstr(expr), "-", value / per,
                       f"{condition}; K > {PRODUCT_EXACT_MAX}: Gamma ratios with mpmath at 50 digits", expr)
    return Formula(quantity, sp.sstr(expr), str(exact / per), float(exact / per), condition, expr)


#: The Pareto order statistic is an exact rational (a product of K factors) up to this K; beyond, mpmath.
PRODUCT_EXACT_MAX = 1000


def pareto_order_statistic(p: int, k: int, alpha: Fraction, mean: Fraction) -> tuple[Fraction | None, float]:
    """E[X_(k:p)], the k-th smallest of p Pareto type I draws with tail index ``alpha`` and mean ``mean``.

    E = x_m B(p - k + 1 - 1/alpha, k) / B(p - k + 1, k) = x_m prod_{i=p-k+1}^{p} i / (i - 1/alpha),
    x_m = mean (alpha - 1) / alpha (the Beta ratio telescopes through Gamma(z + 1) = z Gamma(z)). Finite
    iff alpha (p - k + 1) > 1. Returns (the exact rational, its float) for k <= :data:`PRODUCT_EXACT_MAX`,
    else (None, the value from Gamma ratios with mpmath at 50 digits).

    >>> pareto_order_statistic(1, 1, Fraction(3), Fraction(1))  # one draw: the mean
    (Fraction(1, 1), 1.0)
    >>> pareto_order_statistic(2, 2, Fraction(2), Fraction(1))  # 1/2 * 1/(1 - 1/2) * 2/(2 - 1/2) = 4/3
    (Fraction(4, 3), 1.3333333333333333)
    """
    if alpha * (p - k + 1) <= 1:
        raise ArgumentError("shape", alpha, "E[X_(K:P)] is infinite unless alpha (P - K + 1) > 1",
                            what=f"got alpha = {alpha} with P - K + 1 = {p - k + 1}")
    xm = mean * (alpha - 1) / alpha
    if k <= PRODUCT_EXACT_MAX:
        e = xm
        for i in range(p - k + 1, p + 1):
            e *= Fraction(i) / (i - 1 / alpha)
        return e, float(e)
    import mpmath

    with mpmath.workdps(50):
        c = mpmath.mpf(alpha.denominator) / alpha.numerator
        a = mpmath.mpf(p - k + 1)
        ratio = mpmath.exp(mpmath.loggamma(a + k) - mpmath.loggamma(a) + mpmath.loggamma(a - c)
                           - mpmath.loggamma(a - c + k))
        return None, float(mpmath.mpf(xm.numerator) / xm.denominator * ratio)


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

