"""archcalc's per-rank counts against a real per-rank shard in torch (tests/tp_shard.py).

Saved bytes: autograd's saved tensors (saved_tensors_hooks, each storage once, parameters left out) plus what a
checkpoint keeps (its inputs) equal archcalc's own per-layer count exactly, for t = 1, 2, 4 with and without
sequence parallelism and every recompute mode. Peak: within 2 % of tests/peak_tracker.py (glibc's live heap
sampled after every torch call and autograd node of the real step) for recompute none / selective at
t = 1, 2; for full recompute see test_full_recompute_peak_bounds.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.torch]
torch = pytest.importorskip("torch")

from peak_tracker import measure_step  # noqa: E402
from tp_shard import RankBlock, RankGPT, saved_bytes  # noqa: E402

from archcalc.parallel.layer_count import layer_saved  # noqa: E402
from archcalc.parallel.step import rank_peak  # noqa: E402
from archcalc.zoo_transformers import CONFIGS, with_sizes  # noqa: E402

D, HEADS, SEQ, BATCH = 64, 8, 32, 2
CASES = [(t, sp, r) for t in (1, 2, 4) for sp in (False, True) for r in ("none", "selective", "full") if t > 1 or not sp]


@pytest.mark.parametrize("t, sp, recompute", CASES)
def test_layer_saved_bytes_equal_autograd(t, sp, recompute, one_torch_thread):
    torch.manual_seed(0)
    block = RankBlock(D, HEADS, 4 * D, t, sp, recompute, [])
    x = torch.randn(BATCH, SEQ // t if sp else SEQ, D, requires_grad=True)
    cfg = with_sizes(CONFIGS["gpt"], layers=1, hidden=D, heads=HEADS, ffn=4 * D, vocab=64)
    own = layer_saved(cfg, SEQ, BATCH, tensor_parallel=t, sequence_parallel=sp, recompute=recompute)
    # e.g. t = 1, none: sbh = 32*2*64 = 4,096; 4 bytes x (x, ln_1 out, qkv 3, attention out, noise mask, ln_2 in,
    # ln_2 out, gelu in 4, gelu out 4, noise mask) = 4 x 18 sbh = 294,912, + LayerNorm mean/rstd 2 x 8 x 64 rows
    # = 1,024, + log-sum-exp 4 x 8 heads x 64 rows = 2,048: 297,984 bytes
    assert saved_bytes(block, x) == own.bytes


@pytest.mark.parametrize("t, sp, recompute", [(1, False, "none"), (2, True, "none"), (4, False, "selective")])
def test_layer_saved_bytes_equal_autograd_in_bf16(t, sp, recompute, one_torch_thread):
    # bf16 on the CPU: 2-byte activations and noise masks, LayerNorm mean/rstd in bf16, log-sum-exp float32
    torch.manual_seed(0)
    block = RankBlock(D, HEADS, 4 * D, t, sp, recompute, []).to(torch.bfloat16)
    x = torch.randn(BATCH, SEQ // t if sp else SEQ, D, requires_grad=True, dtype=torch.bfloat16)
    cfg = with_sizes(CONFIGS["gpt"], layers=1, hidden=D, heads=HEADS, ffn=4 * D, vocab=64)
    own = layer_saved(cfg, SEQ, BATCH, tensor_parallel=t, sequence_parallel=sp, recompute=recompute,
                      precision="bf16")
    assert saved_bytes(block, x) == own.bytes


SMALL = dict(vocab=1000, ctx=256, d=128, layers=2, heads=4, ffn=512)


def _peaks(t: int, recompute: str, batch: int = 8):
    torch.manual_seed(0)
    model = RankGPT(SMALL["vocab"], SMALL["ctx"], SMALL["d"], SMALL["layers"], SMALL["heads"], SMALL["ffn"], t,
                    False, recompute)
    measured = measure_step(model, torch.randint(0, SMALL["vocab"] // t, (batch, 256)), "sgd")
    cfg = with_sizes(CONFIGS["gpt"], layers=2, hidden=128, heads=4, ffn=512, vocab=1000)
    return rank_peak(cfg, 256, batch, tensor_parallel=t, recompute=recompute), measured


@pytest.mark.slow
@pytest.mark.parametrize("t", [1, 2])
@pytest.mark.parametrize("recompute", ["none", "selective"])
def test_peak_matches_the_real_run(t, recompute, one_torch_thread):
    p, measured = _peaks(t, recompute)
    assert abs(p.peak_bytes - measured.peak_bytes) <= 0.02 * measured.peak_bytes, (p.peak_bytes, measured)


@pytest.mark.slow
@pytest.mark.parametrize("t", [1, 2])
def test_full_recompute_peak_bounds(t, one_torch_thread):
    # The tracker samples after each autograd node; torch's checkpoint drops a recomputed tensor's last
    # reference when the node unpacks it, so the tracker never sees a node's recomputed saved tensors beside
    # the gradient it allocates. archcalc counts that moment: it lies above the sampled peak, by at most the
    # largest saved tensor of a layer (the GELU output, 4 bytes x b s ffn / t), plus 2 %.
    p, measured = _peaks(t, "full")
    gelu_out = 4 * 8 * 256 * 512 // t
    assert measured.peak_bytes <= p.peak_bytes <= 1.02 * (measured.peak_bytes + gelu_out), (p.peak_bytes, measured)
