"""The safe action path over real HTTPS against the sandbox: plan -> checks -> apply -> outcome.

Each test asserts the sandbox's state and exactly one audit entry per attempted action, with the true
outcome. Deployments are created per test in their own namespace, so the scenario's objects and other
tests do not interfere; the sandbox is quiet once a workload has settled (no resourceVersion churn).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from almtui.cluster.actions import Checker, Executor, planner
from almtui.cluster.actions.model import ActionError
from almtui.cluster.audit import AuditLog
from almtui.cluster.connection import ApiError, Connection, connect
from almtui.cluster.freshness import FreshnessTracker
from almtui.cluster.kinds import APPLICATIONS, DEPLOYMENTS, HPAS, PIPELINERUNS, PIPELINES, REPLICASETS, ROLLOUTS, path
from almtui.cluster.kubeconfig import load_kubeconfig
from almtui.sandbox import errors as sb_errors
from tests.support import RunningSandbox, wait_until

NS = "almtui-actions"
FAST = {"qps": 200.0, "burst": 200}
DEPLOY_KEY = "apps/deployments"
ROLLOUT_KEY = "argoproj.io/rollouts"


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    s = RunningSandbox("edge-retail", speed=30, workdir=tmp_path_factory.mktemp("sandbox")).start()
    conn = connect(load_kubeconfig([s.kubeconfig]), "operator", **FAST)
    conn.request("POST", "/api/v1/namespaces", body={"metadata": {"name": NS}})
    yield s
    s.stop()


@contextlib.contextmanager
def frozen(sb: RunningSandbox):
    """Stop the sandbox clock while acting: controllers' periodic status writes (HPA syncs, Argo CD
    refreshes, Tekton timers) cannot then race plan and apply; reactions to events still run."""
    sb.call(lambda s: s.clock.freeze())
    time.sleep(0.2)  # let work that was already due drain
    try:
        yield
    finally:
        sb.call(lambda s: s.clock.thaw())


@dataclass
class Env:
    sb: RunningSandbox
    conn: Connection
    checker: Checker
    executor: Executor
    audit: AuditLog

    def entries(self) -> list[dict]:
        return self.audit.entries()

    def act(self, plan, **kw):
        """Check, then run: what the UI does after the user confirms."""
        check = self.checker.check(plan)
        return check, self.executor.run(plan, check, **kw)

    def act_fresh(self, kind, name: str, build, ns: str = NS):
        """Plan from the object as it is now (clock stopped), check and run; returns the outcome."""
        with frozen(self.sb):
            plan = build(self.conn.get(path(kind, ns, name)))
            return self.act(plan)[1]


def make_env(sb: RunningSandbox, tmp_path: Path, context: str = "operator", *, read_only: bool = False,
             name: str = "audit.jsonl", **conn_kw) -> Env:
    conn = connect(load_kubeconfig([sb.kubeconfig]), context, **{**FAST, **conn_kw})
    audit = AuditLog(tmp_path / name)
    checker = Checker(conn, read_only=read_only)
    executor = Executor(conn, audit, context_name=context, cluster_user=context, read_only=read_only,
                        checker=checker, settle_seconds=3.0, poll_interval=0.2)
    return Env(sb, conn, checker, executor, audit)


class Recorder:
    """A before_request hook recording every request the sandbox receives (optionally slowing some)."""

    def __init__(self, delay: float = 0.0, slow=None) -> None:
        self.seen: list[tuple[str, str, dict]] = []
        self.delay = delay
        self.slow = slow or (lambda method, path, query: False)

    async def __call__(self, request) -> None:
        query = dict(request.query)
        self.seen.append((request.method, request.path, query))
        if self.delay and self.slow(request.method, request.path, query):
            await request.read()  # take the body now: the write lands even though its answer is lost
            await asyncio.sleep(self.delay)

    def writes(self) -> list[tuple[str, str, dict]]:
        """Requests that could change something: not GETs, not reviews, not dry runs."""
        return [(m, p, q) for m, p, q in self.seen if m not in ("GET", "HEAD") and "selfsubjectaccessreviews" not in p
                and q.get("dryRun") != "All"]


@pytest.fixture
def recorder(sb):
    rec = Recorder()
    sb.call(lambda s: setattr(s.hooks, "before_request", rec))
    yield rec
    sb.call(lambda s: setattr(s.hooks, "before_request", None))


def deployment_manifest(name: str, image: str, replicas: int = 1, **labels: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NS, "labels": {"app": name, **labels},
                         "annotations": {"kubernetes.io/change-cause": f"release {image}"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": image,
                                                           "resources": {"requests": {"cpu": "10m"}}}]}}}}


def settled(sb: RunningSandbox, key: str, name: str, ns: str = NS) -> dict:
    """Wait until the workload's rollout is complete and it has stopped changing; return it."""
    def done():
        d = sb.get(key, ns, name)
        if d is None:
            return None
        st, spec = d.get("status") or {}, d["spec"]
        n = spec.get("replicas", 1)
        gen_ok = str(st.get("observedGeneration", "")) == str(d["metadata"].get("generation")) or key == ROLLOUT_KEY
        if not gen_ok or st.get("updatedReplicas", 0) != n or st.get("availableReplicas", 0) != n:
            return None
        if st.get("replicas", 0) != n:
            return None
        return d
    first = wait_until(done, timeout=60, what=f"{name} settled")
    for _ in range(50):
        time.sleep(0.3)
        again = wait_until(done, timeout=60, what=f"{name} settled")
        if again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]:
            return again
        first = again
    raise AssertionError(f"{name} keeps changing")


def create_deployment(env: Env, sb: RunningSandbox, name: str, image: str = "registry.local/app:1.0",
                      replicas: int = 1) -> dict:
    env.conn.request("POST", path(DEPLOYMENTS, NS), body=deployment_manifest(name, image, replicas))
    settled(sb, DEPLOY_KEY, name)
    return env.conn.get(path(DEPLOYMENTS, NS, name))


def roll(env: Env, sb: RunningSandbox, name: str, image: str) -> dict:
    """Build revision history the way kubectl does (set image + change-cause), outside the audited path."""
    env.conn.request("PATCH", path(DEPLOYMENTS, NS, name), content_type="application/strategic-merge-patch+json",
                     body={"metadata": {"annotations": {"kubernetes.io/change-cause": f"release {image}"}},
                           "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}})
    settled(sb, DEPLOY_KEY, name)
    return env.conn.get(path(DEPLOYMENTS, NS, name))


def image_of(obj: dict) -> str:
    return obj["spec"]["template"]["spec"]["containers"][0]["image"]


def fresh(env: Env, kind, name: str, ns: str = NS) -> dict:
    return env.conn.get(path(kind, ns, name))


def only_entry(env: Env) -> dict:
    (entry,) = env.entries()
    return entry


# -- Deployment actions -------------------------------------------------------------------------


def test_set_image_and_promote_version(sb, tmp_path, recorder):
    env = make_env(sb, tmp_path)
    d = create_deployment(env, sb, "web-image")
    recorder.seen.clear()
    plan = planner.set_image(d, {"app": "registry.local/app:2.0"})
    check, out = env.act(plan)
    assert check.allowed and check.access[0][6] is True and isinstance(check.dry_run[0], dict)
    assert out.status == "applied", out
    assert out.message == "deployment.apps/web-image image updated"
    assert out.rv_before == d["metadata"]["resourceVersion"] != out.rv_after
    assert "spec.template.spec.containers[app].image: registry.local/app:1.0 -> registry.local/app:2.0" in out.changed
    live = sb.get(DEPLOY_KEY, NS, "web-image")
    assert image_of(live) == "registry.local/app:2.0"
    (patch,) = recorder.writes()
    assert patch[0] == "PATCH" and patch[2] == {"fieldManager": "almtui"}
    entry = only_entry(env)
    assert entry["outcome"] == "applied" and entry["action"] == "set-image"
    assert entry["target"] == {"kind": "Deployment", "apiVersion": "apps/v1", "namespace": NS, "name": "web-image"}
    assert entry["requests"][0]["body"]["metadata"]["resourceVersion"] == d["metadata"]["resourceVersion"]
    assert entry["resource_version_before"] == out.rv_before and entry["resource_version_after"] == out.rv_after
    assert entry["dry_run"][0]["ok"] is True and entry["cluster_user"] == "operator"
    assert entry["context"] == "operator" and entry["local_user"] and entry["requests_sent"] == 1

    # promote that version to the "next environment" (another workload of the same app)
    nxt = create_deployment(env, sb, "web-image-next", image="registry.local/app:1.0")
    source = settled(sb, DEPLOY_KEY, "web-image")
    plan = planner.promote_version(source, nxt)
    _, out = env.act(plan)
    assert out.status == "applied" and image_of(sb.get(DEPLOY_KEY, NS, "web-image-next")) == "registry.local/app:2.0"
    assert [e["action"] for e in env.entries()] == ["set-image", "promote-version"]


def test_pause_resume_restart(sb, tmp_path):
    env = make_env(sb, tmp_path)
    d = create_deployment(env, sb, "web-pause")
    _, out = env.act(planner.pause(d))
    assert out.status == "applied" and sb.get(DEPLOY_KEY, NS, "web-pause")["spec"].get("paused") is True

    paused = fresh(env, DEPLOYMENTS, "web-pause")
    with pytest.raises(ActionError, match="can't restart paused deployment") as e:
        planner.restart(paused)
    refused = env.executor.refuse(e.value)
    assert refused.status == "refused"

    _, out = env.act(planner.resume(fresh(env, DEPLOYMENTS, "web-pause")))
    assert out.status == "applied" and not sb.get(DEPLOY_KEY, NS, "web-pause")["spec"].get("paused")

    settled(sb, DEPLOY_KEY, "web-pause")
    _, out = env.act(planner.restart(fresh(env, DEPLOYMENTS, "web-pause")))
    assert out.status == "applied"
    ann = sb.get(DEPLOY_KEY, NS, "web-pause")["spec"]["template"]["metadata"]["annotations"]
    assert planner.RESTARTED_AT in ann
    assert [(x["action"], x["outcome"]) for x in env.entries()] == [
        ("pause", "applied"), ("restart", "refused"), ("resume", "applied"), ("restart", "applied")]
    assert env.entries()[1]["message"] == "can't restart paused deployment (run rollout resume first)"


def test_scale_and_a_negative_count_sends_nothing(sb, tmp_path, recorder):
    env = make_env(sb, tmp_path)
    d = create_deployment(env, sb, "web-scale")
    recorder.seen.clear()
    _, out = env.act(planner.scale(d, 2))
    assert out.status == "applied" and out.message == "deployment.apps/web-scale scaled"
    assert sb.get(DEPLOY_KEY, NS, "web-scale")["spec"]["replicas"] == 2
    assert recorder.writes()[0][1].endswith("/deployments/web-scale/scale")
    before = len(recorder.seen)
    with pytest.raises(ActionError, match="must be greater than or equal to 0"):
        planner.scale(fresh(env, DEPLOYMENTS, "web-scale"), -1)
    assert len(recorder.seen) == before + 1  # only the GET above: nothing was sent for the refusal
    assert [e["outcome"] for e in env.entries()] == ["applied"]


def test_undo_previous_to_revision_and_skipped(sb, tmp_path):
    env = make_env(sb, tmp_path)
    create_deployment(env, sb, "web-undo", image="registry.local/app:1.0")
    roll(env, sb, "web-undo", "registry.local/app:1.1")
    d = roll(env, sb, "web-undo", "registry.local/app:1.2")

    def rss():
        return env.conn.get(path(REPLICASETS, NS), {"labelSelector": "app=web-undo"})["items"]

    revs = planner.revisions(d, rss())
    assert [(r.revision, r.images[0], r.change_cause, r.current) for r in revs] == [
        (1, "registry.local/app:1.0", "release registry.local/app:1.0", False),
        (2, "registry.local/app:1.1", "release registry.local/app:1.1", False),
        (3, "registry.local/app:1.2", "release registry.local/app:1.2", True)]

    _, out = env.act(planner.undo(d, rss()))  # previous: revision 2
    assert out.status == "applied" and out.message == "deployment.apps/web-undo rolled back"
    d = settled(sb, DEPLOY_KEY, "web-undo")
    assert image_of(d) == "registry.local/app:1.1"
    assert d["metadata"]["annotations"]["kubernetes.io/change-cause"] == "release registry.local/app:1.1"
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4"  # re-promoted as max+1

    d = fresh(env, DEPLOYMENTS, "web-undo")
    _, out = env.act(planner.undo(d, rss(), to_revision=1))
    assert out.status == "applied"
    d = settled(sb, DEPLOY_KEY, "web-undo")
    assert image_of(d) == "registry.local/app:1.0"

    d = fresh(env, DEPLOYMENTS, "web-undo")
    current = d["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
    plan = planner.undo(d, rss(), to_revision=int(current))
    _, out = env.act(plan)
    assert out.status == "skipped" and out.message.startswith("skipped rollback (current template already matches")
    assert sb.get(DEPLOY_KEY, NS, "web-undo")["metadata"]["resourceVersion"] == d["metadata"]["resourceVersion"]
    assert [(e["action"], e["outcome"]) for e in env.entries()] == [
        ("undo", "applied"), ("undo", "applied"), ("undo", "skipped")]
    assert env.entries()[0]["requests"][0]["body"][0] == {
        "op": "test", "path": "/metadata/resourceVersion", "value": env.entries()[0]["resource_version_before"]}


def test_hpa_policy_change_and_validation_errors(sb, tmp_path, recorder):
    env = make_env(sb, tmp_path)
    create_deployment(env, sb, "web-hpa", replicas=2)
    recorder.seen.clear()
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "web-hpa", "namespace": NS},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web-hpa"},
                    "minReplicas": 2, "maxReplicas": 5,
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                        "type": "Utilization", "averageUtilization": 60}}}]}}
    env.conn.request("POST", path(HPAS, NS), body=hpa)
    current = fresh(env, HPAS, "web-hpa")
    for kwargs in ({"min_replicas": 0}, {"max_replicas": 1}, {"scale_down": {"stabilizationWindowSeconds": 4000}},
                   {"scale_up": {"policies": [{"type": "Pods", "value": 2, "periodSeconds": 1801}]}},
                   {"scale_down": {"selectPolicy": "Sometimes"}}, {"target_utilization": 0}):
        with pytest.raises(ActionError) as e:
            planner.hpa_update(current, **kwargs)
        assert e.value.field and e.value.field in e.value.message
    assert recorder.writes() == [("POST", f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers",
                                  {})]  # the create above; no request for any refusal

    out = env.act_fresh(HPAS, "web-hpa", lambda h: planner.hpa_update(
        h, min_replicas=1, max_replicas=6, target_utilization=75,
        scale_down={"stabilizationWindowSeconds": 120,
                    "policies": [{"type": "Percent", "value": 50, "periodSeconds": 30}]}))
    assert out.status == "applied", out
    spec = sb.get("autoscaling/horizontalpodautoscalers", NS, "web-hpa")["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (1, 6)
    assert spec["metrics"][0]["resource"]["target"]["averageUtilization"] == 75
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 120
    assert spec["behavior"]["scaleDown"]["policies"] == [{"type": "Percent", "value": 50, "periodSeconds": 30}]
    entry = only_entry(env)
    assert entry["action"] == "hpa-update" and entry["outcome"] == "applied"


def test_a_failed_dry_run_refuses_with_the_servers_message_and_can_be_overridden(sb, tmp_path, recorder):
    env = make_env(sb, tmp_path)
    d = create_deployment(env, sb, "web-invalid")
    recorder.seen.clear()
    plan = planner.set_image(d, {"app": ""})
    check = env.checker.check(plan)
    assert not check.allowed and check.overridable
    assert "spec.template.spec.containers[0].image: Required value" in check.refusals[0]
    out = env.executor.run(plan, check)
    assert out.status == "refused" and "Required value" in out.message
    assert recorder.writes() == []
    out = env.executor.run(plan, check, override_errors=True)  # the user insists: the server still says no
    assert out.status == "failed" and "Required value" in out.message and out.error.startswith("422 Invalid")
    first, second = env.entries()
    assert first["outcome"] == "refused" and first["dry_run"][0]["ok"] is False and first["overrides"] == []
    assert second["outcome"] == "failed" and second["overrides"] == check.refusals
    out = env.executor.run(planner.pause(fresh(env, DEPLOYMENTS, "web-invalid")), confirmed=False)
    assert out.status == "cancelled" and env.entries()[-1]["outcome"] == "cancelled"
    assert image_of(sb.get(DEPLOY_KEY, NS, "web-invalid")) == "registry.local/app:1.0"


# -- refusals: read-only, RBAC, stale --------------------------------------------------------------


def _pipeline(sb) -> dict:
    pipelines = sb.list("tekton.dev/pipelines", "ci")
    assert pipelines, "the edge-retail scenario has Tekton Pipelines in ci"
    return pipelines[0]


def _pipelinerun_manifest(pipeline: str, name: str | None = None, status: str | None = None) -> dict:
    md = {"name": name} if name else {"generateName": f"{pipeline}-run-"}
    spec: dict = {"pipelineRef": {"name": pipeline}}
    if status:
        spec["status"] = status
    return {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": {**md, "namespace": "ci"},
            "spec": spec}


def _apps(sb) -> tuple[dict | None, dict | None]:
    apps = sb.list("argoproj.io/applications")
    manual = next((a for a in apps if not (a["spec"].get("syncPolicy") or {}).get("automated")
                   and (a.get("status") or {}).get("history")), None)
    auto = next((a for a in apps if (a["spec"].get("syncPolicy") or {}).get("automated")), None)
    return manual, auto


def test_read_only_refuses_every_action_kind(sb, tmp_path, recorder):
    op = make_env(sb, tmp_path, name="setup.jsonl")
    d = create_deployment(op, sb, "web-ro")
    d = roll(op, sb, "web-ro", "registry.local/app:1.1")
    rss = op.conn.get(path(REPLICASETS, NS), {"labelSelector": "app=web-ro"})["items"]
    # the scenario's Rollouts, made to look mid-update (nothing is sent in read-only mode anyway)
    ro = op.conn.get(path(ROLLOUTS, "prod", "checkout"))
    ro["status"].update(currentPodHash="new", stableRS="old", currentStepIndex=1,
                        pauseConditions=[{"reason": "CanaryPauseStep", "startTime": "2026-01-01T00:00:00Z"}])
    bluegreen = op.conn.get(path(ROLLOUTS, "prod", "inventory"))
    bluegreen["status"]["pauseConditions"] = [{"reason": "BlueGreenPause", "startTime": "2026-01-01T00:00:00Z"}]
    hpa = op.conn.get(path(HPAS, "prod", "storefront"))
    pipeline = _pipeline(sb)["metadata"]["name"]
    run = op.conn.request("POST", path(PIPELINERUNS, "ci"),
                          body=_pipelinerun_manifest(pipeline, status="PipelineRunPending"))
    manual, _ = _apps(sb)
    assert manual is not None, "the edge-retail scenario has a manually synced Argo CD Application"
    app = op.conn.get(path(APPLICATIONS, "argocd", manual["metadata"]["name"]))
    bg_promote = planner.rollout_promote_bluegreen(bluegreen)
    plans = {
        planner.set_image: planner.set_image(d, {"app": "registry.local/app:9"}),
        planner.set_requests: planner.set_requests(d, {"app": {"cpu": "30m", "memory": "48Mi"}}),
        planner.promote_version: planner.promote_version(d, {**copy.deepcopy(d), "spec": {
            **d["spec"], "template": {**d["spec"]["template"], "spec": {"containers": [
                {"name": "app", "image": "registry.local/app:0"}]}}}}),
        planner.pause: planner.pause(d),
        planner.resume: planner.resume({**d, "spec": {**d["spec"], "paused": True}}),
        planner.restart: planner.restart(d),
        planner.scale: planner.scale(d, 3),
        planner.undo: planner.undo(d, rss),
        planner.rollout_promote: planner.rollout_promote(ro),
        planner.rollout_promote_full: planner.rollout_promote_full(ro),
        planner.rollout_promote_bluegreen: bg_promote,
        planner.rollout_abort: planner.rollout_abort(ro),
        planner.rollout_retry: planner.rollout_retry(ro),
        planner.hpa_update: planner.hpa_update(hpa, max_replicas=hpa["spec"]["maxReplicas"] + 1),
        planner.pipelinerun_rerun: planner.pipelinerun_rerun(run),
        planner.pipelinerun_cancel: planner.pipelinerun_cancel(run),
        planner.app_sync: planner.app_sync(app),
        planner.app_rollback: planner.app_rollback(app, manual["status"]["history"][0]["id"]),
    }
    assert set(plans) == set(planner.PLANNERS)  # every planner function is covered
    assert [f.__name__ for f, p in plans.items() if not p.requests] == []
    env = make_env(sb, tmp_path, read_only=True)
    recorder.seen.clear()
    for plan in plans.values():
        check = env.checker.check(plan)
        assert not check.allowed and check.refusals == [
            "read-only mode: almtui was started read-only, so it sends no changes"]
        forged = copy.deepcopy(check)
        forged.allowed, forged.refusals = True, []  # even a caller that forged a passing check is refused
        assert env.executor.run(plan, forged).status == "refused"
        assert env.executor.run(plan).status == "refused"
    assert recorder.seen == []  # not even a review or a dry run
    assert env.checker.can("patch", "apps", "deployments", "", NS, "web-ro") == (
        False, "read-only mode: almtui was started read-only, so it sends no changes")
    entries = env.entries()
    assert len(entries) == 2 * len(plans) and {e["outcome"] for e in entries} == {"refused"}
    assert sb.get(DEPLOY_KEY, NS, "web-ro")["metadata"]["resourceVersion"] == d["metadata"]["resourceVersion"]


def test_viewer_is_refused_by_access_review_before_any_write(sb, tmp_path, recorder):
    op = make_env(sb, tmp_path, name="setup.jsonl")
    d = create_deployment(op, sb, "web-viewer")
    env = make_env(sb, tmp_path, "viewer")
    recorder.seen.clear()
    plan = planner.scale(d, 3)
    check = env.checker.check(plan)
    assert not check.allowed and not check.overridable
    assert check.access == [("patch", "apps", "deployments", "scale", NS, "web-viewer", False, "")]
    assert "not permitted to patch deployments.apps/scale 'web-viewer'" in check.refusals[0]
    assert env.executor.run(plan, check).status == "refused"
    out = env.executor.run(plan)  # without a check the executor runs the checks itself
    assert out.status == "refused" and "SelfSubjectAccessReview" in out.message
    assert recorder.writes() == [] and check.dry_run == []
    reviews = [r for r in recorder.seen if "selfsubjectaccessreviews" in r[1]]
    assert len(reviews) == 1  # the second check used the cached answer
    assert [e["outcome"] for e in env.entries()] == ["refused", "refused"]
    assert sb.get(DEPLOY_KEY, NS, "web-viewer")["spec"]["replicas"] == 1
    assert op.checker.can("patch", "apps", "deployments", "scale", NS, "web-viewer")[0] is True
    assert env.checker.can("get", "apps", "deployments", "", NS, "web-viewer")[0] is True


def test_a_refused_access_review_counts_as_not_allowed(sb, tmp_path):
    env = make_env(sb, tmp_path)

    async def forbid_reviews(request):
        if "selfsubjectaccessreviews" in request.path:
            raise sb_errors.ApiError(403, "Forbidden", 'selfsubjectaccessreviews.authorization.k8s.io is forbidden: '
                                     'User "operator" cannot create resource "selfsubjectaccessreviews"')
    sb.call(lambda s: setattr(s.hooks, "before_request", forbid_reviews))
    try:
        allowed, reason = env.checker.can("patch", "apps", "deployments", "", NS, "anything")
        assert not allowed and reason.startswith("cannot check permissions: selfsubjectaccessreviews")
    finally:
        sb.call(lambda s: setattr(s.hooks, "before_request", None))
    assert env.checker.can("patch", "apps", "deployments", "", NS, "anything")[0] is True  # errors are not cached


def test_a_stale_cluster_refuses_and_nothing_is_queued(sb, tmp_path, recorder):
    env = make_env(sb, tmp_path)
    d = create_deployment(env, sb, "web-stale")
    tracker = FreshnessTracker()
    tracker.request_ok()
    tracker.stream_broken("apps/deployments", "watch: connection reset")
    stale_checker = Checker(env.conn, read_only=False, freshness=tracker)
    recorder.seen.clear()
    plan = planner.scale(d, 2)
    check = stale_checker.check(plan)
    assert not check.allowed and "the cluster is stale" in check.refusals[0] and "never queues" in check.refusals[0]
    assert env.executor.run(plan, check).status == "refused"
    # the executor also looks at the connection's own freshness, whatever check it is given
    good = env.checker.check(plan)
    assert good.allowed
    env.conn.freshness.stream_broken("apps/deployments", "watch: connection reset")
    try:
        out = env.executor.run(plan, good)
    finally:
        env.conn.freshness.stream_ok("apps/deployments")
    assert out.status == "refused" and "stale" in out.message
    assert recorder.writes() == []
    assert [e["outcome"] for e in env.entries()] == ["refused", "refused"]
    assert sb.get(DEPLOY_KEY, NS, "web-stale")["spec"]["replicas"] == 1


# -- conflicts and lost answers -----------------------------------------------------------------


def test_conflict_reports_what_changed_and_applies_nothing(sb, tmp_path):
    env = make_env(sb, tmp_path)
    d = create_deployment(env, sb, "web-conflict")
    plan = planner.set_image(d, {"app": "registry.local/app:2.0"})
    check = env.checker.check(plan)
    assert check.allowed
    # someone else scales it between plan and apply
    env.conn.request("PATCH", path(DEPLOYMENTS, NS, "web-conflict", "scale"), body={"spec": {"replicas": 3}},
                     content_type="application/merge-patch+json")
    out = env.executor.run(plan, check)
    assert out.status == "conflict", out
    assert "spec.replicas: 1 -> 3" in out.changed
    assert any(c.startswith("metadata.resourceVersion: ") for c in out.changed)
    assert out.error.startswith("409 Conflict") and "nothing was applied" in out.message
    assert image_of(sb.get(DEPLOY_KEY, NS, "web-conflict")) == "registry.local/app:1.0"
    entry = only_entry(env)
    assert entry["outcome"] == "conflict" and "spec.replicas: 1 -> 3" in entry["changed"]


def test_a_failed_resource_version_test_in_a_json_patch_is_a_conflict(sb, tmp_path):
    env = make_env(sb, tmp_path)
    create_deployment(env, sb, "web-jsonpatch")
    d = roll(env, sb, "web-jsonpatch", "registry.local/app:1.1")
    rss = env.conn.get(path(REPLICASETS, NS), {"labelSelector": "app=web-jsonpatch"})["items"]
    plan = planner.undo(d, rss)
    check = env.checker.check(plan)
    assert check.allowed
    env.conn.request("PATCH", path(DEPLOYMENTS, NS, "web-jsonpatch"), content_type="application/merge-patch+json",
                     body={"metadata": {"labels": {"touched": "yes"}}})
    # the server answers a failed test with 422 (upstream hides the text); the executor re-reads
    with pytest.raises(ApiError) as e:
        env.conn.request("PATCH", path(DEPLOYMENTS, NS, "web-jsonpatch"), body=plan.requests[0].body[:1],
                         content_type="application/json-patch+json", query={"dryRun": "All"})
    assert (e.value.status, e.value.reason) == (422, "Invalid")
    out = env.executor.run(plan, check)
    assert out.status == "conflict" and "metadata.labels.touched: <none> -> yes" in out.changed
    assert image_of(sb.get(DEPLOY_KEY, NS, "web-jsonpatch")) == "registry.local/app:1.1"
    assert only_entry(env)["outcome"] == "conflict"


def test_a_conflict_caused_by_status_alone_is_sent_again_on_the_new_version(sb, tmp_path):
    """Controllers write status all through a rollout, the very time one rolls back: a plan not made
    from the status is sent again on the new resourceVersion, once per move, and audited as such."""
    env = make_env(sb, tmp_path)
    create_deployment(env, sb, "web-status-moved")
    d = roll(env, sb, "web-status-moved", "registry.local/app:1.1")
    rss = env.conn.get(path(REPLICASETS, NS), {"labelSelector": "app=web-status-moved"})["items"]
    plan = planner.undo(d, rss)
    assert not plan.status_read
    check = env.checker.check(plan)
    assert check.allowed
    moved = env.conn.request("PATCH", path(DEPLOYMENTS, NS, "web-status-moved", "status"),
                             content_type="application/merge-patch+json",
                             body={"status": {"conditions": [{"type": "Available", "status": "True",
                                                              "reason": "MinimumReplicasAvailable"}]}})
    now = moved["metadata"]["resourceVersion"]
    assert now != plan.precondition_rv
    out = env.executor.run(plan, check)
    assert out.status == "applied", out
    assert image_of(sb.get(DEPLOY_KEY, NS, "web-status-moved")) == "registry.local/app:1.0"
    entry = only_entry(env)  # the sandbox's controller may write status again meanwhile: one resend per move
    resent = entry["resent_on"]
    assert entry["outcome"] == "applied" and resent and int(resent[0]) >= int(now)
    assert entry["requests_sent"] == 1 + len(resent)
    assert f"sent again on resourceVersion {resent[-1]}: only the status had changed" in out.message


def test_a_plan_made_from_the_status_is_never_sent_again(sb, tmp_path):
    env = make_env(sb, tmp_path)
    d = create_deployment(env, sb, "web-status-read")
    plan = dataclasses.replace(planner.set_image(d, {"app": "registry.local/app:2.0"}), status_read=True)
    check = env.checker.check(plan)
    env.conn.request("PATCH", path(DEPLOYMENTS, NS, "web-status-read", "status"),
                     content_type="application/merge-patch+json", body={"status": {"observedGeneration": 7}})
    out = env.executor.run(plan, check)
    assert out.status == "conflict", out
    assert image_of(sb.get(DEPLOY_KEY, NS, "web-status-read")) == "registry.local/app:1.0"
    assert only_entry(env)["resent_on"] == []


def test_the_dry_run_follows_the_apply_rule_for_conflicts(sb, tmp_path):
    """A plan is made from the cached object, which trails the server, and controllers write status all
    the time: the dry run sends again exactly what the apply would send again, and refuses the rest."""
    env = make_env(sb, tmp_path)
    d = create_deployment(env, sb, "web-dry-moved")
    plan = planner.set_image(d, {"app": "registry.local/app:2.0"})
    moved = env.conn.request("PATCH", path(DEPLOYMENTS, NS, "web-dry-moved", "status"),
                             content_type="application/merge-patch+json", body={"status": {"observedGeneration": 9}})
    check = env.checker.check(plan)
    assert check.allowed, check.refusals
    assert isinstance(check.dry_run[0], dict) and image_of(check.dry_run[0]) == "registry.local/app:2.0"
    note = next(w for w in check.warnings if "changed since the plan was made" in w)
    assert f"{plan.precondition_rv} -> " in note and "sent on the newer version" in note
    assert int(note.split(" -> ")[1].split(")")[0]) >= int(moved["metadata"]["resourceVersion"])
    assert image_of(sb.get(DEPLOY_KEY, NS, "web-dry-moved")) == "registry.local/app:1.0"  # a dry run writes nothing
    assert env.executor.run(plan, check).status == "applied"

    # a plan made from the status is stale once the status moves: refused, never overridable
    d = fresh(env, DEPLOYMENTS, "web-dry-moved")
    plan = dataclasses.replace(planner.set_image(d, {"app": "registry.local/app:3.0"}), status_read=True)
    env.conn.request("PATCH", path(DEPLOYMENTS, NS, "web-dry-moved", "status"),
                     content_type="application/merge-patch+json", body={"status": {"observedGeneration": 11}})
    check = env.checker.check(plan)
    assert not check.allowed and not check.overridable
    assert "plan again" in check.refusals[0]

    # a change of what the plan was made from (the spec) is refused the same way
    d = fresh(env, DEPLOYMENTS, "web-dry-moved")
    plan = planner.set_image(d, {"app": "registry.local/app:3.0"})
    env.conn.request("PATCH", path(DEPLOYMENTS, NS, "web-dry-moved", "scale"), body={"spec": {"replicas": 2}},
                     content_type="application/merge-patch+json")
    check = env.checker.check(plan)
    assert not check.allowed and not check.overridable
    assert "plan again" in check.refusals[0] and not check.warnings
    assert image_of(sb.get(DEPLOY_KEY, NS, "web-dry-moved")) == "registry.local/app:2.0"


def _slow_writes(method: str, path_: str, query: dict) -> bool:
    return method in ("PATCH", "PUT", "POST") and query.get("dryRun") != "All" and "selfsubject" not in path_


def test_lost_answer_reread_finds_the_write_applied_and_nothing_is_resent(sb, tmp_path):
    env = make_env(sb, tmp_path)
    d = create_deployment(env, sb, "web-timeout")
    plan = planner.set_image(d, {"app": "registry.local/app:2.0"})
    check = env.checker.check(plan)
    slow = make_env(sb, tmp_path, name="slow.jsonl", timeout=0.5)  # answers time out after 0.5 s
    rec = Recorder(delay=1.0, slow=_slow_writes)  # the write lands after 1 s, its answer is lost
    sb.call(lambda s: setattr(s.hooks, "before_request", rec))
    try:
        start = time.monotonic()
        out = slow.executor.run(plan, check)
        elapsed = time.monotonic() - start
    finally:
        sb.call(lambda s: setattr(s.hooks, "before_request", None))
    assert out.status == "applied", out
    assert elapsed < 3.5
    assert image_of(sb.get(DEPLOY_KEY, NS, "web-timeout")) == "registry.local/app:2.0"
    assert len([w for w in rec.writes() if w[0] == "PATCH"]) == 1  # re-read, never re-sent
    assert sum(1 for m, p, _ in rec.seen if m == "GET" and p.endswith("/web-timeout")) >= 1
    (entry,) = slow.entries()
    assert entry["outcome"] == "applied" and entry["requests_sent"] == 1


def test_lost_answer_still_in_flight_is_unknown_and_lands_at_most_once(sb, tmp_path):
    env = make_env(sb, tmp_path)
    d = create_deployment(env, sb, "web-inflight")
    plan = planner.scale(d, 2)
    check = env.checker.check(plan)
    slow = make_env(sb, tmp_path, name="slow.jsonl", timeout=0.5)
    slow.executor.settle_seconds = 1.0
    rec = Recorder(delay=2.5, slow=_slow_writes)
    sb.call(lambda s: setattr(s.hooks, "before_request", rec))
    try:
        out = slow.executor.run(plan, check)
        assert out.status == "unknown", out
        assert "has not taken effect yet" in out.message and "at most once" in out.message
        assert sb.get(DEPLOY_KEY, NS, "web-inflight")["spec"]["replicas"] == 1
        # the request was still in flight: it lands later, once
        wait_until(lambda: sb.get(DEPLOY_KEY, NS, "web-inflight")["spec"]["replicas"] == 2, timeout=10)
    finally:
        sb.call(lambda s: setattr(s.hooks, "before_request", None))
    assert len(rec.writes()) == 1
    (entry,) = slow.entries()
    assert entry["outcome"] == "unknown"


def test_lost_answer_of_a_create_is_found_by_its_label_not_created_twice(sb, tmp_path):
    env = make_env(sb, tmp_path)
    pipeline = _pipeline(sb)["metadata"]["name"]
    old = env.conn.request("POST", path(PIPELINERUNS, "ci"),
                           body=_pipelinerun_manifest(pipeline, "almtui-rerun-src", "PipelineRunPending"))
    plan = planner.pipelinerun_rerun(old, prefix_name="almtui-lost")
    check = env.checker.check(plan)
    slow = make_env(sb, tmp_path, name="slow.jsonl", timeout=0.5)
    rec = Recorder(delay=1.0, slow=_slow_writes)
    sb.call(lambda s: setattr(s.hooks, "before_request", rec))
    try:
        out = slow.executor.run(plan, check)
    finally:
        sb.call(lambda s: setattr(s.hooks, "before_request", None))
    assert out.status == "applied", out
    created = [r for r in sb.list("tekton.dev/pipelineruns", "ci") if r["metadata"]["name"].startswith("almtui-lost-")]
    assert len(created) == 1 and out.message == f"PipelineRun started: {created[0]['metadata']['name']}"
    assert [m for m, _, _ in rec.writes()] == ["POST"]
    assert slow.entries()[0]["outcome"] == "applied"


# -- Argo Rollouts ------------------------------------------------------------------------------


def rollout_manifest(name: str, image: str) -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                     "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": image,
                                                           "resources": {"requests": {"cpu": "10m"}}}]}}}}


def rollout_state(sb: RunningSandbox, name: str) -> dict:
    return sb.get(ROLLOUT_KEY, NS, name)


def wait_paused_at_step(sb: RunningSandbox, name: str) -> dict:
    def paused():
        ro = rollout_state(sb, name)
        st = ro.get("status") or {}
        return ro if st.get("pauseConditions") and st.get("currentStepIndex") == 1 else None
    wait_until(paused, timeout=60, what=f"{name} paused at its pause step")
    time.sleep(0.5)
    return wait_until(paused, timeout=60)


def wait_healthy(sb: RunningSandbox, name: str, image: str) -> dict:
    def healthy():
        ro = rollout_state(sb, name)
        st = ro.get("status") or {}
        ok = (st.get("stableRS") and st.get("stableRS") == st.get("currentPodHash") and st.get("phase") == "Healthy"
              and image_of(ro) == image)
        return ro if ok else None
    return wait_until(healthy, timeout=60, what=f"{name} healthy on {image}")


def test_rollout_set_image_promote_abort_retry_full_and_undo(sb, tmp_path):
    env = make_env(sb, tmp_path)
    env.conn.request("POST", path(ROLLOUTS, NS), body=rollout_manifest("ro-canary", "registry.local/app:1.0"))
    wait_healthy(sb, "ro-canary", "registry.local/app:1.0")

    # set image: a PUT of the whole Rollout; the canary stops at its pause step
    out = env.act_fresh(ROLLOUTS, "ro-canary", lambda r: planner.set_image(r, {"app": "registry.local/app:2.0"}))
    assert out.status == "applied", out
    wait_paused_at_step(sb, "ro-canary")

    # two consoles promote from the same object: the second cannot skip a step
    with frozen(sb):
        obj = fresh(env, ROLLOUTS, "ro-canary")
        first, second = planner.rollout_promote(obj), planner.rollout_promote(obj)
        check = env.checker.check(first)
        assert check.allowed, check.refusals
        assert env.executor.run(first, check).status == "applied"
        out = env.executor.run(second, check)
    assert out.status == "conflict" and "status.pauseConditions" in " ".join(out.changed)
    wait_healthy(sb, "ro-canary", "registry.local/app:2.0")

    # abort and retry
    env.act_fresh(ROLLOUTS, "ro-canary", lambda r: planner.set_image(r, {"app": "registry.local/app:3.0"}))
    wait_paused_at_step(sb, "ro-canary")
    out = env.act_fresh(ROLLOUTS, "ro-canary", planner.rollout_abort)
    assert out.status == "applied"
    wait_until(lambda: (rollout_state(sb, "ro-canary").get("status") or {}).get("abort") is True, timeout=30)
    out = env.act_fresh(ROLLOUTS, "ro-canary", planner.rollout_retry)
    assert out.status == "applied"
    wait_until(lambda: not (rollout_state(sb, "ro-canary").get("status") or {}).get("abort"), timeout=30)
    wait_paused_at_step(sb, "ro-canary")

    # promote --full skips the rest
    out = env.act_fresh(ROLLOUTS, "ro-canary", planner.rollout_promote_full)
    assert out.status == "applied"
    wait_healthy(sb, "ro-canary", "registry.local/app:3.0")

    # undo: back to 2.0 (the plugin's JSON patch of /spec/template)
    rss = env.conn.get(path(REPLICASETS, NS), {"labelSelector": "app=ro-canary"})["items"]
    out = env.act_fresh(ROLLOUTS, "ro-canary", lambda r: planner.undo(r, rss))
    assert out.status == "applied", out
    assert image_of(rollout_state(sb, "ro-canary")) == "registry.local/app:2.0"

    # pause / resume / restart (2.0 is not the stable version: the canary steps run again)
    wait_paused_at_step(sb, "ro-canary")
    out = env.act_fresh(ROLLOUTS, "ro-canary", planner.pause)
    assert out.status == "applied" and rollout_state(sb, "ro-canary")["spec"]["paused"] is True
    out = env.act_fresh(ROLLOUTS, "ro-canary", planner.resume)
    assert out.status == "applied" and not rollout_state(sb, "ro-canary")["spec"].get("paused")
    out = env.act_fresh(ROLLOUTS, "ro-canary", planner.restart)
    assert out.status == "applied" and rollout_state(sb, "ro-canary")["spec"]["restartAt"]
    assert [(e["action"], e["outcome"]) for e in env.entries()] == [
        ("set-image", "applied"), ("promote", "applied"), ("promote", "conflict"), ("set-image", "applied"),
        ("abort", "applied"), ("retry", "applied"), ("promote-full", "applied"), ("undo", "applied"),
        ("pause", "applied"), ("resume", "applied"), ("restart", "applied")]


def test_bluegreen_promote(sb, tmp_path):
    env = make_env(sb, tmp_path)
    for svc in ("bg-active", "bg-preview"):
        env.conn.request("POST", f"/api/v1/namespaces/{NS}/services", body={
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": svc, "namespace": NS},
            "spec": {"selector": {"app": "ro-bg"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    manifest = rollout_manifest("ro-bg", "registry.local/app:1.0")
    manifest["spec"]["strategy"] = {"blueGreen": {"activeService": "bg-active", "previewService": "bg-preview",
                                                  "autoPromotionEnabled": False}}
    env.conn.request("POST", path(ROLLOUTS, NS), body=manifest)
    wait_healthy(sb, "ro-bg", "registry.local/app:1.0")
    env.conn.request("PATCH", path(ROLLOUTS, NS, "ro-bg"), content_type="application/merge-patch+json",
                     body={"spec": {"template": {"spec": {"containers": [
                         {"name": "app", "image": "registry.local/app:2.0"}]}}}})

    def waiting():
        ro = rollout_state(sb, "ro-bg")
        return ro if (ro.get("status") or {}).get("pauseConditions") else None
    ro = wait_until(waiting, timeout=60, what="the preview waiting for promotion")
    time.sleep(0.5)
    with frozen(sb):
        ro = fresh(env, ROLLOUTS, "ro-bg")
        preview = ro["status"]["currentPodHash"]
        assert ro["status"]["blueGreen"]["activeSelector"] != preview
        plan = planner.rollout_promote_bluegreen(ro)
        assert plan.requests[0].body["status"] == {"pauseConditions": None}
        _, out = env.act(plan)
    assert out.status == "applied", out
    wait_until(lambda: (rollout_state(sb, "ro-bg")["status"].get("blueGreen") or {}).get("activeSelector")
               == preview, timeout=60, what="the preview became active")
    assert only_entry(env)["outcome"] == "applied"


# -- Tekton -------------------------------------------------------------------------------------


def test_pipelinerun_cancel_and_rerun(sb, tmp_path):
    env = make_env(sb, tmp_path)
    pipeline = _pipeline(sb)["metadata"]["name"]
    # Created pending, so it is unfinished (and has spec.status: see the report about `replace`).
    env.conn.request("POST", path(PIPELINERUNS, "ci"),
                     body=_pipelinerun_manifest(pipeline, "almtui-cancel-me", "PipelineRunPending"))
    wait_until(lambda: fresh(env, PIPELINERUNS, "almtui-cancel-me", "ci").get("status"), timeout=30)
    out = env.act_fresh(PIPELINERUNS, "almtui-cancel-me", planner.pipelinerun_cancel, ns="ci")
    assert out.status == "applied" and out.message == "PipelineRun cancelled: almtui-cancel-me"
    done = wait_until(lambda: (r := sb.get("tekton.dev/pipelineruns", "ci", "almtui-cancel-me"))["status"]
                      ["conditions"][0]["status"] == "False" and r, timeout=30)
    assert done["spec"]["status"] == "Cancelled" and done["status"]["conditions"][0]["reason"] == "Cancelled"
    finished = fresh(env, PIPELINERUNS, "almtui-cancel-me", "ci")
    with pytest.raises(ActionError, match="PipelineRun has already finished execution") as e:
        planner.pipelinerun_cancel(finished)
    env.executor.refuse(e.value)

    before = {r["metadata"]["name"] for r in sb.list("tekton.dev/pipelineruns", "ci")}
    out = env.act_fresh(PIPELINERUNS, "almtui-cancel-me", planner.pipelinerun_rerun, ns="ci")
    assert out.status == "applied", out
    new = {r["metadata"]["name"] for r in sb.list("tekton.dev/pipelineruns", "ci")} - before
    (name,) = new
    assert name.startswith("almtui-cancel-me-") and out.message == f"PipelineRun started: {name}"
    created = sb.get("tekton.dev/pipelineruns", "ci", name)
    assert created["spec"]["pipelineRef"] == {"name": pipeline} and "status" not in created["spec"]
    assert [(e["action"], e["outcome"]) for e in env.entries()] == [
        ("cancel", "applied"), ("cancel", "refused"), ("rerun", "applied")]
    assert env.entries()[2]["changed"] == [f"created PipelineRun ci/{name}"]
    assert fresh(env, PIPELINES, pipeline, "ci")["metadata"]["name"] == pipeline


# -- Argo CD ------------------------------------------------------------------------------------


def test_argocd_sync_rollback_and_gitops_warning(sb, tmp_path):
    env = make_env(sb, tmp_path)
    manual, auto = _apps(sb)
    assert manual is not None and auto is not None, "edge-retail has a manual and an auto-synced Argo CD app"
    auto_app = env.conn.get(path(APPLICATIONS, "argocd", auto["metadata"]["name"]))
    with pytest.raises(ActionError, match=r"^rollback cannot be initiated when auto-sync is enabled$") as e:
        planner.app_rollback(auto_app, 0)
    env.executor.refuse(e.value)
    # a workload the auto-synced app manages: warned that GitOps will revert a direct change
    res = next(iter(auto_app["status"].get("resources") or ()), None)
    if res is not None and res["kind"] == "Deployment":
        workload = env.conn.get(path(DEPLOYMENTS, res["namespace"], res["name"]))
        warning = planner.pause(workload, apps=[auto_app]).warnings
        assert warning == [f"managed by Argo CD app {auto_app['metadata']['name']} with auto-sync: GitOps will "
                           "revert this change"]

    name = manual["metadata"]["name"]
    with frozen(sb):
        app = env.conn.get(path(APPLICATIONS, "argocd", name))
        history_before = len(app["status"].get("history") or [])
        plan = planner.app_sync(app)
        _, out = env.act(plan)
    assert out.status == "applied", out
    info = plan.requests[0].body["operation"]["info"]

    def synced():
        a = sb.get("argoproj.io/applications", "argocd", name)
        state = (a.get("status") or {}).get("operationState") or {}
        ours = (state.get("operation") or {}).get("info") == info
        return a if ours and state.get("phase") in ("Succeeded", "Failed", "Error") and not a.get("operation") else None
    done = wait_until(synced, timeout=60, what="the sync operation finished")
    assert done["status"]["operationState"]["phase"] == "Succeeded", done["status"]["operationState"]
    assert len(done["status"]["history"]) == history_before + 1
    assert done["status"]["history"][-1]["initiatedBy"] == {"username": "almtui"}

    with frozen(sb):
        app = env.conn.get(path(APPLICATIONS, "argocd", name))
        first_id = app["status"]["history"][0]["id"]
        _, out = env.act(planner.app_rollback(app, first_id))
    assert out.status == "applied", out
    stored = sb.get("argoproj.io/applications", "argocd", name)
    op = stored.get("operation") or stored["status"]["operationState"]["operation"]
    assert op["sync"]["revision"] == app["status"]["history"][0]["revision"]
    assert [(e["action"], e["outcome"]) for e in env.entries()] == [
        ("rollback", "refused"), ("sync", "applied"), ("rollback", "applied")]
    text = env.audit.path.read_text()
    for user in ("operator", "viewer"):
        assert sb.token(user) not in text
    assert "managedFields" not in json.dumps(env.entries()[1]["requests"])


def test_an_application_operation_is_set_again_on_the_application_as_read_again(sb, tmp_path):
    """Argo CD's SetAppOperation re-reads the Application and updates it again on a conflict, unless an
    operation is in progress. The controller writes status all the time (no status subresource):
    the rollback is rebuilt on the object as now read, keeping that status, and sent once more."""
    env = make_env(sb, tmp_path)
    manual, _ = _apps(sb)
    assert manual is not None
    name = manual["metadata"]["name"]

    def idle():
        a = sb.get("argoproj.io/applications", "argocd", name)
        state = (a.get("status") or {}).get("operationState") or {}
        return not a.get("operation") and state.get("phase") in (None, "Succeeded", "Failed", "Error")
    wait_until(idle, timeout=60, what="no Argo CD operation in progress")

    def touch(key: str, value: str):
        sb.call(lambda s: s.store.mutate("argoproj.io/applications", "argocd", name,
                                         lambda o: o.setdefault("status", {}).update({key: value})))

    with frozen(sb):
        app = env.conn.get(path(APPLICATIONS, "argocd", name))
        plan = planner.app_rollback(app, app["status"]["history"][0]["id"])
        touch("reconciledAt", "2029-01-01T00:00:00Z")  # the controller's refresh, between plan and checks
        check = env.checker.check(plan)
        assert check.allowed, check.refusals  # the dry run sets the operation again too
        assert any("changed since the plan was made" in w for w in check.warnings)
        touch("reconciledAt", "2030-01-01T00:00:00Z")  # ... and between checks and apply
        out = env.executor.run(plan, check)
        stored = sb.get("argoproj.io/applications", "argocd", name)
    assert out.status == "applied", out
    assert "rebuilt on the object as read again" in out.message
    # what was sent the second time: the operation as confirmed, on the newer status (not the old one)
    newer = {**app, "status": {**app["status"], "reconciledAt": "2030-01-01T00:00:00Z"}}
    rebased = plan.requests[0].rebase(newer)
    assert rebased["operation"] == plan.requests[0].body["operation"]
    assert rebased["status"]["reconciledAt"] == "2030-01-01T00:00:00Z" and "managedFields" not in rebased["metadata"]
    assert stored["operation"]["info"] == plan.requests[0].body["operation"]["info"]
    entry = env.entries()[-1]
    assert entry["outcome"] == "applied" and len(entry["resent_on"]) == 1

    wait_until(idle, timeout=60, what="the rollback finished")
    with frozen(sb):
        app = env.conn.get(path(APPLICATIONS, "argocd", name))
        plan = planner.app_sync(app)
        check = env.checker.check(plan)
        sb.call(lambda s: s.store.mutate("argoproj.io/applications", "argocd", name,
                                         lambda o: o.update(operation={"sync": {"revision": "HEAD"},
                                                                       "initiatedBy": {"username": "someone"}})))
        out = env.executor.run(plan, check)
        stored = sb.get("argoproj.io/applications", "argocd", name)
    assert out.status == "conflict", out  # another operation started meanwhile: not sent again
    assert stored["operation"]["initiatedBy"] == {"username": "someone"}
    assert env.entries()[-1]["resent_on"] == []


def test_no_token_ever_reaches_the_audit_log(sb, tmp_path):
    env = make_env(sb, tmp_path)
    d = create_deployment(env, sb, "web-tokens")
    env.act(planner.scale(d, 2))
    viewer = make_env(sb, tmp_path, "viewer")
    viewer.executor.run(planner.pause(fresh(env, DEPLOYMENTS, "web-tokens")))
    text = env.audit.path.read_text()
    assert text.count("\n") == 2
    for user in ("operator", "viewer"):
        token = sb.token(user)
        assert token and token not in text
    assert json.loads(text.splitlines()[0])["outcome"] == "applied"
