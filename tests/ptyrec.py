"""Run a program under a pseudo-terminal, type at it, and keep every byte it writes.

Why: the only proof that a hostile string never reaches the terminal as control is the raw
byte stream a real terminal would receive. Pilot tests see Textual's model of the screen, not
what the driver writes. This recorder gives a program a real pty of a fixed size, sends keys
(optionally waiting for output first), and returns the whole output with the byte offset of
each step, so a test can replay the stream up to any step into a terminal emulator.

The child gets its own session (so it can be stopped as a group) but no controlling terminal:
Textual does not need one, and setting it up would mean running Python in the forked child
while the test process has threads (the sandbox), which is unsafe.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

KEYS: dict[str, bytes] = {
    "enter": b"\r", "escape": b"\x1b", "tab": b"\t", "backspace": b"\x7f",
    "up": b"\x1b[A", "down": b"\x1b[B", "right": b"\x1b[C", "left": b"\x1b[D",
    "pageup": b"\x1b[5~", "pagedown": b"\x1b[6~", "home": b"\x1b[H", "end": b"\x1b[F",
    "ctrl+c": b"\x03", "ctrl+q": b"\x11",
}


@dataclass(frozen=True)
class Key:
    """Type `data` (a KEYS name or literal text/bytes), then wait `delay` seconds."""

    data: str | bytes
    delay: float = 0.3
    label: str = ""

    def encoded(self) -> bytes:
        if isinstance(self.data, bytes):
            return self.data
        return KEYS.get(self.data, self.data.encode())


@dataclass(frozen=True)
class Wait:
    """Wait until the output since the last key (or the last Wait) matches `pattern` (bytes regex)."""

    pattern: bytes
    timeout: float = 20.0
    label: str = ""
    required: bool = True


@dataclass(frozen=True)
class Quiet:
    """Wait until the program has written nothing for `seconds` (at most `timeout`)."""

    seconds: float = 0.5
    timeout: float = 10.0
    label: str = ""


Step = Key | Wait | Quiet


@dataclass
class Recording:
    """All bytes written, and the byte offset reached at each labelled step."""

    output: bytes
    marks: list[tuple[str, int]] = field(default_factory=list)
    returncode: int | None = None
    timed_out: list[str] = field(default_factory=list)  # labels of Wait steps that did not match

    def upto(self, label: str) -> bytes:
        """The output up to the step labelled `label`."""
        for name, offset in self.marks:
            if name == label:
                return self.output[:offset]
        raise KeyError(label)


class PtyProcess:
    """A child process on the slave side of a new pty of `cols` x `rows`."""

    def __init__(self, argv: Sequence[str], *, cols: int = 120, rows: int = 40,
                 env: Mapping[str, str] | None = None, cwd: str | None = None) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.master = master
        self.buf = bytearray()
        self._eof = False
        try:
            self.proc = subprocess.Popen(list(argv), stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
                                         env=dict(env) if env is not None else None, start_new_session=True,
                                         close_fds=True)
        finally:
            os.close(slave)

    # -- reading ------------------------------------------------------------------------------

    def _pump(self, timeout: float) -> bool:
        """Read what is available within `timeout`; False once the child closed the pty."""
        if self._eof:
            return False
        ready, _, _ = select.select([self.master], [], [], max(0.0, timeout))
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError as e:  # EIO: every slave fd is closed (the child exited)
            if e.errno != errno.EIO:
                raise
            chunk = b""
        if not chunk:
            self._eof = True
            return False
        self.buf += chunk
        return True

    def expect(self, pattern: bytes, timeout: float, start: int = 0) -> bool:
        """Wait until the output from offset `start` matches the regex `pattern`."""
        rx = re.compile(pattern, re.S)
        deadline = time.monotonic() + timeout
        while True:
            if rx.search(self.buf, start):
                return True
            left = deadline - time.monotonic()
            if left <= 0 or not self._pump(min(left, 0.1)):
                return bool(rx.search(self.buf, start))

    def quiet(self, seconds: float, timeout: float) -> None:
        """Read until nothing arrives for `seconds` (or `timeout` passes)."""
        deadline = time.monotonic() + timeout
        last_len, last_change = len(self.buf), time.monotonic()
        while time.monotonic() < deadline:
            if not self._pump(0.05):
                return
            if len(self.buf) != last_len:
                last_len, last_change = len(self.buf), time.monotonic()
            elif time.monotonic() - last_change >= seconds:
                return

    def pause(self, seconds: float) -> None:
        """Keep reading for `seconds` (the child must never block on a full pty)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if not self._pump(min(left, 0.05)):
                time.sleep(min(left, 0.05))

    # -- writing and stopping -----------------------------------------------------------------

    def send(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            os.write(self.master, data)

    def wait(self, timeout: float) -> int | None:
        """Wait for the child to exit, draining its output; None if it is still running."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._pump(0.05)
            code = self.proc.poll()
            if code is not None:
                while self._pump(0.05):  # what it wrote just before exiting
                    pass
                return code
        return None

    def kill(self) -> int | None:
        """Stop the child's process group: SIGTERM, then SIGKILL."""
        for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            if self.proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)
            self.wait(grace)
        return self.proc.poll()

    def close(self) -> None:
        self.kill()
        with contextlib.suppress(OSError):
            os.close(self.master)


def record(argv: Sequence[str], steps: Iterable[Step], *, cols: int = 120, rows: int = 40,
           env: Mapping[str, str] | None = None, cwd: str | None = None, term: str = "xterm-256color",
           quit_keys: Sequence[Step] = (Key("q", 0.0),), exit_timeout: float = 15.0) -> Recording:
    """Run `argv` under a `cols` x `rows` pty, perform `steps`, quit, and return everything written.

    The environment is `env` (default: this process's) with TERM, COLUMNS and LINES set. After
    the steps, `quit_keys` are sent; a child still running `exit_timeout` seconds later is
    killed (its returncode then says so).
    """
    full_env = dict(os.environ if env is None else env)
    full_env.update({"TERM": term, "COLUMNS": str(cols), "LINES": str(rows)})
    child = PtyProcess(argv, cols=cols, rows=rows, env=full_env, cwd=cwd)
    rec = Recording(b"")
    try:
        since = 0  # a Wait looks at the output since the last key was sent (or the last Wait)
        for n, step in enumerate(steps):
            label = step.label or f"step{n}"
            if isinstance(step, Key):
                since = len(child.buf)
                child.send(step.encoded())
                child.pause(step.delay)
            elif isinstance(step, Wait):
                if not child.expect(step.pattern, step.timeout, since) and step.required:
                    rec.timed_out.append(label)
                since = len(child.buf)
            else:
                child.quiet(step.seconds, step.timeout)
            rec.marks.append((label, len(child.buf)))
        for step in quit_keys:
            if child.proc.poll() is not None:
                break
            if isinstance(step, Key):
                child.send(step.encoded())
                child.pause(step.delay)
        rec.returncode = child.wait(exit_timeout)
        if rec.returncode is None:
            rec.returncode = child.kill()
    finally:
        child.close()
        rec.output = bytes(child.buf)
    return rec
