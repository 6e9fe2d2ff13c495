"""Snapshots of the Pipelines screen's parts, the run detail and the rollback history picker.

The Runs part is `test_snapshots.py::test_screen[pipelines-*]`. Deterministic: the frozen session
sandbox and the pinned console clock (see conftest.py); nothing here changes the cluster.
"""

from __future__ import annotations

from typing import Any

import pytest

from almtui.ui.screens.pipeline_detail import HistoryPicker, PipelineRunScreen
from almtui.ui.widgets.table import ResourceTable
from tests.ui.conftest import make_test_app, settle, wait_for

SIZES = {"80x24": (80, 24), "120x40": (120, 40)}
FAILED_RUN = ("ci", "storefront-build-flaky-run-b8n3c")


async def _select(pilot: Any, table_id: str, key: Any) -> None:
    table = pilot.app.screen.query_one(f"#{table_id}", ResourceTable)
    for row in range(table.row_count):
        table.move_cursor(row=row, animate=False)
        if table.selected_key == key:
            break
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("part", ["apps", "envs"])
def test_part(snap_compare, ui_sandbox, part, size):
    app = make_test_app(ui_sandbox, size=SIZES[size])

    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press(*["tab"] * (1 if part == "apps" else 2))
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_run_detail(snap_compare, ui_sandbox, size):
    """The failed run: tasks, params, condition message and the failed step's last log lines."""
    app = make_test_app(ui_sandbox, size=SIZES[size])

    async def run_before(pilot) -> None:
        await settle(pilot)
        await _select(pilot, "runs-table", FAILED_RUN)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PipelineRunScreen), timeout=5.0)
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_rollback_history_picker(snap_compare, ui_sandbox, size):
    app = make_test_app(ui_sandbox, size=SIZES[size])

    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("tab")
        await settle(pilot)
        await _select(pilot, "apps-table", ("argocd", "pos-sync-prod"))
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HistoryPicker), timeout=5.0)
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)
