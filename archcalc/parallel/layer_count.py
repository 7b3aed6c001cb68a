"""Saved activation bytes of one transformer layer on one rank -- archcalc's own count -- beside Table 2.

:func:`layer_saved` walks a layer of :func:`~archcalc.parallel.rank_graph.rank_graph` with the op
registry's saved-tensor rules (those :func:`archcalc.memory.liveness.peak.peak_memory` pins): every storage once,
attributed to the first op that keeps it, with views sharing their base's storage.
Element sizes: activations 4 (fp32) or 2 (fp16, bf16) bytes; SDPA's log-sum-exp float32; LayerNorm's mean
/ rstd float32 on CUDA (its accumulate type) and of the input dtype on the CPU; a dropout mask 1 byte on CUDA (``native_dropout``'s bool mask) and one activation element on the
CPU (``F.dropout`` multiplies by a noise tensor). Recomputation as :mod:`archcalc.parallel.step` runs it:
``selective`` keeps the attention core's inputs (the checkpoint holds Q, K, V) and drops its own saved
tensors; ``full`` keeps only the layer input.

:func:`compare_table2` puts that count beside Korthikanti et al.'s Table 2 item by item
(:data:`archcalc.memory.formulas.activations.ROWS`) and itemises every difference; the differences add up to the gap.

Examples
--------
>>> from archcalc.models.zoo_transformers import CONFIGS, with_sizes
>>> gpt3 = with_sizes(CONFIGS["gpt"], layers=1, hidden=12288, heads=96, ffn=4 * 12288, vocab=51200)
>>> c = compare_table2(gpt3, 2048, 1, tensor_parallel=8, sequence_parallel=True, recompute="selective",
...                    precision="fp16", device="cuda")
>>> c.paper_bytes, c.own_bytes - c.paper_bytes  # sbh 34/t; + LayerNorm mean/rstd 2 x 8sb/t = 2 x 2,048
(106954752, 4096)
>>> [(d.what, d.bytes) for d in c.differences]
[('attention LayerNorm mean and rstd', 2048), ('MLP LayerNorm mean and rstd', 2048)]
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from archcalc.ir.dtypes import dtype_bytes
from archcalc.memory.formulas.activations import megatron_activation_bytes
from archcalc.memory.precision import PRECISION_TABLE
from archcalc.models.zoo_transformers import TransformerConfig
from archcalc.ops.arith import prod
from archcalc.ops.traits import traits
from archcalc.parallel.rank_graph import layer_prefix, rank_graph
from archcalc.parallel.step import check_recompute
from dlperf.errors import ArgumentError
from dlperf.results import Result

__all__ = ["SavedItem", "LayerSaved", "Difference", "Table2Comparison", "layer_saved", "compare_table2"]

# the precisions that convert the whole model to one dtype (the one precision table), bytes per element
# (the -master ones too: their activations are the 16-bit model's)
_ELEMENT = {p: dtype_bytes(spec.compute) for p, spec in PRECISION_TABLE.items() if not spec.autocast}

# (node name after the layer prefix, role) -> the section 4.1 items of activations.ROWS it corresponds to
_PAPER = {
    ("ln_1", "input"): ("attention LayerNorm input (the layer input)",),
    ("ln_1", "statistics"): (),
    ("attn.c_attn", "input"): ("QKV matmul input",),
    ("attn.scaled_dot_product_attention", "input"): ("QK^T inputs (Q, K)", "attention over values: values (V)"),
    ("attn.scaled_dot_product_attention", "output"): ("output projection input",),
    ("attn.scaled_dot_product_attention", "statistics"): (),
    ("attn.c_proj", "input"): ("output projection input",),
    ("attn.resid_dropout", "mask"): ("attention dropout mask",),
    ("ln_2", "input"): ("MLP LayerNorm input",),
    ("ln_2", "statistics"): (),
    ("mlp.c_fc", "input"): ("first linear input",),
    ("mlp.act", "input"): ("GeLU input",),
    ("mlp.c_proj", "input"): ("second linear input (GeLU output)",),
    ("mlp.dropout", "mask"): ("dropout mask",),
}
_EXTRA = {
    "ln_1": ("attention LayerNorm mean and rstd", "LayerNorm keeps a mean and rstd per row (float32 on "
             "CUDA: 8 bytes x s b rows); the paper counts the LayerNorm input only"),
    "ln_2": ("MLP LayerNorm mean and rstd", "LayerNorm keeps a mean and rstd per row (float32 on CUDA: "
             "8 bytes x s b rows); the paper counts the LayerNorm input only"),
    "attn.scaled_dot_product_attention": (
        "attention log-sum-exp", "the fused attention kernel keeps a float32 log-sum-exp per query row and head "
        "(4 a s b / t bytes) to recompute the probabilities in its backward"),
}
_FUSED = ("the fused attention kernel (scaled_dot_product_attention) keeps no s x s tensor: it recomputes the "
          "probabilities in its backward, as the paper's selective recomputation does")


@dataclass(frozen=True)
class SavedItem:
    """One storage a layer keeps for the backward: the op keeping it, its role (``input``, ``output``,
    ``statistics``, ``mask``), bytes and the Table 2 items it corresponds to."""

    node: str
    role: str
    bytes: int
    paper_items: tuple[str, ...]


@dataclass(frozen=True)
class LayerSaved:
    """archcalc's saved activation bytes of one layer on one rank (``bytes`` is the sum of ``items``)."""

    layer: int
    items: tuple[SavedItem, ...]

    @property
    def bytes(self) -> int:
        return sum(i.bytes for i in self.items)


@dataclass(frozen=True)
class Difference:
    """archcalc's bytes minus the paper's for one item (``bytes``), with the reason."""

    what: str
    own_bytes: int
    paper_bytes: int
    why: str

    @property
    def bytes(self) -> int:
        return self.own_bytes - self.paper_bytes


@dataclass(frozen=True, repr=False)
class Table2Comparison(Result):
    """One layer: archcalc's count (``own``), Table 2's bytes, and the differences (summing to the gap)."""

    own: LayerSaved
    paper_bytes: int
    paper_formula: str
    differences: tuple[Difference, ...]
    matched: tuple[tuple[str, int, int], ...]  # (item, own bytes, paper bytes) that agree

    @property
    def own_bytes(self) -> int:
        return self.own.bytes

    def bytes_per_layer(self, convention: str = "archcalc") -> int:
        """The layer's bytes under ``convention``: ``archcalc`` (own count) or ``megatron`` (Table 2)."""
        if convention not in ("archcalc", "megatron"):
            raise ArgumentError("memory_convention", convention, "choose archcalc or megatron")
        return self.own_bytes if convention == "archcalc" else self.paper_bytes


def _check_precision(precision: str, device: str) -> int:
    if precision not in _ELEMENT:
        raise ArgumentError("precision", precision, f"the per-layer count takes {', '.join(_ELEMENT)} (a model "
                            "converted to one dtype); mixed precision keeps some activations in fp32")
    if device not in ("cpu", "cuda"):
        raise ArgumentError("device", device, "choose cpu or cuda")
    return _ELEMENT[precision]


def layer_saved(cfg: TransformerConfig, seq: int, batch: int = 1, *, layer: int = 0, tensor_parallel: int = 1,
                sequence_parallel: bool = False, recompute: str = "none", precision: str = "fp32",
                device: str = "cpu") -> LayerSaved:
    """The storages layer ``layer`` of one rank keeps from its forward to its backward, item by item."""
    from archcalc.ir.evaluate import evaluate

    check_recompute(recompute)
    elem = _check_precision(precision, device)
    mask = 1 if device == "cuda" else elem
    graph = rank_graph(cfg, seq, tensor_parallel=tensor_parallel, sequence_parallel=sequence_parallel)
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < cfg.layers:
        raise ArgumentError("layer", layer, f"give an integer from 0 to {cfg.layers - 1}")
    ev = evaluate(graph, (seq,), batch, training=True)
    prefix = layer_prefix(layer)
    storage: dict[str, int] = {spec.name: -1 - k for k, spec in enumerate(graph.inputs)}  # value -> storage id
    elems: dict[int, int] = {}  # storage id -> elements (activations made by an op)
    items: list[SavedItem] = []
    seen: set[int] = set()
    for node, r in zip(graph.nodes, ev.rows, strict=True):
        ins = [v for v in node.inputs if v in storage]
        for k, (v, shape) in enumerate(zip(node.outputs, r.output_shapes, strict=True)):
            j = r.cost.alias_of[k] if k < len(r.cost.alias_of) else None
            if j is not None and j < len(node.inputs) and node.inputs[j] in storage:
                storage[v] = storage[node.inputs[j]]
            else:
                storage[v] = len(elems)
                elems[storage[v]] = prod(shape)
        if not node.name.startswith(prefix):
            continue
        local = node.name[len(prefix):]
        kept = _kept(local, recompute)
        found: list[tuple[str, int]] = []
        if r.cost.saves_input and kept:
            found += [("input", storage[v]) for v in ins]
        if r.cost.saves_output and kept:
            found += [("output", storage[v]) for v in node.outputs]
        if recompute == "selective" and local == "attn.scaled_dot_product_attention":
            found += [("input", storage[v]) for v in ins]  # the checkpoint keeps Q, K, V
        if recompute == "full" and local == "ln_1":
            found = [("input", storage[v]) for v in ins]  # the checkpoint keeps the layer input
        for role, sid in found:
            if sid not in seen and sid in elems:
                seen.add(sid)
                items.append(SavedItem(node.name, role, elems[sid] * elem, _PAPER[(local, role)]))
        if kept and r.cost.saved_fp32_elements:
            stat = elem if device in traits(node.kind).stats_in_input_dtype else 4  # LayerNorm's CPU kernel
            items.append(SavedItem(node.name, "statistics", r.cost.saved_fp32_elements * stat,
                                   _PAPER[(local, "statistics")]))
        if kept and traits(node.kind).drop == "element":
            items.append(SavedItem(node.name, "mask", prod(r.output_shape) * mask, _PAPER[(local, "mask")]))
    return LayerSaved(layer, tuple(items))


def _kept(local: str, recompute: str) -> bool:
    """Whether the op's own saved tensors survive to the backward under ``recompute``."""
    if recompute == "full":
        return False
    return not (recompute == "selective" and local == "attn.scaled_dot_product_attention")


def compare_table2(cfg: TransformerConfig, seq: int, batch: int = 1, *, tensor_parallel: int = 1,
                   sequence_parallel: bool = False, recompute: str = "none", precision: str = "fp16",
                   device: str = "cuda") -> Table2Comparison:
    """archcalc's count of layer 0 beside Table 2's bytes for the same (s, b, h, a, t, SP, recompute)."""
    if cfg.ffn != 4 * cfg.hidden:
        raise ArgumentError("ffn", cfg.ffn, f"Table 2 assumes a feed-forward width of 4 x hidden = {4 * cfg.hidden}; "
                            "compare a model with ffn = 4 hidden")
    own = layer_saved(cfg, seq, batch, tensor_parallel=tensor_parallel, sequence_parallel=sequence_parallel,
                      recompute=recompute, precision=precision, device=device)
    paper = megatron_activation_bytes(seq, batch, cfg.hidden, cfg.heads, tensor_parallel=tensor_parallel,
                                      sequence_parallel=sequence_parallel, recompute=recompute)
    paper_bytes = {row.item.name: row.bytes for row in paper.rows}
    diffs, matched, covered = [], [], set()
    elem, t = _ELEMENT[precision], tensor_parallel
    for item in own.items:
        local = item.node[len(layer_prefix(own.layer)):]
        if not item.paper_items:
            what, why = _EXTRA[local]
            diffs.append(Difference(what, item.bytes, 0, why))
            continue
        covered.update(item.paper_items)
        want = sum(paper_bytes[p] for p in item.paper_items)
        name = " + ".join(item.paper_items)
        if item.bytes == want:
            matched.append((name, item.bytes, want))
            continue
        diffs.append(Difference(name, item.bytes, want, _why(item, want, elem, device, t, sequence_parallel,
                                                             recompute)))
    for name, nbytes in paper_bytes.items():
        if nbytes and name not in covered:
            diffs.append(Difference(name, 0, nbytes, _FUSED))
    formula = {"none": "sbh(10 + 24/t + 5as/(ht))", "selective": "sbh(10 + 24/t)", "full": "2sbh"}[recompute]
    if sequence_parallel and recompute != "full":
        formula = {"none": "sbh(34/t + 5as/(ht))", "selective": "sbh(34/t)"}[recompute]
    if t == 1 and recompute == "none":
        formula = "sbh(34 + 5as/h)"
    return Table2Comparison(own, paper.bytes_per_layer, formula, tuple(diffs), tuple(matched))


def _why(item: SavedItem, paper: int, elem: int, device: str, t: int, sp: bool, recompute: str) -> str:
    ratio = Fraction(item.bytes, paper)
    reasons = []
    if item.role == "mask":
        reasons.append(f"a dropout mask of {int(ratio)} byte(s) per element ("
                       + ("F.dropout on the CPU multiplies by a noise tensor of the activation dtype"
                          if device == "cpu" else "a bool mask") + "); the paper counts 1 byte")
        ratio /= ratio
    else:
        if elem != 2:
            reasons.append(f"{elem}-byte activations; the paper counts 2 bytes (fp16)")
            ratio /= Fraction(elem, 2)
        if recompute == "full" and sp and ratio == Fraction(1, t):
            reasons.append("with sequence parallelism the checkpoint keeps the layer input's sequence shard "
                           "(2sbh/t); Table 2's full-recompute row is 2sbh whatever t")
            ratio *= t
    assert ratio == 1, (item, paper, ratio)  # every difference has a reason; never a silent wrong number
    return "; ".join(reasons)
