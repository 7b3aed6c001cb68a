"""Bias-variance memory: the estimate against tracemalloc's measured peak, the refusal before any
allocation (one line, exit 2, with the estimate and --force), --force, and the ridge overlay from the CLI."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from mlcore.biasvar import study as study_module
from mlcore.biasvar.memory import check_memory, estimate_study_bytes, format_bytes
from mlcore.biasvar.study import BiasVarianceConfig, bias_variance_study
from mlcore.cli import main


@pytest.mark.parametrize("kwargs", [
    {"n_datasets": 2000},  # least squares, 15 degrees: measured peak ~37 MB
    {"n_datasets": 1000, "test_size": 400},  # the predictions (15 x 1000 x 400 x 8 bytes = 48 MB) dominate
    {"n_datasets": 400, "ridge_alpha": 1.0, "degrees": (1, 5, 10)},  # longdouble ridge stacks
])
def test_estimate_brackets_the_measured_peak(kwargs):
    cfg = BiasVarianceConfig(**kwargs)
    bias_variance_study(degrees=(1,), n_datasets=2)  # imports and caches outside the measurement
    tracemalloc.start()
    try:
        bias_variance_study(cfg)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    estimate = estimate_study_bytes(cfg)
    assert peak > 10 * 2**20
    assert 0.8 * peak <= estimate <= 1.5 * peak, (estimate, peak)


def test_estimate_formula_by_hand():
    # least squares, D=100, n=40, T=10, 15 degrees (M=16), pool 1000:
    # data 8*100*(3*40+10) = 104,000; sampling 2*8*100*990 = 1,584,000;
    # fitting 3*8*100*40*16 + 2*8*100*16*16 = 1,536,000 + 409,600; predictions 8*15*100*10 = 120,000;
    # decomposition 6*8*100*10 = 48,000 -> 104,000 + max(1,584,000, 2,113,600) = 2,217,600
    assert estimate_study_bytes(BiasVarianceConfig()) == 2_217_600


def test_refusal_is_one_line_and_allocates_nothing(capsys, monkeypatch):
    def no_sampling(cfg):  # the refusal must come before the first large array
        raise AssertionError("sampled before the memory check")

    monkeypatch.setattr(study_module, "_sample", no_sampling)
    argv = ["bias-variance", "--datasets", "100000000", "--test-size", "900", "--train-size", "50"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    need = estimate_study_bytes(BiasVarianceConfig(n_datasets=100_000_000, test_size=900, train_size=50))
    assert err.count("\n") == 1 and err.startswith("mlcore: error: --datasets/--degrees/--test-size:")
    assert f"needs about {format_bytes(need)}" in err and "--force" in err
    assert need > 10 * 2**40  # 16.6 TiB: more than any machine the tests run on


def test_force_runs_what_the_check_refuses(capsys, monkeypatch):
    from mlcore.biasvar import memory

    monkeypatch.setattr(memory, "available_memory_bytes", lambda: 1000)  # pretend 1000 bytes are free
    small = ["bias-variance", "--datasets", "5", "--degrees", "1-3", "--json"]
    assert main(small) == 2
    assert "is available" in capsys.readouterr().err
    assert main([*small, "--force"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["n_datasets"] == 5
    with pytest.raises(ValueError, match="give force to try anyway"):
        check_memory(BiasVarianceConfig(n_datasets=5), available=10)
    assert check_memory(BiasVarianceConfig(n_datasets=5), available=10, force=True) > 10


def test_compare_ridge_overlay_from_the_cli(tmp_path, capsys):
    png = tmp_path / "bv.png"
    argv = ["bias-variance", "--datasets", "10", "--degrees", "1-4", "--compare-ridge", "1", "--json", "--plot", str(png)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["model"] == "least squares" and out["overlay"]["model"] == "ridge alpha=1 (raw monomials)"
    assert out["overlay"]["config"]["n_datasets"] == 10 and len(out["overlay"]["rows"]) == 4
    # the same data sets: the ridge study differs from least squares only through the fit
    assert out["overlay"]["rows"][0]["noise"] == out["rows"][0]["noise"]
    assert captured.err == f"wrote {png}\n" and png.read_bytes()[:4] == b"\x89PNG"
    assert main(["bias-variance", "--datasets", "10", "--compare-ridge", "1", "--csv"]) == 2
    assert "--compare-ridge" in capsys.readouterr().err
    assert main(["bias-variance", "--datasets", "10", "--compare-ridge", "-1"]) == 2
    assert "--compare-ridge: got -1.0" in capsys.readouterr().err


def test_a_huge_degree_range_is_refused_before_it_is_built(capsys):
    assert main(["bias-variance", "--degrees", "1-100000000"]) == 2
    assert "--degrees: got '1-100000000'; give degrees up to 10000" in capsys.readouterr().err
