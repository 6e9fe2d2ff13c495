"""Rollouts: Deployments and Argo Rollouts with their phase (placeholder table; details come later)."""

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
    Col("kind", "KIND", width=4),
    Col("phase", "STATUS", width=13),
    Col("ready", "READY", width=5, justify="right"),
    Col("step", "STEP", width=5, justify="right"),
    Col("version", "VERSION", width=10, max_len=10),
    Col("age", "AGE", width=5, age=True, justify="right"),
)
KIND_SHORT = {"Deployment": "dep", "Rollout": "ro"}


class RolloutsScreen(BaseScreen):
    TITLE: ClassVar[str] = "Rollouts"
    AREAS: ClassVar[frozenset[str]] = frozenset({"rollouts"})

    def compose_body(self) -> ComposeResult:
        yield ResourceTable(COLUMNS, id="rollouts-table")

    def fetch(self, service: ClusterService) -> list[V.RolloutView]:
        return service.rollouts()

    def show(self, data: list[V.RolloutView] | None) -> None:
        rows = []
        for r in data or ():
            step = f"{r.step}/{r.steps}" if r.step is not None and r.steps else ""
            version = V.image_tag(r.images[0]) if r.images else ""
            rows.append((r.key, (r.namespace, r.name, KIND_SHORT.get(r.kind, r.kind), self.badge(r.phase),
                                 f"{r.ready}/{r.desired}", step, version, r.age)))
        self.query_one(ResourceTable).set_rows(rows, self.now())
