"""One throttled, timed, freshness-reporting HTTP connection to a cluster's API server.

Why raw JSON through the official client's transport: building typed models for big lists is
the client's bottleneck (about 8x slower than json.loads), but its ApiClient still gives us
TLS, client certificates and bearer tokens, including exec-plugin tokens that refresh when they
expire (`param_serialize` runs the configuration's refresh hook on every request). A 401 also
triggers one credential refresh (re-read kubeconfig, re-run the exec plugin) and one retry.

Timeouts: every request has a connect timeout and an idle-read timeout, never a whole-request
deadline, so a big LIST on a slow link is not killed half-way (the k9s failure). Watches get a
read timeout longer than the server's bookmark interval, so a dead link is noticed.

Two request budgets: `limiter` (qps 5 / burst 10, client-go's rest.Config defaults) throttles
everything a user or a screen causes, actions included; `sync_limiter` (qps 50 / burst 100)
throttles only the informers' LISTs and watches (`sync=True`). A cold start at 5,000 pods is 31
LIST pages: through the small bucket alone that is (31 - 10) / 5 = 4.2 s of pure waiting, with no
benefit to the server, which serves a page in milliseconds (see informer.py for the watches).
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import urllib3
from kubernetes.client.exceptions import ApiException

from almtui.cluster.freshness import FreshnessTracker
from almtui.cluster.kubeconfig import ContextInfo, KubeConfig
from almtui.cluster.ratelimit import RateLimiter

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

log = logging.getLogger(__name__)

JSON = "application/json"
Query = Mapping[str, Any] | Sequence[tuple[str, Any]] | None
_NET_ERRORS = (urllib3.exceptions.HTTPError, OSError, http.client.HTTPException)
IDEMPOTENT = frozenset({"GET", "HEAD"})


class ApiError(Exception):
    """The server answered with a Status error (or an ERROR watch event)."""

    def __init__(self, status: int, reason: str, message: str, body: dict | None = None, *,
                 retry_after: float | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}" if reason else f"{status}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}
        self.retry_after = retry_after

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def forbidden(self) -> bool:
        return self.status == 403

    @property
    def unauthorized(self) -> bool:
        return self.status == 401

    @property
    def expired(self) -> bool:
        """410 Gone / Expired: relist (watch) or restart (continue token)."""
        return self.status == 410 or self.reason in ("Expired", "Gone")


class ConnectionLost(Exception):
    """Network error or timeout: no answer. After a write, its outcome is unknown: re-read first.

    `cause` is one of "refused", "connect-timeout", "read-timeout", "tls", "reset", "closed".
    """

    def __init__(self, message: str, cause: str = "reset") -> None:
        super().__init__(message)
        self.cause = cause


class TLSVerifyError(ConnectionLost):
    """The server's certificate could not be verified against the kubeconfig's CA."""


def _query(q: Query) -> list[tuple[str, str]]:
    items = q.items() if isinstance(q, Mapping) else (q or [])
    out = []
    for k, v in items:
        if v is None:
            continue
        out.append((k, ("true" if v else "false") if isinstance(v, bool) else str(v)))
    return out


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _api_error(status: int, http_reason: str, data: bytes, retry_after: str | None) -> ApiError:
    body: dict | None = None
    try:
        parsed = json.loads(data) if data else None
        if isinstance(parsed, dict):
            body = parsed
    except ValueError:
        pass
    if body is not None and body.get("kind") == "Status":
        message = str(body.get("message") or http_reason or "")
        reason = str(body.get("reason") or http_reason or "")
    else:
        message = data[:300].decode("utf-8", "replace").strip() or (http_reason or "")
        reason = http_reason or ""
    return ApiError(status, reason, message, body, retry_after=_retry_after(retry_after))


class Connection:
    """Requests and watches against one context, sharing two rate limiters and a freshness tracker.

    Thread-safe: informers and UI workers call it concurrently. Nothing here blocks forever:
    requests time out, watches have a read timeout, and `close()` interrupts retry sleeps.
    `qps`/`burst` make `limiter`, for everything but informers; `sync_qps`/`sync_burst` make
    `sync_limiter`, never tighter than `limiter` (qps <= 0 means unlimited, as in RateLimiter).
    """

    def __init__(self, context: ContextInfo, api_client: ApiClient, *, qps: float = 5.0, burst: int = 10,
                 sync_qps: float = 50.0, sync_burst: int = 100,
                 timeout: float = 10.0, connect_timeout: float | None = None, watch_read_timeout: float = 90.0,
                 max_retries: int = 3, max_retry_wait: float = 30.0, freshness: FreshnessTracker | None = None,
                 reauth: Callable[[], bool] | None = None, reauth_interval: float = 5.0) -> None:
        self.context = context
        self.api_client = api_client
        self.timeout = timeout
        self.connect_timeout = connect_timeout if connect_timeout is not None else min(timeout, 10.0)
        self.watch_read_timeout = watch_read_timeout
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self.limiter = RateLimiter(qps, burst)
        unlimited = qps <= 0 or sync_qps <= 0
        self.sync_limiter = RateLimiter(0.0 if unlimited else max(sync_qps, qps), max(sync_burst, burst))
        self.freshness = freshness or FreshnessTracker()
        self.last_latency: float | None = None
        self._reauth = reauth
        self._reauth_interval = reauth_interval
        self._reauth_lock = threading.Lock()
        self._reauth_at = -1e9
        self._reauth_changed = False
        self._closed = threading.Event()

    # -- public API -----------------------------------------------------------------------------

    def limiter_for(self, sync: bool) -> RateLimiter:
        """The budget a request draws from: `sync_limiter` for informers, else `limiter`."""
        return self.sync_limiter if sync else self.limiter

    def request(self, method: str, path: str, *, query: Query = None, body: Any = None,
                content_type: str | None = None, timeout: float | None = None, sync: bool = False) -> dict:
        """Send a request and return the parsed JSON object ({} for an empty body).

        body: a JSON-serialisable object (a list body with json-patch, a str for apply-patch+yaml).
        Raises ApiError for Status errors and ConnectionLost for network errors and timeouts.
        GETs are retried on 429 (and 5xx with Retry-After) after the server's Retry-After.
        sync=True draws from the informer-sync budget: only informers pass it.
        """
        data = self.request_bytes(method, path, query=query, body=body, content_type=content_type, timeout=timeout,
                                  sync=sync)
        if not data:
            return {}
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise ApiError(0, "BadResponse", f"{method} {path}: the answer is not a JSON object")
        return parsed

    def get(self, path: str, query: Query = None, *, timeout: float | None = None) -> dict:
        return self.request("GET", path, query=query, timeout=timeout)

    def request_bytes(self, method: str, path: str, *, query: Query = None, body: Any = None,
                      content_type: str | None = None, timeout: float | None = None, accept: str = JSON,
                      sync: bool = False) -> bytes:
        """As request(), returning the raw body (pod logs, Prometheus proxies)."""
        t = self.timeout if timeout is None else timeout
        _, data = self._perform(method, path, query, body, content_type, (min(self.connect_timeout, t), t),
                                accept, stream=False, limiter=self.limiter_for(sync))
        return data

    def stream(self, path: str, query: Query = None, *, read_timeout: float | None = None,
               accept: str = JSON) -> LineStream:
        """Open a streaming GET (e.g. `follow=true` logs); iterate it for lines, close() from any thread."""
        rt = self.watch_read_timeout if read_timeout is None else read_timeout
        resp, _ = self._perform("GET", path, query, None, None, (self.connect_timeout, rt), accept, stream=True,
                                limiter=self.limiter)
        return LineStream(self, resp, path, rt)

    def watch(self, path: str, query: Query = None, *, timeout_seconds: int | None = None,
              read_timeout: float | None = None, sync: bool = False) -> WatchStream:
        """Open a watch: iterate it for event dicts {"type", "object"}; close() from any thread ends it.

        Adds watch=true, allowWatchBookmarks=true and timeoutSeconds (random 5-10 min, as
        client-go) to `query`; pass resourceVersion in `query`. An ERROR event is raised as
        ApiError (410 Expired: relist). A clean end of the stream simply ends the iteration.
        sync=True: an informer's watch (see request()).
        """
        q = [kv for kv in _query(query) if kv[0] not in ("watch", "allowWatchBookmarks", "timeoutSeconds")]
        ts = timeout_seconds if timeout_seconds is not None else random.randint(300, 600)
        q += [("watch", "true"), ("allowWatchBookmarks", "true"), ("timeoutSeconds", str(ts))]
        rt = self.watch_read_timeout if read_timeout is None else read_timeout
        resp, _ = self._perform("GET", path, q, None, None, (self.connect_timeout, rt), JSON, stream=True,
                                limiter=self.limiter_for(sync))
        return WatchStream(self, resp, path, rt)

    def close(self) -> None:
        """Stop retry sleeps and drop pooled connections. Open streams must be closed by their owners."""
        self._closed.set()
        self.api_client.rest_client.pool_manager.clear()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    # -- internals ------------------------------------------------------------------------------

    def _perform(self, method: str, path: str, query: Query, body: Any, content_type: str | None,
                 timeout: tuple[float, float], accept: str, *, stream: bool,
                 limiter: RateLimiter) -> tuple[Any, bytes]:
        method = method.upper()
        attempt = 0
        reauthed = resent = False
        while True:
            if self._closed.is_set():
                raise ConnectionLost("connection closed", "closed")
            start = time.monotonic()
            data = b""
            try:
                limiter.acquire()  # every attempt, retries included
                resp = self._send(method, path, query, body, content_type, timeout, accept)
                ok = 200 <= resp.status < 300
                if not (ok and stream):
                    data = self._read_all(resp, timeout[1])
            except ConnectionLost as e:
                if e.cause == "reset" and method in IDEMPOTENT and not resent:
                    resent = True  # most likely a pooled keep-alive connection the server had closed
                    continue
                self.freshness.request_failed(str(e))
                raise
            latency = time.monotonic() - start
            if ok:
                self.last_latency = latency
                self.freshness.request_ok(latency)
                return resp, data
            err = _api_error(resp.status, resp.reason or "", data, resp.headers.get("Retry-After"))
            if err.status == 401:
                if not reauthed and self._try_reauth():
                    reauthed = True
                    continue
                self.freshness.auth_failed(f"{err.message or 'Unauthorized'} (context {self.context.name})")
                raise err
            delay = self._retry_delay(method, err, attempt)
            if delay is not None:
                attempt += 1
                log.debug("%s %s: %s, retrying in %.1fs", method, path, err.status, delay)
                if self._closed.wait(delay):
                    raise ConnectionLost("connection closed", "closed")
                continue
            if err.status == 429 or err.status >= 500:
                self.freshness.request_failed(str(err))
            else:
                self.freshness.request_ok(latency)  # the server is there and answering
            raise err

    def _send(self, method: str, path: str, query: Query, body: Any, content_type: str | None,
              timeout: tuple[float, float], accept: str) -> urllib3.HTTPResponse:
        headers = {"Accept": accept, "Accept-Encoding": "gzip"}
        if body is not None:
            headers["Content-Type"] = content_type or JSON
        try:
            req = self.api_client.param_serialize(method, path, query_params=_query(query), header_params=headers,
                                                  body=body, auth_settings=["BearerToken"])
            return self.api_client.call_api(*req, _request_timeout=timeout).response
        except ApiException as e:  # the REST layer turns a direct SSLError into status 0
            raise self._lost(e, timeout[1]) from None
        except _NET_ERRORS as e:
            raise self._lost(e, timeout[1]) from None

    def _read_all(self, resp: urllib3.HTTPResponse, read_timeout: float) -> bytes:
        try:
            return resp.data or b""
        except _NET_ERRORS as e:
            raise self._lost(e, read_timeout) from None
        finally:
            resp.release_conn()

    def _retry_delay(self, method: str, err: ApiError, attempt: int) -> float | None:
        if method not in IDEMPOTENT or attempt >= self.max_retries:
            return None
        if err.status == 429:
            delay = 1.0 if err.retry_after is None else err.retry_after
        elif err.status >= 500 and err.retry_after is not None:
            delay = err.retry_after
        else:
            return None
        return delay if delay <= self.max_retry_wait else None

    def _try_reauth(self) -> bool:
        """Refresh credentials at most once per interval; True if a retry may now succeed."""
        if self._reauth is None:
            return False
        with self._reauth_lock:
            now = time.monotonic()
            if now - self._reauth_at < self._reauth_interval:
                return self._reauth_changed  # another thread just refreshed: retry only if that changed anything
            self._reauth_at = now
            try:
                self._reauth_changed = bool(self._reauth())
            except Exception as e:  # a broken kubeconfig must not kill the caller's thread
                log.warning("refreshing credentials for context %s failed: %s", self.context.name, type(e).__name__)
                self._reauth_changed = False
            return self._reauth_changed

    def _lost(self, e: BaseException, read_timeout: float) -> ConnectionLost:
        cause: BaseException = e
        if isinstance(e, urllib3.exceptions.MaxRetryError) and e.reason is not None:
            cause = e.reason
        server = self.context.server or self.api_client.configuration.host
        text = str(cause)
        if (isinstance(cause, urllib3.exceptions.SSLError | ApiException) and "SSL" in text) or \
                "CERTIFICATE_VERIFY_FAILED" in text:
            m = re.search(r"certificate verify failed: ([^()\]'\"]+)", text)
            detail = m.group(1).strip() if m else text.splitlines()[-1][:200]
            where = f" ({self.context.source})" if self.context.source else ""
            return TLSVerifyError(f"TLS: cannot verify the certificate of {server}: {detail}; check the "
                                  f"certificate-authority of cluster {self.context.cluster!r} in the kubeconfig{where}",
                                  "tls")
        if isinstance(cause, urllib3.exceptions.NewConnectionError):  # (a subclass of ConnectTimeoutError)
            m = re.search(r"\[Errno -?\d+\] ([^)'\"]+)", text)
            return ConnectionLost(f"cannot connect to {server}: {m.group(1) if m else text}", "refused")
        if isinstance(cause, urllib3.exceptions.ConnectTimeoutError):
            return ConnectionLost(f"timed out connecting to {server}", "connect-timeout")
        if isinstance(cause, urllib3.exceptions.ReadTimeoutError | TimeoutError):
            return ConnectionLost(f"{server} did not answer within {read_timeout:g}s", "read-timeout")
        return ConnectionLost(f"connection to {server} lost: {type(cause).__name__}: {text[:200]}")


class LineStream:
    """Lines (bytes, without the newline) of a streaming response.

    Iterate in one thread; `close()` may be called from any other thread and makes the
    iteration end promptly (it shuts the socket down for reading).
    """

    def __init__(self, conn: Connection, resp: urllib3.HTTPResponse, what: str, read_timeout: float) -> None:
        self._conn = conn
        self._resp = resp
        self._what = what
        self._read_timeout = read_timeout
        self._closed = False
        self._started = False
        self._done = False
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[bytes]:
        return self._lines()

    def __enter__(self) -> LineStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            started = self._started
            if started and not self._done:
                try:
                    self._resp.shutdown()  # unblocks a read in the iterating thread, which then cleans up
                except Exception:
                    pass
        if not started:
            self._finish(clean=False)

    def _finish(self, clean: bool) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        try:
            if not clean:
                self._resp.close()
            self._resp.release_conn()
        except Exception:
            pass

    def _lines(self) -> Iterator[bytes]:
        with self._lock:
            if self._closed or self._started:
                return
            self._started = True
        resp, buf, clean = self._resp, b"", False
        try:
            while True:
                try:
                    chunk = resp.read1(65536)
                except _NET_ERRORS as e:
                    if self._closed:
                        return
                    if isinstance(e, urllib3.exceptions.ReadTimeoutError | TimeoutError):
                        err = ConnectionLost(f"{self._what}: no data from {self._conn.context.server or 'the server'} "
                                             f"for {self._read_timeout:g}s", "read-timeout")
                    else:
                        err = self._conn._lost(e, self._read_timeout)
                    self._conn.freshness.request_failed(str(err))
                    raise err from None
                if not chunk:
                    clean = not self._closed
                    break
                buf += chunk
                if b"\n" not in chunk:
                    continue
                lines = buf.split(b"\n")
                buf = lines.pop()
                for line in lines:
                    if line.strip():
                        yield line
                    if self._closed:
                        return
            if buf.strip() and not self._closed:
                yield buf
        finally:
            self._finish(clean)


class WatchStream(LineStream):
    """Watch events as dicts; an ERROR event is raised as ApiError."""

    def __iter__(self) -> Iterator[dict]:  # type: ignore[override]
        return self._events()

    def __enter__(self) -> WatchStream:
        return self

    def _events(self) -> Iterator[dict]:
        touch = self._conn.freshness.touch
        for line in self._lines():
            try:
                ev = json.loads(line)
            except ValueError:
                err = ConnectionLost(f"{self._what}: malformed watch event")
                self._conn.freshness.request_failed(str(err))
                raise err from None
            if not isinstance(ev, dict):
                continue
            if ev.get("type") == "ERROR":
                st = ev.get("object") or {}
                raise ApiError(int(st.get("code") or 500), str(st.get("reason") or ""), str(st.get("message") or ""),
                               st)
            touch()
            yield ev


def connect(kubeconfig: KubeConfig, context: str | None = None, **kwargs: Any) -> Connection:
    """A Connection for a kubeconfig context, refreshing credentials from the kubeconfig on 401."""
    info = kubeconfig.context(context)
    client = kubeconfig.api_client(info.name)
    return Connection(info, client, reauth=lambda: kubeconfig.refresh_credentials(info.name, client), **kwargs)
