"""From a model's name on the command line to its graph: the zoo, torchvision, timm, Hugging Face or a file.

:func:`resolve_model` is the one place a model name is resolved (a zoo name needs no torch; the others are
traced by :mod:`archcalc.frontends`); :func:`parse_input_shape` reads a per-sample shape such as ``3x224x224``.

Examples
--------
>>> resolve_model("alexnet").default_input
(3, 224, 224)
>>> is_traced("torchvision:resnet18"), is_traced("resnet18")
(True, False)
"""

from __future__ import annotations

import re

from archcalc.ir.graph import Graph
from dlperf.errors import ArgumentError, ref

__all__ = ["TRACED_PREFIXES", "is_traced", "resolve_model", "parse_input_shape"]


#: Prefixes of the models archcalc builds with torch and traces (``FILE.py:NAME`` is the other traced form).
TRACED_PREFIXES = ("torchvision:", "timm:", "hf:")


def is_traced(name: str) -> bool:
    """Whether ``name`` is a model archcalc traces with torch (``torchvision:NAME``, ``timm:NAME``,
    ``hf:NAME_OR_PATH``, ``FILE.py:NAME``)."""
    from archcalc.frontends.model_file import is_model_file

    return name.startswith(TRACED_PREFIXES) or is_model_file(name)


def resolve_model(name: str, inputs: list[tuple[int, ...]] | None = None, batch: int = 1,
                  input_dtypes: tuple[str, ...] = (), *, seq: int | None = None, decoder_seq: int | None = None,
                  trust_remote_code: bool = False, training: bool = False) -> Graph:
    """The network called ``name`` (the one place the command line resolves model names).

    A zoo name builds its graph without torch. ``torchvision:NAME`` traces ``torchvision.models.NAME``,
    ``timm:NAME`` ``timm.create_model(NAME)`` (:mod:`archcalc.frontends.timm_models`), ``hf:NAME_OR_PATH``
    a transformers model built from its config (:mod:`archcalc.frontends.hf`; ``seq``, ``decoder_seq`` and
    ``trust_remote_code`` are its options) and ``FILE.py:NAME`` a user's module (an ``nn.Module`` class or
    zero-argument factory in that file) with the torch front end, at the per-sample ``inputs`` (one shape
    per forward argument; torchvision's default 3x224x224, 3x299x299 for inception_v3) and ``batch``.
    Unknown names raise ``ValueError`` suggesting the closest zoo names. ``training``: a traced model is traced
    in training mode (its dropouts run, as in a training step); a zoo graph is the same either way.

    Examples
    --------
    >>> resolve_model("resnet18").name
    'resnet18'
    >>> resolve_model("vgg91")
    Traceback (most recent call last):
    ...
    dlperf.errors.ArgumentError: model: unknown name 'vgg91'; did you mean vgg19, ...? (see `archcalc list`)
    """
    from archcalc.models.zoo import build

    if not name.startswith("hf:"):
        for param, value in (("seq", seq), ("decoder_seq", decoder_seq), ("trust_remote_code", trust_remote_code)):
            if value not in (None, False):
                raise ArgumentError(param, value, f"only for hf:NAME models; {name} takes {ref('inputs')}")
    if name.startswith("hf:"):  # a transformers model from its config (archcalc.frontends.hf)
        from archcalc.frontends.hf import from_hf

        if input_dtypes:
            raise ArgumentError("input_dtypes", input_dtypes, f"{name}'s input types come from its config; "
                                "leave them out")
        if inputs is not None and len(inputs) > 1:
            raise ArgumentError("inputs", what=f"{len(inputs)} shapes", fix=f"{name} takes one (the sequence "
                                "length or the image / feature shape)")
        return from_hf(name[3:], seq=seq, batch=batch, decoder_seq=decoder_seq,
                       input_shape=inputs[0] if inputs else None, trust_remote_code=trust_remote_code,
                       training=training)
    if name.startswith("timm:"):  # timm.create_model(NAME, pretrained=False) (archcalc.frontends.timm_models)
        from archcalc.frontends.timm_models import from_timm

        if input_dtypes:
            raise ArgumentError("input_dtypes", input_dtypes, f"{name} takes a float image; leave them out")
        if inputs is not None and len(inputs) > 1:
            raise ArgumentError("inputs", what=f"{len(inputs)} shapes", fix=f"{name} takes one image input")
        return from_timm(name[5:], inputs[0] if inputs else None, batch, training=training)
    if name.startswith("torchvision:"):  # any torchvision model, traced (archcalc.frontends.torch_trace)
        from archcalc.frontends.torch_trace import from_torchvision

        tv = name.partition(":")[2]
        from archcalc.models.torchvision_names import check_torchvision_name

        check_torchvision_name(tv)  # an unknown name refused before torchvision's import (seconds)
        shapes = inputs or [(3, 299, 299) if tv == "inception_v3" else (3, 224, 224)]
        if len(shapes) != 1:
            raise ArgumentError("inputs", what=f"{len(shapes)} shapes", fix=f"{name} takes one image input")
        return from_torchvision(tv, shapes[0], batch=batch, training=training)
    from archcalc.frontends.model_file import is_model_file

    if is_model_file(name):
        from archcalc.frontends.model_file import load_model
        from archcalc.frontends.torch_trace import from_torch

        if not inputs:
            raise ArgumentError("inputs", what="not given", fix=f"{name} is traced at a given input; give its "
                                "per-sample shape, e.g. 3x224x224 (one shape per forward argument)")
        model = load_model(name)
        return from_torch(model, *inputs, batch=batch, input_dtypes=input_dtypes, name=name.rpartition(":")[2],
                          training=training)
    if inputs is not None and len(inputs) > 1:
        raise ArgumentError("inputs", what=f"{len(inputs)} shapes", fix=f"{name} takes one input")
    return build(name)


_DIMS = re.compile(r"^\s*\d+(\s*[xX×,]\s*\d+)*\s*$")


def parse_input_shape(text: str, name: str = "input_shape") -> tuple[int, ...]:
    """Parse a per-sample shape ``"CxHxW"`` (any rank: ``"128"``, ``"3x224x224"``, ``"1x16x112x112"``).

    Examples
    --------
    >>> parse_input_shape("3x160x160")
    (3, 160, 160)
    >>> parse_input_shape("3x0")
    Traceback (most recent call last):
    ...
    dlperf.errors.ArgumentError: input_shape: got '3x0'; give the per-sample shape as positive integers joined by x, e.g. 3x224x224
    """
    if _DIMS.match(text) is None or any(int(g) <= 0 for g in re.split(r"[xX×,]", text)):
        raise ArgumentError(name, text, "give the per-sample shape as positive integers joined by x, e.g. 3x224x224")
    return tuple(int(g) for g in re.split(r"[xX×,]", text))
