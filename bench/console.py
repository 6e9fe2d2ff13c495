"""The harness side of the console: a real process on a pty, its output counted, its probe heard.

`ConsoleProc` starts `python -m bench.probe` (the console as `almtui` runs it, plus the probe)
on a new pty of 120x40 with isolated XDG directories, reads everything it writes in a thread
(timestamped, so output bytes/s can be taken over any window), types keys at it, and collects
the probe's JSON-line events from a Unix socket.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

KEYS: dict[str, bytes] = {"enter": b"\r", "escape": b"\x1b", "tab": b"\t", "backspace": b"\x7f",
                          "up": b"\x1b[A", "down": b"\x1b[B", "home": b"\x1b[H", "end": b"\x1b[F"}
KEEP_HEAD = 512 * 1024       # output kept from the start (the first full draw)...
KEEP_TAIL = 2 * 1024 * 1024  # ...and from the end, for error reports (the counters see everything)
REPO = Path(__file__).resolve().parent.parent


class ConsoleError(RuntimeError):
    pass


class ConsoleProc:
    """One console process under a pty, with its probe."""

    def __init__(self, kubeconfig: str, workdir: Path, *, screen: str = "rollouts",
                 args: Sequence[str] = ("-A",), cols: int = 120, rows: int = 40) -> None:
        self.kubeconfig = kubeconfig
        self.workdir = Path(workdir)
        self.screen = screen
        self.args = list(args)
        self.cols, self.rows = cols, rows
        self.proc: subprocess.Popen | None = None
        self.master = -1
        self.t_spawn = 0.0
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.chunks: list[tuple[float, int]] = []  # (monotonic time, cumulative bytes) after each read
        self.events: list[dict] = []
        self._cond = threading.Condition()
        self._server: socket.socket | None = None
        self._conn: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._closing = False

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    # -- start and stop ---------------------------------------------------------------------------

    def start(self) -> ConsoleProc:
        self.workdir.mkdir(parents=True, exist_ok=True)
        sock_path = str(self.workdir / "probe.sock")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(sock_path)
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(sock_path)
        self._server.listen(1)
        # PYTHONDONTWRITEBYTECODE (set on these machines) would make every cold start compile almtui
        # from source (~0.27 s); an installed console has its bytecode, as kubectl is a binary.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TEXTUAL_", "KUBECONFIG"))
               and k not in ("NO_COLOR", "FORCE_COLOR", "PYTHONDONTWRITEBYTECODE")}
        for var in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
            env[var] = str(self.workdir / var.lower())
        env.update({"TERM": "xterm-256color", "COLUMNS": str(self.cols), "LINES": str(self.rows),
                    "PYTHONPATH": str(REPO)})
        argv = [sys.executable, "-m", "bench.probe", "--probe", sock_path, "--screen", self.screen,
                "--kubeconfig", self.kubeconfig, *self.args]
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", self.rows, self.cols, 0, 0))
        self.master = master
        self.t_spawn = time.monotonic()
        try:
            self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=str(REPO),
                                         start_new_session=True, close_fds=True)
        finally:
            os.close(slave)
        for target, name in ((self._read_pty, "pty"), (self._read_probe, "probe")):
            t = threading.Thread(target=target, name=f"bench-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> int | None:
        """Quit with `q`; then SIGTERM/SIGKILL the process group if it lingers."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.send("q")
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self.proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(3)
        self._closing = True
        for s in (self._conn, self._server):
            if s is not None:
                with contextlib.suppress(OSError):
                    s.close()
        for t in self._threads:
            t.join(2)
        with contextlib.suppress(OSError):
            os.close(self.master)
        return self.proc.poll()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- the terminal -----------------------------------------------------------------------------

    def _read_pty(self) -> None:
        while not self._closing:
            try:
                ready, _, _ = select.select([self.master], [], [], 0.2)
            except (OSError, ValueError):
                return
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError as e:
                if e.errno != errno.EIO:
                    raise
                return  # the child closed the pty
            if not chunk:
                return
            now = time.monotonic()
            self.total += len(chunk)
            self.chunks.append((now, self.total))
            room = KEEP_HEAD - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            if chunk:
                self.tail += chunk
                if len(self.tail) > 2 * KEEP_TAIL:
                    del self.tail[:-KEEP_TAIL]

    def send(self, key: str | bytes) -> float:
        """Type a key (a KEYS name or literal text); returns the monotonic time it was written."""
        data = key if isinstance(key, bytes) else KEYS.get(key, key.encode())
        t = time.monotonic()
        with contextlib.suppress(OSError):
            os.write(self.master, data)
        return t

    def bytes_at(self, t: float) -> int:
        """Output bytes written up to monotonic time `t`."""
        i = bisect_left(self.chunks, (t, float("inf"))) - 1
        return self.chunks[i][1] if i >= 0 else 0

    def output_after(self, t: float) -> float | None:
        """Monotonic time of the first output chunk read after `t`, if any yet."""
        i = bisect_left(self.chunks, (t, float("inf")))
        return self.chunks[i][0] if i < len(self.chunks) else None

    def quiet(self, seconds: float = 0.5, timeout: float = 10.0) -> None:
        """Wait until nothing has been written for `seconds` (or `timeout` passes)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = self.chunks[-1][0] if self.chunks else self.t_spawn
            if time.monotonic() - last >= seconds:
                return
            time.sleep(0.05)

    # -- the probe ------------------------------------------------------------------------------

    def _read_probe(self) -> None:
        assert self._server is not None
        self._server.settimeout(1.0)
        while not self._closing:
            try:
                conn, _ = self._server.accept()
                break
            except TimeoutError:
                if self.proc is not None and self.proc.poll() is not None:
                    return
            except OSError:
                return
        else:
            return
        self._conn = conn
        buf = b""
        while not self._closing:
            try:
                chunk = conn.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            *lines, buf = buf.split(b"\n")
            with self._cond:
                for line in lines:
                    if line.strip():
                        self.events.append(json.loads(line))
                self._cond.notify_all()

    def tell(self, **cmd: Any) -> None:
        deadline = time.monotonic() + 30
        while self._conn is None:
            if time.monotonic() > deadline or not self.alive():
                raise ConsoleError("the probe never connected")
            time.sleep(0.01)
        self._conn.sendall((json.dumps(cmd) + "\n").encode())

    def wait_for(self, pred: Callable[[dict], bool], timeout: float, start: int = 0) -> dict | None:
        """The first event (from index `start`) matching `pred`, waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            i = start
            while True:
                while i < len(self.events):
                    if pred(self.events[i]):
                        return self.events[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or not self.alive():
                    return None
                self._cond.wait(min(left, 0.5))

    def events_since(self, index: int) -> tuple[list[dict], int]:
        """The events from `index` on, and the index to read from next time."""
        with self._cond:
            return self.events[index:], len(self.events)

    def mark(self) -> int:
        """An index into the events, to wait for what happens after now."""
        with self._cond:
            return len(self.events)

    def screen_text(self) -> str:
        """The screen as text (pyte, when installed), for error reports.

        Only the start and the end of the output are kept, so cells that were drawn in between
        and not redrawn since may be missing.
        """
        try:
            import pyte
        except ImportError:
            return ""
        scr = pyte.Screen(self.cols, self.rows)
        stream = pyte.ByteStream(scr)
        stream.feed(bytes(self.head))
        stream.feed(bytes(self.tail[-KEEP_TAIL:]))
        return "\n".join(line.rstrip() for line in scr.display)
