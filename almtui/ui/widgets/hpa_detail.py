"""The selected HPA in full: bounds, metrics against targets, behavior, conditions, replica history.

Why a pane under the table: the HPA's conditions are where it says *why* it does not scale
(ScalingLimited TooManyReplicas, ScalingActive FailedGetResourceMetric), and a replica-history
sparkline shows flapping at a glance; neither fits a table row. The sparkline is Textual's
`Sparkline`: its `data` is a reactive, so every update assigns a new list.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

from almtui.cluster import views as V
from almtui.ui.sanitize import sanitize
from almtui.ui.status import Palette, Tone, badge, fmt_age, styled
from almtui.ui.widgets.static_update import update_static

MIN_SPARK_POINTS = 2  # one sample is a flat bar that says nothing


def _s(value: object, max_len: int = 200) -> str:
    return sanitize(value, max_len, single_line=True)


def hpa_state(h: V.HPAView) -> tuple[str, str]:
    """(status word for the tone, short label): why the HPA is (not) scaling, worst first."""
    if h.able_to_scale.startswith("Failed"):
        return "Degraded", "Blocked"
    if h.scaling_active and not h.scaling_active.startswith(("ValidMetricFound", "ScalingDisabled")):
        return "Degraded", "No metrics"
    if h.scaling_active == "ScalingDisabled":
        return "Paused", "Disabled"
    if h.limited and h.scaling_limited == "TooManyReplicas":
        return "Paused", "At max"
    if h.limited and h.scaling_limited in ("ScaleUpLimit", "ScaleDownLimit"):
        return "Progressing", "Rate-limited"
    if h.current != h.desired:
        return "Progressing", "Scaling"
    if h.limited and h.scaling_limited == "TooFewReplicas":
        return "Healthy", "At min"
    return "Healthy", "Steady"


def metric_text(m: V.MetricView) -> str:
    """"cpu 45% / 60%" (kubectl's current/target)."""
    return f"{_s(m.name, 60)} {_s(m.current_text, 20)} / {_s(m.target_text, 20)}"


def metrics_text(h: V.HPAView) -> str:
    return ", ".join(metric_text(m) for m in h.metrics) or "-"


def _condition_tone(c: V.ConditionView) -> Tone:
    if c.status == "Unknown" or not c.status:
        return Tone.UNKNOWN
    bad = c.status == "True" if c.type == "ScalingLimited" else c.status == "False"
    if not bad:
        return Tone.HEALTHY
    if c.type == "ScalingLimited":
        return Tone.HEALTHY if c.reason == "TooFewReplicas" else Tone.PAUSED
    return Tone.DEGRADED


def spark_points(values: Sequence[float | int | None]) -> list[float]:
    """A new list for Sparkline.data; gaps (None, NaN) become 0 so they show as dips, not as missing time."""
    out: list[float] = []
    for v in values:
        f = float(v) if isinstance(v, int | float) else math.nan
        out.append(0.0 if math.isnan(f) else f)
    return out


def info_text(h: V.HPAView, palette: Palette, *, stale: bool, elapsed: float = 0.0) -> Text:
    word, label = hpa_state(h)
    out = Text(end="")
    out.append_text(badge(word, palette, stale=stale, label=label))
    out.append(f" {_s(h.namespace, 63)}/{_s(h.name, 253)}", style="bold")
    out.append(f" → {_s(h.target_kind, 40)}/{_s(h.target_name, 253)}\n")
    last = "never" if h.last_scale_age is None else f"{fmt_age(h.last_scale_age + elapsed)} ago"
    out.append("Replicas ", style="bold")
    out.append(f"{h.current} current, {h.desired} desired, min {h.min}, max {h.max} · last scale {last}\n")
    out.append("Metrics  ", style="bold")
    out.append((", ".join(f"{metric_text(m)} ({_s(m.kind, 20)})" for m in h.metrics) or "none") + "\n")
    out.append("Up       ", style="bold")
    out.append(_s(h.scale_up, 120) + "\n")
    out.append("Down     ", style="bold")
    out.append(_s(h.scale_down, 120))
    for c in h.conditions:
        tone = _condition_tone(c)
        out.append("\n")
        out.append_text(styled(f"{'✓' if tone is Tone.HEALTHY else '✗' if tone is Tone.DEGRADED else '‖'} "
                               f"{_s(c.type, 20):<15}", tone, palette))
        out.append(f"{_s(c.reason, 40)}", style="bold")
        if c.message:
            out.append(f": {_s(c.message, 300)}")
    return out


class HPADetail(Vertical):
    """Text about the HPA, then its replica history as a sparkline with the range it spans."""

    def compose(self) -> ComposeResult:
        yield Static("", id="hpa-info")
        with Horizontal(id="hpa-history"):
            yield Static("History ", id="hpa-history-label")
            yield Sparkline([], id="hpa-spark")
            yield Static("", id="hpa-history-note")

    def show(self, h: V.HPAView | None, history: Sequence[float | int | None], source: str, palette: Palette, *,
             stale: bool, elapsed: float = 0.0) -> None:
        info = self.query_one("#hpa-info", Static)
        spark = self.query_one("#hpa-spark", Sparkline)
        note = self.query_one("#hpa-history-note", Static)
        if h is None:
            update_static(info, "no HorizontalPodAutoscaler selected")
            spark.data = []
            spark.display = False
            update_static(note, "")
            return
        update_static(info, info_text(h, palette, stale=stale, elapsed=elapsed))
        points = spark_points(history)
        known = [p for p, v in zip(points, history, strict=False) if isinstance(v, int | float) and v == v]
        enough = len(points) >= MIN_SPARK_POINTS
        spark.data = points if enough else []  # always a new list: `data` is a reactive
        spark.display = enough
        if not known:
            update_static(note, f"no samples yet ({_s(source, 60)})")
        elif not enough:
            update_static(note, f"{int(known[-1])} replicas; collecting ({_s(source, 60)})")
        else:
            update_static(note, f" {int(min(known))}..{int(max(known))} replicas, {len(points)} samples "
                                f"({_s(source, 60)})")
