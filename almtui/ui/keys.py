"""Key bindings: stable ids, defaults, user overrides from config, and the `?` help listing.

Why ids: operators remap keys (`keys: {quit: ctrl+q}` in config.yaml) without us knowing which
keys their terminal or tmux swallows. Every binding we define has an id; Textual's keymap
(`App.set_keymap`) swaps the key wherever that id is bound, on the app or on any screen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from textual.binding import Binding
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import DataTable


@dataclass(frozen=True)
class KeyDef:
    """One binding: its id (for config overrides), default key(s), action and help text."""

    id: str
    key: str
    action: str
    description: str
    show: bool = True
    priority: bool = False
    key_display: str | None = None

    def binding(self) -> Binding:
        return Binding(self.key, self.action, self.description, show=self.show, priority=self.priority,
                       id=self.id, key_display=self.key_display, tooltip=self.description)


SCREEN_NAMES = ("pipelines", "rollouts", "health", "autoscalers")

# App-wide keys. Screen switching is not shown in the key bar item by item ("1-4 screens" is).
GLOBAL_KEYS: tuple[KeyDef, ...] = (
    KeyDef("screen.pipelines", "1", "app.show_screen('pipelines')", "Pipelines", show=False),
    KeyDef("screen.rollouts", "2", "app.show_screen('rollouts')", "Rollouts", show=False),
    KeyDef("screen.health", "3", "app.show_screen('health')", "Health", show=False),
    KeyDef("screen.autoscalers", "4", "app.show_screen('autoscalers')", "Autoscalers", show=False),
    KeyDef("help", "question_mark", "app.help", "Help", key_display="?"),
    KeyDef("command", "colon", "app.command_line", "Command", key_display=":"),
    KeyDef("quit", "q", "app.quit", "Quit"),
    KeyDef("palette", "ctrl+p", "app.command_palette", "Palette", show=False, priority=True),
)

# Keys every data screen has (screens/base.py).
SCREEN_KEYS: tuple[KeyDef, ...] = (
    KeyDef("filter", "slash", "filter", "Filter", key_display="/"),
    KeyDef("filter.clear", "escape", "clear_filter", "Clear filter", show=False),
)

# Order in the key bar: essential keys first, so a narrow terminal cuts only the rest.
KEYBAR_ORDER = ("help", "command", "filter", "quit")


def bindings(defs: Iterable[KeyDef]) -> list[Binding]:
    return [d.binding() for d in defs]


def binding_ids(nodes: Iterable[type[DOMNode]]) -> set[str]:
    """Every binding id defined by these classes (and their bases)."""
    ids: set[str] = set()
    for cls in nodes:
        for klass in cls.__mro__:
            for b in vars(klass).get("BINDINGS", ()):
                if isinstance(b, Binding) and b.id:
                    ids.add(b.id)
    return ids


def check_keymap(keymap: Mapping[str, str], known: set[str]) -> tuple[dict[str, str], list[str]]:
    """(the overrides for known ids, a warning per unknown id)."""
    good: dict[str, str] = {}
    problems: list[str] = []
    for binding_id, keys in keymap.items():
        if binding_id in known:
            good[binding_id] = keys
        else:
            problems.append(f"keys: unknown binding id {binding_id!r} (known: {', '.join(sorted(known))})")
    return good, problems


@dataclass(frozen=True)
class HelpRow:
    section: str
    key: str
    description: str
    binding_id: str


def help_rows(screen: Screen) -> list[HelpRow]:
    """Every binding active on `screen` (its own, the app's and the focused widget's), grouped.

    Sections, most useful first: the screen's own keys, almtui's global keys, the focused
    table's keys, then Textual's generic ones (focus movement, copy, ctrl+q).
    """
    app = screen.app
    rows: list[tuple[int, HelpRow]] = []
    seen: set[tuple[str, str]] = set()
    screen_title = getattr(screen, "TITLE", "") or type(screen).__name__
    for active in screen.active_bindings.values():
        b = active.binding
        if not b.description:
            continue
        node = active.node
        if (node is app or node is screen) and not b.id:
            order, section = 3, "General"
        elif node is app:
            order, section = 1, "Global"
        elif node is screen:
            order, section = 0, screen_title
        else:
            order, section = 2, "Table" if isinstance(node, DataTable) else type(node).__name__
        key = app.get_key_display(b)
        if (section, b.description) in seen:
            continue
        seen.add((section, b.description))
        rows.append((order, HelpRow(section, key, b.description, b.id or "")))
    rows.sort(key=lambda r: r[0])  # stable: keeps definition order within a section
    return [r for _, r in rows]
