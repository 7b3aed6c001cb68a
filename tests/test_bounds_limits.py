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
    from archcalc.models.zoo import build

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


# -- graph size: a huge zoo transformer is refused with its op count, before it is built ---------------------

def test_huge_transformer_refused_at_once_with_its_op_count(capsys):
    # gpt: 31 ops in a one-block graph and 24 per further block (gelu_new is eight ops), so 100,000 layers hold
    # 31 + 99,999 x 24 = 2,400,007 ops; the largest accepted is 1 + (20,000 - 31) // 24 = 833 layers (19,999 ops).
    start = time.process_time()
    err = _one_line_error(capsys, archcalc_main(["gpt", "--layers", "100000"]))
    assert time.process_time() - start < 1.0
    assert "layers: got 100000; the graph would hold 2,400,007 ops" in err and "layers <= 833" in err


@pytest.mark.parametrize("name", ["gpt", "llama"])
def test_transformer_op_estimate_equals_the_built_graph(name):
    from dataclasses import replace

    from archcalc.models.zoo_transformers import CONFIGS, build_transformer, transformer_ops

    for layers in (3, 7, 65):  # the oracle: the graph itself, built
        cfg = replace(CONFIGS[name], layers=layers)
        assert transformer_ops(cfg) == len(build_transformer(cfg).nodes)


def test_transformer_size_limit_is_exact():
    from dataclasses import replace

    from archcalc.models.zoo_transformers import CONFIGS, check_transformer_size

    check_transformer_size(replace(CONFIGS["gpt"], layers=833))  # 31 + 832 x 24 = 19,999 ops
    with pytest.raises(ValueError, match="834; the graph would hold 20,023 ops"):
        check_transformer_size(replace(CONFIGS["gpt"], layers=834))


def test_training_peak_of_a_huge_graph_refused(capsys):
    # 31 + 399 x 24 = 9,607 ops > 8,000: the training-step walk (quadratic in the ops) is refused up front
    start = time.process_time()
    err = _one_line_error(capsys, archcalc_main(["gpt", "--layers", "400", "--training", "--json"]))
    assert time.process_time() - start < 1.0
    assert "training: the graph holds 9,607 ops" in err and "leave training out" in err


def test_event_engine_huge_run_shows_its_estimate_and_progress(capsys, monkeypatch):
    # 10^8 updates on the event engine: 10^8 x 3.2e-6 CPU s ~ 320 s at the reference speed, under the hour
    # the guard allows, so it runs with a bar that carries the estimate from the start and advances block by
    # block (the first block is 2^16 updates: under a second). The first advance ends the run here.
    import contextlib

    import dlperf.progress
    from staleness.cli import main as staleness_main

    seen = {}

    class Bar:
        def advance(self, n=1, label=None):
            pass

        def update(self, completed):
            seen["first"] = completed
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def recording(total, description, enabled=None):
        seen.update(total=total, description=description, enabled=enabled)
        yield Bar()

    monkeypatch.setattr(dlperf.progress, "progress", recording)
    start = time.process_time()
    assert staleness_main(["simulate", "--engine", "event", "--updates", "100000000"]) == 130
    assert time.process_time() - start < 20
    assert seen["total"] == 100_000_000 and seen["enabled"] is None  # None: shown on a terminal
    assert seen["description"].startswith("simulating 100000000 updates (estimated ")
    assert int(seen["description"].split("estimated ")[1].split()[0]) >= 60
    assert 0 < seen["first"] < 2**16 + 1


@pytest.mark.parametrize("argv", [["theory", "--dist", "lognormal", "--learners", str(10**20), "--shape", "3", "--json"],
                                  ["theory", "--learners", str(10**20)]])
def test_theory_with_more_learners_than_memory_is_one_line(capsys, argv):
    # found by tests/test_cli_fuzz.py: (1.0,) * 10**20 raised OverflowError with a traceback; the tables need
    # 4 x 8 x 10^20 = 3.2e21 bytes, refused before any allocation
    from staleness.cli import main as staleness_main

    err = _one_line_error(capsys, staleness_main(argv))
    assert f"--learners: got {10**20}; its per-learner tables need 3.2e+21 bytes" in err


def test_simconfig_refuses_learners_beyond_memory():
    from staleness import SimConfig

    with pytest.raises(ValueError, match=r"^learners: got 10000000000000; its per-learner tables need 3.2e\+14"):
        SimConfig(learners=10**13, updates=10)


def test_local_distributed_workers_beyond_memory_are_refused_before_any_process_starts(capsys):
    # 10,000 workers + 1 server at >= 300 MiB each = 10,001 x 314,572,800 B = 3,146,042,572,800 B (2,930.0 GiB):
    # refused in one line with the most that fit, before the "starting" line and before torch is imported
    from staleness.cli import main as staleness_main
    from staleness.distributed import PROCESS_BYTES, check_local_processes

    with pytest.raises(ValueError, match=r"^workers: 10001 local processes need at least 2,930.0 GiB .* give at most 9 "):
        check_local_processes(10_000, available=10 * PROCESS_BYTES)  # 10 processes fit: 1 server + 9 workers
    check_local_processes(9, available=10 * PROCESS_BYTES)  # exactly fits
    assert staleness_main(["train", "--backend", "distributed", "--learners", "10000000", "--subset", "64"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("staleness: error: --learners: 10000001 local processes need") and "starting" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [
    ["mlcore", "clr", "--threads", "100000", "--dataset", "digits", "--subset", "96", "--epochs", "1"],
    ["staleness", "train", "--threads", "100000", "--subset", "64"],
])
def test_thread_counts_torch_cannot_start_are_one_line(argv, capsys):
    # torch.set_num_threads(100000) made numpy's next import fail with an ImportError traceback
    import importlib
    import os

    main = importlib.import_module(f"{argv[0]}.cli").main
    err = _one_line_error(capsys, main(argv[1:]))
    assert f"--threads: got 100000; give 1 to {4 * os.cpu_count()}" in err


def test_a_crosscheck_whose_real_run_takes_hours_is_refused_up_front():
    # vgg19 at 3x20000x20000, batch 2: its MACs (archcalc's count, checked against fvcore elsewhere) x 2 fvcore
    # passes / 1e11 MAC/s (faster than any CPU forward here) is over the 1 h limit: refused before torch runs
    from archcalc.check.crosscheck import CPU_MACS_PER_S, REAL_PASSES, check_real_run_time, real_run_seconds
    from archcalc.ir.evaluate import evaluate
    from archcalc.models.zoo import build

    ev = evaluate(build("vgg19"), (3, 20000, 20000), 2)
    assert real_run_seconds(ev) == REAL_PASSES * ev.total("macs") / CPU_MACS_PER_S > 3600
    with pytest.raises(ValueError, match=r"take at least [\d.]+ h on a CPU .* the limit is 1 h\); give a smaller"):
        check_real_run_time(ev)
    small = evaluate(build("alexnet"), (3, 64, 64), 1)
    assert check_real_run_time(small) < 1  # ~0.1 GMAC: no notice, no refusal


def test_a_crosscheck_refused_for_memory_prints_only_the_refusal(capsys):
    # alexnet at 3x20000x20000, batch 64 needs ~1.2 TB: the refusal is the only stderr line (no "at least N min")
    _one_line_error(capsys, archcalc_main(["crosscheck", "alexnet", "--input", "3x20000x20000", "--batch", "64"]))
