"""The confirmation every mutation goes through, and the refusal / outcome display.

Why show all of it: the operator confirms exactly what will be sent — context, namespace, object,
every request (method, path, content type, body) with the resourceVersion it is conditioned on —
together with what the server's dry run said, the warnings (GitOps will revert) and the pre-flight
findings. Blocking findings (and an overridable failed dry run) keep the confirm key disabled until
the operator types "override"; in a protected namespace a destructive action also needs the
object's name typed. Every string that came from the cluster or the kubeconfig is sanitised and
rendered as plain Content, never markup.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from almtui.cluster.actions.model import CheckResult, Plan, Request
from almtui.ui.sanitize import sanitize
from almtui.ui.status import SYMBOLS, THEME_VARS, Tone

OVERRIDE_WORD = "override"
OK_STYLE = f"${THEME_VARS[Tone.HEALTHY]}"
ERROR_STYLE = f"${THEME_VARS[Tone.DEGRADED]}"
WARN_STYLE = f"${THEME_VARS[Tone.PAUSED]}"
LABEL_STYLE = "bold $text-accent"
MUTED = "$text-muted"
WARN_SYMBOL = "!"


@dataclass(frozen=True)
class FindingLine:
    """One pre-flight finding as the dialog shows it (advice.Finding, or a failure to run the checks)."""

    code: str
    severity: str  # "error" | "warning"
    title: str
    reason: str

    @property
    def blocking(self) -> bool:
        return self.severity == "error"

    def override_note(self) -> str:
        """How an explicit override of this finding is recorded in the audit entry."""
        return f"pre-flight {self.code}: {self.title}: {self.reason}"


@dataclass(frozen=True)
class Decision:
    """The operator confirmed; what they overrode (recorded in the audit entry)."""

    overrides: tuple[str, ...] = ()
    override_dry_run: bool = False


def _t(value: object, limit: int | None = 400, *, single_line: bool = True) -> str:
    return sanitize(value, limit, single_line=single_line)


def where_lines(context: str, namespace: str | None, object_text: str, protected: bool) -> Content:
    """"Context … Namespace … [PROTECTED]" and "Object …": the first thing every dialog says."""
    ns = Content.assemble((" PROTECTED ", f"bold reverse {ERROR_STYLE}"), " ") if protected else Content("")
    return Content("\n").join([
        Content.assemble(("Context   ", LABEL_STYLE), _t(context, 60), ("   Namespace ", LABEL_STYLE),
                         _t(namespace or "-", 63), " ", ns),
        Content.assemble(("Object    ", LABEL_STYLE), _t(object_text, 200)),
    ])


def request_text(req: Request) -> str:
    """One request exactly as it will be sent: method, path and query, content type, pretty JSON body."""
    q = "&".join(f"{k}={v}" for k, v in req.query.items())
    lines = [f"# {req.description}"] if req.description else []
    lines.append(f"{req.method} {req.path}")
    if q:
        lines.append(f"Query: {q}")
    if req.content_type:
        lines.append(f"Content-Type: {req.content_type}")
    if req.body is not None:
        lines.append(json.dumps(req.body, indent=2, sort_keys=False, ensure_ascii=False, default=str))
    if req.fallback is not None:
        lines.append("if that answers 404 (no status subresource), instead:")
        lines.append(request_text(req.fallback))
    return "\n".join(lines)


def dry_run_lines(plan: Plan, check: CheckResult) -> list[Content]:
    """✓ accepted / ✗ the server's refusal, per request."""
    out: list[Content] = []
    many = len(plan.requests) > 1
    for i, req in enumerate(plan.requests):
        label = f"request {i + 1}: " if many else ""
        got: Any = check.dry_run[i] if i < len(check.dry_run) else None
        if isinstance(got, dict):
            md = got.get("metadata") or {}
            what = f"{got.get('kind') or 'object'} {md.get('name') or md.get('generateName') or ''}".strip()
            out.append(Content.assemble((SYMBOLS[Tone.HEALTHY] + " ", OK_STYLE), label,
                                        ("accepted by the server", OK_STYLE), f" (would-be {_t(what, 80)})"))
        elif isinstance(got, str):
            out.append(Content.assemble((SYMBOLS[Tone.DEGRADED] + " ", ERROR_STYLE), label,
                                        ("refused: ", ERROR_STYLE), _t(got, 600)))
        else:
            out.append(Content.assemble(("? ", MUTED), label, (f"not run ({req.method} {_t(req.path, 120)})", MUTED)))
    return out


def fit_scroll(screen: ModalScreen, box_id: str, body_id: str) -> None:
    """Cap the scrolling part of a dialog so the rest (fields, status, keys) always fits on screen.

    Why by hand: the box is as tall as its content (height: auto) up to the screen, and an auto
    container does not shrink one child to make room for the others."""
    box = screen.query_one(box_id)
    body = screen.query_one(body_id)
    others = sum(w.outer_size.height + w.styles.margin.top + w.styles.margin.bottom
                 for w in box.children if w is not body and w.display)
    frame = box.styles.border.spacing.height + box.styles.padding.top + box.styles.padding.bottom
    room = max(3, screen.size.height - frame - others - body.styles.margin.top - body.styles.margin.bottom)
    if body.styles.max_height is None or body.styles.max_height.value != room:
        body.styles.max_height = room


class ConfirmDialog(ModalScreen[Decision | None]):
    """Shows a plan and its checks; dismisses with a Decision (confirmed) or None (cancelled)."""

    DEFAULT_CSS = """
    ConfirmDialog { align: center middle; }
    #confirm-box {
        width: 110; max-width: 100%; height: auto; max-height: 100%;
        border: round $primary; background: $surface; padding: 0 1;
        border-subtitle-color: $text-muted;
    }
    ConfirmDialog.-destructive #confirm-box { border: round $error; }
    #confirm-where, #confirm-summary { height: auto; }
    #confirm-summary { text-style: bold; }
    #confirm-body { height: auto; margin-bottom: 1; scrollbar-size-vertical: 1; }
    #confirm-body Static { height: auto; }
    #confirm-body .confirm-section { color: $text-accent; text-style: bold; }
    #confirm-body .confirm-item { padding-left: 2; }
    .confirm-field { height: 1; }
    .confirm-field Static { width: auto; padding-right: 1; }
    .confirm-field Input { width: 1fr; height: 1; border: none; padding: 0 1; background: $boost; }
    .confirm-field Input:focus { border: none; background-tint: $foreground 8%; }
    #confirm-status { height: auto; }
    #confirm-status.-blocked { color: $text-warning; }
    #confirm-status.-ready { color: $text-success; }
    #confirm-buttons { height: 1; align-horizontal: right; }
    #confirm-buttons Button { margin-left: 2; min-width: 12; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Confirm", show=False),
        Binding("enter", "confirm", "Confirm", show=False),
        Binding("n", "cancel", "Cancel", show=False),
        Binding("escape", "cancel", "Cancel", show=False),
        Binding("down,j", "scroll(1)", "Down", show=False),
        Binding("up,k", "scroll(-1)", "Up", show=False),
        Binding("pagedown", "scroll(10)", "Page down", show=False),
        Binding("pageup", "scroll(-10)", "Page up", show=False),
    ]

    def __init__(self, plan: Plan, check: CheckResult, findings: Sequence[FindingLine] = (), *, context: str,
                 title: str | None = None, protected: bool = False, require_name: bool = False,
                 on_decided: Callable[[Decision | None], None] | None = None) -> None:
        """on_decided: called with the answer the moment it is given, before the dialog is dismissed.
        A push_screen callback runs only after the app's queued messages, which under a stream of
        watch updates delayed a confirmed rollback's request by tens of milliseconds."""
        super().__init__(id="confirm")
        self._on_decided = on_decided
        self.plan, self.check, self.findings = plan, check, list(findings)
        self.context_name = context
        self.title_text = title or plan.summary
        self.protected = protected
        self.require_name = require_name
        self.dry_run_failed = not check.allowed  # only an overridable failure reaches this dialog
        self.needs_override = self.dry_run_failed or any(f.blocking for f in self.findings)
        self.attempts = 0  # confirm presses while blocked (tests; the status line says why)

    # -- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        plan = self.plan
        self.set_class(plan.destructive, "-destructive")
        with Vertical(id="confirm-box") as box:
            box.border_title = _t(f"Confirm: {self.title_text}", 100)
            box.border_subtitle = "y/enter confirm · n/esc cancel"
            yield Static(where_lines(self.context_name, plan.target.namespace, f"{plan.target.kind.kind} "
                                     f"{plan.target.name}", self.protected), id="confirm-where")
            yield Static(Content(_t(plan.summary, 300)), id="confirm-summary")
            with VerticalScroll(id="confirm-body"):
                for kind, content in self.details():
                    yield Static(content, classes=f"confirm-{kind}")
            if self.needs_override:
                with Horizontal(classes="confirm-field", id="override-row"):
                    yield Static(Content.assemble((f"Type {OVERRIDE_WORD} to proceed anyway:", WARN_STYLE)))
                    yield Input(id="confirm-override", select_on_focus=False)
            if self.require_name:
                with Horizontal(classes="confirm-field", id="name-row"):
                    yield Static(Content.assemble(("Protected namespace: type ", WARN_STYLE),
                                                  (_t(plan.target.name, 63), "bold"), (" to confirm:", WARN_STYLE)))
                    yield Input(id="confirm-name", select_on_focus=False)
            yield Static("", id="confirm-status")
            with Horizontal(id="confirm-buttons"):
                yield Button("Apply (y)", id="confirm-yes", compact=True,
                             variant="error" if plan.destructive else "primary")
                yield Button("Cancel (n)", id="confirm-no", compact=True)

    def details(self) -> list[tuple[str, Content]]:
        """(section | item, content) in reading order: dry run, warnings, pre-flight, requests."""
        plan, check = self.plan, self.check
        out: list[tuple[str, Content]] = [("section", Content("Dry run (server-side, dryRun=All)"))]
        out += [("item", line) for line in dry_run_lines(plan, check)]
        warnings = list(dict.fromkeys([*plan.warnings, *check.warnings]))
        if warnings:
            out.append(("section", Content("Warnings")))
            out += [("item", Content.assemble((WARN_SYMBOL + " ", WARN_STYLE), _t(w, 600))) for w in warnings]
        if self.findings:
            out.append(("section", Content("Pre-flight")))
            for f in self.findings:
                style, sym = (ERROR_STYLE, SYMBOLS[Tone.DEGRADED]) if f.blocking else (WARN_STYLE, WARN_SYMBOL)
                out.append(("item", Content.assemble((f"{sym} {f.severity} ", style), _t(f.reason, 600))))
        n = len(plan.requests)
        head = f"Request{'s' if n > 1 else ''} ({n})"
        if plan.precondition_rv:
            head += f", only if still at resourceVersion {_t(plan.precondition_rv, 40)}"
        out.append(("section", Content(head)))
        for req in plan.requests:
            text = sanitize(request_text(req), 20000)
            out.append(("item", Content("\n").join(Content.styled(line, MUTED if line.startswith("# ") else "")
                                                   for line in text.split("\n"))))
        return out

    def on_mount(self) -> None:
        for inp in self.query(Input):
            inp.cursor_blink = False
        for button in self.query(Button):
            button.can_focus = False  # enter confirms (the screen's key), it never presses a focused button
        first = next(iter(self.query(Input)), None)
        (first or self.query_one("#confirm-body", VerticalScroll)).focus()
        self._update()
        self.call_after_refresh(self._fit)

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit)

    def _fit(self) -> None:
        fit_scroll(self, "#confirm-box", "#confirm-body")

    # -- state --------------------------------------------------------------------------------

    def blocked_reason(self) -> str:
        """Why confirming is not possible yet ("" when it is)."""
        reasons = []
        if self.needs_override and self._value("#confirm-override").strip().lower() != OVERRIDE_WORD:
            n = sum(1 for f in self.findings if f.blocking)
            what = []
            if self.dry_run_failed:
                what.append("the server's dry run refused this change")
            if n:
                what.append(f"{n} pre-flight error{'s' if n > 1 else ''}")
            reasons.append(f"blocked: {' and '.join(what)}; type {OVERRIDE_WORD} to proceed anyway")
        if self.require_name and self._value("#confirm-name") != self.plan.target.name:
            reasons.append(f"protected namespace {self.plan.target.namespace}: type the name "
                           f"{self.plan.target.name} to confirm")
        return "; ".join(reasons)

    def _value(self, selector: str) -> str:
        found = self.query(selector)
        return found.first(Input).value if found else ""

    def _update(self) -> None:
        blocked = self.blocked_reason()
        status = self.query_one("#confirm-status", Static)
        if blocked:
            status.update(Content(_t(blocked, 600)))
        else:
            what = "destructive change" if self.plan.destructive else "change"
            keys = ("enter", "esc") if self.query(Input) else ("y or enter", "n or esc")  # y/n type into a field
            status.update(Content(f"ready: {keys[0]} applies this {what}; {keys[1]} cancels"))
        status.set_class(bool(blocked), "-blocked")
        status.set_class(not blocked, "-ready")
        self.query_one("#confirm-yes", Button).disabled = bool(blocked)

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self._update()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_confirm()

    @on(Button.Pressed, "#confirm-yes")
    def _yes(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_confirm()

    @on(Button.Pressed, "#confirm-no")
    def _no(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_cancel()

    # -- actions ------------------------------------------------------------------------------

    def decision(self) -> Decision:
        notes = tuple(f.override_note() for f in self.findings if f.blocking) if self.needs_override else ()
        return Decision(overrides=notes, override_dry_run=self.dry_run_failed)

    def action_confirm(self) -> None:
        if self.blocked_reason():
            self.attempts += 1
            self.app.bell()
            self.query_one("#confirm-status", Static).add_class("-blocked")
            return
        self._decide(self.decision())

    def action_cancel(self) -> None:
        self._decide(None)

    def _decide(self, decision: Decision | None) -> None:
        callback, self._on_decided = self._on_decided, None
        if callback is not None:
            callback(decision)
        self.dismiss(decision)

    def action_scroll(self, lines: int) -> None:
        self.query_one("#confirm-body", VerticalScroll).scroll_relative(y=lines, animate=False)


class RefusalDialog(ModalScreen[None]):
    """A refused (or failed, conflicting, unknown) action: what, where, why; nothing more is sent."""

    DEFAULT_CSS = """
    RefusalDialog { align: center middle; }
    #refusal-box {
        width: 100; max-width: 100%; height: auto; max-height: 100%;
        border: round $error; background: $surface; padding: 0 1;
        border-subtitle-color: $text-muted;
    }
    #refusal-where, #refusal-head { height: auto; }
    #refusal-head { text-style: bold; color: $text-error; margin-top: 1; }
    #refusal-body { height: auto; scrollbar-size-vertical: 1; }
    #refusal-text { height: auto; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q,n,y", "close", "Close", show=False),
        Binding("down,j", "scroll(1)", "Down", show=False),
        Binding("up,k", "scroll(-1)", "Up", show=False),
    ]

    HEADINGS: ClassVar[dict[str, str]] = {
        "refused": "Refused: nothing was sent.",
        "failed": "Failed.",
        "conflict": "Conflict: the object changed since the plan; nothing was applied.",
        "unknown": "Outcome unknown: check before acting again.",
    }

    def __init__(self, *, title: str, context: str, namespace: str | None, object_text: str,
                 reasons: Sequence[str], status: str = "refused", details: Sequence[str] = (),
                 protected: bool = False) -> None:
        super().__init__(id="refusal")
        self.title_text, self.context_name, self.namespace = title, context, namespace
        self.object_text, self.status = object_text, status
        self.reasons = [r for r in reasons if r and r.strip()]
        self.detail_lines = list(details)
        self.protected = protected

    def compose(self) -> ComposeResult:
        with Vertical(id="refusal-box") as box:
            box.border_title = _t(f"{self.status.capitalize()}: {self.title_text}", 100)
            box.border_subtitle = "esc/enter closes"
            yield Static(where_lines(self.context_name, self.namespace, self.object_text, self.protected),
                         id="refusal-where")
            yield Static(self.HEADINGS.get(self.status, self.status), id="refusal-head")
            with VerticalScroll(id="refusal-body", can_focus=False):
                yield Static(self.body(), id="refusal-text")

    def on_mount(self) -> None:
        self.call_after_refresh(self._fit)

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit)

    def _fit(self) -> None:
        fit_scroll(self, "#refusal-box", "#refusal-body")

    def body(self) -> Content:
        lines = [Content.assemble((SYMBOLS[Tone.DEGRADED] + " ", ERROR_STYLE), _t(r.strip(), 2000))
                 for r in self.reasons] or [Content("(no reason given)")]
        if self.detail_lines:
            lines.append(Content.styled("Changed since the plan:", LABEL_STYLE))
            lines += [Content("  " + _t(d, 300)) for d in self.detail_lines]
        return Content("\n").join(lines)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_scroll(self, lines: int) -> None:
        self.query_one("#refusal-body", VerticalScroll).scroll_relative(y=lines, animate=False)
