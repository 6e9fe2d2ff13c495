"""The one sanitiser every cluster-sourced string goes through before it reaches the terminal.

Why: object names, labels, event messages and log lines come from whoever can write to the
cluster. Rich and Textual pass ESC/CSI/OSC/C1 sequences straight to the terminal (CVE-2021-25743
was kubectl's version of this), and Textual markup in a name (``[link=...]``) would be
interpreted. So every control character becomes a visible escape ("\\x1b[2J" shows as text, the
sequence is inert), invisible bidi controls become visible too (Trojan Source), and the result is
rendered as plain ``Text``/``Content``, never parsed as markup.

Escaped: C0 controls except tab and newline (both are escaped too in single-line mode), DEL,
C1 (0x80-0x9f), lone surrogates (they would crash the terminal writer), the bidi embeddings,
overrides and isolates (U+202A-202E, U+2066-2069), the invisible direction marks (U+200E,
U+200F, U+061C), the Unicode line/paragraph separators (U+2028, U+2029), and the invisible
format characters that make two names look alike (soft hyphen U+00AD, zero-width space, joiners
and non-joiners U+200B-200D, word joiner and invisible operators U+2060-2064, the byte-order mark
U+FEFF, U+180E and the tag characters U+E0000-E007F). Everything else, wide characters, emoji and
combining marks included, is preserved.
"""

from __future__ import annotations

import re

from rich.style import Style
from rich.text import Text
from textual.content import Content

ELLIPSIS = "…"
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNSAFE = ("\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff"
           "\ud800-\udfff\U000e0000-\U000e007f")
_BAD_MULTI = re.compile(f"[{_UNSAFE}]")
_BAD_SINGLE = re.compile(f"[\t\n{_UNSAFE}]")


def escape_char(ch: str) -> str:
    """The visible form of one unsafe character: "\\x1b", "\\u202e", "\\n"."""
    named = _NAMED.get(ch)
    if named:
        return named
    cp = ord(ch)
    if cp < 0x100:
        return f"\\x{cp:02x}"
    if cp < 0x10000:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def _escape(m: re.Match[str]) -> str:
    return escape_char(m.group())


def sanitize(s: object, max_len: int | None = None, *, single_line: bool = False) -> str:
    """`s` with every unsafe character made visible; at most `max_len` characters (ellipsis).

    single_line: newline and tab are escaped too (table cells, headers). Truncation never cuts
    an escape in half. Non-strings are converted with str() first.
    """
    if not isinstance(s, str):
        s = "" if s is None else str(s)
    bad = _BAD_SINGLE if single_line else _BAD_MULTI
    if bad.search(s) is None:
        if max_len is None or len(s) <= max_len:
            return s
        return s[: max(0, max_len - 1)] + ELLIPSIS if max_len > 0 else ""
    if max_len is None:
        return bad.sub(_escape, s)
    return _escape_truncated(s, bad, max(0, max_len))


def _escape_truncated(s: str, bad: re.Pattern[str], max_len: int) -> str:
    """Escape and cut to max_len, treating each escape as one unit; reads only what can be shown."""
    pieces: list[tuple[str, bool]] = []  # (text, atomic)
    used = 0
    pos = 0
    overflow = False
    for m in bad.finditer(s):
        for piece, atomic in ((s[pos:m.start()], False), (escape_char(m.group()), True)):
            if piece:
                pieces.append((piece, atomic))
                used += len(piece)
        pos = m.end()
        if used > max_len:
            overflow = True
            break
    if not overflow and pos < len(s):
        tail = s[pos:]
        pieces.append((tail, False))
        used += len(tail)
    if used <= max_len:
        return "".join(p for p, _ in pieces)
    budget = max_len - 1
    out: list[str] = []
    room = budget
    for piece, atomic in pieces:
        if len(piece) <= room:
            out.append(piece)
            room -= len(piece)
            continue
        if not atomic and room > 0:
            out.append(piece[:room])
        break
    return "".join(out) + ELLIPSIS if max_len > 0 else ""


def text(s: object, style: str | Style | None = None, *, max_len: int | None = None,
         single_line: bool = False) -> Text:
    """A Rich Text of the sanitised string (never markup); `style` applies to all of it."""
    return Text(sanitize(s, max_len, single_line=single_line), style=style or "", end="", no_wrap=single_line)


def cell(s: object, max_len: int | None = 200) -> Text:
    """A single-line Text for a table cell."""
    return text(s, max_len=max_len, single_line=True)


def content(s: object, *, max_len: int | None = None, single_line: bool = False) -> Content:
    """A Textual Content of the sanitised string (Content(str) is literal text, not markup)."""
    return Content(sanitize(s, max_len, single_line=single_line))
