"""metrics.k8s.io as metrics-server serves it (the server's MetricsSource).

Why snapshots: metrics-server scrapes every kubelet once per resolution (15 s) and answers
from that scrape, so readings are stale by up to one window and the same for every caller
in between. We compute one snapshot per window from the load model at the window's
timestamp, which also keeps 500 HPAs polling 20,000 pods cheap.

Shapes mirror metrics-server: cpu in nanocores and memory in canonical BinarySI
("12345678n", "31540Ki"), `timestamp` is the scrape time, `window` a Go duration,
metadata carries the object's labels and a creationTimestamp of "now". Only Running pods
with containers that were running at the scrape, on reachable (non-partitioned) nodes,
are reported; a node's usage is its pods' plus a system overhead.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from almtui.kube.durations import parse_rfc3339
from almtui.kube.quantities import format_decimal_si, format_memory
from almtui.sandbox.controllers.base import Context
from almtui.sandbox.load import LoadModel, app_of, unit
from almtui.sandbox.store import Obj, ts

RESOLUTION = 15.0  # metrics-server --metric-resolution
POD_WINDOW = "15s"
NODE_WINDOW = "20s"
SIDECAR_CPU = 1.5  # millicores of each container after the first
SIDECAR_MEMORY = 12 << 20


def format_nanocores(n: int) -> str:
    """Nanocores as a canonical DecimalSI quantity: 12345678 -> "12345678n", 5000000 -> "5m", 2e9 -> "2"."""
    n = int(n)
    if n == 0:
        return "0"
    if abs(n) >= 10**12:  # a thousand cores and up: let the general formatter pick k, M, ...
        return format_decimal_si(Decimal(n).scaleb(-9))
    for div, suffix in ((10**9, ""), (10**6, "m"), (10**3, "u")):
        if n % div == 0:
            return f"{n // div}{suffix}"
    return f"{n}n"


def node_overhead(seed: int, node: str) -> tuple[float, int]:
    """System daemons' usage on a node (kubelet, runtime, OS): 60-180m CPU, 500-1000 MiB."""
    cpu = 60.0 + 120.0 * unit(seed, "node-cpu", node)
    mem = (500 + int(500 * unit(seed, "node-mem", node))) << 20
    return cpu, mem


class PodMetrics:
    """The MetricsSource protocol: node_metrics() and pod_metrics(namespace)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.seed = int(ctx.options.get("seed", 0) or 0)
        self._snap_key: tuple | None = None
        self._changes = 0  # pods/nodes added, removed, bound or changing phase
        self._started: dict[str, float] = {}  # startedAt string -> POSIX time
        self.store.subscribe(self._on_event)
        self._pods: list[Obj] = []
        self._by_ns: dict[str, list[Obj]] = {}
        self._nodes: list[Obj] = []

    @property
    def load(self) -> LoadModel:
        model = self.ctx.shared.get("load")
        if model is None:
            model = self.ctx.shared["load"] = LoadModel(self.seed, self.ctx.clock, self.ctx.options)
        return model

    def scrape_time(self) -> float:
        return math.floor(self.ctx.now() / RESOLUTION) * RESOLUTION

    def node_metrics(self) -> list[Obj]:
        self._refresh()
        return self._nodes

    def pod_metrics(self, namespace: str | None) -> list[Obj]:
        self._refresh()
        if not namespace:
            return self._pods
        return self._by_ns.get(namespace, [])

    def invalidate(self) -> None:
        """Forget the current snapshot (tests, or after a scenario jumps time)."""
        self._snap_key = None

    def _on_event(self, ev: Any) -> None:
        if ev.key == "/nodes":
            if ev.type != "MODIFIED":
                self._changes += 1
        elif ev.key == "/pods":
            old, new = ev.old or {}, ev.obj
            if ev.type != "MODIFIED" or (old.get("status") or {}).get("phase") != (new.get("status") or {}).get(
                    "phase") or (old.get("spec") or {}).get("nodeName") != (new.get("spec") or {}).get("nodeName"):
                self._changes += 1

    # -- snapshot ---------------------------------------------------------------------------

    def _refresh(self) -> None:
        at = self.scrape_time()
        partitions = frozenset(self.ctx.shared.get("partitions") or ())
        # live, a scrape is stale until the next window, as metrics-server's is; with the clock
        # frozen (building, tests) time does not move, so object changes refresh it instead
        key = (at, partitions, self._changes if self.ctx.clock.frozen else None)
        if self._snap_key == key:
            return
        self._snap_key = key
        stamp = ts(datetime.fromtimestamp(at, UTC))
        created = ts(self.ctx.clock.now())
        nodes = {n["metadata"]["name"]: n for n in self.store.list("/nodes")
                 if n["metadata"]["name"] not in partitions}
        per_node: dict[str, list[float]] = {name: [0.0, 0] for name in nodes}
        pods = []
        for pod in self.store.list("/pods"):
            node = (pod.get("spec") or {}).get("nodeName")
            if node not in nodes or (pod.get("status") or {}).get("phase") != "Running":
                continue
            item = self._pod_item(pod, at, stamp, created)
            if item is None:
                continue
            pods.append(item[0])
            acc = per_node[node]
            acc[0] += item[1]
            acc[1] += item[2]
        out = []
        for name in sorted(nodes):
            cpu, mem = node_overhead(self.seed, name)
            cpu += per_node[name][0]
            mem += int(per_node[name][1])
            md: dict[str, Any] = {"name": name, "creationTimestamp": created}
            if nodes[name]["metadata"].get("labels"):
                md["labels"] = dict(nodes[name]["metadata"]["labels"])
            out.append({"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": md,
                        "timestamp": stamp, "window": NODE_WINDOW,
                        "usage": {"cpu": format_nanocores(self._nano(cpu, name, at)),
                                  "memory": format_memory(mem // 1024 * 1024)}})
        self._pods, self._nodes = pods, out
        self._by_ns = {}
        for p in pods:
            self._by_ns.setdefault(p["metadata"]["namespace"], []).append(p)

    def _time(self, stamp: str) -> float:
        t = self._started.get(stamp)
        if t is None:
            if len(self._started) > 4096:
                self._started.clear()
            t = self._started[stamp] = parse_rfc3339(stamp).timestamp()
        return t

    def _nano(self, millis: float, who: str, at: float) -> int:
        """Nanocores with metrics-server's sub-millicore detail (deterministic)."""
        return int(millis * 1e6) + int(999_999 * unit(self.seed, "nano", who, at))

    def _pod_item(self, pod: Obj, at: float, stamp: str, created: str) -> tuple[Obj, float, int] | None:
        md = pod["metadata"]
        statuses = {c.get("name"): c for c in (pod.get("status") or {}).get("containerStatuses") or ()}
        running = []
        for c in (pod.get("spec") or {}).get("containers") or ():
            st = (statuses.get(c["name"]) or {}).get("state") or {}
            started = (st.get("running") or {}).get("startedAt")
            if started and self._time(started) <= at:
                running.append(c["name"])
        if not running:
            return None
        app = app_of(pod)
        exact = not self.load.params(app)["noise"]
        cpu, mem = self.load.pod_usage(app, md["name"], at, namespace=md.get("namespace"))
        containers = []
        total_cpu, total_mem = 0.0, 0
        for i, name in enumerate(running):
            c_cpu, c_mem = (cpu, mem) if i == 0 else (SIDECAR_CPU, SIDECAR_MEMORY)
            nano = round(c_cpu * 1e6) if exact else self._nano(c_cpu, f"{md['name']}/{name}", at)
            containers.append({"name": name, "usage": {"cpu": format_nanocores(nano),
                                                       "memory": format_memory(c_mem)}})
            total_cpu += nano / 1e6
            total_mem += c_mem
        meta: dict[str, Any] = {"name": md["name"], "namespace": md.get("namespace", ""),
                                "creationTimestamp": created}
        if md.get("labels"):
            meta["labels"] = dict(md["labels"])
        item = {"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": meta,
                "timestamp": stamp, "window": POD_WINDOW, "containers": containers}
        return item, total_cpu, total_mem
