"""The sandbox's Prometheus exposition: app RED metrics, cAdvisor, node-exporter and kube-state-metrics.

Why one collector built at scrape time: a real cluster has hundreds of targets, the sandbox has one
process. The collector reads the store and the load model (almtui/sandbox/load.py) on every scrape
and emits the series those targets would, with the label names kube-prometheus gives them, so the
console's PromQL works unchanged against a real cluster. No per-pod client objects live forever:
per-pod state is a few floats, dropped when the pod goes.

Time. Prometheus stamps samples with the wall clock, while the sandbox runs `speed` times faster.
Counters therefore grow by (simulated amount / speed) per scrape, so that `rate()` over wall time
gives the *simulated* per-second rate: `sum(rate(http_requests_total[1m]))` shows the requests/s the
console shows and `rate(container_cpu_usage_seconds_total[1m])` the cores metrics.k8s.io reports,
at any speed (a `[1m]` window needs a wall minute of scrapes to be full). The price:
`increase(x[1h])` counts one wall hour, i.e. 1/speed of the simulated requests in that hour.
Ratios (error ratio, histogram_quantile) do not depend on speed.

Counters integrate the model deterministically: simulated time is cut into metrics-server windows
(15 s), the model's value at a window's start holds for the whole window (what metrics.k8s.io
reports for it), and each scrape adds the windows (or parts) since the pod's previous scrape.
A pod's share is the app's rate over its Ready pods at scrape time. Counters start at 0 when the
exporter first sees a running pod and only ever grow; gauges (memory) are read at the current
window's start, so they equal metrics.k8s.io readings.

Series and labels (honor_labels is on in the scrape config, so `job` and `instance` are kept):
  http_requests_total{namespace,app,pod,code,pod_template_hash|rollouts_pod_template_hash,job=app,instance=podIP:port}
  http_request_duration_seconds_{bucket,sum,count}{... same, no code}: buckets 5 ms .. 10 s
  container_cpu_usage_seconds_total, container_memory_working_set_bytes{namespace,pod,container,node,job="kubelet"}
  node_cpu_seconds_total{cpu,mode}, node_memory_Mem{Total,Available}_bytes{instance=node,node,job="node-exporter"}
  kube_* (kube-state-metrics v2 names){job="kube-state-metrics"}
Pods and nodes behind a network partition are not scraped (their series go stale, as in a real
outage); kube-state-metrics still reports them since it reads the API server.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

from almtui.kube.quantities import cpu_millis, parse_quantity, to_bytes
from almtui.sandbox.controllers.base import Context
from almtui.sandbox.load import LoadModel, app_of, image_kind, unit
from almtui.sandbox.podmetrics import RESOLUTION, SIDECAR_CPU, SIDECAR_MEMORY, node_overhead
from almtui.sandbox.store import Obj

log = logging.getLogger(__name__)

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)  # client_golang DefBuckets
STEP = RESOLUTION  # simulated seconds per integration window
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # what generate_latest writes; Prometheus 2.x reads it
MAX_STEPS = 64  # windows per update before they are merged (after a long jump of the clock)
# how a node's busy CPU time splits across modes (the rest of each CPU's time is idle)
BUSY_MODES = (("user", 0.66), ("system", 0.24), ("iowait", 0.04), ("softirq", 0.03), ("irq", 0.01),
              ("nice", 0.01), ("steal", 0.01))
CPU_MODES = ("idle", *(m for m, _ in BUSY_MODES))
HASH_LABELS = (("pod-template-hash", "pod_template_hash"), ("rollouts-pod-template-hash", "rollouts_pod_template_hash"))
CONDITION_STATUSES = ("true", "false", "unknown")


# -- the latency distribution ------------------------------------------------------------------

_LATENCY_CACHE: dict[str, tuple[tuple[float, ...], float]] = {}


def latency_profile(image: str | None) -> tuple[tuple[float, ...], float]:
    """(fraction of requests within each bucket bound, mean latency) for an image.

    Inverts LoadModel.latency_seconds (a quantile function) numerically, so the histogram's
    quantiles are the model's whatever shape load.py gives it.
    """
    kind = image_kind(image)
    cached = _LATENCY_CACHE.get(kind)
    if cached is not None:
        return cached
    probe = f"x:1-{kind}" if kind else "x:1"

    def quantile(q: float) -> float:
        return LoadModel.latency_seconds(probe, q)

    cdf = []
    for le in BUCKETS:
        if quantile(0.0) > le:
            cdf.append(0.0)
            continue
        if quantile(1.0) <= le:
            cdf.append(1.0)
            continue
        lo, hi = 0.0, 1.0
        for _ in range(50):
            mid = (lo + hi) / 2
            if quantile(mid) <= le:
                lo = mid
            else:
                hi = mid
        cdf.append(lo)
    n = 2000
    mean = sum(quantile((i + 0.5) / n) for i in range(n)) / n
    out = (tuple(cdf), mean)
    _LATENCY_CACHE[kind] = out
    return out


# -- per-object state ----------------------------------------------------------------------------

@dataclass
class PodState:
    """Accumulated counters of one pod (in exported units: already divided by speed)."""

    uid: str
    last: float  # simulated time of the last update
    requests: float = 0.0
    errors: float = 0.0
    buckets: list[float] = field(default_factory=lambda: [0.0] * len(BUCKETS))
    latency_sum: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # container -> CPU seconds
    usage: tuple[float, float, int] = (-1.0, 0.0, 0)  # (window start, millicores, bytes) last computed


@dataclass
class NodeState:
    cpus: int
    last: float
    modes: dict[str, float]  # per-CPU seconds by mode


def _is_ready(pod: Obj) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


def _running_containers(pod: Obj) -> list[str]:
    statuses = {c.get("name"): c for c in (pod.get("status") or {}).get("containerStatuses") or ()}
    return [c["name"] for c in (pod.get("spec") or {}).get("containers") or ()
            if ((statuses.get(c["name"]) or {}).get("state") or {}).get("running")]


def windows(a: float, b: float, step: float = STEP, max_steps: int = MAX_STEPS) -> list[tuple[float, float]]:
    """Cut [a, b] at multiples of `step`: [(window start, seconds of [a, b] inside it)].

    More than `max_steps` windows are merged into `max_steps` groups, each valued at its first
    window's start, so a long clock jump costs a bounded amount of work.
    """
    if b <= a:
        return []
    out = []
    k = math.floor(a / step)
    while k * step < b:
        lo, hi = max(a, k * step), min(b, (k + 1) * step)
        if hi > lo:
            out.append((k * step, hi - lo))
        k += 1
    if len(out) <= max_steps:
        return out
    size = math.ceil(len(out) / max_steps)
    return [(out[i][0], sum(s for _, s in out[i:i + size])) for i in range(0, len(out), size)]


def _node_ip(node: Obj | None) -> str:
    for a in ((node or {}).get("status") or {}).get("addresses") or ():
        if a.get("type") == "InternalIP" and a.get("address"):
            return str(a["address"])
    return ""


# -- the collector -------------------------------------------------------------------------------

class SandboxCollector:
    """A prometheus_client custom collector over a sandbox Context; see the module docstring."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.seed = int(ctx.options.get("seed", 0) or 0)
        self.pods: dict[tuple[str, str], PodState] = {}
        self.nodes: dict[str, NodeState] = {}
        self._rps: dict[tuple[str, float], float] = {}
        self.updated_at: float | None = None

    @property
    def load(self) -> LoadModel:
        model = self.ctx.shared.get("load")
        if model is None:
            model = self.ctx.shared["load"] = LoadModel(self.seed, self.ctx.clock, self.ctx.options)
        return model

    def _app_rps(self, app: str, t0: float) -> float:
        key = (app, t0)
        v = self._rps.get(key)
        if v is None:
            if len(self._rps) > 20000:
                self._rps.clear()
            v = self._rps[key] = self.load.app_rps(app, t0)
        return v

    def _usage(self, st: PodState, app: str, pod: str, ns: str, t0: float, ready: bool, n: int) -> tuple[float, int]:
        if st.usage[0] != t0:
            cpu, mem = self.load.pod_usage(app, pod, t0, namespace=ns, ready=ready, ready_pods=n)
            st.usage = (t0, cpu, mem)
        return st.usage[1], st.usage[2]

    # -- advancing the counters ---------------------------------------------------------------

    def update(self, now: float | None = None) -> None:
        """Advance every counter to simulated time `now` (default: the sandbox clock)."""
        now = self.ctx.now() if now is None else now
        scale = 1.0 / float(self.ctx.clock.speed or 1.0)
        current = math.floor(now / STEP) * STEP
        node_busy: dict[str, float] = {}  # simulated core-seconds of pods since each node's last update
        seen: set[tuple[str, str]] = set()
        load = self.load
        for pod in self.store.list("/pods"):
            md = pod["metadata"]
            if (pod.get("status") or {}).get("phase") != "Running":
                continue
            running = _running_containers(pod)
            if not running:
                continue
            ns, name = md.get("namespace", ""), md["name"]
            key = (ns, name)
            seen.add(key)
            app = app_of(pod)
            ready = _is_ready(pod)
            n = load.ready_pods(app, ns) if ready else 0
            if ready and n <= 0:
                n = 1
            st = self.pods.get(key)
            if st is None or st.uid != md.get("uid"):
                st = self.pods[key] = PodState(str(md.get("uid", "")), now)
                st.cpu = dict.fromkeys(running, 0.0)
            if now > st.last:
                reqs = cpu_main = 0.0
                for t0, secs in windows(st.last, now):
                    if ready:
                        reqs += self._app_rps(app, t0) / n * secs
                    cpu_main += self._usage(st, app, name, ns, t0, ready, n)[0] / 1000.0 * secs
                dt = now - st.last
                image = ((pod.get("spec") or {}).get("containers") or [{}])[0].get("image")
                cdf, mean = latency_profile(image)
                err = load.error_ratio(image)
                exported = reqs * scale
                st.requests += exported
                st.errors += exported * err
                for i, frac in enumerate(cdf):
                    st.buckets[i] += exported * frac
                st.latency_sum += exported * mean
                main = running[0]
                sidecars = 0.0
                for c in running:
                    inc = cpu_main if c == main else SIDECAR_CPU / 1000.0 * dt
                    st.cpu[c] = st.cpu.get(c, 0.0) + inc * scale
                    if c != main:
                        sidecars += inc
                node = (pod.get("spec") or {}).get("nodeName") or ""
                node_busy[node] = node_busy.get(node, 0.0) + cpu_main + sidecars
                st.last = now
            self._usage(st, app, name, ns, current, ready, n)
        for key in [k for k in self.pods if k not in seen]:
            del self.pods[key]
        self._update_nodes(now, scale, node_busy)
        self.updated_at = now

    def _update_nodes(self, now: float, scale: float, busy: dict[str, float]) -> None:
        names = set()
        for node in self.store.list("/nodes"):
            name = node["metadata"]["name"]
            names.add(name)
            st = self.nodes.get(name)
            if st is None:
                cap = ((node.get("status") or {}).get("capacity") or {}).get("cpu", "1")
                cpus = max(1, math.ceil(cpu_millis(cap) / 1000))
                # a node that booted days ago: counters start at a seeded uptime, mostly idle
                uptime = 86400.0 * (1.0 + 29.0 * unit(self.seed, "uptime", name))
                modes = {"idle": uptime * 0.93, **{m: uptime * 0.07 * f for m, f in BUSY_MODES}}
                st = self.nodes[name] = NodeState(cpus, now, modes)
                continue
            dt = now - st.last
            if dt <= 0:
                continue
            used = node_overhead(self.seed, name)[0] / 1000.0 * dt + busy.get(name, 0.0)
            used = min(used, st.cpus * dt)
            per_cpu = scale / st.cpus
            st.modes["idle"] += (st.cpus * dt - used) * per_cpu
            for mode, frac in BUSY_MODES:
                st.modes[mode] += used * frac * per_cpu
            st.last = now
        for name in [n for n in self.nodes if n not in names]:
            del self.nodes[name]

    # -- building the exposition ------------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        self.update()
        yield from self.families()

    def families(self) -> Iterator[Metric]:
        """The metric families for the current state (call update() first)."""
        partitions = self.ctx.shared.get("partitions") or set()
        nodes = {n["metadata"]["name"]: n for n in self.store.list("/nodes")}
        pods = self.store.list("/pods")
        yield from self._app_families(pods, nodes, partitions)
        yield from self._cadvisor_families(pods, nodes, partitions)
        yield from self._node_families(nodes, pods, partitions)
        yield from self._ksm_families(pods, nodes)

    def _scraped(self, pod: Obj, nodes: dict[str, Obj], partitions: set[str]) -> PodState | None:
        md = pod["metadata"]
        node = (pod.get("spec") or {}).get("nodeName")
        if node not in nodes or node in partitions:
            return None
        return self.pods.get((md.get("namespace", ""), md["name"]))

    def _app_families(self, pods: list[Obj], nodes: dict[str, Obj], partitions: set[str]) -> Iterator[Metric]:
        reqs = Metric("http_requests", "Total number of HTTP requests by status code.", "counter")
        hist = Metric("http_request_duration_seconds", "HTTP request latency in seconds.", "histogram")
        les = [floatToGoString(b) for b in BUCKETS]
        for pod in pods:
            st = self._scraped(pod, nodes, partitions)
            if st is None:
                continue
            md = pod["metadata"]
            labels = md.get("labels") or {}
            app = app_of(pod)
            base = {"namespace": md.get("namespace", ""), "app": app, "pod": md["name"], "job": app}
            ip = (pod.get("status") or {}).get("podIP")
            if ip:
                ports = ((pod.get("spec") or {}).get("containers") or [{}])[0].get("ports") or [{}]
                base["instance"] = f"{ip}:{ports[0].get('containerPort', 8080)}"
            for label, prom in HASH_LABELS:
                if labels.get(label):
                    base[prom] = labels[label]
            reqs.add_sample("http_requests_total", {**base, "code": "200"}, st.requests - st.errors)
            reqs.add_sample("http_requests_total", {**base, "code": "500"}, st.errors)
            for le, v in zip(les, st.buckets, strict=True):
                hist.add_sample("http_request_duration_seconds_bucket", {**base, "le": le}, v)
            hist.add_sample("http_request_duration_seconds_bucket", {**base, "le": "+Inf"}, st.requests)
            hist.add_sample("http_request_duration_seconds_sum", base, st.latency_sum)
            hist.add_sample("http_request_duration_seconds_count", base, st.requests)
        yield reqs
        yield hist

    def _cadvisor_families(self, pods: list[Obj], nodes: dict[str, Obj],
                           partitions: set[str]) -> Iterator[Metric]:
        cpu = Metric("container_cpu_usage_seconds", "Cumulative cpu time consumed in seconds.", "counter")
        mem = Metric("container_memory_working_set_bytes", "Current working set in bytes.", "gauge")
        for pod in pods:
            st = self._scraped(pod, nodes, partitions)
            if st is None:
                continue
            md = pod["metadata"]
            node = pod["spec"]["nodeName"]
            ip = _node_ip(nodes.get(node))
            main = next(iter(st.cpu), None)
            for container, seconds in st.cpu.items():
                labels = {"namespace": md.get("namespace", ""), "pod": md["name"], "container": container,
                          "node": node, "job": "kubelet", "metrics_path": "/metrics/cadvisor"}
                if ip:
                    labels["instance"] = f"{ip}:10250"
                cpu.add_sample("container_cpu_usage_seconds_total", labels, seconds)
                mem.add_sample("container_memory_working_set_bytes", labels,
                               float(st.usage[2] if container == main else SIDECAR_MEMORY))
        yield cpu
        yield mem

    def _node_families(self, nodes: dict[str, Obj], pods: list[Obj], partitions: set[str]) -> Iterator[Metric]:
        cpu = Metric("node_cpu_seconds", "Seconds the CPUs spent in each mode.", "counter")
        total = Metric("node_memory_MemTotal_bytes", "Memory information field MemTotal_bytes.", "gauge")
        avail = Metric("node_memory_MemAvailable_bytes", "Memory information field MemAvailable_bytes.", "gauge")
        used: dict[str, int] = {}
        for pod in pods:
            node = (pod.get("spec") or {}).get("nodeName")
            st = self.pods.get((pod["metadata"].get("namespace", ""), pod["metadata"]["name"]))
            if node and st is not None:
                used[node] = used.get(node, 0) + st.usage[2] + SIDECAR_MEMORY * (len(st.cpu) - 1)
        for name in sorted(nodes):
            st = self.nodes.get(name)
            if st is None or name in partitions:
                continue
            labels = {"instance": name, "node": name, "job": "node-exporter"}
            for i in range(st.cpus):
                for mode in CPU_MODES:
                    cpu.add_sample("node_cpu_seconds_total", {**labels, "cpu": str(i), "mode": mode}, st.modes[mode])
            cap = ((nodes[name].get("status") or {}).get("capacity") or {}).get("memory", "0")
            mem_total = to_bytes(cap)
            mem_used = node_overhead(self.seed, name)[1] + used.get(name, 0)
            total.add_sample("node_memory_MemTotal_bytes", labels, float(mem_total))
            avail.add_sample("node_memory_MemAvailable_bytes", labels, float(max(0, mem_total - mem_used)))
        yield cpu
        yield total
        yield avail

    def _ksm_families(self, pods: list[Obj], nodes: dict[str, Obj]) -> Iterator[Metric]:
        ksm = {"job": "kube-state-metrics"}
        yield from self._deployment_families(ksm)
        hpa_fams = {f: Metric(f"kube_horizontalpodautoscaler_{f}", doc, "gauge") for f, doc in (
            ("status_current_replicas", "Current number of replicas of pods managed by this autoscaler."),
            ("status_desired_replicas", "Desired number of replicas of pods managed by this autoscaler."),
            ("spec_min_replicas", "Lower limit for the number of pods that can be set by the autoscaler."),
            ("spec_max_replicas", "Upper limit for the number of pods that can be set by the autoscaler."))}
        for hpa in self.store.list("autoscaling/horizontalpodautoscalers"):
            md, spec, status = hpa["metadata"], hpa.get("spec") or {}, hpa.get("status") or {}
            labels = {**ksm, "namespace": md.get("namespace", ""), "horizontalpodautoscaler": md["name"]}
            values = {"status_current_replicas": status.get("currentReplicas", 0),
                      "status_desired_replicas": status.get("desiredReplicas", 0),
                      "spec_min_replicas": spec.get("minReplicas", 1),
                      "spec_max_replicas": spec.get("maxReplicas", 0)}
            for f, v in values.items():
                hpa_fams[f].add_sample(f"kube_horizontalpodautoscaler_{f}", labels, float(v or 0))
        yield from hpa_fams.values()
        cond = Metric("kube_node_status_condition", "The condition of a cluster node.", "gauge")
        for name in sorted(nodes):
            for c in (nodes[name].get("status") or {}).get("conditions") or ():
                current = str(c.get("status", "Unknown")).lower()
                for s in CONDITION_STATUSES:
                    cond.add_sample("kube_node_status_condition",
                                    {**ksm, "node": name, "condition": str(c.get("type", "")), "status": s},
                                    1.0 if s == current else 0.0)
        yield cond
        yield from self._pod_ksm_families(pods, ksm)

    def _deployment_families(self, ksm: dict[str, str]) -> Iterator[Metric]:
        fams = {f: Metric(f"kube_deployment_{f}", doc, "gauge") for f, doc in (
            ("spec_replicas", "Number of desired pods for a deployment."),
            ("status_replicas", "The number of replicas per deployment."),
            ("status_replicas_available", "The number of available replicas per deployment."),
            ("status_replicas_unavailable", "The number of unavailable replicas per deployment."),
            ("status_replicas_updated", "The number of updated replicas per deployment."))}
        for d in self.store.list("apps/deployments"):
            md, spec, status = d["metadata"], d.get("spec") or {}, d.get("status") or {}
            labels = {**ksm, "namespace": md.get("namespace", ""), "deployment": md["name"]}
            values = {"spec_replicas": spec.get("replicas", 1), "status_replicas": status.get("replicas", 0),
                      "status_replicas_available": status.get("availableReplicas", 0),
                      "status_replicas_unavailable": status.get("unavailableReplicas", 0),
                      "status_replicas_updated": status.get("updatedReplicas", 0)}
            for f, v in values.items():
                fams[f].add_sample(f"kube_deployment_{f}", labels, float(v or 0))
        yield from fams.values()

    def _pod_ksm_families(self, pods: list[Obj], ksm: dict[str, str]) -> Iterator[Metric]:
        restarts = Metric("kube_pod_container_status_restarts", "The number of container restarts per container.",
                          "counter")
        requests = Metric("kube_pod_container_resource_requests",
                          "The number of requested request resource by a container.", "gauge")
        limits = Metric("kube_pod_container_resource_limits",
                        "The number of requested limit resource by a container.", "gauge")
        for pod in pods:
            md = pod["metadata"]
            base = {**ksm, "namespace": md.get("namespace", ""), "pod": md["name"]}
            for cs in (pod.get("status") or {}).get("containerStatuses") or ():
                restarts.add_sample("kube_pod_container_status_restarts_total",
                                    {**base, "container": cs.get("name", "")}, float(cs.get("restartCount", 0)))
            node = (pod.get("spec") or {}).get("nodeName") or ""
            for c in (pod.get("spec") or {}).get("containers") or ():
                res = c.get("resources") or {}
                for fam, kind in ((requests, "requests"), (limits, "limits")):
                    for resource, value, unit_ in _resource_values(res.get(kind) or {}):
                        fam.add_sample(fam.name, {**base, "container": c["name"], "node": node,
                                                  "resource": resource, "unit": unit_}, value)
        yield restarts
        yield requests
        yield limits


@functools.lru_cache(maxsize=4096)
def _quantity(v: str) -> float | None:
    """A quantity as a float; cached because every pod repeats the same few strings."""
    try:
        return float(parse_quantity(v))
    except (ValueError, ArithmeticError):
        return None


def _resource_values(resources: dict[str, Any]) -> Iterable[tuple[str, float, str]]:
    """(resource, value, unit) as kube-state-metrics v2 names them: cpu in cores, memory in bytes."""
    for name in sorted(resources):
        q = _quantity(str(resources[name]))
        if q is None:
            continue
        if name == "cpu":
            yield "cpu", q, "core"
        elif name in ("memory", "ephemeral-storage") or name.startswith("hugepages-"):
            yield name.replace(".", "_").replace("/", "_").replace("-", "_"), q, "byte"
        else:
            yield name.replace(".", "_").replace("/", "_").replace("-", "_"), q, "integer"


# -- serving ---------------------------------------------------------------------------------------

def _go_float(v: float) -> str:
    if v != v:
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def _label_value(v: str) -> str:
    if "\\" in v or '"' in v or "\n" in v:
        return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return v


def format_text(families: Iterable[Metric]) -> bytes:
    """Text format 0.0.4, like prometheus_client's generate_latest but several times faster.

    Why: at `--scale pods=5000` the exposition has >100k lines and generate_latest re-validates
    every label name; ours are fixed valid names, only values need escaping.
    """
    out: list[str] = []
    for m in families:
        name = m.name + "_total" if m.type == "counter" else m.name
        typ = "untyped" if m.type == "unknown" else m.type
        doc = m.documentation.replace("\\", "\\\\").replace("\n", "\\n")
        out.append(f"# HELP {name} {doc}\n# TYPE {name} {typ}\n")
        for smp in m.samples:
            if smp.labels:
                labels = ",".join([f'{k}="{_label_value(v)}"' for k, v in smp.labels.items()])
                out.append(f"{smp.name}{{{labels}}} {_go_float(smp.value)}\n")
            else:
                out.append(f"{smp.name} {_go_float(smp.value)}\n")
    return "".join(out).encode()


class Exporter:
    """Serves the collector's exposition over plain HTTP on the sandbox's event loop.

    Why on the sandbox loop (not prometheus_client's threaded server): the store is not
    thread-safe, and a scrape must see one consistent state. Only the text formatting of the
    families runs in a worker thread. A scrape that comes sooner than 3x the last render's
    duration gets the previous body, so a huge cluster cannot keep the API server's loop busy
    with scrapes (Prometheus then sees repeated values, which rate() handles).
    """

    def __init__(self, ctx: Context) -> None:
        self.collector = SandboxCollector(ctx)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)  # type: ignore[arg-type]
        self._runner: web.AppRunner | None = None
        self._lock = asyncio.Lock()
        self._body: bytes | None = None
        self._rendered_at = 0.0
        self._min_gap = 0.0
        self.host = ""
        self.port = 0
        self.scrapes = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def render(self) -> bytes:
        """The exposition text (text format 0.0.4), advancing the counters to now."""
        self.scrapes += 1
        return format_text(list(self.collector.collect()))

    async def _metrics(self, request: web.Request) -> web.Response:
        async with self._lock:
            started = time.monotonic()
            if self._body is None or started - self._rendered_at >= self._min_gap:
                self.scrapes += 1
                families = list(self.collector.collect())
                self._body = await asyncio.to_thread(format_text, families)
                self._rendered_at = started
                self._min_gap = 3.0 * (time.monotonic() - started)
            body = self._body
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def _root(self, request: web.Request) -> web.Response:
        return web.Response(text="almtui sandbox exporter: see /metrics\n")

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/", self._root)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.host = host
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
