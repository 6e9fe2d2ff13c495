"""Autoscalers: HorizontalPodAutoscalers, replicas and metrics (placeholder table; details come later)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult

from almtui.cluster import views as V
from almtui.cluster.service import ClusterService
from almtui.ui.screens.base import BaseScreen
from almtui.ui.widgets.table import Col, ResourceTable

COLUMNS = (
    Col("namespace", "NAMESPACE", width=10, max_len=10),
    Col("name", "NAME", max_len=40),
    Col("replicas", "REPLICAS", width=8, justify="right"),
    Col("state", "STATE", width=10),
    Col("metrics", "METRICS", max_len=40),
    Col("range", "MIN/MAX", width=7, justify="right"),
    Col("last", "SCALED", width=6, age=True, justify="right"),
    Col("target", "TARGET", max_len=40),
)


def metrics_text(metrics: tuple[V.MetricView, ...]) -> str:
    return ", ".join(f"{m.name} {m.current_text}/{m.target_text}" for m in metrics)


class AutoscalersScreen(BaseScreen):
    TITLE: ClassVar[str] = "Autoscalers"
    AREAS: ClassVar[frozenset[str]] = frozenset({"hpas"})

    def compose_body(self) -> ComposeResult:
        yield ResourceTable(COLUMNS, id="autoscalers-table")

    def fetch(self, service: ClusterService) -> list[V.HPAView]:
        return service.hpas()

    def show(self, data: list[V.HPAView] | None) -> None:
        rows = []
        for h in data or ():
            if h.able_to_scale.startswith("Failed") or h.scaling_active.startswith(("Failed", "Invalid")):
                state = self.badge("Degraded", label="Blocked")
            elif h.limited:
                state = self.badge("Paused", label="Limited")
            elif h.current != h.desired:
                state = self.badge("Progressing", label="Scaling")
            else:
                state = self.badge("Healthy", label="Steady")
            rows.append((h.key, (h.namespace, h.name, f"{h.current}/{h.desired}", state, metrics_text(h.metrics),
                                 f"{h.min}/{h.max}", h.last_scale_age, f"{h.target_kind}/{h.target_name}")))
        self.query_one(ResourceTable).set_rows(rows, self.now())
