"""Update a Static only when what it shows changes.

Why: `Static.update` always refreshes with a layout pass, and the screens set their footers,
summaries and counts after every data refresh. Under a stream of watch events that re-laid out
and re-rendered the screen for text that had not changed (a profile at 100 changes/s put a sixth
of the console's samples in rendering such widgets).
"""

from __future__ import annotations

from rich.text import Text
from textual.content import Content
from textual.visual import VisualType
from textual.widgets import Static


def same_content(a: VisualType, b: VisualType) -> bool:
    """Whether two contents render alike (Rich's Text equality ignores its base style: compared here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, Text) and isinstance(b, Text):
        return (a == b and a.style == b.style and a.end == b.end and a.justify == b.justify
                and a.overflow == b.overflow and a.no_wrap == b.no_wrap)
    if isinstance(a, str | Content):
        return a == b
    return a is b


def update_static(widget: Static, content: VisualType) -> bool:
    """`widget.update(content)` unless it already shows that content; whether it was updated."""
    if same_content(widget.content, content):
        return False
    widget.update(content)
    return True
