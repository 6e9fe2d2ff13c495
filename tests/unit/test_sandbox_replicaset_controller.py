"""The ReplicaSet controller: pod creation in slow-start batches, upstream's scale-down ranking,
adoption and release, status counts with minReadySeconds, failures as ReplicaFailure."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import kubernetes_validate

from almtui.sandbox import errors
from almtui.sandbox.clock import SimClock
from almtui.sandbox.controllers.base import Context, Controller, Manager
from almtui.sandbox.controllers.events import EventRecorder
from almtui.sandbox.controllers.replicaset import ReplicaSetController, epoch, pods_to_delete
from almtui.sandbox.store import Obj, Store, ts

START = datetime(2026, 1, 1, tzinfo=UTC)
RS, PODS = "apps/replicasets", "/pods"


class FakeKubelet(Controller):
    """Marks pods Running and Ready `ready_after` seconds after creation (Ready's lastTransitionTime then)."""

    name = "fake-kubelet"
    watches = (PODS,)
    ready_after = 2.0

    def reconcile(self, key: Any) -> float | None:
        ns, name = key
        pod = self.store.get(PODS, ns, name)
        if pod is None or pod["metadata"].get("deletionTimestamp") or pod.get("status", {}).get("phase"):
            return None
        due = epoch(pod["metadata"]["creationTimestamp"]) + self.ready_after
        if self.ctx.now() < due:
            return due - self.ctx.now()
        status = {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": ts(self.ctx.clock.now())}]}
        self.store.mutate(PODS, ns, name, lambda o: o.__setitem__("status", status), subresource="status")
        return None


class Recorder(EventRecorder):
    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.calls: list[tuple[str, str, str, str, str]] = []

    def record(self, obj: Obj, type_: str, reason: str, message: str, component: str,
               host: str | None = None) -> None:
        self.calls.append((obj["metadata"]["name"], type_, reason, message, component))
        super().record(obj, type_, reason, message, component, host)


class Cluster:
    def __init__(self, kubelet: bool = True) -> None:
        self.clock = SimClock(speed=1.0, start=START)
        self.clock.freeze()
        self.store = Store(self.clock, random.Random(7))
        self.ctx = Context(self.store, self.clock, random.Random(7))
        self.events = self.ctx.events = Recorder(self.ctx)
        controllers: list[Controller] = [ReplicaSetController(self.ctx)]
        if kubelet:
            controllers.append(FakeKubelet(self.ctx))
        self.mgr = Manager(self.ctx, controllers)
        self.store.create("/namespaces", {"metadata": {"name": "default"}})

    def rs(self, name: str = "web-abc") -> Obj:
        obj = self.store.get(RS, "default", name)
        assert obj is not None
        return obj

    def pods(self, active_only: bool = True) -> list[Obj]:
        return [p for p in self.store.list(PODS, "default")
                if not active_only or not p["metadata"].get("deletionTimestamp")]

    def scale(self, replicas: int, name: str = "web-abc") -> None:
        self.store.mutate(RS, "default", name, lambda o: o["spec"].__setitem__("replicas", replicas))


def replica_set(replicas: int, name: str = "web-abc", owner: dict | None = None, **spec: Any) -> Obj:
    md: dict[str, Any] = {"name": name, "namespace": "default", "labels": {"app": "web"}}
    if owner:
        md["ownerReferences"] = [owner]
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": md,
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web", "tier": "fe"},
                                               "annotations": {"note": "copied"}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]}},
                     **spec}}


def test_creates_pods_from_the_template_with_a_controller_ref() -> None:
    c = Cluster()
    rs = c.store.create(RS, replica_set(3))
    c.mgr.advance(1)
    pods = c.pods()
    assert len(pods) == 3
    for pod in pods:
        md = pod["metadata"]
        assert md["name"].startswith("web-abc-") and len(md["name"]) == len("web-abc-") + 5
        assert md["generateName"] == "web-abc-"
        assert md["labels"] == {"app": "web", "tier": "fe"}
        assert md["annotations"] == {"note": "copied"}
        assert md["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc",
                                          "uid": rs["metadata"]["uid"], "controller": True,
                                          "blockOwnerDeletion": True}]
        assert pod["spec"] == {"containers": [{"name": "app", "image": "nginx:1.25"}]}
    created = [x for x in c.events.calls if x[2] == "SuccessfulCreate"]
    assert sorted(x[3] for x in created) == sorted(f"Created pod: {p['metadata']['name']}" for p in pods)
    assert {(x[0], x[1], x[4]) for x in created} == {("web-abc", "Normal", "replicaset-controller")}
    assert c.rs()["status"] == {"replicas": 3, "fullyLabeledReplicas": 3, "observedGeneration": 1}
    c.mgr.advance(3)
    assert c.rs()["status"] == {"replicas": 3, "fullyLabeledReplicas": 3, "readyReplicas": 3,
                                "availableReplicas": 3, "observedGeneration": 1}
    kubernetes_validate.validate(c.rs(), "1.33", strict=True)
    for pod in c.pods():
        kubernetes_validate.validate(pod, "1.33", strict=True)


def test_scale_to_zero_status_keeps_replicas_field() -> None:
    c = Cluster()
    c.store.create(RS, replica_set(2))
    c.mgr.advance(5)
    c.scale(0)
    c.mgr.advance(1)
    assert c.pods() == []  # unscheduled pods go at once
    assert c.rs()["status"] == {"replicas": 0, "observedGeneration": 2}
    deleted = [x[3] for x in c.events.calls if x[2] == "SuccessfulDelete"]
    assert len(deleted) == 2 and all(m.startswith("Deleted pod: web-abc-") for m in deleted)


def test_slow_start_batches_and_replica_failure() -> None:
    c = Cluster(kubelet=False)
    quota = {"left": 4, "attempts": 0}

    def admit(store: Store, res: Any, obj: Obj, old: Obj | None, sub: str | None) -> None:
        if res.key == PODS and old is None:
            quota["attempts"] += 1
            if quota["left"] <= 0:
                raise errors.ApiError(403, "Forbidden", f'pods "{obj["metadata"]["name"]}" is forbidden: '
                                      "exceeded quota: pods, requested: pods=1, used: pods=4, limited: pods=4")
            quota["left"] -= 1

    c.store.admission.append(admit)
    c.store.create(RS, replica_set(10))
    c.mgr.controllers[0].reconcile(("default", "web-abc"))  # one sync
    # batches of 1, 2, 4: the third batch has 3 failures, so no batch of 8 is tried
    assert quota["attempts"] == 7
    assert len(c.pods()) == 4
    failed = [x for x in c.events.calls if x[2] == "FailedCreate"]
    assert len(failed) == 3 and failed[0][1] == "Warning"
    assert failed[0][3].startswith("Error creating: pods \"web-abc-") and "exceeded quota" in failed[0][3]
    (cond,) = c.rs()["status"]["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == ("ReplicaFailure", "True", "FailedCreate")
    assert "exceeded quota" in cond["message"] and cond["lastTransitionTime"] == ts(START)
    assert c.rs()["status"]["replicas"] == 0  # counted before this sync's creates
    kubernetes_validate.validate(c.rs(), "1.33", strict=True)
    c.mgr.advance(0.5)  # pod events and rate-limited retries try again, one pod at a time
    assert len(c.pods()) == 4 and quota["attempts"] > 7
    quota["left"] = 100
    c.mgr.advance(2)
    assert len(c.pods()) == 10
    assert "conditions" not in c.rs()["status"]
    assert c.rs()["status"]["replicas"] == 10


def _pod(name: str, owner: Obj, node: str | None, phase: str, ready_since: float | None = None,
         restarts: int = 0, cost: str | None = None) -> Obj:
    now = START + timedelta(seconds=10_000)
    md: dict[str, Any] = {"name": name, "namespace": "default", "labels": {"app": "web", "tier": "fe"},
                          "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                               "name": owner["metadata"]["name"],
                                               "uid": owner["metadata"]["uid"], "controller": True,
                                               "blockOwnerDeletion": True}]}
    if cost is not None:
        md["annotations"] = {"controller.kubernetes.io/pod-deletion-cost": cost}
    status: dict[str, Any] = {"phase": phase}
    if ready_since is not None:
        status["conditions"] = [{"type": "Ready", "status": "True",
                                 "lastTransitionTime": ts(now - timedelta(seconds=ready_since))}]
    elif phase == "Running":
        status["conditions"] = [{"type": "Ready", "status": "False", "lastTransitionTime": ts(now)}]
    status["containerStatuses"] = [{"name": "app", "restartCount": restarts, "ready": ready_since is not None,
                                    "image": "nginx:1.25", "imageID": "", "started": True}]
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "nginx:1.25"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec, "status": status}


def test_scale_down_ranking_follows_active_pods_with_ranks() -> None:
    c = Cluster(kubelet=False)
    c.clock.advance(10_000)
    rs = c.store.create(RS, replica_set(7))
    pods = [
        _pod("f-ready-long", rs, "node-1", "Running", ready_since=1000),
        _pod("d-ready-short", rs, "node-1", "Running", ready_since=10),
        _pod("c-not-ready", rs, "node-1", "Running"),
        _pod("e-ready-long-restarts", rs, "node-1", "Running", ready_since=1000, restarts=5),
        _pod("b-pending", rs, "node-1", "Pending"),
        _pod("a-unassigned", rs, None, "Pending"),
        _pod("g-cheap", rs, "node-1", "Running", ready_since=1000, cost="-5"),
    ]
    for pod in pods:
        c.store.create(PODS, pod, keep_status=True)
    c.mgr.advance(1)
    assert len(c.pods()) == 7 and not [x for x in c.events.calls if x[2] == "SuccessfulCreate"]
    order = []
    for replicas in range(6, 0, -1):
        c.scale(replicas)
        c.mgr.advance(1)
        gone = [x[3].removeprefix("Deleted pod: ") for x in c.events.calls if x[2] == "SuccessfulDelete"]
        order.append(gone[-1])
    assert order == ["a-unassigned", "b-pending", "c-not-ready", "g-cheap", "d-ready-short",
                     "e-ready-long-restarts"]
    assert [p["metadata"]["name"] for p in c.pods()] == ["f-ready-long"]
    assert c.store.get(PODS, "default", "a-unassigned") is None  # unscheduled: deleted at once
    assert c.store.get(PODS, "default", "b-pending")["metadata"]["deletionTimestamp"]  # graceful


def test_ranking_newer_pods_and_doubled_up_nodes_go_first() -> None:
    c = Cluster(kubelet=False)
    rs = c.store.create(RS, replica_set(0))
    old = c.store.create(PODS, _pod("old", rs, "node-1", "Running", ready_since=5000), keep_status=True)
    c.clock.advance(5000)
    new = c.store.create(PODS, _pod("new", rs, "node-2", "Running", ready_since=5000), keep_status=True)
    now = c.ctx.now()
    assert [p["metadata"]["name"] for p in pods_to_delete([old, new], [old, new], 1, now)] == ["new"]
    # a third pod doubles up on node-1: the pods there rank before the lone one
    third = c.store.create(PODS, _pod("third", rs, "node-1", "Running", ready_since=5000), keep_status=True)
    ranked = pods_to_delete([old, new, third], [old, new, third], 2, now)
    assert {p["metadata"]["name"] for p in ranked} == {"old", "third"}


def test_available_replicas_wait_for_min_ready_seconds() -> None:
    c = Cluster()
    c.store.create(RS, replica_set(3, minReadySeconds=10))
    c.mgr.advance(5)
    st = c.rs()["status"]
    assert (st["readyReplicas"], st.get("availableReplicas", 0)) == (3, 0)
    c.mgr.advance(6)  # ready at t=2: available once ready for more than 10s
    assert c.rs()["status"].get("availableReplicas", 0) == 0
    c.mgr.advance(3)
    assert c.rs()["status"]["availableReplicas"] == 3


def test_orphans_are_adopted_and_strays_released() -> None:
    c = Cluster(kubelet=False)
    orphan = {"apiVersion": "v1", "kind": "Pod",
              "metadata": {"name": "stray", "namespace": "default", "labels": {"app": "web"}},
              "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]}}
    c.store.create(PODS, orphan)
    rs = c.store.create(RS, replica_set(2))
    c.mgr.advance(1)
    stray = c.store.get(PODS, "default", "stray")
    assert stray["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
    assert len(c.pods()) == 2  # adopted one, created one
    st = c.rs()["status"]
    assert (st["replicas"], st["fullyLabeledReplicas"]) == (2, 1)  # the stray lacks tier=fe
    # an orphan pod appearing later is adopted too, and the surplus deleted
    c.store.create(PODS, {**orphan, "metadata": {**orphan["metadata"], "name": "late"}})
    c.mgr.advance(1)
    assert len(c.pods()) == 2
    # relabel a pod out of the selector: released, and replaced
    c.store.mutate(PODS, "default", c.pods()[0]["metadata"]["name"],
                   lambda o: o["metadata"]["labels"].__setitem__("app", "debug"))
    c.mgr.advance(1)
    released = [p for p in c.pods() if p["metadata"]["labels"]["app"] == "debug"]
    assert len(released) == 1 and "ownerReferences" not in released[0]["metadata"]
    assert len([p for p in c.pods() if p["metadata"]["labels"]["app"] == "web"]) == 2


def test_replica_sets_of_rollouts_and_unowned_ones_work_alike() -> None:
    c = Cluster()
    owner = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "demo",
             "uid": "0f0f0f0f-0000-4000-8000-000000000001", "controller": True, "blockOwnerDeletion": True}
    body = replica_set(2, name="demo-7f9c", owner=owner)
    body["spec"]["selector"]["matchLabels"]["rollouts-pod-template-hash"] = "7f9c"
    body["spec"]["template"]["metadata"]["labels"]["rollouts-pod-template-hash"] = "7f9c"
    c.store.create(RS, body)
    plain = replica_set(1, name="plain")
    plain["spec"]["selector"] = {"matchLabels": {"app": "plain"}}
    plain["spec"]["template"]["metadata"]["labels"] = {"app": "plain"}
    c.store.create(RS, plain)
    c.mgr.advance(5)
    demo = [p for p in c.pods() if p["metadata"]["labels"].get("rollouts-pod-template-hash") == "7f9c"]
    assert len(demo) == 2 and all(p["metadata"]["name"].startswith("demo-7f9c-") for p in demo)
    assert c.rs("demo-7f9c")["status"]["availableReplicas"] == 2
    assert c.rs("plain")["status"]["availableReplicas"] == 1
    c.scale(1, "demo-7f9c")
    c.mgr.advance(1)
    assert c.rs("demo-7f9c")["status"]["replicas"] == 1
