"""Node Leases are watched (in kube-node-lease, whatever the console's namespace) and applied to
cached node views in O(nodes): a renewal changes heartbeats without rebuilding the nodes area
and without notifying any screen.

The sandbox is frozen in time, so the only Lease changes are the ones a test makes.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from almtui.cluster import views as V
from almtui.cluster.cache import Cache
from almtui.cluster.connection import connect
from almtui.cluster.freshness import FreshnessTracker
from almtui.cluster.kinds import NODE_LEASES, NODES, PODS
from almtui.cluster.kubeconfig import load_kubeconfig
from almtui.cluster.service import AREAS, ClusterService
from almtui.cluster.views.health import refresh_nodes
from tests.support import RunningSandbox, wait_until
from tests.unit.test_views_health import NOW, UNREACHABLE, lease, node, pod, ts

FAST = {"qps": 500.0, "burst": 500}
LEASES = "coordination.k8s.io/leases"
FIXED_START = datetime(2030, 1, 1, tzinfo=UTC)


# -- the views: refresh_nodes ------------------------------------------------------------------


def test_refreshing_cached_views_equals_a_fresh_build():
    """Views built at NOW without leases or usage, refreshed 30 s later, are what a build then gives."""
    taints = [{"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": ts(900)}]
    nodes = [node("n1"), node("n2", ready="Unknown", heartbeat=850, taints=taints), node("n3", heartbeat=700)]
    pods = [pod("a"), pod("b", node_name="n2"), pod("c", node_name="n3")]
    leases = [lease("n1", 1020), lease("n3", 900)]  # n3: Ready, its lease stale
    metrics = [{"metadata": {"name": "n1"}, "usage": {"cpu": "420m", "memory": "1Gi"}}]
    cached = V.build_nodes(nodes, pods, None, None, NOW)
    later = refresh_nodes(cached, leases, metrics, NOW + 30, built_at=NOW)
    assert later == V.build_nodes(nodes, pods, leases, metrics, NOW + 30)
    n1, n2, n3 = later
    assert (n1.heartbeat_age, n1.lease_age, n1.cpu_used, n1.age) == (10, 10, 420, 1030)
    assert n2.eviction_countdown == cached[1].eviction_countdown - 30 == 170
    assert n3.suspect and n3.lease_age == 130 and not cached[2].suspect
    # renewed: no longer suspect; and a refresh without leases or usage falls back to Ready alone
    [n3] = refresh_nodes(cached[2:], [lease("n3", 1025)], None, NOW + 30, built_at=NOW)
    assert not n3.suspect and n3.heartbeat_age == 5 and n3.cpu_used is None
    assert refresh_nodes(later, None, None, NOW + 30) == V.build_nodes(nodes, pods, [], [], NOW + 30)


def test_node_leases_kind_has_its_own_namespace():
    assert NODE_LEASES.namespaced and NODE_LEASES.watch_namespace == "kube-node-lease" and not NODE_LEASES.notify
    assert str(NODE_LEASES) == "leases.coordination.k8s.io"
    assert not any("leases" in deps for deps in AREAS.values())  # renewals must never rebuild an area


# -- against the sandbox -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    s = RunningSandbox("edge-retail", seed=1, speed=1.0, workdir=tmp_path_factory.mktemp("leases"),
                       start=FIXED_START, frozen=True).start()
    yield s
    s.stop()


def renew(sb: RunningSandbox, name: str, seconds_ago: float = 0.0) -> str:
    """Set a node's Lease renewTime to the sandbox's now minus `seconds_ago`; returns it."""
    def go(s) -> str:
        when = datetime.fromtimestamp(s.clock.time() - seconds_ago, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

        def set_time(obj: dict) -> None:
            obj["spec"]["renewTime"] = when
        s.store.mutate(LEASES, "kube-node-lease", name, set_time)
        return when
    return sb.call(go)


def sandbox_now(sb: RunningSandbox) -> float:
    return sb.call(lambda s: s.clock.time())


def test_cache_watches_leases_in_kube_node_lease_whatever_its_namespace(sb):
    conn = connect(load_kubeconfig([sb.kubeconfig]), None, **FAST)
    cache = Cache(conn, [NODE_LEASES, PODS, NODES], "prod").start()
    try:
        assert cache.wait_synced(30)
        assert cache.scope(NODE_LEASES) == "kube-node-lease" and cache.scope(PODS) == "prod"
        assert cache.scope(NODES) is None
        assert cache.informer(NODE_LEASES).namespace == "kube-node-lease"
        names = sorted(o["metadata"]["name"] for o in cache.list(NODE_LEASES))
        assert names == sorted(o["metadata"]["name"] for o in sb.list("/nodes")) and len(names) == 4
        assert {o["metadata"]["namespace"] for o in cache.list(PODS)} == {"prod"}
        rounds: list[frozenset[str]] = []
        cache.subscribe(rounds.append)
        time.sleep(0.3)  # the sync's own notification (pods, nodes) comes and goes
        rounds.clear()
        before = cache.changes(NODE_LEASES)
        when = renew(sb, "gw-store-01")
        wait_until(lambda: cache.get(NODE_LEASES, "kube-node-lease", "gw-store-01")["spec"]["renewTime"] == when,
                   timeout=10, what="the renewal through the watch")
        assert cache.changes(NODE_LEASES) == before + 1
        assert cache.informer(NODE_LEASES).lists == 1  # watched, never listed again
        assert cache.stats().kinds["leases"].events >= 1
        time.sleep(0.3)  # > coalesce: a notification would have been delivered by now
        assert rounds == []  # notify=False: counted, never notified
    finally:
        cache.stop()


def test_renewals_update_heartbeats_without_a_rebuild_or_a_notification(sb, monkeypatch):
    builds = []
    real_build = V.build_nodes

    def counting(*args, **kwargs):
        builds.append(1)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(V, "build_nodes", counting)
    clock = [sandbox_now(sb) + 0.5]
    conn = connect(load_kubeconfig([sb.kubeconfig]), None, freshness=FreshnessTracker(clock=lambda: clock[0]),
                   **FAST)
    svc = ClusterService(conn, namespace="prod", clock=lambda: clock[0]).start()
    notified: list[frozenset[str]] = []
    svc.subscribe(notified.append)
    try:
        assert svc.wait_synced(30)
        renew(sb, "gw-store-02", seconds_ago=120)
        wait_until(lambda: next(n for n in svc.nodes() if n.name == "gw-store-02").suspect, timeout=10,
                   what="gw-store-02 suspect once its lease is stale")
        time.sleep(0.3)  # the sync's notifications are delivered: the nodes area holds still from here
        svc.nodes()
        builds.clear()
        notified.clear()
        seen = svc.cache.changes("leases")
        for name in ("gw-store-01", "gw-store-02", "gw-store-03", "gw-warehouse-01"):
            renew(sb, name, seconds_ago=0.25)  # unlike any renewTime before: the store writes only changes
        wait_until(lambda: svc.cache.changes("leases") == seen + 4, timeout=10, what="four renewals")
        clock[0] += 7
        views = {n.name: n for n in svc.nodes()}
        assert not views["gw-store-02"].suspect
        assert all(n.lease_age == n.heartbeat_age == pytest.approx(7.75) for n in views.values())
        assert builds == [], "a lease renewal rebuilt the nodes area"
        time.sleep(0.3)  # > coalesce: a notification would have been delivered by now
        assert not [n for n in notified if n - {"freshness"}], notified
    finally:
        svc.stop()
