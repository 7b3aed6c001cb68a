"""``--device NAME`` names the same devices across archcalc: ``peak`` / ``fit`` take ``cpu`` / ``cuda`` and the
device profiles of ``archcalc time`` (``h100``, ``mi300x`` ...), a profile choosing its torch device type's
autocast lists (``torch_device`` in archcalc/time/devices.toml).

Oracles: the same request with ``--device cuda`` (a CUDA-class profile must give exactly its numbers) and with
``--device cpu`` (GPT-2's LayerNorm and softmax run in fp32 under CUDA's autocast and in bf16 under the CPU's,
so the peaks differ); each vendor's datasheet name for the torch device type the chip runs as.
"""

from __future__ import annotations

import json

import pytest

from archcalc.cli import main

GPT2 = ["gpt2", "--seq", "256", "--batch", "8", "--training", "--precision", "bf16-mixed"]


def _json(capsys, *argv) -> dict:
    assert main([*argv, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def _without_device(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "device"}


def test_a_profile_in_peak_uses_its_torch_devices_autocast_lists(capsys):
    cuda, cpu = _json(capsys, "peak", *GPT2, "--device", "cuda"), _json(capsys, "peak", *GPT2, "--device", "cpu")
    assert cuda["peak_bytes"] != cpu["peak_bytes"]  # the two autocast lists differ for this step
    for name in ("h100", "mi300x"):  # NVIDIA, and AMD under ROCm (torch's "cuda" device type)
        doc = _json(capsys, "peak", *GPT2, "--device", name)
        assert doc["device"] == name and doc["autocast_device"] == "cuda"
        assert _without_device(doc) == _without_device(cuda)
    assert (cuda["device"], cuda["autocast_device"], cpu["autocast_device"]) == ("cuda", "cuda", "cpu")


def test_fit_takes_a_profile_too(capsys):
    argv = ["fit", *GPT2[:3], "--training", "--precision", "bf16-mixed", "--device-memory", "4GiB"]
    by_profile, by_type = _json(capsys, *argv, "--device", "a100-80gb"), _json(capsys, *argv, "--device", "cuda")
    assert _without_device(by_profile) == _without_device(by_type) and by_profile["device"] == "a100-80gb"


def test_every_builtin_profile_says_its_torch_device():
    from archcalc.commands._peakopts import device_names
    from archcalc.time.profiles import builtin_profiles

    for key, profile in builtin_profiles().items():
        vendor = profile.name.split()[0]  # the datasheet's name: NVIDIA / AMD run as cuda, Google's TPUs as xla
        assert profile.torch_device == {"NVIDIA": "cuda", "AMD": "cuda", "Google": "xla"}[vendor], key
        assert (key in device_names()) == (profile.torch_device == "cuda"), key


@pytest.mark.parametrize("argv, needles", [
    (["peak", "gpt2", "--device", "tpu-v4"], ["--device", "invalid choice: 'tpu-v4'", "h100", "cuda"]),
    (["fit", "gpt2", "--device-memory", "1GiB", "--device", "nosuch"], ["--device", "'nosuch'"]),
    (["time", "gpt2", "--device", "cuda"], ["--device: got 'cuda'", "h100"]),  # time needs a profile's numbers
])
def test_refusals_are_one_line(capsys, argv, needles):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
