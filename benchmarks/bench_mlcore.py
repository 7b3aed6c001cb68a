"""Benchmarks for mlcore's bias-variance study and curves, against scikit-learn in the same run.

Run from the repository root:  python benchmarks/bench_mlcore.py [--repeats 3]

1. The original study's study, 100 data sets x degrees 1..15 (40 training points, 10 test points): the batched
   Legendre-QR study vs the plain scikit-learn loop make_pipeline(PolynomialFeatures(d),
   LinearRegression()) over the same 1500 fits. Also reports how far scikit-learn's predictions are from
   ours (ours agree with exact rational arithmetic to ~1e-13, see tests/test_mlcore_biasvar.py), i.e. the error
   scikit-learn's singular-value cut-off puts into the original study's numbers.
2. PRG / ROC / PR areas on 1e6 scores (with ties): mlcore.curves.curve_areas vs scikit-learn's
   roc_auc_score + average_precision_score (+ precision_recall_curve for AUPR) on the same data.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from mlcore.biasvar import bias_variance_study  # noqa: E402
from mlcore.biasvar.study import BiasVarianceConfig, _sample  # noqa: E402
from mlcore.curves import curve_areas, prg_curve  # noqa: E402


def _best(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def bench_study(repeats: int) -> dict:
    import warnings

    from sklearn.linear_model import LinearRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures

    cfg = BiasVarianceConfig()
    x_train, y_train, x_test, *_ = _sample(cfg)

    def sklearn_loop():
        preds = np.empty((len(cfg.degrees), cfg.n_datasets, cfg.test_size))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i in range(cfg.n_datasets):
                for k, d in enumerate(cfg.degrees):
                    model = make_pipeline(PolynomialFeatures(d), LinearRegression())
                    model.fit(x_train[i][:, None], y_train[i])
                    preds[k, i] = model.predict(x_test[:, None])
        return preds

    def sklearn_ridge_loop():
        preds = np.empty((len(cfg.degrees), cfg.n_datasets, cfg.test_size))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i in range(cfg.n_datasets):
                for k, d in enumerate(cfg.degrees):
                    model = make_pipeline(PolynomialFeatures(d), Ridge(alpha=1.0))
                    model.fit(x_train[i][:, None], y_train[i])
                    preds[k, i] = model.predict(x_test[:, None])
        return preds

    t_ours, study = _best(lambda: bias_variance_study(cfg), repeats)
    t_sk, sk = _best(sklearn_loop, max(1, repeats // 2))
    dev = np.abs(sk - study.predictions)
    worst = {d: float(dev[k].max()) for k, d in enumerate(cfg.degrees)}
    ridge_cfg = BiasVarianceConfig(ridge_alpha=1.0)
    t_ridge, ridge = _best(lambda: bias_variance_study(ridge_cfg), max(1, repeats // 2))
    t_sk_ridge, sk_ridge = _best(sklearn_ridge_loop, 1)
    ridge_dev = float(np.abs(sk_ridge - ridge.predictions).max())
    return {
        "ours_s": t_ours,
        "sklearn_s": t_sk,
        "speedup": t_sk / t_ours,
        "sklearn_abs_dev": worst,
        "ridge_s": t_ridge,
        "sklearn_ridge_s": t_sk_ridge,
        "ridge_dev": ridge_dev,
    }


def bench_curves(repeats: int, n: int = 1_000_000) -> dict:
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score

    rng = np.random.default_rng(0)
    y = (rng.random(n) < 0.2).astype(np.int64)
    s = np.round(rng.normal(size=n) + 0.8 * y, 3)  # rounded: many ties
    t_prg, prg = _best(lambda: prg_curve(y, s), repeats)
    t_all, areas = _best(lambda: curve_areas(y, s), repeats)

    def sk():
        p, r, _ = precision_recall_curve(y, s)
        return roc_auc_score(y, s), auc(r, p), average_precision_score(y, s)

    t_sk, (roc, aupr, ap) = _best(sk, repeats)
    dev = max(abs(areas.auroc - roc), abs(areas.aupr - aupr), abs(areas.average_precision - ap))
    return {"n": n, "prg_s": t_prg, "areas_s": t_all, "sklearn_s": t_sk, "auprg": prg.auprg, "max_dev": dev}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    st = bench_study(args.repeats)
    cu = bench_curves(args.repeats)
    print(
        f"machine: {platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}"
    )
    print(
        f"study 100 x 15 degrees: mlcore {st['ours_s'] * 1e3:.1f} ms, scikit-learn loop "
        f"{st['sklearn_s'] * 1e3:.0f} ms, speed-up {st['speedup']:.0f}x"
    )
    print("scikit-learn max |prediction difference| from the cut-off-free fit, per degree:")
    print("  " + ", ".join(f"{d}: {v:.1e}" for d, v in st["sklearn_abs_dev"].items()))
    print(
        f"ridge alpha=1 study 100 x 15 degrees (longdouble-refined): mlcore {st['ridge_s'] * 1e3:.0f} ms, "
        f"scikit-learn Ridge loop {st['sklearn_ridge_s'] * 1e3:.0f} ms, speed-up "
        f"{st['sklearn_ridge_s'] / st['ridge_s']:.1f}x; max |prediction difference| {st['ridge_dev']:.1e}"
    )
    print(
        f"curves on {cu['n']:,} scores: prg_curve {cu['prg_s'] * 1e3:.0f} ms, curve_areas (4 areas) "
        f"{cu['areas_s'] * 1e3:.0f} ms, scikit-learn (AUROC + AUPR + AP) {cu['sklearn_s'] * 1e3:.0f} ms; "
        f"max |area difference| {cu['max_dev']:.1e}; AUPRG {cu['auprg']:.6f}"
    )
    ok = st["speedup"] >= 50 and cu["prg_s"] < 1.0
    print("targets (>= 50x, PRG < 1 s):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
