"""Resource quantities ("250m", "128Mi", "1e3"), after ``apimachinery/pkg/api/resource``.

Parsing follows ``quantity.go`` ``ParseQuantity``/``parseQuantityString`` and ``suffix.go``: the value
is exact, then rounded away from zero to nano precision; BinarySI values are capped at MaxInt64.
Formatting follows ``Quantity.String`` (``CanonicalizeBytes``): DecimalSI moves the exponent to a
multiple of three ("1500m", "2", "1k"); BinarySI below 1024 falls back to DecimalSI, otherwise it
strips whole factors of 1024 ("128Mi", "1536").
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "QuantityError",
    "cpu_millis",
    "format_cpu",
    "format_decimal_si",
    "format_memory",
    "parse_quantity",
    "to_bytes",
]


class QuantityError(ValueError):
    """A quantity string the API server would reject."""


_ERR_FORMAT = ("quantities must match the regular expression "
               "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
_ERR_NUMERIC = "unable to parse numeric part of quantity"
_ERR_SUFFIX = "unable to parse quantity's suffix"

_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_DIGITS = frozenset("0123456789")
_MAX_INT64 = 2**63 - 1
# Far beyond any real quantity; keeps "1e999999999" from building a billion-digit integer.
_MAX_EXPONENT = 1000
_CTX = decimal.Context(prec=200, Emax=10**6, Emin=-(10**6), traps=[decimal.InvalidOperation])
_NANO = Decimal("1e-9")


@dataclass(frozen=True)
class _Parts:
    """parseQuantityString's results."""

    positive: bool
    value: str  # the signed numeric text
    num: str  # integer digits without leading zeros ("0" when there are none)
    denom: str  # fraction digits
    suffix: str


def _split(s: str) -> _Parts:
    """parseQuantityString, branch for branch."""
    positive, pos, end = True, 0, len(s)
    if s[0] in "+-":
        positive, pos = s[0] == "+", 1
    while pos < end and s[pos] == "0":
        pos += 1
    if pos >= end:
        return _Parts(positive, "0", "0", "", "")
    start = pos
    while pos < end and s[pos] in _DIGITS:
        pos += 1
    num = s[start:pos] or "0"
    if pos >= end:
        return _Parts(positive, s, num, "", "")
    denom = ""
    if s[pos] == ".":
        pos += 1
        start = pos
        while pos < end and s[pos] in _DIGITS:
            pos += 1
        denom = s[start:pos]
        if pos >= end:
            return _Parts(positive, s, num, denom, "")
    value, suffix_start = s[:pos], pos
    while pos < end and s[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and s[pos] in "+-":
        pos += 1
    while pos < end and s[pos] in _DIGITS:
        pos += 1
    if pos < end:
        raise QuantityError(_ERR_FORMAT)
    return _Parts(positive, value, num, denom, s[suffix_start:])


def _fast_path(parts: _Parts, base: int, exponent: int, binary: bool) -> Decimal | None:
    """ParseQuantity's int64 branch: exact digits times the suffix when everything fits in int64.

    It reads ``num`` and ``denom`` rather than the text, which is why "." or "m" parse as zero.
    """
    digits = len(parts.num) + len(parts.denom)
    if binary:
        if exponent < 0 or parts.denom:
            return None
        precision, scale, mantissa = 15 - len(parts.num) - int(exponent * 3 / 10) - 1, 0, 1 << exponent
    else:
        precision, scale, mantissa = 18 - digits, exponent, 1
    scale -= len(parts.denom)
    if precision < 0 or scale < -9:
        return None
    result = int(parts.num + parts.denom) * mantissa
    if result > _MAX_INT64:
        return None
    return Decimal(result if parts.positive else -result).scaleb(scale, _CTX)


def _interpret(suffix: str) -> tuple[int, int, bool]:
    """suffixer.interpret: (base, exponent, is_binary)."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], False
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], True
    if len(suffix) > 1 and suffix[0] in "eE":
        rest = suffix[1:]
        digits = rest[1:] if rest[0] in "+-" else rest
        if digits and all(c in _DIGITS for c in digits):
            exp = int(rest)
            if abs(exp) > _MAX_EXPONENT:
                raise QuantityError(_ERR_SUFFIX)
            return 10, exp, False
    raise QuantityError(_ERR_SUFFIX)


def parse_quantity(v: str | int | float) -> Decimal:
    """The exact value of a quantity (JSON numbers are read through their text, as upstream does)."""
    if isinstance(v, bool) or not isinstance(v, str | int | float):
        raise QuantityError(f"cannot parse {v!r} as a quantity")
    if isinstance(v, int):
        return Decimal(v)
    s = repr(v) if isinstance(v, float) else v.strip()
    if not s:
        raise QuantityError(_ERR_FORMAT)
    if s == "0":
        return Decimal(0)
    parts = _split(s)
    base, exponent, binary = _interpret(parts.suffix)
    fast = _fast_path(parts, base, exponent, binary)
    if fast is not None:
        return _tidy(fast)
    try:
        amount = _CTX.create_decimal(parts.value)
    except decimal.InvalidOperation:
        raise QuantityError(_ERR_NUMERIC) from None
    if not amount.is_finite():
        raise QuantityError(_ERR_NUMERIC)
    amount = _CTX.multiply(amount, _CTX.power(Decimal(base), exponent))
    if amount:
        amount = amount.quantize(_NANO, rounding=decimal.ROUND_UP, context=_CTX)
    if binary and abs(amount) > _MAX_INT64:
        amount = Decimal(_MAX_INT64).copy_sign(amount)
    return _tidy(amount)


def _tidy(amount: Decimal) -> Decimal:
    """The same value without trailing zeros or exponent notation for whole numbers."""
    if not amount:
        return Decimal(0)
    amount = amount.normalize(_CTX)
    exp = amount.as_tuple().exponent
    return amount.quantize(Decimal(1), context=_CTX) if isinstance(exp, int) and exp > 0 else amount


def _scaled(v: str | int | float, scale: int) -> int:
    """Quantity.ScaledValue: ceil for positive values (upstream truncates then adds one if inexact)."""
    x = _CTX.scaleb(parse_quantity(v), scale)
    whole = int(x)
    return whole if x == whole else whole + 1


def cpu_millis(v: str | int | float) -> int:
    """Quantity.MilliValue: "250m" -> 250, "0.1" -> 100, "1" -> 1000, "1n" -> 1 (rounded up)."""
    return _scaled(v, 3)


def to_bytes(v: str | int | float) -> int:
    """Quantity.Value: "128Mi" -> 134217728, "1k" -> 1000, "0.5" -> 1 (rounded up)."""
    return _scaled(v, 0)


def _canonical_decimal(mantissa: int, exponent: int) -> str:
    """AsCanonicalBytes + DecimalSI suffix: strip factors of ten, align the exponent to a multiple of 3."""
    if mantissa == 0:
        return "0"
    neg, amount = mantissa < 0, abs(mantissa)
    while amount >= 10 and amount % 10 == 0:
        amount //= 10
        exponent += 1
    while exponent % 3:
        amount *= 10
        exponent -= 1
    if exponent < -9:
        # Finer than nano cannot happen after parsing (values are rounded to 1e-9).
        amount, exponent = -(-amount // 10 ** (-9 - exponent)), -9
    elif exponent > 18:
        amount, exponent = amount * 10 ** (exponent - 18), 18
    suffix = {v: k for k, v in _DECIMAL_SUFFIXES.items()}[exponent]
    return f"{'-' if neg else ''}{amount}{suffix}"


def format_decimal_si(value: Decimal | int | str) -> str:
    """The canonical DecimalSI form of any value: Decimal("0.25") -> "250m", 1500 -> "1500"."""
    d = Decimal(value) if not isinstance(value, str) else parse_quantity(value)
    sign, digits, exp = d.as_tuple()
    if not isinstance(exp, int):
        raise QuantityError(f"cannot format {value!r}")
    mantissa = int("".join(map(str, digits)) or "0")
    return _canonical_decimal(-mantissa if sign else mantissa, exp)


def format_cpu(millis: int) -> str:
    """A milli-CPU count as upstream prints it: 250 -> "250m", 2000 -> "2", 1500 -> "1500m"."""
    return _canonical_decimal(int(millis), -3)


def format_memory(b: int) -> str:
    """A byte count as BinarySI prints it: "128Mi", "1Gi", "1536"; below 1024 DecimalSI ("1k", "512")."""
    b = int(b)
    if -1024 < b < 1024:
        return _canonical_decimal(b, 0)
    amount, times = abs(b), 0
    while amount >= 1024 and amount % 1024 == 0 and times < 6:
        amount //= 1024
        times += 1
    suffix = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")[times]
    return f"{'-' if b < 0 else ''}{amount}{suffix}"
