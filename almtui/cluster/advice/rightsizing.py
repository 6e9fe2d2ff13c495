"""Resource right-sizing: requests against observed usage, per container, per workload and per node.

Pure computations. Usage comes in as :class:`ContainerUsage` quantiles over a window, from
Prometheus (``MetricsService.usage_quantiles``, via :func:`usage_from_quantiles`) or from the
in-memory metrics.k8s.io history (:class:`almtui.cluster.advice.samples.UsageSamples`); CPU is in
milli-cores, memory in bytes.

The recommendation is deliberately simple so an operator can check it by hand:

    recommended request = p95 x 1.15, rounded UP to
        CPU:    5m below 100m, 10m below 1000m, 50m from 1000m;  never below 10m
        memory: 4Mi below 128Mi, 16Mi below 1Gi, 64Mi from 1Gi;  never below 16Mi

A p95 measured under a cap understates the need, so a throttled CPU or an OOMKilled container is
never advised to shrink (the recommendation is at least the current request). Only what a flag says
is off goes into the patch (``requests_change``): a 200m request with a 190m recommendation is left alone.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from almtui.cluster.views.autoscalers import hpa_what_if
from almtui.cluster.views.common import (
    d,
    dicts,
    epoch,
    millis,
    name_of,
    namespace_of,
    nbytes,
    only_dicts,
    opt_i,
    s,
)
from almtui.cluster.views.health import build_nodes
from almtui.kube.quantities import format_cpu, format_memory

from .preflight import workload_pods

HEADROOM_FACTOR = 1.15
OVER_PROVISIONED = 0.5    # p95 below half the request
UNDER_PROVISIONED = 0.9   # p95 above 90 % of the request
THROTTLED_AT_LIMIT = 0.9  # CPU p95 at 90 % of the limit is effectively capped
# kube-prometheus's CPUThrottlingHigh fires at 25 % of CFS periods throttled.
THROTTLED_PERIODS = 0.25
NODE_RESERVED = 0.8       # node: requests above 80 % of allocatable ...
NODE_IDLE = 0.3           # ... while actual usage is below 30 %
MIN_CPU = 10              # milli-cores
MIN_MEMORY = 16 << 20
_MI = 1 << 20
_GI = 1 << 30


# --- the formula ------------------------------------------------------------------------------------


def _round_up(value: float, step: int) -> int:
    # round() first: 34.5 x 1.15 must not become 39.675000000000004 -> one step too many
    return math.ceil(round(value / step, 9)) * step


def recommend_cpu(p95_millis: float) -> int:
    """Recommended CPU request (milli-cores) for a p95 in milli-cores."""
    x = max(0.0, p95_millis) * HEADROOM_FACTOR
    step = 5 if x < 100 else 10 if x < 1000 else 50
    return max(MIN_CPU, _round_up(x, step))


def recommend_memory(p95_bytes: float) -> int:
    """Recommended memory request (bytes) for a p95 in bytes."""
    x = max(0.0, p95_bytes) * HEADROOM_FACTOR
    step = 4 * _MI if x < 128 * _MI else 16 * _MI if x < _GI else 64 * _MI
    return max(MIN_MEMORY, _round_up(x, step))


def format_request(resource: str, amount: int) -> str:
    """The quantity text for a recommendation: 35 -> "35m", 80Mi in bytes -> "80Mi"."""
    return format_cpu(amount) if resource == "cpu" else format_memory(amount)


# --- inputs -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContainerUsage:
    """Observed usage of one container over a window: CPU in milli-cores, memory in bytes."""

    cpu_p50: float | None = None
    cpu_p95: float | None = None
    mem_p50: float | None = None
    mem_p95: float | None = None
    samples: int = 0
    pods: int = 0


def usage_from_quantiles(q: Any) -> ContainerUsage | None:
    """A Prometheus ``Quantiles`` (cores and bytes, the busiest pod) as ContainerUsage; None without data.

    Prometheus sums a pod's containers, so this fits single-container pods, or the workload total.
    """
    if q is None or getattr(q, "status", "ok") != "ok":
        return None

    def scaled(v: Any, factor: float) -> float | None:
        return None if not isinstance(v, (int, float)) or math.isnan(v) else float(v) * factor

    return ContainerUsage(scaled(getattr(q, "cpu_p50", None), 1000.0), scaled(getattr(q, "cpu_p95", None), 1000.0),
                          scaled(getattr(q, "mem_p50", None), 1.0), scaled(getattr(q, "mem_p95", None), 1.0))


# --- results ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResourceSizing:
    """One resource of one container. Amounts in milli-cores (cpu) or bytes (memory)."""

    resource: str                 # "cpu" | "memory"
    request: int | None           # None: not set
    limit: int | None
    p50: float | None
    p95: float | None
    headroom: float | None        # request - p95
    recommended: int | None       # None without usage data
    flags: tuple[str, ...]        # no-data, no-request, over-provisioned, under-provisioned, throttled, oom-killed

    @property
    def recommended_text(self) -> str:
        return "" if self.recommended is None else format_request(self.resource, self.recommended)

    @property
    def utilization(self) -> float | None:
        """p95 / request (0.06 = 6 %)."""
        if self.p95 is None or not self.request:
            return None
        return self.p95 / self.request

    @property
    def actionable(self) -> bool:
        """The recommendation should replace the request."""
        if self.recommended is None or self.recommended == self.request:
            return False
        return bool({"over-provisioned", "under-provisioned", "no-request"} & set(self.flags))


@dataclass(frozen=True, slots=True)
class ContainerSizing:
    name: str
    cpu: ResourceSizing
    memory: ResourceSizing
    samples: int
    oom_killed: bool
    flags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WorkloadSizing:
    """A workload's sizing. Per-pod sums add the containers; totals multiply by replicas."""

    key: tuple[str, str, str]     # (kind, namespace, name)
    kind: str
    namespace: str
    name: str
    replicas: int
    window: float
    containers: tuple[ContainerSizing, ...]
    cpu_request: int              # per pod, summed over containers (missing requests count 0)
    cpu_p95: float | None
    cpu_recommended: int | None
    memory_request: int
    memory_p95: float | None
    memory_recommended: int | None
    flags: tuple[str, ...]
    requests_change: dict[str, dict[str, str]] = field(default_factory=dict)  # resources_patch's input

    @property
    def total_cpu_request(self) -> int:
        return self.cpu_request * self.replicas

    @property
    def total_cpu_recommended(self) -> int | None:
        return None if self.cpu_recommended is None else self.cpu_recommended * self.replicas

    @property
    def total_memory_request(self) -> int:
        return self.memory_request * self.replicas

    @property
    def total_memory_recommended(self) -> int | None:
        return None if self.memory_recommended is None else self.memory_recommended * self.replicas


# --- per workload -----------------------------------------------------------------------------------


def oom_killed_containers(pods: Iterable[Any], window: float, now: float) -> set[str]:
    """Containers (by name) that were OOMKilled within ``window`` seconds before ``now``."""
    out = set()
    for pod in only_dicts(pods):
        for cs in dicts(d(pod, "status"), "containerStatuses"):
            for state in (d(cs, "lastState", "terminated"), d(cs, "state", "terminated")):
                if s(state, "reason") != "OOMKilled":
                    continue
                t = epoch(state.get("finishedAt")) or epoch(state.get("startedAt"))
                if t is None or now - t <= window:
                    out.add(s(cs, "name"))
    return out


def _resource(resource: str, request: int | None, limit: int | None, p50: float | None, p95: float | None,
              *, throttled: bool = False, oom: bool = False) -> ResourceSizing:
    flags: list[str] = []
    if request is None:
        flags.append("no-request")
    if p95 is None:
        flags.append("no-data")
        return ResourceSizing(resource, request, limit, p50, None, None, None, tuple(flags + (["oom-killed"] * oom)))
    if request:
        if p95 < OVER_PROVISIONED * request:
            flags.append("over-provisioned")
        elif p95 > UNDER_PROVISIONED * request:
            flags.append("under-provisioned")
    rec = recommend_cpu(p95) if resource == "cpu" else recommend_memory(p95)
    if throttled:
        flags.append("throttled")
    if oom:
        flags.append("oom-killed")
    if (throttled or oom) and request:
        rec = max(rec, request)
        if "over-provisioned" in flags:
            flags.remove("over-provisioned")  # capped usage says nothing about the true need
    headroom = None if request is None else request - p95
    return ResourceSizing(resource, request, limit, p50, p95, headroom, rec, tuple(flags))


def _amount(resource: str, value: Any) -> int | None:
    if value is None:
        return None
    return millis(value) if resource == "cpu" else nbytes(value)


def rightsize(workload: dict, usage: Mapping[str, ContainerUsage], *, pods: Iterable[Any] = (),
              replicasets: Iterable[Any] | None = None, window: float = 3600.0, now: float = 0.0,
              throttling: Mapping[str, float] | None = None) -> WorkloadSizing:
    """Sizing of a Deployment or Rollout from per-container usage over ``window`` seconds.

    ``pods`` (any; the workload's are picked) supply OOMKilled history; ``throttling`` maps a
    container to its throttled-periods ratio (Prometheus ``container_cpu_cfs_throttled_periods_total``
    over ``container_cpu_cfs_periods_total``) when known.
    """
    ns, name, kind = namespace_of(workload), name_of(workload), s(workload, "kind") or "Deployment"
    replicas = opt_i(d(workload, "spec"), "replicas")
    replicas = 1 if replicas is None else max(0, replicas)
    oom = oom_killed_containers(workload_pods(workload, pods, replicasets), window, now)
    sized: list[ContainerSizing] = []
    change: dict[str, dict[str, str]] = {}
    for c in dicts(d(workload, "spec", "template", "spec"), "containers"):
        cname = s(c, "name")
        u = usage.get(cname) or ContainerUsage()
        req, lim = d(c, "resources", "requests"), d(c, "resources", "limits")
        cpu_limit = _amount("cpu", lim.get("cpu"))
        capped = cpu_limit is not None and u.cpu_p95 is not None and u.cpu_p95 >= THROTTLED_AT_LIMIT * cpu_limit
        ratio = (throttling or {}).get(cname)
        throttled = capped or (isinstance(ratio, (int, float)) and ratio >= THROTTLED_PERIODS)
        cpu = _resource("cpu", _amount("cpu", req.get("cpu")), cpu_limit, u.cpu_p50, u.cpu_p95, throttled=throttled)
        mem = _resource("memory", _amount("memory", req.get("memory")), _amount("memory", lim.get("memory")),
                        u.mem_p50, u.mem_p95, oom=cname in oom)
        flags = tuple(dict.fromkeys(f"{r.resource} {f}" for r in (cpu, mem) for f in r.flags))
        sized.append(ContainerSizing(cname, cpu, mem, u.samples, cname in oom, flags))
        for r in (cpu, mem):
            if r.actionable:
                change.setdefault(cname, {})[r.resource] = r.recommended_text

    def total(values: Sequence[float | None]) -> float | None:
        return None if not values or any(v is None for v in values) else sum(v for v in values if v is not None)

    cpu_rec = total([c.cpu.recommended for c in sized])
    mem_rec = total([c.memory.recommended for c in sized])
    return WorkloadSizing(
        key=(kind, ns, name), kind=kind, namespace=ns, name=name, replicas=replicas, window=window,
        containers=tuple(sized),
        cpu_request=sum(c.cpu.request or 0 for c in sized),
        cpu_p95=total([c.cpu.p95 for c in sized]),
        cpu_recommended=None if cpu_rec is None else int(cpu_rec),
        memory_request=sum(c.memory.request or 0 for c in sized),
        memory_p95=total([c.memory.p95 for c in sized]),
        memory_recommended=None if mem_rec is None else int(mem_rec),
        flags=tuple(dict.fromkeys(f for c in sized for f in c.flags)),
        requests_change=change,
    )


# --- per node ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeSizing:
    """A node's allocatable vs requested vs used; amounts in milli-cores and bytes."""

    name: str
    ready: str
    cpu_allocatable: int
    cpu_requested: int
    cpu_used: int | None
    memory_allocatable: int
    memory_requested: int
    memory_used: int | None
    reserved_idle: tuple[str, ...]  # resources reserved on paper (> 80 %) but idle in fact (< 30 %)
    flags: tuple[str, ...]          # "reserved-but-idle", "no-metrics"

    @staticmethod
    def _ratio(part: int | None, whole: int) -> float | None:
        return None if part is None or whole <= 0 else part / whole

    @property
    def cpu_requested_ratio(self) -> float | None:
        return self._ratio(self.cpu_requested, self.cpu_allocatable)

    @property
    def cpu_used_ratio(self) -> float | None:
        return self._ratio(self.cpu_used, self.cpu_allocatable)

    @property
    def memory_requested_ratio(self) -> float | None:
        return self._ratio(self.memory_requested, self.memory_allocatable)

    @property
    def memory_used_ratio(self) -> float | None:
        return self._ratio(self.memory_used, self.memory_allocatable)


def node_sizing(nodes: Sequence[dict], pods: Sequence[dict], node_metrics: Sequence[dict] | None,
                now: float) -> list[NodeSizing]:
    """Per node, sorted by name: the "full on paper, idle in fact" view of an edge site."""
    out = []
    for n in build_nodes(nodes, pods, None, node_metrics, now):
        idle = []
        for res, alloc, req, used in (("cpu", n.cpu_allocatable, n.cpu_requested, n.cpu_used),
                                      ("memory", n.memory_allocatable, n.memory_requested, n.memory_used)):
            if alloc > 0 and used is not None and req > NODE_RESERVED * alloc and used < NODE_IDLE * alloc:
                idle.append(res)
        flags = (["reserved-but-idle"] if idle else []) + (["no-metrics"] if n.cpu_used is None else [])
        out.append(NodeSizing(n.name, n.ready, n.cpu_allocatable, n.cpu_requested, n.cpu_used,
                              n.memory_allocatable, n.memory_requested, n.memory_used, tuple(idle), tuple(flags)))
    return out


# --- applying a recommendation ----------------------------------------------------------------------


def _validated(workload: Any, requests: Mapping[str, Mapping[str, str]]) -> list[dict]:
    containers = dicts(d(workload, "spec", "template", "spec"), "containers")
    known = {s(c, "name") for c in containers}
    for cname, values in requests.items():
        if cname not in known:
            raise ValueError(f'unable to find container named "{cname}"')
        for res in values:
            if res not in ("cpu", "memory"):
                raise ValueError(f"only cpu and memory requests are right-sized, not {res!r}")
    return containers


def resources_patch(workload: dict, requests: Mapping[str, Mapping[str, str]]) -> dict:
    """The strategic merge patch setting container requests, as ``kubectl set resources --requests`` sends it.

    Containers merge by name, with ``$setElementOrder/containers`` listing every container in order;
    only values that change are sent (``{}`` when nothing changes). Keys are sorted as Go marshals
    the patch. Strategic merge patch is for built-in kinds (Deployment); a custom resource (Rollout)
    answers 415 to it: update it with :func:`with_requests` instead.
    """
    containers = _validated(workload, requests)
    changed = []
    for c in containers:
        cname = s(c, "name")
        current = d(c, "resources", "requests")
        new = {r: v for r, v in sorted((requests.get(cname) or {}).items()) if current.get(r) != v}
        if new:
            changed.append({"name": cname, "resources": {"requests": new}})
    if not changed:
        return {}
    order = [{"name": s(c, "name")} for c in containers]
    return {"spec": {"template": {"spec": {"$setElementOrder/containers": order, "containers": changed}}}}


def with_requests(workload: dict, requests: Mapping[str, Mapping[str, str]]) -> dict:
    """A copy of the workload with the new requests (for a full update of a custom resource)."""
    _validated(workload, requests)
    out = copy.deepcopy(workload)
    for c in dicts(d(out, "spec", "template", "spec"), "containers"):
        values = requests.get(s(c, "name"))
        if values:
            res = c.setdefault("resources", {})
            res.setdefault("requests", {}).update(values)
    return out


# --- HPA interaction --------------------------------------------------------------------------------


def hpa_after_requests(hpa: dict, pods: Sequence[dict], pod_metrics: Sequence[dict],
                       new_requests: Mapping[str, Mapping[str, str]], now: float) -> int:
    """The HPA's desired replicas if the pods had ``new_requests`` and the same usage.

    Utilisation is usage over request, so shrinking an over-provisioned request raises it: the same
    load can make the HPA scale out. One reconcile of the controller's algorithm (``hpa_what_if``)
    on the scale target's pods with their requests replaced.
    """
    resized = []
    for pod in only_dicts(pods):
        p = dict(pod)
        spec = dict(d(pod, "spec"))
        new_containers = []
        for c in dicts(spec, "containers"):
            values = new_requests.get(s(c, "name"))
            if values:
                c = dict(c)
                res = dict(d(c, "resources"))
                res["requests"] = {**d(res, "requests"), **values}
                c["resources"] = res
            new_containers.append(c)
        spec["containers"] = new_containers
        p["spec"] = spec
        resized.append(p)
    return hpa_what_if(hpa, resized, pod_metrics, {}, now)
