"""Mixture of experts: total parameters against the parameters one token uses.

A token passes through ``top_k`` of the ``E`` experts of every MoE layer, so the parameters it meets are
the dense ones (attention, embeddings, norms, routers, shared experts) plus ``top_k / E`` of the experts'.
:func:`moe_params` finds the experts in a torch module (meta is fine: only shapes are read) from the
module tree and the model's config: a module whose name ends in ``experts`` (transformers' fused
``MixtralExperts`` with ``(E, ...)`` parameters, or a ``ModuleList`` of ``E`` expert MLPs) holds ``E``
equal experts; ``top_k`` is the config's ``num_experts_per_tok`` (or ``moe_top_k`` / ``top_k``).

Examples
--------
>>> import torch.nn as nn
>>> class Block(nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.attn = nn.Linear(8, 8)
...         self.experts = nn.ModuleList(nn.Linear(8, 8, bias=False) for _ in range(4))
>>> p = moe_params(Block(), top_k=2)
>>> p.total, p.expert, p.active  # 72 + 4 * 64; active 72 + 2 * 64
(328, 256, 200)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dlperf.errors import ArgumentError

__all__ = ["MoEParams", "moe_params"]

_TOP_K = ("num_experts_per_tok", "moe_top_k", "top_k", "num_selected_experts")
_EXPERTS = ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")


@dataclass(frozen=True)
class MoEParams:
    """Parameters of a mixture-of-experts model (elements, unique parameters).

    Attributes
    ----------
    total : int
        Every parameter (``sum(p.numel())`` over unique parameters).
    expert : int
        Parameters inside the routed experts, every layer.
    active : int
        Parameters one token uses: ``total - expert + expert * top_k / num_experts``.
    num_experts, top_k : int
        Experts per MoE layer and experts each token is routed to.
    layers : int
        Modules holding experts (MoE layers).
    """

    total: int
    expert: int
    active: int
    num_experts: int
    top_k: int
    layers: int


def _config_int(config: Any, names: tuple[str, ...]) -> int | None:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def moe_params(module: Any, top_k: int | None = None, num_experts: int | None = None) -> MoEParams:
    """Total, expert and active parameters of ``module`` (any device, meta included).

    Parameters
    ----------
    module : torch.nn.Module
        The model; its ``config`` (transformers) gives ``top_k`` and the expert count when not passed.
    top_k, num_experts : int, optional
        Experts per token and experts per layer (default: from ``module.config``; the expert count also
        from the expert modules themselves).

    Raises
    ------
    ValueError
        For a model without expert modules, or when ``top_k`` is unknown.
    """
    import torch.nn as nn

    config = getattr(module, "config", None)
    top_k = top_k or _config_int(config, _TOP_K)
    num_experts = num_experts or _config_int(config, _EXPERTS)
    seen: set[int] = set()
    total = 0
    for p in module.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    expert, layers, counts = 0, 0, set()
    for name, sub in module.named_modules():
        if not name.split(".")[-1].endswith("experts") or not any(True for _ in sub.parameters()):
            continue
        if name.split(".")[-1].startswith("shared"):  # DeepSeek's shared_experts run for every token: dense
            continue
        if any(name.startswith(outer + ".") for outer in _outer(module, name)):
            continue
        layers += 1
        if isinstance(sub, nn.ModuleList):
            counts.add(len(sub))
        else:
            count = getattr(sub, "num_experts", None)
            if isinstance(count, int):
                counts.add(count)
        expert += sum(p.numel() for p in sub.parameters())
    if not layers:
        raise ValueError(f"module: {type(module).__name__} has no expert modules (a name ending in 'experts'); "
                         "it is not a mixture of experts")
    if num_experts is None:
        if len(counts) != 1:
            raise ValueError(f"num_experts: {type(module).__name__}'s expert modules do not say how many experts "
                             "they hold; pass num_experts")
        num_experts = counts.pop()
    if top_k is None:
        raise ArgumentError("top_k", what=f"{type(module).__name__}'s config has no num_experts_per_tok", fix="pass top_k")
    if not 0 < top_k <= num_experts or expert % num_experts:
        raise ValueError(f"top_k: got {top_k} of {num_experts} experts holding {expert} parameters; give "
                         f"1 <= top_k <= num_experts with experts of equal size")
    active = total - expert + expert // num_experts * top_k
    return MoEParams(total=total, expert=expert, active=active, num_experts=num_experts, top_k=top_k, layers=layers)


def _outer(module: Any, name: str) -> list[str]:
    """Expert modules strictly above ``name`` (so nested ``experts.experts`` count once)."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts)) if parts[i - 1].endswith("experts")]
