"""HorizontalPodAutoscaler (autoscaling/v2) views and the HPA what-if preview.

Metric texts follow ``kubectl get hpa`` (current "45%" or "<unknown>", target "60%"); the
what-if runs the controller's own algorithm (``almtui.kube.hpa``) on the current pod metrics, so
the preview shows what one reconcile would do under a proposed policy, not a guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from almtui.kube import hpa as hpa_algo
from almtui.kube.durations import parse_go_duration

from .common import (
    ConditionView,
    age,
    conditions,
    d,
    dicts,
    epoch,
    find_condition,
    i,
    mapping_get,
    millis,
    name_of,
    namespace_of,
    nbytes,
    only_dicts,
    opt_i,
    opt_s,
    quantity_value,
    s,
    to_int,
)

DEFAULT_CPU_TARGET = 80  # SetDefaults_HorizontalPodAutoscaler: no metrics means CPU at 80%


@dataclass(frozen=True, slots=True)
class MetricView:
    type: str                  # Resource | ContainerResource | Pods | Object | External
    name: str                  # "cpu", "memory", or the custom metric's name
    kind: str                  # Utilization | AverageValue | Value
    target_text: str
    current_text: str
    target_value: float | None  # percent for Utilization, base units otherwise
    current_value: float | None


@dataclass(frozen=True, slots=True)
class HPAView:
    key: tuple[str, str]
    namespace: str
    name: str
    target_kind: str
    target_name: str
    current: int
    desired: int
    min: int
    max: int
    metrics: tuple[MetricView, ...]
    conditions: tuple[ConditionView, ...]
    last_scale: str | None
    last_scale_age: float | None
    able_to_scale: str         # reasons of the three conditions ("" when absent)
    scaling_active: str
    scaling_limited: str
    limited: bool              # ScalingLimited is True
    scale_up: str              # behavior summaries
    scale_down: str
    replica_history: tuple[int, ...]

    @property
    def target(self) -> str:
        return f"{self.target_kind}/{self.target_name}"


# --- metrics ----------------------------------------------------------------------------------


def _quantity_text(value: Any) -> str:
    if value is None:
        return "<unknown>"
    return value if isinstance(value, str) else str(value)


def _metric_key(metric: dict) -> tuple[str, str, str]:
    """(type, name, container/object) identifying a metric in spec and in status."""
    kind = s(metric, "type")
    if kind == "Resource":
        return kind, s(d(metric, "resource"), "name"), ""
    if kind == "ContainerResource":
        src = d(metric, "containerResource")
        return kind, s(src, "name"), s(src, "container")
    key = kind[:1].lower() + kind[1:]
    src = d(metric, key)
    described = d(src, "describedObject")
    return kind, s(d(src, "metric"), "name"), f"{s(described, 'kind')}/{s(described, 'name')}" if described else ""


def _metric_view(spec_metric: dict, current_metric: dict) -> MetricView:
    kind, name, extra = _metric_key(spec_metric)
    key = {"Resource": "resource", "ContainerResource": "containerResource", "Pods": "pods",
           "Object": "object", "External": "external"}.get(kind, "")
    target = d(spec_metric, key, "target")
    current = d(current_metric, key, "current")
    shown = f"{name} ({extra})" if extra and kind == "ContainerResource" else name
    if kind in ("Resource", "ContainerResource") and target.get("averageValue") is None:
        want = opt_i(target, "averageUtilization")
        have = opt_i(current, "averageUtilization") if current_metric else None
        return MetricView(kind, shown, "Utilization", "<auto>" if want is None else f"{want}%",
                          "<unknown>" if have is None else f"{have}%",
                          None if want is None else float(want), None if have is None else float(have))
    if target.get("averageValue") is not None or kind == "Pods":
        have = current.get("averageValue") if current_metric else None
        return MetricView(kind, shown, "AverageValue", _quantity_text(target.get("averageValue")),
                          _quantity_text(have), quantity_value(target.get("averageValue")), quantity_value(have))
    have = current.get("value") if current_metric else None
    return MetricView(kind, shown, s(target, "type") or "Value", _quantity_text(target.get("value")),
                      _quantity_text(have), quantity_value(target.get("value")), quantity_value(have))


def _metrics(spec: dict, status: dict) -> tuple[MetricView, ...]:
    specs = dicts(spec, "metrics")
    if not specs:
        specs = [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": DEFAULT_CPU_TARGET}}}]
    currents = dicts(status, "currentMetrics")
    by_key: dict[tuple[str, str, str], dict] = {}
    for cur in currents:
        by_key.setdefault(_metric_key(cur), cur)
    views = []
    for n, metric in enumerate(specs):
        cur = by_key.get(_metric_key(metric))
        if cur is None and n < len(currents) and s(currents[n], "type") == s(metric, "type"):
            cur = currents[n]  # kubectl pairs by index
        views.append(_metric_view(metric, cur or {}))
    return tuple(views)


# --- behavior summary -------------------------------------------------------------------------


def _policy_text(policy: dict) -> str:
    value, period = i(policy, "value"), i(policy, "periodSeconds")
    if s(policy, "type") == "Pods":
        return f"{value} pod{'s' if value != 1 else ''}/{period}s"
    return f"{value}%/{period}s"


def _rules_text(rules: dict, window_default: int | None) -> str:
    select = s(rules, "selectPolicy") or "Max"
    if select == "Disabled":
        return "disabled"
    window = opt_i(rules, "stabilizationWindowSeconds")
    if window is None:
        window = window_default
    policies = [_policy_text(p) for p in dicts(rules, "policies")]
    parts = [f"window {window}s" if window is not None else ""]
    if policies:
        parts.append((f"{select.lower()} of " if len(policies) > 1 else "") + ", ".join(policies))
    return "; ".join(p for p in parts if p)


def behavior_summary(behavior: Any) -> tuple[str, str]:
    """(scale up, scale down) in a few words, with the API defaults filled in."""
    if not isinstance(behavior, dict):
        return "max(2x, 4) per sync", f"window {hpa_algo.DEFAULT_DOWNSCALE_STABILIZATION}s"
    up = behavior.get("scaleUp") if isinstance(behavior.get("scaleUp"), dict) else None
    down = behavior.get("scaleDown") if isinstance(behavior.get("scaleDown"), dict) else None
    try:
        full = hpa_algo.default_behavior({"scaleUp": up, "scaleDown": down}) or {}
    except (TypeError, ValueError, AttributeError):
        full = {}
    return (_rules_text(d(full, "scaleUp"), 0),
            _rules_text(d(full, "scaleDown"), hpa_algo.DEFAULT_DOWNSCALE_STABILIZATION))


# --- builder ----------------------------------------------------------------------------------


def build_hpas(hpas: Sequence[dict], history: Mapping[tuple[str, str], Sequence[int]] | None,
               now: float) -> list[HPAView]:
    """HPAViews sorted by (namespace, name); ``history`` is the caller's replica ring buffer."""
    views = []
    for hpa in only_dicts(hpas):
        meta, spec, status = d(hpa, "metadata"), d(hpa, "spec"), d(hpa, "status")
        ns, name = s(meta, "namespace"), s(meta, "name")
        ref = d(spec, "scaleTargetRef")
        limited = find_condition(status, "ScalingLimited")
        up, down = behavior_summary(spec.get("behavior"))
        past = mapping_get(history, (ns, name), ()) or ()
        views.append(HPAView(
            key=(ns, name),
            namespace=ns,
            name=name,
            target_kind=s(ref, "kind"),
            target_name=s(ref, "name"),
            current=i(status, "currentReplicas"),
            desired=i(status, "desiredReplicas"),
            min=i(spec, "minReplicas", 1),
            max=i(spec, "maxReplicas"),
            metrics=_metrics(spec, status),
            conditions=conditions(status),
            last_scale=opt_s(status, "lastScaleTime"),
            last_scale_age=age(status.get("lastScaleTime"), now),
            able_to_scale=s(find_condition(status, "AbleToScale"), "reason"),
            scaling_active=s(find_condition(status, "ScalingActive"), "reason"),
            scaling_limited=s(limited, "reason"),
            limited=limited.get("status") == "True",
            scale_up=up,
            scale_down=down,
            replica_history=tuple(to_int(x) for x in past) if isinstance(past, Sequence) else (),
        ))
    views.sort(key=lambda v: v.key)
    return views


# --- what-if ----------------------------------------------------------------------------------


def _utilization_resource(spec: dict) -> tuple[str, int | None]:
    """The first Resource metric with a Utilization target: (resource name, target %)."""
    for metric in dicts(spec, "metrics"):
        if s(metric, "type") == "Resource":
            res = d(metric, "resource")
            target = opt_i(d(res, "target"), "averageUtilization")
            if target is not None:
                return s(res, "name") or "cpu", target
    return "cpu", (None if dicts(spec, "metrics") else DEFAULT_CPU_TARGET)


def _amount(resource: str, value: Any) -> int:
    """A quantity in the calculator's milli-units."""
    return millis(value) if resource == "cpu" else nbytes(value) * 1000


def pod_samples(pods: Sequence[dict], pod_metrics: Sequence[dict], resource: str = "cpu") -> list[hpa_algo.PodSample]:
    """The replica calculator's view of pods: readiness, start times, requests, metrics-server usage."""
    usage: dict[tuple[str, str], tuple[int, float, float]] = {}
    for m in only_dicts(pod_metrics):
        total, seen = 0, False
        for c in dicts(m, "containers"):
            value = d(c, "usage").get(resource)
            if value is not None:
                total += _amount(resource, value)
                seen = True
        if seen:
            try:
                window = parse_go_duration(s(m, "window")) if s(m, "window") else 15.0
            except ValueError:
                window = 15.0
            usage[(namespace_of(m), name_of(m))] = (total, epoch(m.get("timestamp")) or 0.0, window)
    samples = []
    for pod in only_dicts(pods):
        meta, spec, status = d(pod, "metadata"), d(pod, "spec"), d(pod, "status")
        ready_cond = find_condition(status, "Ready")
        ready = None if not ready_cond else s(ready_cond, "status") != "False"
        requests: dict[str, float | None] = {}
        for c in dicts(spec, "containers"):
            value = d(c, "resources", "requests").get(resource)
            requests[s(c, "name")] = None if value is None else float(_amount(resource, value))
        sample = usage.get((s(meta, "namespace"), s(meta, "name")))
        samples.append(hpa_algo.PodSample(
            name=s(meta, "name"),
            phase=s(status, "phase") or "Pending",
            ready=ready,
            deleted=meta.get("deletionTimestamp") is not None,
            start_time=epoch(status.get("startTime")),
            ready_transition_time=epoch(ready_cond.get("lastTransitionTime")),
            request=requests or None,
            usage=None if sample is None else float(sample[0]),
            metric_timestamp=0.0 if sample is None else sample[1],
            metric_window=15.0 if sample is None else sample[2],
        ))
    return samples


def hpa_what_if(hpa: dict, pods: Sequence[dict], pod_metrics: Sequence[dict], proposed: Mapping[str, Any],
                now: float) -> int:
    """The replica count one HPA reconcile would choose now under a proposed policy.

    ``pods`` are the scale target's pods, ``pod_metrics`` metrics.k8s.io PodMetrics. ``proposed``
    may set ``minReplicas``, ``maxReplicas``, ``targetUtilization`` (percent; ``averageUtilization``
    is accepted too), ``resource`` ("cpu" or "memory") and ``behavior`` (None for the legacy
    behaviour); anything unset comes from the HPA. Only the utilization metric is evaluated, with no
    stabilization history (as :func:`almtui.kube.hpa.desired_replicas_for`); an unusable metric
    keeps the current count.
    """
    spec, status = d(hpa, "spec"), d(hpa, "status")
    resource, target = _utilization_resource(spec)
    resource = s(proposed, "resource") or resource
    target = to_int(proposed.get("targetUtilization", proposed.get("averageUtilization", target)), 0) or target
    min_replicas = to_int(proposed.get("minReplicas", spec.get("minReplicas")), 1)
    live = [p for p in only_dicts(pods) if s(d(p, "status"), "phase") not in ("Succeeded", "Failed")]
    current = opt_i(status, "currentReplicas")
    current = len(live) if current is None else current
    max_replicas = to_int(proposed.get("maxReplicas", spec.get("maxReplicas")), max(current, min_replicas))
    behavior = proposed["behavior"] if "behavior" in proposed else spec.get("behavior")
    behavior = behavior if isinstance(behavior, dict) else None

    if current == 0:
        return 0
    if current > max_replicas:
        return max_replicas
    if current < min_replicas:
        return min_replicas
    if not target or target <= 0:
        return current
    calc = hpa_algo.calc_resource_utilization_replicas(
        current, target, pod_samples(pods, pod_metrics, resource), now,
        cpu=resource == "cpu", resource_name=resource)
    if calc.error is not None:
        return current
    if behavior is None:
        return hpa_algo.normalize_legacy(current, calc.replicas, min_replicas, max_replicas, [], now).replicas
    try:
        return hpa_algo.normalize_with_behavior(
            current, calc.replicas, min_replicas, max_replicas, behavior, [], [], [], now).replicas
    except (TypeError, ValueError, AttributeError):  # a malformed proposed behavior
        return hpa_algo.normalize_legacy(current, calc.replicas, min_replicas, max_replicas, [], now).replicas
