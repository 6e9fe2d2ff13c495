"""Controller plumbing: work queues fed by store events, timers in simulated time, one loop.

Why one loop and work queues: like kube-controller-manager, each controller reconciles a
key (namespace/name) whenever something it watches changes, or when a timer it asked for
fires. Keys are processed in sorted order with a seeded RNG, so a scenario settles the same
way every time (`settle()` runs with the clock frozen and jumps from timer to timer).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
import time
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from almtui.sandbox.clock import SimClock
from almtui.sandbox.errors import ApiError
from almtui.sandbox.store import Obj, Store, WatchEvent

log = logging.getLogger(__name__)

SLICE = 0.005  # seconds of controller work between two turns of the event loop (live mode)


@dataclass
class Context:
    """What every controller may use."""

    store: Store
    clock: SimClock
    rng: random.Random
    options: dict[str, Any] = field(default_factory=dict)
    events: Any = None  # EventRecorder, set by the Manager
    shared: dict[str, Any] = field(default_factory=dict)  # cross-controller services (load model, logs)

    def now(self) -> float:
        return self.clock.time()


class Controller:
    """Reconciles keys. Subclasses set `watches` and implement `reconcile`; `period` adds a tick."""

    name = "controller"
    watches: tuple[str, ...] = ()  # store keys, e.g. ("apps/deployments", "apps/replicasets")
    period: float | None = None  # simulated seconds between tick() calls

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.store = ctx.store

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        """Which keys an event should enqueue; default: the object itself, for the first watched kind."""
        if ev.key == self.watches[0]:
            md = ev.obj["metadata"]
            yield (md.get("namespace", ""), md["name"])

    def reconcile(self, key: Any) -> float | None:
        """Bring one key closer to its desired state; return simulated seconds to requeue, or None."""
        return None

    def tick(self) -> None:
        """Periodic work (heartbeats, sampling)."""

    @staticmethod
    def owner_key(obj: Obj, kind: str) -> tuple[str, str] | None:
        """(namespace, name) of the controlling owner of `kind`, if any."""
        for ref in obj["metadata"].get("ownerReferences") or ():
            if ref.get("kind") == kind and ref.get("controller"):
                return (obj["metadata"].get("namespace", ""), ref["name"])
        return None


class Manager:
    """Runs controllers against a store: queues, timers, ticks, all in simulated time."""

    def __init__(self, ctx: Context, controllers: list[Controller]) -> None:
        self.ctx = ctx
        self.controllers = controllers
        self._queues: dict[int, set[Hashable]] = {id(c): set() for c in controllers}
        self._timers: list[tuple[float, int, int, Hashable]] = []  # (due, seq, controller index, key)
        self._seq = 0
        self._next_tick: dict[int, float] = {}
        self._wake = asyncio.Event()
        self._by_key: dict[str, list[Controller]] = {}
        for c in controllers:
            for k in c.watches:
                self._by_key.setdefault(k, []).append(c)
        if ctx.events is None:
            from almtui.sandbox.controllers.events import EventRecorder

            ctx.events = EventRecorder(ctx)
        ctx.shared["manager"] = self
        ctx.store.subscribe(self._on_event)
        self._stopped = False
        self.more = False  # the last budgeted _run_due left work queued
        self._backlog: dict[int, list[Hashable]] = {}  # per controller: keys a budgeted pass left
        self.errors = 0

    def _on_event(self, ev: WatchEvent) -> None:
        for c in self._by_key.get(ev.key, ()):
            for k in c.keys_for(ev):
                self._queues[id(c)].add(k)
        self._wake.set()

    def enqueue(self, controller: Controller, key: Hashable, after: float = 0.0) -> None:
        if after <= 0:
            self._queues[id(controller)].add(key)
        else:
            self._seq += 1
            heapq.heappush(self._timers, (self.ctx.now() + after, self._seq,
                                          self.controllers.index(controller), key))
        self._wake.set()

    def resync(self) -> None:
        """Enqueue every object of every watched kind (start-up, as informers do on their first list)."""
        for c in self.controllers:
            if not c.watches:
                continue
            for obj in self.ctx.store.list(c.watches[0]):
                for k in c.keys_for(WatchEvent(0, c.watches[0], "ADDED", obj, None)):
                    self._queues[id(c)].add(k)

    def _run_due(self, budget: float | None = None) -> int:
        """Fire due timers and ticks, then drain the queues. Returns the number of reconciles.

        With a budget (seconds of real time) the drain stops between two reconciles once it is spent
        and leaves the rest queued (`self.more` is then True): the live loop lets the API server answer
        in between, as it would while kube-controller-manager works in another process.
        """
        deadline = None if budget is None else time.perf_counter() + budget
        self.more = False
        now = self.ctx.now()
        while self._timers and self._timers[0][0] <= now:
            _, _, idx, key = heapq.heappop(self._timers)
            self._queues[id(self.controllers[idx])].add(key)
        for c in self.controllers:
            if c.period is None:
                continue
            due = self._next_tick.get(id(c), 0.0)
            if due <= now:
                self._next_tick[id(c)] = now + c.period
                self._guard(c, c.tick)
        work = 0
        for _ in range(50):  # reconciles may enqueue more work; bound one pass
            pending = False
            for c in self.controllers:
                q = self._queues[id(c)]
                keys = self._backlog.pop(id(c), [])  # sorted, left by the last budgeted pass
                if not q and not keys:
                    continue
                pending = True
                if q:
                    keys += sorted(q.difference(keys), key=repr)
                    q.clear()
                for n, k in enumerate(keys):
                    if deadline is not None and time.perf_counter() >= deadline:
                        self._backlog[id(c)] = keys[n:]  # each key is sorted once, however many slices
                        self.more = True
                        return work
                    work += 1
                    after = self._guard(c, c.reconcile, k)
                    if isinstance(after, (int, float)) and after is not True:
                        self.enqueue(c, k, float(after))
            if not pending:
                break
        return work

    def _guard(self, c: Controller, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except ApiError as e:
            # conflicts and not-found are normal races: retry soon, as a work queue would
            if e.code in (404, 409):
                if args:
                    return 1.0
                return None
            self.errors += 1
            log.warning("%s: %s", c.name, e.message)
        except Exception:
            self.errors += 1
            log.exception("controller %s failed", c.name)
        return 5.0 if args else None

    def _next_due(self) -> float | None:
        dues = [t[0] for t in self._timers[:1]]
        dues += [self._next_tick.get(id(c), 0.0) for c in self.controllers if c.period is not None]
        return min(dues) if dues else None

    def settle(self, max_seconds: float = 600.0, step: float = 1.0) -> float:
        """Run with the clock frozen, jumping time forward until nothing is due within max_seconds.

        Periodic ticks keep firing while time advances, so settling stops at quiescence of
        queues and timers, capped at max_seconds of simulated time. Returns the seconds advanced.
        """
        clock = self.ctx.clock
        was_frozen = clock.frozen
        clock.freeze()
        start = self.ctx.now()
        try:
            self._run_due()
            while self.ctx.now() - start < max_seconds:
                if not self._timers:
                    # only periodic ticks remain: advance once by a step so they run, then stop
                    # when the queues are empty and no timers are pending
                    clock.advance(step)
                    self._run_due()
                    if not self._timers and not any(self._queues.values()) and not self._backlog:
                        break
                    continue
                due = self._timers[0][0]
                gap = max(0.0, min(due - self.ctx.now(), max_seconds - (self.ctx.now() - start)))
                # advance in steps no longer than `step` so periodic ticks interleave
                while gap > 0:
                    d = min(step, gap)
                    clock.advance(d)
                    gap -= d
                    self._run_due()
                self._run_due()
        finally:
            if not was_frozen:
                clock.thaw()
        return self.ctx.now() - start

    def advance(self, seconds: float, step: float = 1.0) -> None:
        """Advance frozen simulated time by `seconds`, running everything due (tests, scenario history)."""
        clock = self.ctx.clock
        was_frozen = clock.frozen
        clock.freeze()
        try:
            self._run_due()
            left = seconds
            while left > 0:
                d = min(step, left)
                clock.advance(d)
                left -= d
                self._run_due()
        finally:
            if not was_frozen:
                clock.thaw()

    async def run(self) -> None:
        """The live loop: react to events at once, wake for timers and ticks in simulated time."""
        self.resync()
        while not self._stopped:
            self._wake.clear()
            self._run_due(SLICE)
            if self.more:
                await asyncio.sleep(0)  # answer requests and feed watches, then go on
                continue
            nxt = self._next_due()
            wait = 1.0 if nxt is None else max(0.0, self.ctx.clock.real(nxt - self.ctx.now()))
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=min(wait, 1.0) + 0.001)
            except TimeoutError:
                pass

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()
