"""How much to trust what we show about one cluster: Live, Stale, Offline or AuthExpired.

Why: edge links drop. Instead of bailing out (k9s) or silently showing old data as healthy,
every cluster carries a freshness state fed by the connection (request outcomes) and the
informers (watch streams). The UI must never present stale data as "healthy" and must refuse
writes unless `state.is_live`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

log = logging.getLogger(__name__)


class Freshness(Enum):
    LIVE = "live"                  # requests succeed and every watch is streaming
    STALE = "stale"                # we have data, but a watch broke or a request failed
    OFFLINE = "offline"            # repeated failures, or never any data
    AUTH_EXPIRED = "auth-expired"  # the server answered 401: credentials are no longer accepted


@dataclass(frozen=True)
class FreshnessState:
    """One state, as entered at `since` (wall-clock seconds)."""

    state: Freshness
    since: float
    last_good: float | None  # when data was last known good (None: never)
    error: str = ""

    @property
    def is_live(self) -> bool:
        return self.state is Freshness.LIVE

    def age(self, now: float | None = None) -> float | None:
        """Seconds since the last good data, or None if there never was any."""
        if self.last_good is None:
            return None
        return max(0.0, (time.time() if now is None else now) - self.last_good)


Subscriber = Callable[[FreshnessState], None]


class FreshnessTracker:
    """Aggregates request and stream outcomes into one FreshnessState; thread-safe.

    Subscribers are called on every change of state or error text, in order, from the
    reporting thread while the tracker is locked: keep them short and non-blocking (hand the
    state over to your own loop, e.g. with `loop.call_soon_threadsafe`). Reading `.state`
    never blocks.
    """

    def __init__(self, *, offline_after: int = 3, clock: Callable[[], float] = time.time) -> None:
        self.offline_after = offline_after
        self._clock = clock
        self._lock = threading.RLock()
        self._failures = 0
        self._last_error = ""
        self._auth_error = ""
        self._broken: dict[str, str] = {}
        self._last_good: float | None = None
        self._subs: list[Subscriber] = []
        self._state = FreshnessState(Freshness.OFFLINE, clock(), None, "not connected yet")

    # -- reading --------------------------------------------------------------------------------

    @property
    def state(self) -> FreshnessState:
        return self._state

    @property
    def last_good(self) -> float | None:
        """The most recent moment data was confirmed good (updated on every watch event)."""
        return self._last_good

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def subscribe(self, cb: Subscriber) -> Callable[[], None]:
        """Call cb(state) on every change; returns a function that unsubscribes."""
        with self._lock:
            self._subs.append(cb)

        def unsubscribe() -> None:
            with self._lock:
                if cb in self._subs:
                    self._subs.remove(cb)
        return unsubscribe

    # -- reporting ------------------------------------------------------------------------------

    def touch(self) -> None:
        """Data arrived on a healthy stream (watch event or bookmark). Cheap: no lock."""
        self._last_good = self._clock()

    def request_ok(self, latency: float | None = None) -> None:
        """The server answered (any status that is not a server-side or auth failure)."""
        with self._lock:
            self._failures = 0
            self._auth_error = ""
            self._last_good = self._clock()
            self._update()

    def request_failed(self, error: str) -> None:
        """Network error, timeout, 5xx or exhausted 429."""
        with self._lock:
            self._failures += 1
            self._last_error = error
            self._update()

    def auth_failed(self, error: str) -> None:
        """The server answered 401 Unauthorized."""
        with self._lock:
            self._auth_error = error or "401 Unauthorized"
            self._update()

    def stream_ok(self, key: str) -> None:
        """A watched resource is (again) in sync."""
        with self._lock:
            self._broken.pop(key, None)
            self._last_good = self._clock()
            self._update()

    def stream_broken(self, key: str, error: str) -> None:
        """A watch of `key` broke: its data may now be out of date."""
        with self._lock:
            self._broken[key] = error
            self._update()

    def stream_gone(self, key: str) -> None:
        """A stream no longer counts (informer stopped, or its kind is not served)."""
        with self._lock:
            if self._broken.pop(key, None) is not None:
                self._update()

    # -- state machine --------------------------------------------------------------------------

    def _compute(self) -> tuple[Freshness, str]:
        if self._auth_error:
            return Freshness.AUTH_EXPIRED, self._auth_error
        if self._last_good is None:
            return Freshness.OFFLINE, self._last_error or "not connected yet"
        if self._failures >= self.offline_after:
            return Freshness.OFFLINE, self._last_error
        if self._failures:
            return Freshness.STALE, self._last_error
        if self._broken:
            key, err = next(iter(self._broken.items()))
            return Freshness.STALE, f"{key}: {err}"
        return Freshness.LIVE, ""

    def _update(self) -> None:
        state, error = self._compute()
        cur = self._state
        if state is cur.state and error == cur.error:
            return
        since = cur.since if state is cur.state else self._clock()
        new = FreshnessState(state, since, self._last_good, error)
        self._state = new
        for cb in list(self._subs):
            try:
                cb(new)
            except Exception:
                log.exception("freshness subscriber failed")
