"""Cells and column layouts of the Rollouts table.

Why layouts by width: the edge gateway's terminal is 80x24, so at 80 columns the table keeps
what an operator scans for (where, what, status, ready, progress, step, version) and the rest
(strategy, revision, weights, message) moves to the selected row's footer; from about 110
columns the strategy, revision and canary weights get columns of their own, and a message
column appears only when it would be wide enough to read. The name column takes what is left.
"""

from __future__ import annotations

from rich.text import Text

from almtui.cluster import views as V
from almtui.ui.status import Palette, Tone, tone_of
from almtui.ui.widgets.table import Col

PAD = 2          # DataTable's cell padding, both sides
SCROLLBAR = 1    # the vertical scrollbar (almtui.tcss)
WIDE = 110       # from this many columns on, the wide layout
MESSAGE_MIN = 24
NAME_MIN, NAME_MAX = 12, 32

STRATEGY_SHORT = {"RollingUpdate": "Rolling", "Recreate": "Recreate", "Canary": "Canary", "BlueGreen": "BlueGreen"}
_EIGHTHS = " ▏▎▍▌▋▊▉"


def progress_bar(fraction: float, width: int) -> str:
    """`width` cells filled to `fraction` (0..1) with eighth-block precision; the rest is shaded."""
    fraction = max(0.0, min(1.0, fraction))
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full
    if part and full < width:
        bar += _EIGHTHS[part]
    return bar + "░" * (width - len(bar))


def strategy_text(view: V.RolloutView) -> str:
    return STRATEGY_SHORT.get(view.strategy, view.strategy)


def step_text(view: V.RolloutView) -> str:
    """The canary step as the plugin prints it: currentStepIndex/len(steps)."""
    return f"{view.step}/{view.steps}" if view.step is not None and view.steps else ""


def weight_text(view: V.RolloutView) -> str:
    """SetWeight/ActualWeight of a canary; empty for anything else."""
    if view.set_weight is None:
        return ""
    actual = "-" if view.actual_weight is None else str(view.actual_weight)
    return f"{view.set_weight}/{actual}"


def version_text(view: V.RolloutView) -> str:
    """The first container's image tag ("+N" when there are more containers)."""
    if not view.images:
        return ""
    tag = V.image_tag(view.images[0])
    return f"{tag}+{len(view.images) - 1}" if len(view.images) > 1 else tag


def progress_tone(view: V.RolloutView) -> Tone:
    tone = tone_of(view.phase)
    return Tone.PROGRESSING if tone is Tone.HEALTHY and view.progress < 1 else tone


def progress_cell(view: V.RolloutView, palette: Palette, width: int, *, percent: bool, stale: bool) -> Text:
    """The new version's progress (updated and available / desired) as a bar, optionally with a percent."""
    tone = progress_tone(view)
    if stale and tone is Tone.HEALTHY:
        tone = Tone.STALE
    bar_width = width - 5 if percent else width
    text = Text(progress_bar(view.progress, bar_width), style=palette.style(tone), end="", no_wrap=True)
    if percent:
        text.append(f"{round(view.progress * 100):>4}%")
    return text


def list_columns(width: int) -> tuple[Col, ...]:
    """The table's columns for a terminal `width` columns wide (see the module docstring)."""
    room = max(40, width - SCROLLBAR)
    wide = room >= WIDE
    if wide:
        before = [Col("namespace", "NAMESPACE", width=10, max_len=10)]
        after = [
            Col("strategy", "STRATEGY", width=9),
            Col("phase", "STATUS", width=13),
            Col("revision", "REV", width=3, justify="right"),
            Col("version", "VERSION", width=12, max_len=12),
            Col("ready", "READY", width=5, justify="right"),
            Col("progress", "PROGRESS", width=10),
            Col("step", "STEP", width=4, justify="right"),
            Col("weight", "WEIGHT", width=7, justify="right"),
        ]
    else:
        before = [Col("namespace", "NS", width=7, max_len=7)]
        after = [
            Col("phase", "STATUS", width=13),
            Col("ready", "READY", width=5, justify="right"),
            Col("progress", "PROG", width=6),
            Col("step", "STEP", width=4, justify="right"),
            Col("version", "VERSION", width=10, max_len=10),
        ]
    cols = before + after
    used = sum((c.width or 0) + PAD for c in cols) + PAD
    name = room - used
    if name < NAME_MIN and not wide:
        after = [c for c in after if c.key != "progress"]
        name += 6 + PAD
    name = max(NAME_MIN, min(NAME_MAX, name))
    out = [*before, Col("name", "NAME", width=name, max_len=name), *after]
    rest = room - used - name - PAD
    if wide and rest >= MESSAGE_MIN:
        out.append(Col("message", "MESSAGE", width=rest, max_len=rest))
    return tuple(out)


def list_cells(view: V.RolloutView, columns: tuple[Col, ...], status: Text, palette: Palette,
               stale: bool) -> tuple[object, ...]:
    """One row's cells in the order of `columns` (strings are sanitised by the table)."""
    out: list[object] = []
    for col in columns:
        key = col.key
        if key == "namespace":
            out.append(view.namespace)
        elif key == "name":
            out.append(view.name)
        elif key == "strategy":
            out.append(strategy_text(view))
        elif key == "phase":
            out.append(status)
        elif key == "revision":
            out.append(view.revision or "")
        elif key == "version":
            out.append(version_text(view))
        elif key == "ready":
            out.append(f"{view.ready}/{view.desired}")
        elif key == "progress":
            out.append(progress_cell(view, palette, col.width or 6, percent=(col.width or 0) >= 10, stale=stale))
        elif key == "step":
            out.append(step_text(view))
        elif key == "weight":
            out.append(weight_text(view))
        elif key == "message":
            out.append(view.message or view.status_text)
        else:
            out.append(None)
    return tuple(out)
