"""The live controller loop works in slices: a budgeted drain stops between reconciles, keeps the rest
queued, and the slices together do exactly the work one unbounded drain does."""

from __future__ import annotations

import random
import time
from typing import Any

from almtui.sandbox.clock import SimClock
from almtui.sandbox.controllers.base import Context, Controller, Manager
from almtui.sandbox.store import Store


class Slow(Controller):
    """Records each key it reconciles, taking about a millisecond each (a real controller's work)."""

    name = "slow"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.done: list[Any] = []

    def reconcile(self, key: Any) -> float | None:
        end = time.perf_counter() + 0.001
        while time.perf_counter() < end:
            pass
        self.done.append(key)
        return None


def manager() -> tuple[Manager, Slow]:
    clock = SimClock(start=0.0)
    ctx = Context(Store(clock), clock, random.Random(1))
    slow = Slow(ctx)
    return Manager(ctx, [slow]), slow


def test_a_budgeted_drain_stops_between_reconciles_and_keeps_the_rest_queued() -> None:
    mgr, slow = manager()
    for i in range(40):
        mgr.enqueue(slow, ("ns", f"k{i:02d}"))
    slices = 0
    while True:
        mgr._run_due(0.005)
        slices += 1
        if not mgr.more:
            break
    assert slices > 1
    assert sorted(slow.done) == [("ns", f"k{i:02d}") for i in range(40)]  # each once, none lost


def test_without_a_budget_one_drain_does_everything() -> None:
    mgr, slow = manager()
    for i in range(10):
        mgr.enqueue(slow, ("ns", f"k{i}"))
    assert mgr._run_due() == 10 and not mgr.more and len(slow.done) == 10


def test_keys_queued_between_slices_join_the_backlog_and_each_runs_once() -> None:
    mgr, slow = manager()
    for i in range(30):
        mgr.enqueue(slow, ("ns", f"a{i:02d}"))
    mgr._run_due(0.003)
    assert mgr.more
    for i in range(5):  # new keys, and one already waiting in the backlog
        mgr.enqueue(slow, ("ns", f"b{i}"))
    mgr.enqueue(slow, ("ns", "a29"))
    while mgr.more:
        mgr._run_due(0.003)
    assert sorted(slow.done) == sorted([("ns", f"a{i:02d}") for i in range(30)] + [("ns", f"b{i}") for i in range(5)])


def test_a_long_queue_is_sorted_once_not_once_per_slice() -> None:
    """A 20,000-pod storm left ~20,000 keys queued: re-sorting them for every 5 ms slice spent the
    whole slice sorting and the sandbox never caught up."""
    mgr, slow = manager()
    slow.reconcile = lambda key: slow.done.append(key)  # type: ignore[method-assign]
    for i in range(20000):
        mgr.enqueue(slow, ("ns", f"k{i:05d}"))
    calls = 0
    mgr._run_due(0.005)
    while mgr.more:
        mgr._run_due(0.005)
        calls += 1
        assert calls < 200
    assert len(slow.done) == 20000
