"""Snapshots of the action UI: the confirmation, the refusal display, each form, and the log screen.

Deterministic like tests/ui/test_snapshots.py: the session's frozen sandbox (plans and checks are
read-only; no test here confirms or cancels), the pinned console clock, and an audit log in
tmp_path. Every picture is taken at 80x24 (the edge gateway's terminal) and 120x40. The dialogs
open over a blank backdrop, so that changes to the data screens do not move these pictures.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from almtui.cluster.config import Config
from tests.ui.conftest import settle
from tests.ui.test_actions_ui import action_app

SIZES = {"80x24": (80, 24), "120x40": (120, 40)}


class Backdrop(Screen):
    def compose(self) -> ComposeResult:
        yield Static("")


async def backdrop(pilot: Any) -> None:
    await settle(pilot)
    await pilot.app.push_screen(Backdrop())
    await pilot.pause()


def _view(app: Any, ns: str, name: str) -> Any:
    return next(r for r in app.service.rollouts() if (r.namespace, r.name) == (ns, name))


def _start(action: str, plural: str, ns: str, name: str, **kw: Any) -> Any:
    async def run_before(pilot: Any) -> None:
        await backdrop(pilot)
        pilot.app.actions.start(action, plural, ns, name, **kw)
        await settle(pilot)
    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_confirm_dialog(snap_compare, ui_sandbox, tmp_path, size):
    """Scale down prod/storefront: context, object, dry run, a pre-flight warning, the exact request."""
    app, _, _ = action_app(ui_sandbox, tmp_path, size=SIZES[size])
    run_before = _start("scale", "deployments", "prod", "storefront", params={"replicas": 2}, preflight="workload")
    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_confirm_dialog_blocked(snap_compare, ui_sandbox, tmp_path, size):
    """A pre-flight error (type "override") in a protected namespace (type the name)."""
    config = Config(protected_namespaces=frozenset({"lab"}))
    app, _, _ = action_app(ui_sandbox, tmp_path, size=SIZES[size], config=config)
    run_before = _start("scale", "deployments", "lab", "lab-single", params={"replicas": 0}, preflight="workload")
    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_refusal(snap_compare, ui_sandbox, tmp_path, size):
    app, _, _ = action_app(ui_sandbox, tmp_path, size=SIZES[size], read_only=True)
    run_before = _start("scale", "deployments", "prod", "storefront", params={"replicas": 2})
    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


FORMS = ("image", "scale", "revision", "hpa")


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("form", FORMS)
def test_form(snap_compare, ui_sandbox, tmp_path, form, size):
    app, _, _ = action_app(ui_sandbox, tmp_path, size=SIZES[size])

    async def run_before(pilot: Any) -> None:
        await backdrop(pilot)
        actions = pilot.app.actions
        if form == "image":
            actions.ask_image(_view(pilot.app, "lab", "lab-latest"))
        elif form == "scale":
            actions.ask_scale(_view(pilot.app, "prod", "storefront"))
        elif form == "revision":
            actions.ask_revision("deployments", "prod", "storefront")
        else:
            hpa = next(h for h in pilot.app.service.hpas() if (h.namespace, h.name) == ("prod", "storefront"))
            actions.ask_hpa_policy(hpa)
        await settle(pilot)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_log_screen(snap_compare, ui_sandbox, tmp_path, size):
    from almtui.ui.screens.logs import LogScreen
    app, _, _ = action_app(ui_sandbox, tmp_path, size=SIZES[size])
    pod = sorted(p["metadata"]["name"] for p in ui_sandbox.list("/pods", "lab")
                 if p["metadata"]["name"].startswith("lab-latest-"))[0]

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        pilot.app.push_screen(LogScreen("lab", pod, tail=60))
        await settle(pilot)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)
