"""The torch tracer on 40+ transformers architectures built from small configs (issue 18, item 6).

The list is ``tests/coverage/hf_models.json``, chosen by ``tools/coverage_select.py --select hf``: every
model type of transformers' ``MODEL_MAPPING_NAMES`` that is a decoder, encoder, encoder-decoder, vision or
audio family by the auto mappings and builds offline from its default config with the overrides recorded
there (2 layers, small widths where the config allows), as its base model class. Inputs: 32 token ids
(and 32 decoder ids), the config's image size, one second of 16 kHz audio or the log-mel frames the
config expects; batch 1; on the meta device, or on the CPU where the plain torch forward cannot run on
meta (the list says which). Each model, in eval mode (training mode where the list says ``"mode": "train"``:
Reformer, whose reversible backward runs only there) (:func:`coverage_harness.check`): parameters equal the
model's unique parameters, 2 x MACs equal FlopCounterMode's forward FLOPs, 2 x backward MACs equal its
FLOPs in the backward of the sum of the floating outputs, the output shape is torch's, and no op is
unmodelled. A model in ``tests/coverage/known_gaps.json`` must fail exactly as recorded (strict xfail).
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import coverage_harness as harness  # noqa: E402

pytestmark = pytest.mark.torch

ENTRIES = harness.load("hf")
GAPS = harness.known_gaps("hf")


def test_list_has_every_kind():
    from transformers.models.auto import modeling_auto

    chosen = [harness.key(e) for e in ENTRIES]
    assert len(chosen) >= 40 and len(set(chosen)) == len(chosen)
    assert {e["kind"] for e in ENTRIES} == {"decoder", "encoder", "encoder-decoder", "vision", "audio"}
    assert set(chosen) <= set(modeling_auto.MODEL_MAPPING_NAMES)
    assert not set(chosen) & set(harness.excluded("hf"))
    assert set(GAPS) <= set(chosen) and all(GAPS.values())


def test_bert_parameters_by_hand(one_torch_thread):
    # BERT at the listed config (2 layers, hidden 64, FFN 128, vocabulary 1024, 512 positions, 2 types):
    # embeddings 1024*64 + 512*64 + 2*64 + LayerNorm 2*64 = 98,560
    # per layer: Q, K, V, O 4*(64*64 + 64) = 16,640; FFN 64*128 + 128 + 128*64 + 64 = 16,576; 2 LayerNorms 256
    #   = 33,472, x 2 = 66,944; pooler 64*64 + 64 = 4,160; total 169,664
    (entry,) = [e for e in ENTRIES if e["name"] == "bert"]
    outcome = harness.check(entry)
    assert outcome.torch_params == outcome.params == 169_664
    # forward MACs: linear layers 2 layers x 32 tokens x (4*64*64 + 2*64*128) = 2,097,152, pooler (one
    # token) 64*64 = 4,096, attention 2 layers x 4 heads x (QK^T + AV) 2 x 32*32*16 = 262,144; total 2,363,392
    assert outcome.macs == 2_363_392 and 2 * outcome.macs == outcome.torch_flops


@pytest.mark.parametrize("entry", harness.pytest_params(ENTRIES, GAPS))
def test_model_matches_torch(entry, one_torch_thread):
    harness.assert_passes(entry, GAPS)
