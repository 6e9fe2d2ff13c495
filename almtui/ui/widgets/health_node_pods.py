"""`enter` on a node of the Health screen: the pods on that node, and from there their logs.

Why: when an edge node goes unreachable, the question is "what runs there, and what will be
evicted?". The list reads the watch cache (no request); the pods' phase, readiness and restarts
are as `kubectl get pods --field-selector spec.nodeName=...` shows them.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from almtui.cluster import views as V
from almtui.ui import keys
from almtui.ui.sanitize import sanitize
from almtui.ui.status import PLAIN, badge
from almtui.ui.widgets.table import Col, ResourceTable

COLUMNS = (
    Col("namespace", "NAMESPACE", width=9, max_len=9),
    Col("name", "POD", max_len=29),
    Col("status", "STATUS", width=14),
    Col("ready", "READY", width=5, justify="right"),
    Col("restarts", "RST", width=3, justify="right"),
    Col("age", "AGE", width=4, age=True, justify="right"),
)


def pods_on(pods: list[dict], node: str, now: float) -> list[V.PodView]:
    """The node's pods, live ones first (a finished pod holds no resources and is not evicted)."""
    views = V.build_pods([p for p in pods if (p.get("spec") or {}).get("nodeName") == node], now)
    return sorted(views, key=lambda v: (v.phase in ("Succeeded", "Failed"), v.key))


class NodePods(ModalScreen[None]):
    """Pods on one node; enter or l opens a pod's log, escape closes."""

    DEFAULT_CSS = """
    NodePods { align: center middle; }
    NodePods #node-pods-box { width: 100%; max-width: 110; height: 90%; border: round $primary;
                              background: $surface; padding: 0 1; }
    NodePods #node-pods-head { height: auto; }
    NodePods ResourceTable { height: 1fr; scrollbar-size-horizontal: 0; }
    """
    BINDINGS: ClassVar[list[BindingType]] = keys.bindings(keys.HEALTH_NODE_PODS_KEYS)

    def __init__(self, node: str, head: Content | Text | str, pods: list[V.PodView], now: float, *,
                 unverified: bool = False) -> None:
        super().__init__(id="node-pods")
        self.node, self.head, self.pods, self.now = node, head, pods, now
        self.unverified = unverified  # the node is not reporting: no pod is shown as healthy

    def compose(self) -> ComposeResult:
        with Vertical(id="node-pods-box") as box:
            box.border_title = sanitize(f"Pods on {self.node}", 80, single_line=True)
            box.border_subtitle = "enter/l logs · esc closes"
            yield Static(self.head, id="node-pods-head")
            yield ResourceTable(COLUMNS, id="node-pods-table")

    def on_mount(self) -> None:
        palette = getattr(self.app, "palette", PLAIN)
        rows = [(p.key, (p.namespace, p.name, badge(p.status, palette, domain="pod", stale=self.unverified), p.ready,
                         p.restarts, p.age)) for p in self.pods]
        table = self.query_one(ResourceTable)
        table.set_rows(rows, self.now)
        table.focus()

    @property
    def selected(self) -> Hashable | None:
        return self.query_one(ResourceTable).selected_key

    @on(DataTable.RowSelected)
    def _picked(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_logs()

    def action_logs(self) -> None:
        key: Any = self.selected
        if key is None:
            return
        from almtui.ui.screens.logs import LogScreen

        self.app.push_screen(LogScreen(key[0], key[1]))

    def action_close(self) -> None:
        self.dismiss(None)
