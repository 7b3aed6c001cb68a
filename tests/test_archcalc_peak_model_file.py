"""``archcalc peak`` / ``fit`` on ``FILE.py:NAME`` (traced at ``--input``, ``--input-dtype`` for token ids),
and a transformers model built from its default config (``use_cache=True``) in such a file: the CLI's numbers
are the library's on the same traced graph (:func:`archcalc.from_torch` then :func:`peak_memory`)."""

from __future__ import annotations

import json
import textwrap

import pytest

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")

from archcalc.cli import main  # noqa: E402
from archcalc.memory.liveness.peak import peak_memory  # noqa: E402

NET = """
import torch


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = torch.nn.Linear(64, 256), torch.nn.Linear(256, 10)

    def forward(self, x):
        return self.fc2(self.fc1(x).relu())


def gpt2():
    import transformers

    return transformers.GPT2LMHeadModel(transformers.GPT2Config(n_layer=2))  # the default use_cache=True
"""


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "mynet.py"
    path.write_text(textwrap.dedent(NET))
    return path


def _json(capsys, *argv):
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_peak_and_fit_trace_a_model_file_at_its_input(model_file, capsys):
    from archcalc.frontends.torch_trace import from_torch

    spec = f"{model_file}:Net"
    doc = _json(capsys, "peak", spec, "--input", "64", "--batch", "8", "--training", "--optimizer", "adam",
                "--precision", "bf16-master", "--json")
    import importlib.util

    loader = importlib.util.spec_from_file_location("mynet", model_file)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    graph = from_torch(module.Net(), (64,), batch=8)
    p = peak_memory(graph, (64,), 8, training=True, optimizer="adam", precision="bf16-master")
    assert (doc["peak_bytes"], doc["phase"], doc["input_shape"]) == (p.peak_bytes, p.phase, [64])
    # fit: the largest batch whose peak fits in 1 MB less the 5 % margin (950,000 bytes)
    f = _json(capsys, "fit", spec, "--input", "64", "--memory", "1MB", "--training", "--json")
    at = [peak_memory(from_torch(module.Net(), (64,), batch=b), (64,), b, training=True).peak_bytes
          for b in (f["batch"], f["batch"] + 1)]
    assert at[0] <= 950_000 < at[1]


def test_a_model_file_needs_its_input(model_file, capsys):
    assert main(["peak", f"{model_file}:Net"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--input:" in err and "give its per-sample shape" in err and len(err.splitlines()) == 1
    assert main(["peak", "resnet18", "--input-dtype", "int64"]) == 2
    assert "--input-dtype: only for FILE.py:NAME models" in capsys.readouterr().err


@pytest.mark.slow
def test_transformers_gpt2_from_its_default_config(model_file, capsys):
    # GPT2Config's use_cache=True (a DynamicCache in the forward): token ids through --input-dtype int64
    doc = _json(capsys, "peak", f"{model_file}:gpt2", "--input", "128", "--input-dtype", "int64", "--training",
                "--json")
    # GPT-2 with 2 layers: wte 50,257 x 768 + wpe 1,024 x 768 + 2 x 7,087,872 per block + ln_f 1,536
    # = 38,597,376 + 786,432 + 14,175,744 + 1,536 = 53,561,088 parameters; SGD: fp32 weights and gradients
    assert doc["model_state_bytes"] == 8 * 53_561_088
    assert doc["peak_bytes"] > doc["model_state_bytes"] and doc["input_shape"] == [128]
