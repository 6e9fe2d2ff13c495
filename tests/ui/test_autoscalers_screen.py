"""The Autoscalers screen (4) with Pilot: every key, then the sandbox's HPA and the audit log.

One frozen sandbox of this module's own (the tests write to it): `e` opens the validated policy
form, enter submits it, the confirmation applies it. Invalid input, read-only and viewer users
are refused on screen, and nothing reaches the cluster.
"""

from __future__ import annotations

import math
from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest
from textual.widgets import Input, Sparkline, Static

from almtui.cluster import views as V
from almtui.ui.dialogs.confirm import ConfirmDialog
from almtui.ui.dialogs.forms import HPAPolicyForm
from almtui.ui.keys import disabled_keys
from almtui.ui.screens.autoscalers import AutoscalersScreen
from almtui.ui.widgets.hpa_detail import HPADetail, hpa_state, spark_points
from almtui.ui.widgets.table import ResourceTable
from tests.ui.conftest import audited_app, make_test_app, notes, select_row, settle, start_sandbox, wait_for

HPAS = "autoscaling/horizontalpodautoscalers"


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    sandbox = start_sandbox(tmp_path_factory.mktemp("autoscalers-sandbox"), frozen=True)
    yield sandbox
    sandbox.stop()


build = partial(audited_app, screen="autoscalers", size=(120, 40))


async def open_form(pilot: Any) -> HPAPolicyForm:
    await pilot.press("e")
    form = await wait_for(pilot, lambda: pilot.app.screen if isinstance(pilot.app.screen, HPAPolicyForm) else None)
    await settle(pilot)
    return form


async def type_into(pilot: Any, form: HPAPolicyForm, field: str, text: str) -> None:
    inp = form.query_one(f"#{field}", Input)
    inp.focus()
    await pilot.pause()
    await pilot.press("end", *["backspace"] * len(inp.value), *text)
    await pilot.pause()


async def test_e_changes_max_replicas_through_the_form_and_the_confirmation(sb, tmp_path):
    app, audit = build(sb, tmp_path)
    assert sb.get(HPAS, "prod", "storefront")["spec"]["maxReplicas"] == 8
    async with app.run_test() as pilot:
        await settle(pilot)
        await select_row(pilot, "hpa-table", ("prod", "storefront"))
        form = await open_form(pilot)
        assert form.hpa["metadata"]["name"] == "storefront"
        await type_into(pilot, form, "hpa-max", "9")
        assert "what-if" in str(form.query_one("#hpa-whatif", Static).render())
        await pilot.press("enter")
        dialog = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, ConfirmDialog) else None)
        assert dialog.plan.action == "hpa-update"
        await pilot.press("y")
        await wait_for(pilot, lambda: sb.get(HPAS, "prod", "storefront")["spec"]["maxReplicas"] == 9)
        await settle(pilot)
        assert isinstance(app.screen, AutoscalersScreen)
        await wait_for(pilot, lambda: app.screen.selected() is not None and app.screen.selected().max == 9)
        row = app.screen.query_one("#hpa-table", ResourceTable).get_row("prod\x1fstorefront")
        assert row[4].plain == "3-9"
    entry = audit.entries()[-1]
    assert (entry["action"], entry["outcome"], entry["target"]["name"]) == ("hpa-update", "applied", "storefront")


async def test_min_above_max_is_an_inline_error_and_sends_nothing(sb, tmp_path):
    app, audit = build(sb, tmp_path)
    before = sb.get(HPAS, "lab", "lab-sizing")
    async with app.run_test() as pilot:
        await settle(pilot)
        await select_row(pilot, "hpa-table", ("lab", "lab-sizing"))
        form = await open_form(pilot)
        await type_into(pilot, form, "hpa-min", "7")  # max is 6
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is form  # still open: nothing submitted
        error = str(form.query_one("#form-error", Static).render())
        assert "maxReplicas" in error or "minReplicas" in error, error
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, AutoscalersScreen)
    after = sb.get(HPAS, "lab", "lab-sizing")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert audit.entries() == []


async def test_read_only_refuses_e_without_opening_the_form(sb, tmp_path):
    app, audit = build(sb, tmp_path, read_only=True)
    before = sb.get(HPAS, "prod", "storefront")["metadata"]["resourceVersion"]
    messages: list = []
    async with app.run_test(message_hook=messages.append) as pilot:
        await settle(pilot)
        await select_row(pilot, "hpa-table", ("prod", "storefront"))
        assert "autoscalers.edit" in disabled_keys(app.screen)
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, AutoscalersScreen)
        assert any("read-only" in n.lower() for n in notes(messages)), notes(messages)
    assert sb.get(HPAS, "prod", "storefront")["metadata"]["resourceVersion"] == before
    assert audit.entries() == []


async def test_a_viewer_is_refused_by_rbac(sb, tmp_path):
    app, audit = build(sb, tmp_path, context="viewer")
    before = sb.get(HPAS, "prod", "storefront")["metadata"]["resourceVersion"]
    messages: list = []
    async with app.run_test(message_hook=messages.append) as pilot:
        await settle(pilot)
        await select_row(pilot, "hpa-table", ("prod", "storefront"))
        await wait_for(pilot, lambda: "autoscalers.edit" in disabled_keys(app.screen))
        assert "may not patch" in disabled_keys(app.screen)["autoscalers.edit"]
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, AutoscalersScreen)
        assert any("not allowed" in n for n in notes(messages))
    assert sb.get(HPAS, "prod", "storefront")["metadata"]["resourceVersion"] == before
    assert audit.entries() == []


async def test_detail_follows_the_cursor(ui_sandbox):
    app = make_test_app(ui_sandbox, screen="autoscalers", size=(120, 40))
    async with app.run_test() as pilot:
        await settle(pilot)
        hpas = {h.key: h for h in app.service.hpas()}
        for key in (("prod", "storefront"), ("lab", "lab-sizing")):
            await select_row(pilot, "hpa-table", key)
            info = str(app.screen.query_one("#hpa-info", Static).render())
            h = hpas[key]
            assert f"{h.namespace}/{h.name} → {h.target}" in info
            assert f"{h.current} current, {h.desired} desired, min {h.min}, max {h.max}" in info
            for c in h.conditions:
                assert f"{c.type}" in info and c.reason in info
            row = app.screen.query_one("#hpa-table", ResourceTable).get_row("\x1f".join(key))
            assert row[5].plain == ", ".join(f"{m.name} {m.current_text} / {m.target_text}" for m in h.metrics)
        # one sample so far: no sparkline (a single bar says nothing), the count instead
        assert not app.screen.query_one(Sparkline).display
        assert "collecting" in str(app.screen.query_one("#hpa-history-note", Static).render())


async def test_replica_history_sparkline_gets_a_new_list(ui_sandbox):
    app = make_test_app(ui_sandbox, screen="autoscalers", size=(120, 40))
    async with app.run_test() as pilot:
        await settle(pilot)
        detail = app.screen.query_one(HPADetail)
        h = app.screen.selected()
        history = [3, 4, None, 6, math.nan, 5]
        detail.show(h, history, "test", app.palette, stale=False)
        spark = app.screen.query_one(Sparkline)
        first = spark.data
        assert spark.display and first == [3.0, 4.0, 0.0, 6.0, 0.0, 5.0]
        assert "3..6 replicas, 6 samples" in str(app.screen.query_one("#hpa-history-note", Static).render())
        detail.show(h, [*history, 7], "test", app.palette, stale=False)
        # a new list, never the old one changed in place (`data` is a reactive: mutation would not repaint)
        assert spark.data == [*first, 7.0] and first == [3.0, 4.0, 0.0, 6.0, 0.0, 5.0]


def _hpa(**kw: Any) -> V.HPAView:
    base = dict(key=("ns", "h"), namespace="ns", name="h", target_kind="Deployment", target_name="d", current=3,
                desired=3, min=2, max=5, metrics=(), conditions=(), last_scale=None, last_scale_age=None,
                able_to_scale="ReadyForNewScale", scaling_active="ValidMetricFound", scaling_limited="",
                limited=False, scale_up="", scale_down="", replica_history=())
    base.update(kw)
    return V.HPAView(**base)


def test_state_words_from_the_conditions():
    assert hpa_state(_hpa()) == ("Healthy", "Steady")
    assert hpa_state(_hpa(desired=5)) == ("Progressing", "Scaling")
    assert hpa_state(_hpa(limited=True, scaling_limited="TooManyReplicas")) == ("Paused", "At max")
    assert hpa_state(_hpa(limited=True, scaling_limited="TooFewReplicas")) == ("Healthy", "At min")
    assert hpa_state(_hpa(limited=True, scaling_limited="ScaleUpLimit")) == ("Progressing", "Rate-limited")
    assert hpa_state(_hpa(scaling_active="FailedGetResourceMetric")) == ("Degraded", "No metrics")
    assert hpa_state(_hpa(able_to_scale="FailedGetScale")) == ("Degraded", "Blocked")
    assert hpa_state(_hpa(scaling_active="ScalingDisabled")) == ("Paused", "Disabled")
    assert spark_points([1, None, float("nan"), 2]) == [1.0, 0.0, 0.0, 2.0]


class FakePrometheus:
    """A MetricsService stand-in that has found Prometheus and keeps kube-state-metrics replica history."""

    discovery = SimpleNamespace(source="prometheus")

    def hpa_history(self, namespace: str, hpa: str, minutes: float = 30) -> Any:
        if (namespace, hpa) == ("prod", "storefront"):
            return _History([3, 3, 5, 8, 8, 6, 3])
        return _History([], status="no-data")


class _History(list):
    def __init__(self, items: list[int], status: str = "ok") -> None:
        super().__init__(items)
        self.status = status


async def test_history_from_prometheus_draws_the_sparkline(ui_sandbox):
    app = make_test_app(ui_sandbox, screen="autoscalers", size=(120, 40))
    app.service.metrics = FakePrometheus()
    async with app.run_test() as pilot:
        await settle(pilot)
        await select_row(pilot, "hpa-table", ("prod", "storefront"))
        spark = app.screen.query_one(Sparkline)
        assert spark.display and spark.data == [3.0, 3.0, 5.0, 8.0, 8.0, 6.0, 3.0]
        note = str(app.screen.query_one("#hpa-history-note", Static).render())
        assert "3..8 replicas, 7 samples (Prometheus, 30m)" in note
        await select_row(pilot, "hpa-table", ("lab", "lab-sizing"))  # Prometheus has nothing: the service's own samples
        assert not spark.display and "sampled by almtui" in str(app.screen.query_one("#hpa-history-note",
                                                                                       Static).render())
