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
from typing import Any

import pytest

from almtui.cluster.connection import connect
from almtui.cluster.freshness import FreshnessTracker
from almtui.cluster.kubeconfig import load_kubeconfig
from almtui.cluster.service import ClusterService
from almtui.ui.app import AlmtuiApp, make_app
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
                 context: str | None = None) -> ClusterService:
    clock = clock or console_clock(sb)
    kc = load_kubeconfig([sb.kubeconfig])
    conn = connect(kc, context, freshness=FreshnessTracker(clock=clock), **FAST)
    svc = ClusterService(conn, namespace=namespace, clock=clock).start()
    assert svc.wait_synced(30), "the service did not sync with the sandbox"
    return svc


def make_test_app(sb: RunningSandbox, *, namespace: str | None = None, screen: str = "pipelines",
                  size: tuple[int, int] = (80, 24), **kwargs: Any) -> AlmtuiApp:
    clock = console_clock(sb)
    svc = make_service(sb, namespace=namespace, clock=clock)
    app = make_app(svc, clock=clock, size=size, screen=screen, kubeconfig=load_kubeconfig([sb.kubeconfig]),
                   connect_options=FAST, **kwargs)
    app.animation_level = "none"
    return app


async def settle(pilot: Any) -> None:
    """Let screen switches, fetch workers and their UI callbacks finish."""
    await pilot.pause()
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause(0.05)
        if not any(w.is_running for w in pilot.app.workers):
            break
    await pilot.pause()
