"""Torch twins of zoo networks that torchvision lacks: the small Inception of Zhang et al. (ICLR 2017).

The zoo's ``inception-small`` names this module as its twin (``"archcalc:inception_small"``), and
:func:`archcalc.crosscheck.build_twin` builds it; the layer names and shapes are fixed, with the same
dotted module names as the analytical network, so the two can be cross-checked. Only functions that need
torch import this module (it imports torch at the top because its classes subclass ``nn.Module``);
:mod:`mlcore.models` re-exports it for the training experiments. A global mean pool makes the
classifier head independent of the input's height and width (the original study hard-coded a 16464-wide
head for 28x28 inputs).

Spatial sizes through the network (stride-2 stages without padding): 28 -> 28 -> 13 -> 6,
32 -> 32 -> 15 -> 7 and 8 -> 8 -> 3 -> 1.

Examples
--------
>>> import torch
>>> model = inception_small((1, 8, 8), num_classes=10)
>>> model(torch.zeros(2, 1, 8, 8)).shape
torch.Size([2, 10])
>>> sum(p.numel() for p in model.parameters())
1649386
"""

from __future__ import annotations

import torch
from torch import nn

from dlperf.errors import ArgumentError

__all__ = ["ConvBNReLU", "InceptionBlock", "DownsampleBlock", "InceptionSmall", "inception_small"]


class ConvBNReLU(nn.Module):
    """Convolution (no bias: batch norm's shift replaces it), batch norm, ReLU."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, padding: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class InceptionBlock(nn.Module):
    """Inception(c1, c3): a 1x1 and a 3x3 (padding 1) ConvBNReLU side by side, concatenated: c1 + c3."""

    def __init__(self, cin: int, c1: int, c3: int) -> None:
        super().__init__()
        self.branch1 = ConvBNReLU(cin, c1, 1, 1, 0)
        self.branch2 = ConvBNReLU(cin, c3, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x)], 1)


class DownsampleBlock(nn.Module):
    """Downsample(c): a 3x3 stride-2 ConvBNReLU beside a 3x3 stride-2 max pool, concatenated: c + cin."""

    def __init__(self, cin: int, c: int) -> None:
        super().__init__()
        self.branch1 = ConvBNReLU(cin, c, 3, 2, 0)
        self.branch2 = nn.MaxPool2d(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x)], 1)


class InceptionSmall(nn.Module):
    """The small Inception network; works for any input of at least 7x7 pixels.

    Parameters
    ----------
    in_channels : int
        Channels of the input images (1 for FashionMNIST and digits, 3 for CIFAR-10).
    num_classes : int
        Width of the final linear layer.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        if int(in_channels) < 1:
            raise ArgumentError("in_channels", in_channels, "give an integer >= 1")
        if int(num_classes) < 1:
            raise ArgumentError("num_classes", num_classes, "give an integer >= 1")
        self.conv1 = ConvBNReLU(in_channels, 96, 3, 1, 1)
        self.inception1 = InceptionBlock(96, 32, 32)
        self.inception2 = InceptionBlock(64, 32, 48)
        self.down1 = DownsampleBlock(80, 80)
        self.inception3 = InceptionBlock(160, 112, 48)
        self.inception4 = InceptionBlock(160, 96, 64)
        self.inception5 = InceptionBlock(160, 80, 80)
        self.inception6 = InceptionBlock(160, 48, 96)
        self.down2 = DownsampleBlock(144, 96)
        self.inception7 = InceptionBlock(240, 176, 160)
        self.inception8 = InceptionBlock(336, 176, 160)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(336, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in (self.conv1, self.inception1, self.inception2, self.down1, self.inception3,
                      self.inception4, self.inception5, self.inception6, self.down2, self.inception7,
                      self.inception8, self.pool, self.flatten):
            x = layer(x)
        return self.fc(x)


def inception_small(input_shape: tuple[int, int, int] = (1, 28, 28), num_classes: int = 10) -> InceptionSmall:
    """Build the small Inception for images of shape ``(channels, height, width)``.

    Two stride-2 stages without padding need height and width >= 7 (7 -> 3 -> 1).

    Examples
    --------
    >>> inception_small((3, 32, 32)).conv1.conv.in_channels
    3
    """
    shape = tuple(input_shape)
    if len(shape) != 3 or any(int(s) != s or s < 1 for s in shape):
        raise ArgumentError("input_shape", input_shape, "give (channels, height, width) positive ints")
    c, h, w = shape
    if h < 7 or w < 7:
        raise ValueError(f"input_shape: got {input_shape!r}; height and width must be >= 7 for two "
                         "stride-2 stages")
    return InceptionSmall(in_channels=c, num_classes=num_classes)
