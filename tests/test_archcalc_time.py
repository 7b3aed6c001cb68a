"""archcalc time: device profiles, the per-op roofline, ring collectives, the command, and the papers.

Oracles: hand arithmetic (in the comments), exact Fractions for the papers' formulas (Narayanan et al. 2021,
Kaplan et al. 2020 / Hoffmann et al. 2022), the per-layer report's own totals for MFU, and a subprocess's
``sys.modules`` for "no torch".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest

from archcalc.ir.evaluate import evaluate
from archcalc.models.zoo_transformers import CONFIGS, build_transformer, with_sizes
from archcalc.time.collectives import ring_all_gather, ring_all_reduce, ring_reduce_scatter
from archcalc.time.estimates import (
    exact_training_flops,
    kaplan_compute,
    megatron_flops,
    megatron_training_seconds,
    plan_run,
)
from archcalc.time.profiles import DTYPES, builtin_profiles, get_profile, load_profile_file
from archcalc.time.roofline import Efficiency, op_time, step_time

ROOT = Path(__file__).resolve().parents[1]
H100 = get_profile("h100")


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "archcalc", "time", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)


# --- profiles ---------------------------------------------------------------------------------------------

def test_every_builtin_profile_names_its_source_and_has_positive_figures():
    names = {"v100", "a100-40gb", "a100-80gb", "h100", "h100-pcie", "h200", "l4", "t4", "mi250x", "mi300x",
             "tpu-v4", "tpu-v5e"}
    profiles = builtin_profiles()
    assert set(profiles) == names
    for p in profiles.values():
        assert p.source and p.peak_flops and set(p.peak_flops) <= set(DTYPES)
        assert p.memory_bandwidth > 0 and p.memory_bytes > 0 and p.interconnect_bandwidth > 0


def test_datasheet_figures_of_a_few_devices():
    # dense: H100 SXM bf16 1,979 sparse / 2 = 989.4 TFLOP/s; 3.35 TB/s; NVLink 900 GB/s total = 450 per direction
    assert (H100.peak("bf16"), H100.peak("fp8"), H100.memory_bandwidth) == (989.4e12, 1978.9e12, 3.35e12)
    assert H100.interconnect_bandwidth == 450e9
    a100 = get_profile("A100-80GB")
    assert (a100.peak("bf16"), a100.peak("tf32"), a100.memory_bandwidth, a100.memory_bytes) == (312e12, 156e12,
                                                                                                2039e9, 80e9)
    v5e = get_profile("tpu-v5e")  # Cloud TPU v5e page: 197 TFLOP/s bf16, 16 GB, 819 GB/s
    assert (v5e.peak("bf16"), v5e.memory_bandwidth, v5e.memory_bytes) == (197e12, 819e9, 16e9)


def test_a_dtype_the_device_lacks_is_refused_naming_the_ones_it_has():
    with pytest.raises(ValueError, match=r"T4 .* has no bf16 peak; it has fp32, fp16"):
        get_profile("t4").peak("bf16")


def test_user_profile_files_toml_and_json(tmp_path):
    toml = tmp_path / "lab.toml"
    toml.write_text('[mygpu]\nname = "Lab GPU"\npeak_tflops = { bf16 = 100, fp32 = 10 }\nmemory_bandwidth_gbs = 1000\n'
                    'memory_gb = 24\ninterconnect_gbs = 25\nsource = "our measurement"\n')
    p = get_profile("mygpu", str(toml))
    assert (p.peak("bf16"), p.memory_bandwidth, p.origin) == (100e12, 1000e9, str(toml))
    js = tmp_path / "one.json"
    js.write_text(json.dumps({"name": "One", "peak_tflops": {"fp16": 50}, "memory_bandwidth_gbs": 500,
                              "memory_gb": 8, "interconnect_gbs": 16, "source": "x"}))
    assert load_profile_file(str(js))["one"].peak("fp16") == 50e12


def test_bad_device_input_is_one_line_exit_2(tmp_path):
    r = cli("gpt2", "--device", "h1000")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "known devices: v100" in r.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[x]\nname = "x"\npeak_tflops = { bf16 = 1 }\nmemory_gb = 1\ninterconnect_gbs = 1\nsource = "s"\n')
    r = cli("gpt2", "--device", "x", "--device-file", str(bad))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "missing field 'memory_bandwidth_gbs'" in r.stderr
    r = cli("gpt2", "--device", "t4", "--precision", "bf16")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--precision: NVIDIA T4 16 GB (t4) has no bf16 peak" in r.stderr


def test_loading_profiles_imports_neither_torch_nor_sympy():
    code = ("import sys; from archcalc.time.profiles import get_profile; get_profile('h100'); "
            "print('torch' in sys.modules, 'sympy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60).stdout
    assert out.split() == ["False", "False"]


# --- roofline by hand ---------------------------------------------------------------------------------------

def test_gemm_on_h100_bf16_is_compute_bound():
    # C = A B, 4096 x 4096 x 4096: 2 * 4096^3 = 137,438,953,472 FLOPs; bytes: A, B, C in bf16 = 3 * 4096^2 * 2
    # = 100,663,296. compute 137,438,953,472 / 989.4e12 = 138.91 us; memory 100,663,296 / 3.35e12 = 30.05 us
    t = op_time("gemm", "MatMul", "forward", flops=2 * 4096**3, elementwise_ops=0, bytes_=3 * 4096**2 * 2,
                profile=H100, dtype="bf16")
    assert t.bound == "compute"
    assert t.compute_s == pytest.approx(137_438_953_472 / 989.4e12) and t.time_s == t.compute_s
    assert t.memory_s == pytest.approx(100_663_296 / 3.35e12)


def test_elementwise_add_is_memory_bound():
    # z = x + y over 2^24 bf16 elements: 2^24 adds at the fp32 vector peak 67e12 -> 0.25 us; bytes read x, y and
    # write z: 3 * 2^24 * 2 = 100,663,296 -> 30.05 us
    t = op_time("add", "Add", "forward", flops=0, elementwise_ops=2**24, bytes_=3 * 2**24 * 2, profile=H100,
                dtype="bf16")
    assert t.bound == "memory" and t.time_s == pytest.approx(100_663_296 / 3.35e12)
    assert t.compute_s == pytest.approx(2**24 / 67e12)


def test_efficiencies_and_launch_overhead():
    kw = {"flops": 2 * 4096**3, "elementwise_ops": 0, "bytes_": 0, "profile": H100, "dtype": "bf16"}
    full = op_time("g", "MatMul", "forward", **kw)
    half = op_time("g", "MatMul", "forward", efficiency=Efficiency(compute=0.5, launch_overhead=5e-6), **kw)
    assert half.time_s == pytest.approx(2 * full.time_s + 5e-6)
    with pytest.raises(ValueError, match="compute_efficiency: got 1.5"):
        Efficiency(compute=1.5)


def test_gpt2_step_rows_by_hand_and_mfu_from_the_report():
    from archcalc.costs.report import report

    ev = evaluate(build_transformer(CONFIGS["gpt2"], 1024), (1024,), 8, training=True)
    step = step_time(ev, H100, precision="bf16-mixed", training=True, optimizer="adam")
    fc = next(o for o in step.ops if o.name == "transformer.h.0.mlp.c_fc" and o.phase == "forward")
    # c_fc: 8*1024 tokens x 768 -> 3072: MACs 8*1024*768*3072 = 19,327,352,832; bytes: input 8*1024*768 and
    # output 8*1024*3072 in bf16 (x2), weights 768*3072 + 3072 in fp32 (autocast keeps fp32 parameters, x4)
    assert fc.flops == 2 * 19_327_352_832
    assert fc.bytes == (8 * 1024 * 768 + 8 * 1024 * 3072) * 2 + (768 * 3072 + 3072) * 4
    assert fc.bound == "compute" and fc.compute_s == pytest.approx(2 * 19_327_352_832 / 989.4e12 +
                                                                   fc.elementwise_ops / 67e12)
    # adam step: read p, g, m, v; write p, m, v = 7 fp32 tensors of 124,439,808 parameters
    opt = next(o for o in step.ops if o.phase == "optimizer")
    assert opt.bytes == 7 * 4 * 124_439_808 and opt.bound == "memory"
    rep = report(build_transformer(CONFIGS["gpt2"], 1024), (1024,), batch=8, training=True)
    assert step.model_flops == 2 * (rep.totals["macs"] + rep.totals["backward_macs"])
    assert step.mfu == pytest.approx(step.model_flops / (step.time_s * 989.4e12))
    assert step.time_s == pytest.approx(sum(o.time_s for o in step.ops))


# --- collectives --------------------------------------------------------------------------------------------

def test_ring_formulas_by_hand():
    S, B, a = Fraction(10**9), Fraction(450 * 10**9), Fraction(1, 10**5)
    # all-reduce over 8: 2 * 7/8 * 1e9 / 450e9 + 2 * 7 * 10 us = 7/1800 + 14/1e5
    assert ring_all_reduce(S, 8, B, a) == Fraction(7, 1800) + Fraction(14, 10**5)
    # all-gather / reduce-scatter over 4: 3/4 * 1e9 / 450e9 + 3 alpha = 1/600 + 3/1e5
    assert ring_all_gather(S, 4, B, a) == ring_reduce_scatter(S, 4, B, a) == Fraction(1, 600) + Fraction(3, 10**5)
    assert ring_all_reduce(S, 1, B, a) == 0


def test_data_parallel_gradient_all_reduce_in_the_step():
    ev = evaluate(build_transformer(CONFIGS["gpt2"], 128), (128,), 2, training=True)
    step = step_time(ev, H100, precision="bf16-mixed", training=True, data_parallel=8)
    ar = next(o for o in step.ops if o.name == "gradient all-reduce")
    # fp32 gradients of 124,439,808 parameters, 8 ranks, 450e9 B/s: 2 * 7/8 * 4 * 124,439,808 / 450e9
    assert ar.bound == "communication" and ar.time_s == pytest.approx(2 * 7 / 8 * 4 * 124_439_808 / 450e9)


def test_tensor_parallel_all_reduces_forward_and_backward():
    from archcalc.parallel.rank_graph import rank_graph

    ev = evaluate(rank_graph(CONFIGS["gpt2"], 128, tensor_parallel=4), (128,), 2, training=True)
    step = step_time(ev, H100, precision="bf16", training=True, tensor_parallel=4)
    comm = [o for o in step.ops if o.comm_s]
    # forward (Megatron's g): two row-parallel all-reduces per layer (attention, MLP) x 12 layers, plus the
    # vocabulary-parallel embedding's = 25; backward (f): one before each of the 24 column-parallel layer inputs
    # and the LM head's = 25, the same sizes. Each sums B s h = 2 * 128 * 768 bf16 values (393,216 bytes):
    # 2 * 3/4 * 393,216 / 450e9 s
    assert [o.phase for o in comm].count("forward") == [o.phase for o in comm].count("backward") == 2 * 12 + 1
    assert all(o.comm_s == pytest.approx(2 * 3 / 4 * 2 * 128 * 768 * 2 / 450e9) for o in comm)


# --- the command --------------------------------------------------------------------------------------------

def test_the_issue_command_answers_fast_without_torch_and_fits_80_columns():
    code = ("import sys, time; t = time.perf_counter(); from archcalc.cli import main; "
            "rc = main(['time', 'gpt2', '--device', 'h100', '--precision', 'bf16-mixed', '--training', "
            "'--batch', '8', '--seq', '1024']); "
            "print('RESULT', rc, 'torch' in sys.modules, 'sympy' in sys.modules, time.perf_counter() - t)")
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    wall = time.perf_counter() - start
    lines = r.stdout.splitlines()
    rc, has_torch, has_sympy, _ = lines[-1].split()[1:]
    assert (rc, has_torch, has_sympy) == ("0", "False", "False")
    assert all(len(line) <= 80 for line in lines[:-1]), max(lines[:-1], key=len)
    # the slowest op, compute-bound; below it gelu_new's memory-bound element-wise ops (eight per layer, as
    # transformers runs them eagerly) outrank the MLP's matrix products
    assert any(line.startswith("lm_head") and "compute" in line for line in lines)
    assert any(line.startswith("transformer.h.0.mlp.act") and "memory" in line for line in lines)
    assert wall < 10  # under a second unloaded; the shared test machine is slower
    assert any("MFU" in line for line in lines)


def test_json_and_run():
    r = cli("gpt2", "--device", "a100-80gb", "--precision", "bf16-mixed", "--training", "--batch", "4",
            "--seq", "512", "--data-parallel", "8", "--tokens", "1e9", "--json")
    data = json.loads(r.stdout)
    t = data["totals"]["time_s"]
    assert data["device"]["key"] == "a100-80gb" and data["efficiency"] == {"compute": 1.0, "memory": 1.0,
                                                                         "launch_overhead_s": 0.0, "latency_s": 0.0}
    # 4 x 512 tokens x 8 ranks = 16,384 tokens per step; ceil(1e9 / 16,384) = 61,036 steps
    assert data["run"]["steps"] == 61_036 and data["run"]["devices"] == 8
    assert data["run"]["seconds"] == pytest.approx(61_036 * t)
    assert data["run"]["device_hours"] == pytest.approx(61_036 * t / 3600 * 8)


def test_plan_run_rounds_up_and_refuses_both():
    assert plan_run(1.0, 100, 2, tokens=1001).steps == 11
    with pytest.raises(ValueError, match="exactly one"):
        plan_run(1.0, 100, 2, tokens=1, steps=1)


# --- the papers ---------------------------------------------------------------------------------------------

GPT3 = with_sizes(CONFIGS["gpt"], layers=96, hidden=12288, heads=96, ffn=4 * 12288, vocab=51200)


def test_narayanan_flops_per_iteration_equal_archcalcs_exact_macs_and_the_dropped_terms_itemised():
    B, s, ell, h, V = 1, 2048, 96, 12288, 51200
    F = megatron_flops(B, s, ell, h, V)
    # 96 B s l h^2 (1 + s/(6h) + V/(16 l h)) = 96*2048*96*12288^2*(1 + 2048/73728 + 51200/18874368)
    assert F == 2_936_829_917_528_064
    exact = exact_training_flops(GPT3, s, B)
    # archcalc's 2 x (forward + backward + recomputed-forward) MACs: the paper counts exactly these
    assert exact.flops == F
    # what F drops: element-wise work, forward and recomputed forward of each layer (x 2), once outside layers.
    # Each term is (operations per element) x (elements); the per-element counts are archcalc's conventions
    # (a bias or residual add: 1; dropout: mask and scale, 2; LayerNorm 5; transformers' gelu_new, eight ops of
    # one each: 4 products, 2 adds, pow, tanh; the attention scores' scale, mask, softmax and dropout 9),
    # the element counts are the paper's shapes:
    tokens = B * s
    elements = {
        "Conv1D": 2 * ell * tokens * (3 * h + h + 4 * h + h),   # biases: qkv 3h, proj h, fc 4h, proj h
        # 2 residuals per layer, wte + wpe once; gelu_new's 2 adds over the 4h activation
        "Add": (2 * ell * 2 + 1) * tokens * h + 2 * ell * 2 * tokens * 4 * h,
        "Dropout": (2 * ell * 2 + 1) * tokens * h,               # 2 per layer (attention, MLP); embeddings once
        "LayerNorm": (2 * ell * 2 + 1) * tokens * h,             # 2 per layer; ln_f once
        "Mul": 2 * ell * tokens * 4 * h,                         # gelu_new over the 4h MLP activation
        "Pow": 2 * ell * tokens * 4 * h,
        "Tanh": 2 * ell * tokens * 4 * h,
        "ScaledDotProductAttention": 2 * ell * B * 96 * s * s,   # one per attention score
    }
    assert set(exact.elementwise_by_kind) == set(elements)
    per_element = {k: Fraction(exact.elementwise_by_kind[k], n) for k, n in elements.items()}
    assert all(c.denominator == 1 and 1 <= c <= 10 for c in per_element.values()), per_element
    assert (per_element["Conv1D"], per_element["Add"], per_element["Dropout"]) == (1, 1, 2)
    assert (per_element["Mul"], per_element["Pow"], per_element["Tanh"], per_element["ScaledDotProductAttention"]) \
        == (4, 1, 1, 9)
    # the dropped element-wise work is under 0.04 % of F (0.033 % with the counts of this writing)
    assert sum(exact.elementwise_by_kind.values()) / F < Fraction(4, 10_000)


def test_narayanan_training_time_gpt3_and_1t():
    # 8 T P / (n X): 8 * 300e9 * 175e9 / (1024 * 140e12) = 2,929,687.5 s = 33.9 days ("about 34 days")
    t = megatron_training_seconds(300 * 10**9, 175 * 10**9, 1024, 140 * 10**12)
    assert t == Fraction(5_859_375, 2) and round(t / 86400) == 34
    # 1T parameters, 450e9 tokens, 3,072 GPUs at 163e12: 7,189,417.6 s = 83.2 days ("about 84 days")
    t1 = megatron_training_seconds(450 * 10**9, 10**12, 3072, 163 * 10**12)
    assert t1 == Fraction(8 * 450 * 10**21, 3072 * 163 * 10**12) and 83 < t1 / 86400 < 84


def test_kaplan_hoffmann_compute_beside_narayanan():
    # C = 6 N D = 6 * 175e9 * 300e9 = 3.15e23 FLOPs; with full recomputation Narayanan's 8 N D = 4.2e23
    assert kaplan_compute(175 * 10**9, 300 * 10**9) == 315 * 10**21
    assert megatron_training_seconds(300 * 10**9, 175 * 10**9, 1, 1) == 8 * 175 * 300 * 10**18


def test_cli_run_of_gpt3_counts_the_papers_flops_per_step():
    r = cli("gpt", "--layers", "96", "--hidden", "12288", "--heads", "96", "--ffn", "49152", "--vocab", "51200",
            "--seq", "2048", "--device", "a100-80gb", "--precision", "bf16-mixed", "--training",
            "--recompute", "full", "--tokens", "300e9", "--json")
    data = json.loads(r.stdout)
    # the step's hardware FLOPs are Narayanan's F at B = 1, s = 2048: the run is F / (B s) per token
    assert data["totals"]["hardware_flops"] == megatron_flops(1, 2048, 96, 12288, 51200)
    # ceil(300e9 / 2048) = 146,484,375 steps; at the predicted achieved rate X the run is steps x F / X
    run = data["run"]
    assert run["steps"] == 146_484_375
    assert run["seconds"] == pytest.approx(run["steps"] * data["totals"]["hardware_flops"]
                                           / data["totals"]["achieved_flops"])


@pytest.mark.torch
def test_cpu_calibration_gives_a_profile_that_round_trips_through_a_file(tmp_path):
    pytest.importorskip("torch")
    from archcalc.time.calibrate import calibrate_cpu, profile_toml

    prof = calibrate_cpu(threads=1, gemm_sizes=(64,), copy_mib=1, repeats=1)
    path = tmp_path / "cpu.toml"
    path.write_text(profile_toml("cpu-measured", prof))
    cpu = get_profile("cpu-measured", str(path))
    assert cpu.peak("fp32") == pytest.approx(prof["peak_tflops"]["fp32"] * 1e12) and cpu.memory_bandwidth > 0
    assert "median of 1 runs" in cpu.source


def test_the_default_lists_the_ten_slowest_ops_and_all_lists_every_one():
    every = len(json.loads(cli("resnet18", "--device", "h100", "--json").stdout)["ops"])  # the oracle: JSON's list
    default = cli("resnet18", "--device", "h100").stdout
    assert f"({every - 10} faster ops not shown; --all shows every op)" in default
    assert "not shown" not in cli("resnet18", "--device", "h100", "--all").stdout
    assert cli("resnet18", "--device", "h100", "--all").stdout == cli("resnet18", "--device", "h100", "--top", "0").stdout


_DROPOUT_NET = """
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.drop, self.out = nn.Linear(16, 32), nn.Dropout(0.5), nn.Linear(32, 4)

    def forward(self, x):
        return self.out(self.drop(self.fc(x)))
"""


def test_a_model_file_is_timed_at_its_input_and_traced_in_training_mode_for_training(tmp_path):
    # FILE.py:NAME has no input of its own: --input 16 is the shape (it was traced at 1x1 first and failed);
    # with --training the model runs in training mode, so its Dropout is in the step (forward Linear, Dropout,
    # Linear, then their backward rows and the optimizer), as `peak` / `fit` trace it
    (tmp_path / "net.py").write_text(_DROPOUT_NET)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    kinds = {}
    for flags in ((), ("--training",)):
        out = subprocess.run([sys.executable, "-m", "archcalc", "time", "net.py:Net", "--input", "16", "--device",
                              "h100", "--json", *flags], capture_output=True, text=True, cwd=tmp_path, env=env)
        assert out.returncode == 0, out.stderr
        kinds[flags] = [row["kind"] for row in json.loads(out.stdout)["ops"]]
    assert kinds[()] == ["Linear", "Linear"]
    assert kinds[("--training",)].count("Dropout") == 2  # its forward and its backward row
