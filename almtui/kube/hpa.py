"""The autoscaling/v2 HorizontalPodAutoscaler algorithm, after ``pkg/controller/podautoscaler``.

``replica_calculator.go`` turns pod samples into a proposal (``calc_*``); ``horizontal.go`` then
stabilizes and rate-limits it (``normalize_*``). History (recommendations, scale events) is passed in
by the caller, which owns the state: the sandbox controller keeps it per HPA, the console's preview
passes none. All quantities are milli-units, all times epoch seconds.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_TOLERANCE = 0.1
DEFAULT_CPU_INITIALIZATION_PERIOD = 300.0
DEFAULT_DELAY_OF_INITIAL_READINESS = 30.0
DEFAULT_DOWNSCALE_STABILIZATION = 300
_MAX_INT32 = 2**31 - 1
_MIN_INT32 = -(2**31)

# Legacy (behavior-less) scale-up cap: max(2 * current, 4) per sync.
_SCALE_UP_LIMIT_FACTOR = 2.0
_SCALE_UP_LIMIT_MINIMUM = 4.0

ERR_NO_PODS = "no pods returned by selector while calculating replica count"
ERR_NO_METRICS = "did not receive metrics for targeted pods (pods might be unready)"
ERR_NO_MATCHED_METRICS = "no metrics returned matched known pods"

MSG_READY_FOR_NEW_SCALE = "recommended size matches current size"
MSG_SCALE_UP_STABILIZED = (
    "recent recommendations were lower than current one, applying the lowest recent recommendation"
)
MSG_SCALE_DOWN_STABILIZED = (
    "recent recommendations were higher than current one, applying the highest recent recommendation"
)
MSG_SCALE_UP_LIMIT = "the desired replica count is increasing faster than the maximum scale rate"
MSG_SCALE_DOWN_LIMIT = "the desired replica count is decreasing faster than the maximum scale rate"
MSG_TOO_MANY = "the desired replica count is more than the maximum replica count"
MSG_TOO_FEW = "the desired replica count is less than the minimum replica count"
MSG_WITHIN_RANGE = "the desired count is within the acceptable range"

Tolerance = float | tuple[float, float]  # one value for both sides, or (scale-down, scale-up)


# --- replica calculation ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PodSample:
    """One pod as the replica calculator sees it.

    ``ready`` is the Ready condition's status (None: no Ready condition). ``request`` is the pod's
    request in milli-units, or a ``{container: request-or-None}`` dict; None means a missing request.
    ``usage`` None means metrics-server has no sample for the pod.
    """

    name: str
    phase: str = "Running"
    ready: bool | None = True
    deleted: bool = False
    start_time: float | None = 0.0
    ready_transition_time: float | None = 0.0
    request: float | dict[str, float | None] | None = None
    usage: float | None = None
    metric_timestamp: float = 0.0
    metric_window: float = 15.0
    container: str = "app"  # names the container in the missing-request error when request is a number


@dataclass(frozen=True, slots=True)
class ReplicaCalc:
    """A proposal: ``error`` set means no proposal (``replicas`` is then 0, as upstream)."""

    replicas: int
    utilization: int | None
    raw_average: float | None
    ready_pods: int
    error: str | None = None


def _milli(value: float) -> int:
    # Quantity.MilliValue rounds up; round() first so 250.0000001 stays 250.
    return math.ceil(round(value, 6))


def _tolerances(tolerance: Tolerance) -> tuple[float, float]:
    if isinstance(tolerance, tuple):
        return tolerance
    return tolerance, tolerance


def _is_within(ratio: float, tolerance: Tolerance) -> bool:
    down, up = _tolerances(tolerance)
    return (1.0 - down) <= ratio <= (1.0 + up)


def _group_pods(
    pods: Sequence[PodSample],
    now: float,
    cpu: bool,
    cpu_initialization_period: float,
    delay_of_initial_readiness: float,
) -> tuple[int, set[str], set[str], set[str]]:
    """groupPods: (ready count, unready, missing, ignored); readiness only matters for CPU."""
    ready_count = 0
    unready: set[str] = set()
    missing: set[str] = set()
    ignored: set[str] = set()
    for pod in pods:
        if pod.deleted or pod.phase == "Failed":
            ignored.add(pod.name)
            continue
        if pod.phase == "Pending":
            unready.add(pod.name)
            continue
        if pod.usage is None:
            missing.add(pod.name)
            continue
        if cpu:
            if pod.ready is None or pod.start_time is None:
                is_unready = True
            else:
                # A missing transition time is Go's zero time: long before anything else.
                transition = -math.inf if pod.ready_transition_time is None else pod.ready_transition_time
                if pod.start_time + cpu_initialization_period > now:
                    # Still initialising: skip unready pods and samples taken before one full
                    # metric window after the last readiness change (CPU spikes at start-up).
                    is_unready = pod.ready is False or (pod.metric_timestamp < transition + pod.metric_window)
                else:
                    # Past initialisation: skip pods that are unready and never became ready.
                    never_ready = pod.start_time + delay_of_initial_readiness > transition
                    is_unready = pod.ready is False and never_ready
            if is_unready:
                unready.add(pod.name)
                continue
        ready_count += 1
    return ready_count, unready, missing, ignored


def _pod_request(pod: PodSample, resource: str) -> tuple[int, str | None]:
    request = pod.request
    if isinstance(request, dict):
        total = 0
        for container, value in request.items():
            if value is None:
                return 0, f"missing request for {resource} in container {container} of Pod {pod.name}"
            total += _milli(value)
        return total, None
    if request is None:
        return 0, f"missing request for {resource} in container {pod.container} of Pod {pod.name}"
    return _milli(request), None


def _utilization_ratio(
    metrics: dict[str, int], requests: dict[str, int], target: int
) -> tuple[float, int, int] | None:
    """GetResourceUtilizationRatio: (ratio, integer utilization %, raw average) or None."""
    metrics_total = requests_total = entries = 0
    for name, value in metrics.items():
        if name not in requests:
            continue
        metrics_total += value
        requests_total += requests[name]
        entries += 1
    if requests_total == 0:
        return None
    utilization = max(_MIN_INT32, min(_MAX_INT32, metrics_total * 100 // requests_total))
    return utilization / target, utilization, metrics_total // entries


def calc_resource_utilization_replicas(
    current_replicas: int,
    target_utilization: int,
    pods: Sequence[PodSample],
    now: float,
    *,
    cpu: bool = True,
    tolerance: Tolerance = DEFAULT_TOLERANCE,
    cpu_initialization_period: float = DEFAULT_CPU_INITIALIZATION_PERIOD,
    delay_of_initial_readiness: float = DEFAULT_DELAY_OF_INITIAL_READINESS,
    resource_name: str | None = None,
) -> ReplicaCalc:
    """GetResourceReplicas: a Resource metric with an averageUtilization target (percent of request).

    Pods without metrics count as 0% on scale-up and as max(100%, target) on scale-down; unready pods
    count as 0% on scale-up. If that would flip or cancel the direction, the current count stays.
    """
    resource = resource_name or ("cpu" if cpu else "memory")
    if not pods:
        return ReplicaCalc(0, None, None, 0, ERR_NO_PODS)
    ready_count, unready, missing, ignored = _group_pods(
        pods, now, cpu, cpu_initialization_period, delay_of_initial_readiness
    )
    metrics = {
        p.name: _milli(p.usage)
        for p in pods
        if p.usage is not None and p.name not in ignored and p.name not in unready
    }
    if not metrics:
        return ReplicaCalc(0, None, None, ready_count, ERR_NO_METRICS)
    requests: dict[str, int] = {}
    for pod in pods:
        value, error = _pod_request(pod, resource)
        if error:
            return ReplicaCalc(0, None, None, ready_count, error)
        requests[pod.name] = value

    first = _utilization_ratio(metrics, requests, target_utilization)
    if first is None:
        return ReplicaCalc(0, None, None, ready_count, ERR_NO_MATCHED_METRICS)
    ratio, utilization, raw = first

    def result(replicas: int) -> ReplicaCalc:
        return ReplicaCalc(replicas, utilization, raw, ready_count)

    scale_up_with_unready = bool(unready) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        if _is_within(ratio, tolerance):
            return result(current_replicas)
        return result(math.ceil(ratio * ready_count))

    if missing:
        if ratio < 1.0:
            fallback = max(100, target_utilization)
            for name in missing:
                metrics[name] = requests[name] * fallback // 100
        elif ratio > 1.0:
            for name in missing:
                metrics[name] = 0
    if scale_up_with_unready:
        for name in unready:
            metrics[name] = 0

    second = _utilization_ratio(metrics, requests, target_utilization)
    if second is None:  # pragma: no cover - requests_total only grows
        return ReplicaCalc(0, utilization, raw, ready_count, ERR_NO_MATCHED_METRICS)
    new_ratio = second[0]
    if _is_within(new_ratio, tolerance) or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return result(current_replicas)
    new_replicas = math.ceil(new_ratio * len(metrics))
    if (new_ratio < 1.0 and new_replicas > current_replicas) or (
        new_ratio > 1.0 and new_replicas < current_replicas
    ):
        return result(current_replicas)
    return result(new_replicas)


def calc_plain_metric_replicas(
    current_replicas: int,
    target_average: float,
    pods: Sequence[PodSample],
    now: float,
    tolerance: Tolerance = DEFAULT_TOLERANCE,
    *,
    cpu: bool = False,
    cpu_initialization_period: float = DEFAULT_CPU_INITIALIZATION_PERIOD,
    delay_of_initial_readiness: float = DEFAULT_DELAY_OF_INITIAL_READINESS,
) -> ReplicaCalc:
    """calcPlainMetricReplicas: Pods metrics, or a Resource metric with an averageValue target.

    Same as the utilization path but on the per-pod average; pods without metrics count as exactly
    the target on scale-down. ``cpu=True`` applies the CPU readiness rules (Resource cpu AverageValue).
    ``utilization`` is None; ``raw_average`` is the integer average usage.
    """
    if not pods:
        return ReplicaCalc(0, None, None, 0, ERR_NO_PODS)
    target = _milli(target_average)
    ready_count, unready, missing, ignored = _group_pods(
        pods, now, cpu, cpu_initialization_period, delay_of_initial_readiness
    )
    metrics = {
        p.name: _milli(p.usage)
        for p in pods
        if p.usage is not None and p.name not in ignored and p.name not in unready
    }
    if not metrics:
        return ReplicaCalc(0, None, None, ready_count, ERR_NO_METRICS)

    def usage_ratio() -> tuple[float, int]:
        average = sum(metrics.values()) // len(metrics)
        return average / target, average

    ratio, usage = usage_ratio()

    def result(replicas: int) -> ReplicaCalc:
        return ReplicaCalc(replicas, None, usage, ready_count)

    scale_up_with_unready = bool(unready) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        if _is_within(ratio, tolerance):
            return result(current_replicas)
        return result(math.ceil(ratio * ready_count))

    if missing:
        if ratio < 1.0:
            for name in missing:
                metrics[name] = target
        elif ratio > 1.0:
            for name in missing:
                metrics[name] = 0
    if scale_up_with_unready:
        for name in unready:
            metrics[name] = 0

    new_ratio, _ = usage_ratio()
    if _is_within(new_ratio, tolerance) or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return result(current_replicas)
    new_replicas = math.ceil(new_ratio * len(metrics))
    if (new_ratio < 1.0 and new_replicas > current_replicas) or (
        new_ratio > 1.0 and new_replicas < current_replicas
    ):
        return result(current_replicas)
    return result(new_replicas)


def calc_object_value_replicas(
    current_replicas: int,
    value: float,
    target: float,
    ready_pods: int,
    tolerance: Tolerance = DEFAULT_TOLERANCE,
) -> int:
    """Object/External metric with a Value target (getUsageRatioReplicaCount).

    ``ready_pods`` counts Running and Ready pods. From zero replicas the ratio alone decides, so an
    HPA with minReplicas 0 can scale from and to zero. External metrics pass the sum of all series.
    """
    ratio = _milli(value) / _milli(target)
    if current_replicas == 0:
        return math.ceil(ratio)
    if _is_within(ratio, tolerance):
        return current_replicas
    proposal = ratio * ready_pods
    return _MAX_INT32 if proposal > _MAX_INT32 else math.ceil(proposal)


def calc_object_average_replicas(
    status_replicas: int, total: float, target_average: float, tolerance: Tolerance = DEFAULT_TOLERANCE
) -> int:
    """Object/External metric with an AverageValue target: ``ceil(total / target)`` outside tolerance."""
    usage, target = _milli(total), _milli(target_average)
    denominator = target * status_replicas
    # Go's float division: x/0 is +Inf, 0/0 is NaN; neither is within tolerance.
    ratio = usage / denominator if denominator else (math.nan if usage == 0 else math.inf)
    if _is_within(ratio, tolerance):
        return status_replicas
    proposal = math.ceil(usage / target)
    return min(proposal, _MAX_INT32)


# --- behavior defaults ------------------------------------------------------------------------


def _default_scale_up() -> dict:
    return {
        "stabilizationWindowSeconds": 0,
        "selectPolicy": "Max",
        "policies": [
            {"type": "Pods", "value": 4, "periodSeconds": 15},
            {"type": "Percent", "value": 100, "periodSeconds": 15},
        ],
    }


def _default_scale_down() -> dict:
    # The window stays None: the controller fills it from --horizontal-pod-autoscaler-downscale-stabilization.
    return {
        "stabilizationWindowSeconds": None,
        "selectPolicy": "Max",
        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
    }


def _merge_rules(given: dict | None, defaults: dict) -> dict:
    if given is None:
        return defaults
    for key in ("selectPolicy", "stabilizationWindowSeconds", "policies", "tolerance"):
        if given.get(key) is not None:
            defaults[key] = copy.deepcopy(given[key])
    return defaults


def default_behavior(behavior: dict | None) -> dict | None:
    """SetDefaults_HorizontalPodAutoscalerBehavior: fill unset rule fields, only when behavior is set.

    The scale-down stabilization window is left None; see :func:`normalize_with_behavior`.
    """
    if behavior is None:
        return None
    result = copy.deepcopy(behavior)
    result["scaleUp"] = _merge_rules(behavior.get("scaleUp"), _default_scale_up())
    result["scaleDown"] = _merge_rules(behavior.get("scaleDown"), _default_scale_down())
    return result


# --- normalization ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Normalized:
    """The normalized count plus the AbleToScale and ScalingLimited condition texts it implies."""

    replicas: int
    able_reason: str
    able_message: str
    limited: bool
    limited_reason: str
    limited_message: str


def _change_in_period(period_seconds: float, events: Sequence[tuple[float, int]], now: float) -> int:
    cutoff = now - period_seconds
    return sum(change for ts, change in events if ts > cutoff)


def _period_start(
    current: int,
    policy: dict,
    up_events: Sequence[tuple[float, int]],
    down_events: Sequence[tuple[float, int]],
    now: float,
) -> int:
    period = policy.get("periodSeconds") or 0
    return current - _change_in_period(period, up_events, now) + _change_in_period(period, down_events, now)


def scale_up_limit(
    current: int,
    up_events: Sequence[tuple[float, int]],
    down_events: Sequence[tuple[float, int]],
    rules: dict,
    now: float,
) -> int:
    """calculateScaleUpLimitWithScalingRules: the highest count the scale-up policies allow now."""
    select = rules.get("selectPolicy") or "Max"
    if select == "Disabled":
        return current
    pick, result = (min, _MAX_INT32) if select == "Min" else (max, _MIN_INT32)
    for policy in rules.get("policies") or []:
        start = _period_start(current, policy, up_events, down_events, now)
        if policy.get("type") == "Pods":
            proposed = start + int(policy.get("value") or 0)
        else:
            proposed = math.ceil(start * (1 + int(policy.get("value") or 0) / 100))
        result = pick(result, proposed)
    return result


def scale_down_limit(
    current: int,
    up_events: Sequence[tuple[float, int]],
    down_events: Sequence[tuple[float, int]],
    rules: dict,
    now: float,
) -> int:
    """calculateScaleDownLimitWithBehaviors: the lowest count the scale-down policies allow now."""
    select = rules.get("selectPolicy") or "Max"
    if select == "Disabled":
        return current
    pick, result = (max, _MIN_INT32) if select == "Min" else (min, _MAX_INT32)
    for policy in rules.get("policies") or []:
        start = _period_start(current, policy, up_events, down_events, now)
        if policy.get("type") == "Pods":
            proposed = start - int(policy.get("value") or 0)
        else:
            proposed = int(start * (1 - int(policy.get("value") or 0) / 100))  # truncation, as int32()
        result = pick(result, proposed)
    return result


def normalize_with_behavior(
    current: int,
    desired: int,
    min_replicas: int,
    max_replicas: int,
    behavior: dict,
    recommendations: Sequence[tuple[float, int]],
    scale_up_events: Sequence[tuple[float, int]],
    scale_down_events: Sequence[tuple[float, int]],
    now: float,
    downscale_window: float = DEFAULT_DOWNSCALE_STABILIZATION,
) -> Normalized:
    """normalizeDesiredReplicasWithBehaviors: stabilize, then apply the rate policies and bounds.

    ``recommendations`` are earlier (timestamp, unstabilized desired) pairs, not including this one;
    events are (timestamp, replicas added/removed). A recommendation counts inside a window only when
    strictly newer than ``now - window`` (so a 0s window uses none).
    """
    rules = default_behavior(behavior) or {}
    up_rules, down_rules = rules["scaleUp"], rules["scaleDown"]
    up_window = up_rules.get("stabilizationWindowSeconds") or 0
    down_window = down_rules.get("stabilizationWindowSeconds")
    if down_window is None:
        down_window = downscale_window

    up_rec = down_rec = desired
    for ts, rec in recommendations:
        if ts > now - up_window:
            up_rec = min(up_rec, rec)
        if ts > now - down_window:
            down_rec = max(down_rec, rec)
    stabilized = min(max(current, up_rec), down_rec)

    if stabilized != desired:
        if desired >= current:
            able_reason, able_message = "ScaleUpStabilized", MSG_SCALE_UP_STABILIZED
        else:
            able_reason, able_message = "ScaleDownStabilized", MSG_SCALE_DOWN_STABILIZED
    else:
        able_reason, able_message = "ReadyForNewScale", MSG_READY_FOR_NEW_SCALE

    replicas, reason, message = stabilized, "DesiredWithinRange", MSG_WITHIN_RANGE
    if stabilized > current:
        limit = max(scale_up_limit(current, scale_up_events, scale_down_events, up_rules, now), current)
        if max_replicas > limit:
            allowed, why, text = limit, "ScaleUpLimit", MSG_SCALE_UP_LIMIT
        else:
            allowed, why, text = max_replicas, "TooManyReplicas", MSG_TOO_MANY
        if stabilized > allowed:
            replicas, reason, message = allowed, why, text
    elif stabilized < current:
        limit = min(scale_down_limit(current, scale_up_events, scale_down_events, down_rules, now), current)
        if min_replicas < limit:
            allowed, why, text = limit, "ScaleDownLimit", MSG_SCALE_DOWN_LIMIT
        else:
            allowed, why, text = min_replicas, "TooFewReplicas", MSG_TOO_FEW
        if stabilized < allowed:
            replicas, reason, message = allowed, why, text
    return Normalized(replicas, able_reason, able_message, replicas != stabilized, reason, message)


def normalize_legacy(
    current: int,
    desired: int,
    min_replicas: int,
    max_replicas: int,
    recommendations: Sequence[tuple[float, int]],
    now: float,
    downscale_window: float = DEFAULT_DOWNSCALE_STABILIZATION,
) -> Normalized:
    """normalizeDesiredReplicas (no behavior): 5-minute downscale stabilization, scale-up capped at
    ``max(2 * current, 4)``, then [min, max]. Recommendations at exactly ``now - window`` still count.
    """
    stabilized = desired
    for ts, rec in recommendations:
        if ts >= now - downscale_window:
            stabilized = max(stabilized, rec)
    if stabilized != desired:
        able_reason, able_message = "ScaleDownStabilized", MSG_SCALE_DOWN_STABILIZED
    else:
        able_reason, able_message = "ReadyForNewScale", MSG_READY_FOR_NEW_SCALE

    up_limit = int(max(_SCALE_UP_LIMIT_FACTOR * current, _SCALE_UP_LIMIT_MINIMUM))
    if max_replicas > up_limit:
        maximum, why, text = up_limit, "ScaleUpLimit", MSG_SCALE_UP_LIMIT
    else:
        maximum, why, text = max_replicas, "TooManyReplicas", MSG_TOO_MANY
    if stabilized < min_replicas:
        replicas, reason, message = min_replicas, "TooFewReplicas", MSG_TOO_FEW
    elif stabilized > maximum:
        replicas, reason, message = maximum, why, text
    else:
        replicas, reason, message = stabilized, "DesiredWithinRange", MSG_WITHIN_RANGE
    return Normalized(replicas, able_reason, able_message, replicas != stabilized, reason, message)


# --- history bookkeeping (pure helpers for the stateful caller) --------------------------------


def record_recommendation(
    recommendations: Sequence[tuple[float, int]], desired: int, now: float, keep_seconds: float
) -> list[tuple[float, int]]:
    """Append this sync's unstabilized recommendation and drop those too old for any window."""
    kept = [(ts, rec) for ts, rec in recommendations if ts >= now - keep_seconds]
    return [*kept, (now, desired)]


def longest_policy_period(rules: dict | None) -> int:
    return max((int(p.get("periodSeconds") or 0) for p in (rules or {}).get("policies") or []), default=0)


def record_scale_event(
    scale_up_events: Sequence[tuple[float, int]],
    scale_down_events: Sequence[tuple[float, int]],
    previous: int,
    new: int,
    now: float,
    behavior: dict | None,
) -> tuple[list[tuple[float, int]], list[tuple[float, int]]]:
    """storeScaleEvent: remember a rescale for the rate policies (only when behavior is set)."""
    up, down = list(scale_up_events), list(scale_down_events)
    if behavior is None or new == previous:
        return up, down
    rules = default_behavior(behavior) or {}
    if new > previous:
        cutoff = now - longest_policy_period(rules["scaleUp"])
        up = [e for e in up if e[0] >= cutoff] + [(now, new - previous)]
    else:
        cutoff = now - longest_policy_period(rules["scaleDown"])
        down = [e for e in down if e[0] >= cutoff] + [(now, previous - new)]
    return up, down


# --- preview ----------------------------------------------------------------------------------


def desired_replicas_for(
    current_replicas: int,
    pods: Sequence[PodSample],
    target_utilization: int,
    min_replicas: int,
    max_replicas: int,
    now: float,
    behavior: dict | None = None,
    *,
    tolerance: Tolerance = DEFAULT_TOLERANCE,
) -> int:
    """What one reconcile would set ``/scale`` to for a CPU-utilization HPA, with no history.

    Follows reconcileAutoscaler's guards (a target at zero replicas is left alone, as with the
    HPAScaleToZero gate off; out-of-range counts snap to the bounds) and the per-sync rate caps; a
    calculation error keeps the current count.
    """
    if current_replicas == 0:
        return 0
    if current_replicas > max_replicas:
        return max_replicas
    if current_replicas < min_replicas:
        return min_replicas
    calc = calc_resource_utilization_replicas(
        current_replicas, target_utilization, pods, now, tolerance=tolerance
    )
    if calc.error is not None:
        return current_replicas
    if behavior is None:
        return normalize_legacy(current_replicas, calc.replicas, min_replicas, max_replicas, [], now).replicas
    return normalize_with_behavior(
        current_replicas, calc.replicas, min_replicas, max_replicas, behavior, [], [], [], now
    ).replicas
