"""Health (3): nodes, failing pods, warning events and API reachability of the site. Read-only.

Edge realities drive the node table: a node that stops heartbeating is Unknown and tainted
unreachable, and its pods are evicted after their toleration, so the countdown to the first
eviction is shown and ticks every second; a node that says Ready while its own Lease is stale
(delegated heartbeats) is flagged "suspect". Node Leases are watched, but their renewals (one
per node every ~10 s) trigger no rebuild: while this screen is shown it re-applies the cached
Leases every HEARTBEAT_SECONDS, when one was renewed or ran out since. Node usage (metrics.k8s.io, or Prometheus
through `service.metrics`) cannot be watched: a worker reads it every USAGE_SECONDS, only while
this screen is shown (and on entering it when the last read is older), and the summary says
how old it is when a read is overdue. `enter` or `l` on a failing pod (or a Pod's warning) opens
its logs; `enter` on a node lists its pods. Nothing here writes to the cluster.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from almtui.cluster import views as V
from almtui.cluster.advice.rightsizing import NODE_IDLE, NODE_RESERVED
from almtui.cluster.connection import ApiError, ConnectionLost
from almtui.cluster.service import ApiHealth, ClusterService
from almtui.ui import keys
from almtui.ui.screens.base import BaseScreen
from almtui.ui.status import Tone, fmt_age, styled
from almtui.ui.widgets import sizing_format as F
from almtui.ui.widgets.health_detail import (
    HealthDetail,
    HealthSummary,
    event_detail,
    issue_detail,
    node_detail,
    node_head,
    node_notes,
    node_state,
    summary_line,
)
from almtui.ui.widgets.health_node_pods import NodePods, pods_on
from almtui.ui.widgets.static_update import update_static
from almtui.ui.widgets.table import Col, ResourceTable

USAGE_SECONDS = 60.0      # node usage is read this often while the screen is shown
HEARTBEAT_SECONDS = 10.0  # the watched Leases are re-applied this often (the kubelet's renew interval)
USAGE_OVERDUE = USAGE_SECONDS + HEARTBEAT_SECONDS  # older than a healthy poll cycle leaves it: say so
COUNTDOWN_SECONDS = 1.0   # eviction countdowns tick this often while one is pending
NODE_METRICS_PATH = "/apis/metrics.k8s.io/v1beta1/nodes"

NODE_COLUMNS = (
    Col("name", "NODE", max_len=40),
    Col("status", "STATUS", width=13),
    Col("beat", "BEAT", width=5, age=True, justify="right"),
    Col("evicts", "EVICTS", width=8),
    Col("cpu", "CPU R/U", width=8, justify="right"),
    Col("mem", "MEM R/U", width=8, justify="right"),
    Col("notes", "NOTES", max_len=120),
    Col("pods", "PODS", width=7, justify="right"),
    Col("zone", "ZONE", max_len=20),
    Col("roles", "ROLES", max_len=30),
)
ISSUE_COLUMNS = (
    Col("namespace", "NAMESPACE", width=9, max_len=9),
    Col("name", "POD", max_len=34),
    Col("kind", "ISSUE", width=18),
    Col("restarts", "RST", width=3, justify="right"),
    Col("since", "AGE", width=4, age=True, justify="right"),
    Col("detail", "DETAIL", max_len=160),
)
EVENT_COLUMNS = (
    Col("last", "LAST", width=4, age=True, justify="right"),
    Col("count", "#", width=3, justify="right"),
    Col("reason", "REASON", width=14, max_len=14),
    Col("object", "OBJECT", max_len=40),
    Col("message", "MESSAGE", max_len=200),
)


@dataclass(frozen=True)
class NodeUsage:
    """The last node usage read: NodeMetrics-shaped dicts (None: none yet), when, and why the last poll failed."""

    node_metrics: list[dict] | None = None
    read_at: float | None = None   # console clock
    note: str = ""


@dataclass(frozen=True)
class HealthData:
    nodes: list[V.NodeHealth]
    issues: list[V.PodIssue]
    warnings: list[V.WarningEvent]
    api: ApiHealth | None
    built_at: float                   # the service clock when the views were built
    note: str = ""
    leases_seen: int = 0              # Cache.changes("leases") when the views were built
    idle: dict[str, tuple[str, ...]] = field(default_factory=dict)  # node -> resources reserved but idle


def reserved_but_idle(n: V.NodeHealth) -> tuple[str, ...]:
    """Resources requested above 80 % of allocatable while less than 30 % is used (advice.node_sizing's rule)."""
    out = []
    for res, alloc, req, used in (("cpu", n.cpu_allocatable, n.cpu_requested, n.cpu_used),
                                  ("memory", n.memory_allocatable, n.memory_requested, n.memory_used)):
        if alloc > 0 and used is not None and req > NODE_RESERVED * alloc and used < NODE_IDLE * alloc:
            out.append(res)
    return tuple(out)


def read_node_metrics(service: ClusterService) -> tuple[list[dict] | None, str]:
    """NodeMetrics-shaped dicts from Prometheus (`service.metrics`) or metrics.k8s.io; None and why when unavailable."""
    if service.metrics is not None:
        usage = service.metrics.node_usage()
        if getattr(usage, "status", "error") != "ok":
            return None, "usage: " + (getattr(usage, "message", "") or "not available")
        return [{"metadata": {"name": node}, "usage": {"cpu": f"{round(cores * 1000)}m", "memory": str(int(b))}}
                for node, (cores, b) in usage.items() if cores == cores], ""  # NaN: no sample
    try:
        return list(service.conn.request("GET", NODE_METRICS_PATH).get("items") or []), ""
    except (ApiError, ConnectionLost):
        return None, "usage: metrics.k8s.io not available"


def lease_changes(service: ClusterService) -> int:
    """A token that moves whenever a watched node Lease changes."""
    return service.cache.changes("leases")


def lease_note(service: ClusterService) -> str:
    """Why heartbeats come from the Nodes' Ready condition alone ("" when the Leases are watched)."""
    try:
        available = service.cache.available("leases")
    except KeyError:
        return "leases: not watched"
    return "leases: not available" if available is False else ""


class HealthScreen(BaseScreen):
    TITLE: ClassVar[str] = "Health"
    AREAS: ClassVar[frozenset[str]] = frozenset({"nodes", "pod_issues", "warnings"})
    BINDINGS: ClassVar[list[Any]] = keys.bindings(keys.HEALTH_KEYS)
    DEFAULT_CSS = """
    HealthScreen ResourceTable { scrollbar-size-horizontal: 0; }
    HealthScreen #health-summary { height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    HealthScreen #nodes-table, HealthScreen #issues-table { height: auto; max-height: 40%; }
    HealthScreen #events-table { height: 1fr; min-height: 3; }
    HealthScreen #health-detail { height: 3; padding: 0 1; background: $boost; }
    """

    def __init__(self, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.usage = NodeUsage()
        self._polled_at: float | None = None  # the last usage poll, answered or not
        self._node_cells: dict[Hashable, tuple[Any, ...]] = {}  # node key -> (inputs..., cells)
        self._badges: dict[tuple[str, str, str | None, bool], Text] = {}
        self._badges_palette: object = None

    def compose_body(self) -> ComposeResult:
        yield HealthSummary("", id="health-summary")
        yield Static("Nodes", classes="section")
        yield ResourceTable(NODE_COLUMNS, id="nodes-table", classes="part")
        yield Static("Failing pods", classes="section")
        yield ResourceTable(ISSUE_COLUMNS, id="issues-table", classes="part")
        yield Static("Warning events", classes="section")
        yield ResourceTable(EVENT_COLUMNS, id="events-table", classes="part")
        yield HealthDetail("", id="health-detail")

    def on_mount(self) -> None:
        super().on_mount()
        self.set_interval(HEARTBEAT_SECONDS, self._heartbeat)
        self.set_interval(COUNTDOWN_SECONDS, self._tick_countdowns)
        self.poll()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self._usage_due():
            self.poll()

    def service_replaced(self) -> None:
        self.usage = NodeUsage()  # the old cluster's usage
        self._polled_at = None
        super().service_replaced()
        self.poll()

    # -- data -----------------------------------------------------------------------------------

    def _usage_due(self) -> bool:
        polled = self._polled_at
        return polled is None or self.now() - polled >= USAGE_SECONDS

    def _heartbeat(self) -> None:
        """While shown: read usage when due, else re-apply the Leases if any was renewed."""
        if not self.is_current:
            return
        if self._usage_due():
            self.poll()  # reloads when it lands
            return
        data = self.data
        if isinstance(data, HealthData):
            if data.leases_seen != lease_changes(self.almtui.service) or self._lease_ran_out(data):
                self.reload()
            else:
                self._show_summary(data)  # the usage's age moves on

    def _lease_ran_out(self, data: HealthData) -> bool:
        """A Ready node's Lease expired since the build: it is suspect now, and no event will say so."""
        elapsed = self._elapsed(data)
        return any(n.ready == "True" and not n.suspect and n.lease_age is not None and n.lease_duration is not None
                   and n.lease_age + elapsed > n.lease_duration for n in data.nodes)

    def poll(self) -> None:
        """Read node usage again (worker), then rebuild."""
        self._polled_at = self.now()
        self._poll(self.almtui.service)

    @work(thread=True, exclusive=True, group="health-poll", exit_on_error=False)
    def _poll(self, service: ClusterService) -> None:
        metrics, note = read_node_metrics(service)
        self.app.call_from_thread(self._polled, service, metrics, note)

    def _polled(self, service: ClusterService, metrics: list[dict] | None, note: str) -> None:
        if service is not self.almtui.service:
            return
        # a failed read keeps the last usage: the summary gives its age and why it is not newer
        self.usage = NodeUsage(metrics, self.now()) if metrics is not None else replace(self.usage, note=note)
        self.reload()

    def fetch(self, service: ClusterService) -> HealthData:
        seen = lease_changes(service)  # before reading: a renewal during the build is seen next time
        now = service.clock()
        nodes = service.nodes(self.usage.node_metrics)
        idle = {n.name: reserved_but_idle(n) for n in nodes}
        note = "; ".join(n for n in (lease_note(service), self.usage.note) if n)
        return HealthData(nodes, service.pod_issues(), service.warning_events(), service.api_health(), now,
                          note, idle={k: v for k, v in idle.items() if v}, leases_seen=seen)

    def usage_note(self, data: HealthData) -> str:
        """The fetch's notes, and the usage's age once a read is overdue."""
        read_at = self.usage.read_at
        parts = [data.note] if data.note else []
        if read_at is not None and self.now() - read_at > USAGE_OVERDUE:
            parts.append(f"usage {fmt_age(self.now() - read_at)} old")
        return "; ".join(parts)

    # -- display --------------------------------------------------------------------------------

    def _elapsed(self, data: HealthData) -> float:
        return max(0.0, self.now() - data.built_at)

    def show(self, data: HealthData | None) -> None:
        now = self.now()
        if data is None:
            for t in self.tables:
                t.set_rows([], now)
            update_static(self.query_one("#health-summary", HealthSummary), "")
            self._show_detail()
            return
        self._show_nodes(data)
        issue_rows = [(i.key, (i.namespace, i.name, self.badge("Error", label=i.kind), i.restarts, i.since,
                               i.detail)) for i in data.issues]
        self._set_rows("#issues-table", issue_rows, data)
        self._set_rows("#events-table", [(w.key, (w.last_seen, w.count, w.reason, w.object, w.message))
                                         for w in data.warnings], data)
        self._show_summary(data)
        self._show_detail()

    def badge(self, status: str, *, domain: str = "", label: str | None = None) -> Text:
        """BaseScreen.badge, memoised: every heartbeat refresh and countdown tick asks for the same few
        badges for hundreds of rows (shared Texts are safe: the table copies a Text it shows)."""
        palette = self.palette
        if palette is not self._badges_palette or len(self._badges) > 1024:
            self._badges, self._badges_palette = {}, palette
        key = (status, domain, label, not self.live)
        found = self._badges.get(key)
        if found is None:
            found = self._badges[key] = super().badge(status, domain=domain, label=label)
        return found

    def _set_rows(self, selector: str, rows: list, data: HealthData) -> None:
        """Rows whose ages were computed at build time, then aged to the console's now."""
        table = self.query_one(selector, ResourceTable)
        table.set_rows(rows, data.built_at)
        table.tick(self.now())

    def _show_summary(self, data: HealthData) -> None:
        update_static(self.query_one("#health-summary", HealthSummary), summary_line(
            data.api, data.nodes, len(data.issues), len(data.warnings), self.palette, stale=not self.live,
            metrics_note=self.usage_note(data)))

    def _countdown(self, n: V.NodeHealth, data: HealthData) -> float | None:
        if n.eviction_countdown is None:
            return None
        return max(0.0, n.eviction_countdown - self._elapsed(data))

    def _show_nodes(self, data: HealthData) -> None:
        # A row's cells are reused while its inputs are the same (the table then skips the row): the
        # countdown tick runs every second, and only the nodes counting down change.
        rows, cache, palette, live = [], {}, self.palette, self.live
        for n in data.nodes:
            left = self._countdown(n, data)
            evicts = "" if left is None else f"in {F.countdown(left)}"
            hit = self._node_cells.get(n.key)
            if hit is not None and hit[0] is n and hit[1] is data and hit[2] == evicts and hit[3] is palette \
                    and hit[4] == live:
                cells = hit[5]
            else:
                word, label = node_state(n)
                cells = (
                    n.name, self.badge(word, domain="node", label=label), n.heartbeat_age,
                    styled(evicts, Tone.DEGRADED, palette) if evicts else "",
                    f"{F.pct(n.cpu_requested, n.cpu_allocatable)}/{F.pct(n.cpu_used, n.cpu_allocatable)}",
                    f"{F.pct(n.memory_requested, n.memory_allocatable)}/{F.pct(n.memory_used, n.memory_allocatable)}",
                    node_notes(n, data.idle.get(n.name, ())), f"{n.pods}/{n.pods_capacity}", n.zone,
                    ",".join(n.roles))
            cache[n.key] = (n, data, evicts, palette, live, cells)
            rows.append((n.key, cells))
        self._node_cells = cache
        self._set_rows("#nodes-table", rows, data)

    def _tick_countdowns(self) -> None:
        data = self.data
        if isinstance(data, HealthData) and any(n.eviction_countdown is not None for n in data.nodes):
            self._show_nodes(data)
            selected = self._selected()
            if selected is not None and selected[0] == "node" and selected[1].eviction_countdown is not None:
                self._show_detail()  # only a counting-down node's pane changes with the clock

    def freshness_changed(self, state: Any) -> None:
        super().freshness_changed(state)
        if isinstance(self.data, HealthData):
            self._show_summary(self.data)

    # -- the selected row -----------------------------------------------------------------------

    def _focused_table(self) -> ResourceTable | None:
        focused = self.focused
        return focused if isinstance(focused, ResourceTable) else None

    def _selected(self) -> tuple[str, Any] | None:
        """("node" | "issue" | "event", view) under the cursor of the focused table."""
        data = self.data
        table = self._focused_table()
        if not isinstance(data, HealthData) or table is None:
            return None
        key: Hashable | None = table.selected_key
        if key is None:
            return None
        kinds = {"nodes-table": ("node", data.nodes), "issues-table": ("issue", data.issues),
                 "events-table": ("event", data.warnings)}
        kind, views = kinds.get(table.id or "", ("", []))
        found = next((v for v in views if v.key == key), None)
        return None if found is None else (kind, found)

    def _show_detail(self) -> None:
        pane = self.query_one("#health-detail", HealthDetail)
        data, selected = self.data, self._selected()
        if selected is None or not isinstance(data, HealthData):
            update_static(pane, "")
            return
        kind, view = selected
        stale, elapsed = not self.live, self._elapsed(data)
        if kind == "node":
            update_static(pane, node_detail(view, self.palette, stale=stale, countdown=self._countdown(view, data),
                                            idle=data.idle.get(view.name, ())))
        elif kind == "issue":
            update_static(pane, issue_detail(view, self.palette, stale=stale, elapsed=elapsed))
        else:
            update_static(pane, event_detail(view, self.palette, elapsed=elapsed))

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table is self.focused:
            self._show_detail()

    def on_descendant_focus(self, _event: Any) -> None:
        self._show_detail()

    @on(DataTable.RowSelected)
    def _selected_row(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    # -- keys -----------------------------------------------------------------------------------

    def _pod_under_cursor(self) -> tuple[str, str] | None:
        selected = self._selected()
        if selected is None:
            return None
        kind, view = selected
        if kind == "issue":
            return view.namespace, view.name
        if kind == "event" and view.object_kind == "Pod" and view.namespace:
            return view.namespace, view.object_name
        return None

    def action_open(self) -> None:
        """enter: a node's pods, or a failing pod's logs."""
        selected = self._selected()
        if selected is not None and selected[0] == "node":
            self._open_node(selected[1])
            return
        self.action_logs()

    def _open_node(self, n: V.NodeHealth) -> None:
        data = self.data
        if not isinstance(data, HealthData):
            return
        now = self.now()
        pods = pods_on(self.almtui.service.objects("pods"), n.name, now)
        stale = not self.live
        head = node_head(n, self.palette, stale=stale, countdown=self._countdown(n, data), pods=len(pods))
        self.app.push_screen(NodePods(n.name, head, pods, now, unverified=stale or n.unreachable or n.suspect))

    def action_logs(self) -> None:
        pod = self._pod_under_cursor()
        if pod is None:
            self.app.notify("select a failing pod (or a Pod's warning) to see its logs", title="Logs",
                            severity="warning")
            return
        from almtui.ui.screens.logs import LogScreen

        self.app.push_screen(LogScreen(pod[0], pod[1]))
