"""The command-line frame shared by ``archcalc``, ``staleness`` and ``mlcore``, and their one error boundary.

Each subcommand is a module in the package's ``commands`` folder that defines ``register(subparsers)``
(adding its parser with ``set_defaults(func=run)``) and ``run(args) -> int``, and one row of the table
``COMMANDS`` in that folder's ``__init__.py``: a :class:`Command` (name, one-line help, module). The frame
imports a command's module only when that command is chosen: ``archcalc --help`` lists the names and
one-liners from the table, ``archcalc peak --help`` imports ``peak`` alone, and ``--version`` reads the
installed metadata only when asked (``tests/test_cli_startup.py`` checks that the table and the modules
agree). A package higher up may add commands to a lower one's CLI through the entry-point group
``dlperf.<prog>.commands`` whose values name a :class:`Command` (see :func:`plugin_commands`), so
``staleness train`` can live in ``mlcore`` while ``staleness`` never imports it.

Errors a user or the machine can cause print one line and exit with status 2: ``ValueError`` from a
library (it names the argument, the value and the fix; an :class:`~dlperf.errors.ArgumentError` names its
parameters by the chosen command's flags: the option whose ``dest`` is the parameter, else the CLI's one
table ``Frame.flags`` of parameter -> flag), ``OSError`` (the path and what to do),
``MemoryError`` and argparse errors; ``KeyboardInterrupt`` prints ``interrupted`` and exits with 130.
``--plot`` and ``--output`` are checked before the command runs (:func:`check_paths`). Any other
exception is a bug and keeps its traceback. A warning prints as one line ``prog: warning: ...``. ``--debug`` (or ``DLPERF_DEBUG=1``) shows the
traceback of every error.

Examples
--------
>>> version("staleness")
'staleness 0.1.0'
>>> error_line("staleness", KeyboardInterrupt())
'staleness: interrupted'
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import importlib
import os
import pkgutil
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from dlperf.errors import ArgumentError

__all__ = ["Frame", "Command", "OneLineParser", "hidden_alias", "Number", "CommaList", "ExtendCommaList", "flag_namer", "command_names", "plugin_commands", "build_parser", "run_cli", "version",
           "error_line", "check_paths", "declared_files", "plain_help", "DEBUG_ENV",
           "OUTPUT_FILES", "INPUT_FILES"]

DEBUG_ENV = "DLPERF_DEBUG"
_DIST = "dlperf"


_INVALID = re.compile(r"invalid (int|float) value: '(.*)'$", re.S)
# A value that starts with '-' and a digit (-5, -5GB, -1e3, -.5) is a value, not an option, so a negative
# number reaches the option's range check (``--memory -5GB`` is refused as negative, not "expected one argument").
_NEGATIVE_VALUE = re.compile(r"^-\.?\d[\w.+-]*$")


def _digits_only(text: str) -> str:
    """``, written with digits only, such as 1000`` for an integer written otherwise (``1e3``, ``1_000.0``)."""
    try:
        number = float(text.replace("_", ""))
    except ValueError:
        return ""
    if number == number and abs(number) < 1e18 and number == int(number):
        return f", written with digits only, such as {int(number)}"
    return ""


def _what_to_give(kind: str, text: str) -> str:
    """The fix for argparse's ``invalid int/float value: 'TEXT'``: what to give instead, with an example."""
    if kind == "float":
        return "give a number such as 0.5, 3 or 1e-3"
    return f"give a whole number{_digits_only(text) or ' such as 1000'}"


class Number:
    """An argparse ``type`` for a number in a range: the one converter, and the one wording, of the
    range-checked numeric options (``got '0'; give a positive integer``).

    ``kind`` is ``int`` or ``float`` (always finite); ``minimum`` / ``maximum`` bound it, ``open_minimum`` /
    ``open_maximum`` exclude the bound; ``exponent`` lets an integer be written ``300e9``; the value
    returned is divided by ``divide_by`` (1e6: microseconds given, seconds used); ``what`` replaces the words said.

    Examples
    --------
    >>> Number(int, minimum=1)("8"), Number(int, minimum=1, exponent=True)("300e9")
    (8, 300000000000)
    >>> Number(float, minimum=0, divide_by=1e6)("2.5")  # microseconds given, seconds used
    2.5e-06
    >>> for convert, text in ((Number(int, minimum=1), "0"), (Number(int, minimum=1), "1e3"),
    ...                       (Number(float, minimum=0, maximum=1, open_minimum=True), "nan")):
    ...     try:
    ...         convert(text)
    ...     except argparse.ArgumentTypeError as exc:
    ...         print(exc)
    got '0'; give a positive integer
    got '1e3'; give a positive integer, written with digits only, such as 1000
    got 'nan'; give a number in (0, 1]
    """

    def __init__(self, kind: type = int, *, minimum: float | None = None, maximum: float | None = None,
                 open_minimum: bool = False, open_maximum: bool = False, exponent: bool = False,
                 divide_by: float = 1, what: str | None = None) -> None:
        self.kind, self.minimum, self.maximum = kind, minimum, maximum
        self.open_minimum, self.open_maximum, self.exponent = open_minimum, open_maximum, exponent
        self.divide_by = divide_by
        self.what = what or self._words()
        self.__name__ = kind.__name__  # argparse's wording for a type, and what the CLI fuzzers draw

    def _words(self) -> str:
        low, high = self.minimum, self.maximum
        noun = "an integer" if self.kind is int else "a number"
        if low is not None and high is not None:
            return (f"{noun} in {'(' if self.open_minimum else '['}{low:g}, {high:g}"
                    f"{')' if self.open_maximum else ']'}")
        if self.kind is int and low == 1 and not self.open_minimum:
            return "a positive integer"
        if low is not None:
            return f"{noun} {'>' if self.open_minimum else '>='} {low:g}"
        if high is not None:
            return f"{noun} {'<' if self.open_maximum else '<='} {high:g}"
        return f"{'an integer' if self.kind is int else 'a finite number'}"

    def _in_range(self, value: float) -> bool:
        low, high = self.minimum, self.maximum
        return (value == value and abs(value) != float("inf")
                and (low is None or (value > low if self.open_minimum else value >= low))
                and (high is None or (value < high if self.open_maximum else value <= high)))

    def __call__(self, text: str) -> int | float:
        value: int | float | None = None
        try:
            if self.kind is int and not self.exponent:
                value = int(text) if re.fullmatch(r"\s*[+-]?[0-9]+\s*", text) else None  # ASCII digits only
            else:
                number = float(text)
                value = number if self.kind is float else (int(number) if number == number and
                                                           abs(number) != float("inf") and number == int(number)
                                                           else None)
        except ValueError:
            value = None
        if value is None or not self._in_range(value):
            hint = _digits_only(text) if self.kind is int and not self.exponent and value is None else ""
            raise argparse.ArgumentTypeError(f"got {text!r}; give {self.what}{hint}")
        return value / self.divide_by if self.divide_by != 1 else value


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (argparse prints usage + message) and exit 2.

    A type error says what to give (``invalid int value: '1e3'; give a whole number, written with digits
    only, such as 1000``); a negative number with a unit (``-5GB``) is taken as a value.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE_VALUE

    def error(self, message: str) -> None:
        found = _INVALID.search(message)
        if found:
            message += f"; {_what_to_give(found.group(1), found.group(2))}"
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")

    def format_help(self) -> str:
        # Descriptions come from module docstrings written for Sphinx; --help shows them without the markup.
        return plain_help(super().format_help())


_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")


def plain_help(text: str) -> str:
    """``text`` without reStructuredText markup: double backticks and ``:role:`target``` become plain text.

    Examples
    --------
    >>> plain_help("``archcalc list``: see :mod:`dlperf.cli` and :func:`~archcalc.costs.report.report`")
    'archcalc list: see dlperf.cli and report'
    """
    text = _ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1] if m.group(0).count("~") else m.group(1), text)
    return text.replace("``", "")


def hidden_alias(parser: argparse.ArgumentParser | argparse._ArgumentGroup, old: str, new: str) -> None:
    """Accept ``old`` as a spelling of the option ``new`` for one more release, absent from ``--help``.

    ``old`` names the same action (same type, checks and messages, which say ``new``); the action lists it
    in ``hidden_aliases`` so ``tests/test_flag_sheet.py`` checks it against docs/flags.md.

    >>> p = OneLineParser(prog="x")
    >>> _ = p.add_argument("--batch", type=int)
    >>> hidden_alias(p, "--batch-size", "--batch")
    >>> p.parse_args(["--batch-size", "8"]).batch, "--batch-size" in p.format_help()
    (8, False)
    """
    action = parser._option_string_actions[new]
    if old in parser._option_string_actions:
        raise ValueError(f"{old} is already an option here; an alias must be a free spelling")
    parser._option_string_actions[old] = action
    action.hidden_aliases = (*getattr(action, "hidden_aliases", ()), old)


class CommaList:
    """An argparse ``type`` for a list written with commas (``fixed,linear``), each item checked by ``item``
    and, with ``choices``, refused unless it is one of them (the one spelling of every list flag).

    >>> CommaList(choices=("fixed", "linear"))("fixed, linear")
    ['fixed', 'linear']
    >>> CommaList(int)("2,4,8")
    [2, 4, 8]
    """

    def __init__(self, item: Callable[[str], object] = str, choices: tuple[str, ...] | None = None) -> None:
        self.item, self.choices = item, choices
        self.__name__ = "comma-separated list"

    def __call__(self, text: str) -> list:
        parts = [part.strip() for part in text.split(",")]
        if not text.strip() or any(not part for part in parts):
            raise argparse.ArgumentTypeError(f"got {text!r}; give values separated by commas, e.g. a,b")
        bad = [part for part in parts if self.choices is not None and part not in self.choices]
        if bad:
            raise argparse.ArgumentTypeError(f"got {bad[0]!r}; choose from {', '.join(self.choices)} "
                                             "(several: separated by commas)")
        return [self.item(part) for part in parts]


class ExtendCommaList(argparse.Action):
    """A comma list (``--rule fixed,linear``) that also takes the old space-separated form
    (``--rule fixed linear``, kept for one release) and joins every occurrence into one list."""

    def __call__(self, parser, namespace, values, option_string=None):
        items = [item for value in values for item in value]
        setattr(namespace, self.dest, list(dict.fromkeys(items)))


def version(prog: str) -> str:
    """``"<prog> <version>"``: the installed distribution's version, else :data:`dlperf.__version__`."""
    from importlib import metadata

    try:
        number = metadata.version(_DIST)
    except metadata.PackageNotFoundError:
        from dlperf import __version__ as number
    return f"{prog} {number}"


class _VersionAction(argparse.Action):
    """``--version``: the version is looked up in the installed metadata only when the flag is given."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="show program's version number and exit"):
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        parser._print_message(version(parser.prog) + "\n", sys.stdout)
        parser.exit()


@dataclass(frozen=True)
class Command:
    """One row of a CLI's command table: the name, the one-line ``--help`` and the module that defines it.

    ``module`` defines ``register(subparsers)``, which adds the parser ``name`` with this ``help``; the frame
    imports it only when the command is chosen, and ``tests/test_cli_startup.py`` checks that the help here
    equals the module's, so the list under ``prog --help`` never drifts from the commands.

    >>> Command("list", "zoo models", "archcalc.commands.list").module
    'archcalc.commands.list'
    """

    name: str
    help: str
    module: str

    def register(self, subparsers: argparse._SubParsersAction) -> None:
        """Import the module and add the command's full parser to ``subparsers``."""
        importlib.import_module(self.module).register(subparsers)

    def stub(self, subparsers: argparse._SubParsersAction) -> None:
        """Add a placeholder parser carrying only the name and the one-liner (for ``prog --help``)."""
        subparsers.add_parser(self.name, help=self.help, add_help=False)


def _modules(commands: ModuleType) -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_"))


@functools.cache
def _source_entry_points(group: str) -> dict[str, str]:
    """Entry points of ``group`` declared in the pyproject.toml beside this package (a source checkout)."""
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    if not pyproject.is_file():
        return {}
    import tomllib

    with open(pyproject, "rb") as fh:
        project = tomllib.load(fh).get("project", {})
    if project.get("name") != _DIST:
        return {}
    return dict(project.get("entry-points", {}).get(group, {}))


def plugin_commands(prog: str) -> dict[str, str]:
    """Commands other packages add to ``prog``: name -> ``"module:attribute"`` naming a :class:`Command`
    (or, older style, a ``register(subparsers)`` function, whose module is imported for ``--help`` too).

    Read from the entry-point group ``dlperf.<prog>.commands`` of the installed dlperf distribution's
    metadata and of the pyproject.toml of the checkout this module was imported from (which wins, so a
    source checkout runs its own declarations even when another checkout is installed).
    """
    from importlib import metadata

    group = f"dlperf.{prog}.commands"
    try:  # only dlperf's own metadata: 0.2 ms, where scanning every installed distribution took 26 ms
        found = {ep.name: ep.value for ep in metadata.distribution(_DIST).entry_points.select(group=group)}
    except metadata.PackageNotFoundError:
        found = {}
    found.update(_source_entry_points(group))
    return dict(sorted(found.items()))


def command_names(commands: ModuleType, prog: str | None = None) -> list[str]:
    """Command-line names of the subcommand modules of ``commands`` (plus ``prog``'s plugin commands)."""
    names = [name.replace("_", "-") for name in _modules(commands)]
    return sorted(set(names) | set(plugin_commands(prog))) if prog else names


def _load(target: str) -> Callable | Command:
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    for part in (attr or "register").split("."):
        obj = getattr(obj, part)
    return obj


def _add(sub: argparse._SubParsersAction, command: Command | Callable, full: bool) -> None:
    if not isinstance(command, Command):  # an older plugin: a bare register(subparsers)
        command(sub)
    elif full:
        command.register(sub)
    else:
        command.stub(sub)


def build_parser(prog: str, description: str, commands: ModuleType | list[Command],
                 epilog: str | None = None, *, chosen: str | None = None, lazy: bool = False,
                 plugins: bool = True) -> argparse.ArgumentParser:
    """A parser with ``--version``, ``--debug`` and one subparser per command (table row or module) and plugin.

    ``commands`` is a table of :class:`Command` rows or (older style) a package whose modules are all
    imported. With ``lazy``, only the command ``chosen`` (if any) gets its full parser and the others a
    placeholder holding their one-line help, which is all ``prog --help`` shows; ``plugins=False`` leaves
    the entry points unread (the chosen command is a built-in one).
    """
    parser = OneLineParser(prog=prog, description=description, epilog=epilog)
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument("--debug", action="store_true",
                        help=f"show the full traceback of any error (also: {DEBUG_ENV}=1; allowed anywhere)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    if isinstance(commands, ModuleType):
        for name in _modules(commands):
            importlib.import_module(f"{commands.__name__}.{name}").register(sub)
    else:
        for command in commands:
            _add(sub, command, not lazy or command.name == chosen)
    for name, target in (plugin_commands(prog).items() if plugins else ()):
        _add(sub, _load(target), not lazy or name == chosen)
    return parser


_OS_FIXES = {
    errno.EACCES: "check the permissions of the file and its folder, or write somewhere else",
    errno.EPERM: "check the permissions of the file and its folder, or write somewhere else",
    errno.EROFS: "the file system is read-only; write somewhere else (for example under /tmp)",
    errno.ENOSPC: "the disk is full; free some space or write to another disk",
    errno.EDQUOT: "the disk quota is used up; free some space or write to another disk",
    errno.ENOENT: "check the path; create missing folders first",
    errno.EISDIR: "give a file name, not a folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder; check the path",
    errno.ENAMETOOLONG: "use a shorter file name",
    errno.EFBIG: "the file is larger than this process may write (ulimit -f) or the file system holds; write elsewhere",
}


def error_line(prog: str, exc: BaseException, flag_of: Callable[[str], str | None] | None = None) -> str:
    """The one line printed for an error the user or the machine caused.

    >>> import errno
    >>> error_line("mlcore", OSError(errno.ENOSPC, "No space left on device", "out.png"))
    "mlcore: error: 'out.png': No space left on device; the disk is full; free some space or write to another disk"
    >>> error_line("mlcore", ValueError("--epochs: got 0; give an integer >= 1"))
    'mlcore: error: --epochs: got 0; give an integer >= 1'
    >>> from dlperf.errors import ArgumentError
    >>> error_line("mlcore", ArgumentError("epochs", 0, "give an integer >= 1"), {"epochs": "--epochs"}.get)
    'mlcore: error: --epochs: got 0; give an integer >= 1'
    """
    if isinstance(exc, KeyboardInterrupt):
        return f"{prog}: interrupted"
    if isinstance(exc, MemoryError):
        return f"{prog}: error: out of memory; choose smaller sizes (fewer samples, a smaller batch or model)"
    if isinstance(exc, OSError) and exc.filename is not None:
        path = exc.filename
        fix = _OS_FIXES.get(exc.errno, "check the path and try again")
        flag = f"{exc.flag} " if getattr(exc, "flag", None) else ""  # set by dlperf.fileio's writers
        return f"{prog}: error: {flag}{str(path)!r}: {exc.strerror or exc}; {fix}"
    if isinstance(exc, ArgumentError) and flag_of is not None:
        return f"{prog}: error: {exc.render(lambda name: flag_of(name) or name)}"
    return f"{prog}: error: {exc}"


def flag_namer(parser: argparse.ArgumentParser, args: argparse.Namespace,
               flags: Mapping[str, str] | None = None) -> Callable[[str], str | None]:
    """Parameter name -> the flag that sets it in the chosen command: the visible option whose ``dest`` is
    the name, else the CLI's table for parameters named apart from their flag (``flags["COMMAND name"]`` for
    one command, ``flags[name]`` for all), else None."""
    by_dest: dict[str, str] = {}
    chosen = getattr(args, "command", None)
    for group in parser._subparsers._group_actions if parser._subparsers else ():
        sub = group.choices.get(chosen) if chosen is not None else None
        for action in sub._actions if sub is not None else ():
            if action.option_strings and action.help is not argparse.SUPPRESS:
                by_dest.setdefault(action.dest, max(action.option_strings, key=len))
    table = dict(flags or {})
    return lambda name: (by_dest.get(name) or table.get(f"{chosen} {name}") or table.get(name)
                         or (name if name.startswith("-") else None))


def _strip_debug(argv: list[str]) -> tuple[bool, list[str]]:
    head, sep, tail = (argv[: argv.index("--")], ["--"], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [], [])
    debug = "--debug" in head or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    return debug, [a for a in head if a != "--debug"] + sep + tail


#: Options that name files a command writes (argparse dest -> flag); tests/test_dlperf_outputs.py checks
#: that every FILE or PATH option of every command is here or in :data:`INPUT_FILES`.
OUTPUT_FILES = {"output": "--output", "plot": "--plot", "per_gradient": "--per-gradient"}
#: Options that name files a command reads: dest -> (flag, the paths in its value).
INPUT_FILES: dict[str, tuple[str, Callable[[str], list[str]]]] = {
    "model": ("model", lambda v: [v.rpartition(":")[0]] if v.rpartition(":")[0].endswith(".py") else []),
    "scores": ("--scores", lambda v: [v] + ([v.partition("=")[2]] if "=" in v else [])),
    "labels": ("--labels", lambda v: [v]),
    "data": ("--data", lambda v: [v]),
    "device_file": ("--device-file", lambda v: [v]),
}


def declared_files(args: argparse.Namespace) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The output files (flag -> path) and input files (flag -> paths) that ``args`` names."""
    outputs = {flag: getattr(args, dest) for dest, flag in OUTPUT_FILES.items() if getattr(args, dest, None)}
    inputs: dict[str, list[str]] = {}
    for dest, (flag, paths) in INPUT_FILES.items():
        value = getattr(args, dest, None)
        for one in (value if isinstance(value, list) else [value] if isinstance(value, str) else []):
            inputs.setdefault(flag, []).extend(paths(one))
    return outputs, inputs


def check_paths(args: argparse.Namespace) -> None:
    """Refuse a bad ``--plot`` (format by extension), or any output that cannot be written or would destroy
    an input or another output (:func:`dlperf.fileio.check_outputs`), before the work runs.

    Every command's output options go through here, so hours of training never end in "unknown format".
    """
    from dlperf.fileio import check_figure_path, check_outputs

    outputs, inputs = declared_files(args)
    if "--plot" in outputs:
        check_figure_path("--plot", outputs["--plot"])
    check_outputs(outputs, inputs)


@contextlib.contextmanager
def _one_line_warnings(prog: str, debug: bool) -> Iterator[None]:
    """Print a library's warning as ``prog: warning: message`` (no file name, no source line).

    Only the formatting changes, so the filters (each warning once per place by default) and recorders
    such as ``pytest.warns`` work as before.
    """
    if debug:
        yield
        return
    previous = warnings.formatwarning
    warnings.formatwarning = lambda message, category, filename, lineno, line=None: f"{prog}: warning: {message}\n"
    try:
        yield
    finally:
        warnings.formatwarning = previous


@dataclass(frozen=True)
class Frame:
    """One package's command line: its name, its ``commands`` package (dotted name) and help texts.

    The package's ``__init__`` holds the table ``COMMANDS`` (one :class:`Command` per module).
    ``rewrite`` may adjust the arguments before parsing (``archcalc vgg19`` -> ``archcalc report vgg19``).

    >>> frame = Frame("staleness", "staleness.commands", "parameter-server simulation")
    >>> "simulate" in frame.command_names()
    True
    """

    prog: str
    commands: str
    description: str
    epilog: str | None = None
    rewrite: Callable[[list[str]], list[str]] | None = None
    #: Library parameter -> flag, for the parameters whose flag is not the option with that ``dest``.
    flags: Mapping[str, str] | None = None

    def table(self) -> list[Command]:
        """The built-in commands: ``COMMANDS`` of the ``commands`` package (no command module imported)."""
        return list(importlib.import_module(self.commands).COMMANDS)

    def builtin_names(self) -> list[str]:
        """Names of the built-in commands (the table only: no entry point is read)."""
        return [command.name for command in self.table()]

    def command_names(self) -> list[str]:
        """Command-line names of the built-in commands and the plugins, sorted."""
        return sorted(set(self.builtin_names()) | set(plugin_commands(self.prog)))

    def build_parser(self, chosen: str | None = None, *, lazy: bool = False) -> argparse.ArgumentParser:
        """The parser: by default every command's full parser (tests and docs walk it); with ``lazy``, the
        full parser of ``chosen`` only and a one-line placeholder for each other command."""
        plugins = not lazy or chosen not in self.builtin_names()
        return build_parser(self.prog, self.description, self.table(), self.epilog, chosen=chosen, lazy=lazy,
                            plugins=plugins)

    def main(self, argv: list[str] | None = None) -> int:
        """Run the command line on ``argv`` (default ``sys.argv[1:]``) and return the exit status.

        Only the chosen command's module is imported; ``prog --help`` imports none.
        """
        debug, rest = _strip_debug(list(sys.argv[1:] if argv is None else argv))
        if self.rewrite is not None:
            rest = self.rewrite(rest)
        chosen = rest[0] if rest and not rest[0].startswith("-") else None  # the only top-level options: -h, --version
        return run_cli(self.build_parser(chosen, lazy=True), ["--debug"] * debug + rest, flags=self.flags)


def run_cli(parser: argparse.ArgumentParser, argv: list[str],
            rewrite: Callable[[list[str]], list[str]] | None = None, flags: Mapping[str, str] | None = None) -> int:
    """Parse ``argv``, run the chosen command and return its exit status (2 for user errors, 130 on ^C).

    ``--debug`` is taken out of ``argv`` wherever it stands, then ``rewrite`` (if given) may adjust the
    rest (``archcalc vgg19`` -> ``archcalc report vgg19``). ``flags`` maps library parameters to flags for
    :class:`~dlperf.errors.ArgumentError` messages (see :func:`flag_namer`).
    """
    debug, argv = _strip_debug(argv)
    if rewrite is not None:
        argv = rewrite(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help / --version (0) or a usage error (2, one line already printed)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        check_paths(args)
        with _one_line_warnings(parser.prog, debug):
            return int(args.func(args) or 0)
    except KeyboardInterrupt as exc:
        if debug:
            raise
        print(error_line(parser.prog, exc), file=sys.stderr)
        return 130
    except (ValueError, OSError, MemoryError) as exc:
        if debug:
            raise
        print(error_line(parser.prog, exc, flag_namer(parser, args, flags)), file=sys.stderr)
        return 2
