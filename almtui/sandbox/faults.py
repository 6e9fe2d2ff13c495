"""Fault injection: make the sandbox's API server misbehave the way real ones do on edge links.

Why: the console must stay usable (stale data marked, writes refused, watches re-listed)
when the API server is slow, throttles, fails, drops connections, expires watches, or
disappears, and when a node loses its link. Each fault reproduces what a client sees
against a real cluster, with upstream's codes, headers and messages:

- latency          every matching request waits `rate` seconds (default 2) before it is served
- throttle         429 with `Retry-After: 1` and the plain-text body of the apiserver's
                   max-in-flight / priority-and-fairness filters (`rate`: fraction, default 1)
- errors           500 InternalError "etcdserver: request timed out", or 503 ServiceUnavailable
                   "apiserver is shutting down" with `Retry-After: 1` (`rate`: fraction, default 0.5)
- reset            the connection drops mid-response (headers sent, body cut short); watch
                   streams are cut a moment after they start (`rate`: fraction, default 0.5)
- watch-close      open watches end early, and new ones end within WATCH_INTERVAL seconds
- watch-expire     the watch history is compacted every WATCH_INTERVAL seconds and open watches
                   get an ERROR event with a 410 Expired Status, so resuming from an old
                   resourceVersion fails and clients must re-list
- api-down         nothing answers: every connection is closed without a response, and open
                   streams are cut (the admin endpoint keeps working so the fault can be cleared)
- prometheus-down  the sandbox's Prometheus (`ctx.shared["prometheus"]`) is paused
- partition        a node (`resource`, default the scenario's first flaky node, else the first
                   node) stops heartbeating; the node controllers mark it Unknown and taint it
- conflict         every write races a concurrent writer, so a write that carries a
                   resourceVersion gets 409 Conflict; writes without one still succeed

`resource` (a plural such as "pods", or "deployments.apps") limits the request faults and
`conflict` to one resource. Durations are wall-clock seconds, not simulated time: faults are
about the network and the client's behaviour, which run in real time whatever `--speed` is.

The admin endpoint (exempt from faults) is POST/GET/DELETE /admin/faults, authorized like a
cluster-admin request (the operator's bearer token).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from almtui.sandbox import errors
from almtui.sandbox.errors import ApiError
from almtui.sandbox.resources import REGISTRY, ResourceType

log = logging.getLogger(__name__)

KINDS = ("latency", "throttle", "errors", "reset", "watch-close", "watch-expire", "api-down",
         "prometheus-down", "partition", "conflict")
DEFAULT_RATE = {"latency": 2.0, "throttle": 1.0, "errors": 0.5, "reset": 0.5}
RESOURCE_KINDS = frozenset({"latency", "throttle", "errors", "reset", "conflict"})
WATCH_INTERVAL = 2.0  # seconds between watch-close / watch-expire sweeps
RESET_WATCH_AFTER = 0.5  # a watch opened under `reset` is cut this long after it starts
MAX_DURATION = 24 * 3600.0
ADMIN_PATH = "/admin/faults"
CONFLICT_ANNOTATION = "sandbox.almtui.io/conflict-bump"
THROTTLE_MESSAGE = "Too many requests, please try again later."  # apiserver filters/maxinflight.go


class FaultError(ValueError):
    """A fault that cannot be injected (unknown kind, bad value, missing collaborator)."""


@dataclass
class Fault:
    """One active fault."""

    kind: str
    duration: float
    rate: float | None = None
    resource: str | None = None  # plural, or plural.group
    node: str | None = None  # partition target
    started: float = field(default_factory=time.monotonic)
    affected: int = 0
    _timer: asyncio.TimerHandle | None = None
    _task: asyncio.Task | None = None
    _added_partition: bool = False

    @property
    def until(self) -> float:
        return self.started + self.duration

    def remaining(self, now: float | None = None) -> float:
        return max(0.0, self.until - (time.monotonic() if now is None else now))

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "duration": self.duration,
                               "remaining": round(self.remaining(), 3), "affected": self.affected}
        if self.rate is not None:
            out["rate"] = self.rate
        if self.resource:
            out["resource"] = self.resource
        if self.node:
            out["node"] = self.node
        return out


def install(sandbox: Any) -> Faults:
    """Install fault injection on a sandbox (idempotent): hooks, admin route, ctx.shared["faults"]."""
    existing = sandbox.ctx.shared.get("faults")
    if isinstance(existing, Faults):
        return existing
    return Faults(sandbox).install()


class Faults:
    """The active faults of one sandbox, and the hooks that apply them."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.store = sandbox.store
        self.ctx = sandbox.ctx
        self.rng = random.Random(f"faults/{getattr(sandbox, 'seed', 0)}")
        self._active: dict[str, Fault] = {}
        self._streams: set[asyncio.BaseTransport] = set()
        self._bumps = 0

    def install(self) -> Faults:
        hooks = self.sandbox.hooks
        hooks.before_request = self.before_request
        hooks.before_write = self.before_write
        self.ctx.shared["faults"] = self
        server = self.sandbox.server
        make_app = server.app

        def app() -> web.Application:
            application = make_app()
            application.middlewares.append(self.admin_middleware)
            return application

        server.app = app  # the admin route sits behind the server's own middleware
        return self

    # -- managing faults --------------------------------------------------------------------

    def active(self) -> list[dict[str, Any]]:
        """Descriptions of the faults in force, in kind order (expired ones are ended first)."""
        self._expire()
        return [self._active[k].describe() for k in KINDS if k in self._active]

    def is_active(self, kind: str) -> bool:
        self._expire()
        return kind in self._active

    def inject(self, kind: str, duration: float = 60.0, rate: float | None = None,
               resource: str | None = None) -> Fault:
        """Start (or restart) a fault; FaultError when it makes no sense. Call on the sandbox loop."""
        if kind not in KINDS:
            raise FaultError(f"unknown fault {kind!r}: expected one of {', '.join(KINDS)} or clear")
        try:
            duration = float(duration)
        except (TypeError, ValueError):
            raise FaultError(f"duration must be a number of seconds, got {duration!r}") from None
        if not 0 < duration <= MAX_DURATION:
            raise FaultError(f"duration must be between 0 and {MAX_DURATION:g} seconds, got {duration:g}")
        if rate is not None:
            try:
                rate = float(rate)
            except (TypeError, ValueError):
                raise FaultError(f"rate must be a number, got {rate!r}") from None
            if kind == "latency" and not 0 <= rate <= 600:
                raise FaultError("latency rate is the delay in seconds: between 0 and 600")
            if kind != "latency" and not 0 < rate <= 1:
                raise FaultError(f"{kind} rate is the fraction of requests affected: above 0, at most 1")
        elif kind in DEFAULT_RATE:
            rate = DEFAULT_RATE[kind]
        if resource and kind in RESOURCE_KINDS:
            self._resource_types(resource)  # validates
        fault = Fault(kind, duration, rate, resource if kind in RESOURCE_KINDS else None)
        if kind == "partition":
            fault.node = self._partition_node(resource)
        if kind == "prometheus-down":
            prom = self.ctx.shared.get("prometheus")
            if prom is None or not hasattr(prom, "pause"):
                raise FaultError("prometheus-down: this sandbox runs no Prometheus (start it with --prometheus)")
        self._end(kind)
        self._active[kind] = fault
        self._begin(fault)
        log.info("fault %s active for %gs", kind, duration)
        return fault

    def clear(self, kind: str | None = None) -> list[str]:
        """End one fault, or all; returns the kinds that were active."""
        kinds = [kind] if kind else [k for k in KINDS if k in self._active]
        ended = [k for k in kinds if k in self._active]
        for k in ended:
            self._end(k)
        return ended

    def _expire(self) -> None:
        now = time.monotonic()
        for kind in [k for k, f in self._active.items() if f.until <= now]:
            self._end(kind)

    def _loop(self) -> asyncio.AbstractEventLoop | None:
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            return None

    def _begin(self, f: Fault) -> None:
        loop = self._loop()
        if loop is not None:
            f._timer = loop.call_later(f.duration, self._end, f.kind, f)
        if f.kind == "api-down":
            self._cut_streams(1.0)
        elif f.kind == "reset":
            self._cut_streams(f.rate or 1.0)
        elif f.kind in ("watch-close", "watch-expire"):
            self._sweep(f)
            if loop is not None:
                f._task = loop.create_task(self._sweeper(f))
        elif f.kind == "prometheus-down":
            self.ctx.shared["prometheus"].pause()
        elif f.kind == "partition":
            partitions = self.ctx.shared.setdefault("partitions", set())
            f._added_partition = f.node not in partitions
            partitions.add(f.node)

    def _end(self, kind: str, only: Fault | None = None) -> None:
        f = self._active.get(kind)
        if f is None or (only is not None and f is not only):
            return
        del self._active[kind]
        if f._timer is not None:
            f._timer.cancel()
        if f._task is not None:
            f._task.cancel()
        if kind == "prometheus-down":
            prom = self.ctx.shared.get("prometheus")
            if prom is not None:
                with contextlib.suppress(Exception):
                    prom.resume()
        elif kind == "partition" and f._added_partition:
            self.ctx.shared.get("partitions", set()).discard(f.node)
        log.info("fault %s ended", kind)

    # -- targets ----------------------------------------------------------------------------

    @staticmethod
    def _resource_types(resource: str) -> list[ResourceType]:
        plural, _, group = resource.partition(".")
        found = [r for r in REGISTRY.resources if r.plural == plural and (not group or r.group == group)]
        if not found:
            raise FaultError(f'unknown resource "{resource}" (use a plural such as pods or deployments.apps)')
        return found

    def _partition_node(self, name: str | None) -> str:
        if name:
            if self.store.get("/nodes", None, name) is None:
                raise FaultError(f'partition: node "{name}" not found')
            return name
        for spec in getattr(self.sandbox.scenario, "nodes", ()):
            if spec.get("flaky") and self.store.get("/nodes", None, spec["name"]) is not None:
                return str(spec["name"])
        nodes = self.store.list("/nodes")
        if not nodes:
            raise FaultError("partition: the sandbox has no nodes")
        return str(nodes[0]["metadata"]["name"])

    def _matches(self, f: Fault, group: str | None, plural: str | None) -> bool:
        if not f.resource:
            return True
        want, _, want_group = f.resource.partition(".")
        return plural == want and (not want_group or group == want_group)

    def _hit(self, f: Fault) -> bool:
        """Whether this request is one of the `rate` fraction affected."""
        rate = 1.0 if f.rate is None else f.rate
        return rate >= 1.0 or self.rng.random() < rate

    # -- hooks ------------------------------------------------------------------------------

    async def before_request(self, request: web.Request) -> None:
        """Server hook, awaited before every non-admin request."""
        streaming = _is_stream(request)
        if streaming and request.transport is not None:  # remembered so api-down/reset can cut it
            self._streams = {t for t in self._streams if not t.is_closing()}
            self._streams.add(request.transport)
        if not self._active:
            return
        self._expire()
        if not self._active:
            return
        f = self._active.get("api-down")
        if f is not None:
            f.affected += 1
            _abort(request)
        group, plural = _target(request.path)
        f = self._active.get("latency")
        if f is not None and self._matches(f, group, plural):
            f.affected += 1
            await asyncio.sleep(f.rate or 0.0)
        f = self._active.get("throttle")
        if f is not None and self._matches(f, group, plural) and self._hit(f):
            f.affected += 1
            raise web.HTTPTooManyRequests(text=THROTTLE_MESSAGE + "\n",
                                          headers={"Retry-After": "1", "X-Content-Type-Options": "nosniff"})
        f = self._active.get("errors")
        if f is not None and self._matches(f, group, plural) and self._hit(f):
            f.affected += 1
            if streaming or self.rng.random() < 0.5:
                raise errors.internal("etcdserver: request timed out")  # storage error, as ErrorToAPIStatus
            raise errors.service_unavailable("apiserver is shutting down")  # filters/waitgroup.go
        f = self._active.get("reset")
        if f is not None and self._matches(f, group, plural) and self._hit(f):
            f.affected += 1
            if streaming:
                transport = request.transport
                if transport is not None:
                    def cut() -> None:  # a fault that has ended cuts nothing (nor does a cleared one)
                        if self.is_active("reset"):
                            transport.abort()
                    asyncio.get_running_loop().call_later(RESET_WATCH_AFTER, cut)
                return
            await _cut_response(request)

    def before_write(self, res: ResourceType, namespace: str | None, name: str) -> None:
        """Server hook, called before PUT/PATCH/DELETE/scale: a concurrent writer gets there first."""
        f = self._active.get("conflict")
        if f is None or not self.is_active("conflict") or not self._matches(f, res.group, res.plural):
            return
        self._bumps += 1
        bump = str(self._bumps)

        def touch(obj: dict) -> None:
            obj["metadata"].setdefault("annotations", {})[CONFLICT_ANNOTATION] = bump

        with contextlib.suppress(ApiError):
            if self.store.mutate(res.key, namespace, name, touch) is not None:
                f.affected += 1

    # -- watches and streams ----------------------------------------------------------------

    def _sweep(self, f: Fault) -> None:
        if f.kind == "watch-expire":
            self.store.compact()
            f.affected += self.store.close_all_watches(expire=True)
        else:
            f.affected += self.store.close_all_watches()

    async def _sweeper(self, f: Fault) -> None:
        while self._active.get(f.kind) is f:
            await asyncio.sleep(WATCH_INTERVAL)
            if self._active.get(f.kind) is f:
                self._sweep(f)

    def _cut_streams(self, rate: float) -> None:
        for t in sorted(self._streams, key=id):
            if not t.is_closing() and (rate >= 1.0 or self.rng.random() < rate):
                t.abort()
        self._streams = {t for t in self._streams if not t.is_closing()}

    # -- admin endpoint ---------------------------------------------------------------------

    @web.middleware
    async def admin_middleware(self, request: web.Request,
                               handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                               ) -> web.StreamResponse:
        if request.path.rstrip("/") != ADMIN_PATH:
            return await handler(request)
        user = self.sandbox.auth.authenticate(request.headers.get("Authorization"))
        if user is None:
            raise errors.unauthorized()
        allowed, _ = self.sandbox.auth.allowed(user, "create", "sandbox.almtui.io", "faults", "", None)
        if not allowed:
            raise errors.forbidden(None, "", user.name, "create", None, resource="faults",
                                   group="sandbox.almtui.io")
        if request.method == "GET":
            return _json({"faults": self.active()})
        if request.method == "DELETE":
            return _json({"cleared": self.clear(), "faults": []})
        if request.method != "POST":
            raise errors.method_not_allowed(request.method)
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError as e:
            raise errors.bad_request(f"error decoding request body: {e}") from None
        if not isinstance(body, dict):
            raise errors.bad_request("expected a JSON object {kind, duration, rate, resource}")
        kind = body.get("kind")
        if kind == "clear":
            return _json({"cleared": self.clear(), "faults": []})
        try:
            fault = self.inject(str(kind or ""), body.get("duration", 60.0), body.get("rate"),
                                body.get("resource"))
        except FaultError as e:
            raise errors.bad_request(str(e)) from None
        return _json({"fault": fault.describe(), "faults": self.active()}, 201)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body), status=status, content_type="application/json")


def _is_stream(request: web.Request) -> bool:
    """Long-running requests: watches and followed logs."""
    q = request.query
    return q.get("watch") in ("true", "1") or q.get("follow") in ("true", "1")


def _target(path: str) -> tuple[str | None, str | None]:
    """(group, resource plural) a request path addresses; (None, None) for non-resource paths."""
    segs = [s for s in path.split("/") if s]
    if len(segs) >= 3 and segs[0] == "api":
        group, rest = "", segs[2:]
    elif len(segs) >= 4 and segs[0] == "apis":
        group, rest = segs[1], segs[3:]
    else:
        return None, None
    if rest[0] == "namespaces" and len(rest) >= 3:
        rest = rest[2:]
    return group, rest[0]


def _abort(request: web.Request) -> None:
    """Drop the connection without a response; the handler ends as if the client had gone."""
    if request.transport is not None:
        request.transport.abort()
    raise asyncio.CancelledError


async def _cut_response(request: web.Request) -> None:
    """Send the status line, headers and a little of the body, then drop the connection."""
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    resp.content_length = 4096
    await resp.prepare(request)
    await resp.write(b'{"kind":"')
    await asyncio.sleep(0.05)  # let the bytes leave before the reset
    _abort(request)
