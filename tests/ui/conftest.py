"""Deterministic harness for the console: a seeded sandbox frozen in time, a frozen console clock.

Why frozen: snapshots compare rendered text, so ages, freshness and the objects' state must be
the same on every run. The sandbox starts at a fixed simulated instant and its clock never
runs (controllers still react to events), and the console clock is pinned half a second after
the sandbox's, so every age rounds the same way. Animations and cursor blinking are off; the
XDG directories are already isolated by tests/conftest.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.notifications import Notify

from almtui.cluster.audit import AuditLog
from almtui.cluster.connection import connect
from almtui.cluster.freshness import FreshnessTracker
from almtui.cluster.kubeconfig import KubeConfig, load_kubeconfig
from almtui.cluster.service import ClusterService
from almtui.ui.app import AlmtuiApp, make_app
from almtui.ui.widgets.table import ResourceTable
from tests.support import RunningSandbox

FIXED_START = datetime(2030, 1, 1, tzinfo=UTC)
FAST = {"qps": 500.0, "burst": 500}


def start_sandbox(workdir: Any, *, frozen: bool = True) -> RunningSandbox:
    """The seeded scenario, built to reach FIXED_START; with frozen, simulated time then stands still."""
    return RunningSandbox("edge-retail", seed=1, speed=1.0, workdir=workdir, start=FIXED_START,
                          frozen=frozen).start()


@pytest.fixture(scope="session")
def ui_sandbox(tmp_path_factory):
    sb = start_sandbox(tmp_path_factory.mktemp("ui-sandbox"))
    yield sb
    sb.stop()


def console_clock(sb: RunningSandbox) -> Callable[[], float]:
    """A clock pinned at a fixed offset from the (frozen) sandbox clock."""
    now = math.floor(sb.call(lambda s: s.clock.time())) + 0.5
    return lambda: now


def make_service(sb: RunningSandbox, *, namespace: str | None = None, clock: Callable[[], float] | None = None,
                 context: str | None = None, read_only: bool = False, audit: AuditLog | None = None,
                 kubeconfig: KubeConfig | None = None) -> ClusterService:
    clock = clock or console_clock(sb)
    kc = kubeconfig or load_kubeconfig([sb.kubeconfig])
    conn = connect(kc, context, freshness=FreshnessTracker(clock=clock), **FAST)
    svc = ClusterService(conn, namespace=namespace, clock=clock, read_only=read_only, audit=audit).start()
    assert svc.wait_synced(30), "the service did not sync with the sandbox"
    return svc


def make_test_app(sb: RunningSandbox, *, namespace: str | None = None, screen: str = "pipelines",
                  size: tuple[int, int] = (80, 24), clock: Callable[[], float] | None = None,
                  context: str | None = None, read_only: bool = False, audit: AuditLog | None = None,
                  **kwargs: Any) -> AlmtuiApp:
    """The console on `sb`, synced; the service options (context, read_only, audit) are make_service's."""
    clock = clock or console_clock(sb)
    kc = load_kubeconfig([sb.kubeconfig])
    svc = make_service(sb, namespace=namespace, clock=clock, context=context, read_only=read_only, audit=audit,
                       kubeconfig=kc)
    app = make_app(svc, clock=clock, size=size, screen=screen, kubeconfig=kc, connect_options=FAST, **kwargs)
    app.animation_level = "none"
    return app


def audited_app(sb: RunningSandbox, tmp_path: Path, **kwargs: Any) -> tuple[AlmtuiApp, AuditLog]:
    """make_test_app with its audit log in tmp_path, for tests that check what an action recorded."""
    audit = AuditLog(tmp_path / "audit.jsonl")
    return make_test_app(sb, audit=audit, **kwargs), audit


async def settle(pilot: Any) -> None:
    """Let screen switches, fetch workers and their UI callbacks finish."""
    await pilot.pause()
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause(0.05)
        if not any(w.is_running for w in pilot.app.workers):
            break
    await pilot.pause()


async def wait_for(pilot: Any, predicate: Callable[[], Any], timeout: float = 20.0, what: str = "the console") -> Any:
    """Poll `predicate` every 0.1 s until it is truthy, and return that value."""
    for _ in range(int(timeout / 0.1)):
        found = predicate()
        if found:
            return found
        await pilot.pause(0.1)
    screen = pilot.app.screen
    shown = getattr(screen, "reasons", None) or ""  # a RefusalDialog says why an action did not reach its confirm
    raise AssertionError(f"timed out waiting for {what} (screen shown: {type(screen).__name__}"
                         f"{f', reasons: {shown}' if shown else ''})")


def notes(messages: list) -> list[str]:
    """The text of every notification among the app's messages (run_test(message_hook=messages.append))."""
    return [m.notification.message for m in messages if isinstance(m, Notify)]


async def select_row(pilot: Any, table_id: str, key: tuple) -> None:
    """Put the cursor of the active screen's table on the row with this view key, once rows are in."""
    table = pilot.app.screen.query_one(f"#{table_id}", ResourceTable)
    await wait_for(pilot, lambda: table.row_count > 0)
    for n in range(table.row_count):
        table.move_cursor(row=n, animate=False)
        if table.selected_key == key:
            break
    assert table.selected_key == key
    await settle(pilot)
