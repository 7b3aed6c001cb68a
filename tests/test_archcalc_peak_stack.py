"""``--recompute`` and ``--checkpoint`` on every transformer of the zoo: the layer stack (archcalc/memory/liveness/stack.py).

Oracles: the per-rank GPT-2 plans that tests/test_archcalc_tensor_parallel_torch.py checks against real
checkpointed torch runs (tests/tp_shard.py) are the stack's plans, region for region; Korthikanti et al.
2022, section 5: with full recomputation a layer keeps only its input, 2 s b h bytes in 16 bits (typed here);
torch's ``checkpoint_sequential`` split rule, typed; the CLI accepts every zoo transformer.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from archcalc.cli import main
from archcalc.ir.evaluate import evaluate
from archcalc.memory.liveness.checkpoint import checkpoint_plan
from archcalc.memory.liveness.peak import peak_memory
from archcalc.memory.liveness.stack import layer_stack, stack_plan
from archcalc.models.zoo import build
from archcalc.models.zoo_transformers import CONFIGS, build_transformer, with_sizes
from archcalc.parallel.rank_graph import layer_prefix, rank_graph

SMALL = dict(layers=2, hidden=128, heads=4, ffn=512, vocab=1000)


@pytest.mark.parametrize("t, sp", [(1, False), (2, False), (2, True), (4, True)])
@pytest.mark.parametrize("recompute", ["selective", "full"])
def test_stack_plans_are_the_gpt2_layer_plans(t, sp, recompute):
    # the name-based plan the real-run tests were written against: layer i is every node named
    # transformer.h.{i}.*; selective: its scaled_dot_product_attention node
    cfg = with_sizes(CONFIGS["gpt"], **SMALL)
    graph = rank_graph(cfg, 256, tensor_parallel=t, sequence_parallel=sp)
    by_name = []
    for i in range(cfg.layers):
        names = tuple(n.name for n in graph.nodes if n.name.startswith(layer_prefix(i)))
        by_name.append(tuple(n for n in names if n.endswith(".scaled_dot_product_attention"))
                       if recompute == "selective" else names)
    assert stack_plan(graph, recompute).regions == tuple(by_name)


def _configs(layers: int):
    return {"gpt": with_sizes(CONFIGS["gpt"], **{**SMALL, "layers": layers}),
            "llama": with_sizes(CONFIGS["llama"], layers=layers, hidden=128, heads=4, kv_heads=2, ffn=344,
                                vocab=1000),
            "bert": replace(CONFIGS["bert-base"], layers=layers, hidden=128, heads=4, kv_heads=4, ffn=512,
                            vocab=1000)}


def _forward_end(cfg, recompute: str, seq: int, batch: int) -> tuple[int, int]:
    """(live bytes at the last forward sample, parameter elements) of a bf16 step with ``recompute``."""
    graph = build_transformer(cfg, seq)
    p = peak_memory(graph, (seq,), batch, training=True, precision="bf16", first_step=True,
                    recompute=stack_plan(graph, recompute))
    return [s.live_bytes for s in p.timeline if s.phase == "forward"][-1], evaluate(graph, (seq,), batch).total("params")


@pytest.mark.parametrize("family", ["gpt", "llama", "bert"])
def test_full_recompute_keeps_two_sbh_per_layer(family):
    # Korthikanti et al. 2022, section 5: full recomputation keeps each layer's input only, 2 s b h bytes (16
    # bits). Two more layers add 2 x 2 s b h to what is alive at the end of the forward pass, beside their
    # 2-byte weights: s = 64, b = 3, h = 128: 2 x 2 x 64 x 3 x 128 = 98,304 bytes
    s, b, h = 64, 3, 128
    (live2, params2), (live4, params4) = (_forward_end(_configs(n)[family], "full", s, b) for n in (2, 4))
    assert live4 - live2 - 2 * (params4 - params2) == 2 * (2 * s * b * h) == 98_304
    # without recomputation each layer keeps far more (the paper's 34 s b h without attention scores)
    (none2, _), (none4, _) = (_forward_end(_configs(n)[family], "none", s, b) for n in (2, 4))
    assert none4 - none2 - 2 * (params4 - params2) > 10 * 2 * (2 * s * b * h)


@pytest.mark.parametrize("family", ["gpt", "llama", "bert"])
def test_recompute_lowers_the_training_peak(family):
    cfg = _configs(4)[family]
    graph = build_transformer(cfg, 128)
    peaks = {r: peak_memory(graph, (128,), 8, training=True, recompute=stack_plan(graph, r)).peak_bytes
             for r in ("none", "selective", "full")}
    assert peaks["full"] < peaks["selective"] <= peaks["none"], peaks


@pytest.mark.parametrize("name, scope, layers", [("gpt2", "transformer.h", 12), ("gpt", "transformer.h", 12),
                                                 ("bert-base", "encoder.layer", 12), ("llama", "model.layers", 32),
                                                 ("vit-b-16", "encoder.layers", 12)])
def test_every_zoo_transformer_has_its_stack(name, scope, layers):
    stack = layer_stack(build(name))
    assert (stack.scope, len(stack.bounds)) == (scope, layers)
    # torch's checkpoint_sequential split of the layers: 4 segments of 12 // 4 = 3 (32 // 4 = 8) layers, the
    # first three checkpointed, the last run plainly
    plan = checkpoint_plan(build(name), 4)
    size = layers // 4
    assert plan.segment_bounds == tuple((stack.bounds[k][0], stack.bounds[k + size - 1][1])
                                        for k in range(0, 3 * size, size))


def test_stages_of_a_resnet_are_no_stack():
    assert layer_stack(build("resnet18")) is None  # layer1 .. layer4 each hold under half of the nodes
    with pytest.raises(ValueError, match="recompute='full': resnet18 has no stack of layers"):
        stack_plan(build("resnet18"), "full")


@pytest.mark.parametrize("name, shape", [("llama", "256"), ("bert-base", "128"), ("vit-b-16", "3x224x224"),
                                         ("gpt", "256")])
def test_cli_recompute_and_checkpoint_take_every_zoo_transformer(name, shape, capsys):
    import json

    peaks = {}
    for extra in ([], ["--recompute", "full"], ["--checkpoint", "4"]):
        assert main(["peak", name, "--training", "--input", shape, "--batch", "2", "--json", *extra]) == 0
        peaks[" ".join(extra)] = json.loads(capsys.readouterr().out)["breakdown"]["saved_bytes"]
    assert peaks["--recompute full"] <= peaks["--checkpoint 4"] <= peaks[""]


@pytest.mark.parametrize("argv, message", [
    (["peak", "resnet18", "--training", "--recompute", "full"], "--recompute: 'resnet18' is not a transformer of"),
    (["peak", "llama", "--training", "--tensor-parallel", "2"], "--tensor-parallel: 'llama' has no per-rank graph"),
    (["peak", "llama", "--recompute", "selective"], "--recompute: got 'selective' without --training"),
])
def test_cli_refusals(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
