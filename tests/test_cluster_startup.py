"""The informer-sync request budget, over real HTTPS against the sandbox: the informers' LIST pages
and watches (first sync, resume, relist) draw from `sync_limiter`; screen reads and actions from
the steady `limiter`; and the config file's `rate_limits.sync_qps` / `sync_burst`."""

from __future__ import annotations

import threading
import time

import pytest

from almtui.cluster.actions import Checker, Executor, planner
from almtui.cluster.audit import AuditLog
from almtui.cluster.config import Config, ConfigError, RateLimits, parse_config
from almtui.cluster.connection import Connection, connect
from almtui.cluster.informer import Informer
from almtui.cluster.kinds import CONFIGMAPS, DEPLOYMENTS, path
from almtui.cluster.kubeconfig import load_kubeconfig
from almtui.cluster.ratelimit import RateLimiter
from almtui.ui.entry import connect_options
from tests.support import RunningSandbox, wait_until

QUICK = {"backoff_base": 0.05, "backoff_cap": 0.3}


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    s = RunningSandbox(workdir=tmp_path_factory.mktemp("sandbox"), speed=50).start()
    yield s
    s.stop()


class SpyConnection(Connection):
    """Records which budget every request drew from: (method, path, query, "sync" | "steady")."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.sent: list[tuple[str, str, dict, str]] = []
        self._spy_lock = threading.Lock()

    def _perform(self, method, path, query, body, content_type, timeout, accept, *, stream, limiter):
        budget = "sync" if limiter is self.sync_limiter else "steady" if limiter is self.limiter else "?"
        with self._spy_lock:
            self.sent.append((method, path, dict(query or {}), budget))
        return super()._perform(method, path, query, body, content_type, timeout, accept, stream=stream,
                                limiter=limiter)

    def mark(self) -> int:
        with self._spy_lock:
            return len(self.sent)

    def since(self, mark: int) -> list[tuple[str, str, dict, str]]:
        with self._spy_lock:
            return self.sent[mark:]


def spy_for(sb: RunningSandbox, **kw) -> SpyConnection:
    kc = load_kubeconfig([sb.kubeconfig])
    info = kc.current
    client = kc.api_client(info.name)
    return SpyConnection(info, client, reauth=lambda: kc.refresh_credentials(info.name, client), **kw)


def namespace(sb: RunningSandbox, name: str, configmaps: int) -> str:
    def go(s):
        s.store.create("/namespaces", {"metadata": {"name": name}})
        for i in range(configmaps):
            s.store.create("/configmaps", {"metadata": {"name": f"cm-{i}", "namespace": name}, "data": {"v": str(i)}})
    sb.call(go)
    return name


def is_watch(q: dict) -> bool:
    return q.get("watch") == "true"


# -- which requests use which budget --------------------------------------------------------------


def test_informers_use_the_sync_budget_and_actions_the_steady_one(sb, tmp_path):
    ns = namespace(sb, "budgets", 12)
    conn = spy_for(sb)
    inf = Informer(conn, CONFIGMAPS, ns, page_size=5, **QUICK).start()
    try:
        assert inf.synced.wait(10)
        wait_until(lambda: any(is_watch(q) for _, _, q, _ in conn.sent), 5, what="the first watch")
        first = conn.since(0)
        pages = [b for m, _, q, b in first if m == "GET" and not is_watch(q)]
        watches = [b for m, _, q, b in first if is_watch(q)]
        assert pages == ["sync"] * 3 and inf.pages == 3  # 12 objects in pages of 5
        assert watches == ["sync"]

        # the server ends the watch: it resumes from its resourceVersion, still through the sync budget
        mark = conn.mark()
        wait_until(lambda: sb.call(lambda s: s.store.close_all_watches("/configmaps")) >= 1, 5,
                   what="the server to hold the watch")
        wait_until(lambda: inf.reconnects >= 1 and any(is_watch(q) for _, _, q, _ in conn.since(mark)), 5,
                   what="a resumed watch")
        resumed = conn.since(mark)
        assert [b for _, _, q, b in resumed if is_watch(q)] == ["sync"]
        assert not [r for r in resumed if not is_watch(r[2])], "a resume must not relist"

        # 410: the relist, its pages and the watch from its resourceVersion
        mark = conn.mark()
        sb.call(lambda s: (s.store.compact(), s.store.close_all_watches(expire=True)))
        wait_until(lambda: inf.relists >= 1 and any(is_watch(q) for _, _, q, _ in conn.since(mark)), 5,
                   what="a relist and its watch")
        relist = conn.since(mark)
        assert [b for _, _, q, b in relist if not is_watch(q)] == ["sync"] * 3
        assert {b for _, _, q, b in relist if is_watch(q)} == {"sync"}

        # a screen's read and an action (RBAC review, dry run, the PATCH, its settle polls): steady
        mark = conn.mark()
        d = conn.get(path(DEPLOYMENTS, "prod"))["items"][0]
        plan = planner.scale(d, int(d["spec"].get("replicas", 1)) + 1)
        checker = Checker(conn, read_only=False)
        executor = Executor(conn, AuditLog(tmp_path / "audit.jsonl"), context_name="operator",
                            cluster_user="operator", read_only=False, checker=checker, settle_seconds=0.5,
                            poll_interval=0.1)
        executor.run(plan, checker.check(plan))
        action = [r for r in conn.since(mark) if not is_watch(r[2]) and "configmaps" not in r[1]]
        assert any(m == "PATCH" for m, *_ in action) and any("selfsubjectaccessreviews" in p for _, p, *_ in action)
        assert {b for *_, b in action} == {"steady"}, action
    finally:
        inf.stop()
        conn.close()


def test_a_cold_start_spends_neither_the_time_nor_the_tokens_of_the_steady_budget(sb):
    """30 LIST pages with a steady budget of 1/s: through it they would take 29 s."""
    ns = namespace(sb, "coldstart", 30)
    conn = spy_for(sb, qps=1.0, burst=1)
    inf = Informer(conn, CONFIGMAPS, ns, page_size=1, **QUICK)
    t0 = time.monotonic()
    inf.start()
    try:
        assert inf.synced.wait(10)
        took = time.monotonic() - t0
        assert inf.pages == 30 and len(inf) == 30
        assert took < 5.0, f"30 pages took {took:.1f}s"
        assert conn.limiter.available >= 0.99  # the action budget is untouched: a keypress is not queued
        t1 = time.monotonic()
        conn.get(path(CONFIGMAPS, ns, "cm-0"))
        assert time.monotonic() - t1 < 0.5
    finally:
        inf.stop()
        conn.close()


def test_informers_retrying_under_429_leave_the_steady_budget_to_actions(sb):
    """A throttling blip: every informer's watch reconnect gets 429 + Retry-After and is retried;
    none of that may queue a user's request (steady budget of 1 token, 1/s)."""
    namespaces = [namespace(sb, f"throttled-{i}", 1) for i in range(6)]
    conn = spy_for(sb, qps=1.0, burst=1)
    infs = [Informer(conn, CONFIGMAPS, ns, **QUICK).start() for ns in namespaces]
    try:
        assert all(i.synced.wait(10) for i in infs)
        wait_until(lambda: conn.limiter.available >= 0.99, 3, what="a full steady bucket")
        sb.call(lambda s: s.faults.inject("throttle", 30, 1.0, "configmaps"))
        mark = conn.mark()
        wait_until(lambda: sb.call(lambda s: s.store.close_all_watches("/configmaps")) >= 1, 5, what="watches")
        wait_until(lambda: sum(q.get("watch") == "true" for _, _, q, _ in conn.since(mark)) >= 2 * len(infs), 10,
                   what="throttled reconnects and their retries")
        assert {b for *_, b in conn.since(mark)} == {"sync"}
        assert conn.limiter.available >= 0.99
        t = time.monotonic()
        conn.get(path(DEPLOYMENTS, "prod"), {"limit": 1})  # a screen's read: not throttled, not queued
        assert time.monotonic() - t < 0.5
    finally:
        sb.call(lambda s: s.faults.clear())
        for i in infs:
            i.request_stop()
        conn.close()  # ends the Retry-After waits at once
        for i in infs:
            i.stop()


# -- the budgets a connection is given ----------------------------------------------------------


def test_connection_budgets_defaults_and_floor(sb):
    kc = load_kubeconfig([sb.kubeconfig])
    conn = connect(kc)
    try:
        assert (conn.limiter.qps, conn.limiter.burst) == (5.0, 10)  # client-go's rest.Config defaults
        assert (conn.sync_limiter.qps, conn.sync_limiter.burst) == (50.0, 100)
        assert conn.limiter_for(True) is conn.sync_limiter and conn.limiter_for(False) is conn.limiter
    finally:
        conn.close()
    fast = connect(kc, qps=200.0, burst=300)  # the sync budget is never tighter than the steady one
    assert (fast.sync_limiter.qps, fast.sync_limiter.burst) == (200.0, 300)
    fast.close()
    off = connect(kc, qps=0.0, burst=1)  # qps 0 is "no limit" (RateLimiter): for both budgets
    assert off.sync_limiter.qps == 0.0 and off.sync_limiter.try_acquire()
    off.close()


def test_sync_budget_is_a_separate_bucket():
    """Emptying one bucket leaves the other full (a fake clock: no time passes)."""
    now = [0.0]
    steady = RateLimiter(5.0, 10, clock=lambda: now[0], sleep=lambda s: None)
    sync = RateLimiter(50.0, 100, clock=lambda: now[0], sleep=lambda s: None)
    assert sum(sync.try_acquire() for _ in range(150)) == 100
    assert sum(steady.try_acquire() for _ in range(15)) == 10


# -- the config file ------------------------------------------------------------------------------


def test_config_sync_budget_defaults_and_values():
    assert (Config().rate_limits.sync_qps, Config().rate_limits.sync_burst) == (50.0, 100)
    rl = parse_config("rate_limits:\n  qps: 2\n  burst: 4\n  sync_qps: 20\n  sync_burst: 40\n").rate_limits
    assert rl == RateLimits(qps=2.0, burst=4, sync_qps=20.0, sync_burst=40)
    opts = connect_options(Config(rate_limits=rl))
    assert opts == {"qps": 2.0, "burst": 4, "sync_qps": 20.0, "sync_burst": 40, "timeout": 10.0}
    # raising only the steady budget above the sync default is fine: the connection takes the larger
    assert parse_config("rate_limits: {qps: 100, burst: 200}").rate_limits.sync_qps == 50.0


@pytest.mark.parametrize(("text", "wants"), [
    ("theme: x\nrate_limits:\n  sync_qps: fast\n", ("line 3", "rate_limits.sync_qps", "positive number", '"fast"')),
    ("rate_limits:\n  sync_qps: 0\n", ("line 2", "rate_limits.sync_qps", "positive number")),
    ("rate_limits:\n  sync_qps: .inf\n", ("line 2", "rate_limits.sync_qps", "positive number")),
    ("rate_limits:\n  sync_burst: 2.5\n", ("line 2", "rate_limits.sync_burst", "positive whole number")),
    ("rate_limits:\n  sync_burst: [1]\n", ("line 2", "rate_limits.sync_burst", "a list")),
    ("rate_limits:\n  qps: 10\n  sync_qps: 8\n", ("line 3", "rate_limits.sync_qps", "at least rate_limits.qps (10)",
                                                   "got 8")),
    ("rate_limits:\n  sync_burst: 5\n", ("line 2", "rate_limits.sync_burst", "at least rate_limits.burst (10)")),
    ("rate_limits:\n  sync_qpz: 5\n", ("line 2", "rate_limits.sync_qpz", "unknown field", '"sync_qps"')),
])
def test_config_bad_sync_budget_names_line_and_field(text, wants):
    with pytest.raises(ConfigError) as e:
        parse_config(text, "/etc/almtui.yaml")
    msg = str(e.value)
    assert msg.startswith("/etc/almtui.yaml, line ")
    for w in wants:
        assert w in msg, msg
