"""Informers and the Cache against the sandbox over real HTTPS: paging, watch resume, 410 relists,
coalesced notifications, absent kinds, and freshness when the server goes away."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter

import pytest

from almtui.cluster.cache import Cache
from almtui.cluster.connection import Connection, connect
from almtui.cluster.freshness import Freshness
from almtui.cluster.informer import Informer
from almtui.cluster.kinds import CONFIGMAPS, DEPLOYMENTS, EVENTS, HPAS, NAMESPACES, NODES, PDBS, PODS, ROLLOUTS, Kind
from almtui.cluster.kubeconfig import load_kubeconfig
from tests.support import RunningSandbox, wait_until

FAST = {"qps": 500.0, "burst": 500}
QUICK = {"backoff_base": 0.05, "backoff_cap": 0.3}


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    s = RunningSandbox(workdir=tmp_path_factory.mktemp("sandbox"), speed=50).start()
    yield s
    s.stop()


@pytest.fixture
def own_sb(tmp_path):
    s = RunningSandbox(workdir=tmp_path, speed=50).start()
    yield s
    s.stop()


@pytest.fixture
def thread_errors():
    """Exceptions escaping any thread during the test."""
    seen: list[BaseException] = []
    old = threading.excepthook
    threading.excepthook = lambda args: seen.append(args.exc_value)
    yield seen
    threading.excepthook = old


def conn_for(sb: RunningSandbox, context: str | None = None, **kw) -> Connection:
    return connect(load_kubeconfig([sb.kubeconfig]), context, **{**FAST, **kw})


def namespace(sb: RunningSandbox, name: str) -> str:
    sb.call(lambda s: s.store.create("/namespaces", {"metadata": {"name": name}}))
    return name


def create_cms(sb: RunningSandbox, ns: str, names) -> None:
    def go(s):
        for n in names:
            s.store.create("/configmaps", {"metadata": {"name": n, "namespace": ns}, "data": {"v": n}})
    sb.call(go)


def server_view(sb: RunningSandbox, key: str, ns: str | None) -> list[tuple[str, str, str]]:
    return sorted((o["metadata"].get("namespace", ""), o["metadata"]["name"], o["metadata"]["resourceVersion"])
                  for o in sb.list(key, ns))


def cache_view(objs: list[dict]) -> list[tuple[str, str, str]]:
    return sorted((o["metadata"].get("namespace", ""), o["metadata"]["name"], o["metadata"]["resourceVersion"])
                  for o in objs)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, kind: Kind, etype: str, obj: dict) -> None:
        if etype == "SYNC":
            return
        md = obj["metadata"]
        with self.lock:
            self.events.append((etype, md["name"], md["resourceVersion"]))


# -- the cache over the edge-retail scenario ----------------------------------------------------


def test_cache_mirrors_the_scenario(sb, thread_errors):
    conn = conn_for(sb)
    cache = Cache(conn, [PODS, DEPLOYMENTS, NODES, EVENTS, HPAS, PDBS, NAMESPACES, ROLLOUTS]).start()
    try:
        assert cache.wait_synced(10)
        for kind, key in ((PODS, "/pods"), (DEPLOYMENTS, "apps/deployments"), (NODES, "/nodes"),
                          (HPAS, "autoscaling/horizontalpodautoscalers")):
            wait_until(lambda k=kind, key=key: cache_view(cache.list(k)) == server_view(sb, key, None), 10,
                       what=f"{kind} in sync")
        prod = cache.list(PODS, "prod")
        assert prod and all(p["metadata"]["namespace"] == "prod" for p in prod)
        assert all(p["kind"] == "Pod" and p["apiVersion"] == "v1" for p in prod)  # filled in for list items
        one = prod[0]["metadata"]
        assert cache.get(PODS, "prod", one["name"]) is not None
        assert cache.get("nodes", None, sb.list("/nodes")[0]["metadata"]["name"]) is not None
        assert cache.available(ROLLOUTS) is True
        stats = cache.stats()
        assert stats.objects["pods"] == len(cache.list(PODS)) and stats.kinds["nodes"].synced
        assert cache.freshness.state.is_live
    finally:
        cache.stop()
    assert thread_errors == []


def test_namespaced_cache_and_viewer_context(sb):
    conn = conn_for(sb, "viewer")
    cache = Cache(conn, [PODS, NODES], namespace="staging").start()
    try:
        assert cache.wait_synced(10)
        assert {p["metadata"]["namespace"] for p in cache.list(PODS)} == {"staging"}
        assert len(cache.list(NODES)) == len(sb.list("/nodes"))  # cluster-scoped kinds ignore the namespace
        assert cache.freshness.state.is_live
    finally:
        cache.stop()


def test_absent_kind_is_unavailable_without_blocking_sync(sb, caplog):
    widgets = Kind("example.com", "v1", "widgets", "Widget")
    conn = conn_for(sb)
    cache = Cache(conn, [widgets, NODES], unavailable_retry=0.2).start()
    try:
        assert cache.wait_synced(10)
        assert cache.available(widgets) is False and cache.list(widgets) == []
        assert cache.available(NODES) is True
        time.sleep(0.7)  # a few quiet retries
        assert cache.informer(widgets).lists == 0 and cache.informer(widgets).pages >= 2
        assert conn.freshness.state.is_live  # an absent CRD is not an outage
        assert len([r for r in caplog.records if "widgets" in r.getMessage()]) <= 1  # no error spam
    finally:
        cache.stop()


# -- list paging --------------------------------------------------------------------------------


def test_list_is_paged_by_500(sb):
    ns = namespace(sb, "paging")
    create_cms(sb, ns, [f"cm-{i:04d}" for i in range(1234)])
    inf = Informer(conn_for(sb), CONFIGMAPS, ns).start()
    try:
        assert inf.synced.wait(15)
        assert inf.pages == 3  # 500 + 500 + 234
        assert cache_view(inf.items()) == server_view(sb, "/configmaps", ns)
        assert len(inf) == 1234 and inf.resource_version
    finally:
        inf.stop()


def test_expired_continue_token_restarts_the_list(sb):
    ns = namespace(sb, "continue-expiry")
    create_cms(sb, ns, [f"cm-{i}" for i in range(12)])

    class CompactingConnection(Connection):
        """Compacts the server's history right before the first continue request."""

        compacted = False

        def request(self, method, path, **kw):
            if "continue" in (kw.get("query") or {}) and not self.compacted:
                self.compacted = True
                sb.call(lambda s: (s.store.create("/configmaps", {"metadata": {"name": "late", "namespace": ns}}),
                                   s.store.compact()))
            return super().request(method, path, **kw)

    kc = load_kubeconfig([sb.kubeconfig])
    conn = CompactingConnection(kc.current, kc.api_client(), **FAST)
    inf = Informer(conn, CONFIGMAPS, ns, page_size=5).start()
    try:
        assert inf.synced.wait(10)
        assert conn.compacted and inf.list_restarts == 1
        assert cache_view(inf.items()) == server_view(sb, "/configmaps", ns)
        assert inf.get(ns, "late") is not None
    finally:
        inf.stop()


# -- watch resume and 410 -----------------------------------------------------------------------


def test_watch_resumes_after_server_close_without_duplicates(sb, thread_errors):
    ns = namespace(sb, "resume")
    create_cms(sb, ns, ["a0", "a1", "a2"])
    rec = Recorder()
    inf = Informer(conn_for(sb), CONFIGMAPS, ns, on_event=rec, **QUICK).start()
    try:
        assert inf.synced.wait(10)
        create_cms(sb, ns, ["b0", "b1", "b2"])
        wait_until(lambda: len(inf) == 6, 5, what="b*")
        closed = sb.call(lambda s: s.store.close_all_watches("/configmaps"))
        assert closed >= 1
        create_cms(sb, ns, ["c0", "c1", "c2"])
        sb.call(lambda s: s.store.mutate("/configmaps", ns, "a0", lambda o: o["data"].update(v="changed")))
        wait_until(lambda: len(inf) == 9 and inf.get(ns, "a0")["data"]["v"] == "changed", 5, what="c* after resume")
        wait_until(lambda: inf.reconnects >= 1, 5, what="a reconnect")
        assert inf.relists == 0 and inf.lists == 1  # resumed from the resourceVersion, not relisted
        assert cache_view(inf.items()) == server_view(sb, "/configmaps", ns)
        counts = Counter((t, n) for t, n, _ in rec.events)
        assert all(c == 1 for c in counts.values()), counts
        assert {n for t, n, _ in rec.events if t == "ADDED"} == {f"{p}{i}" for p in "abc" for i in range(3)}
        assert [(t, n) for t, n, _ in rec.events if t == "MODIFIED"] == [("MODIFIED", "a0")]
    finally:
        inf.stop()
    assert thread_errors == []


def test_410_relists_with_nothing_lost_or_duplicated(sb, thread_errors):
    ns = namespace(sb, "relist")
    create_cms(sb, ns, [f"old-{i}" for i in range(20)])
    rec = Recorder()
    inf = Informer(conn_for(sb), CONFIGMAPS, ns, on_event=rec, **QUICK).start()
    try:
        assert inf.synced.wait(10)

        def expire(s):
            # changes the informer will not see on its stream: only the relist can find them
            for i in range(5):
                s.store.delete("/configmaps", ns, f"old-{i}")
            s.store.mutate("/configmaps", ns, "old-10", lambda o: o["data"].update(v="edited"))
            s.store.compact()
            s.store.close_all_watches(expire=True)
            for i in range(5):
                s.store.create("/configmaps", {"metadata": {"name": f"new-{i}", "namespace": ns}})

        sb.call(expire)
        wait_until(lambda: inf.relists >= 1, 5, what="a relist")
        wait_until(lambda: cache_view(inf.items()) == server_view(sb, "/configmaps", ns), 5, what="cache == server")
        assert inf.get(ns, "old-10")["data"]["v"] == "edited"
        assert len(inf) == 20
        deleted = {n for t, n, _ in rec.events if t == "DELETED"}
        assert deleted == {f"old-{i}" for i in range(5)}
        added = Counter(n for t, n, _ in rec.events if t == "ADDED")
        assert all(c == 1 for c in added.values()), added
        # and the new watch works
        create_cms(sb, ns, ["after"])
        wait_until(lambda: inf.get(ns, "after") is not None, 5, what="an event after the relist")
    finally:
        inf.stop()
    assert thread_errors == []


def by_label(obj: dict) -> list[str]:
    return [f"v={obj.get('data', {}).get('v')}"]


def test_index_follows_adds_edits_deletes_and_relists(sb, thread_errors):
    """An informer index (client-go's Indexer) always answers what a scan of the store would."""
    ns = namespace(sb, "indexed")
    create_cms(sb, ns, [f"cm-{i}" for i in range(6)])  # data.v = its own name
    inf = Informer(conn_for(sb), CONFIGMAPS, ns, indexers={"v": by_label}, **QUICK).start()

    def agrees() -> bool:
        scan: dict[str, set[str]] = {}
        for o in inf.items():
            scan.setdefault(by_label(o)[0], set()).add(o["metadata"]["name"])
        values = {f"v={o.get('data', {}).get('v')}" for o in inf.items()} | {"v=shared", "v=cm-0", "v=gone"}
        return all({o["metadata"]["name"] for o in inf.by_index("v", v)} == scan.get(v, set()) for v in values)

    try:
        assert inf.synced.wait(10)
        assert [o["metadata"]["name"] for o in inf.by_index("v", "v=cm-3")] == ["cm-3"]

        def edit(s):
            for i in (0, 1, 2):  # three objects move to one shared value
                s.store.mutate("/configmaps", ns, f"cm-{i}", lambda o: o["data"].update(v="shared"))
            s.store.delete("/configmaps", ns, "cm-5")
        sb.call(edit)
        wait_until(lambda: len(inf.by_index("v", "v=shared")) == 3 and inf.get(ns, "cm-5") is None, 5,
                   what="the index to follow the watch")
        assert inf.by_index("v", "v=cm-0") == () and inf.by_index("v", "v=cm-5") == () and agrees()

        def expire(s):  # changes only a relist can see
            s.store.mutate("/configmaps", ns, "cm-1", lambda o: o["data"].update(v="gone"))
            s.store.compact()
            s.store.close_all_watches(expire=True)
        sb.call(expire)
        wait_until(lambda: inf.relists >= 1 and len(inf.by_index("v", "v=gone")) == 1, 5, what="a relist")
        assert agrees() and len(inf.by_index("v", "v=shared")) == 2
    finally:
        inf.stop()
    assert thread_errors == []


def test_index_buckets_are_copy_on_write(sb, thread_errors):
    """The same tuple while its objects are the same (builders skip work with an `is` check); a change
    to one object replaces only the buckets it is in."""
    ns = namespace(sb, "cow")
    create_cms(sb, ns, ["cm-a", "cm-b"])
    inf = Informer(conn_for(sb), CONFIGMAPS, ns, indexers={"v": by_label}, **QUICK).start()
    try:
        assert inf.synced.wait(10)
        a, b = inf.by_index("v", "v=cm-a"), inf.by_index("v", "v=cm-b")
        assert inf.by_index("v", "v=cm-a") is a and isinstance(a, tuple)
        sb.call(lambda s: s.store.mutate("/configmaps", ns, "cm-b", lambda o: o["data"].update(other="1")))
        wait_until(lambda: inf.by_index("v", "v=cm-b") is not b, 5, what="the edit to reach the index")
        assert inf.by_index("v", "v=cm-a") is a
        (edited,) = inf.by_index("v", "v=cm-b")
        assert edited is inf.get(ns, "cm-b") and edited["data"]["other"] == "1"
    finally:
        inf.stop()
    assert thread_errors == []


# -- coalesced notifications --------------------------------------------------------------------


def test_notifications_are_coalesced(sb):
    ns = namespace(sb, "burst")
    conn = conn_for(sb)
    cache = Cache(conn, [CONFIGMAPS, NAMESPACES, PDBS], namespace=ns, coalesce=0.1).start()
    calls: list[tuple[float, frozenset[str]]] = []
    cache.subscribe(lambda changed: calls.append((time.monotonic(), changed)))
    try:
        assert cache.wait_synced(10)
        time.sleep(0.3)
        calls.clear()
        start = time.monotonic()
        for batch in range(10):  # 100 writes in about one second
            create_cms(sb, ns, [f"b{batch}-{i}" for i in range(10)])
            if batch == 5:
                namespace(sb, "burst-side")
            time.sleep(0.1)
        wait_until(lambda: len(cache.list(CONFIGMAPS)) == 100, 5, what="100 configmaps")
        time.sleep(0.3)
        elapsed = time.monotonic() - start
        assert 3 <= len(calls) <= elapsed / 0.1 + 2, len(calls)
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(calls)]
        assert min(gaps) >= 0.09
        union = frozenset().union(*(c for _, c in calls))
        assert union == {"configmaps", "namespaces"}  # PDBs did not change
        assert cache.stats().events_per_second > 0
    finally:
        cache.stop()


# -- failures: freshness and auth ---------------------------------------------------------------


def test_server_down_goes_stale_then_offline_and_keeps_data(own_sb, thread_errors):
    conn = conn_for(own_sb, timeout=1.0)
    states: list[Freshness] = []
    conn.freshness.subscribe(lambda st: states.append(st.state))
    cache = Cache(conn, [PODS, DEPLOYMENTS, NODES], **QUICK).start()
    try:
        assert cache.wait_synced(10)
        assert conn.freshness.state.is_live
        pods = len(cache.list(PODS))
        own_sb.stop()
        wait_until(lambda: conn.freshness.state.state is Freshness.OFFLINE, 10, what="OFFLINE")
        st = conn.freshness.state
        assert not st.is_live and st.last_good is not None and "Connection refused" in st.error
        distinct = [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s]
        assert distinct[:3] == [Freshness.LIVE, Freshness.STALE, Freshness.OFFLINE]
        assert len(cache.list(PODS)) == pods  # the last known data stays, marked by the state
        assert cache.stats().reconnects >= 1
    finally:
        start = time.monotonic()
        cache.stop()
        assert time.monotonic() - start < 3
    assert thread_errors == []


def test_rotated_token_gives_auth_expired(own_sb, thread_errors):
    conn = conn_for(own_sb)
    cache = Cache(conn, [PODS, NODES], **QUICK).start()
    try:
        assert cache.wait_synced(10)

        def rotate(s):
            u = s.auth.by_name["operator"]
            s.auth.users.pop(u.token, None)
            u.token = "someone-else"
            s.auth.users[u.token] = u
            s.store.close_all_watches()  # the reconnect must authenticate again

        own_sb.call(rotate)
        wait_until(lambda: conn.freshness.state.state is Freshness.AUTH_EXPIRED, 10, what="AUTH_EXPIRED")
        assert "Unauthorized" in conn.freshness.state.error
        assert cache.list(PODS)  # data kept
    finally:
        cache.stop()
    assert thread_errors == []


def test_recovers_to_live_when_the_server_answers_again(own_sb, thread_errors):
    """API down (every request 503, watches cut), then back: STALE, OFFLINE, then LIVE with fresh data."""
    from almtui.sandbox import errors as sb_errors

    async def down(request):
        raise sb_errors.ApiError(503, "ServiceUnavailable", "the apiserver is down")  # no Retry-After

    conn = conn_for(own_sb)
    states: list[Freshness] = []
    conn.freshness.subscribe(lambda st: states.append(st.state))
    cache = Cache(conn, [NODES, PODS], **QUICK).start()
    try:
        assert cache.wait_synced(10)
        own_sb.call(lambda s: (setattr(s.hooks, "before_request", down), s.store.close_all_watches()))
        wait_until(lambda: conn.freshness.state.state is Freshness.OFFLINE, 10, what="OFFLINE")
        own_sb.call(lambda s: (setattr(s.hooks, "before_request", None),
                               s.store.create("/configmaps", {"metadata": {"name": "x", "namespace": "dev"}}),
                               s.store.compact()))  # and the outage outlived the watch history: relist
        wait_until(lambda: conn.freshness.state.is_live, 10, what="LIVE again")
        distinct = [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s]
        assert distinct == [Freshness.LIVE, Freshness.STALE, Freshness.OFFLINE, Freshness.STALE, Freshness.LIVE] \
            or distinct == [Freshness.LIVE, Freshness.STALE, Freshness.OFFLINE, Freshness.LIVE]
        wait_until(lambda: cache.stats().relists >= 1, 5, what="a relist after the expired resourceVersion")
        assert cache_view(cache.list(PODS)) == server_view(own_sb, "/pods", None)
    finally:
        cache.stop()
    assert thread_errors == []
