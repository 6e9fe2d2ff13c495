"""The fault matrix: the real console under Pilot, on a live sandbox that misbehaves.

One test per fault. Each runs an in-process console (a real ClusterService with the product's
default rate limits, QPS 5 / burst 10) on a NON-frozen edge-retail sandbox running SPEED times
faster than the wall clock, injects the fault through the sandbox's fault injection, and asserts
what an operator relies on:

* the console never exits;
* the header tells the truth within SHOW_WITHIN seconds: STALE or OFFLINE when the API is
  affected; for faults that leave the API alone, what is right instead (LIVE kept, plus metrics
  "not verified", a node Unknown with its eviction countdown, a conflict reported);
* a screen key is handled within KEY_BUDGET (timed from the key event to the screen switch),
  also while requests hang, because every request runs in a worker;
* LIVE again within LIVE_WITHIN seconds of the fault's end (the measured recovery time);
* an action attempted during the fault (scale dev/pos-sync through `app.actions`, confirmed with
  `y`) has exactly one audit entry whose outcome is the truth: "applied" <=> the sandbox's
  Deployment changed, exactly once; otherwise it did not change at all, and never was a write
  sent twice.

Durations are wall-clock seconds: faults are about the network, which runs in real time
whatever --speed is. The API outage is API_DOWN_SECONDS instead of 60 to keep `make test`
short: after about 4 s of failures every informer retries at the backoff cap (5 s), so a
longer outage only repeats the same retry cycle and recovers the same way.

`ALMTUI_FAULT_REPORT=FILE` writes the measured matrix (markdown) to FILE (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import os
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from textual import events

from almtui.cluster.audit import AuditLog
from almtui.cluster.config import Config
from almtui.cluster.connection import connect
from almtui.cluster.freshness import FreshnessTracker
from almtui.cluster.kubeconfig import load_kubeconfig
from almtui.cluster.metrics import MetricsService
from almtui.cluster.service import ClusterService
from almtui.ui.app import AlmtuiApp, make_app
from almtui.ui.dialogs.confirm import ConfirmDialog, RefusalDialog
from almtui.ui.entry import connect_options
from almtui.ui.screens import SCREEN_CLASSES, BaseScreen
from tests.support import RunningSandbox, need_binary

SPEED = 10.0
API_DOWN_SECONDS = 8.0      # the 60 s, shortened (see the module docstring)
FAULT_SECONDS = 6.0         # the other request faults
PARTITION_SECONDS = 20.0    # at most: it ends once the node is shown Unknown (50 s simulated grace)
SHOW_WITHIN = 5.0
LIVE_WITHIN = 10.0
KEY_BUDGET = 0.100
KEY_CAP = 1.0               # no key may wait longer than this to be handled (a 2 s request on the UI
DRAW_CAP = 1.5              # thread would break both), nor its screen to be drawn
TARGET = ("deployments", "dev", "pos-sync")
TARGET_KEY = "apps/deployments"
TARGET_PATH = "/apis/apps/v1/namespaces/dev/deployments/pos-sync"
PARTITIONED = "gw-store-02"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEY_PAUSE = 0.3            # between the keys of a round
KEY_ROUND = (("3", "health"), ("2", "rollouts"), ("4", "autoscalers"), ("2", "rollouts"))
REPORT_ENV = "ALMTUI_FAULT_REPORT"


# -- the sandbox ---------------------------------------------------------------------------------


class WriteCounter:
    """Wraps the fault hook: counts writes to the target that got past the faults (reached a handler)."""

    def __init__(self, inner: Callable[[Any], Any] | None) -> None:
        self.inner = inner
        self.count = 0

    async def __call__(self, request: Any) -> None:
        if self.inner is not None:
            await self.inner(request)  # raises, or drops the connection, when a fault hits
        if (request.method in WRITE_METHODS and request.path.startswith(TARGET_PATH)
                and "dryRun" not in request.query):
            self.count += 1


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    running = RunningSandbox("edge-retail", seed=1, speed=SPEED, workdir=tmp_path_factory.mktemp("faults")).start()
    counter = running.call(lambda s: WriteCounter(s.hooks.before_request))
    running.call(lambda s: setattr(s.hooks, "before_request", counter))
    running.writes = counter  # type: ignore[attr-defined]
    yield running
    running.stop()


@pytest.fixture(scope="module")
def prometheus(sb):
    need_binary("prometheus")
    from almtui.sandbox.prometheus import start_prometheus

    prom = asyncio.run_coroutine_threadsafe(start_prometheus(sb.sandbox, scrape_interval="1s"), sb.loop).result(90)
    yield prom
    with contextlib.suppress(Exception):
        asyncio.run_coroutine_threadsafe(prom.stop(), sb.loop).result(30)


@pytest.fixture(autouse=True)
def _no_faults_left(sb):
    yield
    sb.call(lambda s: s.faults.clear())


# -- results -------------------------------------------------------------------------------------


@dataclass
class Row:
    fault: str
    injected: str
    display: str = ""
    shown_after: float | None = None
    handled_ms: list[float] = field(default_factory=list)   # key event -> screen switched
    painted_ms: list[float] = field(default_factory=list)   # key event -> new screen resumed and drawn
    recovery: float | None = None
    outcomes: list[str] = field(default_factory=list)


RESULTS: dict[str, Row] = {}


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    target = os.environ.get(REPORT_ENV)
    if not target or not RESULTS:
        return
    lines = ["| fault | injected | shown | shown after | key handled (median / max) | screen drawn (max) "
             "| fault end → LIVE | actions (audited outcome) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in RESULTS.values():
        handled = (f"{statistics.median(r.handled_ms):.0f} / {max(r.handled_ms):.0f} ms"
                   if r.handled_ms else "-")
        painted = f"{max(r.painted_ms):.0f} ms" if r.painted_ms else "-"
        shown = "-" if r.shown_after is None else f"{r.shown_after:.1f} s"
        rec = "-" if r.recovery is None else f"{r.recovery:.1f} s"
        lines.append(f"| {r.fault} | {r.injected} | {r.display} | {shown} | {handled} | {painted} | {rec} | "
                     f"{', '.join(r.outcomes) or '-'} |")
    Path(target).write_text("\n".join(lines) + "\n")


# -- the console ---------------------------------------------------------------------------------


def build_app(sb: RunningSandbox, audit: Path, *, metrics: bool = False) -> AlmtuiApp:
    """The console as `almtui` builds it (default rate limits), on the sandbox's simulated clock."""
    clock = sb.sandbox.clock.time  # ages and eviction countdowns in the cluster's own time
    kubeconfig = load_kubeconfig([sb.kubeconfig])
    options = connect_options(Config())
    conn = connect(kubeconfig, None, freshness=FreshnessTracker(clock=clock), **options)
    service = ClusterService(conn, clock=clock, audit=AuditLog(audit),
                             metrics=MetricsService(conn) if metrics else None).start()
    assert service.wait_synced(30), "the service did not sync with the sandbox"
    app = make_app(service, clock=clock, size=(120, 40), screen="rollouts", kubeconfig=kubeconfig,
                   connect_options=options)
    app.animation_level = "none"
    return app


def data_screen(app: AlmtuiApp) -> BaseScreen | None:
    """The data screen under any dialog."""
    for screen in reversed(app.screen_stack):
        if isinstance(screen, BaseScreen):
            return screen
    return None


def header(app: AlmtuiApp) -> str:
    screen = data_screen(app)
    return screen.header.freshness_text if screen is not None else ""


def is_live(app: AlmtuiApp) -> bool:
    return "LIVE" in header(app) and app.service.freshness().is_live


def not_live_shown(app: AlmtuiApp) -> bool:
    text = header(app)
    return ("STALE" in text or "OFFLINE" in text) and not app.service.freshness().is_live


def screen_text(app: AlmtuiApp) -> list[str]:
    """The rendered screen, one string per line (from the SVG export's text elements)."""
    svg = app.export_screenshot()
    rows: dict[float, list[tuple[float, str]]] = {}
    for m in re.finditer(r'<text[^>]*\sx="([\d.]+)"[^>]*\sy="([\d.]+)"[^>]*>(.*?)</text>', svg, re.S):
        rows.setdefault(float(m.group(2)), []).append((float(m.group(1)), html.unescape(m.group(3))))
    return ["".join(t for _, t in sorted(parts)).replace("\xa0", " ") for _, parts in sorted(rows.items())]


async def until(pred: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> float:
    """Seconds until pred() held; AssertionError after `timeout`."""
    start = time.monotonic()
    while not pred():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        await asyncio.sleep(interval)
    return time.monotonic() - start


def press(app: AlmtuiApp, key: str) -> None:
    """A key event as the terminal driver delivers it (Pilot's press waits for an idle CPU, which a
    running sandbox in the same process never gives)."""
    app.post_message(events.Key(key, key if len(key) == 1 else None))


def on_mode(app: AlmtuiApp, mode: str) -> bool:
    return app.current_mode == mode and isinstance(app.screen, SCREEN_CLASSES[mode])



async def switch_time(app: AlmtuiApp, key: str, mode: str) -> tuple[float, float]:
    """(key event -> screen switched, key event -> new screen resumed and drawn), in seconds.

    "Switched" is when the app makes the new screen current (its mode-change signal); "drawn"
    also includes the new screen's resume handler (a repaint when the freshness changed).
    """
    assert isinstance(app.screen, BaseScreen), f"a dialog is open: {type(app.screen).__name__}"
    switched: list[float] = []

    def on_switch(_mode: str) -> None:
        if not switched:
            switched.append(time.perf_counter())

    app.mode_change_signal.subscribe(app, on_switch, immediate=True)
    try:
        start = time.perf_counter()
        press(app, key)
        while not (switched and on_mode(app, mode)):
            if time.perf_counter() - start > 5:
                raise AssertionError(f"key {key} did not switch to {mode} within 5s")
            await asyncio.sleep(0.001)
        drawn = time.perf_counter()
    finally:
        app.mode_change_signal.unsubscribe(app)
    return switched[0] - start, drawn - start


async def key_round(app: AlmtuiApp, row: Row) -> None:
    """Each screen key of KEY_ROUND at an operator's pace (not a key repeat); asserts the budget."""
    if not on_mode(app, KEY_ROUND[-1][1]):  # the round starts where it ends
        press(app, KEY_ROUND[-1][0])
        await until(lambda: on_mode(app, KEY_ROUND[-1][1]), 5, "the first screen of the round")
    handled, drawn = [], []
    for key, mode in KEY_ROUND:
        await asyncio.sleep(KEY_PAUSE)
        h, d = await switch_time(app, key, mode)
        handled.append(h)
        drawn.append(d)
    row.handled_ms += [t * 1000 for t in handled]
    row.painted_ms += [t * 1000 for t in drawn]
    ms = [round(t * 1000) for t in handled]
    assert statistics.median(handled) <= KEY_BUDGET, f"screen keys were handled after {ms} ms"
    assert max(handled) <= KEY_CAP and max(drawn) <= DRAW_CAP, \
        f"a screen key took too long: handled {ms} ms, drawn {[round(t * 1000) for t in drawn]} ms"


async def open_console(app: AlmtuiApp) -> None:
    """Wait for the first screen, visit every screen once (so later switches never compose), LIVE."""
    await until(lambda: isinstance(app.screen, BaseScreen) and app.screen.loaded, 30, "the first screen")
    for key, mode in (("1", "pipelines"), ("3", "health"), ("4", "autoscalers"), ("2", "rollouts")):
        press(app, key)
        await until(lambda mode=mode: on_mode(app, mode) and app.screen.loaded, 30, f"the {mode} screen")
    await until(lambda: is_live(app), 30, "LIVE after start")


class HeaderWatch:
    """Samples the header every 20 ms: which labels it showed, when it first left LIVE, and the
    longest time it said LIVE while the service knew better (the header must not lie for longer
    than its one-second refresh tick)."""

    def __init__(self, app: AlmtuiApp) -> None:
        self.app = app
        self.seen: list[str] = []
        self.first_not_live: float | None = None
        self.longest_lie = 0.0
        self._lie_since: float | None = None
        self.last_not_live = 0.0      # the last sample (time.monotonic()) that was not LIVE
        self.live_again = 0.0         # when LIVE came back after it
        self._task: asyncio.Task | None = None
        self.started = time.monotonic()

    def __enter__(self) -> HeaderWatch:
        self.started = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            text = header(self.app)
            word = next((w for w in ("LIVE", "STALE", "OFFLINE", "AUTH EXPIRED") if w in text), "")
            if word and (not self.seen or self.seen[-1] != word):
                self.seen.append(word)
            now = time.monotonic()
            if is_live(self.app):
                if self.live_again < self.last_not_live:
                    self.live_again = now
            else:
                self.last_not_live = now
            if word in ("STALE", "OFFLINE") and self.first_not_live is None:
                self.first_not_live = now - self.started
            if word == "LIVE" and not self.app.service.freshness().is_live:
                self._lie_since = self._lie_since or now
                self.longest_lie = max(self.longest_lie, now - self._lie_since)
            else:
                self._lie_since = None
            await asyncio.sleep(0.02)

    def recovery(self, ends: float) -> float:
        """Seconds from `ends` until LIVE came back for good (0 when it was never lost after `ends`)."""
        return 0.0 if self.last_not_live < ends else self.live_again - ends

    def labels(self) -> str:
        return ", ".join(dict.fromkeys(self.seen))


# -- actions -------------------------------------------------------------------------------------


@dataclass
class Attempt:
    replicas: int
    before: tuple[int, int]    # (spec.replicas, metadata.generation) in the sandbox
    after: tuple[int, int]
    writes: int                # writes to the target that got past the faults to the sandbox's handler
    status: str
    message: str


async def target_state(sb: RunningSandbox) -> tuple[int, int]:
    d = await asyncio.to_thread(sb.get, TARGET_KEY, TARGET[1], TARGET[2])
    return int(d["spec"]["replicas"]), int(d["metadata"]["generation"])


async def scale(app: AlmtuiApp, sb: RunningSandbox, attempts: list[Attempt],
                during: Callable[[], Any] | None = None) -> Attempt:
    """Scale the target (1 <-> 2 replicas) through the console's action path, confirming with `y`.

    `during` (a coroutine function) runs while the action's worker does its requests.
    """
    before = await target_state(sb)
    replicas = 2 if before[0] != 2 else 1
    writes0 = sb.writes.count  # type: ignore[attr-defined]
    done: asyncio.Future = asyncio.get_running_loop().create_future()

    def finished(outcome: Any) -> None:
        if not done.done():
            done.set_result(outcome)

    assert app.actions.start("scale", *TARGET, params={"replicas": replicas}, on_done=finished) is not None
    if during is not None:
        await during()
    confirmed_at: float | None = None
    deadline = time.monotonic() + 60
    while not done.done():
        if isinstance(app.screen, ConfirmDialog):
            if confirmed_at is None:
                press(app, "y")
                confirmed_at = time.monotonic()
            elif time.monotonic() - confirmed_at > 2:  # blocked (e.g. a failed dry run): cancel
                press(app, "escape")
                confirmed_at = time.monotonic()
        assert time.monotonic() < deadline, "the action did not finish within 60s"
        await asyncio.sleep(0.02)
    outcome = done.result()
    while isinstance(app.screen, RefusalDialog | ConfirmDialog):  # the outcome, shown: close it
        press(app, "escape")
        await asyncio.sleep(0.05)
    after = await target_state(sb)
    attempt = Attempt(replicas, before, after, sb.writes.count - writes0,  # type: ignore[attr-defined]
                      outcome.status, outcome.message)
    attempts.append(attempt)
    return attempt


def check_attempts(audit: Path, attempts: list[Attempt]) -> None:
    """Exactly one audit entry per attempt, with the true outcome; applied <=> changed, once.

    (The generation may also move for another writer's annotation: Deployments bump it then.)
    """
    entries = [e for e in AuditLog(audit).entries() if e.get("action") == "scale"]
    assert [e["outcome"] for e in entries] == [a.status for a in attempts], entries
    for a in attempts:
        assert a.writes <= 1, f"a write was sent {a.writes} times: {a}"
        if a.status == "applied":
            assert a.after[0] == a.replicas and a.after[1] > a.before[1] and a.writes == 1, a
        elif a.status == "unknown":
            assert a.after[0] == (a.replicas if a.writes else a.before[0]), a
        else:
            assert a.after[0] == a.before[0] and a.writes == 0, a


# -- the driver ----------------------------------------------------------------------------------


async def inject(sb: RunningSandbox, kind: str, duration: float, rate: float | None = None,
                 resource: str | None = None) -> float:
    """Start a fault; returns when it ends (time.monotonic(), the sandbox's own timer)."""
    return await asyncio.to_thread(sb.call, lambda s: s.faults.inject(kind, duration, rate, resource).until)


async def end_fault(sb: RunningSandbox, kind: str) -> float:
    """End a fault now (once what it had to show was shown); returns when it ended."""
    await asyncio.to_thread(sb.call, lambda s: s.faults.clear(kind))
    return time.monotonic()


async def recovered(app: AlmtuiApp, row: Row, ends: float, watch: HeaderWatch) -> None:
    """Wait for the fault's end, then for LIVE (held for a second); records the recovery time,
    as the header watch saw it (the test may arrive here after the fault's end)."""
    await asyncio.sleep(max(0.0, ends - time.monotonic()))
    await until(lambda: is_live(app), LIVE_WITHIN + 5, "LIVE again after the fault")
    await asyncio.sleep(0.5)
    assert is_live(app), f"LIVE did not hold: {header(app)}"
    row.recovery = watch.recovery(ends)
    assert row.recovery <= LIVE_WITHIN, f"LIVE only {row.recovery:.1f}s after the fault ended"


def still_running(app: AlmtuiApp) -> None:
    assert app.is_running and app.return_code is None, "the console exited"


async def stale_case(sb: RunningSandbox, tmp_path: Path, row: Row, faults: list[tuple[str, float | None]],
                     duration: float, *, must_show: bool = True) -> tuple[AlmtuiApp, list[Attempt], HeaderWatch]:
    """A fault on the API: STALE/OFFLINE shown, the action refused or true, keys fast, LIVE again."""
    audit = tmp_path / "audit.jsonl"
    app = build_app(sb, audit)
    attempts: list[Attempt] = []
    async with app.run_test() as _pilot:
        await open_console(app)
        with HeaderWatch(app) as watch:
            ends = 0.0
            for kind, rate in faults:
                ends = await inject(sb, kind, duration, rate)
            if must_show:
                await until(lambda: watch.first_not_live is not None, SHOW_WITHIN, f"STALE/OFFLINE: {row.fault}")
            await scale(app, sb, attempts)
            await key_round(app, row)
            still_running(app)
            await recovered(app, row, ends, watch)
        row.shown_after = watch.first_not_live
        row.display = watch.labels()
        assert watch.longest_lie <= 1.5, f"the header said LIVE for {watch.longest_lie:.1f}s of stale data"
        still_running(app)
    check_attempts(audit, attempts)
    row.outcomes = [a.status for a in attempts]
    return app, attempts, watch


# -- the faults that affect the API --------------------------------------------------------------


async def test_api_down_then_back(sb, tmp_path):
    row = RESULTS["api-down"] = Row("API down (60 s, shortened)", f"api-down {API_DOWN_SECONDS:g} s")
    audit = tmp_path / "audit.jsonl"
    app = build_app(sb, audit)
    attempts: list[Attempt] = []
    async with app.run_test() as _pilot:
        await open_console(app)
        with HeaderWatch(app) as watch:
            ends = await inject(sb, "api-down", API_DOWN_SECONDS)
            await until(lambda: "OFFLINE" in watch.seen, SHOW_WITHIN, "OFFLINE")
            during = await scale(app, sb, attempts)  # refused: the cluster cannot be seen, nothing is queued
            assert during.status == "refused" and "cannot see live" in during.message, during
            await key_round(app, row)
            still_running(app)
            await recovered(app, row, ends, watch)
        row.shown_after, row.display = watch.first_not_live, watch.labels()
        assert watch.longest_lie <= 1.5, f"the header said LIVE for {watch.longest_lie:.1f}s of stale data"
        after = await scale(app, sb, attempts)  # the same action now goes through, once
        assert after.status == "applied", after
        still_running(app)
    check_attempts(audit, attempts)
    row.outcomes = [f"{a.status} ({w})" for a, w in zip(attempts, ("during", "after"), strict=True)]


async def test_storm_of_watch_410s(sb, tmp_path):
    """Every 2 s the watch history is compacted and open watches get 410 Expired: the console
    re-lists (never resuming from an old resourceVersion). A re-list takes milliseconds, so the
    header may stay LIVE or show STALE while an informer backs off after 410s in a row; either way
    it never says LIVE for long while a watch is down, and the data matches the cluster after."""
    row = RESULTS["watch-expire"] = Row("storm of watch 410s", f"watch-expire {FAULT_SECONDS:g} s")
    app, _, _ = await stale_case(sb, tmp_path, row, [("watch-expire", None)], FAULT_SECONDS, must_show=False)
    assert app.service.cache.stats().relists >= 14, app.service.cache.stats()


async def test_429_with_retry_after(sb, tmp_path):
    row = RESULTS["throttle"] = Row("429 with Retry-After: 1", f"throttle 100% + watch-close {FAULT_SECONDS:g} s")
    # the action is refused while the probe's GET is throttled, or goes through once the fault is over
    await stale_case(sb, tmp_path, row, [("throttle", 1.0), ("watch-close", None)], FAULT_SECONDS)


async def test_20_percent_500s(sb, tmp_path):
    row = RESULTS["errors"] = Row("20% 500s", f"errors 20% + watch-close {FAULT_SECONDS:g} s")
    await stale_case(sb, tmp_path, row, [("errors", 0.2), ("watch-close", None)], FAULT_SECONDS)


async def test_connections_reset_mid_stream(sb, tmp_path):
    row = RESULTS["reset"] = Row("connections reset mid-stream", f"reset 50% {FAULT_SECONDS:g} s")
    await stale_case(sb, tmp_path, row, [("reset", 0.5)], FAULT_SECONDS)


# -- the faults that leave the API's freshness alone ---------------------------------------------


async def test_2s_latency_keeps_the_ui_responsive(sb, tmp_path):
    row = RESULTS["latency"] = Row("2 s latency", "latency 2 s, until the action is done (about 8 s)")
    audit = tmp_path / "audit.jsonl"
    app = build_app(sb, audit)
    attempts: list[Attempt] = []
    async with app.run_test() as _pilot:
        await open_console(app)
        with HeaderWatch(app) as watch:
            await inject(sb, "latency", 60, 2.0)  # until the action is done: its 3 requests take 6 s

            async def keys_while_the_review_waits() -> None:  # 2 s for the review alone: no dialog yet
                await key_round(app, row)

            started = time.monotonic()
            attempt = await scale(app, sb, attempts, during=keys_while_the_review_waits)
            assert time.monotonic() - started >= 4.0  # the requests really were slow
            assert attempt.status == "applied", attempt
            await recovered(app, row, await end_fault(sb, "latency"), watch)
        assert watch.seen == ["LIVE"], watch.seen  # slow is not stale
        row.display, row.shown_after = "LIVE (slow is not stale)", 0.0
        still_running(app)
    check_attempts(audit, attempts)
    row.outcomes = [a.status for a in attempts]


async def test_conflicting_writer_on_every_action(sb, tmp_path):
    row = RESULTS["conflict"] = Row("conflicting writer on every action", f"conflict {FAULT_SECONDS:g} s")
    audit = tmp_path / "audit.jsonl"
    app = build_app(sb, audit)
    attempts: list[Attempt] = []
    async with app.run_test() as _pilot:
        await open_console(app)
        with HeaderWatch(app) as watch:
            ends = await inject(sb, "conflict", FAULT_SECONDS)
            attempt = await scale(app, sb, attempts)
            # another writer got there first: refused at the dry run, or a conflict at apply; never applied
            assert attempt.status in ("refused", "conflict"), attempt
            assert "plan again" in attempt.message or "changed since the plan" in attempt.message, attempt
            await key_round(app, row)
            await recovered(app, row, ends, watch)
        assert watch.seen == ["LIVE"], watch.seen
        row.display, row.shown_after = f"LIVE; the action: {attempt.status}, \"changed since the plan\"", 0.0
        after = await scale(app, sb, attempts)
        assert after.status == "applied", after
        still_running(app)
    check_attempts(audit, attempts)
    row.outcomes = [f"{a.status} ({w})" for a, w in zip(attempts, ("during", "after"), strict=True)]


@pytest.mark.prometheus
async def test_prometheus_down(sb, tmp_path, prometheus):
    row = RESULTS["prometheus-down"] = Row("Prometheus down", f"prometheus-down {FAULT_SECONDS:g} s")
    audit = tmp_path / "audit.jsonl"
    app = build_app(sb, audit, metrics=True)
    attempts: list[Attempt] = []
    async with app.run_test() as _pilot:
        await open_console(app)
        metrics = app.service.metrics
        assert metrics is not None

        def red() -> Any:
            return metrics.red("prod", "storefront")

        assert (await asyncio.to_thread(metrics.discover)).source == "prometheus"
        assert (await asyncio.to_thread(red)).status != "error"
        with HeaderWatch(app) as watch:
            ends = await inject(sb, "prometheus-down", FAULT_SECONDS)
            start = time.monotonic()
            while (r := await asyncio.to_thread(red)).status != "error":  # answers are cached for `ttl` seconds
                assert time.monotonic() - start < SHOW_WITHIN + metrics.ttl, "metrics still answered"
                await asyncio.sleep(0.2)
            assert not r.verified, r
            row.shown_after = time.monotonic() - start
            await key_round(app, row)
            await scale(app, sb, attempts)  # Prometheus is not the cluster: actions go on
            await recovered(app, row, ends, watch)
            again = time.monotonic()
            while (await asyncio.to_thread(red)).status == "error":
                assert time.monotonic() - again < LIVE_WITHIN + metrics.ttl, "metrics did not come back"
                await asyncio.sleep(0.2)
        assert watch.seen == ["LIVE"], watch.seen
        row.display = "LIVE; RED \"not verified\" (status error)"
        still_running(app)
    check_attempts(audit, attempts)
    assert attempts[0].status == "applied", attempts
    row.outcomes = [a.status for a in attempts]


def node_row(app: AlmtuiApp, node: str) -> str:
    return next((line for line in screen_text(app) if node in line), "")


async def test_node_partition(sb, tmp_path):
    row = RESULTS["partition"] = Row("node partition", f"partition {PARTITIONED}, until shown (about 10 s)")
    audit = tmp_path / "audit.jsonl"
    app = build_app(sb, audit)
    attempts: list[Attempt] = []

    def unknown_in_sandbox() -> bool:
        node = sb.get("/nodes", None, PARTITIONED)
        return next(c for c in node["status"]["conditions"] if c["type"] == "Ready")["status"] == "Unknown"

    async with app.run_test() as _pilot:
        await open_console(app)
        press(app, "3")
        await until(lambda: on_mode(app, "health"), 5, "the health screen")
        await until(lambda: "Ready" in node_row(app, PARTITIONED), 10, f"{PARTITIONED} Ready first")
        with HeaderWatch(app) as watch:
            await inject(sb, "partition", PARTITION_SECONDS, resource=PARTITIONED)
            start = time.monotonic()
            while not await asyncio.to_thread(unknown_in_sandbox):  # after the node monitor's grace period
                assert time.monotonic() - start < PARTITION_SECONDS, "the node never went Unknown"
                await asyncio.sleep(0.2)
            row.shown_after = await until(
                lambda: "Unreachable" in node_row(app, PARTITIONED)
                and re.search(r"\bin (\d+m)?\d+s\b", node_row(app, PARTITIONED)), SHOW_WITHIN,
                f"{PARTITIONED} unreachable with its eviction countdown")
            view = next(n for n in app.service.nodes() if n.name == PARTITIONED)
            assert view.ready == "Unknown" and view.unreachable and view.eviction_countdown is not None, view
            await key_round(app, row)
            await scale(app, sb, attempts)
            await recovered(app, row, await end_fault(sb, "partition"), watch)
        assert watch.seen == ["LIVE"], watch.seen
        row.display = "LIVE; node Unreachable (Ready=Unknown) + eviction countdown"
        press(app, "3")
        await until(lambda: on_mode(app, "health"), 5, "the health screen")
        await until(lambda: "Unreachable" not in node_row(app, PARTITIONED), LIVE_WITHIN, "the node back")
        still_running(app)
    check_attempts(audit, attempts)
    assert attempts[0].status == "applied", attempts
    row.outcomes = [a.status for a in attempts]
