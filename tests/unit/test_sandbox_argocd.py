"""Argo CD application controller: repo model, compare, health, sync, rollback, auto-sync, selfHeal."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from almtui.sandbox import admission
from almtui.sandbox.clock import SimClock
from almtui.sandbox.controllers.argocd import (
    ROLLBACK_REFUSED,
    ApplicationController,
    GitRepos,
    RepoError,
    deployment_health,
    rollout_health,
    self_heal_delay,
    worst,
)
from almtui.sandbox.controllers.base import Context, Manager
from almtui.sandbox.controllers.deployment import DeploymentController
from almtui.sandbox.controllers.events import EventRecorder
from almtui.sandbox.controllers.kubelet import Kubelet
from almtui.sandbox.controllers.replicaset import ReplicaSetController
from almtui.sandbox.controllers.scheduler import Scheduler
from almtui.sandbox.store import Store

START = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
APP = "argoproj.io/applications"
REPO = "https://git.example.local/deploy.git"
C1, C2, C3 = "1" * 40, "2" * 40, "3" * 40


def repo_data(main: str = C3) -> dict:
    return {REPO: {
        "refs": {"main": main, "v1.0": C1},
        "commits": [C1, C2, C3],
        "paths": {
            "web/staging": {C1: {"Deployment/staging/web": {"web": "reg/web:1.0"}},
                            C2: {"Deployment/staging/web": {"web": "reg/web:1.1"}},
                            C3: {"Deployment/staging/web": {"web": "reg/web:1.2"}}},
            "web/prod": {C1: {"Deployment/web": {"web": "reg/web:1.0"}}},
        }}}


class Spy(EventRecorder):
    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.calls: list[tuple[str, str, str, str]] = []

    def record(self, obj, type_, reason, message, component, host=None) -> None:
        if obj.get("kind") == "Application":
            assert component == "argocd-application-controller"
            self.calls.append((obj["metadata"]["name"], type_, reason, message))
        super().record(obj, type_, reason, message, component, host)

    def of(self, name: str) -> list[tuple[str, str]]:
        return [(r, m) for n, _t, r, m in self.calls if n == name]


class Cluster:
    def __init__(self, gitops: dict | None = None) -> None:
        self.clock = SimClock(start=START)
        self.clock.freeze()
        self.store = Store(self.clock, random.Random(1))
        admission.install(self.store)
        opts: dict[str, Any] = {"seed": 1}
        if gitops is not None:
            opts["gitops"] = gitops
        self.ctx = Context(self.store, self.clock, random.Random(1), options=opts)
        self.spy = Spy(self.ctx)
        self.ctx.events = self.spy
        self.argo = ApplicationController(self.ctx)
        self.mgr = Manager(self.ctx, [DeploymentController(self.ctx), ReplicaSetController(self.ctx),
                                      Scheduler(self.ctx), Kubelet(self.ctx), self.argo])
        for ns in ("default", "staging", "prod", "argocd"):
            self.store.create("/namespaces", {"metadata": {"name": ns}})
        self.store.create("/nodes", {
            "metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1"}}, "spec": {},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                       "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"},
                       "capacity": {"cpu": "8", "memory": "16Gi", "pods": "110"},
                       "addresses": [{"type": "InternalIP", "address": "10.0.0.10"}]}}, keep_status=True)

    def deployment(self, ns: str, image: str, name: str = "web", replicas: int = 2) -> None:
        self.store.create("apps/deployments", {
            "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": name, "image": image}]}}}})

    def app(self, name: str, path: str, ns: str, auto: dict | None = None, target: str = "main", **extra: Any) -> None:
        spec: dict[str, Any] = {"project": "default",
                                "source": {"repoURL": REPO, "path": path, "targetRevision": target},
                                "destination": {"server": "https://kubernetes.default.svc", "namespace": ns}}
        if auto is not None:
            spec["syncPolicy"] = {"automated": auto}
        self.store.create(APP, {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                                "metadata": {"name": name, "namespace": "argocd", **extra.pop("metadata", {})},
                                "spec": spec, **extra})

    def get(self, name: str) -> dict:
        return self.store.get(APP, "argocd", name)

    def image(self, ns: str, name: str = "web") -> str:
        d = self.store.get("apps/deployments", ns, name)
        return d["spec"]["template"]["spec"]["containers"][0]["image"]

    def set_image(self, ns: str, image: str, name: str = "web") -> None:
        def edit(o: dict) -> None:
            o["spec"]["template"]["spec"]["containers"][0]["image"] = image
        self.store.mutate("apps/deployments", ns, name, edit)

    def operate(self, name: str, op: dict) -> None:
        """What argo.SetAppOperation does for the API server: set operation, drop operationState."""
        def set_op(o: dict) -> None:
            assert not o.get("operation"), "another operation is already in progress"
            o["operation"] = copy.deepcopy(op)
            (o.get("status") or {}).pop("operationState", None)
        self.store.mutate(APP, "argocd", name, set_op)

    def rollback(self, name: str, history_id: int) -> None:
        """server/application.Rollback: a sync to the history entry's revision and source."""
        app = self.get(name)
        info = next(h for h in app["status"]["history"] if h["id"] == history_id)
        self.operate(name, {"sync": {"revision": info["revision"], "source": info["source"],
                                     "syncStrategy": {"apply": {}}},
                            "initiatedBy": {"username": "operator"}})


# -- repository model ------------------------------------------------------------------------------

def test_git_repos_resolve_and_manifests():
    r = GitRepos(repo_data())
    assert r.resolve(REPO, "main") == C3
    assert r.resolve(REPO.removesuffix(".git"), "HEAD") == C3
    assert r.resolve(REPO, "v1.0") == C1
    assert r.resolve(REPO, C2) == C2
    assert r.resolve(REPO, "2222222") == C2
    with pytest.raises(RepoError, match="unable to resolve 'nope' to a commit SHA"):
        r.resolve(REPO, "nope")
    with pytest.raises(RepoError, match="repository not found"):
        r.resolve("https://elsewhere/x.git", "main")
    assert r.manifests(REPO, "web/staging", C2, "staging") == {("Deployment", "staging", "web"): {"web": "reg/web:1.1"}}
    # a path a commit does not touch keeps its older contents; Kind/name uses the destination namespace
    assert r.manifests(REPO, "web/prod", C3, "prod") == {("Deployment", "prod", "web"): {"web": "reg/web:1.0"}}
    with pytest.raises(RepoError, match="app path does not exist"):
        r.manifests(REPO, "nope", C3, "x")


def test_health_checks_and_backoff():
    base = {"metadata": {"name": "web", "generation": 2}, "spec": {"replicas": 3},
            "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}}
    assert deployment_health(base) == ("Healthy", "")
    d = copy.deepcopy(base)
    d["status"]["updatedReplicas"] = 1
    assert deployment_health(d) == ("Progressing", "Waiting for rollout to finish: 1 out of 3 new replicas have "
                                                   "been updated...")
    d = copy.deepcopy(base)
    d["metadata"]["generation"] = 3
    assert deployment_health(d)[1] == ("Waiting for rollout to finish: observed deployment generation less than "
                                       "desired generation")
    d = copy.deepcopy(base)
    d["status"]["conditions"] = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]
    assert deployment_health(d) == ("Degraded", 'Deployment "web" exceeded its progress deadline')
    d = copy.deepcopy(base)
    d["spec"]["paused"] = True
    assert deployment_health(d) == ("Suspended", "Deployment is paused")
    ro = {"metadata": {"name": "r", "generation": 4}, "spec": {},
          "status": {"observedGeneration": "4", "phase": "Paused", "message": "CanaryPauseStep"}}
    assert rollout_health(ro) == ("Suspended", "CanaryPauseStep")
    ro["status"]["observedGeneration"] = "3"
    assert rollout_health(ro) == ("Progressing", "Waiting for rollout spec update to be observed")
    assert worst(["Healthy", "Progressing", "Suspended"]) == "Progressing"
    assert worst(["Progressing", "Missing", "Degraded"]) == "Degraded"
    assert [self_heal_delay(n) for n in range(8)] == [0, 2, 6, 18, 54, 162, 300, 300]


# -- auto-sync, sync, history ----------------------------------------------------------------------

def test_auto_sync_moves_the_workload_and_records_history():
    c = Cluster(repo_data())
    c.deployment("staging", "reg/web:1.0")
    c.mgr.settle(30)
    c.app("web-staging", "web/staging", "staging", auto={"prune": True, "selfHeal": True})
    c.mgr.settle(120)
    assert c.image("staging") == "reg/web:1.2"
    app = c.get("web-staging")
    st = app["status"]
    assert "operation" not in app
    assert st["sync"] == {"status": "Synced", "revision": C3, "comparedTo": {
        "source": {"repoURL": REPO, "path": "web/staging", "targetRevision": "main"},
        "destination": {"server": "https://kubernetes.default.svc", "namespace": "staging"}}}
    assert st["health"]["status"] == "Healthy"
    assert st["resources"] == [{"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "staging",
                                "name": "web", "status": "Synced", "health": {"status": "Healthy"}}]
    assert st["summary"] == {"images": ["reg/web:1.2"]}
    assert [(h["id"], h["revision"], h["initiatedBy"]) for h in st["history"]] == [(0, C3, {"automated": True})]
    op = st["operationState"]
    assert op["phase"] == "Succeeded" and op["message"] == "successfully synced (all tasks run)"
    assert op["operation"]["initiatedBy"] == {"automated": True}
    assert op["syncResult"]["revision"] == C3
    assert op["syncResult"]["resources"][0]["message"] == "deployment.apps/web configured"
    assert st["history"][0]["deployStartedAt"] == op["startedAt"]
    assert st["history"][0]["deployedAt"] == op["finishedAt"]
    d = c.store.get("apps/deployments", "staging", "web")
    assert d["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] == "web-staging:apps/Deployment:staging/web"
    events = c.spy.of("web-staging")
    assert ("OperationStarted", f"Initiated automated sync to '{C3}'") in events
    assert ("OperationCompleted", f"Sync operation to {C3} succeeded") in events
    assert ("ResourceUpdated", "Updated sync status: OutOfSync -> Synced") in events
    assert ("ResourceUpdated", "Updated health status: Progressing -> Healthy") in events


def test_self_heal_reverts_a_manual_edit_after_showing_out_of_sync():
    c = Cluster(repo_data())
    c.deployment("staging", "reg/web:1.0")
    c.app("web-staging", "web/staging", "staging", auto={"prune": True, "selfHeal": True})
    c.mgr.settle(60)
    assert c.get("web-staging")["status"]["sync"]["status"] == "Synced"
    assert "autoHealAttemptsCount" not in c.get("web-staging")["status"]["operationState"]["operation"]["sync"]
    c.set_image("staging", "reg/web:hotfix")
    c.mgr.advance(1)
    app = c.get("web-staging")
    assert app["status"]["sync"]["status"] == "OutOfSync"
    assert app["status"]["resources"][0]["status"] == "OutOfSync"
    assert c.image("staging") == "reg/web:hotfix"
    c.mgr.settle(60)
    assert c.image("staging") == "reg/web:1.2"
    st = c.get("web-staging")["status"]
    assert st["sync"]["status"] == "Synced"
    sync = st["operationState"]["operation"]["sync"]
    assert sync["autoHealAttemptsCount"] == 1
    assert sync["resources"] == [{"group": "apps", "kind": "Deployment", "name": "web"}]
    assert ("OperationCompleted", f"Partial sync operation to {C3} succeeded") in c.spy.of("web-staging")
    assert ("ResourceUpdated", "Updated sync status: Synced -> OutOfSync") in c.spy.of("web-staging")
    # the second heal waits for the backoff (2 s after the last sync finished)
    c.set_image("staging", "reg/web:hotfix-2")
    c.mgr.settle(60)
    st = c.get("web-staging")["status"]
    assert c.image("staging") == "reg/web:1.2"
    assert st["operationState"]["operation"]["sync"]["autoHealAttemptsCount"] == 2
    assert len(st["history"]) == 3


def test_auto_sync_without_self_heal_leaves_drift_alone():
    c = Cluster(repo_data())
    c.deployment("staging", "reg/web:1.0")
    c.app("web-staging", "web/staging", "staging", auto={"prune": False})
    c.mgr.settle(60)
    assert c.image("staging") == "reg/web:1.2"
    c.set_image("staging", "reg/web:hotfix")
    c.mgr.settle(60)
    assert c.image("staging") == "reg/web:hotfix"
    assert c.get("web-staging")["status"]["sync"]["status"] == "OutOfSync"


def test_manual_app_goes_out_of_sync_and_syncs_on_request():
    c = Cluster(repo_data())
    c.deployment("staging", "reg/web:1.0")
    c.app("web-staging", "web/staging", "staging")
    c.mgr.settle(60)
    st = c.get("web-staging")["status"]
    assert st["sync"]["status"] == "OutOfSync" and "history" not in st
    assert c.image("staging") == "reg/web:1.0"
    # argocd app sync web-staging: the API server resolves the revision and sets the operation
    c.operate("web-staging", {"sync": {"revision": C3, "prune": False,
                                       "source": {"repoURL": REPO, "path": "web/staging", "targetRevision": "main"}},
                              "initiatedBy": {"username": "operator"}})
    c.mgr.advance(0.5)
    assert c.get("web-staging")["status"]["operationState"]["phase"] == "Running"
    c.mgr.settle(60)
    app = c.get("web-staging")
    assert "operation" not in app
    assert c.image("staging") == "reg/web:1.2"
    st = app["status"]
    assert st["sync"]["status"] == "Synced"
    assert [(h["id"], h["revision"], h["initiatedBy"]) for h in st["history"]] == [(0, C3, {"username": "operator"})]
    # a sync to an older revision on a manual app is allowed
    c.operate("web-staging", {"sync": {"revision": "v1.0"}, "initiatedBy": {"username": "operator"}})
    c.mgr.settle(60)
    assert c.image("staging") == "reg/web:1.0"
    st = c.get("web-staging")["status"]
    assert st["history"][-1]["revision"] == C1 and st["sync"]["status"] == "OutOfSync"


def test_rollback_by_history_id_on_a_manual_app():
    c = Cluster(repo_data())
    c.deployment("staging", "reg/web:1.0")
    c.app("web-staging", "web/staging", "staging", target=C2)
    c.mgr.settle(30)
    c.operate("web-staging", {"sync": {"revision": C2}, "initiatedBy": {"username": "operator"}})
    c.mgr.settle(30)
    c.store.mutate(APP, "argocd", "web-staging", lambda o: o["spec"]["source"].__setitem__("targetRevision", "main"))
    c.operate("web-staging", {"sync": {"revision": C3}, "initiatedBy": {"username": "operator"}})
    c.mgr.settle(30)
    assert c.image("staging") == "reg/web:1.2"
    hist = c.get("web-staging")["status"]["history"]
    assert [(h["id"], h["revision"]) for h in hist] == [(0, C2), (1, C3)]
    assert hist[0]["source"]["targetRevision"] == C2
    c.rollback("web-staging", 0)
    c.mgr.settle(30)
    assert c.image("staging") == "reg/web:1.1"
    st = c.get("web-staging")["status"]
    assert [(h["id"], h["revision"]) for h in st["history"]] == [(0, C2), (1, C3), (2, C2)]
    assert st["operationState"]["phase"] == "Succeeded"
    assert st["operationState"]["syncResult"]["source"]["targetRevision"] == C2
    assert st["sync"]["status"] == "OutOfSync"  # the app still targets main


def test_rollback_is_refused_while_auto_sync_is_on():
    c = Cluster(repo_data())
    c.deployment("staging", "reg/web:1.0")
    c.app("web-staging", "web/staging", "staging", auto={"selfHeal": True})
    c.mgr.settle(60)
    c.rollback("web-staging", 0)  # history 0 is the current revision: still a rollback
    c.mgr.settle(30)
    app = c.get("web-staging")
    op = app["status"]["operationState"]
    assert (op["phase"], op["message"]) == ("Error", ROLLBACK_REFUSED)
    assert op["message"] == "rollback cannot be initiated when auto-sync is enabled"
    assert "syncResult" not in op and "operation" not in app
    assert len(app["status"]["history"]) == 1
    assert ("OperationCompleted", f"Sync operation failed: {ROLLBACK_REFUSED}") in c.spy.of("web-staging")
    # a sync away from the target revision is refused as the API server would
    c.operate("web-staging", {"sync": {"revision": C1}, "initiatedBy": {"username": "operator"}})
    c.mgr.settle(30)
    op = c.get("web-staging")["status"]["operationState"]
    assert op["message"] == f"Cannot sync to {C1}: auto-sync currently set to main"
    assert c.image("staging") == "reg/web:1.2"
    # the refusals do not stop self-heal
    c.set_image("staging", "reg/web:oops")
    c.mgr.settle(30)
    assert c.image("staging") == "reg/web:1.2"


def test_repository_configmap_drives_new_commits():
    c = Cluster()
    c.deployment("staging", "reg/web:1.0")
    data = repo_data(main=C2)
    c.store.create("/configmaps", {"metadata": {"name": "sandbox-git-repositories", "namespace": "argocd"},
                                   "data": {"repositories.yaml": yaml.safe_dump(data)}})
    c.app("web-staging", "web/staging", "staging", auto={"prune": True})
    c.mgr.settle(60)
    assert c.image("staging") == "reg/web:1.1"
    data[REPO]["refs"]["main"] = C3  # a new commit lands on main

    def push(o: dict) -> None:
        o["data"]["repositories.yaml"] = yaml.safe_dump(data)
    c.store.mutate("/configmaps", "argocd", "sandbox-git-repositories", push)
    c.mgr.settle(60)
    assert c.image("staging") == "reg/web:1.2"
    assert [h["revision"] for h in c.get("web-staging")["status"]["history"]] == [C2, C3]


def test_comparison_error_and_missing_resources():
    c = Cluster(repo_data())
    c.app("broken", "does/not/exist", "staging")
    c.app("missing", "web/staging", "staging")
    c.mgr.settle(30)
    st = c.get("broken")["status"]
    assert st["sync"]["status"] == "Unknown"
    assert st["conditions"][0]["type"] == "ComparisonError"
    assert "app path does not exist" in st["conditions"][0]["message"]
    st = c.get("missing")["status"]
    assert st["sync"]["status"] == "OutOfSync"
    assert st["health"]["status"] == "Missing"
    c.operate("missing", {"sync": {"revision": C3}, "initiatedBy": {"username": "operator"}})
    c.mgr.settle(30)
    op = c.get("missing")["status"]["operationState"]
    assert op["phase"] == "Failed"
    assert op["message"] == 'one or more objects failed to apply, reason: deployments.apps "web" not found'


def test_health_follows_the_rollout_and_reconciled_at_is_stable():
    c = Cluster(repo_data())
    c.deployment("staging", "reg/web:1.2", replicas=3)
    c.app("web-staging", "web/staging", "staging")
    c.mgr.settle(60)
    st = c.get("web-staging")["status"]
    assert (st["sync"]["status"], st["health"]["status"]) == ("Synced", "Healthy")
    stamp = st["reconciledAt"]
    rv = c.get("web-staging")["metadata"]["resourceVersion"]
    c.mgr.advance(30)
    assert c.get("web-staging")["metadata"]["resourceVersion"] == rv  # no churn without change
    c.mgr.advance(200)
    assert c.get("web-staging")["status"]["reconciledAt"] != stamp  # the periodic refresh
    c.store.mutate("apps/deployments", "staging", "web", lambda o: o["spec"].__setitem__("paused", True))
    c.mgr.advance(1)
    assert c.get("web-staging")["status"]["health"]["status"] == "Suspended"


def test_deleting_with_the_resources_finalizer_deletes_workloads():
    c = Cluster(repo_data())
    c.deployment("staging", "reg/web:1.2")
    c.app("web-staging", "web/staging", "staging",
          metadata={"finalizers": ["resources-finalizer.argocd.argoproj.io"]})
    c.mgr.settle(30)
    c.store.delete(APP, "argocd", "web-staging")
    c.mgr.settle(30)
    assert c.get("web-staging") is None
    assert c.store.get("apps/deployments", "staging", "web") is None
