"""The Deployment controller against upstream behaviour, driven with the real ReplicaSet controller and
a fake kubelet in simulated time (no HTTP)."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import kubernetes_validate
import pytest

from almtui.kube.hashing import compute_hash
from almtui.kube.rollout_status import RolloutStatusError, deployment_status
from almtui.sandbox import errors
from almtui.sandbox.clock import SimClock
from almtui.sandbox.controllers.base import Context, Controller, Manager
from almtui.sandbox.controllers.deployment import DeploymentController, apply_defaults
from almtui.sandbox.controllers.events import EventRecorder
from almtui.sandbox.controllers.replicaset import ReplicaSetController, epoch
from almtui.sandbox.store import Obj, Store, WatchEvent, ts

START = datetime(2026, 1, 1, tzinfo=UTC)
DEPLOY, RS, PODS = "apps/deployments", "apps/replicasets", "/pods"
REVISION = "deployment.kubernetes.io/revision"
HISTORY = "deployment.kubernetes.io/revision-history"
CHANGE_CAUSE = "kubernetes.io/change-cause"


# --- harness --------------------------------------------------------------------------------------


class FakeKubelet(Controller):
    """Binds pods to node-1 and makes them Running+Ready `ready_after` seconds after creation; pods with an
    image in `bad_images` run but never get Ready. Terminating pods go away `terminate_after` seconds later."""

    name = "fake-kubelet"
    watches = (PODS,)
    ready_after = 3.0
    terminate_after = 2.0
    bad_images: frozenset[str] = frozenset()

    def _status(self, ns: str, name: str, phase: str, ready: bool | None) -> None:
        status: dict[str, Any] = {"phase": phase}
        if ready is not None:
            status["conditions"] = [{"type": "Ready", "status": "True" if ready else "False",
                                     "lastTransitionTime": ts(self.ctx.clock.now())}]
        self.store.mutate(PODS, ns, name, lambda o: o.__setitem__("status", status), subresource="status")

    def reconcile(self, key: Any) -> float | None:
        ns, name = key
        pod = self.store.get(PODS, ns, name)
        if pod is None:
            return None
        now, md = self.ctx.now(), pod["metadata"]
        if md.get("deletionTimestamp"):
            due = epoch(md["deletionTimestamp"]) + self.terminate_after
            if now >= due:
                self.store.delete(PODS, ns, name, grace_seconds=0)
                return None
            return due - now
        if not pod["spec"].get("nodeName"):
            self.store.mutate(PODS, ns, name, lambda o: o["spec"].__setitem__("nodeName", "node-1"))
        phase = (pod.get("status") or {}).get("phase")
        if {c["image"] for c in pod["spec"]["containers"]} & self.bad_images:
            if phase != "Running":
                self._status(ns, name, "Running", False)
            return None
        due = epoch(md["creationTimestamp"]) + self.ready_after
        if now < due:
            if phase is None:
                self._status(ns, name, "Pending", None)
            return due - now
        if phase != "Running":
            self._status(ns, name, "Running", True)
        return None


class BadImageKubelet(FakeKubelet):
    bad_images = frozenset({"nginx:bad"})


class Recorder(EventRecorder):
    """Keeps every record() call: the store's events may aggregate or collide within one instant."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.calls: list[tuple[str, str, str, str, str]] = []

    def record(self, obj: Obj, type_: str, reason: str, message: str, component: str,
               host: str | None = None) -> None:
        self.calls.append((obj["metadata"]["name"], type_, reason, message, component))
        super().record(obj, type_, reason, message, component, host)


class Cluster:
    def __init__(self, kubelet: type[FakeKubelet] = FakeKubelet) -> None:
        self.clock = SimClock(speed=1.0, start=START)
        self.clock.freeze()
        self.store = Store(self.clock, random.Random(1))
        self.ctx = Context(self.store, self.clock, random.Random(1))
        self.events = self.ctx.events = Recorder(self.ctx)
        self.mgr = Manager(self.ctx, [DeploymentController(self.ctx), ReplicaSetController(self.ctx),
                                      kubelet(self.ctx)])
        self.store.create("/namespaces", {"metadata": {"name": "default"}})

    def now(self) -> float:
        return self.ctx.now()

    def deploy(self) -> Obj:
        obj = self.store.get(DEPLOY, "default", "web")
        assert obj is not None
        return obj

    def rss(self) -> dict[str, Obj]:
        return {rs["metadata"]["name"]: rs for rs in self.store.list(RS, "default")}

    def edit(self, fn: Callable[[Obj], None]) -> None:
        self.store.mutate(DEPLOY, "default", "web", fn)

    def set_image(self, image: str, cause: str | None = None) -> None:
        def fn(o: Obj) -> None:
            o["spec"]["template"]["spec"]["containers"][0]["image"] = image
            if cause is not None:
                o["metadata"].setdefault("annotations", {})[CHANGE_CAUSE] = cause

        self.edit(fn)

    def ready_pods(self) -> int:
        return sum(1 for p in self.store.list(PODS, "default")
                   if not p["metadata"].get("deletionTimestamp")
                   and any(c["type"] == "Ready" and c["status"] == "True"
                           for c in (p.get("status") or {}).get("conditions") or ()))

    def progressing(self) -> dict[str, Any]:
        return next(c for c in self.deploy()["status"]["conditions"] if c["type"] == "Progressing")

    def complete(self) -> bool:
        try:
            return deployment_status(self.deploy())[1]
        except RolloutStatusError:
            return False


def deployment(replicas: int = 3, image: str = "nginx:1.25", **spec: Any) -> Obj:
    body: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "app", "image": image}]}},
    }
    body.update(spec)
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"}, "spec": body}


def started(replicas: int = 3, kubelet: type[FakeKubelet] = FakeKubelet, **spec: Any) -> Cluster:
    c = Cluster(kubelet)
    c.store.create(DEPLOY, deployment(replicas, **spec))
    c.mgr.advance(15)
    assert c.complete()
    return c


def watch_rollout(c: Cluster) -> tuple[list[tuple[int, int]], list[int]]:
    """Records (new RS spec, old RS spec) on every change, and the ready pod count after every pod event."""
    (old_name,) = c.rss()
    steps: list[tuple[int, int]] = []
    ready: list[int] = []

    def listen(ev: WatchEvent) -> None:
        if ev.key == RS:
            rss = c.rss()
            new = [rs["spec"]["replicas"] for name, rs in rss.items() if name != old_name]
            step = (new[0] if new else 0, rss[old_name]["spec"]["replicas"] if old_name in rss else 0)
            if not steps or steps[-1] != step:
                steps.append(step)
        elif ev.key == PODS:
            ready.append(c.ready_pods())

    c.store.subscribe(listen)
    return steps, ready


# --- RollingUpdate ---------------------------------------------------------------------------------


def test_first_rollout_creates_a_hashed_replica_set_with_annotations_and_status() -> None:
    c = Cluster()
    c.store.create(DEPLOY, deployment(3, **{"minReadySeconds": 0}))
    c.mgr.advance(1)
    (rs,) = c.rss().values()
    md = rs["metadata"]
    pod_hash = md["labels"]["pod-template-hash"]
    assert pod_hash == compute_hash(deployment(3)["spec"]["template"])
    assert md["name"] == f"web-{pod_hash}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": pod_hash}
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "web", "pod-template-hash": pod_hash}
    assert md["annotations"] == {"deployment.kubernetes.io/desired-replicas": "3",
                                 "deployment.kubernetes.io/max-replicas": "4", REVISION: "1"}
    assert md["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                      "uid": c.deploy()["metadata"]["uid"], "controller": True,
                                      "blockOwnerDeletion": True}]
    assert rs["spec"]["replicas"] == 3  # created already scaled: 3 ≤ 3 + surge
    assert ("web", "Normal", "ScalingReplicaSet", f"Scaled up replica set {md['name']} from 0 to 3",
            "deployment-controller") in c.events.calls
    prog = c.progressing()
    assert (prog["status"], prog["reason"]) == ("True", "ReplicaSetUpdated")
    c.mgr.advance(10)
    d = c.deploy()
    assert d["metadata"]["annotations"][REVISION] == "1"
    assert d["status"]["observedGeneration"] == d["metadata"]["generation"]
    assert {k: v for k, v in d["status"].items() if k != "conditions"} == {
        "observedGeneration": d["metadata"]["generation"], "replicas": 3, "updatedReplicas": 3,
        "readyReplicas": 3, "availableReplicas": 3}
    available, progressing = d["status"]["conditions"]
    assert (available["type"], available["status"], available["reason"], available["message"]) == (
        "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
    assert (progressing["type"], progressing["status"], progressing["reason"], progressing["message"]) == (
        "Progressing", "True", "NewReplicaSetAvailable", f'ReplicaSet "{md["name"]}" has successfully progressed.')
    assert progressing["lastTransitionTime"] == ts(START)
    assert deployment_status(d) == ('deployment "web" successfully rolled out', True)


def test_rolling_update_3_replicas_steps_as_upstream() -> None:
    c = started(3)
    steps, ready = watch_rollout(c)
    c.set_image("nginx:1.26")
    c.mgr.advance(30)
    # replicas 3 at 25%/25%: surge 1, unavailable 0 (the reference's example)
    assert steps == [(1, 3), (1, 2), (2, 2), (2, 1), (3, 1), (3, 0)]
    assert min(ready) >= 3
    assert c.complete()
    (new_name,) = (n for n, rs in c.rss().items() if rs["spec"]["replicas"] == 3)
    scaling = [m for (_, _, reason, m, _) in c.events.calls if reason == "ScalingReplicaSet"][1:]
    old_name = next(n for n in c.rss() if n != new_name)
    assert scaling == [f"Scaled up replica set {new_name} from 0 to 1",
                       f"Scaled down replica set {old_name} from 3 to 2",
                       f"Scaled up replica set {new_name} from 1 to 2",
                       f"Scaled down replica set {old_name} from 2 to 1",
                       f"Scaled up replica set {new_name} from 2 to 3",
                       f"Scaled down replica set {old_name} from 1 to 0"]


def test_rolling_update_10_replicas_keeps_availability() -> None:
    c = started(10)
    steps, ready = watch_rollout(c)
    c.set_image("nginx:1.26")
    c.mgr.advance(30)
    # surge ceil(2.5)=3, unavailable floor(2.5)=2: at most 13 pods, at least 8 ready
    assert steps == [(3, 10), (3, 8), (5, 8), (5, 3), (10, 3), (10, 0)]
    assert all(new + old <= 13 for new, old in steps)
    assert min(ready) >= 8
    assert c.complete()


def test_rolling_update_max_surge_0_max_unavailable_1() -> None:
    c = started(3, strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}})
    steps, ready = watch_rollout(c)
    c.set_image("nginx:1.26")
    c.mgr.advance(30)
    assert steps == [(0, 3), (0, 2), (1, 2), (1, 1), (2, 1), (2, 0), (3, 0)]
    assert all(new + old <= 3 for new, old in steps)
    assert min(ready) >= 2
    assert c.complete()
    d = c.deploy()
    assert {rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] for rs in c.rss().values()} == {"3"}
    assert d["status"]["updatedReplicas"] == 3


def test_unhealthy_old_replicas_are_cleaned_up_first() -> None:
    c = started(4, kubelet=BadImageKubelet, strategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}})
    c.set_image("nginx:bad")  # rollout 1 stalls with unready pods
    c.mgr.advance(20)
    first = {n: rs["spec"]["replicas"] for n, rs in c.rss().items()}
    assert sorted(first.values()) == [2, 3]
    mark = len(c.events.calls)
    c.set_image("nginx:1.27")  # rollout 2: the unready pods of rollout 1 go first
    c.mgr.advance(30)
    assert c.complete()
    rss = c.rss()
    bad = next(n for n in first if rss[n]["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:bad")
    scaling = [m for (_, _, r, m, _) in c.events.calls[mark:] if r == "ScalingReplicaSet"]
    # the new RS is created at 0 (4 + 1 surge already used); cleanup then frees the 2 unready pods
    assert scaling[0] == f"Scaled down replica set {bad} from 2 to 0"


# --- revisions, rollback, history ------------------------------------------------------------------


def _by_revision(c: Cluster) -> dict[str, Obj]:
    return {rs["metadata"]["annotations"][REVISION]: rs for rs in c.rss().values()}


def test_revisions_change_cause_and_rollback_reuses_the_old_replica_set() -> None:
    c = Cluster()
    body = deployment(3)
    body["metadata"]["annotations"] = {CHANGE_CAUSE: "create"}
    c.store.create(DEPLOY, body)
    c.mgr.advance(15)
    c.set_image("nginx:1.26", cause="v2")
    c.mgr.advance(30)
    c.set_image("nginx:1.27", cause="v3")
    c.mgr.advance(30)
    revs = _by_revision(c)
    assert sorted(revs) == ["1", "2", "3"]
    assert [revs[r]["metadata"]["annotations"][CHANGE_CAUSE] for r in "123"] == ["create", "v2", "v3"]
    assert c.deploy()["metadata"]["annotations"][REVISION] == "3"
    assert all(HISTORY not in rs["metadata"]["annotations"] for rs in revs.values())

    # kubectl rollout undo --to-revision=1: template from RS 1 without the hash, its annotations
    target = revs["1"]
    template = copy.deepcopy(target["spec"]["template"])
    del template["metadata"]["labels"]["pod-template-hash"]

    def undo(o: Obj) -> None:
        o["spec"]["template"] = template
        keep = {k: v for k, v in o["metadata"]["annotations"].items() if k.startswith("deployment.kubernetes.io/")}
        keep.update({k: v for k, v in target["metadata"]["annotations"].items()
                     if not k.startswith("deployment.kubernetes.io/")})
        o["metadata"]["annotations"] = keep

    c.edit(undo)
    c.mgr.advance(30)
    assert len(c.rss()) == 3  # no new ReplicaSet
    revs = _by_revision(c)
    assert sorted(revs) == ["2", "3", "4"]
    back = revs["4"]
    assert back["metadata"]["name"] == target["metadata"]["name"]
    assert back["metadata"]["annotations"][HISTORY] == "1"
    assert back["metadata"]["annotations"][CHANGE_CAUSE] == "create"
    assert back["spec"]["replicas"] == 3
    d = c.deploy()
    assert d["metadata"]["annotations"][REVISION] == "4"
    assert c.complete()
    # and once more: rolling back to revision 2 appends to the history of that RS only
    two = revs["2"]
    template2 = copy.deepcopy(two["spec"]["template"])
    del template2["metadata"]["labels"]["pod-template-hash"]
    c.edit(lambda o: o["spec"].__setitem__("template", template2))
    c.mgr.advance(30)
    revs = _by_revision(c)
    assert sorted(revs) == ["3", "4", "5"]
    assert revs["5"]["metadata"]["annotations"][HISTORY] == "2"
    assert revs["4"]["metadata"]["annotations"][HISTORY] == "1"


def test_revision_history_limit_deletes_the_oldest_after_completion() -> None:
    c = started(2, revisionHistoryLimit=2)
    for tag in ("1.26", "1.27", "1.28", "1.29"):
        c.set_image(f"nginx:{tag}")
        c.mgr.advance(30)
    assert c.complete()
    revs = _by_revision(c)
    assert sorted(revs) == ["3", "4", "5"]
    assert revs["5"]["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.29"
    assert all(revs[r]["spec"]["replicas"] == 0 for r in ("3", "4"))


def test_legacy_rollback_to_annotation() -> None:
    c = started(2)
    c.set_image("nginx:1.26")
    c.mgr.advance(30)
    c.edit(lambda o: o["metadata"]["annotations"].__setitem__("deprecated.deployment.rollback.to", "0"))
    c.mgr.advance(30)
    d = c.deploy()
    assert "deprecated.deployment.rollback.to" not in d["metadata"]["annotations"]
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert "pod-template-hash" not in d["spec"]["template"]["metadata"]["labels"]
    assert d["metadata"]["annotations"][REVISION] == "3"
    assert ("web", "Normal", "DeploymentRollback", 'Rolled back deployment "web" to revision 1',
            "deployment-controller") in c.events.calls


# --- pause, scaling ---------------------------------------------------------------------------------


def test_pause_blocks_new_replica_sets_and_resume_proceeds() -> None:
    c = started(3)
    c.edit(lambda o: o["spec"].__setitem__("paused", True))
    c.mgr.advance(2)
    prog = c.progressing()
    assert (prog["status"], prog["reason"], prog["message"]) == ("Unknown", "DeploymentPaused", "Deployment is paused")
    c.set_image("nginx:1.26")
    c.mgr.advance(60)
    assert len(c.rss()) == 1
    d = c.deploy()
    assert d["status"]["observedGeneration"] == d["metadata"]["generation"]
    assert c.progressing()["reason"] == "DeploymentPaused"  # no deadline while paused
    reasons: list[tuple[str, str, str]] = []

    def listen(ev: WatchEvent) -> None:
        if ev.key == DEPLOY:
            cond = next((x for x in ev.obj.get("status", {}).get("conditions", []) if x["type"] == "Progressing"),
                        None)
            if cond and (not reasons or reasons[-1][1] != cond["reason"]):
                reasons.append((cond["status"], cond["reason"], cond["message"]))

    c.store.subscribe(listen)
    c.edit(lambda o: o["spec"].pop("paused"))  # kubectl rollout resume: {"spec":{"paused":null}}
    c.mgr.advance(30)
    assert reasons.pop(0)[1] == "DeploymentPaused"  # the resume edit itself
    assert reasons[0] == ("Unknown", "DeploymentResumed", "Deployment is resumed")
    assert [r[1] for r in reasons[1:]] == ["NewReplicaSetCreated", "ReplicaSetUpdated", "NewReplicaSetAvailable"]
    assert len(c.rss()) == 2
    assert c.complete()


def test_scaling_while_paused_is_proportional() -> None:
    c = started(10, kubelet=BadImageKubelet)
    c.set_image("nginx:bad")
    c.mgr.advance(20)
    (old_name,) = (n for n, rs in c.rss().items() if rs["spec"]["template"]["spec"]["containers"][0]["image"]
                   == "nginx:1.25")
    (new_name,) = (n for n in c.rss() if n != old_name)
    assert (c.rss()[new_name]["spec"]["replicas"], c.rss()[old_name]["spec"]["replicas"]) == (5, 8)
    c.edit(lambda o: o["spec"].__setitem__("paused", True))
    c.mgr.advance(2)
    c.edit(lambda o: o["spec"].__setitem__("replicas", 20))
    c.mgr.advance(5)
    rss = c.rss()
    # allowed 20 + 5 surge = 25, 12 to add: old 8*25/13 → +7, new 5*25/13 → +5
    assert (rss[new_name]["spec"]["replicas"], rss[old_name]["spec"]["replicas"]) == (10, 15)
    for rs in rss.values():
        assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "20"
        assert rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] == "25"
    assert ("web", "Normal", "ScalingReplicaSet", f"Scaled up replica set {old_name} from 8 to 15",
            "deployment-controller") in c.events.calls
    # scaling down while paused takes from the larger (then older) ReplicaSets first
    c.edit(lambda o: o["spec"].__setitem__("replicas", 8))
    c.mgr.advance(5)
    rss = c.rss()
    assert rss[new_name]["spec"]["replicas"] + rss[old_name]["spec"]["replicas"] == 10  # 8 + surge 2
    assert (rss[new_name]["spec"]["replicas"], rss[old_name]["spec"]["replicas"]) == (4, 6)


def test_scaling_a_complete_deployment_scales_its_only_replica_set() -> None:
    c = started(3)
    c.edit(lambda o: o["spec"].__setitem__("replicas", 5))
    c.mgr.advance(10)
    (rs,) = c.rss().values()
    assert rs["spec"]["replicas"] == 5
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "5"
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] == "7"
    assert c.complete()
    assert c.deploy()["status"]["availableReplicas"] == 5


# --- progress deadline ------------------------------------------------------------------------------


def test_progress_deadline_exceeded() -> None:
    c = Cluster(BadImageKubelet)
    c.store.create(DEPLOY, deployment(3, image="nginx:bad", progressDeadlineSeconds=30))
    t0 = c.now()
    seen: list[float] = []

    def listen(ev: WatchEvent) -> None:
        if ev.key == DEPLOY and not seen:
            for cond in ev.obj.get("status", {}).get("conditions", []):
                if cond["type"] == "Progressing" and cond["reason"] == "ProgressDeadlineExceeded":
                    seen.append(c.now() - t0)

    c.store.subscribe(listen)
    c.mgr.advance(29)
    assert c.progressing()["status"] == "True"
    assert deployment_status(c.deploy())[1] is False
    c.mgr.advance(5)
    assert seen and 30 < seen[0] <= 32
    prog = c.progressing()
    (rs_name,) = c.rss()
    assert (prog["status"], prog["reason"], prog["message"]) == (
        "False", "ProgressDeadlineExceeded", f'ReplicaSet "{rs_name}" has timed out progressing.')
    with pytest.raises(RolloutStatusError, match='deployment "web" exceeded its progress deadline'):
        deployment_status(c.deploy())
    available = next(x for x in c.deploy()["status"]["conditions"] if x["type"] == "Available")
    assert (available["status"], available["reason"]) == ("False", "MinimumReplicasUnavailable")
    assert c.deploy()["status"]["unavailableReplicas"] == 3
    # terminal until the template changes
    c.mgr.advance(60)
    assert c.progressing()["reason"] == "ProgressDeadlineExceeded"
    c.set_image("nginx:1.26")
    c.mgr.advance(30)
    assert c.progressing()["reason"] == "NewReplicaSetAvailable"
    assert c.complete()


def test_no_deadline_removes_progressing() -> None:
    c = started(2, progressDeadlineSeconds=2**31 - 1)
    assert [x["type"] for x in c.deploy()["status"]["conditions"]] == ["Available"]


# --- Recreate ---------------------------------------------------------------------------------------


def test_recreate_scales_down_waits_for_pods_then_creates_the_new_replica_set() -> None:
    c = started(3, strategy={"type": "Recreate"})
    (old_name,) = c.rss()
    log: list[tuple[float, str, Any]] = []

    def listen(ev: WatchEvent) -> None:
        if ev.key == RS:
            log.append((c.now(), ev.type, (ev.obj["metadata"]["name"], ev.obj["spec"]["replicas"])))
        elif ev.key == PODS and ev.type == "DELETED":
            log.append((c.now(), "pod-deleted", ev.obj["metadata"]["name"]))

    c.store.subscribe(listen)
    c.set_image("nginx:1.26")
    c.mgr.advance(30)
    old_zero = next(t for t, kind, x in log if kind == "MODIFIED" and x == (old_name, 0))
    last_pod_gone = max(t for t, kind, _ in log if kind == "pod-deleted")
    created = [(t, x) for t, kind, x in log if kind == "ADDED"]
    assert len(created) == 1
    t_new, (new_name, replicas) = created[0]
    assert replicas == 3  # created at full scale
    assert old_zero < last_pod_gone <= t_new
    assert c.complete()
    assert c.rss()[new_name]["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] == "3"


# --- schema, status writes --------------------------------------------------------------------------


def test_objects_validate_against_the_openapi_schema() -> None:
    c = started(3, minReadySeconds=2)
    c.set_image("nginx:1.26")
    c.mgr.advance(3)  # mid-rollout: several conditions, several ReplicaSets
    kubernetes_validate.validate(c.deploy(), "1.33", strict=True)
    for rs in c.rss().values():
        kubernetes_validate.validate(rs, "1.33", strict=True)
    c.mgr.advance(40)
    kubernetes_validate.validate(c.deploy(), "1.33", strict=True)
    for rs in c.rss().values():
        kubernetes_validate.validate(rs, "1.33", strict=True)


def test_no_status_write_when_nothing_changed() -> None:
    c = started(3)
    c.mgr.advance(700)
    rv = c.deploy()["metadata"]["resourceVersion"]
    writes: list[str] = []
    c.store.subscribe(lambda ev: writes.append(ev.key) if ev.key in (DEPLOY, RS) else None)
    c.mgr.enqueue(c.mgr.controllers[0], ("default", "web"))
    c.mgr.advance(5)
    assert writes == []
    assert c.deploy()["metadata"]["resourceVersion"] == rv


def test_selecting_all_only_observes_the_generation() -> None:
    c = Cluster()
    body = deployment(2)
    body["spec"]["selector"] = {}
    c.store.create(DEPLOY, body)
    c.mgr.advance(3)
    assert c.rss() == {}
    assert c.deploy()["status"] == {"observedGeneration": 1}
    assert ("web", "Warning", "SelectingAll",
            "This deployment is selecting all pods. A non-empty selector is required.",
            "deployment-controller") in c.events.calls


def test_orphan_replica_set_is_adopted_and_stray_is_released() -> None:
    c = Cluster()
    template = {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]}}
    c.store.create(RS, {"metadata": {"name": "web-orphan", "namespace": "default", "labels": {"app": "web"}},
                        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": template}})
    first: list[str] = []
    c.store.subscribe(lambda ev: first.append(c.progressing()["message"]) if (
        ev.key == DEPLOY and not first and any(x["type"] == "Progressing"
                                               for x in ev.obj.get("status", {}).get("conditions", []))) else None)
    c.store.create(DEPLOY, deployment(2))
    c.mgr.advance(10)
    assert first == ['Found new replica set "web-orphan"']  # FoundNewReplicaSet
    rss = c.rss()
    assert list(rss) == ["web-orphan"]  # adopted, and its template equals ours: it is the new RS
    ref = rss["web-orphan"]["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["controller"]) == ("Deployment", "web", True)
    assert rss["web-orphan"]["metadata"]["annotations"][REVISION] == "1"
    assert not [x for x in c.events.calls if x[2] == "ScalingReplicaSet"]
    assert c.complete()
    # relabel it out of the selector: the Deployment lets it go and creates its own
    c.store.mutate(RS, "default", "web-orphan", lambda o: o["metadata"]["labels"].__setitem__("app", "other"))
    c.mgr.advance(1)
    assert "ownerReferences" not in c.rss()["web-orphan"]["metadata"]


def test_replica_failure_is_copied_from_the_replica_set() -> None:
    c = Cluster()

    def deny(store: Store, res: Any, obj: Obj, old: Obj | None, sub: str | None) -> None:
        if res.key == PODS and old is None:
            raise errors.ApiError(403, "Forbidden", 'pods "x" is forbidden: exceeded quota: compute')

    c.store.admission.append(deny)
    c.store.create(DEPLOY, deployment(2))
    c.mgr.advance(3)
    failure = next(x for x in c.deploy()["status"]["conditions"] if x["type"] == "ReplicaFailure")
    assert (failure["status"], failure["reason"]) == ("True", "FailedCreate")
    assert failure["message"] == 'pods "x" is forbidden: exceeded quota: compute'
    assert failure["lastUpdateTime"] == failure["lastTransitionTime"]
    kubernetes_validate.validate(c.deploy(), "1.33", strict=True)
    c.store.admission.remove(deny)
    c.mgr.advance(20)
    assert all(x["type"] != "ReplicaFailure" for x in c.deploy()["status"]["conditions"])
    assert c.complete()


def test_hash_collision_bumps_collision_count() -> None:
    c = Cluster()
    body = deployment(2)
    taken = f"web-{compute_hash(body['spec']['template'])}"
    squatter = copy.deepcopy(body["spec"]["template"])
    squatter["metadata"]["labels"] = {"app": "other"}
    squatter["spec"]["containers"][0]["image"] = "busybox"
    c.store.create(RS, {"metadata": {"name": taken, "namespace": "default", "labels": {"app": "other"}},
                        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "other"}},
                                 "template": squatter}})
    c.store.create(DEPLOY, body)
    c.mgr.advance(15)
    assert c.deploy()["status"]["collisionCount"] == 1
    ours = f"web-{compute_hash(body['spec']['template'], 1)}"
    assert set(c.rss()) == {taken, ours}
    assert c.rss()[ours]["metadata"]["ownerReferences"][0]["name"] == "web"
    assert c.complete()
    kubernetes_validate.validate(c.deploy(), "1.33", strict=True)


def test_defaults_are_applied_only_to_the_private_copy() -> None:
    body = deployment(2)
    del body["spec"]["strategy"], body["spec"]["revisionHistoryLimit"], body["spec"]["progressDeadlineSeconds"]
    apply_defaults(body)
    assert body["spec"]["strategy"] == {"type": "RollingUpdate",
                                        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert (body["spec"]["revisionHistoryLimit"], body["spec"]["progressDeadlineSeconds"]) == (10, 600)
    c = Cluster()
    raw = deployment(2)
    del raw["spec"]["strategy"]
    c.store.create(DEPLOY, raw)
    c.mgr.advance(15)
    assert "strategy" not in c.deploy()["spec"]
    assert c.complete()
