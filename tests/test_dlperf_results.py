"""Every public result object reads well: a short repr, ``to_dict()`` of plain JSON data, ``to_pandas()``.

Each result comes from a real call of the documented function on a small real example; the repr must stay
under ~300 characters (it ran to 15-46 thousand before), ``to_dict()`` must survive ``json.dumps`` with
``allow_nan=False`` and carry the same headline numbers as the object, and ``dataclasses.asdict`` must work.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import sys

import pytest

from dlperf.results import PANDAS_MISSING, REPR_LIMIT, FrozenDict, Result, plain


def _archcalc():
    import archcalc
    from archcalc.lm.inference import kv_cache, prefill_decode
    from archcalc.lm.per_token import per_token
    from archcalc.models.zoo_transformers import CONFIGS

    vgg = archcalc.build("vgg11")
    return {
        "evaluate": archcalc.evaluate(vgg, (3, 32, 32)),
        "report": archcalc.report(archcalc.build("resnet50")),
        "peak_memory": archcalc.peak_memory(vgg, (3, 32, 32), training=True, optimizer="adam"),
        "fit": archcalc.fit(lambda b, s: archcalc.build("resnet18"), 256 * 2**20, input_shape=(3, 64, 64),
                            training=True),
        "closed_form": archcalc.closed_form(vgg),
        "per_token": per_token(CONFIGS["gpt2"], 1024),
        "kv_cache": kv_cache(CONFIGS["gpt2"], 1024),
        "prefill_decode": prefill_decode(CONFIGS["gpt2"], 1024),
    }


def _staleness():
    from staleness import SimConfig, simulate
    from staleness.sweep import sweep
    from staleness.theory import theory
    from staleness.validate import Case, validate

    res = simulate(SimConfig(learners=4, updates=3000, seed=1))
    return {
        "simulate": res, "summary": res.summary, "gradients": res.gradients,
        "theory": theory("k-sync", learners=16, k=8, dist="exp", mean=1.0),
        "validate": validate([Case("k-sync", 4, 2, "exp")], updates=2000, seed=1),
        "sweep": sweep(policies=["async", "sync"], learners=[2, 4], dists=["exp"], updates=2000, seed=0),
    }


def _mlcore():
    from mlcore import bias_variance_study
    from mlcore.biasvar.decompose import decompose_predictions
    from mlcore.curves import curve_areas, evaluate_models, roc_curve
    from mlcore.lr_range import lr_schedule, range_test_curve

    lrs = lr_schedule(1e-4, 1.0, 200, "exp")
    return {
        "range_test_curve": range_test_curve(lrs, [2.0 - 0.001 * i for i in range(200)]),
        "bias_variance_study": bias_variance_study(n_datasets=20, degrees=(1, 2, 3)),
        "evaluate_models": evaluate_models([1, 0, 1, 0] * 50, {"m": [0.9, 0.8, 0.7, 0.1] * 50}),
        "curve_areas": curve_areas([1, 1, 0, 0, 1, 0], [.8, .8, .6, .4, .4, .2]),
        "roc_curve": roc_curve([1, 0] * 500, list(range(1000))),
        "decompose": decompose_predictions([[1.0, 2.0], [3.0, 2.0]], [1.0, 1.0], noise_var=0.25),
    }


@pytest.fixture(scope="module")
def results():
    return {**_archcalc(), **_staleness(), **_mlcore()}


def test_every_public_result_is_a_result(results):
    for name, r in results.items():
        assert isinstance(r, Result), name


def test_reprs_are_short(results):
    for name, r in results.items():
        text = repr(r)
        assert len(text) <= REPR_LIMIT, (name, len(text), text)
        assert "\n" not in text and text.startswith(type(r).__name__ + "("), (name, text)


def test_repr_headlines_are_the_numbers():
    import archcalc

    ev = archcalc.evaluate(archcalc.build("vgg11"), (3, 32, 32))
    # torchvision's vgg11 has 132,863,336 parameters whatever the input size
    assert repr(ev).startswith("Evaluation(network='vgg11', input_shape=(3, 32, 32), batch=1, rows=<")
    assert repr(ev).endswith("params=132,863,336, macs=" + f"{ev.total('macs'):,})")
    rep = archcalc.report(archcalc.build("resnet50"))
    # torchvision's resnet50: 25,557,032 parameters, 4,089,184,256 MACs at 224 x 224 (fvcore agrees)
    assert repr(rep).endswith("params=25,557,032, macs=4,089,184,256)")


def test_to_dict_is_plain_json(results):
    for name, r in results.items():
        d = r.to_dict()
        text = json.dumps(d, allow_nan=False)
        assert json.loads(text) == d, name
        for key in _keys(d):
            assert key == key.lower() and " " not in key and "^" not in key, (name, key)


def _keys(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from _keys(v)
    elif isinstance(obj, list):
        for v in obj[:3]:
            yield from _keys(v)


def test_to_dict_carries_the_numbers(results):
    rep = results["report"]
    d = rep.to_dict()
    assert d["totals"]["params"] == rep.totals["params"] == 25_557_032
    assert len(d["rows"]) == len(rep.rows) and d["rows"][0]["name"] == rep.rows[0].name
    p = results["peak_memory"]
    assert p.to_dict()["breakdown"]["total_bytes"] == p.breakdown.total_bytes == p.peak_bytes
    s = results["summary"]
    assert results["simulate"].to_dict(gradients=False)["summary"] == s.to_dict()


def test_asdict_works_on_report(results):
    rep = results["report"]
    d = dataclasses.asdict(rep)
    assert d["totals"]["params"] == 25_557_032 and len(d["rows"]) == len(rep.rows)
    with pytest.raises(TypeError, match="read-only"):
        rep.totals["params"] = 0
    for r in results.values():
        dataclasses.asdict(r)  # raised on Report before (a MappingProxyType cannot be deep-copied)


def test_plain_turns_formulas_and_numpy_into_json():
    import numpy as np
    import sympy

    h = sympy.Symbol("H")
    assert plain({"a": sympy.Integer(3), "b": 2 * h, "c": np.float32(0.5), "d": np.array([[1, 2]]),
                  "e": float("nan"), "f": FrozenDict(x=(1,))}) == {
        "a": 3, "b": "2*H", "c": 0.5, "d": [[1, 2]], "e": None, "f": {"x": [1]}}


def test_deprecated_spellings_warn_and_agree(results):
    b = results["peak_memory"].breakdown
    with pytest.warns(DeprecationWarning, match="to_dict"):
        assert b.as_dict() == b.to_dict()
    from mlcore.biasvar import BiasVarianceConfig

    c = BiasVarianceConfig()
    with pytest.warns(DeprecationWarning, match="to_dict"):
        assert c.as_dict() == c.to_dict()


def test_to_pandas(results):
    pd = pytest.importorskip("pandas")
    rep = results["report"]
    df = rep.to_pandas()
    assert isinstance(df, pd.DataFrame) and len(df) == len(rep.rows)
    assert int(df["params"].sum()) == rep.totals["params"]
    th = results["theory"]
    assert list(th.to_pandas()["quantity"]) == [f.quantity for f in th.formulas]
    res = results["simulate"]
    g = res.to_pandas()  # one row per gradient record
    assert len(g) == len(res.gradients) and g["staleness"].tolist() == res.gradients.staleness.tolist()
    roc = results["roc_curve"]
    assert results["roc_curve"].to_pandas()["tpr"].tolist() == roc.tpr.tolist()
    for name, r in results.items():
        df = r.to_pandas()
        assert isinstance(df, pd.DataFrame) and len(df) >= 1, name


def test_to_pandas_without_pandas_names_the_extra(results, monkeypatch):
    real_import = builtins.__import__

    def blocked(name, *args, **kwargs):
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "pandas", raising=False)
    monkeypatch.setattr(builtins, "__import__", blocked)
    with pytest.raises(ImportError) as err:
        results["report"].to_pandas()
    assert str(err.value) == PANDAS_MISSING and "dlperf[pandas]" in str(err.value)
    assert "\n" not in str(err.value)


def test_curated_top_levels_are_lazy_and_complete():
    import subprocess
    from pathlib import Path

    code = (
        "import sys, archcalc, staleness, mlcore\n"
        "heavy = sorted(m for m in ('torch', 'sympy', 'numpy', 'sklearn') if m in sys.modules)\n"
        "assert heavy == [], heavy\n"
        "want = {'evaluate', 'from_torch', 'report', 'peak_memory', 'fit', 'crosscheck', 'closed_form', 'Graph',\n"
        "        'GraphBuilder', 'build'}\n"
        "assert want <= set(archcalc.__all__), want - set(archcalc.__all__)\n"
        "assert {'simulate', 'SimConfig', 'theory', 'validate', 'sweep', 'estimate'} <= set(staleness.__all__)\n"
        "from archcalc.costs.report import Report\n"  # importing the same-named modules leaves the functions bound
        "from staleness.theory import Theory\n"
        "from mlcore.stale_training import StaleTrainingResult\n"
        "for pkg in (archcalc, staleness, mlcore):\n"
        "    for name in pkg.__all__:\n"
        "        obj = getattr(pkg, name)\n"
        "        assert not isinstance(obj, type(sys)), (pkg.__name__, name)\n"
        "        assert name in dir(pkg)\n"
        "print(archcalc.report.__module__, staleness.theory.__module__, mlcore.stale_training.__module__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["archcalc.costs.report", "staleness.theory", "mlcore.stale_training"]


def test_crosscheck_result_reads_well():
    pytest.importorskip("torch")
    import archcalc

    c = archcalc.crosscheck("inception-small", (1, 8, 8))
    assert isinstance(c, Result) and len(repr(c)) <= REPR_LIMIT, repr(c)
    assert repr(c).startswith("CrossCheck(model='inception-small', ")
    d = json.loads(json.dumps(c.to_dict(), allow_nan=False))
    assert len(d["rows"]) == len(c.rows) and d["model"] == "inception-small"
    dataclasses.asdict(c)
