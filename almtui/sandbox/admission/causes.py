"""field.Error causes and the 422 Invalid error built from them (apimachinery field/errors)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from almtui.sandbox import errors
from almtui.sandbox.admission.render import go_quote, go_value
from almtui.sandbox.admission.values import _is_int
from almtui.sandbox.resources import ResourceType

Cause = dict[str, str]


def _cause(reason: str, path: str, message: str) -> Cause:
    return {"reason": reason, "message": message, "field": path}


def field_forbidden(path: str, detail: str) -> Cause:
    return _cause("FieldValueForbidden", path, "Forbidden" + (f": {detail}" if detail else ""))


def field_too_long(path: str, max_len: int) -> Cause:
    return _cause("FieldValueTooLong", path, f"Too long: may not be more than {max_len} bytes")


def field_duplicate(path: str, value: Any) -> Cause:
    return _cause("FieldValueDuplicate", path, f"Duplicate value: {go_value(value)}")


def field_not_found(path: str, value: Any) -> Cause:
    return _cause("FieldValueNotFound", path, f"Not found: {go_value(value)}")


class _Errs(list):
    """A field.ErrorList: causes in the order upstream validation appends them."""

    def invalid(self, path: str, value: Any, detail: str) -> None:
        self.append(_cause("FieldValueInvalid", path, f"Invalid value: {go_value(value)}: {detail}"))

    def required(self, path: str, detail: str = "") -> None:
        self.append(_cause("FieldValueRequired", path, "Required value" + (f": {detail}" if detail else "")))

    def forbidden(self, path: str, detail: str) -> None:
        self.append(field_forbidden(path, detail))

    def unsupported(self, path: str, value: Any, supported: Iterable[str]) -> None:
        opts = ", ".join(go_quote(s) for s in supported)
        msg = f"Unsupported value: {go_value(value)}" + (f": supported values: {opts}" if opts else "")
        self.append(_cause("FieldValueNotSupported", path, msg))

    def duplicate(self, path: str, value: Any) -> None:
        self.append(field_duplicate(path, value))

    def not_found(self, path: str, value: Any) -> None:
        self.append(field_not_found(path, value))

    def too_long(self, path: str, max_len: int) -> None:
        self.append(field_too_long(path, max_len))

    def nonneg(self, path: str, value: Any) -> None:
        if _is_int(value) and value < 0:
            self.invalid(path, value, "must be greater than or equal to 0")


def _raise_invalid(res: ResourceType, name: str, causes: list[Cause]) -> None:
    """errors.NewInvalid: the message lists each distinct error once; details keep every cause."""
    seen: set[tuple[str, str]] = set()
    uniq = []
    for c in causes:
        k = (c.get("field", ""), c["message"])
        if k not in seen:
            seen.add(k)
            uniq.append(c)
    err = errors.invalid(res, name, uniq)
    if err.details is not None:
        err.details["causes"] = list(causes)
    raise err
