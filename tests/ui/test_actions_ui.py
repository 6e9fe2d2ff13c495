"""The shared action UI driven with Pilot against a sandbox of its own (these tests change it).

Every test goes through `app.actions` (start, the forms, permissions) and then asserts on the
sandbox's state, the audit log, and what the connection actually sent.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any, ClassVar

import pytest
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Input, Log

from almtui.cluster.actions.checks import READ_ONLY
from almtui.cluster.audit import AuditLog
from almtui.cluster.config import Config
from almtui.ui.app import AlmtuiApp
from almtui.ui.dialogs import ConfirmDialog, HPAPolicyForm, ImageForm, RefusalDialog, RevisionPicker, ScaleForm
from almtui.ui.dialogs.forms import check_image, check_replicas, parse_policies
from almtui.ui.keys import help_rows
from almtui.ui.screens.logs import LogScreen, clean_lines, pod_containers
from almtui.ui.widgets.keybar import KeyBar
from tests.support import RunningSandbox
from tests.ui.conftest import audited_app, settle, start_sandbox, wait_for

MUTATING = ("PATCH", "PUT", "POST", "DELETE")


class Sent:
    """What the connection sent (method, path, query) — a spy on almtui's own Connection."""

    def __init__(self, conn: Any) -> None:
        self.calls: list[tuple[str, str, dict]] = []
        self._lock = threading.Lock()
        real = conn.request

        def request(method: str, path: str, **kw: Any) -> Any:
            with self._lock:
                self.calls.append((method, path, dict(kw.get("query") or {})))
            return real(method, path, **kw)
        conn.request = request

    def writes(self) -> list[tuple[str, str, dict]]:
        """Mutating requests other than SelfSubjectAccessReviews, dry runs included."""
        return [c for c in self.calls if c[0] in MUTATING and "selfsubjectaccessreviews" not in c[1]]

    def real_writes(self) -> list[tuple[str, str, dict]]:
        return [c for c in self.writes() if c[2].get("dryRun") != "All"]


def action_app(sb: RunningSandbox, tmp_path: Path, **kwargs: Any) -> tuple[AlmtuiApp, AuditLog, Sent]:
    """audited_app on `sb` (80x24, Pipelines by default) with a spy on what its connection sends."""
    app, audit = audited_app(sb, tmp_path, **kwargs)
    return app, audit, Sent(app.service.conn)


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    """A sandbox these tests may change (each test works on objects of its own)."""
    box = start_sandbox(tmp_path_factory.mktemp("actions-sandbox"), frozen=True)
    yield box
    box.stop()


async def type_text(pilot: Any, text: str) -> None:
    await pilot.press(*[{" ": "space"}.get(ch, ch) for ch in text])


def replicas(sb: RunningSandbox, ns: str, name: str) -> int:
    return sb.get("apps/deployments", ns, name)["spec"]["replicas"]


def image_of(sb: RunningSandbox, ns: str, name: str, container: str) -> str:
    pod = sb.get("apps/deployments", ns, name)["spec"]["template"]["spec"]
    return next(c["image"] for c in pod["containers"] if c["name"] == container)


def rollout_view(app: AlmtuiApp, ns: str, name: str) -> Any:
    return next(r for r in app.service.rollouts() if r.namespace == ns and r.name == name)


# -- the action path ----------------------------------------------------------------------------


async def test_confirm_applies_once_and_audits(sb, tmp_path):
    app, audit, sent = action_app(sb, tmp_path)
    before = replicas(sb, "prod", "storefront")
    async with app.run_test() as pilot:
        await settle(pilot)
        app.actions.start("scale", "deployments", "prod", "storefront", params={"replicas": before + 1},
                          preflight="workload")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog)
        shown = "\n".join(str(s.render()) for s in dialog.query("Static"))
        for expected in ("Context", "operator", "Namespace prod", "Deployment storefront", "accepted by the server",
                         "PATCH /apis/apps/v1/namespaces/prod/deployments/storefront/scale",
                         "application/merge-patch+json", f'"replicas": {before + 1}'):
            assert expected in shown, expected
        assert not sent.real_writes(), "nothing is sent before the confirmation"
        await pilot.press("y")
        await settle(pilot)
        await wait_for(pilot, lambda: app.actions.last is not None)
        assert not isinstance(app.screen, ConfirmDialog | RefusalDialog)
    assert replicas(sb, "prod", "storefront") == before + 1
    entries = audit.entries()
    assert [e["outcome"] for e in entries] == ["applied"]
    assert entries[0]["requests_sent"] == 1 and entries[0]["overrides"] == []
    assert [(m, p) for m, p, _ in sent.real_writes()] == [
        ("PATCH", "/apis/apps/v1/namespaces/prod/deployments/storefront/scale")]


@pytest.mark.parametrize("key", ["n", "escape"])
async def test_cancel_sends_nothing_and_is_audited(sb, tmp_path, key):
    app, audit, sent = action_app(sb, tmp_path)
    before = sb.get("apps/deployments", "prod", "pos-sync")
    async with app.run_test() as pilot:
        await settle(pilot)
        app.actions.start("scale", "deployments", "prod", "pos-sync", params={"replicas": 7})
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press(key)
        await settle(pilot)
        await wait_for(pilot, lambda: app.actions.last is not None)
        assert app.actions.last.outcome.status == "cancelled"
    after = sb.get("apps/deployments", "prod", "pos-sync")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert [e["outcome"] for e in audit.entries()] == ["cancelled"]
    assert not sent.real_writes()


async def test_read_only_is_refused_on_screen_without_any_write(sb, tmp_path):
    app, audit, sent = action_app(sb, tmp_path, read_only=True)
    async with app.run_test() as pilot:
        await settle(pilot)
        app.actions.start("scale", "deployments", "prod", "storefront", params={"replicas": 9})
        await settle(pilot)
        assert isinstance(app.screen, RefusalDialog)
        assert READ_ONLY in app.screen.reasons
        assert "nothing was sent" in str(app.screen.query_one("#refusal-head").render())
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, RefusalDialog)
    assert sent.writes() == [], "not even a dry run in read-only mode"
    entries = audit.entries()
    assert [e["outcome"] for e in entries] == ["refused"] and entries[0]["requests_sent"] == 0


async def test_viewer_is_refused_by_rbac(sb, tmp_path):
    app, audit, sent = action_app(sb, tmp_path, context="viewer")
    async with app.run_test() as pilot:
        await settle(pilot)
        app.actions.start("scale", "deployments", "prod", "storefront", params={"replicas": 9})
        await settle(pilot)
        assert isinstance(app.screen, RefusalDialog)
        assert any("not permitted to patch deployments.apps/scale" in r for r in app.screen.reasons)
    assert sent.writes() == []
    assert [e["outcome"] for e in audit.entries()] == ["refused"]


async def test_planner_refusal_is_shown_and_audited(sb, tmp_path):
    app, audit, sent = action_app(sb, tmp_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        app.actions.start("scale", "deployments", "prod", "storefront", params={"replicas": -1})
        await settle(pilot)
        assert isinstance(app.screen, RefusalDialog)
        assert "must be greater than or equal to 0" in app.screen.reasons[0]
    assert sent.writes() == []
    assert [e["outcome"] for e in audit.entries()] == ["refused"]


async def test_nothing_to_do_is_skipped_without_a_dialog(sb, tmp_path):
    app, audit, sent = action_app(sb, tmp_path)
    current = replicas(sb, "dev", "pos-sync")
    async with app.run_test() as pilot:
        await settle(pilot)
        app.actions.start("scale", "deployments", "dev", "pos-sync", params={"replicas": current})
        await settle(pilot)
        await wait_for(pilot, lambda: app.actions.last is not None)
        assert app.actions.last.outcome.status == "skipped"
        assert not isinstance(app.screen, ConfirmDialog | RefusalDialog)
    assert sent.writes() == []
    assert [e["outcome"] for e in audit.entries()] == ["skipped"]


async def test_one_action_at_a_time(sb, tmp_path):
    app, audit, _ = action_app(sb, tmp_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        assert app.actions.start("scale", "deployments", "dev", "storefront", params={"replicas": 3}) is not None
        assert app.actions.start("scale", "deployments", "dev", "storefront", params={"replicas": 4}) is None
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        await settle(pilot)
        await wait_for(pilot, lambda: not app.actions.busy)
    assert [e["outcome"] for e in audit.entries()] == ["cancelled"]


async def test_protected_namespace_needs_the_name_typed(sb, tmp_path):
    config = Config(protected_namespaces=frozenset({"lab"}))
    app, audit, sent = action_app(sb, tmp_path, config=config)
    before = replicas(sb, "lab", "lab-clean")
    assert before >= 2
    async with app.run_test() as pilot:
        await settle(pilot)
        app.actions.start("scale", "deployments", "lab", "lab-clean", params={"replicas": before - 1})
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog) and dialog.require_name and dialog.plan.destructive
        assert "PROTECTED" in str(dialog.query_one("#confirm-where").render())
        name_input = dialog.query_one("#confirm-name", Input)
        assert name_input.has_focus
        assert dialog.query_one("#confirm-yes").disabled
        await pilot.press("enter")  # blocked: nothing happens but an explanation
        await pilot.press("y")      # typed into the field (the name box has focus), not a confirmation
        await pilot.pause()
        assert app.screen is dialog and not sent.real_writes()
        name_input.value = ""
        await type_text(pilot, "lab-clea")
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is dialog and dialog.attempts >= 2
        assert "type the name lab-clean" in dialog.blocked_reason()
        await type_text(pilot, "n")  # "n" goes into the field: it does not cancel
        await pilot.pause()
        assert not dialog.query_one("#confirm-yes").disabled
        await pilot.press("enter")
        await settle(pilot)
        await wait_for(pilot, lambda: app.actions.last is not None)
    assert replicas(sb, "lab", "lab-clean") == before - 1
    assert [e["outcome"] for e in audit.entries()] == ["applied"]


async def test_rollback_in_a_protected_namespace_needs_no_name(sb, tmp_path):
    config = Config(protected_namespaces=frozenset({"prod"}))
    app, audit, _ = action_app(sb, tmp_path, config=config)
    async with app.run_test() as pilot:
        await settle(pilot)
        app.actions.start("undo", "deployments", "prod", "storefront", params={"to_revision": 1})
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog)
        assert dialog.plan.destructive and dialog.protected and not dialog.require_name
        await pilot.press("n")
        await settle(pilot)
        await wait_for(pilot, lambda: app.actions.last is not None)
    assert [e["outcome"] for e in audit.entries()] == ["cancelled"]


async def test_preflight_error_blocks_until_overridden_and_is_audited(sb, tmp_path):
    app, audit, sent = action_app(sb, tmp_path)
    new = "registry.local/lab/lab-single:1.1.0"
    async with app.run_test() as pilot:
        await settle(pilot)
        app.actions.start("set_image", "deployments", "lab", "lab-single", params={"images": {"app": new}},
                          preflight="workload")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog) and dialog.needs_override
        blocking = [f for f in dialog.findings if f.blocking]
        assert blocking, "lab-single (1 replica, maxUnavailable 1) has a blocking finding"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is dialog and dialog.attempts == 1 and not sent.real_writes()
        await type_text(pilot, "override")
        await pilot.press("enter")
        await settle(pilot)
        await wait_for(pilot, lambda: app.actions.last is not None)
    assert image_of(sb, "lab", "lab-single", "app") == new
    [entry] = audit.entries()
    assert entry["outcome"] == "applied"
    assert any(o.startswith(f"pre-flight {blocking[0].code}:") for o in entry["overrides"])


async def test_failed_dry_run_is_shown_and_needs_an_override(sb, tmp_path):
    app, audit, sent = action_app(sb, tmp_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        app.actions.start("set_image", "deployments", "lab", "lab-clean", params={"images": {"app": ""}})
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog) and dialog.dry_run_failed and dialog.needs_override
        shown = "\n".join(str(s.render()) for s in dialog.query("Static"))
        assert "refused:" in shown and "Required value" in shown
        assert "dry run refused" in dialog.blocked_reason()
        await pilot.press("escape")
        await settle(pilot)
        await wait_for(pilot, lambda: app.actions.last is not None)
    assert not sent.real_writes()
    assert [e["outcome"] for e in audit.entries()] == ["cancelled"]


async def test_conflict_is_shown_with_what_changed(sb, tmp_path):
    """Someone else changes the object while the dialog is open: nothing is applied, the diff is shown."""
    app, audit, _ = action_app(sb, tmp_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        app.actions.start("scale", "deployments", "dev", "storefront", params={"replicas": 2})
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        path = "/apis/apps/v1/namespaces/dev/deployments/storefront"
        await asyncio.to_thread(app.service.conn.request, "PATCH", path, body={
            "metadata": {"annotations": {"team": "someone-else"}}}, content_type="application/merge-patch+json")
        await pilot.press("enter")
        await settle(pilot)
        await wait_for(pilot, lambda: app.actions.last is not None)
        dialog = app.screen
        assert isinstance(dialog, RefusalDialog) and dialog.status == "conflict"
        assert any("team" in line for line in dialog.detail_lines)
        assert "nothing was applied" in str(dialog.query_one("#refusal-head").render())
    assert replicas(sb, "dev", "storefront") != 2
    assert [e["outcome"] for e in audit.entries()] == ["conflict"]


# -- forms --------------------------------------------------------------------------------------


def test_validation_rules():
    assert check_image("")[0].startswith("Required value")
    assert "whitespace" in check_image(" registry.local/a:1")[0]
    assert "whitespace" in check_image("registry.local/a:1 ")[0]
    assert check_image("registry.local/a:1.0") == ("", "")
    assert check_image("registry.local:5000/a/b@sha256:" + "a" * 64) == ("", "")
    assert "latest" in check_image("registry.local/a:latest")[1]
    assert "untagged" in check_image("registry.local/a")[1]
    assert check_image("Registry/UPPER:1")[1]  # not a reference: warned, not refused (the API accepts it)
    assert check_replicas("abc")[0] and check_replicas("-1")[0] and check_replicas("10001")[0]
    assert check_replicas("3", 3)[0].startswith("already")
    assert check_replicas("10000")[2] == 10000 and check_replicas("0", 2)[1].startswith("0 replicas")
    assert parse_policies("Pods 4 15s, percent 100 60") == ([
        {"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 60}], "")
    assert parse_policies("Pods four 15s")[1] and parse_policies("Pods 4")[1]


async def test_scale_form_rejects_invalid_input_without_sending(sb, tmp_path):
    app, audit, sent = action_app(sb, tmp_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        view = rollout_view(app, "dev", "checkout")
        fut = app.actions.ask_scale(view)
        await pilot.pause()
        form = app.screen
        assert isinstance(form, ScaleForm)
        field = form.query_one("#scale-replicas", Input)
        for bad in ("-1", "abc", "20000", "", "1.5"):
            field.value = bad
            await pilot.press("enter")
            await pilot.pause()
            assert app.screen is form and not fut.done(), bad
            assert field.has_class("-invalid"), bad
        field.value = str(view.desired)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is form and not fut.done()
        assert "already" in str(form.query_one("#form-error").render())
        field.value = str(view.desired + 1)
        await pilot.press("enter")
        assert await asyncio.wait_for(fut, 5) == {"replicas": view.desired + 1}
    assert sent.writes() == [] and audit.entries() == []


async def test_image_form_validates_each_container(sb, tmp_path):
    app, audit, sent = action_app(sb, tmp_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        fut = app.actions.ask_image(rollout_view(app, "lab", "lab-latest"))
        await pilot.pause()
        form = app.screen
        assert isinstance(form, ImageForm)
        assert [c[0] for c in form.containers] == ["app", "sidecar"]
        assert "latest" in str(form.query_one("#image-note-0").render())
        assert "untagged" in str(form.query_one("#image-note-1").render())
        await pilot.press("enter")  # nothing changed
        await pilot.pause()
        assert not fut.done() and "no image changed" in str(form.query_one("#form-error").render())
        form.query_one("#image-1", Input).value = " registry.local/lab/log-shipper:2.0"
        await pilot.press("enter")
        await pilot.pause()
        assert not fut.done() and "whitespace" in str(form.query_one("#image-note-1").render())
        form.query_one("#image-1", Input).value = ""
        await pilot.press("enter")
        await pilot.pause()
        assert not fut.done() and "Required value" in str(form.query_one("#image-note-1").render())
        form.query_one("#image-1", Input).value = "registry.local/lab/log-shipper:2.0"
        await pilot.press("enter")
        assert await asyncio.wait_for(fut, 5) == {"images": {"sidecar": "registry.local/lab/log-shipper:2.0"}}
    assert sent.writes() == [] and audit.entries() == []


async def test_revision_picker(sb, tmp_path):
    app, _, sent = action_app(sb, tmp_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        fut = app.actions.ask_revision("deployments", "prod", "storefront")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, RevisionPicker) and len(form.revisions) >= 2
        current = next(r for r in form.revisions if r.current)
        assert form.selected() is not current, "the cursor starts on the revision before the current one"
        table = form.query_one("#revision-table")
        table.move_cursor(row=form.revisions.index(current))
        await pilot.press("enter")
        await pilot.pause()
        assert not fut.done() and "current one" in str(form.query_one("#form-error").render())
        older = next(r for r in form.revisions if not r.current)
        table.move_cursor(row=form.revisions.index(older))
        await pilot.press("enter")
        assert await asyncio.wait_for(fut, 5) == {"to_revision": older.revision}
    assert sent.writes() == []


async def test_hpa_form_validates_like_the_api_server_and_shows_the_what_if(sb, tmp_path):
    app, audit, sent = action_app(sb, tmp_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        view = next(h for h in app.service.hpas() if (h.namespace, h.name) == ("prod", "storefront"))
        fut = app.actions.ask_hpa_policy(view)
        await settle(pilot)
        form = app.screen
        assert isinstance(form, HPAPolicyForm)
        await wait_for(pilot, lambda: form.pods is not None)
        assert form.what_if is not None, str(form.query_one("#hpa-whatif").render())
        assert "replicas now under this policy" in str(form.query_one("#hpa-whatif").render())
        form.query_one("#hpa-min", Input).value = "9"  # above max 8
        await pilot.pause()
        assert form.query_one("#hpa-max", Input).has_class("-invalid")
        assert "spec.maxReplicas" in str(form.query_one("#form-error").render())
        assert form.what_if is None
        await pilot.press("enter")
        await pilot.pause()
        assert not fut.done()
        form.query_one("#hpa-min", Input).value = "3"
        form.query_one("#hpa-down-policies", Input).value = "Pods x 60s"
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert not fut.done() and form.query_one("#hpa-down-policies", Input).has_class("-invalid")
        form.query_one("#hpa-down-policies", Input).value = "Pods 2 60s"
        form.query_one("#hpa-up-window", Input).value = "4000"  # API limit 3600
        await pilot.pause()
        assert "must be less than or equal to 3600" in str(form.query_one("#form-error").render())
        form.query_one("#hpa-up-window", Input).value = "30"
        form.query_one("#hpa-max", Input).value = "10"
        await pilot.pause()
        assert form.errors == [] and form.what_if is not None
        await pilot.press("enter")
        got = await asyncio.wait_for(fut, 5)
    assert got == {"max_replicas": 10, "scale_up": {"stabilizationWindowSeconds": 30},
                   "scale_down": {"policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]}}
    assert sent.writes() == [] and audit.entries() == []


async def test_form_then_confirm_then_apply(sb, tmp_path):
    """The screens' wiring: start_after(ask_scale(...)) -> ConfirmDialog -> y -> applied."""
    app, audit, _ = action_app(sb, tmp_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        view = rollout_view(app, "dev", "inventory")
        app.actions.start_after(app.actions.ask_scale(view), "scale", "rollouts", "dev", "inventory",
                                preflight="workload")
        await settle(pilot)  # no worker waits on the open form
        field = app.screen.query_one("#scale-replicas", Input)
        field.value = str(view.desired + 1)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await settle(pilot)
        await wait_for(pilot, lambda: app.actions.last is not None)
        assert app.actions.last.outcome.status == "applied"
    assert sb.get("argoproj.io/rollouts", "dev", "inventory")["spec"]["replicas"] == view.desired + 1
    assert [e["outcome"] for e in audit.entries()] == ["applied"]


# -- permissions for keys -------------------------------------------------------------------------


class KeyScreen(Screen):
    """A screen with two action keys and the console's key bar."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "noop", "Scale", id="test.scale"),
        Binding("v", "noop", "View", id="test.view"),
    ]

    def compose(self) -> ComposeResult:
        yield KeyBar()

    def action_noop(self) -> None:
        pass


async def test_permissions_mark_keys_disabled_with_the_reason(sb, tmp_path):
    app, _, sent = action_app(sb, tmp_path, context="viewer")
    async with app.run_test() as pilot:
        await settle(pilot)
        spec = ("patch", "deployments", "prod", "storefront", "scale")
        assert app.actions.cached_permission(*spec) is None
        assert app.actions.guard(*spec) is True, "no answer yet: start() will check (never blocks the UI)"
        allowed, reason = await asyncio.to_thread(app.actions.permission, *spec)
        assert not allowed and reason
        assert app.actions.cached_permission(*spec) == (False, reason)
        assert app.actions.guard(*spec) is False
        screen = KeyScreen()
        await app.push_screen(screen)
        await pilot.pause()
        assert not [s for s in screen.query_one(KeyBar).build().spans if "strike" in str(s.style)]
        app.actions.refresh_permissions(screen, {"test.scale": spec, "test.view": ("get", "deployments", "prod",
                                                                                    None, "")})
        await settle(pilot)
        assert screen.disabled_keys == {"test.scale": reason}, "only the denied key is marked"
        bar = screen.query_one(KeyBar).build()
        struck = [bar.plain[s.start:s.end] for s in bar.spans if "strike" in str(s.style)]
        assert struck == ["scale"]
        rows = {r.binding_id: r.description for r in help_rows(screen)}
        assert rows["test.scale"].startswith("Scale (unavailable: ") and "unavailable" not in rows["test.view"]
        assert app.actions.guard_key(screen, "test.scale") is False and app.actions.guard_key(screen, "test.view")
    assert sent.writes() == []


async def test_read_only_keys_are_refused_without_asking_the_server(sb, tmp_path):
    app, _, _ = action_app(sb, tmp_path, read_only=True)
    async with app.run_test() as pilot:
        await settle(pilot)
        before = len(app.workers)
        assert app.actions.cached_permission("patch", "deployments", "prod", "storefront") == (False, READ_ONLY)
        assert app.actions.guard("patch", "deployments", "prod", "storefront") is False
        assert len(app.workers) == before, "answered locally: no worker, no request"
        assert app.actions.cached_permission("get", "deployments", "prod") is None


# -- logs -------------------------------------------------------------------------------------------


def test_log_lines_are_sanitised():
    hostile = ["\x1b[2Jclear", "\x9b31mC1", "[link=http://x]click[/link]", "a\u202eb", "tab\there"]
    out = clean_lines(hostile)
    assert out[0] == "\\x1b[2Jclear" and out[1] == "\\x9b31mC1" and out[3] == "a\\u202eb"
    assert out[2] == hostile[2], "markup stays literal text (the Log widget never parses it)"
    assert not any(ch in "".join(out) for ch in "\x1b\x9b\u202e")
    assert pod_containers({"spec": {"containers": [{"name": "a"}, {"name": "b"}]},
                           "metadata": {"annotations": {"kubectl.kubernetes.io/default-container": "b"}}}) == (
        ["a", "b"], "b")


async def test_log_screen(sb, tmp_path):
    app, _, _ = action_app(sb, tmp_path)
    pod = next(p["metadata"]["name"] for p in sb.list("/pods", "lab")
               if p["metadata"]["name"].startswith("lab-latest-"))
    async with app.run_test() as pilot:
        await settle(pilot)
        app.push_screen(LogScreen("lab", pod, tail=20))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, LogScreen) and screen.containers == ["app", "sidecar"]
        assert screen.container == "app" and 0 < len(screen.lines) <= 20
        log = screen.query_one(Log)
        log.write_line("[bold]not markup[/bold]")
        await pilot.pause()
        assert "[bold]not markup[/bold]" in log.lines
        shown = log.render_line(len(log.lines) - 1 - log.scroll_offset.y).text
        assert shown.startswith("[bold]not markup[/bold]"), "the Log widget renders plain text"
        await pilot.press("p")
        await settle(pilot)
        assert screen.previous and "PREVIOUS" in str(screen.query_one("#log-title").render())
        assert screen.lines and "log unavailable" in screen.lines[0]
        await pilot.press("p", "c")
        await settle(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert app.screen is screen and screen.container == "sidecar" and not screen.previous
        await pilot.press("r")
        await settle(pilot)
        assert screen.lines
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, LogScreen)
