"""ResourceTable and the Rollouts screen stay cheap to update (issue 6, hotspots 2 and 5).

What is pinned: a row whose cells tuple is the same object as last time is not rendered again;
a changed cell repaints only its own region (far fewer bytes than the table) and shows its new
value, also after the column widths move; age ticks render only the rows in view, and rows that
scroll into view show current ages; the cursor stays on its key; RolloutsScreen.show reuses the
cells of a RolloutView it has seen before.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.text import Text
from textual._compositor import CompositorUpdate
from textual.app import App, ComposeResult

import almtui.ui.screens.rollouts as rollouts_screen
from almtui.ui.screens.rollouts import RolloutsScreen
from almtui.ui.widgets.table import Cell, Col, ResourceTable
from tests.ui.conftest import make_test_app, settle

COLUMNS = (Col("name", "NAME"), Col("status", "STATUS", width=8), Col("age", "AGE", width=5, age=True,
                                                                      justify="right"))


class CountingTable(ResourceTable):
    """Records every (column, value) it renders."""

    def __init__(self, columns: tuple[Col, ...]) -> None:
        super().__init__(columns, id="t")
        self.rendered: list[tuple[str, Cell]] = []

    def _render(self, col: Col, value: Cell) -> Text:
        self.rendered.append((col.key, value))
        return super()._render(col, value)


class TableApp(App):
    """One table; counts the bytes a terminal would receive (a headless app writes none)."""

    def __init__(self, columns: tuple[Col, ...] = COLUMNS) -> None:
        super().__init__()
        self.columns = columns
        self.written = 0

    def compose(self) -> ComposeResult:
        yield CountingTable(self.columns)

    def _display(self, screen: Any, renderable: Any) -> None:
        if isinstance(renderable, CompositorUpdate):
            self.written += len(renderable.render_segments(self.console).encode())
        super()._display(screen, renderable)


def rows(n: int, status: str = "ok", age: float = 5.0) -> list[tuple[tuple[str], tuple[Cell, ...]]]:
    return [((f"r{i:03d}",), (f"r{i:03d}", status, age)) for i in range(n)]


def painted(t: ResourceTable) -> list[str]:
    """The table's lines as they were last painted (Textual re-renders only lines marked dirty)."""
    return [strip.text for strip in t.render_lines(t.size.region)]


def line_of(t: ResourceTable, name: str) -> str:
    return next(line for line in painted(t) if line.lstrip().startswith(name))


async def test_unchanged_rows_are_not_rendered_again_and_a_changed_cell_shows():
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        t = app.query_one(CountingTable)
        data = rows(200)
        t.set_rows(data, 100.0)
        await pilot.pause()
        t.rendered.clear()
        data[3] = (("r003",), ("r003", "failed", 5.0))  # a new tuple for one row, the others the same objects
        t.set_rows(data, 100.0)
        await pilot.pause()
        assert t.rendered == [("status", "failed")]  # no signature, no render for the 199 others
        assert t.get_row_at(3)[1].plain == "failed"
        assert "failed" in line_of(t, "r003")
        assert "ok" in line_of(t, "r004")


async def test_a_cell_change_repaints_its_region_only():
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        t = app.query_one(CountingTable)
        data = rows(50)
        t.set_rows(data, 100.0)
        await pilot.pause()
        t.refresh()
        app.written = 0
        await pilot.pause()
        whole = app.written
        app.written = 0
        data[2] = (("r002",), ("r002", "down", 5.0))
        t.set_rows(data, 100.0)
        await pilot.pause()
        assert 0 < app.written < whole / 5, (app.written, whole)
        assert "down" in line_of(t, "r002")


async def test_widths_recomputed_on_idle_repaint_every_row():
    # A wider value in an auto-width column widens it on idle; rows painted before must follow.
    app = TableApp()
    async with app.run_test(size=(80, 12)) as pilot:
        t = app.query_one(CountingTable)
        data = rows(5)
        t.set_rows(data, 100.0)
        await pilot.pause()
        data[0] = (("r000",), ("r000-with-a-much-longer-name", "ok", 5.0))
        t.set_rows(data, 100.0)
        painted(t)  # a paint before DataTable's idle handler measured the new width (a race in the app)
        await pilot.pause()
        await pilot.pause()
        lines = painted(t)
        column = lines[0].index("STATUS")
        assert lines[1][column:column + 2] == "ok" and "r000-with-a-much-longer-name" in lines[1]
        assert all(line[column:column + 2] == "ok" for line in lines[2:6]), lines
        # ... and narrower again when the long value goes
        data[0] = (("r000",), ("r000", "ok", 5.0))
        t.set_rows(data, 100.0)
        painted(t)
        await pilot.pause()
        await pilot.pause()
        lines = painted(t)
        column = lines[0].index("STATUS")
        assert all(line[column:column + 2] == "ok" for line in lines[1:6]), lines


async def test_ticks_age_rows_in_view_and_rows_scrolled_into_view_are_current():
    app = TableApp()
    async with app.run_test(size=(40, 10)) as pilot:
        t = app.query_one(CountingTable)
        t.set_rows(rows(100, age=5.0), 100.0)
        await pilot.pause()
        t.rendered.clear()
        t.tick(160.0)
        ticked = [v for k, v in t.rendered if k == "age"]
        assert 0 < len(ticked) <= t.size.height + 2  # the rows in view, not the 100
        assert all(k == "age" for k, _ in t.rendered)
        assert "1m5s" in line_of(t, "r000") or "65s" in line_of(t, "r000")
        age_r000 = t.get_row_at(0)[2].plain
        t.move_cursor(row=99, animate=False)  # scrolls to the end
        await pilot.pause()
        await pilot.pause()
        assert t.selected_key == ("r099",)
        assert t.get_row_at(99)[2].plain == age_r000
        assert age_r000 in line_of(t, "r099")
        t.rendered.clear()
        t.tick(160.0)  # nothing moved: nothing rendered
        assert t.rendered == []


async def test_the_cursor_stays_on_its_key():
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        t = app.query_one(CountingTable)
        data = rows(30)
        t.set_rows(data, 100.0)
        await pilot.pause()
        t.move_cursor(row=10, animate=False)
        assert t.selected_key == ("r010",)
        # rows inserted and removed above it; every remaining tuple is the same object
        new = [(("a000",), ("a000", "new", 1.0)), *data[:3], *data[5:]]
        t.set_rows(new, 100.0)
        await pilot.pause()
        assert t.selected_key == ("r010",)
        assert [t.get_row_at(i)[0].plain for i in range(4)] == ["a000", "r000", "r001", "r002"]


async def test_rollouts_show_reuses_the_cells_of_an_unchanged_view(ui_sandbox, monkeypatch):
    app = make_test_app(ui_sandbox, screen="rollouts", size=(120, 30))
    async with app.run_test() as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RolloutsScreen) and screen.data
        views = list(screen.data)
        built: list[Any] = []
        real = rollouts_screen.list_cells
        monkeypatch.setattr(rollouts_screen, "list_cells", lambda v, *a: (built.append(v.key), real(v, *a))[1])
        screen.table.move_cursor(row=2, animate=False)
        selected = screen.table.selected_key
        screen.show(views)
        assert built == []
        changed = dataclasses.replace(views[0], phase="Degraded", message="boom")
        screen.show([changed, *views[1:]])
        await pilot.pause()
        assert built == [changed.key]
        assert "Degraded" in screen.table.get_row_at(0)[screen.table.get_column_index("phase")].plain
        assert screen.table.selected_key == selected
        degraded = sum(v.phase == "Degraded" for v in [changed, *views[1:]])
        assert f"✗{degraded}" in screen.summary()
        built.clear()
        screen.live = False  # stale badges: every row is built again
        screen.show([changed, *views[1:]])
        assert len(built) == len(views)
