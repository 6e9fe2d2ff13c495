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
