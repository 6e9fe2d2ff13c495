"""The cluster service facade: one object the console (or a headless CLI) talks to.

It owns the connection, the watch-fed cache and the freshness tracker, turns raw objects into
view models on demand (rebuilding an area only when one of the kinds it reads has changed),
and routes every mutation through the single action path (plan, checks, apply, audit).
Callbacks arrive on background threads; the UI marshals them onto its own loop.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from almtui.cluster import advice
from almtui.cluster import kinds as K
from almtui.cluster import views as V
from almtui.cluster.actions import planner
from almtui.cluster.actions.checks import Checker
from almtui.cluster.actions.executor import Executor
from almtui.cluster.actions.model import ActionError, CheckResult, Outcome, Plan, Target
from almtui.cluster.audit import AuditLog
from almtui.cluster.cache import Cache
from almtui.cluster.connection import ApiError, Connection, ConnectionLost
from almtui.cluster.freshness import FreshnessState
from almtui.cluster.kubeconfig import ContextInfo

# Each screen area, the kinds it reads, in the order the builders take them.
AREAS: dict[str, tuple[str, ...]] = {
    "rollouts": ("deployments", "rollouts", "replicasets", "pods", "horizontalpodautoscalers"),
    "pipelines": ("pipelineruns", "taskruns"),
    "applications": ("applications",),
    "environments": ("deployments", "rollouts"),
    "nodes": ("nodes", "pods"),
    "pod_issues": ("pods",),
    "warnings": ("events",),
    "hpas": ("horizontalpodautoscalers",),
}
HPA_HISTORY = 60  # samples kept per HPA for the replica sparkline
OWNER = "owner"
NODE = "node"
# Informer indexes (client-go's Indexer): ReplicaSets and Pods by controlling owner, Pods by node.
INDEXES = {"replicasets": {OWNER: V.owner_index_values},
           "pods": {OWNER: V.owner_index_values, NODE: V.health.node_index_values}}


@dataclass(frozen=True)
class ApiHealth:
    """API reachability as the connection last measured it."""

    reachable: bool
    latency_ms: float | None
    error: str


@dataclass
class _Area:
    versions: tuple[int, ...] = ()
    value: Any = None
    built_at: float = 0.0


@dataclass
class _Subscribers:
    items: list[Callable[[frozenset[str]], None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _whole(value: Any, what: str, action: str, plural: str, namespace: str | None, name: str) -> int:
    """A whole-number action parameter (a revision, a history id), or an ActionError naming the bad value."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.lstrip("-").isdecimal():
        return int(text)
    kind = K.by_plural(plural)
    raise ActionError(f"invalid {what} {str(value)[:40]!r}: a whole number is needed", action=action,
                      target=Target(kind, namespace if kind.namespaced else None, name))


class ClusterService:
    """Read side: cache + views + freshness. Write side: the action path (see actions/)."""

    def __init__(self, conn: Connection, *, namespace: str | None = None, kinds: Iterable[K.Kind] = K.SCREEN_KINDS,
                 environments: Iterable[tuple[str, str]] = V.DEFAULT_ENVIRONMENTS, pending_after: float = 120.0,
                 read_only: bool = False, clock: Callable[[], float] = time.time,
                 cache_options: dict[str, Any] | None = None, audit: AuditLog | None = None,
                 metrics: Any = None) -> None:
        self.conn = conn
        self.namespace = namespace
        self.read_only = read_only
        self.environments = tuple(environments)
        self.pending_after = pending_after
        self.clock = clock
        # indexes kept per watch event (INDEXES): the Rollouts area finds an RS's pods, and the nodes
        # area a node's pods, without a scan
        self.cache = Cache(conn, kinds, namespace, indexers=INDEXES, **(cache_options or {}))
        self._versions: dict[str, int] = {}
        self._areas: dict[str, _Area] = {}
        self._building = {name: threading.Lock() for name in AREAS}
        self._lock = threading.RLock()
        self._subs = _Subscribers()
        self._hpa_history: dict[tuple[str, str], deque[int]] = {}
        self._rollouts = V.RolloutsBuilder()  # rebuilds only the workloads that changed
        # per-pod parsing the Health areas would otherwise redo for every pod on every pod change
        self._node_sums = V.health.NodeSums()
        self._pod_statuses = V.PerObject(V.common.pod_status)
        self._pods_quiet = V.PerObject(V.health.never_an_issue)
        self._unsubscribe: list[Callable[[], None]] = []
        # the write side: one checker (cached SSARs) and one executor (audited) per context
        self.audit = audit or AuditLog()
        self.checker = Checker(conn, read_only=read_only, freshness=conn.freshness)
        self.executor = Executor(conn, self.audit, context_name=conn.context.name,
                                 cluster_user=conn.context.user or "", read_only=read_only, checker=self.checker)
        self.metrics = metrics  # a MetricsService, or None (no metrics shown as "not verified")
        self.samples = advice.UsageSamples()  # metrics.k8s.io history for right-sizing without Prometheus

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def context(self) -> ContextInfo:
        return self.conn.context

    def start(self) -> ClusterService:
        self._unsubscribe.append(self.cache.subscribe(self._on_change))
        self._unsubscribe.append(self.conn.freshness.subscribe(lambda _state: self._notify(frozenset({"freshness"}))))
        self.cache.start()
        return self

    def stop(self) -> None:
        for unsub in self._unsubscribe:
            unsub()
        self._unsubscribe.clear()
        self.cache.stop()

    def wait_synced(self, timeout: float | None = None) -> bool:
        return self.cache.wait_synced(timeout)

    # -- notifications --------------------------------------------------------------------------

    def subscribe(self, cb: Callable[[frozenset[str]], None]) -> Callable[[], None]:
        """cb(changed) where changed holds area names (see AREAS) and/or "freshness"; coalesced."""
        with self._subs.lock:
            self._subs.items.append(cb)

        def unsubscribe() -> None:
            with self._subs.lock:
                if cb in self._subs.items:
                    self._subs.items.remove(cb)
        return unsubscribe

    def _on_change(self, changed: frozenset[str]) -> None:
        with self._lock:
            for plural in changed:
                self._versions[plural] = self._versions.get(plural, 0) + 1
            if "horizontalpodautoscalers" in changed:
                self._sample_hpas()
        areas = frozenset(a for a, deps in AREAS.items() if any(d in changed for d in deps))
        if areas:
            self._notify(areas)

    def _notify(self, what: frozenset[str]) -> None:
        with self._subs.lock:
            subs = list(self._subs.items)
        for cb in subs:
            try:
                cb(what)
            except Exception:  # a subscriber's bug must not stop the notifier thread
                import logging

                logging.getLogger(__name__).exception("subscriber failed")

    def _sample_hpas(self) -> None:
        for hpa in self.cache.list("horizontalpodautoscalers"):
            md = hpa.get("metadata") or {}
            key = (md.get("namespace", ""), md.get("name", ""))
            current = (hpa.get("status") or {}).get("currentReplicas")
            if current is None:
                continue
            ring = self._hpa_history.setdefault(key, deque(maxlen=HPA_HISTORY))
            if not ring or ring[-1] != current or len(ring) < 2:
                ring.append(int(current))

    # -- read side ------------------------------------------------------------------------------

    def freshness(self) -> FreshnessState:
        return self.conn.freshness.state

    def api_health(self) -> ApiHealth:
        st = self.conn.freshness.state
        lat = self.conn.last_latency
        return ApiHealth(reachable=st.state.name in ("LIVE", "STALE") and not st.error,
                         latency_ms=None if lat is None else lat * 1000.0, error=st.error)

    def objects(self, plural: str, namespace: str | None = None) -> list[dict]:
        """Raw cached objects (read-only dicts)."""
        try:
            return self.cache.list(plural, namespace)
        except KeyError:
            return []

    def get(self, plural: str, namespace: str | None, name: str) -> dict | None:
        try:
            return self.cache.get(plural, namespace, name)
        except KeyError:
            return None

    def _area(self, name: str, build: Callable[[], Any]) -> Any:
        """The area's views, built again only when a kind it depends on changed. One build per area at
        a time: two screens' fetch workers asking at once get one build between them, and a builder's
        memo (RolloutsBuilder, NodeSums, PerObject) is never used by two threads at once."""
        deps = AREAS[name]
        with self._building[name]:
            with self._lock:
                versions = tuple(self._versions.get(d, 0) for d in deps)
                area = self._areas.get(name)
                if area is not None and area.versions == versions and area.value is not None:
                    return area.value
            value = build()
            with self._lock:
                self._areas[name] = _Area(versions, value, self.clock())
            return value

    def rollouts(self) -> list[V.RolloutView]:
        o, by_owner = self.objects, self._owned
        return self._area("rollouts", lambda: self._rollouts.build_indexed(
            o("deployments"), o("rollouts"), by_owner("replicasets"), by_owner("pods"), o("horizontalpodautoscalers"),
            self.clock()))

    def _index(self, plural: str, index: str) -> Callable[[str], Sequence[dict]]:
        """One of the informers' indexes (INDEXES) as a lookup: value -> the objects indexed under it."""
        def lookup(value: str) -> Sequence[dict]:
            try:
                return self.cache.by_index(plural, index, value)
            except KeyError:  # the kind is not watched by this service
                return ()
        return lookup

    def _owned(self, plural: str) -> V.IndexedOwners:
        return V.IndexedOwners(self._index(plural, OWNER))

    def pipeline_runs(self) -> list[V.PipelineRunView]:
        return self._area("pipelines", lambda: V.build_pipeline_runs(
            self.objects("pipelineruns"), self.objects("taskruns"), self.clock()))

    def applications(self) -> list[V.ApplicationView]:
        return self._area("applications", lambda: V.build_applications(self.objects("applications"), self.clock()))

    def environments_matrix(self) -> list[V.EnvironmentView]:
        return self._area("environments", lambda: V.build_environments(
            self.objects("deployments"), self.objects("rollouts"), self.environments, self.clock()))

    def nodes(self, node_metrics: list[dict] | None = None) -> list[V.NodeHealth]:
        """Node health as of now. The area (Nodes and their pods) is rebuilt only when those change;
        the watched node Leases and `node_metrics` are applied on every call, in O(nodes): lease
        renewals (one per node every ~10 s) are in no area, so they never trigger a rebuild."""
        def build() -> tuple[float, list[V.NodeHealth]]:
            now = self.clock()
            return now, V.health.build_nodes_indexed(self.objects("nodes"), self._index("pods", NODE), now,
                                                     self._node_sums)

        built_at, views = self._area("nodes", build)
        return V.health.refresh_nodes(views, self.objects("leases"), node_metrics, self.clock(), built_at)

    def pod_issues(self) -> list[V.PodIssue]:
        return self._area("pod_issues", lambda: V.build_pod_issues(
            self.objects("pods"), self.clock(), self.pending_after, status_of=self._pod_statuses,
            quiet=self._pods_quiet))

    def warning_events(self) -> list[V.WarningEvent]:
        return self._area("warnings", lambda: V.build_warning_events(self.objects("events"), self.clock()))

    def hpas(self) -> list[V.HPAView]:
        def build() -> list[V.HPAView]:
            with self._lock:
                history = {k: list(v) for k, v in self._hpa_history.items()}
            return V.build_hpas(self.objects("horizontalpodautoscalers"), history, self.clock())
        return self._area("hpas", build)

    def pods_of(self, rollout: V.RolloutView) -> list[V.PodView]:
        return [p for rs in rollout.replicasets for p in rs.pods]

    def events_for(self, kind: str, namespace: str, name: str, limit: int = 20) -> list[dict]:
        """Recent events about one object, newest first (any type)."""
        evs = [e for e in self.objects("events", namespace)
               if (e.get("involvedObject") or {}).get("kind") == kind
               and (e.get("involvedObject") or {}).get("name") == name]
        evs.sort(key=lambda e: e.get("lastTimestamp") or (e.get("metadata") or {}).get("creationTimestamp") or "",
                 reverse=True)
        return evs[:limit]

    def pod_log(self, namespace: str, pod: str, container: str | None = None, tail: int = 200,
                previous: bool = False) -> list[str]:
        """The last lines of a pod's log (one request; raw text, unsanitised)."""
        query: dict[str, Any] = {"tailLines": tail}
        if container:
            query["container"] = container
        if previous:
            query["previous"] = "true"
        try:
            data = self.conn.request_bytes("GET", K.path(K.PODS, namespace, pod, "log"), query=query,
                                           accept="text/plain")
        except (ApiError, ConnectionLost) as e:
            return [f"(log unavailable: {e})"]
        return data.decode("utf-8", "replace").splitlines()

    # -- write side: the one action path ------------------------------------------------------------

    def _object(self, plural: str, namespace: str | None, name: str) -> dict:
        obj = self.get(plural, namespace, name)
        if obj is None:
            kind = K.by_plural(plural)
            raise ActionError(f'{kind} "{name}" not found', action="plan",
                              target=Target(kind, namespace if kind.namespaced else None, name))
        return obj

    def plan(self, action: str, plural: str, namespace: str | None, name: str, **params: Any) -> Plan:
        """The exact request(s) for `action` on one object, from the cached object.

        Raises ActionError (already shaped for the user) when the action cannot apply; call
        `refuse()` with it so that the refusal is audited too.
        """
        obj = self._object(plural, namespace, name)
        apps = self.objects("applications")
        if action == "set_image":
            return planner.set_image(obj, params["images"], apps=apps)
        if action == "pause":
            return planner.pause(obj, apps=apps)
        if action == "resume":
            return planner.resume(obj, apps=apps)
        if action == "restart":
            return planner.restart(obj, apps=apps)
        if action == "set_requests":
            return planner.set_requests(obj, params["requests"], apps=apps)
        if action == "scale":
            return planner.scale(obj, params["replicas"], apps=apps)  # the planner names a bad value
        if action == "undo":
            to_revision = _whole(params.get("to_revision", 0), "revision", action, plural, namespace, name)
            return planner.undo(obj, self.objects("replicasets", namespace), to_revision, apps=apps)
        if action == "promote":
            return planner.rollout_promote(obj, apps=apps)
        if action == "promote_full":
            return planner.rollout_promote_full(obj, apps=apps)
        if action == "abort":
            return planner.rollout_abort(obj, apps=apps)
        if action == "retry":
            return planner.rollout_retry(obj, apps=apps)
        if action == "hpa_update":
            return planner.hpa_update(obj, **params)
        if action == "rerun":
            return planner.pipelinerun_rerun(obj)
        if action == "cancel":
            return planner.pipelinerun_cancel(obj)
        if action == "sync":
            return planner.app_sync(obj, **params)
        if action == "rollback":
            history_id = _whole(params["history_id"], "history id", action, plural, namespace, name)
            return planner.app_rollback(obj, history_id)
        if action == "promote_version":
            source = self._object(params["source_plural"], params["source_namespace"], params["source_name"])
            return planner.promote_version(source, obj, apps=apps)
        raise ValueError(f"unknown action {action!r}")

    def revisions(self, plural: str, namespace: str, name: str) -> list[planner.Revision]:
        """Revisions a workload can roll back to (for the revision picker)."""
        return planner.revisions(self._object(plural, namespace, name), self.objects("replicasets", namespace))

    def check(self, plan: Plan) -> CheckResult:
        """Read-only, freshness, RBAC and a server dry run; nothing is written."""
        return self.checker.check(plan)

    def apply(self, plan: Plan, check: CheckResult | None = None, *, override: bool = False,
              overrides: Sequence[str] = ()) -> Outcome:
        """Apply a confirmed plan with its precondition; exactly one audit entry, whatever happens.

        `override` applies despite a failed dry run; `overrides` notes what else the user overrode
        (blocking pre-flight findings); both end up in the audit entry's `overrides`."""
        return self.executor.run(plan, check, override_errors=override, overrides=overrides)

    def cancel(self, plan: Plan, check: CheckResult | None = None) -> Outcome:
        """The user declined at the confirmation: audited, nothing sent."""
        return self.executor.record_cancelled(plan, check)

    def refuse(self, err: ActionError) -> Outcome:
        """A planner refused before any request: audited."""
        return self.executor.refuse(err)

    def can(self, verb: str, plural: str, namespace: str | None, name: str | None = None,
            subresource: str = "") -> tuple[bool, str]:
        """Whether a key's action is allowed (read-only, RBAC), for showing it disabled with the reason."""
        kind = K.by_plural(plural)
        allowed, reason = self.checker.can(verb, kind.group, kind.plural, subresource, namespace, name)
        if not allowed and not reason:
            res = f"{plural}/{subresource}" if subresource else plural
            where = f' in namespace "{namespace}"' if namespace else ""
            reason = f'RBAC: user "{self.context.user}" may not {verb} {res}{where}'
        return allowed, reason

    # -- advice: pre-flight checks and right-sizing -------------------------------------------------------

    def _preflight_inputs(self, namespace: str | None) -> dict[str, Any]:
        return {"nodes": self.objects("nodes"), "pods": self.objects("pods", namespace),
                "pdbs": self.objects("poddisruptionbudgets", namespace),
                "replicasets": self.objects("replicasets", namespace),
                "applications": self.objects("applications"), "now": self.clock()}

    def preflight(self, plural: str, namespace: str, name: str, change: dict | None = None) -> list[advice.Finding]:
        """Findings before a rollout of this workload starts (errors block until overridden)."""
        return advice.preflight(self._object(plural, namespace, name), change, **self._preflight_inputs(namespace))

    def preflight_promotion(self, source: tuple[str, str, str], target: tuple[str, str, str]) -> list[advice.Finding]:
        """Findings before promoting source's version onto target ((plural, namespace, name) each)."""
        return advice.preflight_promotion(self._object(*source), self._object(*target),
                                          **self._preflight_inputs(target[1]))

    def preflight_rollout_promote(self, namespace: str, name: str, *, full: bool = False,
                                  red: Any = None) -> list[advice.Finding]:
        """Findings before promoting a canary; `red` is (canary, stable) RED results when metrics exist."""
        return advice.preflight_rollout_promote(
            self._object("rollouts", namespace, name), pods=self.objects("pods", namespace),
            replicasets=self.objects("replicasets", namespace), red=red, full=full, now=self.clock())

    def poll_usage(self) -> bool:
        """Fetch metrics.k8s.io pod usage once into the samples (call every ~15 s from a worker)."""
        path = "/apis/metrics.k8s.io/v1beta1/pods" if not self.namespace else \
            f"/apis/metrics.k8s.io/v1beta1/namespaces/{self.namespace}/pods"
        try:
            body = self.conn.request("GET", path)
        except (ApiError, ConnectionLost):
            return False
        self.samples.ingest(body, pods=self.objects("pods"), replicasets=self.objects("replicasets"), now=self.clock())
        return True

    def rightsizing(self, window: float = 3600.0) -> list[advice.WorkloadSizing]:
        """Requests against observed usage per workload, with recommendations."""
        out = []
        pods, rss, now = self.objects("pods"), self.objects("replicasets"), self.clock()
        for plural in ("deployments", "rollouts"):
            for w in self.objects(plural):
                usage = self.samples.usage_for(w, window=window, now=now)
                if usage:
                    out.append(advice.rightsize(w, usage, pods=pods, replicasets=rss, window=window, now=now))
        return out

    def node_sizing(self, node_metrics: list[dict] | None = None) -> list[advice.NodeSizing]:
        """Allocatable against requested against used, per node."""
        return advice.node_sizing(self.objects("nodes"), self.objects("pods"), node_metrics, self.clock())
