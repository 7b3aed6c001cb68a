"""Recurrent layers: ``nn.RNN`` (tanh / relu), ``nn.LSTM`` (with ``proj_size``) and ``nn.GRU``, one node each.

Input ``(L, N, I)``, ``(N, L, I)`` with ``batch_first`` or unbatched ``(L, I)``; then optionally the initial
state ``h0`` (and ``c0`` for LSTM), then optionally the weights in torch's ``_flat_weights`` order (a traced
node receives them as inputs; a zoo node declares them: ``weight_ih_l{k}{_reverse}``, ``weight_hh_...``,
``bias_ih_...``, ``bias_hh_...``, ``weight_hr_...``, exactly torch's names and shapes).

Outputs: ``output`` ``(L, N, D * H_out)``, then ``h_n`` ``(D * layers, N, H_out)`` and, for LSTM, ``c_n``
``(D * layers, N, H)``; ``D`` = 2 if bidirectional, ``H_out`` = ``proj_size`` or ``H``.

MACs, per time step, sample and direction of layer ``k`` with ``g`` gates (RNN 1, GRU 3, LSTM 4):
``g H x (in_k + H_out)`` (the input-hidden and hidden-hidden matmuls, ``in_0 = I``, ``in_k = D H_out``)
plus ``H x P`` for the LSTM projection. Element-wise operations per hidden unit and step (each of
``+ - *``, ``tanh``, ``max`` one; sigmoid 4, as in :mod:`archcalc.ops.activations`):

=====  ==========  ==============================================================================
kind   ops (bias)  which
=====  ==========  ==============================================================================
RNN    2 (+2)      ``ih + hh``, tanh or relu (+ ``b_ih``, ``b_hh``)
GRU    16 (+6)     ``r, z``: 2 adds + 2 sigmoids; ``n = tanh(i_n + r hh_n)``: 3; ``n + z (h - n)``: 3
LSTM   22 (+8)     4 gate adds, 3 sigmoids, tanh(g); ``c = f c + i g``: 3; ``h = o tanh(c)``: 2
=====  ==========  ==============================================================================

Dropout between layers in training: 2 operations per element of every layer's output but the last.

Backward: the gradient of the input is the first layer's input-hidden product (``g H I`` per step and
direction); the gradient of ``h0`` the first step's hidden-hidden product; everything else (the weight
gradients and back-propagation through time, which the weight gradients need even when the input needs no
gradient) is weight-gradient work: forward MACs x 2 minus those two.

Saved for backward: the input and the outputs only. The per-step tensors autograd keeps inside the layer
depend on the backend (oneDNN's workspace on CPU, cuDNN's reserve space on GPU) and are not counted.

Examples
--------
>>> from archcalc.ops import formula
>>> c = formula("LSTM")([(5, 2, 3)], hidden_size=4)
>>> c.output_shapes, c.params, c.macs  # params 4*4*(3+4) + 2*4*4; macs 5*2 * 4*4*(3+4)
(((5, 2, 4), (1, 2, 4), (1, 2, 4)), 144, 1120)
"""

from __future__ import annotations

from typing import Any

from archcalc.arith import is_concrete, prod
from archcalc.ops.registry import OpCost, Shape, register
from archcalc.ops.traits import OpTraits
from dlperf.validate import check_int

__all__ = ["GATES", "recurrent", "rnn_param_shapes"]

#: Gates per recurrent cell kind.
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
_OPS_PER_UNIT = {"RNN": (2, 2), "GRU": (16, 6), "LSTM": (22, 8)}  # (without bias, bias extra)


def rnn_param_shapes(kind: str, input_size: Any, hidden_size: Any, num_layers: int = 1, bias: bool = True,
                     bidirectional: bool = False, proj_size: Any = 0) -> tuple[tuple[str, Shape], ...]:
    """torch's parameters of ``nn.{kind}`` in ``_flat_weights`` order, as ``(name, shape)`` pairs."""
    gh = GATES[kind] * hidden_size
    h_out = hidden_size if _no_proj(proj_size) else proj_size
    d = 2 if bidirectional else 1
    out: list[tuple[str, Shape]] = []
    for k in range(num_layers):
        in_k = input_size if k == 0 else d * h_out
        for sfx in ("", "_reverse")[:d]:
            out += [(f"weight_ih_l{k}{sfx}", (gh, in_k)), (f"weight_hh_l{k}{sfx}", (gh, h_out))]
            if bias:
                out += [(f"bias_ih_l{k}{sfx}", (gh,)), (f"bias_hh_l{k}{sfx}", (gh,))]
            if not _no_proj(proj_size):
                out.append((f"weight_hr_l{k}{sfx}", (proj_size, hidden_size)))
    return tuple(out)


def _no_proj(proj_size: Any) -> bool:
    return is_concrete(proj_size) and proj_size == 0


def recurrent(kind: str, in_shapes: list[Shape], *, hidden_size: Any, num_layers: int = 1, bias: bool = True,
              batch_first: bool = False, bidirectional: bool = False, proj_size: Any = 0, dropout: Any = 0.0,
              training: bool = False, nonlinearity: str = "tanh") -> OpCost:
    """The cost of ``nn.{kind}`` (RNN, GRU or LSTM) on ``in_shapes``; see the module docstring."""
    check_int(f"{kind} num_layers", num_layers)
    if kind == "RNN" and nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    if kind != "LSTM" and not _no_proj(proj_size):
        raise ValueError(f"{kind}: proj_size exists only for LSTM, got {proj_size!r}")
    x = tuple(in_shapes[0]) if in_shapes else ()
    if len(x) not in (2, 3):
        raise ValueError(f"{kind} expects an input (L, N, I), (N, L, I) with batch_first or (L, I), got {x}")
    n_states = 2 if kind == "LSTM" else 1
    if len(x) == 3:
        (n, steps), i_size = ((x[0], x[1]) if batch_first else (x[1], x[0])), x[2]
    else:
        n, steps, i_size = 1, x[0], x[1]
    d = 2 if bidirectional else 1
    h_out = hidden_size if _no_proj(proj_size) else proj_size
    shapes = rnn_param_shapes(kind, i_size, hidden_size, num_layers, bias, bidirectional, proj_size)
    extra = len(in_shapes) - 1
    if extra not in (0, n_states, n_states + len(shapes)):
        raise ValueError(f"{kind} takes the input, optionally {n_states} initial state(s), then optionally its "
                         f"{len(shapes)} weights; got {len(in_shapes)} inputs")
    weights_given = extra == n_states + len(shapes)
    if weights_given:
        for (name, want), got in zip(shapes, in_shapes[1 + n_states:], strict=True):
            if is_concrete(*want, *got) and tuple(want) != tuple(got):
                raise ValueError(f"{kind}: weight {name} has shape {tuple(got)}, expected {want}")
    batch_dims = (n,) if len(x) == 3 else ()
    out = (*x[:2], d * h_out) if len(x) == 3 else (steps, d * h_out)
    state = (d * num_layers, *batch_dims, h_out)
    more = (state,) + (((d * num_layers, *batch_dims, hidden_size),) if kind == "LSTM" else ())
    g = GATES[kind]
    gh = g * hidden_size
    proj_macs = 0 if _no_proj(proj_size) else hidden_size * proj_size
    per_step = gh * (i_size + h_out) + proj_macs + (num_layers - 1) * (gh * (d * h_out + h_out) + proj_macs)
    tokens = n * steps
    macs = tokens * d * per_step
    ops_unit, ops_bias = _OPS_PER_UNIT[kind]
    ew = tokens * d * num_layers * hidden_size * (ops_unit + (ops_bias if bias else 0))
    drop = training and not (is_concrete(dropout) and dropout == 0) and num_layers > 1
    if drop:
        ew = ew + 2 * (num_layers - 1) * tokens * d * h_out
    x_grad = tokens * d * gh * i_size
    h0_grad = n * d * num_layers * gh * h_out
    weight_work = 2 * macs - x_grad - h0_grad
    if weights_given:
        grads: tuple[Any, ...] = (x_grad, h0_grad) + (0,) * (n_states - 1) + (weight_work,)
        declared: tuple[tuple[str, Shape], ...] = ()
        weight_macs: Any = 0
    else:
        grads, declared, weight_macs = (x_grad, h0_grad), shapes, weight_work
    acts = prod(out) + sum((prod(s) for s in more), 0)
    return OpCost(output_shape=out, more_outputs=more, param_shapes=declared, macs=macs, activations=acts,
                  elementwise_ops=ew, input_grad_macs=grads, backward_weight_macs=weight_macs, saves_input=True,
                  saves_output=True,
                  saved_mask_elements=(num_layers - 1) * tokens * d * h_out if drop else 0)


@register("RNN", traits=OpTraits(training_sensitive=True))
def rnn(in_shapes: list[Shape], **hparams: Any) -> OpCost:
    """``nn.RNN`` (``nonlinearity`` tanh or relu): 1 gate; see the module docstring."""
    return recurrent("RNN", in_shapes, **hparams)


@register("LSTM", traits=OpTraits(training_sensitive=True))
def lstm(in_shapes: list[Shape], **hparams: Any) -> OpCost:
    """``nn.LSTM`` (optional ``proj_size``): 4 gates; outputs output, ``h_n``, ``c_n``."""
    return recurrent("LSTM", in_shapes, **hparams)


@register("GRU", traits=OpTraits(training_sensitive=True))
def gru(in_shapes: list[Shape], **hparams: Any) -> OpCost:
    """``nn.GRU``: 3 gates; outputs output, ``h_n``."""
    return recurrent("GRU", in_shapes, **hparams)
