"""Kubernetes Status errors with the real server's codes, reasons and message texts.

Mirrors apimachinery/pkg/api/errors/errors.go so that kubectl and the Python client
print what they would print against a real API server.
"""

from __future__ import annotations

from typing import Any

from almtui.sandbox.resources import ResourceType


class ApiError(Exception):
    """An error answered as a metav1.Status body."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details is not None:
            body["details"] = self.details
        return body


def _details(res: ResourceType, name: str) -> dict[str, Any]:
    d: dict[str, Any] = {"name": name, "kind": res.plural}
    if res.group:
        d["group"] = res.group
    return d


def not_found(res: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{res.qualified} "{name}" not found', _details(res, name))


def already_exists(res: ResourceType, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{res.qualified} "{name}" already exists', _details(res, name))


def conflict(res: ResourceType, name: str, why: str | None = None) -> ApiError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {res.qualified} "{name}": {why}',
                    _details(res, name))


def forbidden(res: ResourceType | None, name: str, user: str, verb: str, namespace: str | None,
              subresource: str = "", *, resource: str | None = None, group: str | None = None) -> ApiError:
    plural = res.plural if res else (resource or "")
    grp = res.group if res else (group or "")
    qualified = f"{plural}.{grp}" if grp else plural
    target = f'{qualified} "{name}"' if name else qualified
    full = f"{plural}/{subresource}" if subresource else plural
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    msg = f'{target} is forbidden: User "{user}" cannot {verb} resource "{full}" in API group "{grp}" {scope}'
    details: dict[str, Any] = {"name": name, "kind": plural}
    if grp:
        details["group"] = grp
    return ApiError(403, "Forbidden", msg, details)


def invalid(res: ResourceType, name: str, causes: list[dict[str, str]]) -> ApiError:
    """causes: [{"reason": "FieldValueInvalid", "field": "spec.replicas", "message": "Invalid value: -1: ..."}]"""
    parts = [f'{c["field"]}: {c["message"]}' if c.get("field") else c["message"] for c in causes]
    summary = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    kind = f"{res.kind}.{res.group}" if res.group else res.kind
    details: dict[str, Any] = {"name": name, "kind": res.kind, "causes": causes}
    if res.group:
        details["group"] = res.group
    return ApiError(422, "Invalid", f'{kind} "{name}" is invalid: {summary}', details)


def field_invalid(field: str, value: Any, detail: str) -> dict[str, str]:
    shown = f'"{value}"' if isinstance(value, str) else ("null" if value is None else str(value).lower()
                                                          if isinstance(value, bool) else str(value))
    return {"reason": "FieldValueInvalid", "message": f"Invalid value: {shown}: {detail}", "field": field}


def field_required(field: str, detail: str = "") -> dict[str, str]:
    return {"reason": "FieldValueRequired", "message": "Required value" + (f": {detail}" if detail else ""),
            "field": field}


def field_unsupported(field: str, value: str, supported: list[str]) -> dict[str, str]:
    opts = ", ".join(f'"{s}"' for s in supported)
    return {"reason": "FieldValueNotSupported", "field": field,
            "message": f'Unsupported value: "{value}": supported values: {opts}'}


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def gone(message: str) -> ApiError:
    return ApiError(410, "Gone", message)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                    "accepted media types include: application/json-patch+json, application/merge-patch+json, "
                    "application/apply-patch+yaml" if content_type else "unsupported media type")


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def method_not_allowed(verb: str, res: ResourceType | None = None) -> ApiError:
    msg = "the server does not allow this method on the requested resource"
    d = {"kind": res.plural, "group": res.group} if res else None
    return ApiError(405, "MethodNotAllowed", msg, d)


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(429, "TooManyRequests", "Too many requests, please try again later.",
                    {"retryAfterSeconds": retry_after}, headers={"Retry-After": str(retry_after)})


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {message}",
                    {"causes": [{"message": message}]})


def service_unavailable(message: str = "the server is currently unable to handle the request") -> ApiError:
    return ApiError(503, "ServiceUnavailable", message, headers={"Retry-After": "1"})


def not_found_path() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})
