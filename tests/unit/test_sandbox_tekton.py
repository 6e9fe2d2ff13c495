"""Tekton controllers: DAG order, naming, statuses, failure, cancel, timeout, pending, finally, logs."""

from __future__ import annotations

import copy
import itertools
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from almtui.kube.durations import parse_rfc3339
from almtui.kube.patch import json_patch
from almtui.kube.podstatus import pod_status
from almtui.sandbox import admission
from almtui.sandbox.clock import SimClock
from almtui.sandbox.controllers.base import Context, Manager
from almtui.sandbox.controllers.events import EventRecorder
from almtui.sandbox.controllers.kubelet import Kubelet
from almtui.sandbox.controllers.scheduler import Scheduler
from almtui.sandbox.controllers.tekton import (
    CANCELLED_BY_PIPELINE,
    CANCELLED_BY_TIMEOUT,
    PipelineRunController,
    TaskRunController,
    child_name,
    plan_steps,
)
from almtui.sandbox.errors import ApiError
from almtui.sandbox.podlogs import PodLogs
from almtui.sandbox.store import Store

START = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
PR, TR = "tekton.dev/pipelineruns", "tekton.dev/taskruns"


class Spy(EventRecorder):
    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.calls: list[tuple[str, str, str, str, str]] = []

    def record(self, obj, type_, reason, message, component, host=None) -> None:
        self.calls.append((obj["metadata"]["name"], type_, reason, message, component))
        super().record(obj, type_, reason, message, component, host)

    def of(self, name: str) -> list[tuple[str, str]]:
        return [(r, m) for n, _t, r, m, _c in self.calls if n == name]


class Cluster:
    """Scheduler, kubelet and the Tekton controllers on one Ready node, clock frozen."""

    def __init__(self, *, exits_hook: bool = False, kubelet: bool = True, seed: int = 1) -> None:
        self.clock = SimClock(start=START)
        self.clock.freeze()
        self.store = Store(self.clock, random.Random(seed))
        admission.install(self.store)
        self.ctx = Context(self.store, self.clock, random.Random(seed), options={"seed": seed})
        self.spy = Spy(self.ctx)
        self.ctx.events = self.spy
        if exits_hook:
            self.ctx.shared["container_exits"] = []
        ctrls: list[Any] = [Scheduler(self.ctx), Kubelet(self.ctx)] if kubelet else []
        self.trc = TaskRunController(self.ctx)
        ctrls += [PipelineRunController(self.ctx), self.trc]
        self.mgr = Manager(self.ctx, ctrls)
        for ns in ("default", "ci"):
            self.store.create("/namespaces", {"metadata": {"name": ns}})
        self.store.create("/nodes", {
            "metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1"}}, "spec": {},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                       "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"},
                       "capacity": {"cpu": "8", "memory": "16Gi", "pods": "110"},
                       "addresses": [{"type": "InternalIP", "address": "10.0.0.10"}]}}, keep_status=True)
        for name, step, image in (("fetch-source", "clone", "alpine/git:2.45"), ("run-tests", "test", "golang:1.22"),
                                  ("build-image", "build", "gcr.io/kaniko-project/executor:v1.23.2"),
                                  ("push-image", "push", "gcr.io/go-containerregistry/crane:v0.20.2")):
            self.store.create("tekton.dev/tasks", {"apiVersion": "tekton.dev/v1", "kind": "Task",
                                                   "metadata": {"name": name, "namespace": "ci"},
                                                   "spec": {"steps": [{"name": step, "image": image,
                                                                       "script": "make " + step}]}})

    def pipeline(self, name: str, tasks: list[dict], finally_: list[dict] | None = None, **spec: Any) -> None:
        body: dict[str, Any] = {"tasks": tasks, **spec}
        if finally_:
            body["finally"] = finally_
        self.store.create("tekton.dev/pipelines", {"apiVersion": "tekton.dev/v1", "kind": "Pipeline",
                                                   "metadata": {"name": name, "namespace": "ci"}, "spec": body})

    def build_pipeline(self, name: str = "build", test: str = "test") -> None:
        self.pipeline(name, [
            {"name": "fetch", "taskRef": {"name": "fetch-source"},
             "params": [{"name": "revision", "value": "$(params.revision)"}]},
            {"name": test, "taskRef": {"name": "run-tests"}, "runAfter": ["fetch"]},
            {"name": "build", "taskRef": {"name": "build-image"}, "runAfter": [test]},
            {"name": "push", "taskRef": {"name": "push-image"}, "runAfter": ["build"]},
        ], params=[{"name": "revision", "type": "string", "default": "main"}])

    def run(self, name: str, pipeline: str = "build", **spec: Any) -> dict:
        md = spec.pop("metadata", {})
        return self.store.create(PR, {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun",
                                      "metadata": {"name": name, "namespace": "ci", **md},
                                      "spec": {"pipelineRef": {"name": pipeline}, **spec}})

    def pr(self, name: str) -> dict:
        return self.store.get(PR, "ci", name)

    def tr(self, name: str) -> dict | None:
        return self.store.get(TR, "ci", name)

    def cond(self, obj: dict | None) -> dict:
        return ((obj or {}).get("status") or {}).get("conditions", [{}])[0]

    def settle(self, seconds: float = 900) -> None:
        self.mgr.settle(seconds)

    def until(self, pred, limit: float = 900.0, step: float = 1.0) -> None:
        t = 0.0
        while not pred():
            assert t < limit, "condition not reached"
            self.mgr.advance(step, step=step)
            t += step

    def t(self, stamp: str) -> float:
        return parse_rfc3339(stamp).timestamp() - START.timestamp()


# -- naming --------------------------------------------------------------------------------------

def test_child_name_follows_kmeta():
    assert child_name("build-run-x7k2p", "-fetch") == "build-run-x7k2p-fetch"
    parent = "storefront-build-pipeline-run-with-a-really-long-name-x7k2p"
    name = child_name(parent, "-fetch")
    assert len(name) == 63 and name.endswith("-fetch")
    assert name.startswith(parent[:25])
    import hashlib
    assert name == parent[:25] + hashlib.md5(parent.encode()).hexdigest() + "-fetch"
    long_suffix = "-" + "x" * 40
    n2 = child_name("short", long_suffix)
    assert n2 == "short" + long_suffix
    n3 = child_name("p" * 40, long_suffix)
    assert len(n3) == 63 and n3.startswith("p" * 31)
    assert child_name(parent, "-pod") == parent + "-pod"  # 63 characters still fit
    assert child_name(name, "-pod") == name[:27] + hashlib.md5(name.encode()).hexdigest() + "-pod"


# -- success ---------------------------------------------------------------------------------------

def test_pipeline_runs_tasks_in_order_and_succeeds():
    c = Cluster()
    c.build_pipeline()
    c.run("build-run-1", params=[{"name": "revision", "value": "v1.2.3"}])
    c.mgr.advance(1)
    pr = c.pr("build-run-1")
    assert pr["metadata"]["labels"]["tekton.dev/pipeline"] == "build"
    assert c.cond(pr)["reason"] == "Running"
    assert c.cond(pr)["message"] == "Tasks Completed: 0 (Failed: 0, Cancelled 0), Incomplete: 4, Skipped: 0"
    assert [r["name"] for r in pr["status"]["childReferences"]] == ["build-run-1-fetch"]
    assert pr["status"]["pipelineSpec"]["tasks"][0]["params"] == [{"name": "revision", "value": "v1.2.3"}]
    c.settle()
    pr = c.pr("build-run-1")
    cond = c.cond(pr)
    assert (cond["status"], cond["reason"]) == ("True", "Succeeded")
    assert cond["message"] == "Tasks Completed: 4 (Failed: 0, Cancelled 0), Skipped: 0"
    assert pr["status"]["completionTime"] == cond["lastTransitionTime"]
    assert pr["status"]["childReferences"] == [
        {"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": f"build-run-1-{t}", "pipelineTaskName": t}
        for t in ("fetch", "test", "build", "push")]
    assert "skippedTasks" not in pr["status"]
    # each task started only after the previous one finished
    trs = [c.tr(f"build-run-1-{t}") for t in ("fetch", "test", "build", "push")]
    for a, b in itertools.pairwise(trs):
        assert c.t(b["status"]["startTime"]) >= c.t(a["status"]["completionTime"])
    tr = trs[0]
    assert tr["metadata"]["ownerReferences"][0]["kind"] == "PipelineRun"
    assert tr["metadata"]["ownerReferences"][0]["uid"] == pr["metadata"]["uid"]
    labels = tr["metadata"]["labels"]
    assert labels["tekton.dev/pipelineRun"] == "build-run-1"
    assert labels["tekton.dev/pipeline"] == "build"
    assert labels["tekton.dev/pipelineTask"] == "fetch"
    assert labels["tekton.dev/task"] == "fetch-source"
    assert labels["tekton.dev/memberOf"] == "tasks"
    assert tr["spec"]["taskRef"] == {"kind": "Task", "name": "fetch-source"}
    assert tr["spec"]["params"] == [{"name": "revision", "value": "v1.2.3"}]
    st = tr["status"]
    assert c.cond(tr) | {"lastTransitionTime": None} == {
        "type": "Succeeded", "status": "True", "reason": "Succeeded",
        "message": "All Steps have completed executing", "lastTransitionTime": None}
    assert st["podName"] == "build-run-1-fetch-pod"
    assert st["steps"][0]["name"] == "clone" and st["steps"][0]["container"] == "step-clone"
    assert st["steps"][0]["terminated"]["exitCode"] == 0
    assert st["steps"][0]["terminationReason"] == "Completed"
    dur = c.t(st["completionTime"]) - c.t(st["startTime"])
    assert 3 <= dur <= 20
    pod = c.store.get("/pods", "ci", "build-run-1-fetch-pod")
    assert pod["spec"]["restartPolicy"] == "Never"
    assert [x["name"] for x in pod["spec"]["containers"]] == ["step-clone"]
    assert pod["metadata"]["labels"]["tekton.dev/taskRun"] == "build-run-1-fetch"
    assert pod["metadata"]["labels"]["tekton.dev/pipelineTask"] == "fetch"
    assert pod["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "tekton-pipelines"
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "TaskRun"
    events = c.spy.of("build-run-1")
    assert events[0] == ("Started", "")
    assert events[1] == ("Running", "Tasks Completed: 0 (Failed: 0, Cancelled 0), Incomplete: 4, Skipped: 0")
    assert events[-1] == ("Succeeded", "Tasks Completed: 4 (Failed: 0, Cancelled 0), Skipped: 0")
    assert ("Running", "Tasks Completed: 3 (Failed: 0, Cancelled 0), Incomplete: 1, Skipped: 0") in events
    comps = {comp for n, _t, _r, _m, comp in c.spy.calls if n == "build-run-1"}
    assert comps == {"pipelinerun-controller"}
    assert c.spy.of("build-run-1-fetch")[0] == ("Started", "")
    assert c.spy.of("build-run-1-fetch")[-1] == ("Succeeded", "All Steps have completed executing")


def test_independent_tasks_run_in_parallel_and_join():
    c = Cluster()
    c.pipeline("fan", [
        {"name": "fetch", "taskRef": {"name": "fetch-source"}},
        {"name": "unit-test", "taskRef": {"name": "run-tests"}, "runAfter": ["fetch"]},
        {"name": "lint", "taskRef": {"name": "run-tests"}, "runAfter": ["fetch"]},
        {"name": "build", "taskRef": {"name": "build-image"}, "runAfter": ["unit-test", "lint"]},
    ])
    c.run("fan-1", pipeline="fan")
    c.until(lambda: c.tr("fan-1-lint") is not None)
    assert c.tr("fan-1-unit-test") is not None  # created together
    assert c.tr("fan-1-build") is None
    c.settle()
    a, b, d = c.tr("fan-1-unit-test"), c.tr("fan-1-lint"), c.tr("fan-1-build")
    assert a["metadata"]["creationTimestamp"] == b["metadata"]["creationTimestamp"]
    assert c.t(d["status"]["startTime"]) >= max(c.t(a["status"]["completionTime"]), c.t(b["status"]["completionTime"]))
    assert c.cond(c.pr("fan-1"))["reason"] == "Succeeded"


def test_inline_task_spec_and_finally():
    c = Cluster()
    c.pipeline("fin", [{"name": "fetch", "taskRef": {"name": "fetch-source"}}],
               finally_=[{"name": "notify", "taskSpec": {"steps": [{"name": "notify", "image": "curlimages/curl"}]}}])
    c.run("fin-1", pipeline="fin")
    c.until(lambda: c.tr("fin-1-fetch") is not None)
    assert c.tr("fin-1-notify") is None
    c.settle()
    pr = c.pr("fin-1")
    tr = c.tr("fin-1-notify")
    assert tr["metadata"]["labels"]["tekton.dev/memberOf"] == "finally"
    assert "tekton.dev/task" not in tr["metadata"]["labels"]
    assert tr["spec"]["taskSpec"]["steps"][0]["name"] == "notify"
    assert c.t(tr["status"]["startTime"]) >= c.t(c.tr("fin-1-fetch")["status"]["completionTime"])
    assert pr["status"]["finallyStartTime"]
    assert c.cond(pr)["message"] == "Tasks Completed: 2 (Failed: 0, Cancelled 0), Skipped: 0"


# -- failure ---------------------------------------------------------------------------------------

def test_fail_task_fails_the_run_and_skips_the_rest():
    c = Cluster()
    c.build_pipeline("flaky", test="test-fail")
    c.run("flaky-1", pipeline="flaky")
    c.settle()
    pr = c.pr("flaky-1")
    cond = c.cond(pr)
    assert (cond["status"], cond["reason"]) == ("False", "Failed")
    assert cond["message"] == "Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 2"
    assert pr["status"]["skippedTasks"] == [{"name": "build", "reason": "PipelineRun was stopping"},
                                            {"name": "push", "reason": "PipelineRun was stopping"}]
    assert c.tr("flaky-1-build") is None
    tr = c.tr("flaky-1-test-fail")
    assert c.cond(tr)["reason"] == "Failed"
    assert c.cond(tr)["message"] == '"step-test" exited with code 1: Error'
    step = tr["status"]["steps"][0]
    assert step["terminated"]["exitCode"] == 1 and step["terminationReason"] == "Error"
    assert c.spy.of("flaky-1")[-1] == ("Failed", "Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 2")
    assert ("Warning", "Failed") in {(t, r) for n, t, r, _m, _c in c.spy.calls if n == "flaky-1"}
    lines = [text for _, text in c.ctx.shared["logs"].lines("ci", "flaky-1-test-fail-pod", "step-test", False)]
    assert "error: test checkout_test.go:42 failed" in lines
    ok = [text for _, text in c.ctx.shared["logs"].lines("ci", "flaky-1-fetch-pod", "step-clone", False)]
    assert any(t.startswith("+ git clone") for t in ok)


def test_failure_with_parallel_branch_is_stopping_then_failed_and_finally_runs():
    c = Cluster()
    c.pipeline("par", [
        {"name": "fetch", "taskRef": {"name": "fetch-source"}},
        {"name": "quick-fail", "taskSpec": {"steps": [{"name": "check", "image": "alpine"}]}, "runAfter": ["fetch"]},
        {"name": "slow", "taskRef": {"name": "build-image"}, "runAfter": ["fetch"]},
        {"name": "push", "taskRef": {"name": "push-image"}, "runAfter": ["quick-fail", "slow"]},
    ], finally_=[{"name": "report", "taskSpec": {"steps": [{"name": "notify", "image": "alpine"}]}}])
    c.run("par-1", pipeline="par")
    c.until(lambda: (c.tr("par-1-quick-fail") or {}).get("status", {}).get("completionTime"))
    c.mgr.advance(0.5)
    cond = c.cond(c.pr("par-1"))
    assert cond["reason"] == "Running"  # a pipeline with finally tasks stays Running
    assert cond["message"] == "Tasks Completed: 2 (Failed: 1, Cancelled 0), Incomplete: 2, Skipped: 1"
    c.settle()
    pr = c.pr("par-1")
    assert c.cond(pr)["message"] == "Tasks Completed: 4 (Failed: 1, Cancelled 0), Skipped: 1"
    assert c.cond(pr)["reason"] == "Failed"
    assert c.cond(c.tr("par-1-report"))["reason"] == "Succeeded"
    assert pr["status"]["skippedTasks"] == [{"name": "push", "reason": "PipelineRun was stopping"}]


def test_failing_step_skips_later_steps():
    c = Cluster()
    c.store.create("tekton.dev/tasks", {"metadata": {"name": "multi", "namespace": "ci"}, "spec": {"steps": [
        {"name": "setup", "image": "alpine"}, {"name": "unit-fail", "image": "alpine"},
        {"name": "report", "image": "alpine"}]}})
    c.store.create(TR, {"metadata": {"name": "multi-run", "namespace": "ci"}, "spec": {"taskRef": {"name": "multi"}}})
    c.settle()
    tr = c.tr("multi-run")
    steps = tr["status"]["steps"]
    assert [s["terminated"]["exitCode"] for s in steps] == [0, 1, 1]
    assert [s["terminationReason"] for s in steps] == ["Completed", "Error", "Skipped"]
    assert c.cond(tr)["message"] == '"step-unit-fail" exited with code 1: Error'
    lines = c.ctx.shared["logs"].lines("ci", "multi-run-pod", "step-report", False)
    assert lines and lines[0][1].endswith("Skipping step because a previous step failed")


# -- cancel, timeout, pending ------------------------------------------------------------------------

def test_cancel_patch_cancels_running_taskruns_and_the_run():
    c = Cluster()
    c.build_pipeline()
    c.run("build-run-2")
    c.until(lambda: c.tr("build-run-2-test") is not None and "steps" in c.tr("build-run-2-test")["status"])
    c.mgr.advance(3)
    pr = c.pr("build-run-2")
    # what `tkn pipelinerun cancel` sends (the run has no spec.status: replace sets it)
    patched = json_patch(copy.deepcopy(pr), [{"op": "replace", "path": "/spec/status", "value": "Cancelled"}])
    c.store.update(PR, patched)
    c.mgr.advance(1)
    pr = c.pr("build-run-2")
    cond = c.cond(pr)
    assert (cond["status"], cond["reason"]) == ("False", "Cancelled")
    assert cond["message"] == 'PipelineRun "build-run-2" was cancelled'
    assert pr["status"]["completionTime"]
    tr = c.tr("build-run-2-test")
    assert tr["spec"]["status"] == "TaskRunCancelled"
    assert tr["spec"]["statusMessage"] == CANCELLED_BY_PIPELINE
    tcond = c.cond(tr)
    assert (tcond["status"], tcond["reason"]) == ("False", "TaskRunCancelled")
    assert tcond["message"] == ('TaskRun "build-run-2-test" was cancelled. TaskRun cancelled as the PipelineRun '
                                'it belongs to has been cancelled.')
    step = tr["status"]["steps"][0]
    assert step["terminated"]["reason"] == "TaskRunCancelled" and step["terminationReason"] == "TaskRunCancelled"
    assert step["terminated"]["message"] == "Step test terminated as pod build-run-2-test-pod is terminated"
    assert c.tr("build-run-2-fetch")["spec"].get("status") is None  # finished children are left alone
    c.settle(60)
    assert c.store.get("/pods", "ci", "build-run-2-test-pod") is None
    assert c.tr("build-run-2-build") is None
    assert c.spy.of("build-run-2")[-1] == ("Failed", 'PipelineRun "build-run-2" was cancelled')


def test_timeout_cancels_children_with_the_timeout_message():
    c = Cluster()
    c.build_pipeline()
    c.run("slow-1", timeouts={"pipeline": "30s"})
    c.settle()
    pr = c.pr("slow-1")
    cond = c.cond(pr)
    assert (cond["status"], cond["reason"]) == ("False", "PipelineRunTimeout")
    assert cond["message"] == 'PipelineRun "slow-1" failed to finish within "30s"'
    assert 30 <= c.t(pr["status"]["completionTime"]) - c.t(pr["status"]["startTime"]) <= 32
    running = [t for t in ("fetch", "test", "build") if c.tr(f"slow-1-{t}") is not None]
    last = c.tr(f"slow-1-{running[-1]}")
    assert last["spec"]["statusMessage"] == CANCELLED_BY_TIMEOUT
    assert c.cond(last)["reason"] == "TaskRunCancelled"


def test_default_timeout_message():
    c = Cluster()
    c.store.create("tekton.dev/tasks", {"metadata": {"name": "forever", "namespace": "ci"},
                                        "spec": {"steps": [{"name": "wait", "image": "alpine"}]}})
    c.pipeline("p", [{"name": "x", "taskRef": {"name": "forever"}}])
    c.run("p-1", pipeline="p")
    c.settle(10)
    # pretend it has been running for over an hour: the default timeout applies
    c.store.mutate(PR, "ci", "p-1", lambda o: o["status"].__setitem__("startTime", "2025-03-03T08:00:00Z"),
                   subresource="status")
    c.mgr.advance(1)
    assert c.cond(c.pr("p-1"))["message"] == 'PipelineRun "p-1" failed to finish within "1h0m0s"'


def test_pending_run_waits_until_released():
    c = Cluster()
    c.build_pipeline()
    c.run("later-1", status="PipelineRunPending")
    c.settle(60)
    pr = c.pr("later-1")
    assert c.cond(pr)["reason"] == "PipelineRunPending"
    assert c.cond(pr)["message"] == 'PipelineRun "later-1" is pending'
    assert "startTime" not in pr["status"] and c.tr("later-1-fetch") is None
    c.store.mutate(PR, "ci", "later-1", lambda o: o["spec"].pop("status"))
    c.settle()
    assert c.cond(c.pr("later-1"))["reason"] == "Succeeded"


def test_scenario_annotations_release_and_cancel():
    c = Cluster()
    c.build_pipeline()
    c.run("q-1", status="PipelineRunPending",
          metadata={"annotations": {"sandbox.almtui.io/release-after": "120", "sandbox.almtui.io/cancel-after": "20"}})
    c.settle(900)
    pr = c.pr("q-1")
    assert 120 <= c.t(pr["status"]["startTime"]) <= 121
    assert c.cond(pr)["reason"] == "Cancelled"
    assert 20 <= c.t(pr["status"]["completionTime"]) - c.t(pr["status"]["startTime"]) <= 21
    assert pr["spec"]["status"] == "Cancelled"
    assert "sandbox.almtui.io/release-after" not in (c.tr("q-1-fetch")["metadata"].get("annotations") or {})


def test_cancelled_run_finally_runs_finally_tasks():
    c = Cluster()
    c.pipeline("g", [{"name": "build", "taskRef": {"name": "build-image"}},
                     {"name": "push", "taskRef": {"name": "push-image"}, "runAfter": ["build"]}],
               finally_=[{"name": "cleanup", "taskSpec": {"steps": [{"name": "notify", "image": "alpine"}]}}])
    c.run("g-1", pipeline="g")
    c.mgr.advance(5)
    c.store.mutate(PR, "ci", "g-1", lambda o: o["spec"].__setitem__("status", "CancelledRunFinally"))
    c.mgr.advance(1)
    assert c.cond(c.pr("g-1"))["reason"] == "CancelledRunningFinally"
    c.settle()
    pr = c.pr("g-1")
    assert c.cond(c.tr("g-1-build"))["reason"] == "TaskRunCancelled"
    assert c.cond(c.tr("g-1-cleanup"))["reason"] == "Succeeded"
    assert c.cond(pr)["reason"] == "Cancelled"
    assert c.cond(pr)["message"] == 'PipelineRun "g-1" was cancelled'
    # the cancelled TaskRun counts as a failure, so upstream reports "stopping" first
    assert pr["status"]["skippedTasks"] == [{"name": "push", "reason": "PipelineRun was stopping"}]


def test_stopped_run_finally_lets_running_tasks_finish():
    c = Cluster()
    c.build_pipeline()
    c.run("s-1")
    c.mgr.advance(2)
    c.store.mutate(PR, "ci", "s-1", lambda o: o["spec"].__setitem__("status", "StoppedRunFinally"))
    c.settle()
    pr = c.pr("s-1")
    assert c.cond(c.tr("s-1-fetch"))["reason"] == "Succeeded"
    assert c.tr("s-1-test") is None
    assert c.cond(pr)["reason"] == "Cancelled"
    assert [s["reason"] for s in pr["status"]["skippedTasks"]] == ["PipelineRun was gracefully stopped"] * 3


def test_resolution_failures():
    c = Cluster()
    c.run("nope-1", pipeline="missing")
    c.pipeline("bad", [{"name": "x", "taskRef": {"name": "no-such-task"}}])
    c.run("bad-1", pipeline="bad")
    c.pipeline("loop", [{"name": "a", "taskRef": {"name": "run-tests"}, "runAfter": ["b"]},
                        {"name": "b", "taskRef": {"name": "run-tests"}, "runAfter": ["a"]}])
    c.run("loop-1", pipeline="loop")
    c.store.create(TR, {"metadata": {"name": "lonely", "namespace": "ci"}, "spec": {"taskRef": {"name": "gone"}}})
    c.settle(30)
    cond = c.cond(c.pr("nope-1"))
    assert (cond["status"], cond["reason"]) == ("False", "CouldntGetPipeline")
    assert cond["message"] == ('Error retrieving pipeline for pipelinerun ci/nope-1: error when getting Pipeline for '
                               'PipelineRun nope-1: pipelines.tekton.dev "missing" not found')
    cond = c.cond(c.pr("bad-1"))
    assert cond["reason"] == "CouldntGetTask"
    assert cond["message"] == ("Pipeline ci/bad can't be Run; it contains Tasks that don't exist: "
                               'Couldn\'t retrieve Task "no-such-task": tasks.tekton.dev "no-such-task" not found')
    assert c.cond(c.pr("loop-1"))["reason"] == "PipelineInvalidGraph"
    cond = c.cond(c.tr("lonely"))
    assert (cond["reason"], cond["message"]) == (
        "TaskRunResolutionFailed", 'error when listing tasks for taskRun lonely: tasks.tekton.dev "gone" not found')


def test_taskrun_timeout_and_user_cancel():
    c = Cluster()
    c.store.create(TR, {"metadata": {"name": "tr-timeout", "namespace": "ci"},
                        "spec": {"timeout": "5s", "taskRef": {"name": "build-image"}}})
    c.store.create(TR, {"metadata": {"name": "tr-cancel", "namespace": "ci"},
                        "spec": {"taskRef": {"name": "build-image"}}})
    c.mgr.advance(4)
    c.store.mutate(TR, "ci", "tr-cancel", lambda o: o["spec"].__setitem__("status", "TaskRunCancelled"))
    c.settle(60)
    cond = c.cond(c.tr("tr-timeout"))
    assert (cond["reason"], cond["message"]) == ("TaskRunTimeout", 'TaskRun "tr-timeout" failed to finish within "5s"')
    assert c.store.get("/pods", "ci", "tr-timeout-pod") is None
    cond = c.cond(c.tr("tr-cancel"))
    assert (cond["reason"], cond["message"]) == ("TaskRunCancelled", 'TaskRun "tr-cancel" was cancelled. ')


def test_rerun_with_the_same_spec_just_works():
    c = Cluster()
    c.build_pipeline()
    first = c.run("build-run-a", params=[{"name": "revision", "value": "abc"}])
    c.settle()
    again = c.store.create(PR, {"metadata": {"generateName": "build-run-", "namespace": "ci",
                                             "labels": {"tekton.dev/pipeline": "build"}},
                                "spec": copy.deepcopy(first["spec"])})
    c.settle()
    assert c.cond(c.pr(again["metadata"]["name"]))["reason"] == "Succeeded"
    assert c.cond(c.pr("build-run-a"))["reason"] == "Succeeded"


# -- the kubelet contract ----------------------------------------------------------------------------

def test_step_exit_hook_and_status_from_pod_when_the_kubelet_runs_steps():
    c = Cluster(exits_hook=True, kubelet=False)
    c.store.create(TR, {"metadata": {"name": "k-fail", "namespace": "ci"}, "spec": {"taskRef": {"name": "run-tests"}}})
    c.mgr.advance(1)
    assert c.trc.kubelet_runs_steps and c.ctx.shared["container_exits"] == [c.trc.step_exit]
    pod = c.store.get("/pods", "ci", "k-fail-pod")
    plan = plan_steps(pod, 1)
    exit_at, code = c.trc.step_exit(pod, "step-test", plan[0].start + 0.2)
    assert (exit_at, code) == (plan[0].finish, 1)
    assert c.trc.step_exit({"metadata": {"name": "x", "labels": {}}, "spec": {}}, "web", 0.0) is None
    # a kubelet with run-to-completion reports the step; the TaskRun follows the pod
    t0 = datetime.fromtimestamp(plan[0].start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    t1 = datetime.fromtimestamp(exit_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def finish(p: dict) -> None:
        p["status"] = {"phase": "Failed", "containerStatuses": [{
            "name": "step-test", "ready": False, "restartCount": 0, "image": "golang:1.22", "imageID": "x",
            "state": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": t0, "finishedAt": t1}}}]}

    c.store.mutate("/pods", "ci", "k-fail-pod", finish, subresource="status")
    c.mgr.advance(1)
    cond = c.cond(c.tr("k-fail"))
    assert (cond["reason"], cond["message"]) == ("Failed", '"step-test" exited with code 1: Error')


def test_plan_is_seeded_and_deterministic():
    def statuses(seed: int) -> list:
        c = Cluster(seed=seed)
        c.build_pipeline()
        c.run("d-1")
        c.settle()
        return [(tr["metadata"]["name"], tr["status"]["startTime"], tr["status"]["completionTime"])
                for tr in c.store.list(TR, "ci")]

    assert statuses(3) == statuses(3)
    assert statuses(3) != statuses(4)


# -- logs --------------------------------------------------------------------------------------------

def test_step_logs_are_served_and_followed():
    c = Cluster()
    c.build_pipeline()
    c.run("l-1")
    # a follow needs a started container (a waiting one answers 400 "waiting to start", as the kubelet)
    c.until(lambda: "running" in ((c.tr("l-1-test") or {}).get("status", {}).get("steps") or [{}])[0])
    logs = c.ctx.shared["logs"]
    assert isinstance(logs, PodLogs)  # the kubelet's, with the step source registered
    q = logs.subscribe("ci", "l-1-test-pod", "step-test")
    c.settle()
    got = []
    while not q.empty():
        got.append(q.get_nowait())
    assert got[-1] is None
    texts = [g[1] for g in got[:-1]]
    assert texts[0] == "+ go test ./... -count=1"
    assert texts[-1].startswith("ok ") and texts[-1].endswith(" tests")
    assert [t for _, t in logs.lines("ci", "l-1-test-pod", "step-test", False)] == texts
    with pytest.raises(ApiError) as e:
        logs.lines("ci", "l-1-test-pod", "step-test", True)
    assert "previous terminated container" in e.value.message
    build = [t for _, t in logs.lines("ci", "l-1-build-pod", "step-build", False)]
    assert any("Taking snapshot" in t for t in build)


def test_step_pods_run_to_completion_with_the_kubelet():
    c = Cluster()
    assert c.ctx.shared["container_exits"] == [c.trc.step_exit]  # registered when the controller is built
    c.build_pipeline("flaky", test="test-fail")
    c.run("flaky-1", pipeline="flaky")
    c.settle()
    ok = c.store.get("/pods", "ci", "flaky-1-fetch-pod")
    bad = c.store.get("/pods", "ci", "flaky-1-test-fail-pod")
    assert (ok["status"]["phase"], pod_status(ok).reason) == ("Succeeded", "Completed")
    assert (bad["status"]["phase"], pod_status(bad).reason) == ("Failed", "Error")
    step = c.tr("flaky-1-test-fail")["status"]["steps"][0]
    assert step["terminated"] == bad["status"]["containerStatuses"][0]["state"]["terminated"]
    assert bad["status"]["containerStatuses"][0]["restartCount"] == 0
