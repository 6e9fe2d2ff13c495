"""The console shell driven with Pilot against the seeded sandbox: keys, help, filter, commands, freshness."""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.command import CommandPalette
from textual.notifications import Notify

from almtui.cluster.config import Config
from almtui.cluster.freshness import Freshness
from almtui.ui.app import AlmtuiApp
from almtui.ui.commands import CommandLine, parse
from almtui.ui.entry import run_console
from almtui.ui.keys import help_rows
from almtui.ui.screens import AutoscalersScreen, HealthScreen, PipelinesScreen, RolloutsScreen
from almtui.ui.screens.help import HelpScreen
from almtui.ui.widgets.header import AppHeader
from almtui.ui.widgets.keybar import KeyBar
from almtui.ui.widgets.table import Col, ResourceTable
from tests.ui.conftest import FAST, console_clock, make_test_app, settle, start_sandbox, wait_for


def table(app: AlmtuiApp) -> ResourceTable:
    return app.screen.query(ResourceTable).first()


def header(app: AlmtuiApp) -> str:
    return str(app.screen.query_one("#hdr-where").render()) + " | " + app.screen.query_one(AppHeader).freshness_text


def notes(messages: list) -> list[tuple[str, str]]:
    return [(m.notification.message, m.notification.severity) for m in messages if isinstance(m, Notify)]


# -- keys and screens ---------------------------------------------------------------------------


async def test_number_keys_switch_screens(ui_sandbox):
    app = make_test_app(ui_sandbox)
    async with app.run_test() as pilot:
        await settle(pilot)
        assert isinstance(app.screen, PipelinesScreen)
        for key, cls in (("2", RolloutsScreen), ("3", HealthScreen), ("4", AutoscalersScreen),
                         ("1", PipelinesScreen)):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, cls), key
            assert cls.TITLE in header(app)
        await pilot.press("2")
        await settle(pilot)
        assert table(app).total == len(app.service.rollouts()) > 0


async def test_help_lists_every_binding_of_the_current_screen(ui_sandbox):
    app = make_test_app(ui_sandbox, screen="rollouts")
    async with app.run_test() as pilot:
        await settle(pilot)
        expected = {r.description for r in help_rows(app.screen)}
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.render_rows().plain
        for description in ("Filter", "Help", "Command", "Quit", "Pipelines", "Rollouts", "Health", "Autoscalers",
                            "Palette", "Clear filter"):
            assert description in expected and description in text
        sections = [r.section for r in help_rows(app.screen_stack[-2])]
        # the screen's own keys first, then almtui's global keys, the table's, Textual's generic ones
        assert list(dict.fromkeys(sections)) == ["Rollouts", "Global", "Table", "General"]
        assert text.splitlines()[0] == "Rollouts"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, RolloutsScreen)


async def test_filter_narrows_rows_in_place_and_escape_clears(ui_sandbox):
    app = make_test_app(ui_sandbox, screen="rollouts")
    async with app.run_test() as pilot:
        await settle(pilot)
        t = table(app)
        total = t.total
        await pilot.press("slash", *"storefront")
        await pilot.pause()
        expected = sum(1 for r in app.service.rollouts() if "storefront" in r.name)
        assert 0 < t.shown == expected < total
        assert f"{expected}/{total}" in header(app)
        await pilot.press("enter")
        assert app.focused is t
        await pilot.press("escape")  # on the table: clears the filter
        await pilot.pause()
        assert t.shown == total
        await pilot.press("slash", *"!storefront")  # "!" excludes
        await pilot.pause()
        assert t.shown == total - expected
        await pilot.press("escape")
        await pilot.pause()
        assert t.shown == total and t.filter_text == ""
        assert not app.screen.query_one("#filter-bar").display


async def test_command_line_switches_screens_and_themes(ui_sandbox):
    messages: list = []
    app = make_test_app(ui_sandbox)
    async with app.run_test(message_hook=messages.append) as pilot:
        await settle(pilot)
        await pilot.press("colon")
        await pilot.pause()
        assert isinstance(app.screen, CommandLine)
        await pilot.press(*"health", "enter")
        await settle(pilot)
        assert isinstance(app.screen, HealthScreen)
        await pilot.press("colon", *"hpa", "enter")
        await settle(pilot)
        assert isinstance(app.screen, AutoscalersScreen)
        await pilot.press("colon", *"theme ansi-16", "enter")
        await settle(pilot)
        assert app.theme == "ansi-16" and app.current_theme.ansi
        await pilot.press("colon", *"theme no-such-theme", "enter")
        await settle(pilot)
        assert app.theme == "ansi-16"
        assert any("unknown theme 'no-such-theme'" in m and sev == "error" for m, sev in notes(messages))
        await pilot.press("colon", *"frobnicate", "enter")
        await settle(pilot)
        assert any("unknown command" in m for m, _ in notes(messages))
        await pilot.press("colon", "escape")
        await pilot.pause()
        assert isinstance(app.screen, AutoscalersScreen)


async def test_ns_command_rebuilds_the_service_for_one_namespace(ui_sandbox):
    app = make_test_app(ui_sandbox, screen="rollouts")
    async with app.run_test() as pilot:
        await settle(pilot)
        old = app.service
        assert {r.namespace for r in old.rollouts()} >= {"dev", "prod"}
        await pilot.press("colon", *"ns prod", "enter")
        await wait_for(pilot, lambda: app.service is not old and app.service.wait_synced(0))
        await settle(pilot)
        assert app.service.namespace == "prod"
        assert "ns prod" in header(app)
        t = table(app)
        assert t.total == len(app.service.rollouts()) > 0
        assert {app.service.rollouts()[0].namespace} == {"prod"}
        await pilot.press("colon", *"ns all", "enter")
        await wait_for(pilot, lambda: app.service.namespace is None and app.service.wait_synced(0))
        await settle(pilot)
        assert "all namespaces" in header(app)


def test_command_parsing():
    assert parse(":ns  prod ") == parse("ns prod")
    assert parse("theme almtui-light").arg == "almtui-light"
    assert parse("").verb == ""


async def test_palette_opens_with_ctrl_p_and_runs_a_screen_command(ui_sandbox):
    app = make_test_app(ui_sandbox)
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"Screen: Rollouts")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RolloutsScreen)


async def test_q_quits(ui_sandbox):
    app = make_test_app(ui_sandbox)
    async with app.run_test() as pilot:
        await settle(pilot)
        assert app.is_running
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running and app.return_code == 0


async def test_user_keymap_overrides_by_binding_id(ui_sandbox):
    messages: list = []
    app = make_test_app(ui_sandbox, config=Config(keys={"screen.health": "h", "no.such.binding": "z"}))
    async with app.run_test(message_hook=messages.append) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        assert isinstance(app.screen, PipelinesScreen)
        await pilot.press("h")
        await settle(pilot)
        assert isinstance(app.screen, HealthScreen)
        assert "1/2/h/4" in str(app.screen.query_one(KeyBar).render())
        assert any("unknown binding id 'no.such.binding'" in m for m, _ in notes(messages))


async def test_unknown_theme_falls_back_with_an_error(ui_sandbox):
    messages: list = []
    app = make_test_app(ui_sandbox, theme="no-such-theme")
    async with app.run_test(message_hook=messages.append) as pilot:
        await settle(pilot)
        assert app.theme == "almtui-dark"
        assert any("unknown theme 'no-such-theme'" in m and sev == "error" for m, sev in notes(messages))


async def test_ansi_theme_from_config_uses_the_terminal_palette(ui_sandbox, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_test_app(ui_sandbox, config=Config(theme="ansi-16"))
    async with app.run_test() as pilot:
        await settle(pilot)
        assert app.theme == "ansi-16" and app.native_ansi_color and app.no_color


# -- freshness ------------------------------------------------------------------------------------


async def test_header_freshness_changes_when_the_api_stops_and_the_app_stays_up(tmp_path):
    sb = start_sandbox(tmp_path)
    try:
        app = make_test_app(sb, screen="rollouts")
        async with app.run_test() as pilot:
            await settle(pilot)
            assert "LIVE" in header(app)
            rows = table(app).total
            assert "-stale" not in table(app).classes
            sb.stop()
            await wait_for(pilot, lambda: app.service.freshness().state is not Freshness.LIVE, timeout=30)
            await wait_for(pilot, lambda: "LIVE" not in header(app), timeout=5)
            assert any(word in header(app) for word in ("STALE", "OFFLINE"))
            assert "-stale" in table(app).classes
            assert table(app).total == rows  # the last data stays, marked
            first = table(app).get_row_at(0)
            assert not any(isinstance(c, Text) and c.plain.startswith("✓") for c in first)  # never "healthy"
            assert app.is_running
    finally:
        sb.stop()


# -- the table ------------------------------------------------------------------------------------


class TableApp(App):
    def compose(self) -> ComposeResult:
        yield ResourceTable([Col("name", "NAME"), Col("msg", "MESSAGE"), Col("age", "AGE", age=True, width=5)])


async def test_table_cells_are_sanitised_literal_text():
    app = TableApp()
    async with app.run_test() as pilot:
        t = app.query_one(ResourceTable)
        evil = "[b]x[/b] [link=http://evil]y[/link] \x1b[2J\x1b]0;t\x07 \u202eexe.txt"
        t.set_rows([(("ns", "a"), (evil, "line1\nline2", 5.0))], now=100.0)
        await pilot.pause()
        name, msg, age = t.get_row_at(0)
        assert name.plain == "[b]x[/b] [link=http://evil]y[/link] \\x1b[2J\\x1b]0;t\\x07 \\u202eexe.txt"
        assert name.spans == [] and not name.style
        assert msg.plain == "line1\\nline2"
        assert age.plain == "5s"


async def test_table_updates_in_place_by_key_and_keeps_the_cursor(monkeypatch):
    app = TableApp()
    async with app.run_test() as pilot:
        t = app.query_one(ResourceTable)
        cleared = []
        monkeypatch.setattr(t, "clear", lambda *a, **k: cleared.append(1))
        t.set_rows([(("a",), ("a", "1", 1.0)), (("b",), ("b", "1", 1.0)), (("c",), ("c", "1", 1.0))], now=0.0)
        await pilot.pause()
        t.move_cursor(row=1)
        updated = []
        real_put = t._put  # every changed cell goes through it (update_cell only when a width may change)
        monkeypatch.setattr(t, "_put", lambda rk, i, *a: (updated.append((rk, t.spec[i].key)), real_put(rk, i, *a)))
        # "b" changes one cell, "a" disappears, "d" is new, and the order changes
        t.set_rows([(("d",), ("d", "1", 1.0)), (("c",), ("c", "1", 1.0)), (("b",), ("b", "2", 1.0))], now=0.0)
        await pilot.pause()
        assert [t.get_row_at(i)[0].plain for i in range(t.row_count)] == ["d", "c", "b"]
        assert updated == [("b", "msg")]
        assert t.selected_key == ("b",)
        assert not cleared
        updated.clear()
        t.tick(60.0)  # ages move on; nothing else is touched
        assert sorted(updated) == [("b", "age"), ("c", "age"), ("d", "age")]
        assert t.get_row_at(0)[2].plain == "61s"
        updated.clear()
        t.tick(60.4)
        assert updated == []


# -- entry points ---------------------------------------------------------------------------------


def _args(**kw) -> argparse.Namespace:
    base = {"kubeconfig": None, "context": None, "namespace": None, "all_namespaces": False, "readonly": False,
            "theme": None, "config": None, "command": None}
    return argparse.Namespace(**{**base, **kw})


def test_bad_kubeconfig_is_one_clear_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "kc.yaml"
    bad.write_text("clusters: [oops")
    assert run_console(_args(kubeconfig=str(bad))) == 2
    err = capsys.readouterr().err
    assert err.startswith("almtui: ") and str(bad) in err and "Traceback" not in err
    assert run_console(_args(kubeconfig=str(tmp_path / "missing.yaml"))) == 2


def test_unknown_context_and_bad_config_exit_2(ui_sandbox, tmp_path, capsys):
    assert run_console(_args(kubeconfig=ui_sandbox.kubeconfig, context="nope")) == 2
    assert "context 'nope' not found" in capsys.readouterr().err
    cfg = tmp_path / "config.yaml"
    cfg.write_text("read_only: maybe\n")
    assert run_console(_args(kubeconfig=ui_sandbox.kubeconfig, config=str(cfg))) == 2
    err = capsys.readouterr().err
    assert "read_only" in err and "Traceback" not in err


@pytest.mark.timeout(120)
def test_demo_starts_the_sandbox_and_hands_the_console_a_private_kubeconfig():
    from almtui.demo import run_demo

    seen: dict = {}

    def console(args) -> int:
        path = Path(args.kubeconfig)
        seen["mode"] = stat.S_IMODE(path.stat().st_mode)
        seen["dir_mode"] = stat.S_IMODE(path.parent.stat().st_mode)
        seen["all"] = args.all_namespaces
        seen["path"] = path
        from almtui.cluster.kubeconfig import load_kubeconfig

        seen["context"] = load_kubeconfig([str(path)]).context().name
        return 7

    assert run_demo(_args(command="demo"), console=console, prometheus=False) == 7
    assert seen["mode"] == 0o600 and seen["dir_mode"] == 0o700
    assert seen["all"] is True and seen["context"] == "operator"
    assert not os.path.exists(seen["path"])


async def test_theme_switch_restyles_status_cells(ui_sandbox):
    app = make_test_app(ui_sandbox, screen="rollouts")
    async with app.run_test() as pilot:
        await settle(pilot)
        phase = [c.key for c in table(app).spec].index("phase")
        before = table(app).get_row_at(0)[phase]
        assert before.plain[0] in "✓↻‖✗"
        app.set_theme("almtui-light")
        await settle(pilot)
        after = table(app).get_row_at(0)[phase]
        assert after.plain == before.plain and after.spans != before.spans


async def test_header_gives_way_on_the_context_name_not_the_screen(ui_sandbox):
    app = make_test_app(ui_sandbox, screen="rollouts", size=(80, 24))
    async with app.run_test() as pilot:
        await settle(pilot)
        hdr = app.screen.query_one(AppHeader)
        hdr.set_location("arn:aws:eks:eu-west-1:123456789012:cluster/edge-gw-\x1b[2J-store-042", "prod", "Rollouts 12")
        await pilot.pause()
        where = str(app.screen.query_one("#hdr-where").render())
        assert where.startswith("Rollouts 12 │ ns prod │ ctx arn:aws") and where.endswith("…")
        assert "\x1b" not in where
        assert "LIVE" in hdr.freshness_text
        assert not app.screen.query_one("#hdr-ro").display
        app.service.read_only = True
        app.screen.sync_chrome()
        await pilot.pause()
        assert app.screen.query_one("#hdr-ro").display


# -- themes and the colour language -------------------------------------------------------------


def test_shipped_themes_load_and_bad_user_themes_are_reported(tmp_path, monkeypatch):
    from almtui.ui.themes import BUILTIN_DIR, load_themes, user_theme_dir

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    themes, errors = load_themes()
    assert {"almtui-dark", "almtui-light", "high-contrast", "ansi-16"} <= set(themes) and errors == []
    assert themes["ansi-16"].ansi and not themes["almtui-dark"].ansi and not themes["almtui-light"].dark
    user = user_theme_dir()
    user.mkdir(parents=True)
    (user / "mine.yaml").write_text("name: mine\nprimary: '#112233'\n")
    (user / "typo.yaml").write_text("name: typo\nprimary: '#112233'\nbakground: '#000000'\n")
    (user / "color.yaml").write_text("name: color\nprimary: notacolour\n")
    (user / "broken.yaml").write_text("name: [\n")
    themes, errors = load_themes()
    assert "mine" in themes and len(errors) == 3
    assert any("typo.yaml" in e and "bakground" in e for e in errors)
    assert any("color.yaml" in e and "primary" in e for e in errors)
    assert any("broken.yaml" in e and "YAML" in e for e in errors)
    assert BUILTIN_DIR.name == "themes" and (BUILTIN_DIR / "ansi-16.yaml").is_file()


def test_status_words_map_to_one_tone_per_meaning():
    from almtui.ui.status import Tone, badge, tone_of

    assert tone_of("Healthy") is tone_of("Succeeded") is tone_of("Synced") is Tone.HEALTHY
    assert tone_of("Progressing") is tone_of("Pending") is tone_of("Init:0/2") is Tone.PROGRESSING
    assert tone_of("Paused") is tone_of("Suspended") is tone_of("Cancelled") is Tone.PAUSED
    assert tone_of("Degraded") is tone_of("CrashLoopBackOff") is tone_of("Init:ErrImagePull") is Tone.DEGRADED
    assert tone_of("Running", "pipeline") is Tone.PROGRESSING and tone_of("Running", "pod") is Tone.HEALTHY
    assert tone_of("Unknown", "node") is Tone.DEGRADED and tone_of("") is Tone.UNKNOWN
    assert badge("Healthy").plain == "✓ Healthy"
    assert badge("Healthy", stale=True).plain == "~ Healthy"  # never claim healthy from stale data
    assert badge("Degraded", stale=True).plain == "✗ Degraded"
    assert badge("[b]x\x1b[/b]").plain == "? [b]x\\x1b[/b]"


async def test_insecure_skip_tls_verify_shows_a_warning_badge(ui_sandbox, tmp_path):
    import yaml

    from almtui.cluster.connection import connect
    from almtui.cluster.freshness import FreshnessTracker
    from almtui.cluster.kubeconfig import load_kubeconfig
    from almtui.cluster.service import ClusterService
    from almtui.ui.app import make_app

    cfg = yaml.safe_load(Path(ui_sandbox.kubeconfig).read_text())
    for c in cfg["clusters"]:
        c["cluster"].pop("certificate-authority-data", None)
        c["cluster"]["insecure-skip-tls-verify"] = True
    path = tmp_path / "insecure.yaml"
    path.write_text(yaml.safe_dump(cfg))
    clock = console_clock(ui_sandbox)
    conn = connect(load_kubeconfig([str(path)]), None, freshness=FreshnessTracker(clock=clock), **FAST)
    svc = ClusterService(conn, clock=clock).start()
    assert svc.wait_synced(30)
    app = make_app(svc, clock=clock, size=(120, 40), screen="rollouts")
    async with app.run_test() as pilot:
        await settle(pilot)
        badge = app.screen.query_one("#hdr-insecure")
        assert badge.display and "TLS UNVERIFIED" in str(badge.render())
    secure = make_test_app(ui_sandbox, screen="rollouts")
    async with secure.run_test() as pilot:
        await settle(pilot)
        assert not secure.screen.query_one("#hdr-insecure").display
