"""Snapshots of the shell and every screen at 80x24 (the edge gateway's terminal) and 120x40.

Deterministic by construction (see conftest.py): seeded sandbox frozen in time, pinned console
clock, no animations, no blinking cursors. Regenerate deliberately with `--snapshot-update`
after checking the report; textual and rich are pinned exactly because snapshots depend on them.
"""

from __future__ import annotations

import pytest

from almtui.cluster.service import ApiHealth
from almtui.ui.app import AlmtuiApp
from tests.ui.conftest import make_test_app, settle

SCREENS = ("pipelines", "rollouts", "health", "autoscalers", "advice")
SIZES = {"80x24": (80, 24), "120x40": (120, 40)}


def pin_latency(app: AlmtuiApp) -> AlmtuiApp:
    """The Health screen shows the API's measured latency: pin it (the only wall-clock figure shown)."""
    app.service.api_health = lambda: ApiHealth(True, 12.0, "")  # type: ignore[method-assign]
    return app


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("screen", SCREENS)
def test_screen(snap_compare, ui_sandbox, screen, size):
    app = pin_latency(make_test_app(ui_sandbox, screen=screen, size=SIZES[size]))
    assert snap_compare(app, terminal_size=SIZES[size], run_before=settle)


def test_help_overlay(snap_compare, ui_sandbox):
    app = make_test_app(ui_sandbox, screen="rollouts")

    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_filter_and_command_line(snap_compare, ui_sandbox):
    app = make_test_app(ui_sandbox, screen="rollouts")

    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("slash", *"check", "enter", "colon", *"ns pr")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_stale_data_is_marked(snap_compare, ui_sandbox):
    """A broken watch: header says STALE with the data's age; nothing is shown as healthy."""
    app = make_test_app(ui_sandbox, screen="rollouts")

    async def run_before(pilot) -> None:
        await settle(pilot)
        a: AlmtuiApp = pilot.app
        a.service.stop()  # no more updates: the state below stays put
        a.service.conn.freshness.stream_broken("rollouts", "watch closed by the server")
        a.screen.freshness_changed(a.service.freshness())
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_ansi_16_theme(snap_compare, ui_sandbox):
    app = pin_latency(make_test_app(ui_sandbox, screen="health", theme="ansi-16"))
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)
