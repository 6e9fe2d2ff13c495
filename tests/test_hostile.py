"""Hostile cluster strings never become terminal control or markup in the real console.

Two views of the same hostile cluster (almtui/sandbox/scenarios/hostile.yaml, generated from
tests/hostile/payloads.py):

1. The real console (`python -m almtui --kubeconfig K -A`) under a 120x40 pseudo-terminal visits
   every screen; the raw bytes it writes must hold none of the payloads' control sequences, and
   the screen (decoded by the pyte terminal emulator when installed) shows their visible escapes.
2. The app in-process under Pilot: every table cell and every rendered segment of every screen is
   free of control characters and links, markup payloads read literally, and every payload shows.

Keys that do not exist yet are skipped (see `bound_keys`); the log-lines hook (almtui/sandbox/
hostile.py) is patched into PodLogs here until podlogs.py calls it itself.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import pkgutil
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from almtui.sandbox import hostile, podlogs
from tests.hostile import payloads as P
from tests.ptyrec import Key, Quiet, Recording, Wait, record
from tests.support import RunningSandbox

ROOT = Path(__file__).resolve().parents[1]
SIZE = (120, 40)
FAST = {"qps": 500.0, "burst": 500}

# What Textual itself writes that looks like a payload: OSC 22 (pointer shape), terminated by BEL.
TEXTUAL_OSC = re.compile(r"\x1b\]22;[^\x07\x1b]*(?:\x07|\x1b\\)")
# After removing those, any ESC not starting a CSI is a leak (OSC, DCS, APC, PM, SOS, RIS, charsets).
NON_CSI_ESC = re.compile(r"\x1b[^\[]|\x1b$")
# No C0 but CR/LF/ESC, no DEL, no C1, no bidi or separators, no invalid UTF-8 (surrogateescape).
RAW_CONTROL = re.compile("[\x00-\x09\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e"
                         "\u2066-\u2069\udc80-\udcff]")


def _log_hook_in_podlogs() -> bool:
    return "with_log_lines" in inspect.getsource(podlogs.PodLogs.lines)


def install_log_hook(mp: pytest.MonkeyPatch) -> None:
    """Until podlogs.PodLogs.lines calls hostile.with_log_lines: the same lines via a patch."""
    if _log_hook_in_podlogs():
        return
    instance, generate = podlogs.PodLogs.instance, podlogs.PodLogs.generate

    def patched_instance(self: Any, pod: dict, container: str, previous: bool) -> Any:
        inst = instance(self, pod, container, previous)
        if inst is not None and hostile.log_lines(pod):
            self.__dict__.setdefault("_hostile_pods", {})[inst.container_id] = pod
        return inst

    def patched_generate(self: Any, inst: Any, since: float | None, until: float) -> list[tuple[float, str]]:
        out = generate(self, inst, since, until)
        pod = self.__dict__.get("_hostile_pods", {}).get(inst.container_id)
        if pod is None:
            return out
        return [e for e in hostile.with_log_lines(pod, inst, out) if since is None or e[0] > since]

    mp.setattr(podlogs.PodLogs, "instance", patched_instance)
    mp.setattr(podlogs.PodLogs, "generate", patched_generate)


@pytest.fixture(scope="module")
def hostile_sandbox(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    install_log_hook(mp)
    sb = RunningSandbox(str(P.SCENARIO_PATH), seed=1, speed=1.0, workdir=tmp_path_factory.mktemp("hostile")).start()
    yield sb
    sb.stop()
    mp.undo()


def bound_keys() -> set[str]:
    """Every key bound by the app or any screen/widget module of almtui.ui (what the console offers)."""
    import almtui.ui
    import almtui.ui.app

    found: set[str] = set()
    modules = [almtui.ui.app]
    for pkg in ("almtui.ui.screens", "almtui.ui.widgets"):
        mod = importlib.import_module(pkg)
        modules += [importlib.import_module(f"{pkg}.{m.name}") for m in pkgutil.iter_modules(mod.__path__)]
    for mod in modules:
        for obj in vars(mod).values():
            if inspect.isclass(obj) and obj.__module__.startswith("almtui.ui"):
                for b in vars(obj).get("BINDINGS", ()):
                    key = b.key if hasattr(b, "key") else b[0]
                    found.update(k.strip() for k in key.split(","))
    return found


# -- the scenario ------------------------------------------------------------------------------------

def test_scenario_file_is_generated_from_the_corpus() -> None:
    """hostile.yaml is `python -m tests.hostile.payloads --write`; regenerate it when the corpus changes."""
    same = P.SCENARIO_PATH.read_text(encoding="utf-8") == P.render_yaml()
    assert same, "almtui/sandbox/scenarios/hostile.yaml is stale: run `python -m tests.hostile.payloads --write`"


def test_corpus_shape() -> None:
    assert len(P.PAYLOADS) >= 50
    assert len({p.id for p in P.PAYLOADS}) == len(P.PAYLOADS)
    for p in P.PAYLOADS:
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?", p.id), p.id
        # each control has payload text before it, so Textual's own sequences cannot match a window
        assert P.anchored(p) or p.category in ("newline",), p.id
        assert P.forbidden(p) or not P.UNSAFE_SINGLE.search(p.text), p.id
    categories = {p.category for p in P.PAYLOADS}
    assert {"csi", "osc", "dcs", "c1", "c0", "newline", "bidi", "invisible", "markup", "width",
            "lookalike"} <= categories


def test_every_payload_is_in_the_cluster(hostile_sandbox) -> None:
    sb = hostile_sandbox
    events = {e["message"] for e in sb.list("/events", P.NAMESPACE) if e.get("type") == "Warning"}
    failed = {(p.get("status") or {}).get("message") or "" for p in sb.list("/pods", P.NAMESPACE)}
    for p in P.SCENARIO_PAYLOADS:
        assert p.text in events, p.id
        assert any(m.startswith(p.text[:P.SHORT]) for m in failed), p.id
    # the controllers repeat the payloads in messages of their own
    hpa = sb.get("autoscaling/horizontalpodautoscalers", P.NAMESPACE, "hx-osc-title-bel")
    assert any("ALMTUI-PWN-osc-title-bel\x07" in c["message"] for c in hpa["status"]["conditions"])
    app = sb.get("argoproj.io/applications", P.ARGO_NAMESPACE, "hx-osc-title-bel")
    assert any("\x1b]0;ALMTUI-PWN" in c["message"] for c in app["status"]["conditions"])


def test_log_lines_carry_payloads(hostile_sandbox) -> None:
    sb = hostile_sandbox
    pod = next(p["metadata"]["name"] for p in sb.list("/pods", P.NAMESPACE)
               if p["metadata"]["name"].startswith("hx-all-logs-"))
    lines = [text for _, text in sb.call(lambda s: s.ctx.shared["logs"].lines(P.NAMESPACE, pod, None, False))]
    for p in P.SCENARIO_PAYLOADS:
        assert p.text in lines, p.id
    assert lines.index("--- csi-clear-screen") < lines.index('level=info msg="listening" addr=:8080')


# -- 1. the real console under a pty -----------------------------------------------------------------

def _leaks(output: bytes) -> list[str]:
    """Every way the raw output shows a payload acting on the terminal."""
    text = output.decode("utf-8", "surrogateescape")
    problems: list[str] = []
    for p in P.SCENARIO_PAYLOADS:
        problems += [f"{p.id}: raw {w!r}" for w in P.forbidden(p) if w in text]
    cleaned = TEXTUAL_OSC.sub("", text)
    for rx, what in ((NON_CSI_ESC, "non-CSI escape"), (RAW_CONTROL, "control character")):
        for m in list(rx.finditer(cleaned))[:5]:
            problems.append(f"{what} {m.group()!r} near {cleaned[max(0, m.start() - 20): m.end() + 20]!r}")
    return problems


def _screens(rec: Recording) -> list[tuple[str, str, str]]:
    """(label, screen text, window title) at each step, as a VT terminal (pyte) shows them."""
    import pyte

    screen = pyte.Screen(*SIZE)
    stream = pyte.ByteStream(screen)
    out, done = [], 0
    for label, offset in rec.marks:
        stream.feed(rec.output[done:offset])
        done = offset
        # not screen.display: it fails on the empty cells zero-width characters leave (pyte 0.8.2)
        rows = ("".join(screen.buffer[y][x].data for x in range(screen.columns)) for y in range(screen.lines))
        out.append((label, "\n".join(rows), screen.title + screen.icon_name))
    return out


def test_console_under_a_pty_writes_no_payload(hostile_sandbox, tmp_path) -> None:
    sb = hostile_sandbox
    keys = bound_keys()
    steps: list[Any] = [
        Wait(rb"hx-[a-z0-9-]+-run", 60, "pipelines-data"), Quiet(0.5, 10, "pipelines"),
        Key("2", 0.3), Wait(b"Rollouts", 10, required=False), Quiet(0.5, 10, "rollouts"),
        Key("3", 0.3), Wait(b"Warning", 10, required=False), Quiet(0.5, 10, "health"),
        Key("4", 0.3), Wait(b"Autoscalers", 10, required=False), Quiet(0.5, 10, "autoscalers"),
        # the rollout of the deployment that logs every payload: filter to it, open it, show its logs
        Key("2", 0.5), Key("/", 0.3), Key("hx-all-logs", 0.5), Key("enter", 0.5),
        Key("enter", 0.5), Quiet(0.5, 10, "detail"),
    ]
    if "l" in keys:
        steps += [Key("l", 0.5), Quiet(0.8, 10, "logs"), Key("escape", 0.5)]
    steps += [Key("escape", 0.5), Key("escape", 0.5), Key("?", 0.5),
              Quiet(0.3, 5, "help"), Key("escape", 0.5), Quiet(0.3, 5, "end")]
    env = {k: v for k, v in os.environ.items() if k not in ("COLORTERM", "NO_COLOR") and not k.startswith("TEXTUAL")}
    quit_keys = (Key("escape", 0.3), Key("q", 1.5), Key("ctrl+q", 1.0))  # ctrl+q: should a dialog hold q
    rec: Recording = record([sys.executable, "-m", "almtui", "--kubeconfig", sb.kubeconfig, "-A"], steps,
                            cols=SIZE[0], rows=SIZE[1], env=env, cwd=str(ROOT), quit_keys=quit_keys)
    (tmp_path / "console.bin").write_bytes(rec.output)  # kept for inspection when the test fails
    assert not rec.timed_out, f"the console never showed {rec.timed_out}: {rec.output[-2000:]!r}"
    assert rec.returncode == 0, f"the console did not quit cleanly ({rec.returncode}): {rec.output[-2000:]!r}"
    assert b"Traceback" not in rec.output

    problems = _leaks(rec.output)
    assert not problems, "\n".join(problems[:40])

    try:
        screens = _screens(rec)
    except ImportError:  # without a terminal emulator: the escaped forms must at least be in the bytes
        shown, title = rec.output.decode("utf-8", "replace"), ""
    else:
        shown = "\n".join(text for _, text, _ in screens)
        title = "".join(t for _, _, t in screens)
    assert "ALMTUI-PWN" not in title and "evil" not in title
    tokens = {p.id: P.visible_token(p) for p in P.SCENARIO_PAYLOADS if P.visible_token(p)}
    seen = sorted(pid for pid, tok in tokens.items() if tok in shown)
    assert len(seen) >= 10, f"only {seen} of the escaped payloads are visible:\n{shown}"
    assert "\\x1b" in shown


# -- 2. the app in-process --------------------------------------------------------------------------

def _cells(app: Any) -> list[Any]:
    from almtui.ui.widgets.table import ResourceTable

    out = []
    for table in app.screen.query(ResourceTable):
        for i in range(table.row_count):
            out.extend(table.get_row_at(i))
    return out


def _check_rendered(app: Any, where: str) -> list[str]:
    """Problems in every table cell and every segment the screen renders right now."""
    from rich.text import Text

    problems = []
    for cell in _cells(app):
        plain = cell.plain if isinstance(cell, Text) else str(cell)
        if P.UNSAFE_SINGLE.search(plain):
            problems.append(f"{where}: cell {plain[:80]!r}")
        if isinstance(cell, Text):
            styles = [str(cell.style), *(str(s.style) for s in cell.spans)]
            if any("link" in s or "@click" in s for s in styles):
                problems.append(f"{where}: styled cell {plain[:80]!r} {styles}")
    for y, strip in enumerate(app.screen._compositor.render_strips()):
        for seg in strip:
            if P.UNSAFE.search(seg.text) or "\n" in seg.text:
                problems.append(f"{where}: line {y} segment {seg.text[:80]!r}")
            style = seg.style
            if style is not None and style.link:
                problems.append(f"{where}: line {y} links {style.link!r}")
            if style is not None and style.meta and "@click" in style.meta and (
                    "quit-the-app" in seg.text or "bell" in str(style.meta.get("@click"))):
                problems.append(f"{where}: line {y} clickable {seg.text!r}")
    svg = app.export_screenshot()
    if P.UNSAFE.search(svg):
        problems.append(f"{where}: screenshot holds {P.UNSAFE.search(svg).group()!r}")
    return problems


async def _settle(pilot: Any) -> None:
    await pilot.pause()
    for _ in range(4):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause(0.1)
    await pilot.pause()


async def test_app_renders_hostile_objects_inert(hostile_sandbox) -> None:
    from almtui.cluster.connection import connect
    from almtui.cluster.kubeconfig import load_kubeconfig
    from almtui.cluster.service import ClusterService
    from almtui.ui.app import make_app
    from almtui.ui.screens import SCREEN_CLASSES

    kc = load_kubeconfig([hostile_sandbox.kubeconfig])
    svc = ClusterService(connect(kc, None, **FAST), namespace=None)
    await asyncio.to_thread(svc.start)
    assert await asyncio.to_thread(svc.wait_synced, 30), "the service did not sync"
    app = make_app(svc, size=SIZE, kubeconfig=kc, connect_options=FAST)
    app.animation_level = "none"
    problems: list[str] = []
    texts: list[str] = []
    async with app.run_test() as pilot:
        for name in SCREEN_CLASSES:
            app.switch_mode(name)
            await _settle(pilot)
            problems += _check_rendered(app, name)
            texts += [getattr(c, "plain", str(c)) for c in _cells(app)]
        # whatever `enter` opens on a rollout (a detail screen once there is one) is checked too
        app.switch_mode("rollouts")
        await _settle(pilot)
        await pilot.press("enter")
        await _settle(pilot)
        problems += _check_rendered(app, f"after enter: {type(app.screen).__name__}")
        assert app.is_running
    assert not problems, "\n".join(problems[:40])

    shown = "\n".join(texts)
    missing = [p.id for p in P.SCENARIO_PAYLOADS if P.expected_single_line(p.text)[:24] not in shown]
    assert not missing, f"payloads the console does not show anywhere: {missing}"
    for p in P.SCENARIO_PAYLOADS:
        if p.category == "markup":
            assert p.text in texts, f"{p.id} is not shown literally"
