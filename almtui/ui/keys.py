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

from almtui.ui.sanitize import sanitize


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


SCREEN_NAMES = ("pipelines", "rollouts", "health", "autoscalers", "advice")

# App-wide keys. Screen switching is not shown in the key bar item by item ("1-4 screens" is).
GLOBAL_KEYS: tuple[KeyDef, ...] = (
    KeyDef("screen.pipelines", "1", "app.show_screen('pipelines')", "Pipelines", show=False),
    KeyDef("screen.rollouts", "2", "app.show_screen('rollouts')", "Rollouts", show=False),
    KeyDef("screen.health", "3", "app.show_screen('health')", "Health", show=False),
    KeyDef("screen.autoscalers", "4", "app.show_screen('autoscalers')", "Autoscalers", show=False),
    KeyDef("screen.advice", "5", "app.show_screen('advice')", "Advice", show=False),
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

# Pipelines (screen 1). The part-specific keys are shown only on their part (runs, apps, environments);
# the action keys are what 80 columns show; enter (detail) and tab (the tab bar) are listed in `?` help.
PIPELINES_KEYS: tuple[KeyDef, ...] = (
    KeyDef("pipelines.rerun", "r", "rerun", "Rerun"),
    KeyDef("pipelines.cancel", "x", "cancel_run", "Cancel"),
    KeyDef("pipelines.logs", "l", "logs", "Logs"),
    KeyDef("pipelines.sync", "y", "sync", "Sync"),
    KeyDef("pipelines.rollback", "b", "rollback", "Rollback"),
    KeyDef("pipelines.promote", "p", "promote", "Promote"),
    KeyDef("pipelines.detail", "enter", "detail", "Run detail", show=False, priority=True, key_display="enter"),
    KeyDef("pipelines.next_part", "tab", "next_part", "Next part (runs, apps, environments)", show=False,
           key_display="tab"),
    KeyDef("pipelines.prev_part", "shift+tab", "prev_part", "Previous part", show=False),
)
# The run detail pushed by `enter`: same ids as on the list, so one override moves both.
PIPELINE_DETAIL_KEYS: tuple[KeyDef, ...] = (
    KeyDef("pipelines.rerun", "r", "rerun", "Rerun"),
    KeyDef("pipelines.cancel", "x", "cancel_run", "Cancel"),
    KeyDef("pipelines.logs", "l", "logs", "Logs"),
    KeyDef("pipelines.back", "escape", "back", "Back", key_display="esc"),
)

# Rollouts (2): the list and the detail pushed by `enter` share these ids, so one override moves
# both. Roll back first: it is the key an operator reaches for when a release goes bad.
ROLLOUT_KEYS: tuple[KeyDef, ...] = (
    KeyDef("rollouts.open", "enter", "open", "Details", show=False, priority=True, key_display="enter"),
    KeyDef("rollouts.undo", "u", "undo", "Roll back"),
    KeyDef("rollouts.deploy", "d", "deploy", "Deploy"),
    KeyDef("rollouts.promote", "p", "promote", "Promote"),
    KeyDef("rollouts.promote_full", "P", "promote_full", "Promote full"),
    KeyDef("rollouts.abort", "a", "abort", "Abort"),
    KeyDef("rollouts.retry", "t", "retry", "Retry"),
    KeyDef("rollouts.pause", "space", "pause_resume", "Pause/resume", key_display="space"),
    KeyDef("rollouts.undo_to", "U", "undo_to", "Roll back to…"),
    KeyDef("rollouts.restart", "R", "restart", "Restart"),
    KeyDef("rollouts.scale", "s", "scale", "Scale"),
    KeyDef("rollouts.logs", "l", "logs", "Logs"),
)
ROLLOUT_DETAIL_KEYS: tuple[KeyDef, ...] = (
    KeyDef("rollouts.back", "escape", "back", "Back", key_display="esc"),
)

# Health (3): read-only; enter or l opens the log of the failing pod (or Pod warning) under the cursor;
# enter on a node lists its pods.
HEALTH_KEYS: tuple[KeyDef, ...] = (
    KeyDef("health.open", "enter", "open", "Open", show=False),
    KeyDef("health.logs", "l", "logs", "Logs"),
)
# The pods of a node (enter on a node): their logs; escape goes back.
HEALTH_NODE_PODS_KEYS: tuple[KeyDef, ...] = (
    KeyDef("health.pods.close", "escape", "close", "Close", key_display="esc"),
    KeyDef("health.pods.logs", "l", "logs", "Logs"),
)

# Autoscalers (4): edit the selected HPA's policy (validated form with a what-if, then confirm).
AUTOSCALERS_KEYS: tuple[KeyDef, ...] = (
    KeyDef("autoscalers.edit", "e", "edit", "Edit policy"),
)

# Advice (5): apply the selected workload's right-sizing recommendation; poll usage now.
ADVICE_KEYS: tuple[KeyDef, ...] = (
    KeyDef("advice.apply", "a", "apply", "Apply advice"),
    KeyDef("advice.refresh", "r", "refresh", "Refresh usage"),
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


def disabled_keys(screen: DOMNode) -> Mapping[str, str]:
    """Binding ids the screen marks unavailable (read-only, RBAC) -> why; the key bar dims them and
    help lists the reason. Screens set them with `app.actions.mark_disabled` (ui/actions.py)."""
    marked = getattr(screen, "disabled_keys", None)
    return marked if isinstance(marked, Mapping) else {}


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
    disabled = disabled_keys(screen)
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
        description = b.description
        if b.id and b.id in disabled:
            description += f" (unavailable: {sanitize(disabled[b.id], 160, single_line=True)})"
        rows.append((order, HelpRow(section, key, description, b.id or "")))
    rows.sort(key=lambda r: r[0])  # stable: keeps definition order within a section
    return [r for _, r in rows]
