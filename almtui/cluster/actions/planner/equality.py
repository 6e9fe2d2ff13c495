"""apimachinery's semantic equality on decoded JSON: `Semantic.DeepEqual` (empty and unset are equal) and
`Semantic.DeepDerivative` (fields unset on one side are ignored). The undo plans and the executor's
"already applied?" check compare objects the way the API server and controllers do; this is that rule,
in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _prune(v: Any) -> Any:
    """Semantic equality: absent, null, empty maps/lists/strings and false are all "unset"."""
    if isinstance(v, Mapping):
        out = {k: _prune(x) for k, x in v.items()}
        return {k: x for k, x in out.items() if x not in (None, {}, [], "", False)}
    if isinstance(v, list):
        return [_prune(x) for x in v]
    return v


def semantic_equal(a: Any, b: Any) -> bool:
    """apiequality.Semantic.DeepEqual on decoded JSON (empty and unset compare equal)."""
    return _prune(a) == _prune(b)


def _derivative(a: Any, b: Any) -> bool:
    """apiequality.Semantic.DeepDerivative: fields unset in `a` are ignored."""
    if a is None or (isinstance(a, str | dict | list) and not a):
        return True
    if isinstance(a, Mapping):
        return isinstance(b, Mapping) and all(_derivative(v, b.get(k)) for k, v in a.items())
    if isinstance(a, list):
        return isinstance(b, list) and len(a) <= len(b) and all(_derivative(x, y) for x, y in zip(a, b, strict=False))
    return a == b
