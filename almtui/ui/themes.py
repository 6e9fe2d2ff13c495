"""Themes from YAML files: almtui's own (shipped in almtui/ui/themes/) and the user's.

Why files: operators tune colours for their terminals (16 colours on a serial console, glare
on a warehouse floor) without touching code. Each file maps onto ``textual.theme.Theme``; a
bad file is reported (file and field) and skipped, never fatal. User themes live in
``$XDG_CONFIG_HOME/almtui/themes/*.yaml`` and may override a shipped theme of the same name.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from textual.color import Color, ColorParseError
from textual.theme import Theme

BUILTIN_DIR = Path(__file__).with_name("themes")
DEFAULT_THEME = "almtui-dark"
FALLBACK_THEME = "textual-dark"  # always registered by Textual

_COLOR_FIELDS = ("primary", "secondary", "warning", "error", "success", "accent", "foreground", "background",
                 "surface", "panel", "boost")
_FIELDS = {f.name for f in dataclasses.fields(Theme)}


class ThemeError(ValueError):
    """A bad theme file; the message names the file and the field."""


def user_theme_dir() -> Path:
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".config"
    return base / "almtui" / "themes"


def _check_color(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ThemeError(f"{where}: must be a colour such as \"#1e90ff\" or ansi_blue, got {value!r}")
    value = value.strip()
    if value != "ansi_default":
        try:
            Color.parse(value)
        except ColorParseError:
            raise ThemeError(f"{where}: {value!r} is not a colour") from None
    return value


def parse_theme(data: Any, source: str = "<theme>") -> Theme:
    """Build a Theme from a mapping of Theme's fields; ThemeError names the problem."""
    if not isinstance(data, Mapping):
        raise ThemeError(f"{source}: a theme must be a mapping of fields")
    unknown = sorted(str(k) for k in data if k not in _FIELDS)
    if unknown:
        raise ThemeError(f"{source}: unknown field {unknown[0]!r}; known fields: {', '.join(sorted(_FIELDS))}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or any(c.isspace() for c in name):
        raise ThemeError(f"{source}: name: must be a name without spaces, got {name!r}")
    if "primary" not in data:
        raise ThemeError(f"{source}: primary: required")
    kw: dict[str, Any] = {"name": name}
    for key in _COLOR_FIELDS:
        if data.get(key) is not None:
            kw[key] = _check_color(data[key], f"{source}: {key}")
    for key in ("dark", "ansi"):
        if key in data:
            if not isinstance(data[key], bool):
                raise ThemeError(f"{source}: {key}: must be true or false, got {data[key]!r}")
            kw[key] = data[key]
    for key in ("luminosity_spread", "text_alpha"):
        if key in data:
            v = data[key]
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
                raise ThemeError(f"{source}: {key}: must be a number from 0 to 1, got {v!r}")
            kw[key] = float(v)
    variables = data.get("variables") or {}
    if not isinstance(variables, Mapping):
        raise ThemeError(f"{source}: variables: must be a mapping of CSS variable names to values")
    out_vars: dict[str, str] = {}
    for k, v in variables.items():
        if not isinstance(k, str) or not isinstance(v, str | int | float) or isinstance(v, bool):
            raise ThemeError(f"{source}: variables.{k}: must be a string value, got {v!r}")
        out_vars[k] = str(v)
    kw["variables"] = out_vars
    return Theme(**kw)


def load_theme_file(path: Path) -> Theme:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ThemeError(f"{path}: cannot read: {e}") from None
    except yaml.YAMLError as e:
        raise ThemeError(f"{path}: not valid YAML: {str(e).splitlines()[0]}") from None
    return parse_theme(data, str(path))


def load_themes(dirs: Iterable[Path] | None = None) -> tuple[dict[str, Theme], list[str]]:
    """Themes from the shipped directory, then the user's (later files win); and the errors found.

    dirs: directories to read (default: the shipped one, then user_theme_dir()).
    """
    themes: dict[str, Theme] = {}
    errors: list[str] = []
    for directory in (BUILTIN_DIR, user_theme_dir()) if dirs is None else dirs:
        if not directory.is_dir():
            continue
        for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
            try:
                theme = load_theme_file(path)
            except ThemeError as e:
                errors.append(str(e))
                continue
            themes[theme.name] = theme
    return themes, errors
