"""Health: nodes, pods in trouble and recent warnings (placeholder tables; details come later)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.widgets import Static

from almtui.cluster import views as V
from almtui.cluster.service import ClusterService
from almtui.ui.screens.base import BaseScreen
from almtui.ui.widgets.table import Col, ResourceTable

NODE_COLUMNS = (
    Col("name", "NODE", max_len=40),
    Col("ready", "STATUS", width=12),
    Col("pods", "PODS", width=7, justify="right"),
    Col("cpu", "CPU REQ", width=7, justify="right"),
    Col("heartbeat", "BEAT", width=5, age=True, justify="right"),
    Col("zone", "ZONE", width=10, max_len=10),
)
ISSUE_COLUMNS = (
    Col("namespace", "NAMESPACE", width=10, max_len=10),
    Col("name", "POD", max_len=40),
    Col("kind", "ISSUE", width=18),
    Col("restarts", "RESTARTS", width=8, justify="right"),
    Col("detail", "DETAIL", max_len=120),
)
EVENT_COLUMNS = (
    Col("last", "LAST", width=5, age=True, justify="right"),
    Col("reason", "REASON", width=14, max_len=14),
    Col("object", "OBJECT", max_len=40),
    Col("message", "MESSAGE", max_len=160),
)


@dataclass(frozen=True)
class HealthData:
    nodes: list[V.NodeHealth]
    issues: list[V.PodIssue]
    warnings: list[V.WarningEvent]


class HealthScreen(BaseScreen):
    TITLE: ClassVar[str] = "Health"
    AREAS: ClassVar[frozenset[str]] = frozenset({"nodes", "pod_issues", "warnings"})

    def compose_body(self) -> ComposeResult:
        yield Static("Nodes", classes="section")
        yield ResourceTable(NODE_COLUMNS, id="nodes-table", classes="part")
        yield Static("Pods with issues", classes="section")
        yield ResourceTable(ISSUE_COLUMNS, id="issues-table", classes="part")
        yield Static("Warning events", classes="section")
        yield ResourceTable(EVENT_COLUMNS, id="events-table", classes="part")

    def fetch(self, service: ClusterService) -> HealthData:
        return HealthData(service.nodes(), service.pod_issues(), service.warning_events())

    def show(self, data: HealthData | None) -> None:
        now = self.now()
        nodes, issues, warnings = (data.nodes, data.issues, data.warnings) if data else ([], [], [])
        node_rows = []
        for n in nodes:
            status = n.ready
            label = "Ready" if n.ready == "True" else ("NotReady" if n.ready == "False" else "Unknown")
            if n.unreachable:
                status, label = "Degraded", "Unreachable"
            elif n.suspect:
                status, label = "Paused", "Suspect"
            if n.unschedulable:
                label += ",Cordon"
            cpu = f"{100 * n.cpu_requested // n.cpu_allocatable}%" if n.cpu_allocatable else "-"
            node_rows.append((n.key, (n.name, self.badge(status, domain="node", label=label),
                                      f"{n.pods}/{n.pods_capacity}", cpu, n.heartbeat_age, n.zone)))
        self.query_one("#nodes-table", ResourceTable).set_rows(node_rows, now)
        issue_rows = [(i.key, (i.namespace, i.name, self.badge("Error", label=i.kind[:16]), i.restarts, i.detail))
                      for i in issues]
        self.query_one("#issues-table", ResourceTable).set_rows(issue_rows, now)
        self.query_one("#events-table", ResourceTable).set_rows(
            [(w.key, (w.last_seen, w.reason, f"{w.object_kind}/{w.object_name}", w.message)) for w in warnings], now)
