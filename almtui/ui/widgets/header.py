"""The one-line header: where you are (context, namespace, screen) and how fresh the data is.

Why always visible: an operator on a flaky edge link must never mistake old data for live
data, or act on the wrong cluster. The freshness badge (LIVE / STALE 42s / OFFLINE / AUTH
EXPIRED) and the READ-ONLY badge are docked right and never truncated; the context and
namespace give way first. No wall clock here (it would repaint every second for nothing).
"""

from __future__ import annotations

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Static

from almtui.cluster.freshness import FreshnessState
from almtui.ui.sanitize import sanitize
from almtui.ui.status import FRESHNESS_TONES, css_class, freshness_label

_TONE_CLASSES = tuple(css_class(t) for t in set(FRESHNESS_TONES.values()))


class AppHeader(Horizontal):
    """Context, namespace and screen title on the left; freshness and read-only badges on the right."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._where = ""
        self._fresh = ""
        self._location: tuple[str, str | None, str] = ("", None, "")

    def compose(self) -> ComposeResult:
        yield Static("almtui", id="hdr-brand")
        yield Static("", id="hdr-where")
        yield Static("", id="hdr-fresh")
        yield Static("READ-ONLY", id="hdr-ro")
        yield Static("TLS UNVERIFIED", id="hdr-insecure")

    def set_location(self, context: str, namespace: str | None, title: str) -> None:
        """"Rollouts 12 │ ns prod │ ctx NAME": the context gives way first on a narrow terminal.

        Context and namespace are cluster-sourced strings: sanitised, shown as plain content.
        """
        self._location = (context, namespace, title)
        self._render_where()

    def on_resize(self) -> None:
        self.call_after_refresh(self._render_where)  # once the children have their new sizes

    def _render_where(self) -> None:
        context, namespace, title = self._location
        ns = "all namespaces" if namespace is None else sanitize(namespace, 63, single_line=True)
        head = f"{title} │ ns {ns} │ ctx "
        width = self.query_one("#hdr-where", Static).size.width
        room = max(12, width - cell_len(head)) if width else 64
        where = head + sanitize(context, room, single_line=True)
        if where != self._where:
            self._where = where
            self.query_one("#hdr-where", Static).update(Content(where))
            self.query_one("#hdr-where", Static).tooltip = sanitize(context, 300, single_line=True)

    def set_read_only(self, read_only: bool) -> None:
        self.query_one("#hdr-ro", Static).display = read_only

    def set_insecure(self, insecure: bool) -> None:
        """The kubeconfig says insecure-skip-tls-verify: the server's identity is not checked."""
        badge = self.query_one("#hdr-insecure", Static)
        badge.display = insecure
        badge.tooltip = "insecure-skip-tls-verify: the API server's certificate is not verified" if insecure else None

    def set_freshness(self, state: FreshnessState, now: float) -> None:
        """Repaints only when the label changes (a STALE age ticks once per second at most)."""
        label = freshness_label(state, now)
        if label == self._fresh:
            return
        self._fresh = label
        badge = self.query_one("#hdr-fresh", Static)
        badge.update(Content(label))
        badge.remove_class(*_TONE_CLASSES)
        badge.add_class(css_class(FRESHNESS_TONES[state.state]))
        badge.tooltip = sanitize(state.error, 300) if state.error else None

    @property
    def freshness_text(self) -> str:
        return self._fresh
