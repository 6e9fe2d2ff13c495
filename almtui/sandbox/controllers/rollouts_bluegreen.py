"""The blue-green strategy of the Argo Rollouts controller (``rollout/bluegreen.go``, ``rollout/service.go``,
``utils/replicaset/bluegreen.go``, ``rollout/pause.go``).

The preview Service follows the newest ReplicaSet at once; the active Service is switched only when
the new ReplicaSet is saturated and the pause (``autoPromotionEnabled: false`` or
``autoPromotionSeconds``) is over; the previous ReplicaSet is then scaled down after
``scaleDownDelaySeconds`` (default 30), marked by its ``scale-down-deadline`` annotation.
Pre/post-promotion analyses count as successful (the sandbox runs no AnalysisRuns).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from almtui.sandbox.controllers.replicaset import epoch, spec_replicas
from almtui.sandbox.controllers.rollouts_canary import (
    DEFAULT_SCALE_DOWN_DELAY,
    DESIRED_REPLICAS_ANNOTATION,
    HASH_LABEL,
    SCALE_DOWN_DEADLINE_ANNOTATION,
    annotations_of,
    bluegreen_spec,
    canary_spec,
    count_status,
    pod_hash,
    replicas_of,
    revision_key,
    rs_int,
    spec_of,
    status_of,
)

Obj = dict[str, Any]
MAX_INT32 = 2**31 - 1


def rs_by_hash(rss: list[Obj], h: str) -> Obj | None:
    """GetReplicaSetByTemplateHash."""
    if not h:
        return None
    return next((rs for rs in rss if rs is not None and pod_hash(rs) == h), None)


def service_hash(svc: Mapping | None) -> str:
    """serviceutil.GetRolloutSelectorLabel."""
    if svc is None:
        return ""
    return ((svc.get("spec") or {}).get("selector") or {}).get(HASH_LABEL, "")


def scale_down_delay_seconds(ro: Mapping) -> int:
    """GetScaleDownDelaySecondsOrDefault: blue-green (and traffic-routed canary) only."""
    bg = bluegreen_spec(ro)
    if bg is not None:
        value = bg.get("scaleDownDelaySeconds")
        return DEFAULT_SCALE_DOWN_DELAY if value is None else int(value)
    canary = canary_spec(ro)
    if canary is not None and canary.get("trafficRouting") is not None:
        value = canary.get("scaleDownDelaySeconds")
        return DEFAULT_SCALE_DOWN_DELAY if value is None else int(value)
    return 0


def scale_down_revision_limit(ro: Mapping) -> int:
    """GetScaleDownRevisionLimit."""
    for strategy in (bluegreen_spec(ro), canary_spec(ro)):
        if strategy is not None and strategy.get("scaleDownDelayRevisionLimit") is not None:
            return int(strategy["scaleDownDelayRevisionLimit"])
    return MAX_INT32


def is_saturated(ro: Mapping, rs: Mapping | None) -> bool:
    """annotations.IsSaturated: sized for and fully available at spec.replicas."""
    if rs is None:
        return False
    try:
        desired = int(annotations_of(rs).get(DESIRED_REPLICAS_ANNOTATION, ""))
    except ValueError:
        return False
    replicas = replicas_of(ro)
    return spec_replicas(rs) == replicas and desired == replicas and rs_int(rs, "availableReplicas") == replicas


def needs_controller_pause(ro: Mapping) -> bool:
    """needsBlueGreenControllerPause."""
    bg = bluegreen_spec(ro) or {}
    if bg.get("autoPromotionEnabled") is False:
        return True
    return int(bg.get("autoPromotionSeconds") or 0) > 0


def bg_new_rs_replicas(ro: Mapping, all_rss: list[Obj], new_rs: Mapping) -> int:
    """NewRSNewReplicas for blue-green: spec.replicas, or previewReplicaCount until promotion."""
    desired = replicas_of(ro)
    preview_count = (bluegreen_spec(ro) or {}).get("previewReplicaCount")
    if preview_count is None:
        return desired
    status = status_of(ro)
    active_rs = rs_by_hash(all_rss, (status.get("blueGreen") or {}).get("activeSelector") or "")
    if active_rs is None or active_rs["metadata"]["name"] == new_rs["metadata"]["name"]:
        return desired
    if status.get("promoteFull"):
        return desired
    if pod_hash(new_rs) != (status.get("currentPodHash") or ""):
        return int(preview_count)
    not_paused = not spec_of(ro).get("paused") and not status.get("pauseConditions")
    if not_paused and (status.get("blueGreen") or {}).get("scaleUpPreviewCheckPoint"):
        return desired
    return int(preview_count)


class BlueGreenSync:
    """rolloutBlueGreen and syncRolloutStatusBlueGreen; mixed into ``rollouts._Sync``."""

    # Everything else it calls (sync_revision, persist, scale_rs_and_record ...) lives in rollouts._Sync.
    ro: Obj
    new_rs: Obj | None
    stable_rs: Obj | None
    other_rss: list[Obj]
    all_rss: list[Obj]
    pause: Any
    now: float

    def rollout_blue_green(self) -> None:
        preview = self.service((bluegreen_spec(self.ro) or {}).get("previewService") or "")
        active_svc = self.service((bluegreen_spec(self.ro) or {}).get("activeService") or "")
        self.new_rs = self.sync_revision()
        preview = self.reconcile_preview_service(preview)
        if self.pod_spec_changed():
            self.sync_status_bluegreen(preview, active_svc)
            return
        self.restart_pods()
        self.reconcile_bluegreen_replica_sets(active_svc)
        self.reconcile_bluegreen_pause(active_svc)
        active_svc = self.reconcile_active_service(active_svc)
        self.sync_status_bluegreen(preview, active_svc)

    def reconcile_preview_service(self, preview: Obj | None) -> Obj | None:
        if preview is None or self.halt_progress():
            return preview
        return self.switch_service_selector(preview, pod_hash(self.new_rs))

    def reconcile_active_service(self, active_svc: Obj | None) -> Obj | None:
        """reconcileActiveService: switch to the new ReplicaSet once saturated and the pause is over."""
        if active_svc is None or self.halt_progress() or self.new_rs is None:
            return active_svc
        if not self.ready_for_pause() or not is_saturated(self.ro, self.new_rs):
            return active_svc
        new_hash = service_hash(active_svc)
        if self.fast_tracked(active_svc):
            new_hash = pod_hash(self.new_rs)
        if self.pause.completed_bluegreen_pause(self.now):
            new_hash = pod_hash(self.new_rs)
        if status_of(self.ro).get("abort"):
            new_hash = status_of(self.ro).get("stableRS") or ""
        return self.switch_service_selector(active_svc, new_hash)

    def ready_for_pause(self) -> bool:
        """ReadyForPause: the new RS is sized and fully available."""
        if self.new_rs is None:
            return False
        n = bg_new_rs_replicas(self.ro, self.all_rss, self.new_rs)
        return spec_replicas(self.new_rs) == n and rs_int(self.new_rs, "availableReplicas") == n

    def fast_tracked(self, active_svc: Obj | None) -> bool:
        """isBlueGreenFastTracked: rollback, promote --full, or nothing active to protect yet."""
        if self.is_fast_rollback() or status_of(self.ro).get("promoteFull"):
            return True
        selector = ((active_svc or {}).get("spec") or {}).get("selector") or {}
        if HASH_LABEL not in selector:
            return True
        return selector[HASH_LABEL] == pod_hash(self.new_rs)

    def reconcile_bluegreen_replica_sets(self, active_svc: Obj | None) -> None:
        self.remove_scale_down_deadlines()
        if self.stable_rs is not None:
            self.scale_rs_and_record(self.stable_rs, replicas_of(self.ro))
        self.reconcile_new_rs()
        self.reconcile_other_rss()
        self.reconcile_revision_history_limit(self.other_rss)

    def reconcile_bluegreen_pause(self, active_svc: Obj | None) -> None:
        """reconcileBlueGreenPause: BlueGreenPause once the preview is ready, cleared by promote or timer."""
        if status_of(self.ro).get("abort") or self.new_rs is None:
            return
        if not self.ready_for_pause() or self.halt_progress():
            return
        status = status_of(self.ro)
        if (self.fast_tracked(active_svc) or service_hash(active_svc) == pod_hash(self.new_rs)
                or (status.get("blueGreen") or {}).get("scaleUpPreviewCheckPoint")
                or not needs_controller_pause(self.ro)):
            self.pause.remove("BlueGreenPause")
            return
        cond = self.pause_condition("BlueGreenPause")
        if cond is not None:
            if not self.pause.completed_bluegreen_pause(self.now):
                seconds = int((bluegreen_spec(self.ro) or {}).get("autoPromotionSeconds") or 0)
                if seconds > 0:
                    self.enqueue_during_wait(cond.get("startTime"), seconds)
            else:
                self.pause.remove("BlueGreenPause")
        elif not status.get("controllerPause"):
            self.pause.add("BlueGreenPause")

    def scale_down_old_for_bluegreen(self, old_rss: list[Obj]) -> bool:
        """scaleDownOldReplicaSetsForBlueGreen: old RSs go to 0 once their scale-down deadline passed."""
        if self.pause_condition("InconclusiveAnalysisRun") is not None:
            return False
        scaled = False
        annotated = 0
        replicas = replicas_of(self.ro)
        for rs in sorted(old_rss, key=revision_key, reverse=True):
            if self.rs_referenced(rs) or spec_replicas(rs) == 0:
                continue
            annotated, desired = self.scale_down_delay_helper(rs, annotated, replicas)
            if spec_replicas(rs) == desired:
                continue
            self.scale_rs_and_record(self.fresh(rs), desired)
            scaled = True
        return scaled

    def scale_down_delay_helper(self, rs: Obj, annotated: int, rollout_replicas: int) -> tuple[int, int]:
        """scaleDownDelayHelper: annotate a deadline first, keep the RS up until it passes."""
        desired = 0
        limit = scale_down_revision_limit(self.ro)
        deadline = annotations_of(rs).get(SCALE_DOWN_DEADLINE_ANNOTATION)
        if not deadline and spec_replicas(rs) > 0:
            if annotated < limit:
                annotated += 1
                desired = spec_replicas(rs)
                delay = scale_down_delay_seconds(self.ro)
                self.add_scale_down_delay(rs, delay)
                self.requeue_after(delay)
        elif deadline:
            annotated += 1
            if annotated <= limit:
                remaining = self.time_before_deadline(rs)
                if remaining is not None:
                    self.requeue_after(remaining)
                    desired = rollout_replicas
        return annotated, desired

    def time_before_deadline(self, rs: Mapping | None) -> float | None:
        """GetTimeRemainingBeforeScaleDownDeadline: seconds left, None when absent, passed or malformed."""
        raw = annotations_of(rs).get(SCALE_DOWN_DEADLINE_ANNOTATION)
        if not raw:
            return None
        try:
            at = epoch(raw)
        except ValueError:
            return None
        return at - self.now if at > self.now else None

    def rs_referenced(self, rs: Obj) -> bool:
        """isReplicaSetReferenced: a hash still recorded in status or pinned on a managed Service."""
        h = pod_hash(rs)
        if not h:
            return False
        status = status_of(self.ro)
        bg = status.get("blueGreen") or {}
        if h in (status.get("stableRS"), status.get("currentPodHash"), bg.get("activeSelector"),
                 bg.get("previewSelector")):
            return True
        strategy = bluegreen_spec(self.ro)
        names = ((strategy.get("activeService"), strategy.get("previewService")) if strategy is not None
                 else ((canary_spec(self.ro) or {}).get("canaryService"),
                       (canary_spec(self.ro) or {}).get("stableService")))
        return any(name and service_hash(self.service(name)) == h for name in names)

    def sync_status_bluegreen(self, preview: Obj | None, active_svc: Obj | None) -> None:
        """syncRolloutStatusBlueGreen."""
        status = self.calculate_base_status()
        status["stableRS"] = status_of(self.ro).get("stableRS") or ""
        if self.pod_spec_changed():
            self.reset_status(status)
        if status_of(self.ro).get("promoteFull") or self.rollback_within_window():
            self.pause.clear()
            self.pause.remove_abort()
        bg = status.setdefault("blueGreen", {})
        bg["previewSelector"] = service_hash(preview)
        bg["activeSelector"] = service_hash(active_svc)
        reason = self.should_full_promote(status)
        if reason:
            self.promote_stable(status, reason)
        else:
            bg["scaleUpPreviewCheckPoint"] = self.scale_up_preview_checkpoint()
        active_rs = rs_by_hash(self.all_rss, bg["activeSelector"])
        if active_rs is not None:
            status["HPAReplicas"] = rs_int(active_rs, "replicas")
            status["selector"] = self.selector_string((active_rs.get("spec") or {}).get("selector"))
            status["availableReplicas"] = rs_int(active_rs, "availableReplicas")
            status["readyReplicas"] = rs_int(active_rs, "readyReplicas")
        else:
            status["HPAReplicas"] = count_status(self.all_rss, "replicas")
            status["selector"] = self.spec_selector_string()
            status["availableReplicas"] = count_status(self.all_rss, "availableReplicas")
        self.persist(status)

    def scale_up_preview_checkpoint(self) -> bool:
        """calculateScaleUpPreviewCheckPoint: a one-way trip-wire for previewReplicaCount."""
        preview_count = (bluegreen_spec(self.ro) or {}).get("previewReplicaCount")
        if preview_count is None:
            return False
        if (status_of(self.ro).get("blueGreen") or {}).get("scaleUpPreviewCheckPoint"):
            return True
        if not self.pause.completed_bluegreen_pause(self.now):
            return False
        return int(preview_count) == count_status([self.new_rs], "availableReplicas")

    def bluegreen_abort_scale_down(self, n: int) -> int | None:
        """The abort branch of reconcileNewReplicaSet: keep the preview up until its deadline.

        Returns the replica count to scale to, or None when the new RS must be left alone.
        """
        assert self.new_rs is not None and self.stable_rs is not None
        delay = self.abort_scale_down_delay()
        raw = annotations_of(self.new_rs).get(SCALE_DOWN_DEADLINE_ANNOTATION)
        if raw:
            try:
                at = epoch(raw)
            except ValueError:
                return n
            if at > self.now:
                self.requeue_after(at - self.now)
                self.sync_new_rs_replicas_annotation()
                return None
            return 0
        if delay is not None:
            self.sync_new_rs_replicas_annotation()
            if rs_int(self.stable_rs, "availableReplicas") >= replicas_of(self.ro):
                self.add_scale_down_delay(self.new_rs, delay)
            return None
        return n
