"""The model names torchvision registers, for refusing an unknown ``torchvision:NAME`` without importing
torchvision (seconds on a cold start).

The list is torchvision 0.29's ``torchvision.models.list_models()``; the installed version is read
from the package's metadata, and with any other version the name is left for torchvision to judge.
``tests/test_torchvision_names.py`` compares the list with the installed torchvision's.

Examples
--------
>>> check_torchvision_name("resnet18", installed="0.29.1")
>>> try:
...     check_torchvision_name("resnet5", installed="0.29.1")
... except ValueError as err:
...     print(err.fix)
see torchvision.models.list_models() (close: resnet50, resnet152, resnet34)
>>> check_torchvision_name("resnet5", installed="0.30.0") is None  # another version: torchvision judges
True
"""

from __future__ import annotations

import difflib

from dlperf.errors import ArgumentError

__all__ = ["TORCHVISION_MINOR", "TORCHVISION_NAMES", "check_torchvision_name"]

#: The torchvision release (major.minor) whose names are listed below.
TORCHVISION_MINOR = "0.29"

#: ``torchvision.models.list_models()`` of that release.
TORCHVISION_NAMES = frozenset({
    'alexnet', 'convnext_base', 'convnext_large', 'convnext_small', 'convnext_tiny',
    'deeplabv3_mobilenet_v3_large', 'deeplabv3_resnet101', 'deeplabv3_resnet50', 'densenet121',
    'densenet161', 'densenet169', 'densenet201', 'efficientnet_b0', 'efficientnet_b1', 'efficientnet_b2',
    'efficientnet_b3', 'efficientnet_b4', 'efficientnet_b5', 'efficientnet_b6', 'efficientnet_b7',
    'efficientnet_v2_l', 'efficientnet_v2_m', 'efficientnet_v2_s', 'fasterrcnn_mobilenet_v3_large_320_fpn',
    'fasterrcnn_mobilenet_v3_large_fpn', 'fasterrcnn_resnet50_fpn', 'fasterrcnn_resnet50_fpn_v2',
    'fcn_resnet101', 'fcn_resnet50', 'fcos_resnet50_fpn', 'googlenet', 'inception_v3',
    'keypointrcnn_resnet50_fpn', 'lraspp_mobilenet_v3_large', 'maskrcnn_resnet50_fpn',
    'maskrcnn_resnet50_fpn_v2', 'maxvit_t', 'mc3_18', 'mnasnet0_5', 'mnasnet0_75', 'mnasnet1_0',
    'mnasnet1_3', 'mobilenet_v2', 'mobilenet_v3_large', 'mobilenet_v3_small', 'mvit_v1_b', 'mvit_v2_s',
    'quantized_googlenet', 'quantized_inception_v3', 'quantized_mobilenet_v2',
    'quantized_mobilenet_v3_large', 'quantized_resnet18', 'quantized_resnet50',
    'quantized_resnext101_32x8d', 'quantized_resnext101_64x4d', 'quantized_shufflenet_v2_x0_5',
    'quantized_shufflenet_v2_x1_0', 'quantized_shufflenet_v2_x1_5', 'quantized_shufflenet_v2_x2_0',
    'r2plus1d_18', 'r3d_18', 'raft_large', 'raft_small', 'regnet_x_16gf', 'regnet_x_1_6gf', 'regnet_x_32gf',
    'regnet_x_3_2gf', 'regnet_x_400mf', 'regnet_x_800mf', 'regnet_x_8gf', 'regnet_y_128gf', 'regnet_y_16gf',
    'regnet_y_1_6gf', 'regnet_y_32gf', 'regnet_y_3_2gf', 'regnet_y_400mf', 'regnet_y_800mf', 'regnet_y_8gf',
    'resnet101', 'resnet152', 'resnet18', 'resnet34', 'resnet50', 'resnext101_32x8d', 'resnext101_64x4d',
    'resnext50_32x4d', 'retinanet_resnet50_fpn', 'retinanet_resnet50_fpn_v2', 's3d', 'shufflenet_v2_x0_5',
    'shufflenet_v2_x1_0', 'shufflenet_v2_x1_5', 'shufflenet_v2_x2_0', 'squeezenet1_0', 'squeezenet1_1',
    'ssd300_vgg16', 'ssdlite320_mobilenet_v3_large', 'swin3d_b', 'swin3d_s', 'swin3d_t', 'swin_b', 'swin_s',
    'swin_t', 'swin_v2_b', 'swin_v2_s', 'swin_v2_t', 'vgg11', 'vgg11_bn', 'vgg13', 'vgg13_bn', 'vgg16',
    'vgg16_bn', 'vgg19', 'vgg19_bn', 'vit_b_16', 'vit_b_32', 'vit_h_14', 'vit_l_16', 'vit_l_32',
    'wide_resnet101_2', 'wide_resnet50_2'
})


def _installed() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torchvision")
    except PackageNotFoundError:
        return None


def check_torchvision_name(name: str, installed: str | None = None) -> None:
    """Refuse ``name`` in one line when the installed torchvision (``installed``: its version, read from the
    package metadata when not given) is the listed release and does not register it; otherwise return."""
    installed = _installed() if installed is None else installed
    if installed is None or ".".join(installed.split("+")[0].split(".")[:2]) != TORCHVISION_MINOR:
        return
    if name not in TORCHVISION_NAMES:
        close = difflib.get_close_matches(name, sorted(TORCHVISION_NAMES), n=3)
        hint = f" (close: {', '.join(close)})" if close else ""
        raise ArgumentError("model", what=f"torchvision has no model {name!r}",
                            fix=f"see torchvision.models.list_models(){hint}")
