"""docs/flags.md is the one sheet of flag names: every subcommand's parser (the three CLIs, plugins
included) is walked against it.

- every visible option is a row, with the row's short forms, taking what the row says (its parser is fed
  sample values: :func:`flag_sheet.kind_of`); one row per name, so one name has one meaning;
- every row is used by some command (no stale rows);
- every hidden spelling (an old name kept for one release) is in the "Old spellings" table for exactly the
  commands that accept it, is absent from ``--help``, and parses to the same destination as its new flag.
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict

import pytest
from flag_sheet import KINDS, aliases, options, sheet, subparsers

OPTIONS = options()
SHEET = sheet()
ALIASES = aliases()


def test_the_sheet_is_in_the_docs_nav():
    from pathlib import Path

    mkdocs = (Path(__file__).resolve().parents[1] / "mkdocs.yml").read_text()
    assert re.search(r"^\s*- .*: flags\.md$", mkdocs, re.M)


def test_every_row_names_a_known_kind():
    for entry in SHEET.values():
        assert entry.kind in KINDS, entry
        assert set(entry.exceptions.values()) <= set(KINDS), entry


@pytest.mark.parametrize("option", [o for o in OPTIONS if o.flag], ids=lambda o: f"{o.command} {o.flag}")
def test_every_option_is_on_the_sheet_with_its_kind(option):
    entry = SHEET.get(option.flag)
    assert entry is not None, f"{option.command} {option.flag} is not in docs/flags.md"
    assert set(option.shorts) <= set(entry.shorts), (option, entry.shorts)
    want = entry.kind_in(option.command)
    assert option.kind == want or (want == "list" and option.kind == "text" and _says_comma(option)), (
        f"{option.command} {option.flag} takes {option.kind}; the sheet says {want}")


def _says_comma(option) -> bool:
    prog, _, name = option.command.partition(" ")
    module = dict((p, m) for p, m in (("archcalc", "archcalc.cli"), ("staleness", "staleness.cli"),
                                      ("mlcore", "mlcore.cli")))[prog]
    action = subparsers(prog, module)[option.command]._option_string_actions[option.flag]
    return "comma" in (action.help or "")


def test_every_row_is_used_and_exceptions_name_real_commands():
    used = defaultdict(set)
    for option in OPTIONS:
        used[option.flag].add(option.command)
    assert set(SHEET) == {o.flag for o in OPTIONS if o.flag}, set(SHEET) ^ {o.flag for o in OPTIONS if o.flag}
    for flag, entry in SHEET.items():
        assert set(entry.exceptions) <= used[flag], (flag, entry.exceptions, used[flag])


def test_a_short_form_means_one_flag():
    owner = {}
    for option in OPTIONS:
        for short in option.shorts:
            assert owner.setdefault(short, option.flag) == option.flag, short


def test_hidden_spellings_are_listed_hidden_and_parse_like_the_new_flag():
    found = {}
    for option in OPTIONS:
        for old in option.hidden:
            found[(option.command, old)] = option.flag
    listed = {key: new for key, new in ALIASES.items()}
    assert set(found) == set(listed), set(found) ^ set(listed)
    for (command, old), new in listed.items():
        if found[(command, old)]:  # an alias of a visible flag: it must be that flag
            assert found[(command, old)] == new, (command, old)
        prog = command.split()[0]
        module = f"{prog}.cli"
        sub = subparsers(prog, module)[command]
        assert not re.search(rf"(?<![\w-]){re.escape(old)}(?![\w-])", sub.format_help()), (command, old)
        old_action, new_action = sub._option_string_actions[old], sub._option_string_actions[new]
        assert old_action.dest == new_action.dest, (command, old, new)


def test_old_spellings_still_parse():
    from mlcore.cli import FRAME as MLCORE
    from staleness.cli import FRAME as STALENESS

    assert MLCORE.build_parser().parse_args(["clr", "--batch-size", "8"]).batch_size == 8
    assert MLCORE.build_parser().parse_args(["clr", "--batch", "8"]).batch_size == 8
    train = STALENESS.build_parser().parse_args(["train", "--workers", "3", "--batch-size", "16"])
    assert (train.workers, train.batch_size) == (3, 16)
    sweep = MLCORE.build_parser().parse_args(["batch-size-sweep", "--rule", "fixed", "linear"])
    assert sweep.rule == ["fixed", "linear"]
    assert MLCORE.build_parser().parse_args(["batch-size-sweep", "--rule", "linear,fixed"]).rule == ["linear", "fixed"]


def test_list_flags_refuse_a_bad_item_naming_the_choices(capsys):
    from mlcore.cli import main

    assert main(["batch-size-sweep", "--rule", "fixed,lin"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--rule" in err and "'lin'" in err and "fixed, linear" in err


def test_kinds_are_found_by_behaviour():
    from flag_sheet import kind_of

    p = argparse.ArgumentParser()
    assert kind_of(p.add_argument("--a", action="store_true")) == "switch"
    assert kind_of(p.add_argument("--b", type=int)) == "int"
    assert kind_of(p.add_argument("--c", type=float)) == "float"
    assert kind_of(p.add_argument("--d", choices=("x", "y"))) == "choice"
    assert kind_of(p.add_argument("--e")) == "text"
    assert kind_of(p.add_argument("--f", nargs="+")) == "list"
