"""The original study's blood-transfusion experiment (its Problem 2), redone.

The original study trains logistic regression and AdaBoost (100 estimators) on a 70/30 split of the
blood-transfusion data and compares their ROC, PR and PRG curves. :func:`blood_transfusion_experiment`
does the same with scikit-learn (an optional extra, imported only here) and hands the scores to
:func:`mlcore.curves.report.evaluate_models`.
"""

from __future__ import annotations

from dlperf.errors import ArgumentError
from mlcore.curves.report import CurvesReport, evaluate_models

__all__ = ["blood_transfusion_experiment"]


def blood_transfusion_experiment(seed: int = 0, test_fraction: float = 0.3) -> CurvesReport:
    """The original study's experiment: logistic regression vs AdaBoost (100 stumps) on a 70/30 split.

    Positive class = "donated" (Class 2, 23.8 %). Needs scikit-learn (``pip install dlperf[ml]``).
    The split is stratified so both classes appear in the test set for every seed.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ArgumentError("test_fraction", test_fraction, "give a fraction strictly between 0 and 1")
    try:
        from sklearn.ensemble import AdaBoostClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise ArgumentError("dataset", "blood-transfusion", "it needs scikit-learn; install it with "
                            "pip install dlperf[ml]") from None
    from mlcore.data import load_blood_transfusion

    ds = load_blood_transfusion()
    x_tr, x_te, y_tr, y_te = train_test_split(
        ds.features, ds.labels, test_size=test_fraction, random_state=seed, stratify=ds.labels
    )
    logreg = LogisticRegression(solver="liblinear").fit(x_tr, y_tr)
    ada = AdaBoostClassifier(n_estimators=100, random_state=seed).fit(x_tr, y_tr)
    scores = {
        "logistic regression": logreg.predict_proba(x_te)[:, 1],
        "AdaBoost (100)": ada.predict_proba(x_te)[:, 1],
    }
    notes = (
        f"70/30 stratified split, random_state={seed}; {len(y_te)} test rows",
        "positive class: donated (Class 2); the original study used Class 1 ('did not donate') as positive",
    )
    return evaluate_models(y_te, scores, dataset=ds.name, notes=notes)
