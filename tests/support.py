"""Test support: a sandbox cluster served over real HTTP from a background thread.

Tests talk to it over HTTP like any client; `call()` runs a function on the sandbox's own
event loop when a test needs to look inside (the store is not thread-safe).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from almtui.sandbox.runtime import Sandbox
from almtui.sandbox.scenario import Scenario, load_scenario, parse_scenario


def need_binary(name: str) -> str:
    """Path of a tool the test needs; skip without it, but fail under CI=true."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None)
    if path:
        return path
    msg = f"{name} is not installed (make test installs it when run as root)"
    if os.environ.get("CI") == "true":
        pytest.fail(msg)
    pytest.skip(msg)


class RunningSandbox:
    """A Sandbox started on 127.0.0.1:0 in its own thread and event loop."""

    def __init__(self, scenario: str | Scenario | dict = "edge-retail", *, seed: int = 1, speed: float = 20.0,
                 options: dict | None = None, workdir: Path | None = None,
                 prepare: Callable[[Sandbox], None] | None = None, start: Any = None, frozen: bool = False) -> None:
        if isinstance(scenario, str):
            scenario = load_scenario(scenario)
        elif isinstance(scenario, dict):
            scenario = parse_scenario(scenario)
        self.scenario = scenario
        self.seed, self.speed, self.options = seed, speed, options
        self.start_at, self.frozen = start, frozen
        self.prepare = prepare
        self.workdir = workdir
        self.loop = asyncio.new_event_loop()
        self.sandbox: Sandbox | None = None
        self.url = ""
        self.kubeconfig = ""
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="sandbox", daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            sb = Sandbox(self.scenario, seed=self.seed, speed=self.speed, options=self.options,
                         start=self.start_at, frozen=self.frozen)
            if self.prepare:
                self.prepare(sb)
            sb.build()
            self.url = self.loop.run_until_complete(sb.start())
            self.sandbox = sb
        except BaseException as e:  # reported to the test thread
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(sb.stop())
        self.loop.close()

    def start(self) -> RunningSandbox:
        self._thread.start()
        self._ready.wait(120)
        if self._error is not None:
            raise self._error
        if self.workdir is not None:
            self.kubeconfig = str(self.workdir / "kubeconfig.yaml")
            cfg = self.call(lambda sb: sb.kubeconfig("prod"))
            Path(self.kubeconfig).write_text(yaml.safe_dump(cfg))
            os.chmod(self.kubeconfig, 0o600)
        return self

    def call(self, fn: Callable[[Sandbox], Any], timeout: float = 30) -> Any:
        """Run fn(sandbox) on the sandbox loop and return its result."""
        async def run() -> Any:
            return fn(self.sandbox)
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def get(self, key: str, namespace: str | None, name: str) -> dict | None:
        import copy
        return self.call(lambda sb: copy.deepcopy(sb.store.get(key, namespace, name)))

    def list(self, key: str, namespace: str | None = None) -> list[dict]:
        import copy
        return self.call(lambda sb: copy.deepcopy(sb.store.list(key, namespace)))

    def token(self, user: str) -> str:
        return self.call(lambda sb: sb.auth.by_name[user].token)

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)


def wait_until(pred: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1, what: str = "") -> Any:
    import time
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or pred}; last value: {last!r}")
