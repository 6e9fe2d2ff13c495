"""The audit log: where it lives, 0600 append-only JSONL, and that no credential or Secret data gets in."""

from __future__ import annotations

import json
import os
import stat

import pytest

from almtui.cluster.audit import REDACTED, SECRET_BODY, AuditLog, default_path, redact, scrub

TOKEN = "abcdef0123456789abcdef0123456789"


def test_default_path_follows_xdg_state_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_path() == tmp_path / "state" / "almtui" / "audit.jsonl"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_path() == tmp_path / "home" / ".local" / "state" / "almtui" / "audit.jsonl"
    assert AuditLog().path == default_path()


def test_entries_are_appended_one_line_each_with_0600(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    log = AuditLog()
    first = log.append({"action": "scale", "outcome": "applied", "message": "line\nbreak"})
    assert first["time"].endswith("Z") and "T" in first["time"]
    raw1 = log.path.read_bytes()
    log.append({"action": "pause", "outcome": "refused"})
    raw2 = log.path.read_bytes()
    assert raw2.startswith(raw1)  # never rewritten
    lines = raw2.decode().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["message"] == "line\nbreak"
    assert [e["action"] for e in log.entries()] == ["scale", "pause"] and log.entries(1)[0]["action"] == "pause"
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.path.parent.stat().st_mode) == 0o700


def test_loose_permissions_are_tightened_and_symlinks_refused(tmp_path):
    path = tmp_path / "audit.jsonl"
    path.write_text("")
    os.chmod(path, 0o644)
    log = AuditLog(path)
    log.append({"action": "x"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    target = tmp_path / "elsewhere"
    target.write_text("")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    bad = AuditLog(link)
    assert bad.check_writable() is not None
    with pytest.raises(OSError):
        bad.append({"action": "x"})
    assert target.read_text() == ""


def test_unwritable_location_is_reported(tmp_path):
    # a regular file where the state directory should be: unwritable for root too
    blocker = tmp_path / "state"
    blocker.write_text("not a directory")
    assert "cannot write the audit log" in AuditLog(blocker / "almtui" / "audit.jsonl").check_writable()


def test_redaction_of_credentials():
    value = {"user": {"token": TOKEN, "client-key-data": "LS0t", "password": "hunter2", "username": "ann"},
             "Authorization": f"Bearer {TOKEN}",
             "error": f"401: sent Bearer {TOKEN} and it was refused",
             "env": [{"name": "DB_PASSWORD", "value": "hunter2"}, {"name": "LOG_LEVEL", "value": "info"},
                     {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
             "params": [{"name": "git-token", "value": TOKEN}],
             "values": "image: x\npassword: hunter2\n",
             "replicas": 3}
    out = redact(value)
    text = json.dumps(out)
    assert TOKEN not in text and "hunter2" not in text and "LS0t" not in text
    assert out["user"]["username"] == "ann" and out["user"]["token"] == REDACTED
    assert out["env"][1] == {"name": "LOG_LEVEL", "value": "info"} and out["replicas"] == 3
    assert out["env"][2]["valueFrom"] == {"secretKeyRef": {"name": "s", "key": "k"}}  # a reference is no secret


def test_secret_data_and_secret_bodies_are_never_logged(tmp_path):
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "data": {"password": "aHVudGVyMg=="},
              "stringData": {"x": "hunter2"}}
    assert redact(secret)["data"] == REDACTED and redact(secret)["stringData"] == REDACTED
    entry = scrub({"target": {"kind": "Secret", "namespace": "prod", "name": "db"},
                   "requests": [{"method": "PATCH", "body": [{"op": "replace", "path": "/data/password",
                                                             "value": "aHVudGVyMg=="}]}],
                   "dry_run": [{"ok": True, "kind": "Secret", "name": "db", "data": {"k": "v"}}]})
    assert entry["requests"][0]["body"] == SECRET_BODY and entry["dry_run"] == [{"ok": True}]
    entry = scrub({"target": {"kind": "Deployment"}, "requests": [{"method": "POST", "body": secret}]})
    assert entry["requests"][0]["body"] == SECRET_BODY
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append({"target": {"kind": "Secret", "name": "db"}, "requests": [{"method": "PUT", "body": secret}]})
    assert "aHVudGVyMg" not in log.path.read_text() and "hunter2" not in log.path.read_text()
