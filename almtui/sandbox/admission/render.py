"""Values rendered as Go's fmt verbs print them, so error messages match the API server's byte for byte."""

from __future__ import annotations

import json
from typing import Any


class GoRaw(str):
    """Text already rendered the way Go's ``%#v`` prints a value; :func:`go_value` passes it through."""


def go_quote(s: str) -> str:
    """Go's ``%q`` (strconv.Quote)."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif not ch.isprintable():
            out.append(f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def go_string_map(d: Any, typ: str = "map[string]string") -> GoRaw:
    """``%#v`` of a map[string]string: keys sorted, ``{"a":"b", "c":"d"}``; nil as ``(nil)``."""
    if d is None:
        return GoRaw(f"{typ}(nil)")
    items = ", ".join(f"{go_quote(str(k))}:{go_quote(str(v))}" for k, v in sorted(d.items()))
    return GoRaw(f"{typ}{{{items}}}")


def go_string_slice(v: Any) -> GoRaw:
    if v is None:
        return GoRaw("[]string(nil)")
    return GoRaw("[]string{" + ", ".join(go_quote(str(x)) for x in v) + "}")


def go_intstr(v: Any) -> GoRaw:
    """``%#v`` of an intstr.IntOrString (it has no value-receiver String method)."""
    if isinstance(v, str):
        return GoRaw(f'intstr.IntOrString{{Type:1, IntVal:0, StrVal:{go_quote(v)}}}')
    n = v if isinstance(v, int) and not isinstance(v, bool) else 0
    return GoRaw(f'intstr.IntOrString{{Type:0, IntVal:{n}, StrVal:""}}')


def go_label_selector(sel: Any) -> GoRaw:
    """``%#v`` of a dereferenced metav1.LabelSelector."""
    sel = sel if isinstance(sel, dict) else {}
    exprs = sel.get("matchExpressions")
    if exprs is None:
        shown = "[]v1.LabelSelectorRequirement(nil)"
    else:
        shown = "[]v1.LabelSelectorRequirement{" + ", ".join(
            f"v1.LabelSelectorRequirement{{Key:{go_quote(str(r.get('key', '')))}, "
            f"Operator:{go_quote(str(r.get('operator', '')))}, Values:{go_string_slice(r.get('values'))}}}"
            for r in exprs if isinstance(r, dict)) + "}"
    return GoRaw(f"v1.LabelSelector{{MatchLabels:{go_string_map(sel.get('matchLabels'))}, "
                 f"MatchExpressions:{shown}}}")


def go_value(v: Any) -> str:
    """A value as ErrorBody rendered it: null, %v for numbers and bools, %q for strings, else %#v."""
    if isinstance(v, GoRaw):
        return str(v)
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, str):
        return go_quote(v)
    if isinstance(v, dict):
        return go_string_map(v)
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return go_string_slice(v)
    return json.dumps(v, separators=(",", ":"), sort_keys=True)
