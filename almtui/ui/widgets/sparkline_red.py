"""Canary against stable: request rate, 5xx ratio and p95 latency, each with a sparkline.

Why text sparklines in one widget: two versions x three metrics would be six Sparkline widgets
and six layouts to keep aligned at 80 columns; a line of block characters per metric is compact,
renders the same in 16 colours and NO_COLOR, and is cheap to redraw every 10 s.

The rules the operator relies on: a ratio is never shown without the request rate beside it (2
errors out of 3 requests is not 2 out of 3000), and no data, an error or no metrics source at all
reads "not verified", never healthy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.widget import Widget

from almtui.ui.sanitize import sanitize
from almtui.ui.status import SYMBOLS, Palette, Tone

BLOCKS = "▁▂▃▄▅▆▇█"
GAP = "·"
LABEL = 7
NOT_VERIFIED = "not verified"


def spark(values: Sequence[float], width: int, *, floor: float = 0.0) -> str:
    """The last `width` values as block characters scaled from `floor` to their maximum; NaN is a gap."""
    tail = list(values)[-width:] if width > 0 else []
    finite = [v for v in tail if not math.isnan(v)]
    top = max(finite, default=floor)
    span = top - floor
    out = []
    for v in tail:
        if math.isnan(v):
            out.append(GAP)
        elif span <= 0:
            out.append(BLOCKS[0])
        else:
            out.append(BLOCKS[min(len(BLOCKS) - 1, max(0, int((v - floor) / span * (len(BLOCKS) - 1) + 0.5)))])
    return GAP * (width - len(out)) + "".join(out)


def fmt_rate(rate: float | None) -> str:
    if rate is None:
        return "- req/s"
    return f"{rate:.2f} req/s" if rate < 10 else f"{rate:.0f} req/s"


def fmt_ratio(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio * 100:.1f}%"


def fmt_latency(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "-"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


@dataclass(frozen=True)
class REDLine:
    """One version's RED: `red` an instant result (metrics.RED), `series` a metrics.REDSeries; either may be None."""

    label: str
    red: Any = None
    series: Any = None


class REDPanel(Widget):
    """One line per version; "not verified" when metrics are missing or not "ok" (the title is the caller's)."""

    DEFAULT_CSS = """
    REDPanel { height: auto; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.lines: tuple[REDLine, ...] = ()
        self.note = ""
        self.palette = Palette()

    def set_lines(self, lines: Sequence[REDLine], note: str = "", palette: Palette | None = None) -> None:
        """Show these versions; `note` (e.g. why nothing is verified) goes under them."""
        self.lines, self.note = tuple(lines), note
        if palette is not None:
            self.palette = palette
        self.refresh(layout=True)

    def render(self) -> Text:
        width = max(40, self.size.width or 80)
        out = Text(no_wrap=True, overflow="ellipsis", end="")
        for n, line in enumerate(self.lines):
            if n:
                out.append("\n")
            out.append_text(self._line(line, width))
        if self.note and self.lines:
            out.append("\n")
            out.append(sanitize(self.note, width - 2, single_line=True), style="dim")
        elif self.note:  # nothing to show at all: the note is the verdict
            out.append(f"{SYMBOLS[Tone.UNKNOWN]} ", style=self.palette.style(Tone.PAUSED))
            out.append(sanitize(self.note, width - 4, single_line=True), style=self.palette.style(Tone.PAUSED))
        return out

    def _line(self, line: REDLine, width: int) -> Text:
        label = sanitize(line.label, LABEL - 1, single_line=True).ljust(LABEL)
        red, series = line.red, line.series
        text = Text(label, end="", no_wrap=True)
        if red is None or getattr(red, "status", "") != "ok":
            unknown = self.palette.style(Tone.UNKNOWN)
            text.append(f"{SYMBOLS[Tone.UNKNOWN]} {NOT_VERIFIED}", style=self.palette.style(Tone.PAUSED))
            message = getattr(red, "message", "") if red is not None else ""
            rate = getattr(red, "rate", None) if red is not None else None
            if rate is not None:  # a rate is still worth seeing (e.g. 0 requests: nothing to judge)
                text.append(f"  at {fmt_rate(rate)}", style=unknown)
            if message:
                room = max(8, width - text.cell_len - 4)
                text.append("  " + sanitize(message.removeprefix("not verified: "), room, single_line=True),
                            style=unknown)
            return text
        w = max(4, min(20, (width - 52) // 3))
        ok = series is not None and getattr(series, "status", "") == "ok"
        rate_s = spark(series.rate, w) if ok else GAP * w
        ratio_s = spark(series.error_ratio, w) if ok else GAP * w
        p95_s = spark(series.p95, w) if ok else GAP * w
        spark_style = self.palette.style(Tone.PROGRESSING)
        text.append(rate_s, style=spark_style)
        text.append(f" {fmt_rate(red.rate):>11}")
        text.append(" │ 5xx ", style="dim")
        text.append(ratio_s, style=spark_style)
        text.append(f" {fmt_ratio(red.error_ratio):>6}")
        text.append(" │ p95 ", style="dim")
        text.append(p95_s, style=spark_style)
        text.append(f" {fmt_latency(red.p95):>7}")
        return text
