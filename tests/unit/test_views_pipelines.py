"""PipelineRunView / TaskRunView (tkn pr list/describe) and ApplicationView (argocd app get)."""

from __future__ import annotations

from datetime import UTC, datetime

from almtui.cluster.views import build_applications, build_pipeline_runs
from almtui.kube.durations import parse_rfc3339

T0 = "2026-01-01T00:00:00Z"
BASE = parse_rfc3339(T0).timestamp()
NOW = BASE + 1000


def ts(seconds: float) -> str:
    return datetime.fromtimestamp(BASE + seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cond(status: str, reason: str, message: str = "") -> dict:
    return {"type": "Succeeded", "status": status, "reason": reason, "message": message}


def pipelinerun(name: str, *, start=0, end=None, condition=None, tasks=(), spec_status="") -> dict:
    status = {"childReferences": [{"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": f"{name}-{t}",
                                   "pipelineTaskName": t} for t in tasks]}
    if start is not None:
        status["startTime"] = ts(start)
    if end is not None:
        status["completionTime"] = ts(end)
    if condition is not None:
        status["conditions"] = [condition]
    return {"metadata": {"name": name, "namespace": "ci", "creationTimestamp": ts(start or 0),
                         "labels": {"tekton.dev/pipeline": "build"}},
            "spec": {"pipelineRef": {"name": "build"}, "status": spec_status,
                     "params": [{"name": "rev", "value": "main"}, {"name": "targets", "value": ["a", "b"]}]},
            "status": status}


def taskrun(pr: str, task: str, *, start=None, end=None, condition=None) -> dict:
    status = {"podName": f"{pr}-{task}-pod"}
    if start is not None:
        status["startTime"] = ts(start)
    if end is not None:
        status["completionTime"] = ts(end)
    if condition is not None:
        status["conditions"] = [condition]
    return {"metadata": {"name": f"{pr}-{task}", "namespace": "ci",
                         "labels": {"tekton.dev/pipelineRun": pr, "tekton.dev/pipelineTask": task}},
            "status": status}


def test_succeeded_run():
    pr = pipelinerun("build-1", start=0, end=300, tasks=("fetch", "test"),
                     condition=cond("True", "Succeeded", "Tasks Completed: 2 (Failed: 0, Cancelled 0), Skipped: 0"))
    trs = [taskrun("build-1", "test", start=100, end=300, condition=cond("True", "Succeeded")),
           taskrun("build-1", "fetch", start=0, end=100, condition=cond("True", "Succeeded"))]
    [view] = build_pipeline_runs([pr], trs, NOW)
    assert view.key == ("ci", "build-1") and view.pipeline == "build"
    assert (view.status, view.status_text, view.reason, view.done) == ("Succeeded", "Succeeded", "Succeeded", True)
    assert view.duration == 300 and view.started_age == 1000 and view.completed == ts(300)
    assert view.current_task is None
    assert [(t.pipeline_task, t.status, t.duration, t.pod) for t in view.tasks] == [
        ("fetch", "Succeeded", 100, "build-1-fetch-pod"), ("test", "Succeeded", 200, "build-1-test-pod")]
    assert view.params == (("rev", "main"), ("targets", '["a","b"]'))


def test_running_run_counts_to_now_and_names_the_running_task():
    pr = pipelinerun("build-2", start=400, tasks=("fetch", "test", "deploy"), condition=cond("Unknown", "Running"))
    trs = [taskrun("build-2", "fetch", start=400, end=500, condition=cond("True", "Succeeded")),
           taskrun("build-2", "test", start=500, condition=cond("Unknown", "Running"))]
    [view] = build_pipeline_runs([pr], trs, NOW)
    assert (view.status, view.status_text, view.done, view.duration) == ("Running", "Running", False, 600)
    assert view.current_task == "test"
    deploy = view.tasks[2]
    assert (deploy.name, deploy.status, deploy.status_text, deploy.started) == ("build-2-deploy", "Pending", "---",
                                                                               None)


def test_failed_timed_out_cancelled_pending():
    failed = pipelinerun("f", start=10, end=20, tasks=("a", "b"),
                         condition=cond("False", "Failed", "Tasks Completed: 2 (Failed: 1"))
    trs = [taskrun("f", "a", start=10, end=15, condition=cond("True", "Succeeded")),
           taskrun("f", "b", start=15, end=20, condition=cond("False", "Failed", "step exited 1"))]
    timeout = pipelinerun("t", start=30, end=40, condition=cond("False", "PipelineRunTimeout",
                                                                 'PipelineRun "t" failed to finish within "1h0m0s"'))
    cancelled = pipelinerun("c", start=50, end=60,
                            condition=cond("False", "Cancelled", 'PipelineRun "c" was cancelled'))
    pending = pipelinerun("p", start=None, spec_status="PipelineRunPending")
    views = {v.name: v for v in build_pipeline_runs([failed, timeout, cancelled, pending], trs, NOW)}
    assert (views["f"].status, views["f"].status_text, views["f"].current_task) == ("Failed", "Failed", "b")
    assert views["f"].tasks[1].message == "step exited 1"
    assert (views["t"].status, views["t"].status_text) == ("TimedOut", "Failed(PipelineRunTimeout)")
    assert (views["c"].status, views["c"].status_text) == ("Cancelled", "Cancelled(Cancelled)")
    assert (views["p"].status, views["p"].status_text, views["p"].duration) == ("Pending", "---", None)


def test_newest_first_and_taskruns_found_by_label():
    old = pipelinerun("old", start=0, condition=cond("True", "Succeeded"))
    new = pipelinerun("new", start=500, condition=cond("Unknown", "Running"))
    new["status"].pop("childReferences")
    trs = [taskrun("new", "b", start=600), taskrun("new", "a", start=550, condition=cond("Unknown", "Pending"))]
    views = build_pipeline_runs([old, new], trs, NOW)
    assert [v.name for v in views] == ["new", "old"]
    assert [t.pipeline_task for t in views[0].tasks] == ["a", "b"]
    assert views[0].current_task == "a"


def test_embedded_pipeline_spec():
    pr = pipelinerun("e")
    pr["spec"] = {"pipelineSpec": {"tasks": []}}
    pr["metadata"]["labels"] = {}
    assert build_pipeline_runs([pr], [], NOW)[0].pipeline == "(embedded)"


# --- Argo CD ----------------------------------------------------------------------------------


def application(name="storefront-prod", **spec) -> dict:
    return {
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {"project": "retail",
                 "source": {"repoURL": "https://git.local/retail.git", "path": "apps/storefront",
                            "targetRevision": "main"},
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": "prod"},
                 "syncPolicy": {"automated": {"prune": True, "selfHeal": True}}, **spec},
        "status": {
            "sync": {"status": "OutOfSync", "revision": "abc123"},
            "health": {"status": "Progressing", "message": "waiting for rollout"},
            "history": [{"id": 1, "revision": "aaa", "deployedAt": ts(100)},
                        {"id": 2, "revision": "abc123", "deployedAt": ts(400)}],
            "operationState": {"phase": "Succeeded", "message": "successfully synced", "finishedAt": ts(410)},
            "resources": [{"group": "apps", "kind": "Deployment", "namespace": "prod", "name": "storefront",
                           "status": "OutOfSync", "health": {"status": "Progressing"}},
                          {"kind": "Service", "namespace": "prod", "name": "storefront", "status": "Synced"}],
        },
    }


def test_application_view():
    [view] = build_applications([application()], NOW)
    assert view.key == ("argocd", "storefront-prod")
    assert (view.project, view.sync_status, view.health_status, view.revision, view.target_revision) == (
        "retail", "OutOfSync", "Progressing", "abc123", "main")
    assert view.auto_sync and view.self_heal and view.prune
    assert (view.last_sync, view.last_sync_age) == (ts(410), 590)
    assert (view.operation_phase, view.operation_message) == ("Succeeded", "successfully synced")
    assert [(h.id, h.revision) for h in view.history] == [(1, "aaa"), (2, "abc123")]
    assert [(r.kind, r.name, r.health) for r in view.resources] == [("Deployment", "storefront", "Progressing"),
                                                                   ("Service", "storefront", "")]
    assert (view.destination_namespace, view.repo_url, view.path) == ("prod", "https://git.local/retail.git",
                                                                      "apps/storefront")


def test_application_manual_sync_and_defaults():
    app = application(syncPolicy={})
    app["status"] = {}
    del app["spec"]["project"]
    [view] = build_applications([app], NOW)
    assert not view.auto_sync and not view.self_heal
    assert (view.project, view.sync_status, view.health_status, view.last_sync) == ("default", "Unknown",
                                                                                   "Unknown", None)
    disabled = application(syncPolicy={"automated": {"enabled": False, "selfHeal": True}})
    assert not build_applications([disabled], NOW)[0].auto_sync
    multi = application()
    multi["spec"].pop("source")
    multi["spec"]["sources"] = [{"repoURL": "https://git.local/x.git", "targetRevision": "v2"}]
    assert build_applications([multi], NOW)[0].target_revision == "v2"
