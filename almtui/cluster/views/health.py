"""Site health: nodes (with lease freshness and eviction countdowns), pod issues, warning events.

Edge nodes drop off their uplink: after the grace period the node lifecycle controller marks
Ready=Unknown and taints the node ``unreachable:NoExecute``; the taint manager then evicts each
pod after its tolerationSeconds (300 by default). The countdown to the first eviction is what an
operator needs to see. And "Ready" is not proof of life: with delegated heartbeats (OpenYurt) a
disconnected node can keep Ready=True while its own Lease goes stale, hence ``suspect``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .common import (
    PerObject,
    created_age,
    d,
    dicts,
    epoch,
    find_condition,
    i,
    labels,
    millis,
    name_of,
    nbytes,
    only_dicts,
    opt_i,
    opt_s,
    owner,
    pod_requests,
    pod_status,
    s,
)

NODE_LEASE_NAMESPACE = "kube-node-lease"
DEFAULT_LEASE_DURATION = 40
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
TAINT_NOT_READY = "node.kubernetes.io/not-ready"
_TERMINAL = ("Succeeded", "Failed")


# --- nodes ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeHealth:
    key: tuple[str]
    name: str
    ready: str                 # True | False | Unknown
    reason: str
    message: str
    pressures: tuple[str, ...]  # condition types other than Ready that are True
    heartbeat_age: float | None  # the freshest of Ready.lastHeartbeatTime and the Lease renewTime
    lease_age: float | None
    unreachable: bool
    suspect: bool              # Ready=True but the node's own Lease is stale
    unschedulable: bool
    taints: tuple[tuple[str, str, str | None], ...]  # (key, effect, timeAdded)
    eviction_countdown: float | None  # seconds to the first NoExecute eviction, None if none pending
    cpu_allocatable: int       # milli-cores
    memory_allocatable: int    # bytes
    cpu_requested: int
    memory_requested: int
    cpu_used: int | None       # from NodeMetrics
    memory_used: int | None
    pods: int
    pods_capacity: int
    zone: str
    roles: tuple[str, ...]
    kubelet_version: str
    internal_ip: str
    age: float | None
    heartbeat_at: float | None = None  # Ready.lastHeartbeatTime (epoch), for refresh_nodes
    lease_duration: float | None = None  # the Lease's leaseDurationSeconds (None: no Lease)


def _tolerates(toleration: dict, taint: dict) -> bool:
    """Toleration.ToleratesTaint (core/v1/toleration.go)."""
    effect, key = s(toleration, "effect"), s(toleration, "key")
    if effect and effect != s(taint, "effect"):
        return False
    if key and key != s(taint, "key"):
        return False
    op = s(toleration, "operator")
    if op in ("", "Equal"):
        return s(toleration, "value") == s(taint, "value")
    return op == "Exists"


def _eviction_delay(pod: dict, no_execute: list[dict]) -> float | None:
    """Seconds after the taints appeared that the taint manager evicts ``pod``; None = never.

    getMatchingTolerations + getMinTolerationTime (pkg/controller/tainteviction): a taint no
    toleration covers evicts at once; otherwise the smallest tolerationSeconds among the matching
    tolerations wins, and tolerations without seconds tolerate forever.
    """
    tolerations = dicts(d(pod, "spec"), "tolerations")
    used: list[dict] = []
    for taint in no_execute:
        matching = [t for t in tolerations if _tolerates(t, taint)]
        if not matching:
            return 0.0
        used += matching
    best = math.inf
    for t in used:
        seconds = opt_i(t, "tolerationSeconds")
        if seconds is not None:
            if seconds <= 0:
                return 0.0
            best = min(best, float(seconds))
    return None if best == math.inf else best


def _roles(lab: dict[str, str]) -> tuple[str, ...]:
    """findNodeRoles (kubectl): node-role.kubernetes.io/<role> labels and kubernetes.io/role."""
    roles = set()
    for key, value in lab.items():
        if key.startswith("node-role.kubernetes.io/"):
            role = key.removeprefix("node-role.kubernetes.io/")
            if role:
                roles.add(role)
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return tuple(sorted(roles))


def node_share(pod: dict) -> tuple[str, int, int]:
    """(node, cpu millis, memory bytes) a pod holds on its node; ("", 0, 0) when it holds nothing
    (not scheduled, or Succeeded/Failed)."""
    node = s(d(pod, "spec"), "nodeName")
    if not node or s(d(pod, "status"), "phase") in _TERMINAL:
        return "", 0, 0
    cpu, mem = pod_requests(pod)
    return node, cpu, mem


NodePods = tuple[list[dict], int, int]  # a node's pods that hold a share of it, cpu millis, memory bytes


def node_index_values(pod: dict) -> list[str]:
    """The index of pods by node an informer keeps for build_nodes_indexed: spec.nodeName."""
    node = s(d(pod, "spec"), "nodeName")
    return [node] if node else []


def build_nodes(nodes: Sequence[dict], pods: Sequence[dict], leases: Sequence[dict] | None,
                node_metrics: Sequence[dict] | None, now: float) -> list[NodeHealth]:
    """NodeHealth per node, sorted by name, from a plain list of pods: build_nodes_indexed over an
    index built here (the service's informers keep one). Leases and metrics are optional (None or [])."""
    by_node: dict[str, list[dict]] = {}
    for pod in only_dicts(pods):
        for node in node_index_values(pod):
            by_node.setdefault(node, []).append(pod)
    views = build_nodes_indexed(nodes, lambda name: by_node.get(name, ()), now, NodeSums())
    return refresh_nodes(views, leases, node_metrics, now)


class NodeSums:
    """A node's pods and requests, remembered while the informer's bucket of its pods is the very same
    tuple (its index buckets are copy-on-write), so a rebuild after one pod changed sums one node.
    Not for two threads at once: the service builds each area in one thread at a time."""

    __slots__ = ("_memo", "_shares")

    def __init__(self, shares: Callable[[dict], tuple[str, int, int]] = node_share) -> None:
        self._shares = shares
        self._memo: dict[str, tuple[Sequence[dict], NodePods]] = {}

    def __call__(self, node: str, bucket: Sequence[dict]) -> NodePods:
        hit = self._memo.get(node)
        if hit is None or hit[0] is not bucket:
            held, cpu, mem = [], 0, 0
            for pod in only_dicts(bucket):
                on, c, m = self._shares(pod)
                if on:  # Succeeded and Failed pods hold nothing
                    held.append(pod)
                    cpu, mem = cpu + c, mem + m
            hit = self._memo[node] = (bucket, (held, cpu, mem))
        return hit[1]

    def keep_only(self, nodes: Iterable[str]) -> None:
        keep = set(nodes)
        for gone in [n for n in self._memo if n not in keep]:
            del self._memo[gone]


def build_nodes_indexed(nodes: Sequence[dict], pods_on: Callable[[str], Sequence[dict]], now: float,
                        sums: NodeSums) -> list[NodeHealth]:
    """build_nodes without leases and usage, from an index of pods by node (node_index_values):
    no pass over all pods; only nodes whose pods changed are summed again."""
    sums.keep_only(name_of(n) for n in only_dicts(nodes))
    return _build_nodes(nodes, lambda name: sums(name, pods_on(name)), now)


def refresh_nodes(views: Sequence[NodeHealth], leases: Sequence[dict] | None, node_metrics: Sequence[dict] | None,
                  now: float, built_at: float | None = None) -> list[NodeHealth]:
    """Views made by build_nodes at `built_at` (default `now`), as of `now`, with heartbeats from
    `leases` and usage from `node_metrics` (None or []: none) applied afresh.

    O(nodes), no pods: node Leases renew every ~10 s per node (20 events/s at 200 nodes), so
    they are applied to cached views here instead of triggering a rebuild that walks every pod.
    """
    shift = 0.0 if built_at is None else max(0.0, now - built_at)
    lease_by_node: dict[str, dict] = {}
    for lease in only_dicts(leases):
        ns = s(d(lease, "metadata"), "namespace")
        if ns in ("", NODE_LEASE_NAMESPACE):
            lease_by_node[name_of(lease)] = lease
    usage_by_node = {name_of(m): d(m, "usage") for m in only_dicts(node_metrics)}
    out = []
    for v in views:
        lease = lease_by_node.get(v.name)
        lease_spec = d(lease, "spec")
        renew = epoch(lease_spec.get("renewTime"))
        lease_age = None if renew is None else max(0.0, now - renew)
        freshest = max((t for t in (v.heartbeat_at, renew) if t is not None), default=None)
        duration = i(lease_spec, "leaseDurationSeconds", DEFAULT_LEASE_DURATION) or DEFAULT_LEASE_DURATION
        usage = usage_by_node.get(v.name)
        out.append(replace(
            v,
            heartbeat_age=None if freshest is None else max(0.0, now - freshest),
            lease_age=lease_age,
            suspect=v.ready == "True" and lease_age is not None and lease_age > duration,
            eviction_countdown=None if v.eviction_countdown is None else max(0.0, v.eviction_countdown - shift),
            cpu_used=None if usage is None else millis(usage.get("cpu")),
            memory_used=None if usage is None else nbytes(usage.get("memory")),
            age=None if v.age is None else v.age + shift,
            lease_duration=None if lease is None else float(duration),
        ))
    return out


def _build_nodes(nodes: Sequence[dict], pods_of: Callable[[str], NodePods], now: float) -> list[NodeHealth]:
    """NodeHealth per node from the Nodes and their pods alone (no lease, no usage), sorted by name."""
    views = []
    for node in only_dicts(nodes):
        meta, spec, status = d(node, "metadata"), d(node, "spec"), d(node, "status")
        name = s(meta, "name")
        ready_cond = find_condition(status, "Ready")
        ready = s(ready_cond, "status") or "Unknown"
        pressures = tuple(s(c, "type") for c in dicts(status, "conditions")
                          if c.get("type") != "Ready" and c.get("status") == "True")
        heartbeat = epoch(ready_cond.get("lastHeartbeatTime"))

        taint_dicts = dicts(spec, "taints")
        taints = tuple((s(t, "key"), s(t, "effect"), opt_s(t, "timeAdded")) for t in taint_dicts)
        unreachable = ready == "Unknown" or any(s(t, "key") == TAINT_UNREACHABLE for t in taint_dicts)

        node_pods, cpu_req, mem_req = pods_of(name)
        countdown = None
        no_execute = [t for t in taint_dicts if s(t, "effect") == "NoExecute"]
        if no_execute:
            # The taint manager schedules from when it first saw the node tainted.
            added = [t for t in (epoch(x.get("timeAdded")) for x in no_execute) if t is not None]
            start = min(added) if added else now
            deadlines = []
            for pod in node_pods:
                if d(pod, "metadata").get("deletionTimestamp") is not None:
                    continue
                delay = _eviction_delay(pod, no_execute)
                if delay is not None:
                    deadlines.append(start + delay)
            if deadlines:
                countdown = max(0.0, min(deadlines) - now)

        allocatable, capacity = d(status, "allocatable"), d(status, "capacity")
        lab = labels(node)
        addresses = dicts(status, "addresses")
        views.append(NodeHealth(
            key=(name,),
            name=name,
            ready=ready,
            reason=s(ready_cond, "reason"),
            message=s(ready_cond, "message"),
            pressures=pressures,
            heartbeat_age=None if heartbeat is None else max(0.0, now - heartbeat),
            lease_age=None,
            unreachable=unreachable,
            suspect=False,
            unschedulable=spec.get("unschedulable") is True,
            taints=taints,
            eviction_countdown=countdown,
            cpu_allocatable=millis(allocatable.get("cpu")),
            memory_allocatable=nbytes(allocatable.get("memory")),
            cpu_requested=cpu_req,
            memory_requested=mem_req,
            cpu_used=None,
            memory_used=None,
            pods=len(node_pods),
            pods_capacity=nbytes(allocatable.get("pods") or capacity.get("pods")),  # a plain count
            zone=lab.get("topology.kubernetes.io/zone") or lab.get("failure-domain.beta.kubernetes.io/zone") or "",
            roles=_roles(lab),
            kubelet_version=s(d(status, "nodeInfo"), "kubeletVersion"),
            internal_ip=next((s(a, "address") for a in addresses if a.get("type") == "InternalIP"), ""),
            age=created_age(node, now),
            heartbeat_at=heartbeat,
        ))
    views.sort(key=lambda v: v.name)
    return views


# --- pod issues -------------------------------------------------------------------------------

# Lower is worse. The kind names are what the screens filter on.
SEVERITY = {
    "CrashLoopBackOff": 0,
    "OOMKilled": 1,
    "ImagePullBackOff": 2,
    "CreateContainerConfigError": 3,
    "CreateContainerError": 3,
    "RunContainerError": 3,
    "Error": 4,
    "Evicted": 5,
    "Terminating": 6,
    "Pending": 7,
    "Restarts": 8,
}
_IMAGE_PULL = frozenset({"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"})
_CONTAINER_ERRORS = frozenset({"CreateContainerConfigError", "CreateContainerError", "RunContainerError"})
RESTARTS_THRESHOLD = 3
STUCK_TERMINATING_AFTER = 60.0  # seconds past the grace period


@dataclass(frozen=True, slots=True)
class PodIssue:
    key: tuple[str, str]
    namespace: str
    name: str
    kind: str
    severity: int
    detail: str
    restarts: int
    since: float | None        # the pod's age
    last_restart_age: float | None
    node: str
    owner_kind: str
    owner_name: str

    @property
    def owner(self) -> str:
        return f"{self.owner_kind}/{self.owner_name}" if self.owner_kind else ""


def _last_exit(cs: dict) -> str:
    term = d(cs, "lastState", "terminated")
    if not term:
        return ""
    return f"last exit {i(term, 'exitCode')} ({s(term, 'reason') or 'Error'})"


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _pod_issue(pod: dict, restarts: int, now: float, pending_after: float) -> tuple[int, str, str] | None:
    """(severity, kind, detail) of the worst problem of one pod, or None."""
    meta, spec, status = d(pod, "metadata"), d(pod, "spec"), d(pod, "status")
    phase = s(status, "phase")
    if phase == "Succeeded":
        return None
    found: list[tuple[int, str, str]] = []

    def add(kind: str, detail: str, severity: int | None = None) -> None:
        found.append((SEVERITY[kind] if severity is None else severity, kind, detail))

    statuses = dicts(status, "initContainerStatuses") + dicts(status, "containerStatuses")
    for cs in statuses:
        cname = s(cs, "name")
        waiting = d(cs, "state", "waiting")
        reason = s(waiting, "reason")
        last_reason = s(d(cs, "lastState", "terminated"), "reason")
        current_term = d(cs, "state", "terminated")
        if reason == "CrashLoopBackOff":
            # Crash-looping from OOM: name the cause, at the crash loop's severity.
            kind = "OOMKilled" if last_reason == "OOMKilled" else "CrashLoopBackOff"
            add(kind, _join(f"{cname}: {reason}", s(waiting, "message"), _last_exit(cs)), SEVERITY[reason])
        elif reason in _IMAGE_PULL:
            add("ImagePullBackOff", _join(f"{cname}: {reason}", s(waiting, "message")))
        elif reason in _CONTAINER_ERRORS:
            add(reason, _join(f"{cname}: {reason}", s(waiting, "message")))
        if last_reason == "OOMKilled" or s(current_term, "reason") == "OOMKilled":
            add("OOMKilled", _join(f"{cname}: OOMKilled", _last_exit(cs)))
    if phase == "Failed":
        if s(status, "reason") == "Evicted":
            add("Evicted", s(status, "message") or "Evicted")
        else:
            add("Error", _join(s(status, "reason") or "Failed", s(status, "message")))
    deleted_at = epoch(meta.get("deletionTimestamp"))
    if deleted_at is not None and phase not in _TERMINAL:
        grace = i(meta, "deletionGracePeriodSeconds", i(spec, "terminationGracePeriodSeconds", 30))
        overdue = now - deleted_at
        if overdue > STUCK_TERMINATING_AFTER:  # deletionTimestamp already includes the grace period
            node = s(spec, "nodeName")
            add("Terminating", _join(f"deletion requested {int(overdue + grace)}s ago", f"node {node}" if node else ""))
    if phase == "Pending":
        created = epoch(meta.get("creationTimestamp"))
        if created is not None and now - created > pending_after:
            scheduled = find_condition(status, "PodScheduled")
            if scheduled.get("status") == "False":
                detail = _join(s(scheduled, "reason"), s(scheduled, "message"))
            else:
                waiting = [s(d(cs, "state", "waiting"), "reason") for cs in statuses]
                detail = _join(*(w for w in waiting if w)) or "Pending"
            add("Pending", detail)
    if restarts >= RESTARTS_THRESHOLD:
        add("Restarts", f"restarted {restarts} times")
    if not found:
        return None
    return min(found, key=lambda f: f[0])


# Later than any clock: the only rules that depend on time (Pending too long, stuck deleting) fire
# once enough time has passed, so a pod with no issue even then never has one.
_FAR_FUTURE = 1e18


def never_an_issue(pod: dict) -> bool:
    """Whether `pod` has no issue at any time (true of almost every pod); see build_pod_issues."""
    return _pod_issue(pod, pod_status(pod)[3], _FAR_FUTURE, 0.0) is None


def build_pod_issues(pods: Sequence[dict], now: float, pending_after: float = 120, *,
                     status_of: Callable[[dict], tuple[str, int, int, int, float | None]] = pod_status,
                     quiet: Callable[[dict], bool] | None = None) -> list[PodIssue]:
    """Pods that need attention, worst kind first, then the most recent first.

    Rules: waiting CrashLoopBackOff / ImagePullBackOff / ErrImagePull (and the other image and
    container-creation errors); Pending longer than ``pending_after`` seconds; ``restartCount``
    summing to >= 3; a last termination by OOMKilled; Failed (Evicted or Error); stuck deleting.
    One issue per pod: the most severe.

    `status_of` and `quiet` may be PerObjects (of pod_status and never_an_issue), which the service
    keeps so that a rebuild after one pod changed judges only the pods that changed or may have an
    issue: at 20,000 pods these passes were most of the Health screen's idle CPU.
    """
    issues = []
    for pod in only_dicts(pods):
        if quiet is not None and quiet(pod):
            continue
        _, _, _, restarts, last_restart = status_of(pod)  # printPod: a PerObject(pod_status) remembers it
        found = _pod_issue(pod, restarts, now, pending_after)
        if found is None:
            continue
        severity, kind, detail = found
        meta = d(pod, "metadata")
        ns, name = s(meta, "namespace"), s(meta, "name")
        created = epoch(meta.get("creationTimestamp"))
        owner_kind, owner_name = owner(pod)
        issues.append(PodIssue(
            key=(ns, name),
            namespace=ns,
            name=name,
            kind=kind,
            severity=severity,
            detail=detail,
            restarts=restarts,
            since=None if created is None else max(0.0, now - created),
            last_restart_age=None if last_restart is None else max(0.0, now - last_restart),
            node=s(d(pod, "spec"), "nodeName"),
            owner_kind=owner_kind,
            owner_name=owner_name,
        ))
    for memo in (status_of, quiet):
        if isinstance(memo, PerObject):
            memo.sweep()
    issues.sort(key=lambda x: (x.severity, x.since if x.since is not None else math.inf, x.namespace, x.name))
    return issues


# --- warning events ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WarningEvent:
    key: tuple[str, str, str, str, str]  # (namespace, kind, name, reason, message)
    namespace: str
    object_kind: str
    object_name: str
    reason: str
    message: str
    count: int
    first_seen: float | None   # seconds ago
    last_seen: float | None
    source: str

    @property
    def object(self) -> str:
        return f"{self.object_kind}/{self.object_name}" if self.object_kind else self.object_name


def _event_fields(ev: dict) -> tuple[str, str, str, str, int, float | None, float | None, str]:
    """(namespace, kind, name, message, count, first, last, source) for core/v1 and events.k8s.io/v1."""
    meta = d(ev, "metadata")
    obj = d(ev, "involvedObject") or d(ev, "regarding")
    series = d(ev, "series")
    count = i(series, "count") or i(ev, "count") or i(ev, "deprecatedCount") or 1
    created = epoch(meta.get("creationTimestamp"))
    event_time = epoch(ev.get("eventTime"))
    first = epoch(ev.get("firstTimestamp")) or epoch(ev.get("deprecatedFirstTimestamp")) or event_time or created
    last = (epoch(series.get("lastObservedTime")) or epoch(ev.get("lastTimestamp"))
            or epoch(ev.get("deprecatedLastTimestamp")) or event_time or created)
    source = (s(d(ev, "source"), "component") or s(ev, "reportingComponent") or s(ev, "reportingController"))
    message = s(ev, "message") or s(ev, "note")
    ns = s(obj, "namespace") or s(meta, "namespace")
    return ns, s(obj, "kind"), s(obj, "name"), message, count, first, last, source


def build_warning_events(events: Sequence[dict], now: float, limit: int = 200) -> list[WarningEvent]:
    """Warning events, newest first, one row per (object, reason, message) with counts summed."""
    merged: dict[tuple[str, str, str, str, str], list[Any]] = {}
    for ev in only_dicts(events):
        if ev.get("type") != "Warning":
            continue
        ns, kind, name, message, count, first, last, source = _event_fields(ev)
        key = (ns, kind, name, s(ev, "reason"), message)
        entry = merged.get(key)
        if entry is None:
            merged[key] = [count, first, last, source]
            continue
        entry[0] += count
        if first is not None and (entry[1] is None or first < entry[1]):
            entry[1] = first
        if last is not None and (entry[2] is None or last > entry[2]):
            entry[2] = last
            entry[3] = source or entry[3]
    ordered = sorted(merged.items(), key=lambda kv: (-(kv[1][2] if kv[1][2] is not None else -math.inf), kv[0]))
    views = []
    for (ns, kind, name, reason, message), (count, first, last, source) in ordered[:max(0, limit)]:
        views.append(WarningEvent(
            key=(ns, kind, name, reason, message),
            namespace=ns,
            object_kind=kind,
            object_name=name,
            reason=reason,
            message=message,
            count=count,
            first_seen=None if first is None else max(0.0, now - first),
            last_seen=None if last is None else max(0.0, now - last),
            source=source,
        ))
    return views
