"""The Argo Rollouts controller (``argoproj.io/v1alpha1`` Rollout), after argo-rollouts' ``rollout/``
package: ``controller.go`` (syncHandler), ``context.go``, ``sync.go``, ``replicaset.go``, ``pause.go``,
``restart.go``, ``service.go`` and ``utils/conditions``.

Why so literal: ``kubectl argo rollouts`` (promote, abort, retry, pause, restart, undo, set image,
status) and the console read and write exactly these status fields, conditions, annotations and
events, so the sandbox must react to each of the plugin's patches as the real controller does.
One reconcile is one upstream syncHandler; like upstream it sometimes stops after a write and lets
the resulting watch event bring it back. This module holds the controller and the ReplicaSet,
Service, restart and validation work; the strategies live in ``rollouts_canary.py`` (basic canary,
no traffic routing) and ``rollouts_bluegreen.py``, status and conditions in ``rollouts_status.py``.

Not simulated: traffic routing, AnalysisRuns and Experiments (analysis and experiment steps pass
at once), ephemeral metadata, anti-affinity injection, workloadRef, orphan ReplicaSet adoption,
``status.duration``.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from almtui.kube.hashing import compute_hash, templates_equal_ignoring_hash
from almtui.kube.selectors import label_selector_to_string
from almtui.sandbox.controllers.base import Context, Controller
from almtui.sandbox.controllers.replicaset import (
    Timers,
    controller_ref,
    epoch,
    is_pod_available,
    new_controller_ref,
    selector_of,
    spec_replicas,
)
from almtui.sandbox.controllers.rollouts_bluegreen import (
    BlueGreenSync,
    bg_new_rs_replicas,
    rs_by_hash,
    scale_down_delay_seconds,
)
from almtui.sandbox.controllers.rollouts_canary import (
    DEFAULT_ABORT_SCALE_DOWN_DELAY,
    DEFAULT_MAX_SURGE,
    DEFAULT_MAX_UNAVAILABLE,
    DEFAULT_PROGRESS_DEADLINE,
    DEFAULT_REVISION_HISTORY_LIMIT,
    DESIRED_REPLICAS_ANNOTATION,
    HASH_LABEL,
    MANAGED_BY_ANNOTATION,
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    SCALE_DOWN_DEADLINE_ANNOTATION,
    CanarySync,
    active,
    annotations_of,
    bluegreen_spec,
    calculate_basic_canary,
    canary_spec,
    compute_step_hash,
    count_spec,
    count_status,
    created_key,
    max_revision,
    max_unavailable,
    pause_seconds,
    pod_hash,
    replicas_of,
    revision_of,
    rs_int,
    spec_of,
    status_of,
    steps_of,
)
from almtui.sandbox.controllers.rollouts_status import (
    FAILED_RS_CREATE_REASON,
    FOUND_NEW_RS_REASON,
    INVALID_SPEC_REASON,
    NEW_RS_REASON,
    PauseContext,
    StatusSync,
    get_condition,
    go_quote,
    new_condition,
    remove_condition,
    set_condition,
    status_copy,
    status_json,
)
from almtui.sandbox.errors import ApiError
from almtui.sandbox.store import Obj, WatchEvent, ts

ROLLOUTS = "argoproj.io/rollouts"
RS = "apps/replicasets"
PODS = "/pods"
SERVICES = "/services"
COMPONENT = "rollouts-controller"
RESTART_CHECK_SECONDS = 30.0  # restartPodCheckTime
INVALID_SPEC_REQUEUE = 20.0
SKIP_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration", REVISION_ANNOTATION,
                              REVISION_HISTORY_ANNOTATION, DESIRED_REPLICAS_ANNOTATION,
                              "notified.notifications.argoproj.io"})

# --- the controller -------------------------------------------------------------------------------


def _is_rollout_ref(ref: Mapping | None) -> bool:
    return ref is not None and ref.get("kind") == "Rollout" and str(ref.get("apiVersion", "")).startswith(
        "argoproj.io/")


def _validation_int(value: Any) -> int:
    """validation.getIntOrPercentValue: a valid percentage's number, else IntOrString.IntValue()."""
    if isinstance(value, str):
        text = value[:-1] if value.endswith("%") else value
        try:
            return int(text)
        except ValueError:
            return 0
    return int(value)


def _go_intstr(value: Any) -> str:
    """An intstr.IntOrString value as field.Invalid prints it (%#v)."""
    if isinstance(value, str):
        return f"intstr.IntOrString{{Type:1, IntVal:0, StrVal:{go_quote(value)}}}"
    return f'intstr.IntOrString{{Type:0, IntVal:{int(value)}, StrVal:""}}'


def _service_names(ro: Mapping) -> set[str]:
    names = set()
    for strategy, keys in ((canary_spec(ro), ("canaryService", "stableService")),
                           (bluegreen_spec(ro), ("activeService", "previewService"))):
        for k in keys:
            if strategy is not None and strategy.get(k):
                names.add(strategy[k])
    return names


class RolloutController(Controller):
    """Reconciles Rollouts into ReplicaSets and Service selectors, as argo-rollouts' rollout controller."""

    name = COMPONENT
    watches = (ROLLOUTS, RS, SERVICES)

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self._timers = Timers(ctx)
        self._services: dict[tuple[str, str], set[str]] = {}  # (ns, service) -> rollouts naming it
        self._seen: dict[Hashable, str] = {}  # key -> uid announced with RolloutAddedToInformer

    def _index(self, ev: WatchEvent) -> None:
        ns = ev.obj["metadata"].get("namespace", "")
        name = ev.obj["metadata"]["name"]
        for src, add in ((ev.old, False), (ev.obj, ev.type != "DELETED")):
            if src is None:
                continue
            for svc in _service_names(src):
                names = self._services.setdefault((ns, svc), set())
                if add:
                    names.add(name)
                else:
                    names.discard(name)

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        md = ev.obj["metadata"]
        ns = md.get("namespace", "")
        if ev.key == ROLLOUTS:
            self._index(ev)
            yield (ns, md["name"])
        elif ev.key == RS:
            ref, old_ref = controller_ref(ev.obj), controller_ref(ev.old)
            if _is_rollout_ref(ref):
                yield (ns, ref["name"])
            if _is_rollout_ref(old_ref) and (ref is None or old_ref.get("uid") != ref.get("uid")):
                yield (ns, old_ref["name"])
        elif ev.key == SERVICES:
            for name in sorted(self._services.get((ns, md["name"]), ())):
                yield (ns, name)

    def reconcile(self, key: Any) -> float | None:
        ns, name = key
        stored = self.store.get(ROLLOUTS, ns, name)
        if stored is None:
            self._timers.forget(key)
            self._seen.pop(key, None)
            return None
        uid = stored["metadata"].get("uid", "")
        if self._seen.get(key) != uid:
            self._seen[key] = uid
            self.ctx.events.record(stored, "Normal", "RolloutAddedToInformer",
                                   f"Rollout resource added to informer: {ns}/{name}", COMPONENT)
        if stored["metadata"].get("deletionTimestamp"):
            return None
        if spec_of(stored).get("replicas") is None:
            # "Defaulting .spec.replica to 1": HPA needs the field, so upstream writes it back.
            self.store.mutate(ROLLOUTS, ns, name, lambda o: o.setdefault("spec", {}).__setitem__("replicas", 1))
            return None
        sync = _Sync(self, stored)
        sync.run()
        return self._timers.after(key, sync.requeue)


class _Sync(CanarySync, BlueGreenSync, StatusSync):
    """One syncHandler/rolloutContext. ``ro`` is upstream's ``c.rollout``: the stored object, never edited
    in place (status changes are built on copies, written, and the stored result read back)."""

    def __init__(self, ctl: RolloutController, stored: Obj) -> None:
        self.ctl = ctl
        self.store = ctl.store
        self.ro = stored  # stored objects are immutable: every change is written, then re-read
        self.now = ctl.ctx.now()
        self.now_ts = ts(ctl.ctx.clock.now())
        self.requeue: float | None = None
        self.restarted_at = status_of(self.ro).get("restartedAt")
        self.pause = PauseContext(self.ro, self.now_ts)
        self.all_rss = self._owned_replica_sets()
        self.new_rs = self._find_new_rs()
        self._resolve()
        self.new_rs_within_delay = self.new_rs is not None and self.time_before_deadline(self.new_rs) is not None

    # -- plumbing ----------------------------------------------------------------------------------

    @property
    def ns(self) -> str:
        return self.ro["metadata"].get("namespace", "")

    @property
    def name(self) -> str:
        return self.ro["metadata"]["name"]

    def record(self, type_: str, reason: str, message: str) -> None:
        self.ctl.ctx.events.record(self.ro, type_, reason, message, COMPONENT)

    def requeue_after(self, seconds: float) -> None:
        """enqueueRolloutAfter; a hair late so that strict "after" comparisons hold at the timer."""
        seconds = max(0.0, seconds) + 0.01
        self.requeue = seconds if self.requeue is None else min(self.requeue, seconds)

    def enqueue_during_wait(self, start: str | None, seconds: int) -> None:
        """checkEnqueueRolloutDuringWait."""
        if not start:
            return
        expires = epoch(start) + seconds
        if expires > self.now:
            self.requeue_after(expires - self.now)

    def pause_condition(self, reason: str) -> dict | None:
        return self.pause.condition(reason)

    def halt_progress(self) -> str:
        """haltProgress."""
        if spec_of(self.ro).get("paused"):
            return "user paused"
        if self.pause_condition("InconclusiveAnalysisRun") is not None:
            return "inconclusive analysis"
        return ""

    def selector_string(self, sel: Mapping | None) -> str:
        """metav1.FormatLabelSelector."""
        try:
            text = label_selector_to_string(sel)
        except ValueError:
            return "<error>"
        return text or "<none>"

    def spec_selector_string(self) -> str:
        return self.selector_string(spec_of(self.ro).get("selector"))

    def service(self, name: str) -> Obj | None:
        if not name:
            return None
        return self.store.must_get(SERVICES, self.ns, name)

    # -- ReplicaSets -------------------------------------------------------------------------------

    def _owned_replica_sets(self) -> list[Obj]:
        """getReplicaSetsForRollouts: the RSs this Rollout controls that still match its selector."""
        uid = self.ro["metadata"]["uid"]
        selector = selector_of(self.ro)
        out = []
        for key, rs in self.store.dependents(uid):
            ref = controller_ref(rs)
            if key != RS or ref is None or ref.get("uid") != uid:
                continue
            if selector is not None and selector.matches(rs["metadata"].get("labels")):
                out.append(rs)
        return sorted(out, key=created_key)

    def _find_new_rs(self) -> Obj | None:
        """FindNewReplicaSet: by the template hash label, else the oldest RS with an equal template."""
        template = spec_of(self.ro).get("template") or {}
        h = compute_hash(template, status_of(self.ro).get("collisionCount"))
        for rs in self.all_rss:
            if pod_hash(rs) == h:
                return rs
        for rs in self.all_rss:
            if templates_equal_ignoring_hash((rs.get("spec") or {}).get("template"), template):
                return rs
        return None

    def _resolve(self) -> None:
        """olderRSs, stableRS (GetStableRS) and otherRSs around the new RS."""
        new_uid = self.new_rs["metadata"]["uid"] if self.new_rs is not None else None
        self.older_rss = [rs for rs in self.all_rss if rs["metadata"]["uid"] != new_uid]
        stable = status_of(self.ro).get("stableRS") or ""
        self.stable_rs = None
        if stable:
            if self.new_rs is not None and pod_hash(self.new_rs) == stable:
                self.stable_rs = self.new_rs
            else:
                self.stable_rs = next((rs for rs in self.all_rss if pod_hash(rs) == stable), None)
        skip = {rs["metadata"]["name"] for rs in (self.new_rs, self.stable_rs) if rs is not None}
        self.other_rss = [rs for rs in self.all_rss if rs["metadata"]["name"] not in skip]

    def _replace(self, rs: Obj) -> Obj:
        """Keep every reference to an RS we just wrote current."""
        uid = rs["metadata"]["uid"]

        def swap(items: list[Obj]) -> list[Obj]:
            return [rs if x["metadata"]["uid"] == uid else x for x in items]

        self.all_rss, self.older_rss, self.other_rss = swap(self.all_rss), swap(self.older_rss), swap(self.other_rss)
        if self.new_rs is not None and self.new_rs["metadata"]["uid"] == uid:
            self.new_rs = rs
        if self.stable_rs is not None and self.stable_rs["metadata"]["uid"] == uid:
            self.stable_rs = rs
        return rs

    def fresh(self, rs: Obj) -> Obj:
        return next((x for x in self.all_rss if x["metadata"]["uid"] == rs["metadata"]["uid"]), rs)

    def _mutate_rs(self, rs: Obj, fn: Any) -> Obj:
        md = rs["metadata"]
        updated = self.store.mutate(RS, md.get("namespace"), md["name"], fn)
        if updated is None:
            raise ApiError(404, "NotFound", f'replicasets.apps "{md["name"]}" not found')
        return self._replace(updated)

    def _new_rs_annotations(self, annotations: Mapping, new_revision: int, exists: bool) -> tuple[dict, bool]:
        """SetNewReplicaSetAnnotations: copy the Rollout's annotations, raise the revision."""
        ann = dict(annotations)
        changed = False
        for k, v in annotations_of(self.ro).items():
            if k not in SKIP_ANNOTATIONS and ann.get(k) != v:
                ann[k] = v
                changed = True
        had_revision = REVISION_ANNOTATION in ann
        old = ann.get(REVISION_ANNOTATION, "")
        try:
            old_int = int(old) if old != "" else 0
        except ValueError:
            return ann, False
        if old_int < new_revision:
            ann[REVISION_ANNOTATION] = str(new_revision)
            changed = True
        if had_revision and changed:
            history = ann.get(REVISION_HISTORY_ANNOTATION, "")
            ann[REVISION_HISTORY_ANNOTATION] = old if not history.split(",")[0] else f"{history},{old}"
        if not exists and ann.get(DESIRED_REPLICAS_ANNOTATION) != str(replicas_of(self.ro)):
            ann[DESIRED_REPLICAS_ANNOTATION] = str(replicas_of(self.ro))
            changed = True
        return ann, changed

    def sync_revision(self) -> Obj | None:
        """syncReplicaSetRevision: raise the new RS's revision, mirror it on the Rollout."""
        if self.new_rs is None:
            return None
        new_revision = max_revision(self.older_rss) + 1
        ann, updated = self._new_rs_annotations(annotations_of(self.new_rs), new_revision, True)
        min_ready = int(spec_of(self.ro).get("minReadySeconds") or 0)
        if updated or int((self.new_rs.get("spec") or {}).get("minReadySeconds") or 0) != min_ready:
            def edit(o: Obj) -> None:
                o["metadata"]["annotations"] = dict(sorted(ann.items()))
                if min_ready:
                    o["spec"]["minReadySeconds"] = min_ready
                else:
                    o["spec"].pop("minReadySeconds", None)
            return self._mutate_rs(self.new_rs, edit)
        self.set_rollout_revision(ann.get(REVISION_ANNOTATION, ""))
        if get_condition(status_of(self.ro), "Progressing") is None:
            status = status_copy(self.ro)
            set_condition(status, new_condition("Progressing", "True", FOUND_NEW_RS_REASON,
                                                f"Found new replica set {go_quote(self.new_rs['metadata']['name'])}",
                                                self.now_ts))
            self.update_status(status)
        return self.new_rs

    def set_rollout_revision(self, revision: str) -> None:
        """SetRolloutRevision + Update, with the RolloutUpdated event."""
        if annotations_of(self.ro).get(REVISION_ANNOTATION) == revision:
            return

        def edit(o: Obj) -> None:
            ann = dict(o["metadata"].get("annotations") or {})
            ann[REVISION_ANNOTATION] = revision
            o["metadata"]["annotations"] = dict(sorted(ann.items()))

        updated = self.store.mutate(ROLLOUTS, self.ns, self.name, edit)
        if updated is not None:
            self.ro = updated
        self.record("Normal", "RolloutUpdated", f"Rollout updated to revision {revision}")

    def create_desired_rs(self) -> None:
        """createDesiredReplicaSet: <rollout>-<hash>, 0 replicas, revision max+1, pinned by the hash label."""
        spec = spec_of(self.ro)
        new_revision = max_revision(self.older_rss) + 1
        template = copy.deepcopy(spec.get("template") or {})
        h = compute_hash(spec.get("template") or {}, status_of(self.ro).get("collisionCount"))
        tmd = template.setdefault("metadata", {})
        tmd["labels"] = {**(tmd.get("labels") or {}), HASH_LABEL: h}
        selector = copy.deepcopy(spec.get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: h}
        ann, _ = self._new_rs_annotations({}, new_revision, False)
        rs_spec: dict[str, Any] = {"replicas": 0}
        if spec.get("minReadySeconds"):
            rs_spec["minReadySeconds"] = int(spec["minReadySeconds"])
        rs_spec.update({"selector": selector, "template": template})
        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": f"{self.name}-{h}", "namespace": self.ns, "labels": dict(tmd["labels"]),
                           "annotations": dict(sorted(ann.items())),
                           "ownerReferences": [new_controller_ref(self.ro)]},
              "spec": rs_spec}
        exists = False
        try:
            created = self.store.create(RS, rs)
        except ApiError as e:
            if e.code == 409 and e.reason == "AlreadyExists":
                found = self.store.get(RS, self.ns, rs["metadata"]["name"])
                ref = controller_ref(found)
                if (found is not None and ref is not None and ref.get("uid") == self.ro["metadata"]["uid"]
                        and templates_equal_ignoring_hash(found["spec"].get("template"), spec.get("template"))):
                    created, exists = found, True
                else:
                    status = status_copy(self.ro)
                    status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
                    self.update_status(status)
                    return
            else:
                msg = f"Failed to create new replica set {go_quote(rs['metadata']['name'])}: {e.message}"
                self.record("Warning", FAILED_RS_CREATE_REASON, msg)
                self.patch_condition(status_copy(self.ro),
                                     [new_condition("Progressing", "False", FAILED_RS_CREATE_REASON, msg,
                                                    self.now_ts)])
                self.requeue_after(5.0)
                return
        self.set_rollout_revision(str(new_revision))
        if not exists:
            name = created["metadata"]["name"]
            self.record("Normal", NEW_RS_REASON, f"Created ReplicaSet {name} (revision {new_revision})")
            status = status_copy(self.ro)
            set_condition(status, new_condition("Progressing", "True", NEW_RS_REASON,
                                                f"Created new replica set {go_quote(name)}", self.now_ts))
            self.update_status(status)

    def replicas_annotation_stale(self, rs: Obj) -> bool:
        """ReplicasAnnotationsNeedUpdate."""
        ann = annotations_of(rs)
        desired = replicas_of(self.ro)
        if ann.get(DESIRED_REPLICAS_ANNOTATION) != str(desired):
            return True
        return desired == 0 and bool(ann.get(SCALE_DOWN_DEADLINE_ANNOTATION))

    def scale_rs_and_record(self, rs: Obj | None, n: int) -> tuple[bool, Obj | None]:
        """scaleReplicaSetAndRecordEvent."""
        if rs is None:
            return False, None
        rs = self.fresh(rs)
        if spec_replicas(rs) == n and not self.replicas_annotation_stale(rs):
            return False, rs
        old = spec_replicas(rs)
        size_changed = old != n
        drop_deadline = n == 0 and not self.should_delay_scale_down_on_abort()
        desired = str(replicas_of(self.ro))

        def edit(o: Obj) -> None:
            o["spec"]["replicas"] = n
            ann = {**(o["metadata"].get("annotations") or {}), DESIRED_REPLICAS_ANNOTATION: desired}
            if drop_deadline:
                ann.pop(SCALE_DOWN_DEADLINE_ANNOTATION, None)
            o["metadata"]["annotations"] = dict(sorted(ann.items()))

        updated = self._mutate_rs(rs, edit)
        if size_changed:
            try:
                revision = revision_of(updated)
            except ValueError:
                revision = 0
            op = "up" if old < n else "down"
            self.record("Normal", "ScalingReplicaSet",
                        f"Scaled {op} ReplicaSet {updated['metadata']['name']} (revision {revision}) "
                        f"from {old} to {n}")
        return size_changed, updated

    def sync_new_rs_replicas_annotation(self) -> None:
        if self.new_rs is not None and self.replicas_annotation_stale(self.new_rs):
            self.scale_rs_and_record(self.new_rs, spec_replicas(self.new_rs))

    def add_scale_down_delay(self, rs: Obj, seconds: float) -> None:
        """addScaleDownDelay: the scale-down-deadline annotation (removed again when the delay is 0)."""
        if seconds == 0:
            self.remove_scale_down_delay(rs)
            return
        deadline = ts(datetime.fromtimestamp(self.now + seconds, tz=UTC))

        def edit(o: Obj) -> None:
            o["metadata"]["annotations"] = {**(o["metadata"].get("annotations") or {}),
                                            SCALE_DOWN_DEADLINE_ANNOTATION: deadline}

        self._mutate_rs(rs, edit)

    def remove_scale_down_delay(self, rs: Obj | None) -> None:
        if rs is None or not annotations_of(rs).get(SCALE_DOWN_DEADLINE_ANNOTATION):
            return

        def edit(o: Obj) -> None:
            ann = dict(o["metadata"].get("annotations") or {})
            ann.pop(SCALE_DOWN_DEADLINE_ANNOTATION, None)
            o["metadata"]["annotations"] = ann

        self._mutate_rs(rs, edit)

    def remove_scale_down_deadlines(self) -> None:
        """removeScaleDownDeadlines: new and stable RSs must not be scaled down by an old deadline."""
        targets: list[Obj] = []
        if self.new_rs is not None and not self.should_delay_scale_down_on_abort():
            targets.append(self.new_rs)
        stable = self.stable_rs
        if stable is not None and (not targets or stable["metadata"]["name"] != targets[0]["metadata"]["name"]):
            targets.append(stable)
        for rs in targets:
            self.remove_scale_down_delay(self.fresh(rs))

    def abort_scale_down_delay(self) -> float | None:
        """GetAbortScaleDownDelaySecondsOrDefault: None means "leave it up" (an explicit 0)."""
        strategy = bluegreen_spec(self.ro)
        if strategy is None:
            canary = canary_spec(self.ro)
            if canary is None or canary.get("trafficRouting") is None:
                return 0.0
            strategy = canary
        value = strategy.get("abortScaleDownDelaySeconds")
        if value is None:
            return float(DEFAULT_ABORT_SCALE_DOWN_DELAY)
        return None if int(value) == 0 else float(value)

    def should_delay_scale_down_on_abort(self) -> bool:
        """shouldDelayScaleDownOnAbort: blue-green (or traffic-routed canary) aborts keep the new RS a while."""
        if not self.pause.is_aborted() or self.stable_rs is None:
            return False
        canary = canary_spec(self.ro)
        if canary is not None and canary.get("trafficRouting") is None:
            return False
        return self.abort_scale_down_delay() is not None

    def new_rs_new_replicas(self) -> int:
        """NewRSNewReplicas."""
        assert self.new_rs is not None
        if bluegreen_spec(self.ro) is not None:
            return bg_new_rs_replicas(self.ro, self.all_rss, self.new_rs)
        return calculate_basic_canary(self.ro, self.new_rs, self.stable_rs, self.other_rss)[0]

    def reconcile_new_rs(self) -> bool:
        """reconcileNewReplicaSet."""
        if self.new_rs is None:
            return False
        n = self.new_rs_new_replicas()
        if self.should_delay_scale_down_on_abort():
            target = self.bluegreen_abort_scale_down(n)
            if target is None:
                return False
            n = target
        return self.scale_rs_and_record(self.new_rs, n)[0]

    def reconcile_other_rss(self) -> bool:
        """reconcileOtherReplicaSets: scale down RSs that are neither new nor stable."""
        others = active(self.other_rss)
        if count_spec(others) == 0:
            return False
        if canary_spec(self.ro) is not None:
            return self.scale_down_old_for_canary(list(others)) > 0
        return self.scale_down_old_for_bluegreen(list(others))

    def cleanup_unhealthy(self, old_rss: list[Obj]) -> tuple[list[Obj], int]:
        """cleanupUnhealthyReplicas: scale old RSs down to their available replicas first."""
        out, total = [], 0
        for rs in sorted(old_rss, key=created_key):
            if spec_replicas(rs) == 0 or spec_replicas(rs) == rs_int(rs, "availableReplicas"):
                out.append(rs)
                continue
            available = rs_int(rs, "availableReplicas")
            total += spec_replicas(rs) - available
            _, updated = self.scale_rs_and_record(rs, available)
            out.append(updated or rs)
        return out, total

    def reconcile_revision_history_limit(self, old_rss: list[Obj]) -> None:
        """reconcileRevisionHistoryLimit: delete the oldest scaled-down RSs beyond the limit."""
        limit = spec_of(self.ro).get("revisionHistoryLimit")
        limit = DEFAULT_REVISION_HISTORY_LIMIT if limit is None else int(limit)
        cleanable = sorted((rs for rs in old_rss if not rs["metadata"].get("deletionTimestamp")), key=created_key)
        for rs in cleanable[:max(0, len(cleanable) - limit)]:
            generation = int(rs["metadata"].get("generation") or 0)
            if (rs_int(rs, "replicas") != 0 or spec_replicas(rs) != 0
                    or generation > rs_int(rs, "observedGeneration")):
                continue
            try:
                self.store.delete(RS, self.ns, rs["metadata"]["name"])
            except ApiError as e:
                if e.code != 404:
                    raise

    # -- services ----------------------------------------------------------------------------------

    def switch_service_selector(self, svc: Obj, new_hash: str) -> Obj:
        """switchServiceSelector: pin the Service on a pod hash (and mark it managed by this Rollout)."""
        selector = (svc.get("spec") or {}).get("selector") or {}
        managed = MANAGED_BY_ANNOTATION in annotations_of(svc)
        old = selector.get(HASH_LABEL)
        if old is not None and old == new_hash and managed:
            return svc
        name = self.name

        def edit(o: Obj) -> None:
            if MANAGED_BY_ANNOTATION not in (o["metadata"].get("annotations") or {}):
                o["metadata"]["annotations"] = {**(o["metadata"].get("annotations") or {}),
                                                MANAGED_BY_ANNOTATION: name}
            o.setdefault("spec", {})["selector"] = {**(o["spec"].get("selector") or {}), HASH_LABEL: new_hash}

        md = svc["metadata"]
        updated = self.store.mutate(SERVICES, md.get("namespace"), md["name"], edit)
        self.record("Normal", "SwitchService",
                    f"Switched selector for service '{md['name']}' from '{old or ''}' to '{new_hash}'")
        return updated if updated is not None else svc

    def ensure_svc_targets(self, name: str, rs: Obj | None, check: bool) -> None:
        """ensureSVCTargets: switch only to an available RS (fully, when adopting the Service)."""
        if rs is None or not name:
            return
        svc = self.service(name)
        assert svc is not None
        want = pod_hash(rs)
        if ((svc.get("spec") or {}).get("selector") or {}).get(HASH_LABEL) == want:
            return
        if MANAGED_BY_ANNOTATION not in annotations_of(svc) and check:
            replicas, available = spec_replicas(rs), rs_int(rs, "availableReplicas")
            if not (replicas != 0 and available != 0 and replicas <= available):
                return
        if check and rs_int(rs, "availableReplicas") <= 0:
            return
        self.switch_service_selector(svc, want)

    # -- validation --------------------------------------------------------------------------------

    def validation_error(self) -> str | None:
        """The first error of ValidateRollout / ValidateRolloutReferencedResources that the sandbox checks."""
        spec = spec_of(self.ro)
        ref = spec.get("workloadRef")
        if ref is not None:  # sandbox limitation: the template is never resolved from a workload
            target = go_quote(f"{ref.get('kind', '')}/{ref.get('name', '')}")
            return f"spec.workloadRef: Invalid value: {target}: workloadRef is not supported by the sandbox"
        deadline = spec.get("progressDeadlineSeconds")
        deadline = DEFAULT_PROGRESS_DEADLINE if deadline is None else int(deadline)
        if deadline <= int(spec.get("minReadySeconds") or 0):
            return f"spec.progressDeadlineSeconds: Invalid value: {deadline}: must be greater than minReadySeconds"
        bg, canary = bluegreen_spec(self.ro), canary_spec(self.ro)
        if bg is None and canary is None:
            return ("spec.strategy: Required value: Rollout has missing field "
                    "'.spec.strategy.canary or .spec.strategy.blueGreen'")
        if bg is not None and canary is not None:
            return 'spec.strategy: Invalid value: "blueGreen: true canary: true": Multiple Strategies can not be listed'
        if bg is not None and (bg.get("activeService") or "") == (bg.get("previewService") or ""):
            return (f"spec.strategy.activeService: Invalid value: {go_quote(bg.get('activeService') or '')}: "
                    "This rollout uses the same service for the active and preview services, "
                    "but two different services are required.")
        if canary is not None:
            surge = canary.get("maxSurge")
            unavailable = canary.get("maxUnavailable")
            if (_validation_int(DEFAULT_MAX_SURGE if surge is None else surge) == 0
                    and _validation_int(DEFAULT_MAX_UNAVAILABLE if unavailable is None else unavailable) == 0):
                return (f"spec.strategy.maxSurge: Invalid value: {_go_intstr(surge)}: "
                        "MaxSurge and MaxUnavailable both can not be zero")
            if canary.get("canaryService") and canary.get("canaryService") == canary.get("stableService"):
                return (f"spec.strategy.stableService: Invalid value: {go_quote(canary['stableService'])}: "
                        "This rollout uses the same service for the stable and canary services, "
                        "but two different services are required.")
            if canary.get("trafficRouting") is None and canary.get("scaleDownDelaySeconds") is not None:
                return (f"spec.strategy.scaleDownDelaySeconds: Invalid value: {int(canary['scaleDownDelaySeconds'])}"
                        ": Canary scaleDownDelaySeconds can only be used with traffic routing")
            for i, step in enumerate(steps_of(self.ro)):
                if step.get("pause") is not None and pause_seconds(step["pause"] or {}) < 0:
                    return (f"spec.strategy.steps[{i}].pause.duration: Invalid value: -1: "
                            "Duration needs to be greater than 0")
                if step.get("setCanaryScale") is not None and canary.get("trafficRouting") is None:
                    return ("spec.strategy.trafficRouting: Required value: "
                            "SetCanaryScale requires TrafficRouting to be set")
        return self._service_error()

    def _service_error(self) -> str | None:
        bg, canary = bluegreen_spec(self.ro), canary_spec(self.ro)
        refs = ([("blueGreen", "activeService"), ("blueGreen", "previewService")] if bg is not None
                else [("canary", "stableService"), ("canary", "canaryService")])
        strategy = bg if bg is not None else canary
        labels = ((spec_of(self.ro).get("template") or {}).get("metadata") or {}).get("labels") or {}
        for group, field in refs:
            name = (strategy or {}).get(field) or ""
            if not name:
                continue
            path = f"spec.strategy.{group}.{field}"
            svc = self.store.get(SERVICES, self.ns, name)
            if svc is None:
                return f'{path}: Invalid value: {go_quote(name)}: service {go_quote(name)} not found'
            for k, v in sorted(((svc.get("spec") or {}).get("selector") or {}).items()):
                if k != HASH_LABEL and labels.get(k) != v:
                    return (f"{path}: Invalid value: {go_quote(name)}: "
                            f"Service {go_quote(name)} has unmatch label {go_quote(k)} in rollout")
            owner = annotations_of(svc).get(MANAGED_BY_ANNOTATION)
            if owner is not None and owner != self.name:
                return (f"{path}: Invalid value: {go_quote(name)}: "
                        f"Service {go_quote(name)} is managed by another Rollout")
        return None

    def report_invalid(self, error: str) -> None:
        """createInvalidRolloutCondition: InvalidSpec condition, Degraded phase."""
        status = status_copy(self.ro)
        message = f"The Rollout {go_quote(self.name)} is invalid: {error}"
        prev = get_condition(status, INVALID_SPEC_REASON)
        cond = prev
        if prev is None or prev.get("message") != message:
            cond = new_condition(INVALID_SPEC_REASON, "True", INVALID_SPEC_REASON, message, self.now_ts)
        if str(status.get("observedGeneration") or "") != self._generation() or cond is not prev:
            if prev is not None and cond is not prev:
                remove_condition(status, INVALID_SPEC_REASON)
            self.patch_condition(status, [cond] if cond is not None else [])
        self.requeue_after(INVALID_SPEC_REQUEUE)

    # -- the sync --------------------------------------------------------------------------------

    def run(self) -> None:
        error = self.validation_error()
        if error is not None:
            self.report_invalid(error)
            return
        if self.new_rs is None:
            self.create_desired_rs()
            return
        if status_of(self.ro).get("stableRS") == status_of(self.ro).get("currentPodHash") and self.pause.is_aborted():
            self.pause.remove_abort()  # "Removing abort condition from fully promoted rollout"
        if self.check_paused_conditions():
            return
        if self.is_scaling_event():
            self.sync_replicas_only()
            return
        if bluegreen_spec(self.ro) is not None:
            self.rollout_blue_green()
        else:
            self.rollout_canary()

    def is_scaling_event(self) -> bool:
        """isScalingEvent: the new or stable RS was sized for another spec.replicas."""
        self.new_rs = self.sync_revision()
        for rs in active([self.new_rs, self.stable_rs]):
            try:
                desired = int(annotations_of(rs)[DESIRED_REPLICAS_ANNOTATION])
            except (KeyError, ValueError):
                continue
            if desired != replicas_of(self.ro):
                return True
        return False

    def sync_replicas_only(self) -> None:
        """syncReplicasOnly: resize on a scaling event (HPA, /scale) without moving through steps."""
        self.new_rs = self.sync_revision()
        status = status_copy(self.ro)
        status["blueGreen"] = dict(status.get("blueGreen") or {})
        if bluegreen_spec(self.ro) is not None:
            active_svc = self.service((bluegreen_spec(self.ro) or {}).get("activeService") or "")
            self.reconcile_bluegreen_replica_sets(active_svc)
            active_rs = rs_by_hash(self.all_rss, (status.get("blueGreen") or {}).get("activeSelector") or "")
            rss = [active_rs] if active_rs is not None else self.all_rss
            status["HPAReplicas"] = count_status(rss, "replicas")
            status["availableReplicas"] = count_status(rss, "availableReplicas")
        else:
            self.reconcile_canary_replica_sets()
            status["availableReplicas"] = count_status(self.all_rss, "availableReplicas")
            status["HPAReplicas"] = count_status(self.all_rss, "replicas")
        self.persist(status)

    # -- restarts (rollout/restart.go) -------------------------------------------------------------

    def restart_pods(self) -> int:
        """RolloutPodRestarter.Reconcile: evict pods older than spec.restartAt, within maxUnavailable."""
        restart_at = spec_of(self.ro).get("restartAt")
        if not restart_at:
            return 0
        try:
            at = epoch(restart_at)
        except ValueError:
            return 0  # the CRD schema (format: date-time) would have refused it
        if at >= self.now:
            self.requeue_after(at - self.now)
            return 0
        if status_of(self.ro).get("restartedAt") and epoch(status_of(self.ro)["restartedAt"]) == at:
            return 0
        uids = {rs["metadata"]["uid"] for rs in self.all_rss}
        pods = sorted((pod for uid in uids for key, pod in self.store.dependents(uid) if key == PODS),
                      key=lambda p: p["metadata"]["name"])
        min_ready = int(spec_of(self.ro).get("minReadySeconds") or 0)
        available = sum(1 for p in pods if is_pod_available(p, min_ready, self.now)
                        and not p["metadata"].get("deletionTimestamp"))
        replicas = replicas_of(self.ro)
        budget = available - (max(replicas, count_spec(self.all_rss)) - max(max_unavailable(self.ro), 1))
        needs = restarted = 0
        for pod in pods:
            md = pod["metadata"]
            if epoch(md["creationTimestamp"]) >= at:
                continue
            needs += 1
            if budget <= 0 or md.get("deletionTimestamp"):
                continue
            try:
                self.store.delete(PODS, md.get("namespace"), md["name"])
            except ApiError as e:
                if e.code == 404:
                    continue
                raise
            budget -= 1
            restarted += 1
        if needs - restarted != 0:
            self.requeue_after(RESTART_CHECK_SECONDS)
        else:
            self.restarted_at = restart_at
        return restarted

def promote_full(store: Any, namespace: str, name: str) -> None:
    """What ``kubectl argo rollouts promote --full`` sends: unpause, then ``status.promoteFull``.

    For scenario history: call it once the controller has observed the new template (a status
    reset on a template change clears promoteFull again).
    """
    ro = store.get(ROLLOUTS, namespace, name)
    if ro is None:
        return
    if spec_of(ro).get("paused"):
        store.mutate(ROLLOUTS, namespace, name, lambda o: o["spec"].__setitem__("paused", False))
    status = status_of(ro)
    if status.get("currentPodHash") != status.get("stableRS"):
        store.mutate(ROLLOUTS, namespace, name, lambda o: o.setdefault("status", {}).__setitem__("promoteFull", True),
                     subresource="status")


# Names the scenario runtime and tests use.
__all__ = ["COMPONENT", "PauseContext", "RolloutController", "compute_step_hash", "promote_full",
           "scale_down_delay_seconds", "status_json"]
