"""IntOrString arithmetic: ``maxSurge: 25%`` and friends.

Sources: ``apimachinery/pkg/util/intstr/intstr.go`` (``GetScaledValueFromIntOrPercent``,
``getIntOrPercentValueSafely``, ``ValueOrDefault``) and
``kubernetes/pkg/controller/deployment/util/deployment_util.go`` (``ResolveFenceposts``).
"""

from __future__ import annotations

import math
import re

__all__ = ["IntOrStr", "resolve_fenceposts", "scaled_value"]

IntOrStr = int | str

_ATOI = re.compile(r"[+-]?[0-9]+")


def _atoi(s: str, original: str) -> int:
    """strconv.Atoi: optional sign and ASCII digits only."""
    if not _ATOI.fullmatch(s):
        raise ValueError(f'invalid value for IntOrString: invalid value "{original}": '
                         f'strconv.Atoi: parsing "{s}": invalid syntax')
    return int(s)


def scaled_value(v: IntOrStr | None, total: int, round_up: bool, default: IntOrStr | None = None) -> int:
    """An int as is, or a percentage of ``total`` rounded up or down ("25%" of 3 -> 1 or 0).

    ``None`` falls back to ``default``; with neither, upstream's "nil value for IntOrString" error.
    A string must end in "%" (upstream rejects "3" as a string).
    """
    if v is None:
        v = default
    if v is None:
        raise ValueError("nil value for IntOrString")
    if isinstance(v, bool):
        raise ValueError("invalid value for IntOrString: invalid type: neither int nor percentage")
    if isinstance(v, int):
        return v
    if not isinstance(v, str):
        raise ValueError("invalid value for IntOrString: invalid type: neither int nor percentage")
    if not v.endswith("%"):
        raise ValueError("invalid value for IntOrString: invalid type: string is not a percentage")
    percent = _atoi(v[:-1], v)
    # Upstream computes in float64; keep it so results match at the edges.
    scaled = float(percent) * float(total) / 100
    return int(math.ceil(scaled) if round_up else math.floor(scaled))


def resolve_fenceposts(max_surge: IntOrStr | None, max_unavailable: IntOrStr | None,
                       desired: int) -> tuple[int, int]:
    """ResolveFenceposts: (surge rounded up, unavailable rounded down); both 0 -> unavailable 1.

    Missing values count as 0, as upstream's ``ValueOrDefault(..., 0)`` does.
    """
    surge = scaled_value(max_surge, desired, True, default=0)
    unavailable = scaled_value(max_unavailable, desired, False, default=0)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable
