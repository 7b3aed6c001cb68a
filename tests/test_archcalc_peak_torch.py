"""Predicted peaks against the peak the real CPU run reaches (tests/peak_tracker.py: glibc's live heap bytes
sampled after every torch call and autograd node of the real step), within 2 %.

A representative slice that fits CI (about two minutes on two cores); ``benchmarks/bench_peak.py`` runs the
full grid (every zoo model and seven torchvision models, batch 1 / 8 / 32, inference / SGD / Adam, fp32 and
bf16 autocast); pure bf16 (``model.to(torch.bfloat16)``) is checked here on ResNet-18 and records it in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.torch, pytest.mark.slow]
torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from peak_tracker import measure_step  # noqa: E402

from archcalc.memory.liveness.peak import peak_memory  # noqa: E402

CASES = [
    *[("resnet18", b, mode, "fp32") for b in (1, 8, 32) for mode in ("inference", "sgd", "adam")],
    ("vgg11", 8, "inference", "fp32"), ("vgg11", 8, "sgd", "fp32"),
    ("googlenet", 8, "sgd", "fp32"), ("inception-small", 8, "sgd", "fp32"),
    ("torchvision:mobilenet_v2", 8, "sgd", "fp32"), ("torchvision:densenet121", 8, "inference", "fp32"),
    ("torchvision:efficientnet_b0", 8, "adam", "fp32"), ("torchvision:shufflenet_v2_x1_0", 8, "sgd", "fp32"),
    ("resnet18", 8, "inference", "bf16-mixed"), ("resnet18", 32, "sgd", "bf16-mixed"),
    ("torchvision:mobilenet_v2", 8, "sgd", "bf16-mixed"), ("resnet18", 8, "adam", "bf16"),
]


def _twin(name: str, size: int):
    torch.manual_seed(0)
    if name == "inception-small":
        from mlcore.models import inception_small

        return inception_small((3, size, size))
    tv = name.removeprefix("torchvision:")
    kwargs = {"aux_logits": False, "init_weights": False} if tv == "googlenet" else {}
    return getattr(torchvision.models, tv)(weights=None, **kwargs)


@pytest.mark.parametrize("name, batch, mode, precision", CASES)
def test_peak_matches_the_real_run(name, batch, mode, precision, one_torch_thread):
    size = 32 if name == "inception-small" else 64
    if name.startswith("torchvision:"):
        from archcalc.frontends.torch_trace import from_torchvision

        graph = from_torchvision(name.removeprefix("torchvision:"), (3, size, size), batch)
    else:
        from archcalc.zoo import build

        graph = build(name)
    x, model = torch.randn(batch, 3, size, size), _twin(name, size)
    if precision == "bf16":  # the model and its input converted, no autocast
        x, model = x.to(torch.bfloat16), model.to(torch.bfloat16)
    measured = measure_step(model, x, mode, torch.bfloat16 if precision == "bf16-mixed" else None)
    p = peak_memory(graph, (3, size, size), batch, training=mode != "inference",
                    optimizer="adam" if mode == "adam" else "sgd", precision=precision, first_step=True)  # step 1
    # the oracle counts malloc's block headers and page rounding on top of tensor bytes; 2 % is the bar
    assert abs(p.peak_bytes - measured.peak_bytes) <= 0.02 * measured.peak_bytes, (p.peak_bytes, measured)
    assert p.breakdown.total_bytes == p.peak_bytes


def _gpt2(vocab: int, ctx: int, d: int, layers: int, heads: int):
    """nanoGPT's layout (the GPT-2 of docs/memory.md): tied embedding, pre-norm blocks, causal SDPA."""
    import torch.nn as nn
    import torch.nn.functional as F

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln_1, self.attn, self.proj = nn.LayerNorm(d), nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.ln_2, self.fc, self.out = nn.LayerNorm(d), nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

        def forward(self, x):
            b, t, _ = x.shape
            q, k, v = self.attn(self.ln_1(x)).split(d, dim=2)
            q, k, v = (z.view(b, t, heads, d // heads).transpose(1, 2) for z in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
            return x + self.out(F.gelu(self.fc(self.ln_2(x)), approximate="tanh"))

    class GPT2(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(ctx, d)
            self.h = nn.ModuleList(Block() for _ in range(layers))
            self.ln_f = nn.LayerNorm(d)

        def forward(self, idx):
            x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
            for block in self.h:
                x = block(x)
            return F.linear(self.ln_f(x), self.wte.weight)

    return GPT2()


@pytest.mark.parametrize("batch, mode", [(1, "sgd"), (8, "inference"), (8, "sgd"), (8, "adam")])
def test_gpt2_style_peak_matches_the_real_run(batch, mode, one_torch_thread):
    from archcalc.frontends.torch_trace import from_torch

    torch.manual_seed(0)
    model = _gpt2(vocab=1000, ctx=256, d=128, layers=2, heads=4)
    graph = from_torch(model, (256,), batch=batch, input_dtypes=("int64",), name="gpt2-mini")
    measured = measure_step(model, torch.randint(0, 1000, (batch, 256)), mode)
    p = peak_memory(graph, (256,), batch, training=mode != "inference", optimizer="adam" if mode == "adam" else "sgd",
                    first_step=True)  # measure_step runs step 1
    assert abs(p.peak_bytes - measured.peak_bytes) <= 0.02 * measured.peak_bytes, (p.peak_bytes, measured)
