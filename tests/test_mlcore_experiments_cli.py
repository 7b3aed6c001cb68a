"""The experiment commands end to end on tiny digits subsets: table, JSON, CSV, plot, one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from mlcore.cli import main as mlcore_main  # noqa: E402
from staleness.cli import main as staleness_main  # noqa: E402

pytestmark = pytest.mark.torch
ROOT = Path(__file__).resolve().parents[1]
TINY = ["--subset", "60", "--device", "cpu", "--threads", "1"]


def _png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_lr_range_test_json_and_plot(capsys, tmp_path):
    plot = tmp_path / "lr.png"
    assert mlcore_main(["lr-range-test", *TINY, "--num-iter", "20", "--batch", "16", "--json",
                        "--plot", str(plot)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"lrs", "losses", "suggestion"} <= set(out)
    assert len(out["lrs"]) == len(out["losses"]) <= 20 and out["lrs"][0] == 1e-6
    assert _png(plot)
    # deterministic for a seed on the CPU: a second run prints the same JSON
    assert mlcore_main(["lr-range-test", *TINY, "--num-iter", "20", "--batch", "16", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == out


def test_lr_range_test_table_and_epochs(capsys):
    # --epochs 1 with 48 training images and batch 16: 3 steps (at least 2); too few points remain after
    # torch-lr-finder's skips (first 10, last 5) for a steepest-descent suggestion, which warns + NaN
    with pytest.warns(UserWarning, match="no suggestion"):
        assert mlcore_main(["lr-range-test", *TINY, "--epochs", "1", "--batch", "16"]) == 0
    text = capsys.readouterr().out
    assert "LR range test" in text and "steepest descent" in text and "of 3 steps" in text


def test_clr_table_json_and_range_test_bounds(capsys, tmp_path):
    assert mlcore_main(["clr", *TINY, "--epochs", "2", "--batch", "16", "--base-lr", "0.01",
                        "--max-lr", "0.1", "--mode", "triangular2", "--plot", str(tmp_path / "c.png")]) == 0
    assert "CLR triangular2" in capsys.readouterr().out and _png(tmp_path / "c.png")
    assert mlcore_main(["clr", *TINY, "--epochs", "1", "--batch", "16", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["max_lr"] == pytest.approx(4 * out["base_lr"]) and len(out["val_acc"]) == 1


def test_batch_size_sweep_csv_json(capsys, tmp_path):
    args = ["batch-size-sweep", *TINY, "--epochs", "1", "--min-batch", "16", "--max-batch", "32"]
    assert mlcore_main([*args, "--csv", "--plot", str(tmp_path / "b.png")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and lines[1].startswith("fixed,16,0.01,3,")  # ceil(48 / 16) = 3 steps
    assert _png(tmp_path / "b.png")
    assert mlcore_main([*args, "--json", "--rule", "linear"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [(r["batch_size"], r["lr"]) for r in rows] == [(16, 0.01), (32, 0.02)]


def test_staleness_train_simulated(capsys, tmp_path):
    assert staleness_main(["train", *TINY, "--epochs", "2", "--policy", "sync", "async", "k-batch-sync",
                           "--learners", "3", "--plot", str(tmp_path / "s.png")]) == 0
    text = capsys.readouterr().out
    assert "k-batch-sync (K=2)" in text and "alpha/tau" in text and _png(tmp_path / "s.png")
    assert "\u2026" not in text  # no cell cut short with an ellipsis when stdout is not a terminal
    assert staleness_main(["train", *TINY, "--epochs", "1", "--policy", "async", "--no-staleness-aware",
                           "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["label"] for r in out["runs"]] == ["async"] and out["backend"] == "simulated"
    # the comma list every staleness command takes (sweep --policy sync,async) works here too
    assert staleness_main(["train", *TINY, "--epochs", "1", "--policy", "sync,async", "--no-staleness-aware",
                           "--json"]) == 0
    assert [r["label"] for r in json.loads(capsys.readouterr().out)["runs"]] == ["sync", "async"]


@pytest.mark.slow
def test_staleness_train_distributed_json(capsys, tmp_path):
    assert staleness_main(["train", "--backend", "distributed", *TINY, "--learners", "2", "--pushes", "60",
                           "--json", "--plot", str(tmp_path / "d.png")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["backend"] == "distributed" and sum(out["records"]["applied"]) == 60
    assert out["replay_matches"] == 1.0 and _png(tmp_path / "d.png")


@pytest.mark.parametrize(("main", "argv", "message"), [
    (mlcore_main, ["lr-range-test", "--subset", "0"], "--subset: got 0"),
    (mlcore_main, ["clr", "--subset", "60", "--base-lr", "0.1"], "--base-lr/--max-lr"),
    (mlcore_main, ["batch-size-sweep", "--min-batch", "64", "--max-batch", "8"], "--max-batch: got 8"),
    (mlcore_main, ["lr-range-test", "--plot", "/no/such/dir/x.png"], "--plot: folder"),
    (staleness_main, ["train", "--backend", "distributed", "--policy", "sync"], "async only"),
    (staleness_main, ["train", "--policy", "hogwild", "--subset", "60"], "--policy: got 'hogwild'"),
])
def test_bad_input_is_one_line(capsys, main, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("pkg", "argv"), [("mlcore", ["lr-range-test", "--subset", "5"]),
                                           ("staleness", ["train", "--learners", "0", "--subset", "60"])])
def test_subprocess_exit_status(pkg, argv):
    proc = subprocess.run([sys.executable, "-m", pkg, *argv], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "error:" in proc.stderr
