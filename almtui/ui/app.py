"""The Textual app: four screens (modes), global keys, themes, and the bridge from the service.

Why this shape: the service calls back on its own threads; the app turns each burst of
callbacks into one message (`ClusterChanged.can_replace` coalesces a burst into the last one,
and the areas accumulate in a locked set) and hands it to the active screen only. Nothing here
reads the wall clock for display: ages and freshness use the injected `clock`. The app never
exits because the cluster went away; it shows STALE/OFFLINE and keeps the last data.

The app owns the service it is given (already started by the caller): it stops it on exit, and
replaces it on `ns` / `ctx` switches (services it creates are started here).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from textual import work
from textual.app import App, ScreenStackError
from textual.binding import BindingType
from textual.message import Message
from textual.theme import Theme

from almtui.cluster.connection import connect
from almtui.cluster.kubeconfig import ConfigError, KubeConfig
from almtui.cluster.service import ClusterService
from almtui.ui import keys
from almtui.ui.actions import ActionRunner
from almtui.ui.commands import AlmtuiCommands, CommandLine, run_command, suggestions
from almtui.ui.sanitize import sanitize
from almtui.ui.screens import SCREEN_CLASSES, BaseScreen
from almtui.ui.screens.help import HelpScreen
from almtui.ui.status import Palette
from almtui.ui.themes import DEFAULT_THEME, FALLBACK_THEME, load_themes

log = logging.getLogger(__name__)

AGE_TICK = 10.0       # seconds between age-column refreshes (ages only)
FRESHNESS_TICK = 1.0  # the STALE age in the header (repaints only when the text changes)


class ClusterChanged(Message):
    """Something changed in the service; the areas are in the app's pending set."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ClusterChanged)


class ServiceReady(Message):
    """A replacement service (namespace or context switch) is started and ready to install."""

    def __init__(self, service: ClusterService) -> None:
        super().__init__()
        self.service = service


def _ui_screen_classes() -> list[type]:
    """Every Screen class almtui's UI defines (main screens, detail screens, dialogs): all their
    binding ids may be remapped in the config."""
    from textual.screen import Screen

    out, todo = [], [Screen]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("almtui.ui"):
                out.append(sub)
    return out


class AlmtuiApp(App[int]):
    """The almtui console."""

    CSS_PATH = "almtui.tcss"
    TITLE = "almtui"
    MODES: ClassVar[dict[str, Any]] = dict(SCREEN_CLASSES)
    COMMANDS = App.COMMANDS | {AlmtuiCommands}
    BINDINGS: ClassVar[list[BindingType]] = keys.bindings(keys.GLOBAL_KEYS)
    NOTIFICATION_TIMEOUT = 6

    def __init__(self, service: ClusterService, *, clock: Callable[[], float] | None = None,
                 config: Any = None, theme: str | None = None, kubeconfig: KubeConfig | None = None,
                 screen: str = "pipelines", themes: Mapping[str, Theme] | None = None,
                 connect_options: Mapping[str, Any] | None = None,
                 default_size: tuple[int, int] | None = None) -> None:
        if themes is None:
            found, theme_errors = load_themes()
        else:
            found, theme_errors = dict(themes), []
        wanted = theme or getattr(config, "theme", None) or DEFAULT_THEME
        initial = found.get(wanted)
        super().__init__(ansi_color=True if initial is not None and initial.ansi else None)
        self.service = service
        self.clock: Callable[[], float] = clock or time.time
        self.config = config
        self.kubeconfig = kubeconfig
        self.connect_options = dict(connect_options or {})
        self.default_size = default_size
        self.start_screen = screen if screen in SCREEN_CLASSES else "pipelines"
        self.palette = Palette()
        self._startup_errors: list[str] = list(theme_errors)
        self._pending: set[str] = set()
        self._pending_lock = threading.Lock()
        self._unsubscribe: Callable[[], None] | None = None
        self.data_screens: list[BaseScreen] = []  # mounted data screens (they register themselves)
        self.actions = ActionRunner(self)  # the one action path: plan, checks, confirm, apply, audit
        for t in found.values():
            self.register_theme(t)
        if wanted in self.available_themes:
            self.theme = wanted
        else:
            self._startup_errors.append(f"unknown theme {wanted!r}; using {DEFAULT_THEME} "
                                        f"(themes: {', '.join(sorted(self.available_themes))})")
            self.theme = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else FALLBACK_THEME

    # -- lifecycle ----------------------------------------------------------------------------

    def notify(self, message: str, *, title: str = "", severity: Any = "information", timeout: float | None = None,
               markup: bool = False) -> None:
        """Every toast is sanitised and never parsed as markup: messages often quote cluster or API text."""
        super().notify(sanitize(message, max_len=2000), title=sanitize(title, max_len=200, single_line=True),
                       severity=severity, timeout=timeout, markup=False)

    def on_mount(self) -> None:
        if self.ansi_color is not None:
            self.ansi_color = None  # from now on follow the theme (ansi or not) on `:theme`
        self.palette = Palette.from_variables(self.get_css_variables())
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self._apply_keymap()
        self._subscribe()
        self.set_interval(FRESHNESS_TICK, self._tick_freshness)
        self.set_interval(AGE_TICK, self._tick_ages)
        for message in self._startup_errors:
            self.notify(message, title="almtui", severity="error", markup=False)
        self.switch_mode(self.start_screen)

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        try:
            self.service.stop()
        except Exception:
            log.exception("stopping the cluster service failed")

    def run_test(self, *args: Any, size: tuple[int, int] | None = None, **kwargs: Any) -> Any:
        """As App.run_test, defaulting to the size given to make_app."""
        return super().run_test(*args, size=size or self.default_size or (80, 24), **kwargs)

    # -- the service bridge ---------------------------------------------------------------------

    def _subscribe(self) -> None:
        self._unsubscribe = self.service.subscribe(self._on_service_change)

    def _on_service_change(self, changed: frozenset[str]) -> None:
        """Service thread: remember what changed, post one coalescable message."""
        with self._pending_lock:
            self._pending |= changed
        self.post_message(ClusterChanged())

    def on_cluster_changed(self, _message: ClusterChanged) -> None:
        with self._pending_lock:
            areas = frozenset(self._pending)
            self._pending.clear()
        if not areas:
            return
        screen = self._active_data_screen()
        if screen is None:
            return  # a modal or detail screen: the data screen catches up on resume
        if "freshness" in areas:
            screen.freshness_changed(self.service.freshness())
        screen.data_changed(areas)

    def _tick_freshness(self) -> None:
        screen = self._active_data_screen()
        state = self.service.freshness()
        if screen is not None and (not state.is_live or screen.live != state.is_live):
            screen.freshness_changed(state)

    def _tick_ages(self) -> None:
        screen = self._active_data_screen()
        if screen is not None:
            screen.tick(self.clock())

    def _active_data_screen(self) -> BaseScreen | None:
        """The active screen if it is a data screen; None under a dialog, and while shutting down
        (a ClusterChanged posted just before the exit arrives after the screens are gone)."""
        try:
            screen = self.screen
        except ScreenStackError:
            return None
        return screen if isinstance(screen, BaseScreen) else None

    # -- screens --------------------------------------------------------------------------------

    def show_screen(self, name: str) -> None:
        if name not in SCREEN_CLASSES:
            self.notify(f"no screen named {name!r}", severity="error", markup=False)
            return
        if self.current_mode != name:
            self.switch_mode(name)

    def action_show_screen(self, name: str) -> None:
        self.show_screen(name)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        screen = self.screen
        title = getattr(screen, "TITLE", "") or "Keys"
        self.push_screen(HelpScreen(keys.help_rows(screen), f"{title} keys"))

    def action_command_line(self) -> None:
        if isinstance(self.screen, CommandLine):
            return
        self.push_screen(CommandLine(suggestions(self)), self._command_entered)

    def _command_entered(self, line: str | None) -> None:
        if line:
            run_command(self, line)

    # -- themes ---------------------------------------------------------------------------------

    def set_theme(self, name: str) -> bool:
        """Switch theme; an unknown name is reported and the current theme kept."""
        if name not in self.available_themes:
            self.notify(f"unknown theme {name!r}; themes: {', '.join(sorted(self.available_themes))}",
                        title="Theme", severity="error", markup=False)
            return False
        self.theme = name
        return True

    def _theme_changed(self, _theme: Theme) -> None:
        self.palette = Palette.from_variables(self.get_css_variables())
        if isinstance(self.screen, BaseScreen):
            self.screen.theme_changed()
        for mode_screen in self._mode_screens():
            if mode_screen is not self.screen:
                mode_screen.theme_changed()

    def _mode_screens(self) -> list[BaseScreen]:
        return list(self.data_screens)

    # -- keys -----------------------------------------------------------------------------------

    def _apply_keymap(self) -> None:
        overrides = dict(getattr(self.config, "keys", None) or {})
        if not overrides:
            return
        known = keys.binding_ids([type(self), *_ui_screen_classes()])
        good, problems = keys.check_keymap(overrides, known)
        for p in problems:
            self.notify(p, title="Config", severity="warning", markup=False)
        self.set_keymap(good)

    # -- namespace and context ------------------------------------------------------------------

    def known_namespaces(self) -> list[str]:
        names = {str((o.get("metadata") or {}).get("name") or "") for o in self.service.objects("namespaces")}
        return sorted(n for n in names if n)

    def context_names(self) -> list[str]:
        return [c.name for c in self.kubeconfig.contexts] if self.kubeconfig is not None else []

    def set_namespace(self, namespace: str | None) -> None:
        """Show one namespace (None: all); builds a new service on the same connection."""
        if namespace == self.service.namespace:
            self.notify("already showing " + ("all namespaces" if namespace is None else f"namespace {namespace}"),
                        markup=False)
            return
        self._switch(self.service.context.name, namespace, same_connection=True)

    def set_context(self, name: str) -> None:
        """Switch to another kubeconfig context (its default namespace, or all if -A is on)."""
        if self.kubeconfig is None:
            self.notify("no kubeconfig: cannot switch context", severity="error", markup=False)
            return
        try:
            info = self.kubeconfig.context(name)
        except ConfigError as e:
            self.notify(str(e), title="Context", severity="error", markup=False)
            return
        namespace = None if self.service.namespace is None else info.namespace
        self._switch(info.name, namespace, same_connection=info.name == self.service.context.name)

    @work(thread=True, exclusive=True, group="switch", exit_on_error=False)
    def _switch(self, context: str, namespace: str | None, same_connection: bool) -> None:
        old = self.service
        try:
            if same_connection:
                conn = old.conn
            else:
                assert self.kubeconfig is not None
                conn = connect(self.kubeconfig, context, **self.connect_options)
            new = ClusterService(conn, namespace=namespace, read_only=old.read_only, clock=old.clock,
                                 environments=old.environments, pending_after=old.pending_after).start()
        except Exception as e:  # a bad context must not take the console down
            self.notify(f"cannot switch: {e}", title="Switch", severity="error", markup=False)
            return
        self.post_message(ServiceReady(new))
        try:
            old.stop()
            if old.conn is not new.conn:
                old.conn.close()
        except Exception:
            log.exception("stopping the previous service failed")

    def on_service_ready(self, message: ServiceReady) -> None:
        self._install_service(message.service)

    def _install_service(self, new: ClusterService) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self.service = new
        self._subscribe()
        where = "all namespaces" if new.namespace is None else f"namespace {new.namespace}"
        self.notify(f"context {new.context.name}, {where}", title="Switched", markup=False)
        for screen in self._mode_screens():
            screen.service_replaced()


def make_app(service: ClusterService, *, clock: Callable[[], float] | None = None, config: Any = None,
             size: tuple[int, int] | None = None, **kwargs: Any) -> AlmtuiApp:
    """The console for a started service (tests and entry points build it the same way)."""
    return AlmtuiApp(service, clock=clock, config=config, default_size=size, **kwargs)
