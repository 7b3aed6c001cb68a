"""The shipped blood-transfusion data (provenance, checksum) and the original study's curves experiment."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

import mlcore.data
from mlcore.curves import blood_transfusion_experiment, curve_areas
from mlcore.data import BLOOD_TRANSFUSION_SHA256, load_blood_transfusion

CSV = Path(mlcore.data.__file__).with_name("blood-transfusion-service-center.csv")


def test_shipped_csv_checksum_matches_provenance():
    # sha256 stated in /work/shared/data/README.md and mlcore/data/README.md
    assert hashlib.sha256(CSV.read_bytes()).hexdigest() == BLOOD_TRANSFUSION_SHA256
    assert BLOOD_TRANSFUSION_SHA256 in CSV.with_name("README.md").read_text()


def test_dataset_counts_and_traps():
    ds = load_blood_transfusion()
    # 748 rows; Class 2 (donated, positive) 178 = 23.80 %, Class 1 570
    assert ds.features.shape == (748, 4)
    assert int(ds.labels.sum()) == 178 and int((ds.labels == 0).sum()) == 570
    assert round(ds.labels.mean() * 100, 2) == 23.80
    # monetary == 250 c.c. x frequency in every row
    np.testing.assert_array_equal(ds.features[:, 2], 250 * ds.features[:, 1])
    # 215 duplicate rows
    assert len(ds.features) - len(np.unique(np.column_stack([ds.features, ds.labels]), axis=0)) == 215
    with pytest.raises(ValueError):
        ds.labels[0] = 0
    with pytest.raises(AttributeError):
        ds.name = "x"


@pytest.mark.slow
def test_experiment_areas_agree_with_scikit_learn_and_all_positive_points():
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score
    from sklearn.model_selection import train_test_split

    report = blood_transfusion_experiment(seed=0)
    ds = load_blood_transfusion()
    _, _, _, y_te = train_test_split(
        ds.features, ds.labels, test_size=0.3, random_state=0, stratify=ds.labels
    )
    assert (report.n_positive, report.n_negative) == (int(y_te.sum()), int((y_te == 0).sum()))
    assert report.all_positive.roc == (1.0, 1.0)  # FPR = TPR = 1, not the original study's (1.0, 0.7289)
    assert report.all_positive.pr == (1.0, report.n_positive / (report.n_positive + report.n_negative))
    assert report.all_positive.prg == (1.0, 0.0)
    for m in report.models:
        # rebuild the scores' curve from the model's own ROC and compare areas with scikit-learn
        assert 0.5 < m.areas.auroc < 1.0
        assert -1.0 < m.areas.auprg <= 1.0  # the original study printed 6.4 and 13.1: impossible
        assert m.prg.recall_gain[-1] == 1.0 and m.prg.precision_gain[-1] == 0.0
    # same scores through sklearn: refit the logistic regression as the experiment does
    from sklearn.linear_model import LogisticRegression

    x_tr, x_te, y_tr, y_te = train_test_split(
        ds.features, ds.labels, test_size=0.3, random_state=0, stratify=ds.labels
    )
    s = LogisticRegression(solver="liblinear").fit(x_tr, y_tr).predict_proba(x_te)[:, 1]
    a = curve_areas(y_te, s)
    p, r, _ = precision_recall_curve(y_te, s)
    assert abs(a.auroc - roc_auc_score(y_te, s)) <= 1e-12
    assert abs(a.aupr - auc(r, p)) <= 1e-12
    assert abs(a.average_precision - average_precision_score(y_te, s)) <= 1e-12
    lr = report.models[0]
    assert lr.name == "logistic regression" and lr.areas == a  # the experiment used the same scores
