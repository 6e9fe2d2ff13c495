"""The `:` command line (k9s style) and the ctrl+p palette provider.

Commands: `ctx NAME`, `ns NAME|all`, `theme NAME`, a screen name (`pipelines`, `rollouts`,
`health`, `autoscalers`, `advice`, with short aliases), `help`, `quit`. Both the command line and the
palette call the same app methods; errors are notifications, never exceptions. Cluster-sourced
names (contexts, namespaces) are shown as plain Content, never markup.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal
from textual.content import Content
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Static

from almtui.ui.sanitize import sanitize

if TYPE_CHECKING:
    from almtui.ui.app import AlmtuiApp

SCREENS: dict[str, str] = {
    "pipelines": "Pipelines", "rollouts": "Rollouts", "health": "Health", "autoscalers": "Autoscalers",
    "advice": "Advice",
}
ALIASES: dict[str, str] = {
    "pipelines": "pipelines", "pipeline": "pipelines", "pipelineruns": "pipelines", "pr": "pipelines",
    "pl": "pipelines",
    "rollouts": "rollouts", "rollout": "rollouts", "ro": "rollouts", "deployments": "rollouts",
    "deploy": "rollouts", "dp": "rollouts",
    "health": "health", "nodes": "health", "node": "health", "no": "health", "pods": "health",
    "autoscalers": "autoscalers", "autoscaler": "autoscalers", "hpa": "autoscalers", "hpas": "autoscalers",
    "advice": "advice", "sizing": "advice", "rightsizing": "advice", "preflight": "advice",
}
ALL_NAMESPACES = ("all", "-A", "*", "--all-namespaces")
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


@dataclass(frozen=True)
class Command:
    verb: str
    arg: str = ""


def parse(line: str) -> Command:
    """":ns prod" -> Command("ns", "prod"); the leading colon is optional."""
    words = line.strip().lstrip(":").split(None, 1)
    if not words:
        return Command("")
    return Command(words[0].lower(), words[1].strip() if len(words) > 1 else "")


def run_command(app: AlmtuiApp, line: str) -> bool:
    """Run one command line; False (after an error notification) when it is not understood."""
    cmd = parse(line)
    if not cmd.verb:
        return True
    if cmd.verb in ("q", "quit", "exit", "q!"):
        app.exit()
        return True
    if cmd.verb in ("help", "h"):
        app.action_help()
        return True
    if cmd.verb in ALIASES and not cmd.arg:
        app.show_screen(ALIASES[cmd.verb])
        return True
    if cmd.verb in ("ns", "namespace"):
        if not cmd.arg:
            return _error(app, "usage: ns NAME | ns all")
        if cmd.arg in ALL_NAMESPACES:
            app.set_namespace(None)
            return True
        if len(cmd.arg) > 63 or not _NAMESPACE.fullmatch(cmd.arg):
            return _error(app, f"not a namespace name: {sanitize(cmd.arg, 70, single_line=True)}")
        app.set_namespace(cmd.arg)
        return True
    if cmd.verb in ("ctx", "context"):
        if not cmd.arg:
            return _error(app, "usage: ctx NAME (contexts: " + ", ".join(app.context_names()) + ")")
        app.set_context(cmd.arg)
        return True
    if cmd.verb in ("theme", "skin"):
        if not cmd.arg:
            return _error(app, "usage: theme NAME (themes: " + ", ".join(sorted(app.available_themes)) + ")")
        app.set_theme(cmd.arg)
        return True
    return _error(app, f"unknown command: {sanitize(cmd.verb, 40, single_line=True)} "
                       "(try ns, ctx, theme, pipelines, rollouts, health, autoscalers, advice, quit)")


def _error(app: AlmtuiApp, message: str) -> bool:
    app.notify(message, title="Command", severity="error", markup=False)
    return False


def suggestions(app: AlmtuiApp) -> list[str]:
    """Complete command lines for the input's inline suggestion, most useful first."""
    out = list(SCREENS)
    out += ["ns all", *(f"ns {n}" for n in app.known_namespaces())]
    out += [f"ctx {c}" for c in app.context_names()]
    out += [f"theme {t}" for t in sorted(app.available_themes)]
    out += ["help", "quit"]
    return out


class CommandLine(ModalScreen[str | None]):
    """A one-line input docked at the bottom; Enter returns the text, Escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", show=False)]

    def __init__(self, suggest: Iterable[str] = ()) -> None:
        super().__init__(id="command-line")
        self._suggest = list(suggest)

    def compose(self) -> ComposeResult:
        with Horizontal(id="command-bar"):
            yield Static(":", id="command-prompt")
            yield Input(id="command-input", placeholder="ns NAME|all · ctx NAME · theme NAME · pipelines …",
                        suggester=SuggestFromList(self._suggest, case_sensitive=False), select_on_focus=False)

    def on_mount(self) -> None:
        self.query_one(Input).cursor_blink = False
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


def _hit_display(text: str) -> Content:
    return Content(sanitize(text, 80, single_line=True))


class AlmtuiCommands(Provider):
    """Palette entries: screens, namespaces, contexts, themes, help and quit."""

    def _commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        app: AlmtuiApp = self.app  # type: ignore[assignment]
        cmds: list[tuple[str, Callable[[], Any], str]] = []
        for n, (name, title) in enumerate(SCREENS.items(), 1):
            cmds.append((f"Screen: {title}", partial(app.show_screen, name), f"Switch to the {title} screen ({n})"))
        cmds.append(("Namespace: all namespaces", partial(app.set_namespace, None), "Watch every namespace"))
        for ns in app.known_namespaces():
            cmds.append((f"Namespace: {ns}", partial(app.set_namespace, ns), "Show only this namespace"))
        for ctx in app.context_names():
            cmds.append((f"Context: {ctx}", partial(app.set_context, ctx), "Switch to this kubeconfig context"))
        for theme in sorted(app.available_themes):
            cmds.append((f"Theme: {theme}", partial(app.set_theme, theme), "Use this colour theme"))
        cmds.append(("Help: keys of this screen", app.action_help, "List every key binding"))
        cmds.append(("Quit almtui", app.exit, "Leave the console"))
        return cmds

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            if name.startswith(("Screen:", "Namespace: all", "Help", "Quit")):
                yield DiscoveryHit(_hit_display(name), callback, text=name, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                shown = _hit_display(name)
                _, offsets = matcher.fuzzy_search.match(matcher.query, shown.plain)
                for offset in offsets:
                    shown = shown.stylize("bold underline", offset, offset + 1)
                yield Hit(score, shown, callback, text=name, help=help_text)
