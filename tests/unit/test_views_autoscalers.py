"""HPAView (kubectl get/describe hpa texts, behavior summary) and the what-if preview."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from almtui.cluster.views import build_hpas, hpa_what_if
from almtui.kube.durations import parse_rfc3339

T0 = "2026-01-01T00:00:00Z"
BASE = parse_rfc3339(T0).timestamp()
NOW = BASE + 3600

HPA = {
    "metadata": {"name": "storefront", "namespace": "prod"},
    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "storefront"},
             "minReplicas": 3, "maxReplicas": 8,
             "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                 "type": "Utilization", "averageUtilization": 60}}}],
             "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300,
                                        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}},
    "status": {"currentReplicas": 3, "desiredReplicas": 3, "lastScaleTime": "2026-01-01T00:50:00Z",
               "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {
                   "averageUtilization": 45, "averageValue": "90m"}}}],
               "conditions": [
                   {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"},
                   {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound"},
                   {"type": "ScalingLimited", "status": "True", "reason": "TooFewReplicas"}]},
}


def ts(seconds: float) -> str:
    return datetime.fromtimestamp(BASE + seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_hpa_view():
    [view] = build_hpas([HPA], {("prod", "storefront"): [3, 3, 4, 3]}, NOW)
    assert view.key == ("prod", "storefront") and view.target == "Deployment/storefront"
    assert (view.current, view.desired, view.min, view.max) == (3, 3, 3, 8)
    [metric] = view.metrics
    assert (metric.type, metric.name, metric.kind, metric.target_text, metric.current_text) == (
        "Resource", "cpu", "Utilization", "60%", "45%")
    assert (metric.target_value, metric.current_value) == (60.0, 45.0)
    assert (view.able_to_scale, view.scaling_active, view.scaling_limited, view.limited) == (
        "ReadyForNewScale", "ValidMetricFound", "TooFewReplicas", True)
    assert (view.last_scale, view.last_scale_age) == ("2026-01-01T00:50:00Z", 600)
    assert view.scale_up == "window 0s; max of 4 pods/15s, 100%/15s"
    assert view.scale_down == "window 300s; 1 pod/60s"
    assert view.replica_history == (3, 3, 4, 3)
    assert [c.type for c in view.conditions] == ["AbleToScale", "ScalingActive", "ScalingLimited"]


def test_metric_kinds_unknown_and_defaults():
    hpa = copy.deepcopy(HPA)
    hpa["spec"]["metrics"] = [
        {"type": "Resource", "resource": {"name": "memory",
                                          "target": {"type": "AverageValue", "averageValue": "200Mi"}}},
        {"type": "Pods", "pods": {"metric": {"name": "requests_per_second"},
                                  "target": {"type": "AverageValue", "averageValue": "10"}}},
        {"type": "External", "external": {"metric": {"name": "queue_depth"},
                                          "target": {"type": "Value", "value": "30"}}},
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}},
    ]
    hpa["status"]["currentMetrics"] = [
        {"type": "Pods", "pods": {"metric": {"name": "requests_per_second"}, "current": {"averageValue": "12500m"}}},
        {"type": "External", "external": {"metric": {"name": "queue_depth"}, "current": {"value": "7"}}},
    ]
    del hpa["spec"]["behavior"]
    [view] = build_hpas([hpa], {}, NOW)
    texts = [(m.name, m.kind, m.current_text, m.target_text) for m in view.metrics]
    assert texts == [("memory", "AverageValue", "<unknown>", "200Mi"),
                     ("requests_per_second", "AverageValue", "12500m", "10"),
                     ("queue_depth", "Value", "7", "30"),
                     ("cpu", "Utilization", "<unknown>", "70%")]
    assert view.metrics[1].current_value == 12.5 and view.metrics[0].target_value == 200 * 2**20
    assert view.metrics[3].current_value is None
    assert (view.scale_up, view.scale_down) == ("max(2x, 4) per sync", "window 300s")
    assert view.replica_history == ()

    bare = {"metadata": {"name": "x", "namespace": "dev"}, "spec": {"scaleTargetRef": {"kind": "Rollout",
                                                                                       "name": "x"}}}
    [view] = build_hpas([bare], None, NOW)
    assert [(m.name, m.target_text, m.current_text) for m in view.metrics] == [("cpu", "80%", "<unknown>")]
    assert (view.min, view.max, view.current, view.able_to_scale) == (1, 0, 0, "")


def test_disabled_scale_down_summary():
    hpa = copy.deepcopy(HPA)
    hpa["spec"]["behavior"] = {"scaleDown": {"selectPolicy": "Disabled"},
                               "scaleUp": {"stabilizationWindowSeconds": 60, "selectPolicy": "Min",
                                           "policies": [{"type": "Percent", "value": 50, "periodSeconds": 30}]}}
    [view] = build_hpas([hpa], {}, NOW)
    assert (view.scale_up, view.scale_down) == ("window 60s; 50%/30s", "disabled")


# --- what-if ----------------------------------------------------------------------------------


def target_pods(n: int = 3, request="200m", memory="64Mi") -> list[dict]:
    ready = {"type": "Ready", "status": "True", "lastTransitionTime": ts(60)}
    return [{"metadata": {"name": f"web-{k}", "namespace": "prod"},
             "spec": {"containers": [{"name": "web", "resources": {"requests": {"cpu": request, "memory": memory}}}]},
             "status": {"phase": "Running", "startTime": ts(0), "conditions": [ready]}} for k in range(n)]


def pod_metrics(n: int = 3, cpu="180m", memory="96Mi") -> list[dict]:
    return [{"metadata": {"name": f"web-{k}", "namespace": "prod"}, "timestamp": ts(3590), "window": "15s",
             "containers": [{"name": "web", "usage": {"cpu": cpu, "memory": memory}}]} for k in range(n)]


def test_what_if_follows_the_controller():
    pods, metrics = target_pods(), pod_metrics()  # 90% of request against a 60% target
    assert hpa_what_if(HPA, pods, metrics, {}, NOW) == 5  # ceil(1.5 * 3)
    assert hpa_what_if(HPA, pods, metrics, {"targetUtilization": 90}, NOW) == 3  # within tolerance
    assert hpa_what_if(HPA, pods, metrics, {"targetUtilization": 30}, NOW) == 7  # scale-up rate: 4 pods / 15s
    assert hpa_what_if(HPA, pods, metrics, {"targetUtilization": 30, "behavior": None}, NOW) == 6  # max(2x, 4)
    assert hpa_what_if(HPA, pods, metrics, {"maxReplicas": 4}, NOW) == 4
    assert hpa_what_if(HPA, pods, metrics, {"minReplicas": 6}, NOW) == 6


def test_what_if_scale_down_and_resources():
    pods, idle = target_pods(), pod_metrics(cpu="30m")  # 15% against 60%: wants 1
    assert hpa_what_if(HPA, pods, idle, {}, NOW) == 3  # min 3
    assert hpa_what_if(HPA, pods, idle, {"minReplicas": 1}, NOW) == 2  # 1 pod per 60 s
    assert hpa_what_if(HPA, pods, pod_metrics(), {"resource": "memory", "targetUtilization": 100}, NOW) == 5
    # No metrics or a missing request: the controller keeps the current count.
    assert hpa_what_if(HPA, pods, [], {}, NOW) == 3
    no_request = target_pods()
    no_request[0]["spec"]["containers"][0]["resources"] = {}
    assert hpa_what_if(HPA, no_request, pod_metrics(), {}, NOW) == 3
    # Without status the current count is the number of live pods.
    hpa = copy.deepcopy(HPA)
    del hpa["status"]
    assert hpa_what_if(hpa, pods, pod_metrics(), {}, NOW) == 5
    assert hpa_what_if({}, [], [], {}, NOW) == 0
