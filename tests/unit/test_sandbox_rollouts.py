"""The Argo Rollouts controller against upstream behaviour, driven with the real ReplicaSet controller and
a fake kubelet in frozen simulated time (no HTTP). Patches are applied the way kubectl-argo-rollouts
sends them (merge patches to /status or the main resource, a JSON patch of /spec/template for undo)."""

from __future__ import annotations

import copy
import itertools
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from almtui.kube.hashing import compute_hash
from almtui.kube.patch import json_merge_patch as merge_patch
from almtui.kube.patch import json_patch
from almtui.kube.rollout_status import rollout_phase
from almtui.sandbox import admission
from almtui.sandbox.clock import SimClock
from almtui.sandbox.controllers.base import Context, Controller, Manager
from almtui.sandbox.controllers.events import EventRecorder
from almtui.sandbox.controllers.replicaset import ReplicaSetController, epoch
from almtui.sandbox.controllers.rollouts import RolloutController
from almtui.sandbox.controllers.rollouts_canary import approximate_counts, calculate_basic_canary
from almtui.sandbox.store import Obj, Store, WatchEvent, ts

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RO, RS, PODS, SVC = "argoproj.io/rollouts", "apps/replicasets", "/pods", "/services"
HASH = "rollouts-pod-template-hash"
REVISION = "rollout.argoproj.io/revision"


# --- harness --------------------------------------------------------------------------------------


class FakeKubelet(Controller):
    """Binds pods and makes them Ready `ready_after` seconds after creation; `-bad` images never get Ready.
    Terminating pods go away `terminate_after` seconds after their deletion."""

    name = "fake-kubelet"
    watches = (PODS,)
    ready_after = 3.0
    terminate_after = 2.0

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
        if any(c["image"].endswith("-bad") for c in pod["spec"]["containers"]):
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


class Recorder(EventRecorder):
    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.calls: list[tuple[str, str, str, str]] = []

    def record(self, obj: Obj, type_: str, reason: str, message: str, component: str,
               host: str | None = None) -> None:
        if component == "rollouts-controller":
            self.calls.append((obj["metadata"]["name"], type_, reason, message))
        super().record(obj, type_, reason, message, component, host)


class Cluster:
    def __init__(self) -> None:
        self.clock = SimClock(speed=1.0, start=START)
        self.clock.freeze()
        self.store = Store(self.clock, random.Random(1))
        admission.install(self.store)
        self.ctx = Context(self.store, self.clock, random.Random(1))
        self.events = self.ctx.events = Recorder(self.ctx)
        self.mgr = Manager(self.ctx, [RolloutController(self.ctx), ReplicaSetController(self.ctx),
                                      FakeKubelet(self.ctx)])
        self.store.create("/namespaces", {"metadata": {"name": "default"}})

    # views
    def ro(self, name: str = "web") -> Obj:
        obj = self.store.get(RO, "default", name)
        assert obj is not None
        return obj

    def status(self, name: str = "web") -> dict[str, Any]:
        return self.ro(name).get("status") or {}

    def phase(self, name: str = "web") -> tuple[str, str]:
        return rollout_phase(self.ro(name))

    def cond(self, type_: str, name: str = "web") -> dict[str, Any]:
        return next(c for c in self.status(name)["conditions"] if c["type"] == type_)

    def rss(self) -> dict[int, Obj]:
        """ReplicaSets by revision."""
        return {int(rs["metadata"]["annotations"][REVISION]): rs for rs in self.store.list(RS, "default")}

    def sizes(self) -> dict[int, int]:
        return {rev: rs["spec"]["replicas"] for rev, rs in sorted(self.rss().items())}

    def selector_hash(self, svc: str) -> str | None:
        return self.store.get(SVC, "default", svc)["spec"]["selector"].get(HASH)

    def reasons(self, since: int = 0) -> list[str]:
        return [r for _, _, r, _ in self.events.calls[since:]]

    def messages(self, reason: str, since: int = 0) -> list[str]:
        return [m for _, _, r, m in self.events.calls[since:] if r == reason]

    # what kubectl-argo-rollouts sends
    def patch_status(self, patch: dict, name: str = "web") -> None:
        self.store.update(RO, merge_patch(copy.deepcopy(self.ro(name)), {"status": patch}), subresource="status")

    def patch_spec(self, patch: dict, name: str = "web") -> None:
        self.store.update(RO, merge_patch(copy.deepcopy(self.ro(name)), {"spec": patch}))

    def promote(self, name: str = "web") -> None:
        """`promote`: spec.paused false if paused; pauseConditions null, or skip the current step."""
        ro = self.ro(name)
        st = ro.get("status") or {}
        if ro["spec"].get("paused"):
            self.patch_spec({"paused": False}, name)
        if st.get("pauseConditions"):
            self.patch_status({"pauseConditions": None}, name)
        elif ro["spec"]["strategy"].get("canary") is not None:
            steps = ro["spec"]["strategy"]["canary"].get("steps") or []
            index = st.get("currentStepIndex") or 0
            self.patch_status({"pauseConditions": None, "currentStepIndex": min(index + 1, len(steps))}, name)

    def promote_full(self, name: str = "web") -> None:
        ro = self.ro(name)
        if ro["spec"].get("paused"):
            self.patch_spec({"paused": False}, name)
        if ro["status"].get("currentPodHash") != ro["status"].get("stableRS"):
            self.patch_status({"promoteFull": True}, name)

    def undo(self, to_revision: int = 0, name: str = "web") -> None:
        """`undo`: the previous (or given) revision's template without the hash label, as a JSON patch."""
        rss = self.rss()
        revision = to_revision or sorted(rss)[-2]
        template = copy.deepcopy(rss[revision]["spec"]["template"])
        del template["metadata"]["labels"][HASH]
        patched = json_patch(copy.deepcopy(self.ro(name)), [{"op": "replace", "path": "/spec/template",
                                                              "value": template}])
        self.store.update(RO, patched)

    def set_image(self, image: str, name: str = "web") -> None:
        """`set image`: GET, edit, PUT of the whole object."""
        obj = copy.deepcopy(self.ro(name))
        obj["spec"]["template"]["spec"]["containers"][0]["image"] = image
        self.store.update(RO, obj)

    def watch_sizes(self) -> list[tuple[int, ...]]:
        """Every distinct (revision -> spec.replicas) tuple as ReplicaSets are scaled."""
        seen: list[tuple[int, ...]] = []

        def listen(ev: WatchEvent) -> None:
            if ev.key == RS:
                now = tuple(self.sizes().values())
                if not seen or seen[-1] != now:
                    seen.append(now)

        self.store.subscribe(listen)
        return seen


def canary_rollout(replicas: int = 4, image: str = "shop/web:1.0", steps: list | None = None,
                   **canary: Any) -> Obj:
    strategy = {"canaryService": "web-canary", "stableService": "web-stable",
                "steps": steps if steps is not None else [{"setWeight": 25}, {"pause": {}}, {"setWeight": 50},
                                                          {"pause": {"duration": "30s"}}, {"setWeight": 75},
                                                          {"pause": {"duration": 30}}]}
    strategy.update(canary)
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": image}]}},
                     "strategy": {"canary": strategy}}}


def bluegreen_rollout(replicas: int = 2, **bg: Any) -> Obj:
    ro = canary_rollout(replicas)
    ro["spec"]["strategy"] = {"blueGreen": {"activeService": "web-active", "previewService": "web-preview", **bg}}
    return ro


def service(name: str) -> Obj:
    return {"metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}


def started(ro: Obj | None = None, settle: float = 20) -> Cluster:
    c = Cluster()
    ro = ro or canary_rollout()
    strategy = ro["spec"]["strategy"]
    names = (("web-active", "web-preview") if "blueGreen" in strategy else ("web-canary", "web-stable"))
    for name in names:
        c.store.create(SVC, service(name))
    c.store.create(RO, ro)
    c.mgr.advance(settle)
    assert c.phase() == ("Healthy", "")
    return c


def advance_until(c: Cluster, pred: Callable[[], Any], limit: float = 300, step: float = 1) -> float:
    waited = 0.0
    while not pred():
        assert waited < limit, f"condition not reached within {limit}s; status: {c.status()}"
        c.mgr.advance(step)
        waited += step
    return waited


# --- CalculateReplicaCountsForBasicCanary (utils/replicaset/canary_test.go) -----------------------

# (name, replicas, weight, surge, unavailable, promoteFull, stable spec/avail, canary spec/avail, older RS,
#  expected stable, expected canary), every basic-canary case of TestCalculateReplicaCountsForCanary.
UPSTREAM_CASES = [
    ("extra RSs not in scaleDownCount when spec<available", 10, 100, 3, 0, False, (7, 8), (6, 3), None, 7, 6),
    ("max surge int scales up canary", 10, 20, 2, 0, False, (10, 10), (0, 0), None, 10, 2),
    ("max surge percentage scales up canary", 10, 20, "20%", 0, False, (10, 10), (0, 0), None, 10, 2),
    ("scale down extra stable replicas", 10, 20, "20%", 0, False, (10, 10), (2, 2), None, 8, 2),
    ("do not go past max surge", 10, 30, 2, 0, False, (10, 10), (0, 0), None, 10, 2),
    ("max unavailable int scales down stable", 10, 20, 0, 2, False, (10, 10), (0, 0), None, 8, 0),
    ("max unavailable percentage scales down stable", 10, 20, 0, "20%", False, (10, 10), (0, 0), None, 8, 0),
    ("do not go past max unavailable", 10, 30, 0, 2, False, (10, 10), (0, 0), None, 8, 0),
    ("max surge and max unavailable", 10, 50, 2, 1, False, (10, 10), (0, 0), None, 9, 2),
    ("canary to zero on setWeight 0", 10, 0, 1, 1, False, (10, 10), (1, 1), None, 10, 0),
    ("stable to zero on setWeight 100", 10, 100, 1, 1, False, (1, 1), (10, 10), None, 0, 10),
    ("canary not to zero on non-zero weight", 1, 20, 1, 0, False, (1, 1), (0, 0), None, 1, 1),
    ("canary not to zero on non-100 weight", 1, 90, 1, 0, False, (1, 1), (0, 0), None, 1, 1),
    ("canary to zero on <50 without surge", 1, 49, 0, 1, False, (1, 1), (0, 0), None, 1, 0),
    ("stable to zero on >=50 without surge", 1, 51, 0, 1, False, (1, 1), (0, 0), None, 0, 0),
    ("canary to one on >=50 without surge", 1, 51, 0, 1, False, (0, 0), (0, 0), None, 0, 1),
    ("stable scales up before canary", 10, 30, 1, 0, False, (1, 1), (0, 0), (3, 3), 7, 1),
    ("scale down canary and stable", 10, 30, 0, 3, False, (8, 5), (4, 4), None, 7, 3),
    ("scale down stable and canary available", 10, 100, 1, 0, False, (10, 2), (10, 8), None, 2, 9),
    ("older RSs first", 10, 30, 0, 1, False, (8, 6), (4, 2), (3, 3), 8, 4),
    ("uneven divisor part 1", 10, 5, 0, 1, False, (10, 10), (0, 0), None, 9, 0),
    ("uneven divisor part 2", 10, 5, 0, 1, False, (9, 9), (0, 0), None, 9, 1),
    ("unavailable 1 when both percentages round to 0", 10, 10, "0%", "0%", False, (10, 10), (0, 0), None, 9, 0),
    ("max surge while stable unavailable", 4, 100, 1, 0, False, (4, 1), (0, 0), None, 4, 1),
    ("scale down to max unavailable within surge", 3, 99, 0, 2, False, (3, 3), (0, 0), None, 1, 0),
    ("scale down to max unavailable within surge 2", 3, 99, 0, 2, False, (1, 1), (0, 0), None, 1, 2),
    ("reducing weight honours max unavailable 1", 4, 0, 1, 0, False, (0, 0), (4, 4), None, 1, 4),
    ("reducing weight honours max unavailable 2", 4, 0, 1, 0, False, (1, 0), (4, 4), None, 1, 4),
    ("reducing weight honours max unavailable 3", 4, 0, 1, 0, False, (1, 1), (4, 4), None, 1, 3),
    ("promote full ignores weight", 4, 1, 4, 4, True, (4, 4), (0, 0), None, 0, 4),
    ("promote full honours surge and unavailable", 4, 1, 3, 0, True, (4, 4), (0, 0), None, 4, 3),
]


def _rs(h: str, spec: int, available: int) -> Obj:
    return {"metadata": {"name": h, "labels": {HASH: h}}, "spec": {"replicas": spec},
            "status": {"availableReplicas": available}}


@pytest.mark.parametrize(("name", "replicas", "weight", "surge", "unavailable", "full", "stable", "canary",
                          "older", "want_stable", "want_canary"), UPSTREAM_CASES, ids=[c[0] for c in UPSTREAM_CASES])
def test_calculate_replica_counts_for_basic_canary_matches_upstream(
        name: str, replicas: int, weight: int, surge: Any, unavailable: Any, full: bool, stable: tuple[int, int],
        canary: tuple[int, int], older: tuple[int, int] | None, want_stable: int, want_canary: int) -> None:
    ro = {"spec": {"replicas": replicas, "strategy": {"canary": {
        "maxSurge": surge, "maxUnavailable": unavailable, "steps": [{"setWeight": weight}]}}},
        "status": {"stableRS": "stable", "currentPodHash": "canary", "promoteFull": full}}
    old = [_rs("older", *older)] if older else []
    assert calculate_basic_canary(ro, _rs("canary", *canary), _rs("stable", *stable), old) == (want_canary, want_stable)


@pytest.mark.parametrize(("replicas", "weight", "surge", "canary", "stable"), [
    (1, 49, 0, 0, 1), (1, 50, 0, 1, 0), (1, 1, 1, 1, 1), (2, 1, 1, 1, 2), (2, 99, 1, 2, 1), (3, 25, 0, 1, 2),
    (3, 25, 1, 1, 3), (3, 49, 1, 2, 2), (10, 15, 0, 2, 8), (10, 19, 1, 2, 9), (10, 24, 1, 3, 8), (10, 99, 1, 10, 1),
])
def test_approximate_weighted_counts_matches_upstream(replicas: int, weight: int, surge: int, canary: int,
                                                      stable: int) -> None:
    assert approximate_counts(replicas, weight, 100, surge) == (canary, stable)


def test_default_surge_and_unavailable_are_25_percent_through_the_lenient_parser() -> None:
    # defaults.DefaultMaxSurge is the string "25": GetValueFromIntOrPercent reads it as 25%
    ro = {"spec": {"replicas": 10, "strategy": {"canary": {"steps": [{"setWeight": 30}]}}},
          "status": {"stableRS": "stable", "currentPodHash": "canary"}}
    # surge ceil(2.5)=3 lets the canary grow to 3; unavailable floor(2.5)=2 lets stable drop to 8
    assert calculate_basic_canary(ro, _rs("canary", 0, 0), _rs("stable", 10, 10), []) == (3, 8)


# --- the canary, step by step ---------------------------------------------------------------------


def test_first_deploy_creates_a_hashed_replica_set_and_goes_healthy() -> None:
    c = Cluster()
    for name in ("web-canary", "web-stable"):
        c.store.create(SVC, service(name))
    c.store.create(RO, canary_rollout())
    c.mgr.advance(1)
    (rs,) = c.rss().values()
    md = rs["metadata"]
    h = md["labels"][HASH]
    assert h == compute_hash(canary_rollout()["spec"]["template"])
    assert md["name"] == f"web-{h}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", HASH: h}
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "web", HASH: h}
    assert md["annotations"] == {"rollout.argoproj.io/desired-replicas": "4", REVISION: "1"}
    assert md["ownerReferences"] == [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "web",
                                      "uid": c.ro()["metadata"]["uid"], "controller": True,
                                      "blockOwnerDeletion": True}]
    c.mgr.advance(10)
    st = c.status()
    assert c.ro()["metadata"]["annotations"] == {REVISION: "1"}
    assert {k: v for k, v in st.items() if k != "conditions"} == {
        "currentPodHash": h, "currentStepHash": st["currentStepHash"], "replicas": 4, "updatedReplicas": 4,
        "readyReplicas": 4, "availableReplicas": 4, "currentStepIndex": 6, "observedGeneration": "1",
        "canary": {}, "blueGreen": {}, "HPAReplicas": 4, "selector": "app=web", "stableRS": h, "phase": "Healthy"}
    conds = {c_["type"]: (c_["status"], c_["reason"], c_["message"]) for c_ in st["conditions"]}
    assert conds == {
        "Progressing": ("True", "NewReplicaSetAvailable", f'ReplicaSet "web-{h}" has successfully progressed.'),
        "Available": ("True", "AvailableReason", "Rollout has minimum availability"),
        "Completed": ("True", "RolloutCompleted", "RolloutCompleted"),
        "Healthy": ("True", "RolloutHealthy", "Rollout is healthy")}
    assert c.reasons() == ["RolloutAddedToInformer", "RolloutUpdated", "NewReplicaSetCreated", "RolloutNotCompleted",
                           "ScalingReplicaSet", "RolloutCompleted", "SwitchService", "SwitchService"]
    assert c.messages("RolloutCompleted") == [f"Rollout completed update to revision 1 ({h}): Initial deploy"]
    assert c.messages("ScalingReplicaSet") == [f"Scaled up ReplicaSet web-{h} (revision 1) from 0 to 4"]
    # both Services are adopted (managed-by annotation) once the ReplicaSet is fully available
    for name in ("web-canary", "web-stable"):
        svc = c.store.get(SVC, "default", name)
        assert svc["spec"]["selector"] == {"app": "web", HASH: h}
        assert svc["metadata"]["annotations"]["argo-rollouts.argoproj.io/managed-by-rollouts"] == "web"


def test_canary_goes_step_by_step_to_healthy() -> None:
    c = started()
    stable_hash = c.status()["stableRS"]
    sizes = c.watch_sizes()
    mark = len(c.events.calls)
    c.set_image("shop/web:1.1")
    c.mgr.advance(15)
    new_hash = c.status()["currentPodHash"]
    assert new_hash != stable_hash
    st = c.status()
    assert st["currentStepIndex"] == 1
    assert st["pauseConditions"][0]["reason"] == "CanaryPauseStep" and st["controllerPause"] is True
    assert c.phase() == ("Paused", "CanaryPauseStep")
    assert c.sizes() == {1: 3, 2: 1}
    assert c.selector_hash("web-canary") == new_hash and c.selector_hash("web-stable") == stable_hash
    assert c.cond("Paused")["status"] == "True"
    assert (c.cond("Progressing")["status"], c.cond("Progressing")["reason"]) == ("Unknown", "RolloutPaused")
    assert "weights" not in st["canary"]
    c.mgr.advance(600)  # an indefinite pause waits for a human
    assert c.status()["currentStepIndex"] == 1

    c.promote()
    c.mgr.advance(15)
    assert c.status()["currentStepIndex"] == 3
    assert c.sizes() == {1: 2, 2: 2}
    assert c.phase() == ("Paused", "CanaryPauseStep")
    advance_until(c, lambda: c.status().get("currentStepIndex") == 5)
    assert c.sizes() == {1: 1, 2: 3}
    advance_until(c, lambda: c.phase() == ("Healthy", ""))
    st = c.status()
    assert (st["stableRS"], st["currentStepIndex"], c.sizes()) == (new_hash, 6, {1: 0, 2: 4})
    assert c.selector_hash("web-stable") == new_hash
    assert sizes == [(4, 0), (3, 0), (3, 1), (2, 1), (2, 2), (1, 2), (1, 3), (0, 3), (0, 4)]
    assert c.messages("RolloutStepCompleted", mark) == [
        "Rollout step 1/6 completed (setWeight: 25)", "Rollout step 2/6 completed (pause)",
        "Rollout step 3/6 completed (setWeight: 50)", "Rollout step 4/6 completed (pause: 30s)",
        "Rollout step 5/6 completed (setWeight: 75)", "Rollout step 6/6 completed (pause: 30)"]
    assert c.messages("RolloutPaused", mark) == ["Rollout is paused (CanaryPauseStep)"] * 3
    assert c.messages("RolloutResumed", mark) == ["Rollout is resumed"] * 2  # the two timed pauses
    assert c.messages("RolloutCompleted", mark) == [
        f"Rollout completed update to revision 2 ({new_hash}): Completed all 6 canary steps"]
    assert c.messages("RolloutUpdated", mark) == ["Rollout updated to revision 2"]
    assert c.messages("SwitchService", mark) == [
        f"Switched selector for service 'web-canary' from '{stable_hash}' to '{new_hash}'",
        f"Switched selector for service 'web-stable' from '{stable_hash}' to '{new_hash}'"]
    assert c.messages("ScalingReplicaSet", mark)[:2] == [
        f"Scaled down ReplicaSet web-{stable_hash} (revision 1) from 4 to 3",
        f"Scaled up ReplicaSet web-{new_hash} (revision 2) from 0 to 1"]


def test_timed_pause_expires_after_its_duration() -> None:
    c = started(canary_rollout(steps=[{"setWeight": 50}, {"pause": {"duration": "1m"}}]))
    c.set_image("shop/web:1.1")
    advance_until(c, lambda: c.status().get("pauseConditions"))
    start = epoch(c.status()["pauseConditions"][0]["startTime"])
    advance_until(c, lambda: not c.status().get("pauseConditions"))
    assert 60 <= c.ctx.now() - start <= 62
    advance_until(c, lambda: c.phase() == ("Healthy", ""))


@pytest.mark.parametrize(("replicas", "expected"), [
    # weights 25/50/75 with the default 25% surge and unavailable, as CalculateReplicaCountsForBasicCanary walks them
    (4, [(3, 1), (2, 2), (1, 3)]),
    (10, [(8, 3), (5, 5), (3, 8)]),
])
def test_replica_counts_at_each_pause_match_the_basic_canary_split(replicas: int,
                                                                     expected: list[tuple[int, int]]) -> None:
    steps = [{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}, {"setWeight": 75}, {"pause": {}}]
    c = started(canary_rollout(replicas, steps=steps))
    c.set_image("shop/web:1.1")
    seen = []
    for _ in range(3):
        advance_until(c, lambda: c.status().get("pauseConditions"))
        seen.append((c.sizes()[1], c.sizes()[2]))
        # the split is the one the upstream arithmetic converges to at this weight
        ro = c.ro()
        rss = c.rss()
        assert calculate_basic_canary(ro, rss[2], rss[1], []) == (seen[-1][1], seen[-1][0])
        c.promote()
        c.mgr.advance(1)
    assert seen == expected
    advance_until(c, lambda: c.phase() == ("Healthy", ""))
    assert c.sizes() == {1: 0, 2: replicas}


def test_promote_skips_a_setweight_step_that_is_not_paused() -> None:
    c = started(canary_rollout(steps=[{"setWeight": 25}, {"setWeight": 50}, {"pause": {}}], image="shop/web:1.0"))
    c.set_image("shop/web:1.1-bad")  # the canary never gets available, so step 0 never completes
    c.mgr.advance(20)
    assert c.status()["currentStepIndex"] == 0
    c.promote()  # {"status":{"pauseConditions":null,"currentStepIndex":1}}
    c.mgr.advance(5)
    assert c.status()["currentStepIndex"] == 1


def test_abort_scales_the_canary_down_and_degrades_then_retry_resumes_from_step_0() -> None:
    c = started()
    stable_hash = c.status()["stableRS"]
    c.set_image("shop/web:1.1")
    advance_until(c, lambda: c.status().get("pauseConditions"))
    c.promote()
    advance_until(c, lambda: c.status().get("currentStepIndex") == 3 and c.status().get("pauseConditions"))
    mark = len(c.events.calls)
    c.patch_status({"abort": True})  # kubectl argo rollouts abort
    c.mgr.advance(10)
    st = c.status()
    assert c.sizes() == {1: 4, 2: 0}
    assert (st["abort"], st["currentStepIndex"], "pauseConditions" in st) == (True, 0, False)
    assert st["abortedAt"]
    assert c.phase() == ("Degraded", "RolloutAborted: Rollout aborted update to revision 2")
    prog = c.cond("Progressing")
    assert (prog["status"], prog["reason"], prog["message"]) == (
        "False", "RolloutAborted", "Rollout aborted update to revision 2")
    assert c.selector_hash("web-canary") == stable_hash and c.selector_hash("web-stable") == stable_hash
    assert ("web", "Warning", "RolloutAborted", "Rollout aborted update to revision 2") in c.events.calls[mark:]
    assert "RolloutResumed" not in c.reasons(mark)  # an abort clears the pause but is no resume
    aborted_at = st["abortedAt"]
    c.mgr.advance(60)
    assert c.status()["abortedAt"] == aborted_at

    c.patch_status({"abort": False})  # kubectl argo rollouts retry
    c.mgr.advance(1)
    assert c.cond("Progressing")["reason"] in ("RolloutRetry", "ReplicaSetUpdated")
    advance_until(c, lambda: c.status().get("pauseConditions"))
    st = c.status()
    assert (st.get("abort"), st["currentStepIndex"], c.sizes()) == (None, 1, {1: 3, 2: 1})
    assert c.phase() == ("Paused", "CanaryPauseStep")


def test_promote_full_skips_remaining_steps() -> None:
    c = started()
    c.set_image("shop/web:1.1")
    advance_until(c, lambda: c.status().get("pauseConditions"))
    mark = len(c.events.calls)
    c.promote_full()
    assert c.status()["promoteFull"] is True
    advance_until(c, lambda: c.phase() == ("Healthy", ""))
    st = c.status()
    assert (st["currentStepIndex"], "promoteFull" in st, c.sizes()) == (6, False, {1: 0, 2: 4})
    assert c.messages("RolloutCompleted", mark) == [
        f"Rollout completed update to revision 2 ({st['currentPodHash']}): Full promotion requested"]
    assert c.messages("RolloutStepCompleted", mark) == []


def test_undo_to_the_stable_revision_is_a_fast_rollback() -> None:
    c = started()
    stable_hash = c.status()["stableRS"]
    c.set_image("shop/web:1.1")
    advance_until(c, lambda: c.status().get("pauseConditions"))
    mark = len(c.events.calls)
    c.undo()  # previous revision = 1 = stable
    c.mgr.advance(10)
    st = c.status()
    assert (st["currentPodHash"], st["stableRS"], st["currentStepIndex"]) == (stable_hash, stable_hash, 6)
    assert c.phase() == ("Healthy", "")
    rss = c.rss()
    # the stable ReplicaSet is reused with a new revision; its old revision goes to revision-history
    assert rss[3]["metadata"]["labels"][HASH] == stable_hash
    assert rss[3]["metadata"]["annotations"]["rollout.argoproj.io/revision-history"] == "1"
    assert c.sizes() == {2: 0, 3: 4}
    assert c.ro()["metadata"]["annotations"][REVISION] == "3"
    assert c.messages("SkipSteps", mark) == ["Rollback to stable ReplicaSets"]
    assert c.messages("RolloutUpdated", mark) == ["Rollout updated to revision 3"]
    assert "RolloutStepCompleted" not in c.reasons(mark)
    assert c.selector_hash("web-canary") == stable_hash


def test_undo_to_an_older_revision_reuses_its_replica_set_and_runs_the_steps() -> None:
    c = started(canary_rollout(steps=[{"setWeight": 50}]))
    c.set_image("shop/web:1.1")
    advance_until(c, lambda: c.phase() == ("Healthy", "") and c.status()["stableRS"] == c.status()["currentPodHash"]
                  and len(c.rss()) == 2)
    first_hash = c.rss()[1]["metadata"]["labels"][HASH]
    c.undo(to_revision=1)
    c.mgr.advance(1)
    assert c.status()["currentStepIndex"] == 0  # not the stable RS: the steps run again
    advance_until(c, lambda: c.phase() == ("Healthy", ""))
    assert c.status()["stableRS"] == first_hash
    assert sorted(c.rss()) == [2, 3] and c.rss()[3]["metadata"]["labels"][HASH] == first_hash


def test_bad_canary_stays_progressing_then_exceeds_its_progress_deadline() -> None:
    c = started()
    c.patch_spec({"progressDeadlineSeconds": 120})
    c.mgr.advance(2)
    c.set_image("shop/web:1.1-bad")
    c.mgr.advance(60)
    assert c.phase() == ("Progressing", "more replicas need to be updated")
    assert c.sizes() == {1: 3, 2: 1}
    assert c.cond("Progressing")["reason"] == "ReplicaSetUpdated"
    advance_until(c, lambda: c.phase()[0] == "Degraded", limit=200)
    new = c.rss()[2]["metadata"]["name"]
    assert c.phase() == ("Degraded", f'ProgressDeadlineExceeded: ReplicaSet "{new}" has timed out progressing.')
    prog = c.cond("Progressing")
    assert (prog["status"], prog["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert c.sizes() == {1: 3, 2: 1}  # not aborted: the canary stays


def test_progress_deadline_abort_aborts_the_update() -> None:
    c = started(canary_rollout(steps=[{"setWeight": 50}, {"pause": {}}]))
    c.patch_spec({"progressDeadlineSeconds": 60, "progressDeadlineAbort": True})
    c.mgr.advance(2)
    c.set_image("shop/web:1.1-bad")
    advance_until(c, lambda: c.status().get("abort"), limit=200)
    c.mgr.advance(10)
    new = c.rss()[2]["metadata"]["name"]
    msg = f'ReplicaSet "{new}" has timed out progressing.'
    assert c.phase() == ("Degraded", f"RolloutAborted: Rollout aborted update to revision 2: {msg}")
    assert c.sizes() == {1: 4, 2: 0}
    assert ("web", "Warning", "RolloutAborted", msg) in c.events.calls


def test_manual_pause_halts_and_promote_unpauses() -> None:
    c = started(canary_rollout(steps=[{"setWeight": 25}, {"pause": {"duration": 10}}, {"setWeight": 75}]))
    c.patch_spec({"paused": True})  # kubectl argo rollouts pause
    c.mgr.advance(2)
    assert c.phase() == ("Paused", "manually paused")
    # a completed rollout keeps Progressing=NewReplicaSetAvailable (checkPausedConditions skips it)
    assert (c.cond("Paused")["status"], c.cond("Progressing")["reason"]) == ("True", "NewReplicaSetAvailable")
    c.set_image("shop/web:1.1")
    c.mgr.advance(30)
    assert c.sizes() == {1: 4, 2: 0}  # user paused: no ReplicaSet is scaled
    assert (c.cond("Progressing")["status"], c.cond("Progressing")["reason"]) == ("Unknown", "RolloutPaused")
    c.promote()
    advance_until(c, lambda: c.phase() == ("Healthy", ""))
    assert c.sizes() == {1: 0, 2: 4}


def test_restart_replaces_pods_one_at_a_time() -> None:
    c = started()
    old_pods = {p["metadata"]["name"] for p in c.store.list(PODS, "default")}
    c.mgr.advance(5)
    deletions: list[tuple[float, str]] = []

    def listen(ev: WatchEvent) -> None:
        if ev.key == PODS and ev.obj["metadata"].get("deletionTimestamp") and not (
                ev.old or {}).get("metadata", {}).get("deletionTimestamp"):
            deletions.append((c.ctx.now(), ev.obj["metadata"]["name"]))

    c.store.subscribe(listen)
    restart_at = ts(c.clock.now())
    c.patch_spec({"restartAt": restart_at})  # kubectl argo rollouts restart
    c.mgr.advance(1)
    assert c.phase() == ("Progressing", "rollout is restarting")
    advance_until(c, lambda: c.status().get("restartedAt") == restart_at, limit=400)
    assert sorted(n for _, n in deletions) == sorted(old_pods)
    # maxUnavailable 25% of 4 = 1: one eviction at a time, each after the previous pod was replaced
    times = [t for t, _ in deletions]
    assert all(b > a for a, b in itertools.pairwise(times))
    assert not old_pods & {p["metadata"]["name"] for p in c.store.list(PODS, "default")}
    assert c.phase() == ("Healthy", "")


def test_scaling_spec_replicas_is_a_scaling_event() -> None:
    c = started()
    c.patch_spec({"replicas": 6})  # as the /scale subresource writes it (HPA, kubectl scale)
    advance_until(c, lambda: c.phase() == ("Healthy", "") and c.status()["availableReplicas"] == 6)
    assert c.sizes() == {1: 6}
    assert c.rss()[1]["metadata"]["annotations"]["rollout.argoproj.io/desired-replicas"] == "6"
    st = c.status()
    assert (st["HPAReplicas"], st["selector"], st["observedGeneration"]) == (6, "app=web", "2")
    c.patch_spec({"replicas": 2})
    advance_until(c, lambda: c.status()["HPAReplicas"] == 2)
    assert c.sizes() == {1: 2}


def test_revision_history_limit_deletes_the_oldest_scaled_down_replica_sets() -> None:
    c = started(canary_rollout(steps=[]))
    c.patch_spec({"revisionHistoryLimit": 2})
    for i in range(1, 5):
        c.set_image(f"shop/web:1.{i}")
        advance_until(c, lambda: c.phase() == ("Healthy", "") and sum(c.sizes().values()) == 4)
        c.mgr.advance(5)
    assert sorted(c.rss()) == [3, 4, 5]


def test_set_canary_scale_without_traffic_routing_is_an_invalid_spec() -> None:
    c = Cluster()
    for name in ("web-canary", "web-stable"):
        c.store.create(SVC, service(name))
    c.store.create(RO, canary_rollout(steps=[{"setCanaryScale": {"replicas": 1}}, {"setWeight": 50}]))
    c.mgr.advance(5)
    assert c.phase() == ("Degraded", 'InvalidSpec: The Rollout "web" is invalid: spec.strategy.trafficRouting: '
                                     "Required value: SetCanaryScale requires TrafficRouting to be set")
    assert c.rss() == {}


@pytest.mark.parametrize(("change", "message"), [
    ({"maxSurge": 0, "maxUnavailable": "0%"},
     'spec.strategy.maxSurge: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:""}: '
     "MaxSurge and MaxUnavailable both can not be zero"),
    ({"canaryService": "web-stable"},
     'spec.strategy.stableService: Invalid value: "web-stable": This rollout uses the same service for the stable '
     "and canary services, but two different services are required."),
    ({"scaleDownDelaySeconds": 30},
     "spec.strategy.scaleDownDelaySeconds: Invalid value: 30: Canary scaleDownDelaySeconds can only be used with "
     "traffic routing"),
])
def test_invalid_canary_specs_report_upstream_messages(change: dict, message: str) -> None:
    c = Cluster()
    for name in ("web-canary", "web-stable"):
        c.store.create(SVC, service(name))
    c.store.create(RO, canary_rollout(**change))
    c.mgr.advance(2)
    assert c.phase() == ("Degraded", f'InvalidSpec: The Rollout "web" is invalid: {message}')
    cond = c.cond("InvalidSpec")
    assert (cond["status"], cond["reason"]) == ("True", "InvalidSpec")
    assert c.status()["observedGeneration"] == "1"


def test_a_missing_service_is_an_invalid_spec_until_it_exists() -> None:
    c = Cluster()
    c.store.create(SVC, service("web-stable"))
    c.store.create(RO, canary_rollout())
    c.mgr.advance(5)
    assert c.phase() == ("Degraded", 'InvalidSpec: The Rollout "web" is invalid: spec.strategy.canary.canaryService: '
                                     'Invalid value: "web-canary": service "web-canary" not found')
    c.store.create(SVC, service("web-canary"))
    c.mgr.advance(15)
    assert c.phase() == ("Healthy", "")
    assert all(cond["type"] != "InvalidSpec" for cond in c.status()["conditions"])


# --- blue-green -----------------------------------------------------------------------------------


def test_bluegreen_pauses_until_promoted_then_switches_and_scales_the_old_set_down() -> None:
    c = started(bluegreen_rollout(autoPromotionEnabled=False))
    old_hash = c.status()["stableRS"]
    assert c.status()["blueGreen"] == {"previewSelector": old_hash, "activeSelector": old_hash}
    assert c.status()["selector"] == f"app=web,{HASH}={old_hash}"
    mark = len(c.events.calls)
    c.set_image("shop/web:1.1")
    c.mgr.advance(15)
    new_hash = c.status()["currentPodHash"]
    assert c.selector_hash("web-preview") == new_hash and c.selector_hash("web-active") == old_hash
    assert c.status()["pauseConditions"][0]["reason"] == "BlueGreenPause"
    assert c.phase() == ("Paused", "BlueGreenPause")
    assert c.sizes() == {1: 2, 2: 2}
    c.mgr.advance(300)
    assert c.selector_hash("web-active") == old_hash

    c.promote()
    c.mgr.advance(2)
    assert c.selector_hash("web-active") == new_hash
    st = c.status()
    assert st["blueGreen"] == {"previewSelector": new_hash, "activeSelector": new_hash}
    assert (st["stableRS"], c.phase()) == (new_hash, ("Healthy", ""))
    old = c.rss()[1]
    deadline = epoch(old["metadata"]["annotations"]["scale-down-deadline"])
    assert c.sizes() == {1: 2, 2: 2}
    advance_until(c, lambda: c.sizes()[1] == 0, limit=60)
    assert deadline - 30 <= c.ctx.now() - 1 <= deadline + 1  # scaleDownDelaySeconds defaults to 30
    assert "scale-down-deadline" not in c.rss()[1]["metadata"]["annotations"]
    assert c.messages("SwitchService", mark) == [
        f"Switched selector for service 'web-preview' from '{old_hash}' to '{new_hash}'",
        f"Switched selector for service 'web-active' from '{old_hash}' to '{new_hash}'"]
    assert c.messages("RolloutCompleted", mark) == [
        f"Rollout completed update to revision 2 ({new_hash}): Completed blue-green update"]
    assert c.messages("RolloutPaused", mark) == ["Rollout is paused (BlueGreenPause)"]


def test_bluegreen_auto_promotion_seconds_and_preview_replica_count() -> None:
    c = started(bluegreen_rollout(replicas=3, autoPromotionSeconds=20, previewReplicaCount=1,
                                  scaleDownDelaySeconds=10))
    c.set_image("shop/web:1.1")
    advance_until(c, lambda: c.status().get("pauseConditions"))
    assert c.sizes() == {1: 3, 2: 1}  # only the preview replicas until the pause is over
    start = epoch(c.status()["pauseConditions"][0]["startTime"])
    advance_until(c, lambda: c.status()["blueGreen"].get("activeSelector") == c.status()["currentPodHash"])
    assert c.ctx.now() - start >= 20
    assert c.sizes() == {1: 3, 2: 3}
    advance_until(c, lambda: c.sizes()[1] == 0, limit=30)
    assert c.phase() == ("Healthy", "")


def test_bluegreen_abort_keeps_active_on_stable_and_scales_preview_down_after_the_delay() -> None:
    c = started(bluegreen_rollout(autoPromotionEnabled=False, abortScaleDownDelaySeconds=10))
    old_hash = c.status()["stableRS"]
    c.set_image("shop/web:1.1")
    advance_until(c, lambda: c.status().get("pauseConditions"))
    c.patch_status({"abort": True})
    c.mgr.advance(2)
    assert c.phase() == ("Degraded", "RolloutAborted: Rollout aborted update to revision 2")
    assert c.selector_hash("web-active") == old_hash
    assert "scale-down-deadline" in c.rss()[2]["metadata"]["annotations"]
    advance_until(c, lambda: c.sizes()[2] == 0, limit=20)
    assert c.sizes() == {1: 2, 2: 0}


# --- the controller's bookkeeping -----------------------------------------------------------------


def test_missing_replicas_is_defaulted_to_1() -> None:
    c = Cluster()
    for name in ("web-canary", "web-stable"):
        c.store.create(SVC, service(name))
    ro = canary_rollout()
    del ro["spec"]["replicas"]
    c.store.create(RO, ro)
    c.mgr.advance(10)
    assert c.ro()["spec"]["replicas"] == 1
    assert c.phase() == ("Healthy", "")


def test_observed_generation_is_a_string_and_phase_waits_for_it() -> None:
    c = started()
    assert c.status()["observedGeneration"] == "1"
    obj = copy.deepcopy(c.ro())
    obj["spec"]["template"]["spec"]["containers"][0]["image"] = "shop/web:1.1"
    c.store.update(RO, obj)  # no reconcile yet
    assert rollout_phase(c.ro()) == ("Progressing", "waiting for rollout spec update to be observed")
    c.mgr.advance(1)
    assert c.status()["observedGeneration"] == "2"
