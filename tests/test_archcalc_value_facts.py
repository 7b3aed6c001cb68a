"""The IR's value facts (dtype, requires-grad, constness) against the real run, and names that mean nothing.

The tracer reads each value's dtype and ``requires_grad`` off the real tensors; the memory model books a
value by its dtype (a bool mask 1 byte per element, int64 indices 8) and allocates a gradient only for a
value autograd tracks. The peaks are compared with tensor storage bytes (tests/peak_profiler.py), the
oracle that counts what archcalc's schedule counts. A value's or a module's name never changes a number:
a module called ``constant_proj`` is booked as ``proj`` is, and a traced graph whose every name is replaced
by a random one gives the same schedule byte for byte.
"""

from __future__ import annotations

import random
import string

import pytest

from archcalc.ir.graph import Graph, Node, TensorSpec, ValueInfo

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")
nn = torch.nn

from peak_profiler import measure_step_storage  # noqa: E402


def _peak(model, shape, batch, mode="sgd", dtype="float32"):
    from archcalc.frontends.torch_trace import from_torch
    from archcalc.memory.liveness.peak import peak_memory

    graph = from_torch(model, shape, batch=batch, input_dtypes=(dtype,))
    # the oracle measures the first step (measure_step_storage)
    return peak_memory(graph, shape, batch, training=mode != "inference", optimizer="adam" if mode == "adam" else "sgd",
                       first_step=True)


class _Where(nn.Module):
    """``torch.where(h > 0, h, p)`` after a Linear: a bool mask that needs no gradient."""

    def __init__(self, name: str = "proj") -> None:
        super().__init__()
        self.name = name
        self.add_module(name, nn.Linear(256, 256))
        self.p = nn.Parameter(torch.zeros(256))

    def forward(self, x):
        h = getattr(self, self.name)(x)
        return torch.where(h > 0, h, self.p)


def test_the_tracer_records_dtype_and_requires_grad():
    from archcalc.frontends.torch_trace import from_torch
    from archcalc.ir.evaluate import evaluate

    class WithConstant(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(4, 4)
            self.scale = torch.ones(4)  # a plain attribute: made outside the traced calls

        def forward(self, x):
            h = self.proj(x)
            return torch.where(h > 0, h, self.scale), h.argmax(-1)

    g = from_torch(WithConstant(), (4,), batch=2)
    by_kind = {n.kind: n for n in g.nodes}
    assert (by_kind["Compare"].dtypes, by_kind["Compare"].requires_grad) == (("bool",), (False,))
    assert (by_kind["Linear"].dtypes, by_kind["Linear"].requires_grad) == (("float32",), (True,))
    assert by_kind["Constant"].constant and by_kind["Constant"].requires_grad == (False,)
    assert g.constants == frozenset(by_kind["Constant"].outputs)
    info = evaluate(g, batch=2).info()
    assert info[by_kind["ArgMax"].outputs[0]].dtype == "int64"  # argmax's indices (a modelled kind now)
    assert not info[by_kind["ArgMax"].outputs[0]].requires_grad
    assert info["x"] == ValueInfo("float32", requires_grad=False, constant=False)
    assert info[by_kind["Constant"].outputs[0]] == ValueInfo("float32", requires_grad=False, constant=True)
    # the Compare row gives no gradient to its input: not differentiable
    assert not [r for r in evaluate(g, batch=2).rows if r.kind == "Compare"][0].input_requires_grad


def test_zoo_graphs_infer_float32_and_parameters_requiring_grad():
    from archcalc.ir.evaluate import evaluate
    from archcalc.zoo import build

    info = evaluate(build("resnet18"), (3, 32, 32)).info()
    assert info["x"].dtype == "float32" and not info["x"].requires_grad
    assert info["conv1"].requires_grad and info["layer1.0.conv1"].dtype == "float32"
    g = Graph("ids", "", (TensorSpec("ids", (8,), "int64"),), (Node("emb", "Embedding", ("ids",), ("emb",),
                                                                    (("num_embeddings", 10), ("embedding_dim", 4))),),
              ("emb",))
    info = evaluate(g, batch=2).info()
    assert (info["ids"].dtype, info["emb"].dtype, info["emb"].requires_grad) == ("int64", "float32", True)


def test_bad_value_facts_are_refused():
    with pytest.raises(ValueError, match="dtype 'float8' is unknown"):
        Node("a", "ReLU", ("x",), ("a",), dtypes=("float8",))
    with pytest.raises(ValueError, match="requires_grad has 2 entries for 1 outputs"):
        Node("a", "ReLU", ("x",), ("a",), requires_grad=(True, False))


def test_where_after_a_linear_books_a_bool_mask_and_no_gradient_for_it(one_torch_thread):
    # b, t, d = 64, 512, 256; F = 64*512*256*4 = 33,554,432 bytes. before: weight 256*256*4 = 262,144 + bias
    # 1,024 + p 1,024 + x F = 33,818,624. forward: h = proj(x) F; mask = h > 0, one byte per element
    # 8,388,608; where's output F: 33,818,624 + 2 F + 8,388,608 = 109,316,096. backward of where (the op
    # broadcasts p, its traits say so): the mask (saved) and d(sum) 4 bytes, h's gradient F and p's gradient
    # at the output's shape F: 33,818,624 + 8,388,608 + 4 + 2 F = 109,316,100; autograd sums p's to its
    # shape (1,024) while both are alive: 109,317,124, the peak. None reaches the mask: `>` has no backward.
    # Before the IR had dtypes: the mask was booked as fp32 and given a gradient, 134,482,944 (+23.0 %); before
    # the traits, where was not known to broadcast: 109,316,096 at the forward (-1,032 bytes).
    torch.manual_seed(0)
    model = _Where()
    p = _peak(model, (512, 256), 64)
    assert p.peak_bytes == 109_317_124 and (p.phase, p.peak_op) == ("backward", "where (gradient of p summed to its shape)")
    measured = measure_step_storage(model, torch.randn(64, 512, 256), "sgd")
    assert abs(p.peak_bytes - measured.peak_bytes) <= 0.005 * measured.peak_bytes, measured  # 109,317,128


def test_a_module_called_constant_is_booked_as_any_other(one_torch_thread):
    torch.manual_seed(0)
    plain, named = (_peak(_Where(name), (64, 256), 8) for name in ("proj", "constant_proj"))
    assert named.peak_bytes == plain.peak_bytes
    assert [s.live_bytes for s in named.timeline] == [s.live_bytes for s in plain.timeline]


class _Cast(nn.Module):
    def __init__(self, dtype) -> None:
        super().__init__()
        self.proj, self.dtype = nn.Linear(256, 256), dtype

    def forward(self, x):
        y = self.proj(x).to(self.dtype)
        return (y * y).float()


class _Masked(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(256, 256)

    def forward(self, x):
        h = self.proj(x)
        return h.masked_fill(h < 0, 0.0)


class _ArgMax(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(256, 256)

    def forward(self, x):
        h = self.proj(x)
        return h + h.argmax(-1, keepdim=True)


class _TopK(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(256, 256)

    def forward(self, x):
        values, indices = self.proj(x).topk(128, dim=-1)
        return values + indices


class _Embed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb, self.proj = nn.Embedding(1000, 256), nn.Linear(256, 256)

    def forward(self, ids):
        return self.proj(self.emb(ids))


# (model, its peak by hand at batch 16, sequence 512, width 256; F = 16*512*256*4 = 8,388,608 bytes, weights W =
# 256*256*4 + 1,024 = 263,168; every case before the IR had dtypes, in the comment's last figure)
DTYPE_CASES = [
    # x F + W + h F + mask F/4 + out F = 27,526,144 (fp32 mask: 33,817,600, +22.9 %)
    ("bool mask", _Masked, 27_526_144),
    # x F + W + h F + indices (16*512*1)*8 = 65,536 + sum F = 25,494,528 (int64 booked as fp32: -0.13 %)
    ("argmax indices", _ArgMax, 25_494_528),
    # x F + W + h F + values F/2 + indices F (int64) = 29,623,296 (-14.2 %)
    ("topk indices", _TopK, 29_623_296),
    # x F + W + y F/2 + (y * y) F/2 + out F = 25,428,992 (16-bit values booked as fp32: +33.0 %)
    ("fp16 cast", lambda: _Cast(torch.float16), 25_428_992),
    ("bf16 cast", lambda: _Cast(torch.bfloat16), 25_428_992),
]


@pytest.mark.parametrize("mode", ["inference", "sgd"])
@pytest.mark.parametrize("label, make, by_hand", DTYPE_CASES, ids=[c[0] for c in DTYPE_CASES])
def test_dtype_peaks_match_the_real_run(label, make, by_hand, mode, one_torch_thread):
    torch.manual_seed(0)
    model = make()
    p = _peak(model, (512, 256), 16, mode)
    assert p.peak_bytes == by_hand, label
    measured = measure_step_storage(model, torch.randn(16, 512, 256), mode)
    assert abs(p.peak_bytes - measured.peak_bytes) <= 0.005 * measured.peak_bytes, (label, measured)


@pytest.mark.parametrize("mode", ["inference", "sgd"])
def test_int64_ids_of_an_embedding_match_the_real_run(mode, one_torch_thread):
    torch.manual_seed(0)
    model = _Embed()
    p = _peak(model, (512,), 16, mode, dtype="int64")
    measured = measure_step_storage(model, torch.randint(0, 1000, (16, 512)), mode)
    # inference: ids 16*512*8 = 65,536 + table 1,024,000 + W 263,168 + embedded F + projected F = 18,129,920
    assert p.peak_bytes == 18_129_920 or mode == "sgd"
    assert abs(p.peak_bytes - measured.peak_bytes) <= 0.005 * measured.peak_bytes, measured


# -- names mean nothing


def _random_names(graph: Graph, seed: int) -> Graph:
    """``graph`` with every value, node and module renamed at random (three separate namespaces, no dots)."""
    rng = random.Random(seed)
    maps: dict[str, dict[str, str]] = {"value": {}, "node": {}, "module": {}}

    def new(space: str, old: str) -> str:
        table = maps[space]
        if old not in table:
            table[old] = rng.choice(["constant", "", "x"]) + "".join(rng.choices(string.ascii_letters, k=10))
        return table[old]

    def value(v: str) -> str:
        return new("value", v)

    nodes = tuple(Node(new("node", n.name), n.kind, tuple(map(value, n.inputs)), tuple(map(value, n.outputs)),
                       n.hparams, None if n.module is None else new("module", n.module),
                       tuple((role, value(p)) for role, p in n.params), n.dtypes, n.requires_grad, n.constant,
                       tuple(new("module", s) for s in n.scopes)) for n in graph.nodes)
    return Graph(graph.name, graph.description,
                 tuple(TensorSpec(value(s.name), s.shape, s.dtype, s.batched) for s in graph.inputs), nodes,
                 tuple(map(value, graph.outputs)), tuple((value(n), s) for n, s in graph.params),
                 tuple((value(n), s) for n, s in graph.buffers), graph.twin, graph.notes, graph.traced_at,
                 tuple((value(v), k) for v, k in graph.released_after), tuple((value(n), d) for n, d in graph.dtypes),
                 tuple(map(value, graph.frozen_params)))


class _Block(nn.Module):
    """Nested modules, a residual, a BatchNorm (int64 counter), a constant, a bool mask and a split."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.head = nn.Linear(8 * 8 * 8, 16)
        self.offset = torch.ones(16)

    def forward(self, x):
        h = x + self.body(x)
        y = self.head(h.flatten(1)) + self.offset
        a, b = y.chunk(2, dim=1)
        return torch.where(a > 0, a, b)


@pytest.mark.parametrize("make, shape", [(_Block, (8, 8, 8)), (lambda: _Where("constant_proj"), (32, 256))])
def test_random_names_change_no_number(make, shape):
    from archcalc.frontends.torch_trace import from_torch
    from archcalc.memory.liveness.peak import peak_memory

    torch.manual_seed(0)
    graph = from_torch(make(), shape, batch=4)
    for seed in range(3):
        hidden = _random_names(graph, seed)
        for kw in ({}, {"training": True}, {"training": True, "optimizer": "adam"},
                   {"training": True, "precision": "bf16-mixed"}):
            a, b = peak_memory(graph, shape, 4, **kw), peak_memory(hidden, shape, 4, **kw)
            assert (a.peak_bytes, a.phase, a.breakdown) == (b.peak_bytes, b.phase, b.breakdown), kw
            assert [s.live_bytes for s in a.timeline] == [s.live_bytes for s in b.timeline], kw


def test_random_names_keep_checkpointing():
    from archcalc.frontends.torch_trace import from_torch
    from archcalc.memory.liveness.peak import peak_memory

    torch.manual_seed(0)
    seq = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                        nn.Flatten(), nn.Linear(8 * 16 * 16, 10))
    graph = from_torch(seq, (3, 16, 16), batch=2)
    a = peak_memory(graph, (3, 16, 16), 2, training=True, checkpoint_segments=3)
    b = peak_memory(_random_names(graph, 0), (3, 16, 16), 2, training=True, checkpoint_segments=3)
    assert [s.live_bytes for s in a.timeline] == [s.live_bytes for s in b.timeline]


@pytest.mark.parametrize("mode", ["sgd", "adam"])
def test_a_frozen_backbone_gets_no_gradients_and_no_optimizer_state(mode, one_torch_thread):
    # x 64*256*4 = 65,536; weights 257*1024*4 + 1025*1024*4 + 1025*10*4 = 5,292,072 (the first two frozen);
    # forward: 64x1024 activations 262,144 each. Nothing before the last Linear requires grad, so autograd
    # saves nothing there and makes no gradient for it; the head's gradients (41,000 bytes) and Adam's
    # moments of the head only: the peak is the forward pass's, 5,881,896 bytes, as measured (before the
    # IR knew requires-grad: +85.5 % with SGD, +404 % with Adam).
    from archcalc.frontends.torch_trace import from_torch
    from archcalc.memory.liveness.peak import peak_memory

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(256, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))
    for p in [*model[0].parameters(), *model[2].parameters()]:
        p.requires_grad_(False)
    graph = from_torch(model, (256,), batch=64)
    assert graph.frozen_params == ("0.weight", "0.bias", "2.weight", "2.bias")
    p = peak_memory(graph, (256,), 64, training=True, optimizer=mode, first_step=True)
    assert p.peak_bytes == 5_881_896 and p.phase == "forward"
    # the steady state (the default) adds Adam's moments of the head and its two 4-byte step counts
    steady = peak_memory(graph, (256,), 64, training=True, optimizer=mode).peak_bytes
    assert steady == 5_881_896 + (0 if mode == "sgd" else 2 * 41_000 + 2 * 4)
    assert p.model_state_bytes == 5_292_072 + 41_000 * (1 if mode == "sgd" else 3)
    measured = measure_step_storage(model, torch.randn(64, 256), mode)
    assert measured.peak_bytes == 5_881_896
