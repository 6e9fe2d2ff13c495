"""Tekton and Argo CD over HTTPS with the official client, sending what tkn and argocd would send."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from kubernetes import client, config

from tests.support import RunningSandbox, wait_until

TEKTON = ("tekton.dev", "v1")
ARGO = ("argoproj.io", "v1alpha1")
REPO = "https://git.example.local/deploy.git"
C1, C2 = "a1b2c3d4" * 5, "e5f6a7b8" * 5


def _task(name: str, step: str, image: str) -> dict:
    return {"apiVersion": "tekton.dev/v1", "kind": "Task", "metadata": {"name": name, "namespace": "ci"},
            "spec": {"steps": [{"name": step, "image": image, "script": f"make {step}"}]}}


def _scenario() -> dict:
    repos = {REPO: {"refs": {"main": C2}, "commits": [C1, C2], "paths": {
        "web/staging": {C1: {"Deployment/staging/web": {"web": "reg/web:1.0"}},
                        C2: {"Deployment/staging/web": {"web": "reg/web:1.1"}}}}}}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "staging"},
                  "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                           "template": {"metadata": {"labels": {"app": "web"}},
                                        "spec": {"containers": [{"name": "web", "image": "reg/web:1.0"}]}}}}
    return {
        "name": "pipelines-api", "settle": 60,
        "users": [{"name": "operator", "role": "cluster-admin"}],
        "nodes": [{"name": "n1", "cpu": "8", "memory": "16Gi"}],
        "namespaces": ["ci", "staging", "argocd"],
        "objects": [
            _task("fetch-source", "clone", "alpine/git:2.45"), _task("run-tests", "test", "golang:1.22"),
            _task("build-image", "build", "gcr.io/kaniko-project/executor:v1.23.2"),
            {"apiVersion": "tekton.dev/v1", "kind": "Pipeline", "metadata": {"name": "build", "namespace": "ci"},
             "spec": {"params": [{"name": "revision", "type": "string", "default": "main"}], "tasks": [
                 {"name": "fetch", "taskRef": {"name": "fetch-source"},
                  "params": [{"name": "revision", "value": "$(params.revision)"}]},
                 {"name": "test", "taskRef": {"name": "run-tests"}, "runAfter": ["fetch"]},
                 {"name": "build", "taskRef": {"name": "build-image"}, "runAfter": ["test"]}]}},
            deployment,
            {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": "sandbox-git-repositories", "namespace": "argocd"},
             "data": {"repositories.yaml": yaml.safe_dump(repos)}},
            {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
             "metadata": {"name": "web-staging", "namespace": "argocd"},
             "spec": {"project": "default",
                      "source": {"repoURL": REPO, "path": "web/staging", "targetRevision": "main"},
                      "destination": {"server": "https://kubernetes.default.svc", "namespace": "staging"}}},
        ],
    }


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    sb = RunningSandbox(_scenario(), speed=60.0, workdir=tmp_path_factory.mktemp("pipelines")).start()
    yield sb
    sb.stop()


@pytest.fixture(scope="module")
def api(sandbox):
    api_client = config.new_client_from_config(config_file=sandbox.kubeconfig, context="operator")
    yield api_client
    api_client.close()


def _cond(obj: dict) -> dict:
    return ((obj.get("status") or {}).get("conditions") or [{}])[0]


def _pr(co: client.CustomObjectsApi, name: str) -> dict:
    return co.get_namespaced_custom_object(*TEKTON, "ci", "pipelineruns", name)


def _start(co: client.CustomObjectsApi, **spec: Any) -> str:
    """tkn pipeline start build: a PipelineRun with generateName, no spec.status (omitempty)."""
    body = {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun",
            "metadata": {"generateName": "build-run-", "namespace": "ci", "labels": {"tekton.dev/pipeline": "build"}},
            "spec": {"pipelineRef": {"name": "build"}, **spec}}
    return co.create_namespaced_custom_object(*TEKTON, "ci", "pipelineruns", body)["metadata"]["name"]


def test_tkn_start_runs_to_success_and_logs_are_served(api):
    co, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    name = _start(co, params=[{"name": "revision", "value": "v2.0.0"}])
    assert name.startswith("build-run-") and len(name) == len("build-run-") + 5
    wait_until(lambda: _cond(_pr(co, name)).get("status") == "True", 30, what="the run to succeed")
    pr = _pr(co, name)
    assert _cond(pr)["reason"] == "Succeeded"
    assert _cond(pr)["message"] == "Tasks Completed: 3 (Failed: 0, Cancelled 0), Skipped: 0"
    assert [c["pipelineTaskName"] for c in pr["status"]["childReferences"]] == ["fetch", "test", "build"]
    trs = co.list_namespaced_custom_object(*TEKTON, "ci", "taskruns", label_selector=f"tekton.dev/pipelineRun={name}")
    tasks = sorted(t["metadata"]["labels"]["tekton.dev/pipelineTask"] for t in trs["items"])
    assert tasks == ["build", "fetch", "test"]
    log = core.read_namespaced_pod_log(f"{name}-test-pod", "ci", container="step-test")
    assert log.splitlines()[0] == "+ go test ./... -count=1"
    assert log.splitlines()[-1].startswith("ok ")
    fetch = core.read_namespaced_pod_log(f"{name}-fetch-pod", "ci", container="step-clone")
    assert "--branch v2.0.0" in fetch
    events = core.list_namespaced_event("ci", field_selector=f"involvedObject.name={name}")
    reasons = [e.reason for e in sorted(events.items, key=lambda e: e.metadata.creation_timestamp)]
    assert reasons[0] == "Started" and reasons[-1] == "Succeeded" and "Running" in reasons


def test_tkn_cancel_json_patch(api):
    co = client.CustomObjectsApi(api)
    name = _start(co)
    wait_until(lambda: "childReferences" in (_pr(co, name).get("status") or {}), 20, what="the first TaskRun")
    patch = [{"op": "replace", "path": "/spec/status", "value": "Cancelled"}]  # tkn pipelinerun cancel
    # the run has no spec.status: replace still sets it, as kube-apiserver's evanphx/json-patch v4 does
    co.patch_namespaced_custom_object(*TEKTON, "ci", "pipelineruns", name, patch,
                                      _content_type="application/json-patch+json")
    wait_until(lambda: _cond(_pr(co, name)).get("status") == "False", 20, what="the run to be cancelled")
    pr = _pr(co, name)
    assert (_cond(pr)["reason"], _cond(pr)["message"]) == ("Cancelled", f'PipelineRun "{name}" was cancelled')
    tr_name = pr["status"]["childReferences"][-1]["name"]
    tr = co.get_namespaced_custom_object(*TEKTON, "ci", "taskruns", tr_name)
    assert tr["spec"]["status"] == "TaskRunCancelled"
    wait_until(lambda: _cond(co.get_namespaced_custom_object(*TEKTON, "ci", "taskruns", tr_name)).get("reason")
               == "TaskRunCancelled", 20, what="the TaskRun to be cancelled")


def test_cancel_of_a_run_with_spec_status_and_rerun(api):
    co = client.CustomObjectsApi(api)
    name = _start(co, status="")
    wait_until(lambda: "childReferences" in (_pr(co, name).get("status") or {}), 20, what="the first TaskRun")
    co.patch_namespaced_custom_object(*TEKTON, "ci", "pipelineruns", name,
                                      [{"op": "replace", "path": "/spec/status", "value": "Cancelled"}],
                                      _content_type="application/json-patch+json")
    wait_until(lambda: _cond(_pr(co, name)).get("reason") == "Cancelled", 20, what="the run to be cancelled")
    # tkn pipeline start build --use-pipelinerun <name>: the old spec, spec.status cleared
    old = _pr(co, name)
    spec = copy.deepcopy(old["spec"])
    spec.pop("status", None)
    again = co.create_namespaced_custom_object(*TEKTON, "ci", "pipelineruns", {
        "apiVersion": "tekton.dev/v1", "kind": "PipelineRun",
        "metadata": {"generateName": f"{name}-", "namespace": "ci", "labels": {"tekton.dev/pipeline": "build"}},
        "spec": spec})["metadata"]["name"]
    wait_until(lambda: _cond(_pr(co, again)).get("status") == "True", 30, what="the rerun to succeed")


def test_timeout_over_the_api(api):
    co = client.CustomObjectsApi(api)
    name = _start(co, timeouts={"pipeline": "20s"})
    wait_until(lambda: _cond(_pr(co, name)).get("status") == "False", 30, what="the run to time out")
    cond = _cond(_pr(co, name))
    assert (cond["reason"], cond["message"]) == ("PipelineRunTimeout",
                                                 f'PipelineRun "{name}" failed to finish within "20s"')


def _app(co: client.CustomObjectsApi) -> dict:
    return co.get_namespaced_custom_object(*ARGO, "argocd", "applications", "web-staging")


def _set_operation(co: client.CustomObjectsApi, operation: dict) -> None:
    """argo.SetAppOperation, as the API server does it: PUT the Application with `operation` set."""
    app = _app(co)
    assert not app.get("operation")
    app["operation"] = operation
    (app.get("status") or {}).pop("operationState", None)
    co.replace_namespaced_custom_object(*ARGO, "argocd", "applications", "web-staging", app)


def _image(apps: client.AppsV1Api) -> str:
    return apps.read_namespaced_deployment("web", "staging").spec.template.spec.containers[0].image


def test_argocd_sync_rollback_and_self_heal(api):
    co, apps = client.CustomObjectsApi(api), client.AppsV1Api(api)
    st = _app(co)["status"]
    assert st["sync"]["status"] == "OutOfSync" and st["sync"]["revision"] == C2
    assert _image(apps) == "reg/web:1.0"
    # argocd app sync web-staging
    _set_operation(co, {"sync": {"revision": "main"}, "initiatedBy": {"username": "operator"},
                        "info": [{"name": "almtui", "value": "sync-1"}]})
    wait_until(lambda: len(_app(co)["status"].get("history") or []) == 1, 20, what="the sync")
    app = _app(co)
    assert "operation" not in app
    assert app["status"]["operationState"]["operation"]["info"] == [{"name": "almtui", "value": "sync-1"}]
    assert app["status"]["history"][0]["revision"] == C2
    assert _image(apps) == "reg/web:1.1"
    wait_until(lambda: _app(co)["status"]["sync"]["status"] == "Synced", 20, what="Synced")
    # argocd app sync --revision <older>, then argocd app rollback web-staging 1 (manual app: allowed)
    _set_operation(co, {"sync": {"revision": C1}, "initiatedBy": {"username": "operator"}})
    wait_until(lambda: len(_app(co)["status"].get("history") or []) == 2, 20, what="the second sync")
    assert _image(apps) == "reg/web:1.0"
    entry = _app(co)["status"]["history"][0]
    _set_operation(co, {"sync": {"revision": entry["revision"], "source": entry["source"],
                                 "syncStrategy": {"apply": {}}}, "initiatedBy": {"username": "operator"}})
    wait_until(lambda: len(_app(co)["status"].get("history") or []) == 3, 20, what="the rollback")
    assert _image(apps) == "reg/web:1.1"
    # turn on auto-sync with selfHeal: a rollback is now refused, and a hand edit is reverted
    co.patch_namespaced_custom_object(*ARGO, "argocd", "applications", "web-staging",
                                      {"spec": {"syncPolicy": {"automated": {"prune": True, "selfHeal": True}}}})
    entry = _app(co)["status"]["history"][1]
    _set_operation(co, {"sync": {"revision": entry["revision"], "source": entry["source"],
                                 "syncStrategy": {"apply": {}}}, "initiatedBy": {"username": "operator"}})
    wait_until(lambda: (_app(co)["status"].get("operationState") or {}).get("phase") == "Error", 20, what="refusal")
    assert _app(co)["status"]["operationState"]["message"] == "rollback cannot be initiated when auto-sync is enabled"
    assert _image(apps) == "reg/web:1.1"
    apps.patch_namespaced_deployment("web", "staging", {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "reg/web:hotfix"}]}}}})
    wait_until(lambda: _app(co)["status"]["sync"]["status"] == "OutOfSync", 10, what="drift to show")
    wait_until(lambda: _image(apps) == "reg/web:1.1", 20, what="selfHeal to revert the edit")
    core = client.CoreV1Api(api)
    msgs = [e.message for e in core.list_namespaced_event("argocd").items]
    assert "Updated sync status: Synced -> OutOfSync" in msgs
    assert f"Initiated automated sync to '{C2}'" in msgs


def test_edge_retail_pipelines_fragment(tmp_path):
    sb = RunningSandbox("edge-retail", speed=1.0, workdir=tmp_path).start()
    try:
        api_client = config.new_client_from_config(config_file=sb.kubeconfig, context="operator")
        co, core = client.CustomObjectsApi(api_client), client.CoreV1Api(api_client)
        runs = {p["metadata"]["name"]: _cond(p) for p in
                co.list_namespaced_custom_object(*TEKTON, "ci", "pipelineruns")["items"]}
        assert runs["storefront-build-run-4xk2p"]["reason"] == "Succeeded"
        assert runs["pos-sync-build-run-7q9dz"]["message"] == "Tasks Completed: 5 (Failed: 0, Cancelled 0), Skipped: 0"
        flaky = runs["storefront-build-flaky-run-b8n3c"]
        assert flaky["reason"] == "Failed"
        assert flaky["message"] == "Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 2"
        assert runs["storefront-build-run-m2c7v"]["message"] == 'PipelineRun "storefront-build-run-m2c7v" was cancelled'
        assert runs["storefront-build-run-q4w6j"]["reason"] in ("PipelineRunPending", "Running", "Started")
        log = core.read_namespaced_pod_log("storefront-build-flaky-run-b8n3c-test-fail-pod", "ci",
                                           container="step-test")
        assert "error: test checkout_test.go:42 failed" in log
        apps = {a["metadata"]["name"]: a["status"] for a in
                co.list_namespaced_custom_object(*ARGO, "argocd", "applications")["items"]}
        assert apps["storefront-staging"]["sync"]["status"] == "Synced"
        assert apps["storefront-staging"]["summary"]["images"] == ["registry.local/retail/storefront:1.4.2"]
        prod = apps["pos-sync-prod"]
        assert prod["sync"]["status"] == "OutOfSync"
        assert [h["id"] for h in prod["history"]] == [0]
        assert prod["summary"]["images"] == ["registry.local/retail/pos-sync:2.1.0"]
        assert json.dumps(prod).count("ad68690e1e2b750a7a404eb966a81a71d0bd8472") >= 1
        api_client.close()
    finally:
        sb.stop()
