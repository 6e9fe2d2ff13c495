"""Node heartbeats and lifecycle: leases, Unknown after the grace period, taints, evictions, pod GC."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from itertools import pairwise
from types import SimpleNamespace

import kubernetes_validate
import pytest

from almtui.kube.durations import parse_rfc3339
from almtui.sandbox.clock import SimClock
from almtui.sandbox.controllers.base import Context, Manager
from almtui.sandbox.controllers.events import EventRecorder
from almtui.sandbox.controllers.nodes import (
    MONITOR_GRACE_PERIOD,
    NodeHeartbeat,
    NodeLifecycle,
    PodGC,
    TaintEviction,
    matching_tolerations,
    min_toleration_seconds,
)
from almtui.sandbox.store import Store

START = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
TOLERATE_300 = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
]


def node_obj(name: str, labels: dict | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": {},
        "status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"}, "conditions": []},
    }


def pod_obj(name: str, node: str, tolerations: list | None = None) -> dict:
    stamp = "2025-03-01T11:00:00Z"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "app", "image": "nginx:1.27"}],
            "terminationGracePeriodSeconds": 30,
            **({"tolerations": tolerations} if tolerations is not None else {}),
        },
        "status": {
            "phase": "Running",
            "startTime": stamp,
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": stamp},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": stamp},
            ],
        },
    }


class _DistinctEventNames:
    """Test shim: events.py names an Event <object>.<nanoseconds>, so with a frozen clock two events
    on one object in the same instant collide and the second is lost (reported to the events.py
    owner). Each read of time() moves a microsecond on, for naming only."""

    def __init__(self, clock: SimClock) -> None:
        self._clock = clock
        self._n = 0

    def time(self) -> float:
        self._n += 1
        return self._clock.time() + self._n * 1e-6

    def __getattr__(self, name: str):
        return getattr(self._clock, name)


def event_recorder(store: Store, clock: SimClock) -> EventRecorder:
    return EventRecorder(SimpleNamespace(store=store, clock=_DistinctEventNames(clock)))


class Env:
    def __init__(self, nodes: tuple[str, ...] = ("n1", "n2", "n3"), options: dict | None = None,
                 start: datetime = START) -> None:
        self.clock = SimClock(speed=1.0, start=start)
        self.clock.freeze()
        self.store = Store(self.clock, random.Random(1))
        self.ctx = Context(self.store, self.clock, random.Random(1), options or {})
        self.ctx.events = event_recorder(self.store, self.clock)
        for ns in ("default", "kube-node-lease"):
            self.store.create("/namespaces", {"metadata": {"name": ns}})
        for n in nodes:
            self.store.create("/nodes", node_obj(n), keep_status=True)
        self.controllers = [NodeHeartbeat(self.ctx), NodeLifecycle(self.ctx), TaintEviction(self.ctx), PodGC(self.ctx)]
        self.mgr = Manager(self.ctx, self.controllers)
        self.mgr.resync()

    @property
    def partitions(self) -> set[str]:
        return self.ctx.shared["partitions"]

    def node(self, name: str) -> dict:
        return self.store.must_get("/nodes", None, name)

    def cond(self, obj: dict, type_: str) -> dict:
        return next(c for c in obj["status"]["conditions"] if c["type"] == type_)

    def taints(self, name: str) -> dict[tuple[str, str], dict]:
        return {(t["key"], t["effect"]): t for t in self.node(name)["spec"].get("taints", [])}

    def pod(self, name: str) -> dict | None:
        return self.store.get("/pods", "default", name)

    def events(self, reason: str) -> list[dict]:
        return [e for e in self.store.list("/events", "default") if e["reason"] == reason]

    def run_until(self, predicate, limit: float) -> float:
        """Advance second by second until predicate() holds; returns the elapsed simulated seconds."""
        start = self.ctx.now()
        while not predicate():
            assert self.ctx.now() - start < limit, "condition not reached in time"
            self.mgr.advance(1)
        return self.ctx.now() - start


def validate(obj: dict) -> None:
    kubernetes_validate.validate(obj, "1.33", strict=True)


def test_heartbeats_renew_leases_and_post_ready_status() -> None:
    env = Env()
    env.mgr.advance(1)
    for name in ("n1", "n2", "n3"):
        lease = env.store.must_get("coordination.k8s.io/leases", "kube-node-lease", name)
        assert lease["spec"]["holderIdentity"] == name
        assert lease["spec"]["leaseDurationSeconds"] == 40
        assert lease["metadata"]["ownerReferences"][0]["kind"] == "Node"
        assert lease["metadata"]["ownerReferences"][0]["uid"] == env.node(name)["metadata"]["uid"]
        validate(lease)
        node = env.node(name)
        validate(node)
        types = [c["type"] for c in node["status"]["conditions"]]
        assert types == ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
        ready = env.cond(node, "Ready")
        assert (ready["status"], ready["reason"], ready["message"]) == (
            "True",
            "KubeletReady",
            "kubelet is posting ready status",
        )
        mem = env.cond(node, "MemoryPressure")
        assert (mem["status"], mem["reason"], mem["message"]) == (
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        )
        assert env.cond(node, "PIDPressure")["reason"] == "KubeletHasSufficientPID"
        assert env.cond(node, "DiskPressure")["message"] == "kubelet has no disk pressure"
    assert len(env.events("NodeHasSufficientMemory")) == 3
    assert len(env.events("RegisteredNode")) == 3

    # renewals every 10 s; the status is re-posted only when the 5-minute report is due
    first = parse_rfc3339(
        env.store.must_get("coordination.k8s.io/leases", "kube-node-lease", "n1")["spec"]["renewTime"]
    )
    heartbeat = env.cond(env.node("n1"), "Ready")["lastHeartbeatTime"]
    renewals = set()
    for _ in range(60):
        env.mgr.advance(1)
        renewals.add(env.store.must_get("coordination.k8s.io/leases", "kube-node-lease", "n1")["spec"]["renewTime"])
    times = sorted(parse_rfc3339(r).timestamp() for r in renewals)
    assert times[0] == first.timestamp() and len(times) == 7  # the registration, then a seeded phase
    assert [round(b - a, 3) for a, b in pairwise(times[1:])] == [10.0] * 5
    assert env.cond(env.node("n1"), "Ready")["lastHeartbeatTime"] == heartbeat
    env.mgr.advance(250)
    assert env.cond(env.node("n1"), "Ready")["lastHeartbeatTime"] != heartbeat
    assert env.node("n1")["spec"].get("taints") is None


def test_partitioned_node_goes_unknown_is_tainted_and_its_pods_are_evicted() -> None:
    env = Env()
    env.store.create("/pods", pod_obj("tolerant", "n1", TOLERATE_300), keep_status=True)
    env.store.create("/pods", pod_obj("bare", "n1"), keep_status=True)
    env.store.create("/pods", pod_obj("elsewhere", "n2"), keep_status=True)
    env.mgr.advance(30)
    env.partitions.add("n1")
    elapsed = env.run_until(lambda: env.cond(env.node("n1"), "Ready")["status"] == "Unknown", 120)
    # the last renewal was at most 10 s before the cut; the monitor looks every 5 s
    assert MONITOR_GRACE_PERIOD - 10 < elapsed <= MONITOR_GRACE_PERIOD + 10
    node = env.node("n1")
    validate(node)
    for type_ in ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure"):
        c = env.cond(node, type_)
        assert (c["status"], c["reason"], c["message"]) == (
            "Unknown",
            "NodeStatusUnknown",
            "Kubelet stopped posting node status.",
        )
    unknown_at = env.ctx.now()
    assert [e["message"] for e in env.events("NodeNotReady") if e["involvedObject"]["kind"] == "Node"] == [
        "Node n1 status is now: NodeNotReady"
    ]
    for name in ("tolerant", "bare"):
        ready = env.cond(env.pod(name), "Ready")
        assert ready["status"] == "False"
        assert parse_rfc3339(ready["lastTransitionTime"]).timestamp() == pytest.approx(unknown_at, abs=1)
    assert env.cond(env.pod("elsewhere"), "Ready")["status"] == "True"
    pod_warnings = [e for e in env.events("NodeNotReady") if e["involvedObject"]["kind"] == "Pod"]
    assert sorted(e["involvedObject"]["name"] for e in pod_warnings) == ["bare", "tolerant"]
    assert {e["message"] for e in pod_warnings} == {"Node is not ready"}

    # both unreachable taints, each with timeAdded; the NoExecute one at the next monitor pass
    env.run_until(lambda: ("node.kubernetes.io/unreachable", "NoExecute") in env.taints("n1"), 10)
    taints = env.taints("n1")
    assert set(taints) == {
        ("node.kubernetes.io/unreachable", "NoSchedule"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
    }
    assert all(t.get("timeAdded") for t in taints.values())
    validate(env.node("n1"))
    tainted_at = parse_rfc3339(taints[("node.kubernetes.io/unreachable", "NoExecute")]["timeAdded"]).timestamp()
    assert env.taints("n2") == {}

    # no tolerations: deleted at once (gracefully: it stays Terminating, its kubelet is gone)
    bare = env.pod("bare")
    assert bare is not None and bare["metadata"].get("deletionTimestamp")
    assert env.cond(bare, "DisruptionTarget")["reason"] == "DeletionByTaintManager"
    marks = [e for e in env.events("TaintManagerEviction") if e["message"].startswith("Marking")]
    assert [e["message"] for e in marks] == ["Marking for deletion Pod default/bare"]
    assert marks[0]["source"]["component"] == "taint-eviction-controller"
    validate(marks[0])

    # tolerationSeconds 300: deleted 300 s after the taint appeared
    assert not env.pod("tolerant")["metadata"].get("deletionTimestamp")
    env.run_until(lambda: bool(env.pod("tolerant")["metadata"].get("deletionTimestamp")), 320)
    assert env.ctx.now() - tainted_at == pytest.approx(300, abs=1)
    assert "Marking for deletion Pod default/tolerant" in {e["message"] for e in env.events("TaintManagerEviction")}

    # heartbeats return: Ready again, taints gone, evictions of the remaining pods cancelled
    env.partitions.discard("n1")
    env.run_until(lambda: not env.taints("n1"), 30)
    node = env.node("n1")
    assert env.cond(node, "Ready")["status"] == "True"
    assert env.cond(node, "MemoryPressure")["reason"] == "KubeletHasSufficientMemory"
    assert [e["message"] for e in env.events("NodeReady")] == ["Node n1 status is now: NodeReady"]
    assert "Cancelling deletion of Pod default/bare" in {e["message"] for e in env.events("TaintManagerEviction")}
    assert env.mgr.errors == 0


def test_recovery_before_toleration_runs_out_cancels_the_eviction() -> None:
    env = Env()
    env.store.create("/pods", pod_obj("tolerant", "n1", TOLERATE_300), keep_status=True)
    env.mgr.advance(5)
    env.partitions.add("n1")
    env.run_until(lambda: ("node.kubernetes.io/unreachable", "NoExecute") in env.taints("n1"), 120)
    env.mgr.advance(60)
    env.partitions.discard("n1")
    env.run_until(lambda: not env.taints("n1"), 30)
    env.mgr.advance(400)
    assert not env.pod("tolerant")["metadata"].get("deletionTimestamp")
    assert [e["message"] for e in env.events("TaintManagerEviction")] == ["Cancelling deletion of Pod default/tolerant"]


def test_not_ready_kubelet_gets_not_ready_taints() -> None:
    env = Env()
    env.mgr.advance(5)
    env.ctx.shared["not_ready_nodes"]["n2"] = "container runtime is down"
    env.run_until(lambda: ("node.kubernetes.io/not-ready", "NoExecute") in env.taints("n2"), 30)
    ready = env.cond(env.node("n2"), "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False",
        "KubeletNotReady",
        "container runtime is down",
    )
    assert set(env.taints("n2")) == {
        ("node.kubernetes.io/not-ready", "NoSchedule"),
        ("node.kubernetes.io/not-ready", "NoExecute"),
    }
    del env.ctx.shared["not_ready_nodes"]["n2"]
    env.run_until(lambda: not env.taints("n2"), 30)


def test_whole_cluster_unreachable_stops_noexecute_tainting() -> None:
    """handleDisruption: with no Ready node left, the controller suspects itself and evicts nothing."""
    env = Env(nodes=("solo",))
    env.store.create("/pods", pod_obj("bare", "solo"), keep_status=True)
    env.mgr.advance(5)
    env.partitions.add("solo")
    env.run_until(lambda: env.cond(env.node("solo"), "Ready")["status"] == "Unknown", 120)
    env.mgr.advance(60)
    assert set(env.taints("solo")) == {("node.kubernetes.io/unreachable", "NoSchedule")}
    assert not env.pod("bare")["metadata"].get("deletionTimestamp")
    assert env.cond(env.pod("bare"), "Ready")["status"] == "False"


def test_unschedulable_node_gets_its_taint() -> None:
    env = Env()
    env.mgr.advance(2)
    env.store.mutate("/nodes", None, "n3", lambda n: n["spec"].update(unschedulable=True))
    env.mgr.advance(1)
    assert set(env.taints("n3")) == {("node.kubernetes.io/unschedulable", "NoSchedule")}
    env.store.mutate("/nodes", None, "n3", lambda n: n["spec"].pop("unschedulable"))
    env.mgr.advance(1)
    assert env.taints("n3") == {}


def test_flaky_node_drops_out_on_a_seeded_schedule() -> None:
    env = Env(options={"flaky_nodes": {"n2": {"every": 600, "down": 90}}})
    down: list[float] = []
    for _ in range(1200):
        env.mgr.advance(1)
        if "n2" in env.partitions:
            down.append(env.ctx.now())
    runs: list[list[float]] = []
    for t in down:
        if runs and t - runs[-1][-1] == pytest.approx(1):
            runs[-1].append(t)
        else:
            runs.append([t])
    assert len(runs) >= 2
    gaps = [b[0] - a[0] for a, b in pairwise(runs)]
    assert all(g == pytest.approx(600, abs=1) for g in gaps[1:] or gaps[-1:])
    assert len(runs[-2]) == 90 or len(runs[-1]) == 90  # full windows last `down` seconds
    assert "n1" not in env.partitions
    # the same seed gives the same schedule
    again = Env(options={"flaky_nodes": {"n2": {"every": 600, "down": 90}}})
    again.mgr.advance(int(runs[0][0] - again.ctx.now()) + 1)
    assert "n2" in again.partitions



def test_flaky_schedule_is_relative_to_the_clock_start() -> None:
    def down_at(start: datetime) -> list[float]:
        env = Env(options={"flaky_nodes": {"n2": {"every": 300, "down": 60}}}, start=start)
        out = []
        for _ in range(600):
            env.mgr.advance(1)
            if "n2" in env.partitions:
                out.append(env.ctx.now() - start.timestamp())
        return out

    first = down_at(START)
    assert first and first == down_at(datetime(2031, 7, 9, 3, 17, 41, tzinfo=UTC))


def test_clock_starts_on_a_whole_second_and_an_unread_clock_freezes_at_its_start() -> None:
    clock = SimClock(start=datetime(2025, 1, 1, 8, 0, 0, 987654, tzinfo=UTC))
    assert clock.start == datetime(2025, 1, 1, 8, 0, 0, tzinfo=UTC)
    clock.freeze()
    assert clock.time() == clock.start.timestamp() and clock.elapsed() == 0.0
    clock.advance(2.5)
    assert clock.now() == datetime(2025, 1, 1, 8, 0, 2, 500000, tzinfo=UTC)
    live = SimClock(speed=1000.0)
    assert live.start.microsecond == 0
    seen = live.time()
    live.freeze()  # read before: time that was seen never goes back
    assert live.time() >= seen


def test_two_builds_with_the_same_seed_and_start_are_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole-second start, a freeze that stands at the start, seeded phases: a rebuild is byte-identical."""
    from almtui.sandbox import runtime
    from almtui.sandbox.resources import REGISTRY
    from almtui.sandbox.scenario import load_scenario

    wall = datetime(2025, 6, 2, 9, 30, 0, 123456, tzinfo=UTC)

    class FrozenWall(datetime):
        @classmethod
        def now(cls, tz=None):
            return wall

    monkeypatch.setattr(runtime, "datetime", FrozenWall)

    def build() -> dict[str, list[str]]:
        sandbox = runtime.Sandbox(load_scenario("edge-retail"), seed=7)
        sandbox.build()
        return {r.key: [json.dumps(o, sort_keys=True) for o in sandbox.store.list(r.key)]
                for r in REGISTRY.resources}

    first, second = build(), build()
    assert first["/events"] and first["/pods"]
    assert first == second

def test_pod_gc_force_deletes_pods_of_a_deleted_node() -> None:
    env = Env()
    env.store.create("/pods", pod_obj("orphan", "n3"), keep_status=True)
    env.mgr.advance(5)
    env.store.delete("/nodes", None, "n3")
    assert env.store.get("coordination.k8s.io/leases", "kube-node-lease", "n3") is None
    env.mgr.advance(39)
    assert env.pod("orphan") is not None
    env.run_until(lambda: env.pod("orphan") is None, 60)


def test_pod_gc_force_deletes_terminating_pods_on_out_of_service_nodes() -> None:
    env = Env()
    env.store.create("/pods", pod_obj("stuck", "n1", TOLERATE_300), keep_status=True)
    env.mgr.advance(5)
    env.partitions.add("n1")
    env.run_until(lambda: env.cond(env.node("n1"), "Ready")["status"] == "Unknown", 120)
    env.mgr.advance(25)
    env.store.delete("/pods", "default", "stuck")
    assert env.pod("stuck")["metadata"].get("deletionTimestamp")
    env.mgr.advance(60)
    assert env.pod("stuck") is not None  # terminating on an unreachable node stays, as upstream
    oos = {"key": "node.kubernetes.io/out-of-service", "value": "nodeshutdown", "effect": "NoExecute"}
    env.store.mutate("/nodes", None, "n1", lambda n: n["spec"].setdefault("taints", []).append(oos))
    env.run_until(lambda: env.pod("stuck") is None, 25)


def test_toleration_matching() -> None:
    taint = {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}
    assert matching_tolerations([taint], []) == (False, [])
    assert matching_tolerations([taint], [{"operator": "Exists"}]) == (True, [{"operator": "Exists"}])
    assert not matching_tolerations([taint], [{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}])[0]
    assert matching_tolerations([{"key": "k", "value": "v", "effect": "NoExecute"}], [{"key": "k", "value": "v"}])[0]
    assert min_toleration_seconds([{"tolerationSeconds": 60}, {"tolerationSeconds": 30}]) == 30
    assert min_toleration_seconds([{"operator": "Exists"}]) == -1
    assert min_toleration_seconds([{"tolerationSeconds": 0}, {}]) == 0
