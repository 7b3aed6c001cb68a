"""Print one of the two Quick start commands from README.md (``install`` or ``test``).

The Quick start section holds one fenced ``bash`` block with exactly two commands: the first installs and
runs the main job, the second installs the test extras and runs the whole suite.
"""

import pathlib
import re
import sys


def quickstart_commands(readme: str) -> list[str]:
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```(?:bash|sh)?\n(.*?)```", section, re.S)
    if block is None:
        raise SystemExit("README.md: no fenced code block under '## Quick start'")
    lines = [ln.strip() for ln in block.group(1).splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if len(lines) != 2:
        raise SystemExit(f"README.md: Quick start must hold exactly 2 commands, found {len(lines)}")
    return lines


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "test"
    text = pathlib.Path(__file__).resolve().parent.parent.joinpath("README.md").read_text()
    install, test = quickstart_commands(text)
    print(install if which == "install" else test)
