"""The torch tracer on 200+ timm models, one or more per family (issue 18, item 6).

The list is ``tests/coverage/timm_models.json``, chosen by ``tools/coverage_select.py --select timm``: per
family (the name's first token), the variant with the fewest modules that builds with ``pretrained=False``,
at its default input size (``pretrained_cfg["input_size"]``), batch 1, on the meta device (the CPU where the
plain torch forward cannot run on meta; the list says which). Each model, in eval mode
(:func:`coverage_harness.check`): parameters equal the model's unique parameters, 2 x MACs equal
FlopCounterMode's forward FLOPs, 2 x backward MACs equal its FLOPs in ``out.sum().backward()``, the output
shape is torch's, and no op is unmodelled. A model in ``tests/coverage/known_gaps.json`` must fail exactly
as recorded there (strict xfail): when it starts passing, or fails differently, the test fails until
``python tools/coverage_select.py --gaps`` rewrites the file.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("timm")

import coverage_harness as harness  # noqa: E402

pytestmark = pytest.mark.torch

ENTRIES = harness.load("timm")
GAPS = harness.known_gaps("timm")


def test_list_covers_every_family():
    import timm

    chosen = [harness.key(e) for e in ENTRIES]
    assert len(chosen) >= 200 and len(set(chosen)) == len(chosen)
    families = {harness.timm_family(n) for n in timm.list_models()}
    listed = {e["family"] for e in ENTRIES}
    excluded = set(harness.excluded("timm"))
    # every family is either covered or excluded with its error; one model per family
    assert listed | excluded == families and not listed & excluded
    assert len(listed) == len(ENTRIES)
    assert set(GAPS) <= set(chosen) and all(GAPS.values())


def test_depthwise_conv_backward_by_hand(one_torch_thread):
    # The oracle's grouped-conv fix: a depthwise 3x3 conv on 1x32x8x8 (padding 1) after a 3->32 conv.
    # forward: conv0 8*8*32*3*9 = 55,296 MACs, conv1 8*8*32*9 = 18,432 MACs
    # backward: conv0 weight 55,296 (its input needs no gradient), conv1 input 18,432 + weight 18,432
    #   = 92,160 MACs = 184,320 FLOPs (torch 2.14's own formula: 1,327,104, the weight term 32 x too high)
    import torch

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.Conv2d(32, 32, 3, padding=1, groups=32))
    params, forward, backward, shape = harness.oracle(model, [torch.zeros(1, 3, 8, 8)])
    assert (forward, backward, shape) == (2 * 73_728, 184_320, (1, 32, 8, 8))
    assert params == 32 * 3 * 9 + 32 + 32 * 9 + 32


def test_resnet18_by_hand(one_torch_thread):
    # timm's resnet18 is torchvision's: 11,689,512 parameters, 1,814,073,344 MACs at 3x224x224
    # (conv1 112*112*64 * 3*7*7 = 118,013,952; fc 512*1000 = 512,000)
    outcome = harness.check({"source": "timm", "name": "resnet18", "input": [3, 224, 224], "device": "meta"})
    assert outcome.failures() == []
    assert outcome.params == 11_689_512 and outcome.macs == 1_814_073_344


@pytest.mark.parametrize("entry", harness.pytest_params(ENTRIES, GAPS))
def test_model_matches_torch(entry, one_torch_thread):
    harness.assert_passes(entry, GAPS)
