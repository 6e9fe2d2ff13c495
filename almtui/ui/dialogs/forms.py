"""Forms that collect an action's parameters: image, replicas, revision, HPA policy.

Why validate here as well as in the planner: invalid input gets an inline error next to the field
and no request is ever sent; the rules are the API server's own (an image must be non-empty
without leading or trailing whitespace; the HPA rules are `planner.validate_hpa_spec`), plus
warnings for what is legal but risky (`:latest`, scaling to zero). Each form returns the params
of `ClusterService.plan()` for its action, only what changed, or None when cancelled; the result
is also set on `result_future`, so a caller can await it (`ActionRunner.ask_*`).
"""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Static

from almtui.cluster.actions.model import ActionError
from almtui.cluster.actions.planner import validate_hpa_spec
from almtui.cluster.views.common import age as age_of
from almtui.ui.dialogs.confirm import fit_scroll
from almtui.ui.sanitize import sanitize
from almtui.ui.status import SYMBOLS, THEME_VARS, Tone
from almtui.ui.widgets.table import Col, ResourceTable

if TYPE_CHECKING:
    from almtui.cluster.service import ClusterService

ERROR_STYLE = f"${THEME_VARS[Tone.DEGRADED]}"
WARN_STYLE = f"${THEME_VARS[Tone.PAUSED]}"
OK_STYLE = f"${THEME_VARS[Tone.HEALTHY]}"
MAX_REPLICAS = 10000


def _t(value: object, limit: int | None = 200) -> str:
    return sanitize(value, limit, single_line=True)


# -- pure validation (unit-testable) -------------------------------------------------------------

_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?)"
_NAME_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
# distribution/reference's grammar (without IPv6 hosts): [domain/]name[:tag][@digest]
IMAGE_REFERENCE = re.compile(rf"^(?:{_DOMAIN}/)?{_NAME_PART}(?:/{_NAME_PART})*(?::{_TAG})?(?:@{_DIGEST})?$")


def image_tag(image: str) -> str | None:
    """The tag of an image reference ("registry:5000/a/b:1.4@sha256:.." -> "1.4"), None when untagged."""
    ref = image.partition("@")[0]
    last = ref.rsplit("/", 1)[-1]
    return last.partition(":")[2] or None if ":" in last else None


def check_image(image: str) -> tuple[str, str]:
    """(error, warning) for a container image.

    Errors follow the API server: an image is required, and a pod's image must not have leading or
    trailing whitespace (validateContainersOnlyForPod: a template accepts it, so the Deployment
    would take the change and then fail to create every pod). Warnings flag what will likely fail
    to pull or drift (":latest", untagged)."""
    if not image:
        return "Required value: an image is required", ""
    if image.strip() != image:
        return "Invalid value: must not have leading or trailing whitespace", ""
    if any(ch.isspace() for ch in image):
        return "", "contains whitespace: not an image reference, the pull will fail"
    if not IMAGE_REFERENCE.match(image):
        return "", "does not look like an image reference (registry/name:tag or name@sha256:...): the pull may fail"
    digest = "@" in image
    tag = image_tag(image)
    if tag == "latest" and not digest:
        return "", "':latest' moves: pods of one revision may run different code and a rollback may not restore it"
    if tag is None and not digest:
        return "", "untagged means ':latest', which moves: pin a tag or a digest"
    return "", ""


def check_replicas(text: str, current: int | None = None) -> tuple[str, str, int | None]:
    """(error, warning, value) for a replica count typed by the operator (0..10000)."""
    if not re.fullmatch(r"[0-9]+", text or ""):
        return "must be a whole number from 0 to 10000", "", None
    n = int(text)
    if n > MAX_REPLICAS:
        return f"must be at most {MAX_REPLICAS}", "", None
    if current is not None and n == current:
        return f"already {n} replicas: nothing to change", "", n
    if n == 0:
        return "", "0 replicas: every pod stops and the workload serves nothing", n
    if current is not None and n < current:
        return "", f"scale down: {current - n} pod{'s' if current - n > 1 else ''} will stop", n
    return "", "", n


POLICY_TYPES = {"pods": "Pods", "percent": "Percent"}
SELECT_POLICIES = {"max": "Max", "min": "Min", "disabled": "Disabled"}
# the API server's defaults for an HPA's behavior (GenerateHPAScaleUpRules / ScaleDownRules)
DEFAULT_RULES: dict[str, dict[str, Any]] = {
    "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                             {"type": "Percent", "value": 100, "periodSeconds": 15}]},
    "scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Max",
                  "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]},
}


def format_policies(policies: Sequence[Mapping[str, Any]]) -> str:
    """[{"type": "Pods", "value": 4, "periodSeconds": 15}] -> "Pods 4 15s"."""
    return ", ".join(f"{p.get('type')} {p.get('value')} {p.get('periodSeconds')}s" for p in policies)


def parse_policies(text: str) -> tuple[list[dict[str, Any]], str]:
    """"Pods 4 15s, Percent 100 60" -> the policies list, or an error saying what is wrong."""
    out: list[dict[str, Any]] = []
    for i, part in enumerate(p.strip() for p in text.split(",")):
        if not part and not text.strip():
            break
        words = part.split()
        if len(words) != 3:
            return [], f"policy {i + 1}: write TYPE VALUE PERIOD, e.g. 'Pods 4 15s' or 'Percent 100 60s'"
        kind, value, period = words
        period = period[:-1] if period.lower().endswith("s") else period
        if not re.fullmatch(r"-?[0-9]+", value):
            return [], f"policy {i + 1}: value {value!r} is not a whole number"
        if not re.fullmatch(r"-?[0-9]+", period):
            return [], f"policy {i + 1}: period {words[2]!r} is not a number of seconds"
        out.append({"type": POLICY_TYPES.get(kind.lower(), kind), "value": int(value), "periodSeconds": int(period)})
    return out, ""


def _utilization_metric(spec: Mapping[str, Any]) -> tuple[str, int | None]:
    for m in spec.get("metrics") or ():
        res = (m or {}).get("resource") if (m or {}).get("type") == "Resource" else None
        if res and (res.get("target") or {}).get("type") == "Utilization":
            return str(res.get("name") or "cpu"), (res.get("target") or {}).get("averageUtilization")
    return "cpu", None


def proposed_spec(old: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The HPA spec `planner.hpa_update(params)` would produce (for validation and the what-if)."""
    new = copy.deepcopy(dict(old))
    if params.get("min_replicas") is not None:
        new["minReplicas"] = params["min_replicas"]
    if params.get("max_replicas") is not None:
        new["maxReplicas"] = params["max_replicas"]
    if params.get("target_utilization") is not None:
        metric = params.get("metric") or "cpu"
        metrics = new.setdefault("metrics", []) or []
        new["metrics"] = metrics
        for m in metrics:
            res = m.get("resource") if m.get("type") == "Resource" else None
            if res is not None and res.get("name") == metric:
                res["target"] = {"type": "Utilization", "averageUtilization": params["target_utilization"]}
                break
        else:
            metrics.append({"type": "Resource", "resource": {"name": metric, "target": {
                "type": "Utilization", "averageUtilization": params["target_utilization"]}}})
    for key, param in (("scaleUp", "scale_up"), ("scaleDown", "scale_down")):
        if params.get(param):
            behavior = new.setdefault("behavior", {}) or {}
            new["behavior"] = behavior
            behavior[key] = {**(behavior.get(key) or {}), **params[param]}
    return new


# -- the forms ------------------------------------------------------------------------------------


class FormScreen(ModalScreen[dict | None]):
    """A modal form: escape cancels (None), enter / ctrl+s submits when valid."""

    DEFAULT_CSS = """
    FormScreen { align: center middle; }
    .form-box {
        width: 96; max-width: 100%; height: auto; max-height: 100%;
        border: round $primary; background: $surface; padding: 0 1;
        border-subtitle-color: $text-muted;
    }
    .form-head { height: auto; margin-bottom: 1; }
    .form-row { height: 1; }
    .form-label { width: 16; color: $text-accent; text-style: bold; }
    .form-row Input { width: 1fr; height: 1; border: none; padding: 0 1; background: $boost; }
    .form-row Input:focus { border: none; background-tint: $foreground 8%; }
    .form-row Input.-invalid { background-tint: $error 30%; }
    .form-row Input.-invalid:focus { border: none; }
    .form-note { height: auto; padding-left: 16; }
    .form-error { height: auto; margin-top: 1; color: $text-error; display: none; }
    .form-hint { height: auto; margin-top: 1; color: $text-muted; }
    #image-rows { height: auto; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", show=False),
        Binding("ctrl+s", "submit", "Save", show=False),
    ]

    result_future: asyncio.Future[dict | None] | None = None

    def dismiss(self, result: dict | None = None) -> Any:  # type: ignore[override]
        fut = self.result_future
        if fut is not None and not fut.done():
            fut.set_result(result)
        return super().dismiss(result)

    def on_mount(self) -> None:
        for inp in self.query(Input):
            inp.cursor_blink = False

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        result = self.submit()
        if result is not None:
            self.dismiss(result)

    def submit(self) -> dict | None:
        """The params when the input is valid; else show why and return None (nothing is sent)."""
        raise NotImplementedError

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def form_error(self, message: str) -> None:
        box = self.query_one("#form-error", Static)
        box.update(Content(sanitize(message, 2000)) if message else "")
        box.display = bool(message)


def note(error: str, warning: str, hint: str = "") -> Content:
    """The line under a field: its error, else its warning, else a hint."""
    if error:
        return Content.assemble((f"{SYMBOLS[Tone.DEGRADED]} {error}", ERROR_STYLE))
    if warning:
        return Content.assemble((f"! {warning}", WARN_STYLE))
    return Content.styled(hint, "$text-muted") if hint else Content("")


class ImageForm(FormScreen):
    """One input per container (init containers too), prefilled with the current image."""

    def __init__(self, workload: Mapping[str, Any]) -> None:
        super().__init__(id="image-form")
        md = workload.get("metadata") or {}
        self.kind = str(workload.get("kind") or "")
        self.namespace, self.object_name = str(md.get("namespace") or ""), str(md.get("name") or "")
        pod = ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}
        self.containers: list[tuple[str, str, bool]] = [
            (str(c.get("name") or ""), str(c.get("image") or ""), lst == "initContainers")
            for lst in ("initContainers", "containers") for c in pod.get(lst) or ()]

    def compose(self) -> ComposeResult:
        with Vertical(classes="form-box", id="image-box") as box:
            box.border_title = _t(f"Set image: {self.kind} {self.namespace}/{self.object_name}", 90)
            box.border_subtitle = "enter saves · esc cancels"
            with VerticalScroll(id="image-rows"):
                for i, (name, image, init) in enumerate(self.containers):
                    with Horizontal(classes="form-row"):
                        label = f"{'init:' if init else ''}{name}"
                        yield Static(Content(_t(label, 15)), classes="form-label")
                        yield Input(value=image, id=f"image-{i}", select_on_focus=False)
                    yield Static("", id=f"image-note-{i}", classes="form-note")
            if not self.containers:
                yield Static(Content(_t(f"{self.kind} {self.object_name} has no pod template here (workloadRef?)")))
            yield Static("", id="form-error", classes="form-error")
            yield Static("kubectl set image: the pods are replaced by a rolling update", classes="form-hint")

    def on_mount(self) -> None:
        super().on_mount()
        for i in range(len(self.containers)):
            self._check(i)
        first = next(iter(self.query(Input)), None)
        if first is not None:
            first.focus()
        self.call_after_refresh(self._fit)

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit)

    def _fit(self) -> None:
        fit_scroll(self, "#image-box", "#image-rows")

    def _check(self, i: int) -> str:
        inp = self.query_one(f"#image-{i}", Input)
        error, warning = check_image(inp.value)
        inp.set_class(bool(error), "-invalid")
        self.query_one(f"#image-note-{i}", Static).update(note(error, warning))
        return error

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.input.id and event.input.id.startswith("image-"):
            self._check(int(event.input.id.split("-")[1]))
            self.form_error("")

    def submit(self) -> dict | None:
        errors = [i for i in range(len(self.containers)) if self._check(i)]
        if errors:
            self.query_one(f"#image-{errors[0]}", Input).focus()
            self.form_error("fix the image above: nothing was sent")
            return None
        images = {}
        for i, (name, image, _init) in enumerate(self.containers):
            value = self.query_one(f"#image-{i}", Input).value
            if value != image:
                images[name] = value
        if not images:
            self.form_error("no image changed: nothing to send")
            return None
        return {"images": images}


class ScaleForm(FormScreen):
    """A replica count, 0..10000."""

    def __init__(self, kind: str, namespace: str, name: str, current: int, *, hpa: str | None = None) -> None:
        super().__init__(id="scale-form")
        self.kind, self.namespace, self.object_name = kind, namespace, name
        self.current, self.hpa = current, hpa

    def compose(self) -> ComposeResult:
        with Vertical(classes="form-box") as box:
            box.border_title = _t(f"Scale: {self.kind} {self.namespace}/{self.object_name}", 90)
            box.border_subtitle = "enter saves · esc cancels"
            yield Static(Content(f"now {self.current} replica{'s' if self.current != 1 else ''}"), classes="form-head")
            with Horizontal(classes="form-row"):
                yield Static("replicas", classes="form-label")
                yield Input(value=str(self.current), id="scale-replicas")
            yield Static("", id="scale-note", classes="form-note")
            if self.hpa:
                yield Static(Content.assemble((f"! HorizontalPodAutoscaler {_t(self.hpa, 63)} manages these replicas: "
                                               "it will set them back within its sync period", WARN_STYLE)),
                             classes="form-hint")
            yield Static("", id="form-error", classes="form-error")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#scale-replicas", Input).focus()
        self._check()

    def _check(self) -> tuple[str, int | None]:
        inp = self.query_one("#scale-replicas", Input)
        error, warning, n = check_replicas(inp.value, self.current)
        # the current count is not a typing mistake: a hint, refused only on submit
        shown = ("", "", f"type the new count (0 to {MAX_REPLICAS})") if n == self.current else (error, warning)
        inp.set_class(bool(shown[0]), "-invalid")
        self.query_one("#scale-note", Static).update(note(*shown))
        return error, n

    @on(Input.Changed, "#scale-replicas")
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self._check()
        self.form_error("")

    def submit(self) -> dict | None:
        error, n = self._check()
        if error or n is None:
            self.form_error(f"{error}: nothing was sent" if n == self.current else "nothing was sent")
            return None
        return {"replicas": n}


class RevisionPicker(FormScreen):
    """The workload's revisions (newest first, the current one marked); enter picks one to roll back to."""


    COLUMNS = (
        Col("revision", "REV", width=4, justify="right"),
        Col("current", " ", width=1),
        Col("images", "IMAGES", max_len=60),
        Col("cause", "CHANGE-CAUSE", max_len=40),
        Col("age", "AGE", width=5, age=True, justify="right"),
    )

    def __init__(self, service: ClusterService, plural: str, namespace: str, name: str, *,
                 clock: Callable[[], float]) -> None:
        super().__init__(id="revision-picker")
        self.service, self.plural, self.namespace, self.object_name = service, plural, namespace, name
        self.clock = clock
        self.revisions: list[Any] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="form-box", id="revision-box") as box:
            box.border_title = _t(f"Roll back: {self.namespace}/{self.object_name}", 90)
            box.border_subtitle = "enter picks · esc cancels"
            yield Static("reading the revision history…", id="revision-head", classes="form-head")
            yield ResourceTable(self.COLUMNS, id="revision-table")
            yield Static("", id="form-error", classes="form-error")

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#revision-table", ResourceTable)
        table.styles.height = "auto"  # inline: the app's stylesheet gives tables 1fr
        table.styles.max_height = 14
        table.focus()
        self._load()

    @work(thread=True, exit_on_error=False, group="revisions")
    def _load(self) -> None:
        try:
            revs, error = self.service.revisions(self.plural, self.namespace, self.object_name), ""
        except ActionError as e:
            revs, error = [], e.message
        except Exception as e:  # a broken object: said, not raised
            revs, error = [], f"{type(e).__name__}: {e}"
        self.app.call_from_thread(self._show, revs, error)

    def _show(self, revs: list[Any], error: str) -> None:
        self.revisions = sorted(revs, key=lambda r: r.revision, reverse=True)
        now = self.clock()
        rows = []
        for r in self.revisions:
            rows.append((r.revision, (r.revision, SYMBOLS[Tone.HEALTHY] if r.current else "",
                                      ", ".join(r.images), r.change_cause, age_of(r.created, now))))
        table = self.query_one("#revision-table", ResourceTable)
        table.set_rows(rows, now)
        head = self.query_one("#revision-head", Static)
        if error:
            head.update(Content.assemble((f"{SYMBOLS[Tone.DEGRADED]} {_t(error, 300)}", ERROR_STYLE)))
        elif not self.revisions:
            head.update("no revisions found")
        else:
            cur = next((r.revision for r in self.revisions if r.current), None)
            head.update(Content(f"{len(self.revisions)} revisions; {SYMBOLS[Tone.HEALTHY]} marks the current one"
                                + (f" ({cur})" if cur is not None else "")))
            idx = next((i + 1 for i, r in enumerate(self.revisions) if r.current), 0)
            table.move_cursor(row=min(idx, len(self.revisions) - 1), animate=False)

    def selected(self) -> Any:
        table = self.query_one("#revision-table", ResourceTable)
        key = table.selected_key
        return next((r for r in self.revisions if r.revision == key), None)

    @on(DataTable.RowSelected)
    def _picked(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_submit()

    def submit(self) -> dict | None:
        rev = self.selected()
        if rev is None:
            self.form_error("no revision to roll back to")
            return None
        if rev.current:
            self.form_error(f"revision {rev.revision} is the current one: pick an older revision")
            return None
        return {"to_revision": rev.revision}


class HPAPolicyForm(FormScreen):
    """Bounds, target utilisation and scale-up/down behaviour, validated as the API server does, with
    the replica count one HPA reconcile would choose now under the proposed policy (live)."""

    DEFAULT_CSS = """
    HPAPolicyForm .form-row Input { width: 10; }
    HPAPolicyForm .form-row Input.wide { width: 1fr; }
    HPAPolicyForm .form-row .form-sub { width: auto; padding: 0 1 0 2; color: $text-muted; }
    #hpa-whatif { height: auto; margin-top: 1; }
    """

    FIELDS: ClassVar[dict[str, str]] = {
        "spec.minReplicas": "hpa-min", "spec.maxReplicas": "hpa-max", "spec.metrics": "hpa-target",
        "spec.behavior.scaleUp.stabilizationWindowSeconds": "hpa-up-window",
        "spec.behavior.scaleUp.selectPolicy": "hpa-up-select", "spec.behavior.scaleUp.policies": "hpa-up-policies",
        "spec.behavior.scaleDown.stabilizationWindowSeconds": "hpa-down-window",
        "spec.behavior.scaleDown.selectPolicy": "hpa-down-select",
        "spec.behavior.scaleDown.policies": "hpa-down-policies",
    }

    def __init__(self, hpa: Mapping[str, Any], service: ClusterService, *, clock: Callable[[], float]) -> None:
        super().__init__(id="hpa-form")
        self.hpa = copy.deepcopy(dict(hpa))
        self.service, self.clock = service, clock
        md = self.hpa.get("metadata") or {}
        self.namespace, self.object_name = str(md.get("namespace") or ""), str(md.get("name") or "")
        self.spec: dict[str, Any] = self.hpa.get("spec") or {}
        self.metric, target = _utilization_metric(self.spec)
        behavior = self.spec.get("behavior") or {}
        self.initial: dict[str, str] = {
            "hpa-min": str(self.spec.get("minReplicas", 1)),
            "hpa-max": str(self.spec.get("maxReplicas", "")),
            "hpa-target": "" if target is None else str(target),
        }
        for key, prefix in (("scaleUp", "hpa-up"), ("scaleDown", "hpa-down")):
            rules = {**DEFAULT_RULES[key], **{k: v for k, v in (behavior.get(key) or {}).items() if v is not None}}
            self.initial[f"{prefix}-window"] = str(rules.get("stabilizationWindowSeconds", ""))
            self.initial[f"{prefix}-select"] = str(rules.get("selectPolicy", ""))
            self.initial[f"{prefix}-policies"] = format_policies(rules.get("policies") or [])
        self.pods: list[dict] | None = None
        self.pod_metrics: list[dict] | None = None
        self.metrics_error = ""
        self.errors: list[tuple[str, str]] = []
        self.what_if: int | None = None

    def compose(self) -> ComposeResult:
        ref = self.spec.get("scaleTargetRef") or {}
        v = self.initial
        with Vertical(classes="form-box") as box:
            where = f"{self.namespace}/{self.object_name}"
            box.border_title = _t(f"Autoscaler: {where} -> {ref.get('kind')} {ref.get('name')}", 90)
            box.border_subtitle = "enter saves · esc cancels"
            with Horizontal(classes="form-row"):
                yield Static("Replicas", classes="form-label")
                yield Static("min", classes="form-sub")
                yield Input(v["hpa-min"], id="hpa-min", select_on_focus=False)
                yield Static("max", classes="form-sub")
                yield Input(v["hpa-max"], id="hpa-max", select_on_focus=False)
                yield Static(Content(f"{_t(self.metric, 20)} target %"), classes="form-sub")
                yield Input(v["hpa-target"], id="hpa-target", select_on_focus=False)
            for title, prefix in (("Scale up", "hpa-up"), ("Scale down", "hpa-down")):
                with Horizontal(classes="form-row"):
                    yield Static(title, classes="form-label")
                    yield Static("window s", classes="form-sub")
                    yield Input(v[f"{prefix}-window"], id=f"{prefix}-window", select_on_focus=False)
                    yield Static("select", classes="form-sub")
                    yield Input(v[f"{prefix}-select"], id=f"{prefix}-select", select_on_focus=False)
                with Horizontal(classes="form-row"):
                    yield Static("", classes="form-label")
                    yield Static("policies", classes="form-sub")
                    yield Input(v[f"{prefix}-policies"], id=f"{prefix}-policies", classes="wide",
                                select_on_focus=False)
            yield Static("what-if: reading pod metrics…", id="hpa-whatif")
            yield Static("", id="form-error", classes="form-error")
            yield Static("policies: TYPE VALUE PERIOD, comma-separated (Pods 4 15s, Percent 100 60s); "
                         "select: Max, Min or Disabled", classes="form-hint")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#hpa-min", Input).focus()
        self._refresh()
        self._load_metrics()

    @work(thread=True, exit_on_error=False, group="hpa-metrics")
    def _load_metrics(self) -> None:
        from almtui.cluster.advice import workload_pods
        svc = self.service
        ref = self.spec.get("scaleTargetRef") or {}
        plural = {"Deployment": "deployments", "Rollout": "rollouts"}.get(str(ref.get("kind")))
        target = svc.get(plural, self.namespace, str(ref.get("name"))) if plural else None
        pods: list[dict] = []
        items: list[dict] = []
        error = ""
        if target is None:
            error = f"the scale target {ref.get('kind')} {ref.get('name')} is not known here"
        else:
            ns = self.namespace
            pods = workload_pods(target, svc.objects("pods", ns), svc.objects("replicasets", ns))
            try:
                answer = svc.conn.request("GET", f"/apis/metrics.k8s.io/v1beta1/namespaces/{self.namespace}/pods")
                items = [i for i in (answer or {}).get("items") or () if isinstance(i, dict)]
            except Exception as e:  # no metrics API: the what-if is "not available", never guessed
                error = f"no pod metrics ({e})"
        self.app.call_from_thread(self._metrics_loaded, pods, items, error)

    def _metrics_loaded(self, pods: list[dict], items: list[dict], error: str) -> None:
        self.pods, self.pod_metrics, self.metrics_error = pods, items, error
        self._refresh()

    # -- reading the fields ---------------------------------------------------------------------

    def _value(self, field_id: str) -> str:
        return self.query_one(f"#{field_id}", Input).value.strip()

    def read(self) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """(hpa_update params: only what changed, [(field id, error)])."""
        params: dict[str, Any] = {}
        errors: list[tuple[str, str]] = []
        for fid, key in (("hpa-min", "min_replicas"), ("hpa-max", "max_replicas"),
                         ("hpa-target", "target_utilization")):
            text = self._value(fid)
            if text == self.initial[fid]:
                continue
            if not re.fullmatch(r"-?[0-9]+", text):
                errors.append((fid, f"{text or 'empty'}: must be a whole number"))
                continue
            params[key] = int(text)
            if key == "target_utilization":
                params["metric"] = self.metric
        for direction, prefix in (("scale_up", "hpa-up"), ("scale_down", "hpa-down")):
            changes: dict[str, Any] = {}
            window = self._value(f"{prefix}-window")
            if window != self.initial[f"{prefix}-window"]:
                if re.fullmatch(r"-?[0-9]+", window):
                    changes["stabilizationWindowSeconds"] = int(window)
                else:
                    errors.append((f"{prefix}-window", f"{window or 'empty'}: must be a number of seconds"))
            select = self._value(f"{prefix}-select")
            if select != self.initial[f"{prefix}-select"]:
                changes["selectPolicy"] = SELECT_POLICIES.get(select.lower(), select)
            text = self._value(f"{prefix}-policies")
            if text != self.initial[f"{prefix}-policies"]:
                policies, error = parse_policies(text)
                if error:
                    errors.append((f"{prefix}-policies", error))
                else:
                    changes["policies"] = policies
            if changes:
                params[direction] = changes
        if not errors:
            for path, message in validate_hpa_spec(proposed_spec(self.spec, params), self.spec):
                fid = next((f for p, f in self.FIELDS.items() if path.startswith(p)), "hpa-min")
                errors.append((fid, f"{path}: {message}"))
        return params, errors

    def _refresh(self) -> None:
        params, errors = self.read()
        self.errors = errors
        bad = {fid for fid, _ in errors}
        for inp in self.query(Input):
            inp.set_class(inp.id in bad, "-invalid")
        self.form_error("\n".join(f"{SYMBOLS[Tone.DEGRADED]} {msg}" for _, msg in errors))
        self.query_one("#hpa-whatif", Static).update(self._what_if_text(params, errors))

    def _what_if_text(self, params: dict[str, Any], errors: list[tuple[str, str]]) -> Content:
        status = self.hpa.get("status") or {}
        current = status.get("currentReplicas")
        now_text = f"currently {current}" if current is not None else "current count unknown"
        if errors:
            self.what_if = None
            return Content(f"what-if: fix the errors first ({now_text})")
        if self.pods is None:
            return Content(f"what-if: reading pod metrics… ({now_text})")
        if self.metrics_error:
            self.what_if = None
            return Content.assemble((f"what-if: not available: {_t(self.metrics_error, 200)}", WARN_STYLE))
        from almtui.cluster.views import hpa_what_if
        spec = proposed_spec(self.spec, params)
        proposed = {"minReplicas": spec.get("minReplicas", 1), "maxReplicas": spec.get("maxReplicas"),
                    "resource": self.metric, "behavior": spec.get("behavior")}
        target = _utilization_metric(spec)[1]
        if target is not None:
            proposed["targetUtilization"] = target
        try:
            self.what_if = hpa_what_if(self.hpa, self.pods, self.pod_metrics or [], proposed, self.clock())
        except Exception as e:  # a what-if is advice: say it failed
            self.what_if = None
            return Content.assemble((f"what-if: not available: {_t(e, 200)}", WARN_STYLE))
        names = {(p.get("metadata") or {}).get("name") for p in self.pods}
        measured = sum(1 for m in self.pod_metrics or () if (m.get("metadata") or {}).get("name") in names)
        return Content.assemble(("what-if: ", "bold"), (f"{self.what_if} replicas", "bold"),
                                f" now under this policy ({now_text}; metrics of {measured} of "
                                f"{len(self.pods)} pods)")

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self._refresh()

    def submit(self) -> dict | None:
        params, errors = self.read()
        if errors:
            self._refresh()
            self.query_one(f"#{errors[0][0]}", Input).focus()
            return None
        if not params:
            self.form_error("nothing changed: nothing to send")
            return None
        return params
