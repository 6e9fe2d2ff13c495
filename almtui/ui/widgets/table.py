"""A DataTable that is updated in place by row key, with a filter and self-ageing age columns.

Why: redrawing a table by clear() + refill re-measures every cell and loses the cursor; on a
slow link with thousands of pods it also flickers. Here a new set of rows is diffed against
what is shown: rows are added, removed, and only changed cells updated, all inside one
batch_update, then reordered once if the order changed. Every str cell is sanitised and
rendered as plain Text (DataTable would parse a str as markup).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rich.text import Text
from textual.widgets import DataTable

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
    """Rows are (key, cells); call `set_rows` with the whole new list, `tick(now)` to age the ages."""

    def __init__(self, columns: Sequence[Col], *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=False)
        self.spec: tuple[Col, ...] = tuple(columns)
        self.filter_text = ""
        self._model: dict[str, tuple[Cell, ...]] = {}   # every row, in order
        self._keys: dict[str, Hashable] = {}             # row key -> the view's own key
        self._search: dict[str, str] = {}                # lower-cased text a filter matches
        self._shown: dict[str, list[tuple[Any, ...]]] = {}  # row key -> signature per column
        self._raw: dict[str, tuple[Cell, ...]] = {}      # what the shown cells were made from
        self._order: list[str] = []                      # shown order
        self._received = 0.0
        self._now = 0.0
        self._ready = False

    def on_mount(self) -> None:
        for col in self.spec:
            self.add_column(Text(col.label, justify=col.justify), width=col.width, key=col.key)
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
        """Show these rows (all of them, in this order); `now` is when their ages were computed."""
        model: dict[str, tuple[Cell, ...]] = {}
        keys: dict[str, Hashable] = {}
        for key, cells in rows:
            rk = row_key(key)
            model[rk] = tuple(cells)
            keys[rk] = key
        self._model, self._keys = model, keys
        self._search = {}
        self._received = self._now = now
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
        """Advance age columns to `now` without touching any other cell."""
        self._now = now
        if not self._ready or not any(c.age for c in self.spec):
            return
        with self.app.batch_update():
            for rk in self._order:
                raw, shown = self._raw[rk], self._shown[rk]
                for i, col in enumerate(self.spec):
                    if not col.age:
                        continue
                    t = self._render(col, raw[i] if i < len(raw) else None)
                    sig = _signature(t)
                    if sig != shown[i]:
                        shown[i] = sig
                        self.update_cell(rk, col.key, t, update_width=False)

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

    def _sync(self, force: bool = False) -> None:
        if not self._ready:
            return
        wanted = [rk for rk in self._model if self._matches(rk)]
        wanted_set = set(wanted)
        cursor_key = self._order[self.cursor_row] if self._order and 0 <= self.cursor_row < len(self._order) \
            else None
        auto = [c.width is None for c in self.spec]
        with self.app.batch_update():
            for rk in [rk for rk in self._order if rk not in wanted_set]:
                self.remove_row(rk)
                self._shown.pop(rk, None)
                self._raw.pop(rk, None)
            order = [rk for rk in self._order if rk in wanted_set]
            for rk in wanted:
                cells = self._model[rk]
                padded = cells + (None,) * (len(self.spec) - len(cells))
                if rk not in self._shown:
                    texts = [self._render(c, v) for c, v in zip(self.spec, padded, strict=False)]
                    self.add_row(*texts, key=rk, height=1)
                    self._shown[rk] = [_signature(t) for t in texts]
                    self._raw[rk] = padded
                    order.append(rk)
                    continue
                old_raw, shown = self._raw[rk], self._shown[rk]
                for i, col in enumerate(self.spec):
                    if not force and not col.age and old_raw[i] == padded[i] and \
                            not isinstance(padded[i], Text):
                        continue
                    t = self._render(col, padded[i])
                    sig = _signature(t)
                    if sig != shown[i]:
                        shown[i] = sig
                        self.update_cell(rk, col.key, t, update_width=auto[i])
                self._raw[rk] = padded
            if order != wanted:
                rank = {id(self.get_cell(rk, self.spec[0].key)): n for n, rk in enumerate(wanted)}
                self.sort(self.spec[0].key, key=lambda first: rank.get(id(first), len(rank)))
            self._order = wanted
            if cursor_key is not None and cursor_key in wanted_set:
                index = wanted.index(cursor_key)
                if index != self.cursor_row:
                    self.move_cursor(row=index, animate=False)
