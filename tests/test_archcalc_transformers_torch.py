"""The transformer zoo against real torch models: the plain-torch GPT-2 twin (tests/gpt2_twin.py) with
FlopCounterMode, and ``transformers``' GPT-2 / BERT / Llama built offline from configs on the meta device
(random init, no download; the optional ``transformers`` test extra), traced by archcalc's torch front end
and compared module by module.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from archcalc.ir import evaluate
from archcalc.models.zoo_transformers import CONFIGS, build_transformer, with_sizes

pytestmark = pytest.mark.torch
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _per_module(module_names, ev):
    """(params, MACs) of every module: the rows named by it or under it (functional ops included)."""
    out = {}
    for m in module_names:
        rows = [r for r in ev.rows if r.name == m or r.name.startswith(m + ".")]
        out[m] = (sum(r.params for r in rows), sum(r.macs for r in rows))
    return out


@pytest.fixture(scope="module")
def twin():
    torch = pytest.importorskip("torch")
    from gpt2_twin import GPT2

    with torch.device("meta"):
        return GPT2()


def test_twin_params_and_forward_flops_at_1024(twin):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    ev = evaluate(build_transformer(CONFIGS["gpt2"], 1024), (1024,), 1)
    assert sum(p.numel() for p in twin.parameters()) == ev.total("params") == 124_439_808
    with FlopCounterMode(display=False) as fc:
        twin(torch.zeros((1, 1024), dtype=torch.int64, device="meta"))
    # FlopCounterMode counts 2 per MAC of every contraction: addmm of c_attn / c_proj / c_fc / mlp.c_proj,
    # SDPA's bmm decomposition on meta (QK^T and AV over the full 1024 x 1024) and the LM head's mm:
    # 12 x 8,858,370,048 + 39,523,713,024 = 145,824,153,600 MACs -> 291,648,307,200
    assert fc.get_total_flops() == 2 * ev.total("macs") == 291_648_307_200
    counts = fc.get_flop_counts()
    # every called module (a ModuleList is never called, so FlopCounterMode has no entry for it)
    zoo = _per_module([m for m, mod in twin.named_modules() if m and not isinstance(mod, torch.nn.ModuleList)], ev)
    for name, (_, macs) in zoo.items():
        assert sum(counts.get(f"GPT2.{name}", {}).values()) == 2 * macs, name


def test_twin_training_flops(twin):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    seq = 128
    ev = evaluate(build_transformer(CONFIGS["gpt2"], seq), (seq,), 2)
    twin.train()
    with FlopCounterMode(display=False) as fc:
        twin(torch.zeros((2, seq), dtype=torch.int64, device="meta")).sum().backward()
    twin.eval()
    # backward: weight and input gradients of every matmul (2 x forward), SDPA's dP = dO V^T, dS K, dS^T Q,
    # P^T dO (2 x its forward); no gradient into the token ids
    assert fc.get_total_flops() == 2 * (ev.total("macs") + ev.total("backward_macs"))


@pytest.fixture(scope="module")
def hf():
    pytest.importorskip("torch")
    return pytest.importorskip("transformers")


def _meta(build):
    import torch

    with torch.device("meta"):
        return build()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", "bert-base", "bert-large"])
def test_params_equal_transformers_models(hf, name):
    cfg = CONFIGS[name]
    if cfg.family == "gpt2":
        model = _meta(lambda: hf.GPT2LMHeadModel(hf.GPT2Config(n_layer=cfg.layers, n_embd=cfg.hidden,
                                                                 n_head=cfg.heads)))
    else:
        model = _meta(lambda: hf.BertModel(hf.BertConfig(num_hidden_layers=cfg.layers, hidden_size=cfg.hidden,
                                                         num_attention_heads=cfg.heads, intermediate_size=cfg.ffn)))
    assert sum(p.numel() for p in model.parameters()) == evaluate(build_transformer(cfg)).total("params")


def test_llama_params_equal_transformers(hf):
    model = _meta(lambda: hf.LlamaForCausalLM(hf.LlamaConfig(
        hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
        num_key_value_heads=32, vocab_size=32000)))
    assert sum(p.numel() for p in model.parameters()) == evaluate(build_transformer(CONFIGS["llama"])).total("params")


def _traced_equals_zoo(model, cfg, seq):
    from archcalc.frontends.torch_trace import from_torch, unmodeled_nodes

    model.eval()
    graph = from_torch(model, (seq,), input_dtypes=("int64",))
    traced, zoo = evaluate(graph), evaluate(build_transformer(cfg, seq), (seq,), 1)
    names = [m for m, _ in model.named_modules() if m]
    a, b = _per_module(names, traced), _per_module(names, zoo)
    assert {m: v for m, v in a.items() if v != b[m]} == {}
    for field in ("params", "macs"):
        assert traced.total(field) == zoo.total(field), field
    return graph, unmodeled_nodes


@pytest.mark.slow
def test_gpt2_traced_module_by_module_at_1024(hf):
    model = _meta(lambda: hf.GPT2LMHeadModel(hf.GPT2Config(use_cache=False)))
    graph, unmodeled = _traced_equals_zoo(model, CONFIGS["gpt2"], 1024)
    # transformers' packed-sequence probe on the (real) position ids (diff, cumsum, all) is modelled too
    assert unmodeled(graph) == []
    names = {n.name for n in graph.nodes}
    assert {"transformer.h.0.attn.c_attn.addmm", "transformer.h.11.mlp.c_proj.addmm", "lm_head"} <= names


def test_bert_and_gqa_llama_traced_module_by_module(hf):
    bert = _meta(lambda: hf.BertModel(hf.BertConfig(use_cache=False, num_hidden_layers=2)))
    _traced_equals_zoo(bert, with_bert_layers(2), 128)
    sizes = dict(layers=2, hidden=256, heads=8, kv_heads=2, ffn=688, vocab=1000)
    llama = _meta(lambda: hf.LlamaForCausalLM(hf.LlamaConfig(
        hidden_size=256, intermediate_size=688, num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=2,
        vocab_size=1000, use_cache=False)))
    graph, unmodeled = _traced_equals_zoo(llama, with_sizes(CONFIGS["llama"], **sizes), 64)
    # transformers' packed-sequence probe (diff, cumsum, all on the position ids) runs on real values and
    # its three kinds are modelled: nothing is left unmodelled
    assert unmodeled(graph) == []


def with_bert_layers(n):
    from dataclasses import replace

    return replace(CONFIGS["bert-base"], layers=n)


@pytest.mark.slow
def test_vit_b_16_equals_torchvision():
    pytest.importorskip("torchvision")
    import torchvision

    from archcalc.frontends.torch_trace import from_torchvision
    from archcalc.models.zoo import build

    traced, zoo = evaluate(from_torchvision("vit_b_16")), evaluate(build("vit-b-16"))
    for field in ("params", "macs", "elementwise_ops", "backward_macs"):
        assert traced.total(field) == zoo.total(field), field
    assert traced.saved() == zoo.saved()
    names = [m for m, _ in torchvision.models.vit_b_16().named_modules() if m]
    a, b = _per_module(names, traced), _per_module(names, zoo)
    assert {m: v for m, v in a.items() if v != b[m]} == {}


def test_twin_equals_transformers_gpt2_module_by_module(hf, twin):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    real = _meta(lambda: hf.GPT2LMHeadModel(hf.GPT2Config(use_cache=False))).eval()
    shapes = {n: tuple(p.shape) for n, p in twin.named_parameters()}
    assert shapes == {n: tuple(p.shape) for n, p in real.named_parameters()}  # same names, same shapes
    ids = torch.zeros((1, 256), dtype=torch.int64, device="meta")
    counts = []
    # The oracle runs on meta without archcalc: with a cache, transformers skips its packed-sequence probe
    # (``.all()`` on position ids, which has no value on meta); the cache adds no FLOPs.
    for model, kw in ((twin, {}), (real, {"use_cache": True})):
        with FlopCounterMode(display=False) as fc:
            model(ids, **kw)
        counts.append(fc.get_flop_counts())
    modules = [m for m, mod in twin.named_modules() if m and not isinstance(mod, torch.nn.ModuleList)]
    for m in modules:
        assert sum(counts[0].get(f"GPT2.{m}", {}).values()) == sum(counts[1].get(f"GPT2LMHeadModel.{m}", {}).values()), m
