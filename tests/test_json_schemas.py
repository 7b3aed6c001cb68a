"""Every command's ``--json`` output has exactly the keys docs/json.md lists for it, all snake_case.

docs/json.md is the schema: per command a section whose "Checked with" line names the commands run here and
whose ``text`` block lists every key path (``a.b``, ``a[]`` for an array's elements, ``a{}`` for the values
of an object keyed by data, ``?`` after the type for a key only some modes write). The oracle for the keys
is the command's own output, walked here; the test fails on a key the page does not list, on a listed key
(not marked ``?``) the output lacks, and on a listed key that is not snake_case.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "json.md"
SNAKE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
SLOW = {"crosscheck", "train", "batch-size-sweep", "clr", "lr-range-test"}  # real torch models or training


def sections() -> list[tuple[str, list[str], dict[str, bool]]]:
    """(title, commands checked, {path: required}) of each section of docs/json.md."""
    out = []
    for block in PAGE.read_text().split("\n## ")[1:]:
        title = block.splitlines()[0].strip("` ")
        checked = re.search(r"Checked with (.*?)\.\n", block, re.S).group(1)
        commands = re.findall(r"`([^`]+)`", checked)
        listing = re.search(r"```text\n(.*?)```", block, re.S).group(1)
        paths = {}
        for line in listing.splitlines():
            path, kind = line.split()
            paths[path] = not kind.endswith("?")
        out.append((title, commands, paths))
    return out


def key_paths(value, path: str, maps: set[str], out: set[str]) -> set[str]:
    """Every key path of a JSON value, as docs/json.md writes them (``maps``: the paths written ``a{}``)."""
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}{{}}" if path in maps else f"{path}.{key}" if path else key
            out.add(child)
            key_paths(item, child, maps, out)
    elif isinstance(value, list):
        for item in value:
            out.add(f"{path}[]")
            key_paths(item, f"{path}[]", maps, out)
    return out


def _run(command: str, capsys) -> dict:
    import importlib

    prog, *argv = shlex.split(command)
    status = importlib.import_module(f"{prog}.cli").main(argv)
    out = capsys.readouterr().out
    assert status == 0, (command, out[-500:])
    return json.loads(out)


CASES = [pytest.param(title, command, paths, id=command,
                      marks=[pytest.mark.slow] if shlex.split(command)[1] in SLOW else [])
         for title, commands, paths in sections() for command in commands]


def test_the_page_covers_every_command_that_writes_json():
    # the oracle: each command line's parsers; a command with a --json option has a section here
    from archcalc.cli import FRAME as ARCHCALC
    from mlcore.cli import FRAME as MLCORE
    from staleness.cli import FRAME as STALENESS

    checked = {tuple(shlex.split(c)[:2]) for _, commands, _ in sections() for c in commands}
    for frame in (ARCHCALC, STALENESS, MLCORE):
        parser = frame.build_parser()
        for name, sub in parser._subparsers._group_actions[0].choices.items():
            if any("--json" in action.option_strings for action in sub._actions):
                runs = {c for p, c in checked if p == frame.prog}
                ok = name in runs or (frame.prog == "archcalc" and name == "report" and runs - set(frame.builtin_names()))
                assert ok, f"{frame.prog} {name} writes JSON: add its section to docs/json.md"


def test_every_listed_key_is_snake_case():
    for title, _, paths in sections():
        for path in paths:
            for part in re.split(r"\.|\[\]|\{\}", path):
                assert part == "" or SNAKE.fullmatch(part), (title, path)


@pytest.mark.parametrize("title, command, paths", CASES)
def test_json_keys_are_the_documented_ones(title, command, paths, capsys):
    doc = _run(command, capsys)
    maps = {path[:-2] for path in paths if path.endswith("{}")}
    found = key_paths(doc, "", maps, set())
    assert found - set(paths) == set(), f"{command}: keys not in docs/json.md ({title})"
    missing = {path for path, required in paths.items() if required} - found
    assert missing == set(), f"{command}: documented keys missing"
