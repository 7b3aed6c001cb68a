"""The model zoo: analytical twins of torchvision's VGG, AlexNet, GoogLeNet and ResNet, the small
Inception of Zhang et al. (2017) and a parametric GoogLeNet-style Inception module; the transformers
(GPT-2, BERT, Llama-style, ViT-B/16) come from :mod:`archcalc.zoo_transformers`.

Layer names follow the torch twin's module names so cross-checks join on them.

Examples
--------
>>> [m for m in sorted(MODELS) if m.startswith(("alexnet", "googlenet", "inception", "gpt2"))]
['alexnet', 'googlenet', 'gpt2', 'gpt2-large', 'gpt2-medium', 'gpt2-xl', 'inception-small']
>>> build("resnet18").default_input
(3, 224, 224)
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from archcalc.ir.build import Layer, Tree, from_tree, layer, parallel, seq
from archcalc.ir.graph import Graph
from dlperf.errors import ArgumentError

__all__ = ["MODELS", "ModelInfo", "build", "inception_module", "VGG_CONFIGS"]

# torchvision's VGG configurations: numbers are conv output channels, "M" a 2x2 max-pool.
VGG_CONFIGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def _vgg(name: str, batch_norm: bool) -> Callable[[], Graph]:
    def build_vgg() -> Graph:
        feats: list[Tree] = []
        i = 0
        for v in VGG_CONFIGS[name]:
            if v == "M":
                feats.append(layer(f"features.{i}", "MaxPool2d", kernel_size=2, stride=2))
                i += 1
                continue
            feats.append(layer(f"features.{i}", "Conv2d", out_channels=v, kernel_size=3, padding=1))
            i += 1
            if batch_norm:
                feats.append(layer(f"features.{i}", "BatchNorm2d"))
                i += 1
            feats.append(layer(f"features.{i}", "ReLU", inplace=True))
            i += 1
        body = [
            seq("features", feats),
            layer("avgpool", "AdaptiveAvgPool2d", output_size=7),
            layer("flatten", "Flatten", module=None),
            seq(
                "classifier",
                [
                    layer("classifier.0", "Linear", out_features=4096),
                    layer("classifier.1", "ReLU", inplace=True),
                    layer("classifier.2", "Dropout", p=0.5),
                    layer("classifier.3", "Linear", out_features=4096),
                    layer("classifier.4", "ReLU", inplace=True),
                    layer("classifier.5", "Dropout", p=0.5),
                    layer("classifier.6", "Linear", out_features=1000),
                ],
            ),
        ]
        full = name + ("_bn" if batch_norm else "")
        return from_tree(full, "", (3, 224, 224), seq("", body), twin=f"torchvision:{full}")

    return build_vgg


def _alexnet() -> Graph:
    f = [
        layer("features.0", "Conv2d", out_channels=64, kernel_size=11, stride=4, padding=2),
        layer("features.1", "ReLU", inplace=True),
        layer("features.2", "MaxPool2d", kernel_size=3, stride=2),
        layer("features.3", "Conv2d", out_channels=192, kernel_size=5, padding=2),
        layer("features.4", "ReLU", inplace=True),
        layer("features.5", "MaxPool2d", kernel_size=3, stride=2),
        layer("features.6", "Conv2d", out_channels=384, kernel_size=3, padding=1),
        layer("features.7", "ReLU", inplace=True),
        layer("features.8", "Conv2d", out_channels=256, kernel_size=3, padding=1),
        layer("features.9", "ReLU", inplace=True),
        layer("features.10", "Conv2d", out_channels=256, kernel_size=3, padding=1),
        layer("features.11", "ReLU", inplace=True),
        layer("features.12", "MaxPool2d", kernel_size=3, stride=2),
    ]
    c = [
        layer("classifier.0", "Dropout", p=0.5),
        layer("classifier.1", "Linear", out_features=4096),
        layer("classifier.2", "ReLU", inplace=True),
        layer("classifier.3", "Dropout", p=0.5),
        layer("classifier.4", "Linear", out_features=4096),
        layer("classifier.5", "ReLU", inplace=True),
        layer("classifier.6", "Linear", out_features=1000),
    ]
    body = [
        seq("features", f),
        layer("avgpool", "AdaptiveAvgPool2d", output_size=6),
        layer("flatten", "Flatten", module=None),
        seq("classifier", c),
    ]
    return from_tree("alexnet", "", (3, 224, 224), seq("", body), twin="torchvision:alexnet")


def _conv_bn_relu(name: str, out: int, k: int, stride: int = 1, padding: int = 0, functional_relu: bool = False) -> list[Tree]:
    """Conv (no bias) -> BatchNorm -> ReLU, as rows ``NAME.conv``, ``NAME.bn``, ``NAME.relu``.

    ``functional_relu`` mirrors torchvision GoogLeNet's BasicConv2d, whose ReLU is an in-place ``F.relu``
    (no module); otherwise the ReLU is an ``nn.ReLU()`` module (the small Inception's ConvBNReLU).
    """
    relu = layer(f"{name}.relu", "ReLU", module=None, inplace=True) if functional_relu else layer(f"{name}.relu", "ReLU")
    return [
        layer(f"{name}.conv", "Conv2d", out_channels=out, kernel_size=k, stride=stride, padding=padding, bias=False),
        layer(f"{name}.bn", "BatchNorm2d"),
        relu,
    ]


def _basic_conv(name: str, out: int, k: int, stride: int = 1, padding: int = 0) -> list[Tree]:
    """torchvision GoogLeNet's BasicConv2d: conv (no bias), BN (eps 0.001), functional in-place ReLU."""
    return _conv_bn_relu(name, out, k, stride, padding, functional_relu=True)


def _googlenet_inception(name: str, c1: int, c3r: int, c3: int, c5r: int, c5: int, pp: int) -> Tree:
    # torchvision's "5x5" branch uses a 3x3 kernel (a known quirk kept for weight compatibility).
    return parallel(
        name,
        [
            seq(f"{name}.branch1", _basic_conv(f"{name}.branch1", c1, 1)),
            seq(f"{name}.branch2", _basic_conv(f"{name}.branch2.0", c3r, 1) + _basic_conv(f"{name}.branch2.1", c3, 3, padding=1)),
            seq(f"{name}.branch3", _basic_conv(f"{name}.branch3.0", c5r, 1) + _basic_conv(f"{name}.branch3.1", c5, 3, padding=1)),
            seq(
                f"{name}.branch4",
                [layer(f"{name}.branch4.0", "MaxPool2d", kernel_size=3, stride=1, padding=1, ceil_mode=True)]
                + _basic_conv(f"{name}.branch4.1", pp, 1),
            ),
        ],
        layer(f"{name}.cat", "Concat", module=None),
    )


def _googlenet() -> Graph:
    def pool(name: str, k: int) -> Layer:
        return layer(name, "MaxPool2d", kernel_size=k, stride=2, ceil_mode=True)

    body: list[Tree] = [
        seq("conv1", _basic_conv("conv1", 64, 7, stride=2, padding=3)),
        pool("maxpool1", 3),
        seq("conv2", _basic_conv("conv2", 64, 1)),
        seq("conv3", _basic_conv("conv3", 192, 3, padding=1)),
        pool("maxpool2", 3),
        _googlenet_inception("inception3a", 64, 96, 128, 16, 32, 32),
        _googlenet_inception("inception3b", 128, 128, 192, 32, 96, 64),
        pool("maxpool3", 3),
        _googlenet_inception("inception4a", 192, 96, 208, 16, 48, 64),
        _googlenet_inception("inception4b", 160, 112, 224, 24, 64, 64),
        _googlenet_inception("inception4c", 128, 128, 256, 24, 64, 64),
        _googlenet_inception("inception4d", 112, 144, 288, 32, 64, 64),
        _googlenet_inception("inception4e", 256, 160, 320, 32, 128, 128),
        pool("maxpool4", 2),
        _googlenet_inception("inception5a", 256, 160, 320, 32, 128, 128),
        _googlenet_inception("inception5b", 384, 192, 384, 48, 128, 128),
        layer("avgpool", "AdaptiveAvgPool2d", output_size=1),
        layer("flatten", "Flatten", module=None),
        layer("dropout", "Dropout", p=0.2),
        layer("fc", "Linear", out_features=1000),
    ]
    return from_tree(
        "googlenet",
        "",
        (3, 224, 224),
        seq("", body),
        twin="torchvision:googlenet",
        notes=("inference graph: no auxiliary heads (torchvision googlenet(aux_logits=False)), transform_input=False",),
    )


def _resnet_block(name: str, planes: int, stride: int, downsample: bool, bottleneck: bool) -> tuple[Tree, int]:
    expansion = 4 if bottleneck else 1
    main: list[Tree] = []
    if bottleneck:
        main += [
            layer(f"{name}.conv1", "Conv2d", out_channels=planes, kernel_size=1, bias=False),
            layer(f"{name}.bn1", "BatchNorm2d"),
            layer(f"{name}.relu", "ReLU", inplace=True),
            layer(f"{name}.conv2", "Conv2d", out_channels=planes, kernel_size=3, stride=stride, padding=1, bias=False),
            layer(f"{name}.bn2", "BatchNorm2d"),
            layer(f"{name}.relu:2", "ReLU", module=f"{name}.relu", inplace=True),
            layer(f"{name}.conv3", "Conv2d", out_channels=planes * 4, kernel_size=1, bias=False),
            layer(f"{name}.bn3", "BatchNorm2d"),
        ]
        last_relu = f"{name}.relu:3"
    else:
        main += [
            layer(f"{name}.conv1", "Conv2d", out_channels=planes, kernel_size=3, stride=stride, padding=1, bias=False),
            layer(f"{name}.bn1", "BatchNorm2d"),
            layer(f"{name}.relu", "ReLU", inplace=True),
            layer(f"{name}.conv2", "Conv2d", out_channels=planes, kernel_size=3, padding=1, bias=False),
            layer(f"{name}.bn2", "BatchNorm2d"),
        ]
        last_relu = f"{name}.relu:2"
    short: list[Tree] = []
    if downsample:
        short = [
            layer(f"{name}.downsample.0", "Conv2d", out_channels=planes * expansion, kernel_size=1, stride=stride, bias=False),
            layer(f"{name}.downsample.1", "BatchNorm2d"),
        ]
    block = seq(
        name,
        [
            parallel(
                f"{name}.residual",
                [seq(f"{name}.main", main), seq(f"{name}.downsample", short)],
                layer(f"{name}.add", "Add", module=None, inplace=True),
            ),
            layer(last_relu, "ReLU", module=f"{name}.relu", inplace=True),
        ],
    )
    return block, planes * expansion


def _resnet(name: str, blocks: tuple[int, int, int, int], bottleneck: bool) -> Callable[[], Graph]:
    def build_resnet() -> Graph:
        body: list[Tree] = [
            layer("conv1", "Conv2d", out_channels=64, kernel_size=7, stride=2, padding=3, bias=False),
            layer("bn1", "BatchNorm2d"),
            layer("relu", "ReLU", inplace=True),
            layer("maxpool", "MaxPool2d", kernel_size=3, stride=2, padding=1),
        ]
        in_ch = 64
        expansion = 4 if bottleneck else 1
        for stage, (planes, count) in enumerate(zip((64, 128, 256, 512), blocks, strict=True), start=1):
            stage_blocks: list[Tree] = []
            for b in range(count):
                stride = 2 if (b == 0 and stage > 1) else 1
                down = b == 0 and (stride != 1 or in_ch != planes * expansion)
                block, in_ch = _resnet_block(f"layer{stage}.{b}", planes, stride, down, bottleneck)
                stage_blocks.append(block)
            body.append(seq(f"layer{stage}", stage_blocks))
        body += [
            layer("avgpool", "AdaptiveAvgPool2d", output_size=1),
            layer("flatten", "Flatten", module=None),
            layer("fc", "Linear", out_features=1000),
        ]
        return from_tree(name, "", (3, 224, 224), seq("", body), twin=f"torchvision:{name}")

    return build_resnet


def _small_inception_block(name: str, c1: int, c3: int) -> Tree:
    return parallel(
        name,
        [seq(f"{name}.branch1", _conv_bn_relu(f"{name}.branch1", c1, 1)), seq(f"{name}.branch2", _conv_bn_relu(f"{name}.branch2", c3, 3, padding=1))],
        layer(f"{name}.cat", "Concat", module=None),
    )


def _small_downsample(name: str, c: int) -> Tree:
    return parallel(
        name,
        [
            seq(f"{name}.branch1", _conv_bn_relu(f"{name}.branch1", c, 3, stride=2)),
            layer(f"{name}.branch2", "MaxPool2d", kernel_size=3, stride=2),
        ],
        layer(f"{name}.cat", "Concat", module=None),
    )


def _inception_small() -> Graph:
    body: list[Tree] = [
        seq("conv1", _conv_bn_relu("conv1", 96, 3, padding=1)),
        _small_inception_block("inception1", 32, 32),
        _small_inception_block("inception2", 32, 48),
        _small_downsample("down1", 80),
        _small_inception_block("inception3", 112, 48),
        _small_inception_block("inception4", 96, 64),
        _small_inception_block("inception5", 80, 80),
        _small_inception_block("inception6", 48, 96),
        _small_downsample("down2", 96),
        _small_inception_block("inception7", 176, 160),
        _small_inception_block("inception8", 176, 160),
        layer("pool", "AdaptiveAvgPool2d", output_size=1),
        layer("flatten", "Flatten"),
        layer("fc", "Linear", out_features=10),
    ]
    return from_tree(
        "inception-small",
        "",
        (1, 28, 28),
        seq("", body),
        twin="archcalc:inception_small",
        notes=("convs have no bias (each is followed by BatchNorm); 3x32x32 (CIFAR) and 1x8x8 (digits) inputs work too",),
    )


def inception_module(
    input_shape: tuple[Any, Any, Any],
    c1: Any,
    c3: Any,
    c5: Any,
    reduce3: Any = None,
    reduce5: Any = None,
    pool_proj: Any = None,
    bias: bool = True,
    relu: bool = True,
) -> Graph:
    """A GoogLeNet-style Inception module on ``input_shape``.

    Naive (no ``reduce3``, ``reduce5``, ``pool_proj``): 1x1, 3x3 (padding 1) and 5x5 (padding 2) convolutions
    and a 3x3 max-pool (stride 1, padding 1) side by side, concatenated on channels. With dimension
    reduction: 1x1 convolutions with ``reduce3`` / ``reduce5`` channels before the 3x3 / 5x5 convolutions and a
    1x1 "pool projection" with ``pool_proj`` channels after the max-pool. Each convolution is followed by a
    ReLU (``relu=False`` leaves them out).

    Examples
    --------
    >>> from archcalc.ir import evaluate
    >>> ev = evaluate(inception_module((256, 32, 32), 128, 192, 96))
    >>> ev.output_shape
    (1, 672, 32, 32)
    """
    given = [v is not None for v in (reduce3, reduce5, pool_proj)]
    if any(given) and not all(given):
        raise ArgumentError(("reduce3", "reduce5", "pool_proj"),
                            fix="give all three (module with dimension reduction) or none (naive)")
    for param, v in (("c1", c1), ("c3", c3), ("c5", c5), ("reduce3", reduce3), ("reduce5", reduce5), ("pool_proj", pool_proj)):
        if isinstance(v, int) and v <= 0:
            raise ArgumentError(param, v, "give a positive number of channels")

    def conv(name: str, out: Any, k: int) -> list[Tree]:
        items: list[Tree] = [layer(f"{name}.conv", "Conv2d", out_channels=out, kernel_size=k, padding=k // 2, bias=bias)]
        return items + ([layer(f"{name}.relu", "ReLU")] if relu else [])

    reduced = all(given)
    b3 = (conv("b3x3.reduce", reduce3, 1) if reduced else []) + conv("b3x3", c3, 3)
    b5 = (conv("b5x5.reduce", reduce5, 1) if reduced else []) + conv("b5x5", c5, 5)
    bp: list[Tree] = [layer("pool.pool", "MaxPool2d", kernel_size=3, stride=1, padding=1)]
    if reduced:
        bp += conv("pool.proj", pool_proj, 1)
    body = parallel(
        "inception",
        [seq("b1x1", conv("b1x1", c1, 1)), seq("b3x3s", b3), seq("b5x5s", b5), seq("pools", bp)],
        layer("concat", "Concat"),
    )
    kind = "with dimension reduction" if reduced else "naive"
    return from_tree("inception-module", kind, tuple(input_shape), seq("", [body]))


@dataclass(frozen=True)
class ModelInfo:
    """A zoo entry: its name, one-line description and builder."""

    name: str
    description: str
    builder: Callable[[], Graph]


def _models() -> dict[str, ModelInfo]:
    out: dict[str, ModelInfo] = {}
    for depth, cfg in (("11", "A"), ("13", "B"), ("16", "D"), ("19", "E")):
        name = f"vgg{depth}"
        out[name] = ModelInfo(name, f"VGG-{depth} (config {cfg}), 3x224x224, torchvision twin", _vgg(name, False))
        out[f"{name}_bn"] = ModelInfo(f"{name}_bn", f"VGG-{depth} with BatchNorm, 3x224x224, torchvision twin", _vgg(name, True))
    out["alexnet"] = ModelInfo("alexnet", "AlexNet (torchvision's single-GPU variant), 3x224x224", _alexnet)
    out["googlenet"] = ModelInfo("googlenet", "GoogLeNet / Inception v1 inference graph (no auxiliary heads), 3x224x224", _googlenet)
    out["resnet18"] = ModelInfo("resnet18", "ResNet-18 (basic blocks), 3x224x224, torchvision twin", _resnet("resnet18", (2, 2, 2, 2), False))
    out["resnet34"] = ModelInfo("resnet34", "ResNet-34 (basic blocks), 3x224x224, torchvision twin", _resnet("resnet34", (3, 4, 6, 3), False))
    out["resnet50"] = ModelInfo("resnet50", "ResNet-50 (bottlenecks, stride on the 3x3), 3x224x224, torchvision twin", _resnet("resnet50", (3, 4, 6, 3), True))
    out["inception-small"] = ModelInfo(
        "inception-small", "small Inception of Zhang et al. (ICLR 2017), 1x28x28 (also 3x32x32, 1x8x8)", _inception_small
    )
    from archcalc.zoo_transformers import transformer_models  # GPT-2, BERT, Llama-style (built from configs)

    out.update((name, ModelInfo(name, text, builder)) for name, text, builder in transformer_models())
    return out


MODELS: dict[str, ModelInfo] = _models()


def build(name: str) -> Graph:
    """Build zoo model ``name`` (``_`` and ``-`` are interchangeable in ``inception-small``).

    The input channels are not part of the description: every layer reads them from its input, so one
    network evaluates on 1x28x28 and 3x32x32 alike. Unknown names raise ``ValueError`` suggesting the
    closest ones.
    """
    key = name.lower()
    if key not in MODELS:
        key = key.replace("_", "-")
    if key not in MODELS:
        close = difflib.get_close_matches(name.lower(), MODELS, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else f"known models: {', '.join(sorted(MODELS))}"
        raise ArgumentError("model", what=f"unknown name {name!r}", fix=f"{hint} (see `archcalc list`)")
    info = MODELS[key]
    return info.builder().renamed(description=info.description)
