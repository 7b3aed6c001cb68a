"""Issue 22 items 4-6: every request bounded, extreme numbers refused in one line, argparse errors say what to give."""

from __future__ import annotations

import json
import time

import pytest

from archcalc.cli import main as archcalc_main
from archcalc.memory.liveness.fit import FIT_LIMIT
from archcalc.memory.units import parse_bytes, parse_count


def _one_line_error(capsys, status: int) -> str:
    err = capsys.readouterr().err
    assert status == 2
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_fit_at_the_search_limit_says_at_least(capsys):
    # vgg19 at batch 2**24 peaks at 441 TB (< 1 PB less the 5 % margin), so the search stops at its cap:
    # the answer is a lower bound, never "largest batch 16777216".
    assert archcalc_main(["fit", "vgg19", "--device-memory", "1PB"]) == 0
    out = capsys.readouterr().out
    assert f"largest batch at least {FIT_LIMIT} (the search limit" in out
    assert archcalc_main(["fit", "vgg19", "--device-memory", "1PB", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["batch"] == FIT_LIMIT and data["at_search_limit"] is True and data["search_limit"] == FIT_LIMIT
    assert data["next_peak_bytes"] is None


def test_fit_below_the_search_limit_is_not_flagged(capsys):
    assert archcalc_main(["fit", "vgg19", "--device-memory", "24GiB", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["at_search_limit"] is False and data["next_peak_bytes"] > data["usable_bytes"]


def test_fit_seq_at_the_search_limit(capsys):
    assert archcalc_main(["fit", "gpt", "--search-seq", "--device-memory", "1PB"]) == 0
    assert f"sequence length at least {FIT_LIMIT}" in capsys.readouterr().out


@pytest.mark.parametrize("text", ["1e999999999GB", "1e-999999999B", "-1e999999999GB", "1e25", "1000000000000000000000001"])
def test_absurd_sizes_refused_at_once(text):
    start = time.process_time()
    with pytest.raises(ValueError, match="^size: "):
        parse_bytes(text)
    with pytest.raises(ValueError, match="^params: "):
        parse_count(text)
    assert time.process_time() - start < 1  # 1e999999999 once built a billion-digit integer
    assert parse_bytes("1e24") == 10**24  # the largest accepted


@pytest.mark.parametrize("value, says", [("-5GB", "'-5GB' must be positive"),
                                         ("1e999999999GB", "beyond 10^24 bytes")])
def test_fit_memory_refused_in_one_line(capsys, value, says):
    err = _one_line_error(capsys, archcalc_main(["fit", "vgg19", "--device-memory", value]))
    assert "--device-memory" in err and says in err


def test_argparse_int_error_says_what_to_give(capsys):
    err = _one_line_error(capsys, archcalc_main(["vgg19", "--batch", "1e3"]))
    assert "invalid int value: '1e3'" in err and "such as 1000" in err


# ---------------------------------------------------------------- staleness: extreme numbers and heavy tails

@pytest.mark.parametrize("argv, says", [
    (["simulate", "--mean", "1e-320"], "--mean: got 1e-320; give a number in [1e-100, 1e100]"),
    (["simulate", "--speeds", "1e300,1,1,1"], "--speeds: got 1e+300"),
    (["simulate", "--dist", "lognormal", "--shape", "40"], "0 < sigma <= 5"),
    (["simulate", "--dist", "lognormal", "--shape", "20"], "0 < sigma <= 5"),
    (["simulate", "--apply-time", "1e308"], "--apply-time: got 1e+308"),
    (["simulate", "--apply-time", "1e100"], "the simulated clock would stop moving"),
    (["simulate", "--times", "1e308,1", "--times", "1,2"], "--times: got 1e+308 in trace 1"),
    (["theory", "--mean", "1e308"], "--mean: got 1e+308"),
])
def test_staleness_extreme_numbers_refused_in_one_line(capsys, argv, says):
    from staleness.cli import main

    start = time.process_time()
    err = _one_line_error(capsys, main(argv))
    assert says in err
    assert time.process_time() - start < 1


def test_staleness_apply_time_counts_the_pushes_it_lets_pile_up():
    # async: the server applies one update per apply_time, learners keep pushing one gradient per mean
    # time each: 10^6 updates x 1e9 s x 4 learners / 1 s = 4e15 gradients, refused with the estimate
    from staleness import SimConfig
    from staleness.estimate import check, estimate

    cfg = SimConfig(learners=4, apply_time=1e9, updates=10**6)
    assert estimate(cfg, calibrate=False).gradients == 4 * 10**15
    with pytest.raises(ValueError, match="updates: 4000000000000000 gradients take about"):
        check(cfg, stream=True, calibrate=False)


def test_staleness_pareto_near_one_finishes():
    # alpha = 1.000001: x_m = mean (a - 1) / a ~ 1e-6 x mean, so windows sized by the mean drew ~10^6 times
    # too many times (minutes); sized by the median it takes well under a second of CPU
    from staleness import SimConfig, simulate

    start = time.process_time()
    r = simulate(SimConfig(learners=16, dist="pareto", shape=1.000001, updates=1000), stream=True)
    assert time.process_time() - start < 5
    assert r.summary.updates == 1000


# ---------------------------------------------------------------- Python API validates like the CLI

def test_lr_suggestions_validate_their_inputs():
    import numpy as np

    from mlcore.lr_range import suggest_minimum, suggest_steepest, suggest_valley

    with pytest.raises(ValueError, match="every loss is NaN"):  # once returned 0.001 from all-NaN losses
        suggest_valley(np.logspace(-7, 1, 100), [float("nan")] * 100)
    with pytest.raises(ValueError, match=r"shapes \(3,\) and \(2,\)"):
        suggest_minimum([1e-3, 1e-2, 1e-1], [1.0, 0.5])
    for bad in (None, "abc"):
        with pytest.raises(ValueError, match="lrs, losses"):
            suggest_minimum(bad, bad)
    with pytest.raises(ValueError, match="same length"):
        suggest_steepest([1.0], [1.0, 2.0])


def test_biasvariance_degrees_must_be_integers():
    from mlcore.biasvar import BiasVarianceConfig

    with pytest.raises(ValueError, match=r"degrees=\(1.5, 2.7\) must be a sequence of integers"):
        BiasVarianceConfig(degrees=(1.5, 2.7))  # once truncated silently to (1, 2)
    with pytest.raises(ValueError, match="degrees=None"):
        BiasVarianceConfig(degrees=None)
    assert BiasVarianceConfig(degrees=(1, 3)).degrees == (1, 3)


def test_evaluate_refuses_nan_batch():
    from archcalc.ir.evaluate import evaluate
    from archcalc.zoo import build

    for bad in (float("nan"), 2.0, None, "2", True):
        with pytest.raises(ValueError, match="batch"):
            evaluate(build("vgg11"), (3, 32, 32), batch=bad)


@pytest.mark.parametrize("prog, argv, says", [
    ("mlcore", ["bias-variance", "--noise-std", "1e200"], "--noise-std: got 1e+200; give a standard deviation in [0, 1e100]"),
    ("staleness", ["validate", "--confidence", "1e-300"], "--confidence: got 1e-300; give a level in [0.5, 1 - 1e-12]"),
])
def test_ranges_where_the_computation_stays_finite(capsys, prog, argv, says):
    import importlib

    main = importlib.import_module(f"{prog}.cli").main
    err = _one_line_error(capsys, main(argv))
    assert says in err


@pytest.mark.parametrize("argv, says", [
    (["clr", "--base-lr", "0.01", "--max-lr", "1e300", "--epochs", "1"], "--max-lr: got 1e+300; give a number in (0, 1e+06]"),
    (["batch-size-sweep", "--lr", "1e300"], "--lr: got 1e+300; give a number in (0, 1e+06]"),
])
def test_huge_learning_rates_refused_before_training(capsys, argv, says):
    from mlcore.cli import main

    err = _one_line_error(capsys, main(argv))  # once a RuntimeError traceback from torch's param.add_
    assert says in err


@pytest.mark.parametrize("argv, says", [
    (["clr", "--base-lr", "0.001", "--max-lr", "0.01", "--epochs", "1000000000"], "--epochs: got 1000000000; that is"),
    (["batch-size-sweep", "--epochs", "100000000"], "--epochs: got 100000000; that is"),
    (["lr-range-test", "--accumulation-steps", "1000000"],
     "--accumulation-steps: got 1000000; that is 100000000 batches (100 steps x 1000000)"),
])
def test_training_requests_bounded_before_they_start(capsys, argv, says):
    from mlcore.cli import main

    start = time.process_time()
    err = _one_line_error(capsys, main(argv))
    assert says in err and "more than 10000000" in err
    assert time.process_time() - start < 5  # refused before any training (data loading only)
