"""List-then-watch mirror of one kind, in its own daemon thread (client-go's reflector semantics).

Why these rules: LIST in pages of 500 (a single huge LIST on a slow link is what makes
k9s give up); WATCH from the list's resourceVersion with bookmarks, tracking the
resourceVersion of every event; on 410 Expired relist from scratch and never resume from an
old object's resourceVersion; on network errors back off exponentially with full jitter,
capped at BACKOFF_CAP seconds (not client-go's 30: the console must be live again within
seconds of a link returning); a 404 on list means the kind is not served (a CRD that is
not installed) and is retried rarely, without error spam.

Budget: every request an informer makes (LIST pages, watches) draws from the connection's
informer-sync budget (`sync=True`), not from the small one screens and actions share. The first
sync is a burst of pages (31 at 5,000 pods) that qps 5 would stretch to seconds; a relist after a
410 is the same bulk read, and the screen is stale until it ends; and after a watch-closing blip
the informers' reconnects and their Retry-After retries would fill the small bucket (15 kinds
x 4 attempts through qps 5 / burst 10: 10 s), delaying both a user's rollback and the STALE the
user should see. Informer traffic stays bounded without the small bucket: one request in flight
per informer, exponential backoff between failures.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from almtui.cluster.connection import ApiError, Connection, ConnectionLost, WatchStream
from almtui.cluster.kinds import Kind, path

log = logging.getLogger(__name__)

ObjKey = tuple[str, str]  # (namespace or "", name)
# on_event(kind, type, obj): type is ADDED, MODIFIED or DELETED (obj: the object), or SYNC after
# every completed LIST and on availability changes (obj: {}).
EventHandler = Callable[[Kind, str, dict], None]
# An index function: the index values of an object (client-go's cache.IndexFunc), e.g. its owners.
IndexFunc = Callable[[dict], Iterable[str]]

BACKOFF_CAP = 5.0  # the longest retry wait: bounds how long after an outage the console stays stale
SHORT_WATCH = 1.0  # a watch that ends sooner than this with no event is treated as a failure


class _Stopped(Exception):
    pass


def _key(obj: dict) -> ObjKey:
    md = obj.get("metadata") or {}
    return md.get("namespace") or "", md.get("name") or ""


class _Bucket:
    """One index value's objects: never changed once published (a change makes a new bucket)."""

    __slots__ = ("by_key", "objs")

    def __init__(self, by_key: dict[ObjKey, dict]) -> None:
        self.by_key = by_key
        self.objs = tuple(by_key.values())


def _move(index: dict[str, _Bucket], k: ObjKey, before: tuple[str, ...], after: tuple[str, ...],
          new: dict | None) -> None:
    """Copy-on-write: the buckets `k` leaves or joins (or whose object changed) are replaced."""
    for value in before:
        if value not in after and (bucket := index.get(value)) is not None and k in bucket.by_key:
            rest = {kk: o for kk, o in bucket.by_key.items() if kk != k}
            if rest:
                index[value] = _Bucket(rest)
            else:
                del index[value]
    for value in after:
        bucket = index.get(value)
        by_key = dict(bucket.by_key) if bucket is not None else {}
        by_key[k] = new  # type: ignore[assignment]
        index[value] = _Bucket(by_key)


class Informer:
    """Keeps `{(ns, name): obj}` for one kind in sync with the server.

    Stored dicts are shared with readers and must be treated as read-only: every change
    replaces a whole object, never edits one in place.
    """

    def __init__(self, conn: Connection, kind: Kind, namespace: str | None = None, label_selector: str | None = None,
                 on_event: EventHandler | None = None, *, page_size: int = 500,
                 watch_timeout: int | None = None, backoff_base: float = 0.5, backoff_cap: float = BACKOFF_CAP,
                 unavailable_retry: float = 300.0, indexers: Mapping[str, IndexFunc] | None = None) -> None:
        self.conn = conn
        self.kind = kind
        self.namespace = namespace if kind.namespaced else None
        self.label_selector = label_selector
        self.on_event = on_event
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.unavailable_retry = unavailable_retry
        self.synced = threading.Event()  # set after the first complete LIST (or once the kind is known absent)
        self.available: bool | None = None  # None until the first LIST answers
        self.last_error = ""
        # counters, for stats and tests
        self.lists = 0           # completed LISTs
        self.relists = 0         # LISTs forced by 410 Expired
        self.list_restarts = 0   # paged LISTs restarted after an expired continue token
        self.pages = 0           # LIST pages requested
        self.reconnects = 0      # watches re-opened after the first
        self.events = 0          # watch events applied (bookmarks excluded)
        self._store: dict[ObjKey, dict] = {}
        # client-go's Indexer: index name -> value -> {key: obj}, kept up to date on every change, so a
        # reader finds (say) a ReplicaSet's pods without scanning or re-indexing thousands of them
        self._indexers: dict[str, IndexFunc] = dict(indexers or {})
        self._indices: dict[str, dict[str, _Bucket]] = {name: {} for name in self._indexers}
        self._rv = ""
        self._watches = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stream: WatchStream | None = None
        self._stream_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._watch_was_useful = False  # the last watch delivered events or lived SHORT_WATCH seconds
        self._id = f"{kind}" + (f" in {self.namespace}" if self.namespace else "") + \
            (f" [{label_selector}]" if label_selector else "")

    def __repr__(self) -> str:
        return f"<Informer {self._id} objects={len(self._store)} rv={self._rv!r}>"

    # -- reading --------------------------------------------------------------------------------

    @property
    def resource_version(self) -> str:
        return self._rv

    def items(self) -> list[dict]:
        """A snapshot list of the stored objects (shared, read-only dicts)."""
        with self._lock:
            return list(self._store.values())

    def get(self, namespace: str | None, name: str) -> dict | None:
        return self._store.get((namespace or "", name))

    def by_index(self, index: str, value: str) -> tuple[dict, ...]:
        """The stored objects whose `index` function gave `value` (shared and read-only, tuple included).

        Buckets are copy-on-write: a change publishes a new tuple, so the same tuple as last time
        means the same objects (builders compare with `is`), and readers need no lock.
        """
        bucket = self._indices[index].get(value)
        return bucket.objs if bucket is not None else ()

    def _index_values(self, fn: IndexFunc, obj: dict) -> tuple[str, ...]:
        try:
            return tuple(fn(obj))
        except Exception:  # an odd object must not stop the informer: it is just not indexed
            log.debug("%s: index function failed", self._id, exc_info=True)
            return ()

    def _reindex(self, k: ObjKey, old: dict | None, new: dict | None) -> None:
        """Move one object's index entries from `old` to `new` (either may be None). Hold _lock."""
        for name, fn in self._indexers.items():
            _move(self._indices[name], k, self._index_values(fn, old) if old is not None else (),
                  self._index_values(fn, new) if new is not None else (), new)

    def _rebuild_indices(self) -> None:
        """Index the whole store again (after a LIST replaced it), then publish it at once. Hold _lock."""
        indices: dict[str, dict[str, _Bucket]] = {}
        for name, fn in self._indexers.items():
            grouped: dict[str, dict[ObjKey, dict]] = {}
            for k, obj in self._store.items():
                for value in self._index_values(fn, obj):
                    grouped.setdefault(value, {})[k] = obj
            indices[name] = {value: _Bucket(by_key) for value, by_key in grouped.items()}
        self._indices = indices

    def __len__(self) -> int:
        return len(self._store)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Informer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"informer-{self._id}", daemon=True)
            self._thread.start()
        return self

    def request_stop(self) -> None:
        """Ask the thread to end (an open watch is interrupted at once) without waiting for it."""
        self._stop.set()
        with self._stream_lock:
            stream = self._stream
        if stream is not None:
            stream.close()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread and wait up to `timeout` seconds for it."""
        self.request_stop()
        t = self._thread
        if t is not None and t is not threading.current_thread() and timeout > 0:
            t.join(timeout)
        self.conn.freshness.stream_gone(self._id)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the loop -------------------------------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        expired_in_a_row = 0
        need_list = True
        while not self._stop.is_set():
            self._watch_was_useful = False
            try:
                if need_list:
                    self._list()
                    need_list = False
                if self._watch():
                    attempt = expired_in_a_row = 0
                    continue
                raise ConnectionLost("watch closed by the server at once")
            except _Stopped:
                break
            except ApiError as e:
                if e.expired:
                    log.debug("%s: %s; relisting", self._id, e)
                    need_list = True
                    self.relists += 1
                    if self._watch_was_useful:  # compaction overtook a healthy watch: relist at once
                        attempt = expired_in_a_row = 0
                    expired_in_a_row += 1
                    if expired_in_a_row > 1:  # 410 again right after a relist: do not spin
                        attempt = self._failed(e, attempt)
                    continue
                if e.status in (403, 404) and (need_list or e.status == 404):
                    self._unavailable(e)
                    need_list = True
                    self._stop.wait(self.unavailable_retry)
                    continue
                if e.status == 404:  # the collection vanished under a watch: relist
                    need_list = True
                attempt = self._failed(e, attempt)
            except ConnectionLost as e:
                attempt = self._failed(e, attempt)
            except Exception as e:  # a bug must not kill the informer silently, nor escape the thread
                log.exception("%s: unexpected error", self._id)
                attempt = self._failed(e, attempt)

    def _failed(self, e: BaseException, attempt: int) -> int:
        """Report a broken stream and sleep with exponential backoff and full jitter."""
        self.last_error = str(e) or type(e).__name__
        if self._stop.is_set():
            return attempt
        self.conn.freshness.stream_broken(self._id, self.last_error)
        delay = random.uniform(0, min(self.backoff_cap, self.backoff_base * (2 ** attempt)))
        log.debug("%s: %s; retrying in %.2fs", self._id, self.last_error, delay)
        self._stop.wait(delay)
        return min(attempt + 1, 20)

    def _unavailable(self, e: ApiError) -> None:
        was = self.available
        self.available = False
        self.last_error = e.message or e.reason
        if was is not False:
            log.info("%s is not available (%s %s); retrying every %.0fs", self._id, e.status, e.reason,
                     self.unavailable_retry)
        with self._lock:
            old, self._store = self._store, {}
            self._rebuild_indices()
        for obj in old.values():
            self._emit("DELETED", obj)
        self.conn.freshness.stream_gone(self._id)
        self.synced.set()  # known absent: nobody should wait for it
        self._emit("SYNC", {})

    # -- list -----------------------------------------------------------------------------------

    def _base_query(self) -> dict[str, Any]:
        return {"labelSelector": self.label_selector} if self.label_selector else {}

    def _list(self) -> None:
        items, rv = self._paged_list()
        new: dict[ObjKey, dict] = {}
        for obj in items:
            obj.setdefault("kind", self.kind.kind)  # list items carry no kind/apiVersion; watch events do
            obj.setdefault("apiVersion", self.kind.api_version)
            new[_key(obj)] = obj
        with self._lock:
            old, self._store = self._store, new
            self._rebuild_indices()
            self._rv = rv
        self.available = True
        self.last_error = ""
        self.lists += 1
        for k, obj in new.items():
            prev = old.get(k)
            if prev is None:
                self._emit("ADDED", obj)
            elif (prev.get("metadata") or {}).get("resourceVersion") != (obj.get("metadata") or {}).get(
                    "resourceVersion"):
                self._emit("MODIFIED", obj)
        for k, obj in old.items():
            if k not in new:
                self._emit("DELETED", obj)
        self.conn.freshness.stream_ok(self._id)
        self.synced.set()
        self._emit("SYNC", {})

    def _paged_list(self) -> tuple[list[dict], str]:
        """All items in pages; an expired continue token restarts the list, then falls back to one LIST."""
        url = path(self.kind, self.namespace)
        items: list[dict] = []
        cont = ""
        rv = ""
        restarts = 0
        while True:
            if self._stop.is_set():
                raise _Stopped
            q = self._base_query()
            if restarts < 2 and self.page_size:
                q["limit"] = self.page_size
            if cont:
                q["continue"] = cont
            try:
                self.pages += 1
                body = self.conn.request("GET", url, query=q, timeout=max(self.conn.timeout, 30.0), sync=True)
            except ApiError as e:
                if e.expired and cont:
                    restarts += 1
                    self.list_restarts += 1
                    log.debug("%s: continue token expired; restarting the list", self._id)
                    items, cont, rv = [], "", ""
                    continue
                raise
            md = body.get("metadata") or {}
            items.extend(body.get("items") or [])
            rv = rv or str(md.get("resourceVersion") or "")
            cont = md.get("continue") or ""
            if not cont:
                return items, rv

    # -- watch ----------------------------------------------------------------------------------

    def _watch(self) -> bool:
        """Watch until the stream ends; True if it ended cleanly after a useful life."""
        q = self._base_query()
        if self._rv:
            q["resourceVersion"] = self._rv
        if self._watches:
            self.reconnects += 1
        self._watches += 1
        started = time.monotonic()
        stream = self.conn.watch(path(self.kind, self.namespace), q, timeout_seconds=self.watch_timeout, sync=True)
        with self._stream_lock:
            self._stream = stream
        if self._stop.is_set():
            stream.close()
        # the server accepted our resourceVersion: it replays what we missed, so we are in sync again
        # (a watch resumed after an outage relists only on 410, and must not stay "broken" forever)
        self.conn.freshness.stream_ok(self._id)
        n = 0
        try:
            for ev in stream:
                n += 1
                self._apply(ev)
        finally:
            with self._stream_lock:
                self._stream = None
            stream.close()
            self._watch_was_useful = n > 0 or time.monotonic() - started >= SHORT_WATCH
        if self._stop.is_set():
            raise _Stopped
        return n > 0 or time.monotonic() - started >= SHORT_WATCH

    def _apply(self, ev: dict) -> None:
        etype = ev.get("type")
        obj = ev.get("object")
        if not isinstance(obj, dict):
            return
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if etype == "BOOKMARK":
            if rv:
                self._rv = str(rv)
            return
        if etype not in ("ADDED", "MODIFIED", "DELETED"):
            log.debug("%s: ignoring watch event of type %r", self._id, etype)
            return
        k = _key(obj)
        with self._lock:
            if etype == "DELETED":
                old = self._store.pop(k, None)
                if self._indexers:
                    self._reindex(k, old, None)
            else:
                old = self._store.get(k)
                self._store[k] = obj
                if self._indexers:
                    self._reindex(k, old, obj)
            if rv:
                self._rv = str(rv)
        self.events += 1
        self._emit(etype, obj)

    def _emit(self, etype: str, obj: dict) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(self.kind, etype, obj)
        except Exception:
            log.exception("%s: event handler failed", self._id)
