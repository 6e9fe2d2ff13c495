"""ReplicaSet controller, after ``pkg/controller/replicaset/replica_set.go``.

Why it matters: Deployments and Argo Rollouts only ever scale ReplicaSets; this controller is what
turns ``spec.replicas`` into pods (slow-start batches, upstream's scale-down ranking) and pod
readiness into ``readyReplicas``/``availableReplicas``, which both rollout engines step on.

Pods are found through the store's owner index (``store.dependents``) plus a small index of orphan
pods per namespace, so a sync costs O(pods of this ReplicaSet), not O(pods in the namespace).
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from almtui.kube.durations import parse_rfc3339
from almtui.kube.selectors import LabelSelector, SelectorError, from_label_selector_object
from almtui.sandbox.controllers.base import Context, Controller
from almtui.sandbox.errors import ApiError
from almtui.sandbox.store import Obj, WatchEvent, ts

RS = "apps/replicasets"
PODS = "/pods"
COMPONENT = "replicaset-controller"
BURST_REPLICAS = 500  # kube-controller-manager --concurrent-replicaset-syncs' burstReplicas
SLOW_START_INITIAL_BATCH = 1
DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


# --- pod helpers shared with the Deployment controller --------------------------------------------


@functools.lru_cache(maxsize=65536)
def epoch(stamp: str) -> float:
    """POSIX seconds of an RFC 3339 timestamp (cached: the same stamps are read over and over)."""
    return parse_rfc3339(stamp).timestamp()


def spec_replicas(obj: Obj) -> int:
    """``spec.replicas`` with the apps/v1 default of 1."""
    replicas = (obj.get("spec") or {}).get("replicas")
    return 1 if replicas is None else int(replicas)


def controller_ref(obj: Obj | None) -> Mapping[str, Any] | None:
    """metav1.GetControllerOf: the ownerReference with ``controller: true``."""
    if obj is None:
        return None
    for ref in obj["metadata"].get("ownerReferences") or ():
        if ref.get("controller"):
            return ref
    return None


def new_controller_ref(owner: Obj) -> dict[str, Any]:
    """metav1.NewControllerRef, in the field order Go serializes."""
    md = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": md["name"], "uid": md["uid"],
            "controller": True, "blockOwnerDeletion": True}


def selector_of(obj: Obj) -> LabelSelector | None:
    """The object's ``spec.selector``; None when it cannot be parsed (it then matches nothing)."""
    try:
        return from_label_selector_object((obj.get("spec") or {}).get("selector"))
    except SelectorError:
        return None


def is_pod_active(pod: Obj) -> bool:
    """controller.IsPodActive: not Succeeded/Failed and not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp")


def ready_condition(pod: Obj) -> Mapping[str, Any] | None:
    for cond in (pod.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            return cond
    return None


def is_pod_ready(pod: Obj) -> bool:
    cond = ready_condition(pod)
    return cond is not None and cond.get("status") == "True"


def available_at(pod: Obj, min_ready_seconds: int) -> float | None:
    """When a ready pod counts as available (IsPodAvailable: Ready for *more than* minReadySeconds).

    None when the pod is not ready, or ready without a lastTransitionTime (never available then).
    """
    cond = ready_condition(pod)
    if cond is None or cond.get("status") != "True":
        return None
    if min_ready_seconds == 0:
        return -math.inf
    stamp = cond.get("lastTransitionTime")
    if not stamp:
        return None
    return epoch(stamp) + min_ready_seconds


def is_pod_available(pod: Obj, min_ready_seconds: int, now: float) -> bool:
    at = available_at(pod, min_ready_seconds)
    return at is not None and (at == -math.inf or at < now)


# --- scale-down ranking (controller_utils.go ActivePodsWithRanks) ----------------------------------


def _deletion_cost(pod: Obj) -> int:
    """GetDeletionCostFromPodAnnotations: an int32 without '+' or leading zeros, else 0."""
    value = (pod["metadata"].get("annotations") or {}).get(DELETION_COST_ANNOTATION)
    if not value:
        return 0
    if not (value[0] == "-" or value == "0" or "1" <= value[0] <= "9"):
        return 0
    try:
        cost = int(value, 10)
    except ValueError:
        return 0
    return cost if -(2**31) <= cost < 2**31 else 0


def _max_restarts(pod: Obj) -> tuple[int, int]:
    """maxContainerRestarts: (regular containers, restartable init containers)."""
    status = pod.get("status") or {}
    regular = max((int(c.get("restartCount") or 0) for c in status.get("containerStatuses") or ()), default=0)
    sidecars = {c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or ()
                if c.get("restartPolicy") == "Always"}
    sidecar = max((int(c.get("restartCount") or 0) for c in status.get("initContainerStatuses") or ()
                   if c.get("name") in sidecars), default=0)
    return regular, sidecar


def _ns(stamp: str | None) -> int | None:
    """A metav1.Time in nanoseconds; None is Go's zero time."""
    return None if not stamp else round(epoch(stamp) * 1e9)


def _after_or_zero(t1: int | None, t2: int | None) -> bool:
    if t1 is None or t2 is None:
        return t1 is None
    return t1 > t2


def _log_rank_diff(t1: int, t2: int, now: int) -> int:
    """logarithmicRankDiff: compare ages in powers of two (LogarithmicScaleDown, on by default)."""
    d1, d2 = now - t1, now - t2
    r1 = int(math.log2(d1)) if d1 > 0 else -1
    r2 = int(math.log2(d2)) if d2 > 0 else -1
    return r1 - r2


class _Ranked:
    """One pod with what ActivePodsWithRanks.Less looks at, computed once."""

    __slots__ = ("cost", "created", "node", "phase", "pod", "rank", "ready", "ready_at", "restarts", "uid")

    def __init__(self, pod: Obj, rank: int) -> None:
        self.pod = pod
        self.rank = rank
        self.node = (pod.get("spec") or {}).get("nodeName") or ""
        self.phase = _PHASE_ORDINAL.get((pod.get("status") or {}).get("phase") or "", 0)
        self.ready = is_pod_ready(pod)
        cond = ready_condition(pod) if self.ready else None
        self.ready_at = _ns(cond.get("lastTransitionTime")) if cond else None
        self.cost = _deletion_cost(pod)
        self.restarts = _max_restarts(pod)
        self.created = _ns(pod["metadata"].get("creationTimestamp"))
        self.uid = pod["metadata"].get("uid") or ""


def _less(a: _Ranked, b: _Ranked, now: int) -> bool:
    """ActivePodsWithRanks.Less: True when ``a`` should be deleted before ``b``."""
    if a.node != b.node and (not a.node or not b.node):
        return not a.node  # 1. unassigned < assigned
    if a.phase != b.phase:
        return a.phase < b.phase  # 2. Pending < Unknown < Running
    if a.ready != b.ready:
        return not a.ready  # 3. not ready < ready
    if a.cost != b.cost:
        return a.cost < b.cost  # 4. lower pod-deletion-cost first
    if a.rank != b.rank:
        return a.rank > b.rank  # 5. doubled up on a node < not doubled up
    if a.ready and b.ready and a.ready_at != b.ready_at:  # 6. ready for less time first
        if a.ready_at is None or b.ready_at is None:
            return _after_or_zero(a.ready_at, b.ready_at)
        diff = _log_rank_diff(a.ready_at, b.ready_at, now)
        return a.uid < b.uid if diff == 0 else diff < 0
    if a.restarts[0] != b.restarts[0]:
        return a.restarts[0] > b.restarts[0]  # 7. more restarts first
    if a.restarts[1] != b.restarts[1]:
        return a.restarts[1] > b.restarts[1]
    if a.created != b.created:  # 8. newer first, empty creation time first
        if a.created is None or b.created is None:
            return _after_or_zero(a.created, b.created)
        diff = _log_rank_diff(a.created, b.created, now)
        return a.uid < b.uid if diff == 0 else diff < 0
    return False


def pods_to_delete(pods: list[Obj], related: Iterable[Obj], count: int, now: float) -> list[Obj]:
    """getPodsToDelete: the ``count`` pods a scale-down removes, unhealthiest and youngest first.

    ``related`` are the pods of every ReplicaSet with the same controller (for the doubled-up rank).
    """
    if count >= len(pods):
        return pods[:count]
    on_node: dict[str, int] = {}
    for pod in related:
        if is_pod_active(pod):
            node = (pod.get("spec") or {}).get("nodeName") or ""
            on_node[node] = on_node.get(node, 0) + 1
    ranked = [_Ranked(p, on_node.get((p.get("spec") or {}).get("nodeName") or "", 0)) for p in pods]
    now_ns = round(now * 1e9)

    def cmp(a: _Ranked, b: _Ranked) -> int:
        if _less(a, b, now_ns):
            return -1
        return 1 if _less(b, a, now_ns) else 0

    ranked.sort(key=functools.cmp_to_key(cmp))
    return [r.pod for r in ranked[:count]]


# --- requeue timers ---------------------------------------------------------------------------------


class Timers:
    """Requeue bookkeeping: one pending timer per key and due time, so stuck objects do not pile up timers."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._due: dict[Hashable, float] = {}

    def after(self, key: Hashable, seconds: float | None) -> float | None:
        """The value a reconcile should return to be requeued after ``seconds`` (None: no new timer)."""
        if seconds is None:
            return None
        now = self.ctx.now()
        due = now + seconds
        pending = self._due.get(key)
        if pending is not None and now < pending and abs(pending - due) < 1e-6:
            return None
        self._due[key] = due
        return seconds

    def forget(self, key: Hashable) -> None:
        self._due.pop(key, None)


# --- the controller -------------------------------------------------------------------------------


def _is_rs_ref(ref: Mapping[str, Any] | None) -> bool:
    return ref is not None and ref.get("kind") == "ReplicaSet" and str(ref.get("apiVersion", "")).startswith(
        "apps/")


class ReplicaSetController(Controller):
    """Keeps each ReplicaSet's pod count at ``spec.replicas`` and its status current."""

    name = "replicaset-controller"
    watches = (RS, PODS)

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self._orphans: dict[str, set[str]] = {}  # namespace -> active pods without a controller
        self._failures: dict[Hashable, int] = {}  # key -> consecutive failed syncs (rate limiter)
        self._timers = Timers(ctx)
        for pod in self.store.list(PODS):
            self._track_orphan(pod, "ADDED")

    # -- events ------------------------------------------------------------------------------------

    def _track_orphan(self, pod: Obj, type_: str) -> None:
        md = pod["metadata"]
        ns = md.get("namespace", "")
        if type_ != "DELETED" and controller_ref(pod) is None and is_pod_active(pod):
            self._orphans.setdefault(ns, set()).add(md["name"])
        else:
            names = self._orphans.get(ns)
            if names is not None:
                names.discard(md["name"])

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        md = ev.obj["metadata"]
        ns = md.get("namespace", "")
        if ev.key == RS:
            yield (ns, md["name"])
            return
        self._track_orphan(ev.obj, ev.type)
        ref = controller_ref(ev.obj)
        old_ref = controller_ref(ev.old)
        if _is_rs_ref(ref):
            yield (ns, ref["name"])
        if _is_rs_ref(old_ref) and (ref is None or old_ref.get("uid") != ref.get("uid")):
            yield (ns, old_ref["name"])
        if ref is None and ev.type != "DELETED":
            labels_changed = ev.old is not None and ev.old["metadata"].get("labels") != md.get("labels")
            if ev.type == "ADDED" or labels_changed or old_ref is not None:
                yield from self._rs_keys_matching(ev.obj)

    def _rs_keys_matching(self, pod: Obj) -> Iterable[Hashable]:
        """getPodReplicaSets: every ReplicaSet in the namespace whose selector takes an orphan pod."""
        ns = pod["metadata"].get("namespace", "")
        labels = pod["metadata"].get("labels")
        if not labels:
            return
        for rs in self.store.list(RS, ns):
            sel = selector_of(rs)
            if sel is not None and not sel.empty and sel.matches(labels):
                yield (ns, rs["metadata"]["name"])

    # -- sync --------------------------------------------------------------------------------------

    def reconcile(self, key: Any) -> float | None:
        ns, name = key
        rs = self.store.get(RS, ns, name)
        if rs is None:
            self._failures.pop(key, None)
            self._timers.forget(key)
            return None
        selector = selector_of(rs)
        if selector is None:
            return None
        pods = self._claim_pods(rs, selector)
        err = None
        if not rs["metadata"].get("deletionTimestamp"):
            err = self._manage_replicas(rs, pods)
        now = self.ctx.now()
        self._update_status(rs, self._calculate_status(rs, pods, err, now, ts(self.ctx.clock.now())))
        if err is not None:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
            # workqueue.DefaultControllerRateLimiter: 5ms doubling per failure, capped at 1000s
            return self._timers.after(key, min(1000.0, 0.005 * 2**failures))
        self._failures.pop(key, None)
        return self._timers.after(key, self._availability_check(rs, pods, now))

    def _availability_check(self, rs: Obj, pods: list[Obj], now: float) -> float | None:
        """Requeue for the first ready pod to pass minReadySeconds (upstream adds the same extra second)."""
        min_ready = int(rs["spec"].get("minReadySeconds") or 0)
        if min_ready <= 0:
            return None
        soonest = None
        for pod in pods:
            at = available_at(pod, min_ready)
            if at is not None and at >= now and (soonest is None or at < soonest):
                soonest = at
        return None if soonest is None else soonest - now + 1.0

    def _claim_pods(self, rs: Obj, selector: LabelSelector) -> list[Obj]:
        """claimPods: owned active pods that still match, plus adopted orphans; strays are released."""
        md = rs["metadata"]
        uid = md["uid"]
        deleting = bool(md.get("deletionTimestamp"))
        claimed: list[Obj] = []
        for key, pod in self.store.dependents(uid):
            if key != PODS or not is_pod_active(pod):
                continue
            ref = controller_ref(pod)
            if ref is None or ref.get("uid") != uid:
                continue
            if selector.matches(pod["metadata"].get("labels")):
                claimed.append(pod)
            elif not deleting:
                self._release(pod, uid)
        if not deleting and not selector.empty:
            for pod_name in sorted(self._orphans.get(md.get("namespace", ""), ())):
                pod = self.store.get(PODS, md.get("namespace"), pod_name)
                if pod is None or controller_ref(pod) is not None or not is_pod_active(pod):
                    continue
                if selector.matches(pod["metadata"].get("labels")):
                    adopted = self._adopt(pod, rs)
                    if adopted is not None:
                        claimed.append(adopted)
        claimed.sort(key=lambda p: p["metadata"]["name"])
        return claimed

    def _adopt(self, pod: Obj, rs: Obj) -> Obj | None:
        ref = new_controller_ref(rs)

        def add(o: Obj) -> None:
            o["metadata"]["ownerReferences"] = [*(o["metadata"].get("ownerReferences") or []), ref]

        md = pod["metadata"]
        return self.store.mutate(PODS, md.get("namespace"), md["name"], add)

    def _release(self, pod: Obj, uid: str) -> None:
        def strip(o: Obj) -> None:
            refs = [r for r in o["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
            if refs:
                o["metadata"]["ownerReferences"] = refs
            else:
                o["metadata"].pop("ownerReferences", None)

        md = pod["metadata"]
        try:
            self.store.mutate(PODS, md.get("namespace"), md["name"], strip)
        except ApiError as e:
            if e.code != 404:
                raise

    # -- manageReplicas ----------------------------------------------------------------------------

    def _manage_replicas(self, rs: Obj, pods: list[Obj]) -> str | None:
        """Create or delete pods towards spec.replicas; returns the error text, as upstream's error."""
        diff = len(pods) - spec_replicas(rs)
        if diff < 0:
            return self._slow_start(min(-diff, BURST_REPLICAS), rs)
        if diff > 0:
            return self._delete_pods(rs, pods, min(diff, BURST_REPLICAS))
        return None

    def _slow_start(self, count: int, rs: Obj) -> str | None:
        """slowStartBatch: batches of 1, 2, 4, ... stopping after the first batch with a failure."""
        remaining = count
        batch = min(remaining, SLOW_START_INITIAL_BATCH)
        while batch > 0:
            errors = [e for e in (self._create_pod(rs) for _ in range(batch)) if e is not None]
            if errors:
                return errors[0]
            remaining -= batch
            batch = min(2 * batch, remaining)
        return None

    def _create_pod(self, rs: Obj) -> str | None:
        """RealPodControl.CreatePods from the template (GetPodFromTemplate), with its events."""
        template = rs["spec"].get("template") or {}
        tmd = template.get("metadata") or {}
        rmd = rs["metadata"]
        labels = dict(tmd.get("labels") or {})
        if not labels:
            return "unable to create pods, no labels"
        meta: dict[str, Any] = {"generateName": f"{rmd['name']}-", "namespace": rmd.get("namespace"),
                                "labels": labels}
        if tmd.get("annotations"):
            meta["annotations"] = dict(tmd["annotations"])
        if tmd.get("finalizers"):
            meta["finalizers"] = list(tmd["finalizers"])
        meta["ownerReferences"] = [new_controller_ref(rs)]
        # the store deep-copies what it is given, so the template's spec can be passed as is
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec") or {}}
        try:
            created = self.store.create(PODS, pod)
        except ApiError as e:
            if e.code == 404 and self.store.get("/namespaces", None, rmd.get("namespace") or "") is None:
                return None  # the namespace is going away: upstream neither records nor retries
            msg = f"Error creating: {e.message}"
            self.ctx.events.record(rs, "Warning", "FailedCreate", msg, COMPONENT)
            return e.message
        name = created["metadata"]["name"]
        self.ctx.events.record(rs, "Normal", "SuccessfulCreate", f"Created pod: {name}", COMPONENT)
        return None

    def _related_pods(self, rs: Obj) -> list[Obj]:
        """getIndirectlyRelatedPods: pods of every ReplicaSet sharing this one's controller."""
        ref = controller_ref(rs)
        if ref is None or not ref.get("uid"):
            return []
        out: list[Obj] = []
        seen: set[str] = set()
        for key, sibling in self.store.dependents(ref["uid"]):
            if key != RS:
                continue
            for pkey, pod in self.store.dependents(sibling["metadata"]["uid"]):
                uid = pod["metadata"].get("uid", "")
                if pkey == PODS and uid not in seen:
                    seen.add(uid)
                    out.append(pod)
        return out

    def _delete_pods(self, rs: Obj, pods: list[Obj], count: int) -> str | None:
        victims = pods_to_delete(pods, self._related_pods(rs), count, self.ctx.now())
        first: str | None = None
        for pod in victims:
            md = pod["metadata"]
            try:
                self.store.delete(PODS, md.get("namespace"), md["name"])
            except ApiError as e:
                if e.code == 404:
                    continue
                msg = f"Error deleting: {e.message}"
                self.ctx.events.record(rs, "Warning", "FailedDelete", msg, COMPONENT)
                first = first or f"unable to delete pods: {e.message}"
                continue
            self.ctx.events.record(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {md['name']}", COMPONENT)
        return first

    # -- status ------------------------------------------------------------------------------------

    @staticmethod
    def _calculate_status(rs: Obj, pods: list[Obj], err: str | None, now: float,
                          now_ts: str) -> dict[str, Any]:
        """calculateStatus: counts over the active claimed pods, and the ReplicaFailure condition."""
        spec = rs["spec"]
        old = rs.get("status") or {}
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        fully = ready = available = 0
        for pod in pods:
            labels = pod["metadata"].get("labels") or {}
            if all(labels.get(k) == v for k, v in template_labels.items()):
                fully += 1
            if is_pod_ready(pod):
                ready += 1
                if is_pod_available(pod, min_ready, now):
                    available += 1
        conditions = copy.deepcopy(old.get("conditions") or [])
        failure = next((c for c in conditions if c.get("type") == "ReplicaFailure"), None)
        if err is not None and failure is None:
            diff = len(pods) - spec_replicas(rs)
            reason = "FailedCreate" if diff < 0 else "FailedDelete" if diff > 0 else ""
            cond: dict[str, Any] = {"type": "ReplicaFailure", "status": "True",
                                    "lastTransitionTime": now_ts}
            if reason:
                cond["reason"] = reason
            cond["message"] = err
            conditions = [*conditions, cond]
        elif err is None and failure is not None:
            conditions = [c for c in conditions if c.get("type") != "ReplicaFailure"]
        return {"replicas": len(pods), "fullyLabeledReplicas": fully, "readyReplicas": ready,
                "availableReplicas": available, "terminatingReplicas": old.get("terminatingReplicas"),
                "observedGeneration": old.get("observedGeneration"), "conditions": conditions}

    def _update_status(self, rs: Obj, new: dict[str, Any]) -> None:
        """updateReplicaSetStatus: skip the write in steady state, else record observedGeneration."""
        old = rs.get("status") or {}
        generation = rs["metadata"].get("generation")
        if (int(old.get("replicas") or 0) == new["replicas"]
                and int(old.get("fullyLabeledReplicas") or 0) == new["fullyLabeledReplicas"]
                and int(old.get("readyReplicas") or 0) == new["readyReplicas"]
                and int(old.get("availableReplicas") or 0) == new["availableReplicas"]
                and generation == old.get("observedGeneration")
                and (old.get("conditions") or []) == new["conditions"]):
            return
        new["observedGeneration"] = generation
        status = _status_json(new)
        md = rs["metadata"]

        def put(o: Obj) -> None:
            o["status"] = status

        self.store.mutate(RS, md.get("namespace"), md["name"], put, subresource="status")


def _status_json(st: Mapping[str, Any]) -> dict[str, Any]:
    """ReplicaSetStatus as Go marshals it: ``replicas`` always, the rest omitempty, in field order."""
    out: dict[str, Any] = {"replicas": int(st.get("replicas") or 0)}
    for field in ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"):
        if st.get(field):
            out[field] = int(st[field])
    if st.get("terminatingReplicas") is not None:
        out["terminatingReplicas"] = int(st["terminatingReplicas"])
    if st.get("observedGeneration"):
        out["observedGeneration"] = int(st["observedGeneration"])
    if st.get("conditions"):
        out["conditions"] = st["conditions"]
    return out
