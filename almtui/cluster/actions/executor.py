"""Apply a confirmed plan, once, and record exactly one audit entry for it.

Why this shape (client-go's RetryOnConflict is the model, but a retry only when nothing the plan read
changed, and never silent):

* read-only mode is re-checked here, whatever the caller did; a plan whose checks refused is refused;
* every write is conditioned on the resourceVersion the plan was made from (see `actions.model`);
* a 409 (or a failed resourceVersion test in a JSON patch) is sent again only when nothing the plan
  was made from changed (`actions.resend`, the same rule the checks' dry run follows): at most RESENDS
  times, each recorded. Otherwise the outcome lists what changed since the plan, so the user can look
  and plan again;
* after a timeout or a dropped connection the outcome of a write is unknown: the object is re-read
  (for a short while, so a request still in flight can land) BEFORE anything else, and the outcome is
  "applied", "failed" (it cannot take effect any more) or "unknown". Nothing is ever sent twice;
* one audit entry per attempted action: applied, refused, failed, conflict, unknown, cancelled.
"""

from __future__ import annotations

import copy
import getpass
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from almtui.cluster.actions.checks import READ_ONLY, Checker, probe_if_not_live, stale_refusal
from almtui.cluster.actions.model import (
    ACTION_ID_LABEL,
    ActionError,
    CheckResult,
    Outcome,
    PathElem,
    Plan,
    Request,
    Target,
)
from almtui.cluster.actions.planner.equality import semantic_equal
from almtui.cluster.actions.resend import (
    RESENDS,
    may_be_stale,
    read_target,
    resendable,
    rv_of,
    send_or_fallback,
    tests_rv,
)
from almtui.cluster.audit import AuditLog
from almtui.cluster.connection import ApiError, Connection, ConnectionLost

log = logging.getLogger(__name__)

_UNSET = object()
_DIFF_SKIP_METADATA = frozenset({"managedFields", "creationTimestamp", "uid", "selfLink"})


def local_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no passwd entry (containers)
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


# -- object comparison --------------------------------------------------------------------------


def _short(v: Any, limit: int = 60) -> str:
    if v is _UNSET:
        return "<none>"
    text = v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _keyed(items: list) -> dict[str, Any] | None:
    """Lists of named (containers, ports, env) or typed (conditions) items, keyed for diffing."""
    for key in ("name", "type"):
        if items and all(isinstance(x, dict) and isinstance(x.get(key), str) for x in items):
            keys = [x[key] for x in items]
            if len(set(keys)) == len(keys):
                return {k: x for k, x in zip(keys, items, strict=True)}
    return None


def _diff(a: Any, b: Any, where: str, out: list[str]) -> None:
    if a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            _diff(a.get(k, _UNSET), b.get(k, _UNSET), f"{where}.{k}" if where else str(k), out)
        return
    if isinstance(a, list) and isinstance(b, list):
        ka, kb = _keyed(a), _keyed(b)
        if ka is not None and kb is not None:
            for k in list(ka) + [k for k in kb if k not in ka]:
                _diff(ka.get(k, _UNSET), kb.get(k, _UNSET), f"{where}[{k}]", out)
            return
    out.append(f"{where}: {_short(a)} -> {_short(b)}")


def diff_objects(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, *, limit: int = 40) -> list[str]:
    """What differs between two versions of an object, spec and metadata first, e.g.
    "spec.replicas: 3 -> 5" (managedFields and other bookkeeping left out)."""
    before, after = before or {}, after or {}
    out: list[str] = []
    for section in ("spec", "metadata", "status"):
        a, b = before.get(section, _UNSET), after.get(section, _UNSET)
        if section == "metadata" and isinstance(a, dict) and isinstance(b, dict):
            a = {k: v for k, v in a.items() if k not in _DIFF_SKIP_METADATA}
            b = {k: v for k, v in b.items() if k not in _DIFF_SKIP_METADATA}
        _diff(a, b, section, out)
    for k in sorted(set(before) | set(after)):  # e.g. an Application's `operation`
        if k not in ("spec", "metadata", "status", "kind", "apiVersion"):
            _diff(before.get(k, _UNSET), after.get(k, _UNSET), k, out)
    if len(out) > limit:
        out = [*out[:limit], f"... and {len(out) - limit} more"]
    return out


def _lookup(obj: Any, path: tuple[PathElem, ...]) -> Any:
    cur = obj
    for elem in path:
        if isinstance(elem, dict):
            if not isinstance(cur, list):
                return _UNSET
            cur = next((x for x in cur if isinstance(x, dict) and all(x.get(k) == v for k, v in elem.items())), _UNSET)
        elif isinstance(elem, int):
            cur = cur[elem] if isinstance(cur, list) and -len(cur) <= elem < len(cur) else _UNSET
        else:
            cur = cur.get(elem, _UNSET) if isinstance(cur, dict) else _UNSET
        if cur is _UNSET:
            return _UNSET
    return cur


def expectation_met(obj: Mapping[str, Any], expect: list | None) -> bool:
    """Whether the re-read object shows a request's effect (any alternative fully matching)."""
    if not expect:
        return False
    for alternative in expect:
        ok = True
        for path_, want in alternative:
            got = _lookup(obj, path_)
            if want is None:
                ok = got is _UNSET or got is None or got is False
            else:
                ok = got is not _UNSET and semantic_equal(got, want)
            if not ok:
                break
        if ok:
            return True
    return False


# -- the executor -------------------------------------------------------------------------------


@dataclass
class _Run:
    """The state of one run: for partial outcomes and the audit entry."""

    sent: int = 0
    applied: int = 0
    used_fallback: bool = False
    overrides: list[str] = field(default_factory=list)
    check: CheckResult | None = None
    resent_on: list[str] = field(default_factory=list)  # resourceVersions a request was sent again on


class Executor:
    """Applies plans for one cluster context and audits every attempt."""

    def __init__(self, conn: Connection, audit: AuditLog, *, context_name: str, cluster_user: str, read_only: bool,
                 checker: Checker | None = None, settle_seconds: float = 3.0, poll_interval: float = 0.5) -> None:
        self.conn = conn
        self.audit = audit
        self.context_name = context_name
        self.cluster_user = cluster_user
        self.read_only = read_only
        self.checker = checker
        self.settle_seconds = settle_seconds
        self.poll_interval = poll_interval

    # -- public API -----------------------------------------------------------------------------

    def run(self, plan: Plan, check: CheckResult | None = None, override_errors: bool = False,
            confirmed: bool = True, overrides: Sequence[str] = ()) -> Outcome:
        """Apply `plan` (if allowed and confirmed) and return what happened; always audited once.

        check: the CheckResult the user saw; None runs the checks now. override_errors: apply even
        though the server's dry run failed (only dry-run failures can be overridden; the override
        is audited). overrides: what else the user explicitly overrode before confirming (e.g.
        blocking pre-flight findings), recorded in the audit entry. confirmed=False records a
        cancellation.
        """
        if not confirmed:
            return self.record_cancelled(plan, check)
        state = _Run(check=check, overrides=list(overrides))
        try:
            outcome = self._run(plan, check, override_errors, state)
        except BaseException as e:
            outcome = Outcome("unknown" if state.sent else "failed", f"internal error: {type(e).__name__}: {e}",
                              rv_before=plan.precondition_rv, error=repr(e))
            self._record(plan, outcome, state)
            raise
        self._record(plan, outcome, state)
        return outcome

    def record_cancelled(self, plan: Plan, check: CheckResult | None = None) -> Outcome:
        """The user saw the plan (and its checks) and declined: audited, nothing sent."""
        outcome = Outcome("cancelled", "cancelled by the user; nothing was sent", rv_before=plan.precondition_rv)
        self._record(plan, outcome, _Run(check=check))
        return outcome

    def record_refused(self, action: str, target: Target, message: str, *, plan: Plan | None = None) -> Outcome:
        """A refusal before any plan existed (a planner's ActionError): audited, nothing sent."""
        outcome = Outcome("refused", message, error=message)
        if plan is None:
            plan = Plan(action=action, target=target, requests=[], precondition_rv=None, destructive=False,
                        summary=f"{action} {target}")
        self._record(plan, outcome, _Run())
        return outcome

    def refuse(self, err: ActionError, target: Target | None = None) -> Outcome:
        """Audit a planner's ActionError (its action and target travel with it)."""
        tgt = err.target or target
        if tgt is None:
            raise ValueError("the ActionError names no target: pass one") from err
        return self.record_refused(err.action or "action", tgt, err.message)

    # -- the path -------------------------------------------------------------------------------

    def _run(self, plan: Plan, check: CheckResult | None, override: bool, state: _Run) -> Outcome:
        rv0 = plan.precondition_rv
        if self.read_only:
            return Outcome("refused", READ_ONLY, rv_before=rv0, error=READ_ONLY)
        if check is None:
            checker = self.checker or Checker(self.conn, read_only=self.read_only)
            check = state.check = checker.check(plan)
        if not check.allowed:
            if not (override and check.overridable):
                msg = "; ".join(check.refusals) or "the checks refused this action"
                return Outcome("refused", msg, rv_before=rv0, error=msg)
            state.overrides += list(check.refusals)
        if plan.noop:
            return Outcome("skipped", plan.skip_reason or "nothing to do", rv_before=rv0, rv_after=rv0)
        fresh = probe_if_not_live(self.conn, lambda: self.conn.freshness.state)
        if not fresh.is_live:
            msg = stale_refusal(fresh)
            return Outcome("refused", msg, rv_before=rv0, error=msg)
        unwritable = self.audit.check_writable()
        if unwritable:
            return Outcome("refused", f"{unwritable}: almtui does not change a cluster without an audit record",
                           rv_before=rv0, error=unwritable)
        return self._apply(plan, state)

    def _apply(self, plan: Plan, state: _Run) -> Outcome:
        rv = plan.precondition_rv
        after: dict | None = copy.deepcopy(plan.before)
        created: dict | None = None
        total = len(plan.requests)
        for i, req in enumerate(plan.requests):
            if state.used_fallback and not req.after_fallback:
                continue
            for resend in range(RESENDS + 1):
                sent_req, body, answer = self._attempt(req, rv, state)
                if not isinstance(answer, ApiError):
                    break
                cur = read_target(self.conn, plan) if may_be_stale(answer, sent_req) else None
                again = self._resend_on(plan, sent_req, rv, cur, state) if resend < RESENDS else None
                if again is None:
                    return self._refused_by_server(plan, i, sent_req, rv, answer, state, cur)
                rv, req = again
            if isinstance(answer, ConnectionLost):
                resolved, cur = self._after_lost(plan, i, sent_req, body, rv, answer, state)
                if resolved is not None:
                    return resolved
                answer = cur
            state.applied += 1
            kind = answer.get("kind")
            if sent_req.method == "POST":
                created = answer
            elif kind == plan.target.kind.kind:
                after = answer
                rv = rv_of(answer) or rv
            elif kind == "Scale":
                rv = rv_of(answer) or rv
                if after is not None:
                    after.setdefault("spec", {})["replicas"] = (answer.get("spec") or {}).get("replicas")
                    after.setdefault("metadata", {})["resourceVersion"] = rv
        if created is not None:
            md = created.get("metadata") or {}
            name = f"{md.get('namespace')}/{md.get('name')}" if md.get("namespace") else md.get("name")
            msg = f"{plan.success_message}: {md.get('name')}" if plan.success_message else f"created {name}"
            return Outcome("applied", msg, rv_before=plan.precondition_rv, rv_after=rv_of(created),
                           changed=[f"created {created.get('kind', 'object')} {name}"])
        changed = diff_objects(plan.before, after) if after is not None else []
        changed = [c for c in changed if not c.startswith("status.")] or changed
        msg = plan.success_message or f"{plan.summary}: applied"
        if total > 1 and state.used_fallback:
            msg += " (the Rollout has no status subresource: sent as one patch of the main resource)"
        if state.resent_on:
            why = ("rebuilt on the object as read again, as the reference tool does" if any(
                r.rebase is not None for r in plan.requests) else "only the status had changed since the plan")
            msg += f" (sent again on resourceVersion {state.resent_on[-1]}: {why})"
        return Outcome("applied", msg, rv_before=plan.precondition_rv, rv_after=rv, changed=changed)

    def _attempt(self, req: Request, rv: str | None,
                 state: _Run) -> tuple[Request, Any, dict | ApiError | ConnectionLost]:
        """Send `req` conditioned on `rv` (its fallback after a 404): what was sent, and the answer or error."""
        sent_req, body, answer = send_or_fallback(self._send, req, rv)
        fell_back = sent_req is not req
        state.sent += 1 + fell_back
        state.used_fallback = state.used_fallback or fell_back
        return sent_req, body, answer

    def _resend_on(self, plan: Plan, req: Request, rv: str | None, cur: dict | None,
                   state: _Run) -> tuple[str, Request] | None:
        """After a conflict (`cur`: the target as re-read then, None if the answer was no conflict): the
        resourceVersion to send on again and the request to send, when `resend.resendable` says that is
        safe. Nothing is sent again once a request of the plan has been applied."""
        if state.applied:
            return None
        again = resendable(plan, req, cur, rv)
        now = rv_of(cur)
        if again is None or now is None:
            return None
        state.resent_on.append(now)
        log.info("%s: changed since the plan (resourceVersion %s -> %s); sending the request again", plan.target,
                 rv, now)
        return now, again

    def _send(self, req: Request, body: Any) -> dict:
        answer = self.conn.request(req.method, req.path, query=req.query or None, body=body,
                                   content_type=req.content_type)
        return answer if isinstance(answer, dict) else {}

    # -- refusals, conflicts, lost answers ------------------------------------------------------

    def _partial(self, plan: Plan, i: int, state: _Run) -> str:
        if state.applied and len(plan.requests) > 1:
            return f" Request {i + 1} of {len(plan.requests)} failed after {state.applied} applied."
        return ""

    def _refused_by_server(self, plan: Plan, i: int, req: Request, rv: str | None, e: ApiError,
                           state: _Run, cur: dict | None) -> Outcome:
        """`cur`: the target as re-read after an answer that may say it moved on (`may_be_stale`)."""
        rv0 = plan.precondition_rv
        error = f"{e.status} {e.reason}: {e.message}"
        stale = e.status == 409 and e.reason != "AlreadyExists"
        if not stale and e.status == 422 and tests_rv(req):
            # a failed resourceVersion test is a conflict (upstream hides its text)
            stale = cur is not None and rv_of(cur) != rv
        if stale:
            changed = diff_objects(plan.before, cur) if cur is not None else []
            now = rv_of(cur) or "unknown"
            msg = (f"{plan.target} changed since the plan was made (resourceVersion {rv0} -> {now}); "
                   f"nothing was applied.{self._partial(plan, i, state)} Review the changes and plan again.")
            return Outcome("conflict", msg, rv_before=rv0, rv_after=rv_of(cur), changed=changed, error=error)
        msg = f"the server refused {req.method} {req.path}: {e.message or e.reason}{self._partial(plan, i, state)}"
        return Outcome("failed", msg, rv_before=rv0, rv_after=rv if state.applied else rv0, error=error)

    def _after_lost(self, plan: Plan, i: int, req: Request, body: Any, rv: str | None, err: ConnectionLost,
                    state: _Run) -> tuple[Outcome | None, dict]:
        """No answer: re-read until the request's effect shows, or the settle time is over.

        Returns (None, object) when the request took effect (the run continues with the next request),
        else (outcome, {}). Nothing is re-sent.
        """
        rv0 = plan.precondition_rv
        error = f"no answer: {err}"
        lead = f"{req.method} {req.path}: {err}."
        deadline = time.monotonic() + self.settle_seconds
        cur: dict | None = None
        reread_ok = False
        while True:
            if req.method == "POST":
                found = self._find_created(req)
                if found is not None:
                    return None, found
            else:
                try:
                    got = self.conn.get(plan.target.path)
                    reread_ok = True
                    cur = got if isinstance(got, dict) else {}
                except ApiError as e:
                    if e.not_found:
                        msg = f"{lead} Re-read: {plan.target} no longer exists; the change is not in effect."
                        return Outcome("failed", msg + self._partial(plan, i, state), rv_before=rv0,
                                       error=error), {}
                except ConnectionLost:
                    pass
                if cur is not None:
                    if expectation_met(cur, req.expect):
                        return None, cur
                    if rv_of(cur) != rv:
                        changed = diff_objects(plan.before, cur)
                        if req.expect is None:
                            msg = (f"{lead} Re-read: {plan.target} changed (resourceVersion {rv} -> {rv_of(cur)}) "
                                   "in a way that does not tell whether this request took effect; it cannot take "
                                   "effect later (it was conditioned on the old version). Check before acting again.")
                            return Outcome("unknown", msg, rv_before=rv0, rv_after=rv_of(cur), changed=changed,
                                           error=error), {}
                        msg = (f"not applied. {lead} Re-read: {plan.target} moved on to resourceVersion "
                               f"{rv_of(cur)} without this change, and the request was conditioned on {rv}, so it "
                               f"can no longer take effect.{self._partial(plan, i, state)}")
                        return Outcome("failed", msg, rv_before=rv0, rv_after=rv_of(cur), changed=changed,
                                       error=error), {}
            if time.monotonic() >= deadline:
                break
            time.sleep(self.poll_interval)
        if req.method == "POST":
            msg = (f"{lead} The new object was not found within {self.settle_seconds:g}s; it may still be created. "
                   f"Look for the label {ACTION_ID_LABEL} before starting another one.")
        elif not reread_ok:
            msg = f"{lead} The object could not be re-read either: whether the change took effect is unknown."
        else:
            msg = (f"{lead} Re-read for {self.settle_seconds:g}s: {plan.target} is still at resourceVersion {rv}, "
                   "so the change has not taken effect yet. The request may still arrive; being conditioned on that "
                   "version, it can take effect at most once. Re-read before trying again.")
        return Outcome("unknown", msg + self._partial(plan, i, state), rv_before=rv0,
                       rv_after=rv_of(cur), error=error), {}

    def _find_created(self, req: Request) -> dict | None:
        action_id = (((req.body or {}).get("metadata") or {}).get("labels") or {}).get(ACTION_ID_LABEL)
        if not action_id:
            return None
        try:
            found = self.conn.get(req.path, {"labelSelector": f"{ACTION_ID_LABEL}={action_id}"})
        except (ApiError, ConnectionLost):
            return None
        items = (found or {}).get("items") or []
        if not items:
            return None
        obj = dict(items[0])
        obj.setdefault("kind", (req.body or {}).get("kind"))
        return obj

    # -- audit ----------------------------------------------------------------------------------

    def _record(self, plan: Plan, outcome: Outcome, state: _Run) -> None:
        entry = {
            "local_user": local_user(),
            "context": self.context_name,
            "cluster_user": self.cluster_user,
            "action": plan.action,
            "target": plan.target.as_dict(),
            "summary": plan.summary,
            "destructive": plan.destructive,
            "resource_version_before": outcome.rv_before if outcome.rv_before is not None else plan.precondition_rv,
            "resource_version_after": outcome.rv_after,
            "requests": [_audit_request(r) for r in plan.requests],
            "access": [list(a) for a in state.check.access] if state.check else [],
            "dry_run": _dry_run_summary(state.check),
            "warnings": list(plan.warnings),
            "outcome": outcome.status,
            "message": outcome.message,
            "changed": list(outcome.changed),
            "error": outcome.error,
            "overrides": list(state.overrides),
            "requests_sent": state.sent,
            "resent_on": list(state.resent_on),
        }
        try:
            self.audit.append(entry)
        except OSError as e:
            outcome.audit_error = f"the audit entry could not be written to {self.audit.path}: {e.strerror or e}"
            log.error("%s", outcome.audit_error)


def _audit_request(req: Request) -> dict:
    d = req.as_dict()
    body = d.get("body")
    if req.method == "PUT" and isinstance(body, dict):  # the whole object: its status is not the change
        body = dict(body)
        body.pop("status", None)
        d["body"] = body
    return d


def _dry_run_summary(check: CheckResult | None) -> list[dict]:
    out: list[dict] = []
    for d in check.dry_run if check else ():
        if isinstance(d, str):
            out.append({"ok": False, "error": d})
        else:
            md = d.get("metadata") or {}
            out.append({"ok": True, "kind": d.get("kind"), "name": md.get("name") or md.get("generateName"),
                        "resourceVersion": md.get("resourceVersion"), "generation": md.get("generation")})
    return out
