"""Snapshots of the Rollouts screen's detail view (and the list's footer on a canary) at 80x24 and 120x40.

The frozen session sandbox (see conftest.py): staging/checkout is a canary paused at its
indefinite pause (step 1 of 4, 25 %), prod/storefront a Deployment with three revisions. No
metrics source here, so the RED panel must read "not verified".
"""

from __future__ import annotations

import pytest

from almtui.ui.screens.rollout_detail import RolloutDetailScreen
from almtui.ui.widgets.table import ResourceTable, row_key
from tests.ui.conftest import make_test_app, settle

SIZES = {"80x24": (80, 24), "120x40": (120, 40)}
OBJECTS = {"canary": ("Rollout", "staging", "checkout"), "deployment": ("Deployment", "prod", "storefront")}


def select(key: tuple[str, str, str]):
    async def run_before(pilot) -> None:
        await settle(pilot)
        table = pilot.app.screen.query_one("#rollouts-table", ResourceTable)
        table.move_cursor(row=table.get_row_index(row_key(key)), animate=False)
        await settle(pilot)
    return run_before


def open_detail(key: tuple[str, str, str]):
    async def run_before(pilot) -> None:
        await select(key)(pilot)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(pilot.app.screen, RolloutDetailScreen)
        await settle(pilot)
    return run_before


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("what", OBJECTS)
def test_detail(snap_compare, ui_sandbox, what, size):
    app = make_test_app(ui_sandbox, screen="rollouts", size=SIZES[size])
    assert snap_compare(app, terminal_size=SIZES[size], run_before=open_detail(OBJECTS[what]))


@pytest.mark.parametrize("size", SIZES)
def test_list_footer_on_a_canary(snap_compare, ui_sandbox, size):
    app = make_test_app(ui_sandbox, screen="rollouts", size=SIZES[size])
    assert snap_compare(app, terminal_size=SIZES[size], run_before=select(OBJECTS["canary"]))
