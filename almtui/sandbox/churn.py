"""`--churn N`: a steady background of N object changes per second.

Why: a console is only proven against a cluster that keeps changing under it: watches must
keep up, tables must update in place, and caches must not fall behind. The changes are the
ones a busy cluster makes anyway: pod label and annotation updates, Deployments scaled up or
down by one (the controllers then create or remove pods), and new Events. Choices come from a
seeded RNG; the object lists are refreshed every REFRESH_SECONDS so each change costs O(1).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import Any

from almtui.sandbox.errors import ApiError
from almtui.sandbox.store import Obj

log = logging.getLogger(__name__)

TICK = 0.1  # wall seconds between batches at high rates
REFRESH_SECONDS = 5.0
CHURN_KEY = "sandbox.almtui.io/churn"
# (weight, kind) of each change
MIX = ((55, "pod"), (30, "event"), (15, "scale"))
SCALE_SPAN = 1  # a Deployment moves at most this far from its replicas when churn first touched it


class Churn:
    """Makes changes to a sandbox's store; `step()` makes one, `run()` makes `rate` per second."""

    def __init__(self, sandbox: Any, rate: float) -> None:
        if not rate > 0:
            raise ValueError(f"churn rate must be positive, got {rate!r}")
        self.sandbox = sandbox
        self.store = sandbox.store
        self.ctx = sandbox.ctx
        self.rate = float(rate)
        self.rng = random.Random(f"churn/{getattr(sandbox, 'seed', 0)}")
        self.changes = 0
        self.by_kind: dict[str, int] = {k: 0 for _, k in MIX}
        self._pods: list[tuple[str, str]] = []
        self._deployments: list[tuple[str, str]] = []
        self._base: dict[tuple[str, str], int] = {}
        self._refreshed = float("-inf")
        self._kinds = [k for w, k in MIX for _ in range(w)]

    def refresh(self) -> None:
        """Re-read which pods and Deployments exist (HPA targets are left to their HPA)."""
        self._pods = self.store.keys("/pods", terminating=False)
        hpa_targets = set()
        for h in self.store.list("autoscaling/horizontalpodautoscalers"):
            ref = (h.get("spec") or {}).get("scaleTargetRef") or {}
            if ref.get("kind") == "Deployment":
                hpa_targets.add((h["metadata"]["namespace"], ref.get("name")))
        self._deployments = [k for k in ((d["metadata"]["namespace"], d["metadata"]["name"])
                                         for d in self.store.list("apps/deployments")) if k not in hpa_targets]
        self._refreshed = time.monotonic()

    def step(self) -> str | None:
        """Make one change; returns its kind, or None when there was nothing to change."""
        if time.monotonic() - self._refreshed > REFRESH_SECONDS:
            self.refresh()
        kind = self.rng.choice(self._kinds)
        try:
            done = {"pod": self._touch_pod, "event": self._event, "scale": self._nudge}[kind]()
        except ApiError as e:  # the object went away or raced a controller: skip it
            log.debug("churn %s: %s", kind, e.message)
            done = False
        if not done:
            return None
        self.changes += 1
        self.by_kind[kind] += 1
        return kind

    def _pick(self, keys: list[tuple[str, str]]) -> tuple[str, str] | None:
        return keys[self.rng.randrange(len(keys))] if keys else None

    def _touch_pod(self) -> bool:
        key = self._pick(self._pods)
        if key is None:
            return False
        value = str(self.changes)
        as_label = self.rng.random() < 0.5

        def edit(pod: Obj) -> None:
            field = "labels" if as_label else "annotations"
            pod["metadata"].setdefault(field, {})[CHURN_KEY] = value

        return self.store.mutate("/pods", key[0], key[1], edit) is not None

    def _event(self) -> bool:
        key = self._pick(self._pods)
        pod = self.store.get("/pods", *key) if key else None
        if pod is None or self.ctx.events is None:
            return False
        node = (pod.get("spec") or {}).get("nodeName")
        containers = (pod.get("spec") or {}).get("containers") or [{"name": "app"}]
        c = containers[0]["name"]
        roll = self.rng.random()
        if roll < 0.4:
            self.ctx.events.record(pod, "Warning", "Unhealthy",
                                   "Readiness probe failed: HTTP probe failed with statuscode: 503", "kubelet", node)
        elif roll < 0.55:
            self.ctx.events.record(pod, "Warning", "BackOff", f"Back-off restarting failed container {c} in pod "
                                   f"{pod['metadata']['name']}_{pod['metadata']['namespace']}"
                                   f"({pod['metadata'].get('uid', '')})", "kubelet", node)
        else:
            image = containers[0].get("image", "")
            self.ctx.events.record(pod, "Normal", "Pulled", f'Container image "{image}" already present on machine',
                                   "kubelet", node)
        return True

    def _nudge(self) -> bool:
        key = self._pick(self._deployments)
        dep = self.store.get("apps/deployments", *key) if key else None
        if key is None or dep is None:
            return False
        replicas = int((dep.get("spec") or {}).get("replicas", 1))
        base = self._base.setdefault(key, replicas)
        low, high = max(0, base - SCALE_SPAN), base + SCALE_SPAN
        step = self.rng.choice((-1, 1))
        target = replicas + step if low <= replicas + step <= high else replicas - step
        if not low <= target <= high or target == replicas:
            return False
        return self.store.mutate("apps/deployments", key[0], key[1],
                                 lambda d: d["spec"].__setitem__("replicas", target)) is not None

    async def run(self) -> None:
        """Make `rate` changes per wall-clock second until cancelled or the controllers stop."""
        tick = max(TICK, 1.0 / self.rate)
        owed = 0.0
        last = time.monotonic()
        manager = self.ctx.shared.get("manager")
        while manager is None or not getattr(manager, "_stopped", False):
            await asyncio.sleep(tick)
            now = time.monotonic()
            owed = min(owed + (now - last) * self.rate, self.rate * 2)  # never a burst after a stall
            last = now
            while owed >= 1.0:
                owed -= 1.0
                self.step()


def start_churn(sandbox: Any, rate: float | None = None) -> asyncio.Task:
    """Start churning on the running loop at `rate` (default `options["churn"]`) changes per second."""
    churn = Churn(sandbox, float(rate if rate is not None else sandbox.ctx.options.get("churn") or 0))
    sandbox.ctx.shared["churn"] = churn
    task = asyncio.get_running_loop().create_task(churn.run(), name="sandbox-churn")
    task.add_done_callback(_log_failure)
    return task


def _log_failure(task: asyncio.Task) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        if task.exception() is not None:
            log.error("churn stopped: %r", task.exception())
