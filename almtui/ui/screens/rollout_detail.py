"""One Deployment or Argo Rollout in depth: what `kubectl argo rollouts get rollout --watch` shows.

Summary (phase, strategy, step i/n with what the step does, SetWeight/ActualWeight, replicas,
images, the status message), the revision tree (revisions -> ReplicaSets with their roles ->
pods), canary-against-stable RED metrics with sparklines, conditions and recent events.

Live: this is a data screen (BaseScreen), so watch events refresh it like the list; the tree
updates in place row by row. RED metrics are polled in a worker every RED_INTERVAL seconds
(Prometheus is not watched); without a metrics source, or without data, they read "not
verified". The action keys are the list's (RolloutActions), acting on this object; `l` opens
the logs of the pod under the cursor (or of the newest version's first pod).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static

from almtui.cluster import views as V
from almtui.cluster.views.common import age as age_of
from almtui.cluster.views.common import d, dicts, lst, s
from almtui.ui import keys
from almtui.ui.sanitize import sanitize
from almtui.ui.screens.base import BaseScreen, FilterBar
from almtui.ui.status import SYMBOLS, Tone, fmt_age, tone_of
from almtui.ui.widgets.rollout_table import progress_cell, strategy_text
from almtui.ui.widgets.rollout_tree import RolloutTree, tree_columns
from almtui.ui.widgets.sparkline_red import REDLine, REDPanel
from almtui.ui.widgets.static_update import update_static
from almtui.ui.widgets.table import row_key

if TYPE_CHECKING:
    from almtui.cluster.service import ClusterService

RED_INTERVAL = 10.0   # seconds between RED polls while the detail view is shown
EVENT_LIMIT = 12
NO_METRICS = "not verified: no metrics source (Prometheus not configured or not found)"
PLURALS = {"Deployment": "deployments", "Rollout": "rollouts"}


# -- the action keys, shared by the list and the detail view ------------------------------------

PermissionSpec = tuple[str, str, str | None, str | None, str]
AUDIT_NAMES = {"set_image": "set-image", "promote_full": "promote-full"}  # as the planner names them


def permission_specs(view: V.RolloutView | None) -> dict[str, PermissionSpec]:
    """What RBAC must allow for each key on this row (binding id -> verb, plural, namespace, name,
    subresource), namespace-wide so that moving the cursor asks again only in another namespace;
    `start()` still checks the object itself. Keys that do not apply to the kind are left out."""
    if view is None:
        return {}
    plural, ns = PLURALS[view.kind], view.namespace
    specs: dict[str, PermissionSpec] = {
        "rollouts.deploy": ("update" if view.kind == "Rollout" else "patch", plural, ns, None, ""),
        "rollouts.pause": ("patch", plural, ns, None, ""),
        "rollouts.undo": ("patch", plural, ns, None, ""),
        "rollouts.undo_to": ("patch", plural, ns, None, ""),
        "rollouts.restart": ("patch", plural, ns, None, ""),
        "rollouts.scale": ("patch", plural, ns, None, "scale"),
        "rollouts.logs": ("get", "pods", ns, None, "log"),
    }
    if view.kind == "Rollout":
        for key in ("rollouts.promote", "rollouts.promote_full", "rollouts.abort", "rollouts.retry"):
            specs[key] = ("patch", plural, ns, None, "status")
    return specs


class RolloutActions:
    """The Rollouts keys. Subclasses provide `target_view()`; every change goes through app.actions.

    Keys that act at once (pause, promote, abort, retry, undo, restart) call `start()` without a
    `guard()` first, on purpose: a key the user may not use (read-only, RBAC, stale data) then
    goes through the same checks, so its refusal is shown in the refusal dialog *and* audited.
    Keys that open a form first (d, s, U) are guarded, so nobody fills in a form that cannot be
    sent; a refusal there is audited too (`_refuse`). The key bar dims the keys RBAC denies
    (`permission_specs`). Keys that do not apply to the selected kind say why (`p` on a Deployment).
    """

    app: Any

    def target_view(self) -> V.RolloutView | None:  # pragma: no cover - overridden
        return None

    # -- helpers ------------------------------------------------------------------------------

    def _selected(self, *, rollout_only: str = "") -> V.RolloutView | None:
        view = self.target_view()
        if view is None:
            self.app.notify("no Deployment or Rollout selected", severity="warning")
            return None
        if rollout_only and view.kind != "Rollout":
            self.app.notify(f"{rollout_only} applies to Argo Rollouts only; {view.namespace}/{view.name} is a "
                            f"{view.kind} (d deploys an image, u rolls back, space pauses)",
                            title="Not applicable", severity="warning")
            return None
        return view

    def _start(self, action: str, view: V.RolloutView, *, params: dict | None = None,
               preflight: str | None = None, title: str | None = None) -> None:
        self.app.actions.start(action, PLURALS[view.kind], view.namespace, view.name, params=params,
                               preflight=preflight, title=title)

    def _form(self, action: str, view: V.RolloutView, verb: str, subresource: str, ask: Any, *,
              preflight: str | None = None, title: str | None = None) -> None:
        """Guard, then the form (`ask()` gives the awaitable), then start with its answer."""
        actions, plural = self.app.actions, PLURALS[view.kind]
        if not actions.guard(verb, plural, view.namespace, view.name, subresource):
            self._refuse(action, view, verb, subresource)
            return
        actions.start_after(ask(), action, plural, view.namespace, view.name, preflight=preflight, title=title)

    def _refuse(self, action: str, view: V.RolloutView, verb: str, subresource: str) -> None:
        """Audit a key the guard refused (the guard already said why on screen); nothing is sent."""
        from almtui.cluster import kinds as K
        from almtui.cluster.actions.model import ActionError, Target

        plural = PLURALS[view.kind]
        hit = self.app.actions.cached_permission(verb, plural, view.namespace, view.name, subresource)
        reason = (hit[1] if hit else "") or "not allowed"
        target = Target(K.by_plural(plural), view.namespace, view.name)
        err = ActionError(reason, action=AUDIT_NAMES.get(action, action), target=target)
        service = self.app.service
        self.app.run_worker(lambda: service.refuse(err), thread=True, group="audit", exit_on_error=False)

    def _spec(self, view: V.RolloutView) -> dict:
        obj = self.app.service.get(PLURALS[view.kind], view.namespace, view.name) or {}
        return d(obj, "spec")

    # -- the keys -----------------------------------------------------------------------------

    def action_deploy(self) -> None:
        """`d`: new image(s) in a form, then set_image with the workload pre-flight."""
        view = self._selected()
        if view is not None:
            self._form("set_image", view, "update" if view.kind == "Rollout" else "patch", "",
                       lambda: self.app.actions.ask_image(view), preflight="workload",
                       title=f"Deploy {view.namespace}/{view.name}")

    def action_pause_resume(self) -> None:
        """`space`: pause (spec.paused) or resume; a canary held by a pause step is promoted with `p`."""
        view = self._selected()
        if view is None:
            return
        paused = self._spec(view).get("paused") is True
        if not paused and view.kind == "Rollout" and view.paused:
            self.app.notify(f"{view.namespace}/{view.name} is held by a pause step, not paused by hand: "
                            "p promotes to the next step, P promotes fully", title="Paused at a step")
            return
        self._start("resume" if paused else "pause", view)

    def action_promote(self) -> None:
        """`p`: promote one step (kubectl argo rollouts promote), with the canary pre-flight."""
        view = self._selected(rollout_only="promote (p)")
        if view is not None:
            self._start("promote", view, preflight="canary")

    def action_promote_full(self) -> None:
        """`P`: skip the remaining steps (promote --full), with the canary pre-flight."""
        view = self._selected(rollout_only="full promotion (P)")
        if view is not None:
            self._start("promote_full", view, preflight="canary")

    def action_abort(self) -> None:
        """`a`: abort the update: traffic back to stable, the canary scaled down."""
        view = self._selected(rollout_only="abort (a)")
        if view is not None:
            self._start("abort", view)

    def action_retry(self) -> None:
        """`t`: retry an aborted update."""
        view = self._selected(rollout_only="retry (t)")
        if view is None:
            return
        if not view.aborted:
            self.app.notify(f"{view.namespace}/{view.name} is not aborted: nothing to retry", title="Retry")
            return
        self._start("retry", view)

    def action_undo(self) -> None:
        """`u`: roll back to the previous revision (kubectl rollout undo / argo rollouts undo)."""
        view = self._selected()
        if view is not None:
            self._start("undo", view, params={"to_revision": 0}, title=f"Roll back {view.namespace}/{view.name}")

    def action_undo_to(self) -> None:
        """`U`: pick a revision, then roll back to it."""
        view = self._selected()
        if view is not None:
            self._form("undo", view, "patch", "",
                       lambda: self.app.actions.ask_revision(PLURALS[view.kind], view.namespace, view.name),
                       title=f"Roll back {view.namespace}/{view.name}")

    def action_restart(self) -> None:
        """`R`: restart the pods (kubectl rollout restart / argo rollouts restart)."""
        view = self._selected()
        if view is not None:
            self._start("restart", view)

    def action_scale(self) -> None:
        """`s`: replicas in a form, then a patch of the scale subresource."""
        view = self._selected()
        if view is not None:
            self._form("scale", view, "patch", "scale", lambda: self.app.actions.ask_scale(view),
                       title=f"Scale {view.namespace}/{view.name}")

    def action_logs(self) -> None:
        """`l`: the logs of the chosen pod (see `log_pod`)."""
        view = self._selected()
        if view is None:
            return
        pod = self.log_pod(view)
        if pod is None:
            self.app.notify(f"{view.namespace}/{view.name} has no pods", title="Logs", severity="warning")
            return
        if not self.app.actions.guard("get", "pods", pod.namespace, pod.name, "log"):
            return
        from almtui.ui.screens.logs import LogScreen  # the action UI's log viewer

        self.app.push_screen(LogScreen(pod.namespace, pod.name))

    def log_pod(self, view: V.RolloutView) -> V.PodView | None:
        """The pod `l` shows: the newest revision's first pod (the canary during a canary)."""
        return next((rs.pods[0] for rs in view.replicasets if rs.pods), None)

    # -- dimmed keys ----------------------------------------------------------------------------

    def refresh_key_permissions(self) -> None:
        """Ask (in a worker) which keys RBAC denies on the selected row, when that has changed."""
        specs = permission_specs(self.target_view())
        if specs != getattr(self, "_asked_permissions", None):
            self._asked_permissions = specs
            if specs:
                self.app.actions.refresh_permissions(self, specs)


# -- the detail view ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EventLine:
    age: float | None
    type: str
    reason: str
    object: str
    message: str
    count: int


@dataclass(frozen=True)
class DetailData:
    view: V.RolloutView | None
    steps: tuple[str, ...]
    events: tuple[EventLine, ...]
    now: float  # when the ages were computed


@dataclass(frozen=True)
class REDTargets:
    """What the RED panel compares: a title and (label, pod template hash or None for the whole app)."""

    title: str
    namespace: str
    app: str
    versions: tuple[tuple[str, str | None], ...]


class REDFetched(Message):
    def __init__(self, targets: REDTargets, lines: list[REDLine], note: str) -> None:
        super().__init__()
        self.targets, self.lines, self.note = targets, lines, note


def describe_step(step: Any) -> str:
    """A canary step in a few words: "setWeight 25%", "pause (until promoted)", "pause 30s", "analysis x"."""
    if not isinstance(step, dict):
        return "?"
    if "setWeight" in step:
        return f"setWeight {s(step, 'setWeight')}%"
    if "pause" in step:
        duration = s(d(step, "pause"), "duration")
        return f"pause {duration}" if duration else "pause (until promoted)"
    if "analysis" in step:
        names = [s(t, "templateName") for t in dicts(d(step, "analysis"), "templates")]
        return "analysis " + ",".join(n for n in names if n) if names else "analysis"
    if "setCanaryScale" in step:
        return "setCanaryScale"
    if "experiment" in step:
        return "experiment"
    return next(iter(step), "?")


def red_targets(view: V.RolloutView) -> REDTargets:
    """Canary against stable (preview against active, new against old) while two versions run; else the app."""
    ns, app = view.namespace, view.app
    if view.kind == "Rollout" and view.strategy == "BlueGreen":
        if view.preview_hash and view.active_hash and view.preview_hash != view.active_hash:
            return REDTargets("Preview vs active", ns, app, (("preview", view.preview_hash),
                                                              ("active", view.active_hash)))
    elif view.kind == "Rollout":
        if view.current_hash and view.stable_hash and view.current_hash != view.stable_hash:
            return REDTargets("Canary vs stable", ns, app, (("canary", view.current_hash),
                                                             ("stable", view.stable_hash)))
    else:
        old = next((rs for rs in view.replicasets if rs.role == "old" and rs.pods), None)
        if view.current_hash and old is not None and old.hash and old.hash != view.current_hash:
            return REDTargets("New vs old", ns, app, (("new", view.current_hash), ("old", old.hash)))
    return REDTargets("All versions", ns, app, (("all", None),))


def condition_is_bad(c: V.ConditionView) -> bool:
    """A condition that reports trouble (not merely "not there yet")."""
    if c.type in ("ReplicaFailure", "InvalidSpec"):
        return c.status == "True"
    if c.reason in ("ProgressDeadlineExceeded", "RolloutAborted"):
        return True
    return c.type == "Available" and c.status == "False"


def _event_time(e: dict) -> Any:
    series = d(e, "series")
    return (e.get("lastTimestamp") or s(series, "lastObservedTime") or e.get("eventTime")
            or d(e, "metadata").get("creationTimestamp"))


class RolloutDetailScreen(RolloutActions, BaseScreen):
    """The detail view of (kind, namespace, name); pushed on the Rollouts screen with `enter`."""

    TITLE: ClassVar[str] = "Rollout"
    AREAS: ClassVar[frozenset[str]] = frozenset({"rollouts", "warnings"})
    BINDINGS = keys.bindings((*keys.ROLLOUT_DETAIL_KEYS, *(k for k in keys.ROLLOUT_KEYS if k.id != "rollouts.open")))
    CSS = """
    RolloutDetailScreen #ro-summary { height: auto; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    RolloutDetailScreen #ro-tree { height: auto; max-height: 45%; }
    RolloutDetailScreen #ro-info { height: 1fr; min-height: 2; }
    RolloutDetailScreen #ro-info > Static { height: auto; padding: 0 1; }
    """

    # the RED query shape: rate window, and the sparkline's range and step (tests shorten them)
    red_window: ClassVar[str] = "1m"
    red_minutes: ClassVar[float] = 15
    red_step: ClassVar[str] = "30s"

    def __init__(self, key: tuple[str, str, str]) -> None:
        super().__init__()
        self.key = key
        self.view: V.RolloutView | None = None
        self._tree: RolloutTree
        self._swap_lock = asyncio.Lock()
        self._red_targets: REDTargets | None = None
        self._red_lines: list[REDLine] = []
        self._red_note = ""
        self._events: tuple[EventLine, ...] = ()
        self._events_at = 0.0

    # -- layout -------------------------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        yield Static("", id="ro-summary")
        self._tree = RolloutTree(tree_columns(self.app.size.width), id="ro-tree")
        yield self._tree
        yield Static("RED", id="ro-red-title", classes="section")
        yield REDPanel(id="ro-red")
        with VerticalScroll(id="ro-info"):
            yield Static("Conditions", classes="section")
            yield Static("", id="ro-conditions")
            yield Static("Events", classes="section")
            yield Static("", id="ro-events")

    def on_mount(self) -> None:
        super().on_mount()
        self.tree.focus()
        self.set_interval(RED_INTERVAL, self._tick_red)

    @property
    def tree(self) -> RolloutTree:
        """The tree (the one being mounted, during a width change)."""
        return self._tree

    async def on_resize(self) -> None:
        """Swap the tree for one whose columns fit the new width (cursor, filter and data carry over)."""
        async with self._swap_lock:
            columns = tree_columns(self.app.size.width)
            old = self._tree
            if columns == old.spec:
                return
            selected, focused = old.selected_key, old.has_focus
            tree = RolloutTree(columns, id="ro-tree")
            tree.set_class(not self.live, "-stale")
            tree.set_filter(self.filter_text)
            self._tree = tree
            if self.loaded:
                self.show(self.data)
            await old.remove()
            await self.mount(tree, after=self.query_one("#ro-summary"))
            if selected is not None:
                try:
                    tree.move_cursor(row=tree.get_row_index(row_key(selected)), animate=False)
                except Exception:  # the row is gone
                    pass
            if focused:
                tree.focus()

    # -- data ---------------------------------------------------------------------------------

    def target_view(self) -> V.RolloutView | None:
        return self.view

    def log_pod(self, view: V.RolloutView) -> V.PodView | None:
        return self.tree.selected_pod() or super().log_pod(view)

    def summary(self) -> str:
        kind, ns, name = self.key
        return f"{kind} {ns}/{name}"

    def _set_location(self) -> None:
        svc = self.almtui.service
        self.header.set_location(svc.context.name, svc.namespace, self.summary())

    def fetch(self, service: ClusterService) -> DetailData:
        kind, ns, name = self.key
        view = next((v for v in service.rollouts() if v.key == self.key), None)
        steps: tuple[str, ...] = ()
        if view is not None and kind == "Rollout":
            obj = service.get("rollouts", ns, name) or {}
            steps = tuple(describe_step(x) for x in lst(d(obj, "spec", "strategy", "canary"), "steps"))
        objects = [(kind, name)]
        if view is not None:
            for rs in view.replicasets:
                objects.append(("ReplicaSet", rs.name))
                objects.extend(("Pod", p.name) for p in rs.pods)
        now = self.now()
        seen: set[str] = set()
        events: list[tuple[str, EventLine]] = []
        for obj_kind, obj_name in objects:
            for e in service.events_for(obj_kind, ns, obj_name, limit=EVENT_LIMIT):
                uid = s(d(e, "metadata"), "uid") or s(d(e, "metadata"), "name")
                if uid in seen:
                    continue
                seen.add(uid)
                when = _event_time(e)
                events.append((str(when or ""), EventLine(
                    age_of(when, now), s(e, "type"), s(e, "reason"), f"{obj_kind}/{obj_name}", s(e, "message"),
                    max(1, int(e.get("count") or 1) if isinstance(e.get("count"), int) else 1))))
        events.sort(key=lambda x: x[0], reverse=True)
        return DetailData(view, steps, tuple(e for _, e in events[:EVENT_LIMIT]), now)

    def show(self, data: DetailData | None) -> None:
        view = data.view if data is not None else None
        self.view = view
        self._events = data.events if data is not None else ()
        self._events_at = data.now if data is not None else 0.0
        now = self.now()
        update_static(self.query_one("#ro-summary", Static), self._summary_text(view, data.steps if data else ()))
        self.tree.set_view(view, self.badge, now)
        update_static(self.query_one("#ro-conditions", Static), self._conditions_text(view, now))
        update_static(self.query_one("#ro-events", Static), self._events_text(now))
        if view is not None:
            targets = red_targets(view)
            if targets != self._red_targets:
                self._red_targets = targets
                self._red_lines, self._red_note = [], ""
                self._start_red()
        self._show_red()
        self.refresh_key_permissions()

    def tick(self, now: float) -> None:
        super().tick(now)
        if self.loaded:
            update_static(self.query_one("#ro-events", Static), self._events_text(now))

    # -- text blocks --------------------------------------------------------------------------

    def _summary_text(self, view: V.RolloutView | None, steps: tuple[str, ...]) -> Text:
        kind, ns, name = self.key
        width = max(40, self.app.size.width - 2)
        if view is None:
            msg = "loading…" if not self.loaded else "not found (deleted, or not visible with this context)"
            return Text(sanitize(f"{kind} {ns}/{name}: {msg}", width, single_line=True), end="")
        out = Text(end="")
        out.append(f"{view.kind} ", style="bold")
        out.append(sanitize(f"{view.namespace}/{view.name}", 60, single_line=True), style="bold")
        out.append("  ")
        out.append_text(self.badge(view.phase))
        if view.aborted:
            out.append("  ")
            out.append_text(self.badge("Aborted"))
        out.append(f"  {sanitize(strategy_text(view), 20, single_line=True)}  rev {view.revision}")
        if view.hpa:
            out.append("  HPA " + sanitize(view.hpa, 40, single_line=True))
        if view.step is not None and view.steps:
            out.append("\n")
            if 0 <= view.step < len(steps):
                what = " " + sanitize(steps[view.step], 60, single_line=True)
            else:
                what = " (all steps done)" if view.step >= view.steps else ""
            out.append(f"step {view.step}/{view.steps}{what}", style="bold")
            if view.set_weight is not None:
                actual = "-" if view.actual_weight is None else f"{view.actual_weight}%"
                out.append(f"  ·  weight {view.set_weight}% set, {actual} actual")
        out.append(f"\ndesired {view.desired} · current {view.current} · updated {view.updated} · "
                   f"ready {view.ready} · available {view.available}  ")
        out.append_text(progress_cell(view, self.palette, 13, percent=True, stale=not self.live))
        out.append("\nimages ", style="dim")
        out.append(sanitize(", ".join(view.images) or "-", width, single_line=True))
        out.append("\nstatus ", style="dim")
        status = view.status_text or view.message or view.phase
        if view.message and view.message not in status:
            status += " · " + view.message
        tone = tone_of(view.phase)
        if not self.live:  # never a bare "Healthy" from data that is not live
            status = f"{SYMBOLS[Tone.STALE]} last known, not live: {status}"
        out.append(sanitize(status, width, single_line=True),
                   style=self.palette.style(tone) if tone in (Tone.DEGRADED, Tone.PAUSED) else "")
        return out

    def _conditions_text(self, view: V.RolloutView | None, now: float) -> Text:
        """Conditions as the API has them; only the ones that mean trouble are coloured (a canary
        paused mid-flight is Healthy=False by design, which is not an alarm)."""
        out = Text(end="")
        if view is None or not view.conditions:
            out.append("  none", style="dim")
            return out
        pad = max(len(f"{c.type}={c.status}") for c in view.conditions)
        for n, c in enumerate(view.conditions):
            if n:
                out.append("\n")
            label = sanitize(f"{c.type}={c.status}", 40, single_line=True).ljust(pad)
            if condition_is_bad(c):
                out.append_text(self.badge("Degraded", label=label))
            else:
                out.append("· " + label)
            out.append(f"  {fmt_age(age_of(c.last_transition, now)):>5}  ", style="dim")
            detail = " ".join(x for x in (c.reason, c.message) if x)
            out.append(sanitize(detail, 300, single_line=True))
        return out

    def _events_text(self, now: float) -> Text:
        out = Text(end="")
        if not self._events:
            out.append("  none", style="dim")
            return out
        for n, e in enumerate(self._events):
            if n:
                out.append("\n")
            age = None if e.age is None else e.age + max(0.0, now - self._events_at)
            out.append(f"{fmt_age(age):>5} ", style="dim")
            warning = e.type == "Warning"
            out.append(f"{SYMBOLS[Tone.DEGRADED] if warning else ' '} ",
                       style=self.palette.style(Tone.DEGRADED) if warning else "")
            out.append(sanitize(e.reason, 24, single_line=True), style="bold")
            out.append(" " + sanitize(e.object, 60, single_line=True), style="dim")
            times = f" (x{e.count})" if e.count > 1 else ""
            out.append(" " + sanitize(e.message, 400, single_line=True) + times)
        return out

    # -- RED ----------------------------------------------------------------------------------

    def _tick_red(self) -> None:
        if self.is_current and self._red_targets is not None:
            self._start_red()

    def _start_red(self) -> None:
        targets = self._red_targets
        if targets is None:
            return
        service = self.almtui.service
        if service.metrics is None:
            self._red_lines, self._red_note = [], NO_METRICS
            return
        self._poll_red(service, targets)

    @work(thread=True, exclusive=True, group="red", exit_on_error=False)
    def _poll_red(self, service: ClusterService, targets: REDTargets) -> None:
        metrics = service.metrics
        if metrics is None:
            return
        hashes = [h for _, h in targets.versions]
        ns, app, window = targets.namespace, targets.app, self.red_window
        if len(hashes) == 2 and hashes[0] and hashes[1]:
            reds = list(metrics.canary_vs_stable(ns, app, hashes[0], hashes[1], window=window))
        else:
            reds = [metrics.red(ns, app, h, window=window) for h in hashes]
        series = [metrics.red_series(ns, app, h, minutes=self.red_minutes, step=self.red_step, window=window)
                  for h in hashes]
        lines = [REDLine(label, red, ser) for (label, _), red, ser in zip(targets.versions, reds, series,
                                                                            strict=True)]
        note = ""
        if any(getattr(r, "status", "") != "ok" for r in reds):
            note = "not verified: missing data is never read as healthy"
        self.post_message(REDFetched(targets, lines, note))

    @on(REDFetched)
    def _red_fetched(self, message: REDFetched) -> None:
        message.stop()
        if message.targets != self._red_targets:
            return  # the versions changed while it ran
        self._red_lines, self._red_note = message.lines, message.note
        self._show_red()

    def _show_red(self) -> None:
        targets = self._red_targets
        panel = self.query_one(REDPanel)
        title = self.query_one("#ro-red-title", Static)
        if targets is None:
            title.update("RED metrics")
            panel.set_lines([], "", self.palette)
            return
        minutes = f"{self.red_minutes:g}m"
        title.update(f"{targets.title}: request rate, 5xx ratio, p95 latency ({self.red_window} rate, last {minutes})")
        lines = self._red_lines
        if not lines and not self._red_note:
            lines = [REDLine(label) for label, _ in targets.versions]
        panel.set_lines(lines, self._red_note, self.palette)

    # -- keys ---------------------------------------------------------------------------------

    def action_back(self) -> None:
        """escape: clear the filter first; with none, back to the list."""
        bar = self.query_one("#filter-bar", FilterBar)
        if bar.display or self.filter_text:
            self.action_clear_filter()
            return
        self.app.pop_screen()

    @on(DataTable.RowSelected, "#ro-tree")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        """enter on a pod row: its logs."""
        event.stop()
        key = self.tree.selected_key
        if isinstance(key, tuple) and key and key[0] == "pod":
            self.action_logs()
