"""Hand-written networks in plain torch, traced with ``from_torch``: each checked three ways against torch
(parameters == unique numel, 2 x MACs == FlopCounterMode on the meta device, output shapes == the real
forward's) and against a count derived by hand in the comments."""

from __future__ import annotations

import pytest

from archcalc.ir.evaluate import evaluate

pytestmark = pytest.mark.torch


def _checked(module, *shapes, batch=1, dtypes=(), training=False):
    """Trace ``module``, evaluate it, check it against torch and return the evaluation."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from archcalc.frontends.torch_trace import from_torch, unmodeled_nodes

    graph = from_torch(module, *shapes, batch=batch, input_dtypes=dtypes, training=training)
    unique = sum(p.numel() for p in module.parameters())  # parameters() is deduplicated (before .to: it unties)
    assert unmodeled_nodes(graph) == []
    ev = evaluate(graph, batch=batch)
    meta = module.to("meta").train(training)
    full = [(batch, *s) for s in shapes]
    types = tuple(dtypes) + ("float32",) * (len(shapes) - len(dtypes))
    xs = [torch.zeros(s, dtype=getattr(torch, d), device="meta") for s, d in zip(full, types, strict=True)]
    with FlopCounterMode(display=False) as counter:
        out = meta(*xs)
    outs = out if isinstance(out, tuple) else (out,)
    outs = [t for o in outs for t in (o if isinstance(o, tuple) else (o,))]
    assert ev.total("params") == unique
    assert 2 * ev.total("macs") == counter.get_total_flops()
    shape_of = {v: s for r, n in zip(ev.rows, graph.nodes, strict=True) for v, s in zip(n.outputs, r.output_shapes,
                                                                                        strict=True)}
    assert [shape_of[v] for v in graph.outputs] == [tuple(t.shape) for t in outs]
    return graph, ev


def _gpt2(vocab=50, ctx=16, d=16, heads=2, layers=2):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

        def forward(self, x):
            b, t, _ = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
            q, k, v = (z.view(b, t, heads, d // heads).transpose(1, 2) for z in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.c_proj(y.transpose(1, 2).contiguous().view(b, t, d))
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(ctx, d)
            self.h = nn.ModuleList(Block() for _ in range(layers))
            self.ln_f = nn.LayerNorm(d)
            self.lm_head = nn.Linear(d, vocab, bias=False)
            self.lm_head.weight = self.wte.weight  # tied

        def forward(self, idx):
            pos = torch.arange(idx.shape[1], device=idx.device)
            x = self.wte(idx) + self.wpe(pos)
            for block in self.h:
                x = block(x)
            return self.lm_head(self.ln_f(x))

    return GPT()


def test_gpt2_style_decoder():
    # V=50, ctx=16, d=16, 2 heads of 8, 2 blocks; batch 2 x 8 tokens = 16 tokens.
    # params: wte 50*16 = 800, wpe 16*16 = 256; block: ln 2*(2*16) = 64, c_attn 16*48 + 48 = 816,
    # c_proj 256 + 16 = 272, c_fc 16*64 + 64 = 1088, mlp_proj 64*16 + 16 = 1040 -> 3280 x 2 = 6560;
    # ln_f 32; lm_head tied to wte: 0. Total 800 + 256 + 6560 + 32 = 7648.
    # MACs per block: c_attn 16*16*48 = 12288, SDPA 2*2 * 8*8 * (8+8) = 4096 (full 8 x 8, causal or not),
    # c_proj 16*16*16 = 4096, c_fc 16*16*64 = 16384, mlp_proj 16384 -> 53248 x 2 = 106496;
    # lm_head 16*16*50 = 12800. Total 119296.
    graph, ev = _checked(_gpt2(), (8,), batch=2, dtypes=("int64",))
    assert ev.total("params") == 7648
    assert ev.total("macs") == 119296
    assert ev.output_shape == (2, 8, 50)
    assert sum(1 for n in graph.nodes if n.kind == "ScaledDotProductAttention") == 2


@pytest.mark.parametrize("training", [False, True])
def test_transformer_encoder(training):
    import torch.nn as nn

    layer = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, batch_first=True)
    encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
    # per layer: in_proj 3*16*16 + 48 = 816, out_proj 16*16 + 16 = 272, linear1 16*32 + 32 = 544,
    # linear2 32*16 + 16 = 528, norm1 + norm2 2*32 = 64 -> 2224; 2 layers 4448 (deep copies, not shared).
    # MACs, batch 2 x 8 tokens = 16: in_proj 16*16*48 = 12288, attention 2*2 * 8*8 * (8+8) = 4096,
    # out_proj 16*16*16 = 4096, linear1 16*16*32 = 8192, linear2 8192 -> 36864 x 2 = 73728 (dropout: none).
    graph, ev = _checked(encoder, (8, 16), batch=2, training=training)
    assert ev.total("params") == 4448
    assert ev.total("macs") == 73728
    drops = [r for r in ev.rows if r.kind == "Dropout"]
    # train: dropout after attention, inside the MLP and after it, per layer: 3 x 2 = 6 (+ SDPA's own p)
    assert (len(drops) == 6) if training else all(r.elementwise_ops == 0 for r in drops)


def test_lstm_classifier():
    import torch.nn as nn

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(100, 8)
            self.lstm = nn.LSTM(8, 6, num_layers=2, bidirectional=True, batch_first=True)
            self.fc = nn.Linear(12, 3)

        def forward(self, tokens):
            out, _ = self.lstm(self.emb(tokens))
            return self.fc(out[:, -1])

    # params: emb 100*8 = 800; LSTM layer 0, per direction 24*8 + 24*6 + 2*24 = 384 (x2 = 768),
    # layer 1 (input 2*6 = 12) 24*12 + 24*6 + 48 = 480 (x2 = 960); fc 12*3 + 3 = 39. Total 2567.
    # MACs, batch 2 x 5 steps = 10: layer 0 10 * 2 dirs * 24*(8+6) = 6720, layer 1 10*2 * 24*(12+6) = 8640,
    # fc 2 * 12*3 = 72. Total 15432.
    graph, ev = _checked(Classifier(), (5,), batch=2, dtypes=("int64",))
    assert (ev.total("params"), ev.total("macs")) == (2567, 15432)
    # one LSTM node (its zero initial states h0, c0 are Constant nodes)
    assert [n.kind for n in graph.nodes if n.module == "lstm"] == ["Constant", "Constant", "LSTM"]


def test_unet_like():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Conv2d(3, 8, 3, padding=1)
            self.mid = nn.Conv2d(8, 16, 3, padding=1)
            self.up = nn.ConvTranspose2d(16, 8, 2, stride=2)
            self.dec = nn.Conv2d(16, 8, 3, padding=1)
            self.side = nn.Conv2d(16, 8, 1)
            self.head = nn.Conv2d(8, 2, 1)

        def forward(self, x):
            e = F.relu(self.enc(x))
            m = F.relu(self.mid(F.max_pool2d(e, 2)))
            d = self.dec(torch.cat([self.up(m), e], dim=1))
            d = d + self.side(F.interpolate(m, scale_factor=2, mode="bilinear", align_corners=False))
            return self.head(d)

    # params: enc 3*8*9 + 8 = 224, mid 8*16*9 + 16 = 1168, up 16*8*2*2 + 8 = 520, dec 16*8*9 + 8 = 1160,
    # side 16*8 + 8 = 136, head 8*2 + 2 = 18. Total 3226.
    # MACs on 3 x 8 x 8: enc 8*8*8 * 27 = 13824; mid on 4x4: 4*4*16 * 72 = 18432; up (transposed: input
    # elements x out channels x 2*2) 4*4*16 * 8*4 = 8192; dec 8*8*8 * 144 = 73728; side 8*8*8 * 16 = 8192;
    # head 8*8*2 * 8 = 1024. Total 123392.
    graph, ev = _checked(UNet(), (3, 8, 8))
    assert (ev.total("params"), ev.total("macs")) == (3226, 123392)
    kinds = {n.kind for n in graph.nodes}
    assert {"ConvTranspose2d", "Concat", "Interpolate", "MaxPool2d"} <= kinds
    # bilinear: 7 operations per output element; m (16 x 4 x 4) upsampled to 16*8*8 = 1024 elements
    assert [r.elementwise_ops for r in ev.rows if r.kind == "Interpolate"] == [7 * 1024]


def _net_with_reuse(reuse):
    # fvcore tests/test_param_count.py NetWithReuse (definition ported; a forward added to trace it).
    import torch.nn as nn

    class NetWithReuse(nn.Module):
        def __init__(self, reuse=False):
            super().__init__()
            self.conv1 = nn.Conv2d(100, 100, 3)
            self.conv2 = nn.Conv2d(100, 100, 3)
            if reuse:
                self.conv2.weight = self.conv1.weight

        def forward(self, x):
            return self.conv2(self.conv1(x))

    return NetWithReuse(reuse)


@pytest.mark.parametrize(("reuse", "params"), [(True, 90_200), (False, 180_200)])
def test_shared_weights_fvcore_net_with_reuse(reuse, params):
    # fvcore: 90,200 with reuse (conv weight 100*100*3*3 = 90,000 once + two biases 2*100), else 2 * 90,100.
    # MACs on 100 x 7 x 7: conv1 5*5*100 * 900 = 2,250,000; conv2 3*3*100 * 900 = 810,000 -> 3,060,000.
    graph, ev = _checked(_net_with_reuse(reuse), (100, 7, 7))
    assert ev.total("params") == params
    assert ev.total("macs") == 3_060_000
    assert [r.params for r in ev.rows] == ([90_100, 100] if reuse else [90_100, 90_100])


def test_module_called_twice():
    import torch.nn as nn
    import torch.nn.functional as F

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = nn.Linear(8, 8)

        def forward(self, x):
            return self.block(F.relu(self.block(x)))

    # params 8*8 + 8 = 72, counted once; MACs 2 calls x batch 2 x 8*8 = 256.
    graph, ev = _checked(Twice(), (8,), batch=2)
    assert (ev.total("params"), ev.total("macs")) == (72, 256)
    linear = [r for r in ev.rows if r.kind == "Linear"]
    assert [r.name for r in linear] == ["block", "block:2"] and [r.params for r in linear] == [72, 0]
