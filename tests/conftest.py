"""Shared fixtures. The developer's own config and environment never leak into tests."""

from __future__ import annotations

import os

import pytest

for var in ("NO_COLOR", "TEXTUAL_THEME", "TEXTUAL_COLOR_SYSTEM", "TEXTUAL_ANIMATIONS", "KUBECONFIG"):
    os.environ.pop(var, None)


@pytest.fixture(autouse=True)
def _isolated_xdg(tmp_path, monkeypatch):
    """Keep XDG config/state of the machine out of every test."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
