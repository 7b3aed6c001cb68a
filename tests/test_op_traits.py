"""Op traits (:mod:`archcalc.ops.traits`): every registered kind declares them, analyses ask them instead of
testing kind names, and each trait agrees with what torch really does.

Adding a kind: give its traits where you register it, ``@register("MyOp", traits=pointwise())`` (or
``OpTraits(...)``; the constructors and fields are listed in ``archcalc/ops/traits.py``). If an analysis
needs a fact about ops that no field holds, add a field there, not a set of kind names in the analysis.

The count of kind-name branches this file enforces (zero outside ``ops/``, the presets and the allowlist):
``PYTHONPATH=$PWD python -c "from tests.test_op_traits import report; report()"``.
"""

from __future__ import annotations

import ast
import inspect
import pathlib
from typing import Any

import pytest

from archcalc.ir.graph import ValueInfo as ValueInfoT
from archcalc.ops import REGISTRY, formula
from archcalc.ops.traits import TRAITS, OpTraits, declared, traits

REPO = pathlib.Path(__file__).resolve().parents[1]
ROOT = REPO / "archcalc"
#: Where kind-name branches are looked for (``archcalc/ops`` itself is where the facts live).
SCANNED = ("archcalc", "tools", "benchmarks")

#: Modules allowed to branch on kind names, and why. Everything else asks the traits.
ALLOWED = {
    "archcalc/presets.py": "reproduces other tools' quirks, which are keyed by their op names",
}


def _kind_names() -> set[str]:
    return set(REGISTRY)


def kind_branches(path: pathlib.Path, kinds: set[str]) -> list[tuple[int, str]]:
    """Lines of ``path`` that branch on a registry kind's name: the name in a comparison (``==``, ``in``), a
    ``match`` case, a dict key, or a set / tuple / list of names bound to a variable (a set of kinds)."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: dict[int, str] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in kinds):
            continue
        cur, par = node, parents.get(node)
        while isinstance(par, ast.Set | ast.Tuple | ast.List | ast.Starred) or (
                isinstance(par, ast.Call) and isinstance(par.func, ast.Name) and par.func.id in ("frozenset", "set")):
            cur, par = par, parents.get(par)
        if (isinstance(par, ast.Compare | ast.MatchValue)
                or (isinstance(par, ast.Dict) and cur in par.keys)
                or (cur is not node and isinstance(par, ast.Assign | ast.AnnAssign))):
            found.setdefault(node.lineno, node.value)
    # a prefix test on a kind (``kind.startswith("BatchNorm")``) is a branch too
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("startswith", "endswith") and isinstance(node.func.value, ast.Attribute)
                and node.func.value.attr == "kind"):
            found.setdefault(node.lineno, ast.unparse(node))
    return sorted(found.items())


def _modules() -> list[pathlib.Path]:
    return sorted(p for top in SCANNED for p in (REPO / top).rglob("*.py")
                  if p.relative_to(REPO).parts[:2] != ("archcalc", "ops"))


def report() -> None:
    """Print the kind-name branches outside ``ops/``, per module (the allowlisted ones marked)."""
    kinds, total, outside = _kind_names(), 0, 0
    for path in _modules():
        rel = path.relative_to(REPO).as_posix()
        hits = kind_branches(path, kinds)
        if hits:
            total += len(hits)
            outside += 0 if rel in ALLOWED else len(hits)
            print(f"{rel}: {len(hits)}{' (allowed: ' + ALLOWED[rel] + ')' if rel in ALLOWED else ''}")
            for line, what in hits:
                print(f"    {line}: {what}")
    print(f"total {total}, outside ops/ and the allowlist {outside}")


def test_every_registered_kind_declares_traits():
    missing = sorted(k for k in REGISTRY if not declared(k))
    assert not missing, (f"op kinds without traits: {missing}; declare them where the kind is registered, e.g. "
                         '@register("MyOp", traits=pointwise()) (archcalc/ops/traits.py lists fields and constructors)')
    assert set(TRAITS) <= set(REGISTRY)
    assert all(TRAITS[k].family and (ROOT / "ops" / f"{TRAITS[k].family}.py").exists() for k in TRAITS)


def test_no_kind_name_branches_outside_ops():
    kinds = _kind_names()
    offending = {p.relative_to(REPO).as_posix(): kind_branches(p, kinds) for p in _modules()}
    offending = {k: v for k, v in offending.items() if v and k not in ALLOWED}
    assert not offending, ("modules branch on op kind names (ask archcalc.ops.traits.traits(kind) instead; add a "
                           f"field to OpTraits if none fits): {offending}")
    stale = [rel for rel in ALLOWED if (REPO / rel).exists() and not kind_branches(REPO / rel, kinds)]
    assert not stale, f"allowlisted modules without kind-name branches: {stale}; remove them from ALLOWED"


def test_the_detector_finds_each_form(tmp_path):
    src = tmp_path / "m.py"
    src.write_text('S = frozenset({"Add", "Mul"})\n'            # 1: a set of kinds
                   'a = r.kind == "Linear"\n'                    # 2: a comparison
                   'b = r.kind in ("View", "Reshape")\n'         # 3: membership in a literal
                   'c = {"Conv2d": 1}\n'                         # 4: a dict keyed by kind
                   'd = r.kind.startswith("BatchNorm")\n'        # 5: a prefix test
                   'e = node("relu", "ReLU")\n'                  # builds a node: not a branch
                   'f = "Linear"\n')                             # a plain name: not a branch
    assert [line for line, _ in kind_branches(src, _kind_names())] == [1, 2, 3, 4, 5]


def test_unknown_and_overridden_kinds():
    with pytest.raises(ValueError, match="known kinds"):
        traits("NoSuchKind")
    mine = OpTraits(broadcasting=True)
    assert traits("Linear", {"Linear": mine}) is mine and traits("Linear") is not mine
    with pytest.raises(ValueError, match="aliasing"):
        OpTraits(aliasing="sometimes")
    with pytest.raises(ValueError, match="autocast"):
        OpTraits(autocast=(("tpu", "lower"),))


def test_output_dtype_rules():
    assert traits("Cast").output_dtype(0, "float32", {"dtype": "int64"}) == "int64"
    assert [traits("TopK").output_dtype(i, "float16") for i in range(2)] == ["float16", "int64"]
    assert [traits("Chunk").output_dtype(i, "bfloat16") for i in range(3)] == ["bfloat16"] * 3  # the last repeats


def test_traits_agree_with_the_formulas():
    """Facts the formulas also state: a kind that may run in place (``inplace``) has a formula with an
    ``inplace`` option (or always writes its input: a collective's in-place sum); a view's
    formula aliases input 0; a broadcasting kind's formula broadcasts ``(2, 3, 4)`` with ``(4,)`` to
    ``(2, 3, 4)`` (numpy's rule)."""
    for kind, fn in REGISTRY.items():
        t = traits(kind)
        if t.aliasing == "inplace":
            assert "inplace" in inspect.signature(fn).parameters or t.collective, kind
        if t.broadcasting and kind not in ("Where", "AddCMul", "AddCDiv"):  # those take exactly 3 inputs
            assert formula(kind)([(2, 3, 4), (4,)]).output_shape == (2, 3, 4), kind
    assert formula("Where")([(2, 3, 4), (4,), (1, 4)]).output_shape == (2, 3, 4)
    for kind, shapes, hp in [("View", [(2, 6)], {"shape": (12,)}), ("Permute", [(2, 3)], {"dims": (1, 0)}),
                             ("Transpose", [(2, 3)], {}), ("Squeeze", [(2, 1)], {}), ("Unsqueeze", [(2,)], {"dim": 0}),
                             ("Expand", [(1, 3)], {"shape": (2, 3)}), ("Identity", [(2,)], {}),
                             ("Unflatten", [(6,)], {"dim": 0, "sizes": (2, 3)}), ("Real", [(2,)], {})]:
        assert traits(kind).aliasing in ("view", "maybe_view") and formula(kind)(shapes, **hp).alias_of[0] == 0, kind


def test_dim_order_of_the_reordering_views():
    assert traits("Transpose").dim_order({"dim0": 1, "dim1": 2}, [0, 1, 2, 3]) == [0, 2, 1, 3]
    assert traits("Permute").dim_order({"dims": (0, 2, 1, 3)}, [0, 2, 1, 3]) == [0, 1, 2, 3]
    assert traits("Reshape").dim_order is None


# -- against torch -------------------------------------------------------------------------------------------

torch_cases = pytest.mark.torch


def _torch() -> Any:
    return pytest.importorskip("torch")


@torch_cases
def test_output_dtypes_are_torchs():
    """Each kind's declared output dtypes from float32 (and float16) inputs, against torch's result."""
    torch = _torch()
    F = torch.nn.functional
    x = torch.randn(2, 3, 4)
    i = torch.randint(0, 3, (2, 3, 4))
    calls = {
        "Compare": lambda x: (x > 0,), "Add": lambda x: (x + x,), "ArgMax": lambda x: (x.argmax(-1),),
        "ArgMin": lambda x: (x.argmin(-1),), "MaxDim": lambda x: tuple(x.max(-1)), "MinDim": lambda x: tuple(x.min(-1)),
        "TopK": lambda x: tuple(x.topk(2)), "Sort": lambda x: tuple(x.sort()), "ArgSort": lambda x: (x.argsort(),),
        "All": lambda x: (x.all(),), "Any": lambda x: (x.any(-1),), "NonZero": lambda x: (x.nonzero(),),
        "OneHot": lambda x: (F.one_hot(i),), "Where": lambda x: (torch.where(x > 0, x, x),),
        "MaxPool2d": lambda x: F.max_pool2d(x, 2, return_indices=True), "Gather": lambda x: (x.gather(2, i),),
        "Softmax": lambda x: (x.softmax(-1),), "Cumsum": lambda x: (x.cumsum(0),), "Histc": lambda x: (x.float().histc(),),
        "Chunk": lambda x: x.chunk(2, -1), "Mean": lambda x: (x.mean(),),
    }
    for dtype in (torch.float32, torch.float16):
        name = str(dtype).removeprefix("torch.")
        for kind, f in calls.items():
            outs = f(x.to(dtype))
            want = [str(o.dtype).removeprefix("torch.") for o in outs]
            got = [traits(kind).output_dtype(k, name) for k in range(len(outs))]
            if kind == "Histc":  # histc computes in float32 (the call casts); its counts keep the input's dtype
                got = ["float32"]
            assert got == want, (kind, name)


@torch_cases
def test_not_differentiable_kinds_give_no_gradient():
    """``differentiable == ()``: torch's result needs no gradient even when every floating input does; a
    kind with a differentiable input gives a result that needs one."""
    torch = _torch()
    x = torch.randn(2, 3, 4, requires_grad=True)
    calls = {"Compare": lambda: x > 0, "ArgMax": lambda: x.argmax(-1), "All": lambda: x.all(), "Any": lambda: x.any(),
             "ArgSort": lambda: x.argsort(), "NonZero": lambda: x.nonzero(), "Invert": lambda: ~(x > 0),
             "Add": lambda: x + 1, "Gather": lambda: x.gather(2, torch.zeros(2, 3, 1, dtype=torch.long)),
             "Where": lambda: torch.where(x.detach() > 0, x, 0.0), "Sort": lambda: x.sort()[0]}
    for kind, f in calls.items():
        assert f().requires_grad == (traits(kind).differentiable != ()), kind


@torch_cases
def test_views_share_storage_and_new_tensors_do_not():
    torch = _torch()
    x = torch.randn(2, 3, 4)
    calls = {"View": lambda: x.view(6, 4), "Permute": lambda: x.permute(2, 0, 1), "Transpose": lambda: x.transpose(0, 1),
             "Squeeze": lambda: x[None].squeeze(0), "Unsqueeze": lambda: x.unsqueeze(0), "Expand": lambda: x[:1].expand(3, 3, 4),
             "Unflatten": lambda: x.unflatten(2, (2, 2)), "Unfold": lambda: x.unfold(2, 2, 1), "Chunk": lambda: x.chunk(2, 2)[1],
             "Split": lambda: x.split(1, 1)[1], "Unbind": lambda: x.unbind(1)[1], "TensorSplit": lambda: x.tensor_split(2, 2)[1],
             "Add": lambda: x + x, "Concat": lambda: torch.cat([x, x]), "Stack": lambda: torch.stack([x, x]),
             "Repeat": lambda: x.repeat(2, 1, 1), "ExpandAs": lambda: x[:1].expand_as(x).contiguous(), "Pad": lambda: torch.nn.functional.pad(x, (1, 1)),
             "GELU": lambda: torch.nn.functional.gelu(x), "Softmax": lambda: x.softmax(-1), "Sum": lambda: x.sum(0)}
    for kind, f in calls.items():
        shared = f().untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
        assert shared == (traits(kind).aliasing in ("view", "maybe_view")), kind


@torch_cases
def test_gradient_aliases_are_torchs():
    """``grad_alias``: the gradient autograd passes to the input shares the incoming gradient's storage."""
    torch = _torch()
    x, y = torch.randn(2, 3, 4, requires_grad=True), torch.randn(2, 3, 4, requires_grad=True)
    calls = {"Add": lambda: x + y, "Sub": lambda: y - x, "Mul": lambda: x * y, "View": lambda: x.view(6, 4),
             "Reshape": lambda: x.reshape(6, 4), "Flatten": lambda: x.flatten(1), "Unflatten": lambda: x.unflatten(2, (2, 2)),
             "Squeeze": lambda: x[None].squeeze(0), "Unsqueeze": lambda: x.unsqueeze(0), "Permute": lambda: x.permute(2, 0, 1),
             "Transpose": lambda: x.transpose(1, 2), "Concat": lambda: torch.cat([x, y], 1),
             "Contiguous": lambda: x.transpose(1, 2).contiguous(), "Stack": lambda: torch.stack([x, y]),
             "Expand": lambda: x[:, :1].expand(2, 3, 4), "Identity": lambda: torch.nn.Identity()(x),
             "Chunk": lambda: x.chunk(2, 2)[0], "GetItem": lambda: x[:, 1], "Roll": lambda: x.roll(1, 1),
             "Unbind": lambda: x.unbind(1)[0], "ReLU": lambda: x.relu(), "Softmax": lambda: x.softmax(-1)}
    for kind, f in calls.items():
        out = f()
        g = torch.randn_like(out)
        (dx,) = torch.autograd.grad(out, x, g)
        assert (dx.untyped_storage().data_ptr() == g.untyped_storage().data_ptr()) == traits(kind).grad_alias, kind


@torch_cases
def test_autocast_classes_on_the_cpu_are_torchs():
    """``torch.autocast("cpu", bfloat16)``: ``lower`` kinds give bfloat16 from float32 inputs, ``fp32`` kinds
    float32 from bfloat16 inputs, the others their inputs' dtype."""
    torch = _torch()
    F = torch.nn.functional
    m, x4, x5 = torch.randn(2, 4, 4), torch.randn(2, 3, 8, 8), torch.randn(1, 2, 4, 4, 4)
    calls = {"Conv1d": lambda t: F.conv1d(t[0], t[0, :1].expand(4, 4, 4)), "Conv2d": lambda t: F.conv2d(t, t[:1, :3]),
             "Conv3d": lambda t: F.conv3d(t, t[:1, :2]), "ConvTranspose2d": lambda t: F.conv_transpose2d(t, t[0, :, None, :2, :2]),
             "Linear": lambda t: F.linear(t, t[0]), "MatMul": lambda t: t @ t, "Einsum": lambda t: torch.einsum("bij,bjk->bik", t, t),
             "AvgPool2d": lambda t: F.avg_pool2d(t, 2), "MaxPool2d": lambda t: F.max_pool2d(t, 2),
             "AvgPool3d": lambda t: F.avg_pool3d(t, 2), "MaxPool3d": lambda t: F.max_pool3d(t, 2),
             "AdaptiveAvgPool3d": lambda t: F.adaptive_avg_pool3d(t, 1), "AdaptiveMaxPool3d": lambda t: F.adaptive_max_pool3d(t, 1),
             "LayerNorm": lambda t: F.layer_norm(t, t.shape[-1:]), "GELU": lambda t: F.gelu(t), "Mul": lambda t: t * t,
             "Exp": lambda t: t.exp(), "Sum": lambda t: t.sum(-1)}
    inputs = {"Conv1d": m, "Conv2d": x4, "Conv3d": x5, "ConvTranspose2d": x4, "AvgPool2d": x4, "MaxPool2d": x4,
              "AvgPool3d": x5, "MaxPool3d": x5, "AdaptiveAvgPool3d": x5, "AdaptiveMaxPool3d": x5}
    for kind, f in calls.items():
        policy = traits(kind).autocast_policy("cpu")
        t = inputs.get(kind, m)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            lowered = f(t).dtype == torch.bfloat16
            kept32 = f(t.bfloat16()).dtype == torch.float32
        assert (policy == "lower") == lowered and (policy == "fp32") == kept32, kind


@torch_cases
def test_training_sensitive_kinds_change_in_training_mode():
    """A module's output (or its buffers) changes between train() and eval() exactly for the sensitive kinds."""
    torch = _torch()
    nn = torch.nn
    x = torch.randn(4, 3, 8, 8)
    seq = torch.randn(5, 2, 8)
    modules = {"Dropout": (nn.Dropout(0.5), x), "FeatureDropout": (nn.Dropout2d(0.5), x), "BatchNorm2d": (nn.BatchNorm2d(3), x),
               "LSTM": (nn.LSTM(8, 8, num_layers=2, dropout=0.5), seq), "GRU": (nn.GRU(8, 8, num_layers=2, dropout=0.5), seq),
               "MultiheadAttention": (nn.MultiheadAttention(8, 2, dropout=0.5), seq),
               "LayerNorm": (nn.LayerNorm(8), x), "GroupNorm": (nn.GroupNorm(1, 3), x), "Conv2d": (nn.Conv2d(3, 3, 1), x),
               "InstanceNorm2d": (nn.InstanceNorm2d(3), x), "Linear": (nn.Linear(8, 8), x), "ReLU": (nn.ReLU(), x)}

    def run(module: Any, inp: Any, train: bool) -> Any:
        torch.manual_seed(0)
        module.train(train)
        with torch.no_grad():
            out = module(inp, inp, inp) if isinstance(module, nn.MultiheadAttention) else module(inp)
        return out[0] if isinstance(out, tuple) else out

    for kind, (module, inp) in modules.items():
        differs = not torch.equal(run(module, inp, True), run(module, inp, False))
        assert differs == traits(kind).training_sensitive, kind


class _Heads:
    """Attention as HF writes it: heads split by a view and a transpose, merged back by ``merge``."""

    def __init__(self, merge: str, dropout: float = 0.0) -> None:
        self.merge, self.dropout = merge, dropout
        self.seen: list[Any] = []  # the real run's attention output and merged output

    def module(self) -> Any:
        torch = _torch()
        F = torch.nn.functional
        merge, dropout, seen = self.merge, self.dropout, self.seen

        class Attention(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.qkv = torch.nn.Linear(32, 96)

            def forward(self, x: Any) -> Any:
                b, t, _ = x.shape
                q, k, v = (y.view(b, t, 4, 8).transpose(1, 2) for y in self.qkv(x).split(32, 2))
                o = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout if self.training else 0.0)
                if merge == "reshape":
                    out = o.transpose(1, 2).reshape(b, t, 32)
                elif merge == "permute":
                    out = o.permute(0, 2, 1, 3).contiguous().view(b, t, 32)
                else:  # "heads-first": merged in (b, h, t, e) order, a real copy
                    out = o.reshape(b, 4 * t, 8)
                seen[:] = [o, out]
                return out

        return Attention()


_GAP = pytest.mark.xfail(strict=True, reason="the trace records the view the meta kernel makes; the CPU's fused "
                         "kernel returns (b, h, t, e) in the query's memory order, so merging in heads-first order "
                         "copies: not modelled (memory/liveness/step.py, issue 19 item 7)")


@torch_cases
@pytest.mark.parametrize("merge,training", [("reshape", False), ("reshape", True), ("permute", False),
                                            ("permute", True), pytest.param("heads-first", False, marks=_GAP),
                                            ("heads-first", True)])
def test_heads_merge_is_a_view_exactly_when_torch_makes_one(merge, training):
    """The traits-only pattern (``heads_merge_is_view``, which the memory model calls) against the real CPU
    run: the merged output shares the attention output's storage exactly when no node after the attention
    copies."""
    torch = _torch()
    from archcalc.frontends.torch_trace import from_torch
    from archcalc.ops.attention import heads_merge_is_view

    spec = _Heads(merge, dropout=0.5)
    module = spec.module().train(training)
    torch.manual_seed(0)
    module(torch.randn(2, 5, 32))
    o, out = spec.seen
    real = out.untyped_storage().data_ptr() == o.untyped_storage().data_ptr()
    g = from_torch(module, (5, 32), batch=2, training=training)
    nodes = g.nodes
    producer = {v: k for k, n in enumerate(nodes) for v in n.outputs}
    answers = [heads_merge_is_view(n, nodes, producer, training) for n in nodes]
    after = [i for i, n in enumerate(nodes) if i > max(k for k, n in enumerate(nodes) if traits(n.kind).attention)]
    copies = [i for i in after if nodes[i].options.get("copy") and not answers[i]]
    assert (not copies) == real, (merge, training, [nodes[i].kind for i in copies])


def test_evaluate_takes_traits_for_one_call():
    """``evaluate(..., op_traits=...)``: a dropout declared not training-sensitive stays the identity in a
    training evaluation (0 operations, nothing saved), for that call only; a comparison declared float and
    differentiable gives a float output that needs a gradient."""
    from archcalc.ir import GraphBuilder, evaluate

    b = GraphBuilder("drop", inputs=[("x", (8,))])
    h = b.op("fc", "Linear", "x", out_features=8)
    g = b.build(b.op("cmp", "Compare", b.op("drop", "Dropout", h, p=0.5)))
    plain = evaluate(g, batch=2, training=True)
    mine = evaluate(g, batch=2, training=True, op_traits={"Dropout": OpTraits(), "Compare": OpTraits()})
    drop = {ev: next(r for r in ev.rows if r.kind == "Dropout") for ev in (plain, mine)}
    assert (drop[plain].elementwise_ops, drop[mine].elementwise_ops) == (2 * 2 * 8, 0)  # mask and scale, 16 elements
    assert plain.info()["cmp"] == ValueInfoT("bool", False) and mine.info()["cmp"] == ValueInfoT("float32", True)
    with pytest.raises(ValueError, match="op_traits"):
        evaluate(g, batch=2, op_traits={"Dropout": "identity"})
