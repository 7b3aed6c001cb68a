"""Strict JSON: no NaN / Infinity token in dlperf.jsonio's text or in any command's --json output."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from dlperf.jsonio import json_text


def strict_loads(text: str):
    """json.loads that fails on the NaN / Infinity / -Infinity tokens Python's json module accepts."""
    def refuse(token):
        raise AssertionError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def test_undefined_numbers_become_null():
    doc = {"nan": math.nan, "inf": [math.inf, -math.inf], "np": np.float64("nan"), "ok": (1, 2.5, True, None)}
    assert strict_loads(json_text(doc)) == {"nan": None, "inf": [None, None], "np": None, "ok": [1, 2.5, True, None]}


def test_numpy_values_become_plain_json():
    doc = {"i": np.int64(3), "f": np.float32(0.5), "b": np.bool_(True), "a": np.array([[1, 2], [3, 4]]),
           "x": np.array([1.0, np.nan])}
    assert strict_loads(json_text(doc, indent=None)) == {"i": 3, "f": 0.5, "b": True, "a": [[1, 2], [3, 4]],
                                                          "x": [1.0, None]}


def test_python_json_would_have_written_nan():
    # the oracle for why this module exists: the standard library writes a token strict parsers reject
    assert json.dumps(math.nan) == "NaN"
    with pytest.raises(AssertionError, match="NaN"):
        strict_loads(json.dumps({"z": math.nan}))


@pytest.mark.parametrize(("prog", "argv"), [
    ("mlcore", ["bias-variance", "--noise-std", "0", "--degrees", "1,2", "--datasets", "20", "--json"]),
    ("staleness", ["simulate", "--learners", "1", "--updates", "3", "--json"]),
    ("staleness", ["sweep", "--learners", "1,2", "--updates", "50", "--json"]),
    ("staleness", ["theory", "--learners", "3", "--dist", "pareto", "--shape", "1.5", "--json"]),
    ("archcalc", ["alexnet", "--json"]),
])
def test_cli_json_is_strict(capsys, prog, argv):
    import importlib

    main = importlib.import_module(f"{prog}.cli").main
    if prog == "mlcore":
        with pytest.warns(RuntimeWarning, match="z_score"):
            assert main(argv) == 0
    else:
        assert main(argv) == 0
    captured = capsys.readouterr()
    doc = strict_loads(captured.out)
    assert "Warning" not in captured.err and "Traceback" not in captured.err
    if prog == "mlcore":
        # zero noise: the Monte-Carlo standard error is 0, so the z-score is undefined -> null, not NaN
        assert [r["z_score"] for r in doc["rows"]] == [None, None]
        assert [r["noise"] for r in doc["rows"]] == [0.0, 0.0]
