"""Simulated time: `--speed` multiplies how fast the cluster's clock runs against the wall.

Determinism: the start is truncated to a whole second, and a clock frozen before anyone read it
stands exactly at its start (the wall time that passed unobserved is dropped). So two builds
from the same start and seed see the same times to the nanosecond, which event names encode.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta


class SimClock:
    """A clock that runs `speed` times faster than the wall, from `start` (default: now), whole seconds."""

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._start = (start or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        self._mono0 = time.monotonic()
        self._offset = 0.0  # simulated seconds added by advance()
        self._frozen_at: float | None = None
        self._observed = False  # has anyone read the running clock yet?

    @property
    def start(self) -> datetime:
        """When simulated time began (UTC, whole seconds)."""
        return self._start

    def elapsed(self) -> float:
        """Simulated seconds since the clock started."""
        if self._frozen_at is not None:
            return self._frozen_at + self._offset
        self._observed = True
        return (time.monotonic() - self._mono0) * self.speed + self._offset

    def freeze(self) -> None:
        """Stop the clock: time moves only by advance() (deterministic settling)."""
        if self._frozen_at is None:
            self._frozen_at = (time.monotonic() - self._mono0) * self.speed if self._observed else 0.0

    def thaw(self) -> None:
        """Run again from where the frozen clock stood."""
        if self._frozen_at is not None:
            self._mono0 = time.monotonic() - self._frozen_at / self.speed
            self._frozen_at = None

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def time(self) -> float:
        """Simulated POSIX time in seconds."""
        return self._start.timestamp() + self.elapsed()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.elapsed())

    def advance(self, seconds: float) -> None:
        """Jump simulated time forward (scenario history, tests)."""
        self._offset += seconds

    def real(self, sim_seconds: float) -> float:
        """Wall seconds that `sim_seconds` of simulated time take."""
        return sim_seconds / self.speed

    async def sleep(self, sim_seconds: float) -> None:
        await asyncio.sleep(max(0.0, sim_seconds / self.speed))
