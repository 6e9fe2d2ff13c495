"""A thread-safe token bucket for client-side request throttling.

Why: client-go throttles every request of a client at QPS 5 / burst 10 so that a UI refreshing
many views cannot flood an API server (or a thin edge link). Waiters reserve a token before
sleeping, as Go's `rate.Limiter.Wait` does, so they are served in arrival order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Token bucket: `burst` tokens at most, refilled at `qps` tokens per second.

    qps <= 0 disables limiting. `clock` and `sleep` are injectable for tests.
    """

    def __init__(self, qps: float = 5.0, burst: int = 10, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], object] = time.sleep) -> None:
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.qps = float(qps)
        self.burst = int(burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._last = clock()

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps)

    def try_acquire(self) -> bool:
        """Take a token if one is available now, without waiting."""
        if self.qps <= 0:
            return True
        with self._lock:
            self._refill(self._clock())
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False

    def acquire(self, timeout: float | None = None) -> bool:
        """Take a token, waiting for it; False (nothing taken) if that would exceed `timeout` seconds."""
        if self.qps <= 0:
            return True
        with self._lock:
            self._refill(self._clock())
            wait = 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.qps
            if timeout is not None and wait > timeout:
                return False
            self._tokens -= 1.0  # reserve now: later callers queue behind us
        if wait > 0:
            self._sleep(wait)
        return True

    @property
    def available(self) -> float:
        """Tokens available right now (negative while callers are queued)."""
        with self._lock:
            self._refill(self._clock())
            return self._tokens
