"""Argo Rollouts' replica arithmetic and the basic (no traffic routing) canary strategy.

Sources: ``utils/replicaset/canary.go`` (``CalculateReplicaCountsForBasicCanary`` and friends),
``utils/replicaset/replicaset.go`` (``MaxSurge``, ``MaxUnavailable``), ``utils/defaults``,
``utils/rollout/rolloututil.go`` (``CanaryStepString``) and ``rollout/canary.go``.

The pure functions take the Rollout and ReplicaSets as the plain JSON dicts the API serves; the
``CanarySync`` mixin is the canary half of one reconcile (``rollouts._Sync``). Analysis and
experiment steps are treated as successful as soon as they are reached (the sandbox runs no
AnalysisRuns); ``setCanaryScale`` requires traffic routing upstream, so a basic canary reports it
as InvalidSpec, as the real controller does.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from almtui.kube.durations import parse_argo_duration
from almtui.kube.hashing import fnv32a, safe_encode_string
from almtui.sandbox.controllers.replicaset import spec_replicas

Obj = dict[str, Any]

HASH_LABEL = "rollouts-pod-template-hash"
REVISION_ANNOTATION = "rollout.argoproj.io/revision"
REVISION_HISTORY_ANNOTATION = "rollout.argoproj.io/revision-history"
DESIRED_REPLICAS_ANNOTATION = "rollout.argoproj.io/desired-replicas"
SCALE_DOWN_DEADLINE_ANNOTATION = "scale-down-deadline"  # v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey
MANAGED_BY_ANNOTATION = "argo-rollouts.argoproj.io/managed-by-rollouts"
MAX_WEIGHT = 100  # weightutil.MaxTrafficWeight without trafficRouting.maxTrafficWeight
DEFAULT_MAX_SURGE = "25"  # defaults.go: read as a percentage by the lenient intstr parser below
DEFAULT_MAX_UNAVAILABLE = "25"
DEFAULT_SCALE_DOWN_DELAY = 30
DEFAULT_ABORT_SCALE_DOWN_DELAY = 30
DEFAULT_PROGRESS_DEADLINE = 600
DEFAULT_REVISION_HISTORY_LIMIT = 10

_GO_INT = re.compile(r"[+-]?[0-9]+")


# --- accessors ------------------------------------------------------------------------------------


def spec_of(ro: Mapping) -> dict:
    return ro.get("spec") or {}


def status_of(ro: Mapping) -> dict:
    return ro.get("status") or {}


def canary_spec(ro: Mapping) -> dict | None:
    return (spec_of(ro).get("strategy") or {}).get("canary")


def bluegreen_spec(ro: Mapping) -> dict | None:
    return (spec_of(ro).get("strategy") or {}).get("blueGreen")


def replicas_of(ro: Mapping) -> int:
    """defaults.GetReplicasOrDefault."""
    value = spec_of(ro).get("replicas")
    return 1 if value is None else int(value)


def rs_int(rs: Mapping | None, field: str) -> int:
    return int(((rs or {}).get("status") or {}).get(field) or 0)


def pod_hash(rs: Mapping | None) -> str:
    """GetPodTemplateHash."""
    if rs is None:
        return ""
    return ((rs.get("metadata") or {}).get("labels") or {}).get(HASH_LABEL, "")


def annotations_of(obj: Mapping | None) -> dict:
    return ((obj or {}).get("metadata") or {}).get("annotations") or {}


def revision_of(obj: Mapping | None) -> int:
    """replicasetutil.Revision: the revision annotation, 0 when absent, ValueError when not an int."""
    raw = annotations_of(obj).get(REVISION_ANNOTATION)
    if raw is None:
        return 0
    if not _GO_INT.fullmatch(str(raw)):
        raise ValueError(f'strconv.ParseInt: parsing "{raw}": invalid syntax')
    return int(raw)


def max_revision(rss: Iterable[Mapping | None]) -> int:
    """MaxRevision: unparseable revisions are skipped."""
    best = 0
    for rs in rss:
        if rs is None:
            continue
        try:
            best = max(best, revision_of(rs))
        except ValueError:
            continue
    return best


def created_key(rs: Mapping) -> tuple[str, str]:
    """ReplicaSetsByCreationTimestamp: creation time, then name."""
    md = rs["metadata"]
    return (md.get("creationTimestamp") or "", md["name"])


def revision_key(rs: Mapping) -> tuple[int, str, str]:
    """ReplicaSetsByRevisionNumber (unparseable revisions sort first), then creation."""
    try:
        rev = int(annotations_of(rs).get(REVISION_ANNOTATION, ""))
    except ValueError:
        rev = -1
    return (rev, *created_key(rs))


def active(rss: Iterable[Mapping | None]) -> list[Mapping]:
    """controller.FilterActiveReplicaSets: spec.replicas > 0."""
    return [rs for rs in rss if rs is not None and spec_replicas(rs) > 0]


def count_spec(rss: Iterable[Mapping | None]) -> int:
    """GetReplicaCountForReplicaSets."""
    return sum(spec_replicas(rs) for rs in rss if rs is not None)


def count_status(rss: Iterable[Mapping | None], field: str) -> int:
    """GetActual/Available/ReadyReplicaCountForReplicaSets."""
    return sum(rs_int(rs, field) for rs in rss if rs is not None)


# --- intstr, as the deprecated GetValueFromIntOrPercent reads it ----------------------------------


def int_or_percent(value: Any, total: int, round_up: bool) -> int:
    """GetValueFromIntOrPercent: every string is a percentage, with or without "%" ("25" is 25%).

    Argo Rollouts still calls the deprecated lenient parser, which is why its defaults "25" work.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError("invalid value for IntOrString: invalid type: neither int nor percentage")
    if isinstance(value, int):
        return value
    text = str(value).replace("%", "")
    if not _GO_INT.fullmatch(text):
        raise ValueError(f'invalid value for IntOrString: invalid value "{value}"')
    scaled = float(int(text)) * float(total) / 100
    return int(math.ceil(scaled) if round_up else math.floor(scaled))


def resolve_fenceposts(max_surge: Any, max_unavailable: Any, desired: int) -> tuple[int, int]:
    """replicaset.resolveFenceposts; a parse error gives (0, 0) as the callers ignore the error."""
    try:
        surge = int_or_percent(0 if max_surge is None else max_surge, desired, True)
        unavailable = int_or_percent(0 if max_unavailable is None else max_unavailable, desired, False)
    except ValueError:
        return 0, 0
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _max_surge_or_default(ro: Mapping) -> Any:
    canary = canary_spec(ro)
    if canary is not None and canary.get("maxSurge") is not None:
        return canary["maxSurge"]
    return DEFAULT_MAX_SURGE


def _max_unavailable_or_default(ro: Mapping) -> Any:
    for strategy in (bluegreen_spec(ro), canary_spec(ro)):
        if strategy is not None and strategy.get("maxUnavailable") is not None:
            return strategy["maxUnavailable"]
    return DEFAULT_MAX_UNAVAILABLE


def max_surge(ro: Mapping) -> int:
    """MaxSurge: canary only."""
    if canary_spec(ro) is None:
        return 0
    return resolve_fenceposts(_max_surge_or_default(ro), _max_unavailable_or_default(ro), replicas_of(ro))[0]


def max_unavailable(ro: Mapping) -> int:
    """MaxUnavailable: the canary's fencepost, blue-green's plain value, never above spec.replicas."""
    replicas = replicas_of(ro)
    if replicas == 0:
        return 0
    if canary_spec(ro) is not None:
        unavailable = resolve_fenceposts(_max_surge_or_default(ro), _max_unavailable_or_default(ro), replicas)[1]
    else:
        try:
            unavailable = int_or_percent(_max_unavailable_or_default(ro), replicas, False)
        except ValueError:
            unavailable = 0
    return min(unavailable, replicas)


# --- steps ----------------------------------------------------------------------------------------


def steps_of(ro: Mapping) -> list[dict]:
    canary = canary_spec(ro)
    return list((canary or {}).get("steps") or [])


def current_step(ro: Mapping) -> tuple[dict | None, int | None]:
    """GetCurrentCanaryStep: (step, index); (None, index) past the last step; (None, None) without steps."""
    steps = steps_of(ro)
    if canary_spec(ro) is None or not steps:
        return None, None
    index = int(status_of(ro).get("currentStepIndex") or 0)
    if len(steps) <= index:
        return None, index
    return steps[index], index


def current_set_weight(ro: Mapping) -> int:
    """GetCurrentSetWeight: the last setWeight at or before the current step; 0 when aborted."""
    if status_of(ro).get("abort"):
        return 0
    step, index = current_step(ro)
    if step is None or index is None:
        return MAX_WEIGHT
    steps = steps_of(ro)
    for i in range(index, -1, -1):
        if steps[i].get("setWeight") is not None:
            return int(steps[i]["setWeight"])
    return 0


def canary_weight(ro: Mapping) -> int:
    """GetCanaryReplicasOrWeight for a basic canary (setCanaryScale needs traffic routing)."""
    status = status_of(ro)
    stable = status.get("stableRS") or ""
    if status.get("promoteFull") or stable == "" or (status.get("currentPodHash") or "") == stable:
        return MAX_WEIGHT
    return current_set_weight(ro)


def pause_seconds(pause: Mapping) -> int:
    """RolloutPause.DurationSeconds: 0 without a duration, -1 when it does not parse."""
    duration = pause.get("duration")
    if duration is None:
        return 0
    try:
        return int(parse_argo_duration(duration))
    except ValueError:
        return -1


def _intstr_text(value: Any) -> str:
    """IntOrString.String()."""
    return str(value) if not isinstance(value, str) else value


def step_string(step: Mapping) -> str:
    """CanaryStepString, for the RolloutStepCompleted event."""
    if step.get("setWeight") is not None:
        return f"setWeight: {int(step['setWeight'])}"
    if step.get("pause") is not None:
        duration = (step["pause"] or {}).get("duration")
        return "pause" if duration is None else f"pause: {_intstr_text(duration)}"
    if step.get("experiment") is not None:
        return "experiment"
    if step.get("analysis") is not None:
        return "analysis"
    scs = step.get("setCanaryScale")
    if scs is not None:
        if scs.get("weight") is not None:
            return f"setCanaryScale{{weight: {int(scs['weight'])}}}"
        if scs.get("matchTrafficWeight"):
            return "setCanaryScale{matchTrafficWeight: true}"
        if scs.get("replicas") is not None:
            return f"setCanaryScale{{replicas: {int(scs['replicas'])}}}"
    if step.get("plugin") is not None:
        return f"plugin: {(step['plugin'] or {}).get('name', '')}"
    if step.get("setHeaderRoute") is not None:
        return f"setHeaderRoute: {(step['setHeaderRoute'] or {}).get('name', '')}"
    if step.get("setMirrorRoute") is not None:
        return f"setMirrorRoute: {(step['setMirrorRoute'] or {}).get('name', '')}"
    return "invalid"


def compute_step_hash(ro: Mapping) -> str:
    """ComputeStepHash: FNV-32a of the steps' JSON ("" for blue-green). Canonical JSON, not Go's field order."""
    if bluegreen_spec(ro) is not None or canary_spec(ro) is None:
        return ""
    text = json.dumps(steps_of(ro), sort_keys=True, separators=(",", ":"))
    return safe_encode_string(str(fnv32a(text.encode())))


# --- CalculateReplicaCountsForBasicCanary ---------------------------------------------------------


def _tied(weight: int, max_weight: int, total: int) -> bool:
    """floorCeilingTied: the weighted count sits exactly halfway between two integers."""
    x = float(total) * (float(weight) / float(max_weight))
    return x - math.trunc(x) == 0.5


def _delta(weight: int, max_weight: int, canary: int, total: int) -> float:
    return abs(float(canary * max_weight) / float(total) - float(weight))


def approximate_counts(replicas: int, weight: int, max_weight: int, surge: int) -> tuple[int, int]:
    """approximateWeightedCanaryStableReplicaCounts: (canary, stable) closest to the weight."""
    if replicas == 0:
        return 0, 0
    ceil_count = math.ceil(float(replicas * weight) / float(max_weight))
    floor_count = math.floor(float(replicas * weight) / float(max_weight))
    tied = _tied(weight, max_weight, replicas)
    zero_allowed = weight == max_weight or weight == 0 or (replicas == 1 and surge == 0)
    options: list[tuple[int, int]] = []
    if ceil_count < replicas or zero_allowed:
        options.append((ceil_count, replicas))
    if not tied and (floor_count != 0 or zero_allowed):
        options.append((floor_count, replicas))
    if surge > 0:
        options.append((ceil_count, replicas + 1))
        if not _tied(weight, max_weight, replicas + 1) and (floor_count != 0 or zero_allowed):
            options.append((floor_count, replicas + 1))
    if not options:
        return 0, replicas
    best = options[0]
    best_delta = _delta(weight, max_weight, *best)
    for option in options[1:]:
        d = _delta(weight, max_weight, *option)
        if d < best_delta:
            best, best_delta = option, d
    return best[0], best[1] - best[0]


def check_stable_exists(new_rs: Mapping | None, stable_rs: Mapping | None) -> bool:
    """CheckStableRSExists: a stable RS that is not the new one."""
    if stable_rs is None:
        return False
    if new_rs is None:
        return True
    return new_rs["metadata"]["name"] != stable_rs["metadata"]["name"]


def replicas_for_scale_down(rs: Mapping | None, ignore_availability: bool) -> int:
    """GetReplicasForScaleDown."""
    if rs is None:
        return 0
    if spec_replicas(rs) < rs_int(rs, "availableReplicas"):
        return spec_replicas(rs)
    if ignore_availability:
        return spec_replicas(rs)
    return rs_int(rs, "availableReplicas")


def _scale_down_count(drain_rs: Mapping | None, desired: int, scale_down: int, current: int) -> int:
    """calculateScaleDownReplicaCount."""
    if drain_rs is not None and spec_replicas(drain_rs) > desired:
        return max(desired, spec_replicas(drain_rs) - scale_down)
    return current


def _adjust_within_limits(drain_rs: Mapping | None, adjust_rs: Mapping | None, drain_count: int,
                          adjust_count: int, max_allowed: int, min_available: int) -> tuple[int, int]:
    """adjustReplicaWithinLimits: keep (drain, adjust) within maxSurge and maxUnavailable."""
    total_available = 0
    over = max(0, adjust_count + drain_count - max_allowed)
    if drain_rs is not None:
        total_available += min(rs_int(drain_rs, "availableReplicas"), drain_count)
    if adjust_rs is not None:
        adjust_count -= over
        total_available += min(rs_int(adjust_rs, "availableReplicas"), adjust_count)
        extra_available = max(0, rs_int(adjust_rs, "availableReplicas") - adjust_count)
        more_needed = max(0, min_available - total_available)
        adjust_count += min(extra_available, more_needed)
        over = max(0, adjust_count + drain_count - max_allowed)
        drain_count -= over
    return drain_count, adjust_count


def calculate_basic_canary(ro: Mapping, new_rs: Mapping | None, stable_rs: Mapping | None,
                           old_rss: list[Mapping]) -> tuple[int, int]:
    """CalculateReplicaCountsForBasicCanary: (new RS replicas, stable RS replicas) for this sync.

    The weighted split, approached within maxSurge (stable first when scaling up) and
    maxUnavailable (older ReplicaSets first when scaling down), exactly as upstream.
    """
    replicas = replicas_of(ro)
    weight = canary_weight(ro)
    surge = max_surge(ro)
    desired_new, desired_stable = approximate_counts(replicas, weight, MAX_WEIGHT, surge)
    stable_count = 0
    new_count = spec_replicas(new_rs) if new_rs is not None else 0
    scale_stable = check_stable_exists(new_rs, stable_rs)
    if scale_stable:
        stable_count = spec_replicas(stable_rs)  # type: ignore[arg-type]
    else:
        desired_new, desired_stable = replicas, 0
    max_allowed = replicas + surge
    all_rss: list[Mapping | None] = [*old_rss, new_rs]
    if scale_stable:
        all_rss.append(stable_rs)
    scale_up = max_allowed - count_spec(all_rss)

    if scale_stable and stable_rs is not None and spec_replicas(stable_rs) < desired_stable and scale_up > 0:
        if spec_replicas(stable_rs) + scale_up < desired_stable:
            stable_count = spec_replicas(stable_rs) + scale_up
            scale_up = 0
        else:
            stable_count = desired_stable
            scale_up -= desired_stable - spec_replicas(stable_rs)

    if new_rs is not None and spec_replicas(new_rs) < desired_new and scale_up > 0:
        new_count = min(spec_replicas(new_rs) + scale_up, desired_new)

    if count_spec(old_rss) > 0:
        return new_count, stable_count

    min_available = replicas - max_unavailable(ro)
    increasing = new_rs is None or desired_new >= spec_replicas(new_rs)
    to_scale_down = replicas_for_scale_down(new_rs, not increasing) + replicas_for_scale_down(stable_rs, increasing)
    if to_scale_down <= min_available:
        return new_count, stable_count
    scale_down = to_scale_down - min_available
    if not increasing:
        new_count = _scale_down_count(new_rs, desired_new, scale_down, new_count)
        new_count, stable_count = _adjust_within_limits(new_rs, stable_rs, new_count, stable_count,
                                                        max_allowed, min_available)
    elif scale_stable:
        stable_count = _scale_down_count(stable_rs, desired_stable, scale_down, stable_count)
        stable_count, new_count = _adjust_within_limits(stable_rs, new_rs, stable_count, new_count,
                                                        max_allowed, min_available)
    return new_count, stable_count


def replica_progress_threshold_met(threshold: Mapping | None, rs: Mapping | None, desired: int) -> bool:
    """ReplicaProgressThresholdMet; without a threshold every desired replica must be available."""
    if threshold is None or rs is None or int(threshold.get("value") or 0) < 0:
        return (rs is not None and desired == spec_replicas(rs)
                and desired == rs_int(rs, "availableReplicas"))
    value = int(threshold.get("value") or 0)
    if threshold.get("type") == "Percent":
        if desired == 0:
            return True
        current = float(rs_int(rs, "availableReplicas")) / float(desired) * 100
        return current >= float(value) or abs(current - float(value)) <= 1e-10
    return rs_int(rs, "availableReplicas") >= value


def at_desired_counts(ro: Mapping, new_rs: Mapping | None, stable_rs: Mapping | None,
                      other_rss: list[Mapping]) -> bool:
    """AtDesiredReplicaCountsForCanary, basic canary: canary available, stable created, others gone."""
    desired_new, desired_stable = calculate_basic_canary(ro, new_rs, stable_rs, other_rss)
    if not replica_progress_threshold_met((canary_spec(ro) or {}).get("replicaProgressThreshold"),
                                          new_rs, desired_new):
        return False
    if not (stable_rs is not None and desired_stable == spec_replicas(stable_rs)
            and desired_stable == rs_int(stable_rs, "replicas")):
        return False
    return count_status(other_rss, "availableReplicas") == 0


# --- the canary half of a reconcile (rollout/canary.go) -------------------------------------------


class CanarySync:
    """rolloutCanary and syncRolloutStatusCanary; mixed into ``rollouts._Sync``."""

    # Everything else it calls (sync_revision, persist, scale_rs_and_record ...) lives in rollouts._Sync.
    ro: Obj
    new_rs: Obj | None
    stable_rs: Obj | None
    other_rss: list[Obj]
    all_rss: list[Obj]
    pause: Any
    now: float

    def rollout_canary(self) -> None:
        if self.template_or_steps_changed():
            self.new_rs = self.sync_revision()
            self.sync_status_canary()
            return
        self.new_rs = self.sync_revision()
        if self.restart_pods() > 0:
            return  # availability counts are stale now; the next sync continues
        self.reconcile_revision_history_limit(self.other_rss)
        self.reconcile_stable_and_canary_service()
        if self.reconcile_canary_replica_sets():
            self.sync_status_canary()
            return
        self.reconcile_canary_pause()
        self.sync_status_canary()

    def template_or_steps_changed(self) -> bool:
        """PodTemplateOrStepsChanged: a new step hash (or none yet), or a new pod template hash."""
        status = status_of(self.ro)
        if not status.get("currentStepHash") or status["currentStepHash"] != compute_step_hash(self.ro):
            return True
        return self.pod_spec_changed()

    def reconcile_canary_replica_sets(self) -> bool:
        """reconcileCanaryReplicaSets: stable, then new, then the others; True when anything scaled."""
        if self.halt_progress():
            return False
        self.remove_scale_down_deadlines()
        if self.reconcile_canary_stable_rs():
            return True
        if self.reconcile_new_rs():
            return True
        return self.reconcile_other_rss()

    def reconcile_canary_stable_rs(self) -> bool:
        if not check_stable_exists(self.new_rs, self.stable_rs):
            return False
        _, desired_stable = calculate_basic_canary(self.ro, self.new_rs, self.stable_rs, self.other_rss)
        return self.scale_rs_and_record(self.stable_rs, desired_stable)[0]

    def reconcile_canary_pause(self) -> bool:
        """reconcileCanaryPause: add the CanaryPauseStep condition on reaching a pause step."""
        spec, status = spec_of(self.ro), status_of(self.ro)
        if spec.get("paused") or status.get("promoteFull"):
            return False
        step, _ = current_step(self.ro)
        if step is None or step.get("pause") is None:
            return False
        cond = self.pause_condition("CanaryPauseStep")
        if cond is None:
            if not status.get("controllerPause"):
                self.pause.add("CanaryPauseStep")
            return True
        seconds = pause_seconds(step["pause"] or {})
        if (step["pause"] or {}).get("duration") is not None:
            self.enqueue_during_wait(cond.get("startTime"), seconds)
        return True

    def scale_down_old_for_canary(self, old_rss: list[Obj]) -> int:
        """scaleDownOldReplicaSetsForCanary (basic canary): every other RS must go, within maxUnavailable."""
        old_rss, total = self.cleanup_unhealthy(old_rss)
        available = count_status(self.all_rss, "availableReplicas")
        min_available = replicas_of(self.ro) - max_unavailable(self.ro)
        budget = available - min_available
        if budget <= 0:
            return 0
        for rs in sorted(old_rss, key=revision_key, reverse=True):
            if budget <= 0:
                break
            current = spec_replicas(rs)
            if current == 0:
                continue
            desired = current - budget if current > budget else 0
            if current == desired:
                continue
            self.scale_rs_and_record(rs, desired)
            budget -= current - desired
            total += current - desired
        return total

    def completed_current_step(self) -> bool:
        """completedCurrentCanaryStep (analysis and experiment steps pass at once in the sandbox)."""
        if spec_of(self.ro).get("paused"):
            return False
        step, _ = current_step(self.ro)
        if step is None:
            return False
        if step.get("pause") is not None:
            return self.pause.completed_canary_pause(step["pause"] or {}, self.now)
        if step.get("setCanaryScale") is not None or step.get("setWeight") is not None:
            return at_desired_counts(self.ro, self.new_rs, self.stable_rs, self.other_rss)
        return any(step.get(k) is not None for k in ("experiment", "analysis", "setHeaderRoute",
                                                      "setMirrorRoute", "plugin"))

    def sync_status_canary(self) -> None:
        """syncRolloutStatusCanary."""
        status = self.calculate_base_status()
        status["availableReplicas"] = count_status(self.all_rss, "availableReplicas")
        status["HPAReplicas"] = count_status(self.all_rss, "replicas")
        status["selector"] = self.spec_selector_string()
        step, index = current_step(self.ro)
        status["stableRS"] = status_of(self.ro).get("stableRS") or ""
        status["currentStepHash"] = compute_step_hash(self.ro)
        step_count = len(steps_of(self.ro))

        if self.template_or_steps_changed():
            self.reset_status(status)
            if self.new_rs is not None and step_count > 0:
                if status_of(self.ro).get("stableRS") == pod_hash(self.new_rs):
                    self.record("Normal", "SkipSteps", "Rollback to stable ReplicaSets")
                    status["currentStepIndex"] = step_count
                elif self.rollback_within_window() and spec_replicas(self.new_rs) > 0:
                    self.record("Normal", "SkipSteps", "Rollback to active ReplicaSets within RollbackWindow")
                    status["currentStepIndex"] = step_count
            self.persist(status)
            return

        if status_of(self.ro).get("promoteFull") or self.rollback_within_window():
            self.pause.clear()
            self.pause.remove_abort()
            if step_count > 0:
                index = step_count

        reason = self.should_full_promote(status)
        if reason:
            self.promote_stable(status, reason)
            self.persist(status)
            return

        if self.pause.is_aborted():
            if step_count > 0:
                status["currentStepIndex"] = step_count if status["stableRS"] == status["currentPodHash"] else 0
            self.persist(status)
            return

        if step is not None and index is not None and self.completed_current_step():
            index += 1
            self.record("Normal", "RolloutStepCompleted",
                        f"Rollout step {index}/{step_count} completed ({step_string(step)})")
            self.pause.remove("CanaryPauseStep")
        status["currentStepIndex"] = index
        self.persist(status)

    def reconcile_stable_and_canary_service(self) -> None:
        """reconcileStableAndCanaryService: pin stableService to stable, canaryService to the canary."""
        canary = canary_spec(self.ro) or {}
        self.ensure_svc_targets(canary.get("stableService") or "", self.stable_rs, True)
        if self.pause.is_aborted() and canary.get("trafficRouting") is None:
            self.ensure_svc_targets(canary.get("canaryService") or "", self.stable_rs, True)
            return
        self.ensure_svc_targets(canary.get("canaryService") or "", self.new_rs, True)
