"""Argo CD Applications as table rows and a summary line, like `argocd app list` / `app get`.

Why the AUTO column and the summary's rollback note: with auto-sync on, Argo CD reverts direct
edits and refuses `app rollback`, so an operator must see the policy before pressing a key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text

from almtui.cluster import views as V
from almtui.ui.sanitize import sanitize
from almtui.ui.widgets.table import Cell, Col

Badge = Callable[..., Text]

APP_COLUMNS = (
    Col("name", "APP", width=20, max_len=20),
    Col("sync", "SYNC", width=11),
    Col("health", "HEALTH", width=13),
    Col("auto", "AUTO", width=4),
    Col("last", "SYNCED", width=6, age=True, justify="right"),
    Col("revision", "REV", width=7, max_len=7),
    Col("operation", "OPERATION", max_len=120),
    Col("namespace", "NAMESPACE", max_len=40),
)


def short_rev(revision: str) -> str:
    """A git SHA shortened as Argo CD's UI does; anything else (a tag, a chart version) as is."""
    return revision[:7] if len(revision) == 40 and all(c in "0123456789abcdef" for c in revision) else revision


def operation_text(app: V.ApplicationView) -> str:
    if not app.operation_phase:
        return "-"
    return f"{app.operation_phase}: {app.operation_message}" if app.operation_message else app.operation_phase


def app_row(app: V.ApplicationView, badge: Badge) -> tuple[Any, tuple[Cell, ...]]:
    return app.key, (app.name, badge(app.sync_status), badge(app.health_status), "auto" if app.auto_sync else "-",
                     app.last_sync_age, short_rev(app.revision), operation_text(app), app.namespace)


def app_summary(app: V.ApplicationView | None, empty: str = "No Argo CD Applications") -> Text:
    """Two lines under the table: source and destination, then the last operation and health note."""
    if app is None:
        return Text(sanitize(empty, single_line=True), style="dim", end="")
    policy = "auto-sync" + (" +self-heal" if app.self_heal else "") + (" +prune" if app.prune else "") \
        if app.auto_sync else "manual sync"
    first = (f"{app.namespace}/{app.name} → {app.destination_namespace or '-'} · {app.path or '-'}@"
             f"{app.target_revision} · {policy}")
    notes = [f"operation {operation_text(app)}"]
    if app.health_message:
        notes.append(f"health: {app.health_message}")
    if app.auto_sync:
        notes.append("rollback refused while auto-sync is on")
    elif app.history:
        notes.append(f"history {', '.join(str(h.id) for h in app.history[-5:])}")
    return Text.assemble((sanitize(first, 300, single_line=True), "bold"), "\n",
                         sanitize(" · ".join(notes), 300, single_line=True), end="", no_wrap=True,
                         overflow="ellipsis")
