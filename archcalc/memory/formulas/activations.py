"""Activation bytes of one transformer layer, itemised as in Korthikanti et al. 2022, section 4.

"Reducing Activation Recomputation in Large Transformer Models": with fp16 activations (2 bytes) and 1-byte
dropout masks, one layer stores, for sequence ``s``, micro-batch ``b``, hidden size ``h`` and ``a`` heads,
attention ``11 sbh + 5 a s^2 b``, MLP ``19 sbh`` and two LayerNorm inputs ``4 sbh``: ``sbh (34 + 5 as / h)``
bytes. :data:`ROWS` holds the section 4.1 items; every variant of the paper's Table 2 is a sum over them:

- tensor parallelism (size ``t``) splits the items between the column- and the row-parallel linear layers
  (``24 sbh + 5 a s^2 b``), the other ``10 sbh`` stay replicated;
- sequence parallelism splits those ``10 sbh`` too, along the sequence;
- selective recompute drops the ``5 a s^2 b`` items (softmax, its dropout mask, the dropout output);
- full recompute keeps only the layer's input, ``2 sbh`` (Table 2's last row, which the paper gives without
  a tensor- or sequence-parallel split; with sequence parallelism Megatron-LM keeps the sequence shard,
  ``2 sbh / t``, so the paper's row is the larger of the two).

Transformer layers only: the embeddings, the final LayerNorm and the output layer (the paper's section 4.3)
are not included. Plain integer arithmetic, so sympy symbols work too.

Examples
--------
>>> megatron_activation_bytes(2048, 1, 12288, 96).bytes_per_layer  # sbh (34 + 80) = 114 sbh
2868903936
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dlperf.errors import ArgumentError, ref
from dlperf.results import Result
from dlperf.validate import check_int

__all__ = ["RECOMPUTE", "ActivationItem", "ActivationRow", "MegatronActivations", "Table2Variant", "ROWS",
           "megatron_activation_bytes", "megatron_table2"]

RECOMPUTE = ("none", "selective", "full")


@dataclass(frozen=True)
class ActivationItem:
    """One tensor a layer keeps for backward: ``sbh * sbh_bytes + a s^2 b * as2b_bytes`` bytes unsplit.

    ``tensor_parallel`` is True for items between the column- and row-parallel linears (split by ``t``);
    ``selective`` is True for items that selective recompute recomputes instead of storing;
    ``layer_input`` marks the one tensor full recompute keeps.
    """

    block: str
    name: str
    sbh_bytes: int
    as2b_bytes: int
    tensor_parallel: bool
    selective: bool = False
    layer_input: bool = False

    @property
    def formula(self) -> str:
        """The item as written in the paper, e.g. ``'4sbh'`` or ``'2as^2b'``."""
        coefficient, term = (self.sbh_bytes, "sbh") if self.sbh_bytes else (self.as2b_bytes, "as^2b")
        return f"{coefficient if coefficient != 1 else ''}{term}"


ROWS: tuple[ActivationItem, ...] = (
    ActivationItem("attention", "QKV matmul input", 2, 0, False),
    ActivationItem("attention", "QK^T inputs (Q, K)", 4, 0, True),
    ActivationItem("attention", "softmax output", 0, 2, True, selective=True),
    ActivationItem("attention", "softmax dropout mask", 0, 1, True, selective=True),
    ActivationItem("attention", "attention over values: dropout output", 0, 2, True, selective=True),
    ActivationItem("attention", "attention over values: values (V)", 2, 0, True),
    ActivationItem("attention", "output projection input", 2, 0, True),
    ActivationItem("attention", "attention dropout mask", 1, 0, False),
    ActivationItem("mlp", "first linear input", 2, 0, False),
    ActivationItem("mlp", "GeLU input", 8, 0, True),
    ActivationItem("mlp", "second linear input (GeLU output)", 8, 0, True),
    ActivationItem("mlp", "dropout mask", 1, 0, False),
    ActivationItem("layernorm", "attention LayerNorm input (the layer input)", 2, 0, False, layer_input=True),
    ActivationItem("layernorm", "MLP LayerNorm input", 2, 0, False),
)


@dataclass(frozen=True)
class ActivationRow:
    """One item of :data:`ROWS` under a configuration: ``divisor`` 1 or ``t``, ``bytes`` stored (0: recomputed)."""

    item: ActivationItem
    divisor: Any
    bytes: Any


@dataclass(frozen=True, repr=False)
class MegatronActivations(Result):
    """Activation bytes of one transformer layer (``bytes_per_layer``) and of ``layers`` layers (``total_bytes``)."""

    seq: Any
    batch: Any
    hidden: Any
    heads: Any
    layers: Any
    tensor_parallel: Any
    sequence_parallel: bool
    recompute: str
    rows: tuple[ActivationRow, ...]
    bytes_per_layer: Any
    total_bytes: Any


def _is_int(*values: Any) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def _split(value: Any, divisor: Any) -> Any:
    if _is_int(value, divisor):
        assert value % divisor == 0, (value, divisor)  # guaranteed by heads % t == 0, hidden % heads == 0
        return value // divisor
    return value / divisor


def _validate(seq: Any, batch: Any, hidden: Any, heads: Any, layers: Any, tensor_parallel: Any, recompute: str) -> None:
    for name, value in (("seq", seq), ("batch", batch), ("hidden", hidden), ("heads", heads), ("layers", layers),
                        ("tensor_parallel", tensor_parallel)):
        check_int(name, value, symbolic=True)
    if recompute not in RECOMPUTE:
        raise ArgumentError("recompute", recompute, f"choose one of {', '.join(RECOMPUTE)}")
    if _is_int(hidden, heads) and hidden % heads:
        raise ArgumentError("heads", heads, f"use a head count that divides {ref('hidden')} ({hidden})")
    if _is_int(heads, tensor_parallel) and heads % tensor_parallel:
        raise ArgumentError("tensor_parallel", tensor_parallel, f"Megatron splits whole heads across "
                            f"tensor-parallel ranks: use a divisor of {ref('heads')} ({heads})")


def megatron_activation_bytes(seq: Any, batch: Any, hidden: Any, heads: Any, *, tensor_parallel: Any = 1,
                              sequence_parallel: bool = False, recompute: str = "none",
                              layers: Any = 1) -> MegatronActivations:
    """Bytes one transformer layer keeps for backward, item by item (Korthikanti et al. 2022).

    Parameters
    ----------
    seq, batch, hidden, heads : int or sympy expression
        s, b (micro-batch), h and a; ``heads`` must divide ``hidden``.
    tensor_parallel : int or sympy expression
        t, which must divide ``heads``.
    sequence_parallel : bool
        Split the LayerNorm and dropout items along the sequence too.
    recompute : {"none", "selective", "full"}
        Activation recomputation.
    layers : int or sympy expression
        Layers counted in ``total_bytes``.

    Examples
    --------
    >>> m = megatron_activation_bytes(2048, 1, 12288, 96, tensor_parallel=8, sequence_parallel=True,
    ...                               recompute="selective", layers=96)
    >>> m.bytes_per_layer, m.total_bytes  # sbh * 34 / 8 per layer
    (106954752, 10267656192)
    >>> import sympy
    >>> s, b, h, a = sympy.symbols("s b h a", positive=True, integer=True)
    >>> megatron_activation_bytes(s, b, h, a).bytes_per_layer
    5*a*b*s**2 + 34*b*h*s
    """
    _validate(seq, batch, hidden, heads, layers, tensor_parallel, recompute)
    rows = []
    for item in ROWS:
        divisor = tensor_parallel if item.tensor_parallel or sequence_parallel else 1
        unsplit = item.sbh_bytes * seq * batch * hidden + item.as2b_bytes * heads * seq * seq * batch
        if recompute == "full":
            divisor = 1  # the paper's Table 2 row: 2sbh whatever the parallelism
            stored = unsplit if item.layer_input else 0
        elif recompute == "selective" and item.selective:
            stored = 0
        else:
            stored = _split(unsplit, divisor)
        rows.append(ActivationRow(item, divisor, stored))
    per_layer = sum(row.bytes for row in rows)
    return MegatronActivations(seq, batch, hidden, heads, layers, tensor_parallel, sequence_parallel, recompute,
                               tuple(rows), per_layer, per_layer * layers)


@dataclass(frozen=True)
class Table2Variant:
    """One row of Korthikanti et al.'s Table 2: its name, the paper's formula and the computed bytes."""

    name: str
    formula: str
    activations: MegatronActivations


_TABLE2 = (
    ("no parallelism", "sbh(34 + 5as/h)", False, False, "none"),
    ("tensor parallel (baseline)", "sbh(10 + 24/t + 5as/(ht))", True, False, "none"),
    ("tensor + sequence parallel", "sbh(34/t + 5as/(ht))", True, True, "none"),
    ("tensor parallel + selective recompute", "sbh(10 + 24/t)", True, False, "selective"),
    ("tensor + sequence parallel + selective recompute", "sbh(34/t)", True, True, "selective"),
    ("full recompute", "2sbh", False, False, "full"),
)


def megatron_table2(seq: Any, batch: Any, hidden: Any, heads: Any, *, tensor_parallel: Any = 1,
                    layers: Any = 1) -> tuple[Table2Variant, ...]:
    """All six variants of Korthikanti et al.'s Table 2 at one shape, each summed from :data:`ROWS`.

    Examples
    --------
    >>> for v in megatron_table2(2048, 1, 12288, 96, tensor_parallel=8):  # GPT-3 175B, sbh = 25,165,824
    ...     print(f"{v.formula:<26} {v.activations.bytes_per_layer:>13,}")
    sbh(34 + 5as/h)            2,868,903,936
    sbh(10 + 24/t + 5as/(ht))    578,813,952
    sbh(34/t + 5as/(ht))         358,612,992
    sbh(10 + 24/t)               327,155,712
    sbh(34/t)                    106,954,752
    2sbh                          50,331,648
    """
    return tuple(
        Table2Variant(name, formula, megatron_activation_bytes(
            seq, batch, hidden, heads, tensor_parallel=tensor_parallel if tp else 1, sequence_parallel=sp,
            recompute=recompute, layers=layers))
        for name, formula, tp, sp, recompute in _TABLE2
    )
