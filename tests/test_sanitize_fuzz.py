"""The sanitiser against arbitrary Unicode and the hostile corpus, and through Rich and Textual rendering.

What must hold for every input: no control character (C0 but tab/newline, DEL, C1, ESC), bidi
control, line separator or lone surrogate survives; each one becomes its documented visible escape
and nothing else changes; sanitising again changes nothing; truncation never exceeds max_len nor
cuts an escape; and rendering the result as Rich Text or Textual Content writes no control code
but the renderer's own colours, and no markup is interpreted.
"""

from __future__ import annotations

import io
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.text import Text
from textual.content import Content

from almtui.ui import sanitize as S
from tests.hostile.payloads import PAYLOADS, UNSAFE, UNSAFE_SINGLE, escape

SGR = re.compile(r"\x1b\[[0-9;]*m")
MARKUP = [p for p in PAYLOADS if p.category == "markup"]

# Dense hostile alphabet: every class of control the sanitiser handles, plus what markup, escapes
# and width calculations are made of.
HOSTILE_CHARS = (
    [chr(c) for c in range(0x20)] + ["\x7f"] + [chr(c) for c in range(0x80, 0xA0)]
    + list("\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    + ["\ud800", "\udbff", "\udc00", "\udfff"]
    + list("[]/=@$:\\;?#~ abcxu0123456789") + list("漢字👩\u200d\u0301\ufdfd\u00ad\ufeff")
)
hostile_text = st.text(st.sampled_from(HOSTILE_CHARS), max_size=80)
any_text = st.text(st.characters(), max_size=80)
corpus_text = st.lists(st.sampled_from([p.text[:300] for p in PAYLOADS]), min_size=1, max_size=3).map("".join)
texts = st.one_of(hostile_text, any_text, corpus_text)
FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def spec(s: str, single_line: bool) -> str:
    """The documented result for `s` without truncation (independent of the implementation)."""
    bad = UNSAFE_SINGLE if single_line else UNSAFE
    return bad.sub(lambda m: escape(m.group()), s)


def rich_output(renderable: object, width: int = 100) -> str:
    """What Rich writes to a truecolor terminal for `renderable`."""
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, color_system="truecolor", width=width, legacy_windows=False,
                      emoji=True, markup=True, highlight=True)
    console.print(renderable)
    return buf.getvalue()


def assert_inert_terminal_output(out: str) -> None:
    """Only Rich's own SGR colours may be escape sequences; nothing else may be a control."""
    plain = SGR.sub("", out)
    assert "\x1b" not in plain, repr(plain[:200])
    found = UNSAFE.search(plain)
    assert found is None, f"{found.group()!r} in {plain[:200]!r}"


# -- the string ------------------------------------------------------------------------------------

@pytest.mark.parametrize("single_line", [False, True])
@FUZZ
@given(s=texts)
def test_escapes_every_unsafe_character_and_nothing_else(s: str, single_line: bool) -> None:
    out = S.sanitize(s, single_line=single_line)
    assert out == spec(s, single_line)
    assert (UNSAFE_SINGLE if single_line else UNSAFE).search(out) is None
    assert S.sanitize(out, single_line=single_line) == out  # idempotent
    if not single_line:
        assert S.sanitize(out, single_line=True) == spec(out, True)


@FUZZ
@given(s=any_text)
def test_printable_text_is_preserved(s: str) -> None:
    if UNSAFE.search(s) is None:
        assert S.sanitize(s) == s
    kept = "".join(ch for ch in s if not UNSAFE.match(ch))
    it = iter(S.sanitize(s))
    assert all(ch in it for ch in kept)  # every safe character survives, in order


@pytest.mark.parametrize("single_line", [False, True])
@FUZZ
@given(s=texts, max_len=st.integers(min_value=0, max_value=60))
def test_truncation_bounds_length_and_never_cuts_an_escape(s: str, max_len: int, single_line: bool) -> None:
    out = S.sanitize(s, max_len, single_line=single_line)
    full = spec(s, single_line)
    assert len(out) <= max_len
    assert (UNSAFE_SINGLE if single_line else UNSAFE).search(out) is None
    assert S.sanitize(out, max_len, single_line=single_line) == out
    if len(full) <= max_len:
        assert out == full
    elif max_len > 0:
        assert out.endswith(S.ELLIPSIS)
        bad = UNSAFE_SINGLE if single_line else UNSAFE
        prefixes, acc = {""}, ""
        for ch in s:  # an escape is one unit: the kept part is a whole number of units
            acc += escape(ch) if bad.match(ch) else ch
            prefixes.add(acc)
        assert out[:-1] in prefixes


def test_non_strings() -> None:
    assert S.sanitize(None) == ""
    assert S.sanitize(42) == "42"
    assert S.sanitize(b"\x1b[2J") == "b'\\x1b[2J'"


@pytest.mark.parametrize("payload", PAYLOADS, ids=[p.id for p in PAYLOADS])
def test_corpus(payload) -> None:
    for single_line in (False, True):
        out = S.sanitize(payload.text, single_line=single_line)
        assert out == spec(payload.text, single_line)
        assert (UNSAFE_SINGLE if single_line else UNSAFE).search(out) is None
        for n in (1, 10, 63, 160):
            assert len(S.sanitize(payload.text, n, single_line=single_line)) <= n


# -- through the renderers ---------------------------------------------------------------------------

@FUZZ
@given(s=texts)
def test_rich_text_renders_no_control_codes(s: str) -> None:
    assert_inert_terminal_output(rich_output(S.text(s)))
    assert_inert_terminal_output(rich_output(S.cell(s, 40)))
    console = Console(file=io.StringIO(), record=True, width=100, force_terminal=True)
    console.print(S.text(s))
    assert UNSAFE.search(console.export_text(styles=False)) is None


@FUZZ
@given(s=texts)
def test_textual_content_renders_no_control_codes(s: str) -> None:
    assert S.content(s).plain == S.sanitize(s)
    assert S.content(s, single_line=True, max_len=50).plain == S.sanitize(s, 50, single_line=True)
    for c in (S.content(s), S.content(s, single_line=True, max_len=50)):
        for seg in c.render_segments():
            assert UNSAFE.search(seg.text) is None, repr(seg.text)
            assert seg.style is None or not seg.style.link
    assert_inert_terminal_output(rich_output(S.content(s)))


@pytest.mark.parametrize("payload", PAYLOADS, ids=[p.id for p in PAYLOADS])
def test_corpus_renders_inert(payload) -> None:
    text = payload.text[:2000]
    for renderable in (S.text(text), S.cell(text), S.content(text), S.content(text, single_line=True)):
        out = rich_output(renderable)
        assert_inert_terminal_output(out)
        assert "\x1b]8;" not in out  # no hyperlink


@pytest.mark.parametrize("payload", MARKUP, ids=[p.id for p in MARKUP])
def test_markup_stays_literal(payload) -> None:
    t = S.text(payload.text)
    assert t.plain == payload.text and not t.spans
    c = S.content(payload.text)
    assert c.plain == payload.text and not c.spans
    for renderable in (t, c):
        out = SGR.sub("", rich_output(renderable, width=200))
        assert payload.text in out  # brackets, emoji codes and escapes as typed
        assert "\x1b]8;" not in out
    seg_styles = [seg.style for seg in c.render_segments()]
    assert not any(style is not None and (style.link or style.meta) for style in seg_styles)


def test_markup_would_be_interpreted_without_the_sanitiser() -> None:
    """Guards the test itself: the payloads are live markup when parsed, so literal means escaped."""
    assert Content.from_markup("[b]bold-markup[/b]").plain == "bold-markup"
    assert "evil.invalid" in str(Text.from_markup("[link=https://evil.invalid/x]click[/link]").spans[0].style)
