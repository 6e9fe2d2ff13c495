"""Container logs as the simulated kubelets would serve them (the server's LogSource).

Why derived rather than stored: at 20,000 pods, keeping log lines in memory is wasteful.
A container instance's log is a pure function of what its status says (containerID,
image, startedAt, finishedAt, exitCode) and of simulated time: start-up lines naming the
image, a low-volume sample of request lines (errors and slow answers for `-err` images),
crash lines for `-bad` images, shutdown lines after SIGTERM. Only the last RING lines
are served, as if the runtime had rotated the file. Live followers are fed by `pump()`,
which the kubelet controller calls every simulated second.

Other controllers can own what some containers print (Tekton's step output) by registering
a generator with `register_source`: ``fn(namespace, pod, container, previous)`` returns
every (POSIX time, text) line the container instance prints, or will print, or None when
the container is not its own. The first answer wins over the generated log; it is cut at
"now" here and followed until the container instance stops, like any other log.

Errors mirror the kubelet's (`validateContainerLogStatus`), passed through by the API
server as 400 BadRequest; a partitioned node cannot be reached at all. They are raised
before any registered source is asked.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from almtui.kube.durations import parse_rfc3339
from almtui.sandbox import errors
from almtui.sandbox.controllers.base import Context
from almtui.sandbox.load import LoadModel, app_of, image_kind, unit
from almtui.sandbox.store import Obj

RING = 200  # lines kept per container instance
REQUEST_INTERVAL = 5.0  # mean seconds between sampled request lines
_PATHS = ("/api/orders", "/api/items", "/api/users/me", "/api/cart", "/healthz", "/api/search?q=edge", "/")
_METHODS = ("GET", "GET", "GET", "POST", "GET", "PUT", "GET")
_DB_ERR = "dial tcp 10.96.0.15:5432: connect: connection refused"

LogGenerator = Callable[[str, str, str, bool], list[tuple[float, str]] | None]


def format_nano(t: float) -> str:
    """RFC 3339 with nine fractional digits, as `kubectl logs --timestamps` prints."""
    us = round(t * 1e6)  # a float POSIX time carries no more than microseconds
    sec, frac = divmod(us, 10**6)
    return datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:06d}000Z"


def _when(line: tuple[float, str]) -> float:
    return line[0]


def _time(s: str | None) -> float | None:
    if not s:
        return None
    try:
        return parse_rfc3339(s).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class Instance:
    """One run of a container: what its log is generated from."""

    container_id: str
    app: str
    image: str
    pod_ip: str
    started: float
    finished: float | None = None
    exit_code: int | None = None


@dataclass
class _Sub:
    namespace: str
    pod: str
    container: str
    uid: str
    instance: Instance
    queue: asyncio.Queue
    sent_until: float
    done: bool = False
    source: LogGenerator | None = None  # a registered generator that owns this container


class PodLogs:
    """The LogSource protocol: lines, subscribe, unsubscribe; plus pump() for live streams."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.seed = int(ctx.options.get("seed", 0) or 0)
        self._subs: list[_Sub] = []
        self._last_read: dict[tuple[str, str, str], float] = {}
        self._sources: list[LogGenerator] = []

    def register_source(self, fn: LogGenerator) -> None:
        """Let `fn` serve the containers it answers for (see the module docstring); idempotent."""
        if fn not in self._sources:
            self._sources.append(fn)

    def _source(self, namespace: str, pod: str, container: str,
                previous: bool) -> tuple[LogGenerator, list[tuple[float, str]]] | None:
        for fn in self._sources:
            lines = fn(namespace, pod, container, previous)
            if lines is not None:
                return fn, lines
        return None

    # -- which instance ---------------------------------------------------------------------

    def _pod(self, namespace: str, pod: str) -> Obj:
        obj = self.store.get("/pods", namespace, pod)
        if obj is None:
            raise errors.not_found(self.store.res("/pods"), pod)
        return obj

    def _container(self, pod: Obj, container: str | None) -> str:
        names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or ()]
        if container is None:
            if len(names) != 1:
                pname = pod["metadata"]["name"]
                raise errors.bad_request(f"a container name must be specified for pod {pname}, "
                                         f"choose one of: [{' '.join(names)}]")
            return names[0]
        if container not in names:
            raise errors.bad_request(f"container {container} is not valid for pod {pod['metadata']['name']}")
        return container

    def _unreachable(self, pod: Obj, container: str) -> None:
        node = (pod.get("spec") or {}).get("nodeName")
        if node and node in (self.ctx.shared.get("partitions") or ()):
            md = pod["metadata"]
            ip = (pod.get("status") or {}).get("hostIP") or node
            msg = (f'Get "https://{ip}:10250/containerLogs/{md.get("namespace")}/{md["name"]}/{container}": '
                   f"dial tcp {ip}:10250: i/o timeout")
            raise errors.ApiError(500, "", msg)

    def instance(self, pod: Obj, container: str, previous: bool) -> Instance | None:
        """The container instance the kubelet would read; raises its errors like it does.

        None when the pod is not bound yet (the API server then streams nothing).
        """
        spec = pod.get("spec") or {}
        if not spec.get("nodeName"):
            return None
        name = pod["metadata"]["name"]
        status = pod.get("status") or {}
        cs = next((c for c in status.get("containerStatuses") or () if c.get("name") == container), None)
        if cs is None:
            raise errors.bad_request(f'container "{container}" in pod "{name}" is waiting to start: '
                                     "ContainerCreating")
        state = cs.get("state") or {}
        last = (cs.get("lastState") or {}).get("terminated")
        image = next((c.get("image", "") for c in spec.get("containers") or ()
                      if c.get("name") == container), "")
        app, pod_ip = app_of(pod), status.get("podIP") or ""

        def from_term(t: dict[str, Any]) -> Instance:
            return Instance(t.get("containerID", ""), app, image, pod_ip, _time(t.get("startedAt")) or 0.0,
                            _time(t.get("finishedAt")), t.get("exitCode"))

        if previous:
            if not last or not last.get("containerID"):
                raise errors.bad_request(
                    f'previous terminated container "{container}" in pod "{name}" not found')
            return from_term(last)
        if "running" in state:
            return Instance(cs.get("containerID", ""), app, image, pod_ip,
                            _time(state["running"].get("startedAt")) or self.ctx.now())
        if "terminated" in state:
            term = state["terminated"]
            if term.get("containerID"):
                return from_term(term)
            if last and last.get("containerID"):
                return from_term(last)
            raise errors.bad_request(f'container "{container}" in pod "{name}" is terminated')
        if last:
            if not last.get("containerID"):
                raise errors.bad_request(f'container "{container}" in pod "{name}" is terminated')
            return from_term(last)
        reason = (state.get("waiting") or {}).get("reason")
        if reason == "ErrImagePull":
            reason = "image can't be pulled"
        elif reason == "ImagePullBackOff":
            reason = "trying and failing to pull image"
        if reason:
            raise errors.bad_request(f'container "{container}" in pod "{name}" is waiting to start: {reason}')
        raise errors.bad_request(f'container "{container}" in pod "{name}" is waiting to start - no logs yet')

    # -- generation -------------------------------------------------------------------------

    def generate(self, inst: Instance, since: float | None, until: float) -> list[tuple[float, str]]:
        """(time, text) lines of an instance with since < time <= until, at most RING of them."""
        end = until if inst.finished is None else min(until, inst.finished)
        out = [e for e in self._startup(inst) if e[0] <= end]
        req_end = end if inst.finished is None else min(end, inst.finished - 0.6)
        out += self._requests(inst, since, req_end)
        if inst.finished is not None and until >= inst.finished:
            out += self._ending(inst)
        out.sort(key=lambda e: e[0])
        if since is not None:
            out = [e for e in out if e[0] > since]
        return out[-RING:]

    def _startup(self, inst: Instance) -> list[tuple[float, str]]:
        t0 = inst.started
        tag = inst.image.rsplit("/", 1)[-1].partition(":")[2] or "latest"
        lines = [
            (t0 + 0.011, f'level=info msg="starting {inst.app}" image={inst.image} version={tag}'),
            (t0 + 0.043, f'level=info msg="loaded configuration" path=/etc/{inst.app}/config.yaml'),
        ]
        kind = image_kind(inst.image)
        if kind == "bad":
            lines.append((t0 + 1.2, f'level=error msg="cannot reach database" addr=db:5432 '
                                    f'error="{_DB_ERR}"'))
            return lines
        if kind == "slow":
            for i, pct in enumerate((25, 50, 75, 100)):
                lines.append((t0 + 0.3 + 6.0 * i, f'level=info msg="warming caches" progress={pct}%'))
        lines.append((t0 + (24.5 if kind == "slow" else 0.31), 'level=info msg="listening" addr=:8080'))
        return lines

    def _requests(self, inst: Instance, since: float | None, end: float) -> list[tuple[float, str]]:
        kind = image_kind(inst.image)
        first = inst.started + (25.0 if kind == "slow" else 1.0)
        if kind == "bad" or end < first:
            return []
        k_max = math.floor((end - first) / REQUEST_INTERVAL)
        k_min = max(0, k_max - RING)
        if since is not None:
            k_min = max(k_min, math.floor((since - first) / REQUEST_INTERVAL))
        err = LoadModel.error_ratio(inst.image)
        out = []
        for k in range(k_min, k_max + 1):
            t = first + (k + unit(self.seed, "log", inst.container_id, k)) * REQUEST_INTERVAL
            if t > end or (since is not None and t <= since):
                continue
            u = unit(self.seed, "req", inst.container_id, k)
            i = int(u * len(_PATHS)) % len(_PATHS)
            method, path = _METHODS[i], _PATHS[i]
            lat = LoadModel.latency_seconds(inst.image, unit(self.seed, "lat", inst.container_id, k))
            peer = f"10.244.{int(u * 7919) % 250}.{int(u * 104729) % 250 + 2}:{30000 + int(u * 35000)}"
            if unit(self.seed, "err", inst.container_id, k) < err:
                code = (500, 502, 503)[int(u * 3000) % 3]
                out.append((t, f'level=error msg="request failed" method={method} path={path} status={code} '
                               f'duration={lat * 1000:.0f}ms remote={peer} error="upstream timed out"'))
            else:
                size = 120 + int(u * 4000)
                out.append((t, f"level=info msg=request method={method} path={path} status=200 "
                               f"duration={lat * 1000:.0f}ms bytes={size} remote={peer}"))
        return out

    def _ending(self, inst: Instance) -> list[tuple[float, str]]:
        fin = inst.finished or inst.started
        if inst.exit_code == 0 or image_kind(inst.image) != "bad":
            return [(fin - 0.5, 'level=info msg="received signal, shutting down" signal=terminated'),
                    (fin - 0.02, 'level=info msg="server stopped"')]
        return [
            (fin - 0.01, f"panic: cannot initialise storage: {_DB_ERR}"),
            (fin - 0.009, ""),
            (fin - 0.008, "goroutine 1 [running]:"),
            (fin - 0.007, "main.main()"),
            (fin - 0.006, f"\t/src/cmd/{inst.app}/main.go:57 +0x1d4"),
        ]

    # -- LogSource ----------------------------------------------------------------------------

    def lines(self, namespace: str, pod: str, container: str | None, previous: bool) -> list[tuple[str, str]]:
        obj = self._pod(namespace, pod)
        name = self._container(obj, container)
        if not (obj.get("spec") or {}).get("nodeName"):
            return []  # no node to ask: the API server streams nothing
        self._unreachable(obj, name)
        inst = self.instance(obj, name, previous)
        if inst is None:
            return []
        now = self.ctx.now()
        self._last_read[(namespace, pod, name)] = now
        if len(self._last_read) > 1000:  # only the read just before a follow matters
            self._last_read.pop(next(iter(self._last_read)))
        owned = self._source(namespace, pod, name, previous)
        if owned is not None:
            return [(format_nano(t), text) for t, text in sorted(owned[1], key=_when) if t <= now]
        return [(format_nano(t), text) for t, text in self.generate(inst, None, now)]

    def subscribe(self, namespace: str, pod: str, container: str | None) -> asyncio.Queue:
        """A queue of live (timestamp, text) lines; None ends the stream (the instance stopped)."""
        queue: asyncio.Queue = asyncio.Queue()
        obj = self.store.get("/pods", namespace, pod)
        if obj is None:
            queue.put_nowait(None)
            return queue
        name = self._container(obj, container)
        try:
            inst = self.instance(obj, name, False)
        except errors.ApiError:
            inst = None
        if inst is None:
            queue.put_nowait(None)
            return queue
        now = self.ctx.now()
        since = self._last_read.pop((namespace, pod, name), now)
        owned = self._source(namespace, pod, name, False)
        sub = _Sub(namespace, pod, name, obj["metadata"].get("uid", ""), inst, queue, min(since, now),
                   source=owned[0] if owned else None)
        self._subs.append(sub)
        self._feed(sub, now)
        return queue

    def unsubscribe(self, namespace: str, pod: str, queue: asyncio.Queue) -> None:
        self._subs = [s for s in self._subs if s.queue is not queue]

    def pump(self) -> None:
        """Push new lines to live followers; end streams whose container instance stopped."""
        if not self._subs:
            return
        now = self.ctx.now()
        for sub in list(self._subs):
            self._feed(sub, now)
        self._subs = [s for s in self._subs if not s.done]

    def _feed(self, sub: _Sub, now: float) -> None:
        if sub.done:
            return
        obj = self.store.get("/pods", sub.namespace, sub.pod)
        inst = sub.instance
        if obj is None or obj["metadata"].get("uid", "") != sub.uid:
            # the kubelet stopped the container and removed the pod since the last pump
            inst = Instance(inst.container_id, inst.app, inst.image, inst.pod_ip, inst.started,
                            max(now, sub.sent_until + 0.6), 0)
        else:
            node = (obj.get("spec") or {}).get("nodeName")
            if node in (self.ctx.shared.get("partitions") or ()):
                return  # the connection to the kubelet hangs
            inst = self._ended(obj, sub.container, inst) or inst
        until = now if inst.finished is None else max(now, inst.finished)
        if sub.source is not None:
            lines = sorted(sub.source(sub.namespace, sub.pod, sub.container, False) or (), key=_when)
            lines = [e for e in lines if sub.sent_until < e[0] <= until]
        else:
            lines = self.generate(inst, sub.sent_until, until)
        for t, text in lines:
            sub.queue.put_nowait((format_nano(t), text))
        sub.sent_until = until
        if inst.finished is not None:
            self._close(sub)

    def _ended(self, pod: Obj, container: str, inst: Instance) -> Instance | None:
        """The finished version of `inst` if the pod's status says it stopped, else None."""
        cs = next((c for c in (pod.get("status") or {}).get("containerStatuses") or ()
                   if c.get("name") == container), None)
        if cs is None:
            return None
        state = cs.get("state") or {}
        if "running" in state and cs.get("containerID") == inst.container_id:
            return None
        for term in (state.get("terminated"), (cs.get("lastState") or {}).get("terminated")):
            if term and term.get("containerID") == inst.container_id:
                return Instance(inst.container_id, inst.app, inst.image, inst.pod_ip, inst.started,
                                _time(term.get("finishedAt")) or self.ctx.now(), term.get("exitCode"))
        return Instance(inst.container_id, inst.app, inst.image, inst.pod_ip, inst.started,
                        self.ctx.now(), 137)

    @staticmethod
    def _close(sub: _Sub) -> None:
        sub.done = True
        sub.queue.put_nowait(None)
