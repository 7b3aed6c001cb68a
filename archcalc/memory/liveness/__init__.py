"""The liveness simulator: peak live bytes of a forward pass or a training step, storage by storage.

:mod:`~archcalc.memory.liveness.peak` (the entry point and what the schedule models),
:mod:`~archcalc.memory.liveness.step` (the forward pass, phase by phase),
:mod:`~archcalc.memory.liveness.backward` (the backward pass and the optimizer step),
:mod:`~archcalc.memory.liveness.schedule` (storages, samples, the breakdown),
:mod:`~archcalc.memory.liveness.recompute` and :mod:`~archcalc.memory.liveness.checkpoint`
(``torch.utils.checkpoint``), :mod:`~archcalc.memory.liveness.zero` (ZeRO sharding on the schedule),
:mod:`~archcalc.memory.liveness.fit` (the largest batch that fits).
"""
