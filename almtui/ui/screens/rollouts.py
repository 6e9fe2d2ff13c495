"""Rollouts (screen 2): every Deployment and Argo Rollout, with what it is doing right now.

Order: by namespace, then name (then kind), the order `kubectl get -A` uses. Deliberately not
"degraded first": during a live rollout phases flip every few seconds, and rows that jump
under the cursor make `u` or `a` land on the wrong workload. What needs attention is counted
in the header instead ("26 ✗1 ‖2": one degraded, two paused), and `/degraded` filters to it.

Columns adapt to the width (widgets/rollout_table.py): at 80 columns the strategy, revision,
weights and message move to the footer lines of the selected row. `enter` opens the detail
view (screens/rollout_detail.py); the action keys (RolloutActions) act on the selected row.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Hashable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.widgets import DataTable, Input, Static

from almtui.cluster import views as V
from almtui.cluster.service import ClusterService
from almtui.ui import keys
from almtui.ui.sanitize import sanitize
from almtui.ui.screens.base import BaseScreen
from almtui.ui.screens.rollout_detail import RolloutActions, RolloutDetailScreen
from almtui.ui.status import SYMBOLS, Tone, tone_of
from almtui.ui.widgets.rollout_table import (
    list_cells,
    list_columns,
    progress_cell,
    step_text,
    strategy_text,
    weight_text,
)
from almtui.ui.widgets.static_update import update_static
from almtui.ui.widgets.table import ResourceTable, row_key

ATTENTION = ("Degraded", "Progressing", "Paused", "Unknown")  # counted in the header, in this order


class RolloutsScreen(RolloutActions, BaseScreen):
    TITLE: ClassVar[str] = "Rollouts"
    AREAS: ClassVar[frozenset[str]] = frozenset({"rollouts"})
    BINDINGS = keys.bindings(keys.ROLLOUT_KEYS)
    CSS = """
    RolloutsScreen #rollouts-footer { height: 2; padding: 0 1; background: $boost; }
    """

    def __init__(self, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._by_key: dict[Hashable, V.RolloutView] = {}
        # The cells last built per key, with the view they came from and what else they depend on:
        # an unchanged view (ClusterService keeps the same object) reuses its cells tuple, which
        # ResourceTable then skips without rendering anything.
        self._cells: dict[Hashable, tuple[V.RolloutView, tuple[object, ...]]] = {}
        self._cells_for: tuple[object, ...] = ()
        self._table: ResourceTable
        self._swap_lock = asyncio.Lock()

    # -- layout -------------------------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        self._table = ResourceTable(list_columns(self.app.size.width), id="rollouts-table")
        yield self._table
        yield Static("", id="rollouts-footer")

    @property
    def table(self) -> ResourceTable:
        """The table (the one being mounted, during a width change)."""
        return self._table

    async def on_resize(self) -> None:
        """Swap the table for one whose columns fit the new width; rows, cursor, filter and focus carry over."""
        async with self._swap_lock:
            columns = list_columns(self.app.size.width)
            old = self._table
            if columns == old.spec:
                return
            selected, focused = old.selected_key, old.has_focus or self.focused is None
            table = ResourceTable(columns, id="rollouts-table")
            table.set_class(not self.live, "-stale")
            table.set_filter(self.filter_text)
            self._table = table
            if self.loaded:
                self.show(self.data)
            await old.remove()
            await self.mount(table, before=self.query_one("#rollouts-footer"))
            self._restore_cursor(table, selected, focused)

    def _restore_cursor(self, table: ResourceTable, selected: Hashable | None, focused: bool) -> None:
        if selected is not None:
            try:
                table.move_cursor(row=table.get_row_index(row_key(selected)), animate=False)
            except Exception:  # the row is gone
                pass
        if focused:
            table.focus()
        self._update_footer()

    # -- data ---------------------------------------------------------------------------------

    def fetch(self, service: ClusterService) -> list[V.RolloutView]:
        return service.rollouts()  # sorted by (namespace, name, kind): see the module docstring

    def show(self, data: list[V.RolloutView] | None) -> None:
        views = data or []
        self._by_key = {v.key: v for v in views}
        table = self.table
        stale, palette = not self.live, self.palette
        context = (table.spec, palette, stale)
        old = self._cells if context == self._cells_for else {}
        cells: dict[Hashable, tuple[V.RolloutView, tuple[object, ...]]] = {}
        rows = []
        for v in views:
            hit = old.get(v.key)
            if hit is None or hit[0] is not v:
                hit = (v, list_cells(v, table.spec, self.badge(v.phase), palette, stale))
            cells[v.key] = hit
            rows.append((v.key, hit[1]))
        self._cells, self._cells_for = cells, context
        table.set_rows(rows, self.now())
        self._update_footer()

    def summary(self) -> str:
        table = self.table
        count = f"{table.shown}/{table.total}" if table.filter_text else str(table.total)
        phases = Counter(v.phase for v in self._by_key.values())
        extra = [f"{SYMBOLS[tone_of(p)]}{phases[p]}" for p in ATTENTION if phases.get(p)]
        return " ".join([count, *extra])

    def target_view(self) -> V.RolloutView | None:
        key = self.table.selected_key
        return self._by_key.get(key) if key is not None else None

    # -- the selected row's footer ------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#rollouts-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._update_footer()

    def _update_footer(self) -> None:
        update_static(self.query_one("#rollouts-footer", Static), self.footer_text(self.target_view()))
        self.refresh_key_permissions()

    def footer_text(self, view: V.RolloutView | None) -> Text:
        """Two lines about the selected row: what the narrow table leaves out, then the status message."""
        width = max(40, self.app.size.width - 2)
        out = Text(no_wrap=True, overflow="ellipsis", end="")
        if view is None:
            out.append("no Deployments or Rollouts" if self.loaded and not self._by_key else "", style="dim")
            return out
        out.append(sanitize(f"{view.namespace}/{view.name}", 50, single_line=True), style="bold")
        out.append(f"  {view.kind} {sanitize(strategy_text(view), 20, single_line=True)}  rev {view.revision}")
        if view.step is not None and view.steps:
            out.append(f"  step {step_text(view)}")
        if view.set_weight is not None:
            out.append(f"  weight {weight_text(view)}")
        out.append("  ")
        out.append_text(progress_cell(view, self.palette, 10, percent=True, stale=not self.live))
        if view.hpa:
            out.append("  HPA " + sanitize(view.hpa, 30, single_line=True))
        out.append("\n")
        tone = tone_of(view.phase)
        message = view.status_text or view.message or view.phase
        if view.message and view.message not in message:
            message += " · " + view.message
        style = self.palette.style(tone) if tone in (Tone.DEGRADED, Tone.PAUSED) else "dim"
        if not self.live:  # never a bare "Healthy" from data that is not live
            message = f"{SYMBOLS[Tone.STALE]} last known, not live: {message}"
        out.append(sanitize(message, width, single_line=True), style=style)
        return out

    # -- keys -----------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """enter is a priority key (so `?` lists it over the table's own); in the filter input it submits."""
        return not (action == "open" and isinstance(self.focused, Input))

    def action_open(self) -> None:
        """enter: the detail view of the selected row."""
        view = self.target_view()
        if view is None:
            self.app.notify("no Deployment or Rollout selected", severity="warning")
            return
        self.app.push_screen(RolloutDetailScreen(view.key))

    @on(DataTable.RowSelected, "#rollouts-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()
