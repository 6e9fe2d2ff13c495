"""The data of the one safe action path: what will be sent (Plan), what the checks said, what happened.

Why plain data: the UI shows a Plan verbatim before the user confirms (every request, its body, the
resourceVersion it is conditioned on), and the audit log records the same objects. Nothing here
talks to a cluster.

Precondition technique (how every write is made conditional on the version the user saw):

* merge and strategic merge patches carry ``metadata.resourceVersion`` in their body: the API server
  rejects the update with 409 Conflict when the stored object has another version;
* JSON patches start with ``{"op": "test", "path": "/metadata/resourceVersion", "value": rv}``: a failed
  test is answered 422 Invalid (upstream: "the server rejected our request due to an error in our
  request", the test's own text is dropped), which the executor turns into a conflict after re-reading;
* PUTs carry the whole object, resourceVersion included;
* a POST (a new PipelineRun) has no version to test; it carries a unique label instead, so that after
  a lost answer the executor can look the object up rather than create a second one.

Requests after the first one in a plan are conditioned on the version the previous answer returned
(the executor rewrites the body); the bodies in the Plan show the version the plan was made from.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from almtui.cluster.kinds import Kind, path

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON = "application/json"
FIELD_MANAGER = "almtui"
ACTION_ID_LABEL = "almtui.io/action-id"

# (verb, group, resource, subresource, namespace, name), as a SelfSubjectAccessReview asks it
Access = tuple[str, str, str, str, str | None, str | None]
# A path into an object: keys, list indices, or {key: value} selecting the list item that matches
PathElem = str | int | dict[str, Any]
Status = Literal["applied", "skipped", "refused", "conflict", "failed", "unknown", "cancelled"]


class ActionError(Exception):
    """An action refused before any request, with the message the reference tool gives.

    `field` names the offending field for validation errors (e.g. "spec.minReplicas"); `action` and
    `target` let the executor audit the refusal (`Executor.record_refused`).
    """

    def __init__(self, message: str, *, field: str | None = None, action: str = "",
                 target: Target | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.action = action
        self.target = target


@dataclass(frozen=True)
class Target:
    """The object an action is about."""

    kind: Kind
    namespace: str | None
    name: str

    @classmethod
    def of(cls, kind: Kind, obj: dict) -> Target:
        md = obj.get("metadata") or {}
        return cls(kind, md.get("namespace") if kind.namespaced else None, md.get("name", ""))

    @property
    def path(self) -> str:
        return path(self.kind, self.namespace, self.name)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.kind, "apiVersion": self.kind.api_version, "namespace": self.namespace,
                "name": self.name}

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind.kind} {where}{self.name}"


@dataclass
class Request:
    """One HTTP request of a plan, exactly as it will be sent (the dry run adds dryRun=All)."""

    method: str
    path: str
    body: Any = None
    content_type: str | None = None
    query: dict[str, str] = field(default_factory=dict)
    description: str = ""
    # the body is conditioned on metadata.resourceVersion (see the module docstring)
    precondition: bool = True
    # sent instead when this request answers 404 (Argo Rollouts without the status subresource)
    fallback: Request | None = None
    # whether this request is still sent when an earlier request of the plan used its fallback
    after_fallback: bool = True
    # after a lost answer: the request took effect if any alternative matches the re-read object;
    # each alternative is [(path, expected value)], an expected None meaning absent, null or false.
    # None: not verifiable (only "the object did not change" can be told).
    expect: list[list[tuple[tuple[PathElem, ...], Any]]] | None = None
    # after a conflict: this request's body rebuilt on the object as now read, as the reference tool
    # does (Argo CD's SetAppOperation re-reads the Application and updates it again); raises
    # ActionError when the action no longer applies. None: a conflict is resent only if status alone moved.
    rebase: Callable[[dict], Any] | None = field(default=None, compare=False, repr=False)

    def with_query(self, **extra: str) -> dict[str, str]:
        return {**self.query, **extra}

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"method": self.method, "path": self.path}
        if self.query:
            d["query"] = dict(self.query)
        if self.content_type:
            d["contentType"] = self.content_type
        if self.body is not None:
            d["body"] = copy.deepcopy(self.body)
        if self.fallback is not None:
            d["fallbackOn404"] = self.fallback.as_dict()
        return d

    def describe(self) -> str:
        """The request as the confirmation dialog shows it."""
        q = "&".join(f"{k}={v}" for k, v in self.query.items())
        head = f"{self.method} {self.path}{'?' + q if q else ''}"
        if self.content_type:
            head += f"  ({self.content_type})"
        lines = [f"# {self.description}" if self.description else "", head]
        if self.body is not None:
            lines.append(json.dumps(self.body, indent=2, sort_keys=False))
        if self.fallback is not None:
            lines.append("if that answers 404 (no status subresource), instead:")
            lines.append(self.fallback.describe())
        return "\n".join(x for x in lines if x)


@dataclass
class Plan:
    """Everything an action will do, made from the object(s) as last read."""

    action: str
    target: Target
    requests: list[Request]
    precondition_rv: str | None
    destructive: bool
    summary: str
    warnings: list[str] = field(default_factory=list)
    access: list[Access] = field(default_factory=list)
    before: dict | None = None  # the object the plan was made from (diffed on conflict)
    # a plan without requests has nothing to do: the reason (e.g. kubectl's "skipped rollback ...")
    skip_reason: str = ""
    # what the reference tool prints on success (e.g. "deployment.apps/web rolled back")
    success_message: str = ""
    # whether the plan was made from the object's status too (a promote reads the step index): then a
    # change of status since makes it stale; if not, a conflict caused by status alone is sent again
    status_read: bool = True

    @property
    def noop(self) -> bool:
        return not self.requests

    def describe(self) -> str:
        parts = [self.summary]
        if self.skip_reason:
            parts.append(self.skip_reason)
        if self.precondition_rv:
            parts.append(f"only if {self.target} is still at resourceVersion {self.precondition_rv}")
        parts += [f"warning: {w}" for w in self.warnings]
        parts += [r.describe() for r in self.requests]
        return "\n\n".join(parts)


@dataclass
class CheckResult:
    """What the checks found; `allowed` False means the executor will refuse."""

    allowed: bool
    refusals: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # per request: the server's would-be object, or its error message
    dry_run: list[dict | str] = field(default_factory=list)
    # (verb, group, resource, subresource, namespace, name, allowed, reason)
    access: list[tuple[str, str, str, str, str | None, str | None, bool, str]] = field(default_factory=list)
    # True when every refusal is a failed dry run, which the user may override (e.g. a webhook that
    # does not support dry runs); read-only mode, a stale cluster and RBAC can never be overridden
    overridable: bool = False


@dataclass
class Outcome:
    """What happened to one attempted action (exactly one audit entry each)."""

    status: Status
    message: str
    rv_before: str | None = None
    rv_after: str | None = None
    changed: list[str] = field(default_factory=list)
    error: str | None = None
    audit_error: str | None = None  # the action happened, but its audit entry could not be written

    @property
    def ok(self) -> bool:
        return self.status in ("applied", "skipped")
