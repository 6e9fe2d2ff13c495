"""Autoscalers (4): HorizontalPodAutoscalers, why they (do not) scale, and their policy editor.

The table says where each HPA stands (replicas current/desired within min..max, each metric
against its target, a one-word state from its conditions); the pane below shows the selected
one in full with a replica-history sparkline: `service.metrics.hpa_history` (kube-state-metrics)
when Prometheus answers, else the service's own samples of `status.currentReplicas`.

`e` opens the validated policy form of the shared action UI (it previews the desired replicas
under the new policy); its answer goes through the one action path (plan, checks, confirm,
apply, audit). A user who may not patch HPAs (read-only, RBAC) is told why; nothing is sent.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.widgets import DataTable

from almtui.cluster import views as V
from almtui.cluster.service import ClusterService
from almtui.ui import keys
from almtui.ui.screens.base import BaseScreen
from almtui.ui.widgets.hpa_detail import HPADetail, hpa_state, metrics_text
from almtui.ui.widgets.table import Col, ResourceTable

HPAS = "horizontalpodautoscalers"
HISTORY_MINUTES = 30

COLUMNS = (
    Col("namespace", "NAMESPACE", width=9, max_len=9),
    Col("name", "NAME", max_len=30),
    Col("state", "STATE", width=14),
    Col("replicas", "CUR/DES", width=7, justify="right"),
    Col("range", "MIN-MAX", width=7, justify="right"),
    Col("metrics", "METRICS", max_len=60),
    Col("last", "SCALED", width=6, age=True, justify="right"),
    Col("target", "TARGET", max_len=60),
)


@dataclass(frozen=True)
class AutoscalersData:
    hpas: list[V.HPAView]
    history: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # from Prometheus, when it has it
    source: str = "sampled by almtui"
    built_at: float = 0.0


def _prometheus(service: ClusterService) -> Any:
    metrics = service.metrics
    if metrics is None:
        return None
    found = metrics.discovery or metrics.discover()
    return metrics if getattr(found, "source", "none") == "prometheus" else None


class AutoscalersScreen(BaseScreen):
    TITLE: ClassVar[str] = "Autoscalers"
    AREAS: ClassVar[frozenset[str]] = frozenset({"hpas"})
    BINDINGS: ClassVar[list[Any]] = keys.bindings(keys.AUTOSCALERS_KEYS)
    DEFAULT_CSS = """
    AutoscalersScreen #hpa-table { height: auto; max-height: 45%; scrollbar-size-horizontal: 0; }
    AutoscalersScreen #hpa-detail { height: 1fr; padding: 0 1; background: $boost; }
    AutoscalersScreen #hpa-info { height: auto; }
    AutoscalersScreen #hpa-history { height: 2; margin-top: 1; }
    AutoscalersScreen #hpa-history-label { width: auto; text-style: bold; }
    AutoscalersScreen #hpa-spark { width: 32; height: 2; }
    AutoscalersScreen #hpa-history-note { width: 1fr; padding-left: 1; }
    """

    def __init__(self, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._permission_key: Hashable | None = None

    def service_replaced(self) -> None:
        self._permission_key = None  # another user or cluster: ask again
        super().service_replaced()

    def compose_body(self) -> ComposeResult:
        yield ResourceTable(COLUMNS, id="hpa-table")
        yield HPADetail(id="hpa-detail")

    # -- data -----------------------------------------------------------------------------------

    def fetch(self, service: ClusterService) -> AutoscalersData:
        hpas = service.hpas()
        now = service.clock()
        prom = _prometheus(service)
        if prom is None:
            return AutoscalersData(hpas, {}, "sampled by almtui", now)
        history: dict[tuple[str, str], list[float]] = {}
        for h in hpas:
            got = prom.hpa_history(h.namespace, h.name, minutes=HISTORY_MINUTES)
            if getattr(got, "status", "") == "ok":
                history[h.key] = [float(v) for v in got]
        return AutoscalersData(hpas, history, f"Prometheus, {HISTORY_MINUTES}m", now)

    # -- display --------------------------------------------------------------------------------

    def show(self, data: AutoscalersData | None) -> None:
        rows = []
        for h in (data.hpas if data else ()):
            word, label = hpa_state(h)
            rows.append((h.key, (h.namespace, h.name, self.badge(word, label=label), f"{h.current}/{h.desired}",
                                 f"{h.min}-{h.max}", metrics_text(h), h.last_scale_age, h.target)))
        table = self.query_one("#hpa-table", ResourceTable)
        table.set_rows(rows, data.built_at if data else self.now())
        table.tick(self.now())
        self._show_detail()

    def selected(self) -> V.HPAView | None:
        data = self.data
        if not isinstance(data, AutoscalersData):
            return None
        key: Hashable | None = self.query_one("#hpa-table", ResourceTable).selected_key
        return next((h for h in data.hpas if h.key == key), None)

    def _show_detail(self) -> None:
        self._check_permissions()
        data = self.data
        h = self.selected()
        history: list[float | int] = []
        source = "sampled by almtui"
        if isinstance(data, AutoscalersData) and h is not None:
            if h.key in data.history:
                history, source = data.history[h.key], data.source
            else:
                history = list(h.replica_history)
        elapsed = max(0.0, self.now() - data.built_at) if isinstance(data, AutoscalersData) else 0.0
        self.query_one("#hpa-detail", HPADetail).show(h, history, source, self.palette, stale=not self.live,
                                                      elapsed=elapsed)

    @on(DataTable.RowHighlighted, "#hpa-table")
    def _highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    # -- keys -----------------------------------------------------------------------------------

    def action_edit(self) -> None:
        """e: edit the selected HPA's policy (form with what-if) -> the action path (plan, checks, confirm)."""
        h = self.selected()
        if h is None:
            self.app.notify("no HorizontalPodAutoscaler selected", title="Edit policy", severity="warning")
            return
        actions = self.app.actions  # type: ignore[attr-defined]
        if not actions.guard_key(self, "autoscalers.edit") or not actions.guard("patch", HPAS, h.namespace, h.name):
            return  # explained on screen; nothing sent
        answer = actions.ask_hpa_policy(h)
        answer.add_done_callback(partial(self._policy_entered, h))

    def _policy_entered(self, h: V.HPAView, answer: Any) -> None:
        """The form's answer (UI thread; no worker waits on the operator): start the action path with it."""
        if answer.cancelled() or answer.exception() is not None or not answer.result():
            return
        self.app.actions.start("hpa_update", HPAS, h.namespace, h.name,  # type: ignore[attr-defined]
                               params=dict(answer.result()), title=f"Change autoscaler {h.namespace}/{h.name}")

    def _check_permissions(self) -> None:
        """Dim `e` (with the reason in help) when the selected HPA may not be patched."""
        h = self.selected()
        actions = getattr(self.app, "actions", None)
        if h is None or actions is None or h.key == self._permission_key:
            return
        self._permission_key = h.key
        actions.refresh_permissions(self, {"autoscalers.edit": ("patch", HPAS, h.namespace, h.name, "")})
