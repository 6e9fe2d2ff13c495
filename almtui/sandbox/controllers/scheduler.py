"""kube-scheduler's default profile, reduced to what an edge cluster shows.

Why these plugins: the filters that explain most "Pending" pods are NodeUnschedulable,
TaintToleration, NodeAffinity (nodeSelector and required node affinity) and
NodeResourcesFit; scoring is NodeResourcesFit's LeastAllocated (with the scheduler's
non-zero request defaults), ties broken by node name. Failures produce upstream's FitError
text ("0/3 nodes are available: ... preemption: ...") in a FailedScheduling event and the
PodScheduled=False condition. Unschedulable pods are retried when nodes or bound pods
change, and every 5 minutes regardless (podMaxInUnschedulablePodsDuration).

A node whose Ready condition is not True is treated as carrying the not-ready/unreachable
NoSchedule taint even before the node lifecycle controller adds it.
Sources: pkg/scheduler/framework/types.go (FitError), plugins/{nodeunschedulable,
tainttoleration,nodeaffinity,noderesources}, plugins/defaultpreemption, schedule_one.go.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from almtui.kube.quantities import cpu_millis, to_bytes
from almtui.sandbox.controllers.base import Context, Controller
from almtui.sandbox.store import Obj, WatchEvent, ts

COMPONENT = "default-scheduler"
NO_NODES = "no nodes available to schedule pods"
DEFAULT_MILLI_CPU = 100  # schedutil.DefaultMilliCPURequest, for scoring only
DEFAULT_MEMORY = 200 << 20  # schedutil.DefaultMemoryRequest
UNSCHEDULABLE_FLUSH = 300.0  # podMaxInUnschedulablePodsDuration
MIN_FEASIBLE_NODES = 100  # minFeasibleNodesToFind
TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
_READY_TAINTS = {"False": "node.kubernetes.io/not-ready", "Unknown": "node.kubernetes.io/unreachable"}

# filter failures that preemption cannot fix (UnschedulableAndUnresolvable)
MSG_UNSCHEDULABLE = "node(s) were unschedulable"
MSG_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
MSG_NOT_HELPFUL = "Preemption is not helpful for scheduling"
MSG_NO_VICTIMS = "No preemption victims found for incoming pod"


@functools.lru_cache(maxsize=4096)
def _qty(resource: str, v: Any) -> int:
    return cpu_millis(v) if resource == "cpu" else to_bytes(v)


def pod_requests(pod: Obj) -> tuple[int, int, int, int]:
    """(cpu m, memory B, non-zero cpu m, non-zero memory B).

    Containers are summed, init containers taken as a maximum, pod overhead added; the
    non-zero pair uses the scheduler's defaults for missing requests (scoring only).
    """
    spec = pod.get("spec") or {}

    def one(c: dict[str, Any]) -> tuple[int, int, int, int]:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        vals = []
        for r, default in (("cpu", DEFAULT_MILLI_CPU), ("memory", DEFAULT_MEMORY)):
            v = req.get(r, lim.get(r))
            vals.append((_qty(r, v) if v is not None else 0, _qty(r, v) if v is not None else default))
        return vals[0][0], vals[1][0], vals[0][1], vals[1][1]

    total = [0, 0, 0, 0]
    for c in spec.get("containers") or ():
        for i, v in enumerate(one(c)):
            total[i] += v
    for c in spec.get("initContainers") or ():
        for i, v in enumerate(one(c)):
            total[i] = max(total[i], v)
    overhead = spec.get("overhead") or {}
    if overhead.get("cpu"):
        total[0] += cpu_millis(overhead["cpu"])
        total[2] += cpu_millis(overhead["cpu"])
    if overhead.get("memory"):
        total[1] += to_bytes(overhead["memory"])
        total[3] += to_bytes(overhead["memory"])
    return total[0], total[1], total[2], total[3]


def tolerates(tolerations: Iterable[dict[str, Any]], taint: dict[str, Any]) -> bool:
    """v1.Toleration.ToleratesTaint."""
    for t in tolerations:
        if t.get("effect") and t.get("effect") != taint.get("effect"):
            continue
        if t.get("key") and t.get("key") != taint.get("key"):
            continue
        op = t.get("operator") or "Equal"
        if op == "Exists":
            if not t.get("key") or t.get("key") == taint.get("key"):
                return True
        elif op == "Equal" and t.get("key") == taint.get("key") and (t.get("value") or "") == (
                taint.get("value") or ""):
            return True
    return False


def _match_expr(labels: dict[str, str], expr: dict[str, Any]) -> bool:
    key, op, values = expr.get("key", ""), expr.get("operator"), expr.get("values") or []
    has = key in labels
    if op == "In":
        return has and labels[key] in values
    if op == "NotIn":
        return not has or labels[key] not in values
    if op == "Exists":
        return has
    if op == "DoesNotExist":
        return not has
    if op in ("Gt", "Lt") and has and values:
        try:
            a, b = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return a > b if op == "Gt" else a < b
    return False


def matches_node(pod: Obj, node_name: str, labels: dict[str, str]) -> bool:
    """NodeAffinity filter: nodeSelector and requiredDuringSchedulingIgnoredDuringExecution."""
    spec = pod.get("spec") or {}
    for k, v in (spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    req = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution")
    if not req:
        return True
    terms = req.get("nodeSelectorTerms") or []
    for term in terms:
        exprs = term.get("matchExpressions") or []
        fields = term.get("matchFields") or []
        if not exprs and not fields:
            continue
        ok = all(_match_expr(labels, e) for e in exprs)
        ok = ok and all(_match_expr({"metadata.name": node_name}, f) for f in fields)
        if ok:
            return True
    return False


@dataclass
class NodeInfo:
    """What the filters need from a Node, parsed once per change."""

    name: str
    labels: dict[str, str]
    unschedulable: bool
    taints: list[dict[str, Any]]
    cpu: int
    memory: int
    pods: int
    relevant: tuple = field(default=(), repr=False)

    @classmethod
    def of(cls, node: Obj) -> NodeInfo:
        spec, status = node.get("spec") or {}, node.get("status") or {}
        alloc = status.get("allocatable") or status.get("capacity") or {}
        taints = [t for t in spec.get("taints") or () if t.get("effect") in ("NoSchedule", "NoExecute")]
        ready = next((c.get("status") for c in status.get("conditions") or () if c.get("type") == "Ready"),
                     "Unknown")
        implicit = _READY_TAINTS.get(ready or "Unknown") if ready != "True" else None
        if implicit and not any(t.get("key") == implicit for t in taints):
            taints = [{"key": implicit, "effect": "NoSchedule"}, *taints]
        labels = dict(node["metadata"].get("labels") or {})
        info = cls(name=node["metadata"]["name"], labels=labels,
                   unschedulable=bool(spec.get("unschedulable")), taints=taints,
                   cpu=cpu_millis(alloc.get("cpu", 0)), memory=to_bytes(alloc.get("memory", 0)),
                   pods=int(to_bytes(alloc.get("pods", 110))))
        info.relevant = (repr(sorted(labels.items())), info.unschedulable, repr(taints),
                         info.cpu, info.memory, info.pods)
        return info


class Scheduler(Controller):
    """Binds pending pods to nodes (default-scheduler); see the module docstring."""

    name = "default-scheduler"
    watches = ("/pods", "/nodes")
    period = 1.0

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self._nodes: dict[str, NodeInfo] = {}
        self._names: list[str] = []
        self._used: dict[str, list[int]] = {}  # node -> [cpu, mem, pods, nz cpu, nz mem]
        self._contrib: dict[tuple[str, str], tuple[str, tuple[int, int, int, int]]] = {}
        self._unschedulable: dict[tuple[str, str], float] = {}  # key -> last failed attempt
        self._attempts: dict[tuple[str, str], int] = {}
        self._dirty = False
        self._next_start = 0
        # pod placement signature -> node -> static filter failure (None: passes)
        self._static: dict[str, dict[str, list[str] | None]] = {}
        for node in self.store.list("/nodes"):
            self._nodes[node["metadata"]["name"]] = NodeInfo.of(node)
        self._names = sorted(self._nodes)
        for pod in self.store.list("/pods"):
            self._account(pod, False)

    # -- caches -----------------------------------------------------------------------------

    def _account(self, pod: Obj, deleted: bool) -> bool:
        """Track requests of bound, non-terminal pods per node; True when capacity was freed."""
        md = pod["metadata"]
        key = (md.get("namespace", ""), md["name"])
        node = (pod.get("spec") or {}).get("nodeName")
        live = not deleted and node and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        old = self._contrib.get(key)
        if old is not None and live and old[0] == node:
            return False
        freed = False
        if old is not None:
            used = self._used.setdefault(old[0], [0, 0, 0, 0, 0])
            cpu, mem, nzc, nzm = old[1]
            for i, v in enumerate((cpu, mem, 1, nzc, nzm)):
                used[i] -= v
            del self._contrib[key]
            freed = True
        if live:
            req = pod_requests(pod)
            self._contrib[key] = (node, req)
            used = self._used.setdefault(node, [0, 0, 0, 0, 0])
            for i, v in enumerate((req[0], req[1], 1, req[2], req[3])):
                used[i] += v
        return freed

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        if ev.key == "/nodes":
            name = ev.obj["metadata"]["name"]
            before = self._nodes.get(name)
            if ev.type == "DELETED":
                self._nodes.pop(name, None)
            else:
                info = NodeInfo.of(ev.obj)
                self._nodes[name] = info
                if before is None or before.relevant != info.relevant:
                    self._dirty = True
                    self._static.clear()
            if (before is None) != (name not in self._nodes):
                self._names = sorted(self._nodes)
                self._static.clear()
            return
        pod = ev.obj
        md = pod["metadata"]
        key = (md.get("namespace", ""), md["name"])
        deleted = ev.type == "DELETED"
        if self._account(pod, deleted):
            self._dirty = True
        if deleted:
            self._unschedulable.pop(key, None)
            self._attempts.pop(key, None)
            return
        spec = pod.get("spec") or {}
        if spec.get("nodeName") or md.get("deletionTimestamp"):
            return
        if spec.get("schedulerName") not in (None, "", COMPONENT):
            return
        old = ev.old or {}
        changed = old.get("spec") != spec or (old.get("metadata") or {}).get("labels") != md.get("labels")
        if ev.type == "ADDED" or key not in self._unschedulable or changed:
            yield key

    def tick(self) -> None:
        if not self._unschedulable:
            self._dirty = False
            return
        mgr = self.ctx.shared.get("manager")
        if mgr is None:
            return
        now = self.ctx.now()
        retry, waiting = [], False
        for key, at in sorted(self._unschedulable.items()):
            if now - at >= UNSCHEDULABLE_FLUSH:
                retry.append(key)
            elif self._dirty:
                # podInitialBackoffSeconds 1 doubling to podMaxBackoffSeconds 10 per failed attempt
                if now - at >= min(10.0, 2.0 ** (self._attempts.get(key, 1) - 1)):
                    retry.append(key)
                else:
                    waiting = True
        self._dirty = waiting
        for key in retry:
            mgr.enqueue(self, key)

    # -- scheduling -------------------------------------------------------------------------

    def reconcile(self, key: Any) -> float | None:
        ns, name = key
        pod = self.store.get("/pods", ns, name)
        if pod is None or (pod.get("spec") or {}).get("nodeName") or pod["metadata"].get("deletionTimestamp"):
            self._unschedulable.pop(key, None)
            self._attempts.pop(key, None)
            return None
        if (pod.get("spec") or {}).get("schedulerName") not in (None, "", COMPONENT):
            return None
        if (pod.get("spec") or {}).get("schedulingGates"):
            return None  # PreEnqueue: gated pods wait until their gates are removed
        chosen, message = self.schedule(pod)
        if chosen is not None:
            self._bind(pod, chosen)
            self._unschedulable.pop(key, None)
            self._attempts.pop(key, None)
        else:
            self._unschedulable[key] = self.ctx.now()  # before the write, so its event does not requeue
            self._attempts[key] = self._attempts.get(key, 0) + 1
            self._fail(pod, message)
        return None

    @staticmethod
    def _static_filter(pod: Obj, info: NodeInfo) -> list[str] | None:
        """NodeUnschedulable, TaintToleration and NodeAffinity: the first failing plugin wins."""
        tolerations = (pod.get("spec") or {}).get("tolerations") or []
        cordon = {"key": TAINT_UNSCHEDULABLE, "effect": "NoSchedule"}
        if info.unschedulable and not tolerates(tolerations, cordon):
            return [MSG_UNSCHEDULABLE]
        for taint in info.taints:
            if not tolerates(tolerations, taint):
                return [f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value', '')}}}"]
        if not matches_node(pod, info.name, info.labels):
            return [MSG_AFFINITY]
        return None

    def _filter(self, pod: Obj, info: NodeInfo, req: tuple[int, int, int, int],
                static: dict[str, list[str] | None]) -> list[str]:
        """Reasons the node cannot take the pod; static verdicts are cached per pod signature."""
        if info.name not in static:
            static[info.name] = self._static_filter(pod, info)
        fixed = static[info.name]
        if fixed:
            return fixed
        used = self._used.get(info.name, [0, 0, 0, 0, 0])
        reasons = []
        if used[2] + 1 > info.pods:
            reasons.append("Too many pods")
        if req[0] and used[0] + req[0] > info.cpu:
            reasons.append("Insufficient cpu")
        if req[1] and used[1] + req[1] > info.memory:
            reasons.append("Insufficient memory")
        return reasons

    def _score(self, info: NodeInfo, req: tuple[int, int, int, int]) -> float:
        """LeastAllocated: mean free share of cpu and memory after placing the pod (non-zero requests)."""
        used = self._used.get(info.name, [0, 0, 0, 0, 0])
        score = 0.0
        for alloc, u, r in ((info.cpu, used[3], req[2]), (info.memory, used[4], req[3])):
            if alloc > 0:
                score += max(0.0, (alloc - u - r) * 100.0 / alloc)
        return score / 2

    def schedule(self, pod: Obj) -> tuple[str | None, str]:
        """(node, "") or (None, FitError text)."""
        if not self._names:
            return None, NO_NODES
        req = pod_requests(pod)
        spec = pod.get("spec") or {}
        sig = repr((spec.get("tolerations"), spec.get("nodeSelector"),
                    (spec.get("affinity") or {}).get("nodeAffinity")))
        static = self._static.setdefault(sig, {})
        if len(self._static) > 1000:
            self._static.clear()
            static = self._static.setdefault(sig, {})
        n = len(self._names)
        want = n if n <= MIN_FEASIBLE_NODES else max(MIN_FEASIBLE_NODES, n * max(5, 50 - n // 125) // 100)
        feasible: list[str] = []
        failed: dict[str, list[str]] = {}
        start = self._next_start % n
        checked = 0
        for i in range(n):
            name = self._names[(start + i) % n]
            checked += 1
            reasons = self._filter(pod, self._nodes[name], req, static)
            if reasons:
                failed[name] = reasons
            else:
                feasible.append(name)
                if len(feasible) >= want:
                    break
        self._next_start = (start + checked) % n
        if feasible:
            return min(feasible, key=lambda nm: (-self._score(self._nodes[nm], req), nm)), ""
        return None, fit_error(n, failed)

    def _bind(self, pod: Obj, node: str) -> None:
        stamp = ts(self.ctx.clock.now())

        def bind(p: Obj) -> None:
            p["spec"]["nodeName"] = node
            st = p.setdefault("status", {})
            st.setdefault("phase", "Pending")
            conds = [c for c in st.get("conditions") or () if c.get("type") != "PodScheduled"]
            conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                          "lastTransitionTime": stamp})
            st["conditions"] = conds

        md = pod["metadata"]
        bound = self.store.mutate("/pods", md.get("namespace"), md["name"], bind)
        if bound is not None:
            self._account(bound, False)
        msg = f"Successfully assigned {md.get('namespace')}/{md['name']} to {node}"
        self.ctx.events.record(pod, "Normal", "Scheduled", msg, COMPONENT)

    def _fail(self, pod: Obj, message: str) -> None:
        stamp = ts(self.ctx.clock.now())

        def mark(p: Obj) -> None:
            st = p.setdefault("status", {})
            st.setdefault("phase", "Pending")
            conds = st.setdefault("conditions", [])
            new = {"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                   "lastTransitionTime": stamp, "reason": "Unschedulable", "message": message}
            for i, c in enumerate(conds):
                if c.get("type") == "PodScheduled":
                    if c.get("status") == "False":
                        new["lastTransitionTime"] = c.get("lastTransitionTime") or stamp
                    conds[i] = new
                    return
            conds.append(new)

        md = pod["metadata"]
        self.store.mutate("/pods", md.get("namespace"), md["name"], mark, subresource="status")
        self.ctx.events.record(pod, "Warning", "FailedScheduling", message, COMPONENT)


def _histogram(reasons: dict[str, int]) -> str:
    return ", ".join(sorted(f"{v} {k}" for k, v in reasons.items()))


def fit_error(num_nodes: int, failed: dict[str, list[str]]) -> str:
    """framework.FitError.Error() including DefaultPreemption's PostFilter message.

    Every node failed a filter. Nodes that failed only on resources are preemption
    candidates, but with equal priorities there are no victims; the rest make preemption
    "not helpful". Upstream appends the nested FitError with a separator, hence "..".
    """
    counts: dict[str, int] = {}
    preempt: dict[str, int] = {}
    for reasons in failed.values():
        for r in reasons:
            counts[r] = counts.get(r, 0) + 1
        resource = all(r.startswith(("Insufficient ", "Too many pods")) for r in reasons)
        p = MSG_NO_VICTIMS if resource else MSG_NOT_HELPFUL
        preempt[p] = preempt.get(p, 0) + 1
    msg = f"0/{num_nodes} nodes are available: {_histogram(counts)}."
    inner = f"0/{num_nodes} nodes are available: {_histogram(preempt)}."
    return f"{msg} preemption: {inner}."
