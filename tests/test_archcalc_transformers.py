"""The transformer zoo (archcalc.models.zoo_transformers) and its analyses (archcalc.lm) without torch.

Oracles: the published parameter counts of the real implementations (also checked against ``transformers``
models in test_archcalc_transformers_torch.py), hand arithmetic in the comments, the papers' formulas typed
here from Kaplan et al. (2020) Table 1 and Hoffmann et al. (2022) Appendix F, and integer evaluation for
the closed forms.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archcalc.cli import main
from archcalc.ir import evaluate
from archcalc.lm.closed import FIELDS, closed_form_sequence
from archcalc.lm.inference import kv_cache, prefill_decode
from archcalc.lm.per_token import per_token
from archcalc.models.zoo import build
from archcalc.models.zoo_transformers import CONFIGS, build_transformer, with_sizes
from tests.strategies import transformer_sizes

ROOT = Path(__file__).resolve().parents[1]
SMALL_LLAMA = dict(layers=2, hidden=256, heads=8, kv_heads=2, ffn=688, vocab=1000)


@pytest.mark.parametrize(("name", "params"), [
    # GPT2LMHeadModel with the tied head counted once; BertModel with its pooler (transformers' counts).
    ("gpt2", 124_439_808), ("gpt2-medium", 354_823_168), ("gpt2-large", 774_030_080), ("gpt2-xl", 1_557_611_200),
    ("bert-base", 109_482_240), ("bert-large", 335_141_888),
    ("llama", 6_738_415_616),  # Llama-2-7B (Touvron et al. 2023, and LlamaForCausalLM of its config)
    ("vit-b-16", 86_567_656),  # torchvision's vit_b_16 (its documented num_params)
])
def test_params_equal_the_real_implementations(name, params):
    assert evaluate(build(name)).total("params") == params


def test_gpt2_params_by_hand():
    # wte 50257*768 + wpe 1024*768 + 12 blocks x (ln 2*2*768 + c_attn 768*2304+2304 + c_proj 768*768+768
    # + c_fc 768*3072+3072 + mlp c_proj 3072*768+768) + ln_f 2*768 = 124,439,808 (lm_head tied: 0)
    block = 2 * 2 * 768 + 768 * 2304 + 2304 + 768 * 768 + 768 + 768 * 3072 + 3072 + 3072 * 768 + 768
    assert 50257 * 768 + 1024 * 768 + 12 * block + 2 * 768 == 124_439_808
    ev = evaluate(build("gpt2"))
    assert ev.total("params") == 50257 * 768 + 1024 * 768 + 12 * block + 2 * 768
    assert [r.params for r in ev.rows if r.name == "lm_head"] == [0]


def test_gpt2_forward_macs_by_hand_at_1024():
    # per block at L = 1024: c_attn 1024*768*2304 (1,811,939,328) + c_proj 1024*768*768 (603,979,776)
    # + c_fc 1024*768*3072 (2,415,919,104) + mlp.c_proj 1024*3072*768 (2,415,919,104) + QK^T 12*1024*1024*64
    # + AV 12*1024*1024*64 (805,306,368 each) = 8,858,370,048; x 12 blocks = 106,300,440,576
    # + LM head 1024*768*50257 = 39,523,713,024 -> 145,824,153,600 MACs
    block = 1024 * 768 * 2304 + 1024 * 768 * 768 + 1024 * 768 * 3072 + 1024 * 3072 * 768 + 2 * 12 * 1024 * 1024 * 64
    assert block == 8_858_370_048
    ev = evaluate(build("gpt2"))
    assert ev.total("macs") == 12 * block + 1024 * 768 * 50257 == 145_824_153_600


def test_vit_takes_any_batch():
    # class token (1, 1, 768) expanded to the batch, then 196 patches + 1 = 197 tokens
    ev = evaluate(build("vit-b-16"), batch=4)
    assert ev.output_shape == (4, 1000)
    assert [r.output_shape for r in ev.rows if r.name == "cat"] == [(4, 197, 768)]


def test_batch_and_seq_scale_activations():
    ev = evaluate(build_transformer(CONFIGS["gpt2"], 256), (256,), batch=3)
    assert ev.rows[0].output_shape == (3, 256, 768)
    assert ev.output_shape == (3, 256, 50257)


@pytest.mark.parametrize(("sizes", "message"), [
    (dict(heads=7), "heads: got 7; choose heads dividing hidden (768)"),
    (dict(kv_heads=5), "kv_heads: got 5; choose key/value heads dividing heads (32)"),
    (dict(layers=0), "layers: got 0; give an integer >= 1"),
])
def test_bad_configs_raise_naming_the_parameter(sizes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        with_sizes(CONFIGS["llama" if "kv_heads" in sizes else "gpt"], **sizes)


@pytest.mark.parametrize("argv", [["gpt", "--heads", "7"], ["llama", "--kv-heads", "5"], ["gpt2", "--seq", "0"],
                                  ["gpt2", "--seq", "-3"], ["gpt2", "--seq", "1025"], ["vgg19", "--seq", "8"],
                                  ["gpt2", "--layers", "2"], ["bert-base", "--kv-cache"]])
def test_cli_bad_values_one_line_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("archcalc: error: --") and "Traceback" not in err


def test_kaplan_rows_and_exact_parts_at_three_lengths():
    for seq in (256, 512, 1024):
        pt = per_token(CONFIGS["gpt2"], seq)
        n_layer, d, d_ff, V = 12, 768, 3072, 50257
        # Kaplan Table 1, typed from the paper (d_attn = d_model):
        N = 2 * d * n_layer * (2 * d + d_ff)
        assert pt.kaplan.n_params == N == 84_934_656
        assert pt.kaplan.c_forward == 2 * N + 2 * n_layer * seq * d
        assert pt.kaplan.c_train == 6 * N
        assert pt.kaplan.mask == 2 * n_layer * seq * d and pt.kaplan.de_embed == 2 * d * V
        # exact counts reproduce the rows where Kaplan defines them:
        assert pt.parts["weights"] == 2 * N  # QKV + project + feedforward, per token
        assert pt.parts["QK^T"] == 2 * n_layer * seq * d  # the "mask" row
        assert pt.parts["LM head"] == 2 * d * V  # the "de-embed" row
        assert pt.parts["AV"] == 2 * n_layer * seq * d  # the product Kaplan's C_forward leaves out
        diff = pt.kaplan_difference()
        assert sum(diff.values()) == pt.forward_all - pt.kaplan.c_forward
        assert diff["weights - 2N"] == 0 and diff["QK^T - 2 n_layer n_ctx d_attn"] == 0
        # element-wise parts at L: softmax 5, mask 1, scale 1 per score: 12 heads * L scores per token per layer
        assert pt.parts["softmax"] == 5 * 12 * 12 * seq and pt.parts["masking"] == 12 * 12 * seq
        assert pt.parts["biases"] == 12 * (2304 + 768 + 3072 + 768)  # 82,944 bias adds per token


def test_hoffmann_matmuls_equal_the_exact_contractions():
    for name in ("gpt2", "gpt2-medium"):
        cfg = CONFIGS[name]
        L, V, d, H, f, n = 1024, 50257, cfg.hidden, cfg.heads, cfg.ffn, cfg.layers
        k = d // H
        pt = per_token(cfg, L)
        # Hoffmann et al. Appendix F, typed from the paper (whole sequence):
        emb = 2 * L * V * d
        attention = 2 * 3 * L * d * (k * H) + 2 * L * L * (k * H) + 3 * H * L * L + 2 * L * L * (k * H) + 2 * L * (k * H) * d
        dense = 2 * L * (d * f + d * f)
        logits = 2 * L * d * V
        assert pt.hoffmann.total_forward == emb + n * (attention + dense) + logits
        assert pt.hoffmann.total_training == 3 * (emb + n * (attention + dense) + logits)
        matmuls = Fraction(n * (attention - 3 * H * L * L + dense) + logits, L)
        assert sum(pt.parts[p] for p in ("weights", "QK^T", "AV", "LM head")) == matmuls
        diff = pt.hoffmann_difference()
        assert diff["embeddings (one-hot matmul in Hoffmann)"] == -Fraction(emb, L)
        assert sum(diff.values()) == pt.forward_all - Fraction(pt.hoffmann.total_forward, L)


def test_kv_cache_formula_and_gqa():
    # 2 x n_layer x n_kv_heads x d_head x L x B x bytes: gpt2 2*12*12*64*1024*1 = 18,874,368 elements
    assert kv_cache(CONFIGS["gpt2"], 1024).elements == 2 * 12 * 12 * 64 * 1024 == 18_874_368
    kv = kv_cache(with_sizes(CONFIGS["llama"], kv_heads=8), 4096, batch=2)
    assert kv.elements == 2 * 32 * 8 * 128 * 4096 * 2
    assert kv.bytes_by_dtype == {"fp32": 4 * kv.elements, "fp16": 2 * kv.elements, "bf16": 2 * kv.elements,
                                 "int8": kv.elements}


def test_prefill_and_decode_split():
    pd = prefill_decode(CONFIGS["gpt2"], 1024, batch=1, dtype="fp16")
    assert pd.prefill.macs == 145_824_153_600
    # decode of token 1024: weights 84,934,656 + LM head 38,597,376 + attention 12 layers * 12 heads * 1024 keys
    # * (64 + 64) = 18,874,368 -> 142,406,400 MACs (the last row of the causal prefill)
    assert pd.decode.macs == 84_934_656 + 38_597_376 + 12 * 12 * 1024 * 128 == 142_406_400
    # weights read: all 124,439,808 params but wpe read at 1 row (tied wte read whole by the LM head)
    assert pd.decode.weight_bytes == 2 * (124_439_808 - 1024 * 768 + 768)
    assert pd.decode.kv_read_bytes == 2 * 2 * 12 * 12 * 64 * 1023 and pd.decode.kv_write_bytes == 2 * 2 * 12 * 768
    assert pd.decode.intensity < 2 < 1000 < pd.prefill.intensity  # decode is bandwidth-bound, prefill is not


@pytest.mark.parametrize("name", ["gpt2", "bert-base", "small-llama"])
def test_closed_forms_in_b_and_l_equal_integer_tables(name):
    cfg = with_sizes(CONFIGS["llama"], **SMALL_LLAMA) if name == "small-llama" else CONFIGS[name]
    cf = closed_form_sequence(cfg)
    for seq, batch in ((7, 1), (128, 3), (512, 2)):
        ev = evaluate(build_transformer(cfg, seq), (seq,), batch)
        for field in FIELDS:
            assert cf.at(field, L=seq, B=batch) == ev.total(field), (field, seq, batch)


@pytest.mark.parametrize("family", ["gpt", "bert-base", "llama"])
def test_closed_forms_in_config_sizes_equal_integer_tables(family):
    cf = closed_form_sequence(CONFIGS[family], config=True)
    sizes = [dict(layers=1, hidden=64, heads=4, ffn=100, vocab=300, kv_heads=2),
             dict(layers=3, hidden=96, heads=6, ffn=384, vocab=1000, kv_heads=3),
             dict(layers=5, hidden=128, heads=2, ffn=256, vocab=77, kv_heads=1)]
    for s, (seq, batch) in zip(sizes, ((16, 1), (33, 2), (64, 3)), strict=True):
        kv = s["kv_heads"] if family == "llama" else s["heads"]
        from dataclasses import replace

        cfg = replace(CONFIGS[family], layers=s["layers"], hidden=s["hidden"], heads=s["heads"], ffn=s["ffn"],
                      vocab=s["vocab"], kv_heads=kv)
        ev = evaluate(build_transformer(cfg, seq), (seq,), batch)
        values = {"B": batch, "L": seq, "n": s["layers"], "H": s["heads"], "k": s["hidden"] // s["heads"],
                  "f": s["ffn"], "V": s["vocab"], "G": kv, "P": cfg.context}
        for field in FIELDS:
            assert cf.at(field, **values) == ev.total(field), (field, s)


def test_cli_per_token_json_and_symbolic(capsys):
    assert main(["gpt2", "--per-token", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["forward_macs"] == 142_406_400 and out["kaplan"]["c_forward"] == 188_743_680
    assert main(["gpt", "--layers", "96", "--hidden", "12288", "--heads", "96", "--ffn", "49152", "--seq", "2048",
                 "--symbolic", "--symbolic-config", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["at"]["totals"]["params"] == 174_604_259_328  # GPT-3 175B with a 2048-row position table
    assert main(["llama", "--kv-cache", "--kv-heads", "8", "--dtype", "fp16", "--seq", "4096"]) == 0
    assert "536,870,912 B" in capsys.readouterr().out  # 2*32*8*128*4096*2 bytes


def test_table_imports_neither_torch_nor_sympy():
    code = ("import sys, io, contextlib\nfrom archcalc.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n    rc = main(['gpt2', '--table'])\n"
            "assert rc == 0 and 'lm_head' in out.getvalue(), rc\n"
            "print(sorted(m for m in ('torch', 'sympy', 'transformers') if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "200"})
    assert proc.stdout.strip() == "[]"


@settings(max_examples=40, deadline=None)
@given(transformer_sizes(), st.sampled_from(["gpt", "llama"]))
def test_per_token_invariants(sizes, family):
    seq, batch = sizes.pop("seq"), sizes.pop("batch")
    if family == "gpt":
        sizes.pop("kv_heads")
    cfg = with_sizes(CONFIGS[family], **sizes)
    pt = per_token(cfg, seq, batch)
    # every contraction's backward is 2 x its forward (both operands' gradients) and the first one's input
    # needs its gradient (it comes from the embedding parameters): training = 3 x forward, exactly
    assert pt.training_macs == 3 * pt.forward_macs
    assert sum(pt.parts.values()) == pt.forward_all
    assert pt.parts["QK^T"] == pt.parts["AV"] == 2 * cfg.layers * cfg.heads * cfg.head_dim * seq
    if family == "gpt":  # Kaplan's rows, typed: N = 2 d n (2 d + f)
        d, f, n = cfg.hidden, cfg.ffn, cfg.layers
        assert pt.parts["weights"] == 2 * (2 * d * n * (2 * d + f))
        assert sum(pt.kaplan_difference().values()) == pt.forward_all - pt.kaplan.c_forward
        assert sum(pt.hoffmann_difference().values()) == pt.forward_all - Fraction(pt.hoffmann.total_forward, seq)
    kv = kv_cache(cfg, seq, batch)
    assert kv.elements == 2 * cfg.layers * cfg.kv_heads * cfg.head_dim * seq * batch


def test_per_token_and_kv_cache_text(capsys):
    assert main(["gpt2", "--per-token"]) == 0
    text = capsys.readouterr().out
    # 2N + 2 n_layer n_ctx d_attn = 2*84,934,656 + 2*12*1024*768 = 188,743,680
    assert "C_forward = 2N + 2 n_layer n_ctx d_attn  188,743,680" in text
    assert "  AV                             18,874,368" in text  # 2*12*1024*768, left out by Kaplan
    assert main(["gpt2", "--kv-cache", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kv_cache"]["elements"] == 2 * 12 * 12 * 64 * 1024
    assert out["decode"]["macs"] == 142_406_400 and out["prefill"]["macs"] == 145_824_153_600
    assert out["decode"]["bytes_moved"] == (out["decode"]["weight_bytes"] + out["decode"]["kv_read_bytes"]
                                            + out["decode"]["kv_write_bytes"])


def test_per_token_and_kv_cache_combine_and_refuse_other_formats(capsys):
    # together: both analyses, never one silently dropped; GPT-2 at L = 1024: forward 142,406,400 MACs per
    # token (as above) and a KV cache of 2 * 12 layers * 12 heads * 64 * 1024 = 18,874,368 elements
    assert main(["gpt2", "--per-token", "--kv-cache", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["forward_macs"] == 142_406_400 and out["kv_cache"]["elements"] == 18_874_368
    assert out["parts"]["qk_t"] == 2 * 12 * 1024 * 768  # snake_case key of "QK^T": 2 n_layer n_ctx d_attn
    assert main(["gpt2", "--per-token", "--kv-cache"]) == 0
    text = capsys.readouterr().out
    assert "C_forward = 2N + 2 n_layer n_ctx d_attn" in text and "18,874,368 elements" in text
    for argv in (["--per-token", "--csv"], ["--kv-cache", "--markdown"], ["--per-token", "--kv-cache", "--latex"],
                 ["--kv-cache", "--symbolic"]):
        assert main(["gpt2", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and argv[-1] in err, err


def test_fit_gpt2_in_2gib_says_three_as_three_real_steps_of_transformers_gpt2_show(capsys):
    # The zoo's gpt2 (GPT2LMHeadModel: attention dropout 0.1 into SDPA, gelu_new as eight ops), SGD, seq 256.
    # The oracle: benchmarks/bench_fit_real.py, three real SGD steps of transformers' GPT2LMHeadModel (124M, CPU,
    # tensor storage from the allocator, benchmarks/RESULTS.md): batch 3 peaks at 1,872,069,928 bytes in steps
    # 1-3, batch 4 at 2,298,711,332 in step 3. 2 GiB less the 5 % margin is 2,040,109,466 usable: 3 fits, 4 does
    # not. The zoo graph predicts both 296 and 292 bytes below (the fp32 loss and small scalars); before the
    # attention dropout and gelu_new it said batch 6.
    from archcalc.cli import main

    assert main(["fit", "gpt2", "--device-memory", "2GiB", "--training", "--seq", "256", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["batch"], doc["usable_bytes"], doc["step"]) == (3, 2_040_109_466, "steady")
    for predicted, real in ((doc["peak_bytes"], 1_872_069_928), (doc["next_peak_bytes"], 2_298_711_332)):
        assert 0 <= real - predicted <= 300, (predicted, real)
    assert doc["peak_bytes"] <= doc["usable_bytes"] < 2_298_711_332
