"""The sanitiser: nothing a cluster writes can reach the terminal as a control sequence or markup."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.text import Text
from textual.content import Content

from almtui.ui.sanitize import ELLIPSIS, cell, content, escape_char, sanitize, text

FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069"
                       "\ufeff\ud800-\udfff\U000e0000-\U000e007f]")
SAFE = st.characters(blacklist_categories=("Cc", "Cs"),
                     blacklist_characters="\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e"
                                          "\u2066\u2067\u2068\u2069\\").filter(lambda c: not FORBIDDEN.match(c))
NASTY = st.sampled_from(["\x1b", "\x1b[2J", "\x1b]0;pwned\x07", "\x1b]8;;http://evil/\x1b", "\x9b31m", "\x90q\x9c",
                         "\x7f", "\x00", "\r", "\u202e", "\u2066", "\u200f", "\ud800", "\x85", "[b]x[/b]",
                         "[link=http://evil]y[/link]", "\t", "\n"])
MIXED = st.lists(st.one_of(st.text(SAFE, max_size=8), NASTY), max_size=12).map("".join)


def unescape(s: str) -> str:
    """Undo sanitize (its escapes are unambiguous when the input had no backslash)."""
    def back(m: re.Match[str]) -> str:
        tok = m.group()
        return {"\\t": "\t", "\\n": "\n", "\\r": "\r"}.get(tok) or chr(int(tok[2:], 16))
    return re.sub(r"\\x[0-9a-f]{2}|\\u[0-9a-f]{4}|\\U[0-9a-f]{8}|\\[tnr]", back, s)


@given(st.text())
def test_output_never_contains_unsafe_characters(s):
    out = sanitize(s)
    assert FORBIDDEN.search(out) is None
    single = sanitize(s, single_line=True)
    assert FORBIDDEN.search(single) is None and "\n" not in single and "\t" not in single


@given(st.text(SAFE))
def test_safe_text_is_preserved_exactly(s):
    assert sanitize(s) == s
    assert sanitize(s, single_line=True) == s.replace("\t", "\\t").replace("\n", "\\n")


@given(MIXED)
def test_everything_else_is_preserved_and_escapes_are_reversible(s):
    out = sanitize(s)
    assert FORBIDDEN.search(out) is None
    assert unescape(out) == s
    assert "\n" not in sanitize(s, single_line=True)


@given(MIXED, st.integers(min_value=0, max_value=40))
@settings(max_examples=300)
def test_truncation_respects_the_limit_and_never_splits_an_escape(s, limit):
    out = sanitize(s, limit)
    assert len(out) <= limit
    full = sanitize(s)
    if len(full) <= limit:
        assert out == full
    else:
        assert out.endswith(ELLIPSIS) or limit == 0
        body = out[:-1] if out.endswith(ELLIPSIS) else out
        assert s.startswith(unescape(body)), "an escape was cut in half"


def test_escape_sequences_become_visible_text():
    assert sanitize("\x1b[2J\x1b[H") == "\\x1b[2J\\x1b[H"
    assert sanitize("a\x1b]0;title\x07b") == "a\\x1b]0;title\\x07b"
    assert sanitize("\x1b]8;;http://evil/\x1b\\click\x1b]8;;\x1b\\") == \
        "\\x1b]8;;http://evil/\\x1b\\click\\x1b]8;;\\x1b\\"
    assert sanitize("\x9b2J\x9d0;t\x9c") == "\\x9b2J\\x9d0;t\\x9c"
    assert sanitize("\x7f\x00") == "\\x7f\\x00"


def test_bidi_controls_and_marks_are_visible():
    assert sanitize("user\u202etxt.exe") == "user\\u202etxt.exe"
    assert sanitize("\u2066a\u2069\u200e\u200f\u061c") == "\\u2066a\\u2069\\u200e\\u200f\\u061c"
    assert sanitize("a\u2028b") == "a\\u2028b"


def test_lone_surrogates_cannot_reach_the_terminal_writer():
    out = sanitize("x\ud83dy")
    assert out == "x\\ud83dy"
    out.encode("utf-8")  # would raise on a surrogate


def test_wide_and_combining_text_is_kept():
    s = "店舗-東京 😀 e\u0301"
    assert sanitize(s) == s


def test_newline_and_tab_are_kept_unless_single_line():
    assert sanitize("a\tb\nc") == "a\tb\nc"
    assert sanitize("a\tb\nc", single_line=True) == "a\\tb\\nc"
    assert sanitize("a\r\nb") == "a\\r\nb"


def test_truncation_adds_an_ellipsis():
    assert sanitize("abcdefghij", 5) == "abcd" + ELLIPSIS
    assert sanitize("abc", 3) == "abc"
    assert sanitize("ab\x1bcdef", 5) == "ab" + ELLIPSIS
    assert sanitize("x" * 100_000 + "\x1b", 10) == "x" * 9 + ELLIPSIS


def test_non_strings_are_converted():
    assert sanitize(None) == ""
    assert sanitize(42) == "42"


def test_escape_char_forms():
    assert escape_char("\x1b") == "\\x1b"
    assert escape_char("\u202e") == "\\u202e"
    assert escape_char("\n") == "\\n"


def test_text_and_content_are_literal_not_markup():
    t = text("[b]bold[/b] [link=http://evil]x[/link] \x1b[31m", style="red")
    assert isinstance(t, Text)
    assert t.plain == "[b]bold[/b] [link=http://evil]x[/link] \\x1b[31m"
    assert t.spans == []
    c = content("[b]x[/b]\n\x1b")
    assert isinstance(c, Content)
    assert c.plain == "[b]x[/b]\n\\x1b"
    assert content("[b]x[/b]\ny", single_line=True).plain == "[b]x[/b]\\ny"
    cl = cell("a\nb" * 200)
    assert "\n" not in cl.plain and len(cl.plain) == 200 and cl.plain.endswith(ELLIPSIS)


def test_invisible_format_characters_are_made_visible():
    """Zero-width and tag characters let "pro\u00add" pass for "prod": they are shown, not hidden."""
    assert sanitize("pro\u00add") == "pro\\xadd"
    assert sanitize("a\u200bb\u200dc\u2060d\ufeffe") == "a\\u200bb\\u200dc\\u2060d\\ufeffe"
    assert sanitize("x\U000e0070") == "x\\U000e0070"
