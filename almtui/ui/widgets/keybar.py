"""A one-line key bar that puts the essential keys first, so 80 columns never hide them.

Why not Textual's Footer: it lays keys out in binding order and scrolls off the right edge on a
narrow terminal. Here help, command, filter, screens and quit come first, then the screen's own
keys; what does not fit is dropped from the end ("?" lists everything). Keys the screen marked
unavailable (read-only, RBAC: `keys.disabled_keys`) stay listed but dimmed and struck through; "?"
gives the reason, and pressing one explains it.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.content import Content
from textual.widgets import Static

from almtui.ui.keys import KEYBAR_ORDER, SCREEN_NAMES, disabled_keys
from almtui.ui.widgets.static_update import update_static


class KeyBar(Static):
    """Renders the active bindings of its screen; refreshes when they change (focus, keymap)."""

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._changed)
        self._changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _changed(self, _screen: object) -> None:
        update_static(self, self.build())

    def build(self) -> Content:
        app = self.app
        shown: dict[str, Binding] = {}
        screen_keys: dict[str, str] = {}
        extra: list[Binding] = []
        for active in self.screen.active_bindings.values():
            b = active.binding
            if b.id and b.id.startswith("screen.") and b.id[7:] in SCREEN_NAMES:
                screen_keys[b.id[7:]] = app.get_key_display(b)
            elif b.show and b.description:
                if b.id in KEYBAR_ORDER:
                    shown[b.id] = b
                else:
                    extra.append(b)
        disabled = disabled_keys(self.screen)
        items: list[tuple[str, str, bool]] = []
        for binding_id in KEYBAR_ORDER:
            if binding_id == "quit" and screen_keys:
                items.append((_screen_range(screen_keys), "screens", False))
            b = shown.get(binding_id)
            if b is not None:
                items.append((app.get_key_display(b), b.description.lower(), False))
        items.extend((app.get_key_display(b), b.description.lower(), bool(b.id) and b.id in disabled)
                     for b in extra)
        parts: list[Content] = []
        for key, description, off in items:
            if off:
                parts.append(Content.assemble((f" {key} ", "$text-disabled"), (description, "$text-disabled strike"),
                                              " "))
            else:
                parts.append(Content.assemble((f" {key} ", "$footer-key-foreground bold"), (description, ""), " "))
        return Content("").join(parts)


def _screen_range(keys: dict[str, str]) -> str:
    ordered = [keys[n] for n in SCREEN_NAMES if n in keys]
    if ordered == [str(i) for i in range(1, len(ordered) + 1)]:
        return f"1-{len(ordered)}"
    return "/".join(ordered)
