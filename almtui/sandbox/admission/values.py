"""Small JSON helpers and quantity canonicalisation shared by defaulting and validation."""

from __future__ import annotations

import hashlib
import re
from decimal import ROUND_UP, Context, Decimal
from typing import Any

from almtui.kube.quantities import QuantityError, format_decimal_si, format_memory, parse_quantity
from almtui.sandbox import errors

Obj = dict[str, Any]


MAX_INT32 = 2**31 - 1


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _d(v: Any) -> dict:
    return v if isinstance(v, dict) else {}


def _l(v: Any) -> list:
    return v if isinstance(v, list) else []


def _empty(v: Any) -> bool:
    """Go's zero values, which Semantic.DeepEqual does not tell from an absent field."""
    return v is None or v is False or v == "" or v == 0 or v == {} or v == []


def _sem_eq(a: Any, b: Any) -> bool:
    """apiequality.Semantic.DeepEqual on JSON: absent, null, empty and zero values compare equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        return all(_sem_eq(a.get(k), b.get(k)) for k in a.keys() | b.keys())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_sem_eq(x, y) for x, y in zip(a, b, strict=True))
    if _empty(a) and _empty(b):
        return True
    if _is_num(a) and _is_num(b):
        return a == b
    return type(a) is type(b) and a == b


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _hash(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("/".join(parts).encode()).digest()[:8], "big")


_BINARY_SUFFIX_RE = re.compile(r".*[KMGTPE]i$")


_EXPONENT_SUFFIX_RE = re.compile(r"^[+-]?[0-9.]+[eE][+-]?[0-9]+$")


_MILLI = Decimal("0.001")


_WIDE = Context(prec=400)


def canonical_quantity(raw: Any, round_milli: bool = False) -> str:
    """The string a Quantity serializes to (Quantity.String), keeping its BinarySI/DecimalSI format.

    round_milli applies SetDefaults_ResourceList, which rounds resource values up to milli precision.
    Raises QuantityError for text the API server cannot decode.
    """
    value = parse_quantity(raw)
    if round_milli and value:
        value = value.quantize(_MILLI, rounding=ROUND_UP, context=_WIDE)
    text = raw.strip() if isinstance(raw, str) else str(raw)
    if not value:
        return "0"
    if _BINARY_SUFFIX_RE.match(text) and value == value.to_integral_value() and abs(value) >= 1024:
        return format_memory(int(value))
    if _EXPONENT_SUFFIX_RE.match(text):
        si = format_decimal_si(value)
        m = re.fullmatch(r"(-?\d+)([numkMGTPE]?)", si)
        if m:
            exp = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}[m[2]]
            return m[1] + (f"e{exp}" if exp else "")
        return si
    return format_decimal_si(value)


def _quantity(raw: Any) -> Decimal | None:
    try:
        return parse_quantity(raw)
    except (QuantityError, TypeError, ValueError):
        return None


def _canonical_resource_list(rl: Any, kind: str, version: str) -> None:
    if not isinstance(rl, dict):
        return
    for k, v in list(rl.items()):
        try:
            rl[k] = canonical_quantity(v, round_milli=True)
        except (QuantityError, TypeError, ValueError) as e:
            raise errors.bad_request(
                f'{kind} in version "{version}" cannot be handled as a {kind}: {e}') from None
