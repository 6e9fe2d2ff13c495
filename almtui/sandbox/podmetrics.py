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
from collections.abc import Collection
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from almtui.kube.durations import parse_rfc3339
from almtui.kube.quantities import format_decimal_si, format_memory
from almtui.kube.selectors import LabelSelector
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


class _Entry:
    """One pod of a snapshot: what it was when the scrape was taken; its reading once computed."""

    __slots__ = ("app", "cpu", "exact", "item", "mem", "node", "params", "parts", "pod", "running", "share")

    def __init__(self, pod: Obj, node: str, running: list[str], app: str, params: Any, share: float,
                 exact: bool) -> None:
        self.pod, self.node, self.running = pod, node, running
        self.app, self.params, self.share, self.exact = app, params, share, exact
        self.parts: list[tuple[str, int, int]] | None = None  # (container, nanocores, bytes), once computed
        self.cpu, self.mem = 0.0, 0
        self.item: Obj | None = None


class _Snapshot:
    """A namespace's scrape: which pods are reported and every input that could change later.

    Readings are pure functions of these inputs (and the window), so they are computed only
    when someone asks for them: the HPA reads a few pods of each namespace, not all of them.
    """

    __slots__ = ("at", "created", "entries", "index", "items", "stamp", "usage", "version")

    def __init__(self, version: int | None, at: float, stamp: str, created: str, entries: list[_Entry]) -> None:
        self.version, self.at, self.stamp, self.created, self.entries = version, at, stamp, created, entries
        self.items: list[Obj] | None = None
        self.usage: list[tuple[str, float, int]] | None = None
        # name -> position, (label, value) -> positions, positions of pods with labels
        self.index: tuple[dict[str, int], dict[tuple[str, str], list[int]], list[int]] | None = None

    def build_index(self) -> tuple[dict[str, int], dict[tuple[str, str], list[int]], list[int]]:
        if self.index is None:
            by_name: dict[str, int] = {}
            by_label: dict[tuple[str, str], list[int]] = {}
            labelled: list[int] = []
            for i, e in enumerate(self.entries):
                md = e.pod["metadata"]
                by_name.setdefault(md["name"], i)
                labels = md.get("labels")
                if labels:
                    labelled.append(i)
                    for kv in labels.items():
                        by_label.setdefault(kv, []).append(i)
            self.index = (by_name, by_label, labelled)
        return self.index


class PodMetrics:
    """The MetricsSource protocol: node_metrics() and pod_metrics(namespace).

    Readings are computed lazily per namespace and kept for the scrape window: the HPA
    controller asks for one namespace at a time, and at 20,000 pods recomputing every pod
    for each of those questions would dominate the sandbox's idle CPU. Within a namespace the
    scrape fixes which pods are reported and every changing input (Ready pods, parameters); the
    numbers and items are then computed per pod on first use, as the HPA reads only its own pods.
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
        self._by_ns: dict[str, _Snapshot] = {}
        # (namespace, name) -> (the pod object, its node, Running?, containers running, app, from when
        # that list holds): what a scrape reads from a pod only, for as long as the object is unchanged
        self._static: dict[tuple[str, str], tuple[Obj, Any, bool, list[str], str, float]] = {}
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
            for node, cpu, mem in self._usage(ns):
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
            return self._namespace(namespace)
        out: list[Obj] = []
        for ns in sorted(self._names):
            out += self._namespace(ns)
        return out

    def select_pod_metrics(self, namespace: str, names: Collection[str], selector: LabelSelector) -> list[Obj]:
        """The namespace's PodMetrics named in `names` or whose labels match `selector`, in list order.

        The same items as filtering pod_metrics(namespace) by hand (items without labels match no
        selector), found through a per-snapshot index: the HPA controller asks this for each of its
        HPAs, and scanning a 2,000-pod namespace per HPA was the sandbox's largest idle cost.
        """
        self._scrape()
        snap = self._snapshot(namespace)
        by_name, by_label, labelled = snap.build_index()
        found = {i for i in map(by_name.get, names) if i is not None}
        if not selector.matches_nothing:
            candidates: Collection[int] = labelled
            for req in selector.requirements:
                value = selector.requires_exact_match(req.key)
                if value is not None:
                    bucket = by_label.get((req.key, value), ())
                    if len(bucket) < len(candidates):
                        candidates = bucket
            entries = snap.entries
            for i in candidates:
                if i not in found and selector.matches(entries[i].pod["metadata"]["labels"]):
                    found.add(i)
        return [self._reading(snap, snap.entries[i]) for i in sorted(found)]

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
                    self._static.pop((ns, md["name"]), None)
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

    def _namespace(self, ns: str) -> list[Obj]:
        """The namespace's PodMetrics, computed once per window."""
        snap = self._snapshot(ns)
        if snap.items is None:
            snap.items = [self._reading(snap, e) for e in snap.entries]
        return snap.items

    def _usage(self, ns: str) -> list[tuple[str, float, int]]:
        """(node, cpu, memory) of each of the namespace's reported pods, computed once per window."""
        snap = self._snapshot(ns)
        if snap.usage is None:
            values = [self._values(snap, e) for e in snap.entries]
            snap.usage = [(e.node, e.cpu, e.mem) for e in values]
        return snap.usage

    def _snapshot(self, ns: str) -> _Snapshot:
        """The namespace's scrape for this window: the pods reported, with their inputs read now."""
        version = self._ns_changes.get(ns, 0) if self.ctx.clock.frozen else None
        hit = self._by_ns.get(ns)
        if hit is not None and hit.version == version:
            return hit
        at = self.scrape_time()
        load = self.load
        entries: list[_Entry] = []
        apps: dict[str, tuple[Any, float, bool]] = {}  # app -> (parameters, requests/s, exact), read once
        for name in sorted(self._names.get(ns, ())):
            pod = self.store.get("/pods", ns, name)
            if pod is None:
                continue
            static = self._static.get((ns, name))
            if static is None or static[0] is not pod or at < static[5]:
                static = self._static[(ns, name)] = self._read_pod(pod, at)
            _, node, is_running, running, app, _ = static
            if node not in self._reachable or not is_running or not running:
                continue
            known = apps.get(app)
            if known is None:
                exact = self._exact.get(app)
                if exact is None:
                    exact = self._exact[app] = not load.shared_params(app)["noise"]
                known = apps[app] = (load.shared_params(app), load.app_rps(app, at), exact)
            # the traffic share and parameters as they are now: Ready pods and scenario overrides change
            ready, n = load.pod_ready(app, name, ns)
            share = known[1] / n if ready and n > 0 else 0.0  # LoadModel.pod_rps
            entries.append(_Entry(pod, node, running, app, known[0], share, known[2]))
        snap = self._by_ns[ns] = _Snapshot(version, at, ts(datetime.fromtimestamp(at, UTC)), self._created, entries)
        return snap

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

    def _read_pod(self, pod: Obj, at: float) -> tuple[Obj, Any, bool, list[str], str, float]:
        """What a scrape at `at` reads from the pod alone; see _static.

        The containers running at the scrape are those started by then. The list stays the same
        for later scrapes once every container with a start time had started (time only moves on);
        before that, it holds only until the next start.
        """
        node = (pod.get("spec") or {}).get("nodeName")
        is_running = (pod.get("status") or {}).get("phase") == "Running"
        statuses = {c.get("name"): c for c in (pod.get("status") or {}).get("containerStatuses") or ()}
        running = []
        settled = -math.inf  # the list holds for scrapes from here on ...
        until = math.inf  # ... up to (not including) the next start
        for c in (pod.get("spec") or {}).get("containers") or ():
            st = (statuses.get(c["name"]) or {}).get("state") or {}
            started = (st.get("running") or {}).get("startedAt")
            if started:
                when = self._time(started)
                if when <= at:
                    running.append(c["name"])
                    settled = max(settled, when)
                else:
                    until = min(until, when)
        return pod, node, is_running, running, app_of(pod), settled if until == math.inf else math.inf

    def _values(self, snap: _Snapshot, e: _Entry) -> _Entry:
        """The pod's usage per container and in total, computed on first use."""
        if e.parts is None:
            name = e.pod["metadata"]["name"]
            at = snap.at
            cpu, mem = self.load.usage_at(e.params, e.app, name, at, e.share)
            parts = []
            total_cpu, total_mem = 0.0, 0
            for i, container in enumerate(e.running):
                c_cpu, c_mem = (cpu, mem) if i == 0 else (SIDECAR_CPU, SIDECAR_MEMORY)
                nano = round(c_cpu * 1e6) if e.exact else self._nano(c_cpu, f"{name}/{container}", at)
                parts.append((container, nano, c_mem))
                total_cpu += nano / 1e6
                total_mem += c_mem
            e.parts, e.cpu, e.mem = parts, total_cpu, total_mem
        return e

    def _reading(self, snap: _Snapshot, e: _Entry) -> Obj:
        """The pod's PodMetrics item, built on first use."""
        if e.item is None:
            md = e.pod["metadata"]
            containers = [{"name": name, "usage": {"cpu": format_nanocores(nano), "memory": format_memory(mem)}}
                          for name, nano, mem in self._values(snap, e).parts or ()]
            meta: dict[str, Any] = {"name": md["name"], "namespace": md.get("namespace", ""),
                                    "creationTimestamp": snap.created}
            if md.get("labels"):
                meta["labels"] = dict(md["labels"])
            e.item = {"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": meta,
                      "timestamp": snap.stamp, "window": POD_WINDOW, "containers": containers}
        return e.item
