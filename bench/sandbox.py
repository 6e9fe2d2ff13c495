"""The benchmark's sandbox: `almtui sandbox` plus request statistics and a churn switch.

Run as `python -m bench.sandbox [almtui sandbox options]`: the same cluster `almtui sandbox`
serves (same scenario, `--scale` generator, TLS, kubeconfig), with two admin routes the
benchmark needs and the product does not: GET/DELETE /admin/stats (almtui/sandbox/stats.py:
requests by verb, with receive times) and GET/POST /admin/bench/churn {"rate": N} (start,
change or stop (rate 0) the sandbox's own churn while it runs, so idle and churn phases share
one cluster and one console). `SandboxProc` is the harness side: it starts that process, waits
for the URL, and talks to the API with the kubeconfig's operator credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

CHURN_PATH = "/admin/bench/churn"


# -- the sandbox process ----------------------------------------------------------------------------


class ChurnSwitch:
    """Starts, changes and stops the sandbox's churn at run time (the CLI only sets it at start)."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.task: asyncio.Task | None = None
        self.rate = 0.0

    def set(self, rate: float) -> None:
        from almtui.sandbox.churn import start_churn

        if self.task is not None:
            self.task.cancel()
            self.task = None
        self.rate = max(0.0, float(rate))
        if self.rate > 0:
            self.task = start_churn(self.sandbox, self.rate)

    def describe(self) -> dict[str, Any]:
        churn = self.sandbox.ctx.shared.get("churn")
        return {"rate": self.rate, "changes": getattr(churn, "changes", 0), "by_kind": getattr(churn, "by_kind", {})}

    def install(self) -> None:
        from aiohttp import web

        from almtui.sandbox import errors

        server = self.sandbox.server
        make_app = server.app

        @web.middleware
        async def middleware(request: web.Request,
                             handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
            if request.path.rstrip("/") != CHURN_PATH:
                return await handler(request)
            user = self.sandbox.auth.authenticate(request.headers.get("Authorization"))
            if user is None:
                raise errors.unauthorized()
            if request.method == "POST":
                try:
                    self.set(float(json.loads(await request.read() or b"{}").get("rate", 0)))
                except (ValueError, TypeError, AttributeError) as e:
                    raise errors.bad_request(f"expected {{\"rate\": N}}: {e}") from None
            return web.Response(text=json.dumps(self.describe()), content_type="application/json")

        def app() -> web.Application:
            application = make_app()
            application.middlewares.append(middleware)  # inside the server's middleware: Status errors
            return application

        server.app = app


async def serve(args: Any) -> int:
    """As almtui.sandbox.main.serve, with stats and the churn switch installed before serving."""
    from almtui.sandbox import stats
    from almtui.sandbox.main import parse_scale, write_kubeconfig
    from almtui.sandbox.runtime import Sandbox
    from almtui.sandbox.scale import generate
    from almtui.sandbox.scenario import load_scenario

    sandbox = Sandbox(load_scenario(args.scenario), seed=args.seed, speed=args.speed,
                      options={"churn": args.churn} if args.churn else None)
    scale = parse_scale(args.scale)
    if scale:
        generate(sandbox, scale)
    started = time.monotonic()
    sandbox.build()
    built = time.monotonic() - started
    stats.install(sandbox)
    ChurnSwitch(sandbox).install()
    url = await sandbox.start(args.host, args.port)
    if args.kubeconfig:
        write_kubeconfig(args.kubeconfig, sandbox.kubeconfig(args.namespace))
    print(json.dumps({"url": url, "build_seconds": round(built, 2)}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await sandbox.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from almtui.cli import build_parser

    args = build_parser().parse_args(["sandbox", *(sys.argv[1:] if argv is None else argv)])
    return asyncio.run(serve(args))


# -- the harness side -------------------------------------------------------------------------------


class SandboxError(RuntimeError):
    pass


class SandboxProc:
    """A `python -m bench.sandbox` child and an API client for it (operator credentials)."""

    def __init__(self, scale: str, workdir: Path, *, seed: int = 1, namespace: str = "default",
                 start_timeout: float = 600.0) -> None:
        self.scale = scale
        self.workdir = Path(workdir)
        self.kubeconfig = str(self.workdir / "kubeconfig")
        self.seed = seed
        self.namespace = namespace
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.build_seconds = 0.0
        self.start_seconds = 0.0
        self._tls: Any = None
        self._token = ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> SandboxProc:
        from almtui.sandbox.faultcli import load_target

        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "bench.sandbox", "--port", "0", "--kubeconfig", self.kubeconfig,
                "--namespace", self.namespace, "--seed", str(self.seed)]
        if self.scale:
            argv += ["--scale", self.scale]
        err = open(self.workdir / "sandbox.log", "wb")  # noqa: SIM115 (the child keeps it)
        t0 = time.monotonic()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, start_new_session=True,
                                     cwd=str(Path(__file__).resolve().parent.parent))
        err.close()
        assert self.proc.stdout is not None
        line = _readline(self.proc.stdout, self.start_timeout)
        if not line:
            self.stop()
            log = (self.workdir / "sandbox.log").read_text(errors="replace")[-2000:]
            raise SandboxError(f"the sandbox did not start within {self.start_timeout:g}s:\n{log}")
        info = json.loads(line)
        self.url, self.build_seconds = info["url"], info["build_seconds"]
        self.start_seconds = time.monotonic() - t0
        _, self._tls, self._token = load_target(self.kubeconfig)
        return self

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(grace)
                return
            except subprocess.TimeoutExpired:
                continue

    # -- API ----------------------------------------------------------------------------------

    @property
    def tls(self) -> Any:
        return self._tls

    @property
    def token(self) -> str:
        return self._token

    def api(self, method: str, path: str, body: Any = None, *, content_type: str = "application/json",
            timeout: float = 60.0) -> Any:
        """One request to the sandbox as the operator; the decoded JSON answer."""
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {self._token}", "Content-Type": content_type,
                                              "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._tls) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            raise SandboxError(f"{method} {path}: {e.code} {e.read()[:300]!r}") from None

    def items(self, path: str) -> list[dict]:
        return list(self.api("GET", path).get("items") or [])

    def stats(self, since: float | None = None) -> dict:
        return self.api("GET", "/admin/stats" + (f"?since={since!r}" if since is not None else ""))

    def churn(self, rate: float) -> dict:
        return self.api("POST", CHURN_PATH, {"rate": rate})


def _readline(stream: Any, timeout: float) -> bytes:
    """One line from a pipe, or b"" after `timeout` seconds (the child may still be building)."""
    import select

    fd = stream.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            return b""
        ready, _, _ = select.select([fd], [], [], min(left, 1.0))
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                return b""
            buf += chunk
    return buf.split(b"\n", 1)[0]


if __name__ == "__main__":
    raise SystemExit(main())
