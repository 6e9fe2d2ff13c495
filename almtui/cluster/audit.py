"""The local audit log: one JSON line per action the operator attempted, append-only.

Why: none of the tools operators use keeps a record of what they did to a cluster. Every attempted
action (applied, refused, failed, cancelled) becomes exactly one line in
``$XDG_STATE_HOME/almtui/audit.jsonl`` (default ``~/.local/state/almtui/audit.jsonl``), created
0600 in a 0700 directory, written with one append and an fsync, never rewritten.

Never a credential: bearer tokens, client keys and passwords are redacted wherever they appear (by
key, in env-style name/value pairs, in "Bearer ..." strings), Secret data is never logged, and the
body of a request about a Secret is not logged at all. Redaction happens here, on every entry, so no
caller can forget it.
"""

from __future__ import annotations

import json
import os
import re
import stat
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REDACTED = "[REDACTED]"
SECRET_BODY = "[not logged: the body of a Secret]"
# keys whose values are credentials, compared lower-case with "_" read as "-"
SECRET_KEYS = frozenset({
    "token", "access-token", "id-token", "refresh-token", "bearer-token", "tokenfile", "password", "passwd",
    "client-key-data", "client-key", "client-certificate-data", "private-key", "privatekey", "ssh-private-key",
    "sshprivatekey", "secret", "client-secret", "api-key", "apikey", "authorization", "bearer", "credentials",
})
_SECRET_NAME = re.compile(r"pass|token|secret|key|credential|pwd|auth", re.I)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_INLINE = re.compile(r"(?i)(password|passwd|token|secret|api[-_]?key)\s*[:=]\s*\S+")


def default_path() -> Path:
    """``$XDG_STATE_HOME/almtui/audit.jsonl``, falling back to ``~/.local/state``."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "almtui" / "audit.jsonl"


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _secret_key(key: Any) -> bool:
    return isinstance(key, str) and key.lower().replace("_", "-") in SECRET_KEYS


def redact(value: Any) -> Any:
    """A copy of `value` with every credential replaced by [REDACTED] (see the module docstring)."""
    if isinstance(value, Mapping):
        if value.get("kind") == "Secret":
            value = {k: (REDACTED if k in ("data", "stringData") else v) for k, v in value.items()}
        out: dict[str, Any] = {}
        env_secret = (isinstance(value.get("name"), str) and "value" in value
                      and bool(_SECRET_NAME.search(value["name"])))
        for k, v in value.items():
            if _secret_key(k) or (env_secret and k == "value"):
                out[k] = REDACTED if v not in (None, "") else v
            else:
                out[k] = redact(v)
        return out
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        value = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", value)
        return _INLINE.sub(lambda m: f"{m.group(1)}: {REDACTED}", value)
    return value


def _is_secret_target(entry: Mapping[str, Any]) -> bool:
    target = entry.get("target")
    return isinstance(target, Mapping) and target.get("kind") == "Secret"


def scrub(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Redact an entry; for a Secret target, or a Secret body, drop the bodies entirely."""
    entry = dict(entry)
    requests = entry.get("requests")
    if isinstance(requests, list):
        secret = _is_secret_target(entry)
        cleaned = []
        for r in requests:
            r = dict(r) if isinstance(r, Mapping) else {"request": r}
            body = r.get("body")
            if "body" in r and (secret or (isinstance(body, Mapping) and body.get("kind") == "Secret")):
                r["body"] = SECRET_BODY
            cleaned.append(r)
        entry["requests"] = cleaned
    if _is_secret_target(entry) and "dry_run" in entry:
        entry["dry_run"] = [d if isinstance(d, str) else {k: v for k, v in d.items() if k in ("ok", "error")}
                            for d in entry.get("dry_run") or ()]
    return redact(entry)


class AuditLog:
    """Append-only JSONL audit log; thread-safe."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self._lock = threading.Lock()

    def _open(self) -> int:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(self.path, flags, 0o600)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise OSError(f"{self.path} is not a regular file")
            if st.st_mode & 0o077:
                os.fchmod(fd, 0o600)  # never readable by others, whoever created it
        except BaseException:
            os.close(fd)
            raise
        return fd

    def check_writable(self) -> str | None:
        """None if entries can be appended, else why not (the executor refuses unauditable actions)."""
        try:
            os.close(self._open())
        except OSError as e:
            return f"cannot write the audit log {self.path}: {e.strerror or e}"
        return None

    def append(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """Redact, then write one line (append + fsync). Returns what was written."""
        clean = scrub({"time": now_rfc3339(), **entry})
        line = (json.dumps(clean, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode()
        with self._lock:
            fd = self._open()
            try:
                view = memoryview(line)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                os.fsync(fd)
            finally:
                os.close(fd)
        return clean

    def entries(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The entries, oldest first (the last `limit` ones); unreadable lines are skipped."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict):
                out.append(item)
        return out[-limit:] if limit else out
