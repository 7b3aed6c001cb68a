"""archcalc.memory against the papers: ZeRO's Figure 1, Korthikanti et al.'s Table 2, exact byte units.

Every expected value is typed here from the paper's formula (Fractions, no float), independently of the
implementation, which sums per-parameter layouts and section 4.1's itemised activations.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archcalc.memory.formulas import (
    OPTIMIZERS,
    PRECISIONS,
    ROWS,
    bytes_per_param,
    megatron_activation_bytes,
    megatron_table2,
    model_state_bytes,
)
from archcalc.memory.units import format_bytes, parse_bytes, parse_count, round_half_up
from tests.strategies import megatron_shapes

# --- ZeRO (Rajbhandari et al. 2020) ------------------------------------------------------------------------

PSI, N_D, K = 7_500_000_000, 64, 12


def _zero_paper(psi: int, n_d: int, k: int, stage: int) -> Fraction:
    """Section 5 / Figure 1, typed from the paper: bytes per data-parallel rank."""
    return {
        0: (4 + k) * Fraction(psi),
        1: 4 * Fraction(psi) + k * Fraction(psi, n_d),
        2: 2 * Fraction(psi) + (2 + k) * Fraction(psi, n_d),
        3: (4 + k) * Fraction(psi, n_d),
    }[stage]


@pytest.mark.parametrize(("stage", "gb"), [(0, "120.0"), (1, "31.4"), (2, "16.6"), (3, "1.9")])
def test_zero_figure_1(stage, gb):
    # Psi = 7.5e9, N_d = 64, K = 12: 16 Psi = 120e9; 4 Psi + 12 Psi/64 = 30e9 + 1.40625e9 = 31.40625e9;
    # 2 Psi + 14 Psi/64 = 15e9 + 1.640625e9 = 16.640625e9; 16 Psi/64 = 1.875e9 (Figure 1: 120, 31.4, 16.6, 1.9 GB)
    m = model_state_bytes(PSI, optimizer="adam", precision="fp16-master", data_parallel=N_D, zero=stage)
    assert m.per_device_bytes == _zero_paper(PSI, N_D, K, stage)
    assert round_half_up(Fraction(m.per_device_bytes, 10**9)) == Fraction(gb)
    assert format_bytes(m.per_device_bytes).startswith(f"{gb} GB (")
    assert m.total_bytes == 16 * PSI == 120 * 10**9  # 2 + 2 + 12 bytes/param, whatever the stage


def test_zero_components_are_the_papers():
    # 2 Psi fp16 params + 2 Psi fp16 grads + K Psi (4 master + 4 momentum + 4 variance), K = 12
    m = model_state_bytes(PSI, precision="bf16-master")
    assert (m.weights_bytes, m.gradients_bytes) == (2 * PSI, 2 * PSI)
    assert (m.master_weights_bytes, m.optimizer_bytes) == (4 * PSI, 8 * PSI)
    assert m.layout.k == K and m.per_device_bytes == m.total_bytes == 16 * PSI


@given(psi=st.integers(1, 10**13), n_d=st.integers(1, 4096), stage=st.sampled_from([0, 1, 2, 3]),
       optimizer=st.sampled_from(OPTIMIZERS), precision=st.sampled_from(PRECISIONS))
def test_zero_stages_follow_the_paper(psi, n_d, stage, optimizer, precision):
    m = model_state_bytes(psi, optimizer=optimizer, precision=precision, data_parallel=n_d, zero=stage)
    lay = m.layout
    assert m.total_bytes == (lay.weights + lay.gradients + lay.k) * psi
    # the paper's form with the layout's coefficients: weights 2 (paper) or w, gradients g, K
    shard = Fraction(psi, n_d)
    exact = {0: (lay.weights + lay.gradients + lay.k) * Fraction(psi),
             1: (lay.weights + lay.gradients) * Fraction(psi) + lay.k * shard,
             2: lay.weights * Fraction(psi) + (lay.gradients + lay.k) * shard,
             3: (lay.weights + lay.gradients + lay.k) * shard}[stage]
    # a rank holds ceil(Psi / N_d) of each sharded state: at most one element per state beyond the paper
    assert exact <= m.per_device_bytes < exact + lay.total
    if psi % n_d == 0:
        assert m.per_device_bytes == exact
    if lay.weights == 2 and lay.gradients == 2:
        assert m.per_device_bytes == _zero_paper(psi, n_d, lay.k, stage) or psi % n_d
    if precision.endswith("-master") and optimizer in ("adam", "adamw") and psi % n_d == 0:
        assert m.per_device_bytes == _zero_paper(psi, n_d, 12, stage)  # the paper's own K = 12
    if n_d == 1:
        assert m.per_device_bytes == m.total_bytes


# bytes per parameter: weights, gradients, master weights, optimizer states (typed from the layouts in the
# module docstring: ZeRO section 3.1 for the -master precisions; torch.optim's zeros_like states otherwise;
# autocast's fp32 parameters for the -mixed ones)
LAYOUTS = {
    ("sgd", "fp32"): (4, 4, 0, 0), ("momentum", "fp32"): (4, 4, 0, 4),
    ("adam", "fp32"): (4, 4, 0, 8), ("adamw", "fp32"): (4, 4, 0, 8),
    ("sgd", "bf16"): (2, 2, 0, 0), ("momentum", "fp16"): (2, 2, 0, 2),
    ("adam", "bf16"): (2, 2, 0, 4),
    ("sgd", "fp16-master"): (2, 2, 4, 0), ("momentum", "bf16-master"): (2, 2, 4, 4),
    ("adam", "fp16-master"): (2, 2, 4, 8), ("adamw", "bf16-master"): (2, 2, 4, 8),
    ("sgd", "bf16-mixed"): (4, 4, 0, 0), ("momentum", "fp16-mixed"): (4, 4, 0, 4),
    ("adam", "bf16-mixed"): (4, 4, 0, 8), ("adamw", "fp16-mixed"): (4, 4, 0, 8),
}


@pytest.mark.parametrize(("key", "expected"), list(LAYOUTS.items()))
def test_bytes_per_param_layouts(key, expected):
    lay = bytes_per_param(*key)
    assert (lay.weights, lay.gradients, lay.master_weights, lay.optimizer_states) == expected
    assert lay.total == sum(expected) and lay.k == expected[2] + expected[3]


def test_both_mixed_layouts_give_16_bytes_for_adam():
    # ZeRO: 2 + 2 + 12; torch autocast: 4 (fp32 params) + 4 (fp32 grads) + 8 (two fp32 moments)
    assert bytes_per_param("adam", "bf16-master").total == bytes_per_param("adam", "bf16-mixed").total == 16


@pytest.mark.parametrize(("precision", "convention", "expected"), [
    # the old spellings, kept: memory's --memory-convention zero made a -mixed name the master layout
    ("bf16-mixed", "zero", "bf16-master"), ("fp16-mixed", "zero", "fp16-master"),
    ("bf16-mixed", "torch", "bf16-mixed"), ("fp32", "zero", "fp32"), ("bf16", "torch", "bf16"),
])
def test_old_convention_is_a_hidden_alias(precision, convention, expected):
    old = model_state_bytes(10**9, precision=precision, convention=convention, data_parallel=8, zero=2)
    new = model_state_bytes(10**9, precision=expected, data_parallel=8, zero=2)
    assert old == new and old.precision == expected


def test_llama_7b_zero_2_on_8_ranks():
    # Llama-2-7B: 6,738,415,616 parameters (the zoo's count, equal to LlamaForCausalLM's in
    # test_archcalc_transformers_torch). bf16-master Adam, ZeRO-2, N_d = 8: 2 Psi + (2 + 12) Psi / 8
    # = 13,476,831,232 + 11,792,227,328 = 25,269,058,560 bytes (25.3 GB); autocast's layout (bf16-mixed):
    # 4 Psi + (4 + 8) Psi / 8 = 26,953,662,464 + 10,107,623,424 = 37,061,285,888
    psi = 6_738_415_616
    assert model_state_bytes(psi, precision="bf16-master", data_parallel=8, zero=2).per_device_bytes == \
        _zero_paper(psi, 8, 12, 2) == 25_269_058_560
    assert model_state_bytes(psi, precision="bf16-mixed", data_parallel=8, zero=2).per_device_bytes == \
        4 * psi + Fraction(12 * psi, 8) == 37_061_285_888
    # DeepSpeed's estimate_zero2_model_states_mem_needs (deepspeed/runtime/zero/stage_1_and_2.py) for one node
    # of 8 GPUs: gpu_mem = 4 * Psi + 16 * Psi / 8 with cpu_offload=False: it counts fp16 weights and grads
    # unsharded (4 Psi) and shards the K = 12 master and moments plus 4 bytes of fp32 gradient partition
    # (16 Psi / N_d); ZeRO's stage-2 form shards the fp16 gradients instead (2 Psi + 14 Psi / N_d)
    deepspeed = 4 * psi + 16 * psi // 8
    assert deepspeed == 40_430_493_696  # 37.65 GiB
    assert deepspeed - model_state_bytes(psi, precision="bf16-master", data_parallel=8, zero=2).per_device_bytes \
        == 2 * psi + 2 * psi // 8  # the unsharded 16-bit gradients (2 Psi - 2 Psi / 8) + the fp32 partition's 4 Psi / 8


def test_sympy_symbols_give_the_papers_closed_forms():
    sympy = pytest.importorskip("sympy")
    psi, n_d = sympy.symbols("Psi N_d", positive=True, integer=True)
    m = model_state_bytes(psi, data_parallel=n_d, zero=2)
    assert m.total_bytes == 16 * psi
    # ceil is written -floor(-x) so that ints need no import: 2 Psi + 14 ceil(Psi / N_d)
    ceil_as_floor = {sympy.floor(-psi / n_d): -sympy.ceiling(psi / n_d)}
    assert sympy.expand(m.per_device_bytes.subs(ceil_as_floor) - (2 * psi + 14 * sympy.ceiling(psi / n_d))) == 0
    assert m.per_device_bytes.subs({psi: PSI, n_d: N_D}) == 16_640_625_000


# --- Korthikanti et al. 2022, Table 2 -------------------------------------------------------------------------

GPT3 = {"seq": 2048, "batch": 1, "hidden": 12288, "heads": 96}  # GPT-3 175B's layer; t = 8 in the paper


def _table2(s: int, b: int, h: int, a: int, t: int) -> dict[str, Fraction]:
    """Table 2, typed from the paper (bytes per layer)."""
    sbh = Fraction(s * b * h)
    return {
        "no parallelism": sbh * (34 + Fraction(5 * a * s, h)),
        "tensor parallel (baseline)": sbh * (10 + Fraction(24, t) + Fraction(5 * a * s, h * t)),
        "tensor + sequence parallel": sbh * (Fraction(34, t) + Fraction(5 * a * s, h * t)),
        "tensor parallel + selective recompute": sbh * (10 + Fraction(24, t)),
        "tensor + sequence parallel + selective recompute": sbh * Fraction(34, t),
        "full recompute": 2 * sbh,
    }


# s*b*h = 2048*12288 = 25,165,824 and 5as/h = 5*96*2048/12288 = 80, t = 8:
GPT3_TABLE2 = {
    "no parallelism": 2_868_903_936,  # 114 sbh
    "tensor parallel (baseline)": 578_813_952,  # (10 + 3 + 10) sbh = 23 sbh
    "tensor + sequence parallel": 358_612_992,  # (4.25 + 10) sbh = 14.25 sbh
    "tensor parallel + selective recompute": 327_155_712,  # 13 sbh
    "tensor + sequence parallel + selective recompute": 106_954_752,  # 4.25 sbh
    "full recompute": 50_331_648,  # 2 sbh
}


@pytest.mark.parametrize("variant", list(GPT3_TABLE2))
def test_table2_gpt3_175b(variant):
    got = {v.name: v.activations.bytes_per_layer for v in megatron_table2(**GPT3, tensor_parallel=8)}
    assert got[variant] == _table2(2048, 1, 12288, 96, 8)[variant] == GPT3_TABLE2[variant]


@pytest.mark.parametrize(("kwargs", "variant"), [
    ({}, "no parallelism"),
    ({"tensor_parallel": 8}, "tensor parallel (baseline)"),
    ({"tensor_parallel": 8, "sequence_parallel": True}, "tensor + sequence parallel"),
    ({"tensor_parallel": 8, "recompute": "selective"}, "tensor parallel + selective recompute"),
    ({"tensor_parallel": 8, "sequence_parallel": True, "recompute": "selective"},
     "tensor + sequence parallel + selective recompute"),
    ({"tensor_parallel": 8, "recompute": "full"}, "full recompute"),
])
def test_megatron_activation_bytes_options(kwargs, variant):
    m = megatron_activation_bytes(**GPT3, layers=96, **kwargs)
    assert m.bytes_per_layer == GPT3_TABLE2[variant]
    assert m.total_bytes == 96 * GPT3_TABLE2[variant]


def test_section_4_1_items():
    # attention 11sbh + 5as^2b, MLP 19sbh, LayerNorms 4sbh (no parallelism); a s^2 b = 96*2048^2 = 402,653,184
    m = megatron_activation_bytes(**GPT3)
    sbh, as2b = 2048 * 12288, 96 * 2048 * 2048
    by_block = {block: sum(r.bytes for r in m.rows if r.item.block == block) for block in ("attention", "mlp", "layernorm")}
    assert by_block == {"attention": 11 * sbh + 5 * as2b, "mlp": 19 * sbh, "layernorm": 4 * sbh}
    assert [r.item.formula for r in m.rows if r.item.block == "mlp"] == ["2sbh", "8sbh", "8sbh", "sbh"]
    # the tensor-parallel split: 24 sbh + 5 as^2b between the column- and row-parallel linears, 10 sbh outside
    assert sum(i.sbh_bytes for i in ROWS if i.tensor_parallel) == 24 and sum(i.as2b_bytes for i in ROWS) == 5
    assert sum(i.sbh_bytes for i in ROWS if not i.tensor_parallel) == 10


@given(shape=megatron_shapes())
def test_table2_every_shape(shape):
    t = shape["tensor_parallel"]
    expected = _table2(shape["seq"], shape["batch"], shape["hidden"], shape["heads"], t)
    for v in megatron_table2(**shape, layers=3):
        assert v.activations.bytes_per_layer == expected[v.name]
        assert v.activations.total_bytes == 3 * expected[v.name]


def test_table2_on_sympy_symbols():
    sympy = pytest.importorskip("sympy")
    s, b, h, a, t = sympy.symbols("s b h a t", positive=True, integer=True)
    got = {v.name: v.activations.bytes_per_layer for v in megatron_table2(s, b, h, a, tensor_parallel=t)}
    sbh = s * b * h
    assert sympy.simplify(got["tensor parallel (baseline)"] - sbh * (10 + 24 / t + 5 * a * s / (h * t))) == 0
    assert sympy.simplify(got["tensor + sequence parallel"] - sbh * (34 / t + 5 * a * s / (h * t))) == 0


# --- units ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("24GiB", 24 * 2**30), ("80GB", 80 * 10**9), ("1.5TiB", 3 * 2**39), ("512MiB", 512 * 2**20),
    ("16000000000", 16 * 10**9), ("1e3", 1000), ("2kB", 2000), ("3KiB", 3 * 1024), ("7 gb", 7 * 10**9),
    ("1PiB", 2**50), ("0.5MB", 500_000),
])
def test_parse_bytes_exact(text, expected):
    assert parse_bytes(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("7.5e9", 7_500_000_000), ("7.5B", 7_500_000_000), ("175B", 175 * 10**9), ("125M", 125 * 10**6),
    ("350k", 350_000), ("1.3T", 1_300_000_000_000), ("42", 42),
])
def test_parse_count_exact(text, expected):
    assert parse_count(text) == expected


@pytest.mark.parametrize("text", ["", "GB", "12XB", "1.5", "-3GB", "0", "1e-3", "abc", "1.2.3GB"])
def test_bad_sizes_name_the_argument(text):
    with pytest.raises(ValueError, match=r"^device_memory: "):
        parse_bytes(text, "device_memory")


def test_format_bytes_both_prefixes():
    # 120e9 / 2^30 = 111.758... GiB; 1.875e9 / 2^30 = 1.746... GiB; 2^30 = 1.073741824 GB
    assert format_bytes(120 * 10**9) == "120.0 GB (111.8 GiB)"
    assert format_bytes(1_875_000_000) == "1.9 GB (1.7 GiB)"
    assert format_bytes(2**30) == "1.1 GB (1.0 GiB)"
    assert format_bytes(999) == "999 B" and format_bytes(1000) == "1.0 kB (1000 B)"
    assert round_half_up(Fraction(1, 20)) == Fraction(1, 10)  # 0.05 -> 0.1: ties away from zero


# --- errors ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("call", "message"), [
    (lambda: model_state_bytes(10, optimizer="lamb"), r"^optimizer: got 'lamb'; choose one of sgd"),
    (lambda: model_state_bytes(10, precision="fp8"), r"^precision: got 'fp8'; choose one of"),
    (lambda: model_state_bytes(10, convention="apex"), r"^convention: got 'apex'; choose one of"),
    (lambda: model_state_bytes(10, precision="bf16-master", convention="torch"),
     r"^convention: got 'torch', autocast's layout"),
    (lambda: model_state_bytes(10, zero=4), r"^zero: got 4; choose a ZeRO stage"),
    (lambda: model_state_bytes(10, data_parallel=0), r"^data_parallel: got 0; give a positive integer"),
    (lambda: model_state_bytes(7.5e9), r"^params: got 7500000000.0; give a positive integer"),
    (lambda: megatron_activation_bytes(2048, 1, 1000, 96), r"^heads: got 96; use a head count that divides hidden \(1000\)"),
    (lambda: megatron_activation_bytes(2048, 1, 12288, 96, tensor_parallel=5), r"^tensor_parallel: got 5; Megatron splits whole heads .* heads \(96\)"),
    (lambda: megatron_activation_bytes(0, 1, 12288, 96), r"^seq: got 0; give a positive integer"),
    (lambda: megatron_activation_bytes(2048, 1, 12288, 96, recompute="some"), r"^recompute: got 'some'; choose one of"),
])
def test_errors_name_the_parameter(call, message):
    with pytest.raises(ValueError, match=message):
        call()
