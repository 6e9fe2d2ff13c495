"""The revision tree of one Deployment or Rollout, as `kubectl argo rollouts get rollout --watch` draws it.

    ⟳ checkout                              ‖ Paused       3/2
    ├──# revision:2
    │  └──⧉ checkout-6d4f8b9c7  canary      ✓ Healthy      1/1
    │     └──□ checkout-6d4f8b9c7-x2v9q     ✓ Running      1/1   0
    └──# revision:1
       └──⧉ checkout-5b7c6d8f9  stable      ✓ Healthy      2/2

Why a table and not a Tree widget: every node is one row keyed by what it is (revision, ReplicaSet
or pod name), so a watch event updates only the cells that changed (ResourceTable diffs in
place), the cursor stays on its pod while pods come and go, and ages tick by themselves.
The ReplicaSet's role (stable, canary, active, preview) sits next to its name so it survives
80 columns; the INFO column (images, nodes) appears when there is room.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from itertools import groupby

from rich.text import Text

from almtui.cluster import views as V
from almtui.ui.sanitize import sanitize
from almtui.ui.widgets.rollout_table import PAD, SCROLLBAR
from almtui.ui.widgets.table import Col, ResourceTable

ROLLOUT, REVISION, REPLICASET, POD = "⟳", "#", "⧉", "□"
BRANCH, LAST, PIPE, BLANK = "├──", "└──", "│  ", "   "
INFO_MIN = 12

Badge = Callable[..., Text]
Row = tuple[Hashable, tuple[object, ...]]


def tree_columns(width: int) -> tuple[Col, ...]:
    """NAME takes what the fixed columns leave; INFO (images, node) only when it gets INFO_MIN cells."""
    room = max(40, width - SCROLLBAR)
    fixed = [
        Col("status", "STATUS", width=16 if room >= 100 else 14),
        Col("ready", "READY", width=5, justify="right"),
        Col("restarts", "RST", width=3, justify="right"),
        Col("age", "AGE", width=4, age=True, justify="right"),
    ]
    used = sum((c.width or 0) + PAD for c in fixed) + PAD
    name = max(24, min(52, room - used))
    rest = room - used - name - PAD
    cols = [Col("name", "NAME", width=name), *fixed]
    if rest >= INFO_MIN:
        cols.append(Col("info", "INFO", width=rest, max_len=rest))
    return tuple(cols)


def _name_cell(prefix: str, symbol: str, name: str, suffix: str, width: int) -> Text:
    """Tree prefix (dim), node symbol, the sanitised name, and a bold role suffix, cut to `width`."""
    room = max(4, width - len(prefix) - len(symbol) - 1 - (len(suffix) + 2 if suffix else 0))
    text = Text(prefix, style="dim", end="", no_wrap=True)
    text.append(symbol + " ")
    text.append(sanitize(name, room, single_line=True))
    if suffix:
        text.append("  ")
        text.append(suffix, style="bold")
    return text


def tree_rows(view: V.RolloutView, badge: Badge, columns: tuple[Col, ...]) -> list[Row]:
    """The rows of `view`'s tree for these columns; keys: ("rollout",), ("rev", n), ("rs", name), ("pod", name)."""
    width = next((c.width or 40 for c in columns if c.key == "name"), 40)
    info = any(c.key == "info" for c in columns)

    def cells(name: Text, status: Text | str, ready: str, restarts: object, age: float | None,
              extra: str = "") -> tuple[object, ...]:
        row: tuple[object, ...] = (name, status, ready, restarts, age)
        return (*row, extra) if info else row

    rows: list[Row] = [(("rollout",), cells(_name_cell("", ROLLOUT, view.name, "", width), badge(view.phase),
                                              f"{view.ready}/{view.desired}", "", view.age,
                                              f"{view.kind} · {view.strategy}"))]
    revisions = [(rev, list(group)) for rev, group in groupby(view.replicasets, key=lambda r: r.revision)]
    for n, (rev, replicasets) in enumerate(revisions):
        last_rev = n == len(revisions) - 1
        ages = [rs.age for rs in replicasets if rs.age is not None]
        rows.append((("rev", rev), cells(_name_cell(LAST if last_rev else BRANCH, REVISION, f"revision:{rev}", "",
                                                    width), "", "", "", min(ages) if ages else None)))
        stem = BLANK if last_rev else PIPE
        for m, rs in enumerate(replicasets):
            last_rs = m == len(replicasets) - 1
            role = ",".join(r for r in rs.roles if r not in ("new", "old"))
            tags = ", ".join(V.image_tag(i) for i in rs.images)
            # an old version scaled to zero is the normal state of history: neutral, not an alarm colour
            status = Text("· ScaledDown", style="dim", end="") if rs.status == "ScaledDown" else badge(rs.status)
            rows.append((("rs", rs.name), cells(
                _name_cell(stem + (LAST if last_rs else BRANCH), REPLICASET, rs.name, role, width),
                status, f"{rs.ready}/{rs.desired}", "", rs.age, tags)))
            twig = stem + (BLANK if last_rs else PIPE)
            for k, pod in enumerate(rs.pods):
                status = "Terminating" if pod.deleting else pod.status
                rows.append((("pod", pod.name), cells(
                    _name_cell(twig + (LAST if k == len(rs.pods) - 1 else BRANCH), POD, pod.name, "", width),
                    badge(status, domain="pod"), pod.ready, pod.restarts, pod.age, pod.node)))
    return rows


class RolloutTree(ResourceTable):
    """The tree as a table; knows which pod a row stands for (for `l`)."""

    def __init__(self, columns: tuple[Col, ...], *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(columns, id=id, classes=classes)
        self.view: V.RolloutView | None = None

    def set_view(self, view: V.RolloutView | None, badge: Badge, now: float) -> None:
        """Show `view`'s tree, its ages advanced from when they were computed (`view.as_of`) to `now`."""
        self.view = view
        if view is None:
            self.set_rows([], now)
            return
        self.set_rows(tree_rows(view, badge, self.spec), view.as_of)
        if now != view.as_of:
            self.tick(now)

    def selected_pod(self) -> V.PodView | None:
        """The pod under the cursor; on a ReplicaSet, revision or the rollout row, the pod that matters
        most below it: the first pod of the selected ReplicaSet, else of the newest one that has pods."""
        view = self.view
        if view is None:
            return None
        key = self.selected_key
        replicasets = list(view.replicasets)
        if isinstance(key, tuple) and len(key) >= 2:
            if key[0] == "pod":
                return next((p for rs in replicasets for p in rs.pods if p.name == key[1]), None)
            if key[0] == "rs":
                replicasets = [rs for rs in replicasets if rs.name == key[1]] + replicasets
            elif key[0] == "rev":
                replicasets = [rs for rs in replicasets if rs.revision == key[1]] + replicasets
        return next((rs.pods[0] for rs in replicasets if rs.pods), None)
