"""Short texts for resource amounts, ratios and countdowns, shared by the Health, Autoscalers and Advice screens.

Why one place: the same request must read the same on every screen ("500m", "256Mi", "65.4Mi"),
the way an operator types it in a manifest, and a figure that is not known is "-", never 0.
"""

from __future__ import annotations

import math

from almtui.cluster.advice.preflight import human_bytes, human_cpu

NONE = "-"


def cpu(millis: float | None) -> str:
    """Milli-cores: 500 -> "500m", 2000 -> "2", 6.6 -> "7m"; unknown -> "-"."""
    if millis is None or (isinstance(millis, float) and math.isnan(millis)):
        return NONE
    return human_cpu(max(0.0, millis))


def mem(nbytes: float | None) -> str:
    """Bytes in binary units, one decimal at most: 68534272 -> "65.4Mi"; unknown -> "-"."""
    if nbytes is None or (isinstance(nbytes, float) and math.isnan(nbytes)):
        return NONE
    return human_bytes(max(0.0, nbytes))


def mem_short(nbytes: float | None) -> str:
    """As mem(), with a decimal only below 10 units, for narrow table cells: 138.4Mi -> "138Mi", 9.5Mi stays."""
    if nbytes is None or (isinstance(nbytes, float) and math.isnan(nbytes)):
        return NONE
    b = max(0.0, float(nbytes))
    for unit, size in (("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if b >= size:
            v = b / size
            return f"{round(v)}{unit}" if v >= 10 else f"{v:.1f}".rstrip("0").rstrip(".") + unit
    return str(int(b))


def amount(resource: str, value: float | None) -> str:
    return cpu(value) if resource == "cpu" else mem(value)


def signed(resource: str, value: float | None) -> str:
    """A headroom: "470m", or "-17m" when usage is above the request."""
    if value is None:
        return NONE
    text = amount(resource, abs(value))
    return f"-{text}" if value < 0 else text


def pct(part: float | None, whole: float | None) -> str:
    """part/whole as a whole percent ("30%"); "-" when either is unknown or whole is 0."""
    if part is None or not whole or (isinstance(part, float) and math.isnan(part)):
        return NONE
    return f"{round(100 * part / whole)}%"


def countdown(seconds: float | None) -> str:
    """A countdown to the second: 252 -> "4m12s", 3725 -> "1h2m5s", 0 -> "now"."""
    if seconds is None:
        return ""
    left = max(0, math.ceil(seconds))
    if left == 0:
        return "now"
    h, rest = divmod(left, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m}m{s}s"
    return f"{m}m{s:02d}s" if m else f"{s}s"
