"""``mlcore curves``: files in, JSON / table / PNG out, one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlcore.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _write(tmp_path, name, values):
    p = tmp_path / name
    p.write_text("\n".join(str(v) for v in values) + "\n")
    return str(p)


def test_scores_and_labels_files_json(tmp_path, capsys):
    s = _write(tmp_path, "s.txt", [0.8, 0.8, 0.6, 0.4, 0.4, 0.2])
    y = _write(tmp_path, "y.txt", [1, 1, 0, 0, 1, 0])
    png = tmp_path / "c.png"
    assert main(["curves", "--scores", s, "--labels", y, "--json", "--plot", str(png)]) == 0
    out = json.loads(capsys.readouterr().out)
    areas = out["models"][s]
    assert abs(areas["auprg"] - 0.7083333333333334) <= 1e-12  # reference implementation value
    assert areas["auroc"] == pytest.approx(15 / 18)  # (4 + 5 + 6) / (2*3*3)
    assert set(areas) == {"auroc", "aupr", "average_precision", "auprg"}
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_table_output(tmp_path, capsys):
    s = _write(tmp_path, "s.txt", [0.9, 0.1, 0.5])
    y = _write(tmp_path, "y.txt", [1, 0, 0])
    assert main(["curves", "--scores", s, "--labels", y]) == 0
    assert "AUPRG" in capsys.readouterr().out


@pytest.mark.slow
def test_blood_transfusion_json(capsys):
    assert main(["curves", "--dataset", "blood-transfusion", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["models"]) == {"logistic regression", "AdaBoost (100)"}
    for areas in out["models"].values():
        assert areas["auprg"] <= 1.0


@pytest.mark.parametrize(
    ("scores", "labels", "message"),
    [
        ([0.1, "nan"], [1, 0], "NaN"),
        ([0.1, 0.2, 0.3], [1, 0], r"holds 3 values but --labels .* holds 2"),
        ([0.1, 0.2], [1, 1], "every label in .* is positive"),
        (["x", 0.2], [1, 0], "line 1"),
    ],
)
def test_bad_files_exit_2_with_one_line(tmp_path, capsys, scores, labels, message):
    s = _write(tmp_path, "s.txt", scores)
    y = _write(tmp_path, "y.txt", labels)
    assert main(["curves", "--scores", s, "--labels", y]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mlcore: error:")
    import re

    assert re.search(message, err)


def test_missing_file_and_missing_partner(tmp_path, capsys):
    assert main(["curves", "--scores", str(tmp_path / "nope.txt"), "--labels", str(tmp_path / "y")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["curves", "--scores", _write(tmp_path, "s.txt", [1, 2])]) == 2
    assert "give both files" in capsys.readouterr().err


def test_subprocess_bad_input_exit_2_no_traceback(tmp_path):
    s = _write(tmp_path, "s.txt", [0.1, 0.2])
    y = _write(tmp_path, "y.txt", [1, 1])
    proc = subprocess.run(
        [sys.executable, "-m", "mlcore", "curves", "--scores", s, "--labels", y],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "is positive; the curves need both classes" in proc.stderr
