"""`l`: the last lines of one pod's log, with its container and the previous instance a key away.

Why Textual's `Log` widget: it renders only the visible lines (a virtual ScrollView with a line
cache), takes plain strings (never markup: each line becomes a `Text`), and replaces a bare ESC.
That is not enough for hostile log lines (C1 controls, bidi overrides, other C0 controls), so
every line is run through the console's sanitiser first. Reading the log is a worker (one request,
`service.pod_log`); the screen never blocks on a slow link.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Log, OptionList, Static
from textual.widgets.option_list import Option

from almtui.ui.sanitize import sanitize
from almtui.ui.widgets.keybar import KeyBar

if TYPE_CHECKING:
    from almtui.cluster.service import ClusterService

DEFAULT_TAIL = 500
MAX_LINE = 4000  # characters shown per line (a 1 MB line must not stall the terminal)
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"


def clean_lines(lines: list[str]) -> list[str]:
    """Each raw log line made safe to show: controls visible, overlong lines cut."""
    return [sanitize(line, MAX_LINE, single_line=False).replace("\n", "\\n") for line in lines]


def pod_containers(pod: dict | None) -> tuple[list[str], str | None]:
    """(container names, the default one as kubectl picks it: the annotation, else the first)."""
    if not pod:
        return [], None
    spec = pod.get("spec") or {}
    names = [str(c.get("name")) for lst in ("containers", "initContainers", "ephemeralContainers")
             for c in spec.get(lst) or () if c.get("name")]
    wanted = ((pod.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CONTAINER)
    default = wanted if wanted in names else (names[0] if names else None)
    return names, default


class ContainerPicker(ModalScreen[str | None]):
    """Pick one container of the pod (enter), or keep the current one (escape)."""

    DEFAULT_CSS = """
    ContainerPicker { align: center middle; }
    #container-list { width: 60; max-width: 100%; height: auto; max-height: 80%;
                      border: round $primary; background: $surface; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close", show=False)]

    def __init__(self, names: list[str], current: str | None) -> None:
        super().__init__(id="container-picker")
        self.names, self.current = names, current

    def compose(self) -> ComposeResult:
        options = [Option(Content(sanitize(n, 60, single_line=True) + ("  (shown)" if n == self.current else "")),
                          id=str(i)) for i, n in enumerate(self.names)]
        picker = OptionList(*options, id="container-list")
        picker.border_title = "Container"
        yield picker

    def on_mount(self) -> None:
        picker = self.query_one(OptionList)
        if self.current in self.names:
            picker.highlighted = self.names.index(self.current)
        picker.focus()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.names[int(event.option.id or 0)])

    def action_close(self) -> None:
        self.dismiss(None)


class LogScreen(Screen[None]):
    """The log of one pod (one container); `p` toggles the previous instance, `r` reads it again."""

    TITLE: ClassVar[str] = "Logs"
    DEFAULT_CSS = """
    LogScreen #log-title { height: 1; background: $panel; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    LogScreen #log-view { height: 1fr; scrollbar-size-vertical: 1; }
    LogScreen #log-status { height: 1; padding: 0 1; color: $text-muted; text-wrap: nowrap; text-overflow: ellipsis; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="log.close", tooltip="Back to the screen you came from"),
        Binding("p", "toggle_previous", "Previous", id="log.previous",
                tooltip="The previous (terminated) instance of the container"),
        Binding("r", "refresh", "Refresh", id="log.refresh", tooltip="Read the log again"),
        Binding("c", "pick_container", "Container", id="log.container", tooltip="Show another container"),
        Binding("g,home", "top", "Top", show=False, id="log.top"),
        Binding("G,end", "bottom", "Bottom", show=False, id="log.bottom"),
    ]

    def __init__(self, namespace: str, pod: str, container: str | None = None, *, tail: int = DEFAULT_TAIL) -> None:
        super().__init__(id="logs")
        self.namespace, self.pod, self.container = namespace, pod, container
        self.tail = tail
        self.previous = False
        self.containers: list[str] = []
        self.lines: list[str] = []  # what is shown (sanitised)
        self.loading = False

    @property
    def service(self) -> ClusterService:
        return self.app.service  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("", id="log-title")
            yield Log(id="log-view", highlight=False, auto_scroll=True)
            yield Static("", id="log-status")
        yield KeyBar(id="keybar")

    def on_mount(self) -> None:
        names, default = pod_containers(self.service.get("pods", self.namespace, self.pod))
        self.containers = names
        if self.container is None or (names and self.container not in names):
            self.container = default
        self.query_one(Log).focus()
        self._title()
        self.load()

    def _title(self) -> None:
        parts = [f"Logs {sanitize(self.namespace, 63, single_line=True)}/{sanitize(self.pod, 253, single_line=True)}"]
        if self.container:
            which = sanitize(self.container, 63, single_line=True)
            if len(self.containers) > 1:
                which += f" ({self.containers.index(self.container) + 1} of {len(self.containers)}, c picks)" \
                    if self.container in self.containers else ""
            parts.append(f"container {which}")
        parts.append("PREVIOUS instance" if self.previous else "current instance")
        parts.append(f"last {self.tail} lines")
        self.query_one("#log-title", Static).update(Content(" · ".join(parts)))

    def load(self) -> None:
        self.loading = True
        self.query_one("#log-status", Static).update("reading the log…")
        self._read(self.namespace, self.pod, self.container, self.tail, self.previous)

    @work(thread=True, exclusive=True, group="log", exit_on_error=False)
    def _read(self, namespace: str, pod: str, container: str | None, tail: int, previous: bool) -> None:
        try:
            raw = self.service.pod_log(namespace, pod, container, tail=tail, previous=previous)
        except Exception as e:  # pod_log answers errors as a line; anything else is said the same way
            raw = [f"(log unavailable: {type(e).__name__}: {e})"]
        self.app.call_from_thread(self._show, clean_lines(raw))

    def _show(self, lines: list[str]) -> None:
        self.loading = False
        self.lines = lines
        log = self.query_one(Log)
        log.clear()
        log.write_lines(lines or ["(no log lines)"])
        log.scroll_end(animate=False)
        self.query_one("#log-status", Static).update(
            f"{len(lines)} line{'s' if len(lines) != 1 else ''}; p previous instance · r refresh · esc back")

    # -- keys ---------------------------------------------------------------------------------

    def action_close(self) -> None:
        self.dismiss(None)

    def action_toggle_previous(self) -> None:
        self.previous = not self.previous
        self._title()
        self.load()

    def action_refresh(self) -> None:
        self.load()

    def action_pick_container(self) -> None:
        if len(self.containers) < 2:
            self.app.notify("this pod has one container", title="Logs")
            return
        self.app.push_screen(ContainerPicker(self.containers, self.container), self._picked)

    def _picked(self, name: str | None) -> None:
        if name and name != self.container:
            self.container = name
            self._title()
            self.load()

    def action_top(self) -> None:
        self.query_one(Log).scroll_home(animate=False)

    def action_bottom(self) -> None:
        self.query_one(Log).scroll_end(animate=False)
