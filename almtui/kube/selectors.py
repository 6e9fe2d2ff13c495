"""Label and field selectors, mirroring upstream apimachinery.

Sources: ``apimachinery/pkg/labels/selector.go`` (lexer, parser, ``NewRequirement``, ``Matches``,
``String``), ``apimachinery/pkg/api/validate/content/kube.go`` (label key/value rules),
``apimachinery/pkg/apis/meta/v1/helpers.go`` (``LabelSelectorAsSelector``) and
``apimachinery/pkg/fields/selector.go`` (field selector parsing and escaping).

Error messages follow upstream text so the sandbox can return them verbatim in a 400 Status.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "EVERYTHING",
    "NOTHING",
    "FieldRequirement",
    "FieldSelector",
    "LabelSelector",
    "Requirement",
    "SelectorError",
    "escape_field_value",
    "field_value",
    "from_label_selector_object",
    "label_selector_to_string",
    "parse_field_selector",
    "parse_label_selector",
    "selector_from_set",
]


class SelectorError(ValueError):
    """A label or field selector that the API server would reject (HTTP 400)."""


# --------------------------------------------------------------------------- validation

_LABEL_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_KEY_RE = re.compile(_LABEL_KEY_FMT)
_LABEL_KEY_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"
)
_LABEL_VALUE_FMT = f"({_LABEL_KEY_FMT})?"
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    """content.RegexError: the explanation upstream appends to regex failures."""
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


_KEY_EXAMPLES = ("MyName", "my.name", "123-abc")


def _label_key_errors(key: str) -> list[str]:
    """content.IsLabelKey: an optional DNS-subdomain prefix, '/', and a 63-char name."""
    errs: list[str] = []
    parts = key.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            if len(prefix.encode()) > 253:
                errs.append("prefix part must be no more than 253 bytes")
            if not _DNS1123_SUBDOMAIN_RE.fullmatch(prefix):
                errs.append("prefix part " + _regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT,
                                                          "example.com"))
    else:
        return ["a valid label key " + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, *_KEY_EXAMPLES)
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name.encode()) > 63:
        errs.append("name part must be no more than 63 bytes")
    if not _LABEL_KEY_RE.fullmatch(name):
        errs.append("name part " + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, *_KEY_EXAMPLES))
    return errs


def _label_value_errors(value: str) -> list[str]:
    """content.IsLabelValue."""
    errs: list[str] = []
    if len(value.encode()) > 63:
        errs.append("must be no more than 63 bytes")
    if not re.fullmatch(_LABEL_VALUE_FMT, value):
        errs.append(_regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def _go_quote(s: str) -> str:
    """Approximates Go's %q for the strings that reach error messages."""
    return json.dumps(s, ensure_ascii=False)


def _invalid(path: str, bad: Any, detail: str) -> str:
    """field.Invalid(...).Error(): ``<path>: Invalid value: <value>: <detail>``."""
    shown = _go_quote(bad) if isinstance(bad, str) else json.dumps(bad, separators=(",", ":"))
    return f"{path}: Invalid value: {shown}: {detail}"


def _aggregate(errs: list[str]) -> str:
    """utilerrors.Aggregate.Error(): one message alone, several as ``[a, b]`` (deduplicated)."""
    uniq = list(dict.fromkeys(errs))
    return uniq[0] if len(uniq) == 1 else "[" + ", ".join(uniq) + "]"


# --------------------------------------------------------------------------- label requirements

# Upstream's validRequirementOperators order, used in the "supported values" message.
_OPERATORS = ("in", "notin", "=", "==", "!=", "gt", "lt", "exists", "!")
_BINARY_OPERATOR_NAMES = "in, notin, =, ==, !=, gt, lt"
_INT64_RE = re.compile(r"[+-]?[0-9]+")


def _parse_int64(s: str) -> int | None:
    """strconv.ParseInt(s, 10, 64): no spaces or underscores, overflow is an error."""
    if not _INT64_RE.fullmatch(s):
        return None
    n = int(s)
    return n if -(2**63) <= n < 2**63 else None


@dataclass(frozen=True)
class Requirement:
    """One ANDed term of a label selector (``labels.Requirement``)."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Requirement.Matches: ``!=``/``notin``/``!`` match objects that lack the key."""
        labels = labels or {}
        op = self.operator
        if op in ("=", "==", "in"):
            return self.key in labels and labels[self.key] in self.values
        if op in ("!=", "notin"):
            return self.key not in labels or labels[self.key] not in self.values
        if op == "exists":
            return self.key in labels
        if op == "!":
            return self.key not in labels
        if op in ("gt", "lt"):
            if self.key not in labels or len(self.values) != 1:
                return False
            have, want = _parse_int64(labels[self.key]), _parse_int64(self.values[0])
            if have is None or want is None:
                return False
            return have > want if op == "gt" else have < want
        return False

    def __str__(self) -> str:
        """Requirement.String(): multiple values are printed sorted."""
        op = self.operator
        if op == "exists":
            return self.key
        if op == "!":
            return "!" + self.key
        vals = ",".join(sorted(self.values)) if len(self.values) > 1 else "".join(self.values)
        sym = {"=": "=", "==": "==", "!=": "!=", "gt": ">", "lt": "<"}.get(op)
        if sym is not None:
            return f"{self.key}{sym}{vals}"
        return f"{self.key} {op} ({vals})"


def _new_requirement(key: str, op: str, values: Iterable[str]) -> Requirement:
    """labels.NewRequirement: validates key, operator arity and each value."""
    vals = list(values)
    if not isinstance(key, str) or not all(isinstance(v, str) for v in vals):
        raise SelectorError(f"label selector keys and values must be strings: {key!r} {vals!r}")
    errs: list[str] = []
    key_errs = _label_key_errors(key)
    if key_errs:
        errs.append(_invalid("key", key, "; ".join(key_errs)))
    if op in ("in", "notin"):
        if not vals:
            errs.append(_invalid("values", vals, "for 'in', 'notin' operators, values set can't be empty"))
    elif op in ("=", "==", "!="):
        if len(vals) != 1:
            errs.append(_invalid("values", vals, "exact-match compatibility requires one single value"))
    elif op in ("exists", "!"):
        if vals:
            errs.append(_invalid("values", vals, "values set must be empty for exists and does not exist"))
    elif op in ("gt", "lt"):
        if len(vals) != 1:
            errs.append(_invalid("values", vals, "for 'Gt', 'Lt' operators, exactly one value is required"))
        for i, v in enumerate(vals):
            if _parse_int64(v) is None:
                errs.append(_invalid(f"values[{i}]", v,
                                     "for 'Gt', 'Lt' operators, the value must be an integer"))
    else:
        supported = ", ".join(_go_quote(o) for o in _OPERATORS)
        errs.append(f"operator: Unsupported value: {_go_quote(op)}: supported values: {supported}")
    for i, v in enumerate(vals):
        val_errs = _label_value_errors(v)
        if val_errs:
            errs.append(_invalid(f"values[{i}][{key}]", v, "; ".join(val_errs)))
    if errs:
        raise SelectorError(_aggregate(errs))
    return Requirement(key, op, tuple(vals))


# --------------------------------------------------------------------------- label selectors


@dataclass(frozen=True)
class LabelSelector:
    """ANDed requirements sorted by key; ``matches_nothing`` models ``labels.Nothing()``."""

    requirements: tuple[Requirement, ...] = ()
    matches_nothing: bool = False

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything (``Selector.Empty``)."""
        return not self.matches_nothing and not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.matches_nothing:
            return False
        return all(r.matches(labels) for r in self.requirements)

    def requires_exact_match(self, key: str) -> str | None:
        """The single value ``key`` must have, if the selector pins one (``RequiresExactMatch``)."""
        for r in self.requirements:
            if r.key == key:
                if r.operator in ("=", "==", "in") and len(r.values) == 1:
                    return r.values[0]
                return None
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


EVERYTHING = LabelSelector()
NOTHING = LabelSelector(matches_nothing=True)


def _sorted_by_key(reqs: Iterable[Requirement]) -> tuple[Requirement, ...]:
    return tuple(sorted(reqs, key=lambda r: r.key))


# Lexer tokens (labels/selector.go).
_END, _CLOSE, _COMMA, _NOT, _DEQ, _EQ, _GT, _IDENT, _IN, _LT, _NEQ, _NOTIN, _OPEN, _ERROR = range(14)
_STRING_TO_TOKEN = {
    ")": _CLOSE, ",": _COMMA, "!": _NOT, "==": _DEQ, "=": _EQ, ">": _GT, "in": _IN,
    "<": _LT, "!=": _NEQ, "notin": _NOTIN, "(": _OPEN,
}
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")


def _lex(text: str) -> list[tuple[int, str]]:
    """Tokenises like upstream's Lexer, including its greedy operator scan."""
    items: list[tuple[int, str]] = []
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= n:
            items.append((_END, ""))
            return items
        if text[pos] in _SPECIAL:
            buf, last = "", None
            while pos < n and text[pos] in _SPECIAL:
                buf += text[pos]
                if buf in _STRING_TO_TOKEN:
                    last = (_STRING_TO_TOKEN[buf], buf)
                elif last is not None:
                    break
                pos += 1
            if last is None:
                items.append((_ERROR, f"error expected: keyword found '{buf}'"))
            else:
                items.append(last)
        else:
            start = pos
            while pos < n and text[pos] not in _SPECIAL and text[pos] not in _WHITESPACE:
                pos += 1
            word = text[start:pos]
            items.append((_STRING_TO_TOKEN.get(word, _IDENT), word))


class _Parser:
    """Recursive-descent parser of labels/selector.go (``Parser.parse``)."""

    def __init__(self, text: str) -> None:
        self.items = _lex(text)
        self.pos = 0

    def _peek(self, values: bool = True) -> tuple[int, str]:
        tok, lit = self.items[self.pos]
        if values and tok in (_IN, _NOTIN):
            tok = _IDENT
        return tok, lit

    def _next(self, values: bool = True) -> tuple[int, str]:
        item = self._peek(values)
        self.pos += 1
        return item

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self._peek()
            if tok in (_IDENT, _NOT):
                try:
                    reqs.append(self._requirement())
                except SelectorError as e:
                    raise SelectorError(f"unable to parse requirement: {e}") from None
                tok, lit = self._next()
                if tok == _END:
                    return reqs
                if tok == _COMMA:
                    tok2, lit2 = self._peek()
                    if tok2 not in (_IDENT, _NOT):
                        raise SelectorError(f"found '{lit2}', expected: identifier after ','")
                else:
                    raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            elif tok == _END:
                return reqs
            else:
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def _requirement(self) -> Requirement:
        op: str | None = None
        tok, lit = self._next()
        if tok == _NOT:
            op = "!"
            tok, lit = self._next()
        if tok != _IDENT:
            raise SelectorError(f"found '{lit}', expected: identifier")
        key = lit
        key_errs = _label_key_errors(key)
        if key_errs:
            raise SelectorError(_invalid("<nil>", key, "; ".join(key_errs)))
        if op == "!" or self._peek()[0] in (_END, _COMMA):
            # '!key' is complete by itself; whatever follows is judged by the caller.
            return _new_requirement(key, op or "exists", [])
        tok, lit = self._next(values=False)
        ops = {_IN: "in", _EQ: "=", _DEQ: "==", _GT: "gt", _LT: "lt", _NOTIN: "notin", _NEQ: "!="}
        if tok not in ops:
            raise SelectorError(f"found '{lit}', expected: {_BINARY_OPERATOR_NAMES}")
        op = ops[tok]
        values = self._set_values() if op in ("in", "notin") else self._exact_value()
        return _new_requirement(key, op, sorted(values))

    def _set_values(self) -> set[str]:
        tok, lit = self._next()
        if tok != _OPEN:
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self._peek()
        if tok in (_IDENT, _COMMA):
            values = self._identifiers()
            if self._next()[0] != _CLOSE:
                raise SelectorError(f"found '{lit}', expected: ')'")
            return values
        if tok == _CLOSE:
            self._next()
            return {""}
        raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")

    def _identifiers(self) -> set[str]:
        values: set[str] = set()
        while True:
            tok, lit = self._next()
            if tok == _IDENT:
                values.add(lit)
                tok2, lit2 = self._peek()
                if tok2 == _COMMA:
                    continue
                if tok2 == _CLOSE:
                    return values
                raise SelectorError(f"found '{lit2}', expected: ',' or ')'")
            if tok == _COMMA:
                if not values:
                    values.add("")
                tok2 = self._peek()[0]
                if tok2 in (_CLOSE, _COMMA):
                    values.add("")
                if tok2 == _CLOSE:
                    return values
                continue
            raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def _exact_value(self) -> set[str]:
        tok, _ = self._peek()
        if tok in (_END, _COMMA):
            return {""}
        tok, lit = self._next()
        if tok == _IDENT:
            return {lit}
        raise SelectorError(f"found '{lit}', expected: identifier")


def parse_label_selector(text: str | None) -> LabelSelector:
    """labels.Parse: ``None`` or blank selects everything; raises :class:`SelectorError`."""
    if not text:
        return EVERYTHING
    return LabelSelector(_sorted_by_key(_Parser(text).parse()))


def selector_from_set(labels: Mapping[str, str] | None) -> LabelSelector:
    """labels.SelectorFromSet: ``k=v`` for each pair, unvalidated."""
    return LabelSelector(_sorted_by_key(Requirement(k, "=", (v,)) for k, v in (labels or {}).items()))


_OBJECT_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


def from_label_selector_object(sel: Mapping[str, Any] | None) -> LabelSelector:
    """metav1.LabelSelectorAsSelector: ``None`` selects nothing, ``{}`` everything."""
    if sel is None:
        return NOTHING
    if not isinstance(sel, Mapping):
        raise SelectorError(f"a label selector must be an object, not {type(sel).__name__}")
    match_labels = sel.get("matchLabels") or {}
    exprs = sel.get("matchExpressions") or []
    if not isinstance(match_labels, Mapping) or not isinstance(exprs, list):
        raise SelectorError("matchLabels must be an object and matchExpressions a list")
    if not match_labels and not exprs:
        return EVERYTHING
    reqs = [_new_requirement(k, "=", [v]) for k, v in match_labels.items()]
    for expr in exprs:
        if not isinstance(expr, Mapping):
            raise SelectorError("each matchExpressions entry must be an object")
        op = _OBJECT_OPERATORS.get(expr.get("operator", ""))
        if op is None:
            bad = _go_quote(str(expr.get("operator", "")))
            raise SelectorError(f"{bad} is not a valid label selector operator")
        reqs.append(_new_requirement(expr.get("key", ""), op, list(expr.get("values") or [])))
    return LabelSelector(_sorted_by_key(reqs))


def label_selector_to_string(sel: Mapping[str, Any] | None) -> str:
    """The string form used by ``Scale.status.selector`` (``selector.String()``); ``None`` gives ""."""
    return str(from_label_selector_object(sel))


# --------------------------------------------------------------------------- field selectors


@dataclass(frozen=True)
class FieldRequirement:
    """``field op value`` with op one of ``=``, ``==``, ``!=`` (value already unescaped)."""

    field: str
    operator: str
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """A missing field reads as "" (``fields.Set.Get``)."""
        have = field_value(obj, self.field)
        have = "" if have is None else have
        return have != self.value if self.operator == "!=" else have == self.value

    def __str__(self) -> str:
        op = "!=" if self.operator == "!=" else "="
        return f"{self.field}{op}{escape_field_value(self.value)}"


@dataclass(frozen=True)
class FieldSelector:
    """ANDed field requirements in upstream's order (terms sorted as raw strings)."""

    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(r.field for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(r.matches(obj) for r in self.requirements)

    def requires_exact_match(self, field: str) -> str | None:
        for r in self.requirements:
            if r.field == field and r.operator != "!=":
                return r.value
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def escape_field_value(s: str) -> str:
    """fields.EscapeValue: ``\\``, ``,`` and ``=`` get a backslash."""
    return s.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _unescape_field_value(s: str) -> str:
    """fields.UnescapeValue."""
    if not any(c in s for c in "\\,="):
        return s
    out: list[str] = []
    in_slash = False
    for c in s:
        if in_slash:
            if c not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{c}")
            out.append(c)
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c in ",=":
            # Upstream formats the rune with %v, i.e. as its code point.
            raise SelectorError(f"invalid field selector: unescaped character in value: {ord(c)}")
        else:
            out.append(c)
    if in_slash:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    terms, start, in_slash = [], 0, False
    for i, c in enumerate(text):
        if in_slash:
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def parse_field_selector(text: str | None) -> FieldSelector:
    """fields.ParseSelector: comma-joined ``f=v``, ``f==v``, ``f!=v``; values may escape ``\\ , =``."""
    if not text:
        return FieldSelector()
    reqs: list[FieldRequirement] = []
    for part in sorted(_split_terms(text)):
        if not part:
            continue
        for i in range(len(part)):
            op = next((o for o in ("!=", "==", "=") if part.startswith(o, i)), None)
            if op is not None:
                field, rhs = part[:i], part[i + len(op):]
                break
        else:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        reqs.append(FieldRequirement(field, op, _unescape_field_value(rhs)))
    return FieldSelector(tuple(reqs))


def _go_format(v: Any) -> str | None:
    """How upstream's field-set functions render a scalar (strconv.FormatBool, %d, ...)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e21 else repr(v)
    if isinstance(v, str):
        return v
    return None


def field_value(obj: Mapping[str, Any] | None, path: str) -> str | None:
    """Resolves a dotted path (``metadata.name``, ``spec.nodeName``); ``None`` if absent or not scalar."""
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return None
        cur = cur[part]
    return _go_format(cur)
