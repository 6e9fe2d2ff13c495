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
    """The MetricsSource protocol: node_metrics() and pod_metrics(namespace).

    Readings are computed lazily per namespace and kept for the scrape window: the HPA
    controller asks for one namespace at a time, and at 20,000 pods recomputing every pod
    for each of those questions would dominate the sandbox's idle CPU.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.seed = int(ctx.options.get("seed", 0) or 0)
        self._started: dict[str, float] = {}  # startedAt string -> POSIX time
        # nodes added or removed; pods added, removed, bound or changing phase (all, per namespace)
        self._node_changes = 0
        self._pod_changes = 0
        self._ns_changes: dict[str, int] = {}
        self._names: dict[str, set[str]] = {}  # namespace -> pod names
        for pod in self.store.list("/pods"):
            md = pod["metadata"]
            self._names.setdefault(md.get("namespace", ""), set()).add(md["name"])
        self.store.subscribe(self._on_event)
        self._window: tuple | None = None
        self._reachable: dict[str, Obj] = {}
        self._created = ""
        # namespace -> (its change count or None, PodMetrics items, (node, cpu, memory) per item)
        self._by_ns: dict[str, tuple[int | None, list[Obj], list[tuple[str, float, int]]]] = {}
        self._nodes: tuple[int | None, list[Obj]] | None = None  # (pod change count or None, items)
        self._exact: dict[str, bool] = {}  # app -> readings without noise (a scenario override)

    @property
    def load(self) -> LoadModel:
        model = self.ctx.shared.get("load")
        if model is None:
            model = self.ctx.shared["load"] = LoadModel(self.seed, self.ctx.clock, self.ctx.options)
        return model

    def scrape_time(self) -> float:
        return math.floor(self.ctx.now() / RESOLUTION) * RESOLUTION

    def node_metrics(self) -> list[Obj]:
        at = self._scrape()
        version = self._pod_changes if self.ctx.clock.frozen else None
        if self._nodes is not None and self._nodes[0] == version:
            return self._nodes[1]
        per_node: dict[str, list[float]] = {name: [0.0, 0] for name in self._reachable}
        for ns in sorted(self._names):
            for node, cpu, mem in self._namespace(ns)[1]:
                acc = per_node[node]
                acc[0] += cpu
                acc[1] += mem
        stamp = ts(datetime.fromtimestamp(at, UTC))
        out = []
        for name in sorted(self._reachable):
            cpu, mem = node_overhead(self.seed, name)
            cpu += per_node[name][0]
            mem += int(per_node[name][1])
            md: dict[str, Any] = {"name": name, "creationTimestamp": self._created}
            if self._reachable[name]["metadata"].get("labels"):
                md["labels"] = dict(self._reachable[name]["metadata"]["labels"])
            out.append({"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": md,
                        "timestamp": stamp, "window": NODE_WINDOW,
                        "usage": {"cpu": format_nanocores(self._nano(cpu, name, at)),
                                  "memory": format_memory(mem // 1024 * 1024)}})
        self._nodes = (version, out)
        return out

    def pod_metrics(self, namespace: str | None) -> list[Obj]:
        self._scrape()
        if namespace:
            return self._namespace(namespace)[0]
        out: list[Obj] = []
        for ns in sorted(self._names):
            out += self._namespace(ns)[0]
        return out

    def invalidate(self) -> None:
        """Forget the current readings (tests, or after a scenario jumps time)."""
        self._window = None

    def _on_event(self, ev: Any) -> None:
        if ev.key == "/nodes":
            if ev.type != "MODIFIED":
                self._node_changes += 1
        elif ev.key == "/pods":
            old, new = ev.old or {}, ev.obj
            if ev.type != "MODIFIED" or (old.get("status") or {}).get("phase") != (new.get("status") or {}).get(
                    "phase") or (old.get("spec") or {}).get("nodeName") != (new.get("spec") or {}).get("nodeName"):
                md = new["metadata"]
                ns = md.get("namespace", "")
                self._pod_changes += 1
                self._ns_changes[ns] = self._ns_changes.get(ns, 0) + 1
                if ev.type == "ADDED":
                    self._names.setdefault(ns, set()).add(md["name"])
                elif ev.type == "DELETED":
                    names = self._names.get(ns)
                    if names is not None:
                        names.discard(md["name"])
                        if not names:
                            del self._names[ns]

    # -- readings ---------------------------------------------------------------------------

    def _scrape(self) -> float:
        """Start a new scrape window when the last one is over; returns its time."""
        at = self.scrape_time()
        partitions = frozenset(self.ctx.shared.get("partitions") or ())
        # live, a scrape is stale until the next window, as metrics-server's is; with the clock
        # frozen (building, tests) time does not move, so node changes start a new one too
        key = (at, partitions, self._node_changes if self.ctx.clock.frozen else None)
        if self._window != key:
            self._window = key
            self._by_ns.clear()
            self._nodes = None
            self._exact.clear()
            self._created = ts(self.ctx.clock.now())
            self._reachable = {n["metadata"]["name"]: n for n in self.store.list("/nodes")
                               if n["metadata"]["name"] not in partitions}
        return at

    def _namespace(self, ns: str) -> tuple[list[Obj], list[tuple[str, float, int]]]:
        """The namespace's PodMetrics and per-pod (node, cpu, memory), computed once per window."""
        version = self._ns_changes.get(ns, 0) if self.ctx.clock.frozen else None
        hit = self._by_ns.get(ns)
        if hit is not None and hit[0] == version:
            return hit[1], hit[2]
        at = self.scrape_time()
        stamp = ts(datetime.fromtimestamp(at, UTC))
        items: list[Obj] = []
        usage: list[tuple[str, float, int]] = []
        for name in sorted(self._names.get(ns, ())):
            pod = self.store.get("/pods", ns, name)
            if pod is None:
                continue
            node = (pod.get("spec") or {}).get("nodeName")
            if node not in self._reachable or (pod.get("status") or {}).get("phase") != "Running":
                continue
            item = self._pod_item(pod, at, stamp, self._created)
            if item is None:
                continue
            items.append(item[0])
            usage.append((node, item[1], item[2]))
        self._by_ns[ns] = (version, items, usage)
        return items, usage

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
        exact = self._exact.get(app)
        if exact is None:
            exact = self._exact[app] = not self.load.params(app)["noise"]
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
