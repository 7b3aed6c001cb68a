"""Hugging Face models whose forward reads values (masks, position ids, caches, expert routing) traced on
the meta device without patching transformers (issue 18, items 2-4).

Each model is built from a small config written here (1 layer, small widths, no download), on meta for the
trace and on the CPU for the oracle: FlopCounterMode on the CPU model's forward, with SDPA's math backend
(FlopCounterMode has no formula for the CPU flash kernel; the math backend runs the same ``Q K^T`` and
``A V`` as bmm). Mixture-of-experts models run their experts eagerly in the oracle (FlopCounterMode has no
formula for ``grouped_mm``, transformers' default): the eager loop multiplies exactly the rows routed to each
expert, ``tokens x top_k`` rows in all whatever the routing, so the oracle's total does not depend on the
routing the random router picks, and equals the traced count under the balanced-routing assumption.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.torch

SEQ = 16


def _decoder(cls_name, **extra):
    def make(T):
        base = dict(num_hidden_layers=1, hidden_size=64, intermediate_size=128, num_attention_heads=4,
                    vocab_size=1000)
        base.update(extra)
        return getattr(T, cls_name)(**base)
    return make


#: name -> (config builder, per-sample positional inputs and dtypes, keyword inputs)
MODELS = {
    "llama": (_decoder("LlamaConfig", num_key_value_heads=2), None, {}),
    "mistral": (_decoder("MistralConfig", num_key_value_heads=2), None, {}),
    "mixtral": (_decoder("MixtralConfig", num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2), None, {}),
    "qwen2": (_decoder("Qwen2Config", num_key_value_heads=2), None, {}),
    "qwen3_moe": (_decoder("Qwen3MoeConfig", num_key_value_heads=2, num_experts=4, num_experts_per_tok=2,
                           moe_intermediate_size=32, head_dim=16), None, {}),
    "phi3": (_decoder("Phi3Config", num_key_value_heads=2, pad_token_id=0), None, {}),
    "gemma2": (_decoder("Gemma2Config", num_key_value_heads=2, head_dim=16), None, {}),
    "falcon": (lambda T: T.FalconConfig(num_hidden_layers=1, hidden_size=64, num_attention_heads=4, vocab_size=1000),
               None, {}),
    "gpt_neox": (_decoder("GPTNeoXConfig"), None, {}),
    "gptj": (lambda T: T.GPTJConfig(n_layer=1, n_embd=64, n_head=4, vocab_size=1000, rotary_dim=8, bos_token_id=0,
                                    eos_token_id=0), None, {}),
    "bart": (lambda T: T.BartConfig(encoder_layers=1, decoder_layers=1, d_model=64, encoder_attention_heads=4,
                                    decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128, vocab_size=1000),
             None, {}),
    "deberta_v2": (lambda T: T.DebertaV2Config(num_hidden_layers=1, hidden_size=64, num_attention_heads=4,
                                               intermediate_size=128, vocab_size=1000), None, {}),
    "mamba": (lambda T: T.MambaConfig(num_hidden_layers=1, hidden_size=64, vocab_size=1000, state_size=8), None, {}),
    "whisper": (lambda T: T.WhisperConfig(encoder_layers=1, decoder_layers=1, d_model=64, encoder_attention_heads=4,
                                          decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128,
                                          vocab_size=1000, num_mel_bins=16, max_source_positions=16,
                                          max_target_positions=32, decoder_start_token_id=1, pad_token_id=0),
                # log-mel features: 16 bins x 2 * max_source_positions frames; 8 decoder tokens
                (((16, 32), "float32"),), {"decoder_input_ids": ((8,), "int64")}),
    "detr": (lambda T: T.DetrConfig(use_timm_backbone=False, use_pretrained_backbone=False, backbone_config=T.ResNetConfig(
        embedding_size=16, hidden_sizes=[16, 32, 32, 64], depths=[1, 1, 1, 1], layer_type="basic"), d_model=32,
        encoder_layers=1, decoder_layers=1, encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64,
        decoder_ffn_dim=64, num_queries=10), (((3, 64, 64), "float32"),), {}),
}
MOE = {"mixtral", "qwen3_moe"}
NO_CACHE = {"deberta_v2", "detr"}  # encoders: no cache to switch


def _cases():
    for name in MODELS:
        for cache in ((False,) if name in NO_CACHE else (False, True)):
            yield pytest.param(name, cache, id=f"{name}-cache" if cache else name)


@pytest.fixture(scope="module")
def T():
    pytest.importorskip("torch")
    return pytest.importorskip("transformers")


def _config(T, name, cache):
    cfg = MODELS[name][0](T)
    if hasattr(cfg, "use_cache"):
        cfg.use_cache = cache
    return cfg


def _oracle(T, cfg, inputs, kwargs):
    """FlopCounterMode's total and the output shape of the CPU model (small weights) on zero inputs."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    if getattr(cfg, "num_experts_per_tok", None):
        cfg._experts_implementation = "eager"
    torch.manual_seed(0)
    model = T.AutoModel.from_config(cfg).eval()
    args = [torch.zeros((1, *s), dtype=getattr(torch, d)) for s, d in inputs]
    kw = {k: torch.zeros((1, *s), dtype=getattr(torch, d)) for k, (s, d) in kwargs.items()}
    with FlopCounterMode(display=False) as fc, sdpa_kernel(SDPBackend.MATH):
        out = model(*args, **kw)
    return fc.get_total_flops(), tuple(out[0].shape)


@pytest.mark.parametrize(("name", "cache"), list(_cases()))
def test_traced_without_patches_equals_flop_counter(T, name, cache):
    import torch

    from archcalc.frontends.torch_trace import from_torch
    from archcalc.ir.evaluate import evaluate

    _, inputs, kwargs = MODELS[name]
    inputs = inputs or (((SEQ,), "int64"),)
    cfg = _config(T, name, cache)
    with torch.device("meta"):
        model = T.AutoModel.from_config(cfg)
    graph = from_torch(model, *(s for s, _ in inputs), input_dtypes=tuple(d for _, d in inputs),
                       input_kwargs=kwargs)
    ev = evaluate(graph, batch=1)
    assert ev.total("params") == sum(p.numel() for p in model.parameters())  # parameters() is unique already
    flops, shape = _oracle(T, _config(T, name, cache), inputs, kwargs)
    assert 2 * ev.total("macs") == flops
    assert ev.output_shape == shape
    assert "on the CPU" not in graph.notes[0]  # traced on meta: no weights allocated
    assumed = [n for n in graph.notes if n.startswith("assumed:")]
    if name in MOE:
        # top-2 of 4 experts over 16 tokens, balanced: 16 * 2 / 4 = 8 rows per expert
        assert assumed == ["assumed: topk 2 of 4 over 16 rows taken balanced (round-robin indices, 8 rows per "
                           "index); in a real run the values pick which rows meet which index, not how many rows "
                           "(16 x 2) there are (at layers.0.mlp.gate)"]
        assert any(n.startswith("data-dependent under that assumption (reads the assumed routing): ")
                   and n.endswith(" nodes in layers.0.mlp.experts, layers.0.mlp, layers.0") for n in graph.notes)
    else:
        assert assumed == []


@pytest.mark.parametrize("impl", ["eager", "batched_mm"])
def test_moe_other_expert_implementations(T, impl):
    """transformers' eager loop (one_hot, nonzero, torch.where per expert, on the balanced routing: 8 rows per
    expert) and batched_mm (a bmm per routed row) count what FlopCounterMode counts on the eager CPU model."""
    import torch

    from archcalc.frontends.torch_trace import from_torch
    from archcalc.ir.evaluate import evaluate

    cfg = _config(T, "mixtral", False)
    cfg._experts_implementation = impl
    with torch.device("meta"):
        model = T.AutoModel.from_config(cfg)
    ev = evaluate(from_torch(model, (SEQ,), input_dtypes=("int64",)), batch=1)
    flops, _ = _oracle(T, _config(T, "mixtral", False), (((SEQ,), "int64"),), {})
    assert 2 * ev.total("macs") == flops
    if impl == "eager":  # 4 experts, each through gate_up and down on its 16 x 2 / 4 = 8 rows
        rows = [r.output_shape for r in ev.rows if r.kind == "Linear" and "experts" in r.name]
        assert rows == [(8, 256), (8, 64)] * 4


def test_moe_grouped_mm_is_counted_per_routed_row(T):
    """transformers' default grouped_mm experts: each of the 16 x 2 routed rows goes through one expert's
    gate_up (64 -> 2 x 128) and down (128 -> 64) projection: 32 x 64 x 256 + 32 x 128 x 64 = 786,432 MACs."""
    import torch

    from archcalc.frontends.torch_trace import from_torch
    from archcalc.ir.evaluate import evaluate

    cfg = _config(T, "mixtral", False)
    with torch.device("meta"):
        model = T.AutoModel.from_config(cfg)
    ev = evaluate(from_torch(model, (SEQ,), input_dtypes=("int64",)), batch=1)
    grouped = [r for r in ev.rows if r.kind == "GroupedMM"]
    assert [r.macs for r in grouped] == [32 * 64 * 256, 32 * 128 * 64]


def test_one_argument_where_and_nonzero():
    import torch
    import torch.nn as nn

    from archcalc.frontends.torch_trace import from_torch
    from archcalc.ir.evaluate import evaluate

    class Pick(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            rows, cols = torch.where(x >= 0)  # on the input's values: real, exact
            return self.fc(x)[:, cols], torch.nonzero(x[0] >= 0)

    with torch.device("meta"):
        model = Pick()
    graph = from_torch(model, (4,), batch=2)
    ev = evaluate(graph, batch=2)
    # zeros: every element >= 0, so where finds 8 (row, col) pairs and nonzero 4 rows of 1 index
    assert ev.output_shape == (2, 8)
    assert [r.kind for r in ev.rows].count("NonZero") == 2
    assert "on the CPU" not in graph.notes[0]

    class OnWeights(Pick):
        def forward(self, x):
            return torch.where(self.fc(x) > 0)[0]

    with torch.device("meta"):
        model = OnWeights()
    with pytest.raises(ValueError, match=r"^input_shapes: OnWeights fails .*: DataDependentError: where in the top-level "
                                         r"forward reads values computed from the weights") as info:
        from_torch(model, (4,), batch=2)
    assert "\n" not in str(info.value)


def test_scripted_helper_is_listed_never_zero(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    import torch
    import torch.nn as nn

    from archcalc.frontends.torch_trace import from_torch, unmodeled_nodes

    @torch.jit.script
    def helper(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return torch.matmul(x, w) * 2.0

    class Scripted(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(4, 4))

        def forward(self, x):
            return torch.relu(helper(x, self.w))

    with torch.device("meta"):
        graph = from_torch(Scripted(), (4,), batch=2)
    ops = sorted(n.options["op"] for n in unmodeled_nodes(graph))
    assert "aten.mm" in ops and "aten.mul" in ops
    assert any("aten.mm (in TorchScript helper)" in n for n in graph.notes)
    # the CLI under --strict: exit status 1 (the documented --strict status), the ops named
    src = tmp_path / "scripted.py"
    src.write_text("import torch, torch.nn as nn\n\n\n@torch.jit.script\n"
                   "def helper(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:\n    return torch.matmul(x, w)\n\n\n"
                   "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                   "        self.w = nn.Parameter(torch.zeros(4, 4))\n\n    def forward(self, x):\n"
                   "        return helper(x, self.w)\n")
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-m", "archcalc", f"{src}:Net", "--input", "4", "--strict"], cwd=root,
                          capture_output=True, text=True, timeout=300, env={"PYTHONPATH": str(root), "PATH": ""})
    assert proc.returncode == 1 and "--strict: not modelled (counted 0): 1 x aten.mm" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_empty_tensor_is_not_an_input_too_small():
    """A tensor that is empty in the real run too (a cache, a split of nothing) is not an error."""
    import torch
    import torch.nn as nn

    from archcalc.frontends.torch_trace import from_torch
    from archcalc.ir.evaluate import evaluate

    class Empty(nn.Module):
        def forward(self, x):
            cache = torch.tensor([], device=x.device)
            return torch.cat([cache, x], dim=-2), x[:, :0]

    ev = evaluate(from_torch(Empty(), (3, 4)), batch=1)
    assert ev.output_shape == (1, 3, 4)
    assert [r.output_shapes[0] for r in ev.rows if r.kind == "GetItem"] == [(1, 0, 4)]


def test_moe_total_and_active_params_small(T):
    import torch

    from archcalc.frontends.moe import moe_params

    cfg = T.Qwen2MoeConfig(num_hidden_layers=2, hidden_size=64, intermediate_size=128, moe_intermediate_size=32,
                           shared_expert_intermediate_size=64, num_experts=4, num_experts_per_tok=2,
                           num_attention_heads=4, num_key_value_heads=2, vocab_size=100)
    with torch.device("meta"):
        model = T.AutoModel.from_config(cfg)
    p = moe_params(model)
    # experts: 2 layers x 4 experts x (gate, up, down) 3 x 64 x 32 = 49,152; a token uses 2 of the 4
    assert p.total == sum(q.numel() for q in model.parameters())
    assert (p.expert, p.num_experts, p.top_k, p.layers) == (49_152, 4, 2, 2)
    assert p.active == p.total - 49_152 + 49_152 // 4 * 2
    with pytest.raises(ValueError, match="^module: LlamaModel has no expert modules"), torch.device("meta"):
        moe_params(T.AutoModel.from_config(_config(T, "llama", False)))


def _mixtral_8x7b(T):
    return T.MixtralConfig(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                           num_key_value_heads=8, vocab_size=32000, num_local_experts=8, num_experts_per_tok=2,
                           max_position_embeddings=32768)


def _llama_2_70b(T):
    return T.LlamaConfig(hidden_size=8192, intermediate_size=28672, num_hidden_layers=80, num_attention_heads=64,
                         num_key_value_heads=8, vocab_size=32000, max_position_embeddings=4096, rms_norm_eps=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("which", ["llama-2-70b", "mixtral-8x7b"])
def test_full_size_traces_on_meta_in_seconds(T, which):
    import time

    import torch

    from archcalc.frontends.moe import moe_params
    from archcalc.frontends.torch_trace import from_torch
    from archcalc.ir.evaluate import evaluate

    cfg = _llama_2_70b(T) if which == "llama-2-70b" else _mixtral_8x7b(T)
    with torch.device("meta"):
        model = T.AutoModelForCausalLM.from_config(cfg)
    start = time.perf_counter()
    graph = from_torch(model, (4096,), input_dtypes=("int64",))
    assert time.perf_counter() - start < 60  # about 3 s on one core
    ev = evaluate(graph, batch=1)
    assert ev.total("params") == sum(p.numel() for p in model.parameters())
    if which == "llama-2-70b":
        assert ev.total("params") == 68_976_648_192
    else:
        # 32 layers x 8 experts x 3 x 4096 x 14336 = 45,097,156,608 expert parameters; a token uses 2 of 8
        p = moe_params(model)
        assert (p.total, p.expert, p.active) == (46_702_792_704, 45_097_156_608,
                                                 46_702_792_704 - 45_097_156_608 + 45_097_156_608 // 4)
        # every token through 2 experts of 3 x 4096 x 14336 MACs each, every layer
        grouped = sum(r.macs for r in ev.rows if r.kind == "GroupedMM")
        assert grouped == 32 * 4096 * 2 * 3 * 4096 * 14336


def test_value_propagation_rules():
    """Real where only the inputs and factories feed a tensor; meta once a weight does; big results on meta."""
    import torch
    import torch.nn as nn

    from archcalc.frontends.torch_trace import from_torch
    from archcalc.frontends.torch_values import CAP, DataDependentError, Values

    v = Values()
    ids = torch.zeros(2, 8, dtype=torch.int64)
    pos = v.call(torch.arange, "arange", (8,), {"device": "meta"})  # a factory asked for meta: real values
    assert pos.device.type == "cpu" and pos.tolist() == list(range(8))
    big = v.call(torch.ones, "ones", ((CAP + 1,),), {"device": "meta"})  # above the cap: meta, never allocated
    assert big.device.type == "meta"
    w = torch.empty(8, device="meta")
    mask = v.call(torch.Tensor.__eq__, "__eq__", (ids, 0), {})
    assert mask.device.type == "cpu" and bool(v.call(torch.Tensor.all, "all", (mask,), {}))
    assert v.call(torch.Tensor.__add__, "__add__", (pos, w), {}).device.type == "meta"  # touches a weight
    target = torch.zeros(1)
    assert v.call(torch.Tensor.item, "item", (target,), {}) == 0.0
    v.call(torch.Tensor.add_, "add_", (target, w[:1]), {})  # meta values written into a real tensor
    assert target.device.type == "cpu" and not v.is_real(target)  # its values are unknown from now on
    with pytest.raises(DataDependentError, match="^item in the top-level forward reads values computed"):
        v.call(torch.Tensor.item, "item", (target,), {})

    class Masked(nn.Module):  # a mask computed from the input ids decides a shape: real values, exact
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4)

        def forward(self, ids):
            keep = (ids >= 0).all(dim=0)
            return self.emb(ids)[:, keep]

    with torch.device("meta"):
        model = Masked()
    assert from_torch(model, (6,), batch=2, input_dtypes=("int64",)).traced_at == ((2, 6),)


@pytest.mark.slow
def test_detector_traced_on_its_own_weights_without_a_copy():
    """A detector reads values computed from its weights (the RPN's score threshold): on meta it is refused in
    one line naming the op; a CPU model is traced itself (not a copy), no 'input too small' for the empty
    tensors its real run makes, and 2 x MACs equal FlopCounterMode's on the same zero input."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    torchvision = pytest.importorskip("torchvision")
    from archcalc.frontends.torch_trace import from_torch
    from archcalc.ir.evaluate import evaluate

    name = "fasterrcnn_mobilenet_v3_large_320_fpn"
    with torch.device("meta"):
        meta = torchvision.models.get_model(name, weights=None, weights_backbone=None).eval()
    with pytest.raises(ValueError, match=r"DataDependentError: where in module rpn reads values computed"):
        from_torch(meta, (3, 320, 320))
    model = torchvision.models.get_model(name, weights=None, weights_backbone=None).eval()
    graph = from_torch(model, (3, 320, 320))
    assert "on the CPU" in graph.notes[0]
    ev = evaluate(graph, batch=1)
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(torch.zeros(1, 3, 320, 320))
    assert 2 * ev.total("macs") == fc.get_total_flops()
    assert ev.total("params") == sum(p.numel() for p in model.parameters())


def test_moe_training_forward_and_backward_equal_flop_counter(T):
    """grouped_mm's backward (the gradient of the routed rows and of the expert weights, S K N MACs each)
    against FlopCounterMode on loss.backward() of the eager CPU model."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    from archcalc.frontends.torch_trace import from_torch
    from archcalc.ir.evaluate import evaluate

    with torch.device("meta"):
        model = T.AutoModel.from_config(_config(T, "mixtral", False))
    ev = evaluate(from_torch(model, (SEQ,), input_dtypes=("int64",), training=True), batch=1)
    cfg = _config(T, "mixtral", False)
    cfg._experts_implementation = "eager"
    torch.manual_seed(0)
    cpu = T.AutoModel.from_config(cfg).train()
    with FlopCounterMode(display=False) as fc, sdpa_kernel(SDPBackend.MATH):
        cpu(torch.zeros(1, SEQ, dtype=torch.int64)).last_hidden_state.sum().backward()
    assert 2 * (ev.total("macs") + ev.total("backward_macs")) == fc.get_total_flops()
