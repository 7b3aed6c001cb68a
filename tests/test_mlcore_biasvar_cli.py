"""``mlcore bias-variance``: JSON / table / PNG output and one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlcore.biasvar import bias_variance_study
from mlcore.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_json_rows_match_the_library(capsys, tmp_path):
    png = tmp_path / "bv.png"
    argv = [
        "bias-variance",
        "--degrees",
        "1-3",
        "--datasets",
        "30",
        "--seed",
        "4",
        "--json",
        "--plot",
        str(png),
    ]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"]["degrees"] == [1, 2, 3] and out["config"]["noise_std"] == 0.3
    lib = bias_variance_study(degrees=(1, 2, 3), n_datasets=30, seed=4)
    for row, ref in zip(out["rows"], lib.rows, strict=True):
        assert {"degree", "bias2", "variance", "noise", "mse", "fixed_draw_bias2", "fixed_draw_mse"} <= set(row)
        assert row["degree"] == ref.degree and row["mse"] == ref.mse
        assert row["bias2"] + row["variance"] + row["noise"] == pytest.approx(row["mse"], rel=1e-12)
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_csv_round_trips_exact_floats(capsys):
    import csv
    import io

    assert main(["bias-variance", "--degrees", "2,4", "--datasets", "10", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    lib = bias_variance_study(degrees=(2, 4), n_datasets=10)
    assert [int(r["degree"]) for r in rows] == [2, 4]
    assert [float(r["mse"]) for r in rows] == [r.mse for r in lib.rows]


def test_ridge_table(capsys):
    assert main(["bias-variance", "--degrees", "10", "--datasets", "20", "--ridge", "1", "--table"]) == 0
    out = capsys.readouterr().out
    assert "ridge alpha=1" in out and "fixed-draw bias^2" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--degrees", "3-1"], "--degrees: got '3-1'"),
        (["--degrees", "x"], "--degrees: got 'x'"),
        (["--datasets", "0"], "--datasets: got 0"),
        (["--train-size", "-1"], "--train-size: got -1"),
        (["--noise-std", "-0.3"], "--noise-std: got -0.3"),
        (["--ridge", "-1"], "--ridge: got -1.0"),
        (["--standardize"], "--standardize"),
    ],
)
def test_bad_arguments_exit_2_one_line(capsys, argv, message):
    assert main(["bias-variance", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_subprocess_exit_2_without_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "mlcore", "bias-variance", "--noise-std", "-1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == "mlcore: error: --noise-std: got -1.0; give a standard deviation in [0, 1e100]"


def test_the_caption_explains_the_columns_only_with_explain(capsys):
    assert main(["bias-variance", "--datasets", "5", "--degrees", "1-2"]) == 0
    short = capsys.readouterr().out
    assert "--explain says what the columns mean" in short and "Monte-Carlo" not in short
    assert main(["bias-variance", "--datasets", "5", "--degrees", "1-2", "--explain"]) == 0
    long = capsys.readouterr().out
    assert "Monte-Carlo estimate" in " ".join(long.split()) and "--explain says" not in long
    # the numbers are the same either way: only the caption differs
    strip = [line for line in short.splitlines() if "│" in line]
    assert strip == [line for line in long.splitlines() if "│" in line]
