"""NodeHealth (leases, taints, eviction countdown, capacity), PodIssue rules, WarningEvent dedup."""

from __future__ import annotations

from datetime import UTC, datetime

from almtui.cluster.views import PerObject, build_nodes, build_pod_issues, build_warning_events
from almtui.cluster.views.common import pod_status
from almtui.cluster.views.health import never_an_issue
from almtui.kube.durations import parse_rfc3339

T0 = "2026-01-01T00:00:00Z"
BASE = parse_rfc3339(T0).timestamp()
NOW = BASE + 1000
UNREACHABLE = "node.kubernetes.io/unreachable"


def ts(seconds: float, micro: bool = False) -> str:
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ"
    return datetime.fromtimestamp(BASE + seconds, UTC).strftime(fmt)


def node(name: str, *, ready="True", heartbeat=990, taints=None, pressures=(), labels=None) -> dict:
    conds = [{"type": t, "status": "True", "reason": "x"} for t in pressures]
    reason = "KubeletReady" if ready == "True" else "NodeStatusUnknown"
    conds.append({"type": "Ready", "status": ready, "reason": reason, "message": "m",
                  "lastHeartbeatTime": ts(heartbeat)})
    return {"metadata": {"name": name, "creationTimestamp": T0,
                         "labels": labels if labels is not None else {
                             "topology.kubernetes.io/zone": "store-01", "node-role.kubernetes.io/edge": "",
                             "node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "gateway"}},
            "spec": {"taints": taints or []},
            "status": {"allocatable": {"cpu": "3900m", "memory": "8Gi", "pods": "110"},
                       "conditions": conds, "nodeInfo": {"kubeletVersion": "v1.33.0"},
                       "addresses": [{"type": "Hostname", "address": name},
                                     {"type": "InternalIP", "address": "10.0.0.1"}]}}


def lease(name: str, renew: float, duration: int = 40) -> dict:
    return {"metadata": {"name": name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": duration, "renewTime": ts(renew, micro=True)}}


def pod(name: str, *, node_name="n1", phase="Running", tolerations=None, cpu="100m", statuses=None, created=0,
        status_extra=None, meta_extra=None, conditions=None) -> dict:
    status = {"phase": phase, "conditions": conditions or [],
              "containerStatuses": statuses if statuses is not None else [
                  {"name": "app", "ready": True, "restartCount": 0, "state": {"running": {}}}],
              **(status_extra or {})}
    return {"metadata": {"name": name, "namespace": "prod", "creationTimestamp": ts(created),
                         "ownerReferences": [{"kind": "ReplicaSet", "name": "web-1", "controller": True}],
                         **(meta_extra or {})},
            "spec": {"nodeName": node_name, "tolerations": tolerations if tolerations is not None else [
                {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                 "tolerationSeconds": 300}],
                     "containers": [{"name": "app", "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}]},
            "status": status}


# --- nodes ------------------------------------------------------------------------------------


def test_healthy_node():
    pods = [pod("a"), pod("b", cpu="250m"), pod("done", phase="Succeeded"), pod("elsewhere", node_name="n2")]
    metrics = [{"metadata": {"name": "n1"}, "usage": {"cpu": "420m", "memory": "1Gi"}}]
    [view] = build_nodes([node("n1")], pods, [lease("n1", 995)], metrics, NOW)
    assert view.key == ("n1",)
    assert (view.ready, view.reason, view.unreachable, view.suspect) == ("True", "KubeletReady", False, False)
    assert view.heartbeat_age == 5 and view.lease_age == 5
    assert view.taints == () and view.eviction_countdown is None and view.pressures == ()
    assert (view.cpu_allocatable, view.memory_allocatable) == (3900, 8 * 2**30)
    assert (view.cpu_requested, view.memory_requested, view.pods, view.pods_capacity) == (350, 128 * 2**20, 2, 110)
    assert (view.cpu_used, view.memory_used) == (420, 2**30)
    assert view.roles == ("control-plane", "edge", "gateway")
    assert (view.zone, view.kubelet_version, view.internal_ip, view.age) == ("store-01", "v1.33.0", "10.0.0.1", 1000)


def test_unreachable_node_eviction_countdown():
    taints = [{"key": UNREACHABLE, "effect": "NoSchedule", "timeAdded": ts(900)},
              {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": ts(900)}]
    short = [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 150}]
    forever = [{"operator": "Exists"}]  # a DaemonSet-style toleration: never evicted
    pods = [pod("default"), pod("short", tolerations=short), pod("ds", tolerations=forever)]
    [view] = build_nodes([node("n1", ready="Unknown", heartbeat=850, taints=taints)], pods, [], None, NOW)
    assert view.unreachable and view.ready == "Unknown" and view.reason == "NodeStatusUnknown"
    assert view.taints == ((UNREACHABLE, "NoSchedule", ts(900)), (UNREACHABLE, "NoExecute", ts(900)))
    assert view.eviction_countdown == 50  # 900 + 150 - 1000
    assert view.heartbeat_age == 150 and view.lease_age is None

    [view] = build_nodes([node("n1", ready="Unknown", taints=taints)], [pod("default")], [], None, NOW)
    assert view.eviction_countdown == 200
    # A pod that does not tolerate the taint at all goes at once; overdue clamps at zero.
    [view] = build_nodes([node("n1", ready="Unknown", taints=taints)], [pod("bare", tolerations=[])], [], None, NOW)
    assert view.eviction_countdown == 0
    [view] = build_nodes([node("n1", ready="Unknown", taints=taints)], [pod("ds", tolerations=forever)], [], None, NOW)
    assert view.eviction_countdown is None


def test_ready_node_with_stale_lease_is_suspect():
    [view] = build_nodes([node("n1", heartbeat=700)], [], [lease("n1", 900)], [], NOW)
    assert view.ready == "True" and view.suspect and not view.unreachable
    assert view.lease_age == 100 and view.heartbeat_age == 100
    [view] = build_nodes([node("n1", heartbeat=700)], [], [lease("n1", 990)], [], NOW)
    assert not view.suspect and view.heartbeat_age == 10


def test_pressures_and_missing_metrics():
    [view] = build_nodes([node("n1", pressures=("MemoryPressure", "DiskPressure"), labels={})], [], None, None, NOW)
    assert view.pressures == ("MemoryPressure", "DiskPressure")
    assert view.cpu_used is None and view.roles == () and view.zone == ""


# --- pod issues -------------------------------------------------------------------------------


def waiting(reason: str, message: str = "", restarts: int = 0, last: dict | None = None) -> list[dict]:
    cs = {"name": "app", "ready": False, "restartCount": restarts, "state": {"waiting": {"reason": reason,
                                                                                         "message": message}}}
    if last:
        cs["lastState"] = {"terminated": last}
    return [cs]


def test_pod_issue_rules_and_order():
    pods = [
        pod("healthy"),
        pod("completed", phase="Succeeded", statuses=[]),
        pod("crash", created=100, statuses=waiting("CrashLoopBackOff", "back-off 5m0s", 7,
                                                    {"exitCode": 1, "reason": "Error", "finishedAt": ts(990)})),
        pod("crash-old", created=10, statuses=waiting("CrashLoopBackOff", "", 30)),
        pod("oom-loop", created=200, statuses=waiting("CrashLoopBackOff", "", 4, {"exitCode": 137,
                                                                                   "reason": "OOMKilled"})),
        pod("pull", created=300, statuses=waiting("ErrImagePull", "manifest unknown")),
        pod("pending-new", phase="Pending", created=950, statuses=[]),
        pod("pending-old", phase="Pending", created=100, statuses=[],
            conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                         "message": "0/4 nodes are available: 4 Insufficient cpu."}]),
        pod("creating", phase="Pending", created=500, statuses=waiting("ContainerCreating")),
        pod("restarts", created=400, statuses=[{"name": "app", "ready": True, "restartCount": 3,
                                                "state": {"running": {}}}]),
        pod("oom-once", created=400, statuses=[{"name": "app", "ready": True, "restartCount": 1,
                                                "state": {"running": {}},
                                                "lastState": {"terminated": {"reason": "OOMKilled",
                                                                             "exitCode": 137}}}]),
        pod("evicted", phase="Failed", statuses=[], status_extra={"reason": "Evicted",
                                                                  "message": "The node was low on resource: memory."}),
        pod("failed", phase="Failed", statuses=[], status_extra={"reason": "DeadlineExceeded"}),
        pod("stuck", meta_extra={"deletionTimestamp": ts(800), "deletionGracePeriodSeconds": 30}),
        pod("deleting", meta_extra={"deletionTimestamp": ts(990)}),
    ]
    issues = build_pod_issues(pods, NOW)
    got = [(x.name, x.kind) for x in issues]
    assert got == [
        ("oom-loop", "OOMKilled"), ("crash", "CrashLoopBackOff"), ("crash-old", "CrashLoopBackOff"),
        ("oom-once", "OOMKilled"), ("pull", "ImagePullBackOff"), ("failed", "Error"), ("evicted", "Evicted"),
        ("stuck", "Terminating"), ("creating", "Pending"), ("pending-old", "Pending"), ("restarts", "Restarts"),
    ]
    by_name = {x.name: x for x in issues}
    crash = by_name["crash"]
    assert crash.detail == "app: CrashLoopBackOff; back-off 5m0s; last exit 1 (Error)"
    assert (crash.restarts, crash.since, crash.last_restart_age, crash.node) == (7, 900, 10, "n1")
    assert (crash.owner, crash.key) == ("ReplicaSet/web-1", ("prod", "crash"))
    assert by_name["pending-old"].detail == "Unschedulable; 0/4 nodes are available: 4 Insufficient cpu."
    assert by_name["creating"].detail == "ContainerCreating"
    assert by_name["evicted"].detail == "The node was low on resource: memory."
    assert by_name["pull"].detail == "app: ErrImagePull; manifest unknown"
    assert by_name["stuck"].detail == "deletion requested 230s ago; node n1"
    assert by_name["restarts"].detail == "restarted 3 times"
    assert [x.name for x in build_pod_issues(pods, NOW, pending_after=10)].count("pending-new") == 1

    # The service's memo skips pods that never have an issue; every answer stays the same, the
    # rules that wait for time (Pending, stuck deleting) included, now and later.
    statuses, quiet = PerObject(pod_status), PerObject(never_an_issue)
    for now, after in ((NOW, 120), (NOW, 10), (NOW + 3600, 120), (NOW - 500, 120)):
        assert build_pod_issues(pods, now, after, status_of=statuses, quiet=quiet) == \
            build_pod_issues(pods, now, after)
    assert {p["metadata"]["name"] for p in pods if never_an_issue(p)} == {"healthy", "completed"}


# --- warning events ---------------------------------------------------------------------------


def event(name: str, reason: str, message: str, *, first: float, last: float, count=1, type_="Warning",
          kind="Pod") -> dict:
    return {"metadata": {"name": f"{name}.{first}", "namespace": "prod"}, "type": type_,
            "involvedObject": {"kind": kind, "namespace": "prod", "name": name}, "reason": reason,
            "message": message, "count": count, "firstTimestamp": ts(first), "lastTimestamp": ts(last),
            "source": {"component": "kubelet", "host": "n1"}}


def test_warning_events_filtered_merged_newest_first():
    events = [
        event("a", "BackOff", "Back-off restarting", first=100, last=900, count=5),
        event("a", "BackOff", "Back-off restarting", first=50, last=400, count=2),  # same object/reason/message
        event("b", "FailedScheduling", "0/4 nodes", first=980, last=990),
        event("c", "Scheduled", "ok", first=999, last=999, type_="Normal"),
        {"metadata": {"name": "new-api", "namespace": "prod", "creationTimestamp": ts(10)}, "type": "Warning",
         "regarding": {"kind": "Deployment", "name": "web"}, "reason": "Failed", "note": "quota",
         "eventTime": ts(500, micro=True), "series": {"count": 4, "lastObservedTime": ts(950, micro=True)},
         "reportingController": "deployment-controller"},
    ]
    views = build_warning_events(events, NOW)
    assert [(v.object, v.reason) for v in views] == [("Pod/b", "FailedScheduling"), ("Deployment/web", "Failed"),
                                                     ("Pod/a", "BackOff")]
    a = views[2]
    assert (a.count, a.first_seen, a.last_seen, a.source, a.message) == (7, 950, 100, "kubelet",
                                                                         "Back-off restarting")
    api = views[1]
    assert (api.count, api.last_seen, api.first_seen, api.source, api.message, api.namespace) == (
        4, 50, 500, "deployment-controller", "quota", "prod")
    assert len(build_warning_events(events, NOW, limit=1)) == 1
    assert views[0].key == ("prod", "Pod", "b", "FailedScheduling", "0/4 nodes")
