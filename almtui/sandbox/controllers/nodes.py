"""Node health: kubelet heartbeats, the node lifecycle controller, taint-based eviction and pod GC.

Why four controllers: upstream splits the work the same way, and the timings that users see
come from the hand-offs. The kubelet renews its Lease every 10 s and posts status when it
changes (at least every 5 min); kube-controller-manager's node lifecycle controller marks a
node Unknown once neither signal moved for the monitor grace period (50 s since 1.32,
kubernetes#126287) and taints it; the taint eviction controller deletes pods when their
tolerations run out; pod GC force-deletes only what no kubelet will ever finish (pods on
deleted nodes, or terminating on out-of-service nodes). Sources: pkg/kubelet/nodestatus,
pkg/kubelet/nodelease, pkg/controller/nodelifecycle, pkg/controller/tainteviction,
pkg/controller/podgc, pkg/controller/util/node.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from almtui.kube.durations import format_micro_time, parse_rfc3339
from almtui.kube.selectors import LabelSelector
from almtui.sandbox.controllers.base import Context, Controller
from almtui.sandbox.errors import ApiError
from almtui.sandbox.store import Obj, Store, WatchEvent, ts

LEASES = "coordination.k8s.io/leases"
NODE_LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_SECONDS = 40
RENEW_INTERVAL = 10.0  # nodeLeaseRenewIntervalFraction 0.25 x 40 s
STATUS_UPDATE_FREQUENCY = 10.0  # kubelet nodeStatusUpdateFrequency
STATUS_REPORT_FREQUENCY = 300.0  # kubelet nodeStatusReportFrequency: post unchanged status this often
MONITOR_PERIOD = 5.0  # --node-monitor-period
MONITOR_GRACE_PERIOD = 50.0  # --node-monitor-grace-period (40 s before 1.32)
STARTUP_GRACE_PERIOD = 60.0  # --node-startup-grace-period
EVICTION_QPS = 0.1  # --node-eviction-rate: NoExecute taints added per second per zone
SECONDARY_EVICTION_QPS = 0.01
LARGE_CLUSTER_THRESHOLD = 50
UNHEALTHY_ZONE_THRESHOLD = 0.55
PODGC_PERIOD = 20.0
PODGC_QUARANTINE = 40.0

TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
TAINT_OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"
_CONDITION_TAINTS = {  # nodeConditionToTaintKeyStatusMap
    "Ready": {"False": TAINT_NOT_READY, "Unknown": TAINT_UNREACHABLE},
    "MemoryPressure": {"True": "node.kubernetes.io/memory-pressure"},
    "DiskPressure": {"True": "node.kubernetes.io/disk-pressure"},
    "NetworkUnavailable": {"True": "node.kubernetes.io/network-unavailable"},
    "PIDPressure": {"True": "node.kubernetes.io/pid-pressure"},
}
_CONDITION_TAINT_KEYS = frozenset(k for m in _CONDITION_TAINTS.values() for k in m.values())
_MONITORED_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")

# kubelet pressure setters: (type, reason, message, event) while the pressure is absent
_PRESSURE_OK = (
    ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available",
     "NodeHasSufficientMemory"),
    ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", "NodeHasNoDiskPressure"),
    ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available",
     "NodeHasSufficientPID"),
)
DEFAULT_NOT_READY_MESSAGE = ("container runtime network not ready: NetworkReady=false "
                             "reason:NetworkPluginNotReady message:Network plugin returns error: "
                             "cni plugin not initialized")


# -- small helpers ----------------------------------------------------------------------------------


def _cond(obj: Obj, type_: str) -> dict | None:
    for c in (obj.get("status") or {}).get("conditions") or ():
        if c.get("type") == type_:
            return c
    return None


@functools.lru_cache(maxsize=8192)  # the lifecycle controller rereads every node's stamps each second
def _epoch(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parse_rfc3339(value).timestamp()
    except ValueError:
        return None


def noexecute_taints(node: Obj | None) -> list[dict]:
    if node is None:
        return []
    return [t for t in (node.get("spec") or {}).get("taints") or () if t.get("effect") == "NoExecute"]


def _has_taint(node: Obj, key: str, effect: str) -> bool:
    taints = (node.get("spec") or {}).get("taints") or ()
    return any(t.get("key") == key and t.get("effect") == effect for t in taints)


def tolerates(toleration: dict, taint: dict) -> bool:
    """Toleration.ToleratesTaint."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    if op == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def matching_tolerations(taints: list[dict], tolerations: list[dict]) -> tuple[bool, list[dict]]:
    """v1helper.GetMatchingTolerations: are all taints tolerated, and by which (first) tolerations."""
    if not taints:
        return True, []
    used = []
    for taint in taints:
        match = next((t for t in tolerations if tolerates(t, taint)), None)
        if match is None:
            return False, []
        used.append(match)
    return True, used


def min_toleration_seconds(tolerations: list[dict]) -> float:
    """getMinTolerationTime: 0 for none or any non-positive value, -1 for forever."""
    if not tolerations:
        return 0.0
    best: int | None = None
    for t in tolerations:
        secs = t.get("tolerationSeconds")
        if secs is None:
            continue
        if secs <= 0:
            return 0.0
        best = secs if best is None else min(best, secs)
    return -1.0 if best is None else float(best)


def zone_key(node: Obj) -> str:
    """topology.GetZoneKey: region and zone joined by ":\\x00:", "" when neither is labelled."""
    labels = node["metadata"].get("labels") or {}
    beta = "failure-domain.beta.kubernetes.io/"
    region = labels.get("topology.kubernetes.io/region") or labels.get(beta + "region", "")
    zone = labels.get("topology.kubernetes.io/zone") or labels.get(beta + "zone", "")
    if not region and not zone:
        return ""
    return f"{region}:\x00:{zone}"


def _pod_key(pod: Obj) -> tuple[str, str]:
    md = pod["metadata"]
    return md.get("namespace", ""), md["name"]


def _update_pod_condition(status: dict, cond: dict, now: str) -> bool:
    """podutil.UpdatePodCondition: set a condition, moving lastTransitionTime only on a status change."""
    conds = status.setdefault("conditions", [])
    for i, old in enumerate(conds):
        if old.get("type") == cond["type"]:
            same = old.get("status") == cond["status"]
            new = {**cond, "lastTransitionTime": old.get("lastTransitionTime") if same else now}
            if new.get("lastTransitionTime") is None:
                new.pop("lastTransitionTime")
            if old == new:
                return False
            conds[i] = new
            return True
    conds.append({**cond, "lastTransitionTime": now})
    return True


# -- pod index ----------------------------------------------------------------------------------------


class PodIndex:
    """Pods by node name and by (namespace, label, value), kept current from store events.

    Why: controllers here and the HPA need "pods on node X" and "pods matching a selector"
    without scanning every pod of a 20000-pod cluster on each pass.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.by_node: dict[str, set[tuple[str, str]]] = {}
        self.by_ns: dict[str, set[str]] = {}
        self.by_label: dict[tuple[str, str, str], set[str]] = {}
        for pod in store.list("/pods"):
            self._add(pod)
        store.subscribe(self._on_event)

    @classmethod
    def of(cls, ctx: Context) -> PodIndex:
        """The shared index of a context (created on first use)."""
        idx = ctx.shared.get("pod_index")
        if not isinstance(idx, PodIndex):
            idx = ctx.shared["pod_index"] = cls(ctx.store)
        return idx

    def _on_event(self, ev: WatchEvent) -> None:
        if ev.key != "/pods":
            return
        old, new = ev.old, ev.obj
        if ev.type == "MODIFIED" and old is not None and (
                (old.get("spec") or {}).get("nodeName") == (new.get("spec") or {}).get("nodeName")
                and old["metadata"].get("labels") == new["metadata"].get("labels")):
            return
        if old is not None:
            self._remove(old)
        elif ev.type == "DELETED":
            self._remove(new)
        if ev.type != "DELETED":
            self._add(new)

    def _add(self, pod: Obj) -> None:
        ns, name = _pod_key(pod)
        self.by_node.setdefault((pod.get("spec") or {}).get("nodeName") or "", set()).add((ns, name))
        self.by_ns.setdefault(ns, set()).add(name)
        for k, v in (pod["metadata"].get("labels") or {}).items():
            self.by_label.setdefault((ns, k, v), set()).add(name)

    def _remove(self, pod: Obj) -> None:
        ns, name = _pod_key(pod)
        node = (pod.get("spec") or {}).get("nodeName") or ""
        self._discard(self.by_node, node, (ns, name))
        self._discard(self.by_ns, ns, name)
        for k, v in (pod["metadata"].get("labels") or {}).items():
            self._discard(self.by_label, (ns, k, v), name)

    @staticmethod
    def _discard(index: dict, key: Any, item: Any) -> None:
        bucket = index.get(key)
        if bucket is not None:
            bucket.discard(item)
            if not bucket:
                del index[key]

    def on_node(self, node: str) -> list[Obj]:
        """Pods bound to `node` ("" gives the unscheduled ones), in namespace/name order."""
        out = []
        for ns, name in sorted(self.by_node.get(node, ())):
            pod = self.store.get("/pods", ns, name)
            if pod is not None:
                out.append(pod)
        return out

    def nodes(self) -> list[str]:
        return sorted(n for n in self.by_node if n)

    def select(self, namespace: str, selector: LabelSelector) -> list[Obj]:
        """Pods of a namespace matching a label selector, in name order."""
        if selector.matches_nothing:
            return []
        candidates: set[str] | None = None
        for req in selector.requirements:
            value = selector.requires_exact_match(req.key)
            if value is not None:
                bucket = self.by_label.get((namespace, req.key, value), set())
                if candidates is None or len(bucket) < len(candidates):
                    candidates = bucket
        if candidates is None:
            candidates = self.by_ns.get(namespace, set())
        out = []
        for name in sorted(candidates):
            pod = self.store.get("/pods", namespace, name)
            if pod is not None and selector.matches(pod["metadata"].get("labels")):
                out.append(pod)
        return out


# -- kubelet side -------------------------------------------------------------------------------------


class NodeHeartbeat(Controller):
    """The kubelet's node heartbeats: Lease renewals and status posts, per node, staggered.

    Nodes named in ``ctx.shared["partitions"]`` get neither. ``ctx.options["flaky_nodes"]``
    (``{node: {"every": s, "down": s}}``) partitions a node for ``down`` seconds out of every
    ``every``, from a seeded phase counted from the clock's start (so a rebuild repeats it).
    Nodes in ``ctx.shared["not_ready_nodes"]`` (node -> message) report Ready=False (KubeletNotReady).
    """

    name = "node-heartbeat"
    watches = ("/nodes",)
    period = 1.0

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.partitions: set[str] = ctx.shared.setdefault("partitions", set())
        self.not_ready: dict[str, str] = ctx.shared.setdefault("not_ready_nodes", {})
        self._seed = ctx.rng.getrandbits(32)
        self._next: dict[str, float] = {}
        self._last_report: dict[str, float] = {}
        self._flaky_down: set[str] = set()

    def _phase(self, name: str, span: float) -> float:
        return random.Random(f"{self._seed}:{name}").uniform(0.0, span)

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        name = ev.obj["metadata"]["name"]
        if ev.type == "ADDED":
            yield name
        elif ev.type == "DELETED":
            self._next.pop(name, None)
            self._last_report.pop(name, None)

    def reconcile(self, key: Any) -> float | None:
        """A new node: the kubelet registers it and posts its first status at once."""
        node = self.store.get("/nodes", None, key)
        if node is not None and key not in self._next:
            self._next[key] = self.ctx.now() + self._phase(key, RENEW_INTERVAL)
            self._beat(node)
        return None

    def tick(self) -> None:
        now = self.ctx.now()
        self._flaky(now)
        for node in self.store.list("/nodes"):
            name = node["metadata"]["name"]
            due = self._next.get(name)
            if due is None:
                self._next[name] = now + self._phase(name, RENEW_INTERVAL)
                self._beat(node)
            elif due <= now:
                nxt = due + RENEW_INTERVAL
                self._next[name] = nxt if nxt > now else now + RENEW_INTERVAL
                self._beat(node)

    def _flaky(self, now: float) -> None:
        flaky = self.ctx.options.get("flaky_nodes") or {}
        for name in sorted(flaky):
            spec = flaky[name] or {}
            every = float(spec.get("every", 600))
            down = float(spec.get("down", 90))
            if every <= 0:
                continue
            since = now - self.ctx.clock.start.timestamp()
            is_down = (since + self._phase(name, every)) % every < down
            if is_down and name not in self._flaky_down:
                self._flaky_down.add(name)
                self.partitions.add(name)
            elif not is_down and name in self._flaky_down:
                self._flaky_down.discard(name)
                self.partitions.discard(name)

    def _beat(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        if name in self.partitions:
            return
        self._renew_lease(node)
        self._post_status(node)

    def _renew_lease(self, node: Obj) -> None:
        md = node["metadata"]
        name = md["name"]
        renew = format_micro_time(self.ctx.clock.now())
        owner = [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": md.get("uid", "")}]
        if self.store.get(LEASES, NODE_LEASE_NAMESPACE, name) is None:
            lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                     "metadata": {"name": name, "namespace": NODE_LEASE_NAMESPACE, "ownerReferences": owner},
                     "spec": {"holderIdentity": name, "leaseDurationSeconds": LEASE_DURATION_SECONDS,
                              "renewTime": renew}}
            try:
                self.store.create(LEASES, lease)
            except ApiError:
                pass  # no kube-node-lease namespace yet: the status post still counts
            return

        def renew_fn(obj: Obj) -> None:
            spec = obj.setdefault("spec", {})
            spec.update(holderIdentity=name, leaseDurationSeconds=LEASE_DURATION_SECONDS, renewTime=renew)
            if not obj["metadata"].get("ownerReferences"):
                obj["metadata"]["ownerReferences"] = owner

        self.store.mutate(LEASES, NODE_LEASE_NAMESPACE, name, renew_fn)

    def _post_status(self, node: Obj) -> None:
        """tryUpdateNodeStatus: run the condition setters; post if changed or the report is due."""
        name = node["metadata"]["name"]
        now = self.ctx.now()
        stamp = ts(self.ctx.clock.now())
        old = list((node.get("status") or {}).get("conditions") or [])
        conds = [dict(c) for c in old]
        events: list[str] = []
        for type_, reason, message, event in _PRESSURE_OK:
            c = next((c for c in conds if c.get("type") == type_), None)
            if c is None:
                c = {"type": type_, "status": "Unknown"}
                conds.append(c)
            c["lastHeartbeatTime"] = stamp
            if c["status"] != "False":
                c.update(status="False", reason=reason, message=message, lastTransitionTime=stamp)
                events.append(event)
        not_ready = self.not_ready.get(name)
        ready = ({"type": "Ready", "status": "False", "lastHeartbeatTime": stamp, "reason": "KubeletNotReady",
                  "message": not_ready or DEFAULT_NOT_READY_MESSAGE} if not_ready is not None else
                 {"type": "Ready", "status": "True", "lastHeartbeatTime": stamp, "reason": "KubeletReady",
                  "message": "kubelet is posting ready status"})
        for i, c in enumerate(conds):
            if c.get("type") == "Ready":
                if c.get("status") == ready["status"] and c.get("lastTransitionTime"):
                    ready["lastTransitionTime"] = c["lastTransitionTime"]
                else:
                    ready["lastTransitionTime"] = stamp
                    events.append("NodeReady" if ready["status"] == "True" else "NodeNotReady")
                conds[i] = ready
                break
        else:
            ready["lastTransitionTime"] = stamp
            conds.append(ready)

        def strip(cs: list[dict]) -> list[dict]:
            return [{k: v for k, v in c.items() if k != "lastHeartbeatTime"} for c in cs]

        last = self._last_report.get(name)
        if last is not None and now < last + STATUS_REPORT_FREQUENCY and strip(conds) == strip(old):
            return
        for event in events:
            self.ctx.events.record(node, "Normal", event, f"Node {name} status is now: {event}",
                                   "kubelet", name)

        def post(obj: Obj) -> None:
            obj.setdefault("status", {})["conditions"] = conds

        if self.store.mutate("/nodes", None, name, post, subresource="status") is not None:
            self._last_report[name] = now


# -- kube-controller-manager: node lifecycle ----------------------------------------------------------


@dataclass
class _Health:
    """nodeHealthData: when we last saw the node's heartbeat move, and what it said."""

    probe: float
    ready_transition: float
    ready: dict | None  # the Ready condition as last observed
    lease_renew: float | None = None


class _TaintQueue:
    """RateLimitedTimedQueue with a token bucket: NoExecute taints are added at --node-eviction-rate."""

    def __init__(self, qps: float, now: float) -> None:
        self.qps = qps
        self.tokens = 1.0
        self.stamp = now
        self.items: dict[str, tuple[str, float]] = {}  # name -> (uid, process at), insertion ordered
        self.known: set[str] = set()  # UniqueQueue's set: stays after processing until removed

    def swap(self, qps: float, now: float) -> None:
        if qps == self.qps:
            return
        self._refill(now)
        empty = self.tokens < 1.0
        self.qps, self.tokens, self.stamp = qps, (0.0 if empty or qps <= 0 else 1.0), now

    def _refill(self, now: float) -> None:
        if self.qps > 0:
            self.tokens = min(1.0, self.tokens + (now - self.stamp) * self.qps)
        self.stamp = now

    def add(self, name: str, uid: str, now: float) -> bool:
        if name in self.known:
            return False
        self.known.add(name)
        self.items[name] = (uid, now)
        return True

    def remove(self, name: str) -> bool:
        self.items.pop(name, None)
        if name in self.known:
            self.known.discard(name)
            return True
        return False

    def try_(self, fn: Any, now: float) -> None:
        self._refill(now)
        while self.items and self.qps > 0:
            name, (uid, at) = min(self.items.items(), key=lambda kv: kv[1][1])
            if at > now or self.tokens < 1.0:
                return
            self.tokens -= 1.0
            ok, wait = fn(name, uid)
            if ok:
                self.items.pop(name, None)
            else:
                self.items[name] = (uid, now + wait + 1.0)


class NodeLifecycle(Controller):
    """node-lifecycle-controller: Unknown conditions, NoSchedule/NoExecute taints, pods NotReady."""

    name = "node-controller"
    watches = ("/nodes", "/pods")
    period = MONITOR_PERIOD

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.grace = float(ctx.options.get("node_monitor_grace_period", MONITOR_GRACE_PERIOD))
        self.startup_grace = float(ctx.options.get("node_startup_grace_period", STARTUP_GRACE_PERIOD))
        self.index = PodIndex.of(ctx)
        self._known: dict[str, Obj] = {}
        self._health: dict[str, _Health] = {}
        self._zone_states: dict[str, str] = {}
        self._tainters: dict[str, _TaintQueue] = {}

    # -- events --

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        if ev.key == "/nodes":
            if ev.type != "DELETED":
                yield ("node", ev.obj["metadata"]["name"])
            return
        if ev.type == "DELETED":
            return
        node = (ev.obj.get("spec") or {}).get("nodeName")
        old_node = ((ev.old or {}).get("spec") or {}).get("nodeName")
        if node and node != old_node:
            ns, name = _pod_key(ev.obj)
            yield ("pod", ns, name)

    def reconcile(self, key: Any) -> float | None:
        if key[0] == "node":
            self._no_schedule_pass(key[1])
        elif key[0] == "pod":
            self._process_pod(key[1], key[2])
        return None

    def tick(self) -> None:
        self._monitor()
        self._no_execute_pass()

    # -- taints on the node --

    def _swap_taints(self, name: str, add: list[dict], remove: list[tuple[str, str]]) -> bool:
        """SwapNodeControllerTaint: add (stamped with timeAdded) and remove taints by key and effect."""
        stamp = ts(self.ctx.clock.now())

        def fn(node: Obj) -> None:
            taints = list((node.get("spec") or {}).get("taints") or [])
            for t in add:
                t = {**t, "timeAdded": stamp}
                for i, old in enumerate(taints):
                    if old.get("key") == t["key"] and old.get("effect") == t["effect"]:
                        taints[i] = t
                        break
                else:
                    taints.append(t)
            taints = [t for t in taints if (t.get("key"), t.get("effect")) not in remove]
            if taints:
                node.setdefault("spec", {})["taints"] = taints
            else:
                node.setdefault("spec", {}).pop("taints", None)

        return self.store.mutate("/nodes", None, name, fn) is not None

    def _no_schedule_pass(self, name: str) -> None:
        """doNoScheduleTaintingPass: NoSchedule taints mirror the conditions and spec.unschedulable."""
        node = self.store.get("/nodes", None, name)
        if node is None:
            return
        want: list[str] = []
        for c in (node.get("status") or {}).get("conditions") or ():
            key = _CONDITION_TAINTS.get(c.get("type", ""), {}).get(c.get("status", ""))
            if key:
                want.append(key)
        if (node.get("spec") or {}).get("unschedulable"):
            want.append(TAINT_UNSCHEDULABLE)
        have = [t["key"] for t in (node.get("spec") or {}).get("taints") or ()
                if t.get("effect") == "NoSchedule"
                and (t.get("key") == TAINT_UNSCHEDULABLE or t.get("key") in _CONDITION_TAINT_KEYS)]
        to_add = [{"key": k, "effect": "NoSchedule"} for k in dict.fromkeys(want) if k not in have]
        to_del = [(k, "NoSchedule") for k in have if k not in want]
        if to_add or to_del:
            self._swap_taints(name, to_add, to_del)

    def _tainter(self, node: Obj) -> _TaintQueue:
        return self._zone_tainter(zone_key(node))

    def _zone_tainter(self, zone: str) -> _TaintQueue:
        q = self._tainters.get(zone)
        if q is None:
            q = self._tainters[zone] = _TaintQueue(EVICTION_QPS, self.ctx.now())
            self._zone_states.setdefault(zone, "Initial")
        return q

    def _mark_for_tainting(self, node: Obj, status: str) -> None:
        q = self._tainter(node)
        name = node["metadata"]["name"]
        taint = TAINT_NOT_READY if status == "False" else TAINT_UNREACHABLE
        if not _has_taint(node, taint, "NoExecute"):
            q.remove(name)
        q.add(name, node["metadata"].get("uid", ""), self.ctx.now())

    def _mark_reachable(self, node: Obj) -> bool:
        name = node["metadata"]["name"]
        if _has_taint(node, TAINT_UNREACHABLE, "NoExecute") or _has_taint(node, TAINT_NOT_READY, "NoExecute"):
            self._swap_taints(name, [], [(TAINT_UNREACHABLE, "NoExecute"), (TAINT_NOT_READY, "NoExecute")])
        return self._tainter(node).remove(name)

    def _no_execute_pass(self) -> None:
        """doNoExecuteTaintingPass: rate-limited per zone, unreachable and not-ready are exclusive."""
        def taint(name: str, uid: str) -> tuple[bool, float]:
            node = self.store.get("/nodes", None, name)
            if node is None:
                return True, 0.0
            ready = _cond(node, "Ready")
            if ready is None:
                return False, 0.05
            status = ready.get("status")
            if status == "False":
                add, opposite = TAINT_NOT_READY, TAINT_UNREACHABLE
            elif status == "Unknown":
                add, opposite = TAINT_UNREACHABLE, TAINT_NOT_READY
            else:
                return True, 0.0
            ok = self._swap_taints(name, [{"key": add, "effect": "NoExecute"}], [(opposite, "NoExecute")])
            return ok, 0.0

        for zone in sorted(self._tainters):
            self._tainters[zone].try_(taint, self.ctx.now())

    # -- health --

    def _monitor(self) -> None:
        """monitorNodeHealth."""
        nodes = self.store.list("/nodes")
        names = {n["metadata"]["name"] for n in nodes}
        for node in nodes:
            name = node["metadata"]["name"]
            if name not in self._known:
                self._known[name] = node
                self._node_event(node, "RegisteredNode", f"Registered Node {name} in Controller")
                self._tainter(node)
                self._mark_reachable(node)
        for name in sorted(set(self._known) - names):
            gone = self._known.pop(name)
            self._health.pop(name, None)
            self._node_event(gone, "RemovingNode", f"Removing Node {name} from Controller")
        zone_conditions: dict[str, list[str | None]] = {}
        for node in nodes:
            name = node["metadata"]["name"]
            observed, current = self._update_health(node)
            node = self.store.get("/nodes", None, name) or node
            labels = node["metadata"].get("labels") or {}
            if "node.kubernetes.io/exclude-disruption" not in labels:
                status = current.get("status") if current else None
                zone_conditions.setdefault(zone_key(node), []).append(status)
            if current is None:
                continue
            self._process_taint_based_eviction(node, observed.get("status"))
            if current.get("status") != "True" and observed.get("status") == "True":
                self._node_event(node, "NodeNotReady", f"Node {name} status is now: NodeNotReady",
                                 status=True)
                self._mark_pods_not_ready(self.index.on_node(name), name)
        self._handle_disruption(zone_conditions, nodes)

    def _update_health(self, node: Obj) -> tuple[dict, dict | None]:
        """tryUpdateNodeHealth: returns the observed and the (possibly updated) Ready condition."""
        md = node["metadata"]
        name = md["name"]
        now = self.ctx.now()
        created = _epoch(md.get("creationTimestamp")) or now
        health = self._health.get(name)
        current = _cond(node, "Ready")
        if current is None:
            created_ts = md.get("creationTimestamp")
            observed = {"type": "Ready", "status": "Unknown", "lastHeartbeatTime": created_ts,
                        "lastTransitionTime": created_ts}
            grace = self.startup_grace
            if health is None:
                health = _Health(created, created, None)
        else:
            observed = dict(current)
            grace = self.grace
        saved = health.ready if health is not None else None
        if health is None or (saved is None and current is not None):
            health = _Health(now, now, current)
        elif saved is not None and current is None:
            health = _Health(now, now, None)
        elif saved is not None and current is not None and \
                saved.get("lastHeartbeatTime") != current.get("lastHeartbeatTime"):
            moved = saved.get("lastTransitionTime") != current.get("lastTransitionTime")
            health = _Health(now, now if moved else health.ready_transition, current)
        lease = self.store.get(LEASES, NODE_LEASE_NAMESPACE, name)
        renew = _epoch(((lease or {}).get("spec") or {}).get("renewTime"))
        if renew is not None and (health.lease_renew is None or health.lease_renew < renew):
            health.lease_renew = renew
            health.probe = now
        self._health[name] = health
        if now <= health.probe + grace:
            return observed, current

        stamp = ts(self.ctx.clock.now())
        conds = [dict(c) for c in (node.get("status") or {}).get("conditions") or ()]
        for type_ in _MONITORED_CONDITIONS:
            c = next((c for c in conds if c.get("type") == type_), None)
            if c is None:
                conds.append({"type": type_, "status": "Unknown",
                              "lastHeartbeatTime": md.get("creationTimestamp"),
                              "lastTransitionTime": stamp, "reason": "NodeStatusNeverUpdated",
                              "message": "Kubelet never posted node status."})
            elif c.get("status") != "Unknown":
                c.update(status="Unknown", reason="NodeStatusUnknown",
                         message="Kubelet stopped posting node status.", lastTransitionTime=stamp)
        updated = next(c for c in conds if c.get("type") == "Ready")
        if updated == observed:
            return observed, updated

        def post(obj: Obj) -> None:
            obj.setdefault("status", {})["conditions"] = conds

        if self.store.mutate("/nodes", None, name, post, subresource="status") is None:
            return observed, current
        self._health[name] = _Health(health.probe, now, updated, health.lease_renew)
        return observed, updated

    def _process_taint_based_eviction(self, node: Obj, observed: str | None) -> None:
        name = node["metadata"]["name"]
        if observed == "False":
            if _has_taint(node, TAINT_UNREACHABLE, "NoExecute"):
                self._swap_taints(name, [{"key": TAINT_NOT_READY, "effect": "NoExecute"}],
                                  [(TAINT_UNREACHABLE, "NoExecute")])
            else:
                self._mark_for_tainting(node, "False")
        elif observed == "Unknown":
            if _has_taint(node, TAINT_NOT_READY, "NoExecute"):
                self._swap_taints(name, [{"key": TAINT_UNREACHABLE, "effect": "NoExecute"}],
                                  [(TAINT_NOT_READY, "NoExecute")])
            else:
                self._mark_for_tainting(node, "Unknown")
        elif observed == "True":
            self._mark_reachable(node)

    def _handle_disruption(self, zone_conditions: dict[str, list[str | None]], nodes: list[Obj]) -> None:
        """handleDisruption: when every zone has no Ready node, stop evicting (the problem is likely ours)."""
        new_states: dict[str, str] = {}
        for zone, statuses in zone_conditions.items():
            ready = sum(1 for s in statuses if s == "True")
            not_ready = len(statuses) - ready
            if ready == 0 and not_ready > 0:
                new_states[zone] = "FullDisruption"
            elif not_ready > 2 and not_ready / len(statuses) >= UNHEALTHY_ZONE_THRESHOLD:
                new_states[zone] = "PartialDisruption"
            else:
                new_states[zone] = "Normal"
            self._zone_states.setdefault(zone, "Initial")
        all_are_full = all(s == "FullDisruption" for s in new_states.values())
        for zone in [z for z in self._zone_states if z not in zone_conditions]:
            del self._zone_states[zone]
        all_were_full = all(s == "FullDisruption" for s in self._zone_states.values())
        if all_are_full and all_were_full:
            return
        now = self.ctx.now()
        if all_are_full:
            for node in nodes:
                current = self.store.get("/nodes", None, node["metadata"]["name"])
                if current is not None:
                    self._mark_reachable(current)
            for zone in self._zone_states:
                self._zone_tainter(zone).swap(0.0, now)
                self._zone_states[zone] = "FullDisruption"
            return
        if all_were_full:
            for health in self._health.values():
                health.probe = health.ready_transition = now
        for zone, old in list(self._zone_states.items()):
            new = new_states.get(zone, old)
            if all_were_full or new != old:
                self._zone_tainter(zone).swap(self._zone_qps(new, len(zone_conditions.get(zone, ()))), now)
                self._zone_states[zone] = new

    @staticmethod
    def _zone_qps(state: str, size: int) -> float:
        if state == "PartialDisruption":
            return SECONDARY_EVICTION_QPS if size > LARGE_CLUSTER_THRESHOLD else 0.0
        return EVICTION_QPS

    # -- pods --

    def _mark_pods_not_ready(self, pods: list[Obj], node: str) -> None:
        """MarkPodsNotReady: Ready=False (reason kept) and a NodeNotReady warning per pod."""
        stamp = ts(self.ctx.clock.now())
        for pod in pods:
            if (pod.get("spec") or {}).get("nodeName") != node:
                continue
            ready = _cond(pod, "Ready")
            if ready is None:
                continue
            changed = False

            def fn(obj: Obj, ready: dict = ready) -> None:
                nonlocal changed
                status = obj.setdefault("status", {})
                changed = _update_pod_condition(status, {**ready, "status": "False"}, stamp)

            ns, name = _pod_key(pod)
            try:
                updated = self.store.mutate("/pods", ns, name, fn, subresource="status")
            except ApiError:
                continue
            if changed and updated is not None:
                self.ctx.events.record(updated, "Warning", "NodeNotReady", "Node is not ready", self.name)

    def _process_pod(self, ns: str, name: str) -> None:
        """processPod: a pod bound to a node that is not Ready is marked NotReady too."""
        pod = self.store.get("/pods", ns, name)
        if pod is None:
            return
        node = (pod.get("spec") or {}).get("nodeName") or ""
        health = self._health.get(node)
        if health is None or health.ready is None or self.store.get("/nodes", None, node) is None:
            return
        if health.ready.get("status") != "True":
            self._mark_pods_not_ready([pod], node)

    def _node_event(self, node: Obj, reason: str, message: str, status: bool = False) -> None:
        name = node["metadata"]["name"]
        text = message if status else f"Node {name} event: {message}"
        self.ctx.events.record(node, "Normal", reason, text, self.name)


# -- taint eviction -----------------------------------------------------------------------------------


@dataclass
class _Work:
    created: float
    fire_at: float


class TaintEviction(Controller):
    """taint-eviction-controller: delete pods that do not tolerate a node's NoExecute taints.

    A pod that tolerates every taint with tolerationSeconds is deleted when the shortest of
    those runs out, counted from when the controller first saw the taint on the pod's node.
    """

    name = "taint-eviction-controller"
    watches = ("/nodes", "/pods")

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.index = PodIndex.of(ctx)
        self._tainted: dict[str, list[dict]] = {}
        self._work: dict[tuple[str, str], _Work | None] = {}  # None: done, kept to stop repeats
        self._gone: dict[tuple[str, str], Obj] = {}

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        if ev.key == "/nodes":
            name = ev.obj["metadata"]["name"]
            if ev.type != "MODIFIED" or noexecute_taints(ev.old) != noexecute_taints(ev.obj):
                yield ("node", name)
            return
        ns, name = _pod_key(ev.obj)
        spec, old_spec = ev.obj.get("spec") or {}, (ev.old or {}).get("spec") or {}
        if ev.type == "DELETED":
            self._gone[(ns, name)] = ev.obj
        elif ev.type == "MODIFIED" and spec.get("tolerations") == old_spec.get("tolerations") \
                and spec.get("nodeName") == old_spec.get("nodeName"):
            return
        yield ("pod", ns, name, spec.get("nodeName") or "")

    def reconcile(self, key: Any) -> float | None:
        if key[0] == "node":
            self._handle_node(key[1])
        elif key[0] == "pod":
            self._handle_pod(key[1], key[2], key[3])
        elif key[0] == "fire":
            self._fire(key[1], key[2])
        return None

    def _handle_node(self, name: str) -> None:
        node = self.store.get("/nodes", None, name)
        if node is None:
            self._tainted.pop(name, None)
            return
        taints = noexecute_taints(node)
        if taints:
            self._tainted[name] = taints
        else:
            self._tainted.pop(name, None)
        pods = self.index.on_node(name)
        if not taints:
            for pod in pods:
                self._cancel(pod)
            return
        now = self.ctx.now()
        for pod in pods:
            self._process(pod, taints, now)

    def _handle_pod(self, ns: str, name: str, node: str) -> None:
        pod = self.store.get("/pods", ns, name)
        gone = self._gone.pop((ns, name), None)
        if pod is None:
            if gone is not None:
                self._cancel(gone)
            return
        if (pod.get("spec") or {}).get("nodeName") != node or not node:
            return
        taints = self._tainted.get(node)
        if taints:
            self._process(pod, taints, self.ctx.now())

    def _process(self, pod: Obj, taints: list[dict], now: float) -> None:
        """processPodOnNode."""
        key = _pod_key(pod)
        tolerated, used = matching_tolerations(taints, list((pod.get("spec") or {}).get("tolerations") or ()))
        if not tolerated:
            self._cancel(pod)
            self._add(key, now, now)
            return
        wait = min_toleration_seconds(used)
        if wait < 0:
            self._cancel(pod)
            return
        trigger = now + wait
        scheduled = self._work.get(key)
        if scheduled is not None:
            if scheduled.created + wait < trigger:
                return
            self._cancel(pod)
            self._add(key, scheduled.created, trigger)
            return
        self._add(key, now, trigger)

    def _add(self, key: tuple[str, str], created: float, fire_at: float) -> None:
        if key in self._work:
            return
        self._work[key] = _Work(created, fire_at)
        self.ctx.shared["manager"].enqueue(self, ("fire", *key), max(0.0, fire_at - self.ctx.now()))

    def _cancel(self, pod: Obj) -> None:
        key = _pod_key(pod)
        if key in self._work:
            del self._work[key]
            self.ctx.events.record(pod, "Normal", "TaintManagerEviction",
                                   f"Cancelling deletion of Pod {key[0]}/{key[1]}", self.name)

    def _fire(self, ns: str, name: str) -> None:
        work = self._work.get((ns, name))
        if work is None or work.fire_at > self.ctx.now() + 1e-6:
            return  # cancelled, done, or moved later (a later timer fires it)
        pod = self.store.get("/pods", ns, name)
        if pod is None:
            self._work.pop((ns, name), None)
            return
        self.ctx.events.record(pod, "Normal", "TaintManagerEviction", f"Marking for deletion Pod {ns}/{name}",
                               self.name)
        stamp = ts(self.ctx.clock.now())
        target = {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
                  "message": "Taint manager: deleting due to NoExecute taint"}
        try:
            self.store.mutate("/pods", ns, name,
                              lambda o: _update_pod_condition(o.setdefault("status", {}), target, stamp),
                              subresource="status")
            self.store.delete("/pods", ns, name)
        except ApiError:
            self._work.pop((ns, name), None)
            return
        self._work[(ns, name)] = None


# -- pod garbage collection ---------------------------------------------------------------------------


class PodGC(Controller):
    """pod-garbage-collector: force-delete pods no kubelet will finish.

    Orphans (bound to a node that is gone for 40 s), terminating pods on a not-ready node
    tainted node.kubernetes.io/out-of-service, and terminating pods never scheduled. A pod
    merely terminating on an unreachable node stays Terminating, as upstream.
    """

    name = "pod-garbage-collector"
    period = PODGC_PERIOD

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.index = PodIndex.of(ctx)
        self._missing_since: dict[str, float] = {}

    def tick(self) -> None:
        self._gc_terminating()
        self._gc_orphaned()
        for pod in self.index.on_node(""):
            if pod["metadata"].get("deletionTimestamp"):
                self._fail_and_delete(pod, None)

    def _gc_terminating(self) -> None:
        for name in self.index.nodes():
            node = self.store.get("/nodes", None, name)
            if node is None:
                continue
            ready = _cond(node, "Ready")
            out_of_service = any(t.get("key") == TAINT_OUT_OF_SERVICE
                                 for t in (node.get("spec") or {}).get("taints") or ())
            if out_of_service and (ready is None or ready.get("status") != "True"):
                for pod in self.index.on_node(name):
                    if pod["metadata"].get("deletionTimestamp"):
                        self._fail_and_delete(pod, None)

    def _gc_orphaned(self) -> None:
        now = self.ctx.now()
        bound = self.index.nodes()
        for name in list(self._missing_since):
            if name not in bound or self.store.get("/nodes", None, name) is not None:
                del self._missing_since[name]
        for name in bound:
            if self.store.get("/nodes", None, name) is not None:
                continue
            since = self._missing_since.setdefault(name, now)
            if now - since < PODGC_QUARANTINE:
                continue
            cond = {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
                    "message": "PodGC: node no longer exists"}
            for pod in self.index.on_node(name):
                self._fail_and_delete(pod, cond)

    def _fail_and_delete(self, pod: Obj, condition: dict | None) -> None:
        """markFailedAndDeletePodWithCondition: phase Failed, then delete with grace period 0."""
        ns, name = _pod_key(pod)
        stamp = ts(self.ctx.clock.now())

        def fail(obj: Obj) -> None:
            status = obj.setdefault("status", {})
            status["phase"] = "Failed"
            if condition is not None:
                _update_pod_condition(status, condition, stamp)

        try:
            if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                self.store.mutate("/pods", ns, name, fail, subresource="status")
            self.store.delete("/pods", ns, name, grace_seconds=0)
        except ApiError:
            pass
