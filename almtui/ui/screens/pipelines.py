"""Pipelines (screen 1): Tekton runs, Argo CD apps and the environment promotion matrix.

Why three tabs rather than stacked panes: at 80x24 three tables stacked leave five rows each,
while a tab gives one part the whole height. `tab` / `shift+tab` cycle the parts (the tab bar
is not a focus stop), the part-specific keys are shown (key bar, `?`) only on their part, and a
two-line summary under each table tells what the selected row is and what its keys would do.

Parts and keys (ids in almtui.ui.keys.PIPELINES_KEYS, overridable):
- Runs, like `tkn pr list` newest first: enter detail, r rerun, x cancel, l the failed (or
  running) task's log.
- Apps, like `argocd app list`: y sync, b rollback (history picker; refused while auto-sync is on).
- Environments: apps × environments (config `environments`), p promotes the selected cell's
  version to the next environment (pre-flight "promotion").
Every action goes through the shared action UI (plan, checks, confirmation, apply, audit).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.widgets import DataTable, Input, Static, TabbedContent, TabPane, Tabs

from almtui.cluster import views as V
from almtui.cluster.service import ClusterService
from almtui.ui import keys
from almtui.ui.screens.base import BaseScreen
from almtui.ui.screens.pipeline_detail import (
    PermissionSpec,
    PipelineRunScreen,
    open_run_log,
    refresh_permissions,
    rollback_app,
    run_permissions,
    start_action,
)
from almtui.ui.widgets.env_matrix import LEGEND, PLURALS, EnvMatrix, cell_summary, matrix_row, promotion_of
from almtui.ui.widgets.pipeline_apps import APP_COLUMNS, app_row, app_summary
from almtui.ui.widgets.pipeline_runs import RUN_COLUMNS, run_row, run_summary
from almtui.ui.widgets.static_update import update_static
from almtui.ui.widgets.table import ResourceTable

PARTS = ("runs", "apps", "envs")
PART_LABELS = {"runs": "Runs", "apps": "Argo CD apps", "envs": "Environments"}
TABLE_IDS = {"runs": "runs-table", "apps": "apps-table", "envs": "envs-table"}
# Which part each screen action belongs to (hidden elsewhere).
PART_OF_ACTION = {"detail": "runs", "rerun": "runs", "cancel_run": "runs", "logs": "runs",
                  "sync": "apps", "rollback": "apps", "promote": "envs"}


@dataclass(frozen=True)
class PipelinesData:
    runs: list[V.PipelineRunView] = field(default_factory=list)
    apps: list[V.ApplicationView] = field(default_factory=list)
    envs: list[V.EnvironmentView] = field(default_factory=list)


class PipelinesScreen(BaseScreen):
    TITLE: ClassVar[str] = "Pipelines"
    AREAS: ClassVar[frozenset[str]] = frozenset({"pipelines", "applications", "environments"})
    BINDINGS = keys.bindings(keys.PIPELINES_KEYS)
    DEFAULT_CSS = """
    PipelinesScreen TabbedContent { height: 1fr; }
    PipelinesScreen TabPane { padding: 0; height: 1fr; }
    PipelinesScreen .pipeline-summary {
        height: 2; padding: 0 1; background: $boost; text-wrap: nowrap; text-overflow: ellipsis;
    }
    PipelinesScreen #envs-legend {
        height: 1; padding: 0 1; color: $text-muted; text-wrap: nowrap; text-overflow: ellipsis;
    }
    """

    def __init__(self, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._asked: dict[str, PermissionSpec] = {}
        self._matrix_placed = False

    def compose_body(self) -> ComposeResult:
        environments = getattr(self.almtui.service, "environments", V.DEFAULT_ENVIRONMENTS)
        with TabbedContent(id="pipelines-parts", initial="runs"):
            with TabPane(PART_LABELS["runs"], id="runs"):
                yield ResourceTable(RUN_COLUMNS, id="runs-table")
                yield Static("", id="runs-summary", classes="pipeline-summary")
            with TabPane(PART_LABELS["apps"], id="apps"):
                yield ResourceTable(APP_COLUMNS, id="apps-table")
                yield Static("", id="apps-summary", classes="pipeline-summary")
            with TabPane(PART_LABELS["envs"], id="envs"):
                yield EnvMatrix(environments, id="envs-table")
                yield Static(LEGEND, id="envs-legend")
                yield Static("", id="envs-summary", classes="pipeline-summary")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(Tabs).can_focus = False  # `tab` cycles parts; the tab bar is no focus stop
        self.table("runs").focus()

    # -- parts --------------------------------------------------------------------------------

    @property
    def part(self) -> str:
        active = self.query_one("#pipelines-parts", TabbedContent).active
        return active if active in PARTS else "runs"

    def table(self, part: str) -> ResourceTable:
        return self.query_one(f"#{TABLE_IDS[part]}", ResourceTable)

    @property
    def matrix(self) -> EnvMatrix:
        return self.query_one("#envs-table", EnvMatrix)

    @property
    def tables(self) -> list[ResourceTable]:
        """The active part's table first: the header count, filter count and focus follow it."""
        active = self.table(self.part)
        return [active, *(t for t in self.query(ResourceTable) if t is not active)]

    def show_part(self, part: str) -> None:
        self.query_one("#pipelines-parts", TabbedContent).active = part

    def action_next_part(self) -> None:
        self.show_part(PARTS[(PARTS.index(self.part) + 1) % len(PARTS)])

    def action_prev_part(self) -> None:
        self.show_part(PARTS[(PARTS.index(self.part) - 1) % len(PARTS)])

    @on(TabbedContent.TabActivated)
    def _part_changed(self, event: TabbedContent.TabActivated) -> None:
        event.stop()
        if not isinstance(self.focused, Input):
            self.table(self.part).focus()
        self._update_count()
        self._set_location()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        part = PART_OF_ACTION.get(action)
        if part is None:
            return True
        if part != self.part:
            return False
        # enter belongs to the filter input (or whatever else has focus) unless a table has it
        return action != "detail" or isinstance(self.focused, DataTable)

    # -- data ---------------------------------------------------------------------------------

    def fetch(self, service: ClusterService) -> PipelinesData:
        return PipelinesData(service.pipeline_runs(), service.applications(), service.environments_matrix())

    def show(self, data: PipelinesData | None) -> None:
        data = data or PipelinesData()
        now = self.now()
        self.table("runs").set_rows([run_row(r, self.badge) for r in data.runs], now)
        self.table("apps").set_rows([app_row(a, self.badge) for a in data.apps], now)
        matrix = self.matrix
        matrix.set_rows([matrix_row(e, self.badge) for e in data.envs], now)
        if data.envs and not self._matrix_placed:
            self._matrix_placed = True
            matrix.move_cursor(column=1, animate=False)  # start on the first environment, not the name
        self._summaries()

    def _where(self) -> str:
        ns = self.almtui.service.namespace
        return "in any namespace" if ns is None else f"in namespace {ns}"

    def _summaries(self) -> None:
        update_static(self.query_one("#runs-summary", Static), run_summary(self.selected_run(),
                                                                   f"No PipelineRuns {self._where()}"))
        update_static(self.query_one("#apps-summary", Static), app_summary(self.selected_app(),
                                                                   f"No Argo CD Applications {self._where()}"))
        envs = ", ".join(ns for _, ns in self.matrix.environments)
        update_static(self.query_one("#envs-summary", Static), cell_summary(
            self.selected_env(), self.matrix.selected_index,
            f"No Deployments or Rollouts in the environment namespaces ({envs}) {self._where()}"))
        self._asked = refresh_permissions(self, self.permission_specs(), self._asked)

    def permission_specs(self) -> dict[str, PermissionSpec]:
        """The keys to dim for the selected run, app and cell (see pipeline_detail.run_permissions)."""
        specs = run_permissions(self.selected_run())
        app = self.selected_app()
        if app is not None:
            specs["pipelines.sync"] = ("update", "applications", app.namespace, None, "")
            specs["pipelines.rollback"] = ("update", "applications", app.namespace, None, "")
        view = self.selected_env()
        target = promotion_of(view, self.matrix.selected_index).target if view is not None else None
        if target is not None:
            specs["pipelines.promote"] = ("patch", PLURALS.get(target.kind, "deployments"), target.namespace, None, "")
        return specs

    @on(DataTable.RowHighlighted)
    @on(DataTable.CellHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted | DataTable.CellHighlighted) -> None:
        if self.loaded:
            self._summaries()

    # -- selection ----------------------------------------------------------------------------

    def _selected(self, part: str, items: list[Any]) -> Any:
        key: Hashable | None = self.table(part).selected_key
        return None if key is None else next((x for x in items if x.key == key), None)

    def selected_run(self) -> V.PipelineRunView | None:
        return self._selected("runs", self.data.runs if isinstance(self.data, PipelinesData) else [])

    def selected_app(self) -> V.ApplicationView | None:
        return self._selected("apps", self.data.apps if isinstance(self.data, PipelinesData) else [])

    def selected_env(self) -> V.EnvironmentView | None:
        return self._selected("envs", self.data.envs if isinstance(self.data, PipelinesData) else [])

    def _need(self, found: Any, what: str) -> Any:
        if found is None:
            self.app.notify(f"no {what} selected", severity="warning")
        return found

    # -- keys ---------------------------------------------------------------------------------

    def action_detail(self) -> None:
        if (run := self._need(self.selected_run(), "PipelineRun")) is not None:
            self.app.push_screen(PipelineRunScreen(run.key))

    def action_rerun(self) -> None:
        if (run := self._need(self.selected_run(), "PipelineRun")) is not None:
            start_action(self, "rerun", "pipelineruns", run.namespace, run.name)

    def action_cancel_run(self) -> None:
        if (run := self._need(self.selected_run(), "PipelineRun")) is not None:
            start_action(self, "cancel", "pipelineruns", run.namespace, run.name)

    def action_logs(self) -> None:
        if (run := self._need(self.selected_run(), "PipelineRun")) is not None:
            open_run_log(self, self.almtui.service, run)

    def action_sync(self) -> None:
        if (app := self._need(self.selected_app(), "Argo CD Application")) is not None:
            start_action(self, "sync", "applications", app.namespace, app.name)

    def action_rollback(self) -> None:
        if (app := self._need(self.selected_app(), "Argo CD Application")) is not None:
            rollback_app(self, app)

    def action_promote(self) -> None:
        view = self._need(self.selected_env(), "application")
        if view is None:
            return
        promo = promotion_of(view, self.matrix.selected_index)
        if promo.source is None or promo.target is None:
            self.app.notify(promo.reason, severity="warning")
            return
        src, dst = promo.source, promo.target
        start_action(self, "promote_version", PLURALS.get(dst.kind, "deployments"), dst.namespace, dst.name,
                     params={"source_plural": PLURALS.get(src.kind, "deployments"),
                             "source_namespace": src.namespace, "source_name": src.name},
                     preflight="promotion",
                     title=f"Promote {view.app} {src.version} from {src.environment} to {dst.environment}")
