"""core/v1 Events as client-go's EventRecorder writes them, with count aggregation and a TTL."""

from __future__ import annotations

from typing import Any

from almtui.kube.durations import parse_rfc3339
from almtui.sandbox.controllers.base import Context, Controller
from almtui.sandbox.errors import ApiError
from almtui.sandbox.store import Obj, ts

EVENT_TTL = 3600.0  # kube-apiserver --event-ttl default: 1h


class EventRecorder:
    """Records Events; a repeat of the same (object, type, reason, message) bumps count instead."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._recent: dict[tuple, str] = {}
        self._seq = 0  # keeps names unique when the clock is frozen (settling)

    def record(self, obj: Obj, type_: str, reason: str, message: str, component: str,
               host: str | None = None) -> None:
        store = self.ctx.store
        md = obj["metadata"]
        ns = md.get("namespace") or "default"
        if store.get("/namespaces", None, ns) is None:
            return
        now = ts(self.ctx.clock.now())
        key = (ns, obj.get("kind"), md.get("name"), md.get("uid"), type_, reason, message, component)
        existing = self._recent.get(key)
        if existing is not None:
            def bump(ev: dict[str, Any]) -> None:
                ev["count"] = ev.get("count", 1) + 1
                ev["lastTimestamp"] = now
            if store.mutate("/events", ns, existing, bump) is not None:
                return
        self._seq += 1
        name = f"{md.get('name')}.{int(self.ctx.clock.time() * 1e9) + self._seq:x}"
        event = {
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": {"kind": obj.get("kind"), "namespace": md.get("namespace"), "name": md.get("name"),
                               "uid": md.get("uid"), "apiVersion": obj.get("apiVersion"),
                               "resourceVersion": md.get("resourceVersion")},
            "reason": reason, "message": message, "type": type_,
            "source": {"component": component, **({"host": host} if host else {})},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            "reportingComponent": component, "reportingInstance": host or "",
        }
        event["involvedObject"] = {k: v for k, v in event["involvedObject"].items() if v is not None}
        try:
            store.create("/events", event)
        except ApiError:
            return
        self._recent[key] = name
        if len(self._recent) > 4096:
            self._recent.pop(next(iter(self._recent)))


class EventTTL(Controller):
    """Deletes Events older than the TTL, as the apiserver's lease-based expiry does."""

    name = "event-ttl"
    period = 60.0

    def tick(self) -> None:
        cutoff = self.ctx.now() - EVENT_TTL
        for ev in self.store.list("/events"):
            last = ev.get("lastTimestamp") or ev["metadata"].get("creationTimestamp")
            if last and parse_rfc3339(last).timestamp() < cutoff:
                md = ev["metadata"]
                try:
                    self.store.delete("/events", md["namespace"], md["name"])
                except ApiError:
                    pass
