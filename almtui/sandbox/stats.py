"""Request statistics: what clients asked the sandbox for, by verb and resource, with receive times.

Why: "watches, not polling LISTs" and "keypress to request sent" are claims about the traffic a
client makes, and only the server sees all of it. Each request is classified the way the
apiserver's RequestInfoFactory does (list, watch, get, create, update, patch, delete,
deletecollection; non-resource paths are "discovery") and counted, and kept in a short log
with its receive time (`time.monotonic()`, the system-wide CLOCK_MONOTONIC on
Linux, so another process on the same machine can compare it with its own clock).

The admin endpoint (not counted, exempt from faults) is GET /admin/stats (counters and the
request log; `?since=T` keeps only requests received after monotonic time T) and DELETE
/admin/stats (reset), authorized like a cluster-admin request (the operator's bearer token).
"""

from __future__ import annotations

import json
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from almtui.sandbox import errors

ADMIN_PATH = "/admin/stats"
LOG_SIZE = 5000  # requests remembered for the log
NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})  # apiserver: /namespaces/{ns}/status is the namespace's
WRITE_METHODS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


def classify(method: str, path: str, query: Any) -> tuple[str, str, str]:
    """(verb, resource, subresource) of a request, as the apiserver's RequestInfoFactory sees it.

    resource is "plural" or "plural.group"; non-resource paths give ("discovery", "", "").
    """
    segs = [unquote(s) for s in path.strip("/").split("/") if s]
    if len(segs) >= 3 and segs[0] == "api":
        group, parts = "", segs[2:]
    elif len(segs) >= 4 and segs[0] == "apis":
        group, parts = segs[1], segs[3:]
    else:
        return "discovery", "", ""
    if parts[0] == "namespaces" and len(parts) > 2 and parts[2] not in NAMESPACE_SUBRESOURCES:
        parts = parts[2:]
    resource = parts[0] + (f".{group}" if group else "")
    name = parts[1] if len(parts) > 1 else ""
    sub = parts[2] if len(parts) > 2 else ""
    method = method.upper()
    if method in ("GET", "HEAD"):
        watch = query.get("watch") in ("true", "1")
        return ("watch" if watch else "get" if name else "list"), resource, sub
    if method == "DELETE":
        return ("delete" if name else "deletecollection"), resource, sub
    return WRITE_METHODS.get(method, method.lower()), resource, sub


class Stats:
    """Counters of one sandbox's API traffic and the admin route that reports them."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.reset()

    def reset(self) -> None:
        self.started = time.monotonic()
        self.total = 0
        self.by_verb: Counter[str] = Counter()
        self.by_resource: Counter[str] = Counter()  # "verb resource[/sub]"
        self.dry_runs = 0
        self.log: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)
        self.watches_open = getattr(self, "watches_open", 0)  # streams outlive a reset

    def install(self) -> Stats:
        self.sandbox.ctx.shared["stats"] = self
        server = self.sandbox.server
        make_app = server.app

        def app() -> web.Application:
            application = make_app()
            application.middlewares.insert(0, self.middleware)  # outermost: receive time before any fault delay
            return application

        server.app = app
        return self

    def record(self, request: web.Request) -> str:
        """Count one request; returns its verb."""
        now = time.monotonic()
        verb, resource, sub = classify(request.method, request.path, request.query)
        self.total += 1
        self.by_verb[verb] += 1
        if resource:
            self.by_resource[f"{verb} {resource}{'/' + sub if sub else ''}"] += 1
        dry = "dryRun" in request.query
        if dry:
            self.dry_runs += 1
        self.log.append({"t": now, "wall": time.time(), "method": request.method, "verb": verb,
                         "resource": resource, "subresource": sub, "path": request.path, "dry_run": dry})
        return verb

    def report(self, since: float | None = None) -> dict[str, Any]:
        now = time.monotonic()
        log = [r for r in self.log if since is None or r["t"] > since]
        return {"now": now, "wall": time.time(), "since": self.started, "seconds": now - self.started,
                "total": self.total, "by_verb": dict(self.by_verb), "by_resource": dict(self.by_resource),
                "dry_runs": self.dry_runs, "watches_open": self.watches_open, "log": log}

    @web.middleware
    async def middleware(self, request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if request.path.rstrip("/") == ADMIN_PATH:
            try:
                return await self._admin(request)
            except errors.ApiError as e:  # outside the server's own middleware: answer the Status here
                return web.Response(text=json.dumps(e.status()), status=e.code, headers=e.headers,
                                    content_type="application/json")
        if request.path.startswith("/admin/"):
            return await handler(request)
        verb = self.record(request)
        if verb != "watch":
            return await handler(request)
        self.watches_open += 1
        try:
            return await handler(request)
        finally:
            self.watches_open -= 1

    async def _admin(self, request: web.Request) -> web.StreamResponse:
        auth = self.sandbox.auth
        user = auth.authenticate(request.headers.get("Authorization"))
        if user is None:
            raise errors.unauthorized()
        allowed, _ = auth.allowed(user, "get", "sandbox.almtui.io", "stats", "", None)
        if not allowed:
            raise errors.forbidden(None, "", user.name, "get", None, resource="stats", group="sandbox.almtui.io")
        if request.method == "DELETE":
            self.reset()
        elif request.method != "GET":
            raise errors.method_not_allowed(request.method)
        since = request.query.get("since")
        try:
            cutoff = float(since) if since else None
        except ValueError:
            raise errors.bad_request(f"since must be a number (monotonic seconds), got {since!r}") from None
        return web.Response(text=json.dumps(self.report(cutoff)), content_type="application/json")


def install(sandbox: Any) -> Stats:
    """Install request statistics on a sandbox before it starts serving (idempotent)."""
    existing = sandbox.ctx.shared.get("stats")
    if isinstance(existing, Stats):
        return existing
    return Stats(sandbox).install()
