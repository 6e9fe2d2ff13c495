"""The Health screen (3) with Pilot: nodes, failing pods, warnings, and the edge cases that matter.

Two sandboxes: the frozen session one (read-only checks), and this module's own frozen instance
where gw-store-03 is cut off (a partition, then 60 simulated seconds: Ready=Unknown, tainted
unreachable, pods evicted 300 s after the taint) and gw-store-02's Lease is made stale while it
still says Ready (a delegated heartbeat: "suspect"). Figures are checked against values worked
out from the sandbox's own objects.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from almtui.cluster.connection import ConnectionLost
from almtui.cluster.service import ApiHealth
from almtui.cluster.views.common import epoch
from almtui.kube.quantities import cpu_millis, to_bytes
from almtui.ui.app import AlmtuiApp
from almtui.ui.screens.health import NODE_METRICS_PATH, HealthScreen
from almtui.ui.screens.logs import LogScreen
from almtui.ui.widgets import sizing_format as F
from almtui.ui.widgets.health_detail import HealthDetail, HealthSummary
from almtui.ui.widgets.health_node_pods import NodePods
from almtui.ui.widgets.table import ResourceTable
from tests.ui.conftest import make_test_app, notes, settle, start_sandbox

LEASES = "coordination.k8s.io/leases"


@pytest.fixture(scope="module")
def cut_off(tmp_path_factory):
    """gw-store-03 unreachable for 60 s, gw-store-02 Ready with a Lease 2 minutes old; time then stands."""
    sb = start_sandbox(tmp_path_factory.mktemp("health-sandbox"), frozen=True)

    def cut(s: Any) -> None:
        s.faults.inject("partition", 3600, resource="gw-store-03")
        s.manager.advance(60, step=5.0)
        stale = s.clock.time() - 120

        def age(lease: dict) -> None:
            from datetime import UTC, datetime
            lease["spec"]["renewTime"] = datetime.fromtimestamp(stale, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        s.store.mutate(LEASES, "kube-node-lease", "gw-store-02", age)

    sb.call(cut)
    yield sb
    sb.stop()


def build(sb: Any, *, size: tuple[int, int] = (120, 40), **kwargs: Any) -> AlmtuiApp:
    """The Health screen with the API server probe pinned healthy (its latency would vary per run)."""
    app = make_test_app(sb, screen="health", size=size, **kwargs)
    app.service.api_health = lambda: ApiHealth(True, 12.0, "")  # type: ignore[method-assign]
    return app


def table(app: AlmtuiApp, table_id: str) -> ResourceTable:
    return app.screen.query_one(f"#{table_id}", ResourceTable)


def row(app: AlmtuiApp, table_id: str, key: tuple) -> dict[str, str]:
    t = table(app, table_id)
    rk = "\x1f".join(key)
    return {c.key: t.get_cell(rk, c.key).plain for c in t.spec}


async def focus_row(pilot: Any, table_id: str, key: tuple) -> None:
    t = table(pilot.app, table_id)
    t.focus()
    for n in range(t.row_count):
        t.move_cursor(row=n, animate=False)
        if t.selected_key == key:
            break
    assert t.selected_key == key, key
    await pilot.pause()


def detail(app: AlmtuiApp) -> str:
    return str(app.screen.query_one(HealthDetail).render())


def requested_on(sb: Any, node: str) -> tuple[int, int]:
    """Σ container requests of the node's live pods, by hand (no init containers in edge-retail)."""
    cpu = mem = 0
    for p in sb.list("/pods"):
        if p["spec"].get("nodeName") != node or p["status"].get("phase") in ("Succeeded", "Failed"):
            continue
        assert not p["spec"].get("initContainers")
        for c in p["spec"]["containers"]:
            req = (c.get("resources") or {}).get("requests") or {}
            cpu += cpu_millis(req.get("cpu", "0"))
            mem += to_bytes(req.get("memory", "0"))
    return cpu, mem


# -- the frozen session sandbox ----------------------------------------------------------------


async def test_nodes_with_requests_usage_failing_pods_and_warnings(ui_sandbox):
    app = build(ui_sandbox)
    async with app.run_test() as pilot:
        await settle(pilot)
        assert isinstance(app.screen, HealthScreen)
        assert table(app, "nodes-table").total == 4
        usage = {n["metadata"]["name"]: n["usage"] for n in
                 app.service.conn.request("GET", "/apis/metrics.k8s.io/v1beta1/nodes")["items"]}
        for name in ("gw-store-01", "gw-warehouse-01"):
            node = ui_sandbox.get("/nodes", None, name)
            alloc_cpu = cpu_millis(node["status"]["allocatable"]["cpu"])
            alloc_mem = to_bytes(node["status"]["allocatable"]["memory"])
            cpu, mem = requested_on(ui_sandbox, name)
            used_cpu, used_mem = cpu_millis(usage[name]["cpu"]), to_bytes(usage[name]["memory"])
            cells = row(app, "nodes-table", (name,))
            assert cells["status"] == "✓ Ready"
            assert cells["cpu"] == f"{round(100 * cpu / alloc_cpu)}%/{round(100 * used_cpu / alloc_cpu)}%"
            assert cells["mem"] == f"{round(100 * mem / alloc_mem)}%/{round(100 * used_mem / alloc_mem)}%"
        # the warehouse: 13Gi of lab-surge reserved on paper, idle in fact
        assert "memory reserved but idle" in row(app, "nodes-table", ("gw-warehouse-01",))["notes"]
        crash = row(app, "issues-table", ("dev", app.service.pod_issues()[0].name))
        assert crash["kind"] == "✗ CrashLoopBackOff" and crash["restarts"] == "10"
        assert table(app, "events-table").total == len(app.service.warning_events()) > 0
        summary = str(app.screen.query_one(HealthSummary).render())
        assert "API ✓ 12ms" in summary and "✓4/4 ready" in summary and "✗2 failing pods" in summary
        # the detail follows the cursor of the focused table
        await focus_row(pilot, "nodes-table", ("gw-warehouse-01",))
        text = detail(app)
        assert "gw-warehouse-01" in text and "memory full on paper, idle in fact" in text and "taints none" in text


async def test_enter_and_l_open_the_logs_of_a_failing_pod(ui_sandbox):
    app = build(ui_sandbox)
    messages: list = []
    async with app.run_test(message_hook=messages.append) as pilot:
        await settle(pilot)
        issue = app.service.pod_issues()[0]
        await focus_row(pilot, "issues-table", issue.key)
        assert "enter/l: logs" in detail(app) and issue.name in detail(app)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, LogScreen)
        assert (app.screen.namespace, app.screen.pod) == issue.key
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, HealthScreen)
        await focus_row(pilot, "issues-table", issue.key)
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, LogScreen) and app.screen.pod == issue.name
        await pilot.press("escape")
        await settle(pilot)
        # a Pod's warning event opens that pod's log too
        event = next(w for w in app.service.warning_events() if w.object_kind == "Pod")
        await focus_row(pilot, "events-table", event.key)
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, LogScreen) and (app.screen.namespace, app.screen.pod) == (
            event.namespace, event.object_name)
        await pilot.press("escape")
        await settle(pilot)
        # a node has no log: said, nothing opened
        await focus_row(pilot, "nodes-table", ("gw-store-01",))
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, HealthScreen)
        assert any("select a failing pod" in n for n in notes(messages))


async def test_a_viewer_sees_the_same_site(ui_sandbox):
    app = build(ui_sandbox, context="viewer")
    async with app.run_test() as pilot:
        await settle(pilot)
        assert table(app, "nodes-table").total == 4
        assert table(app, "issues-table").total == len(app.service.pod_issues())


# -- a site with a cut-off node and a suspect one -----------------------------------------------


def eviction_deadline(sb: Any, node: str) -> float:
    """When the taint manager evicts the first pod of the node, by hand: taint time + the smallest toleration."""
    taint = next(t for t in sb.get("/nodes", None, node)["spec"]["taints"]
                 if t["key"] == "node.kubernetes.io/unreachable" and t["effect"] == "NoExecute")
    added = epoch(taint["timeAdded"])
    delays = []
    for p in sb.list("/pods"):
        if p["spec"].get("nodeName") != node or p["status"].get("phase") in ("Succeeded", "Failed"):
            continue
        secs = [t.get("tolerationSeconds") for t in p["spec"].get("tolerations") or []
                if t.get("key") in (None, "", "node.kubernetes.io/unreachable") and t.get("effect") in (None, "",
                                                                                                       "NoExecute")]
        delays.append(min((s for s in secs if s is not None), default=math.inf) if secs else 0)
    return added + min(delays)


async def test_unreachable_node_counts_down_to_its_eviction(cut_off):
    start = math.floor(cut_off.call(lambda s: s.clock.time())) + 0.5
    now = [start]
    app = build(cut_off, clock=lambda: now[0])
    async with app.run_test() as pilot:
        await settle(pilot)
        deadline = eviction_deadline(cut_off, "gw-store-03")
        assert 0 < deadline - start <= 300
        cells = row(app, "nodes-table", ("gw-store-03",))
        assert cells["status"] == "✗ Unreachable"
        assert cells["evicts"] == f"in {F.countdown(deadline - start)}" == "in 4m55s"
        assert cells["notes"] == "taint unreachable"
        await focus_row(pilot, "nodes-table", ("gw-store-03",))
        assert "pods evicted in 4m55s" in detail(app) and "NodeStatusUnknown" in detail(app)
        now[0] = start + 12  # the console clock moves on: the countdown ticks without a refetch
        app.screen._tick_countdowns()
        await pilot.pause()
        assert row(app, "nodes-table", ("gw-store-03",))["evicts"] == "in 4m43s"
        summary = str(app.screen.query_one(HealthSummary).render())
        assert "nodes ✓2/4 ‖1 suspect ✗1 unreachable" in summary


async def test_ready_node_with_a_stale_lease_is_suspect(cut_off):
    app = build(cut_off)
    async with app.run_test() as pilot:
        await settle(pilot)
        cells = row(app, "nodes-table", ("gw-store-02",))
        assert cells["status"] == "‖ Suspect" and cells["evicts"] == ""
        assert "lease 2m old" in cells["notes"]
        await focus_row(pilot, "nodes-table", ("gw-store-02",))
        text = detail(app)
        assert "Ready=True" in text and "suspect: says Ready but its lease is stale" in text


def test_cut_off_site_snapshot_80x24(snap_compare, cut_off):
    assert snap_compare(build(cut_off, size=(80, 24)), terminal_size=(80, 24), run_before=settle)


def test_cut_off_site_snapshot_120x40(snap_compare, cut_off):
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await focus_row(pilot, "nodes-table", ("gw-store-03",))

    assert snap_compare(build(cut_off, size=(120, 40)), terminal_size=(120, 40), run_before=run_before)


async def test_enter_on_a_node_lists_its_pods_and_l_opens_a_log(cut_off):
    app = build(cut_off)
    async with app.run_test() as pilot:
        await settle(pilot)
        await focus_row(pilot, "nodes-table", ("gw-store-03",))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, NodePods) and app.screen.node == "gw-store-03"
        on_node = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in cut_off.list("/pods")
                   if p["spec"].get("nodeName") == "gw-store-03"}
        pods = app.screen.query_one(ResourceTable)
        assert pods.total == len(on_node) > 0
        head = str(app.screen.query_one("#node-pods-head").render())
        assert "pods evicted in 4m55s" in head and f"{len(on_node)} pods" in head
        assert str(pods.get_row_at(0)[2]).startswith("~ ")  # unreachable: nothing shown as healthy
        first = pods.selected_key
        assert first in on_node
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, LogScreen) and (app.screen.namespace, app.screen.pod) == first
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, NodePods)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, LogScreen)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, HealthScreen)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_node_pods_snapshot(snap_compare, cut_off, size):
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await focus_row(pilot, "nodes-table", ("gw-store-03",))
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(build(cut_off, size=size), terminal_size=size, run_before=run_before)


async def test_heartbeats_come_by_watch_and_usage_is_read_once_a_minute_while_shown(cut_off):
    """No periodic LIST: Lease renewals arrive by watch and are re-applied on the screen's heartbeat
    tick without a request (and a Lease that runs out unrenewed is noticed by that tick); node usage
    is read on entering, then when a minute old and only while the screen is shown; a failed read
    keeps the last usage and the summary says how old it is."""
    start = math.floor(cut_off.call(lambda s: s.clock.time())) + 0.5
    now = [start]
    app = build(cut_off, clock=lambda: now[0])
    conn, failing, requests = app.service.conn, [False], []
    real = conn.request

    def counting(method: str, path: str, **kwargs: Any) -> dict:
        requests.append(path)
        if failing[0] and path == NODE_METRICS_PATH:
            raise ConnectionLost("no route", "refused")
        return real(method, path, **kwargs)

    def renew(seconds_ago: float) -> None:
        def go(s: Any) -> None:
            from datetime import UTC, datetime
            when = datetime.fromtimestamp(s.clock.time() - seconds_ago, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            s.store.mutate(LEASES, "kube-node-lease", "gw-store-02", lambda lease: lease["spec"].update(
                renewTime=when))
        cut_off.call(go)

    def reads() -> int:
        """Node usage reads; and never a Lease request (they come by watch)."""
        assert not [p for p in requests if "coordination.k8s.io" in p], requests
        return requests.count(NODE_METRICS_PATH)

    def summary() -> str:
        return str(app.screen.query_one(HealthSummary).render())

    conn.request = counting  # type: ignore[method-assign]
    try:
        async with app.run_test() as pilot:
            await settle(pilot)
            health = app.screen
            assert isinstance(health, HealthScreen) and reads() == 1
            assert row(app, "nodes-table", ("gw-store-02",))["status"] == "‖ Suspect"
            seen = app.service.cache.changes("leases")
            renew(0)
            for _ in range(200):
                if app.service.cache.changes("leases") > seen:
                    break
                await pilot.pause(0.05)
            assert app.service.cache.changes("leases") > seen, "the renewal never came through the watch"
            await settle(pilot)
            assert row(app, "nodes-table", ("gw-store-02",))["status"] == "‖ Suspect"  # a renewal rebuilds nothing
            now[0] += 5
            health._heartbeat()
            await settle(pilot)
            cells = row(app, "nodes-table", ("gw-store-02",))
            assert cells["status"] == "✓ Ready" and cells["beat"] == "5s" and "lease" not in cells["notes"]
            assert reads() == 1  # from the watch cache: no request
            used = row(app, "nodes-table", ("gw-store-01",))["cpu"]
            now[0] = start + 59
            health._heartbeat()
            await settle(pilot)
            assert reads() == 1  # not a minute yet
            # no renewal since: the Lease ran out with no event to say so, and the tick noticed
            assert row(app, "nodes-table", ("gw-store-02",))["status"] == "‖ Suspect"
            now[0] = start + 61
            health._heartbeat()
            await settle(pilot)
            assert reads() == 2
            await pilot.press("1")  # away: no reads however long
            await settle(pilot)
            now[0] += 300
            health._heartbeat()
            await settle(pilot)
            assert reads() == 2
            await pilot.press("3")  # back, the last read 5 minutes old: read at once
            await settle(pilot)
            assert app.screen is health and reads() == 3
            assert "old" not in summary()
            failing[0] = True
            now[0] += 71
            health._heartbeat()
            await settle(pilot)
            assert reads() == 4
            assert "usage: metrics.k8s.io not available; usage 71s old" in summary()
            assert row(app, "nodes-table", ("gw-store-01",))["cpu"] == used  # the last usage, kept
    finally:
        conn.request = real  # type: ignore[method-assign]
        renew(120)  # as the fixture left it
