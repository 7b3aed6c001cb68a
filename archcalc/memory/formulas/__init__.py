"""Training memory from the papers' closed forms: model states (mixed precision, ZeRO) and activations.

Self-contained: plain integer arithmetic on the arguments (so sympy symbols work too), no torch or sympy
import, nothing from the liveness simulator. :mod:`~archcalc.memory.formulas.states` gives weights,
gradients, master weights and optimizer states per ZeRO stage (Rajbhandari et al. 2020);
:mod:`~archcalc.memory.formulas.activations` gives a transformer layer's stored activations item by item
(Korthikanti et al. 2022, Table 2); :mod:`~archcalc.memory.units` parses and prints byte sizes exactly;
:mod:`~archcalc.memory.render.formulas` turns results into tables and JSON.

Examples
--------
>>> from archcalc.memory.formulas import model_state_bytes
>>> from archcalc.memory.units import format_bytes, parse_count
>>> format_bytes(model_state_bytes(parse_count("7.5B"), data_parallel=64, zero=2).per_device_bytes)
'16.6 GB (15.5 GiB)'
"""

from archcalc.memory.formulas.activations import (
    RECOMPUTE,
    ROWS,
    ActivationItem,
    ActivationRow,
    MegatronActivations,
    Table2Variant,
    megatron_activation_bytes,
    megatron_table2,
)
from archcalc.memory.formulas.states import (
    CONVENTIONS,
    OPTIMIZERS,
    PRECISIONS,
    ZERO_STAGES,
    BytesPerParam,
    ModelStateMemory,
    bytes_per_param,
    model_state_bytes,
)

__all__ = [
    "CONVENTIONS", "OPTIMIZERS", "PRECISIONS", "RECOMPUTE", "ROWS", "ZERO_STAGES",
    "ActivationItem", "ActivationRow", "BytesPerParam", "MegatronActivations", "ModelStateMemory", "Table2Variant",
    "bytes_per_param", "megatron_activation_bytes", "megatron_table2", "model_state_bytes",
]
