"""The Pipelines screen driven with Pilot: every key, then the sandbox's state and the audit log.

One live sandbox for this module (not the frozen session one: these tests change it). Tests touch
different objects (or wait for their own operation to finish) so that their order does not matter.
"""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest
from rich.text import Text
from textual.app import App
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import OptionList, Static

from almtui.cluster import views as V
from almtui.ui.app import AlmtuiApp
from almtui.ui.dialogs.confirm import ConfirmDialog, RefusalDialog
from almtui.ui.keys import disabled_keys
from almtui.ui.screens.pipeline_detail import HistoryPicker, PipelineRunScreen
from almtui.ui.screens.pipelines import PipelinesScreen
from almtui.ui.widgets.env_matrix import DIFFERS, PROMOTABLE, EnvMatrix, env_cell, promotion_of
from almtui.ui.widgets.pipeline_runs import log_step, middle
from almtui.ui.widgets.table import ResourceTable
from tests.ui.conftest import audited_app, settle, start_sandbox, wait_for

PRS = "tekton.dev/pipelineruns"
APPS = "argoproj.io/applications"
FAILED_RUN = "storefront-build-flaky-run-b8n3c"
PENDING_RUN = "storefront-build-run-q4w6j"
DONE_RUN = "pos-sync-build-run-h5t8w"


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    sandbox = start_sandbox(tmp_path_factory.mktemp("pipelines-sandbox"), frozen=False)
    yield sandbox
    sandbox.stop()


build = partial(audited_app, screen="pipelines", size=(120, 40))


def screen(app: AlmtuiApp) -> PipelinesScreen:
    s = app.screen
    assert isinstance(s, PipelinesScreen), type(s)
    return s


async def select(pilot: Any, table_id: str, key: Any) -> None:
    """Move the cursor of a table (of the active screen) to the row with this view key."""
    table = pilot.app.screen.query_one(f"#{table_id}", ResourceTable)
    await wait_for(pilot, lambda: table.row_count > 0)
    for row in range(table.row_count):
        table.move_cursor(row=row, animate=False)
        if table.selected_key == key:
            await pilot.pause()
            return
    raise AssertionError(f"no row {key!r} in {table_id}")


async def press_and_confirm(pilot: Any, key: str) -> None:
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog))
    await settle(pilot)  # the dialog is mounted and focused before the key reaches it (slow machines)
    await pilot.press("y")
    await wait_for(pilot, lambda: not pilot.app.actions.busy and not isinstance(pilot.app.screen, ConfirmDialog))


async def press_and_refuse(pilot: Any, key: str) -> RefusalDialog:
    await pilot.press(key)
    dialog = await wait_for(pilot, lambda: pilot.app.screen if isinstance(pilot.app.screen, RefusalDialog) else None)
    await pilot.press("escape")
    await wait_for(pilot, lambda: not isinstance(pilot.app.screen, RefusalDialog))
    return dialog


def image_of(sb: Any, key: str, ns: str, name: str) -> str:
    return sb.get(key, ns, name)["spec"]["template"]["spec"]["containers"][0]["image"]


def run_names(sb: Any) -> set[str]:
    return {pr["metadata"]["name"] for pr in sb.list(PRS, "ci")}


def app_settled(sb: Any, name: str) -> bool:
    obj = sb.get(APPS, "argocd", name)
    return not obj.get("operation") and (obj.get("status", {}).get("operationState") or {}).get("phase") != "Running"


# -- parts and navigation -------------------------------------------------------------------------


async def test_tab_cycles_parts_and_shows_only_their_keys(sb, tmp_path):
    app, _ = build(sb, tmp_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        s = screen(app)
        seen = []
        for _ in range(3):
            ids = {b.binding.id for b in s.active_bindings.values()}
            seen.append((s.part, ids))
            await pilot.press("tab")
            await settle(pilot)
        assert [p for p, _ in seen] == ["runs", "apps", "envs"]
        assert s.part == "runs"
        runs, apps, envs = (ids for _, ids in seen)
        assert {"pipelines.detail", "pipelines.rerun", "pipelines.cancel", "pipelines.logs"} <= runs
        assert not runs & {"pipelines.sync", "pipelines.rollback", "pipelines.promote"}
        assert {"pipelines.sync", "pipelines.rollback"} <= apps and "pipelines.rerun" not in apps
        assert "pipelines.promote" in envs and "pipelines.sync" not in envs
        await pilot.press("shift+tab")
        await settle(pilot)
        assert s.part == "envs"
        assert isinstance(app.focused, EnvMatrix)
        # the header counts the active part's rows
        assert s.summary() == str(len(app.service.environments_matrix()))


async def test_enter_opens_the_run_detail_with_the_failed_step_log(sb, tmp_path):
    app, _ = build(sb, tmp_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        await select(pilot, "runs-table", ("ci", FAILED_RUN))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PipelineRunScreen))
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, PipelineRunScreen) and detail.key == ("ci", FAILED_RUN)
        tasks = detail.query_one("#tasks-table", ResourceTable)
        assert tasks.total == 2 and tasks.selected_key == ("ci", f"{FAILED_RUN}-test-fail")
        log_title = str(detail.query_one("#run-log-title", Static).render())
        assert "test-fail" in log_title and "step-test" in log_title
        assert "FAIL" in str(detail.query_one("#run-log-text", Static).render())
        assert "Params: (none)" in str(detail.query_one("#run-info", Static).render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, PipelinesScreen))


async def test_l_opens_the_failed_step_log(sb, tmp_path):
    app, _ = build(sb, tmp_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        await select(pilot, "runs-table", ("ci", FAILED_RUN))
        await pilot.press("l")
        log = await wait_for(pilot, lambda: app.screen if type(app.screen).__name__ == "LogScreen" else None)
        assert log.namespace == "ci"
        assert log.pod == f"{FAILED_RUN}-test-fail-pod"
        assert log.container == "step-test"


# -- run actions ----------------------------------------------------------------------------------


async def test_r_reruns_with_the_old_spec(sb, tmp_path):
    app, audit = build(sb, tmp_path)
    before = run_names(sb)
    old = sb.get(PRS, "ci", FAILED_RUN)
    async with app.run_test() as pilot:
        await settle(pilot)
        await select(pilot, "runs-table", ("ci", FAILED_RUN))
        await press_and_confirm(pilot, "r")
    new = [pr for pr in sb.list(PRS, "ci") if pr["metadata"]["name"] not in before]
    assert len(new) == 1
    run = new[0]
    assert run["metadata"]["name"].startswith(f"{FAILED_RUN}-") or run["metadata"]["name"].startswith(
        old["metadata"].get("generateName", "\0"))
    for field in ("pipelineRef", "params", "workspaces"):
        assert run["spec"].get(field) == old["spec"].get(field)
    assert run["spec"].get("status", "") == ""
    entry = audit.entries()[-1]
    assert (entry["action"], entry["outcome"]) == ("rerun", "applied")
    assert entry["target"]["name"] == FAILED_RUN


async def test_x_cancels_a_running_run(sb, tmp_path):
    app, audit = build(sb, tmp_path)
    assert sb.get(PRS, "ci", PENDING_RUN)["status"]["conditions"][0]["status"] == "Unknown"
    async with app.run_test() as pilot:
        await settle(pilot)
        await select(pilot, "runs-table", ("ci", PENDING_RUN))
        await press_and_confirm(pilot, "x")
    assert sb.get(PRS, "ci", PENDING_RUN)["spec"]["status"] == "Cancelled"
    entry = audit.entries()[-1]
    assert (entry["action"], entry["outcome"], entry["target"]["name"]) == ("cancel", "applied", PENDING_RUN)


async def test_x_is_refused_for_a_finished_run(sb, tmp_path):
    app, audit = build(sb, tmp_path)
    before = sb.get(PRS, "ci", DONE_RUN)
    async with app.run_test() as pilot:
        await settle(pilot)
        await select(pilot, "runs-table", ("ci", DONE_RUN))
        await press_and_refuse(pilot, "x")
        assert "PipelineRun has already finished execution" in app.actions.last.outcome.message
    after = sb.get(PRS, "ci", DONE_RUN)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    entry = audit.entries()[-1]
    assert (entry["action"], entry["outcome"]) == ("cancel", "refused")
    assert "already finished execution" in entry["message"]


async def test_detail_keys_rerun_cancel_and_logs(sb, tmp_path):
    app, audit = build(sb, tmp_path)
    before = run_names(sb)
    async with app.run_test() as pilot:
        await settle(pilot)
        await select(pilot, "runs-table", ("ci", DONE_RUN))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PipelineRunScreen))
        await settle(pilot)
        await press_and_refuse(pilot, "x")          # finished: refused, as tkn does
        await press_and_confirm(pilot, "r")
        assert isinstance(app.screen, PipelineRunScreen)
        await pilot.press("l")
        log = await wait_for(pilot, lambda: app.screen if type(app.screen).__name__ == "LogScreen" else None)
        assert log.pod == f"{DONE_RUN}-notify-pod" and log.container == "step-notify"
    assert len(run_names(sb) - before) == 1
    outcomes = [(e["action"], e["outcome"]) for e in audit.entries()]
    assert outcomes == [("cancel", "refused"), ("rerun", "applied")]


# -- Argo CD --------------------------------------------------------------------------------------


async def test_y_syncs_the_app_and_the_workload_moves(sb, tmp_path):
    app, audit = build(sb, tmp_path)
    image_before = image_of(sb, "apps/deployments", "prod", "pos-sync")
    history_before = len(sb.get(APPS, "argocd", "pos-sync-prod")["status"].get("history") or [])
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("tab")
        await select(pilot, "apps-table", ("argocd", "pos-sync-prod"))
        await press_and_confirm(pilot, "y")
        await wait_for(pilot, lambda: len(sb.get(APPS, "argocd", "pos-sync-prod")["status"].get("history") or [])
                       > history_before and app_settled(sb, "pos-sync-prod"), timeout=30)
    status = sb.get(APPS, "argocd", "pos-sync-prod")["status"]
    assert status["operationState"]["phase"] == "Succeeded"
    assert status["operationState"]["operation"]["initiatedBy"]["username"] == "almtui"
    assert image_of(sb, "apps/deployments", "prod", "pos-sync") != image_before
    entry = audit.entries()[-1]
    assert (entry["action"], entry["outcome"], entry["target"]["name"]) == ("sync", "applied", "pos-sync-prod")


async def test_b_is_refused_while_auto_sync_is_on(sb, tmp_path):
    app, audit = build(sb, tmp_path)
    before = sb.get(APPS, "argocd", "storefront-staging")
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("tab")
        await select(pilot, "apps-table", ("argocd", "storefront-staging"))
        await press_and_refuse(pilot, "b")
    after = sb.get(APPS, "argocd", "storefront-staging")
    assert not after.get("operation")
    assert after["status"].get("history") == before["status"].get("history")
    entry = audit.entries()[-1]
    assert (entry["action"], entry["outcome"]) == ("rollback", "refused")
    assert entry["message"] == "rollback cannot be initiated when auto-sync is enabled"


async def test_b_rolls_back_to_the_picked_history_entry(sb, tmp_path):
    app, audit = build(sb, tmp_path)
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app_settled(sb, "pos-sync-prod"), timeout=30)
        await settle(pilot)
        first = sb.get(APPS, "argocd", "pos-sync-prod")["status"]["history"][0]
        count = len(sb.get(APPS, "argocd", "pos-sync-prod")["status"]["history"])
        await pilot.press("tab")
        await select(pilot, "apps-table", ("argocd", "pos-sync-prod"))
        await pilot.press("b")
        picker = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, HistoryPicker) else None)
        options = picker.query_one(OptionList)
        options.highlighted = options.option_count - 1   # newest first: the last option is the oldest entry
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await settle(pilot)  # the dialog is mounted and focused before the key reaches it (slow machines)
        await pilot.press("y")
        try:
            await wait_for(pilot, lambda: len(sb.get(APPS, "argocd", "pos-sync-prod")["status"]["history"]) > count
                           and app_settled(sb, "pos-sync-prod"), timeout=60)
        except AssertionError:
            o = sb.get(APPS, "argocd", "pos-sync-prod")
            print("DEBUG audit", [(e["action"], e["outcome"], e.get("error")) for e in audit.entries()])
            print("DEBUG screen", type(app.screen), "count", count, len(o["status"]["history"]))
            print("DEBUG op", o.get("operation"), o["status"].get("operationState", {}).get("phase"),
                  o["status"].get("operationState", {}).get("message"))
            raise
    status = sb.get(APPS, "argocd", "pos-sync-prod")["status"]
    assert status["operationState"]["operation"]["sync"]["revision"] == first["revision"]
    assert status["history"][-1]["revision"] == first["revision"]
    entry = audit.entries()[-1]
    assert (entry["action"], entry["outcome"]) == ("rollback", "applied")


# -- promotion ------------------------------------------------------------------------------------


async def test_p_promotes_the_selected_cell_to_the_next_environment(sb, tmp_path):
    app, audit = build(sb, tmp_path)
    dev_image = image_of(sb, "argoproj.io/rollouts", "dev", "checkout")
    assert image_of(sb, "argoproj.io/rollouts", "staging", "checkout") != dev_image
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("tab", "tab")
        await settle(pilot)
        await select(pilot, "envs-table", ("checkout",))
        matrix = app.screen.query_one(EnvMatrix)
        assert matrix.selected_index == 0  # DEV
        await press_and_confirm(pilot, "p")
    assert image_of(sb, "argoproj.io/rollouts", "staging", "checkout") == dev_image
    entry = audit.entries()[-1]
    assert (entry["action"], entry["outcome"]) == ("promote-version", "applied")
    assert (entry["target"]["namespace"], entry["target"]["name"]) == ("staging", "checkout")


async def test_p_explains_when_there_is_no_next_environment(sb, tmp_path):
    app, audit = build(sb, tmp_path)
    notes: list[str] = []
    app.notify = lambda message, **kw: notes.append(message)  # type: ignore[method-assign]
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("tab", "tab")
        await settle(pilot)
        await select(pilot, "envs-table", ("storefront",))
        await pilot.press("right", "right")  # PROD
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, PipelinesScreen)
        await pilot.press("home")  # the APP column
        await pilot.press("p")
        await settle(pilot)
    assert notes == ["prod is the last environment: nothing to promote into",
                     "select an environment cell (← →) to promote its version"]
    assert audit.entries() == []


# -- refusals: read-only and viewer --------------------------------------------------------------


async def refuse_every_action(pilot: Any, sb: Any) -> None:
    await settle(pilot)
    await select(pilot, "runs-table", ("ci", FAILED_RUN))
    await press_and_refuse(pilot, "r")
    await press_and_refuse(pilot, "x")
    await pilot.press("tab")
    await select(pilot, "apps-table", ("argocd", "pos-sync-prod"))
    await press_and_refuse(pilot, "y")
    await pilot.press("tab")
    await select(pilot, "envs-table", ("inventory",))
    await press_and_refuse(pilot, "p")


@pytest.mark.parametrize("mode", ["read-only", "viewer"])
async def test_actions_are_refused_and_audited(sb, tmp_path, mode):
    app, audit = build(sb, tmp_path, read_only=mode == "read-only", context="viewer" if mode == "viewer" else None)
    runs = run_names(sb)
    staging = image_of(sb, "argoproj.io/rollouts", "staging", "inventory")
    failed_rv = sb.get(PRS, "ci", FAILED_RUN)["metadata"]["resourceVersion"]
    async with app.run_test() as pilot:
        await refuse_every_action(pilot, sb)
        marked = disabled_keys(app.screen)
        assert "pipelines.promote" in marked
    assert run_names(sb) == runs
    assert sb.get(PRS, "ci", FAILED_RUN)["metadata"]["resourceVersion"] == failed_rv
    assert image_of(sb, "argoproj.io/rollouts", "staging", "inventory") == staging
    entries = audit.entries()
    assert [(e["action"], e["outcome"]) for e in entries] == [
        ("rerun", "refused"), ("cancel", "refused"), ("sync", "refused"), ("promote-version", "refused")]
    assert all(e["requests_sent"] == 0 or not e["requests_sent"] for e in entries)


async def test_keys_can_be_remapped_by_id(sb, tmp_path):
    app, audit = build(sb, tmp_path, config=SimpleNamespace(keys={"pipelines.rerun": "R"}))
    async with app.run_test() as pilot:
        await settle(pilot)
        await select(pilot, "runs-table", ("ci", FAILED_RUN))
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("n")
        await wait_for(pilot, lambda: audit.entries())
    assert (audit.entries()[-1]["action"], audit.entries()[-1]["outcome"]) == ("rerun", "cancelled")


async def test_history_picker_shows_hostile_names_literally():
    name = "[link=http://x]evil[/link]\x1b[2J"
    raw = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
           "metadata": {"namespace": "argocd", "name": name},
           "spec": {"source": {"repoURL": "r", "path": "p"}},
           "status": {"history": [{"id": 3, "revision": "v1\x1b]0;pwned\x07", "deployedAt": "t"}]}}
    view = V.build_applications([raw], 0.0)[0]

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(HistoryPicker(view))

    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, HistoryPicker)
        title = Content.from_markup(picker.query_one(Vertical).border_title or "").plain
        assert title == "Roll back [link=http://x]evil[/link]\\x1b[2J to"  # literal text, the ESC made visible
        prompt = str(picker.query_one(OptionList).get_option_at_index(0).prompt)
        assert "\x1b" not in prompt and "\x07" not in prompt and "v1\\x1b]0;pwned\\x07" in prompt
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HistoryPicker)


# -- the pure parts -------------------------------------------------------------------------------


def test_middle_keeps_the_suffix_that_tells_runs_apart():
    assert middle("storefront-build-flaky-run-b8n3c", 20).plain == "storefron…-run-b8n3c"
    assert middle("short", 20).plain == "short"
    assert middle("a\x1b[2Jb", 20).plain == "a\\x1b[2Jb"


def test_log_step_prefers_the_failed_then_the_running_step():
    def tr(*steps: dict) -> dict:
        return {"status": {"steps": list(steps)}}
    ok = {"name": "a", "container": "step-a", "terminated": {"exitCode": 0}}
    bad = {"name": "b", "container": "step-b", "terminated": {"exitCode": 2}}
    running = {"name": "c", "container": "step-c", "running": {}}
    assert log_step(tr(ok, bad, running)) == ("b", "step-b")
    assert log_step(tr(ok, running)) == ("c", "step-c")
    assert log_step(tr(ok)) == ("a", "step-a")
    assert log_step(tr({"name": "d", "running": {}})) == ("d", "step-d")
    assert log_step(None) == ("", None)


def _cell(env: str, version: str, health: str = "Healthy", *, differs: bool = False,
          promotable: bool = False) -> V.EnvCell:
    return V.EnvCell(env, env, "Deployment", "web", f"r/web:{version}", version, health, None, differs, promotable)


def test_promotion_and_markers():
    view = V.EnvironmentView(("web",), "web", ("dev", "staging", "prod"),
                             (_cell("dev", "2"), _cell("staging", "1", differs=True, promotable=True), None))
    promo = promotion_of(view, 0)
    assert promo.source.environment == "dev" and promo.target.environment == "staging"
    assert "not deployed in prod" in promotion_of(view, 1).reason
    assert promotion_of(view, 2).source is None
    assert "select an environment" in promotion_of(view, None).reason

    def plain(cell, following):
        return env_cell(cell, following, lambda status, label=None, **_: Text(label))
    assert plain(view.cells[0], view.cells[1]).plain.endswith(PROMOTABLE)
    assert plain(view.cells[0], _cell("staging", "1", differs=True)).plain.endswith(DIFFERS)
    assert plain(view.cells[1], None).plain == "1"
