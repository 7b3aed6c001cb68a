"""Per-rank tensor/sequence-parallel graphs, recomputation and the per-layer count beside Korthikanti et al.'s
Table 2 (issue 11). Torch oracles are in test_archcalc_tensor_parallel_torch.py."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import megatron_shapes

from archcalc.cli import main
from archcalc.memory.formulas.activations import megatron_activation_bytes
from archcalc.models.zoo_transformers import CONFIGS, with_sizes
from archcalc.parallel.layer_count import compare_table2, layer_saved
from archcalc.parallel.rank_graph import rank_graph
from archcalc.parallel.step import rank_peak

GPT3 = with_sizes(CONFIGS["gpt"], layers=1, hidden=12288, heads=96, ffn=4 * 12288, vocab=51200)
S, B, H, A, T = 2048, 1, 12288, 96, 8
SBH = Fraction(S * B * H)


def _table2(sp: bool, recompute: str) -> Fraction:
    """Table 2 typed from the paper (per layer, bytes) for GPT-3 175B at t = 8."""
    if recompute == "full":
        return 2 * SBH
    if recompute == "selective":
        return SBH * 34 / T if sp else SBH * (10 + Fraction(24, T))
    return SBH * (Fraction(34, T) + Fraction(5 * A * S, H * T)) if sp else SBH * (10 + Fraction(24, T) + Fraction(5 * A * S, H * T))


@pytest.mark.parametrize("sp", [False, True])
@pytest.mark.parametrize("recompute", ["none", "selective", "full"])
def test_gpt3_differences_sum_to_the_gap_and_are_the_expected_items(sp, recompute):
    c = compare_table2(GPT3, S, B, tensor_parallel=T, sequence_parallel=sp, recompute=recompute)
    assert c.paper_bytes == _table2(sp, recompute)
    assert sum(d.bytes for d in c.differences) == c.own_bytes - c.paper_bytes
    got = {d.what: d.bytes for d in c.differences}
    rows = S * B // (T if sp else 1)
    expected = {}
    if recompute != "full":
        # LayerNorm keeps float32 mean and rstd: 2 x 4 bytes x s b rows (s / t rows with SP)
        expected |= {"attention LayerNorm mean and rstd": 8 * rows, "MLP LayerNorm mean and rstd": 8 * rows}
    if recompute == "none":
        # the fused kernel keeps a float32 log-sum-exp per (row, head): 4 x a/t x s b; the paper's s^2 items
        # 2as^2b/t + as^2b/t + 2as^2b/t are not kept
        expected |= {"attention log-sum-exp": 4 * (A // T) * S * B, "softmax output": -2 * A * S * S * B // T,
                     "softmax dropout mask": -A * S * S * B // T,
                     "attention over values: dropout output": -2 * A * S * S * B // T}
    if recompute == "full" and sp:  # the checkpoint keeps the sequence shard 2sbh/t; Table 2 says 2sbh
        expected["attention LayerNorm input (the layer input)"] = 2 * S * B * H // T - 2 * S * B * H
    assert got == expected


def test_own_count_typed_for_gpt3_fp16_cuda():
    # tensor parallel, no recompute: sbh(10 + 24/t) (every item of the paper but the s^2 ones)
    # + LayerNorm stats 2 x 8sb + log-sum-exp 4 a s b / t
    own = layer_saved(GPT3, S, B, tensor_parallel=T, precision="fp16", device="cuda").bytes
    assert own == SBH * (10 + Fraction(24, T)) + 16 * S * B + 4 * A * S * B // T


def test_fp32_cpu_counts_four_byte_elements_and_masks():
    # fp32 on the CPU: every activation 4 bytes (2x the paper's), dropout masks 4 bytes (4x)
    small = with_sizes(CONFIGS["gpt"], layers=1, hidden=64, heads=8, ffn=256, vocab=64)
    c = compare_table2(small, 32, 2, tensor_parallel=2, recompute="selective", precision="fp32", device="cpu")
    sbh = 32 * 2 * 64
    # Table 2 selective at t = 2: sbh(10 + 24/2) = 22 sbh, of which the two 1-byte masks are 2 sbh;
    # fp32: 20 sbh x 2 + two 4-byte masks 8 sbh = 48 sbh, + LayerNorm stats 2 x 8 sb
    assert c.own_bytes == 48 * sbh + 16 * 32 * 2
    assert sum(d.bytes for d in c.differences) == c.own_bytes - c.paper_bytes


def test_convention_megatron_uses_the_paper_total():
    c = compare_table2(GPT3, S, B, tensor_parallel=T, sequence_parallel=True, recompute="selective")
    assert c.bytes_per_layer("megatron") == SBH * 34 / T
    assert c.bytes_per_layer("archcalc") == c.own_bytes


def test_rank_graph_splits_heads_and_ffn():
    from archcalc.ir import evaluate

    ev = evaluate(rank_graph(CONFIGS["gpt2"], 1024, tensor_parallel=4, sequence_parallel=True), training=True)
    shapes = {r.name: r.output_shape for r in ev.rows}
    assert shapes["transformer.h.0.attn.c_attn"] == (1, 1024, 3 * 768 // 4)  # gathered sequence, 3h/t columns
    assert shapes["transformer.h.0.mlp.c_fc"] == (1, 1024, 3072 // 4)
    assert shapes["transformer.h.0.ln_1"] == (1, 256, 768)  # the sequence shard s / t
    assert shapes["transformer.h.0.attn.scaled_dot_product_attention"] == (1, 3, 1024, 64)  # 12 / 4 heads


def test_recompute_orders_the_peaks():
    cfg = with_sizes(CONFIGS["gpt"], layers=4, hidden=128, heads=4, ffn=512, vocab=256)
    peaks = [rank_peak(cfg, 256, 4, tensor_parallel=2, recompute=r).peak_bytes for r in ("none", "selective", "full")]
    assert peaks[0] > peaks[1] > peaks[2]


@pytest.mark.parametrize("argv, message", [
    (["peak", "gpt2", "--training", "--tensor-parallel", "5"], "--tensor-parallel: got 5; Megatron splits whole heads and feed-forward units across ranks: use a divisor of heads (12)"),
    (["peak", "gpt2", "--training", "--tensor-parallel", "2", "--sequence-parallel", "--input", "1023"],
     "--input 1023 is not divisible by --tensor-parallel 2"),
    (["peak", "resnet18", "--tensor-parallel", "2"], "--tensor-parallel: 'resnet18' has no per-rank graph"),
    (["peak", "gpt2", "--recompute", "full"], "--recompute: got 'full' without --training"),
])
def test_cli_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_prints_the_comparison(capsys):
    argv = ["peak", "gpt2", "--input", "1024", "--training", "--tensor-parallel", "2", "--sequence-parallel",
            "--recompute", "selective", "--precision", "fp16", "--device", "cuda", "--activation-convention", "megatron"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    # sbh 34 / t = 1024 x 768 x 17 = 13,369,344; + LayerNorm stats 2 x 8 x 1024 / 2 = 8,192
    assert "Table 2 sbh(34/t) = 13,369,344 bytes; difference +8,192" in out
    assert "(megatron convention): 160,432,128 bytes" in out  # 12 layers x 13,369,344


@settings(max_examples=40, deadline=None)
@given(shape=megatron_shapes(), sp=st.booleans(), recompute=st.sampled_from(["none", "selective", "full"]),
       where=st.sampled_from([("fp16", "cuda"), ("bf16", "cpu"), ("fp32", "cpu")]))
def test_differences_always_sum_to_the_gap(shape, sp, recompute, where):
    t = shape["tensor_parallel"]
    sp = sp and t > 1
    seq = max(t, shape["seq"] // 8 // t * t)  # a shorter sequence keeps the graph quick; SP needs t | s
    cfg = with_sizes(CONFIGS["gpt"], layers=1, hidden=shape["hidden"], heads=shape["heads"], ffn=4 * shape["hidden"],
                     vocab=8)
    c = compare_table2(cfg, seq, shape["batch"], tensor_parallel=t, sequence_parallel=sp, recompute=recompute,
                       precision=where[0], device=where[1])
    paper = megatron_activation_bytes(seq, shape["batch"], shape["hidden"], shape["heads"], tensor_parallel=t,
                                      sequence_parallel=sp, recompute=recompute).bytes_per_layer
    assert c.paper_bytes == paper
    assert sum(d.bytes for d in c.differences) == c.own_bytes - paper
    assert c.own_bytes == layer_saved(cfg, seq, shape["batch"], tensor_parallel=t, sequence_parallel=sp,
                                      recompute=recompute, precision=where[0], device=where[1]).bytes


def test_cli_fit_and_json(capsys):
    assert main(["fit", "gpt2", "--device-memory", "2GiB", "--training", "--tensor-parallel", "4", "--recompute", "full",
                 "--input", "512", "--json"]) == 0
    fit = json.loads(capsys.readouterr().out)
    # the batch found fits and one more does not (the library's own search, the CLI only wires the options)
    assert fit["peak_bytes"] <= fit["usable_bytes"] == 2 * 2**30 - int(2 * 2**30 * 0.05) < fit["next_peak_bytes"]
    assert main(["peak", "gpt2", "--input", "512", "--training", "--tensor-parallel", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    c = compare_table2(CONFIGS["gpt2"], 512, 1, tensor_parallel=2, precision="fp32", device="cpu")
    assert out["per_layer"]["archcalc_bytes"] == c.own_bytes and out["per_layer"]["table2_bytes"] == c.paper_bytes
    assert sum(d["bytes"] for d in out["per_layer"]["differences"]) == c.own_bytes - c.paper_bytes


def _peak_json(argv, capsys) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_fit_seq_with_sequence_parallel_searches_multiples_of_t(capsys):
    # sequence parallelism splits the sequence over t = 2 ranks, so only even lengths exist: the answer is even,
    # it fits, and the next even length (checked with `archcalc peak` at that length) does not
    fit = _peak_json(["fit", "gpt2", "--device-memory", "650000000", "--training", "--tensor-parallel", "2",
                      "--sequence-parallel", "--seq", "--json"], capsys)
    seq = fit["seq"]
    assert seq % 2 == 0 and fit["seq_step"] == 2 and fit["seq_limit"] == 1024
    opts = ["--training", "--tensor-parallel", "2", "--sequence-parallel", "--json"]
    here = _peak_json(["peak", "gpt2", "--input", str(seq), *opts], capsys)
    beyond = _peak_json(["peak", "gpt2", "--input", str(seq + 2), *opts], capsys)
    assert here["peak_bytes"] == fit["peak_bytes"] <= fit["usable_bytes"] < beyond["peak_bytes"] == fit["next_peak_bytes"]
    assert fit["usable_bytes"] == 650_000_000 - 32_500_000  # the default 5 % margin


def test_fit_seq_stops_at_the_position_table(capsys):
    # GPT-2 has 1,024 learned positions: with 24 GiB the whole table fits and the search says so (it used to
    # answer lengths no GPT-2 can take); `gpt` (no table) keeps searching: 1,462 tokens in 6 GiB (its attention
    # dropout keeps three L x L matrices per head and layer on the CPU, so 2 GiB holds 623)
    fit = _peak_json(["fit", "gpt2", "--device-memory", "24GiB", "--training", "--search-seq", "--json"], capsys)
    assert (fit["seq"], fit["seq_limit"], fit["next_peak_bytes"]) == (1024, 1024, None)
    assert main(["fit", "gpt2", "--device-memory", "24GiB", "--training", "--search-seq"]) == 0
    assert "that is the whole position table (1024 positions), which fits" in capsys.readouterr().out
    assert _peak_json(["fit", "gpt", "--device-memory", "6GiB", "--training", "--search-seq", "--json"], capsys)["seq"] > 1024


@pytest.mark.parametrize("argv", [
    ["peak", "gpt2", "--input", "1025", "--training"],
    ["peak", "gpt2", "--input", "1026", "--training", "--tensor-parallel", "2", "--sequence-parallel"],
])
def test_a_length_beyond_the_position_table_is_refused(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "gpt2 has 1024 positions; use the `gpt` model" in err and err.count("\n") == 1


def test_fit_step_and_limit_are_checked():
    from archcalc.memory.liveness.fit import fit
    from archcalc.models.zoo import build

    with pytest.raises(ValueError, match="step: got 2"):
        fit(lambda b, s: build("resnet18"), 2**30, input_shape=(3, 32, 32), step=2)
    with pytest.raises(ValueError, match="limit: got 3"):
        fit(lambda b, s: build("gpt"), 2**30, input_shape=(64,), vary="seq", step=4, limit=3)
