"""torchvision's models by name, with random initialisation: no weights are downloaded.

Examples
--------
>>> model = build_torchvision("resnet18", (3, 64, 64), "meta")
>>> sum(p.numel() for p in model.parameters())  # torchvision resnet18: 11,689,512 parameters
11689512
"""

from __future__ import annotations

from typing import Any

from dlperf.errors import ArgumentError

__all__ = ["build_torchvision"]


def build_torchvision(name: str, input_shape: tuple[int, ...], device: str = "cpu") -> Any:
    """``torchvision.models.NAME(weights=None)`` on ``device`` in eval mode (googlenet and inception_v3 without
    auxiliary heads); an unknown name or an input without 3 channels raises ``ValueError``. On
    ``device="meta"`` no memory is allocated and nothing is initialised."""
    import torch
    import torchvision

    fn = getattr(torchvision.models, name, None)
    if fn is None or not callable(fn):
        raise ArgumentError("model", what=f"torchvision has no model {name!r}", fix="see torchvision.models.list_models()")
    if input_shape[0] != 3:
        raise ArgumentError("input_shape", "x".join(map(str, input_shape)),
                            "torchvision models take 3 channels; give a shape such as 3x224x224")
    kwargs: dict[str, Any] = {"weights": None}
    if name in ("googlenet", "inception_v3"):
        kwargs.update(aux_logits=False, init_weights=False)
    with torch.device(device):
        return fn(**kwargs).eval()
