"""archcalc.memory against real torch: optimizer-state bytes after a real step, and the bytes autograd saves
in a GPT layer written from torch ops (Korthikanti et al.'s section 4.1 items, measured, not typed).

The layer follows the paper's: pre-LayerNorm attention and MLP blocks with dropout after the softmax and
after each block, bf16 activations (2 bytes, like the paper's fp16) and ``torch.native_dropout``, the fused
dropout CUDA runs, which keeps a 1-byte bool mask (CPU's ``F.dropout`` keeps a mask in the activation dtype).
Saved tensors are observed with ``saved_tensors_hooks`` (which changes no kernel) and counted once per
storage, parameters excluded.
"""

from __future__ import annotations

import pytest

from archcalc.memory.formulas import megatron_activation_bytes, model_state_bytes

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")


@pytest.mark.parametrize(("optimizer", "dtype"), [("sgd", "float32"), ("momentum", "float32"), ("adam", "float32"),
                                                  ("adamw", "float32"), ("momentum", "bfloat16"),
                                                  ("adam", "bfloat16"), ("adam", "autocast")])
def test_layout_matches_a_real_torch_step(optimizer, dtype, one_torch_thread):
    """Oracle: bytes of parameters, .grad and optimizer.state tensors after one real step (torch.optim)."""
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 4))
    params = sum(p.numel() for p in model.parameters())  # 8*16 + 16 + 16*4 + 4 = 212
    assert params == 212
    if dtype == "bfloat16":
        model = model.to(torch.bfloat16)
    opt = {"sgd": lambda p: torch.optim.SGD(p, lr=0.1), "momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
           "adam": lambda p: torch.optim.Adam(p), "adamw": lambda p: torch.optim.AdamW(p)}[optimizer](model.parameters())
    x = torch.randn(2, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "autocast"):
        loss = model(x.to(next(model.parameters()).dtype)).float().square().mean()
    loss.backward()
    opt.step()
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    grads = sum(p.grad.numel() * p.grad.element_size() for p in model.parameters())
    # per-element states only: Adam's scalar `step` tensors are per tensor, not per parameter
    states = sum(t.numel() * t.element_size() for p in model.parameters() for t in opt.state[p].values()
                 if torch.is_tensor(t) and t.shape == p.shape)
    precision = {"float32": "fp32", "bfloat16": "bf16", "autocast": "bf16-mixed"}[dtype]
    m = model_state_bytes(params, optimizer=optimizer, precision=precision, convention="torch")
    assert (weights, grads, states) == (m.weights_bytes, m.gradients_bytes, m.optimizer_bytes)
    assert m.master_weights_bytes == 0 and m.total_bytes == weights + grads + states


S, B, H, A = 16, 2, 32, 4  # s, b, h, a: sbh = 1,024 and a s^2 b = 2,048


def _saved_bytes_by_block(recompute: str) -> dict[str, int]:
    """Bytes autograd keeps after one forward of the layer, by block (LayerNorm, attention, MLP)."""
    import torch.nn.functional as F
    from torch.utils.checkpoint import checkpoint

    torch.manual_seed(0)
    d = H // A
    weights = {name: torch.randn(*shape, dtype=torch.bfloat16, requires_grad=True) for name, shape in {
        "qkv": (3 * H, H), "b_qkv": (3 * H,), "o": (H, H), "b_o": (H,), "w1": (4 * H, H), "b1": (4 * H,),
        "w2": (H, 4 * H), "b2": (H,), "g1": (H,), "be1": (H,), "g2": (H,), "be2": (H,)}.items()}
    block = ["input"]

    def drop(t):
        return torch.native_dropout(t, 0.1, True)[0]

    def core(q, k, v):  # what selective recompute recomputes: QK^T, softmax, its dropout, attention over V
        return torch.bmm(drop(torch.softmax(torch.bmm(q, k.transpose(1, 2)) * d**-0.5, dim=-1)), v)

    def layer(x, selective):
        block[0] = "layernorm"
        ln1 = F.layer_norm(x, (H,), weights["g1"], weights["be1"])
        block[0] = "attention"
        q, k, v = F.linear(ln1, weights["qkv"], weights["b_qkv"]).view(S, B * A, 3 * d).transpose(0, 1).split(d, -1)
        ctx = checkpoint(core, q, k, v, use_reentrant=True) if selective else core(q, k, v)
        y = x + drop(F.linear(ctx.transpose(0, 1).reshape(S, B, H), weights["o"], weights["b_o"]))
        block[0] = "layernorm"
        ln2 = F.layer_norm(y, (H,), weights["g2"], weights["be2"])
        block[0] = "mlp"
        return y + drop(F.linear(F.gelu(F.linear(ln2, weights["w1"], weights["b1"])), weights["w2"], weights["b2"]))

    x = torch.randn(S, B, H, dtype=torch.bfloat16, requires_grad=True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append((block[0], t)) or t, lambda t: t):
        if recompute == "full":
            out = checkpoint(layer, x, False, use_reentrant=True)
        else:
            out = layer(x, recompute == "selective")
    out.float().sum().backward()  # the saved tensors really serve a backward pass
    params = {w.untyped_storage().data_ptr() for w in weights.values()}
    first_seen: dict[int, tuple[str, int]] = {}
    for name, t in saved:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            first_seen.setdefault(storage.data_ptr(), ("all" if recompute == "full" else name, storage.nbytes()))
    totals: dict[str, int] = {}
    for name, nbytes in first_seen.values():
        totals[name] = totals.get(name, 0) + nbytes
    return totals


# LayerNorm also saves its per-token mean and rstd, which the paper neglects:
# 2 LayerNorms x 2 statistics x s*b = 32 tokens x 2 bytes (bf16 on the CPU) = 256 bytes
LN_STATS = 2 * 2 * S * B * 2


@pytest.mark.parametrize("recompute", ["none", "selective"])
def test_saved_tensors_match_section_4_1(recompute, one_torch_thread):
    rows = megatron_activation_bytes(S, B, H, A, recompute=recompute).rows
    expected = {block: sum(r.bytes for r in rows if r.item.block == block) for block in ("layernorm", "attention", "mlp")}
    # none: attention 11*1024 + 5*2048 = 21,504, MLP 19*1024 = 19,456, LayerNorms 4*1024 = 4,096
    # selective: attention 11*1024 = 11,264 (the checkpoint keeps Q, K, V: one 6sbh QKV buffer)
    assert expected["attention"] == (21_504 if recompute == "none" else 11_264)
    assert (expected["mlp"], expected["layernorm"]) == (19_456, 4_096)
    measured = _saved_bytes_by_block(recompute)
    assert measured == {**expected, "layernorm": expected["layernorm"] + LN_STATS}


def test_full_recompute_keeps_the_layer_input(one_torch_thread):
    # a reentrant checkpoint around the whole layer saves its input only: 2sbh = 2,048 bytes
    assert _saved_bytes_by_block("full") == {"all": megatron_activation_bytes(S, B, H, A, recompute="full").bytes_per_layer}
    assert megatron_activation_bytes(S, B, H, A, recompute="full").bytes_per_layer == 2 * S * B * H
