"""Pipelines: Tekton PipelineRuns, newest first (placeholder table; details come later)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult

from almtui.cluster import views as V
from almtui.cluster.service import ClusterService
from almtui.kube.durations import human_age
from almtui.ui.screens.base import BaseScreen
from almtui.ui.widgets.table import Col, ResourceTable

COLUMNS = (
    Col("namespace", "NAMESPACE", width=10, max_len=10),
    Col("name", "NAME", max_len=48),
    Col("status", "STATUS", width=12),
    Col("started", "AGE", width=5, age=True, justify="right"),
    Col("duration", "DURATION", width=8, justify="right"),
    Col("task", "TASK", width=14, max_len=14),
)


class PipelinesScreen(BaseScreen):
    TITLE: ClassVar[str] = "Pipelines"
    AREAS: ClassVar[frozenset[str]] = frozenset({"pipelines"})

    def compose_body(self) -> ComposeResult:
        yield ResourceTable(COLUMNS, id="pipelines-table")

    def fetch(self, service: ClusterService) -> list[V.PipelineRunView]:
        return service.pipeline_runs()

    def show(self, data: list[V.PipelineRunView] | None) -> None:
        rows = [(r.key, (r.namespace, r.name, self.badge(r.status, domain="pipeline"), r.started_age,
                         "-" if r.duration is None else human_age(r.duration), r.current_task or ""))
                for r in data or ()]
        self.query_one(ResourceTable).set_rows(rows, self.now())
