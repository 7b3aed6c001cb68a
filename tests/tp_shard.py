"""An independent oracle for tensor-parallel memory: one Megatron rank of a GPT-2-style model in plain torch.

A rank holds ``heads / t`` heads, ``ffn / t`` feed-forward units and ``vocab / t`` embedding rows (tied LM
head). The collectives are memory-neutral stand-ins on a single process: the all-reduce after a
row-parallel linear is the identity; with sequence parallelism the reduce-scatter is a copy of this rank's
``s / t`` slice, and the all-gather before a column-parallel linear concatenates ``t`` copies of the shard
inside a custom autograd Function that saves the shard and gathers again in the backward (Megatron's
``LinearWithGradAccumulationAndAsyncCommunication``). Selective recompute runs the attention core under
``torch.utils.checkpoint`` (``use_reentrant=False``); full recompute checkpoints each block. Nothing here
imports archcalc.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

__all__ = ["RankGPT", "RankBlock", "saved_bytes"]


class _GatherLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, t):
        ctx.save_for_backward(x, weight)
        ctx.t = t
        return F.linear(torch.cat([x] * t, dim=1), weight, bias)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        full = torch.cat([x] * ctx.t, dim=1)
        grad_w = grad.flatten(0, 1).t() @ full.flatten(0, 1)
        grad_x = (grad @ weight).narrow(1, 0, x.shape[1]).clone()  # the reduce-scatter of the input gradient
        return grad_x, grad_w, None if ctx.needs_input_grad[2] is False else grad.sum((0, 1)), None


class RankBlock(nn.Module):
    def __init__(self, d: int, heads: int, ffn: int, t: int, sp: bool, recompute: str, kept: list | None) -> None:
        super().__init__()
        self.hd, self.h, self.t, self.sp, self.recompute, self.kept = d // heads, heads // t, t, sp, recompute, kept
        self.ln_1, self.c_attn, self.c_proj = nn.LayerNorm(d), nn.Linear(d, 3 * d // t), nn.Linear(d // t, d)
        self.ln_2, self.c_fc, self.fc_proj = nn.LayerNorm(d), nn.Linear(d, ffn // t), nn.Linear(ffn // t, d)
        self.drop_1, self.drop_2 = nn.Dropout(0.1), nn.Dropout(0.1)

    def _col(self, x, lin):
        return _GatherLinear.apply(x, lin.weight, lin.bias, self.t) if self.sp else lin(x)

    def _row(self, y):
        return y.narrow(1, 0, y.shape[1] // self.t).clone() if self.sp else y

    def forward(self, x):
        qkv = self._col(self.ln_1(x), self.c_attn)
        b, s, _ = qkv.shape
        q, k, v = qkv.view(b, s, 3, self.h, self.hd).permute(2, 0, 3, 1, 4).unbind(0)
        if self.recompute == "selective":
            if self.kept is not None:  # saved_bytes counts what the checkpoint keeps
                self.kept.extend((q, k, v))
            a = checkpoint(F.scaled_dot_product_attention, q, k, v, is_causal=True, use_reentrant=False)
        else:
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        y = self.drop_1(self._row(self.c_proj(a.transpose(1, 2).reshape(b, s, -1))))
        x = y + x
        y = self.fc_proj(F.gelu(self._col(self.ln_2(x), self.c_fc), approximate="tanh"))
        return x + self.drop_2(self._row(y))


class RankGPT(nn.Module):
    def __init__(self, vocab: int, ctx: int, d: int, layers: int, heads: int, ffn: int, t: int = 1,
                 sp: bool = False, recompute: str = "none") -> None:
        super().__init__()
        self.t, self.sp, self.recompute = t, sp, recompute
        self.wte, self.wpe = nn.Embedding(vocab // t, d), nn.Embedding(ctx, d)
        self.h = nn.ModuleList(RankBlock(d, heads, ffn, t, sp, recompute, None) for _ in range(layers))
        self.drop, self.ln_f = nn.Dropout(0.1), nn.LayerNorm(d)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        if self.sp:
            x = x.narrow(1, 0, x.shape[1] // self.t).clone()
        x = self.drop(x)
        for block in self.h:
            x = checkpoint(block, x, use_reentrant=False) if self.recompute == "full" else block(x)
        x = self.ln_f(x)
        if self.sp:
            return _GatherLinear.apply(x, self.wte.weight, None, self.t)
        return F.linear(x, self.wte.weight)


def saved_bytes(block: RankBlock, x) -> int:
    """Bytes autograd saves in ``block(x)`` plus what a checkpoint keeps (its inputs), each storage once,
    parameters left out."""
    params = {p.untyped_storage().data_ptr() for p in block.parameters()}
    seen: dict[int, int] = {}

    def pack(t):
        s = t.untyped_storage()
        if s.data_ptr() not in params:
            seen[s.data_ptr()] = s.nbytes()
        return t

    block.train()
    block.kept.clear()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        if block.recompute == "full":
            block.kept.append(x)
            checkpoint(block, x, use_reentrant=False)
        else:
            block(x)
    for t in block.kept:
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    return sum(seen.values())
