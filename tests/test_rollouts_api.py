"""Argo Rollouts over HTTPS: the official Python client sends exactly what kubectl-argo-rollouts sends
(merge patches to /status with the main-resource fallback, a JSON patch for undo, GET+PUT for set
image, the /scale subresource) and the sandbox's rollouts controller reacts as upstream does."""

from __future__ import annotations

import copy
from datetime import UTC
from typing import Any

import kubernetes
import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from almtui.kube.rollout_status import rollout_phase
from almtui.sandbox.runtime import Sandbox
from almtui.sandbox.store import ts
from tests.support import RunningSandbox, wait_until

GROUP, VERSION, PLURAL, NS = "argoproj.io", "v1alpha1", "rollouts", "shop"
HASH = "rollouts-pod-template-hash"
STEPS = [{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {"duration": "10s"}}, {"setWeight": 75},
         {"pause": {"duration": 10}}]


def _service(name: str, app: str) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
            "spec": {"selector": {"app": app}, "ports": [{"port": 80, "targetPort": 8080}]}}


def _rollout(name: str, replicas: int = 4, strategy: dict | None = None) -> dict:
    strategy = strategy or {"canary": {"canaryService": f"{name}-canary", "stableService": f"{name}-stable",
                                       "steps": STEPS}}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": f"shop/{name}:1.0",
                                                           "resources": {"requests": {"cpu": "10m"}}}]}},
                     "strategy": strategy}}


CANARIES = ("promote", "abort", "undo", "full", "restart", "scale", "bad")


def _scenario() -> dict:
    objects: list[dict] = []
    for name in CANARIES:
        objects += [_service(f"{name}-canary", name), _service(f"{name}-stable", name), _rollout(name)]
    objects += [_service("bg-active", "bg"), _service("bg-preview", "bg"),
                _rollout("bg", 2, {"blueGreen": {"activeService": "bg-active", "previewService": "bg-preview",
                                                 "autoPromotionEnabled": False, "scaleDownDelaySeconds": 10}})]
    bad = next(o for o in objects if o["metadata"]["name"] == "bad" and o["kind"] == "Rollout")
    bad["spec"]["progressDeadlineSeconds"] = 60
    return {"name": "rollouts-api", "settle": 120, "namespaces": [NS],
            "users": [{"name": "operator", "role": "cluster-admin"}, {"name": "viewer", "role": "view"}],
            "nodes": [{"name": "edge-1", "cpu": "8", "memory": "16Gi"},
                      {"name": "edge-2", "cpu": "8", "memory": "16Gi"}],
            "objects": objects}


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    s = RunningSandbox(_scenario(), seed=7, speed=20.0, workdir=tmp_path_factory.mktemp("rollouts")).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def api(sb):
    return kubernetes.config.new_client_from_config(config_file=sb.kubeconfig, context="operator")


class Plugin:
    """The requests of pkg/kubectl-argo-rollouts/cmd/{promote,abort,retry,pause,restart,undo,set}."""

    def __init__(self, api: Any, sb: RunningSandbox) -> None:
        self.co = client.CustomObjectsApi(api)
        self.apps = client.AppsV1Api(api)
        self.api = api
        self.sb = sb

    def get(self, name: str) -> dict:
        return self.co.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name)

    def phase(self, name: str) -> tuple[str, str]:
        return rollout_phase(self.get(name))

    def _status_patch(self, name: str, patch: dict, unified: dict | None = None) -> None:
        """Patch /status; on 404 (no status subresource) repeat against the main resource."""
        try:
            self.co.patch_namespaced_custom_object_status(GROUP, VERSION, NS, PLURAL, name, patch)
        except ApiException as e:
            if e.status != 404:
                raise
            self.co.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name, unified or patch)

    def _spec_patch(self, name: str, patch: dict) -> None:
        self.co.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name, patch)

    def promote(self, name: str, full: bool = False) -> None:
        ro = self.get(name)
        spec, st = ro["spec"], ro.get("status") or {}
        spec_patch = {"spec": {"paused": False}} if spec.get("paused") else None
        status_patch = None
        if full:
            if st.get("currentPodHash") != st.get("stableRS"):
                status_patch = {"status": {"promoteFull": True}}
        elif st.get("pauseConditions"):
            status_patch = {"status": {"pauseConditions": None}}
        elif spec["strategy"].get("canary") is not None:
            index = st.get("currentStepIndex") or 0
            if index < len(spec["strategy"]["canary"].get("steps") or []):
                index += 1
            status_patch = {"status": {"pauseConditions": None, "currentStepIndex": index}}
        if status_patch is not None:
            self._status_patch(name, status_patch)
        if spec_patch is not None:
            self._spec_patch(name, spec_patch)

    def abort(self, name: str) -> None:
        self._status_patch(name, {"status": {"abort": True}})

    def retry(self, name: str) -> None:
        self._status_patch(name, {"status": {"abort": False}})

    def pause(self, name: str) -> None:
        self._spec_patch(name, {"spec": {"paused": True}})

    def restart(self, name: str) -> str:
        # the plugin sends the client's time.Now(); here the cluster's (simulated) clock stands in for it
        now = self.sb.call(lambda s: s.clock.now()).astimezone(UTC)
        restart_at = ts(now)
        self._spec_patch(name, {"spec": {"restartAt": restart_at}})
        return restart_at

    def set_image(self, name: str, image: str) -> None:
        ro = self.get(name)
        ro["spec"]["template"]["spec"]["containers"][0]["image"] = image
        self.co.replace_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name, ro)

    def replica_sets(self, name: str) -> dict[int, dict]:
        """The Rollout's ReplicaSets by revision, listed with its selector as `undo` does."""
        items = self.apps.list_namespaced_replica_set(NS, label_selector=f"app={name}").items
        out = {}
        for rs in items:
            body = self.api.sanitize_for_serialization(rs)
            out[int(body["metadata"]["annotations"]["rollout.argoproj.io/revision"])] = body
        return out

    def undo(self, name: str, to_revision: int = 0) -> None:
        rss = self.replica_sets(name)
        revision = to_revision or sorted(rss)[-2]
        template = copy.deepcopy(rss[revision]["spec"]["template"])
        del template["metadata"]["labels"][HASH]
        self.co.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name,
                                               [{"op": "replace", "path": "/spec/template", "value": template}],
                                               _content_type="application/json-patch+json")

    def events(self, name: str, reason: str) -> list[str]:
        items = client.CoreV1Api(self.api).list_namespaced_event(
            NS, field_selector=f"involvedObject.name={name},reason={reason}").items
        return [e.message for e in sorted(items, key=lambda e: (e.first_timestamp, e.metadata.name))]


@pytest.fixture(scope="module")
def plugin(api, sb):
    return Plugin(api, sb)


def test_all_rollouts_start_healthy_with_string_observed_generation(plugin):
    for name in (*CANARIES, "bg"):
        ro = plugin.get(name)
        assert rollout_phase(ro) == ("Healthy", ""), name
        assert ro["status"]["observedGeneration"] == "1"
        assert ro["metadata"]["annotations"]["rollout.argoproj.io/revision"] == "1"


def test_canary_is_promoted_through_the_indefinite_pause_and_timed_pauses_expire(plugin):
    plugin.set_image("promote", "shop/promote:1.1")
    wait_until(lambda: plugin.phase("promote") == ("Paused", "CanaryPauseStep"), 20, what="the first pause")
    ro = plugin.get("promote")
    assert ro["status"]["currentStepIndex"] == 1 and ro["status"]["controllerPause"] is True
    sizes = {r: rs["spec"]["replicas"] for r, rs in plugin.replica_sets("promote").items()}
    assert sizes == {1: 3, 2: 1}
    plugin.promote("promote")
    wait_until(lambda: plugin.phase("promote") == ("Healthy", ""), 30, what="Healthy")
    st = plugin.get("promote")["status"]
    assert st["currentStepIndex"] == 6 and st["stableRS"] == st["currentPodHash"]
    assert plugin.events("promote", "RolloutStepCompleted") == [
        "Rollout step 1/6 completed (setWeight: 25)", "Rollout step 2/6 completed (pause)",
        "Rollout step 3/6 completed (setWeight: 50)", "Rollout step 4/6 completed (pause: 10s)",
        "Rollout step 5/6 completed (setWeight: 75)", "Rollout step 6/6 completed (pause: 10)"]
    assert plugin.events("promote", "RolloutCompleted")[-1].endswith(": Completed all 6 canary steps")


def test_abort_degrades_and_retry_resumes(plugin):
    plugin.set_image("abort", "shop/abort:1.1")
    wait_until(lambda: plugin.phase("abort") == ("Paused", "CanaryPauseStep"), 20, what="the first pause")
    plugin.abort("abort")
    wait_until(lambda: plugin.phase("abort")[0] == "Degraded", 10, what="Degraded")
    assert plugin.phase("abort") == ("Degraded", "RolloutAborted: Rollout aborted update to revision 2")
    wait_until(lambda: plugin.replica_sets("abort")[2]["spec"]["replicas"] == 0, 10, what="canary scaled down")
    st = plugin.get("abort")["status"]
    svc = client.CoreV1Api(plugin.api).read_namespaced_service("abort-canary", NS)
    assert svc.spec.selector[HASH] == st["stableRS"]
    plugin.retry("abort")
    wait_until(lambda: plugin.phase("abort") == ("Paused", "CanaryPauseStep"), 20, what="paused again after retry")
    st = plugin.get("abort")["status"]
    assert st["currentStepIndex"] == 1 and "abort" not in st


def test_undo_to_the_stable_revision_is_a_fast_rollback(plugin):
    before = plugin.get("undo")["status"]["stableRS"]
    plugin.set_image("undo", "shop/undo:1.1")
    wait_until(lambda: plugin.phase("undo") == ("Paused", "CanaryPauseStep"), 20, what="the first pause")
    plugin.undo("undo")
    wait_until(lambda: plugin.phase("undo") == ("Healthy", "") and plugin.get("undo")["status"]["currentPodHash"]
               == before, 20, what="rolled back")
    st = plugin.get("undo")["status"]
    assert st["currentStepIndex"] == 6 and st["stableRS"] == before
    rss = plugin.replica_sets("undo")
    assert sorted(rss) == [2, 3] and rss[3]["metadata"]["labels"][HASH] == before
    assert plugin.events("undo", "SkipSteps") == ["Rollback to stable ReplicaSets"]


def test_promote_full(plugin):
    plugin.set_image("full", "shop/full:1.1")
    wait_until(lambda: plugin.phase("full") == ("Paused", "CanaryPauseStep"), 20, what="the first pause")
    plugin.promote("full", full=True)
    wait_until(lambda: plugin.phase("full") == ("Healthy", ""), 20, what="Healthy")
    assert plugin.events("full", "RolloutCompleted")[-1].endswith(": Full promotion requested")


def test_pause_then_promote_unpauses(plugin):
    plugin.pause("scale")
    wait_until(lambda: plugin.phase("scale") == ("Paused", "manually paused"), 10, what="paused")
    plugin.promote("scale")
    wait_until(lambda: plugin.phase("scale") == ("Healthy", ""), 10, what="unpaused")
    assert plugin.get("scale")["spec"]["paused"] is False


def test_scale_subresource_resizes_the_rollout(plugin):
    co = plugin.co
    scale = co.get_namespaced_custom_object_scale(GROUP, VERSION, NS, PLURAL, "scale")
    assert (scale["spec"]["replicas"], scale["status"]["replicas"], scale["status"]["selector"]) == (4, 4, "app=scale")
    co.patch_namespaced_custom_object_scale(GROUP, VERSION, NS, PLURAL, "scale", {"spec": {"replicas": 6}})
    wait_until(lambda: plugin.get("scale")["status"].get("HPAReplicas") == 6
               and plugin.phase("scale") == ("Healthy", ""), 20, what="6 replicas")
    rss = plugin.replica_sets("scale")
    assert [rs["spec"]["replicas"] for rs in rss.values()] == [6]
    assert co.get_namespaced_custom_object_scale(GROUP, VERSION, NS, PLURAL, "scale")["status"]["replicas"] == 6


def test_restart_replaces_every_pod(plugin):
    core = client.CoreV1Api(plugin.api)
    old = {p.metadata.name for p in core.list_namespaced_pod(NS, label_selector="app=restart").items}
    restart_at = plugin.restart("restart")
    wait_until(lambda: plugin.get("restart")["status"].get("restartedAt") == restart_at, 60, what="restartedAt")
    wait_until(lambda: plugin.phase("restart") == ("Healthy", ""), 20, what="Healthy")
    now = {p.metadata.name for p in core.list_namespaced_pod(NS, label_selector="app=restart").items
           if not p.metadata.deletion_timestamp}
    assert len(now) == 4 and not now & old


def test_bluegreen_promote_switches_the_active_service(plugin):
    core = client.CoreV1Api(plugin.api)
    old = plugin.get("bg")["status"]["stableRS"]
    plugin.set_image("bg", "shop/bg:1.1")
    wait_until(lambda: plugin.phase("bg") == ("Paused", "BlueGreenPause"), 20, what="BlueGreenPause")
    new = plugin.get("bg")["status"]["currentPodHash"]
    assert core.read_namespaced_service("bg-preview", NS).spec.selector[HASH] == new
    assert core.read_namespaced_service("bg-active", NS).spec.selector[HASH] == old
    plugin.promote("bg")
    wait_until(lambda: plugin.phase("bg") == ("Healthy", ""), 20, what="Healthy")
    assert core.read_namespaced_service("bg-active", NS).spec.selector[HASH] == new
    assert plugin.get("bg")["status"]["blueGreen"] == {"activeSelector": new, "previewSelector": new}
    wait_until(lambda: plugin.replica_sets("bg")[1]["spec"]["replicas"] == 0, 20, what="old RS scaled down")


def test_bad_canary_exceeds_its_progress_deadline(plugin):
    plugin.set_image("bad", "shop/bad:1.1-bad")
    wait_until(lambda: plugin.phase("bad")[0] == "Progressing", 10, what="Progressing")
    wait_until(lambda: plugin.phase("bad")[0] == "Degraded", 30, what="Degraded")
    name = plugin.replica_sets("bad")[2]["metadata"]["name"]
    assert plugin.phase("bad") == ("Degraded", f'ProgressDeadlineExceeded: ReplicaSet "{name}" has timed out '
                                               "progressing.")


def test_strategic_merge_patch_of_a_rollout_is_415(plugin):
    with pytest.raises(ApiException) as e:
        plugin.co.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "promote", {"spec": {"paused": True}},
                                                 _content_type="application/strategic-merge-patch+json")
    assert e.value.status == 415


# --- the edge-retail scenario fragment ------------------------------------------------------------


def test_edge_retail_rollouts_settle_deterministically(tmp_path):
    s = RunningSandbox("edge-retail", seed=1, speed=1.0, workdir=tmp_path).start()
    try:
        def snapshot(sandbox: Sandbox) -> dict:
            out = {}
            for ro in sandbox.store.list("argoproj.io/rollouts"):
                md = ro["metadata"]
                rss = sorted((int(rs["metadata"]["annotations"]["rollout.argoproj.io/revision"]),
                              rs["spec"]["template"]["spec"]["containers"][0]["image"].rsplit(":", 1)[1],
                              rs["spec"]["replicas"])
                             for _, rs in sandbox.store.dependents(md["uid"]))
                out[(md["namespace"], md["name"])] = (rollout_phase(ro), ro["status"].get("currentStepIndex"), rss)
            return out

        got = s.call(snapshot)
    finally:
        s.stop()
    assert got == {
        ("dev", "checkout"): (("Healthy", ""), 2, [(1, "2.5.0-rc.1", 1)]),
        ("dev", "inventory"): (("Healthy", ""), None, [(1, "1.9.1-rc.1", 1)]),
        ("prod", "checkout"): (("Healthy", ""), 6, [(1, "2.1.0", 0), (2, "2.2.0", 0), (3, "2.3.0", 4)]),
        ("prod", "inventory"): (("Healthy", ""), None, [(1, "1.8.1", 0), (2, "1.8.2", 2)]),
        ("staging", "checkout"): (("Paused", "CanaryPauseStep"), 1, [(1, "2.3.0", 2), (2, "2.4.0", 1)]),
        ("staging", "inventory"): (("Paused", "BlueGreenPause"), None, [(1, "1.8.2", 1), (2, "1.9.0", 1)]),
    }
