"""Issue 22, item 5: public API calls given None or a wrong type raise one error naming the parameter
(``ArgumentTypeError``: a TypeError and a ValueError) instead of an AttributeError from deep inside; flags are
True or False, never a truthy string (``report(training="no")`` trained)."""

from __future__ import annotations

import importlib

import pytest

from dlperf.validate import ArgumentTypeError

# (module, function, the parameter given a wrong value, other arguments); found by calling every name in
# the packages' __all__ with None, "x", 1.5, [] and object() (AttributeError in each before the fix)
CALLS = [
    ("archcalc", "evaluate", "graph", {}),
    ("archcalc", "report", "network", {}),
    ("archcalc", "peak_memory", "graph", {}),
    ("archcalc", "closed_form", "network", {}),
    ("archcalc", "crosscheck", "model", {}),
    ("archcalc", "build", "name", {}),
    ("mlcore.biasvar", "study_table", "study", {}),
    ("mlcore.biasvar", "study_json", "study", {}),
    ("mlcore.biasvar", "plot_study", "study", {"path": "x.png"}),
    ("mlcore.curves", "report_table", "report", {}),
    ("mlcore.curves", "report_json", "report", {}),
    ("mlcore.curves", "plot_report", "report", {"path": "x.png"}),
    ("mlcore", "evaluate_models", "scores", {"labels": [0, 1]}),
    ("mlcore", "clr_bounds", "result", {}),
    ("mlcore", "stale_training", "data", {}),
    ("mlcore", "compare_policies", "data", {}),
    ("staleness", "estimate", "cfg", {}),
]


@pytest.mark.parametrize(("module", "name", "param", "others"), CALLS, ids=[f"{m}.{n}" for m, n, _, _ in CALLS])
@pytest.mark.parametrize("bad", [None, 1.5, [], object()], ids=["None", "float", "list", "object"])
def test_wrong_type_names_the_parameter(module, name, param, others, bad, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if name == "crosscheck" and bad == []:
        bad = ()  # a list is not a model either; the tuple shows a second container type
    func = getattr(importlib.import_module(module), name)
    with pytest.raises(ArgumentTypeError, match=rf"^{param}=.* must be ") as info:
        func(**{param: bad}, **others)
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)
    assert list(tmp_path.iterdir()) == []  # nothing written (plot_* refuse before saving)


def test_summarize_refuses_a_missing_config():
    import numpy as np

    from staleness import summarize

    with pytest.raises(ArgumentTypeError, match=r"^cfg=None must be a staleness.SimConfig"):
        summarize(None, None, np.zeros(0), 0.0, np.zeros(0))


@pytest.mark.parametrize("value", ["no", "False", 0, 1, None])
def test_report_training_must_be_a_bool(value):
    # "no" is a non-empty string, so truthy: report() trained on it
    from archcalc import build, report

    with pytest.raises(ArgumentTypeError, match=rf"^training={value!r} must be True or False"):
        report(build("alexnet"), training=value)


def test_report_training_true_and_numpy_bool_still_work():
    import numpy as np

    from archcalc import build, report

    net = build("alexnet")
    assert report(net, training=np.bool_(True)).totals == report(net, training=True).totals


def test_graph_fields_must_be_tuples():
    from archcalc import Graph

    with pytest.raises(ArgumentTypeError, match=r"^outputs='x' must be a tuple"):
        Graph("g", "", (), (), "x")


def test_peak_memory_training_must_be_a_bool():
    from archcalc import build, peak_memory

    with pytest.raises(ArgumentTypeError, match=r"^training='no' must be True or False"):
        peak_memory(build("alexnet"), training="no")
