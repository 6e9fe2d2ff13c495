"""The watch-fed cache of one cluster: one informer per kind, and coalesced change notifications.

Why coalescing: a rollout or an event storm can produce hundreds of watch events per second;
the UI must redraw at a bounded rate. Subscribers get, at most every `coalesce` seconds and
from one notifier thread, the set of kinds (plural names) that changed since the last call.
Kinds with `notify=False` (node Leases) are left out: readers poll `changes(kind)` instead.

Objects returned by `get` and `list` are the informers' own dicts, shared and read-only:
copy before editing (e.g. to build a patch).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from almtui.cluster.connection import Connection
from almtui.cluster.freshness import FreshnessTracker
from almtui.cluster.informer import BACKOFF_CAP, IndexFunc, Informer
from almtui.cluster.kinds import Kind, resolve

log = logging.getLogger(__name__)

ChangeCallback = Callable[[frozenset[str]], None]
RATE_WINDOW = 5  # seconds over which events/s is averaged


@dataclass(frozen=True)
class KindStats:
    objects: int
    synced: bool
    available: bool | None
    lists: int
    relists: int
    reconnects: int
    events: int
    error: str


@dataclass(frozen=True)
class CacheStats:
    objects: dict[str, int]        # per plural
    relists: int
    reconnects: int
    events: int
    events_per_second: float       # over the last RATE_WINDOW seconds
    notifications: int             # subscriber rounds delivered
    kinds: dict[str, KindStats]


class Cache:
    """Informers for `kinds` and a notifier.

    Namespaced kinds are limited to `namespace` (None = all), except a kind with a
    `watch_namespace` of its own (node Leases: kube-node-lease, whatever the console's).
    """

    def __init__(self, conn: Connection, kinds: Iterable[Kind | str], namespace: str | None = None, *,
                 coalesce: float = 0.1, page_size: int = 500, backoff_base: float = 0.5,
                 backoff_cap: float = BACKOFF_CAP, unavailable_retry: float = 300.0,
                 watch_timeout: int | None = None,
                 indexers: Mapping[str, Mapping[str, IndexFunc]] | None = None) -> None:
        self.conn = conn
        self.namespace = namespace
        self.coalesce = coalesce
        self.kinds: tuple[Kind, ...] = tuple(dict.fromkeys(resolve(k) for k in kinds))
        self._informers: dict[str, Informer] = {
            k.plural: Informer(conn, k, self.scope(k), on_event=self._on_event,
                               page_size=page_size, backoff_base=backoff_base, backoff_cap=backoff_cap,
                               unavailable_retry=unavailable_retry, watch_timeout=watch_timeout,
                               indexers=(indexers or {}).get(k.plural))
            for k in self.kinds}
        self._cond = threading.Condition()
        self._changed: set[str] = set()
        self._subs: list[ChangeCallback] = []
        self._stopping = False
        self._stop_evt = threading.Event()
        self._notifier: threading.Thread | None = None
        self._buckets: deque[list[int]] = deque(maxlen=RATE_WINDOW + 1)  # [second, count]
        self._notifications = 0
        self._changes: dict[str, int] = {}

    def scope(self, kind: Kind | str) -> str | None:
        """The namespace this cache watches `kind` in (None: all, or cluster-scoped)."""
        k = resolve(kind)
        if not k.namespaced:
            return None
        return k.watch_namespace or self.namespace

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Cache:
        if self._notifier is None:
            self._notifier = threading.Thread(target=self._notify_loop, name="cache-notifier", daemon=True)
            self._notifier.start()
            for inf in self._informers.values():
                inf.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop every informer (interrupting their watches) and the notifier."""
        for inf in self._informers.values():
            inf.request_stop()
        deadline = time.monotonic() + timeout
        for inf in self._informers.values():
            inf.stop(max(0.0, deadline - time.monotonic()))
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._stop_evt.set()
        if self._notifier is not None and self._notifier is not threading.current_thread():
            self._notifier.join(max(0.1, deadline - time.monotonic()))

    def wait_synced(self, timeout: float | None = None) -> bool:
        """True once every informer completed its first LIST (or learned its kind is not served)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for inf in self._informers.values():
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not inf.synced.wait(left):
                return False
        return True

    # -- reading --------------------------------------------------------------------------------

    @property
    def freshness(self) -> FreshnessTracker:
        return self.conn.freshness

    def informer(self, kind: Kind | str) -> Informer:
        return self._informers[resolve(kind).plural]

    def synced(self, kind: Kind | str) -> bool:
        return self.informer(kind).synced.is_set()

    def available(self, kind: Kind | str) -> bool | None:
        """False when the server does not serve the kind (e.g. Argo CRDs absent); None until known."""
        return self.informer(kind).available

    def changes(self, kind: Kind | str) -> int:
        """How many changes (watch events, relists) the kind has seen: a cheap "anything new?" token
        for a reader that looks on its own schedule instead of subscribing (node Leases)."""
        with self._cond:
            return self._changes.get(resolve(kind).plural, 0)

    def get(self, kind: Kind | str, namespace: str | None, name: str) -> dict | None:
        """One cached object (read-only), or None."""
        return self.informer(kind).get(namespace, name)

    def by_index(self, kind: Kind | str, index: str, value: str) -> tuple[dict, ...]:
        """The cached objects of `kind` whose `index` (given to the constructor) has `value`: the same
        tuple until one of them changes (see Informer.by_index)."""
        return self.informer(kind).by_index(index, value)

    def list(self, kind: Kind | str, namespace: str | None = None) -> list[dict]:
        """A new list of the cached objects (the dicts themselves are shared and read-only)."""
        items = self.informer(kind).items()
        if namespace is None:
            return items
        return [o for o in items if (o.get("metadata") or {}).get("namespace") == namespace]

    # -- notifications --------------------------------------------------------------------------

    def subscribe(self, cb: ChangeCallback) -> Callable[[], None]:
        """Call cb(changed_plurals) from the notifier thread, coalesced; returns an unsubscribe function.

        The callback must be quick and must not block: hand the work to your own loop.
        """
        with self._cond:
            self._subs.append(cb)

        def unsubscribe() -> None:
            with self._cond:
                if cb in self._subs:
                    self._subs.remove(cb)
        return unsubscribe

    def _on_event(self, kind: Kind, etype: str, obj: dict) -> None:
        now = int(time.monotonic())
        with self._cond:
            self._changes[kind.plural] = self._changes.get(kind.plural, 0) + 1
            if etype != "SYNC":
                if self._buckets and self._buckets[-1][0] == now:
                    self._buckets[-1][1] += 1
                else:
                    self._buckets.append([now, 1])
            if kind.notify:
                self._changed.add(kind.plural)
                self._cond.notify()

    def _notify_loop(self) -> None:
        while True:
            with self._cond:
                while not self._changed and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                changed = frozenset(self._changed)
                self._changed.clear()
                subs = list(self._subs)
                self._notifications += 1
            for cb in subs:
                try:
                    cb(changed)
                except Exception:
                    log.exception("cache subscriber failed")
            if self._stop_evt.wait(self.coalesce):
                return

    # -- stats ----------------------------------------------------------------------------------

    def stats(self) -> CacheStats:
        now = int(time.monotonic())
        with self._cond:
            recent = sum(c for s, c in self._buckets if now - RATE_WINDOW <= s < now)
            notifications = self._notifications
        per = {p: KindStats(len(i), i.synced.is_set(), i.available, i.lists, i.relists, i.reconnects, i.events,
                            i.last_error) for p, i in self._informers.items()}
        return CacheStats(objects={p: s.objects for p, s in per.items()},
                          relists=sum(s.relists for s in per.values()),
                          reconnects=sum(s.reconnects for s in per.values()),
                          events=sum(s.events for s in per.values()),
                          events_per_second=recent / RATE_WINDOW, notifications=notifications, kinds=per)
