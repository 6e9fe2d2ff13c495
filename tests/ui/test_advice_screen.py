"""The Advice screen (5) with Pilot: right-sizing figures, pre-flight findings, and applying a recommendation.

The figures are checked against values worked out by hand from the sandbox's known load for
lab/lab-sizing (see tests/test_advice_sandbox.py): 20 req/s over 2 Ready pods is 10 req/s per pod,
so CPU is 10m + 10 x 2m = 30m in every sample, and memory follows load.py's formula; with a 500m
request the recommendation is 30m x 1.15 = 34.5m, rounded up to 35m, and the HPA (50 % CPU) would
go from 2 to 4 replicas under it. Applying uses this module's own frozen sandbox (it writes).
"""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest

from almtui.cluster.advice import recommend_memory
from almtui.cluster.views.common import epoch
from almtui.kube.quantities import format_memory
from almtui.ui.app import AlmtuiApp
from almtui.ui.dialogs.confirm import ConfirmDialog
from almtui.ui.keys import disabled_keys
from almtui.ui.screens.advice import AdviceScreen, sizings
from almtui.ui.widgets import sizing_format as F
from almtui.ui.widgets.sizing_detail import SizingDetail
from almtui.ui.widgets.table import ResourceTable
from tests.test_advice_sandbox import expected_memory
from tests.ui.conftest import (
    audited_app,
    make_service,
    make_test_app,
    notes,
    select_row,
    settle,
    start_sandbox,
    wait_for,
)

DEPLOYMENTS = "apps/deployments"
SIZING_KEY = ("Deployment", "lab", "lab-sizing")


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    sandbox = start_sandbox(tmp_path_factory.mktemp("advice-sandbox"), frozen=True)
    yield sandbox
    sandbox.stop()


build = partial(audited_app, screen="advice", size=(120, 40))


def cells(app: AlmtuiApp, table_id: str, key: tuple) -> dict[str, str]:
    t = app.screen.query_one(f"#{table_id}", ResourceTable)
    rk = "\x1f".join(key)
    return {c.key: t.get_cell(rk, c.key).plain for c in t.spec}


def detail(app: AlmtuiApp) -> str:
    return str(app.screen.query_one(SizingDetail).render())


def by_hand(app: AlmtuiApp) -> tuple[float, int]:
    """lab-sizing's memory p95 (the busiest pod; one sample per pod after one poll) and its recommendation."""
    body = app.service.conn.request("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/lab/pods")
    pods = [m for m in body["items"] if m["metadata"]["name"].startswith("lab-sizing-")]
    assert len(pods) == 2
    p95 = max(float(expected_memory(m["metadata"]["name"], epoch(m["timestamp"]))) for m in pods)
    return p95, recommend_memory(p95)


async def test_rightsizing_figures_match_the_known_load(ui_sandbox):
    app = make_test_app(ui_sandbox, screen="advice", size=(120, 40))
    async with app.run_test() as pilot:
        await settle(pilot)
        assert isinstance(app.screen, AdviceScreen) and app.screen.polls == 1
        mem_p95, mem_rec = by_hand(app)
        assert format_memory(mem_rec) in ("76Mi", "80Mi")
        row = cells(app, "sizing-table", SIZING_KEY)
        assert (row["cpu"], row["cpu_p95"], row["cpu_rec"], row["cpu_p50"]) == ("500m", "30m", "▼35m", "30m")
        assert (row["mem"], row["mem_p95"], row["mem_rec"]) == ("256Mi", F.mem_short(mem_p95),
                                                               f"▼{format_memory(mem_rec)}")
        assert row["flags"] == "over cpu+memory" and row["checks"] == "✓ ok"
        await select_row(pilot, "sizing-table", SIZING_KEY)
        text = detail(app)
        assert "lab/lab-sizing · Deployment · 2 replicas · 2 samples in 60m" in text
        cpu_line = next(line for line in text.splitlines() if line.startswith("cpu "))
        assert cpu_line.split() == ["cpu", "500m", "30m", "30m", "470m", "→", "▼35m", "over-provisioned"]
        assert f"a: set lab-sizing cpu=35m, memory={format_memory(mem_rec)}" in text
        assert f"2 pods: cpu 1 → 70m, memory 512Mi → {format_memory(2 * mem_rec)}" in text
        # smaller requests, same load: 30m of 35m is 86 % against the HPA's 50 % -> 4 replicas
        assert "HPA lab-sizing (cpu 50%): 2 → 4 replicas with the new requests" in text
        formula = str(app.screen.query_one("#advice-formula").render())
        assert "p95 × 1.15, rounded up" in formula and "1 poll of metrics.k8s.io" in formula
        # the warehouse: lab-surge reserves 13Gi that nothing uses
        wh = cells(app, "node-sizing-table", ("gw-warehouse-01",))
        node = ui_sandbox.get("/nodes", None, "gw-warehouse-01")
        assert wh["mem"] == F.mem(float(node["status"]["allocatable"]["memory"].removesuffix("Ki")) * 1024)
        assert wh["flag"] == "mem: reserved, idle" and int(wh["mem_req"].rstrip("%")) > 80
        assert int(wh["mem_used"].rstrip("%")) < 30


async def test_findings_of_a_rollout_are_listed_per_workload(ui_sandbox):
    app = make_test_app(ui_sandbox, screen="advice", size=(120, 40))
    async with app.run_test() as pilot:
        await settle(pilot)
        key = ("Deployment", "lab", "lab-recreate")
        found = app.service.preflight("deployments", "lab", "lab-recreate")
        errors = sum(f.severity == "error" for f in found)
        warnings = len(found) - errors
        assert errors and cells(app, "sizing-table", key)["checks"] == " ".join(
            x for x in (f"✗{errors}", f"!{warnings}" if warnings else "") if x)
        await select_row(pilot, "sizing-table", key)
        text = detail(app)
        for f in found:
            assert f"{'✗' if f.severity == 'error' else '!'} {f.title}: " in text


async def test_r_polls_usage_again(ui_sandbox):
    app = make_test_app(ui_sandbox, screen="advice")
    async with app.run_test() as pilot:
        await settle(pilot)
        assert app.screen.polls == 1
        await pilot.press("r")
        await settle(pilot)
        assert app.screen.polls == 2
        assert "2 polls of metrics.k8s.io" in str(app.screen.query_one("#advice-formula").render())


async def test_a_applies_the_recommendation_and_starts_a_rollout(sb, tmp_path):
    app, audit = build(sb, tmp_path)
    before = sb.get(DEPLOYMENTS, "lab", "lab-sizing")
    assert before["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"] == {
        "cpu": "500m", "memory": "256Mi"}
    async with app.run_test() as pilot:
        await settle(pilot)
        _, mem_rec = by_hand(app)
        await select_row(pilot, "sizing-table", SIZING_KEY)
        await pilot.press("a")
        dialog = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, ConfirmDialog) else None)
        assert dialog.plan.action == "set-requests"
        assert dialog.title_text == "Right-size lab/lab-sizing (HPA lab-sizing: 2 → 4 replicas)"
        assert not dialog.needs_override  # no pre-flight error on lab-sizing
        await pilot.press("y")

        def applied() -> dict | None:
            dep = sb.get(DEPLOYMENTS, "lab", "lab-sizing")
            req = dep["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
            return dep if req.get("cpu") == "35m" else None

        after = await wait_for(pilot, applied)
        await settle(pilot)
    assert after["spec"]["template"]["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "35m", "memory": format_memory(mem_rec)}, "limits": {"cpu": "1", "memory": "512Mi"}}
    assert after["metadata"]["generation"] > before["metadata"]["generation"]  # a new rollout
    entry = audit.entries()[-1]
    assert (entry["action"], entry["outcome"], entry["target"]["name"]) == ("set-requests", "applied", "lab-sizing")


async def test_read_only_refuses_a_and_sends_nothing(sb, tmp_path):
    app, audit = build(sb, tmp_path, read_only=True)
    before = sb.get(DEPLOYMENTS, "lab", "lab-clean")["metadata"]["resourceVersion"]
    messages: list = []
    async with app.run_test(message_hook=messages.append) as pilot:
        await settle(pilot)
        await select_row(pilot, "sizing-table", ("Deployment", "lab", "lab-clean"))
        assert "advice.apply" in disabled_keys(app.screen)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, AdviceScreen)
        assert any("read-only" in n.lower() for n in notes(messages)), notes(messages)
    assert sb.get(DEPLOYMENTS, "lab", "lab-clean")["metadata"]["resourceVersion"] == before
    assert audit.entries() == []


async def test_a_viewer_is_refused_by_rbac(sb, tmp_path):
    app, audit = build(sb, tmp_path, context="viewer")
    before = sb.get(DEPLOYMENTS, "lab", "lab-clean")["metadata"]["resourceVersion"]
    messages: list = []
    async with app.run_test(message_hook=messages.append) as pilot:
        await settle(pilot)
        await select_row(pilot, "sizing-table", ("Deployment", "lab", "lab-clean"))
        await wait_for(pilot, lambda: "advice.apply" in disabled_keys(app.screen))
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, AdviceScreen)
        assert any("not allowed" in n for n in notes(messages))
    assert sb.get(DEPLOYMENTS, "lab", "lab-clean")["metadata"]["resourceVersion"] == before
    assert audit.entries() == []


def complete(app: AlmtuiApp) -> bool:
    """The first complete build is on screen: the usage poll answered and no build is pending."""
    screen = app.screen
    return (isinstance(screen, AdviceScreen) and screen.polled is not None and screen.loaded
            and not screen.data.waiting and not screen._fetching and not screen._again)


def _snap(ui_sandbox: Any, size: tuple[int, int], key: tuple[str, str, str]) -> tuple[AlmtuiApp, Any]:
    app = make_test_app(ui_sandbox, screen="advice", size=size)

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await wait_for(pilot, lambda: complete(pilot.app))
        await select_row(pilot, "sizing-table", key)
        await settle(pilot)

    return app, run_before


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_findings_snapshot(snap_compare, ui_sandbox, size):
    app, run_before = _snap(ui_sandbox, size, ("Deployment", "lab", "lab-surge"))
    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_rightsizing_snapshot(snap_compare, ui_sandbox, size):
    app, run_before = _snap(ui_sandbox, size, SIZING_KEY)
    assert snap_compare(app, terminal_size=size, run_before=run_before)


class FakePrometheus:
    """A MetricsService stand-in that has found Prometheus and answers usage quantiles (cores, bytes)."""

    discovery = SimpleNamespace(source="prometheus")

    def __init__(self) -> None:
        self.asked: list[tuple[str, str, str]] = []

    def usage_quantiles(self, namespace: str, app: str, window: str = "1h") -> Any:
        self.asked.append((namespace, app, window))
        if (namespace, app) != ("lab", "lab-sizing"):
            return SimpleNamespace(status="no-data")
        return SimpleNamespace(status="ok", cpu_p50=0.02, cpu_p95=0.04, mem_p50=60 * 2**20, mem_p95=70 * 2**20)


def test_prometheus_quantiles_size_single_container_workloads(ui_sandbox):
    svc = make_service(ui_sandbox)
    try:
        svc.metrics = FakePrometheus()
        sized, source = sizings(svc)
        assert source == "Prometheus"
        s = sized[SIZING_KEY]
        [c] = s.containers
        assert (c.cpu.p95, c.cpu.recommended_text) == (40.0, "50m")  # 40m x 1.15 = 46m -> 50m
        assert c.memory.recommended == recommend_memory(70 * 2**20)
        assert ("lab", "lab-sizing", "3600s") in svc.metrics.asked
    finally:
        svc.stop()


async def test_5_and_the_advice_command_open_the_screen(ui_sandbox):
    app = make_test_app(ui_sandbox, screen="health")
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("5")
        await settle(pilot)
        assert isinstance(app.screen, AdviceScreen)
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("colon", *"advice", "enter")
        await settle(pilot)
        assert isinstance(app.screen, AdviceScreen)
