"""View-model basics: times, image tags, tolerant accessors and the kubectl pod STATUS column."""

from __future__ import annotations

from almtui.cluster.views import age, build_pod, build_pods, image_tag
from almtui.cluster.views.common import OwnerIndex, pod_requests, pod_status, to_int
from almtui.kube.durations import parse_rfc3339

T0 = "2026-01-01T00:00:00Z"
NOW = parse_rfc3339(T0).timestamp() + 600  # ten minutes later


def ts(seconds: float) -> str:
    """An RFC 3339 time ``seconds`` after T0."""
    from datetime import UTC, datetime
    return datetime.fromtimestamp(parse_rfc3339(T0).timestamp() + seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name="web-1", *, phase="Running", statuses=None, init_statuses=None, init=None, meta=None, conditions=None,
        reason=None) -> dict:
    status = {"phase": phase, "podIP": "10.0.0.5", "conditions": conditions or [],
              "containerStatuses": statuses if statuses is not None else [
                  {"name": "web", "ready": True, "restartCount": 0, "state": {"running": {"startedAt": ts(1)}}}]}
    if init_statuses is not None:
        status["initContainerStatuses"] = init_statuses
    if reason:
        status["reason"] = reason
    return {
        "metadata": {"name": name, "namespace": "prod", "uid": f"uid-{name}", "creationTimestamp": T0,
                     "labels": {"app": "web", "pod-template-hash": "abc123"},
                     "ownerReferences": [{"kind": "ReplicaSet", "name": "web-abc123", "uid": "rs-uid",
                                          "controller": True}], **(meta or {})},
        "spec": {"nodeName": "node-1", "containers": [{"name": "web", "image": "reg/web:1.0",
                                                       "resources": {"requests": {"cpu": "100m",
                                                                                  "memory": "64Mi"}}}],
                 "initContainers": init or []},
        "status": status,
    }


def test_age_handles_missing_malformed_and_future_times():
    assert age(None, NOW) is None
    assert age("yesterday", NOW) is None
    assert age(42, NOW) is None
    assert age(T0, NOW) == 600
    assert age(ts(1200), NOW) == 0.0  # clock skew: never negative


def test_image_tag():
    assert image_tag("registry.local/retail/storefront:1.4.0") == "1.4.0"
    assert image_tag("reg.local:5000/a/b:2.0-rc.1@sha256:0123456789abcdef") == "2.0-rc.1"
    assert image_tag("reg.local:5000/a/b") == "latest"
    assert image_tag("nginx") == "latest"
    assert image_tag("b@sha256:0123456789abcdef0123") == "sha256:0123456789ab"
    assert image_tag("") == ""


def test_to_int_is_tolerant():
    assert to_int("3") == 3
    assert to_int(" -2 ") == -2
    assert to_int("²") == 0
    assert to_int(True) == 0
    assert to_int(None, 7) == 7
    assert to_int("1e3") == 0
    assert to_int(2.9) == 2


def test_running_pod_view():
    v = build_pod(pod(), NOW)
    assert v.key == ("prod", "web-1")
    assert (v.status, v.ready, v.restarts, v.node, v.ip) == ("Running", "1/1", 0, "node-1", "10.0.0.5")
    assert (v.owner_kind, v.owner_name, v.template_hash) == ("ReplicaSet", "web-abc123", "abc123")
    assert v.images == ("reg/web:1.0",)
    assert v.age == 600 and v.last_restart_age is None and not v.deleting


def test_crash_loop_status_and_last_restart():
    cs = {"name": "web", "ready": False, "restartCount": 4,
          "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
          "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ts(540)}}}
    v = build_pod(pod(statuses=[cs]), NOW)
    assert (v.status, v.ready, v.restarts, v.last_restart_age) == ("CrashLoopBackOff", "0/1", 4, 60)


def test_kubectl_status_column_variants():
    waiting = [{"name": "web", "ready": False, "state": {"waiting": {"reason": "ContainerCreating"}}}]
    assert pod_status(pod(phase="Pending", statuses=waiting))[0] == "ContainerCreating"
    done = [{"name": "web", "ready": False, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]
    assert pod_status(pod(phase="Succeeded", statuses=done))[0] == "Completed"
    no_reason = [{"name": "web", "ready": False, "state": {"terminated": {"exitCode": 3}}}]
    assert pod_status(pod(phase="Failed", statuses=no_reason))[0] == "ExitCode:3"
    signal = [{"name": "web", "ready": False, "state": {"terminated": {"exitCode": 137, "signal": 9}}}]
    assert pod_status(pod(phase="Failed", statuses=signal))[0] == "Signal:9"
    deleting = pod(meta={"deletionTimestamp": ts(500)})
    assert pod_status(deleting)[0] == "Terminating"
    lost = pod(meta={"deletionTimestamp": ts(500)}, reason="NodeLost")
    assert pod_status(lost)[0] == "Unknown"
    evicted = pod(phase="Failed", reason="Evicted", statuses=[])
    assert pod_status(evicted)[0] == "Evicted"
    gated = pod(phase="Pending", statuses=[], conditions=[{"type": "PodScheduled", "status": "False",
                                                             "reason": "SchedulingGated"}])
    assert pod_status(gated)[0] == "SchedulingGated"


def test_init_container_status():
    init = [{"name": "migrate", "image": "reg/migrate:1"}]
    running = [{"name": "migrate", "ready": False, "restartCount": 0, "state": {"running": {}}}]
    p = pod(phase="Pending", init=init, init_statuses=running,
            statuses=[{"name": "web", "ready": False, "state": {"waiting": {"reason": "PodInitializing"}}}])
    assert pod_status(p)[0] == "Init:0/1"
    crash = [{"name": "migrate", "ready": False, "restartCount": 2,
              "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]
    p = pod(phase="Pending", init=init, init_statuses=crash, statuses=[])
    status, ready, total, restarts, _ = pod_status(p)
    assert (status, ready, total, restarts) == ("Init:CrashLoopBackOff", 0, 1, 2)
    # A sidecar (restartable init container) counts towards READY.
    sidecar = [{"name": "proxy", "image": "reg/proxy:1", "restartPolicy": "Always"}]
    started = [{"name": "proxy", "ready": True, "started": True, "restartCount": 1, "state": {"running": {}}}]
    p = pod(init=sidecar, init_statuses=started,
            conditions=[{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}])
    status, ready, total, restarts, _ = pod_status(p)
    assert (status, ready, total, restarts) == ("Running", 2, 2, 1)


def test_pod_requests_take_init_containers_into_account():
    p = pod(init=[{"name": "big-init", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
                  {"name": "sidecar", "restartPolicy": "Always",
                   "resources": {"requests": {"cpu": "50m", "memory": "16Mi"}}}])
    assert pod_requests(p) == (1000, 2**30)
    assert pod_requests(pod()) == (100, 64 * 2**20)


def test_owner_index_by_uid_and_by_name():
    a = pod("a")
    b = pod("b", meta={"ownerReferences": [{"kind": "ReplicaSet", "name": "web-abc123", "controller": True}]})
    index = OwnerIndex([a, b])
    assert index.children({"metadata": {"uid": "rs-uid"}}, "ReplicaSet") == [a]
    owner_without_uid = {"metadata": {"name": "web-abc123", "namespace": "prod"}}
    assert index.children(owner_without_uid, "ReplicaSet") == [a, b]


def test_build_pods_sorted_and_tolerant():
    views = build_pods([pod("b"), "junk", None, pod("a"), {}], NOW)
    assert [v.name for v in views] == ["", "a", "b"]
    empty = views[0]
    assert (empty.status, empty.ready, empty.age) == ("", "0/0", None)
