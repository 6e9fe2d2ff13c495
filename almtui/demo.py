"""`almtui demo`: the built-in sandbox (and its Prometheus, when installed) with the console on it.

Why here and not in almtui.ui: the UI must never import the sandbox (import-linter contract),
so the CLI layer starts the sandbox in a background thread with its own event loop, writes a
throwaway kubeconfig (mode 0600, in a private temp dir), then runs the ordinary console
against it over real HTTPS, exactly as it would run against a real cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEMO_SCENARIO = "edge-retail"
DEMO_NAMESPACE = "prod"
log = logging.getLogger(__name__)


class DemoSandbox:
    """A sandbox served from its own thread and loop; `start()` blocks until it answers."""

    def __init__(self, scenario: str = DEMO_SCENARIO, *, seed: int = 1, speed: float = 1.0,
                 prometheus: bool = True, workdir: Path | None = None) -> None:
        self.scenario, self.seed, self.speed = scenario, seed, speed
        self.want_prometheus = prometheus
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="almtui-demo-"))
        self.kubeconfig = str(self.workdir / "kubeconfig.yaml")
        self.loop = asyncio.new_event_loop()
        self.sandbox: Any = None
        self.prometheus: Any = None
        self.prometheus_error = ""
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="demo-sandbox", daemon=True)

    def _main(self) -> None:
        from almtui.sandbox.prometheus import find_binary, start_prometheus
        from almtui.sandbox.runtime import Sandbox
        from almtui.sandbox.scenario import load_scenario

        asyncio.set_event_loop(self.loop)
        try:
            sb = Sandbox(load_scenario(self.scenario), seed=self.seed, speed=self.speed)
            sb.build()
            if self.want_prometheus and find_binary():
                try:
                    self.prometheus = self.loop.run_until_complete(start_prometheus(sb))
                except Exception as e:  # Prometheus is optional in the demo
                    self.prometheus_error = str(e)
            self.loop.run_until_complete(sb.start())
            self.sandbox = sb
        except BaseException as e:  # reported to the starting thread
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        if self.prometheus is not None:
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(self.prometheus.stop())
        self.loop.run_until_complete(sb.stop())
        self.loop.close()

    def start(self, timeout: float = 120.0) -> DemoSandbox:
        from almtui.sandbox.main import write_kubeconfig

        self.workdir.chmod(0o700)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the demo sandbox did not start in time")
        if self._error is not None:
            raise self._error
        config = self.call(lambda sb: sb.kubeconfig(DEMO_NAMESPACE))
        write_kubeconfig(self.kubeconfig, config)
        return self

    def call(self, fn: Callable[[Any], Any], timeout: float = 30.0) -> Any:
        """Run fn(sandbox) on the sandbox's loop (its store is not thread-safe)."""
        async def run() -> Any:
            return fn(self.sandbox)
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(15)
        shutil.rmtree(self.workdir, ignore_errors=True)


def run_demo(args: argparse.Namespace, *, console: Callable[[Any], int] | None = None,
             prometheus: bool = True) -> int:
    """Start the sandbox, open the console on it (all namespaces unless -n), stop everything after.

    console: what to run against the sandbox (default: the Textual console); prometheus: also
    start Prometheus when /usr/bin/prometheus (or one on PATH) exists.
    """
    demo = DemoSandbox(prometheus=prometheus)
    logging.basicConfig(filename=str(demo.workdir / "demo.log"), level=logging.WARNING)
    print("almtui demo: starting the sandbox cluster…", flush=True)
    try:
        demo.start()
    except Exception as e:
        shutil.rmtree(demo.workdir, ignore_errors=True)
        print(f"almtui demo: the sandbox did not start: {e}")
        return 1
    try:
        demo_args = argparse.Namespace(**vars(args))
        demo_args.kubeconfig = demo.kubeconfig
        demo_args.context = None
        if not getattr(args, "namespace", None):
            demo_args.all_namespaces = True
        if console is None:
            from almtui.ui.entry import run_console as console
        return console(demo_args)
    finally:
        demo.stop()
