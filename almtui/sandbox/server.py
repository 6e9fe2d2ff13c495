"""The sandbox's kube-apiserver: the Kubernetes REST API over aiohttp, as kubectl and client-go expect it.

Routing follows the real URL grammar (/api/v1, /apis/GROUP/VERSION, namespaces/NS/RESOURCE/NAME/SUB)
and every error is a Status body with the real reason and message, because clients branch on them.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote

import yaml
from aiohttp import web

from almtui import __version__
from almtui.kube import patch as patches
from almtui.kube.selectors import SelectorError, parse_field_selector, parse_label_selector
from almtui.sandbox import errors, openapi, protobuf, tables
from almtui.sandbox.auth import Authorizer, User
from almtui.sandbox.errors import ApiError
from almtui.sandbox.resources import COMPUTED, ResourceType
from almtui.sandbox.store import Obj, Store, dumps

log = logging.getLogger(__name__)

JSON = "application/json"
WATCH_BATCH_BYTES = 256 * 1024  # one write of a watch stream carries up to this much of its backlog
_EVENT_HEAD = {t: b'{"type":"' + t.encode() + b'","object":' for t in ("ADDED", "MODIFIED", "DELETED")}
LIST_LIMIT_MAX = 10000


class LogSource(Protocol):
    """Pod log lines, supplied by the simulated kubelet."""

    def lines(self, namespace: str, pod: str, container: str | None, previous: bool) -> list[tuple[str, str]]: ...

    def subscribe(self, namespace: str, pod: str, container: str | None) -> asyncio.Queue: ...

    def unsubscribe(self, namespace: str, pod: str, queue: asyncio.Queue) -> None: ...


class MetricsSource(Protocol):
    """metrics.k8s.io readings, supplied by the simulated kubelets."""

    def node_metrics(self) -> list[Obj]: ...

    def pod_metrics(self, namespace: str | None) -> list[Obj]: ...


ProxyHandler = Callable[[web.Request, str, str], Awaitable[web.StreamResponse]]


@dataclass
class Hooks:
    """Optional collaborators; the server works without any of them."""

    logs: LogSource | None = None
    metrics: MetricsSource | None = None
    # service proxies: (namespace, "name:port") -> handler(request, namespace, rest_path)
    proxies: dict[tuple[str, str], ProxyHandler] = field(default_factory=dict)
    # fault injection: awaited before every request; may sleep, raise ApiError or drop the connection
    before_request: Callable[[web.Request], Awaitable[None]] | None = None
    # called before a write is applied: (res, namespace, name) -> may write the object to force a conflict
    before_write: Callable[[ResourceType, str | None, str], None] | None = None
    watch_bookmark_seconds: float = 5.0
    watch_default_timeout: float = 1800.0


@dataclass
class Target:
    """A parsed resource URL."""

    res: ResourceType
    namespace: str | None
    name: str | None
    subresource: str
    rest: str = ""  # proxy path after .../proxy


def _list_key(obj: Obj) -> tuple[str, str]:
    md = obj["metadata"]
    return (md.get("namespace", ""), md["name"])


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=dumps(body), status=status, content_type=JSON, headers=headers)


def _status_success(res: ResourceType, name: str, uid: str | None) -> dict:
    details: dict[str, Any] = {"name": name, "kind": res.plural}
    if res.group:
        details["group"] = res.group
    if uid:
        details["uid"] = uid
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


class ApiServer:
    """Request handling on top of a Store."""

    def __init__(self, store: Store, auth: Authorizer, hooks: Hooks | None = None) -> None:
        self.store = store
        self.auth = auth
        self.hooks = hooks or Hooks()
        self.registry = store.registry
        self.request_count = 0
        self.started = time.time()

    # -- aiohttp wiring -------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        self.request_count += 1
        try:
            if self.hooks.before_request is not None and not request.path.startswith("/admin/"):
                await self.hooks.before_request(request)
            return await handler(request)
        except ApiError as e:
            return _json(e.status(), e.code, e.headers)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except web.HTTPException:
            raise
        except Exception as e:  # a bug must answer as a Status, never a hang
            log.exception("internal error on %s %s", request.method, request.path)
            err = errors.internal(str(e))
            return _json(err.status(), err.code)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if path in ("/healthz", "/readyz", "/livez") or path.startswith(("/healthz/", "/readyz/", "/livez/")):
            return web.Response(text="ok")
        if path == "/version":
            return _json(self._version())
        user = self.auth.authenticate(request.headers.get("Authorization"))
        if user is None:
            raise errors.unauthorized()
        if path == "/api":
            return _json({"kind": "APIVersions", "versions": ["v1"],
                          "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                          "serverAddress": request.host}]})
        if path == "/apis":
            return _json(self._group_list())
        if path.startswith("/openapi/"):
            return self._openapi(path, request)
        segs = [unquote(s) for s in path.strip("/").split("/")]
        if segs[0] == "api" and len(segs) >= 2:
            group, version, rest = "", segs[1], segs[2:]
        elif segs[0] == "apis" and len(segs) >= 3:
            group, version, rest = segs[1], segs[2], segs[3:]
        elif segs[0] == "apis" and len(segs) == 2:
            return self._group(segs[1])
        else:
            raise errors.not_found_path()
        if not rest:
            return self._resource_list(group, version)
        target = self._parse(group, version, rest)
        return await self._handle(request, user, target)

    # -- discovery ------------------------------------------------------------------------------

    def _version(self) -> dict:
        return {"major": "1", "minor": "33", "gitVersion": "v1.33.0-almtui-sandbox",
                "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
                "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24.0", "compiler": "gc",
                "platform": "linux/amd64", "emulationMajor": "1", "emulationMinor": "33",
                "almtuiVersion": __version__}

    def _group_entry(self, group: str) -> dict:
        versions = self.registry.groups()[group]
        gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}

    def _group_list(self) -> dict:
        groups = [self._group_entry(g) for g in self.registry.groups() if g]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def _group(self, group: str) -> web.Response:
        if group not in self.registry.groups() or not group:
            raise errors.not_found_path()
        return _json({"kind": "APIGroup", "apiVersion": "v1", **self._group_entry(group)})

    def _resource_list(self, group: str, version: str) -> web.Response:
        kinds = self.registry.in_group_version(group, version)
        if not kinds:
            raise errors.not_found_path()
        out = []
        for r in kinds:
            entry: dict[str, Any] = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                                     "kind": r.kind, "verbs": list(r.verbs)}
            if r.short_names:
                entry["shortNames"] = list(r.short_names)
            if r.categories:
                entry["categories"] = list(r.categories)
            out.append(entry)
            for sub in r.subresources:
                verbs = {"status": ["get", "patch", "update"], "scale": ["get", "patch", "update"],
                         "log": ["get"], "eviction": ["create"],
                         "proxy": ["create", "delete", "get", "patch", "update"]}[sub]
                sub_entry: dict[str, Any] = {"name": f"{r.plural}/{sub}", "singularName": "",
                                             "namespaced": r.namespaced, "kind": r.kind, "verbs": verbs}
                if sub == "scale":
                    sub_entry.update(kind="Scale", group="autoscaling", version="v1")
                elif sub == "log":
                    sub_entry["kind"] = "Pod"
                elif sub == "eviction":
                    sub_entry.update(kind="Eviction", group="policy", version="v1")
                elif sub == "proxy":
                    sub_entry["kind"] = "ServiceProxyOptions"
                out.append(sub_entry)
        gv = f"{group}/{version}" if group else version
        return _json({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out})

    def _openapi(self, path: str, request: web.Request) -> web.Response:
        if path == "/openapi/v3":
            return _json(openapi.openapi_v3_index(self.registry))
        if path == "/openapi/v2":
            return _json(openapi.openapi_v2_document(self.registry))
        doc = openapi.openapi_v3_document(self.registry, path[len("/openapi/v3/"):])
        if doc is None:
            raise errors.not_found_path()
        return _json(doc)

    # -- URL parsing ----------------------------------------------------------------------------

    def _parse(self, group: str, version: str, rest: list[str]) -> Target:
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        res = self.registry.lookup(group, version, rest[0])
        if res is None:
            raise errors.not_found_path()
        name = rest[1] if len(rest) >= 2 else None
        sub = rest[2] if len(rest) >= 3 else ""
        if sub and sub not in res.subresources:
            raise errors.not_found_path()
        extra = "/".join(rest[3:]) if len(rest) > 3 else ""
        if extra and sub != "proxy":
            raise errors.not_found_path()
        if namespace is not None and not res.namespaced:
            raise errors.not_found_path()
        if res.namespaced and name is not None and namespace is None:
            raise errors.not_found_path()
        return Target(res, namespace, name, sub, extra)

    # -- request handling -----------------------------------------------------------------------

    async def _handle(self, request: web.Request, user: User, t: Target) -> web.StreamResponse:
        method = request.method
        q = request.query
        is_watch = q.get("watch") in ("true", "1")
        if t.name is None:
            verb = {"GET": "watch" if is_watch else "list", "POST": "create", "DELETE": "deletecollection"}.get(method)
        else:
            verb = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete",
                    "POST": "create"}.get(method)
        if t.subresource == "proxy":
            verb = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
                    "DELETE": "delete"}.get(method)
        if verb is None or (verb not in t.res.verbs and not t.subresource):
            raise errors.method_not_allowed(method, t.res)
        self._authorize(user, verb, t)
        if t.res.key == "authorization.k8s.io/selfsubjectaccessreviews":
            body = await self._body(request)
            return _json(self.auth.review(user, body), 201)
        if t.res.key in COMPUTED:
            return self._metrics(t)
        if t.subresource == "log":
            return await self._pod_log(request, t)
        if t.subresource == "proxy":
            return await self._proxy(request, t)
        if t.subresource == "scale":
            return await self._scale(request, t, method)
        if t.subresource == "eviction":
            return await self._evict(request, t)
        dry_run = self._dry_run(q)
        if t.name is None:
            if method == "GET":
                return await (self._watch(request, t) if is_watch else self._list(request, t))
            if method == "POST":
                return await self._create(request, t, dry_run)
            if method == "DELETE":
                return await self._delete_collection(request, t, dry_run)
        if method == "GET":
            obj = self.store.must_get(t.res.key, t.namespace, t.name)
            return self._object_response(request, t.res, obj)
        if method == "PUT":
            return await self._update(request, t, dry_run)
        if method == "PATCH":
            return await self._patch(request, t, dry_run)
        if method == "DELETE":
            return await self._delete(request, t, dry_run)
        raise errors.method_not_allowed(method, t.res)

    def _authorize(self, user: User, verb: str, t: Target) -> None:
        ok, _ = self.auth.allowed(user, verb, t.res.group, t.res.plural, t.subresource, t.namespace)
        if not ok:
            raise errors.forbidden(t.res, t.name or "", user.name, verb, t.namespace, t.subresource)

    @staticmethod
    def _dry_run(q: Any) -> bool:
        values = q.getall("dryRun", [])
        for v in values:
            if v != "All":
                raise errors.bad_request(f'Invalid value: "{v}": supported values: "All"')
        return bool(values)

    async def _body(self, request: web.Request) -> Any:
        raw = await request.read()
        if not raw:
            raise errors.bad_request("the body of the request is empty")
        ctype = request.content_type
        if ctype == "application/vnd.kubernetes.protobuf":
            try:
                return protobuf.decode_object(raw)
            except protobuf.ProtobufError as e:
                raise errors.ApiError(415, "UnsupportedMediaType", str(e)) from None
        try:
            if ctype.endswith("yaml"):
                return yaml.safe_load(raw)
            return json.loads(raw)
        except (ValueError, yaml.YAMLError) as e:
            raise errors.bad_request(f"error decoding request body: {e}") from None

    def _object_response(self, request: web.Request, res: ResourceType, obj: Obj, status: int = 200) -> web.Response:
        if tables.wants_table(request.headers.get("Accept", "")):
            return _json(tables.to_table(res, [obj], self.store.clock.now(),
                                         request.query.get("includeObject", "Metadata")), status)
        return web.Response(body=self.store.raw(res.key, obj) if status == 200 else dumps(obj),
                            status=status, content_type=JSON)

    # -- list and watch -------------------------------------------------------------------------

    def _selectors(self, t: Target, q: Any) -> tuple[Any, Any]:
        try:
            labels = parse_label_selector(q["labelSelector"]) if q.get("labelSelector") else None
            fields = parse_field_selector(q["fieldSelector"]) if q.get("fieldSelector") else None
        except SelectorError as e:
            raise errors.bad_request(str(e)) from None
        if fields is not None:
            allowed = {"metadata.name", "metadata.namespace", *t.res.field_selectors}
            for f in fields.fields:
                if f not in allowed:
                    raise errors.bad_request(f'"{f}" is not a known field selector: only "metadata.name", '
                                             f'"metadata.namespace"')
        return labels, fields

    async def _list(self, request: web.Request, t: Target) -> web.StreamResponse:
        q = request.query
        labels, fields = self._selectors(t, q)
        key = t.res.key
        items = self.store.list(key, t.namespace, labels, fields)
        list_rv = self.store.rv
        start = 0
        if q.get("continue"):
            try:
                token = json.loads(base64.urlsafe_b64decode(q["continue"].encode()))
                list_rv, after = int(token["rv"]), tuple(token["after"])
            except (ValueError, KeyError, TypeError):
                raise errors.bad_request("continue key is not valid: incorrect encoded start "
                                         "resourceVersion (version meta.k8s.io/v1)") from None
            if list_rv < self.store.oldest_rv:
                raise errors.expired("The provided continue parameter is too old to display a consistent list "
                                     "result. You can start a new list without the continue parameter, or use "
                                     "the continue token in this response to retrieve the remainder of the "
                                     "results. Continuing with the provided token results in an inconsistent "
                                     "list - objects that were created, modified, or deleted between the time "
                                     "the first chunk was returned and now may show up in the list.")
            # items are in (namespace, name) order: the page starts after the last one returned
            start = bisect.bisect_right(items, after, key=_list_key)
        limit = int(q.get("limit") or 0)
        if limit < 0:
            limit = 0
        page = items[start:start + limit] if limit else items[start:]
        meta: dict[str, Any] = {"resourceVersion": str(list_rv)}
        if limit and start + limit < len(items):
            last = page[-1]["metadata"]
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(
                {"rv": list_rv, "after": [last.get("namespace", ""), last["name"]]}).encode()).decode()
            meta["remainingItemCount"] = len(items) - start - limit
        if tables.wants_table(request.headers.get("Accept", "")):
            table = tables.to_table(t.res, page, self.store.clock.now(), q.get("includeObject", "Metadata"), meta)
            return _json(table)
        head = dumps({"kind": f"{t.res.kind}List", "apiVersion": t.res.group_version, "metadata": meta})
        parts = [head[:-1], b',"items":[', b",".join(self.store.raw(key, o) for o in page), b"]}"]
        return web.Response(body=b"".join(parts), content_type=JSON)

    async def _watch(self, request: web.Request, t: Target) -> web.StreamResponse:
        q = request.query
        labels, fields = self._selectors(t, q)
        rv_param = q.get("resourceVersion", "")
        initial = q.get("sendInitialEvents") in ("true", "1")
        if rv_param in ("", "0"):
            since = None
        else:
            try:
                since = int(rv_param)
            except ValueError:
                raise errors.bad_request(f'invalid resource version: "{rv_param}"') from None
        bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
        timeout = float(q.get("timeoutSeconds") or self.hooks.watch_default_timeout)
        as_table = tables.wants_table(request.headers.get("Accept", ""))
        include = q.get("includeObject", "Metadata")
        try:
            watcher = self.store.open_watch(t.res.key, t.namespace, labels, fields, since)
        except ApiError as e:
            # an expired resourceVersion arrives as an ERROR event inside a 200 stream
            resp = web.StreamResponse(headers={"Content-Type": JSON})
            await resp.prepare(request)
            await resp.write(dumps({"type": "ERROR", "object": e.status()}) + b"\n")
            await resp.write_eof()
            return resp
        resp = web.StreamResponse(headers={"Content-Type": JSON, "Cache-Control": "no-cache"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        deadline = time.monotonic() + timeout
        first_table = True
        initial_pending = initial and since is None
        queue = watcher.queue
        try:
            while True:
                if initial_pending and queue.empty():
                    await resp.write(self._bookmark(t.res, {"k8s.io/initial-events-end": "true"}))
                    initial_pending = False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                if queue.empty():
                    wait = min(remaining, self.hooks.watch_bookmark_seconds) if bookmarks else remaining
                    try:
                        async with asyncio.timeout(wait):
                            event = await queue.get()
                    except TimeoutError:
                        if bookmarks and time.monotonic() < deadline:
                            await resp.write(self._bookmark(t.res))
                        continue
                else:
                    event = queue.get_nowait()
                # The events already queued go out in one write (one TLS record and syscall for a
                # burst, not one per event); each object is encoded once for all its watchers.
                parts: list[bytes] = []
                size, stop = 0, False
                while True:
                    etype, obj, _rv = event
                    if etype == "CLOSE":
                        stop = True
                        break
                    if etype == "EXPIRE":
                        err = errors.expired(f"too old resource version: {since or 0} ({self.store.oldest_rv})")
                        parts.append(dumps({"type": "ERROR", "object": err.status()}) + b"\n")
                        stop = True
                        break
                    if as_table:
                        tobj = tables.table_event_object(t.res, obj, self.store.clock.now(), include, first_table)
                        first_table = False
                        line = dumps({"type": etype, "object": tobj}) + b"\n"
                    else:
                        head = _EVENT_HEAD.get(etype) or b'{"type":"' + etype.encode() + b'","object":'
                        line = head + self.store.event_raw(t.res.key, obj) + b"}\n"
                    parts.append(line)
                    size += len(line)
                    if queue.empty() or size >= WATCH_BATCH_BYTES:
                        break
                    event = queue.get_nowait()
                if parts:
                    await resp.write(b"".join(parts))
                if stop:
                    break
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.store.close_watch(watcher)
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await resp.write_eof()
        return resp

    def _bookmark(self, res: ResourceType, annotations: dict | None = None) -> bytes:
        md: dict[str, Any] = {"resourceVersion": str(self.store.rv)}
        if annotations:
            md["annotations"] = annotations
        return dumps({"type": "BOOKMARK", "object": {"kind": res.kind, "apiVersion": res.group_version,
                                                     "metadata": md}}) + b"\n"

    # -- writes ---------------------------------------------------------------------------------

    def _check_kind(self, t: Target, body: Any) -> None:
        if not isinstance(body, dict):
            raise errors.bad_request("the object provided is not a valid object")
        kind = body.get("kind")
        if kind and kind != t.res.kind:
            av = body.get("apiVersion", "")
            raise errors.bad_request(f"the API version in the data ({av}) does not match the expected API "
                                     f"version ({t.res.group_version})" if av and av != t.res.group_version
                                     else f"the server could not find the requested resource ({kind})")

    def _prewrite(self, t: Target, name: str) -> None:
        if self.hooks.before_write is not None:
            self.hooks.before_write(t.res, t.namespace, name)

    async def _create(self, request: web.Request, t: Target, dry_run: bool) -> web.Response:
        body = await self._body(request)
        self._check_kind(t, body)
        md = body.setdefault("metadata", {})
        if t.res.namespaced:
            if md.get("namespace") and md["namespace"] != t.namespace:
                raise errors.bad_request("the namespace of the provided object does not match the namespace "
                                         "sent on the request")
            if t.namespace is None:
                raise errors.not_found_path()
            md["namespace"] = t.namespace
        obj = self.store.create(t.res.key, body, dry_run=dry_run)
        return _json(obj, 201)

    async def _update(self, request: web.Request, t: Target, dry_run: bool) -> web.Response:
        body = await self._body(request)
        self._check_kind(t, body)
        md = body.setdefault("metadata", {})
        if md.get("name") and md["name"] != t.name:
            raise errors.bad_request(f"the name of the object ({md['name']}) does not match the name on the "
                                     f"URL ({t.name})")
        md["name"] = t.name
        if t.res.namespaced:
            md["namespace"] = t.namespace
        self._prewrite(t, t.name or "")
        obj = self.store.update(t.res.key, body, subresource=t.subresource or None, dry_run=dry_run)
        return _json(obj)

    def _apply_patch(self, res: ResourceType, ctype: str, current: Obj, raw: bytes) -> Obj:
        try:
            if ctype == "application/json-patch+json":
                ops = json.loads(raw)
                if not isinstance(ops, list):
                    raise errors.bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
                return patches.json_patch(current, ops)
            if ctype == "application/merge-patch+json":
                return patches.json_merge_patch(current, json.loads(raw))
            if ctype == "application/strategic-merge-patch+json":
                if res.custom:
                    raise errors.unsupported_media_type(ctype)
                return patches.strategic_merge_patch(current, json.loads(raw), res.kind)
            if ctype == "application/apply-patch+yaml":
                return patches.json_merge_patch(current, yaml.safe_load(raw))
        except patches.PatchError as e:
            # handlers/patch.go: NewGenericServerResponse(422, ...) keeps the patch error only as a cause
            raise errors.ApiError(422, "Invalid", "the server rejected our request due to an error in our request",
                                  {"causes": [{"reason": "UnexpectedServerResponse", "message": str(e)}]}) from None
        except (ValueError, yaml.YAMLError) as e:
            raise errors.bad_request(f"error decoding patch: {e}") from None
        raise errors.unsupported_media_type(ctype)

    async def _patch(self, request: web.Request, t: Target, dry_run: bool) -> web.Response:
        raw = await request.read()
        ctype = request.content_type
        key = t.res.key
        current = self.store.get(key, t.namespace, t.name or "")
        if current is None:
            if ctype == "application/apply-patch+yaml":
                body = yaml.safe_load(raw) or {}
                body.setdefault("metadata", {})["name"] = t.name
                if t.res.namespaced:
                    body["metadata"]["namespace"] = t.namespace
                return _json(self.store.create(key, body, dry_run=dry_run), 201)
            raise errors.not_found(t.res, t.name or "")
        if ctype == "application/apply-patch+yaml" and not request.query.get("fieldManager"):
            raise errors.bad_request("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: "
                                     "is required for apply patch")
        self._prewrite(t, t.name or "")
        current = self.store.must_get(key, t.namespace, t.name or "")
        patched = self._apply_patch(t.res, ctype, current, raw)
        if not isinstance(patched, dict):
            raise errors.bad_request("the patch did not produce an object")
        patched.setdefault("metadata", {})
        if patched["metadata"].get("name") != t.name:
            raise errors.bad_request(f"the name of the object ({patched['metadata'].get('name')}) does not match "
                                     f"the name on the URL ({t.name})")
        # a patch carrying resourceVersion is a precondition; otherwise it applies to the current version
        obj = self.store.update(key, patched, subresource=t.subresource or None, dry_run=dry_run)
        return _json(obj)

    def _delete_options(self, q: Any, body: Any) -> dict[str, Any]:
        opts = dict(body) if isinstance(body, dict) else {}
        if "propagationPolicy" in q:
            opts["propagationPolicy"] = q["propagationPolicy"]
        if "gracePeriodSeconds" in q:
            opts["gracePeriodSeconds"] = int(q["gracePeriodSeconds"])
        if opts.get("orphanDependents") is True and "propagationPolicy" not in opts:
            opts["propagationPolicy"] = "Orphan"
        pol = opts.get("propagationPolicy")
        if pol not in (None, "Orphan", "Background", "Foreground"):
            raise errors.ApiError(422, "Invalid", f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: '
                                  f'Unsupported value: "{pol}": supported values: "Foreground", "Background", '
                                  f'"Orphan", "nil"')
        return opts

    async def _delete(self, request: web.Request, t: Target, dry_run: bool) -> web.Response:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        opts = self._delete_options(request.query, body)
        if opts.get("dryRun"):
            dry_run = True
        pre = opts.get("preconditions") or {}
        self._prewrite(t, t.name or "")
        before = self.store.must_get(t.res.key, t.namespace, t.name or "")
        obj = self.store.delete(t.res.key, t.namespace, t.name or "", propagation=opts.get("propagationPolicy"),
                                grace_seconds=opts.get("gracePeriodSeconds"),
                                precondition_rv=pre.get("resourceVersion"), precondition_uid=pre.get("uid"),
                                dry_run=dry_run)
        if self.store.get(t.res.key, t.namespace, t.name or "") is not None and not dry_run:
            return _json(obj)  # graceful deletion or finalizers pending: the object, as the server returns it
        return _json(_status_success(t.res, t.name or "", before["metadata"].get("uid")))

    async def _delete_collection(self, request: web.Request, t: Target, dry_run: bool) -> web.Response:
        labels, fields = self._selectors(t, request.query)
        raw = await request.read()
        opts = self._delete_options(request.query, json.loads(raw) if raw else None)
        items = self.store.list(t.res.key, t.namespace, labels, fields)
        deleted = []
        for o in items:
            md = o["metadata"]
            with contextlib.suppress(ApiError):
                deleted.append(self.store.delete(t.res.key, md.get("namespace"), md["name"],
                                                 propagation=opts.get("propagationPolicy"),
                                                 grace_seconds=opts.get("gracePeriodSeconds"), dry_run=dry_run))
        return _json({"kind": f"{t.res.kind}List", "apiVersion": t.res.group_version,
                      "metadata": {"resourceVersion": str(self.store.rv)}, "items": deleted})

    # -- subresources ---------------------------------------------------------------------------

    def _scale_paths(self, res: ResourceType) -> tuple[str, str]:
        """(status replicas field, selector source) — Rollouts use the CRD's scale paths."""
        return ("HPAReplicas", "status.selector") if res.custom else ("replicas", "spec.selector")

    def _to_scale(self, res: ResourceType, obj: Obj) -> dict:
        from almtui.kube.selectors import label_selector_to_string

        status_field, sel_src = self._scale_paths(res)
        status = obj.get("status") or {}
        if sel_src == "status.selector":
            selector = status.get("selector", "")
        else:
            selector = label_selector_to_string((obj.get("spec") or {}).get("selector"))
        md = obj["metadata"]
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {"name": md["name"], "namespace": md.get("namespace"), "uid": md.get("uid"),
                             "resourceVersion": md.get("resourceVersion"),
                             "creationTimestamp": md.get("creationTimestamp")},
                "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
                "status": {"replicas": status.get(status_field, status.get("replicas", 0)) or 0,
                           "selector": selector}}

    async def _scale(self, request: web.Request, t: Target, method: str) -> web.Response:
        key = t.res.key
        obj = self.store.must_get(key, t.namespace, t.name or "")
        if method == "GET":
            return _json(self._to_scale(t.res, obj))
        dry_run = self._dry_run(request.query)
        self._prewrite(t, t.name or "")
        obj = self.store.must_get(key, t.namespace, t.name or "")
        scale = self._to_scale(t.res, obj)
        if method == "PUT":
            new_scale = await self._body(request)
        elif method == "PATCH":
            raw = await request.read()
            ctype = request.content_type
            if ctype == "application/strategic-merge-patch+json":
                new_scale = patches.strategic_merge_patch(scale, json.loads(raw), "Scale")
            else:
                new_scale = self._apply_patch(t.res, ctype, scale, raw)
        else:
            raise errors.method_not_allowed(method, t.res)
        want_rv = (new_scale.get("metadata") or {}).get("resourceVersion")
        replicas = (new_scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool):
            raise errors.invalid(t.res, t.name or "", [errors.field_invalid("spec.replicas", replicas,
                                                                             "must be an integer")])
        if replicas < 0:
            raise errors.ApiError(422, "Invalid", f'Scale.autoscaling "{t.name}" is invalid: spec.replicas: '
                                  f"Invalid value: {replicas}: must be greater than or equal to 0",
                                  {"name": t.name, "group": "autoscaling", "kind": "Scale",
                                   "causes": [{"reason": "FieldValueInvalid", "field": "spec.replicas",
                                               "message": f"Invalid value: {replicas}: must be greater than "
                                                          f"or equal to 0"}]})
        new = json.loads(dumps(obj))
        new.setdefault("spec", {})["replicas"] = replicas
        if want_rv:
            new["metadata"]["resourceVersion"] = want_rv
        updated = self.store.update(key, new, dry_run=dry_run)
        return _json(self._to_scale(t.res, updated))

    async def _evict(self, request: web.Request, t: Target) -> web.Response:
        self.store.must_get(t.res.key, t.namespace, t.name or "")
        self.store.delete(t.res.key, t.namespace, t.name or "")
        return _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201)

    def _metrics(self, t: Target) -> web.Response:
        src = self.hooks.metrics
        if src is None:
            raise errors.service_unavailable()
        items = src.node_metrics() if t.res.plural == "nodes" else src.pod_metrics(t.namespace)
        if t.name is not None:
            for it in items:
                if it["metadata"]["name"] == t.name:
                    return _json(it)
            raise errors.not_found(t.res, t.name)
        return _json({"kind": f"{t.res.kind}List", "apiVersion": t.res.group_version,
                      "metadata": {}, "items": items})

    async def _pod_log(self, request: web.Request, t: Target) -> web.StreamResponse:
        q = request.query
        pod = self.store.must_get("/pods", t.namespace, t.name or "")
        containers = [c["name"] for c in (pod.get("spec") or {}).get("containers", [])]
        container = q.get("container")
        if container is None:
            if len(containers) > 1:
                raise errors.bad_request(f"a container name must be specified for pod {t.name}, choose one of: "
                                         f"[{' '.join(containers)}]")
            container = containers[0] if containers else None
        elif container not in containers:
            raise errors.bad_request(f"container {container} is not valid for pod {t.name}")
        src = self.hooks.logs
        lines = src.lines(t.namespace or "", t.name or "", container, q.get("previous") == "true") if src else []
        if q.get("tailLines"):
            n = int(q["tailLines"])
            lines = lines[-n:] if n > 0 else []
        stamps = q.get("timestamps") == "true"

        def fmt(entry: tuple[str, str]) -> bytes:
            stamp, text = entry
            return ((stamp + " ") if stamps else "").encode() + text.encode() + b"\n"

        if q.get("follow") != "true" or src is None:
            return web.Response(body=b"".join(fmt(e) for e in lines), content_type="text/plain")
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        queue = src.subscribe(t.namespace or "", t.name or "", container)
        try:
            for e in lines:
                await resp.write(fmt(e))
            while True:
                entry = await queue.get()
                if entry is None:
                    break
                await resp.write(fmt(entry))
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            src.unsubscribe(t.namespace or "", t.name or "", queue)
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await resp.write_eof()
        return resp

    async def _proxy(self, request: web.Request, t: Target) -> web.StreamResponse:
        if t.res.plural != "services":
            raise errors.not_found_path()
        name = t.name or ""
        handler = self.hooks.proxies.get((t.namespace or "", name))
        if handler is None:
            svc = self.store.get("/services", t.namespace, name.split(":")[0])
            if svc is None:
                raise errors.not_found(t.res, name.split(":")[0])
            raise errors.service_unavailable(f'no endpoints available for service "{name}"')
        return await handler(request, t.namespace or "", "/" + t.rest)
