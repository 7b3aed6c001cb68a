"""archcalc's peaks follow what torch really runs, checked against tensor storage bytes (tests/peak_profiler.py).

- A weight used twice (a tied embedding and LM head) gets two gradients; autograd's engine adds the second
  into the first out of place when the first is a view (``F.linear``'s weight gradient comes out of
  ``w.t()``'s backward), a third weight-sized tensor.
- Dropout with ``p = 0`` is the identity in training too: torch returns its input, no mask.
- ``F.scaled_dot_product_attention`` on the CPU runs the fused flash kernel without dropout (it saves q, k,
  v, the output and the log-sum-exp rows, and lays its output out in the query's memory order) and the
  composite math path with dropout (copies of q, k, v and three ``L x S`` matrices).
- HF GPT-2 (``transformers``, from a small config) and torchvision's ViT-B/16 layers: forward-pass peak and
  step peak within 2 % (the issue's bar; they are within 0.4 %), dropout on and off, SGD and Adam.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")
nn = torch.nn

from peak_profiler import measure_step_storage, measure_steps_storage, trace_storage  # noqa: E402
from peak_tracker import _storage_bytes  # noqa: E402


def _prediction(model, shape, batch, mode="sgd", dtype="float32"):
    from archcalc.frontends.torch_trace import from_torch
    from archcalc.memory.liveness.peak import peak_memory

    graph = from_torch(model, shape, batch=batch, input_dtypes=(dtype,), training=True)
    p = peak_memory(graph, shape, batch, training=True, optimizer=mode, first_step=True)  # the oracle's step 1
    return p, max(s.live_bytes for s in p.timeline if s.phase == "forward")


def _forward_storage(model, x) -> int:
    """Peak storage bytes of a training-mode forward pass and its ``.sum()``, parameters and input included."""
    model.train()
    before = _storage_bytes([*model.parameters(), *model.buffers(), x])
    return before + trace_storage(lambda: model(x).sum()).peak_bytes


class _Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb, self.head = nn.Embedding(1000, 64), nn.Linear(64, 1000, bias=False)
        self.head.weight = self.emb.weight

    def forward(self, ids):
        return self.head(self.emb(ids))


def test_a_tied_weight_gets_its_gradients_added_out_of_place(one_torch_thread):
    # W = 1000*64*4 = 256,000 bytes, ids 2*8*8 = 128. Backward: the head's gradient of W (256,000, a view
    # of mm's result), then the embedding's dense one (256,000); the engine adds them into a new tensor
    # (256,000) before it frees the two: W + ids + 3 x 256,000 = 1,024,128 (added in place: 772,352, -24.6 %).
    # The real run holds 8 bytes more (the loss, and a 4-byte tensor archcalc does not model).
    torch.manual_seed(0)
    model = _Tied()
    p, _ = _prediction(model, (8,), 2, dtype="int64")
    assert p.peak_bytes == 1_024_128 and p.peak_op == "emb (gradient of emb.weight added out of place)"
    measured = measure_step_storage(model, torch.randint(0, 1000, (2, 8)), "sgd")
    assert measured.peak_bytes == 1_024_136 and measured.peak_where == "aten::add"


def test_a_reused_conv_weight_is_added_in_place():
    from archcalc.ir.build import GraphBuilder
    from archcalc.memory.liveness.peak import peak_memory

    # a convolution's weight gradient is a fresh tensor: the second one is added into it (no third tensor)
    b = GraphBuilder("reuse", inputs=[("x", (4, 8, 8))])
    y = b.op("conv", "Conv2d", "x", out_channels=4, kernel_size=3, padding=1)
    z = b.op("conv:2", "Conv2d", y, module="conv", out_channels=4, kernel_size=3, padding=1)
    p = peak_memory(b.build(z), batch=1, training=True)
    assert not any("out of place" in s.op for s in p.timeline)


class _Mlp(nn.Module):
    def __init__(self, p: float | None) -> None:
        super().__init__()
        layers = [nn.Linear(256, 1024), nn.GELU()] + ([nn.Dropout(p)] if p is not None else []) + [nn.Linear(1024, 256)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


def test_dropout_with_p_zero_is_the_identity(one_torch_thread):
    # torch's dropout returns its input when p = 0 (no mask, no copy): the same bytes as no dropout at all.
    # b, t = 8, 128; F = 8*128*1024*4 = 4,194,304 bytes per wide tensor; p = 0 booked as a real dropout
    # counted one more at the peak (the float noise it saves).
    torch.manual_seed(0)
    x = torch.randn(8, 128, 256)
    zero, none = (_prediction(_Mlp(p), (128, 256), 8) for p in (0.0, None))
    # the same schedule, less the dropout's own samples
    assert [s.live_bytes for s in zero[0].timeline if s.op != "body.2"] == [s.live_bytes for s in none[0].timeline]
    model = _Mlp(0.0)
    measured = measure_step_storage(model, x, "sgd")
    assert abs(zero[0].peak_bytes - measured.peak_bytes) <= 0.005 * measured.peak_bytes, measured
    torch.manual_seed(0)
    model = _Mlp(0.1)  # a real dropout keeps its float noise F (and its output replaces GELU's as a new F)
    dropped, _ = _prediction(model, (128, 256), 8)
    assert dropped.peak_bytes == zero[0].peak_bytes + 4_194_304
    measured = measure_step_storage(model, x, "sgd")
    assert abs(dropped.peak_bytes - measured.peak_bytes) <= 0.005 * measured.peak_bytes, measured


class _Attention(nn.Module):
    """HF's layout: q, k, v views of one projection, heads by ``view(b, t, h, e).transpose(1, 2)``."""

    def __init__(self, dropout: float, heads: int = 4, d: int = 256) -> None:
        super().__init__()
        self.qkv, self.out, self.heads, self.dropout = nn.Linear(d, 3 * d), nn.Linear(d, d), heads, dropout

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = (y.view(b, t, self.heads, d // self.heads).transpose(1, 2) for y in self.qkv(x).split(d, dim=2))
        a = nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout, is_causal=True)
        return self.out(a.transpose(1, 2).reshape(b, t, d))


@pytest.mark.parametrize("dropout", [0.0, 0.1])
@pytest.mark.parametrize("mode", ["sgd", "adam"])
def test_attention_kernels_on_the_cpu(dropout, mode, one_torch_thread):
    # b, h, t, e = 2, 4, 256, 64: without dropout the flash kernel keeps q, k, v (views of the projection),
    # the output (2*4*256*64*4 = 524,288 bytes) and the log-sum-exp rows (2*4*256*4 = 8,192); with dropout the
    # math path keeps 3 x 524,288 of copies and 3 x 2*4*256*256*4 = 6,291,456 of L x S matrices.
    from archcalc.ops.attention import math_saved_elements, sdpa_kernel

    assert sdpa_kernel("cpu", dropout) == ("math" if dropout else "fused")
    assert math_saved_elements([(2, 4, 256, 64)] * 3) * 4 == 3 * 524_288 + 6_291_456
    torch.manual_seed(0)
    model, x = _Attention(dropout), torch.randn(2, 256, 256)
    p, forward = _prediction(model, (256, 256), 2, mode)
    measured = measure_step_storage(model, x, mode)
    real_forward = _forward_storage(model, x)
    assert abs(forward - real_forward) <= 0.005 * real_forward, (forward, real_forward)
    # The math path's backward is a chain of autograd nodes (bmm, dropout's mul, softmax, bmm, the scalings)
    # whose L x S gradients archcalc books as one node's: with attention the whole model, the step peak
    # (in the backward pass, SGD and Adam alike) is 2.05 % low (12,587,008 vs 12,850,184 bytes at the first
    # BmmBackward0): a known gap; without dropout it is exact.
    bar = 0.025 if dropout else 0.005
    assert abs(p.peak_bytes - measured.peak_bytes) <= bar * measured.peak_bytes, (p.peak_bytes, measured)


def _gpt2(dropout: float, vocab: int = 1000):
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()

    class LM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            cfg = transformers.GPT2Config(vocab_size=vocab, n_layer=2, n_embd=256, n_head=4, n_positions=256,
                                          resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout,
                                          bos_token_id=0, eos_token_id=0)
            self.lm = transformers.GPT2LMHeadModel(cfg)  # tied wte / lm_head, gelu_new as ops, SDPA attention

        def forward(self, ids):
            return self.lm(ids, use_cache=False).logits

    return LM()


@pytest.mark.slow
@pytest.mark.parametrize("dropout", [0.1, 0.0])
@pytest.mark.parametrize("mode", ["sgd", "adam"])
def test_hf_gpt2_forward_and_step(dropout, mode, one_torch_thread):
    # 2 layers, d 256, 4 heads, vocabulary 1,000, sequence 256, batch 2 (measured: every case within 0.01 %;
    # before this fixes, dropout 0.1: forward -20.8 %; dropout 0: forward +28 %)
    torch.manual_seed(0)
    model, x = _gpt2(dropout), torch.randint(0, 1000, (2, 256))
    p, forward = _prediction(model, (256,), 2, mode, dtype="int64")
    measured = measure_step_storage(model, x, mode)
    assert abs(p.peak_bytes - measured.peak_bytes) <= 0.02 * measured.peak_bytes, (p.peak_bytes, measured)
    real_forward = _forward_storage(model, x)
    assert abs(forward - real_forward) <= 0.02 * real_forward, (forward, real_forward)
    # the steady state (archcalc's default) against the real run's third step
    from archcalc.frontends.torch_trace import from_torch
    from archcalc.memory.liveness.peak import peak_memory

    graph = from_torch(model, (256,), batch=2, input_dtypes=("int64",), training=True)
    steady = peak_memory(graph, (256,), 2, training=True, optimizer=mode)
    third = measure_steps_storage(model, x, mode, steps=3)[-1]
    assert abs(steady.peak_bytes - third.peak_bytes) <= 0.02 * third.peak_bytes, (steady.peak_bytes, third)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sgd", "adam"])
def test_vit_b16_layers_forward_and_step(mode, one_torch_thread):
    # torchvision's ViT-B/16 with 2 of its 12 layers, 224 x 224, batch 2: 37 dropouts with p = 0 in the full
    # model, none booked; the in-projection copies its transposed input; the out-projection's input is a view
    # of the flash kernel's output (measured: forward exact, SGD step -0.00 %, Adam -0.00 %)
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.VisionTransformer(image_size=224, patch_size=16, num_layers=2, num_heads=12,
                                                 hidden_dim=768, mlp_dim=3072)
    x = torch.randn(2, 3, 224, 224)
    p, forward = _prediction(model, (3, 224, 224), 2, mode)
    measured = measure_step_storage(model, x, mode)
    assert abs(p.peak_bytes - measured.peak_bytes) <= 0.02 * measured.peak_bytes, (p.peak_bytes, measured)
    real_forward = _forward_storage(model, x)
    assert abs(forward - real_forward) <= 0.02 * real_forward, (forward, real_forward)


class _MaskedAttention(_Attention):
    def forward(self, x):
        b, t, d = x.shape
        q, k, v = (y.view(b, t, self.heads, d // self.heads).transpose(1, 2) for y in self.qkv(x).split(d, dim=2))
        mask = torch.ones(t, t, dtype=torch.bool).tril()
        a = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout)
        return self.out(a.transpose(1, 2).reshape(b, t, d))


def test_the_fused_kernel_saves_a_bool_mask_as_float(one_torch_thread):
    # the 256 x 256 bool mask (65,536 bytes) is converted to a float one (262,144) and that one is saved
    # (measured: step 6,304,768 vs 6,304,776 bytes, forward exact)
    torch.manual_seed(0)
    model, x = _MaskedAttention(0.0), torch.randn(2, 256, 256)
    p, forward = _prediction(model, (256, 256), 2)
    measured = measure_step_storage(model, x, "sgd")
    assert abs(p.peak_bytes - measured.peak_bytes) <= 0.005 * measured.peak_bytes, (p.peak_bytes, measured)
    assert forward == _forward_storage(model, x)
