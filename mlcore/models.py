"""The networks of the training experiments: the small Inception (from :mod:`archcalc.models.twins`) and an MLP.

The small Inception lives in archcalc because archcalc cross-checks its zoo entry against it, and archcalc
must not import mlcore (layers point down); it is re-exported here unchanged.

Examples
--------
>>> from archcalc.models import twins
>>> inception_small is twins.inception_small
True
"""

from __future__ import annotations

from torch import nn

from archcalc.models.twins import ConvBNReLU, DownsampleBlock, InceptionBlock, InceptionSmall, inception_small

__all__ = ["ConvBNReLU", "InceptionBlock", "DownsampleBlock", "InceptionSmall", "inception_small", "mlp"]


def mlp(input_shape: tuple[int, int, int] = (1, 8, 8), num_classes: int = 10, hidden: int = 64):
    """A one-hidden-layer perceptron (flatten, linear, ReLU, linear): the quick model of the staleness runs.

    Examples
    --------
    >>> sum(p.numel() for p in mlp((1, 8, 8)).parameters())  # 64*64+64 + 64*10+10
    4810
    """
    c, h, w = (int(s) for s in input_shape)
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))
