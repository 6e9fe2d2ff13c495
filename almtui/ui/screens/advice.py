"""Advice (5): resource right-sizing and zero-downtime pre-flight findings, per workload and per node.

Per workload: the CPU and memory requests against observed usage (p50/p95 over the last hour,
from Prometheus when it answers, else from metrics.k8s.io samples the service keeps; a worker
feeds them every ~15 s with `service.poll_usage()` while the console runs), the recommendation
(p95 × 1.15, rounded up, spelled out on screen), the flags (over- and under-provisioned,
throttled, OOMKilled), what the workload's HPA would do under the new requests, and the
pre-flight findings of a rollout. Per node: allocatable against the sum of requests against real
usage, which shows a node that is full on paper but idle in fact.

`a` applies the selected workload's recommendation through the one action path (plan, checks,
pre-flight, confirm, apply, audit); the rollout it starts shows on the Rollouts screen.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote

from textual import on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from almtui.cluster.advice import Finding, NodeSizing, WorkloadSizing, rightsize, usage_from_quantiles
from almtui.cluster.advice.preflight import workload_pods
from almtui.cluster.advice.rightsizing import hpa_after_requests
from almtui.cluster.connection import ApiError, ConnectionLost
from almtui.cluster.service import ClusterService
from almtui.ui import keys
from almtui.ui.screens.base import BaseScreen
from almtui.ui.screens.health import read_node_metrics
from almtui.ui.widgets import sizing_format as F
from almtui.ui.widgets.sizing_detail import (
    FORMULA,
    ROUNDING,
    HPAEffect,
    SizingDetail,
    checks_cell,
    detail_text,
    flags_cell,
    node_flag,
    rec_cell,
    risk,
)
from almtui.ui.widgets.static_update import update_static
from almtui.ui.widgets.table import Col, ResourceTable

log = logging.getLogger(__name__)

POLL_SECONDS = 15.0
WINDOW = 3600.0
WORKLOADS = (("deployments", "Deployment"), ("rollouts", "Rollout"))
POD_METRICS = "/apis/metrics.k8s.io/v1beta1/namespaces/{}/pods"

WORKLOAD_COLUMNS = (
    Col("workload", "WORKLOAD", max_len=30),
    Col("checks", "CHECK", width=5),
    Col("cpu", "CPU", width=5, justify="right"),
    Col("cpu_p95", "P95", width=5, justify="right"),
    Col("cpu_rec", "REC", width=5, justify="right"),
    Col("mem", "MEM", width=6, justify="right"),
    Col("mem_p95", "P95", width=6, justify="right"),
    Col("mem_rec", "REC", width=6, justify="right"),
    Col("flags", "FLAGS", max_len=60),
    Col("cpu_p50", "CPU P50", width=7, justify="right"),
    Col("mem_p50", "MEM P50", width=7, justify="right"),
    Col("kind", "KIND", width=10),
)
NODE_COLUMNS = (
    Col("name", "NODE", max_len=40),
    Col("cpu", "CPU", width=5, justify="right"),
    Col("cpu_req", "REQ", width=4, justify="right"),
    Col("cpu_used", "USED", width=4, justify="right"),
    Col("mem", "MEM", width=6, justify="right"),
    Col("mem_req", "REQ", width=4, justify="right"),
    Col("mem_used", "USED", width=4, justify="right"),
    Col("flag", "", max_len=60),
)


@dataclass(frozen=True)
class WorkloadRow:
    key: tuple[str, str, str]          # (kind, namespace, name), as WorkloadSizing.key
    plural: str
    replicas: int
    sizing: WorkloadSizing | None
    findings: tuple[Finding, ...]
    effect: HPAEffect | None

    @property
    def kind(self) -> str:
        return self.key[0]

    @property
    def namespace(self) -> str:
        return self.key[1]

    @property
    def name(self) -> str:
        return self.key[2]


@dataclass(frozen=True)
class AdviceData:
    rows: list[WorkloadRow]
    nodes: list[NodeSizing]
    source: str
    built_at: float = 0.0
    waiting: bool = False  # the first usage poll has not answered yet


@dataclass(frozen=True)
class Polled:
    """What the poll worker read: node usage, and PodMetrics of namespaces whose HPAs the advice touches."""

    ok: bool
    node_metrics: list[dict] | None = None
    pod_metrics: dict[str, list[dict]] = field(default_factory=dict)


def _prometheus(service: ClusterService) -> Any:
    metrics = service.metrics
    if metrics is None:
        return None
    found = metrics.discovery or metrics.discover()
    return metrics if getattr(found, "source", "none") == "prometheus" else None


def sizings(service: ClusterService, window: float = WINDOW) -> tuple[dict[tuple[str, str, str], WorkloadSizing], str]:
    """Right-sizing per workload key, and where the usage came from.

    Prometheus (`usage_quantiles`) sums a pod's containers, so it sizes single-container workloads;
    the others, and everything when Prometheus does not answer, come from the metrics.k8s.io samples.
    """
    out = {s.key: s for s in service.rightsizing(window)}
    prom = _prometheus(service)
    if prom is None:
        return out, "metrics.k8s.io"
    pods, rss, now = service.objects("pods"), service.objects("replicasets"), service.clock()
    used = False
    for plural, _ in WORKLOADS:
        for w in service.objects(plural):
            containers = ((w.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
            if len(containers) != 1:
                continue
            md = w.get("metadata") or {}
            usage = usage_from_quantiles(prom.usage_quantiles(md.get("namespace", ""), md.get("name", ""),
                                                              window=f"{int(window)}s"))
            if usage is None:
                continue
            used = True
            sized = rightsize(w, {containers[0].get("name", ""): usage}, pods=pods, replicasets=rss, window=window,
                              now=now)
            out[sized.key] = sized
    return out, "Prometheus" if used else "metrics.k8s.io"


def _hpa_targets(service: ClusterService) -> dict[tuple[str, str, str], dict]:
    """(kind, namespace, name) of each HPA's scale target -> the HPA."""
    out = {}
    for hpa in service.objects("horizontalpodautoscalers"):
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        ns = (hpa.get("metadata") or {}).get("namespace", "")
        out[(str(ref.get("kind", "")), ns, str(ref.get("name", "")))] = hpa
    return out


def _hpa_metric(hpa: dict) -> str:
    for m in (hpa.get("spec") or {}).get("metrics") or []:
        res = m.get("resource") if m.get("type") == "Resource" else None
        target = (res or {}).get("target") or {}
        if res and target.get("averageUtilization") is not None:
            return f"{res.get('name', 'cpu')} {target['averageUtilization']}%"
    return "cpu 80%"


def hpa_effect(service: ClusterService, workload: dict, sizing: WorkloadSizing | None, hpa: dict | None,
               pod_metrics: list[dict] | None, now: float) -> HPAEffect | None:
    """The HPA's desired replicas now and under the recommended requests (None: no HPA or no metrics)."""
    if hpa is None or sizing is None or not sizing.requests_change or not pod_metrics:
        return None
    ns = sizing.namespace
    pods = workload_pods(workload, service.objects("pods", ns), service.objects("replicasets", ns))
    try:
        before = hpa_after_requests(hpa, pods, pod_metrics, {}, now)
        after = hpa_after_requests(hpa, pods, pod_metrics, sizing.requests_change, now)
    except Exception:  # a what-if must never break the screen
        log.exception("HPA what-if failed for %s/%s", ns, sizing.name)
        return None
    return HPAEffect((hpa.get("metadata") or {}).get("name", ""), _hpa_metric(hpa), before, after)


class AdviceScreen(BaseScreen):
    TITLE: ClassVar[str] = "Advice"
    AREAS: ClassVar[frozenset[str]] = frozenset({"rollouts", "nodes"})
    BINDINGS: ClassVar[list[Any]] = keys.bindings(keys.ADVICE_KEYS)
    DEFAULT_CSS = """
    AdviceScreen #advice-formula { text-wrap: nowrap; text-overflow: ellipsis; }
    AdviceScreen ResourceTable { scrollbar-size-horizontal: 0; }
    AdviceScreen #sizing-table { height: 1fr; min-height: 4; }
    AdviceScreen #sizing-scroll { height: 7; padding: 0 1; background: $boost; scrollbar-size-vertical: 1; }
    AdviceScreen #sizing-detail { height: auto; }
    AdviceScreen #node-sizing-table { height: auto; max-height: 7; }
    """

    def __init__(self, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.polled: Polled | None = None  # None until the first poll answered
        self.polls = 0
        self._permission_key: Hashable | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("", id="advice-formula", classes="section")
        yield ResourceTable(WORKLOAD_COLUMNS, id="sizing-table")
        with VerticalScroll(id="sizing-scroll"):
            yield SizingDetail("", id="sizing-detail")
        yield Static("Nodes: allocatable, requested and used", classes="section")
        yield ResourceTable(NODE_COLUMNS, id="node-sizing-table")

    def on_mount(self) -> None:
        super().on_mount()
        self.set_interval(POLL_SECONDS, self.poll)
        self.poll()

    def service_replaced(self) -> None:
        self.polled, self.polls = None, 0  # the samples live in the new service
        self._permission_key = None
        super().service_replaced()
        self.poll()

    # -- polling --------------------------------------------------------------------------------

    def poll(self) -> None:
        """Feed the usage samples (always: they build the hour of history), read node and pod metrics."""
        self._poll(self.almtui.service, self.is_current or not self.loaded or self.polled is None)

    @work(thread=True, exclusive=True, group="advice-poll", exit_on_error=False)
    def _poll(self, service: ClusterService, shown: bool) -> None:
        ok = service.poll_usage()
        if not shown:
            return
        node_metrics, _ = read_node_metrics(service)
        pod_metrics: dict[str, list[dict]] = {}
        for _, ns, _ in _hpa_targets(service):
            if ns in pod_metrics:
                continue
            try:
                body = service.conn.request("GET", POD_METRICS.format(quote(ns, safe="")))
                pod_metrics[ns] = list(body.get("items") or [])
            except (ApiError, ConnectionLost):
                pod_metrics[ns] = []
        self.app.call_from_thread(self._polled, service, Polled(ok, node_metrics, pod_metrics))

    def _polled(self, service: ClusterService, polled: Polled) -> None:
        if service is not self.almtui.service:
            return
        self.polled = polled
        self.polls += 1 if polled.ok else 0
        self.reload()

    def action_refresh(self) -> None:
        """r: poll usage now."""
        self._poll(self.almtui.service, True)

    # -- data -----------------------------------------------------------------------------------

    def fetch(self, service: ClusterService) -> AdviceData:
        # Nothing is sized before the first poll answered: a build racing the poll would show some
        # workloads with samples and others without, and nodes without usage, then change under
        # the operator's eyes (and column widths with it). The poll's answer reloads the screen.
        now, polled, polls = service.clock(), self.polled, self.polls
        if polled is None:
            return AdviceData([], [], "measuring usage…", now, waiting=True)
        sized, source = sizings(service)
        hpas = _hpa_targets(service)
        rows = []
        for plural, kind in WORKLOADS:
            for w in service.objects(plural):
                md = w.get("metadata") or {}
                ns, name = md.get("namespace", ""), md.get("name", "")
                key = (kind, ns, name)
                sizing = sized.get(key)
                try:
                    findings = tuple(service.preflight(plural, ns, name))
                except Exception:
                    log.exception("pre-flight failed for %s/%s", ns, name)
                    findings = ()
                replicas = (w.get("spec") or {}).get("replicas")
                effect = hpa_effect(service, w, sizing, hpas.get(key), polled.pod_metrics.get(ns), now)
                rows.append(WorkloadRow(key, plural, 1 if replicas is None else int(replicas), sizing, findings,
                                        effect))
        rows.sort(key=lambda r: (risk(r.sizing), r.namespace, r.name, r.kind))
        nodes = service.node_sizing(polled.node_metrics)
        if source == "metrics.k8s.io":
            source = f"{polls} poll{'s' if polls != 1 else ''} of metrics.k8s.io" if polls else \
                "no usage samples yet"
        return AdviceData(rows, nodes, source, now)

    # -- display --------------------------------------------------------------------------------

    def show(self, data: AdviceData | None) -> None:
        pal = self.palette
        stale = not self.live
        source = data.source if data else "no usage samples yet"
        update_static(self.query_one("#advice-formula", Static),
            f"Right-sizing: {FORMULA} · {int(WINDOW // 60)}m window · {source} · {ROUNDING}")
        rows = []
        for r in (data.rows if data else ()):
            s = r.sizing
            c = s.containers[0] if s and len(s.containers) == 1 else None
            rows.append((r.key, (
                f"{r.namespace}/{r.name}", checks_cell(r.findings, pal, stale=stale),
                F.cpu(s.cpu_request) if s else F.NONE, F.cpu(s.cpu_p95) if s else F.NONE,
                rec_cell(c.cpu, pal) if c else (F.cpu(s.cpu_recommended) if s else F.NONE),
                F.mem_short(s.memory_request) if s else F.NONE, F.mem_short(s.memory_p95) if s else F.NONE,
                rec_cell(c.memory, pal) if c else (F.mem(s.memory_recommended) if s else F.NONE),
                flags_cell(s, pal), F.cpu(c.cpu.p50) if c else F.NONE, F.mem_short(c.memory.p50) if c else F.NONE,
                r.kind)))
        self.query_one("#sizing-table", ResourceTable).set_rows(rows, self.now())
        node_rows = []
        for n in (data.nodes if data else ()):
            node_rows.append(((n.name,), (
                n.name, F.cpu(n.cpu_allocatable), F.pct(n.cpu_requested, n.cpu_allocatable),
                F.pct(n.cpu_used, n.cpu_allocatable), F.mem(n.memory_allocatable),
                F.pct(n.memory_requested, n.memory_allocatable), F.pct(n.memory_used, n.memory_allocatable),
                node_flag(n, pal))))
        self.query_one("#node-sizing-table", ResourceTable).set_rows(node_rows, self.now())
        self._show_detail()

    def selected(self) -> WorkloadRow | None:
        data = self.data
        if not isinstance(data, AdviceData):
            return None
        key: Hashable | None = self.query_one("#sizing-table", ResourceTable).selected_key
        return next((r for r in data.rows if r.key == key), None)

    def _show_detail(self) -> None:
        self._check_permissions()
        data, r = self.data, self.selected()
        pane = self.query_one("#sizing-detail", SizingDetail)
        if r is None or not isinstance(data, AdviceData):
            if isinstance(data, AdviceData) and data.waiting:
                update_static(pane, "measuring usage: the first metrics.k8s.io poll has not answered yet")
            else:
                update_static(pane, "no workload selected" if isinstance(data, AdviceData) and data.rows else
                            "no Deployments or Rollouts here")
            return
        update_static(pane, detail_text(r.kind, r.namespace, r.name, r.replicas, r.sizing, r.findings, r.effect,
                                self.palette, stale=not self.live))

    @on(DataTable.RowHighlighted, "#sizing-table")
    def _highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    # -- keys -----------------------------------------------------------------------------------

    def action_apply(self) -> None:
        """a: apply the selected workload's recommendation (set_requests through the action path)."""
        r = self.selected()
        if r is None:
            self.app.notify("no workload selected", title="Apply advice", severity="warning")
            return
        if r.sizing is None:
            self.app.notify(f"no usage observed yet for {r.namespace}/{r.name}: nothing to recommend",
                            title="Apply advice", severity="warning")
            return
        if not r.sizing.requests_change:
            self.app.notify(f"{r.namespace}/{r.name}: the requests already match the usage; nothing to apply",
                            title="Apply advice")
            return
        self._apply(r)

    def _apply(self, r: WorkloadRow) -> None:
        assert r.sizing is not None
        actions = self.app.actions  # type: ignore[attr-defined]
        verb = "patch" if r.plural == "deployments" else "update"
        if not actions.guard_key(self, "advice.apply") or not actions.guard(verb, r.plural, r.namespace, r.name):
            return  # explained on screen; nothing sent
        title = f"Right-size {r.namespace}/{r.name}"
        if r.effect is not None and r.effect.after != r.effect.now:
            title += f" (HPA {r.effect.name}: {r.effect.now} → {r.effect.after} replicas)"
        actions.start("set_requests", r.plural, r.namespace, r.name,
                      params={"requests": {c: dict(v) for c, v in r.sizing.requests_change.items()}},
                      preflight="workload", title=title)

    def _check_permissions(self) -> None:
        """Dim `a` (with the reason in help) when the selected workload may not be changed."""
        r = self.selected()
        actions = getattr(self.app, "actions", None)
        if r is None or actions is None or r.key == self._permission_key:
            return
        self._permission_key = r.key
        verb = "patch" if r.plural == "deployments" else "update"
        actions.refresh_permissions(self, {"advice.apply": (verb, r.plural, r.namespace, r.name, "")})
