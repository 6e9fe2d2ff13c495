"""The colour language shared by every screen: healthy, progressing, paused, degraded, stale.

Why one module: an operator learns one meaning per colour and per symbol, whatever the screen.
Each status word maps to a Tone; a Tone has a symbol (so meaning survives 16 colours, NO_COLOR
and colour-blindness), a CSS class for widgets (styled in almtui.tcss) and a Rich style for
table cells, resolved from the current theme's text colours. Data that is not live is never
shown as healthy: with ``stale=True`` a healthy badge turns into the stale tone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from rich.style import Style
from rich.text import Text
from textual.color import Color, ColorParseError

from almtui.cluster.freshness import Freshness, FreshnessState
from almtui.kube.durations import human_age
from almtui.ui.sanitize import sanitize


class Tone(StrEnum):
    HEALTHY = "healthy"
    PROGRESSING = "progressing"
    PAUSED = "paused"
    DEGRADED = "degraded"
    STALE = "stale"
    UNKNOWN = "unknown"


SYMBOLS: dict[Tone, str] = {
    Tone.HEALTHY: "✓",
    Tone.PROGRESSING: "↻",
    Tone.PAUSED: "‖",
    Tone.DEGRADED: "✗",
    Tone.STALE: "~",
    Tone.UNKNOWN: "?",
}
# Theme variables giving each tone its colour (Textual's text-* colours are legible on the background).
THEME_VARS: dict[Tone, str] = {
    Tone.HEALTHY: "text-success",
    Tone.PROGRESSING: "text-primary",
    Tone.PAUSED: "text-warning",
    Tone.DEGRADED: "text-error",
}

_WORDS: dict[str, Tone] = {}
for _tone, _words in (
    (Tone.HEALTHY, "healthy succeeded completed complete synced running ready true available active live bound "
                   "ok passed successful"),
    (Tone.PROGRESSING, "progressing pending containercreating podinitializing terminating started scaling "
                       "waiting inprogress updating"),
    (Tone.PAUSED, "paused suspended cancelled canceled scaleddown outofsync skipped inconclusive "
                  "schedulingdisabled cordoned limited"),
    (Tone.DEGRADED, "degraded failed failure error errors crashloopbackoff imagepullbackoff errimagepull "
                    "invalidimagename createcontainerconfigerror createcontainererror runcontainererror oomkilled "
                    "timedout timeout false missing evicted replicafailure aborted notready unreachable "
                    "nodelost offline authexpired auth-expired"),
    (Tone.UNKNOWN, "unknown"),
):
    for _w in _words.split():
        _WORDS[_w] = _tone

# Per-domain meanings that differ from the common one.
_DOMAINS: dict[str, dict[str, Tone]] = {
    "pipeline": {"running": Tone.PROGRESSING, "started": Tone.PROGRESSING, "pending": Tone.PROGRESSING},
    "node": {"unknown": Tone.DEGRADED, "true": Tone.HEALTHY, "false": Tone.DEGRADED},
    "pod": {"completed": Tone.HEALTHY, "unknown": Tone.DEGRADED},
}


def tone_of(status: str, domain: str = "") -> Tone:
    """The tone of a status word ("Healthy", "CrashLoopBackOff", "Init:0/2"), optionally per domain."""
    word = status.strip().lower().replace(" ", "").replace("_", "")
    if not word:
        return Tone.UNKNOWN
    special = _DOMAINS.get(domain, {}).get(word)
    if special is not None:
        return special
    found = _WORDS.get(word)
    if found is not None:
        return found
    if word.startswith("init:"):
        rest = word[5:]
        return Tone.DEGRADED if rest and not rest[0].isdigit() else Tone.PROGRESSING
    if word.startswith(("signal:", "exitcode:")) or word.endswith(("backoff", "error", "failed", "err")):
        return Tone.DEGRADED
    return Tone.UNKNOWN


def css_class(tone: Tone) -> str:
    """The CSS class that colours a widget in this tone (see almtui.tcss)."""
    return f"-{tone.value}"


@dataclass(frozen=True)
class Palette:
    """Rich styles per tone, resolved from a theme's CSS variables (rebuilt when the theme changes)."""

    styles: Mapping[Tone, Style] = field(default_factory=dict)

    @classmethod
    def from_variables(cls, variables: Mapping[str, str]) -> Palette:
        styles: dict[Tone, Style] = {}
        for tone, var in THEME_VARS.items():
            styles[tone] = Style(color=_rich_color(variables.get(var)))
        styles[Tone.STALE] = Style(dim=True, italic=True)
        styles[Tone.UNKNOWN] = Style(dim=True)
        return cls(styles)

    def style(self, tone: Tone) -> Style:
        return self.styles.get(tone) or (Style(dim=True) if tone in (Tone.STALE, Tone.UNKNOWN) else Style())


def _rich_color(value: str | None) -> object:
    if not value:
        return None
    try:
        color = Color.parse(value)
    except ColorParseError:
        return None
    return color.rich_color


PLAIN = Palette()


def badge(status: str, palette: Palette = PLAIN, *, domain: str = "", stale: bool = False,
          label: str | None = None, max_len: int = 40) -> Text:
    """"✓ Healthy" styled by tone; the status word is sanitised (it comes from the cluster).

    stale: the data is not live, so a healthy status is shown as unverified ("~ Healthy", dim).
    """
    tone = tone_of(status, domain)
    if stale and tone is Tone.HEALTHY:
        tone = Tone.STALE
    style = palette.style(tone)
    shown = sanitize(status if label is None else label, max_len, single_line=True) or "-"
    return Text.assemble((SYMBOLS[tone], style), " ", (shown, style), end="")


def styled(value: str, tone: Tone, palette: Palette = PLAIN, *, max_len: int = 200) -> Text:
    """A sanitised single-line Text in a tone's style (no symbol)."""
    return Text.assemble((sanitize(value, max_len, single_line=True), palette.style(tone)), end="")


def fmt_age(seconds: float | None) -> str:
    """kubectl's age format ("42s", "5m", "3h5m"); "-" when unknown."""
    return "-" if seconds is None else human_age(seconds)


# -- freshness ----------------------------------------------------------------------------------

FRESHNESS_TONES: dict[Freshness, Tone] = {
    Freshness.LIVE: Tone.HEALTHY,
    Freshness.STALE: Tone.STALE,
    Freshness.OFFLINE: Tone.DEGRADED,
    Freshness.AUTH_EXPIRED: Tone.DEGRADED,
}


def freshness_label(state: FreshnessState, now: float) -> str:
    """"LIVE", "STALE 42s", "OFFLINE 5m" (age of the last good data), "AUTH EXPIRED"."""
    if state.state is Freshness.LIVE:
        return f"{SYMBOLS[Tone.HEALTHY]} LIVE"
    if state.state is Freshness.AUTH_EXPIRED:
        return f"{SYMBOLS[Tone.DEGRADED]} AUTH EXPIRED"
    age = state.age(now)
    word = "STALE" if state.state is Freshness.STALE else "OFFLINE"
    symbol = SYMBOLS[FRESHNESS_TONES[state.state]]
    return f"{symbol} {word}" if age is None else f"{symbol} {word} {human_age(age)}"
