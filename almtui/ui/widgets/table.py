"""A DataTable that is updated in place by row key, with a filter and self-ageing age columns.

Why: redrawing a table by clear() + refill re-measures every cell and loses the cursor; on a
slow link with thousands of pods it also flickers. Here a new set of rows is diffed against
what is shown: rows are added, removed, and only changed cells updated, all inside one
batch_update, then reordered once if the order changed. Every str cell is sanitised and
rendered as plain Text (DataTable would parse a str as markup).

Cheap updates (thousands of rows, a change every few hundred ms): a row whose cells tuple is the
very object synced last time costs nothing but its age cells; a changed cell repaints only its
own region of the terminal, not the whole table; age ticks render only the rows in view (rows
that scroll into view are brought up to date then).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.geometry import Region
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from almtui.ui.sanitize import cell as text_cell
from almtui.ui.status import fmt_age

Cell = str | int | float | Text | None


@dataclass(frozen=True)
class Col:
    """A column: key, label, fixed width (None: fit content), and whether it holds ages in seconds."""

    key: str
    label: str
    width: int | None = None
    age: bool = False
    max_len: int = 200
    justify: Literal["left", "right"] = "left"


def row_key(key: Hashable) -> str:
    """The DataTable row key for a view's key tuple."""
    if isinstance(key, str):
        return key
    if isinstance(key, tuple):
        return "\x1f".join(str(k) for k in key)
    return str(key)


def _signature(t: Text) -> tuple[Any, ...]:
    return (t.plain, str(t.style), tuple(t.spans), t.justify)


class ResourceTable(DataTable):
    """Rows are (key, cells); call `set_rows` with the whole new list, `tick(now)` to age the ages.

    Passing the same cells tuple object again for a key means "unchanged": only its age cells are
    looked at (so callers that cache rows per unchanged view pay nothing for them).
    """

    def __init__(self, columns: Sequence[Col], *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=False)
        self.spec: tuple[Col, ...] = tuple(columns)
        self.filter_text = ""
        self._model: dict[str, tuple[Cell, ...]] = {}   # every row, in order
        self._keys: dict[str, Hashable] = {}             # row key -> the view's own key
        self._row_keys: dict[Hashable, str] = {}         # the view's own key -> row key (saves the joins)
        self._search: dict[str, str] = {}                # lower-cased text a filter matches
        self._shown: dict[str, list[tuple[Any, ...]]] = {}  # row key -> signature per column
        self._raw: dict[str, tuple[Cell, ...]] = {}      # what the shown cells were made from (padded)
        self._synced: dict[str, tuple[Cell, ...]] = {}   # the caller's cells object last synced
        self._order: list[str] = []                      # shown order
        self._ages = tuple(i for i, c in enumerate(self.spec) if c.age)
        self._age_gen = 0                                # bumped whenever _now or _received moves
        self._aged: dict[str, int] = {}                  # row key -> _age_gen its age cells show
        self._col_keys: list[ColumnKey] = []
        self._widths: tuple[int, ...] = ()               # column widths the cached rows were painted at
        self._stale_cells: set[tuple[RowKey, ColumnKey, int]] = set()  # changed by _put, still cached
        self._received = 0.0
        self._now = 0.0
        self._ready = False

    def on_mount(self) -> None:
        for col in self.spec:
            self._col_keys.append(self.add_column(Text(col.label, justify=col.justify), width=col.width,
                                                  key=col.key))
        self._ready = True
        self._sync(force=True)

    # -- public -------------------------------------------------------------------------------

    @property
    def total(self) -> int:
        """Rows in the data, before filtering."""
        return len(self._model)

    @property
    def shown(self) -> int:
        return len(self._order)

    @property
    def selected_key(self) -> Hashable | None:
        """The view key of the row under the cursor (None: no rows)."""
        if not self._order or not 0 <= self.cursor_row < len(self._order):
            return None
        return self._keys.get(self._order[self.cursor_row])

    def set_rows(self, rows: Iterable[tuple[Hashable, Sequence[Cell]]], now: float = 0.0, *,
                 force: bool = False) -> None:
        """Show these rows (all of them, in this order); `now` is when their ages were computed.

        A tuple is kept as is (not copied): the same object next time marks the row unchanged.
        """
        model: dict[str, tuple[Cell, ...]] = {}
        keys: dict[str, Hashable] = {}
        old_rks, rks = self._row_keys, {}
        for key, cells in rows:
            rk = old_rks.get(key) or row_key(key)
            rks[key] = rk
            model[rk] = cells if type(cells) is tuple else tuple(cells)
            keys[rk] = key
        old_model, old_search = self._model, self._search
        self._model, self._keys, self._row_keys = model, keys, rks
        self._search = {rk: hay for rk, hay in old_search.items() if model.get(rk) is old_model.get(rk)}
        if (now, now) != (self._received, self._now):
            self._received = self._now = now
            self._age_gen += 1
        self._sync(force=force)

    def set_filter(self, text: str) -> None:
        """Show only rows containing `text` (case-insensitive); "!text" shows rows without it."""
        if text != self.filter_text:
            self.filter_text = text
            self._sync()

    def restyle(self) -> None:
        """Re-render every cell (the theme changed)."""
        self._sync(force=True)

    def tick(self, now: float) -> None:
        """Advance age columns to `now` without touching any other cell (rows in view only; the
        others are brought up to date when they scroll into view)."""
        if now != self._now:
            self._now = now
            self._age_gen += 1
        self._age_visible()

    # -- Textual hooks ------------------------------------------------------------------------

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._age_visible()

    def on_resize(self, event: events.Resize) -> None:
        self._age_visible()

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        # DataTable (textual 8.2.8) recomputes column widths on idle, but its row, cell and line
        # caches are keyed on `_update_count`, not on widths: rows painted before the recompute
        # would stay painted (and cached) at the old widths. Invalidate and repaint when they move.
        super()._update_dimensions(new_rows)
        widths = tuple(c.get_render_width(self) for c in self.ordered_columns)
        if widths != self._widths:
            self._widths = widths
            self._update_count += 1
            self.refresh()

    # -- internals ----------------------------------------------------------------------------

    def _render(self, col: Col, value: Cell) -> Text:
        if col.age:
            age = None if not isinstance(value, int | float) else value + max(0.0, self._now - self._received)
            return Text(fmt_age(age), justify=col.justify, end="")
        if isinstance(value, Text):
            return value.copy()
        if value is None:
            return Text("", end="")
        if isinstance(value, bool):
            return Text("yes" if value else "no", justify=col.justify, end="")
        if isinstance(value, int | float):
            return Text(str(value), justify="right", end="")
        t = text_cell(value, col.max_len)
        t.justify = col.justify
        return t

    def _matches(self, rk: str) -> bool:
        needle = self.filter_text.strip().lower()
        if not needle or needle == "!":
            return True
        hay = self._search.get(rk)
        if hay is None:
            hay = " ".join(self._render(c, v).plain for c, v in zip(self.spec, self._model[rk], strict=False)).lower()
            self._search[rk] = hay
        if needle.startswith("!"):
            return needle[1:] not in hay
        return needle in hay

    def _viewport(self) -> range:
        """Indexes (in `_order`) of the rows in view, one spare at each end. Rows are one line high."""
        header = self.header_height if self.show_header else 0
        top = int(self.scroll_offset.y)
        return range(max(0, top - 1), min(len(self._order), top + max(0, self.size.height - header) + 1))

    def _age_visible(self) -> None:
        """Bring the age cells of the rows in view up to `_now` (a no-op for rows already there)."""
        if not self._ready or not self._ages or not self._order:
            return
        gen, aged, order = self._age_gen, self._aged, self._order
        stale = [order[i] for i in self._viewport() if aged.get(order[i]) != gen]
        if not stale:
            return
        with self.app.batch_update():
            for rk in stale:
                raw, shown = self._raw[rk], self._shown[rk]
                for i in self._ages:
                    t = self._render(self.spec[i], raw[i])
                    sig = _signature(t)
                    if sig != shown[i]:
                        self._put(rk, i, t, shown[i])
                        shown[i] = sig
                aged[rk] = gen
            self._evict()

    def _put(self, rk: str, i: int, t: Text, old: tuple[Any, ...]) -> None:
        """Show `t` in column `i` of row `rk`; `old` is the signature of what it replaces.

        DataTable.update_cell bumps `_update_count` (every row, cell and line cache is keyed on
        it, so every visible cell gets rendered again) and ends in a full refresh (which sends
        every visible cell to the terminal again). When the column's width cannot change, set the
        cell, drop only its own cache entries (`_evict`, at the end of the batch) and repaint only
        its region. This reaches into DataTable's private `_data` and caches, which is safe because
        textual is pinned (8.2.8); tests/ui/test_table_updates.py checks what gets painted.
        """
        col = self.spec[i]
        column = self.columns[self._col_keys[i]]
        if column.auto_width and not self._fits(column.content_width, old[0], t):
            self.update_cell(rk, col.key, t, update_width=True)
            return
        row = RowKey(rk)
        index = self._row_locations.get(row)
        if index is None:
            return
        self._data[row][self._col_keys[i]] = t
        self._stale_cells.add((row, self._col_keys[i], index))
        x = self._row_label_column_width + sum(c.get_render_width(self) for c in self.ordered_columns[:i])
        y = index + (self.header_height if self.show_header else 0)
        self._refresh_region(Region(x, y, column.get_render_width(self), 1))

    def _evict(self) -> None:
        """Drop DataTable's cached renderings of the cells `_put` changed (see there), and of their lines."""
        stale = self._stale_cells
        if not stale:
            return
        self._stale_cells = set()
        cells = {(row, col) for row, col, _ in stale}
        rows = {row for row, _, _ in stale}
        indexes = {index for _, _, index in stale}
        header = self.header_height if self.show_header else 0
        lines = {index + header for index in indexes}
        for cache, hit in ((self._cell_render_cache, lambda k: (k[0], k[1]) in cells),
                           (self._row_render_cache, lambda k: k[0] in rows),
                           (self._row_renderable_cache, lambda k: k[1] in indexes),
                           (self._line_cache, lambda k: k[0] in lines)):
            for key in [k for k in cache.keys() if hit(k)]:  # noqa: SIM118 (LRUCache has no __iter__)
                cache.discard(key)

    @staticmethod
    def _fits(width: int, old_plain: str, t: Text) -> bool:
        """Whether replacing `old_plain` by `t` leaves an auto-width column `width` wide as it is."""
        if "\n" in old_plain or "\n" in t.plain:
            return False
        new, old = t.cell_len, cell_len(old_plain)
        return new == width or (new < width and old < width)

    def _sync(self, force: bool = False) -> None:
        if not self._ready:
            return
        wanted = [rk for rk in self._model if self._matches(rk)]
        wanted_set = set(wanted)
        cursor_key = self._order[self.cursor_row] if self._order and 0 <= self.cursor_row < len(self._order) \
            else None
        gen = self._age_gen
        with self.app.batch_update():
            for rk in [rk for rk in self._order if rk not in wanted_set]:
                self.remove_row(rk)
                for cache in (self._shown, self._raw, self._synced, self._aged):
                    cache.pop(rk, None)
            order = [rk for rk in self._order if rk in wanted_set]
            for rk in wanted:
                cells = self._model[rk]
                if not force and self._synced.get(rk) is cells:
                    continue  # the same object as last time: only its ages may move (below)
                padded = cells + (None,) * (len(self.spec) - len(cells))
                if rk not in self._shown:
                    texts = [self._render(c, v) for c, v in zip(self.spec, padded, strict=False)]
                    self.add_row(*texts, key=rk, height=1)
                    self._shown[rk] = [_signature(t) for t in texts]
                    self._raw[rk], self._synced[rk], self._aged[rk] = padded, cells, gen
                    order.append(rk)
                    continue
                old_raw, shown = self._raw[rk], self._shown[rk]
                for i, col in enumerate(self.spec):
                    if col.age or (not force and old_raw[i] == padded[i] and not isinstance(padded[i], Text)):
                        continue
                    t = self._render(col, padded[i])
                    sig = _signature(t)
                    if sig != shown[i]:
                        self._put(rk, i, t, shown[i])
                        shown[i] = sig
                self._raw[rk], self._synced[rk] = padded, cells
                if force or any(old_raw[i] != padded[i] for i in self._ages):
                    self._aged[rk] = -1
            if order != wanted:
                rank = {id(self.get_cell(rk, self.spec[0].key)): n for n, rk in enumerate(wanted)}
                self.sort(self.spec[0].key, key=lambda first: rank.get(id(first), len(rank)))
            self._order = wanted
            self._evict()
            self._age_visible()
            if cursor_key is not None and cursor_key in wanted_set:
                index = wanted.index(cursor_key)
                if index != self.cursor_row:
                    self.move_cursor(row=index, animate=False)
