"""The Health screen's one-line summary and the detail of the selected row.

Why a detail pane: at 80 columns a node's taints, a pod's crash message or an event's full text
cannot fit in a table cell, and they are exactly what an operator needs to decide. The pane shows
everything about the row under the cursor of the focused table, wrapped. Every cluster string is
sanitised and rendered as plain Text, never markup.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from almtui.cluster import views as V
from almtui.cluster.service import ApiHealth
from almtui.ui.sanitize import sanitize
from almtui.ui.status import Palette, Tone, badge, fmt_age, styled
from almtui.ui.widgets import sizing_format as F

LABEL = "bold"
_NODE_WORDS = {"NotReady": "not ready", "Paused": "suspect", "Degraded": "under pressure"}


def _s(value: object, max_len: int = 300) -> str:
    return sanitize(value, max_len, single_line=True)


def _join(parts: list[Text | str], sep: str = " · ") -> Text:
    out = Text(end="", no_wrap=False)
    for n, p in enumerate(q for q in parts if q):
        if n:
            out.append(sep, style="dim")
        out.append(p)
    return out


def _field(label: str, value: Text | str) -> Text:
    t = Text(end="")
    t.append(f"{label} ", style=LABEL)
    t.append(value)
    return t


def node_state(n: V.NodeHealth) -> tuple[str, str]:
    """(status word for the tone, label) of a node, worst first: unreachable, not ready, suspect, pressure."""
    if n.unreachable:
        return "Unreachable", "Unreachable"
    if n.ready == "False":
        return "NotReady", "NotReady"
    if n.ready != "True":
        return "Unknown", "Unknown"
    if n.suspect:
        return "Paused", "Suspect"
    if n.pressures:
        short = {"MemoryPressure": "MemPressure", "NetworkUnavailable": "NoNetwork"}
        return "Degraded", short.get(n.pressures[0], n.pressures[0]) if len(n.pressures) == 1 else "Pressure"
    return "Ready", "Ready"


def node_notes(n: V.NodeHealth, idle: tuple[str, ...] = ()) -> str:
    """What else is wrong or worth knowing, shortest first (table cell)."""
    notes: list[str] = list(n.pressures)
    if n.suspect and n.lease_age is not None:
        notes.append(f"lease {fmt_age(n.lease_age)} old")
    if n.unschedulable:
        notes.append("cordoned")
    for key in dict.fromkeys(k for k, _, _ in n.taints):
        if key.startswith("node.kubernetes.io/") and key != "node.kubernetes.io/unschedulable":
            notes.append(f"taint {key.removeprefix('node.kubernetes.io/')}")
    if idle:
        notes.append(f"{'+'.join(idle)} reserved but idle")
    return ", ".join(_s(x, 80) for x in notes)


def node_detail(n: V.NodeHealth, palette: Palette, *, stale: bool, countdown: float | None,
                idle: tuple[str, ...] = ()) -> Text:
    word, label = node_state(n)
    ready = _join([f"Ready={_s(n.ready, 10)}", _s(n.reason, 60)], " ")
    if n.message:
        ready.append(f": {_s(n.message, 160)}")
    beat = f"heartbeat {fmt_age(n.heartbeat_age)} ago"
    if n.lease_age is not None:
        beat += f", lease renewed {fmt_age(n.lease_age)} ago"
    parts: list[Text | str] = [Text.assemble(badge(word, palette, domain="node", stale=stale, label=label), " ",
                                             (_s(n.name, 80), "bold")), ready, beat]
    if n.suspect:
        parts.append(styled("suspect: says Ready but its lease is stale (delegated heartbeat?)", Tone.PAUSED,
                            palette))
    if countdown is not None:
        parts.append(styled(f"pods evicted in {F.countdown(countdown)}", Tone.DEGRADED, palette))
    taints = ", ".join(f"{_s(k, 80)}:{_s(e, 20)}" for k, e, _ in n.taints) or "none"
    parts.append(_field("taints", taints))
    if n.pressures:
        parts.append(styled(", ".join(_s(p, 40) for p in n.pressures), Tone.DEGRADED, palette))
    parts.append(_field("cpu", f"{F.cpu(n.cpu_requested)} of {F.cpu(n.cpu_allocatable)} requested, "
                               f"{F.cpu(n.cpu_used)} used"))
    parts.append(_field("memory", f"{F.mem(n.memory_requested)} of {F.mem(n.memory_allocatable)} requested, "
                                  f"{F.mem(n.memory_used)} used"))
    if idle:
        parts.append(styled(f"{' and '.join(idle)} full on paper, idle in fact", Tone.PAUSED, palette))
    parts.append(f"pods {n.pods}/{n.pods_capacity}")
    extra = [f"roles {_s(','.join(n.roles), 60)}" if n.roles else "", f"zone {_s(n.zone, 40)}" if n.zone else "",
             _s(n.kubelet_version, 30), _s(n.internal_ip, 45)]
    parts.extend(x for x in extra if x)
    return _join(parts)


def node_head(n: V.NodeHealth, palette: Palette, *, stale: bool, countdown: float | None, pods: int) -> Text:
    """One line about a node above its pods: state, why, the eviction countdown, how many pods."""
    word, label = node_state(n)
    parts: list[Text | str] = [Text.assemble(badge(word, palette, domain="node", stale=stale, label=label), " ",
                                             (_s(n.name, 80), "bold")),
                               _join([f"Ready={_s(n.ready, 10)}", _s(n.reason, 60)], " ")]
    if countdown is not None:
        parts.append(styled(f"pods evicted in {F.countdown(countdown)}", Tone.DEGRADED, palette))
    if n.unreachable or n.suspect:
        parts.append(styled("pod states are the last the node reported", Tone.PAUSED, palette))
    parts.append(f"{pods} pod{'s' if pods != 1 else ''}")
    return _join(parts)


def issue_detail(i: V.PodIssue, palette: Palette, *, stale: bool, elapsed: float = 0.0) -> Text:
    restarts = f"{i.restarts} restarts"
    if i.last_restart_age is not None:
        restarts += f", last {fmt_age(i.last_restart_age + elapsed)} ago"
    parts: list[Text | str] = [
        Text.assemble(badge("Error", palette, stale=stale, label=i.kind), " ",
                      (f"{_s(i.namespace, 63)}/{_s(i.name, 253)}", "bold")),
        restarts,
        f"pod age {fmt_age(None if i.since is None else i.since + elapsed)}",
        f"node {_s(i.node, 80)}" if i.node else "",
        f"owner {_s(i.owner, 120)}" if i.owner else "",
        _s(i.detail, 600),
        Text("enter/l: logs", style="dim"),
    ]
    return _join(parts)


def event_detail(w: V.WarningEvent, palette: Palette, *, elapsed: float = 0.0) -> Text:
    seen = f"×{w.count}, last {fmt_age(None if w.last_seen is None else w.last_seen + elapsed)} ago"
    if w.count > 1 and w.first_seen is not None:
        seen += f", first {fmt_age(w.first_seen + elapsed)} ago"
    where = f"{_s(w.namespace, 63)}/" if w.namespace else ""
    parts: list[Text | str] = [
        Text.assemble(styled(_s(w.reason, 60), Tone.PAUSED, palette), " ",
                      (f"{_s(w.object_kind, 40)} {where}{_s(w.object_name, 253)}", "bold")),
        seen,
        f"from {_s(w.source, 60)}" if w.source else "",
        _s(w.message, 600),
    ]
    if w.object_kind == "Pod":
        parts.append(Text("l: logs", style="dim"))
    return _join(parts)


def summary_line(api: ApiHealth | None, nodes: list[V.NodeHealth], issues: int, warnings: int,
                 palette: Palette, *, stale: bool, metrics_note: str = "") -> Text:
    """"API ✓ 12ms · nodes ✓3/4 ✗1 unreachable · ✗2 failing pods · 17 warnings", most important first."""
    out = Text(end="")
    out.append("API ", style=LABEL)
    if api is None:
        out.append_text(badge("Unknown", palette, label="not checked"))
    elif api.reachable:
        latency = "reachable" if api.latency_ms is None else f"{api.latency_ms:.0f}ms"
        out.append_text(badge("Healthy", palette, stale=stale, label=latency))
    else:
        out.append_text(badge("Degraded", palette, label="unreachable"))
        if api.error:
            out.append(f" ({_s(api.error, 80)})", style="dim")
    counts: dict[str, int] = {}
    for n in nodes:
        word = node_state(n)[0]
        counts[word] = counts.get(word, 0) + 1
    ready = counts.pop("Ready", 0)
    out.append(" · ", style="dim")
    out.append("nodes ", style=LABEL)
    out.append_text(_compact("Ready", f"{ready}/{len(nodes)}", palette, stale=stale, domain="node"))
    if not counts:
        out.append(" ready")
    for word, count in sorted(counts.items()):
        out.append(" ")
        out.append_text(_compact(word, f"{count} {_NODE_WORDS.get(word, word.lower())}", palette, domain="node"))
    out.append(" · ", style="dim")
    out.append_text(_compact("Error" if issues else "Healthy", f"{issues} failing pod{'s' if issues != 1 else ''}",
                             palette, stale=stale))
    out.append(" · ", style="dim")
    out.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    if metrics_note:
        out.append(" · ", style="dim")
        out.append(_s(metrics_note, 80), style="dim")
    return out


def _compact(status: str, label: str, palette: Palette, *, stale: bool = False, domain: str = "") -> Text:
    """A badge without the space after its symbol ("✓3/4"), for the summary line."""
    b = badge(status, palette, domain=domain, stale=stale, label=label)
    return Text.assemble(b[:1], b[2:], end="")


class HealthSummary(Static):
    """One line: API reachability and latency, node readiness counts, failing pods, warnings."""


class HealthDetail(Static):
    """Everything about the selected row of the focused table, wrapped."""
