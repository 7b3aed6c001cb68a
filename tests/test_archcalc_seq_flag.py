"""``--seq L`` in ``archcalc peak`` and ``fit``: the sequence length of a zoo or hf: transformer, one flag as in
``archcalc MODEL`` and ``time`` (``--input L`` says the same and keeps working); ``fit --seq`` without a value
is still the old spelling of ``--search-seq`` for one release, with a warning.

Oracles: the other spelling of the same request (``--input L``, ``--search-seq``) run through the same
command, the traced input shape in the JSON, and ``peak`` at the batch ``fit`` found (which must fit the
usable memory, the next batch not); refusals are one line naming the flag given, exit status 2.
"""

from __future__ import annotations

import json

import pytest

from archcalc.cli import main


def _json(capsys, *argv) -> dict:
    assert main([*argv, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_peak_seq_is_input_for_a_zoo_transformer(capsys):
    by_seq = _json(capsys, "peak", "gpt2", "--seq", "64", "--batch", "2")
    assert by_seq == _json(capsys, "peak", "gpt2", "--input", "64", "--batch", "2")
    assert by_seq["input_shape"] == [64] and by_seq["batch"] == 2
    # the length moves the peak: 64 tokens is not the model's own 1,024
    assert by_seq["peak_bytes"] != _json(capsys, "peak", "gpt2", "--batch", "2")["peak_bytes"]


def test_fit_seq_fixes_the_length_and_searches_the_batch(capsys):
    fitted = _json(capsys, "fit", "gpt2", "--device-memory", "1GiB", "--seq", "64")
    assert fitted == _json(capsys, "fit", "gpt2", "--device-memory", "1GiB", "--input", "64")
    assert fitted["vary"] == "batch"
    b = fitted["batch"]
    at = _json(capsys, "peak", "gpt2", "--seq", "64", "--batch", str(b))
    assert at["peak_bytes"] == fitted["peak_bytes"] <= fitted["usable_bytes"]
    assert _json(capsys, "peak", "gpt2", "--seq", "64", "--batch", str(b + 1))["peak_bytes"] > fitted["usable_bytes"]


def test_fit_bare_seq_is_the_old_search_seq_with_a_warning(capsys):
    new = _json(capsys, "fit", "gpt2", "--device-memory", "1GiB", "--search-seq")
    assert main(["fit", "gpt2", "--device-memory", "1GiB", "--seq", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == new and new["vary"] == "seq"
    assert err.count("\n") == 1 and "warning" in err and "--search-seq" in err
    # the old switch may still stand last, before the model or before another option
    assert main(["fit", "--device-memory", "1GiB", "gpt2", "--seq"]) == 0
    assert "--search-seq" in capsys.readouterr().err


@pytest.mark.parametrize("argv, needles", [
    (["peak", "gpt2", "--seq", "64", "--input", "64"], ["--seq: got 64 with --input 64", "once"]),
    (["fit", "gpt2", "--device-memory", "1GiB", "--seq", "64", "--search-seq"], ["--seq: got 64 with --search-seq"]),
    (["peak", "gpt2", "--seq", "2000"], ["--seq: got 2000", "1024 positions"]),
    (["peak", "gpt2", "--input", "2000"], ["--input: got 2000", "1024 positions"]),  # the flag given is named
    (["fit", "gpt2", "--device-memory", "1GiB", "--seq", "2000"], ["--seq: got 2000", "1024 positions"]),
    (["peak", "resnet18", "--seq", "8"], ["--seq: only for transformers", "resnet18 takes --input"]),
    (["fit", "vgg11", "--device-memory", "1GiB", "--seq", "8"], ["--seq: only for transformers"]),
    (["peak", "gpt2", "--seq", "0"], ["--seq", "got '0'", "positive integer"]),
    (["fit", "--seq", "gpt2", "--device-memory", "1GiB"], ["--seq", "got 'gpt2'", "--search-seq"]),
    (["peak", "gpt2", "--training", "--tensor-parallel", "2", "--sequence-parallel", "--seq", "63"],
     ["--seq 63 is not divisible by --tensor-parallel 2"]),
])
def test_refusals_are_one_line(capsys, argv, needles):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


# --------------------------------------------------------------------------------------------------------
# hf: models (configs written here, built on the meta device)

BERT = {"model_type": "bert", "architectures": ["BertModel"], "num_hidden_layers": 2, "hidden_size": 64,
        "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 500, "max_position_embeddings": 64}
VIT = {"model_type": "vit", "architectures": ["ViTModel"], "num_hidden_layers": 2, "hidden_size": 64,
       "num_attention_heads": 4, "intermediate_size": 128, "image_size": 32, "patch_size": 8}


@pytest.fixture
def hf_folders(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    found = {}
    for name, config in (("bert", BERT), ("vit", VIT)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps(config))
        found[name] = f"hf:{tmp_path / name}"
    return found


@pytest.mark.torch
def test_hf_seq_in_peak_and_fit(capsys, hf_folders):
    bert = hf_folders["bert"]
    by_seq = _json(capsys, "peak", bert, "--seq", "32", "--batch", "2")
    assert by_seq == _json(capsys, "peak", bert, "--input", "32", "--batch", "2")
    assert by_seq["input_shape"] == [32]
    fitted = _json(capsys, "fit", bert, "--device-memory", "64MiB", "--seq", "32")
    assert fitted == _json(capsys, "fit", bert, "--device-memory", "64MiB", "--input", "32")
    at = _json(capsys, "peak", bert, "--seq", "32", "--batch", str(fitted["batch"]))
    assert at["peak_bytes"] == fitted["peak_bytes"] <= fitted["usable_bytes"]


@pytest.mark.torch
@pytest.mark.parametrize("argv, needles", [
    (["peak", "{bert}", "--seq", "65"], ["--seq: got 65", "64 positions", "give at most 64"]),
    (["peak", "{bert}", "--input", "65"], ["--input: got 65", "64 positions"]),
    (["fit", "{bert}", "--device-memory", "1GiB", "--seq", "65"], ["--seq: got 65", "64 positions"]),
    (["peak", "{vit}", "--seq", "8"], ["--seq: got 8", "pixel_values, not token ids", "--input"]),
])
def test_hf_refusals_are_one_line(capsys, hf_folders, argv, needles):
    assert main([a.format(**hf_folders) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
