"""README's Quick start and CI stay one thing: .ci/run runs exactly the README's second command."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _quickstart():
    spec = importlib.util.spec_from_file_location("quickstart", ROOT / ".ci" / "quickstart.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_starts_with_a_two_command_quick_start():
    text = (ROOT / "README.md").read_text()
    first_section = text.split("\n## ", 2)[1]
    assert first_section.startswith("Quick start")
    install, test = _quickstart().quickstart_commands(text)
    assert install.startswith("pip install .") and install.endswith("archcalc vgg19 --table")
    assert test.startswith("pip install '.[test]'") and "python -m pytest" in test


def test_quickstart_rejects_a_third_command():
    readme = "# x\n\n## Quick start\n\n```bash\na\nb\nc\n```\n"
    with pytest.raises(SystemExit, match="exactly 2 commands, found 3"):
        _quickstart().quickstart_commands(readme)


def test_ci_script_runs_the_readme_test_command():
    out = subprocess.run([sys.executable, str(ROOT / ".ci" / "quickstart.py"), "test"], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == _quickstart().quickstart_commands((ROOT / "README.md").read_text())[1]
    assert "quickstart.py test" in (ROOT / ".ci" / "run").read_text()
