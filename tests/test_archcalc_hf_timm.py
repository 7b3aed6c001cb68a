"""Models by name: ``archcalc hf:NAME_OR_PATH`` (a transformers model from its config, built on the meta device)
and ``archcalc timm:NAME``, through the Python API and every command (report, peak, fit, crosscheck).

Oracles: the transformers / timm module the test builds itself (``sum(p.numel())`` over its parameters),
torch's ``FlopCounterMode`` on the meta device for the forward (2 x archcalc's MACs), the published parameter
counts of the catalogue's models, and each bad input's one-line refusal with exit status 2.
No network: configs are written into tmp_path (small layer counts) or come from the catalogue.
"""

from __future__ import annotations

import json

import pytest

from archcalc.cli import main

pytestmark = pytest.mark.torch

transformers = pytest.importorskip("transformers")
pytest.importorskip("timm")


def _folder(tmp_path, name, config):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    return folder


BERT = {"model_type": "bert", "architectures": ["BertModel"], "num_hidden_layers": 2, "hidden_size": 64,
        "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 500, "max_position_embeddings": 64}
T5 = {"model_type": "t5", "architectures": ["T5ForConditionalGeneration"], "num_layers": 2, "num_decoder_layers": 1,
      "d_model": 64, "d_kv": 16, "num_heads": 4, "d_ff": 128, "vocab_size": 300, "is_encoder_decoder": True}
VIT = {"model_type": "vit", "architectures": ["ViTModel"], "num_hidden_layers": 2, "hidden_size": 64,
       "num_attention_heads": 4, "intermediate_size": 128, "image_size": 32, "patch_size": 8}


def _meta_model(config: dict):
    """The test's own transformers model: the config's class, built on meta (the oracle, not archcalc's build)."""
    import torch
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    cfg = CONFIG_MAPPING[config["model_type"]].from_dict(config)
    cfg.use_cache = False
    with torch.device("meta"):
        return getattr(transformers, config["architectures"][0])(cfg).eval()


def _flop_counter(model, **inputs) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        model(**inputs)
    return counter.get_total_flops()


def _report_json(capsys, *argv) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


# --------------------------------------------------------------------------------------------------------
# hf: small configs written by the test, against the transformers model and FlopCounterMode


def test_bert_from_folder_and_config_path(tmp_path, capsys):
    import torch

    folder = _folder(tmp_path, "bert", BERT)
    model = _meta_model(BERT)
    ids = torch.zeros((2, 16), dtype=torch.int64, device="meta")
    flops = _flop_counter(model, input_ids=ids)
    for spec in (str(folder), str(folder / "config.json")):
        rep = _report_json(capsys, f"hf:{spec}", "--seq", "16", "--batch", "2")
        assert rep["totals"]["params"] == sum(p.numel() for p in model.parameters())
        # FlopCounterMode counts the linear layers and SDPA (QK^T and AV): 2 x archcalc's MACs
        assert 2 * rep["totals"]["macs"] == flops
        assert rep["output_shape"] == [2, 16, 64]
        assert any("config from" in n for n in rep["notes"])
        assert any(n.startswith("forward per token: ") for n in rep["notes"])


def test_from_hf_api_default_seq_is_the_position_table(tmp_path):
    import archcalc

    # max_position_embeddings 64 < 2048: the default length is the whole table
    graph = archcalc.from_hf(str(_folder(tmp_path, "bert", BERT)))
    assert graph.inputs[0].shape == (64,) and graph.inputs[0].dtype == "int64"
    assert graph.name.startswith("hf:")


def test_encoder_decoder_takes_decoder_seq(tmp_path, capsys):
    import torch

    folder = _folder(tmp_path, "t5", T5)
    model = _meta_model(T5)
    flops = _flop_counter(model, input_ids=torch.zeros((1, 24), dtype=torch.int64, device="meta"),
                          decoder_input_ids=torch.zeros((1, 8), dtype=torch.int64, device="meta"))
    rep = _report_json(capsys, f"hf:{folder}", "--seq", "24", "--decoder-seq", "8")
    assert rep["totals"]["params"] == sum(p.numel() for p in model.parameters())
    assert 2 * rep["totals"]["macs"] == flops
    assert rep["output_shape"] == [1, 8, 300]  # the decoder's logits: 8 positions x 300 tokens


def test_vision_input_from_the_config(tmp_path, capsys):
    import torch

    folder = _folder(tmp_path, "vit", VIT)
    model = _meta_model(VIT)
    flops = _flop_counter(model, pixel_values=torch.zeros((1, 3, 32, 32), device="meta"))
    rep = _report_json(capsys, f"hf:{folder}")
    assert rep["input"] == [3, 32, 32]  # num_channels x image_size x image_size
    assert rep["output_shape"] == [1, 17, 64]  # (32/8)^2 patches + the class token
    assert rep["totals"]["params"] == sum(p.numel() for p in model.parameters())
    assert 2 * rep["totals"]["macs"] == flops


def test_config_without_architectures_builds_the_base_model(tmp_path, capsys):
    config = {k: v for k, v in BERT.items() if k != "architectures"}
    rep = _report_json(capsys, f"hf:{_folder(tmp_path, 'noarch', config)}", "--seq", "8")
    assert any("names no architectures" in n and "BertModel" in n for n in rep["notes"])
    assert rep["totals"]["params"] == sum(p.numel() for p in _meta_model(BERT).parameters())


# --------------------------------------------------------------------------------------------------------
# the catalogue: published config.json files, offline


#: Published parameter counts. The first five are the figures issue 18 quotes for these models (the sums of
#: their released checkpoints); Pythia-70M's is Table 1 of Biderman et al. 2023 (70,426,624 parameters).
PUBLISHED = {
    "meta-llama/Llama-2-7b-hf": 6_738_415_616,
    "meta-llama/Llama-2-70b-hf": 68_976_648_192,
    "mistralai/Mistral-7B-v0.1": 7_241_732_096,
    "mistralai/Mixtral-8x7B-v0.1": 46_702_792_704,
    "gpt2": 124_439_808,
    "EleutherAI/pythia-70m": 70_426_624,
}


def test_catalogue_builds_each_config_and_matches_published_counts():
    import torch
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    from archcalc.frontends.hf import catalogue_config, catalogue_names, hf_model

    names = catalogue_names()
    assert len(names) >= 12 and set(PUBLISHED) <= set(names)
    for name in names:
        config = catalogue_config(name)
        built = hf_model(name).module
        cfg = CONFIG_MAPPING[config["model_type"]].from_dict(config)
        with torch.device("meta"):
            oracle = getattr(transformers, config["architectures"][0])(cfg)
        total = sum(p.numel() for p in built.parameters())
        assert total == sum(p.numel() for p in oracle.parameters()), name
        if name in PUBLISHED:
            assert total == PUBLISHED[name], name


@pytest.mark.slow
def test_every_catalogue_model_traces_at_full_size_with_its_published_count():
    """All layers, full widths (Llama-2-70B, Mixtral-8x7B ...) at 16 tokens: archcalc's parameters (used plus
    unused) equal the meta-built module's and the published figure; seconds each, no weights allocated."""
    from archcalc.frontends.hf import catalogue_names, from_hf, hf_model
    from archcalc.ir.evaluate import evaluate

    for name in catalogue_names():
        kwargs = {} if hf_model(name).module.main_input_name != "input_ids" else {"seq": 16}
        ev = evaluate(from_hf(name, **kwargs))
        counted = ev.total("params") + sum(n for _, n in ev.unused_params)
        assert counted == sum(p.numel() for p in hf_model(name).module.parameters()), name
        assert counted == PUBLISHED.get(name, counted), name


@pytest.mark.parametrize("name, argv, params", [
    # BertForMaskedLM: the encoder with its tied LM head (109,514,298 parameters, meta-built sum)
    ("bert-base-uncased", ["--seq", "32"], 109_514_298),
    ("google/vit-base-patch16-224-in21k", [], 86_389_248),
    # Whisper: 80 mel bins x 3000 frames (2 x max_source_positions) and 448 decoder tokens, from the config
    ("openai/whisper-small", [], 241_734_912),
])
def test_catalogue_traces_offline_with_its_note(capsys, monkeypatch, name, argv, params):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rep = _report_json(capsys, f"hf:{name}", *argv)
    assert rep["totals"]["params"] == params
    assert any("archcalc's catalogue" in n and name in n for n in rep["notes"])
    if "whisper" in name:
        assert rep["input"] == [80, 3000] and rep["output_shape"] == [1, 448, 51865]


# --------------------------------------------------------------------------------------------------------
# timm


def test_timm_params_flops_and_default_input(capsys):
    import timm
    import torch

    model = timm.create_model("resnet18", pretrained=False).to("meta").eval()
    assert model.pretrained_cfg["input_size"] == (3, 224, 224)
    flops = _flop_counter(model, x=torch.zeros((1, 3, 224, 224), device="meta"))
    rep = _report_json(capsys, "timm:resnet18")
    assert rep["input"] == [3, 224, 224]  # pretrained_cfg["input_size"]
    assert rep["totals"]["params"] == sum(p.numel() for p in model.parameters()) == 11_689_512
    assert 2 * rep["totals"]["macs"] == flops
    assert rep["unmodeled"] == {}


def test_from_timm_api_at_another_input():
    import archcalc

    graph = archcalc.from_timm("resnet18", (3, 64, 64), batch=2)
    assert graph.traced_at == ((2, 3, 64, 64),) and graph.twin == "timm:resnet18"


# --------------------------------------------------------------------------------------------------------
# peak, fit and crosscheck by name


def test_peak_fit_and_crosscheck_take_hf_and_timm_names(tmp_path, capsys):
    folder = _folder(tmp_path, "bert", BERT)
    assert main(["peak", f"hf:{folder}", "--input", "32", "--batch", "2", "--json"]) == 0
    peak = json.loads(capsys.readouterr().out)
    assert peak["batch"] == 2 and peak["peak_bytes"] > 0
    assert main(["fit", f"hf:{folder}", "--device-memory", "2GiB", "--search-seq", "--json"]) == 0
    fitted = json.loads(capsys.readouterr().out)
    assert fitted["seq"] == 64 and fitted["seq_limit"] == 64  # the whole position table fits
    assert main(["crosscheck", f"hf:{folder}", "--input", "16", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"]["verdict"] == "ok"
    assert main(["peak", "timm:resnet18", "--input", "3x32x32", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["peak_bytes"] > 0
    assert main(["crosscheck", "timm:resnet18", "--input", "3x32x32", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"]["verdict"] == "ok"


# --------------------------------------------------------------------------------------------------------
# bad input: one line naming what failed and the fix, exit status 2


def _write_bad(tmp_path):
    return {
        "remote": _folder(tmp_path, "remote", {"model_type": "mymodel", "architectures": ["MyModelForCausalLM"],
                                               "auto_map": {"AutoConfig": "configuration_my.MyConfig",
                                                            "AutoModelForCausalLM": "modeling_my.MyModelForCausalLM"}}),
        "badarch": _folder(tmp_path, "badarch", {**BERT, "architectures": ["BertForTimeTravel"]}),
        "badsize": _folder(tmp_path, "badsize", {**BERT, "hidden_size": 65}),
        "notype": _folder(tmp_path, "notype", {"architectures": ["BertModel"]}),
        "bert": _folder(tmp_path, "bert", BERT),
        "vit": _folder(tmp_path, "vit", VIT),
        "t5": _folder(tmp_path, "t5", T5),
    }


@pytest.mark.parametrize("argv, needles", [
    (["hf:someorg/no-such-model"], ["hub cannot be reached", "give a local folder holding config.json",
                                    "catalogue names that work offline"]),
    (["hf:{remote}"], ["auto_map asks to run the repository's own Python code", "--trust-remote-code"]),
    (["hf:{badarch}"], ["has no architecture 'BertForTimeTravel'", "upgrade transformers"]),
    (["hf:{badsize}"], ["transformers cannot build BertModel", "hidden size (65)"]),
    (["hf:{notype}"], ["no model_type"]),
    (["hf:./no/such/config.json"], ["no such file or folder", "give a local folder"]),
    (["hf:{tmp}/nothing-here"], ["no such file or folder"]),
    (["hf:{bert}", "--seq", "65"], ["--seq: got 65", "64 positions", "give at most 64"]),
    (["hf:{bert}", "--decoder-seq", "8"], ["--decoder-seq", "not an encoder-decoder"]),
    (["hf:{vit}", "--seq", "8"], ["--seq", "pixel_values"]),
    (["hf:{bert}", "--layers", "3"], ["--layers", "takes its sizes from its config"]),
    (["resnet18", "--seq", "8"], ["--seq"]),
    (["timm:convnext_tinyy"], ["timm has no model 'convnext_tinyy'", "convnext_tiny", "timm.list_models()"]),
    (["peak", "timm:resnet18", "--decoder-seq", "4"], ["--decoder-seq: only for hf:NAME"]),
    (["crosscheck", "hf:{t5}", "--input", "8"], ["takes 2 inputs", "crosscheck compares models with one input"]),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, monkeypatch, argv, needles):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    paths = {k: str(v) for k, v in _write_bad(tmp_path).items()}
    assert main([a.format(tmp=tmp_path, **paths) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


# --------------------------------------------------------------------------------------------------------
# mixture of experts and the KV cache, surfaced in the report

MIXTRAL = {"model_type": "mixtral", "architectures": ["MixtralForCausalLM"], "num_hidden_layers": 2, "hidden_size": 64,
           "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2, "num_local_experts": 4,
           "num_experts_per_tok": 2, "vocab_size": 100, "max_position_embeddings": 64}


def test_mixtral_total_vs_active_params_and_flops(tmp_path, capsys):
    import torch
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    rep = _report_json(capsys, f"hf:{_folder(tmp_path, 'mixtral', MIXTRAL)}", "--seq", "16")
    from torch.nn.attention import SDPBackend, sdpa_kernel

    cfg = CONFIG_MAPPING["mixtral"].from_dict(MIXTRAL)
    cfg.use_cache = False
    # FlopCounterMode has no formula for grouped_mm (transformers' default experts) nor for the CPU flash
    # kernel: the oracle runs the eager experts loop (exactly the rows routed to each expert) and SDPA's math
    cfg._experts_implementation = "eager"
    torch.manual_seed(0)
    model = transformers.MixtralForCausalLM(cfg).eval()  # on the CPU: real routing
    total = sum(p.numel() for p in model.parameters())
    experts = 2 * 4 * 3 * 64 * 128  # layers x experts x (gate, up, down) x hidden x ffn = 196,608
    assert rep["totals"]["params"] == total
    assert rep["totals"]["expert_params"] == experts
    assert rep["totals"]["active_params"] == total - experts * (4 - 2) // 4  # 2 of the 4 experts run per token
    # any routing sends each token through 2 experts: the real run's FLOPs equal 2 x archcalc's MACs
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
        flops = _flop_counter(model, input_ids=torch.randint(0, 100, (1, 16)))
    assert 2 * rep["totals"]["macs"] == flops
    assert any(n.startswith("mixture of experts: 2 of 4 experts per token") for n in rep["notes"])


def test_kv_cache_of_a_gqa_decoder(tmp_path, capsys):
    config = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "num_hidden_layers": 2, "hidden_size": 128,
              "num_attention_heads": 8, "num_key_value_heads": 2, "intermediate_size": 256, "vocab_size": 100,
              "max_position_embeddings": 64}
    rep = _report_json(capsys, f"hf:{_folder(tmp_path, 'llama', config)}", "--seq", "32", "--batch", "3",
                       "--dtype", "bf16", "--depth", "1")
    per_token = rep["totals"]["macs"] // (3 * 32)
    assert per_token * 3 * 32 == rep["totals"]["macs"]
    assert any(f"forward per token: {per_token:,} MACs = {2 * per_token:,} FLOPs" in n
               and "attention's share grows" in n for n in rep["notes"])
    # 2 (k, v) x 2 layers x 2 kv heads x 128/8 = 16 head dims x 32 tokens x 3 sequences = 12,288 elements
    assert rep["totals"]["kv_cache_elements"] == 12_288
    assert rep["totals"]["kv_cache_bytes"] == 12_288 * 2
    assert "active_params" not in rep["totals"]  # a dense model


# --------------------------------------------------------------------------------------------------------
# docs/hf.md: every command shown runs, and every line shown under it is in its output


def _page_commands():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "hf.md").read_text()
    cases = []
    for block in re.findall(r"```\n(.*?)```", text, flags=re.S):
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, *shown = chunk.strip("\n").split("\n")
            cases.append((command, [line for line in shown if line.strip() and line.strip() != "..."]))
    return cases


def _squash(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.slow
@pytest.mark.parametrize("command, shown", _page_commands(), ids=lambda v: v if isinstance(v, str) else "")
def test_docs_hf_page_shows_what_the_commands_print(command, shown):
    import shlex
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    argv = shlex.split(command)
    assert argv[0] == "archcalc" and shown, command
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1", "COLUMNS": "110"}
    proc = subprocess.run([sys.executable, "-m", "archcalc", *argv[1:]], cwd=root, capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = _squash(proc.stdout)
    for line in shown:
        assert _squash(line) in out, line


GPT2 = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_layer": 2, "n_embd": 64, "n_head": 4,
        "vocab_size": 100, "n_positions": 64}
LLAMA = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "num_hidden_layers": 2, "hidden_size": 64,
         "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": 100,
         "max_position_embeddings": 64}


@pytest.mark.parametrize("config", [GPT2, LLAMA], ids=["gpt2", "llama"])
def test_crosscheck_decoders_agree_row_by_row(tmp_path, capsys, config):
    """GPT-2's Conv1D leaves run three ops (view, addmm, view): each call is checked at its last op; Llama's
    rotary embedding returns a tuple (no one shape). fvcore, FlopCounterMode (forward and backward) and
    the parameters agree on every row and the total."""
    folder = _folder(tmp_path, config["model_type"], config)
    assert main(["crosscheck", f"hf:{folder}", "--input", "16", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["total"]["verdict"] == "ok"
    assert [r["name"] for r in result["rows"] if r["verdict"] not in ("ok", "n/a")] == []


@pytest.mark.slow
def test_hub_name_from_the_hugging_face_cache_offline(tmp_path):
    """A hub name found in the Hugging Face cache works offline (the cache's layout: refs/main names the
    snapshot holding config.json); huggingface_hub reads HF_HUB_CACHE at import, hence a child process."""
    import subprocess
    import sys
    from pathlib import Path

    repo = tmp_path / "cache" / "models--someorg--tiny-bert"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "config.json").write_text(json.dumps(BERT))
    root = Path(__file__).resolve().parents[1]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "cache"),
           "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "archcalc", "hf:someorg/tiny-bert", "--seq", "8", "--json"], cwd=root,
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rep = json.loads(proc.stdout)
    assert "config of someorg/tiny-bert from the Hugging Face cache" in rep["notes"]
    assert rep["totals"]["params"] == sum(p.numel() for p in _meta_model(BERT).parameters())


REMOTE_CONFIG = '''from transformers import PretrainedConfig


class TinyConfig(PretrainedConfig):
    model_type = "tinyremote"

    def __init__(self, width=8, vocab=100, **kwargs):
        self.width = width
        self.vocab = vocab
        super().__init__(**kwargs)
'''
REMOTE_MODEL = '''import torch.nn as nn
from transformers import PreTrainedModel

from .configuration_tiny import TinyConfig


class TinyModel(PreTrainedModel):
    config_class = TinyConfig

    def __init__(self, config):
        super().__init__(config)
        self.emb = nn.Embedding(config.vocab, config.width)
        self.fc = nn.Linear(config.width, config.width)

    def forward(self, input_ids):
        return self.fc(self.emb(input_ids))
'''


@pytest.mark.slow
def test_remote_code_runs_only_with_trust_remote_code(tmp_path):
    """A repository's own model code (auto_map): refused in one line, built with --trust-remote-code. A child
    process with its own HOME: transformers copies the code into its modules cache."""
    import subprocess
    import sys
    from pathlib import Path

    folder = _folder(tmp_path, "remote", {"model_type": "tinyremote", "architectures": ["TinyModel"], "width": 8,
                                          "vocab": 100, "auto_map": {"AutoConfig": "configuration_tiny.TinyConfig",
                                                                     "AutoModel": "modeling_tiny.TinyModel"}})
    (folder / "configuration_tiny.py").write_text(REMOTE_CONFIG)
    (folder / "modeling_tiny.py").write_text(REMOTE_MODEL)
    root = Path(__file__).resolve().parents[1]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path),
           "HF_HOME": str(tmp_path / "hf")}

    def run(*extra):
        return subprocess.run([sys.executable, "-m", "archcalc", f"hf:{folder}", "--seq", "8", "--json", *extra],
                              cwd=root, capture_output=True, text=True, timeout=300, env=env)

    refused = run()
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "--trust-remote-code" in refused.stderr
    built = run("--trust-remote-code")
    assert built.returncode == 0, built.stderr[-2000:]
    rep = json.loads(built.stdout)
    assert rep["totals"]["params"] == 100 * 8 + 8 * 8 + 8  # embedding + linear weight and bias
    assert rep["totals"]["macs"] == 8 * 8 * 8  # 8 tokens x 8 x 8
    assert any("repository's own code" in n for n in rep["notes"])


@pytest.mark.parametrize("argv, package", [(["hf:{tmp}/never-built"], "transformers"), (["timm:mobilenetv3_small_050"], "timm")])
def test_missing_package_is_one_line_exit_2(tmp_path, capsys, monkeypatch, argv, package):
    import sys

    monkeypatch.setitem(sys.modules, package, None)  # as if it were not installed
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "needs" in err and "pip install" in err, err


def test_deepseek_shared_experts_are_active_for_every_token(tmp_path, capsys):
    """DeepSeek-V3's ``shared_experts`` MLP runs for every token: only the routed ``experts`` count x k/E."""
    config = {"model_type": "deepseek_v3", "architectures": ["DeepseekV3ForCausalLM"], "num_hidden_layers": 2,
              "hidden_size": 64, "intermediate_size": 128, "moe_intermediate_size": 32, "n_routed_experts": 4,
              "num_experts_per_tok": 2, "n_shared_experts": 1, "first_k_dense_replace": 0, "num_attention_heads": 4,
              "num_key_value_heads": 4, "q_lora_rank": None, "kv_lora_rank": 16, "qk_rope_head_dim": 8,
              "qk_nope_head_dim": 8, "v_head_dim": 16, "vocab_size": 100, "n_group": 1, "topk_group": 1,
              "max_position_embeddings": 64}
    rep = _report_json(capsys, f"hf:{_folder(tmp_path, 'deepseek', config)}", "--seq", "8")
    routed = 2 * 4 * 3 * 64 * 32  # layers x routed experts x (gate, up, down) x hidden x moe_intermediate = 49,152
    total = sum(p.numel() for p in _meta_model(config).parameters())
    assert rep["totals"]["expert_params"] == routed
    assert rep["totals"]["active_params"] == total - routed + routed * 2 // 4
