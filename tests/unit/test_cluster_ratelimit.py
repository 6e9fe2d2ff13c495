"""The client-side token bucket, on a fake clock."""

from __future__ import annotations

import threading

import pytest

from almtui.cluster.ratelimit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def limiter(qps: float = 5.0, burst: int = 10) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(qps, burst, clock=clock, sleep=clock.sleep), clock


def test_burst_is_free_then_requests_are_spaced_at_qps():
    rl, clock = limiter(5.0, 10)
    for _ in range(10):
        assert rl.acquire()
    assert clock.slept == []
    assert rl.acquire()
    assert clock.slept == [pytest.approx(0.2)]
    assert rl.acquire()
    assert clock.slept == [pytest.approx(0.2), pytest.approx(0.2)]


def test_tokens_refill_over_time_up_to_burst():
    rl, clock = limiter(5.0, 10)
    for _ in range(10):
        rl.acquire()
    clock.now += 1.0  # five tokens back
    assert rl.available == pytest.approx(5.0)
    clock.now += 100.0  # never more than the burst
    assert rl.available == pytest.approx(10.0)


def test_try_acquire_never_waits():
    rl, clock = limiter(2.0, 2)
    assert rl.try_acquire() and rl.try_acquire()
    assert not rl.try_acquire()
    clock.now += 0.5
    assert rl.try_acquire()
    assert clock.slept == []


def test_timeout_refuses_without_taking_a_token():
    rl, clock = limiter(1.0, 1)
    assert rl.acquire()
    assert rl.acquire(timeout=0.5) is False  # would need 1 s
    assert clock.slept == []
    assert rl.available == pytest.approx(0.0)
    assert rl.acquire(timeout=1.0) is True
    assert clock.slept == [pytest.approx(1.0)]


def test_waiters_queue_behind_each_other():
    """A reservation is taken before sleeping, so the n-th waiter sleeps n/qps."""
    clock = FakeClock()
    waits: list[float] = []
    rl = RateLimiter(4.0, 1, clock=clock, sleep=waits.append)  # the clock does not move
    for _ in range(4):
        rl.acquire()
    assert waits == [pytest.approx(0.25), pytest.approx(0.5), pytest.approx(0.75)]


def test_zero_qps_disables_limiting():
    rl, clock = limiter(0.0, 1)
    for _ in range(1000):
        assert rl.acquire(timeout=0)
    assert clock.slept == []


def test_invalid_burst():
    with pytest.raises(ValueError):
        RateLimiter(5.0, 0)


def test_thread_safe_under_contention():
    """Many threads, a frozen clock: exactly the burst is handed out, never a token twice."""
    clock = FakeClock()
    rl = RateLimiter(5.0, 50, clock=clock, sleep=clock.sleep)
    got = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        for _ in range(20):
            if rl.try_acquire():
                with lock:
                    got.append(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 50
