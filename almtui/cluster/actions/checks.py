"""The checks between plan and confirmation: read-only mode, freshness, RBAC, server dry run.

Why here and not in the UI: read-only mode must hold below the UI (k9s let plugins write in
read-only mode), a stale cluster must refuse writes rather than queue them, and what RBAC allows is
asked of the server with SelfSubjectAccessReview (cached) before anything is written. Every request
of a plan then goes through admission and validation once with `dryRun=All`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from almtui.cluster.actions.model import Access, CheckResult, Plan, Request
from almtui.cluster.actions.resend import (
    RESENDS,
    may_be_stale,
    read_target,
    resendable,
    rv_of,
    send_or_fallback,
    tests_rv,
)
from almtui.cluster.connection import ApiError, Connection, ConnectionLost
from almtui.cluster.freshness import Freshness, FreshnessState, FreshnessTracker

SSAR_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
READ_ONLY = "read-only mode: almtui was started read-only, so it sends no changes"
READ_VERBS = frozenset({"get", "list", "watch"})

FreshnessSource = FreshnessTracker | FreshnessState | Callable[[], FreshnessState] | None


def describe_access(verb: str, group: str, resource: str, subresource: str, namespace: str | None,
                    name: str | None) -> str:
    res = f"{resource}.{group}" if group else resource
    if subresource:
        res += f"/{subresource}"
    what = f'{verb} {res}{f" {name!r}" if name else ""}'
    return f"{what} in namespace {namespace!r}" if namespace else what


def stale_refusal(state: FreshnessState) -> str:
    age = state.age()
    since = f" (last good data {age:.0f}s ago)" if age is not None else ""
    why = f": {state.error}" if state.error else ""
    return (f"the cluster is {state.state.value}{since}{why}; almtui refuses changes to a cluster it cannot see "
            "live and never queues them for later")


def probe_if_not_live(conn: Connection, state_of: Callable[[], FreshnessState]) -> FreshnessState:
    """The freshness state; when not live, after one cheap probe (a past timeout may have healed, a new
    connection has simply not talked yet). A broken watch keeps the cluster stale: its data is old."""
    state = state_of()
    if state.is_live or state.state is Freshness.AUTH_EXPIRED:
        return state
    try:
        conn.get("/version")
    except (ApiError, ConnectionLost):
        pass
    return state_of()


class Checker:
    """Runs the checks of a plan; `can()` answers the UI's "may I offer this key?" from a cache."""

    def __init__(self, conn: Connection, *, read_only: bool, freshness: FreshnessSource = None,
                 ssar_ttl: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.conn = conn
        self.read_only = read_only
        self._freshness = freshness if freshness is not None else conn.freshness
        self.ssar_ttl = ssar_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[Access, tuple[float, bool, str]] = {}

    # -- freshness ------------------------------------------------------------------------------

    def freshness(self) -> FreshnessState:
        src = self._freshness
        if isinstance(src, FreshnessTracker):
            return src.state
        if isinstance(src, FreshnessState):
            return src
        return src()

    def _live(self) -> FreshnessState:
        return probe_if_not_live(self.conn, self.freshness)

    # -- RBAC -----------------------------------------------------------------------------------

    def can(self, verb: str, group: str, resource: str, subresource: str = "", namespace: str | None = None,
            name: str | None = None) -> tuple[bool, str]:
        """Whether the current user may do this (SelfSubjectAccessReview, cached for `ssar_ttl` seconds).

        Mutating verbs are never allowed in read-only mode. A review the server refuses (403), or
        cannot answer, counts as "not allowed" (errors are not cached).
        """
        if self.read_only and verb not in READ_VERBS:
            return False, READ_ONLY
        key: Access = (verb, group, resource, subresource, namespace, name)
        now = self._clock()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < self.ssar_ttl:
                return hit[1], hit[2]
        attrs: dict[str, Any] = {"verb": verb, "group": group, "resource": resource}
        if subresource:
            attrs["subresource"] = subresource
        if namespace:
            attrs["namespace"] = namespace
        if name:
            attrs["name"] = name
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": attrs}}
        try:
            review = self.conn.request("POST", SSAR_PATH, body=body)
        except ApiError as e:
            return False, f"cannot check permissions: {e.message or e.reason}"
        except ConnectionLost as e:
            return False, f"cannot check permissions: {e}"
        status = review.get("status") or {}
        allowed = bool(status.get("allowed")) and not status.get("denied")
        reason = str(status.get("reason") or status.get("evaluationError") or "")
        with self._lock:
            self._cache[key] = (now, allowed, reason)
        return allowed, reason

    def forget(self) -> None:
        """Drop cached answers (after a context switch or a credential change)."""
        with self._lock:
            self._cache.clear()

    # -- the checks -----------------------------------------------------------------------------

    def check(self, plan: Plan) -> CheckResult:
        """Read-only, freshness, RBAC for each required verb, then a server dry run of every request.

        Later checks are skipped once one refuses: nothing mutating-looking is sent in read-only
        mode, to a stale cluster, or for a user RBAC refuses.
        """
        result = CheckResult(allowed=False, warnings=list(plan.warnings))
        if self.read_only:
            result.refusals.append(READ_ONLY)
            return result
        if plan.noop:
            result.allowed = True
            return result
        state = self._live()
        if not state.is_live:
            result.refusals.append(stale_refusal(state))
            return result
        for acc in plan.access:
            allowed, reason = self.can(*acc)
            result.access.append((*acc, allowed, reason))
            if not allowed:
                why = f": {reason}" if reason else ""
                result.refusals.append(f"not permitted to {describe_access(*acc)} (SelfSubjectAccessReview){why}")
        if result.refusals:
            return result
        for req in plan.requests:
            outcome = self._dry_run(req, plan, result.warnings)
            result.dry_run.append(outcome)
            if isinstance(outcome, str):
                result.refusals.append(f"dry run of {req.method} {req.path}: {outcome}")
        result.allowed = not result.refusals
        result.overridable = bool(result.refusals) and all(r.startswith("dry run of ") for r in result.refusals)
        if any(r.startswith("dry run of ") and "(the object changed" in r for r in result.refusals):
            result.overridable = False  # a stale plan is never overridden: plan again
        return result

    def _dry_run(self, req: Request, plan: Plan, warnings: list[str]) -> dict | str:
        """The server's would-be object, or why it refused. A conflict the apply would send again
        (`resend.resendable`: the plan was made from a cached object, or a controller wrote status
        since) is dry-run again the same way, and said in `warnings`."""
        rv = plan.precondition_rv
        for attempt in range(RESENDS + 1):
            sent, _, answer = send_or_fallback(self._send_dry, req, rv)
            if isinstance(answer, ConnectionLost):
                return f"no answer: {answer}"
            if not isinstance(answer, ApiError):
                if rv != plan.precondition_rv:
                    warnings.append(f"{plan.target} changed since the plan was made (resourceVersion "
                                    f"{plan.precondition_rv} -> {rv}), in nothing the plan was made from: the "
                                    "request is sent on the newer version")
                return answer
            cur = read_target(self.conn, plan) if may_be_stale(answer, sent) else None
            again = resendable(plan, req, cur, rv) if attempt < RESENDS else None
            if again is None:
                break
            req, rv = again, rv_of(cur)
        e = answer
        moved = cur is not None and rv_of(cur) != rv  # a failed JSON patch test: upstream hides its text
        if e.conflict or (e.status == 422 and tests_rv(sent) and moved):
            return (f"{e.message} (the object changed since the plan was made at resourceVersion "
                    f"{plan.precondition_rv}: plan again)")
        return e.message or f"{e.status} {e.reason}"

    def _send_dry(self, req: Request, body: Any) -> dict:
        answer = self.conn.request(req.method, req.path, query=req.with_query(dryRun="All"), body=body,
                                   content_type=req.content_type)
        return answer if isinstance(answer, dict) else {}
