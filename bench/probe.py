"""The console, exactly as `almtui` runs it, plus a probe that reports what its tables hold.

Run as `python -m bench.probe --probe SOCKET [--screen NAME] [almtui options]`. The console is
built from the same public pieces `almtui` uses (almtui.ui.entry: load_config, build_service,
connect_options; almtui.ui.app.make_app) and runs on the real terminal it is given (the
harness's pty). A daemon thread connects to the harness's Unix socket and answers in JSON lines:

- {"ev": "running", "t"}: the app's message loop is running.
- {"ev": "screen", "t", "name", "mode", "depth"}: the top screen changed (a dialog opened...).
- {"ev": "focus", "t", "name", "id"}: the focused widget changed (the filter input...).
- {"ev": "complete", "t", "screen", "synced_t", "rows", "expected", "rows_ok"}: after {"op":
  "complete", "screen": S} (or --screen at start): S is shown with data fetched after the service
  listed every kind (see Probe.check_complete); `rows` are its tables' row counts and `expected`
  the service's view sizes (taken afterwards, for the record).
- {"ev": "seen", "t", "id"}: after {"op": "expect", "id", "name", "pattern", "value"}: the
  table row with a cell equal to `name` has a cell matching regex `pattern` whose group 1
  equals `value`. {"op": "inspect", "names", "pattern"} answers {"ev": "inspect", "values"}.
- {"ev": "cache", "events", "notifications", "relists", "reconnects"} after {"op": "cache"}: the
  service cache's counters (watch events applied per kind, change notifications delivered).
- {"ev": "cached", "rv"} after {"op": "cached", "plural", "namespace", "name"}: the object's
  resourceVersion in the service's cache (None: not there).

Why read the DataTable model from a thread rather than hook the screens: the screens are
being rewritten by others, and DataTable's public reads (`row_count`, `rows`, `get_row`) are
stable; a dict read is atomic in CPython, so the UI thread is never re-entered. A value seen
mid-update is timed once the handler doing the update has returned (`barrier`: a no-op queued
with call_from_thread). Times are `time.monotonic()` (CLOCK_MONOTONIC, shared by every process
on the machine), so the harness compares them with its own; it takes the next frame written to
the pty after that moment as the moment the terminal shows it (bench/figures.py).
"""

from __future__ import annotations

import json
import os
import re
import select
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

ACTIVE_POLL = 0.005  # seconds between looks while something is awaited
IDLE_POLL = 0.1      # while nothing is: the probe must not cost idle CPU
QUIET = 1.0          # no fetch this long after the sync: the last LIST did not concern the screen

# The views each data screen shows, in the service's terms: how many rows a complete screen holds.
EXPECTED: dict[str, Callable[[Any], list[int]]] = {
    "rollouts": lambda svc: [len(svc.rollouts())],
    "health": lambda svc: [len(svc.nodes()), len(svc.pod_issues()), len(svc.warning_events())],
    "pipelines": lambda svc: [len(svc.pipeline_runs())],
    "autoscalers": lambda svc: [len(svc.hpas())],
}


def plain(value: Any) -> str:
    """The text of a DataTable cell (a rich Text, a str, a number)."""
    return str(getattr(value, "plain", value) if value is not None else "")


class Probe(threading.Thread):
    """Watches an AlmtuiApp from a daemon thread and reports over a Unix socket."""

    def __init__(self, app: Any, path: str, complete: str | None = None) -> None:
        super().__init__(name="bench-probe", daemon=True)
        self.app = app
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = b""
        self.complete: str | None = None
        self.synced_t: float | None = None
        self.warm = False
        self.need = 0
        self.data: Any = None  # the screen's data when last looked at
        self.last_t: float | None = None
        self.quiet_since = 0.0
        if complete:
            self.start_complete(complete)
        self.expects: dict[int, dict[str, Any]] = {}
        self.index: dict[str, tuple[Any, Any]] = {}  # name -> (table, row key)
        self.columns: dict[tuple[str, str], Any] = {}  # (name, pattern) -> the column key that matched
        self.screen_id = 0
        self.focused: Any = None
        self.active = False

    # -- wire -----------------------------------------------------------------------------------

    def send(self, **msg: Any) -> None:
        try:
            self.sock.sendall((json.dumps(msg) + "\n").encode())
        except OSError:
            pass

    def commands(self, timeout: float) -> list[dict]:
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return []
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError
        self.buf += chunk
        *lines, self.buf = self.buf.split(b"\n")
        return [json.loads(line) for line in lines if line.strip()]

    def start_complete(self, screen: str) -> None:
        """Report when `screen` is next complete (see check_complete)."""
        self.complete, self.synced_t, self.need, self.last_t = screen, None, 0, None
        self.warm = self.app.is_running and self.app.service.wait_synced(0)

    # -- loop -----------------------------------------------------------------------------------

    def run(self) -> None:
        while not self.app.is_running:
            time.sleep(0.002)
        self.send(ev="running", t=time.monotonic())
        while True:
            try:
                busy = self.active or self.complete is not None or bool(self.expects)
                for cmd in self.commands(ACTIVE_POLL if busy else IDLE_POLL):
                    self.handle(cmd)
                self.look()
            except (EOFError, OSError):  # the harness went away
                return
            except Exception as e:  # report and go on; never take the console down
                self.send(ev="error", t=time.monotonic(), error=repr(e))
                time.sleep(IDLE_POLL)

    def handle(self, cmd: dict) -> None:
        op = cmd.get("op")
        if op == "complete":
            self.start_complete(cmd["screen"])
        elif op == "expect":
            self.expects[int(cmd["id"])] = {**cmd, "rx": re.compile(cmd["pattern"])}
        elif op == "forget":
            self.expects.clear()
        elif op == "active":  # poll fast (screen and focus changes timed to 5 ms) until told otherwise
            self.active = bool(cmd.get("on", True))
        elif op == "cache":  # watch events applied per kind, and change notifications, so far
            st = self.app.service.cache.stats()
            self.send(ev="cache", t=time.monotonic(), events={k: v.events for k, v in st.kinds.items()},
                      notifications=st.notifications, relists=st.relists, reconnects=st.reconnects)
        elif op == "cached":  # the resourceVersion of one object in the service's cache
            obj = self.app.service.get(cmd["plural"], cmd.get("namespace"), cmd["name"]) or {}
            self.send(ev="cached", t=time.monotonic(), rv=(obj.get("metadata") or {}).get("resourceVersion"))
        elif op == "inspect":
            rx = re.compile(cmd["pattern"])
            self.send(ev="inspect", t=time.monotonic(), values={n: self.value(n, rx) for n in cmd["names"]})

    def look(self) -> None:
        try:
            screen = self.app.screen
        except Exception:  # between screens
            return
        if id(screen) != self.screen_id:
            self.screen_id = id(screen)
            self.index.clear()
            self.columns.clear()
            self.send(ev="screen", t=time.monotonic(), name=type(screen).__name__,
                      mode=str(getattr(self.app, "current_mode", "")), depth=len(self.app.screen_stack))
        focused = self.app.focused
        if focused is not self.focused:
            self.focused = focused
            self.send(ev="focus", t=time.monotonic(), name=type(focused).__name__ if focused else "",
                      id=str(getattr(focused, "id", "") or ""))
        if self.complete is not None:
            self.check_complete(screen)
        if self.expects:
            self.check_expects()

    # -- completeness ---------------------------------------------------------------------------

    def tables(self, screen: Any) -> list[Any]:
        from textual.widgets import DataTable

        try:
            return list(screen.query(DataTable))
        except Exception:
            return []

    def fetching(self, screen: Any) -> bool:
        """Whether a worker of `screen` (its view fetch) is running."""
        for _ in range(3):
            try:
                return any(w.node is screen and w.is_running for w in self.app.workers)
            except RuntimeError:  # the worker set changed while we looked
                continue
        return True

    def check_complete(self, screen: Any) -> None:
        """A screen is complete once it shows data from a fetch that began after the cache synced.

        Cold (the service still listing): data shown at the moment every kind is listed may
        predate the last LIST, so we wait for the screen's data to be replaced by a fetch that
        started after it: the next replacement if no fetch of the screen was running then, else
        the one after. (The cache notifies 0.1 s after a sync, so a fetch running when the probe
        sees the sync, within 5 ms, began before it.) If no fetch comes within QUIET seconds,
        the last LIST did not touch what the screen shows: it was complete at the later of the
        sync and its last data. Warm (a screen switch, the cache long synced): complete as soon
        as it shows data and is not fetching. Each time is taken after `barrier()`, once the UI
        thread has finished putting the data in the tables.
        """
        target = self.complete
        if target is None or getattr(self.app, "current_mode", None) != target:
            return
        if self.app.screen_stack[-1] is not screen:
            return
        svc = self.app.service
        data = getattr(screen, "data", None)
        if self.warm:
            if data is None or self.fetching(screen):
                return
            self.barrier()
            return self.completed(screen, time.monotonic())
        if self.synced_t is None:
            if not svc.wait_synced(0):
                self.data = data
                return
            self.synced_t = self.quiet_since = time.monotonic()
            self.need = 2 if self.fetching(screen) else 1
            self.data = data
            self.last_t = None
        if data is not self.data:
            self.data = data
            self.barrier()
            self.last_t = self.quiet_since = time.monotonic()
            self.need -= 1
            if self.need <= 0:
                return self.completed(screen, self.last_t)
        elif (data is not None and time.monotonic() - self.quiet_since >= QUIET and not self.fetching(screen)):
            self.completed(screen, max(self.synced_t, self.last_t or self.synced_t), quiet=True)

    def completed(self, screen: Any, t: float, quiet: bool = False) -> None:
        target = self.complete
        rows = sorted((tb.row_count for tb in self.tables(screen)), reverse=True)
        self.complete = self.data = None
        try:  # for the record only: after the time is taken, so its cost does not count
            want = sorted(EXPECTED.get(target or "", lambda _s: [])(self.app.service), reverse=True)
        except Exception:
            want = []
        self.send(ev="complete", t=t, screen=target, synced_t=self.synced_t or t, expected=want, rows=rows,
                  rows_ok=len(rows) >= len(want) and all(r >= w for r, w in zip(rows, want, strict=False)),
                  by_quiet=quiet)

    # -- rows -----------------------------------------------------------------------------------

    def find(self, name: str) -> tuple[Any, Any] | None:
        hit = self.index.get(name)
        if hit is not None and hit[1] in hit[0].rows:
            return hit
        for table in self.tables(self.app.screen):
            for key in list(table.rows):
                try:
                    cells = table.get_row(key)
                except Exception:
                    continue
                for cell in cells:
                    text = plain(cell).strip()
                    if text and text not in self.index:
                        self.index[text] = (table, key)
        return self.index.get(name)

    def value(self, name: str, rx: re.Pattern) -> str | None:
        """Group 1 of the first cell of `name`'s row that matches `rx` (the column is remembered)."""
        hit = self.find(name)
        if hit is None:
            return None
        table, key = hit
        col = self.columns.get((name, rx.pattern))
        if col is not None:
            try:
                m = rx.match(plain(table.get_cell(key, col)))
            except Exception:
                m = None
            if m:
                return m.group(1)
        try:
            cells = table.get_row(key)
            keys = [c.key for c in table.ordered_columns]
        except Exception:
            return None
        for col_key, cell in zip(keys, cells, strict=False):
            m = rx.match(plain(cell))
            if m:
                self.columns[(name, rx.pattern)] = col_key
                return m.group(1)
        return None

    def check_expects(self) -> None:
        hits = [ident for ident, exp in list(self.expects.items())
                if self.value(exp["name"], exp["rx"]) == str(exp["value"])]
        if not hits:
            return
        self.barrier()  # seen mid-update: the table is done when the handler that updates it returns
        now = time.monotonic()
        for ident in hits:
            self.send(ev="seen", id=ident, t=now)
            self.expects.pop(ident, None)

    def barrier(self) -> None:
        """Return once the UI thread has finished what it is doing (a no-op queued on its loop)."""
        try:
            self.app.call_from_thread(lambda: None)
        except Exception:  # the app is stopping
            pass


def main(argv: Sequence[str] | None = None) -> int:
    """`almtui [options]` with a probe; see the module docstring."""
    import argparse

    from almtui.cli import build_parser
    from almtui.ui.entry import build_service, connect_options, load_config, tune_gc

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--probe", required=True)
    pre.add_argument("--screen", default="pipelines")
    ours, rest = pre.parse_known_args(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(rest)
    config = load_config(getattr(args, "config", None))
    service, kubeconfig = build_service(args, config)
    from almtui.ui.app import make_app

    tune_gc()
    app = make_app(service, config=config, theme=getattr(args, "theme", None), kubeconfig=kubeconfig,
                   connect_options=connect_options(config), screen=ours.screen)
    Probe(app, ours.probe, complete=ours.screen).start()
    try:
        app.run()
    finally:
        for svc in {id(service): service, id(app.service): app.service}.values():
            try:
                svc.stop()
                svc.conn.close()
            except Exception:
                pass
    os._exit(app.return_code or 0)  # daemon informer threads must not delay the exit


if __name__ == "__main__":
    raise SystemExit(main())
