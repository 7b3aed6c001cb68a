"""The real torch module behind a network's ``twin`` name: torchvision, timm, Hugging Face or archcalc's own.

The cross-checks (:mod:`archcalc.check`) build the twin of a zoo network here and compare it row by row.

Examples
--------
>>> model = build_twin("archcalc:inception_small", (1, 8, 8), "meta")
>>> type(model).__name__, model.training
('InceptionSmall', False)
"""

from __future__ import annotations

from typing import Any

from dlperf.errors import ArgumentError

__all__ = ["build_twin"]


def build_twin(twin: str, input_shape: tuple[int, int, int], device: str = "cpu") -> Any:
    """Build the torch module named by a network's ``twin`` (random init, no pretrained weights).

    ``"torchvision:NAME"`` calls ``torchvision.models.NAME(weights=None)`` (googlenet without auxiliary
    heads, :func:`~archcalc.models.torchvision_models.build_torchvision`); ``"timm:NAME"`` calls
    ``timm.create_model(NAME, pretrained=False)``; ``"hf:NAME"`` builds a Hugging Face model from its config;
    ``"archcalc:inception_small"`` builds :class:`archcalc.models.twins.InceptionSmall` for ``input_shape``.
    On ``device="meta"`` no memory is allocated and nothing is initialised.
    """
    import torch

    source, _, name = twin.partition(":")
    if source == "torchvision":
        from archcalc.models.torchvision_models import build_torchvision

        return build_torchvision(name, input_shape, device)
    with torch.device(device):
        if source == "timm":  # timm.create_model(NAME, pretrained=False): archcalc.frontends.timm_models
            import timm

            from archcalc.frontends.timm_models import check_timm_name

            check_timm_name(name)
            model = timm.create_model(name, pretrained=False)
        elif source == "hf":  # a fresh build (the real run moves it off meta): archcalc.frontends.hf
            from archcalc.frontends.hf import twin_module

            model = twin_module(name, device)
        elif twin == "archcalc:inception_small":
            from archcalc.models.twins import inception_small

            model = inception_small(tuple(input_shape))
        else:
            raise ArgumentError("twin", twin, "give torchvision:NAME, timm:NAME, hf:NAME or archcalc:inception_small")
    return model.eval()
