"""The environment promotion matrix: apps × environments, version and health per cell.

Why a cell cursor: promotion is about one cell (this version, in this environment) going to the
next environment, so the cursor picks the cell and `p` promotes it one step right. A marker after
the version says the next environment runs something else: "»" when the cell is healthy (it can
be promoted), "›" when it differs but this environment is not healthy yet.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.text import Text

from almtui.cluster import views as V
from almtui.ui.sanitize import sanitize
from almtui.ui.widgets.table import Cell, Col, ResourceTable

Badge = Callable[..., Text]

APP_WIDTH = 16
CELL_WIDTH = 16
PROMOTABLE = "»"
DIFFERS = "›"
LEGEND = f"{PROMOTABLE} next environment differs: p promotes   {DIFFERS} differs, but this one is not healthy"
PLURALS = {"Deployment": "deployments", "Rollout": "rollouts"}


def env_label(name: str, namespace: str) -> str:
    return name.upper() if name == namespace else f"{name.upper()} ({namespace})"


def matrix_columns(environments: Sequence[tuple[str, str]]) -> tuple[Col, ...]:
    """APP, then one column per configured environment (name, namespace)."""
    return (Col("app", "APP", width=APP_WIDTH, max_len=APP_WIDTH),
            *(Col(f"env:{n}", env_label(name, ns), width=CELL_WIDTH) for n, (name, ns) in enumerate(environments)))


def env_cell(cell: V.EnvCell | None, following: V.EnvCell | None, badge: Badge) -> Text:
    """"✓ 1.4.2 »": health symbol and version in the health's tone, then the promotion marker."""
    if cell is None:
        return Text("-", style="dim", end="")
    marker = ""
    if following is not None and following.differs:
        marker = PROMOTABLE if following.promotable else DIFFERS
    room = CELL_WIDTH - 2 - (len(marker) + 1 if marker else 0)
    text = badge(cell.health, label=sanitize(cell.version or "?", room, single_line=True))
    if marker:
        text.append(" " + marker, style="bold")
    return text


def matrix_row(view: V.EnvironmentView, badge: Badge) -> tuple[tuple[str], tuple[Cell, ...]]:
    cells = view.cells
    following = [*cells[1:], None]
    return view.key, (view.app, *(env_cell(c, f, badge) for c, f in zip(cells, following, strict=True)))


@dataclass(frozen=True)
class Promotion:
    """The selected cell and where `p` would take its version (target None: nowhere, see reason)."""

    app: str
    source: V.EnvCell | None
    target: V.EnvCell | None
    reason: str


def promotion_of(view: V.EnvironmentView, index: int | None) -> Promotion:
    """What promoting the cell at environment `index` of `view` means, or why it cannot be done."""
    if index is None or not 0 <= index < len(view.cells):
        return Promotion(view.app, None, None, "select an environment cell (← →) to promote its version")
    source = view.cells[index]
    env = view.environments[index]
    if source is None:
        return Promotion(view.app, None, None, f"{view.app} is not deployed in {env}")
    if index + 1 >= len(view.cells):
        return Promotion(view.app, source, None, f"{env} is the last environment: nothing to promote into")
    target = view.cells[index + 1]
    if target is None:
        return Promotion(view.app, source, None,
                         f"{view.app} is not deployed in {view.environments[index + 1]}: nothing to promote into")
    return Promotion(view.app, source, target, "")


def cell_summary(view: V.EnvironmentView | None, index: int | None, empty: str) -> Text:
    """Two lines under the matrix: the selected cell's workload and image, then what `p` would do."""
    if view is None:
        return Text(sanitize(empty, single_line=True), style="dim", end="")
    promo = promotion_of(view, index)
    cell = promo.source
    if cell is None:
        first = f"{view.app}: " + " · ".join(
            f"{env} {c.version if c else '-'}" for env, c in zip(view.environments, view.cells, strict=True))
    else:
        first = f"{view.app} in {cell.environment}: {cell.kind} {cell.namespace}/{cell.name} · {cell.image} · " \
                f"{cell.health}"
    if promo.target is not None and cell is not None:
        target = promo.target
        if target.version == cell.version:
            second = f"{target.environment} already runs {cell.version}"
        else:
            second = f"p promotes {cell.version} to {target.environment} (now {target.version})"
            if cell.health != "Healthy":
                second += f"; {cell.environment} is {cell.health}"
    else:
        second = promo.reason
    return Text.assemble((sanitize(first, 300, single_line=True), "bold"), "\n",
                         sanitize(second, 300, single_line=True), end="", no_wrap=True, overflow="ellipsis")


class EnvMatrix(ResourceTable):
    """A ResourceTable with a cell cursor; `selected_index` is the environment under the cursor."""

    def __init__(self, environments: Sequence[tuple[str, str]], *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(matrix_columns(environments), id=id, classes=classes)
        self.environments = tuple(environments)
        self.cursor_type = "cell"

    @property
    def selected_index(self) -> int | None:
        """The environment index under the cursor (None: the APP column or no rows)."""
        column = self.cursor_column
        return column - 1 if 1 <= column <= len(self.environments) else None
