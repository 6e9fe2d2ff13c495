"""The sandbox's traffic model: request rate, errors, latency and resource usage per app.

Why a model rather than random numbers: metrics-server, the Prometheus exporter, the HPA
and right-sizing advice must all agree, and tests must be able to predict them. Every value
is a pure function of (seed, app, pod, simulated time), plus the set of Ready pods that the
kubelet reports, so the same scenario always shows the same curves.

Shape: a daily curve (quiet at night, peaks at midday and in the evening) times occasional
seeded spikes, times a little noise. The app's rate is split evenly across its Ready pods;
a pod's CPU is its idle cost plus its share of requests times the per-request cost; its
memory is a base working set plus a small drift.

Image tag conventions: `-err` serves >= 20 % errors at 3-5x latency, `-bad` never becomes
Ready so it gets no traffic, `-slow` only starts slowly.

Scenario overrides: ``options["load"][app]`` with keys
  baseRps        requests/s at the daily peak (or always, with profile "flat")
  cpuPerRequest  millicores per request/s
  idleCpu        millicores with no traffic
  memory         base working set: bytes or a quantity such as "128Mi"
  profile        "daily" (default: curve, spikes) or "flat" (exactly baseRps, no noise)
Apps with an override get no per-pod noise, so expected values can be computed by hand.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any

from almtui.kube.quantities import to_bytes

DAY = 86400.0
SPIKE_BUCKET = 600.0  # spikes last one 10-minute bucket
SPIKE_CHANCE = 0.03
NOISE_BUCKET = 15.0  # one noise sample per metrics-server scrape
PAGE = 4096

# latency quantiles (seconds) of a healthy app; -err multiplies them
_LATENCY = ((0.5, 0.025), (0.9, 0.06), (0.95, 0.08), (0.99, 0.15), (1.0, 0.4))


def unit(seed: int, *parts: Any) -> float:
    """A deterministic uniform number in [0, 1) for (seed, parts): stable across processes."""
    h = hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2.0**64


def image_kind(image: str | None) -> str:
    """'bad', 'slow', 'err' or '' from the image tag's suffix (the sandbox's conventions)."""
    if not image:
        return ""
    ref = image.split("@", 1)[0]
    tail = ref.rsplit("/", 1)[-1]
    tag = tail.split(":", 1)[1] if ":" in tail else ""
    for kind in ("bad", "slow", "err"):
        if tag.endswith("-" + kind):
            return kind
    return ""


def app_of(pod: Mapping[str, Any]) -> str:
    """The app a pod belongs to: label `app`, `app.kubernetes.io/name`, else its owner's name.

    A ReplicaSet owner is mapped back to its Deployment by stripping the pod-template-hash.
    """
    md = pod.get("metadata") or {}
    labels = md.get("labels") or {}
    for key in ("app", "app.kubernetes.io/name"):
        if labels.get(key):
            return str(labels[key])
    for ref in md.get("ownerReferences") or ():
        if ref.get("controller"):
            name = str(ref.get("name", ""))
            h = labels.get("pod-template-hash") or labels.get("rollouts-pod-template-hash")
            if h and name.endswith("-" + h):
                name = name[: -len(h) - 1]
            return name
    return str(md.get("name", ""))


def daily_factor(t: float) -> float:
    """Traffic relative to the daily peak at POSIX time t (UTC): ~0.2 at night, ~1 at midday."""
    h = (t % DAY) / 3600.0

    def bump(center: float, width: float) -> float:
        d = min(abs(h - center), 24.0 - abs(h - center))
        return math.exp(-0.5 * (d / width) ** 2)

    return min(1.0, 0.2 + 0.8 * bump(12.5, 2.8) + 0.7 * bump(20.0, 2.2) + 0.3 * bump(9.0, 1.5))


class LoadModel:
    """Traffic and usage per app and pod at simulated time t; see the module docstring."""

    def __init__(self, seed: int, clock: Any = None, options: Mapping[str, Any] | None = None) -> None:
        self.seed = seed
        self.clock = clock
        self.options = options if options is not None else {}
        # (namespace, app) -> names of Ready pods, fed by the kubelet from pod status
        self._ready: dict[tuple[str, str], set[str]] = {}
        self._pod_app: dict[tuple[str, str], tuple[str, bool]] = {}
        self._defaults: dict[str, dict[str, Any]] = {}
        # Memos for the per-pod hot path (metrics-server snapshots of 20,000 pods every 15 s):
        # app -> (the override dict read, a copy of it, the merged parameters); the copy notices
        # overrides edited in place, so a live scenario change is seen on the next call.
        self._merged: dict[str, tuple[Mapping[str, Any] | None, dict[str, Any] | None, dict[str, Any]]] = {}
        self._rps_at: float | None = None  # app_rps for one time t: every pod of a snapshot shares it
        self._rps: dict[str, tuple[dict[str, Any], float]] = {}
        self._phase: dict[tuple[str, str], float] = {}  # (app, pod) -> the memory drift's phase

    # -- parameters -------------------------------------------------------------------------

    def override(self, app: str) -> Mapping[str, Any] | None:
        return (self.options.get("load") or {}).get(app)

    def params(self, app: str) -> dict[str, Any]:
        """The app's load parameters: seeded defaults, replaced by any scenario override."""
        return dict(self.shared_params(app))

    def shared_params(self, app: str) -> dict[str, Any]:
        """params() without the copy, for hot paths: callers must not edit the result."""
        ov = self.override(app)
        hit = self._merged.get(app)
        if hit is not None and hit[0] is ov and hit[1] == ov:
            return hit[2]
        p = self._defaults.get(app)
        if p is None:
            u = [unit(self.seed, "param", app, i) for i in range(4)]
            p = self._defaults[app] = {
                "baseRps": round(2.0 + 38.0 * u[0], 1),
                "cpuPerRequest": round(0.5 + 4.5 * u[1], 2),
                "idleCpu": round(2.0 + 8.0 * u[2], 1),
                "memory": (32 + int(224 * u[3])) << 20,
                "profile": "daily",
                "noise": True,
            }
        if ov:
            p = {**p, **{k: v for k, v in ov.items() if v is not None}}
            p["memory"] = to_bytes(p["memory"])
            p["noise"] = False
        self._merged[app] = (ov, None if ov is None else dict(ov), p)
        return p

    # -- traffic ----------------------------------------------------------------------------

    def spike(self, app: str, t: float) -> float:
        """Multiplier >= 1 while a seeded spike is under way (a few per day per app)."""
        bucket = math.floor(t / SPIKE_BUCKET)
        if unit(self.seed, "spike", app, bucket) >= SPIKE_CHANCE:
            return 1.0
        peak = 2.0 + 2.0 * unit(self.seed, "spike-size", app, bucket)
        frac = t / SPIKE_BUCKET - bucket
        return 1.0 + (peak - 1.0) * math.sin(math.pi * frac)

    def app_rps(self, app: str, t: float) -> float:
        """Requests per second the app receives at time t (all its Ready pods together)."""
        p = self.shared_params(app)
        if t != self._rps_at:
            self._rps_at = t
            self._rps.clear()
        hit = self._rps.get(app)
        if hit is not None and hit[0] is p:
            return hit[1]
        base = float(p["baseRps"])
        if p["profile"] == "flat":
            rate = base
        else:
            rate = base * daily_factor(t) * self.spike(app, t)
            if p["noise"]:
                rate *= 0.95 + 0.1 * unit(self.seed, "noise", app, math.floor(t / NOISE_BUCKET))
        self._rps[app] = (p, rate)
        return rate

    @staticmethod
    def error_ratio(image: str | None) -> float:
        """Fraction of requests answered 5xx: 0.25 for `-err`, 1.0 for `-bad`, else 0.002."""
        kind = image_kind(image)
        if kind == "err":
            return 0.25
        if kind == "bad":
            return 1.0
        return 0.002

    @staticmethod
    def latency_seconds(image: str | None, quantile: float) -> float:
        """Request latency at a quantile (0..1); `-err` images are 4x slower."""
        q = min(max(quantile, 0.0), 1.0)
        prev_q, prev_v = 0.0, 0.005
        value = _LATENCY[-1][1]
        for lq, lv in _LATENCY:
            if q <= lq:
                f = (q - prev_q) / (lq - prev_q) if lq > prev_q else 1.0
                value = prev_v + f * (lv - prev_v)
                break
            prev_q, prev_v = lq, lv
        return value * (4.0 if image_kind(image) == "err" else 1.0)

    # -- Ready pods -------------------------------------------------------------------------

    def set_ready(self, namespace: str, app: str, pod: str, ready: bool) -> None:
        """Record whether a pod receives traffic (Ready and not terminating)."""
        key = (namespace, pod)
        prev = self._pod_app.get(key)
        if prev is not None and prev != (app, ready):
            self._ready.get((namespace, prev[0]), set()).discard(pod)
        self._pod_app[key] = (app, ready)
        if ready:
            self._ready.setdefault((namespace, app), set()).add(pod)

    def forget(self, namespace: str, pod: str) -> None:
        prev = self._pod_app.pop((namespace, pod), None)
        if prev is not None:
            group = self._ready.get((namespace, prev[0]))
            if group is not None:
                group.discard(pod)
                if not group:
                    del self._ready[(namespace, prev[0])]

    def observe(self, pod: Mapping[str, Any] | None, deleted: bool = False) -> None:
        """Update Ready tracking from a pod object (called for every pod watch event)."""
        if pod is None:
            return
        md = pod["metadata"]
        ns, name = md.get("namespace", ""), md["name"]
        if deleted:
            self.forget(ns, name)
            return
        ready = not md.get("deletionTimestamp") and any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (pod.get("status") or {}).get("conditions") or ())
        prev = self._pod_app.get((ns, name))
        if prev is not None and not prev[1] and not ready:
            return  # the common case under churn: still not Ready
        self.set_ready(ns, app_of(pod), name, ready)

    def ready_pods(self, app: str, namespace: str | None = None) -> int:
        if namespace is not None:
            return len(self._ready.get((namespace, app), ()))
        return sum(len(v) for (_, a), v in self._ready.items() if a == app)

    def pod_ready(self, app: str, pod: str, namespace: str | None) -> tuple[bool, int]:
        """(whether the pod gets traffic, how many of the app's pods do), as the kubelet reported."""
        if namespace is None:
            for (_ns, a), names in self._ready.items():
                if a == app and pod in names:
                    return True, len(names)
            return False, 0
        names = self._ready.get((namespace, app), ())
        return pod in names, len(names)

    # -- usage ------------------------------------------------------------------------------

    def pod_rps(self, app: str, pod_name: str, t: float, *, namespace: str | None = None,
                ready: bool | None = None, ready_pods: int | None = None) -> float:
        """The pod's share of the app's traffic: rate / Ready pods, 0 when not Ready."""
        is_ready, n = self.pod_ready(app, pod_name, namespace)
        if ready is not None:
            is_ready = ready
        if ready_pods is not None:
            n = ready_pods
        if not is_ready or n <= 0:
            return 0.0
        return self.app_rps(app, t) / n

    def pod_usage(self, app: str, pod_name: str, t: float, *, namespace: str | None = None,
                  ready: bool | None = None, ready_pods: int | None = None) -> tuple[float, int]:
        """(CPU millicores, memory working-set bytes) of one pod at time t.

        cpu = idleCpu + share * cpuPerRequest (x a +-2 % per-pod wobble for apps without an override);
        memory = memory * (1 + 3 % sine drift) + 64 KiB per request/s, rounded to pages.
        `ready`/`ready_pods` replace what the kubelet reported, for computing values by hand.
        """
        p = self.shared_params(app)
        share = self.pod_rps(app, pod_name, t, namespace=namespace, ready=ready, ready_pods=ready_pods)
        return self.usage_at(p, app, pod_name, t, share)

    def usage_at(self, p: Mapping[str, Any], app: str, pod_name: str, t: float, share: float) -> tuple[float, int]:
        """pod_usage() from parameters and a traffic share read earlier (metrics-server snapshots)."""
        cpu = float(p["idleCpu"]) + share * float(p["cpuPerRequest"])
        phase = self._phase.get((app, pod_name))
        if phase is None:
            if len(self._phase) >= 100_000:
                self._phase.clear()
            phase = self._phase[(app, pod_name)] = unit(self.seed, "phase", app, pod_name)
        if p["noise"]:
            cpu *= 0.98 + 0.04 * unit(self.seed, "cpu", pod_name, math.floor(t / NOISE_BUCKET))
        base = int(p["memory"])
        mem = base * (1.0 + 0.03 * math.sin(2 * math.pi * (t / 3600.0 + phase))) + share * 65536
        return cpu, int(mem) // PAGE * PAGE
