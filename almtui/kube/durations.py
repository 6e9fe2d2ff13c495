"""Durations and timestamps as Kubernetes writes and reads them.

Sources: Go's ``time.ParseDuration`` / ``Duration.String`` (``src/time/format.go``, ``time.go``),
``apimachinery/pkg/apis/meta/v1/{time,micro_time}.go`` (RFC 3339 in UTC, seconds or microseconds),
``apimachinery/pkg/util/duration/duration.go`` (``HumanDuration``, kubectl's AGE column) and
argo-rollouts ``RolloutPause.DurationSeconds`` (``pkg/apis/rollouts/v1alpha1/types.go``).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone

__all__ = [
    "format_go_duration",
    "format_micro_time",
    "format_rfc3339",
    "human_age",
    "parse_argo_duration",
    "parse_go_duration",
    "parse_rfc3339",
]

_NS = 1
_US = 1_000
_MS = 1_000_000
_S = 1_000_000_000
_UNITS = {"ns": _NS, "us": _US, "µs": _US, "μs": _US, "ms": _MS, "s": _S, "m": 60 * _S, "h": 3600 * _S}
_MAX_NS = 2**63 - 1


def _parse_go_duration_ns(s: str) -> int:
    """time.ParseDuration, in integer nanoseconds."""
    orig, neg = s, False
    if s and s[0] in "+-":
        neg, s = s[0] == "-", s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f'time: invalid duration "{orig}"')
    total = 0
    while s:
        m = re.match(r"([0-9]*)(\.([0-9]*))?", s)
        assert m is not None  # the pattern matches the empty string
        whole, frac = m.group(1), m.group(3)
        if not whole and not frac:
            raise ValueError(f'time: invalid duration "{orig}"')
        s = s[m.end():]
        unit_match = re.match(r"[^0-9.]*", s)
        unit = unit_match.group(0) if unit_match else ""
        if not unit:
            raise ValueError(f'time: missing unit in duration "{orig}"')
        if unit not in _UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{orig}"')
        s = s[len(unit):]
        scale = _UNITS[unit]
        value = int(whole or "0") * scale
        if frac:
            # Go: v += int64(float64(f) * (float64(unit) / scale)), truncating.
            value += int(float(int(frac)) * (scale / 10 ** len(frac)))
        total += value
        if total > _MAX_NS:
            raise ValueError(f'time: invalid duration "{orig}"')
    return -total if neg else total


def parse_go_duration(s: str) -> float:
    """Seconds in a Go duration string: "1h0m0s" -> 3600.0, "300ms" -> 0.3, "1.5h" -> 5400.0."""
    return _parse_go_duration_ns(s) / _S


def _frac(v: int, prec: int) -> tuple[str, int]:
    """fmtFrac: the fraction of v/10**prec without trailing zeros, and the integer part."""
    digits, printed = "", False
    for _ in range(prec):
        d = v % 10
        printed = printed or d != 0
        if printed:
            digits = str(d) + digits
        v //= 10
    return ("." + digits if printed else ""), v


def format_go_duration(seconds: float) -> str:
    """time.Duration.String: 3600 -> "1h0m0s", 90 -> "1m30s", 0.3 -> "300ms", 0 -> "0s"."""
    ns = round(seconds * _S)
    neg, u = ns < 0, abs(ns)
    if u < _S:
        if u == 0:
            return "0s"
        if u < _US:
            out = f"{u}ns"
        elif u < _MS:
            frac, whole = _frac(u, 3)
            out = f"{whole}{frac}µs"
        else:
            frac, whole = _frac(u, 6)
            out = f"{whole}{frac}ms"
    else:
        frac, secs = _frac(u, 9)
        out = f"{secs % 60}{frac}s"
        minutes = secs // 60
        if minutes:
            out = f"{minutes % 60}m{out}"
            hours = minutes // 60
            if hours:
                out = f"{hours}h{out}"
    return "-" + out if neg else out


def parse_argo_duration(v: int | str) -> float:
    """RolloutPause.DurationSeconds: an int is seconds; a string is an int or a Go duration.

    Upstream truncates to whole seconds (``int32(d.Seconds())``); so do we. Upstream answers -1 for
    garbage, we raise ``ValueError`` instead.
    """
    if isinstance(v, bool):
        raise ValueError(f"invalid duration {v!r}")
    if isinstance(v, int):
        return float(v)
    if isinstance(v, str):
        if re.fullmatch(r"[+-]?[0-9]+", v) and -(2**31) <= int(v) < 2**31:
            return float(int(v))
        return float(math.trunc(_parse_go_duration_ns(v) / _S))
    raise ValueError(f"invalid duration {v!r}")


_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?(?:(Z)|([+-])([0-9]{2}):([0-9]{2}))"
)


def parse_rfc3339(s: str) -> datetime:
    """An aware UTC datetime from RFC 3339 ("2026-11-26T21:39:39Z", fractions and offsets allowed)."""
    m = _RFC3339.fullmatch(s) if isinstance(s, str) else None
    if m is None:
        raise ValueError(f"invalid RFC 3339 time: {s!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac = m.group(7) or ""
    micro = int((frac + "000000")[:6])
    if m.group(8):
        tz = UTC
    else:
        oh, om = int(m.group(10)), int(m.group(11))
        if oh > 23 or om > 59:
            raise ValueError(f"invalid RFC 3339 time: {s!r}")
        offset = timedelta(hours=oh, minutes=om)
        tz = timezone(-offset if m.group(9) == "-" else offset)
    try:
        dt = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError as e:
        raise ValueError(f"invalid RFC 3339 time: {s!r}: {e}") from None
    return dt.astimezone(UTC)


def _utc(dt: datetime) -> datetime:
    """Naive datetimes are taken as UTC."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def format_rfc3339(dt: datetime) -> str:
    """metav1.Time's wire form: UTC, whole seconds ("2026-11-26T21:39:39Z")."""
    return _utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_micro_time(dt: datetime) -> str:
    """metav1.MicroTime's wire form: UTC with six fractional digits ("...T21:39:39.123456Z")."""
    return _utc(dt).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def human_age(seconds: float) -> str:
    """duration.HumanDuration, as kubectl prints ages: "5s", "119s", "2m30s", "3h5m", "5d2h", "3y"."""
    ns = round(seconds * _S)
    secs = int(ns / _S)  # Go's int(d.Seconds()) truncates toward zero
    if secs < -1:
        return "<invalid>"
    if secs < 0:
        return "0s"
    if secs < 60 * 2:
        return f"{secs}s"
    minutes = ns // (60 * _S)
    if minutes < 10:
        s = (ns // _S) % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = ns // (3600 * _S)
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"
