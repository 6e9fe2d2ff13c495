"""Deployment RollingUpdate arithmetic, after ``pkg/controller/deployment/{rolling,util/deployment_util}.go``.

The sandbox's Deployment controller drives a rollout one sync at a time: scale the new ReplicaSet up
if the surge budget allows (:func:`new_rs_new_replicas`), otherwise scale old ReplicaSets down within
the availability budget (:func:`reconcile_old_plan`). Every function here is pure: callers pass plain
numbers and status dicts and apply the returned plan themselves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from almtui.kube.intstr import resolve_fenceposts, scaled_value

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
# Upstream caps the revision-history annotation so repeated rollbacks cannot grow it without bound.
REV_HISTORY_LIMIT_IN_CHARS = 2000

NEW_RS_AVAILABLE_REASON = "NewReplicaSetAvailable"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
# progressDeadlineSeconds == MaxInt32 means "no deadline" upstream.
_MAX_INT32 = 2**31 - 1

IntOrPercent = int | str | None


# --- budgets -----------------------------------------------------------------------------------


def resolved_max_surge(replicas: int, max_surge: IntOrPercent, max_unavailable: IntOrPercent) -> int:
    """MaxSurge: extra pods allowed above ``replicas`` (percent rounded up, fenceposts resolved)."""
    surge, _ = resolve_fenceposts(max_surge, max_unavailable, replicas)
    return surge


def resolved_max_unavailable(replicas: int, max_surge: IntOrPercent, max_unavailable: IntOrPercent) -> int:
    """MaxUnavailable: 0 for a zero-replica Deployment, never more than ``replicas``."""
    if replicas == 0:
        return 0
    _, unavailable = resolve_fenceposts(max_surge, max_unavailable, replicas)
    return min(unavailable, replicas)


def replicas_annotations(replicas: int, max_surge: IntOrPercent, max_unavailable: IntOrPercent) -> dict:
    """The desired-/max-replicas annotations set on an RS when it is created or scaled."""
    return {
        DESIRED_REPLICAS_ANNOTATION: str(replicas),
        MAX_REPLICAS_ANNOTATION: str(replicas + resolved_max_surge(replicas, max_surge, max_unavailable)),
    }


# --- scale up ----------------------------------------------------------------------------------


def new_rs_new_replicas(
    replicas: int,
    max_surge: IntOrPercent,
    max_unavailable: IntOrPercent,
    all_rs_spec_total: int,
    new_rs_spec: int,
) -> int:
    """Target ``spec.replicas`` of the new RS for this sync (reconcileNewReplicaSet + NewRSNewReplicas).

    An oversized new RS is scaled straight down to ``replicas``; otherwise it grows by what the surge
    budget (``replicas + maxSurge - Σ spec``) leaves, never past ``replicas``. ``max_unavailable`` is
    accepted for symmetry: upstream scales maxSurge alone here (rounded up), without fenceposts.
    """
    del max_unavailable  # upstream ignores it for the scale-up step
    if new_rs_spec >= replicas:
        return replicas
    surge = scaled_value(max_surge, replicas, True, default=0)
    max_total = replicas + surge
    if all_rs_spec_total >= max_total:
        return new_rs_spec
    return new_rs_spec + min(max_total - all_rs_spec_total, replicas - new_rs_spec)


# --- scale down --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OldRS:
    """What the scale-down planner needs to know about an old ReplicaSet."""

    name: str
    created: Any  # anything sortable: epoch seconds, an RFC 3339 string, a datetime
    spec_replicas: int
    available_replicas: int


def _oldest_first(old_rs: Iterable[OldRS]) -> list[OldRS]:
    # ReplicaSetsByCreationTimestamp: creation time, then name as the tie breaker.
    return sorted(old_rs, key=lambda rs: (rs.created, rs.name))


def max_scaled_down(
    replicas: int,
    max_unavailable: IntOrPercent,
    max_surge: IntOrPercent,
    all_pods_spec_total: int,
    new_rs_spec: int,
    new_rs_available: int,
) -> int:
    """How many old pods may go this sync; ``<= 0`` means none.

    Unavailable new pods count against the budget so a crash-looping new RS cannot drain the old one.
    """
    min_available = replicas - resolved_max_unavailable(replicas, max_surge, max_unavailable)
    new_rs_unavailable = new_rs_spec - new_rs_available
    return all_pods_spec_total - min_available - new_rs_unavailable


def _cleanup(old_rs: list[OldRS], max_cleanup: int) -> tuple[list[tuple[str, int]], bool]:
    plan: list[tuple[str, int]] = []
    total = 0
    for rs in _oldest_first(old_rs):
        if total >= max_cleanup:
            break
        if rs.spec_replicas == 0 or rs.spec_replicas == rs.available_replicas:
            continue
        count = min(max_cleanup - total, rs.spec_replicas - rs.available_replicas)
        if count < 0:
            # More available than desired (status lagging a scale-down): upstream errors out here,
            # keeping the scale calls already made, and skips the rest of the scale-down step.
            return plan, False
        plan.append((rs.name, rs.spec_replicas - count))
        total += count
    return plan, True


def cleanup_unhealthy_plan(old_rs: list[OldRS], max_cleanup: int) -> list[tuple[str, int]]:
    """Scale away unavailable replicas of old RSs first, oldest first (cleanupUnhealthyReplicas).

    Returns ``(name, new_spec)`` for each RS to scale, at most ``max_cleanup`` pods in all. Stops at an
    RS reporting more available than desired replicas, where upstream aborts the step.
    """
    return _cleanup(old_rs, max_cleanup)[0]


def scale_down_old_plan(
    old_rs: list[OldRS], total_available: int, min_available: int
) -> list[tuple[str, int]]:
    """Scale old RSs down, oldest first, by ``total_available - min_available`` pods.

    ``total_available`` is Σ availableReplicas over the active old RSs and the new RS
    (scaleDownOldReplicaSetsForRollingUpdate).
    """
    if total_available <= min_available:
        return []
    budget = total_available - min_available
    plan: list[tuple[str, int]] = []
    done = 0
    for rs in _oldest_first(old_rs):
        if done >= budget:
            break
        if rs.spec_replicas == 0:
            continue
        count = min(rs.spec_replicas, budget - done)
        plan.append((rs.name, rs.spec_replicas - count))
        done += count
    return plan


def reconcile_old_plan(
    replicas: int,
    max_surge: IntOrPercent,
    max_unavailable: IntOrPercent,
    old_rs: list[OldRS],
    new_rs_spec: int,
    new_rs_available: int,
) -> list[tuple[str, int]]:
    """The whole reconcileOldReplicaSets step: cleanup, then scale-down, as ordered scale calls.

    A name may appear twice (cleanup then scale-down), one entry per upstream scale call, so the
    caller can emit one ``ScalingReplicaSet`` event each. Inactive (spec 0) old RSs are ignored.
    """
    active = [rs for rs in old_rs if rs.spec_replicas > 0]
    if sum(rs.spec_replicas for rs in active) == 0:
        return []
    all_spec = sum(rs.spec_replicas for rs in active) + new_rs_spec
    budget = max_scaled_down(replicas, max_unavailable, max_surge, all_spec, new_rs_spec, new_rs_available)
    if budget <= 0:
        return []
    cleanup, ok = _cleanup(active, budget)
    if not ok:
        return cleanup
    applied = dict(cleanup)
    after = [
        OldRS(rs.name, rs.created, applied.get(rs.name, rs.spec_replicas), rs.available_replicas)
        for rs in active
    ]
    min_available = replicas - resolved_max_unavailable(replicas, max_surge, max_unavailable)
    total_available = sum(rs.available_replicas for rs in after) + new_rs_available
    return cleanup + scale_down_old_plan(after, total_available, min_available)


# --- status predicates -------------------------------------------------------------------------


def _spec_replicas(deployment: Mapping) -> int:
    replicas = (deployment.get("spec") or {}).get("replicas")
    return 1 if replicas is None else int(replicas)


def _status_int(status: Mapping, key: str) -> int:
    return int(status.get(key) or 0)


def deployment_complete(deployment: Mapping, new_status: Mapping) -> bool:
    """All desired replicas are updated and available, no old pods remain, the spec was observed."""
    replicas = _spec_replicas(deployment)
    generation = int((deployment.get("metadata") or {}).get("generation") or 0)
    return (
        _status_int(new_status, "updatedReplicas") == replicas
        and _status_int(new_status, "replicas") == replicas
        and _status_int(new_status, "availableReplicas") == replicas
        and _status_int(new_status, "observedGeneration") >= generation
    )


def deployment_progressing(deployment: Mapping, new_status: Mapping) -> bool:
    """Progress against ``deployment["status"]``: more updated/ready/available, or fewer old pods."""
    old = deployment.get("status") or {}
    old_old = _status_int(old, "replicas") - _status_int(old, "updatedReplicas")
    new_old = _status_int(new_status, "replicas") - _status_int(new_status, "updatedReplicas")
    return (
        _status_int(new_status, "updatedReplicas") > _status_int(old, "updatedReplicas")
        or new_old < old_old
        or _status_int(new_status, "readyReplicas") > _status_int(old, "readyReplicas")
        or _status_int(new_status, "availableReplicas") > _status_int(old, "availableReplicas")
    )


def has_progress_deadline(deployment: Mapping) -> bool:
    deadline = (deployment.get("spec") or {}).get("progressDeadlineSeconds")
    return deadline is not None and int(deadline) != _MAX_INT32


def _get_condition(status: Mapping, type_: str) -> Mapping | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == type_:
            return cond
    return None


def _epoch(ts: str | float | int | datetime) -> float:
    if isinstance(ts, datetime):
        return ts.timestamp()
    if isinstance(ts, int | float):
        return float(ts)
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def deployment_timed_out(deployment: Mapping, new_status: Mapping, now: float) -> bool:
    """DeploymentTimedOut: Progressing's lastUpdateTime + progressDeadlineSeconds is before ``now``."""
    if not has_progress_deadline(deployment):
        return False
    cond = _get_condition(new_status, "Progressing")
    if cond is None:
        return False
    if cond.get("reason") == NEW_RS_AVAILABLE_REASON:
        return False
    if cond.get("reason") == TIMED_OUT_REASON:
        return True
    last = cond.get("lastUpdateTime")
    if not last:
        last = 0.0  # Go's zero time: long ago
    deadline = int(deployment["spec"]["progressDeadlineSeconds"])
    return _epoch(last) + deadline < now


# --- revisions ---------------------------------------------------------------------------------

_GO_INT = re.compile(r"[+-]?[0-9]+")
_INT64_MAX = 2**63 - 1


def revision_of(annotations: Mapping | None) -> int:
    """The revision annotation as an int: 0 when absent, ``ValueError`` when not an int64."""
    raw = (annotations or {}).get(REVISION_ANNOTATION)
    if raw is None:
        return 0
    value = str(raw)
    if not _GO_INT.fullmatch(value):
        raise ValueError(f'strconv.ParseInt: parsing "{value}": invalid syntax')
    number = int(value)
    if not -_INT64_MAX - 1 <= number <= _INT64_MAX:
        raise ValueError(f'strconv.ParseInt: parsing "{value}": value out of range')
    return number


def max_revision(annotation_dicts: Iterable[Mapping | None]) -> int:
    """MaxRevision: the highest revision among RS annotation dicts, skipping unparseable ones."""
    best = 0
    for ann in annotation_dicts:
        try:
            best = max(best, revision_of(ann))
        except ValueError:
            continue
    return best


def last_revision(annotation_dicts: Iterable[Mapping | None]) -> int:
    """LastRevision: the second-highest revision (the one ``rollout undo`` returns to)."""
    top = second = 0
    for ann in annotation_dicts:
        try:
            value = revision_of(ann)
        except ValueError:
            continue
        if value >= top:
            top, second = value, top
        elif value > second:
            second = value
    return second


def next_revision(old_annotation_dicts: Iterable[Mapping | None]) -> int:
    """Revision for the new RS: max over the *old* RSs plus one."""
    return max_revision(old_annotation_dicts) + 1


def set_new_rs_revision(annotations: Mapping | None, new_revision: int) -> tuple[dict, bool]:
    """Raise an RS's revision to ``new_revision`` (never lower it), as SetNewReplicaSetAnnotations does.

    When an RS that already had a revision is re-promoted (a rollback), its previous revision is
    appended to the revision-history annotation, dropping the oldest entries past 2000 characters.
    Returns the new annotation dict and whether anything changed.
    """
    result = dict(annotations or {})
    old = result.get(REVISION_ANNOTATION)
    if old is None or old == "":
        old_int = 0
    else:
        try:
            old_int = revision_of(result)
        except ValueError:
            return result, False
    if old_int >= new_revision:
        return result, False
    result[REVISION_ANNOTATION] = str(new_revision)
    if old is not None:
        history = result.get(REVISION_HISTORY_ANNOTATION, "")
        parts = history.split(",")
        if parts[0] == "":
            result[REVISION_HISTORY_ANNOTATION] = old
        else:
            total = len(history) + len(old) + 1
            start = 0
            while total > REV_HISTORY_LIMIT_IN_CHARS and start < len(parts):
                total -= len(parts[start]) + 1
                start += 1
            if total <= REV_HISTORY_LIMIT_IN_CHARS:
                result[REVISION_HISTORY_ANNOTATION] = ",".join([*parts[start:], old])
    return result, True
