"""`?`: every key binding of the screen it was opened from, grouped (screen, table, global)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from almtui.ui.keys import HelpRow


class HelpScreen(ModalScreen[None]):
    """A scrollable list of (key, description) per section; Escape, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close", show=False),
        Binding("j", "scroll(1)", "Down", show=False),
        Binding("k", "scroll(-1)", "Up", show=False),
    ]

    def __init__(self, rows: Sequence[HelpRow], title: str = "Keys") -> None:
        super().__init__(id="help")
        self.rows = list(rows)
        self.title_text = title

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            box.border_title = f"{self.title_text} · Esc closes"
            yield Static(self.render_rows(), id="help-text")

    def render_rows(self) -> Content:
        width = max((len(r.key) for r in self.rows), default=1)
        lines: list[Content] = []
        section = None
        for row in self.rows:
            if row.section != section:
                if section is not None:
                    lines.append(Content(""))
                section = row.section
                lines.append(Content.styled(section, "bold $text-accent"))
            lines.append(Content.assemble((f"  {row.key:<{width}}  ", "bold $text-primary"), row.description))
        return Content("\n").join(lines)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_scroll(self, lines: int) -> None:
        self.query_one("#help-box", VerticalScroll).scroll_relative(y=lines, animate=False)
