"""One PipelineRun in detail, like `tkn pr describe`: tasks, params, and the failed task's log.

Why a data screen (BaseScreen) and not a static dialog: a run that is still going changes under
the operator's eyes, so the detail refreshes on the same coalesced notifications as the list and
reads the log tail again. The log shown is the failed step's container (`step-<name>`), else the
running one: the lines that explain the status, without opening anything else.

Also here: the run and Argo CD actions both the list and this screen start, and the history
picker for `argocd app rollback`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, OptionList, Static
from textual.widgets.option_list import Option

from almtui.cluster import views as V
from almtui.cluster.service import ClusterService
from almtui.ui import keys
from almtui.ui.sanitize import sanitize
from almtui.ui.screens.base import BaseScreen
from almtui.ui.widgets.pipeline_apps import short_rev
from almtui.ui.widgets.pipeline_runs import (
    TASK_COLUMNS,
    LogTarget,
    duration_text,
    log_target,
    params_text,
    run_status,
    task_row,
)
from almtui.ui.widgets.table import ResourceTable

LOG_TAIL = 60

# -- actions shared with the list ------------------------------------------------------------


def start_action(screen: Screen, action: str, plural: str, namespace: str, name: str, *,
                 params: Mapping[str, Any] | None = None, preflight: str | None = None,
                 title: str | None = None) -> None:
    """Hand an action to the shared action UI (plan, checks, confirmation, apply, audit).

    No `guard()` before it on purpose: a key the user may not use (read-only, RBAC, stale data)
    goes through the same checks, so its refusal is explained in the refusal dialog *and* audited;
    the key bar already dims such keys (`refresh_permissions`)."""
    actions = getattr(screen.app, "actions", None)
    if actions is None:
        screen.app.notify("actions are not available in this console", severity="error")
        return
    actions.start(action, plural, namespace, name, params=dict(params) if params else None, preflight=preflight,
                  title=title)


PermissionSpec = tuple[str, str, str | None, str | None, str]


def run_permissions(run: V.PipelineRunView | None) -> dict[str, PermissionSpec]:
    """What RBAC must allow for the run keys (binding id -> verb, plural, namespace, name, subresource).
    Namespace-wide: the key bar dims by namespace; start() still checks the object itself."""
    if run is None:
        return {}
    ns = run.namespace
    return {"pipelines.rerun": ("create", "pipelineruns", ns, None, ""),
            "pipelines.cancel": ("patch", "pipelineruns", ns, None, ""),
            "pipelines.logs": ("get", "pods", ns, None, "log")}


def refresh_permissions(screen: Screen, specs: Mapping[str, PermissionSpec], last: dict[str, PermissionSpec]
                        ) -> dict[str, PermissionSpec]:
    """Ask the action UI to dim the keys the user may not use, when what to ask has changed."""
    actions = getattr(screen.app, "actions", None)
    wanted = dict(specs)
    if actions is not None and wanted != last:
        actions.refresh_permissions(screen, wanted)
    return wanted


def taskrun_getter(service: ClusterService) -> Callable[[str, str], dict | None]:
    """The raw cached TaskRun by (namespace, name): its status.steps say which container failed."""
    return lambda ns, name: service.get("taskruns", ns, name)


def open_log(screen: Screen, target: LogTarget | None, what: str) -> None:
    """Push the shared LogScreen on a pod container (`l`), if the user may read it."""
    if target is None:
        screen.app.notify(f"{what}: no task pod to read a log from", severity="warning")
        return
    actions = getattr(screen.app, "actions", None)
    if actions is not None and not actions.guard("get", "pods", target.namespace, target.pod, "log"):
        return
    from almtui.ui.screens.logs import LogScreen  # the shared log viewer (action UI)

    screen.app.push_screen(LogScreen(target.namespace, target.pod, container=target.container))


def open_run_log(screen: Screen, service: ClusterService, run: V.PipelineRunView,
                 task: V.TaskRunView | None = None) -> None:
    open_log(screen, log_target(run, taskrun_getter(service), task), f"PipelineRun {run.name}")


# -- argocd app rollback: the history picker --------------------------------------------------


class HistoryPicker(ModalScreen[int | None]):
    """Pick an Argo CD history entry to roll back to (newest first); Esc cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", show=False)]
    DEFAULT_CSS = """
    HistoryPicker { align: center middle; }
    HistoryPicker > Vertical {
        width: 72; max-width: 100%; height: auto; max-height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    HistoryPicker OptionList, HistoryPicker OptionList:focus { height: auto; max-height: 14; border: none; }
    HistoryPicker #history-hint { color: $text-muted; }
    """

    def __init__(self, app_view: V.ApplicationView) -> None:
        super().__init__(id="history-picker")
        self.view = app_view

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = Text(sanitize(f"Roll back {self.view.name} to", 60, single_line=True))  # no markup
            options = [Option(Text(sanitize(f"{h.id:>3}  {short_rev(h.revision):<12} {h.deployed_at or '-'}",
                                            100, single_line=True)), id=str(h.id))
                       for h in reversed(self.view.history)]
            yield OptionList(*options, id="history-list")
            yield Static("enter picks (confirmed next) · esc cancels",
                         id="history-hint")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(int(event.option.id or 0))

    def action_cancel(self) -> None:
        self.dismiss(None)


def rollback_app(screen: Screen, app_view: V.ApplicationView) -> None:
    """`b`: pick a history entry, then the action UI confirms the sync to it.

    Without a choice to make (auto-sync on: Argo CD refuses; no history; the user may not update
    the Application) the action goes straight to the action path, so the refusal is shown and
    audited like any other instead of being second-guessed here."""
    actions = getattr(screen.app, "actions", None)
    cached = None if actions is None else actions.cached_permission("update", "applications", app_view.namespace,
                                                                     app_view.name)
    if app_view.auto_sync or not app_view.history or (cached is not None and not cached[0]):
        latest = app_view.history[-1].id if app_view.history else 0
        start_action(screen, "rollback", "applications", app_view.namespace, app_view.name,
                     params={"history_id": latest})
        return

    def picked(history_id: int | None) -> None:
        if history_id is not None:
            start_action(screen, "rollback", "applications", app_view.namespace, app_view.name,
                         params={"history_id": history_id}, title=f"Roll back {app_view.name} to {history_id}")

    screen.app.push_screen(HistoryPicker(app_view), picked)


# -- the detail screen ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RunDetail:
    run: V.PipelineRunView | None
    log: LogTarget | None = None
    lines: list[str] = field(default_factory=list)


class PipelineRunScreen(BaseScreen):
    """`enter` on a run: its tasks (enter on a task opens that task's log), params and log tail."""

    TITLE: ClassVar[str] = "PipelineRun"
    AREAS: ClassVar[frozenset[str]] = frozenset({"pipelines"})
    BINDINGS = keys.bindings(keys.PIPELINE_DETAIL_KEYS)
    DEFAULT_CSS = """
    PipelineRunScreen #run-info { height: auto; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    PipelineRunScreen #run-title, PipelineRunScreen #run-log-title { text-wrap: nowrap; text-overflow: ellipsis; }
    PipelineRunScreen #tasks-table { height: auto; max-height: 9; }
    PipelineRunScreen #run-log { height: 1fr; padding: 0 1; scrollbar-size-horizontal: 0; }
    PipelineRunScreen #run-log-text { width: auto; }
    """

    def __init__(self, key: tuple[str, str]) -> None:
        super().__init__()
        self.key = key
        self._placed = False
        self._asked: dict[str, PermissionSpec] = {}

    def compose_body(self) -> ComposeResult:
        yield Static(self._title(), id="run-title", classes="section")
        yield Static("", id="run-info")
        yield ResourceTable(TASK_COLUMNS, id="tasks-table")
        yield Static("Log", id="run-log-title", classes="section")
        with VerticalScroll(id="run-log"):
            yield Static("", id="run-log-text")

    def _title(self, run: V.PipelineRunView | None = None) -> Text:
        ns, name = self.key
        title = Text(sanitize(f"PipelineRun {ns}/{name}", 200, single_line=True), end="")
        if run is not None:
            title.append("  ")
            title.append_text(run_status(run, self.badge))
        return title

    def summary(self) -> str:
        return sanitize(self.key[1], 60, single_line=True)

    @property
    def run(self) -> V.PipelineRunView | None:
        return self.data.run if isinstance(self.data, RunDetail) else None

    # -- data ---------------------------------------------------------------------------------

    def fetch(self, service: ClusterService) -> RunDetail:
        run = next((r for r in service.pipeline_runs() if r.key == self.key), None)
        if run is None:
            return RunDetail(None)
        target = log_target(run, taskrun_getter(service))
        if target is None:
            return RunDetail(run)
        return RunDetail(run, target, service.pod_log(target.namespace, target.pod, target.container, tail=LOG_TAIL))

    def show(self, data: RunDetail | None) -> None:
        run = data.run if data else None
        self.query_one("#run-title", Static).update(self._title(run))
        info = self.query_one("#run-info", Static)
        tasks = self.query_one("#tasks-table", ResourceTable)
        if run is None:
            info.update(Text("This PipelineRun no longer exists (deleted, or not in the namespace shown).",
                             style="dim", end=""))
            tasks.set_rows([])
            self._show_log(None, [])
            return
        started = "-" if run.started_age is None else f"{duration_text(run.started_age)} ago"
        lines = [
            f"Pipeline: {run.pipeline or '-'}   Started: {started}   Duration: {duration_text(run.duration)}",
            f"Params: {params_text(run)}",
            f"{run.reason or run.status}: {run.message}" if run.message else (run.reason or run.status),
        ]
        info.update(Text("\n".join(sanitize(line, 400, single_line=True) for line in lines), end="",
                         no_wrap=True, overflow="ellipsis"))
        tasks.set_rows([task_row(t, self.badge) for t in run.tasks], self.now())
        self._asked = refresh_permissions(self, run_permissions(run), self._asked)
        log = data.log if data else None
        if not self._placed and log is not None:  # start on the task whose log is shown
            self._placed = True
            index = next((n for n, t in enumerate(run.tasks) if t.pod == log.pod), None)
            if index is not None:
                tasks.move_cursor(row=index, animate=False)
        self._show_log(log, data.lines if data else [])

    def _show_log(self, target: LogTarget | None, lines: list[str]) -> None:
        title = self.query_one("#run-log-title", Static)
        body = self.query_one("#run-log-text", Static)
        if target is None:
            title.update("Log")
            body.update(Text("No task pod to read a log from.", style="dim", end=""))
            return
        where = f"{target.task} · {target.container or 'default container'} · {target.pod}"
        title.update(Text(sanitize(f"Log: {where}", 200, single_line=True), end=""))
        shown = [sanitize(line.expandtabs(8), 500, single_line=True) for line in lines] or ["(empty log)"]
        body.update(Text("\n".join(shown), end="", no_wrap=True))
        self.query_one("#run-log", VerticalScroll).scroll_end(animate=False)

    # -- keys ---------------------------------------------------------------------------------

    def _need_run(self) -> V.PipelineRunView | None:
        run = self.run
        if run is None:
            self.app.notify(f"PipelineRun {self.key[1]} is not loaded", severity="warning")
        return run

    def action_back(self) -> None:
        if self.filter_text or self.query_one("#filter-bar").display:
            self.action_clear_filter()
            return
        self.dismiss()

    def action_rerun(self) -> None:
        if (run := self._need_run()) is not None:
            start_action(self, "rerun", "pipelineruns", run.namespace, run.name)

    def action_cancel_run(self) -> None:
        if (run := self._need_run()) is not None:
            start_action(self, "cancel", "pipelineruns", run.namespace, run.name)

    def action_logs(self) -> None:
        if (run := self._need_run()) is not None:
            open_run_log(self, self.almtui.service, run, self._selected_task())

    def _selected_task(self) -> V.TaskRunView | None:
        run = self.run
        table = self.query_one("#tasks-table", ResourceTable)
        if run is None or not table.has_focus:
            return None
        key: Hashable | None = table.selected_key
        return next((t for t in run.tasks if t.key == key), None)

    @on(DataTable.RowSelected, "#tasks-table")
    def _task_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        run = self.run
        if run is None:
            return
        task = next((t for t in run.tasks if t.key == self.query_one("#tasks-table", ResourceTable).selected_key),
                    None)
        if task is not None:
            open_run_log(self, self.almtui.service, run, task)
