"""The shipped list of torchvision's model names (archcalc/models/torchvision_names.py) against the installed
torchvision: an unknown ``torchvision:NAME`` is refused from the list without importing torchvision."""

from __future__ import annotations

import subprocess
import sys

import pytest

from archcalc.models.torchvision_names import TORCHVISION_MINOR, TORCHVISION_NAMES, check_torchvision_name

torchvision = pytest.importorskip("torchvision")


def test_the_list_is_the_installed_torchvision_s_when_the_release_matches():
    installed = ".".join(torchvision.__version__.split("+")[0].split(".")[:2])
    if installed != TORCHVISION_MINOR:
        pytest.skip(f"torchvision {installed} installed, the list is {TORCHVISION_MINOR}'s: names go to torchvision")
    assert set(torchvision.models.list_models()) == TORCHVISION_NAMES  # 121 names in 0.29


def test_every_listed_name_passes_and_an_unknown_one_is_refused_without_importing_torchvision():
    for name in TORCHVISION_NAMES:
        check_torchvision_name(name)
    code = ("import sys\nfrom archcalc.models.resolve import resolve_model\ntry:\n"
            "    resolve_model('torchvision:nosuchnet')\nexcept ValueError as err:\n    print(err)\n"
            "print('torchvision' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["model: torchvision has no model 'nosuchnet'; see torchvision.models.list_models()",
                                "False False"]
