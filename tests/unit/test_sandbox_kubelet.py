"""Simulated kubelets and scheduler: pod lifecycle, crash loops, deletion, partitions, logs and metrics."""

from __future__ import annotations

import itertools
import random
import re
from datetime import UTC, datetime
from typing import Any

import kubernetes_validate
import pytest

from almtui.kube.durations import parse_rfc3339
from almtui.kube.podstatus import pod_status
from almtui.kube.quantities import cpu_millis
from almtui.sandbox import admission
from almtui.sandbox.clock import SimClock
from almtui.sandbox.controllers.base import Context, Manager
from almtui.sandbox.controllers.events import EventRecorder
from almtui.sandbox.controllers.kubelet import Kubelet, normalize_image, qos_class
from almtui.sandbox.controllers.scheduler import Scheduler, fit_error
from almtui.sandbox.errors import ApiError
from almtui.sandbox.store import Store

START = datetime(2025, 1, 6, 12, 0, tzinfo=UTC)  # a Monday, midday


class SpyRecorder(EventRecorder):
    """The real recorder, plus a list of every (pod, reason, message, component) recorded."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.calls: list[tuple[str, str, str, str, float]] = []

    def record(self, obj, type_, reason, message, component, host=None) -> None:
        self.calls.append((obj["metadata"]["name"], reason, message, component, self.ctx.now()))
        super().record(obj, type_, reason, message, component, host)

    def of(self, pod: str, reason: str | None = None) -> list[tuple[str, str, float]]:
        return [(r, m, t) for p, r, m, _c, t in self.calls if p == pod and (reason is None or r == reason)]


class Cluster:
    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.clock = SimClock(start=START)
        self.clock.freeze()
        self.store = Store(self.clock, random.Random(1))
        admission.install(self.store)
        self.ctx = Context(self.store, self.clock, random.Random(1), options=options or {})
        self.spy = SpyRecorder(self.ctx)
        self.ctx.events = self.spy
        self.scheduler = Scheduler(self.ctx)
        self.kubelet = Kubelet(self.ctx)
        self.mgr = Manager(self.ctx, [self.scheduler, self.kubelet])
        self.store.create("/namespaces", {"metadata": {"name": "default"}})
        self.t0 = self.ctx.now()

    def node(self, name: str, cpu: str = "2", memory: str = "4Gi", pods: str = "110", ready: str = "True",
             labels: dict[str, str] | None = None, taints: list[dict] | None = None,
             unschedulable: bool = False) -> None:
        spec: dict[str, Any] = {}
        if taints:
            spec["taints"] = taints
        if unschedulable:
            spec["unschedulable"] = True
        n = len(self.store.list("/nodes"))
        self.store.create("/nodes", {
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": spec,
            "status": {
                "conditions": [{"type": "Ready", "status": ready, "reason": "KubeletReady",
                                "message": "kubelet is posting ready status"}],
                "allocatable": {"cpu": cpu, "memory": memory, "pods": pods},
                "capacity": {"cpu": cpu, "memory": memory, "pods": pods},
                "addresses": [{"type": "InternalIP", "address": f"192.168.0.{10 + n}"},
                              {"type": "Hostname", "address": name}],
                "nodeInfo": {"kubeletVersion": "v1.33.1", "containerRuntimeVersion": "containerd://1.7.24",
                             "osImage": "Ubuntu 24.04 LTS", "operatingSystem": "linux", "architecture": "amd64"},
            }}, keep_status=True)

    def pod(self, name: str, image: str = "nginx:1.25", cpu: str | None = "100m", memory: str = "64Mi",
            app: str = "web", **spec: Any) -> dict:
        container: dict[str, Any] = {"name": "web", "image": image}
        if cpu:
            container["resources"] = {"requests": {"cpu": cpu, "memory": memory}}
        for k in ("readinessProbe", "imagePullPolicy"):
            if k in spec:
                container[k] = spec.pop(k)
        return self.store.create("/pods", {"metadata": {"name": name, "namespace": "default", "labels": {"app": app}},
                                           "spec": {"containers": [container], **spec}})

    def get(self, name: str) -> dict | None:
        return self.store.get("/pods", "default", name)

    def at(self, t: float) -> None:
        """Run until t seconds after the start, in 0.1 s steps."""
        left = self.t0 + t - self.ctx.now()
        if left > 0:
            self.mgr.advance(left, step=0.1)

    def elapsed(self, stamp: str) -> float:
        return parse_rfc3339(stamp).timestamp() - self.t0


def cond(pod: dict, type_: str) -> dict:
    return next(c for c in pod["status"]["conditions"] if c["type"] == type_)


def cstatus(pod: dict) -> dict:
    return pod["status"]["containerStatuses"][0]


@pytest.fixture
def cluster() -> Cluster:
    c = Cluster()
    c.node("node-a")
    c.node("node-b")
    return c


# -- pod lifecycle -----------------------------------------------------------------------------------

def test_normal_pod_lifecycle(cluster: Cluster) -> None:
    cluster.pod("web-1")
    cluster.at(0.2)
    pod = cluster.get("web-1")
    assert pod["spec"]["nodeName"] == "node-a"
    st = pod["status"]
    assert st["phase"] == "Pending"
    assert st["hostIP"] == "192.168.0.10" and st["hostIPs"] == [{"ip": "192.168.0.10"}]
    assert "podIP" not in st
    assert st["startTime"] == "2025-01-06T12:00:00Z"
    assert st["qosClass"] == "Burstable"
    assert cstatus(pod)["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert cstatus(pod)["image"] == "nginx:1.25" and cstatus(pod)["imageID"] == ""
    assert cstatus(pod)["started"] is False and "containerID" not in cstatus(pod)
    assert cond(pod, "PodScheduled")["status"] == "True"
    assert cond(pod, "PodReadyToStartContainers")["status"] == "False"
    assert cond(pod, "Ready") | {"lastTransitionTime": None} == {
        "type": "Ready", "status": "False", "lastProbeTime": None, "lastTransitionTime": None,
        "reason": "ContainersNotReady", "message": "containers with unready status: [web]"}

    cluster.at(1.0)
    pod = cluster.get("web-1")
    assert re.fullmatch(r"10\.244\.\d+\.\d+", pod["status"]["podIP"])
    assert pod["status"]["podIPs"] == [{"ip": pod["status"]["podIP"]}]
    assert cond(pod, "PodReadyToStartContainers")["status"] == "True"
    assert pod["status"]["phase"] == "Pending"

    cluster.at(2.5)
    pod = cluster.get("web-1")
    cs = cstatus(pod)
    assert pod["status"]["phase"] == "Running"
    assert cs["started"] is True and cs["ready"] is False and cs["restartCount"] == 0
    assert cs["image"] == "docker.io/library/nginx:1.25"
    assert re.fullmatch(r"docker\.io/library/nginx@sha256:[0-9a-f]{64}", cs["imageID"])
    assert re.fullmatch(r"containerd://[0-9a-f]{64}", cs["containerID"])
    assert cluster.elapsed(cs["state"]["running"]["startedAt"]) == pytest.approx(2.0, abs=1)

    cluster.at(3.5)
    pod = cluster.get("web-1")
    assert cstatus(pod)["ready"] is True
    assert [c["type"] for c in pod["status"]["conditions"]] == [
        "PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
    assert all(c["status"] == "True" for c in pod["status"]["conditions"])
    assert cond(pod, "Ready")["lastTransitionTime"] == "2025-01-06T12:00:03Z"
    assert cond(pod, "Initialized")["lastTransitionTime"] == "2025-01-06T12:00:00Z"
    assert kubernetes_validate.validate(pod, "1.33", strict=True)

    msgs = [(r, m) for r, m, _ in cluster.spy.of("web-1")]
    assert msgs[0] == ("Scheduled", "Successfully assigned default/web-1 to node-a")
    assert ("Pulling", 'Pulling image "nginx:1.25"') in msgs
    assert any(r == "Pulled" and re.fullmatch(
        r'Successfully pulled image "nginx:1\.25" in 1\.2s \(1\.2s including waiting\)\. Image size: \d+ bytes\.', m)
        for r, m in msgs)
    assert ("Created", "Created container: web") in msgs
    assert ("Started", "Started container web") in msgs
    components = {c for p, _r, _m, c, _t in cluster.spy.calls if p == "web-1"}
    assert components == {"default-scheduler", "kubelet"}
    kubelet_events = [e for e in cluster.store.list("/events") if e["source"]["component"] == "kubelet"]
    assert kubelet_events and all(e["source"]["host"] == "node-a" for e in kubelet_events)


def test_second_pod_uses_cached_image_and_is_deterministic() -> None:
    def run() -> list[dict]:
        c = Cluster()
        c.node("node-a")
        c.pod("a")
        c.at(4)
        c.pod("b")
        c.at(8)
        return [c.get("a"), c.get("b"), c.spy.of("b", "Pulled")]

    first, second = run(), run()
    assert first[0]["status"] == second[0]["status"] and first[1]["status"] == second[1]["status"]
    assert first[2][0][1] == 'Container image "nginx:1.25" already present on machine'
    assert first[0]["status"]["podIP"] != first[1]["status"]["podIP"]


def test_readiness_probe_delays(cluster: Cluster) -> None:
    cluster.pod("probe-default", readinessProbe={"httpGet": {"path": "/healthz", "port": 8080}})
    cluster.pod("probe-7s", readinessProbe={"httpGet": {"path": "/healthz", "port": 8080}, "initialDelaySeconds": 7})
    cluster.at(40)
    for name, delay in (("probe-default", 3.0), ("probe-7s", 7.0)):
        pod = cluster.get(name)
        started = cluster.elapsed(cstatus(pod)["state"]["running"]["startedAt"])
        ready = cluster.elapsed(cond(pod, "Ready")["lastTransitionTime"])
        assert ready - started == pytest.approx(delay, abs=1), name


def test_slow_image_takes_ten_times_longer(cluster: Cluster) -> None:
    cluster.pod("fast", image="registry.local/shop/api:2.1")
    cluster.pod("slow", image="registry.local/shop/api:2.1-slow")
    ready_at: dict[str, float] = {}
    for step in range(1, 400):
        cluster.at(step * 0.1)
        for name in ("fast", "slow"):
            conds = cluster.get(name).get("status", {}).get("conditions", [])
            if name not in ready_at and {"type": "Ready", "status": "True"}.items() <= next(
                    (c for c in conds if c["type"] == "Ready"), {}).items():
                ready_at[name] = cluster.ctx.now() - cluster.t0
    assert ready_at["fast"] == pytest.approx(3.0, abs=0.15)
    assert ready_at["slow"] == pytest.approx(10 * ready_at["fast"], rel=0.05)
    pulled = cluster.spy.of("slow", "Pulled")[0][1]
    assert " in 12s (12s including waiting)" in pulled
    assert cstatus(cluster.get("slow"))["image"] == "registry.local/shop/api:2.1-slow"


def test_bad_image_crash_loops_with_backoff(cluster: Cluster) -> None:
    pod = cluster.pod("crash", image="nginx:1.25-bad")
    uid = pod["metadata"]["uid"]
    cluster.at(4.5)
    pod = cluster.get("crash")
    assert cstatus(pod)["state"]["terminated"]["exitCode"] == 1
    assert cstatus(pod)["state"]["terminated"]["reason"] == "Error"
    cluster.at(12)
    pod = cluster.get("crash")
    cs = cstatus(pod)
    assert cs["restartCount"] == 1
    assert cs["state"]["waiting"] == {
        "reason": "CrashLoopBackOff",
        "message": f"back-off 10s restarting failed container=web pod=crash_default({uid})"}
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert cs["lastState"]["terminated"]["reason"] == "Error"
    assert cs["lastState"]["terminated"]["containerID"] == cs["containerID"]
    assert cs["ready"] is False and cs["started"] is False
    assert pod["status"]["phase"] == "Running"
    assert cond(pod, "Ready")["reason"] == "ContainersNotReady"
    assert kubernetes_validate.validate(pod, "1.33", strict=True)
    backoff = cluster.spy.of("crash", "BackOff")
    assert backoff[0][1] == f"Back-off restarting failed container web in pod crash_default({uid})"

    cluster.at(1500)
    starts = [t - cluster.t0 for _r, _m, t in cluster.spy.of("crash", "Started")]
    # start, crash 2 s later, then the kubelet's back-off: immediate, 10 s, 20 s, ... capped at 300 s
    waits = [round(b - (a + 2.0)) for a, b in itertools.pairwise(starts)]
    assert waits[:7] == [1, 10, 20, 40, 80, 160, 300]
    assert set(waits[7:]) == {300}
    cs = cstatus(cluster.get("crash"))
    assert cs["restartCount"] == len(starts) - 1
    waiting = cs["state"].get("waiting")
    assert waiting is None or waiting["message"].startswith("back-off 5m0s restarting failed container=web")
    assert cond(cluster.get("crash"), "Ready")["status"] == "False"


def test_graceful_deletion_stops_then_removes(cluster: Cluster) -> None:
    cluster.pod("web-1")
    cluster.at(5)
    last: list[dict] = []
    cluster.store.subscribe(lambda ev: last.append(ev.obj) if ev.key == "/pods" else None)
    cluster.store.delete("/pods", "default", "web-1")
    assert cluster.get("web-1")["metadata"]["deletionTimestamp"]
    cluster.at(6)
    assert cluster.get("web-1") is not None  # still terminating
    assert cluster.spy.of("web-1", "Killing")[0][1] == "Stopping container web"
    cluster.at(7.5)
    assert cluster.get("web-1") is None
    final = [p for p in last if p["metadata"]["name"] == "web-1"][-1]
    assert final["status"]["phase"] == "Succeeded"
    assert cstatus(final)["state"]["terminated"]["reason"] == "Completed"
    assert cond(final, "Ready")["reason"] == "PodCompleted"


def test_short_grace_period(cluster: Cluster) -> None:
    cluster.pod("web-1")
    cluster.at(5)
    cluster.store.delete("/pods", "default", "web-1", grace_seconds=1)
    cluster.at(6.3)
    assert cluster.get("web-1") is None


def test_partition_freezes_pods_and_resumes(cluster: Cluster) -> None:
    cluster.pod("web-1")
    cluster.at(0.3)
    frozen = cluster.get("web-1")["status"]
    cluster.ctx.shared["partitions"].add("node-a")
    cluster.at(60)
    assert cluster.get("web-1")["status"] == frozen
    cluster.store.delete("/pods", "default", "web-1")  # as the taint eviction controller would
    cluster.at(90)
    assert cluster.get("web-1")["metadata"]["deletionTimestamp"]  # stuck Terminating
    cluster.ctx.shared["partitions"].discard("node-a")
    cluster.at(95)
    assert cluster.get("web-1") is None


def test_partition_ends_and_pod_catches_up(cluster: Cluster) -> None:
    cluster.pod("web-1")
    cluster.at(0.3)
    cluster.ctx.shared["partitions"].add("node-a")
    cluster.at(30)
    assert cluster.get("web-1")["status"]["phase"] == "Pending"
    cluster.ctx.shared["partitions"].discard("node-a")
    cluster.at(32)
    pod = cluster.get("web-1")
    assert pod["status"]["phase"] == "Running" and cstatus(pod)["ready"] is True


def test_adopts_running_pod_without_restart(cluster: Cluster) -> None:
    started = "2025-01-06T11:00:00Z"
    cluster.store.create("/pods", {
        "metadata": {"name": "old", "namespace": "default", "labels": {"app": "web"}},
        "spec": {"nodeName": "node-b", "containers": [{"name": "web", "image": "nginx:1.25"}]},
        "status": {"phase": "Running", "podIP": "10.244.9.9", "hostIP": "192.168.0.11", "startTime": started,
                   "containerStatuses": [{"name": "web", "ready": True, "restartCount": 2, "started": True,
                                          "image": "docker.io/library/nginx:1.25", "imageID": "x@sha256:1",
                                          "containerID": "containerd://abc",
                                          "state": {"running": {"startedAt": started}}, "lastState": {}}]}},
        keep_status=True)
    cluster.at(5)
    pod = cluster.get("old")
    cs = cstatus(pod)
    assert cs["restartCount"] == 2 and cs["containerID"] == "containerd://abc" and cs["ready"] is True
    assert pod["status"]["podIP"] == "10.244.9.9" and pod["status"]["startTime"] == started
    assert cond(pod, "Ready")["status"] == "True"
    assert pod["status"]["qosClass"] == "BestEffort"
    assert not cluster.spy.of("old", "Started")


def test_adopts_settled_pod_without_writing(cluster: Cluster) -> None:
    """A pod written already settled (as `--scale` does) is adopted as is: no status write."""
    now = "2025-01-06T11:00:00Z"
    spec = {"nodeName": "node-a", "containers": [{"name": "web", "image": "nginx:1.25",
                                                 "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}}}]}
    conds = [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
             for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]
    status = {"phase": "Running", "conditions": conds, "hostIP": "192.168.0.10", "hostIPs": [{"ip": "192.168.0.10"}],
              "podIP": "10.244.0.2", "podIPs": [{"ip": "10.244.0.2"}], "startTime": now,
              "containerStatuses": [{"name": "web", "state": {"running": {"startedAt": now}}, "lastState": {},
                                     "ready": True, "restartCount": 0, "image": normalize_image("nginx:1.25"),
                                     "imageID": "docker.io/library/nginx@sha256:00", "containerID": "containerd://0",
                                     "started": True,
                                     "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}}}],
              "qosClass": "Burstable"}
    created = cluster.store.create("/pods", {"metadata": {"name": "settled", "namespace": "default"}, "spec": spec,
                                             "status": status}, keep_status=True)
    cluster.mgr.resync()
    cluster.at(30)
    assert cluster.get("settled")["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    cluster.pod("next", nodeSelector={"kubernetes.io/hostname": "node-a"})
    cluster.at(35)
    assert cluster.get("next")["status"]["podIP"] != "10.244.0.2"


# -- run to completion -----------------------------------------------------------------------------------

def exits_after(seconds: float, code: int, only: str | None = None):
    """A container_exits hook: containers (of pod `only`, if given) exit `seconds` after each start."""
    def hook(pod: dict, container: str, started: float) -> tuple[float, int] | None:
        if only is not None and pod["metadata"]["name"] != only:
            return None
        return started + seconds, code
    return hook


def test_run_to_completion_succeeds_and_is_kept(cluster: Cluster) -> None:
    assert cluster.ctx.shared["container_exits"] == []
    cluster.ctx.shared["container_exits"].append(exits_after(5, 0, only="job"))
    cluster.pod("job", restartPolicy="Never")
    cluster.pod("web")  # no hook answer: runs on
    cluster.at(4)
    assert cluster.get("job")["status"]["phase"] == "Running"
    cluster.at(8)
    pod = cluster.get("job")
    cs = cstatus(pod)
    term = cs["state"]["terminated"]
    assert term["exitCode"] == 0 and term["reason"] == "Completed"
    assert cluster.elapsed(term["finishedAt"]) - cluster.elapsed(term["startedAt"]) == pytest.approx(5, abs=1)
    assert term["containerID"] == cs["containerID"]
    assert cs["ready"] is False and cs["started"] is False and cs["restartCount"] == 0
    st = pod["status"]
    assert st["phase"] == "Succeeded" and st["podIP"]
    assert cond(pod, "Ready")["status"] == "False" and cond(pod, "Ready")["reason"] == "PodCompleted"
    assert cond(pod, "ContainersReady")["reason"] == "PodCompleted"
    assert cond(pod, "Initialized") | {"lastTransitionTime": None} == {
        "type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": None,
        "reason": "PodCompleted"}
    assert cond(pod, "PodReadyToStartContainers")["status"] == "False"
    assert kubernetes_validate.validate(pod, "1.33", strict=True)
    assert pod_status(pod).reason == "Completed"
    rv = pod["metadata"]["resourceVersion"]
    assert ("default", "job") not in cluster.kubelet._runs  # timers dropped
    cluster.at(120)
    assert cluster.get("job")["metadata"]["resourceVersion"] == rv
    assert cluster.get("web")["status"]["phase"] == "Running"
    cluster.store.delete("/pods", "default", "job")
    cluster.at(121)
    assert cluster.get("job") is None


def test_never_bad_image_fails_with_error(cluster: Cluster) -> None:
    cluster.pod("crash", image="nginx:1.25-bad", restartPolicy="Never")
    cluster.at(60)
    pod = cluster.get("crash")
    cs = cstatus(pod)
    assert cs["state"]["terminated"]["exitCode"] == 1 and cs["state"]["terminated"]["reason"] == "Error"
    assert cs["restartCount"] == 0 and cs["lastState"] == {}
    assert pod["status"]["phase"] == "Failed"
    assert cond(pod, "Ready")["reason"] == "PodFailed" and cond(pod, "ContainersReady")["reason"] == "PodFailed"
    assert "reason" not in cond(pod, "Initialized")
    assert pod_status(pod).reason == "Error"
    assert len(cluster.spy.of("crash", "Started")) == 1 and not cluster.spy.of("crash", "BackOff")


def test_on_failure_restarts_only_failures(cluster: Cluster) -> None:
    codes = iter([1, 1, 0])

    def hook(pod: dict, container: str, started: float) -> tuple[float, int]:
        return started + 3, next(codes)

    cluster.ctx.shared["container_exits"].append(hook)
    cluster.pod("retry", restartPolicy="OnFailure")
    cluster.at(10)
    cs = cstatus(cluster.get("retry"))
    assert cs["restartCount"] == 1 and cs["lastState"]["terminated"]["reason"] == "Error"
    assert cluster.get("retry")["status"]["phase"] == "Running"
    cluster.at(60)
    pod = cluster.get("retry")
    cs = cstatus(pod)
    assert cs["restartCount"] == 2 and cs["state"]["terminated"]["reason"] == "Completed"
    assert pod["status"]["phase"] == "Succeeded" and pod_status(pod).reason == "Completed"
    starts = [t - cluster.t0 for _r, _m, t in cluster.spy.of("retry", "Started")]
    assert [round(b - a) for a, b in itertools.pairwise(starts)] == [4, 13]  # sync, then a 10 s back-off


def test_always_restarts_completed_containers_with_back_off(cluster: Cluster) -> None:
    cluster.ctx.shared["container_exits"].append(exits_after(3, 0))
    cluster.pod("loop")
    cluster.at(12)
    pod = cluster.get("loop")
    cs = cstatus(pod)
    assert pod["status"]["phase"] == "Running"
    assert cs["restartCount"] == 1 and cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert cs["lastState"]["terminated"]["reason"] == "Completed"


def test_never_pod_runs_on_while_another_container_runs(cluster: Cluster) -> None:
    cluster.ctx.shared["container_exits"].append(
        lambda pod, container, started: (started + 2, 0) if container == "init-like" else None)
    cluster.store.create("/pods", {
        "metadata": {"name": "two", "namespace": "default"},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "init-like", "image": "busybox:1.36"},
                                                          {"name": "server", "image": "nginx:1.25"}]}})
    cluster.at(30)
    pod = cluster.get("two")
    first, second = pod["status"]["containerStatuses"]
    assert first["state"]["terminated"]["reason"] == "Completed" and "running" in second["state"]
    assert pod["status"]["phase"] == "Running"
    assert cond(pod, "Ready")["message"] == "containers with unready status: [init-like]"


def test_adopts_terminated_container_without_restarting(cluster: Cluster) -> None:
    started, finished = "2025-01-06T11:00:00Z", "2025-01-06T11:00:09Z"
    cluster.store.create("/pods", {
        "metadata": {"name": "half", "namespace": "default"},
        "spec": {"nodeName": "node-a", "restartPolicy": "Never",
                 "containers": [{"name": "a", "image": "busybox:1.36"}, {"name": "b", "image": "nginx:1.25"}]},
        "status": {"phase": "Running", "podIP": "10.244.0.9", "startTime": started, "containerStatuses": [
            {"name": "a", "ready": False, "restartCount": 0, "image": "docker.io/library/busybox:1.36",
             "imageID": "x", "containerID": "containerd://a",
             "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started,
                                      "finishedAt": finished, "containerID": "containerd://a"}}},
            {"name": "b", "ready": True, "restartCount": 0, "image": "docker.io/library/nginx:1.25",
             "imageID": "y", "containerID": "containerd://b", "state": {"running": {"startedAt": started}}}]}},
        keep_status=True)
    cluster.at(5)
    a, b = cluster.get("half")["status"]["containerStatuses"]
    assert a["state"]["terminated"]["finishedAt"] == finished and a["containerID"] == "containerd://a"
    assert "running" in b["state"] and not cluster.spy.of("half", "Started")
    cluster.store.create("/pods", {
        "metadata": {"name": "done", "namespace": "default"},
        "spec": {"nodeName": "node-a", "restartPolicy": "OnFailure",
                 "containers": [{"name": "a", "image": "busybox:1.36"}]},
        "status": {"phase": "Running", "containerStatuses": [
            {"name": "a", "ready": False, "restartCount": 0, "image": "busybox:1.36", "imageID": "",
             "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started,
                                      "finishedAt": finished}}}]}}, keep_status=True)
    cluster.at(10)
    assert cluster.get("done")["status"]["phase"] == "Succeeded"


def test_helpers() -> None:
    assert normalize_image("nginx") == "docker.io/library/nginx:latest"
    assert normalize_image("bitnami/redis:7") == "docker.io/bitnami/redis:7"
    assert normalize_image("registry.local:5000/a/b:1") == "registry.local:5000/a/b:1"
    guaranteed = {"spec": {"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}}
    assert qos_class(guaranteed) == "Guaranteed"
    assert qos_class({"spec": {"containers": [{"resources": {"requests": {"cpu": "1"}}}]}}) == "Burstable"
    assert qos_class({"spec": {"containers": [{}]}}) == "BestEffort"


# -- scheduler -------------------------------------------------------------------------------------------

def test_scheduler_spreads_least_requested_then_by_name(cluster: Cluster) -> None:
    for i in range(4):
        cluster.pod(f"p{i}")
        cluster.at(0.1 * (i + 1))
    nodes = [cluster.get(f"p{i}")["spec"]["nodeName"] for i in range(4)]
    assert nodes == ["node-a", "node-b", "node-a", "node-b"]


def test_scheduler_taints_cordon_and_not_ready() -> None:
    c = Cluster()
    c.node("gpu-1", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
    c.node("edge-1", unschedulable=True)
    c.node("edge-2", ready="Unknown")
    c.pod("web-1")
    c.at(1)
    pod = c.get("web-1")
    want = ("0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, "
            "1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, 1 node(s) were unschedulable. "
            "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling..")
    assert "nodeName" not in pod["spec"]
    assert cond(pod, "PodScheduled") | {"lastTransitionTime": None} == {
        "type": "PodScheduled", "status": "False", "lastProbeTime": None, "lastTransitionTime": None,
        "reason": "Unschedulable", "message": want}
    assert pod["status"]["phase"] == "Pending"
    failed = c.spy.of("web-1", "FailedScheduling")
    assert failed and failed[0][1] == want
    ev = next(e for e in c.store.list("/events") if e["reason"] == "FailedScheduling")
    assert ev["type"] == "Warning" and ev["source"] == {"component": "default-scheduler"}
    assert len(failed) == 1  # no retry storm while nothing changes

    def uncordon(n: dict) -> None:
        n["spec"].pop("unschedulable")

    c.store.mutate("/nodes", None, "edge-1", uncordon)
    c.at(3)
    assert c.get("web-1")["spec"]["nodeName"] == "edge-1"
    assert cond(c.get("web-1"), "PodScheduled")["status"] == "True"


def test_scheduler_tolerations() -> None:
    c = Cluster()
    c.node("gpu-1", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
    c.node("edge-1", taints=[{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}], ready="False")
    c.pod("ml", tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}])
    c.pod("any", tolerations=[{"operator": "Exists"}])
    c.at(1)
    assert c.get("ml")["spec"]["nodeName"] == "gpu-1"
    assert c.get("any")["spec"]["nodeName"] == "edge-1"  # least requested after "ml" took gpu-1


def test_scheduler_capacity_and_retry_on_delete() -> None:
    c = Cluster()
    c.node("node-a", cpu="1")
    c.node("node-b", cpu="1")
    for name in ("a", "b", "c"):
        c.pod(name, cpu="600m")
    c.at(1)
    assert {c.get("a")["spec"]["nodeName"], c.get("b")["spec"]["nodeName"]} == {"node-a", "node-b"}
    assert cond(c.get("c"), "PodScheduled")["message"] == (
        "0/2 nodes are available: 2 Insufficient cpu. "
        "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod..")
    c.store.delete("/pods", "default", "a")
    c.at(6)
    assert c.get("c")["spec"].get("nodeName")


def test_scheduler_memory_pods_and_selector() -> None:
    c = Cluster()
    c.node("small", memory="100Mi", labels={"disk": "ssd"})
    c.node("tiny", pods="0", labels={"disk": "ssd"})
    c.node("other")
    c.pod("big", memory="200Mi", nodeSelector={"disk": "ssd"})
    c.pod("ssd", memory="10Mi", nodeSelector={"disk": "ssd"})
    c.at(1)
    assert cond(c.get("big"), "PodScheduled")["message"] == (
        "0/3 nodes are available: 1 Insufficient memory, 1 Too many pods, "
        "1 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: "
        "1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod..")
    assert c.get("ssd")["spec"]["nodeName"] == "small"


def test_scheduler_node_affinity() -> None:
    c = Cluster()
    c.node("z1", labels={"topology.kubernetes.io/zone": "z1"})
    c.node("z2", labels={"topology.kubernetes.io/zone": "z2"})
    c.pod("web", affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["z2"]}]}]}}})
    c.at(1)
    assert c.get("web")["spec"]["nodeName"] == "z2"


def test_scheduler_without_nodes_and_fit_error_format() -> None:
    c = Cluster()
    c.pod("lonely")
    c.at(1)
    assert cond(c.get("lonely"), "PodScheduled")["message"] == "no nodes available to schedule pods"
    assert fit_error(1, {"n": ["Insufficient cpu", "Insufficient memory"]}) == (
        "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. "
        "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod..")
    c.node("late")
    c.at(3)
    assert c.get("lonely")["spec"]["nodeName"] == "late"


# -- logs ------------------------------------------------------------------------------------------------

def test_logs_lines_tail_and_errors(cluster: Cluster) -> None:
    logs = cluster.ctx.shared["logs"]
    cluster.pod("web-1")
    cluster.at(0.2)
    with pytest.raises(ApiError) as err:
        logs.lines("default", "web-1", "web", False)
    assert err.value.code == 400
    assert err.value.message == 'container "web" in pod "web-1" is waiting to start: ContainerCreating'
    cluster.at(60)
    lines = logs.lines("default", "web-1", None, False)
    assert re.fullmatch(r"2025-01-06T12:00:02\.\d{9}Z", lines[0][0])
    assert "nginx:1.25" in lines[0][1]
    assert any("status=200" in text for _, text in lines)
    stamps = [s for s, _ in lines]
    assert stamps == sorted(stamps) and all(s <= "2025-01-06T12:01:00.000000000Z" for s in stamps)
    assert logs.lines("default", "web-1", "web", False) == lines  # deterministic
    with pytest.raises(ApiError) as err:
        logs.lines("default", "web-1", "web", True)
    assert err.value.message == 'previous terminated container "web" in pod "web-1" not found'
    cluster.at(3600)
    assert len(logs.lines("default", "web-1", "web", False)) == 200  # ring buffer


def test_logs_err_image_serves_errors(cluster: Cluster) -> None:
    logs = cluster.ctx.shared["logs"]
    cluster.pod("flaky", image="shop/api:3.0-err")
    cluster.at(1200)
    lines = [t for _, t in logs.lines("default", "flaky", "web", False)]
    errors = [t for t in lines if "status=5" in t]
    assert len(errors) >= 0.1 * len(lines)


def test_logs_previous_for_crash_loop(cluster: Cluster) -> None:
    logs = cluster.ctx.shared["logs"]
    cluster.pod("crash", image="nginx:1.25-bad")
    cluster.at(18)
    cs = cstatus(cluster.get("crash"))
    assert cs["restartCount"] == 2 and "running" in cs["state"]
    prev = [t for _, t in logs.lines("default", "crash", "web", True)]
    assert prev[0].startswith('level=info msg="starting web" image=nginx:1.25-bad')
    assert any(t.startswith("panic: ") for t in prev)
    cur = [t for _, t in logs.lines("default", "crash", "web", False)]
    assert not any(t.startswith("panic: ") for t in cur)  # the running instance has not crashed yet


def test_logs_subscribe_streams_and_ends(cluster: Cluster) -> None:
    logs = cluster.ctx.shared["logs"]
    cluster.pod("web-1")
    cluster.at(10)
    before = logs.lines("default", "web-1", "web", False)
    queue = logs.subscribe("default", "web-1", "web")
    cluster.at(70)
    streamed = []
    while not queue.empty():
        streamed.append(queue.get_nowait())
    assert streamed and None not in streamed
    assert streamed[0][0] > before[-1][0]
    assert before + streamed == logs.lines("default", "web-1", "web", False)
    cluster.store.delete("/pods", "default", "web-1")
    cluster.at(75)
    tail = []
    while not queue.empty():
        tail.append(queue.get_nowait())
    assert tail[-1] is None
    assert any("shutting down" in e[1] for e in tail[:-1])
    logs.unsubscribe("default", "web-1", queue)


def test_logs_registered_source_wins_and_is_followed(cluster: Cluster) -> None:
    logs = cluster.ctx.shared["logs"]
    cluster.ctx.shared["container_exits"].append(exits_after(20, 0, only="gen"))

    def source(namespace: str, pod: str, container: str, previous: bool) -> list[tuple[float, str]] | None:
        if pod != "gen":
            return None
        return [(cluster.t0 + t, f"line {t}") for t in (15, 5, 10, 21)]  # unordered

    logs.register_source(source)
    logs.register_source(source)  # idempotent
    cluster.pod("gen", restartPolicy="Never")
    cluster.pod("web-1")
    cluster.at(0.5)
    with pytest.raises(ApiError) as err:  # the kubelet's errors come first
        logs.lines("default", "gen", "web", False)
    assert "waiting to start" in err.value.message
    cluster.at(7)
    assert [t for _, t in logs.lines("default", "gen", "web", False)] == ["line 5"]
    assert not any(t.startswith("line") for _, t in logs.lines("default", "web-1", "web", False))
    queue = logs.subscribe("default", "gen", "web")
    cluster.at(40)
    got = []
    while not queue.empty():
        got.append(queue.get_nowait())
    assert [g[1] for g in got[:-1]] == ["line 10", "line 15", "line 21"] and got[-1] is None
    assert got[0][0].startswith("2025-01-06T12:00:10.")
    with pytest.raises(ApiError):
        logs.lines("default", "gen", "web", True)


def test_logs_unreachable_on_partition(cluster: Cluster) -> None:
    logs = cluster.ctx.shared["logs"]
    cluster.pod("web-1")
    cluster.at(5)
    cluster.ctx.shared["partitions"].add("node-a")
    with pytest.raises(ApiError) as err:
        logs.lines("default", "web-1", "web", False)
    assert err.value.code == 500 and "10250/containerLogs/default/web-1/web" in err.value.message


# -- metrics.k8s.io --------------------------------------------------------------------------------------

CPU = re.compile(r"^\d+[num]?$")
MEM = re.compile(r"^\d+(Ki|Mi|Gi)?$")


def test_metrics_shapes(cluster: Cluster) -> None:
    metrics = cluster.ctx.shared["metrics"]
    cluster.pod("web-1")
    cluster.pod("web-2")
    cluster.at(40)
    pods = metrics.pod_metrics("default")
    assert [p["metadata"]["name"] for p in pods] == ["web-1", "web-2"]
    for p in pods:
        assert set(p) == {"kind", "apiVersion", "metadata", "timestamp", "window", "containers"}
        assert p["kind"] == "PodMetrics" and p["apiVersion"] == "metrics.k8s.io/v1beta1"
        assert p["timestamp"] == "2025-01-06T12:00:30Z" and p["window"] == "15s"
        assert p["metadata"]["labels"] == {"app": "web"} and p["metadata"]["namespace"] == "default"
        (c,) = p["containers"]
        assert c["name"] == "web" and CPU.match(c["usage"]["cpu"]) and MEM.match(c["usage"]["memory"])
    nodes = metrics.node_metrics()
    assert [n["metadata"]["name"] for n in nodes] == ["node-a", "node-b"]
    for n in nodes:
        assert n["kind"] == "NodeMetrics" and n["window"] == "20s"
        assert CPU.match(n["usage"]["cpu"]) and MEM.match(n["usage"]["memory"])
    assert metrics.pod_metrics("other") == []
    cluster.ctx.shared["partitions"].add("node-a")
    cluster.at(46)
    assert [n["metadata"]["name"] for n in metrics.node_metrics()] == ["node-b"]
    assert [p["metadata"]["name"] for p in metrics.pod_metrics(None)] == ["web-2"]


def test_metrics_follow_load_override() -> None:
    from almtui.kube.quantities import cpu_millis, to_bytes

    c = Cluster(options={"load": {"web": {"baseRps": 100, "cpuPerRequest": 2, "idleCpu": 10,
                                          "memory": "100Mi", "profile": "flat"}}})
    c.node("node-a")
    c.pod("web-1")
    c.pod("web-2")
    c.pod("web-3", image="nginx:1.25-bad")
    c.at(61)
    pods = {p["metadata"]["name"]: p for p in c.ctx.shared["metrics"].pod_metrics("default")}
    at = parse_rfc3339(pods["web-1"]["timestamp"]).timestamp()
    for name in ("web-1", "web-2"):
        usage = pods[name]["containers"][0]["usage"]
        assert usage["cpu"] == "110m"  # 10m idle + 100 rps / 2 Ready pods x 2m
        _, mem = c.ctx.shared["load"].pod_usage("web", name, at, namespace="default")
        assert to_bytes(usage["memory"]) == mem
    node = c.ctx.shared["metrics"].node_metrics()[0]
    assert cpu_millis(node["usage"]["cpu"]) > 220


def test_metrics_are_computed_per_namespace_and_kept_for_the_window(cluster: Cluster) -> None:
    metrics = cluster.ctx.shared["metrics"]
    cluster.store.create("/namespaces", {"metadata": {"name": "other"}})

    def other(name: str) -> None:
        cluster.store.create("/pods", {"metadata": {"name": name, "namespace": "other", "labels": {"app": "x"}},
                                       "spec": {"containers": [{"name": "x", "image": "nginx:1.25"}]}})

    cluster.pod("web-1")
    other("x")
    cluster.at(20)
    first, other_first = metrics.pod_metrics("default"), metrics.pod_metrics("other")
    assert [p["metadata"]["name"] for p in first] == ["web-1"]
    assert [p["metadata"]["name"] for p in other_first] == ["x"]
    assert metrics.pod_metrics("default") is first  # same window, nothing changed: no recomputation
    other("y")
    cluster.at(24)  # y runs now, still in the 12:00:15 window (so it started after the scrape)
    assert metrics.pod_metrics("default") is first  # another namespace's changes keep this one
    again = metrics.pod_metrics("other")
    assert again is not other_first and [p["metadata"]["name"] for p in again] == ["x"]
    assert [p["metadata"]["name"] for p in metrics.pod_metrics(None)] == ["web-1", "x"]
    node_cpu = sum(cpu_millis(n["usage"]["cpu"]) for n in metrics.node_metrics())
    pods_cpu = sum(cpu_millis(c["usage"]["cpu"]) for p in metrics.pod_metrics(None) for c in p["containers"])
    assert node_cpu > pods_cpu
    cluster.at(31)
    assert [p["metadata"]["name"] for p in metrics.pod_metrics("other")] == ["x", "y"]
    assert metrics.pod_metrics("default")[0]["timestamp"] == "2025-01-06T12:00:30Z"
