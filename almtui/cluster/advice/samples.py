"""Usage history without Prometheus: metrics.k8s.io PodMetrics samples kept in memory.

metrics-server answers only "now" (one scrape per resolution, 15 s by default). Polling
``/apis/metrics.k8s.io/v1beta1/pods`` every ~15 s and keeping the answers gives right-sizing the
p50/p95 it needs over the last hour. Quantiles follow Prometheus's ``quantile_over_time`` (linear
interpolation between closest ranks) per pod and container, then the busiest pod wins (the max over
pods), exactly as the Prometheus queries in ``queries.yaml`` do, so both sources agree.

Pods are grouped into workloads when their samples arrive: through ownerReferences when the
caller passes the pods (and ReplicaSets), otherwise from the PodMetrics labels, which
metrics-server copies from the pod: the ``pod-template-hash`` (Deployment) or
``rollouts-pod-template-hash`` (Rollout) label and the pod name ``<workload>-<hash>-<suffix>``; the
``app`` label gives a second grouping. Samples of deleted pods stay until they age out, so a
workload's history survives its rollouts.

Memory bound: at most ``max_pods`` pods (5,000 by default; the least recently updated pod is
dropped first) and ``max_containers`` containers per pod, each container a ring buffer of
``ceil(max_age / resolution) + 1`` samples (241 for an hour at 15 s) of 16 bytes (time as float64,
CPU milli-cores and memory KiB as float32; exact for whole KiB below 16 TiB). Buffers grow as
samples arrive; the worst case, 5,000 single-container pods with a full hour, measures about 25 MB
with the bookkeeping (about 5 KB per pod).
Polling faster than the resolution only shortens the history the buffers hold.
"""

from __future__ import annotations

import math
import threading
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from almtui.cluster.views.common import (
    POD_HASH_LABEL,
    ROLLOUT_HASH_LABEL,
    controller_refs,
    d,
    dicts,
    epoch,
    labels,
    name_of,
    namespace_of,
    nbytes,
    only_dicts,
    quantity_value,
    s,
)

from .rightsizing import ContainerUsage

RESOLUTION = 15.0  # metrics-server --metric-resolution
WorkloadKey = tuple[str, str, str]  # (namespace, kind, name)


def quantile(sorted_values: list[float], q: float) -> float:
    """Prometheus's quantile (``quantile_over_time``): linear interpolation at rank q x (n - 1)."""
    n = len(sorted_values)
    if n == 0:
        return math.nan
    if q <= 0:
        return sorted_values[0]
    if q >= 1:
        return sorted_values[-1]
    rank = q * (n - 1)
    lo = math.floor(rank)
    hi = min(lo + 1, n - 1)
    weight = rank - lo
    return sorted_values[lo] * (1 - weight) + sorted_values[hi] * weight


_SUFFIX_SCALE = {"n": 1e-6, "u": 1e-3, "m": 1.0}


def cpu_millis_exact(value: Any) -> float:
    """Milli-cores without rounding ("12345678n" -> 12.345678): metrics-server reports nanocores."""
    if isinstance(value, str) and value[-1:] in _SUFFIX_SCALE and value[:-1].isdigit():
        return int(value[:-1]) * _SUFFIX_SCALE[value[-1]]
    if isinstance(value, str) and value.isdigit():
        return int(value) * 1000.0
    amount = quantity_value(value)
    return 0.0 if amount is None else amount * 1000.0


class _Ring:
    """A fixed-capacity ring of (time, cpu milli-cores, memory KiB) samples."""

    __slots__ = ("cap", "cpu", "mem", "next", "t")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.t = array("d")
        self.cpu = array("f")
        self.mem = array("f")
        self.next = 0

    def last_time(self) -> float:
        if not self.t:
            return -math.inf
        return self.t[(self.next - 1) % len(self.t)] if len(self.t) == self.cap else self.t[-1]

    def add(self, t: float, cpu: float, mem_kib: float) -> bool:
        if t <= self.last_time():
            return False  # the same scrape again (metrics-server repeats it for a window), or older
        if len(self.t) < self.cap:
            self.t.append(t)
            self.cpu.append(cpu)
            self.mem.append(mem_kib)
        else:
            self.t[self.next] = t
            self.cpu[self.next] = cpu
            self.mem[self.next] = mem_kib
            self.next = (self.next + 1) % self.cap
        return True

    def since(self, start: float) -> tuple[list[float], list[float]]:
        """(cpu milli-cores, memory bytes) of the samples at or after ``start``."""
        cpu, mem = [], []
        for t, c, m in zip(self.t, self.cpu, self.mem, strict=True):
            if t >= start:
                cpu.append(float(c))
                mem.append(float(m) * 1024.0)
        return cpu, mem


@dataclass
class _Pod:
    workload: WorkloadKey | None
    app: str
    containers: dict[str, _Ring]
    last: float


def _strip_hash(name: str, hash_: str) -> str | None:
    """"web-7d9c8f6b5c-x2x4z" with hash "7d9c8f6b5c" -> "web"."""
    head, sep, _ = name.rpartition(f"-{hash_}-")
    if sep and head:
        return head
    if name.endswith(f"-{hash_}"):
        return name[: -len(hash_) - 1] or None
    return None


def workload_of(pod_or_metrics: Any, replicasets: Mapping[tuple[str, str], dict] | None = None) -> WorkloadKey | None:
    """(namespace, kind, name) of the workload owning a pod, or None for a bare pod.

    ownerReferences first (ReplicaSet -> its owner when the ReplicaSet is known, else the hash
    stripped from its name); without them, the hash label and the pod name.
    """
    ns = namespace_of(pod_or_metrics)
    lab = labels(pod_or_metrics)
    rollout_hash, pod_hash = lab.get(ROLLOUT_HASH_LABEL, ""), lab.get(POD_HASH_LABEL, "")
    refs = controller_refs(pod_or_metrics)
    if refs:
        kind, name = s(refs[0], "kind"), s(refs[0], "name")
        if kind != "ReplicaSet":
            return (ns, kind, name) if kind and name else None
        rs = (replicasets or {}).get((ns, name))
        if rs is not None:
            owners = controller_refs(rs)
            if owners and s(owners[0], "kind") and s(owners[0], "name"):
                return ns, s(owners[0], "kind"), s(owners[0], "name")
            return ns, "ReplicaSet", name
        hash_ = rollout_hash or pod_hash or s(d(rs, "metadata", "labels"), POD_HASH_LABEL)
        base = _strip_hash(name + "-", hash_) if hash_ else None
        if base:
            return ns, "Rollout" if rollout_hash else "Deployment", base
        return ns, "ReplicaSet", name
    for key, kind in ((ROLLOUT_HASH_LABEL, "Rollout"), (POD_HASH_LABEL, "Deployment")):
        hash_ = lab.get(key)
        if hash_:
            base = _strip_hash(name_of(pod_or_metrics), hash_)
            if base:
                return ns, kind, base
    return None


class UsageSamples:
    """metrics.k8s.io PodMetrics history per (namespace, pod, container); thread-safe."""

    def __init__(self, max_age: float = 3600.0, *, max_pods: int = 5000, max_containers: int = 16,
                 resolution: float = RESOLUTION) -> None:
        self.max_age = float(max_age)
        self.max_pods = max_pods
        self.max_containers = max_containers
        self.capacity = math.ceil(self.max_age / resolution) + 1
        self._pods: OrderedDict[tuple[str, str], _Pod] = OrderedDict()  # least recently updated first
        self._by_workload: dict[WorkloadKey, set[tuple[str, str]]] = {}
        self._by_app: dict[tuple[str, str], set[tuple[str, str]]] = {}
        self._newest = -math.inf
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._pods)

    @property
    def newest(self) -> float | None:
        """The newest sample time (the default "now" for queries: the server's clock, not ours)."""
        return None if self._newest == -math.inf else self._newest

    # -- feeding ---------------------------------------------------------------------------------

    def ingest(self, pod_metrics: Any, *, pods: Iterable[Any] | None = None,
               replicasets: Iterable[Any] | None = None, now: float | None = None) -> int:
        """Add PodMetrics items (a PodMetricsList dict or a list of items); returns the new samples.

        ``pods``/``replicasets`` (optional, e.g. from the cache) refine grouping through
        ownerReferences; ``now`` stamps items without a ``timestamp``.
        """
        items = pod_metrics.get("items") if isinstance(pod_metrics, dict) else pod_metrics
        by_pod = {(namespace_of(p), name_of(p)): p for p in only_dicts(pods)}
        rs_index = {(namespace_of(r), name_of(r)): r for r in only_dicts(replicasets)}
        added = 0
        with self._lock:
            for item in only_dicts(items):
                t = epoch(item.get("timestamp"))
                if t is None:
                    if now is None:
                        continue
                    t = now
                key = (namespace_of(item), name_of(item))
                if not key[1]:
                    continue
                entry = self._entry(key, by_pod.get(key) or item, rs_index)
                for c in dicts(item, "containers")[: self.max_containers]:
                    usage = d(c, "usage")
                    ring = entry.containers.get(s(c, "name"))
                    if ring is None:
                        ring = entry.containers[s(c, "name")] = _Ring(self.capacity)
                    if ring.add(t, cpu_millis_exact(usage.get("cpu")), nbytes(usage.get("memory")) / 1024.0):
                        added += 1
                entry.last = max(entry.last, t)
                self._pods.move_to_end(key)
                self._newest = max(self._newest, t)
            self._expire()
        return added

    def _entry(self, key: tuple[str, str], source: dict, rs_index: Mapping[tuple[str, str], dict]) -> _Pod:
        entry = self._pods.get(key)
        workload = workload_of(source, rs_index)
        app = labels(source).get("app") or labels(source).get("app.kubernetes.io/name") or ""
        if entry is None:
            entry = self._pods[key] = _Pod(workload, app, {}, -math.inf)
        elif (entry.workload, entry.app) != (workload, app) and (workload or app):
            self._unindex(key, entry)
            entry.workload, entry.app = workload or entry.workload, app or entry.app
        else:
            return entry
        if entry.workload:
            self._by_workload.setdefault(entry.workload, set()).add(key)
        if entry.app:
            self._by_app.setdefault((key[0], entry.app), set()).add(key)
        return entry

    def _unindex(self, key: tuple[str, str], entry: _Pod) -> None:
        for index, ikey in ((self._by_workload, entry.workload), (self._by_app, (key[0], entry.app))):
            group = index.get(ikey) if ikey else None  # type: ignore[call-overload]
            if group is not None:
                group.discard(key)
                if not group:
                    del index[ikey]  # type: ignore[arg-type]

    def _expire(self) -> None:
        """Drop pods beyond the bound, and pods with nothing newer than max_age."""
        horizon = self._newest - self.max_age
        while self._pods:
            key, entry = next(iter(self._pods.items()))
            if len(self._pods) <= self.max_pods and entry.last >= horizon:
                break
            self._pods.popitem(last=False)
            self._unindex(key, entry)

    def forget(self, namespace: str, pod: str) -> None:
        with self._lock:
            entry = self._pods.pop((namespace, pod), None)
            if entry is not None:
                self._unindex((namespace, pod), entry)

    # -- answers ---------------------------------------------------------------------------------

    def _usage(self, keys: Iterable[tuple[str, str]], window: float, now: float | None) -> dict[str, ContainerUsage]:
        end = self._newest if now is None else now
        start = end - min(window, self.max_age)
        per: dict[str, list[tuple[float, float, float, float, int]]] = {}
        for key in keys:
            entry = self._pods.get(key)
            if entry is None:
                continue
            for cname, ring in entry.containers.items():
                cpu, mem = ring.since(start)
                if not cpu:
                    continue
                cpu.sort()
                mem.sort()
                per.setdefault(cname, []).append(
                    (quantile(cpu, 0.5), quantile(cpu, 0.95), quantile(mem, 0.5), quantile(mem, 0.95), len(cpu)))
        return {
            cname: ContainerUsage(max(r[0] for r in rows), max(r[1] for r in rows), max(r[2] for r in rows),
                                  max(r[3] for r in rows), sum(r[4] for r in rows), len(rows))
            for cname, rows in per.items()
        }

    def workload_usage(self, namespace: str, kind: str, name: str, *, window: float = 3600.0,
                       now: float | None = None) -> dict[str, ContainerUsage]:
        """Per container: p50/p95 of the busiest pod of the workload over the last ``window`` seconds."""
        with self._lock:
            return self._usage(list(self._by_workload.get((namespace, kind, name), ())), window, now)

    def app_usage(self, namespace: str, app: str, *, window: float = 3600.0,
                  now: float | None = None) -> dict[str, ContainerUsage]:
        """As workload_usage, for the pods labelled ``app`` (or ``app.kubernetes.io/name``)."""
        with self._lock:
            return self._usage(list(self._by_app.get((namespace, app), ())), window, now)

    def usage_for(self, workload: dict, *, window: float = 3600.0,
                  now: float | None = None) -> dict[str, ContainerUsage]:
        """workload_usage for a Deployment or Rollout object (falling back to its ``app`` label)."""
        ns, name = namespace_of(workload), name_of(workload)
        found = self.workload_usage(ns, s(workload, "kind") or "Deployment", name, window=window, now=now)
        if found:
            return found
        app = labels(workload).get("app") or d(workload, "spec", "template", "metadata", "labels").get("app")
        return self.app_usage(ns, app, window=window, now=now) if isinstance(app, str) and app else {}

    def pod_count(self, namespace: str, kind: str, name: str) -> int:
        with self._lock:
            return len(self._by_workload.get((namespace, kind, name), ()))
