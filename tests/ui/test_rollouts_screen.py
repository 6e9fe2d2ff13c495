"""The Rollouts screen driven with Pilot: every key, then the sandbox's state and the audit log.

One live sandbox for this module (not the frozen session one: these tests change it). Each test
acts on its own objects, so their order does not matter. Refusals (read-only, viewer, a key that
does not apply) must change nothing and, for refusals of an action, leave a `refused` audit entry.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import pytest
from rich.text import Text

from almtui.cluster import views as V
from almtui.cluster.audit import AuditLog
from almtui.cluster.connection import connect
from almtui.cluster.kubeconfig import load_kubeconfig
from almtui.cluster.metrics import RED, REDSeries
from almtui.cluster.service import ClusterService
from almtui.ui.app import make_app
from almtui.ui.dialogs.confirm import ConfirmDialog, RefusalDialog
from almtui.ui.dialogs.forms import ImageForm, RevisionPicker, ScaleForm
from almtui.ui.screens.rollout_detail import RolloutDetailScreen, describe_step, red_targets
from almtui.ui.screens.rollouts import RolloutsScreen
from almtui.ui.widgets.rollout_table import list_columns, progress_bar
from almtui.ui.widgets.rollout_tree import RolloutTree, tree_columns, tree_rows
from almtui.ui.widgets.sparkline_red import REDLine, REDPanel, spark
from almtui.ui.widgets.table import ResourceTable, row_key
from tests.support import wait_until
from tests.ui.conftest import FAST, audited_app, settle, start_sandbox, wait_for

DEPLOYS = "apps/deployments"
ROLLOUTS = "argoproj.io/rollouts"


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    sandbox = start_sandbox(tmp_path_factory.mktemp("rollouts-sandbox"), frozen=False)
    yield sandbox
    sandbox.stop()


build = partial(audited_app, screen="rollouts", size=(120, 40))


async def select(pilot: Any, kind: str, namespace: str, name: str) -> None:
    """Put the Rollouts table's cursor on this workload."""
    app = pilot.app
    assert isinstance(app.screen, RolloutsScreen), type(app.screen)
    table = app.screen.query_one("#rollouts-table", ResourceTable)
    key = (kind, namespace, name)
    await wait_for(pilot, lambda: table.row_count > 0)
    table.move_cursor(row=table.get_row_index(row_key(key)), animate=False)
    await pilot.pause()
    assert app.screen.target_view() is not None and app.screen.target_view().key == key


async def confirm(pilot: Any, key: str = "y") -> ConfirmDialog:
    """Wait for the confirmation dialog and answer it with `key`."""
    dialog = await wait_for(pilot, lambda: pilot.app.screen if isinstance(pilot.app.screen, ConfirmDialog) else None,
                            what="the confirmation dialog")
    await settle(pilot)  # mounted and focused before the key arrives (a loaded machine is slow)
    await pilot.press(key)
    await wait_for(pilot, lambda: not isinstance(pilot.app.screen, ConfirmDialog))
    await wait_for(pilot, lambda: not pilot.app.actions.busy, what="the action to finish")
    await settle(pilot)
    return dialog


def entries(audit: AuditLog, action: str | None = None) -> list[tuple[str, str, str]]:
    """(action, "namespace/name", outcome) of each audit entry."""
    out = []
    for e in audit.entries():
        t = e.get("target") or {}
        if action is None or e.get("action") == action:
            out.append((e.get("action"), f"{t.get('namespace')}/{t.get('name')}", e.get("outcome")))
    return out


async def retype(pilot: Any, value: str, old_len: int = 80) -> None:
    """Replace the focused Input's text by typing, as an operator would."""
    await pilot.press("end", *(["backspace"] * old_len), *value)


def template_images(obj: dict) -> list[str]:
    return [c["image"] for c in obj["spec"]["template"]["spec"]["containers"]]


# -- keys that change the cluster -----------------------------------------------------------------


async def test_s_scales_a_deployment(sb, tmp_path):
    app, audit = build(sb, tmp_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        # not prod/storefront: its HPA would scale it back, and `U` rolls that one back below
        await select(pilot, "Deployment", "dev", "pos-sync")
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ScaleForm), what="the scale form")
        await retype(pilot, "3", 3)
        await pilot.press("enter")
        await confirm(pilot, "y")
    assert sb.get(DEPLOYS, "dev", "pos-sync")["spec"]["replicas"] == 3
    assert entries(audit) == [("scale", "dev/pos-sync", "applied")]


async def test_d_deploys_a_bad_image_then_u_y_rolls_it_back(sb, tmp_path):
    app, audit = build(sb, tmp_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        await select(pilot, "Deployment", "prod", "pos-sync")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ImageForm), what="the image form")
        await retype(pilot, "registry.local/retail/pos-sync:2.1.1-bad")
        await pilot.press("enter")
        await confirm(pilot, "y")
        assert template_images(sb.get(DEPLOYS, "prod", "pos-sync")) == ["registry.local/retail/pos-sync:2.1.1-bad"]
        # the new ReplicaSet (revision 3) must be in the console's cache before `u` picks "the previous one"
        svc = app.service
        await wait_for(pilot, lambda: any(
            template_images(rs) == ["registry.local/retail/pos-sync:2.1.1-bad"]
            for rs in svc.objects("replicasets", "prod")), what="the new ReplicaSet")
        await wait_for(pilot, lambda: app.screen.target_view().revision == 3, what="revision 3 on screen")
        await pilot.press("u")
        await confirm(pilot, "y")
    assert template_images(sb.get(DEPLOYS, "prod", "pos-sync")) == ["registry.local/retail/pos-sync:2.1.0"]
    assert entries(audit) == [("set-image", "prod/pos-sync", "applied"), ("undo", "prod/pos-sync", "applied")]


async def test_capital_u_rolls_back_to_the_chosen_revision(sb, tmp_path):
    app, audit = build(sb, tmp_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        await select(pilot, "Deployment", "prod", "storefront")  # revisions 1 (1.4.0), 2 (1.4.1), 3 (1.4.2)
        await pilot.press("U")
        picker = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, RevisionPicker) else None,
                                what="the revision picker")
        await wait_for(pilot, lambda: picker.revisions)
        await pilot.press("down")  # from revision 2 (what `u` would pick) to revision 1
        assert picker.selected().revision == 1
        await pilot.press("enter")
        await confirm(pilot, "y")
    assert template_images(sb.get(DEPLOYS, "prod", "storefront")) == ["registry.local/retail/storefront:1.4.0"]
    assert entries(audit) == [("undo", "prod/storefront", "applied")]


async def test_space_pauses_and_resumes(sb, tmp_path):
    app, audit = build(sb, tmp_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        await select(pilot, "Deployment", "dev", "storefront")
        await pilot.press("space")
        await confirm(pilot, "y")
        assert sb.get(DEPLOYS, "dev", "storefront")["spec"].get("paused") is True
        await wait_for(pilot, lambda: app.service.get("deployments", "dev", "storefront")["spec"].get("paused"))
        await pilot.press("space")
        await confirm(pilot, "y")
    assert not sb.get(DEPLOYS, "dev", "storefront")["spec"].get("paused")
    assert entries(audit) == [("pause", "dev/storefront", "applied"), ("resume", "dev/storefront", "applied")]


async def test_capital_r_restarts(sb, tmp_path):
    app, audit = build(sb, tmp_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        await select(pilot, "Deployment", "staging", "pos-sync")
        await pilot.press("R")
        await confirm(pilot, "y")
    annotations = sb.get(DEPLOYS, "staging", "pos-sync")["spec"]["template"]["metadata"].get("annotations") or {}
    assert "kubectl.kubernetes.io/restartedAt" in annotations
    assert entries(audit) == [("restart", "staging/pos-sync", "applied")]


def _status(sb: Any, ns: str, name: str) -> dict:
    return sb.get(ROLLOUTS, ns, name).get("status") or {}


async def test_canary_keys_abort_retry_promote_and_promote_full(sb, tmp_path):
    """staging/checkout is paused at its indefinite pause (step 1 of 4): a, t, p, then P."""
    app, audit = build(sb, tmp_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        await select(pilot, "Rollout", "staging", "checkout")
        assert app.screen.target_view().step == 1 and app.screen.target_view().paused

        await pilot.press("a")
        await confirm(pilot, "y")
        assert _status(sb, "staging", "checkout").get("abort") is True
        await wait_for(pilot, lambda: app.screen.target_view().aborted, what="the abort on screen")

        await pilot.press("t")
        await confirm(pilot, "y")
        assert not _status(sb, "staging", "checkout").get("abort")
        await wait_for(pilot, lambda: not app.screen.target_view().aborted, what="the retry on screen")

        await wait_for(pilot, lambda: app.screen.target_view().paused, timeout=30, what="the pause step again")
        seen = app.service.get("rollouts", "staging", "checkout")["status"]
        await pilot.press("p")
        await confirm(pilot, "y")
        # past the indefinite pause (the controller may already be at the next, timed pause)
        assert _status(sb, "staging", "checkout")["currentStepIndex"] > seen["currentStepIndex"]

        await pilot.press("P")
        await confirm(pilot, "y")
    assert wait_until(lambda: _status(sb, "staging", "checkout").get("promoteFull") is True
                      or _status(sb, "staging", "checkout").get("stableRS")
                      == _status(sb, "staging", "checkout").get("currentPodHash"), timeout=10)
    assert entries(audit) == [("abort", "staging/checkout", "applied"), ("retry", "staging/checkout", "applied"),
                              ("promote", "staging/checkout", "applied"),
                              ("promote-full", "staging/checkout", "applied")]


async def test_u_y_rolls_back_a_rollout(sb, tmp_path):
    app, audit = build(sb, tmp_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        await select(pilot, "Rollout", "prod", "checkout")  # 2.1.0 -> 2.2.0 -> 2.3.0
        await pilot.press("u")
        await confirm(pilot, "y")
    assert template_images(sb.get(ROLLOUTS, "prod", "checkout")) == ["registry.local/retail/checkout:2.2.0"]
    assert entries(audit) == [("undo", "prod/checkout", "applied")]


# -- keys that must not change anything ---------------------------------------------------------------


async def test_rollout_keys_on_a_deployment_explain_why(sb, tmp_path):
    app, audit = build(sb, tmp_path)
    before = sb.get(DEPLOYS, "staging", "storefront")
    notes: list[str] = []
    app.notify = lambda message, **kw: notes.append(message)  # type: ignore[method-assign]
    async with app.run_test() as pilot:
        await settle(pilot)
        await select(pilot, "Deployment", "staging", "storefront")
        for key in ("p", "P", "a", "t"):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, RolloutsScreen)
    assert len(notes) == 4 and all("Argo Rollouts only" in n and "Deployment" in n for n in notes)
    assert sb.get(DEPLOYS, "staging", "storefront")["metadata"]["resourceVersion"] == \
        before["metadata"]["resourceVersion"]
    assert entries(audit) == []


async def test_read_only_refuses_every_change_and_audits_it(sb, tmp_path):
    app, audit = build(sb, tmp_path, read_only=True)
    before = sb.get(ROLLOUTS, "dev", "checkout")["metadata"]["resourceVersion"]
    async with app.run_test() as pilot:
        await settle(pilot)
        await select(pilot, "Rollout", "dev", "checkout")
        for key in ("u", "p", "space", "R"):  # straight to the action path: the refusal dialog says why
            await pilot.press(key)
            refusal = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, RefusalDialog) else None,
                                     what=f"the refusal of {key}")
            assert refusal is not None
            await pilot.press("escape")
            await wait_for(pilot, lambda: not app.actions.busy and isinstance(app.screen, RolloutsScreen))
        for key in ("s", "d", "U"):  # a form would be pointless: refused before it opens
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, RolloutsScreen)
        await settle(pilot)
    assert sb.get(ROLLOUTS, "dev", "checkout")["metadata"]["resourceVersion"] == before
    got = entries(audit)
    assert [a for a, _, _ in got] == ["undo", "promote", "pause", "restart", "scale", "set-image", "undo"]
    assert all(where == "dev/checkout" and outcome == "refused" for _, where, outcome in got)


async def test_viewer_is_refused_and_audited(sb, tmp_path):
    app, audit = build(sb, tmp_path, context="viewer")
    before = sb.get(ROLLOUTS, "prod", "inventory")["metadata"]["resourceVersion"]
    async with app.run_test() as pilot:
        await settle(pilot)
        await select(pilot, "Rollout", "prod", "inventory")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, RefusalDialog), what="the refusal")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.actions.busy)
        await settle(pilot)
        # the key bar now knows: abort is dimmed with the RBAC reason
        await wait_for(pilot, lambda: "rollouts.abort" in getattr(app.screen, "disabled_keys", {}),
                       what="the dimmed key")
    assert sb.get(ROLLOUTS, "prod", "inventory")["metadata"]["resourceVersion"] == before
    assert entries(audit) == [("abort", "prod/inventory", "refused")]


async def test_columns_follow_the_terminal_width_and_keep_the_cursor(sb, tmp_path):
    app, _ = build(sb, tmp_path, size=(120, 40))
    async with app.run_test() as pilot:
        await settle(pilot)
        await select(pilot, "Rollout", "dev", "checkout")
        view = app.screen.target_view()
        table = app.screen.query_one("#rollouts-table", ResourceTable)
        assert "weight" in [c.key for c in table.spec]
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        narrow = app.screen.query_one("#rollouts-table", ResourceTable)
        assert narrow is not table and [c.key for c in narrow.spec] == [c.key for c in list_columns(80)]
        assert narrow.row_count == table.row_count or narrow.row_count > 0
        assert app.screen.target_view().key == ("Rollout", "dev", "checkout")
        assert app.screen.focused is narrow
        footer = str(app.screen.query_one("#rollouts-footer").render())
        # what the narrow table leaves out is in the footer
        assert f"step {view.step}/{view.steps}" in footer and f"weight {view.set_weight}/" in footer
        assert "Canary" in footer and f"rev {view.revision}" in footer


async def test_theme_switch_restyles_the_status_badges(sb, tmp_path):
    app, _ = build(sb, tmp_path, size=(80, 24))
    async with app.run_test() as pilot:
        await settle(pilot)
        table = app.screen.query_one("#rollouts-table", ResourceTable)
        status = [c.key for c in table.spec].index("phase")
        before = table.get_row_at(0)[status]
        assert before.plain[0] in "✓↻‖✗"
        app.set_theme("almtui-light")
        await settle(pilot)
        after = table.get_row_at(0)[status]
        assert after.plain == before.plain and after.spans != before.spans


# -- the detail view ----------------------------------------------------------------------------


async def test_enter_opens_the_detail_tree_and_escape_returns(sb, tmp_path):
    app, _ = build(sb, tmp_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        await select(pilot, "Rollout", "prod", "inventory")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RolloutDetailScreen) and app.screen.view is not None)
        await settle(pilot)
        detail = app.screen
        tree = detail.query_one(RolloutTree)
        keys = [r.key.value for r in tree.ordered_rows]
        assert keys[0] == row_key(("rollout",))
        assert [k for k in keys if k.startswith("rev")] == [row_key(("rev", 2)), row_key(("rev", 1))]
        view = detail.view
        active = next(rs for rs in view.replicasets if "active" in rs.roles)
        assert row_key(("rs", active.name)) in keys
        assert all(row_key(("pod", p.name)) in keys for p in active.pods)
        summary = str(detail.query_one("#ro-summary").render())
        assert "Rollout prod/inventory" in summary and "BlueGreen" in summary
        red = str(detail.query_one(REDPanel).render())
        assert "not verified" in red and "healthy" not in red.lower()
        rows = tree.row_count
        await pilot.resize_terminal(80, 24)  # the INFO column goes; the rows stay
        await settle(pilot)
        assert detail.tree is not tree and "info" not in [c.key for c in detail.tree.spec]
        assert detail.tree.row_count == rows and detail.query_one(RolloutTree) is detail.tree
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RolloutsScreen))


async def test_detail_updates_in_place_from_watch_events(sb, tmp_path):
    app, audit = build(sb, tmp_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        await select(pilot, "Deployment", "staging", "storefront")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RolloutDetailScreen) and app.screen.view is not None)
        tree = app.screen.query_one(RolloutTree)
        pods = sum(len(rs.pods) for rs in app.screen.view.replicasets)
        await pilot.press("s")  # the keys work in the detail view too
        await wait_for(pilot, lambda: isinstance(app.screen, ScaleForm))
        await retype(pilot, str(pods + 1), 4)
        await pilot.press("enter")
        await confirm(pilot, "y")
        await wait_for(pilot, lambda: sum(len(rs.pods) for rs in app.screen.view.replicasets) == pods + 1,
                       what="the new pod in the tree")
        assert app.screen.query_one(RolloutTree) is tree  # same widget: rows were added, not rebuilt
        assert sum(1 for r in tree.ordered_rows if r.key.value.startswith("pod")) == pods + 1
    assert entries(audit) == [("scale", "staging/storefront", "applied")]


async def test_l_opens_the_logs_of_the_selected_pod(sb, tmp_path):
    logs = pytest.importorskip("almtui.ui.screens.logs")
    app, _ = build(sb, tmp_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        await select(pilot, "Deployment", "prod", "pos-sync")
        view = app.screen.target_view()
        pod = next(p for rs in view.replicasets for p in rs.pods)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RolloutDetailScreen) and app.screen.view is not None)
        tree = app.screen.query_one(RolloutTree)
        tree.move_cursor(row=tree.get_row_index(row_key(("pod", pod.name))), animate=False)
        await pilot.pause()
        await pilot.press("l")
        screen = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, logs.LogScreen) else None,
                                what="the log screen")
        await wait_for(pilot, lambda: not screen.loading and screen.lines, what="the log lines")
        expected = app.service.pod_log(pod.namespace, pod.name, tail=50)
        assert (screen.namespace, screen.pod) == (pod.namespace, pod.name)
        assert set(screen.lines) & set(expected)


async def test_hostile_strings_are_shown_inert(sb, tmp_path):
    """Strategy type, step durations, names: cluster strings, so escapes must arrive as visible text."""
    app, _ = build(sb, tmp_path)
    bad = "\x1b]0;pwned\x07\x1b[2J[link=x]"
    view = _view(name="web" + bad, strategy="Canary" + bad, message=bad, status_text=bad, images=("r/x:" + bad,))
    async with app.run_test() as pilot:
        await settle(pilot)
        shown = [app.screen.footer_text(view).plain]
        detail = RolloutDetailScreen(view.key)
        await app.push_screen(detail)
        await settle(pilot)
        detail.loaded = True
        shown.append(detail._summary_text(view, (describe_step({"pause": {"duration": bad}}),) * 4).plain)
        shown += [str(c.plain) for _, cells in tree_rows(view, detail.badge, detail.tree.spec)
                  for c in cells if isinstance(c, Text)]
    for text in shown:
        assert "\x1b" not in text and "\x07" not in text
    assert all("\\x1b" in text for text in shown[:2])


# -- pure parts -------------------------------------------------------------------------------


def test_progress_bar_has_eighth_steps():
    assert progress_bar(0, 4) == "░░░░"
    assert progress_bar(1, 4) == "████"
    assert progress_bar(0.5, 4) == "██░░"
    assert progress_bar(0.53, 4) == "██▏░"
    assert all(len(progress_bar(f / 10, 6)) == 6 for f in range(11))


@pytest.mark.parametrize("width", [80, 90, 100, 110, 120, 160, 200])
def test_list_columns_fit_the_width(width):
    cols = list_columns(width)
    assert sum((c.width or 0) + 2 for c in cols) <= width - 1
    keys = [c.key for c in cols]
    for essential in ("namespace", "name", "phase", "ready", "step", "version"):
        assert essential in keys
    assert ("weight" in keys) == (width >= 111)
    assert ("message" in keys) == (width >= 160)


@pytest.mark.parametrize("width", [80, 120, 200])
def test_tree_columns_fit_the_width(width):
    cols = tree_columns(width)
    assert sum((c.width or 0) + 2 for c in cols) <= width - 1
    assert ("info" in [c.key for c in cols]) == (width >= 100)


def _view(**kw: Any) -> V.RolloutView:
    base = dict(key=("Rollout", "ns", "web"), kind="Rollout", namespace="ns", name="web", strategy="Canary",
                revision=2, images=("r/web:2",), desired=2, current=3, updated=1, ready=3, available=3, progress=0.5,
                phase="Paused", message="CanaryPauseStep", step=1, steps=4, set_weight=25, actual_weight=33,
                active_hash=None, preview_hash=None, stable_hash="aaa", current_hash="bbb", conditions=(),
                status_text="Paused - CanaryPauseStep", done=False, paused=True, aborted=False, created=None,
                age=60.0, app="web", hpa=None, replicasets=(), as_of=0.0)
    base.update(kw)
    return V.RolloutView(**base)


def test_red_targets_compare_the_versions_that_run():
    assert red_targets(_view()).versions == (("canary", "bbb"), ("stable", "aaa"))
    assert red_targets(_view(current_hash="aaa")).versions == (("all", None),)
    bg = _view(strategy="BlueGreen", active_hash="aaa", preview_hash="bbb")
    assert red_targets(bg).versions == (("preview", "bbb"), ("active", "aaa"))


def test_describe_step():
    assert describe_step({"setWeight": 25}) == "setWeight 25%"
    assert describe_step({"pause": {}}) == "pause (until promoted)"
    assert describe_step({"pause": {"duration": "30s"}}) == "pause 30s"
    assert describe_step({"analysis": {"templates": [{"templateName": "success-rate"}]}}) == "analysis success-rate"


def test_tree_rows_draw_the_plugin_tree():
    pod = V.PodView(key=("ns", "web-b-1"), namespace="ns", name="web-b-1", node="n1", phase="Running",
                    status="Running", ready="1/1", ready_count=1, total=1, restarts=2, last_restart_age=None, age=5.0,
                    ip="", owner_kind="ReplicaSet", owner_name="web-b", template_hash="bbb", images=("r/web:2",),
                    deleting=False)
    rs_new = V.ReplicaSetView(key=("ns", "web-b"), namespace="ns", name="web-b", revision=2, hash="bbb",
                              role="canary", roles=("canary",), status="Healthy", desired=1, current=1, ready=1,
                              available=1, images=("r/web:2",), pods=(pod,), age=5.0, scale_down_deadline=None)
    rs_old = V.ReplicaSetView(key=("ns", "web-a"), namespace="ns", name="web-a", revision=1, hash="aaa",
                              role="stable", roles=("stable",), status="ScaledDown", desired=0, current=0, ready=0,
                              available=0, images=("r/web:1",), pods=(), age=50.0, scale_down_deadline=None)
    rows = tree_rows(_view(replicasets=(rs_new, rs_old)), lambda status, **kw: Text(status), tree_columns(120))
    names = [r[1][0].plain for r in rows]
    assert names == ["⟳ web", "├──# revision:2", "│  └──⧉ web-b  canary", "│     └──□ web-b-1",
                     "└──# revision:1", "   └──⧉ web-a  stable"]
    pod_row = rows[3][1]
    assert pod_row[2:5] == ("1/1", 2, 5.0) and pod_row[5] == "n1"


def test_red_panel_never_says_healthy_and_shows_the_rate_beside_the_ratio():
    panel = REDPanel()
    nan = math.nan
    ok = RED(12.5, 0.02, 0.180, "ok")
    series = REDSeries([1, 2, nan, 4], [0, 0.01, nan, 0.02], [0.1, 0.2, nan, 0.18], "ok")
    panel.set_lines([REDLine("canary", ok, series),
                     REDLine("stable", RED(0.0, None, None, "no-data", "not verified: no requests to ns/web"))])
    text = str(panel.render())
    canary, stable = text.splitlines()
    assert "12 req/s" in canary and "2.0%" in canary and "180 ms" in canary
    assert "not verified" in stable and "0.00 req/s" in stable and "no requests" in stable
    assert "healthy" not in text.lower()
    panel.set_lines([], "not verified: no metrics source")
    assert str(panel.render()).startswith("? not verified")


def test_spark_scales_and_leaves_gaps():
    assert spark([0, 1, 2, 3, 4, 5, 6, 7], 8) == "▁▂▃▄▅▆▇█"
    assert spark([1, math.nan, 1], 5) == "··█·█"
    assert spark([0, 0], 2) == "▁▁"
    assert spark([], 3) == "···"


# -- RED metrics from a real Prometheus ------------------------------------------------------------


async def test_detail_shows_canary_against_stable_red_from_prometheus(tmp_path, monkeypatch):
    """Its own fast sandbox with a real Prometheus behind the service proxy: the canary and the stable
    version each get a request rate, a 5xx ratio beside it, a p95 and sparklines."""
    import asyncio
    import dataclasses

    from almtui.cluster.config import Config
    from almtui.cluster.metrics import MetricsService
    from almtui.sandbox.prometheus import start_prometheus
    from tests.support import RunningSandbox, need_binary
    from tests.ui.conftest import FIXED_START

    need_binary("prometheus")
    monkeypatch.setattr(RolloutDetailScreen, "red_window", "5s")  # Prometheus runs in real time, 500 ms scrapes
    monkeypatch.setattr(RolloutDetailScreen, "red_minutes", 0.5)
    monkeypatch.setattr(RolloutDetailScreen, "red_step", "2s")
    sb = RunningSandbox("edge-retail", seed=1, speed=30, workdir=tmp_path, start=FIXED_START).start()
    prom = None
    try:
        prom = asyncio.run_coroutine_threadsafe(
            start_prometheus(sb.sandbox, scrape_interval="500ms", evaluation_interval="500ms"), sb.loop).result(60)
        kc = load_kubeconfig([sb.kubeconfig])
        cfg = Config()
        cfg = dataclasses.replace(cfg, prometheus=dataclasses.replace(cfg.prometheus, step="1s", timeout=5))
        conn = connect(kc, None, **FAST)
        metrics = MetricsService(conn, cfg, ttl=0)
        status = sb.get(ROLLOUTS, "staging", "checkout")["status"]
        canary, stable = status["currentPodHash"], status["stableRS"]
        wait_until(lambda: all(r.verified for r in metrics.canary_vs_stable("staging", "checkout", canary, stable,
                                                                            window="5s")),
                   timeout=40, interval=0.5, what="RED data for both versions")
        svc = ClusterService(conn, metrics=metrics, audit=AuditLog(tmp_path / "audit.jsonl")).start()
        assert svc.wait_synced(30)
        app = make_app(svc, size=(120, 40), screen="rollouts", kubeconfig=kc, connect_options=FAST)
        app.animation_level = "none"
        async with app.run_test() as pilot:
            await settle(pilot)
            await select(pilot, "Rollout", "staging", "checkout")
            await pilot.press("enter")
            detail = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, RolloutDetailScreen)
                                    and app.screen.view is not None else None)
            panel = detail.query_one(REDPanel)
            await wait_for(pilot, lambda: len(panel.lines) == 2 and all(
                line.red is not None and line.red.verified for line in panel.lines), timeout=30, what="RED lines")
            text = str(panel.render())
            lines = text.splitlines()
            assert lines[0].startswith("canary") and lines[1].startswith("stable")
            for line in lines:
                assert "req/s │ 5xx" in line and "%" in line and "p95" in line and "not verified" not in line
            assert "Canary vs stable" in str(detail.query_one("#ro-red-title").render())
    finally:
        if prom is not None:
            asyncio.run_coroutine_threadsafe(prom.stop(), sb.loop).result(30)
        sb.stop()
