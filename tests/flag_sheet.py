"""Read docs/flags.md (the one sheet of flag names) and walk every subcommand's parser against it.

Each visible option is classified by what its parser does with a value (:func:`kind_of`), so the sheet's
"Takes" column is checked against behaviour, not against how the option was declared.
"""

from __future__ import annotations

import argparse
import importlib
import re
from dataclasses import dataclass
from pathlib import Path

from dlperf.cli import CommaList

SHEET = Path(__file__).resolve().parents[1] / "docs" / "flags.md"
CLIS = (("archcalc", "archcalc.cli"), ("staleness", "staleness.cli"), ("mlcore", "mlcore.cli"))
KINDS = ("switch", "choice", "int", "float", "size", "count", "list", "text")


def _accepts(convert, text: str):
    try:
        return True, convert(text)
    except (argparse.ArgumentTypeError, ValueError, TypeError):
        return False, None


def kind_of(action: argparse.Action) -> str:
    """What the option takes, found by feeding its ``type`` sample values.

    switch: no value; choice: one of ``choices``; list: several values (``nargs`` + or a type returning a
    list); size: bytes with a unit (``24GiB``); count: a number with a suffix (``7.5B``); int; float; text:
    kept as written (a name, a path, a shape, a comma list the command splits itself).
    """
    if action.nargs == 0:
        return "switch"
    if isinstance(action.type, CommaList) or action.nargs in ("+", "*"):
        return "list"
    if action.choices is not None:
        return "choice"
    if action.type is None or action.type is str:
        return "text"
    if any(isinstance(_accepts(action.type, text)[1], list) for text in ("1", "0,1")):
        return "list"
    if _accepts(action.type, "24GiB")[0]:
        return "size"
    if _accepts(action.type, "7.5B")[0]:
        return "count"
    if _accepts(action.type, "0.5")[0]:
        return "float"
    return "int"


@dataclass(frozen=True)
class Option:
    """One option of one subcommand as its parser declares it."""

    command: str          # "archcalc peak"
    flag: str             # the long spelling shown in --help
    shorts: tuple[str, ...]
    kind: str
    hidden: tuple[str, ...]  # spellings accepted but not shown (old names kept for one release)


def subparsers(prog: str, module: str) -> dict[str, argparse.ArgumentParser]:
    parser = importlib.import_module(module).FRAME.build_parser()
    group = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {f"{prog} {name}": sub for name, sub in group.choices.items()}


def options() -> list[Option]:
    """Every option (not positionals, not -h) of every subcommand of the three CLIs, plugins included."""
    found = []
    for prog, module in CLIS:
        for command, sub in subparsers(prog, module).items():
            seen = set()
            for action in sub._actions:
                if isinstance(action, argparse._HelpAction) or not action.option_strings or id(action) in seen:
                    continue
                seen.add(id(action))
                longs = [s for s in action.option_strings if s.startswith("--")]
                shorts = tuple(s for s in action.option_strings if not s.startswith("--"))
                aliases = tuple(getattr(action, "hidden_aliases", ()))
                if action.help is argparse.SUPPRESS:  # an option kept only for old scripts
                    found.append(Option(command, "", (), kind_of(action), tuple(longs) + aliases))
                    continue
                found.append(Option(command, longs[0], shorts, kind_of(action), aliases))
    return found


_ROW = re.compile(r"^\|(.+)\|\s*$")


def _cells(line: str) -> list[str]:
    return [c.strip() for c in _ROW.match(line).group(1).split("|")]


def _table(title: str) -> list[list[str]]:
    """The rows of the markdown table under the heading ``title`` in docs/flags.md (header row dropped)."""
    lines = SHEET.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#") and line.lstrip("#").strip() == title)
    rows = []
    for line in lines[start + 1:]:
        if line.startswith("#"):
            break
        if _ROW.match(line) and not set(line) <= set("|-: "):
            rows.append(_cells(line))
    return rows[1:]


def _codes(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


@dataclass(frozen=True)
class Entry:
    """One row of the sheet: the flag, its short forms, what it takes (with per-command exceptions), meaning."""

    flag: str
    shorts: tuple[str, ...]
    kind: str
    exceptions: dict  # command -> kind
    meaning: str

    def kind_in(self, command: str) -> str:
        return self.exceptions.get(command, self.kind)


def sheet() -> dict[str, Entry]:
    """Flag -> :class:`Entry`, from the table under "The flags"; the Takes cell is ``KIND`` or
    ``KIND; KIND2 in PROG CMD, PROG CMD``."""
    entries = {}
    for flag_cell, takes, meaning in _table("The flags"):
        names = _codes(flag_cell)
        parts = [p.strip() for p in takes.replace("`", "").split(";")]
        exceptions = {}
        for part in parts[1:]:
            kind, _, where = part.partition(" in ")
            for command in where.split(","):
                exceptions[command.strip()] = kind.strip()
        entries[names[0]] = Entry(names[0], tuple(names[1:]), parts[0], exceptions, meaning)
    return entries


def aliases() -> dict[tuple[str, str], str]:
    """(command, old spelling) -> the flag to use instead, from the table under "Old spellings"."""
    found = {}
    for old, new, where in _table("Old spellings"):
        for command in where.replace("`", "").split(","):
            found[(command.strip(), _codes(old)[0])] = _codes(new)[0]
    return found
