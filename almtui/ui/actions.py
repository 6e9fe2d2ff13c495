"""The console's one way to change a cluster: plan -> checks -> pre-flight -> confirm -> apply -> audit.

Why one runner (`app.actions`): every mutation key of every screen must behave the same — the exact
requests shown before anything is sent, refusals explained on screen and audited, the outcome
reported. Screens only say *what* (`start(action, plural, namespace, name, params=...)`); the
runner does the rest:

* a thread worker plans (an ActionError is audited as refused and shown), runs the checks (read-only,
  freshness, RBAC, server dry run) and the pre-flight checks; a refusal that cannot be overridden
  (read-only, RBAC, stale cluster) is handed to the executor, which audits it without sending
  anything, and shown; a plan with nothing to do is audited as skipped;
* otherwise the ConfirmDialog shows it all. No worker runs while the dialog is open (so a test's
  `settle()` never waits on the operator); the dialog's answer starts a thread at once that applies
  (or audits the cancellation) and reports the outcome (`busy` stays set until it has).

Which actions need the object's name typed (protected namespaces, `Config.protected_namespaces`):
the destructive ones as the planner marks them (`Plan.destructive`: scaling down, `rollout undo`,
`promote --full`, `abort`, lowering an HPA's maxReplicas, cancelling a PipelineRun, sync with
prune, Argo CD rollback) except the ways back to a known-good state — `undo`, Argo CD `rollback`
and Argo Rollouts `abort` — which must stay fast in an incident. An Argo CD Application counts as
protected when its destination namespace is.

Keys the user may not use: `permission()` answers (cached ~60 s per (verb, plural, namespace, name,
subresource)), `refresh_permissions(screen, {binding_id: (verb, plural, ns, name, sub)})` marks
the denied ones on the screen (the key bar dims them, `?` shows why), and a key handler calls
`guard(...)` / `guard_key(...)`, which explains a refusal and returns False. Bindings stay enabled
so that pressing one can explain itself.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.dom import DOMNode
from textual.worker import Worker

from almtui.cluster import kinds as K
from almtui.cluster.actions.checks import READ_ONLY, READ_VERBS
from almtui.cluster.actions.model import ActionError, CheckResult, Outcome, Plan, Target
from almtui.ui.dialogs.confirm import ConfirmDialog, Decision, FindingLine, RefusalDialog
from almtui.ui.dialogs.forms import FormScreen, HPAPolicyForm, ImageForm, RevisionPicker, ScaleForm
from almtui.ui.keys import disabled_keys

if TYPE_CHECKING:
    from almtui.cluster.service import ClusterService
    from almtui.ui.app import AlmtuiApp

log = logging.getLogger(__name__)

PERMISSION_TTL = 60.0
# destructive, but the way back to a known-good state: no typed name even in a protected namespace
ROLLBACK_ACTIONS = frozenset({"undo", "rollback", "abort"})
PREFLIGHT_KINDS = ("workload", "promotion", "canary")
HISTORY = 50
ACTION_TITLES: dict[str, str] = {
    "set_image": "Set image", "set_requests": "Set requests", "pause": "Pause", "resume": "Resume",
    "restart": "Restart", "scale": "Scale", "undo": "Roll back", "promote": "Promote",
    "promote_full": "Promote fully", "abort": "Abort", "retry": "Retry", "hpa_update": "Change autoscaler",
    "rerun": "Re-run", "cancel": "Cancel run", "sync": "Sync", "rollback": "Roll back app",
    "promote_version": "Promote version",
}
PermissionKey = tuple[str, str, str | None, str | None, str]


def default_title(action: str, name: str) -> str:
    return f"{ACTION_TITLES.get(action, action)} {name}"


@dataclass
class Prepared:
    """One action between its checks and the operator's answer."""

    service: ClusterService
    action: str
    title: str
    plan: Plan
    check: CheckResult
    findings: list[FindingLine] = field(default_factory=list)
    protected: bool = False
    require_name: bool = False
    on_done: Callable[[Outcome], None] | None = None


@dataclass(frozen=True)
class Finished:
    """What happened to one started action (newest last in `ActionRunner.history`)."""

    action: str
    title: str
    outcome: Outcome
    reasons: tuple[str, ...] = ()


def _target(plural: str, namespace: str | None, name: str) -> Target:
    kind = K.by_plural(plural)
    return Target(kind, namespace if kind.namespaced else None, name)


def _change(action: str, params: Mapping[str, Any]) -> dict | None:
    """What a workload pre-flight check is told about the change (None: a template change)."""
    if action == "set_image":
        return {"images": dict(params.get("images") or {})}
    if action == "scale":
        return {"replicas": int(params["replicas"])}
    return None


class ActionRunner:
    """`app.actions`: start actions, ask for their parameters, answer "may I?" for keys."""

    def __init__(self, app: AlmtuiApp) -> None:
        self.app = app
        self.busy = False
        self.history: list[Finished] = []
        self._perm: dict[PermissionKey, tuple[float, bool, str]] = {}
        self._perm_service: Any = None
        self._lock = threading.Lock()
        self.clock: Callable[[], float] = time.monotonic

    @property
    def last(self) -> Finished | None:
        return self.history[-1] if self.history else None

    # -- the action path ----------------------------------------------------------------------

    def start(self, action: str, plural: str, namespace: str | None, name: str, *,
              params: Mapping[str, Any] | None = None, preflight: str | None = None, title: str | None = None,
              on_done: Callable[[Outcome], None] | None = None) -> Worker | None:
        """Plan, check and confirm `action` on one object (see the module docstring); None if another
        action is still being prepared or confirmed. `on_done(outcome)` runs on the UI thread."""
        if preflight is not None and preflight not in PREFLIGHT_KINDS:
            raise ValueError(f"preflight must be one of {PREFLIGHT_KINDS} or None, not {preflight!r}")
        if self.busy:
            self.app.notify("another action is still open: finish or cancel it first", title="Action",
                            severity="warning")
            return None
        self.busy = True
        svc = self.app.service
        work = partial(self._prepare, svc, action, plural, namespace, name, dict(params or {}), preflight,
                       title or default_title(action, name), on_done)
        return self.app.run_worker(work, thread=True, group="action", exit_on_error=False, name=f"plan {action}")

    def start_after(self, params: Awaitable[Mapping[str, Any] | None], action: str, plural: str,
                    namespace: str | None, name: str, *, preflight: str | None = None, title: str | None = None,
                    extra: Mapping[str, Any] | None = None,
                    on_done: Callable[[Outcome], None] | None = None) -> asyncio.Future[Any]:
        """When a form (`ask_*`) answers, start the action with its answer (nothing if cancelled).

        No worker waits on the operator meanwhile (a callback on the form's future), so "wait for
        the workers" in tests and shutdown never hangs on an open form."""
        def answered(fut: asyncio.Future[Any]) -> None:
            if fut.cancelled() or fut.exception() is not None:
                return
            got = fut.result()
            if got is not None:
                self.start(action, plural, namespace, name, params={**dict(extra or {}), **dict(got)},
                           preflight=preflight, title=title, on_done=on_done)
        fut = asyncio.ensure_future(params)
        fut.add_done_callback(answered)
        return fut

    def _prepare(self, svc: ClusterService, action: str, plural: str, namespace: str | None, name: str,
                 params: dict[str, Any], preflight: str | None, title: str,
                 on_done: Callable[[Outcome], None] | None) -> None:
        """Worker thread: everything up to the confirmation. Exactly one audit entry on every refusal."""
        handed_over = False
        where = (namespace, f"{K.by_plural(plural).kind if plural in K.BY_PLURAL else plural} {name}")
        try:
            try:
                plan = svc.plan(action, plural, namespace, name, **params)
            except ActionError as err:
                if err.target is None:
                    err.target = _target(plural, namespace, name)
                err.action = err.action or action
                outcome = svc.refuse(err)
                self._ui(self._refused, svc, action, title, where, [err.message], outcome, on_done)
                handed_over = True
                return
            except Exception as e:  # a bad parameter from a screen: still audited, never sent
                log.exception("planning %s failed", action)
                msg = f"cannot plan {action}: {type(e).__name__}: {e}"
                if plural in K.BY_PLURAL:
                    outcome = svc.executor.record_refused(action, _target(plural, namespace, name), msg)
                else:  # no Target to audit against (a screen's bug): shown, logged
                    outcome = Outcome("refused", msg, error=msg)
                self._ui(self._refused, svc, action, title, where, [msg], outcome, on_done)
                handed_over = True
                return
            where = (plan.target.namespace, f"{plan.target.kind.kind} {plan.target.name}")
            try:
                check = svc.check(plan)
            except Exception as e:
                log.exception("checking %s failed", action)
                msg = f"the checks could not run: {type(e).__name__}: {e}"
                outcome = svc.executor.record_refused(plan.action, plan.target, msg, plan=plan)
                self._ui(self._refused, svc, action, title, where, [msg], outcome, on_done)
                handed_over = True
                return
            if plan.noop or (not check.allowed and not check.overridable):
                # the executor refuses (read-only, RBAC, stale) or skips: audited, nothing sent
                outcome = svc.apply(plan, check)
                reasons = list(check.refusals) or [outcome.message]
                if outcome.status == "refused":
                    self._ui(self._refused, svc, action, title, where, reasons, outcome, on_done)
                else:
                    prep = Prepared(svc, action, title, plan, check, on_done=on_done)
                    self._ui(self._finished, prep, outcome)
                handed_over = True
                return
            findings = self._findings(svc, preflight, action, plural, namespace, name, params)
            protected = self._protected(plan)
            prep = Prepared(svc, action, title, plan, check, findings, protected,
                            protected and plan.destructive and plan.action not in ROLLBACK_ACTIONS, on_done)
            self._ui(self._confirm, prep)
            handed_over = True
        except Exception as e:  # a bug below the UI: say so (the executor audited anything it attempted)
            log.exception("preparing %s failed", action)
            msg = f"internal error: {type(e).__name__}: {e}"
            self._ui(self._refused, svc, action, title, where, [msg], Outcome("failed", msg, error=msg), on_done)
            handed_over = True
        finally:
            if not handed_over:
                self._ui(self._idle)

    def _findings(self, svc: ClusterService, kind: str | None, action: str, plural: str, namespace: str | None,
                  name: str, params: Mapping[str, Any]) -> list[FindingLine]:
        if kind is None or namespace is None:
            return []
        try:
            if kind == "workload":
                found = svc.preflight(plural, namespace, name, _change(action, params))
            elif kind == "promotion":
                source = (params["source_plural"], params["source_namespace"], params["source_name"])
                found = svc.preflight_promotion(source, (plural, namespace, name))
            else:
                found = svc.preflight_rollout_promote(namespace, name, full=action == "promote_full",
                                                      red=self._red(svc, namespace, name))
        except Exception as e:  # findings are advice: their absence is said, not hidden
            log.exception("pre-flight checks for %s failed", action)
            return [FindingLine("preflight-unavailable", "warning", "Pre-flight checks did not run",
                                f"{type(e).__name__}: {e}")]
        return [FindingLine(f.code, f.severity, f.title, f.reason) for f in found]

    @staticmethod
    def _red(svc: ClusterService, namespace: str, name: str) -> Any:
        """(canary, stable) request metrics for a canary promotion, or None without Prometheus."""
        metrics = getattr(svc, "metrics", None)
        obj = svc.get("rollouts", namespace, name)
        if metrics is None or obj is None:
            return None
        status = obj.get("status") or {}
        canary, stable = status.get("currentPodHash"), status.get("stableRS")
        if not canary or not stable or canary == stable:
            return None
        from almtui.cluster.views.common import app_name
        try:
            return metrics.canary_vs_stable(namespace, app_name(obj), canary, stable)
        except Exception:
            log.exception("canary metrics for %s/%s failed", namespace, name)
            return None

    def _protected(self, plan: Plan) -> bool:
        check = getattr(self.app.config, "is_protected", None)
        if not callable(check):
            return False
        spaces = [plan.target.namespace]
        if plan.target.kind.kind == "Application":
            spaces.append((((plan.before or {}).get("spec") or {}).get("destination") or {}).get("namespace"))
        return any(bool(check(ns)) for ns in spaces if ns)

    def _ui(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            self.app.call_from_thread(fn, *args)
        except RuntimeError:  # the app is gone (shutting down): nothing left to show
            log.debug("app not running; dropped %s", getattr(fn, "__name__", fn))

    # -- UI thread ----------------------------------------------------------------------------

    def _idle(self) -> None:
        self.busy = False

    def _confirm(self, prep: Prepared) -> None:
        try:
            dialog = ConfirmDialog(prep.plan, prep.check, prep.findings, context=prep.service.context.name,
                                   title=prep.title, protected=prep.protected, require_name=prep.require_name,
                                   on_decided=partial(self._decided, prep))
            self.app.push_screen(dialog)
        except Exception:  # nothing was shown, so nothing may be sent: audit it as cancelled
            log.exception("cannot show the confirmation for %s", prep.action)
            self._decided(prep, None)

    def _decided(self, prep: Prepared, decision: Decision | None) -> None:
        """Apply (or audit the cancellation) in a thread started right here.

        Not a Textual worker: a worker's thread starts only once the app's loop runs its task, after
        the dialog's dismissal has been painted; that hop cost 4-35 ms of a confirmed rollback's
        keypress-to-request time in make bench. Not a daemon: like the executor threads workers
        use, the interpreter waits for it at exit, so a request in flight still gets its audit entry.
        """
        if decision is None:
            work, name = partial(self._cancel, prep), f"cancel {prep.action}"
        else:
            work, name = partial(self._apply, prep, decision), f"apply {prep.action}"
        threading.Thread(target=work, name=name, daemon=False).start()

    def _apply(self, prep: Prepared, decision: Decision) -> None:
        try:
            outcome = prep.service.apply(prep.plan, prep.check, override=decision.override_dry_run,
                                         overrides=decision.overrides)
        except Exception as e:  # the executor audited it ("failed"/"unknown") before raising
            log.exception("applying %s failed", prep.action)
            outcome = Outcome("unknown", f"internal error while applying: {type(e).__name__}: {e}")
        self._ui(self._finished, prep, outcome)

    def _cancel(self, prep: Prepared) -> None:
        try:
            outcome = prep.service.cancel(prep.plan, prep.check)
        except Exception as e:
            log.exception("recording the cancellation of %s failed", prep.action)
            outcome = Outcome("cancelled", f"cancelled; nothing was sent (audit failed: {e})")
        self._ui(self._finished, prep, outcome)

    def _remember(self, action: str, title: str, outcome: Outcome, reasons: tuple[str, ...] = ()) -> None:
        self.history.append(Finished(action, title, outcome, reasons))
        del self.history[:-HISTORY]

    def _refused(self, svc: ClusterService, action: str, title: str, where: tuple[str | None, str],
                 reasons: list[str], outcome: Outcome, on_done: Callable[[Outcome], None] | None) -> None:
        self.busy = False
        self._remember(action, title, outcome, tuple(reasons))
        self.app.push_screen(RefusalDialog(title=title, context=svc.context.name, namespace=where[0],
                                           object_text=where[1], reasons=reasons, status=outcome.status))
        self._after(outcome, on_done)

    def _finished(self, prep: Prepared, outcome: Outcome) -> None:
        self.busy = False
        self._remember(prep.action, prep.title, outcome)
        if outcome.status == "applied":
            changed = "; ".join(outcome.changed[:4])
            self.app.notify(f"{outcome.message}{': ' + changed if changed else ''}", title=prep.title)
        elif outcome.status == "skipped":
            self.app.notify(f"nothing to do: {outcome.message}", title=prep.title)
        elif outcome.status == "cancelled":
            self.app.notify("cancelled; nothing was sent", title=prep.title)
        else:
            target = prep.plan.target
            self.app.push_screen(RefusalDialog(
                title=prep.title, context=prep.service.context.name, namespace=target.namespace,
                object_text=f"{target.kind.kind} {target.name}", reasons=[outcome.message], status=outcome.status,
                details=outcome.changed, protected=prep.protected))
        self._after(outcome, prep.on_done)

    def _after(self, outcome: Outcome, on_done: Callable[[Outcome], None] | None) -> None:
        if outcome.audit_error:
            self.app.notify(outcome.audit_error, title="Audit log", severity="error")
        if on_done is not None:
            try:
                on_done(outcome)
            except Exception:
                log.exception("on_done callback failed")

    # -- forms --------------------------------------------------------------------------------

    def _ask(self, form: FormScreen) -> asyncio.Future[dict | None]:
        fut: asyncio.Future[dict | None] = asyncio.get_running_loop().create_future()
        form.result_future = fut
        self.app.push_screen(form)
        return fut

    def _none(self, why: str) -> asyncio.Future[dict | None]:
        self.app.notify(why, title="Action", severity="error")
        fut: asyncio.Future[dict | None] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    def ask_image(self, view: Any) -> asyncio.Future[dict | None]:
        """New images for a Deployment/Rollout view: {"images": {container: image}} (changed ones), or None.
        Await it from a worker (`@work` async) or pass it to `start_after`."""
        plural = "deployments" if view.kind == "Deployment" else "rollouts"
        obj = self.app.service.get(plural, view.namespace, view.name)
        if obj is None:
            return self._none(f"{view.kind} {view.namespace}/{view.name} is gone")
        return self._ask(ImageForm(obj))

    def ask_scale(self, view: Any) -> asyncio.Future[dict | None]:
        """A replica count for a Deployment/Rollout view: {"replicas": n}, or None."""
        return self._ask(ScaleForm(view.kind, view.namespace, view.name, view.desired, hpa=getattr(view, "hpa", None)))

    def ask_revision(self, plural: str, namespace: str, name: str) -> asyncio.Future[dict | None]:
        """A revision to roll back to: {"to_revision": n}, or None."""
        return self._ask(RevisionPicker(self.app.service, plural, namespace, name, clock=self.app.clock))

    def ask_hpa_policy(self, hpa_view: Any) -> asyncio.Future[dict | None]:
        """New HPA policy, as `hpa_update` params (only what changed), or None; with a live what-if."""
        obj = self.app.service.get("horizontalpodautoscalers", hpa_view.namespace, hpa_view.name)
        if obj is None:
            return self._none(f"HorizontalPodAutoscaler {hpa_view.namespace}/{hpa_view.name} is gone")
        return self._ask(HPAPolicyForm(obj, self.app.service, clock=self.app.clock))

    # -- permissions for keys -----------------------------------------------------------------

    def cached_permission(self, verb: str, plural: str, namespace: str | None, name: str | None = None,
                          subresource: str = "") -> tuple[bool, str] | None:
        """The cached answer, or None (never does I/O: safe on the UI thread)."""
        svc = self.app.service
        if svc.read_only and verb not in READ_VERBS:
            return False, READ_ONLY
        key: PermissionKey = (verb, plural, namespace, name, subresource)
        with self._lock:
            if self._perm_service is not svc:
                self._perm.clear()
                self._perm_service = svc
            hit = self._perm.get(key)
        if hit is None or self.clock() - hit[0] >= PERMISSION_TTL:
            return None
        return hit[1], hit[2]

    def permission(self, verb: str, plural: str, namespace: str | None, name: str | None = None,
                   subresource: str = "") -> tuple[bool, str]:
        """(allowed, reason) for a key's action; cached ~60 s. May ask the API server
        (SelfSubjectAccessReview) on a miss: call it from a worker, or use `cached_permission`."""
        hit = self.cached_permission(verb, plural, namespace, name, subresource)
        if hit is not None:
            return hit
        svc = self.app.service
        try:
            allowed, reason = svc.can(verb, plural, namespace, name, subresource)
        except Exception as e:  # an unknown plural, a dead link: not allowed, not cached
            return False, f"cannot check permissions: {e}"
        if reason.startswith("cannot check permissions"):
            return allowed, reason  # an error answer: ask again next time
        with self._lock:
            if self._perm_service is svc:
                self._perm[(verb, plural, namespace, name, subresource)] = (self.clock(), allowed, reason)
        return allowed, reason

    def forget_permissions(self) -> None:
        with self._lock:
            self._perm.clear()

    def refresh_permissions(self, screen: DOMNode,
                            keys: Mapping[str, tuple[str, str, str | None, str | None, str]]) -> Worker:
        """In a worker: check each binding id's (verb, plural, namespace, name, subresource) and mark
        the denied ones disabled on `screen` (key bar dimmed, reason in help)."""
        wanted = dict(keys)

        def work() -> None:
            reasons = {}
            for binding_id, spec in wanted.items():
                allowed, reason = self.permission(*spec)
                if not allowed:
                    reasons[binding_id] = reason or "not allowed"
            self._ui(self.mark_disabled, screen, reasons)
        return self.app.run_worker(work, thread=True, group="permissions", exit_on_error=False,
                                   name="permissions")

    def mark_disabled(self, screen: DOMNode, reasons: Mapping[str, str]) -> None:
        """Show these binding ids as unavailable on `screen`, with why (replaces the previous marks)."""
        current = dict(disabled_keys(screen))
        new = dict(reasons)
        if current != new:
            screen.disabled_keys = new  # type: ignore[attr-defined]
            refresh = getattr(screen, "refresh_bindings", None)
            if callable(refresh):
                refresh()

    def guard(self, verb: str, plural: str, namespace: str | None, name: str | None = None,
              subresource: str = "") -> bool:
        """For a key handler: False (and the reason on screen) when the user may not do this.

        Never blocks: without a cached answer it returns True — `start()` runs the full checks and
        refuses (audited, on screen) — and warms the cache in the background for the key bar."""
        hit = self.cached_permission(verb, plural, namespace, name, subresource)
        if hit is None:
            spec = (verb, plural, namespace, name, subresource)
            self.app.run_worker(partial(self.permission, *spec), thread=True, group="permissions",
                                exit_on_error=False, name="permission")
            return True
        allowed, reason = hit
        if not allowed:
            self.app.notify(f"not allowed: {reason or 'permission denied'}", title="Not allowed", severity="warning")
        return allowed

    def guard_key(self, screen: DOMNode, binding_id: str) -> bool:
        """For a key handler: False (with the reason on screen) if `screen` marked this key unavailable."""
        reason = disabled_keys(screen).get(binding_id)
        if reason is None:
            return True
        self.app.notify(f"not allowed: {reason}", title="Not allowed", severity="warning")
        return False
