"""Right-sizing in words: the flags, the recommendation cells, and the selected workload's detail.

Why spelled out: an operator must be able to check a recommendation by hand before applying it,
so the pane shows each container's request, p50, p95 and headroom, the formula, the exact
requests that `a` would set, what the workload's HPA would do under them (smaller requests raise
utilisation: the same load can scale the workload out), and the pre-flight findings of a rollout
(applying new requests rolls the pods).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from almtui.cluster.advice import Finding, NodeSizing, ResourceSizing, WorkloadSizing
from almtui.cluster.advice.rightsizing import HEADROOM_FACTOR
from almtui.ui.sanitize import sanitize
from almtui.ui.status import Palette, Tone, badge, fmt_age, styled
from almtui.ui.widgets import sizing_format as F

FORMULA = f"recommended = p95 × {HEADROOM_FACTOR:g}, rounded up"
ROUNDING = "steps cpu 5/10/50m, memory 4/16/64Mi"
RISKY = frozenset({"under-provisioned", "throttled", "oom-killed"})
SHORT = {"over-provisioned": "over", "under-provisioned": "under", "throttled": "throttled",
         "oom-killed": "OOMKilled", "no-request": "no request", "no-data": "no data"}


def _s(value: object, max_len: int = 200) -> str:
    return sanitize(value, max_len, single_line=True)


@dataclass(frozen=True)
class HPAEffect:
    """What the workload's HPA would do under the recommended requests (one reconcile, same usage)."""

    name: str
    metric: str        # "cpu 50%"
    now: int           # desired replicas with today's requests
    after: int         # with the recommended requests


def flag_tone(flag: str) -> Tone:
    if flag in RISKY:
        return Tone.DEGRADED
    if flag == "over-provisioned":
        return Tone.PAUSED
    return Tone.UNKNOWN


def rec_cell(r: ResourceSizing, palette: Palette) -> Text:
    """The recommendation with its direction: "▼35m" (over-provisioned), "▲80m" (under), "!" capped."""
    if r.recommended is None:
        return Text(F.NONE, style="dim", end="")
    flags = set(r.flags)
    text = F.amount(r.resource, r.recommended)
    if flags & {"throttled", "oom-killed"}:
        return styled(f"!{text}", Tone.DEGRADED, palette)
    if r.recommended == r.request:
        return Text(text, end="")
    if "under-provisioned" in flags:
        return styled(f"▲{text}", Tone.DEGRADED, palette)
    if "over-provisioned" in flags:
        return styled(f"▼{text}", Tone.PAUSED, palette)
    return Text(text, end="")


def flags_cell(sizing: WorkloadSizing | None, palette: Palette) -> Text:
    """"over cpu+memory, throttled cpu": one word per flag, resources joined."""
    if sizing is None:
        return Text("no usage yet", style="dim", end="")
    by_flag: dict[str, list[str]] = {}
    for c in sizing.containers:
        for r in (c.cpu, c.memory):
            for f in r.flags:
                if r.resource not in by_flag.setdefault(f, []):
                    by_flag[f].append(r.resource)
    out = Text(end="")
    for n, (flag, resources) in enumerate(sorted(by_flag.items(), key=lambda kv: flag_tone(kv[0]) is not
                                                 Tone.DEGRADED)):
        if n:
            out.append(", ")
        out.append_text(styled(f"{SHORT.get(flag, flag)} {'+'.join(resources)}", flag_tone(flag), palette))
    return out if by_flag else Text("ok", end="")


def checks_cell(findings: Sequence[Finding], palette: Palette, *, stale: bool) -> Text:
    """Pre-flight summary: "✗2 !1"; "✓" when a rollout would raise nothing."""
    errors = sum(1 for f in findings if f.severity == "error")
    warnings = len(findings) - errors
    if not findings:
        return badge("Healthy", palette, stale=stale, label="ok")
    out = Text(end="")
    if errors:
        out.append_text(styled(f"✗{errors}", Tone.DEGRADED, palette))
    if warnings:
        if errors:
            out.append(" ")
        out.append_text(styled(f"!{warnings}", Tone.PAUSED, palette))
    return out


def risk(sizing: WorkloadSizing | None) -> int:
    """Sort order: risky (under-provisioned, throttled, OOMKilled) first, then wasteful, then the rest."""
    if sizing is None:
        return 3
    flags = {f for c in sizing.containers for r in (c.cpu, c.memory) for f in r.flags}
    if flags & RISKY:
        return 0
    if "over-provisioned" in flags:
        return 1
    return 2


def _resource_rows(sizing: WorkloadSizing, palette: Palette) -> list[Text]:
    """A small table: one row per container and resource, the figures the formula starts from."""
    multi = len(sizing.containers) > 1
    labels = [f"{_s(c.name, 30)} {r.resource}" if multi else r.resource
              for c in sizing.containers for r in (c.cpu, c.memory)]
    width = max(8, *(len(x) + 1 for x in labels))
    head = Text(f"{'':<{width}}{'request':>9}{'p50':>9}{'p95':>9}{'headroom':>10}  → recommended", style="dim",
                end="")
    rows = [head]
    for label, r in zip(labels, (r for c in sizing.containers for r in (c.cpu, c.memory)), strict=True):
        out = Text(end="")
        out.append(f"{label:<{width}}", style="bold")
        req = F.amount(r.resource, r.request) if r.request is not None else "none"
        out.append(f"{req:>9}{F.amount(r.resource, r.p50):>9}{F.amount(r.resource, r.p95):>9}"
                   f"{F.signed(r.resource, r.headroom):>10}  → ")
        out.append_text(rec_cell(r, palette))
        for f in r.flags:
            out.append(" ")
            out.append_text(styled(f, flag_tone(f), palette))
        rows.append(out)
    return rows


def change_text(change: dict[str, dict[str, str]]) -> str:
    """{"app": {"cpu": "35m"}} -> "app cpu=35m"."""
    return "; ".join(f"{_s(c, 60)} " + ", ".join(f"{_s(r, 10)}={_s(v, 20)}" for r, v in sorted(res.items()))
                     for c, res in change.items())


def finding_line(f: Finding, palette: Palette) -> Text:
    out = Text(end="")
    tone = Tone.DEGRADED if f.severity == "error" else Tone.PAUSED
    out.append_text(styled(f"{'✗' if f.severity == 'error' else '!'} {_s(f.title, 80)}", tone, palette))
    out.append(f": {_s(f.reason, 300)}")
    return out


def detail_text(kind: str, namespace: str, name: str, replicas: int, sizing: WorkloadSizing | None,
                findings: Sequence[Finding], effect: HPAEffect | None, palette: Palette, *, stale: bool) -> Text:
    """The selected workload: sizing by container and resource, what `a` applies, the HPA effect, findings."""
    lines: list[Text] = []
    head = Text(end="")
    head.append(f"{_s(namespace, 63)}/{_s(name, 253)}", style="bold")
    head.append(f" · {_s(kind, 20)} · {replicas} replica{'s' if replicas != 1 else ''}")
    if sizing is not None:
        samples = max((c.samples for c in sizing.containers), default=0)
        head.append(f" · {samples} sample{'s' if samples != 1 else ''} in {fmt_age(sizing.window)}")
    head.append(" · pre-flight ")
    head.append_text(checks_cell(findings, palette, stale=stale))
    lines.append(head)
    if sizing is None:
        lines.append(Text("no usage observed yet: right-sizing needs metrics.k8s.io or Prometheus samples",
                          style="dim", end=""))
    else:
        lines.extend(_resource_rows(sizing, palette))
        apply = Text(end="")
        apply.append("a: ", style="bold")
        if sizing.requests_change:
            apply.append(f"set {change_text(sizing.requests_change)}")
            totals = _totals(sizing)
            if totals:
                apply.append(f" · {sizing.replicas} pod{'s' if sizing.replicas != 1 else ''}: {totals}")
        else:
            apply.append("nothing to apply: the requests match the usage", style="dim")
        lines.append(apply)
        if effect is not None:
            t = Text(end="")
            t.append(f"HPA {_s(effect.name, 253)} ({_s(effect.metric, 40)}): ", style="bold")
            tone = Tone.PAUSED if effect.after != effect.now else Tone.HEALTHY
            t.append_text(styled(f"{effect.now} → {effect.after} replicas with the new requests", tone, palette))
            lines.append(t)
    lines.extend(finding_line(f, palette) for f in findings)
    return Text("\n", end="").join(lines)


def _totals(sizing: WorkloadSizing) -> str:
    """"cpu 1 → 70m, memory 512Mi → 152Mi" for the resources `a` changes, over all replicas."""
    parts = []
    for resource in ("cpu", "memory"):
        before = after = 0
        changed = False
        for c in sizing.containers:
            r = c.cpu if resource == "cpu" else c.memory
            before += r.request or 0
            if r.actionable and r.recommended is not None:
                after += r.recommended
                changed = True
            else:
                after += r.request or 0
        if changed:
            n = sizing.replicas
            parts.append(f"{resource} {F.amount(resource, before * n)} → {F.amount(resource, after * n)}")
    return ", ".join(parts)


def node_flag(n: NodeSizing, palette: Palette) -> Text:
    if n.reserved_idle:
        short = "+".join("mem" if r == "memory" else r for r in n.reserved_idle)
        return styled(f"{short}: reserved, idle", Tone.PAUSED, palette)
    if "no-metrics" in n.flags:
        return Text("no usage data", style="dim", end="")
    return Text("", end="")


class SizingDetail(Static):
    """The selected workload's right-sizing and pre-flight detail (see detail_text)."""
