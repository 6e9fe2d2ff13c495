"""A real Prometheus scraping the sandbox, reached like in-cluster Prometheus: via the service proxy.

Why a real server: the console's PromQL (rate, histogram_quantile, label matching) must be checked
against the real engine, not a re-implementation. `start_prometheus(sandbox)` starts the exporter
(almtui/sandbox/exporter.py), writes a prometheus.yml into a temporary directory, runs the
`prometheus` binary on 127.0.0.1 only, waits for /-/ready, then publishes it the way kube-prometheus
does: Service `monitoring/prometheus-k8s` (port 9090, named `web`) and the API server's service
proxy, `/api/v1/namespaces/monitoring/services/prometheus-k8s:9090/proxy/...` (RBAC on
`services/proxy` is enforced by the API server before the handler runs).

The proxy mirrors kube-apiserver: the caller's Authorization header is not forwarded (the API
server consumes it), redirects are rewritten under the proxy path, and an unreachable backend
answers 503 ServiceUnavailable "error trying to reach service: dial tcp IP:PORT: connect:
connection refused" (k8s.io/apimachinery pkg/util/proxy/transport.go). `pause()` simulates that
outage for the `prometheus-down` fault without stopping the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from almtui.sandbox.errors import ApiError
from almtui.sandbox.exporter import Exporter

log = logging.getLogger(__name__)

NAMESPACE = "monitoring"
SERVICE = "prometheus-k8s"
PORT = 9090
PORT_NAME = "web"
# the address the (unsimulated) prometheus-k8s-0 pod would have: what the API server dials
ENDPOINT = "10.244.0.90:9090"
LABELS = {"app.kubernetes.io/component": "prometheus", "app.kubernetes.io/instance": "k8s",
          "app.kubernetes.io/name": "prometheus", "app.kubernetes.io/part-of": "kube-prometheus"}
# request/response headers a proxy must not pass on (RFC 9110 §7.6.1), plus what aiohttp sets itself
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "host", "content-length"}
READY_TIMEOUT = 30.0


class PrometheusUnavailable(ValueError):
    """Prometheus cannot be started; the message says why and what to do.

    A ValueError so that `almtui sandbox --prometheus` reports it like any other bad setup.
    """


def find_binary() -> str | None:
    """The prometheus executable: on PATH, else the Debian package's /usr/bin/prometheus."""
    path = shutil.which("prometheus")
    if path:
        return path
    return "/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK) else None


def proxy_names(service: str = SERVICE, port: int = PORT, port_name: str = PORT_NAME) -> list[str]:
    """Every `[scheme:]name[:port]` form the API server accepts for this service's proxy.

    Upstream SplitSchemeNamePort: scheme "" or "http" (the backend speaks plain HTTP), port by
    number, by name, or empty (the first port).
    """
    names = [service, f"{service}:"]
    for p in (str(port), port_name):
        names.append(f"{service}:{p}")
    names += [f"http:{service}:", f"http:{service}:{port}", f"http:{service}:{port_name}"]
    return names


def proxy_prefix(path: str) -> str:
    """`/api/v1/namespaces/NS/services/NAME/proxy` of a proxied request path: where redirects go."""
    segs = path.split("/")
    for i in range(2, len(segs)):
        if segs[i] == "proxy" and segs[i - 2] == "services":
            return "/".join(segs[: i + 1])
    return path.rstrip("/")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def write_config(path: Path, target: str, scrape_interval: str, evaluation_interval: str) -> None:
    """prometheus.yml: one job scraping the exporter; honor_labels keeps its job/instance labels."""
    config = {
        "global": {"scrape_interval": scrape_interval, "scrape_timeout": scrape_interval,
                   "evaluation_interval": evaluation_interval},
        "scrape_configs": [{"job_name": "almtui-sandbox", "honor_labels": True, "metrics_path": "/metrics",
                            "static_configs": [{"targets": [target]}]}],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the sandbox dies without stopping us (Linux only)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class PrometheusServer:
    """A running Prometheus and its service proxy; `stop()` undoes everything start_prometheus did."""

    def __init__(self, sandbox: Any, exporter: Exporter, binary: str, workdir: Path) -> None:
        self.sandbox = sandbox
        self.exporter = exporter
        self.binary = binary
        self.workdir = workdir
        self.process: subprocess.Popen | None = None
        self.port = 0
        self.paused = False
        self._session: aiohttp.ClientSession | None = None
        self._registered: list[tuple[str, str]] = []

    @property
    def url(self) -> str:
        """Prometheus's own address (127.0.0.1 only)."""
        return f"http://127.0.0.1:{self.port}"

    # -- the process -------------------------------------------------------------------------------

    def _args(self) -> list[str]:
        return [self.binary, f"--config.file={self.workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=6h", "--storage.tsdb.retention.size=512MB",
                "--log.level=warn"]

    def _log_tail(self, lines: int = 8) -> str:
        try:
            text = (self.workdir / "prometheus.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    async def _launch(self, timeout: float) -> None:
        """Start the binary on a free port and wait for /-/ready; a taken port is retried."""
        for attempt in range(3):
            self.port = free_port()
            with open(self.workdir / "prometheus.log", "ab") as logf:
                self.process = subprocess.Popen(
                    self._args(), stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, cwd=self.workdir,
                    preexec_fn=_die_with_parent)
            if await self._wait_ready(timeout):
                return
            code = self.process.poll()
            tail = self._log_tail()
            await self._terminate()
            if code is not None and "address already in use" in tail and attempt < 2:
                continue
            why = f"exited with code {code}" if code is not None else f"was not ready after {timeout:.0f}s"
            raise PrometheusUnavailable(f"prometheus {why}" + (f":\n{tail}" if tail else ""))

    async def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        assert self._session is not None
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with self._session.get(f"{self.url}/-/ready",
                                             timeout=aiohttp.ClientTimeout(total=2)) as resp:
                    if resp.status == 200:
                        return True
            await asyncio.sleep(0.1)
        return False

    async def _terminate(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            await asyncio.to_thread(proc.wait, 10)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait)

    # -- publishing ----------------------------------------------------------------------------------

    def _publish(self) -> None:
        store = self.sandbox.store
        if store.get("/namespaces", None, NAMESPACE) is None:
            store.create("/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        if store.get("/services", NAMESPACE, SERVICE) is None:
            store.create("/services", {
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": SERVICE, "namespace": NAMESPACE, "labels": dict(LABELS)},
                "spec": {"type": "ClusterIP", "selector": dict(LABELS), "sessionAffinity": "ClientIP",
                         "ports": [{"name": PORT_NAME, "port": PORT, "protocol": "TCP", "targetPort": PORT_NAME}]}})
        for name in proxy_names():
            key = (NAMESPACE, name)
            self.sandbox.hooks.proxies[key] = self.handle
            self._registered.append(key)
        self.sandbox.ctx.shared["prometheus"] = self

    # -- the service proxy ------------------------------------------------------------------------

    def pause(self) -> None:
        """Make the service proxy answer as if the Prometheus pod refused connections."""
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    @staticmethod
    def _unreachable() -> ApiError:
        return ApiError(503, "ServiceUnavailable",
                        f"error trying to reach service: dial tcp {ENDPOINT}: connect: connection refused")

    async def handle(self, request: web.Request, namespace: str, path: str) -> web.StreamResponse:
        """Forward one proxied request to Prometheus and stream the answer back."""
        if self.paused or self._session is None or self.process is None or self.process.poll() is not None:
            raise self._unreachable()
        url = self.url + path
        if request.query_string:
            url += "?" + request.query_string
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in HOP_BY_HOP and k.lower() != "authorization"}
        body = await request.read() if request.can_read_body else None
        try:
            upstream = await self._session.request(request.method, url, headers=headers, data=body,
                                                   allow_redirects=False)
        except aiohttp.ClientConnectorError:
            raise self._unreachable() from None
        except (TimeoutError, aiohttp.ClientError) as e:
            raise ApiError(503, "ServiceUnavailable", f"error trying to reach service: {e or 'EOF'}") from None
        async with upstream:
            resp = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for k, v in upstream.headers.items():
                if k.lower() in HOP_BY_HOP:
                    continue
                if k.lower() == "location" and v.startswith("/"):
                    v = proxy_prefix(request.path) + v
                resp.headers.add(k, v)
            if upstream.content_length is not None:
                resp.content_length = upstream.content_length
            await resp.prepare(request)
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async for chunk in upstream.content.iter_chunked(64 * 1024):
                    await resp.write(chunk)
            await resp.write_eof()
            return resp

    # -- lifecycle -------------------------------------------------------------------------------------

    async def start(self, scrape_interval: str, evaluation_interval: str, timeout: float) -> None:
        target = (await self.exporter.start()).split("//", 1)[1].split("/", 1)[0]
        write_config(self.workdir / "prometheus.yml", target, scrape_interval, evaluation_interval)
        self._session = aiohttp.ClientSession(
            auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=150))
        await self._launch(timeout)
        self._publish()

    async def stop(self) -> None:
        """Stop the process and the exporter; the Service stays (its proxy then has no endpoints)."""
        for key in self._registered:
            if self.sandbox.hooks.proxies.get(key) == self.handle:
                del self.sandbox.hooks.proxies[key]
        self._registered.clear()
        if self.sandbox.ctx.shared.get("prometheus") is self:
            del self.sandbox.ctx.shared["prometheus"]
        await self._terminate()
        if self._session is not None:
            await self._session.close()
            self._session = None
        await self.exporter.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


async def start_prometheus(sandbox: Any, *, scrape_interval: str = "1s", evaluation_interval: str = "1s",
                           binary: str | None = None, timeout: float = READY_TIMEOUT) -> PrometheusServer:
    """Start the exporter and a real Prometheus scraping it; publish it behind the service proxy.

    Raises PrometheusUnavailable without the binary or when it does not become ready.
    """
    binary = binary or find_binary()
    if not binary:
        raise PrometheusUnavailable("--prometheus needs the prometheus binary, which is not installed "
                                    "(Debian/Ubuntu: apt-get install prometheus; `make demo` installs it as root)")
    if not os.access(binary, os.X_OK):
        raise PrometheusUnavailable(f"--prometheus: {binary} is not an executable file")
    workdir = Path(tempfile.mkdtemp(prefix="almtui-prometheus-"))
    server = PrometheusServer(sandbox, Exporter(sandbox.ctx), binary, workdir)
    try:
        await server.start(scrape_interval, evaluation_interval, timeout)
    except BaseException:
        await server.stop()
        raise
    log.info("prometheus ready at %s scraping %s", server.url, server.exporter.url)
    return server
