"""Deployment controller, after ``pkg/controller/deployment`` (deployment_controller.go, sync.go,
rolling.go, recreate.go, progress.go, rollback.go) and ``util/deployment_util.go``.

Why so literal: kubectl (rollout status/history/undo), the console and every test read the exact
fields, annotations, condition reasons, messages and event texts this controller writes, and the
order in which ReplicaSets are scaled. The arithmetic lives in :mod:`almtui.kube.rolling`; this
module is the sync loop around it. Only ReplicaSets are touched; pods belong to the RS controller.
"""

from __future__ import annotations

import copy
import functools
import math
import re
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from almtui.kube import rolling
from almtui.kube.hashing import compute_hash, templates_equal_ignoring_hash
from almtui.kube.rolling import (
    DESIRED_REPLICAS_ANNOTATION,
    MAX_REPLICAS_ANNOTATION,
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    OldRS,
)
from almtui.kube.selectors import LabelSelector
from almtui.sandbox.controllers.base import Context, Controller
from almtui.sandbox.controllers.replicaset import (
    Timers,
    controller_ref,
    epoch,
    new_controller_ref,
    selector_of,
    spec_replicas,
)
from almtui.sandbox.errors import ApiError
from almtui.sandbox.store import Obj, WatchEvent, ts

DEPLOY = "apps/deployments"
RS = "apps/replicasets"
PODS = "/pods"
COMPONENT = "deployment-controller"
HASH_LABEL = "pod-template-hash"
ROLLBACK_TO_ANNOTATION = "deprecated.deployment.rollback.to"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
# annotationsToSkip: never copied from the Deployment to its new ReplicaSet (nor back on rollback).
SKIP_ANNOTATIONS = frozenset({LAST_APPLIED_ANNOTATION, REVISION_ANNOTATION, REVISION_HISTORY_ANNOTATION,
                              DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION, ROLLBACK_TO_ANNOTATION})
MAX_INT32 = 2**31 - 1
_ATOI = re.compile(r"[+-]?[0-9]+")

# Condition reasons (deployment_util.go).
NEW_RS_REASON = "NewReplicaSetCreated"
FOUND_NEW_RS_REASON = "FoundNewReplicaSet"
FAILED_RS_CREATE_REASON = "ReplicaSetCreateError"
RS_UPDATED_REASON = "ReplicaSetUpdated"
NEW_RS_AVAILABLE_REASON = "NewReplicaSetAvailable"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
PAUSED_REASON = "DeploymentPaused"
RESUMED_REASON = "DeploymentResumed"
MIN_AVAILABLE_REASON = "MinimumReplicasAvailable"
MIN_UNAVAILABLE_REASON = "MinimumReplicasUnavailable"


# --- small pure helpers ---------------------------------------------------------------------------


def apply_defaults(d: Obj) -> None:
    """SetDefaults_Deployment (apps/v1), on a private copy: the apiserver has done it for real objects."""
    spec = d.setdefault("spec", {})
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    strategy = spec.setdefault("strategy", {})
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        ru = strategy.get("rollingUpdate")
        if ru is None:
            ru = strategy["rollingUpdate"] = {}
        if ru.get("maxUnavailable") is None:
            ru["maxUnavailable"] = "25%"
        if ru.get("maxSurge") is None:
            ru["maxSurge"] = "25%"
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    if spec.get("progressDeadlineSeconds") is None:
        spec["progressDeadlineSeconds"] = 600


def _created(rs: Obj) -> tuple[str, str]:
    """ReplicaSetsByCreationTimestamp's key: creation time, then name."""
    md = rs["metadata"]
    return (md.get("creationTimestamp") or "", md["name"])


def _active(rss: Iterable[Obj | None]) -> list[Obj]:
    """FilterActiveReplicaSets: ReplicaSets with spec.replicas > 0."""
    return [rs for rs in rss if rs is not None and spec_replicas(rs) > 0]


def _status_int(obj: Obj | None, field: str) -> int:
    return int(((obj or {}).get("status") or {}).get(field) or 0)


def _int_annotation(rs: Obj, key: str) -> int | None:
    """getIntFromAnnotation: strconv.Atoi of the annotation, None when absent or malformed."""
    value = (rs["metadata"].get("annotations") or {}).get(key)
    if value is None or not _ATOI.fullmatch(value):
        return None
    return int(value)


def _round_half_away(x: float) -> int:
    """math.Round: halves away from zero (Python's round() is banker's rounding)."""
    return math.floor(abs(x) + 0.5) * (1 if x >= 0 else -1)


def _revision_cmp(a: Obj, b: Obj) -> int:
    """ReplicaSetsByRevision: revision ascending, creation order when unparseable or equal."""
    try:
        ra = rolling.revision_of(a["metadata"].get("annotations"))
        rb = rolling.revision_of(b["metadata"].get("annotations"))
    except ValueError:
        ra = rb = 0
    if ra == rb:
        ka, kb = _created(a), _created(b)
        return -1 if ka < kb else (1 if kb < ka else 0)
    return -1 if ra < rb else 1


def get_condition(status: Mapping[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for cond in (status or {}).get("conditions") or ():
        if cond.get("type") == type_:
            return cond
    return None


def new_condition(type_: str, status: str, reason: str, message: str, now_ts: str) -> dict[str, Any]:
    """NewDeploymentCondition, in the field order Go serializes."""
    return {"type": type_, "status": status, "lastUpdateTime": now_ts, "lastTransitionTime": now_ts,
            "reason": reason, "message": message}


def set_condition(status: dict[str, Any], cond: dict[str, Any]) -> None:
    """SetDeploymentCondition: no-op for the same status and reason; moves the condition last."""
    current = get_condition(status, cond["type"])
    if current is not None and current.get("status") == cond["status"] and current.get("reason") == cond["reason"]:
        return
    if current is not None and current.get("status") == cond["status"]:
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime")}
    remove_condition(status, cond["type"])
    status["conditions"] = [*(status.get("conditions") or []), cond]


def remove_condition(status: dict[str, Any], type_: str) -> None:
    conds = [c for c in status.get("conditions") or [] if c.get("type") != type_]
    if conds:
        status["conditions"] = conds
    else:
        status.pop("conditions", None)


def status_json(st: Mapping[str, Any] | None) -> dict[str, Any]:
    """DeploymentStatus as Go marshals it: every field omitempty, in field order."""
    st = st or {}
    out: dict[str, Any] = {}
    for field in ("observedGeneration", "replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
                  "unavailableReplicas"):
        if st.get(field):
            out[field] = int(st[field])
    if st.get("terminatingReplicas") is not None:
        out["terminatingReplicas"] = int(st["terminatingReplicas"])
    if st.get("conditions"):
        out["conditions"] = st["conditions"]
    if st.get("collisionCount") is not None:
        out["collisionCount"] = int(st["collisionCount"])
    return out


def _is_ref(ref: Mapping[str, Any] | None, kind: str) -> bool:
    return ref is not None and ref.get("kind") == kind and str(ref.get("apiVersion", "")).startswith("apps/")


class _Retry(Exception):
    """The sync failed in a way upstream answers with a rate-limited requeue."""


# --- the controller -------------------------------------------------------------------------------


class DeploymentController(Controller):
    """Rolls Deployments out through ReplicaSets, as kube-controller-manager's deployment controller."""

    name = "deployment-controller"
    watches = (DEPLOY, RS, PODS)

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self._orphans: dict[str, set[str]] = {}  # namespace -> ReplicaSets without a controller
        self._failures: dict[Hashable, int] = {}
        self._timers = Timers(ctx)
        self._template_cache: dict[tuple[Any, ...], bool] = {}
        for rs in self.store.list(RS):
            self._track_orphan(rs, "ADDED")

    def template_matches(self, d: Obj, rs: Obj) -> bool:
        """EqualIgnoreHash(d template, rs template), cached per (generation, generation) pair."""
        dmd, rmd = d["metadata"], rs["metadata"]
        key = (dmd["uid"], dmd.get("generation"), rmd["uid"], rmd.get("generation"))
        if key[1] is None or key[3] is None:
            return templates_equal_ignoring_hash(rs["spec"].get("template"), d["spec"].get("template"))
        hit = self._template_cache.get(key)
        if hit is None:
            hit = templates_equal_ignoring_hash(rs["spec"].get("template"), d["spec"].get("template"))
            if len(self._template_cache) > 100_000:
                self._template_cache.clear()
            self._template_cache[key] = hit
        return hit

    @staticmethod
    def selector_for(obj: Obj) -> LabelSelector | None:
        """The Deployment's (or ReplicaSet's) label selector; None when it does not parse."""
        return selector_of(obj)

    # -- events ------------------------------------------------------------------------------------

    def _track_orphan(self, rs: Obj, type_: str) -> None:
        md = rs["metadata"]
        ns = md.get("namespace", "")
        if type_ != "DELETED" and controller_ref(rs) is None:
            self._orphans.setdefault(ns, set()).add(md["name"])
        elif ns in self._orphans:
            self._orphans[ns].discard(md["name"])

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        md = ev.obj["metadata"]
        ns = md.get("namespace", "")
        if ev.key == DEPLOY:
            yield (ns, md["name"])
        elif ev.key == RS:
            self._track_orphan(ev.obj, ev.type)
            ref, old_ref = controller_ref(ev.obj), controller_ref(ev.old)
            if _is_ref(ref, "Deployment"):
                yield (ns, ref["name"])
            if _is_ref(old_ref, "Deployment") and (ref is None or old_ref.get("uid") != ref.get("uid")):
                yield (ns, old_ref["name"])
            if ref is None and ev.type != "DELETED":
                labels_changed = ev.old is not None and ev.old["metadata"].get("labels") != md.get("labels")
                if ev.type == "ADDED" or labels_changed or old_ref is not None:
                    yield from self._deployments_matching(ev.obj)
        elif ev.type == "DELETED":
            key = self._recreate_deployment_of_pod(ev.obj)
            if key is not None:
                yield key

    def _deployments_matching(self, rs: Obj) -> Iterable[Hashable]:
        """getDeploymentsForReplicaSet: Deployments in the namespace whose selector takes an orphan RS."""
        labels = rs["metadata"].get("labels")
        if not labels:
            return
        ns = rs["metadata"].get("namespace", "")
        for d in self.store.list(DEPLOY, ns):
            sel = selector_of(d)
            if sel is not None and not sel.empty and sel.matches(labels):
                yield (ns, d["metadata"]["name"])

    def _recreate_deployment_of_pod(self, pod: Obj) -> Hashable | None:
        """deletePod: a Recreate Deployment waits for its old pods to be gone, so it hears deletions."""
        ref = controller_ref(pod)
        if not _is_ref(ref, "ReplicaSet"):
            return None
        ns = pod["metadata"].get("namespace", "")
        rs = self.store.get(RS, ns, ref["name"])
        if rs is None or rs["metadata"].get("uid") != ref.get("uid"):
            return None
        dref = controller_ref(rs)
        if not _is_ref(dref, "Deployment"):
            return None
        d = self.store.get(DEPLOY, ns, dref["name"])
        if d is None or d["metadata"].get("uid") != dref.get("uid"):
            return None
        if ((d.get("spec") or {}).get("strategy") or {}).get("type") != "Recreate":
            return None
        return (ns, dref["name"])

    # -- sync --------------------------------------------------------------------------------------

    def reconcile(self, key: Any) -> float | None:
        ns, name = key
        stored = self.store.get(DEPLOY, ns, name)
        if stored is None:
            self._failures.pop(key, None)
            self._timers.forget(key)
            return None
        try:
            after = _Sync(self, stored).run()
        except _Retry:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
            return self._timers.after(key, min(1000.0, 0.005 * 2**failures))
        self._failures.pop(key, None)
        return self._timers.after(key, after)

    def claim_replica_sets(self, d: Obj, selector: LabelSelector) -> list[Obj]:
        """ClaimReplicaSets: owned RSs that still match, adopted orphans; owned strays are released."""
        md = d["metadata"]
        uid, ns = md["uid"], md.get("namespace", "")
        deleting = bool(md.get("deletionTimestamp"))
        claimed: list[Obj] = []
        for key, rs in self.store.dependents(uid):
            ref = controller_ref(rs)
            if key != RS or ref is None or ref.get("uid") != uid:
                continue
            if selector.matches(rs["metadata"].get("labels")):
                claimed.append(rs)
            elif not deleting:
                self._set_owner(rs, uid, None)
        if not deleting and not selector.empty:
            for rs_name in sorted(self._orphans.get(ns, ())):
                rs = self.store.get(RS, ns, rs_name)
                if rs is None or controller_ref(rs) is not None or rs["metadata"].get("deletionTimestamp"):
                    continue
                if selector.matches(rs["metadata"].get("labels")):
                    adopted = self._set_owner(rs, uid, new_controller_ref(d))
                    if adopted is not None:
                        claimed.append(adopted)
        return claimed

    def _set_owner(self, rs: Obj, uid: str, ref: dict[str, Any] | None) -> Obj | None:
        """Adopt (add a controller ref) or release (drop the ref with ``uid``), as the ref manager patches."""

        def edit(o: Obj) -> None:
            refs = [r for r in o["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
            if ref is not None:
                refs.append(ref)
            if refs:
                o["metadata"]["ownerReferences"] = refs
            else:
                o["metadata"].pop("ownerReferences", None)

        md = rs["metadata"]
        try:
            return self.store.mutate(RS, md.get("namespace"), md["name"], edit)
        except ApiError as e:
            if e.code == 404:
                return None
            raise


class _Sync:
    """One syncDeployment over a private, defaulted copy of the Deployment (upstream's ``d``)."""

    def __init__(self, ctl: DeploymentController, stored: Obj) -> None:
        self.ctl = ctl
        self.store = ctl.store
        self.events = ctl.ctx.events
        # upstream deep-copies the cached object; copy what a sync may change (never the template)
        md, spec = stored["metadata"], stored.get("spec") or {}
        self.d: Obj = {**stored, "metadata": {**md, "annotations": dict(md.get("annotations") or {})},
                       "spec": {**spec, "strategy": copy.deepcopy(spec.get("strategy") or {})},
                       "status": copy.deepcopy(stored.get("status") or {})}
        if not md.get("annotations"):
            self.d["metadata"].pop("annotations")
        apply_defaults(self.d)
        self.now = ctl.ctx.now()
        self.now_ts = ts(ctl.ctx.clock.now())
        self.requeue: float | None = None
        self.rs_list: list[Obj] = []

    # -- accessors ---------------------------------------------------------------------------------

    @property
    def spec(self) -> dict[str, Any]:
        return self.d["spec"]

    @property
    def status(self) -> dict[str, Any]:
        return self.d.setdefault("status", {})

    @property
    def replicas(self) -> int:
        return int(self.spec["replicas"])

    @property
    def rolling_update(self) -> bool:
        return self.spec["strategy"]["type"] == "RollingUpdate"

    def _ru(self, field: str) -> Any:
        return (self.spec["strategy"].get("rollingUpdate") or {}).get(field)

    def max_surge(self) -> int:
        """MaxSurge: 0 unless RollingUpdate."""
        if not self.rolling_update:
            return 0
        return rolling.resolved_max_surge(self.replicas, self._ru("maxSurge"), self._ru("maxUnavailable"))

    def max_unavailable(self) -> int:
        """MaxUnavailable: 0 unless RollingUpdate with replicas > 0; never above replicas."""
        if not self.rolling_update or self.replicas == 0:
            return 0
        return rolling.resolved_max_unavailable(self.replicas, self._ru("maxSurge"), self._ru("maxUnavailable"))

    def has_deadline(self) -> bool:
        return rolling.has_progress_deadline(self.d)

    def record(self, type_: str, reason: str, message: str) -> None:
        self.events.record(self.d, type_, reason, message, COMPONENT)

    def _refresh(self, rs: Obj) -> None:
        """Keep the sync's RS list current after our own writes (an informer catching up)."""
        uid = rs["metadata"]["uid"]
        for i, cur in enumerate(self.rs_list):
            if cur["metadata"]["uid"] == uid:
                self.rs_list[i] = rs
                return
        self.rs_list.append(rs)

    def _current(self, name: str) -> Obj | None:
        return next((rs for rs in self.rs_list if rs["metadata"]["name"] == name), None)

    # -- writes ------------------------------------------------------------------------------------

    def update_status(self) -> None:
        """UpdateStatus: the status, and the revision annotation (deploymentStatusStrategy resets only
        spec and labels on /status writes, which is how upstream stores the revision)."""
        md = self.d["metadata"]
        ns, name = md.get("namespace"), md["name"]
        status = status_json(self.d.get("status"))
        want = (md.get("annotations") or {}).get(REVISION_ANNOTATION)

        def annotate(o: Obj) -> None:
            if want is not None:
                o["metadata"]["annotations"] = dict(sorted(
                    {**(o["metadata"].get("annotations") or {}), REVISION_ANNOTATION: want}.items()))

        def put(o: Obj) -> None:
            o["status"] = copy.deepcopy(status)
            annotate(o)

        stored = self.store.mutate(DEPLOY, ns, name, put, subresource="status")
        if stored is None:
            raise _Retry
        if want is not None and (stored["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION) != want:
            # The store drops metadata on /status writes: fall back to the main resource, which bumps
            # metadata.generation where upstream would not (see the report; self-heals once fixed).
            self.store.mutate(DEPLOY, ns, name, annotate)

    def set_deployment_revision(self, revision: str) -> bool:
        """SetDeploymentRevision."""
        annotations = self.d["metadata"].setdefault("annotations", {})
        if annotations.get(REVISION_ANNOTATION, "") != revision:
            annotations[REVISION_ANNOTATION] = revision
            return True
        return False

    def scale_rs_and_record(self, rs: Obj, new_scale: int) -> tuple[bool, Obj]:
        if spec_replicas(rs) == new_scale:
            return False, rs
        return self.scale_rs(rs, new_scale, "up" if spec_replicas(rs) < new_scale else "down")

    def scale_rs(self, rs: Obj, new_scale: int, operation: str) -> tuple[bool, Obj]:
        """scaleReplicaSet: new spec.replicas and desired/max-replicas annotations, one event if resized."""
        desired, max_replicas = str(self.replicas), str(self.replicas + self.max_surge())
        annotations = rs["metadata"].get("annotations") or {}
        size_changed = spec_replicas(rs) != new_scale
        annotations_changed = (annotations.get(DESIRED_REPLICAS_ANNOTATION) != desired
                               or annotations.get(MAX_REPLICAS_ANNOTATION) != max_replicas)
        if not size_changed and not annotations_changed:
            return False, rs
        old_scale = spec_replicas(rs)

        def edit(o: Obj) -> None:
            o["spec"]["replicas"] = new_scale
            ann = o["metadata"].get("annotations") or {}
            ann = {**ann, DESIRED_REPLICAS_ANNOTATION: desired, MAX_REPLICAS_ANNOTATION: max_replicas}
            o["metadata"]["annotations"] = dict(sorted(ann.items()))

        md = rs["metadata"]
        updated = self.store.mutate(RS, md.get("namespace"), md["name"], edit)
        if updated is None:
            raise _Retry
        self._refresh(updated)
        if size_changed:
            self.record("Normal", "ScalingReplicaSet",
                        f"Scaled {operation} replica set {md['name']} from {old_scale} to {new_scale}")
        return size_changed, updated

    # -- syncDeployment ----------------------------------------------------------------------------

    def run(self) -> float | None:
        d = self.d
        if self.spec.get("selector") == {}:
            self.record("Warning", "SelectingAll",
                        "This deployment is selecting all pods. A non-empty selector is required.")
            generation = int(d["metadata"].get("generation") or 0)
            if int(self.status.get("observedGeneration") or 0) < generation:
                self.status["observedGeneration"] = generation
                self.update_status()
            return None
        selector = selector_of(d)
        if selector is None:
            return None
        self.rs_list = sorted(self.ctl.claim_replica_sets(d, selector), key=_created)
        if d["metadata"].get("deletionTimestamp"):
            new, old = self.get_all(create=False)
            self.sync_deployment_status([*old, new], new)
            return None
        self.check_paused_conditions()
        if self.spec.get("paused"):
            self.sync()
        elif self.rollback_to() is not None:
            self.rollback()
        elif self.is_scaling_event():
            self.sync()
        elif self.spec["strategy"]["type"] == "Recreate":
            self.rollout_recreate(selector)
        elif self.rolling_update:
            self.rollout_rolling()
        return self.requeue

    def check_paused_conditions(self) -> None:
        """Progressing=Unknown DeploymentPaused/DeploymentResumed, so a pause never counts as no progress."""
        if not self.has_deadline():
            return
        cond = get_condition(self.status, "Progressing")
        if cond is not None and cond.get("reason") == TIMED_OUT_REASON:
            return
        paused_exists = cond is not None and cond.get("reason") == PAUSED_REASON
        paused = bool(self.spec.get("paused"))
        if paused and not paused_exists:
            set_condition(self.status, new_condition("Progressing", "Unknown", PAUSED_REASON,
                                                     "Deployment is paused", self.now_ts))
        elif not paused and paused_exists:
            set_condition(self.status, new_condition("Progressing", "Unknown", RESUMED_REASON,
                                                     "Deployment is resumed", self.now_ts))
        else:
            return
        self.update_status()

    def is_scaling_event(self) -> bool:
        """isScalingEvent: an active RS's desired-replicas annotation differs from spec.replicas."""
        new, old = self.get_all(create=False)
        for rs in _active([*old, new]):
            desired = _int_annotation(rs, DESIRED_REPLICAS_ANNOTATION)
            if desired is not None and desired != self.replicas:
                return True
        return False

    def sync(self) -> None:
        """sync: proportional scaling only (paused or scaling event); never creates a ReplicaSet."""
        new, old = self.get_all(create=False)
        self.scale(new, old)
        if self.spec.get("paused") and self.rollback_to() is None:
            self.cleanup(old)
        self.sync_deployment_status([*old, new], new)

    # -- ReplicaSets and revisions -----------------------------------------------------------------

    def find_new_rs(self) -> Obj | None:
        """FindNewReplicaSet: the oldest RS whose template equals ours, ignoring the hash label."""
        for rs in sorted(self.rs_list, key=_created):
            if self.ctl.template_matches(self.d, rs):
                return rs
        return None

    def get_all(self, create: bool) -> tuple[Obj | None, list[Obj]]:
        """getAllReplicaSetsAndSyncRevision: (new RS or None, every old RS)."""
        current = self.find_new_rs()
        uid = current["metadata"]["uid"] if current is not None else None
        old = [rs for rs in sorted(self.rs_list, key=_created) if rs["metadata"]["uid"] != uid]
        return self.get_new_rs(old, create), old

    def set_new_rs_annotations(self, rs: Obj, new_revision: int, exists: bool) -> bool:
        """SetNewReplicaSetAnnotations: copy the Deployment's annotations, raise the revision."""
        annotations = dict(rs["metadata"].get("annotations") or {})
        changed = False
        for k, v in (self.d["metadata"].get("annotations") or {}).items():
            if k not in SKIP_ANNOTATIONS and annotations.get(k) != v:
                annotations[k] = v
                changed = True
        try:
            rolling.revision_of(annotations)
        except ValueError:
            rs["metadata"]["annotations"] = dict(sorted(annotations.items()))
            return False  # upstream gives up on a malformed revision, reporting no change
        annotations, raised = rolling.set_new_rs_revision(annotations, new_revision)
        changed = changed or raised
        if not exists:
            desired, max_replicas = str(self.replicas), str(self.replicas + self.max_surge())
            if (annotations.get(DESIRED_REPLICAS_ANNOTATION) != desired
                    or annotations.get(MAX_REPLICAS_ANNOTATION) != max_replicas):
                annotations[DESIRED_REPLICAS_ANNOTATION] = desired
                annotations[MAX_REPLICAS_ANNOTATION] = max_replicas
                changed = True
        rs["metadata"]["annotations"] = dict(sorted(annotations.items()))
        return changed

    def new_rs_new_replicas(self, all_rss: list[Obj], new: Obj) -> int:
        """NewRSNewReplicas: Recreate goes straight to replicas; RollingUpdate within the surge budget."""
        if not self.rolling_update:
            return self.replicas
        total = sum(spec_replicas(rs) for rs in all_rss)
        return rolling.new_rs_new_replicas(self.replicas, self._ru("maxSurge"), self._ru("maxUnavailable"),
                                           total, spec_replicas(new))

    def get_new_rs(self, old: list[Obj], create: bool) -> Obj | None:
        """getNewReplicaSet: sync the existing new RS's annotations, or create it (with its hash name)."""
        d = self.d
        existing = self.find_new_rs()
        new_revision = rolling.next_revision(rs["metadata"].get("annotations") for rs in old)
        min_ready = int(self.spec.get("minReadySeconds") or 0)
        if existing is not None:
            rs = {**existing, "metadata": dict(existing["metadata"]), "spec": dict(existing["spec"])}
            changed = self.set_new_rs_annotations(rs, new_revision, exists=True)
            if changed or int(rs["spec"].get("minReadySeconds") or 0) != min_ready:
                if min_ready:
                    rs["spec"]["minReadySeconds"] = min_ready
                else:
                    rs["spec"].pop("minReadySeconds", None)
                updated = self.store.update(RS, rs)
                self._refresh(updated)
                return updated
            needs_update = self.set_deployment_revision(
                (rs["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION, ""))
            if self.has_deadline() and get_condition(self.status, "Progressing") is None:
                set_condition(self.status, new_condition("Progressing", "True", FOUND_NEW_RS_REASON,
                                                         f'Found new replica set "{rs["metadata"]["name"]}"',
                                                         self.now_ts))
                needs_update = True
            if needs_update:
                self.update_status()
            return rs
        if not create:
            return None

        md = d["metadata"]
        template = copy.deepcopy(self.spec.get("template") or {})
        collision = self.status.get("collisionCount")
        pod_hash = compute_hash(template, collision)
        tmd = template.setdefault("metadata", {})
        tmd["labels"] = dict(sorted({**(tmd.get("labels") or {}), HASH_LABEL: pod_hash}.items()))
        selector = copy.deepcopy(self.spec.get("selector") or {})
        selector["matchLabels"] = dict(sorted({**(selector.get("matchLabels") or {}),
                                               HASH_LABEL: pod_hash}.items()))
        rs_spec: dict[str, Any] = {"replicas": 0}
        if min_ready:
            rs_spec["minReadySeconds"] = min_ready
        rs_spec["selector"] = selector
        rs_spec["template"] = template
        new_rs: Obj = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{md['name']}-{pod_hash}", "namespace": md.get("namespace"),
                         "labels": dict(tmd["labels"]), "annotations": {},
                         "ownerReferences": [new_controller_ref(d)]},
            "spec": rs_spec,
        }
        count = self.new_rs_new_replicas([*old, new_rs], new_rs)
        rs_spec["replicas"] = count
        self.set_new_rs_annotations(new_rs, new_revision, exists=False)
        already_exists = False
        try:
            created = self.store.create(RS, new_rs)
        except ApiError as e:
            rs_name = new_rs["metadata"]["name"]
            if e.reason == "AlreadyExists":
                found = self.store.get(RS, md.get("namespace"), rs_name)
                if found is None:
                    raise _Retry from None
                ref = controller_ref(found)
                if (ref is None or ref.get("uid") != md["uid"]
                        or not templates_equal_ignoring_hash(self.spec.get("template"), found["spec"].get("template"))):
                    # a hash collision: bump collisionCount and try another name on the next sync
                    self.status["collisionCount"] = int(collision or 0) + 1
                    self.update_status()
                    raise _Retry from None
                created, already_exists = found, True
            elif e.code == 404 and self.store.get("/namespaces", None, md.get("namespace") or "") is None:
                raise _Retry from None
            else:
                msg = f'Failed to create new replica set "{rs_name}": {e.message}'
                if self.has_deadline():
                    set_condition(self.status, new_condition("Progressing", "False", FAILED_RS_CREATE_REASON,
                                                             msg, self.now_ts))
                    self.update_status()
                self.record("Warning", FAILED_RS_CREATE_REASON, msg)
                raise _Retry from None
        self._refresh(created)
        name = created["metadata"]["name"]
        if not already_exists and count > 0:
            self.record("Normal", "ScalingReplicaSet", f"Scaled up replica set {name} from 0 to {count}")
        needs_update = self.set_deployment_revision(str(new_revision))
        if not already_exists and self.has_deadline():
            set_condition(self.status, new_condition("Progressing", "True", NEW_RS_REASON,
                                                     f'Created new replica set "{name}"', self.now_ts))
            needs_update = True
        if needs_update:
            self.update_status()
        return created

    def cleanup(self, old: list[Obj]) -> None:
        """cleanupDeployment: delete the lowest revisions beyond revisionHistoryLimit, if fully scaled down."""
        limit = self.spec.get("revisionHistoryLimit")
        if limit is None or int(limit) == MAX_INT32:
            return
        alive = [rs for rs in old if not rs["metadata"].get("deletionTimestamp")]
        diff = len(alive) - int(limit)
        if diff <= 0:
            return
        alive.sort(key=functools.cmp_to_key(_revision_cmp))
        for rs in alive[:diff]:
            md = rs["metadata"]
            status = rs.get("status") or {}
            if (int(status.get("replicas") or 0) != 0 or spec_replicas(rs) != 0
                    or int(md.get("generation") or 0) > int(status.get("observedGeneration") or 0)):
                continue
            try:
                self.store.delete(RS, md.get("namespace"), md["name"])
            except ApiError as e:
                if e.code != 404:
                    raise

    # -- scaling (sync.go scale) -------------------------------------------------------------------

    def scale(self, new: Obj | None, old: list[Obj]) -> None:
        """Proportional scaling across active ReplicaSets, so a resize mid-rollout keeps the mix."""
        latest = self._find_active_or_latest(new, old)
        if latest is not None:
            if spec_replicas(latest) != self.replicas:
                self.scale_rs_and_record(latest, self.replicas)
            return
        if self._is_saturated(new):
            for rs in _active(old):
                self.scale_rs_and_record(self._current(rs["metadata"]["name"]) or rs, 0)
            return
        if not self.rolling_update:
            return
        all_rss = _active([*old, new])
        allowed = self.replicas + self.max_surge() if self.replicas > 0 else 0
        to_add = allowed - sum(spec_replicas(rs) for rs in all_rss)
        operation = ""
        if to_add > 0:  # ReplicaSetsBySizeNewer: larger first, newer first among equals
            all_rss.sort(key=_created, reverse=True)
            all_rss.sort(key=lambda rs: -spec_replicas(rs))
            operation = "up"
        elif to_add < 0:  # ReplicaSetsBySizeOlder: larger first, older first among equals
            all_rss.sort(key=_created)
            all_rss.sort(key=lambda rs: -spec_replicas(rs))
            operation = "down"
        added = 0
        sizes: dict[str, int] = {}
        for rs in all_rss:
            proportion = self._proportion(rs, to_add, added) if to_add != 0 else 0
            sizes[rs["metadata"]["name"]] = spec_replicas(rs) + proportion
            added += proportion
        for i, rs in enumerate(all_rss):
            name = rs["metadata"]["name"]
            if i == 0 and to_add != 0:
                sizes[name] = max(0, sizes[name] + to_add - added)  # leftovers go to the largest
            self.scale_rs(rs, sizes[name], operation)

    @staticmethod
    def _find_active_or_latest(new: Obj | None, old: list[Obj]) -> Obj | None:
        """FindActiveOrLatest: the only active RS, the newest when none is active, else None."""
        if new is None and not old:
            return None
        newest_first = sorted(old, key=_created, reverse=True)
        active = _active([*newest_first, new])
        if not active:
            return new if new is not None else newest_first[0]
        return active[0] if len(active) == 1 else None

    def _is_saturated(self, rs: Obj | None) -> bool:
        """IsSaturated: the new RS runs all replicas, all available, and was sized for this spec."""
        if rs is None:
            return False
        desired = _int_annotation(rs, DESIRED_REPLICAS_ANNOTATION)
        return (desired is not None and spec_replicas(rs) == self.replicas and desired == self.replicas
                and _status_int(rs, "availableReplicas") == self.replicas)

    def _proportion(self, rs: Obj, to_add: int, added: int) -> int:
        """GetReplicaSetProportion: this RS's share of the resize, bounded by what is left to hand out."""
        if spec_replicas(rs) == 0 or to_add == 0 or to_add == added:
            return 0
        fraction = self._fraction(rs)
        allowed = to_add - added
        return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)

    def _fraction(self, rs: Obj) -> int:
        """getReplicaSetFraction: resize relative to the max-replicas the RS was last sized for."""
        current = spec_replicas(rs)
        if self.replicas == 0:
            return -current
        deployment_max = self.replicas + self.max_surge()
        annotated = _int_annotation(rs, MAX_REPLICAS_ANNOTATION)
        if annotated is None or annotated == 0:
            annotated = int(self.status.get("replicas") or 0)
        if annotated == 0:
            return 0  # upstream would divide by zero here; give this RS nothing and let leftovers settle it
        return _round_half_away(current * deployment_max / annotated) - current

    # -- RollingUpdate (rolling.go) ----------------------------------------------------------------

    def rollout_rolling(self) -> None:
        new, old = self.get_all(create=True)
        if new is None:
            raise _Retry
        all_rss = [*old, new]
        if self.reconcile_new_rs(all_rss, new):
            self.sync_rollout_status(all_rss, new)
            return
        if self.reconcile_old_rss(all_rss, _active(old), new):
            self.sync_rollout_status(all_rss, new)
            return
        if rolling.deployment_complete(self.d, self.status):
            self.cleanup(old)
        self.sync_rollout_status(all_rss, new)

    def reconcile_new_rs(self, all_rss: list[Obj], new: Obj) -> bool:
        """reconcileNewReplicaSet: scale the new RS up within maxSurge (or down to replicas)."""
        if spec_replicas(new) == self.replicas:
            return False
        if spec_replicas(new) > self.replicas:
            return self.scale_rs_and_record(new, self.replicas)[0]
        return self.scale_rs_and_record(new, self.new_rs_new_replicas(all_rss, new))[0]

    def reconcile_old_rss(self, all_rss: list[Obj], old_active: list[Obj], new: Obj) -> bool:
        """reconcileOldReplicaSets: clean up unhealthy old replicas, then scale down within maxUnavailable."""
        if sum(spec_replicas(rs) for rs in old_active) == 0:
            return False
        plan = rolling.reconcile_old_plan(
            self.replicas, self._ru("maxSurge"), self._ru("maxUnavailable"),
            [OldRS(rs["metadata"]["name"], _created(rs)[0], spec_replicas(rs), _status_int(rs, "availableReplicas"))
             for rs in old_active],
            spec_replicas(new), _status_int(new, "availableReplicas"))
        scaled = False
        for name, target in plan:
            rs = self._current(name)
            if rs is not None:
                scaled = self.scale_rs_and_record(rs, target)[0] or scaled
        return scaled

    # -- Recreate (recreate.go) --------------------------------------------------------------------

    def rollout_recreate(self, selector: LabelSelector) -> None:
        new, old = self.get_all(create=False)
        all_rss: list[Obj | None] = [*old, new]
        scaled = False
        for rs in _active(old):
            scaled = self.scale_rs_and_record(rs, 0)[0] or scaled
        if scaled or self._old_pods_running(new, old, selector):
            self.sync_rollout_status(all_rss, new)
            return
        if new is None:
            new, old = self.get_all(create=True)
            if new is None:
                raise _Retry
            all_rss = [*old, new]
        self.scale_rs_and_record(new, self.replicas)
        if rolling.deployment_complete(self.d, self.status):
            self.cleanup(old)
        self.sync_rollout_status(all_rss, new)

    def _old_pods_running(self, new: Obj | None, old: list[Obj], selector: LabelSelector) -> bool:
        """oldPodsRunning: old RSs still report pods, or any non-terminal pod of an old RS exists."""
        if sum(_status_int(rs, "replicas") for rs in old) > 0:
            return True
        new_uid = new["metadata"]["uid"] if new is not None else None
        for rs in self.rs_list:
            uid = rs["metadata"]["uid"]
            if uid == new_uid:
                continue
            for key, pod in self.store.dependents(uid):
                ref = controller_ref(pod)
                if key != PODS or ref is None or ref.get("uid") != uid:
                    continue
                if not selector.matches(pod["metadata"].get("labels")):
                    continue
                if (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded"):
                    return True
        return False

    # -- rollback (legacy rollbackTo annotation) ---------------------------------------------------

    def rollback_to(self) -> int | None:
        """getRollbackTo: the deprecated.deployment.rollback.to revision, if set and numeric."""
        value = (self.d["metadata"].get("annotations") or {}).get(ROLLBACK_TO_ANNOTATION)
        if not value:
            return None
        try:
            return int(value, 10)
        except ValueError:
            return None

    def rollback(self) -> None:
        new, old = self.get_all(create=True)
        all_rss = [rs for rs in [*old, new] if rs is not None]
        revision = self.rollback_to() or 0
        if revision == 0:
            revision = rolling.last_revision(rs["metadata"].get("annotations") for rs in all_rss)
            if revision == 0:
                self.record("Warning", "DeploymentRollbackRevisionNotFound", "Unable to find last revision.")
                self._clear_rollback_to(None)
                return
        for rs in all_rss:
            try:
                if rolling.revision_of(rs["metadata"].get("annotations")) != revision:
                    continue
            except ValueError:
                continue
            if templates_equal_ignoring_hash(self.spec.get("template"), rs["spec"].get("template")):
                self.record("Warning", "DeploymentRollbackTemplateUnchanged",
                            "The rollback revision contains the same template as current deployment "
                            f'"{self.d["metadata"]["name"]}"')
                self._clear_rollback_to(None)
                return
            self._clear_rollback_to(rs)
            self.record("Normal", "DeploymentRollback",
                        f'Rolled back deployment "{self.d["metadata"]["name"]}" to revision {revision}')
            return
        self.record("Warning", "DeploymentRollbackRevisionNotFound", "Unable to find the revision to rollback to.")
        self._clear_rollback_to(None)

    def _clear_rollback_to(self, target: Obj | None) -> None:
        """updateDeploymentAndClearRollbackTo, after SetFromReplicaSetTemplate/SetDeploymentAnnotationsTo."""

        def edit(o: Obj) -> None:
            annotations = dict(o["metadata"].get("annotations") or {})
            if target is not None:
                template = copy.deepcopy(target["spec"].get("template") or {})
                labels = {k: v for k, v in ((template.get("metadata") or {}).get("labels") or {}).items()
                          if k != HASH_LABEL}
                template.setdefault("metadata", {})["labels"] = labels
                o["spec"]["template"] = template
                annotations = {k: v for k, v in annotations.items() if k in SKIP_ANNOTATIONS}
                for k, v in (target["metadata"].get("annotations") or {}).items():
                    if k not in SKIP_ANNOTATIONS:
                        annotations[k] = v
            annotations.pop(ROLLBACK_TO_ANNOTATION, None)
            if annotations:
                o["metadata"]["annotations"] = dict(sorted(annotations.items()))
            else:
                o["metadata"].pop("annotations", None)

        md = self.d["metadata"]
        self.store.mutate(DEPLOY, md.get("namespace"), md["name"], edit)

    # -- status (sync.go calculateStatus, progress.go) ---------------------------------------------

    def calculate_status(self, all_rss: list[Obj | None], new: Obj | None) -> dict[str, Any]:
        rss = [rs for rs in all_rss if rs is not None]
        available = sum(_status_int(rs, "availableReplicas") for rs in rss)
        unavailable = max(0, sum(spec_replicas(rs) for rs in rss) - available)
        status: dict[str, Any] = {
            "observedGeneration": int(self.d["metadata"].get("generation") or 0),
            "replicas": sum(_status_int(rs, "replicas") for rs in rss),
            "updatedReplicas": _status_int(new, "replicas"),
            "readyReplicas": sum(_status_int(rs, "readyReplicas") for rs in rss),
            "availableReplicas": available,
            "unavailableReplicas": unavailable,
            "conditions": copy.deepcopy(self.status.get("conditions") or []),
            "collisionCount": self.status.get("collisionCount"),
        }
        if available >= self.replicas - self.max_unavailable():
            cond = new_condition("Available", "True", MIN_AVAILABLE_REASON,
                                 "Deployment has minimum availability.", self.now_ts)
        else:
            cond = new_condition("Available", "False", MIN_UNAVAILABLE_REASON,
                                 "Deployment does not have minimum availability.", self.now_ts)
        set_condition(status, cond)
        return status

    def _write_if_changed(self, new_status: dict[str, Any]) -> bool:
        if status_json(self.d.get("status")) == status_json(new_status):
            return False
        self.d["status"] = new_status
        self.update_status()
        return True

    def sync_deployment_status(self, all_rss: list[Obj | None], new: Obj | None) -> None:
        """syncDeploymentStatus: counts and Available only (paused, scaling events, deletion)."""
        self._write_if_changed(self.calculate_status(all_rss, new))

    def sync_rollout_status(self, all_rss: list[Obj | None], new: Obj | None) -> None:
        """syncRolloutStatus: counts plus the Progressing condition and the progress deadline."""
        d = self.d
        new_status = self.calculate_status(all_rss, new)
        if not self.has_deadline():
            remove_condition(new_status, "Progressing")
        current = get_condition(self.status, "Progressing")
        complete = (new_status["replicas"] == new_status["updatedReplicas"] and current is not None
                    and current.get("reason") == NEW_RS_AVAILABLE_REASON)
        subject = f'ReplicaSet "{new["metadata"]["name"]}"' if new is not None else \
            f'Deployment "{d["metadata"]["name"]}"'
        if self.has_deadline() and not complete:
            if rolling.deployment_complete(d, new_status):
                set_condition(new_status, new_condition("Progressing", "True", NEW_RS_AVAILABLE_REASON,
                                                        f"{subject} has successfully progressed.", self.now_ts))
            elif rolling.deployment_progressing(d, new_status):
                cond = new_condition("Progressing", "True", RS_UPDATED_REASON, f"{subject} is progressing.",
                                     self.now_ts)
                if current is not None:
                    if current.get("status") == "True":
                        cond["lastTransitionTime"] = current.get("lastTransitionTime")
                    remove_condition(new_status, "Progressing")
                set_condition(new_status, cond)
            elif rolling.deployment_timed_out(d, new_status, self.now):
                set_condition(new_status, new_condition("Progressing", "False", TIMED_OUT_REASON,
                                                        f"{subject} has timed out progressing.", self.now_ts))
        failures = self._replica_failures(all_rss, new)
        if failures:
            set_condition(new_status, failures[0])
        else:
            remove_condition(new_status, "ReplicaFailure")
        if not self._write_if_changed(new_status):
            self._requeue_stuck(new_status)

    @staticmethod
    def _replica_failures(all_rss: list[Obj | None], new: Obj | None) -> list[dict[str, Any]]:
        """getReplicaFailures: the new RS's ReplicaFailure conditions first, else any old RS's."""

        def of(rs: Obj | None) -> list[dict[str, Any]]:
            out = []
            for c in ((rs or {}).get("status") or {}).get("conditions") or ():
                if c.get("type") == "ReplicaFailure":
                    out.append({"type": "ReplicaFailure", "status": c.get("status"),
                                "lastUpdateTime": c.get("lastTransitionTime"),
                                "lastTransitionTime": c.get("lastTransitionTime"),
                                "reason": c.get("reason", ""), "message": c.get("message", "")})
            return out

        return of(new) or [c for rs in all_rss for c in of(rs)]

    def _requeue_stuck(self, new_status: dict[str, Any]) -> None:
        """requeueStuckDeployment: come back when the progress deadline would pass."""
        current = get_condition(self.status, "Progressing")
        if not self.has_deadline() or current is None:
            return
        if rolling.deployment_complete(self.d, new_status) or current.get("reason") == TIMED_OUT_REASON:
            return
        last = current.get("lastUpdateTime")
        since = epoch(last) if last else 0.0
        after = since + int(self.spec["progressDeadlineSeconds"]) - self.now
        self.requeue = max(after, 0.0) + 1.0  # upstream adds a second against clock skew
