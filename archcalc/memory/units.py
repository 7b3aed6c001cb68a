"""Exact parsing and printing of byte sizes and parameter counts (decimal and binary prefixes).

Decimal prefixes are powers of 1000 (``kB``, ``MB``, ``GB``, ``TB``, ``PB``), binary prefixes powers of
1024 (``KiB``, ``MiB``, ``GiB``, ``TiB``, ``PiB``); a bare number is bytes. Parsing goes through
:class:`~decimal.Decimal` and :class:`~fractions.Fraction`, so ``1.5TiB`` is exactly 1,649,267,441,664 bytes
and no float ever rounds a size.

Examples
--------
>>> parse_bytes("24GiB"), parse_bytes("80GB"), parse_bytes("16000000000")
(25769803776, 80000000000, 16000000000)
>>> parse_count("7.5B"), parse_count("125M"), parse_count("7.5e9")
(7500000000, 125000000, 7500000000)
>>> format_bytes(120 * 10**9)
'120.0 GB (111.8 GiB)'
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from dlperf.errors import ArgumentError

__all__ = ["parse_bytes", "parse_count", "format_bytes", "digits_apart", "round_half_up"]

_BYTE_UNITS = {
    "": 1, "b": 1,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "pb": 10**15,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "pib": 2**50,
}
_COUNT_UNITS = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "g": 10**9, "t": 10**12}
_NUMBER = re.compile(r"^\s*(-?[0-9][0-9_]*(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*$")
#: The largest size or count parsed (10^24: a yottabyte; far beyond any device or model).
MAX_VALUE = 10**24
_DECIMAL_NAMES = ("B", "kB", "MB", "GB", "TB", "PB")
_BINARY_NAMES = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def _exact(text: str, units: dict[str, int], name: str, what: str, examples: str, unit_word: str) -> int:
    match = _NUMBER.match(str(text))
    unit = match.group(2).lower() if match else None
    if match is None or unit not in units:
        raise ArgumentError(name, text, f"write e.g. {examples}", what=f"{text!r} is not {what}")
    try:
        number = Decimal(match.group(1).replace("_", ""))
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        raise ArgumentError(name, text, f"write e.g. {examples}", what=f"{text!r} is not {what}") from None
    if number <= 0:
        raise ArgumentError(name, text, f"write e.g. {examples}", what=f"{text!r} must be positive")
    if number.adjusted() < -40:  # 1e-999999999 would build a billion-digit denominator
        raise ArgumentError(name, text, f"give a whole number of {unit_word}", what=f"{text!r} is a tiny fraction, not a whole number")
    # checked on the exponent first: 1e999999999 would otherwise build a billion-digit integer (a hang)
    if (number.adjusted() > 40 or Fraction(number) * units[unit] > MAX_VALUE):
        raise ArgumentError(name, text, f"write e.g. {examples}", what=f"{text!r} is beyond 10^24 {unit_word}, the largest accepted")
    value = Fraction(number) * units[unit]
    if value.denominator != 1:
        raise ArgumentError(name, text, f"give a whole number of {unit_word}", what=f"{text!r} is {value} {unit_word}, not a whole number")
    if value <= 0:
        raise ArgumentError(name, text, f"write e.g. {examples}", what=f"{text!r} must be positive")
    return int(value)


def parse_bytes(text: str, name: str = "size") -> int:
    """Exact number of bytes in ``text`` such as ``24GiB``, ``80GB``, ``1.5TiB``, ``512MiB`` or ``16000000000``.

    Units are case-insensitive (``gb`` is ``GB``, never gigabits); ``name`` is the argument named in the
    ``ValueError`` raised for an unknown unit, a fractional byte count or a size that is not positive.

    Examples
    --------
    >>> parse_bytes("1.5TiB") == 3 * 2**39
    True
    >>> parse_bytes("1.5B")
    Traceback (most recent call last):
    ...
    dlperf.errors.ArgumentError: size: '1.5B' is 3/2 bytes, not a whole number; give a whole number of bytes
    """
    return _exact(text, _BYTE_UNITS, name, "a size in bytes", "80GB, 24GiB, 512MiB or 16000000000", "bytes")


def parse_count(text: str, name: str = "params") -> int:
    """Exact positive integer in ``text`` such as ``7.5e9``, ``7.5B``, ``175B``, ``125M``, ``350K``, ``1T``.

    Suffixes are decimal: K = 10^3, M = 10^6, B (or G) = 10^9, T = 10^12 (case-insensitive).

    Examples
    --------
    >>> parse_count("175B"), parse_count("1_000")
    (175000000000, 1000)
    """
    return _exact(text, _COUNT_UNITS, name, "a count of parameters", "7.5e9, 7.5B, 175B or 125M", "parameters")


def round_half_up(value: Fraction | int, digits: int = 1) -> Fraction:
    """``value`` rounded to ``digits`` decimals, ties away from zero, exactly (no float).

    Examples
    --------
    >>> str(round_half_up(Fraction(31_40625, 100_000)))
    '157/5'
    """
    scale = 10**digits
    scaled = Fraction(value) * scale
    sign = -1 if scaled < 0 else 1
    return Fraction(sign * int(abs(scaled) + Fraction(1, 2)), scale)


def _one_decimal(value: Fraction, digits: int = 1) -> str:
    units = round_half_up(value, digits) * 10**digits  # an integer number of 10^-digits, value >= 0
    whole, frac = divmod(int(units), 10**digits)
    return f"{whole}.{frac:0{digits}d}"


def _scaled(value: Fraction, base: int, names: tuple[str, ...], digits: int = 1) -> str:
    if value < base:
        return f"{value.numerator} B" if value.denominator == 1 else f"{_one_decimal(value, digits)} B"
    power = 1
    while power < len(names) - 1 and value >= base ** (power + 1):
        power += 1
    if round_half_up(value / base**power, digits) >= base and power < len(names) - 1:  # 999.97 kB is 1.0 MB
        power += 1
    return f"{_one_decimal(value / base**power, digits)} {names[power]}"


def digits_apart(value: int | Fraction, other: int | Fraction, most: int = 6) -> int:
    """The fewest decimals (1 to ``most``) at which :func:`format_bytes` prints ``value`` and ``other`` apart.

    Rounding is monotone, so two numbers printed apart keep their order: a peak just over a budget never
    reads as equal to it ("needs 24.0 GiB" of 24.0 GiB). Equal values give 1.

    Examples
    --------
    >>> budget = 24 * 2**30
    >>> d = digits_apart(budget + 2**20, budget)
    >>> d, format_bytes(budget + 2**20, d), format_bytes(budget, d)
    (3, '25.771 GB (24.001 GiB)', '25.770 GB (24.000 GiB)')
    """
    a, b = Fraction(value), Fraction(other)
    for digits in range(1, most + 1):
        if a == b or all(_scaled(a, base, names, digits) != _scaled(b, base, names, digits)
                         for base, names in ((1000, _DECIMAL_NAMES), (1024, _BINARY_NAMES))):
            return digits  # both the decimal and the binary figure differ
    return most


def format_bytes(value: int | Fraction, digits: int = 1) -> str:
    """``value`` bytes in decimal and binary units, ``digits`` decimals each: ``'31.4 GB (29.3 GiB)'``.

    Rounding is exact (ties away from zero) on the rational value; values under 1000 bytes print as bytes.
    :func:`digits_apart` gives the decimals that keep two values apart.

    Examples
    --------
    >>> format_bytes(31_406_250_000), format_bytes(512)
    ('31.4 GB (29.2 GiB)', '512 B')
    """
    exact = Fraction(value)
    if exact < 1000:
        return _scaled(exact, 1000, _DECIMAL_NAMES, digits)
    return f"{_scaled(exact, 1000, _DECIMAL_NAMES, digits)} ({_scaled(exact, 1024, _BINARY_NAMES, digits)})"
