"""The base of every data screen: header, body, filter bar, key bar, and the refresh engine.

Why here: every screen must behave the same on a bad link. Views are built off the UI thread
(a worker calls `fetch`), only when an area the screen reads has changed (the app forwards the
service's coalesced notifications to the active screen only; a screen catches up when it is
shown again), and `show` updates tables in place. When the data is not live the screen says
so: tables get the `-stale` class (dimmed) and status badges stop claiming "healthy".

Subclasses set TITLE and AREAS, and override `compose_body`, `fetch` (worker thread: read the
service, return anything) and `show` (UI thread: put it on screen).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Static

from almtui.cluster.freshness import FreshnessState
from almtui.ui import keys
from almtui.ui.status import Palette, badge
from almtui.ui.widgets.header import AppHeader
from almtui.ui.widgets.keybar import KeyBar
from almtui.ui.widgets.static_update import update_static
from almtui.ui.widgets.table import ResourceTable

if TYPE_CHECKING:
    from almtui.cluster.service import ClusterService
    from almtui.ui.app import AlmtuiApp


log = logging.getLogger(__name__)


class Fetched(Message):
    """A fetch worker's result, posted to its own screen."""

    def __init__(self, service: ClusterService, data: Any, ok: bool) -> None:
        super().__init__()
        self.service, self.data, self.ok = service, data, ok


class FilterBar(Horizontal):
    """`/` filter input with a match count; hidden while no filter is set."""

    def compose(self) -> ComposeResult:
        yield Static("/", id="filter-prompt")
        yield Input(id="filter-input", placeholder="filter (!text excludes)", select_on_focus=False)
        yield Static("", id="filter-count")


class BaseScreen(Screen):
    """A data screen of the console. See the module docstring for the subclass contract."""

    TITLE: ClassVar[str] = ""
    AREAS: ClassVar[frozenset[str]] = frozenset()
    BINDINGS = keys.bindings(keys.SCREEN_KEYS)

    def __init__(self, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.data: Any = None
        self.live = True
        self.loaded = False
        self.filter_text = ""
        self._fetching = False
        self._again = False

    @property
    def almtui(self) -> AlmtuiApp:
        return self.app  # type: ignore[return-value]

    # -- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield AppHeader(id="header")
        with Vertical(id="body"):
            yield from self.compose_body()
        yield FilterBar(id="filter-bar")
        yield KeyBar(id="keybar")

    def compose_body(self) -> ComposeResult:
        yield from ()

    @property
    def header(self) -> AppHeader:
        return self.query_one("#header", AppHeader)

    @property
    def tables(self) -> list[ResourceTable]:
        return list(self.query(ResourceTable))

    # -- the subclass contract ----------------------------------------------------------------

    def fetch(self, service: ClusterService) -> Any:
        """Read what the screen shows (runs in a worker thread; must not touch widgets)."""
        return None

    def show(self, data: Any) -> None:
        """Put `data` on screen (UI thread). Called again when the theme or liveness changes."""

    def summary(self) -> str:
        """Text after the title in the header, e.g. a row count."""
        tables = self.tables
        if not tables:
            return ""
        t = tables[0]
        return f"{t.shown}/{t.total}" if t.filter_text else str(t.total)

    # -- helpers for subclasses ---------------------------------------------------------------

    @property
    def palette(self) -> Palette:
        return getattr(self.app, "palette", Palette())

    def badge(self, status: str, *, domain: str = "", label: str | None = None) -> Text:
        """A status badge in the colour language, honouring staleness."""
        return badge(status, self.palette, domain=domain, stale=not self.live, label=label)

    def now(self) -> float:
        return self.almtui.clock()

    # -- engine -------------------------------------------------------------------------------

    def on_mount(self) -> None:
        registry = getattr(self.app, "data_screens", None)
        if registry is not None and self not in registry:
            registry.append(self)
        self.query_one("#filter-input", Input).cursor_blink = False
        self.sync_chrome()
        self.reload()

    def on_unmount(self) -> None:
        registry = getattr(self.app, "data_screens", None)
        if registry is not None and self in registry:
            registry.remove(self)

    def on_screen_resume(self) -> None:
        self.sync_chrome()
        if self.loaded:
            self.reload()

    def sync_chrome(self) -> None:
        """Header and stale marks from the app's current service."""
        app = self.almtui
        svc = app.service
        self.header.set_read_only(svc.read_only)
        self.header.set_insecure(bool(getattr(svc.context, "insecure_skip_tls_verify", False)))
        self._set_location()
        self.freshness_changed(svc.freshness())

    def _set_location(self) -> None:
        svc = self.almtui.service
        summary = self.summary()
        title = f"{self.TITLE} {summary}" if summary else self.TITLE
        self.header.set_location(svc.context.name, svc.namespace, title)

    def data_changed(self, areas: frozenset[str]) -> None:
        """The service changed `areas`; reload if this screen reads any of them."""
        if areas & self.AREAS:
            self.reload()

    def service_replaced(self) -> None:
        """A new service (namespace or context switch): forget rows that belonged to the old one."""
        self.data = None
        for t in self.tables:
            t.set_rows([])
        self.sync_chrome()
        self.reload()

    def reload(self) -> None:
        """Fetch and show again. One fetch at a time: a reload during a fetch runs right after it,
        so a burst of changes costs at most two builds and results never arrive out of order."""
        if self._fetching:
            self._again = True
            return
        self._fetching = True
        self._fetch(self.almtui.service)

    @work(thread=True, group="fetch", exit_on_error=False)
    def _fetch(self, service: ClusterService) -> None:
        try:
            data, ok = self.fetch(service), True
        except Exception:  # a view builder's bug must not stop refreshing
            log.exception("%s: fetch failed", type(self).__name__)
            data, ok = None, False
        self.post_message(Fetched(service, data, ok))  # thread-safe, never blocks

    def on_fetched(self, message: Fetched) -> None:
        message.stop()
        self._fetching = False
        if message.ok and message.service is self.almtui.service:  # else: from a replaced service
            self.data = message.data
            self.loaded = True
            self.show(message.data)
            self._update_count()
            self._set_location()
        if self._again:
            self._again = False
            self.reload()

    def freshness_changed(self, state: FreshnessState) -> None:
        self.header.set_freshness(state, self.now())
        live = state.is_live
        if live != self.live:
            self.live = live
            for t in self.tables:
                t.set_class(not live, "-stale")
            if self.loaded:
                self.show(self.data)  # badges change: healthy is not claimed from stale data

    def theme_changed(self) -> None:
        if self.loaded:
            self.show(self.data)

    def tick(self, now: float) -> None:
        """Age columns move on (called every few seconds by the app; ages only, nothing else)."""
        for t in self.tables:
            t.tick(now)

    # -- filter -------------------------------------------------------------------------------

    def action_filter(self) -> None:
        bar = self.query_one("#filter-bar", FilterBar)
        bar.display = True
        self.query_one("#filter-input", Input).focus()

    def action_clear_filter(self) -> None:
        bar = self.query_one("#filter-bar", FilterBar)
        inp = self.query_one("#filter-input", Input)
        if inp.value:
            inp.value = ""
            self.apply_filter("")
        bar.display = False
        self._focus_body()

    def apply_filter(self, text: str) -> None:
        """Filter every table of the screen (override for other widgets)."""
        self.filter_text = text
        for t in self.tables:
            t.set_filter(text)
        self._update_count()
        self._set_location()

    def _update_count(self) -> None:
        tables = self.tables
        label = f"{tables[0].shown} of {tables[0].total}" if tables and self.filter_text else ""
        update_static(self.query_one("#filter-count", Static), label)

    def _focus_body(self) -> None:
        tables = self.tables
        if tables:
            tables[0].focus()
        else:
            self.set_focus(None)

    @on(Input.Changed, "#filter-input")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.apply_filter(event.value)

    @on(Input.Submitted, "#filter-input")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value:
            self.query_one("#filter-bar", FilterBar).display = False
        self._focus_body()
