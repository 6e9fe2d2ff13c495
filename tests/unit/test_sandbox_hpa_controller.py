"""The HPA controller against a fake metrics source: sync timing, scaling, stabilization, limits."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from types import SimpleNamespace

import kubernetes_validate

from almtui.sandbox.clock import SimClock
from almtui.sandbox.controllers.base import Context, Manager
from almtui.sandbox.controllers.events import EventRecorder
from almtui.sandbox.controllers.hpa import HorizontalPodAutoscaler
from almtui.sandbox.store import Store, ts

START = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
HPAS = "autoscaling/horizontalpodautoscalers"
CPU_METRIC = "cpu resource utilization (percentage of request)"


class FakeMetrics:
    """metrics.k8s.io PodMetrics for chosen pods: usage per pod name, sampled now."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.usage: dict[str, dict[str, str]] = {}

    def pod_metrics(self, namespace: str | None) -> list[dict]:
        stamp = ts(self.clock.now())
        return [
            {
                "kind": "PodMetrics",
                "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {"name": name, "namespace": "default"},
                "timestamp": stamp,
                "window": "15s",
                "containers": [{"name": "app", "usage": usage}],
            }
            for name, usage in sorted(self.usage.items())
        ]


class _DistinctEventNames:
    """Test shim: events.py names an Event <object>.<nanoseconds>, so with a frozen clock two events
    on one object in the same instant collide (reported). Each time() read moves a microsecond on."""

    def __init__(self, clock: SimClock) -> None:
        self._clock = clock
        self._n = 0

    def time(self) -> float:
        self._n += 1
        return self._clock.time() + self._n * 1e-6

    def __getattr__(self, name: str):
        return getattr(self._clock, name)


class Env:
    def __init__(self, replicas: int = 3, pods: int = 3, cpu: str = "150m", request: str = "200m") -> None:
        self.clock = SimClock(speed=1.0, start=START)
        self.clock.freeze()
        self.store = Store(self.clock, random.Random(1))
        self.ctx = Context(self.store, self.clock, random.Random(1))
        self.ctx.events = EventRecorder(SimpleNamespace(store=self.store, clock=_DistinctEventNames(self.clock)))
        self.metrics = FakeMetrics(self.clock)
        self.ctx.shared["metrics"] = self.metrics
        self.store.create("/namespaces", {"metadata": {"name": "default"}})
        self.hpa_controller = HorizontalPodAutoscaler(self.ctx)
        self.mgr = Manager(self.ctx, [self.hpa_controller])
        self.store.create(
            "apps/deployments",
            {
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
                    },
                },
            },
        )
        for i in range(pods):
            self.add_pod(f"web-{i}", cpu, request)

    def add_pod(self, name: str, cpu: str, request: str = "200m") -> None:
        long_ago = "2025-03-01T11:00:00Z"
        self.store.create(
            "/pods",
            {
                "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
                "spec": {
                    "nodeName": "n1",
                    "containers": [{"name": "app", "image": "nginx:1.27", "resources": {"requests": {"cpu": request}}}],
                },
                "status": {
                    "phase": "Running",
                    "startTime": long_ago,
                    "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": long_ago}],
                },
            },
            keep_status=True,
        )
        self.metrics.usage[name] = {"cpu": cpu, "memory": "64Mi"}

    def set_cpu(self, cpu: str) -> None:
        for name in self.metrics.usage:
            self.metrics.usage[name]["cpu"] = cpu

    def create_hpa(self, **spec: object) -> None:
        body = {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
                }
            ],
        }
        body.update(spec)
        self.store.create(HPAS, {"metadata": {"name": "web", "namespace": "default"}, "spec": body})

    @property
    def hpa(self) -> dict:
        return self.store.must_get(HPAS, "default", "web")

    @property
    def replicas(self) -> int:
        return self.store.must_get("apps/deployments", "default", "web")["spec"]["replicas"]

    def cond(self, type_: str) -> tuple[str, str, str]:
        c = next(c for c in self.hpa["status"]["conditions"] if c["type"] == type_)
        return c["status"], c["reason"], c["message"]

    def events(self, reason: str | None = None) -> list[dict]:
        return [e for e in self.store.list("/events", "default") if reason is None or e["reason"] == reason]


def validate(obj: dict) -> None:
    kubernetes_validate.validate(obj, "1.33", strict=True)


def test_first_sync_after_one_period_scales_up_by_the_formula() -> None:
    env = Env(cpu="150m")  # 150m of 200m = 75% against a 50% target: ceil(3 * 1.5) = 5
    env.create_hpa()
    env.mgr.advance(14)
    assert "status" not in env.hpa and env.replicas == 3
    env.mgr.advance(1)
    assert env.replicas == 5
    hpa = env.hpa
    validate(hpa)
    st = hpa["status"]
    assert st["currentReplicas"] == 3 and st["desiredReplicas"] == 5
    assert st["lastScaleTime"] == ts(env.clock.now())
    assert "observedGeneration" not in st  # a 1.33 controller does not write it (kubernetes#138228 came later)
    assert st["currentMetrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 75, "averageValue": "150m"}}}
    ]
    assert [c["type"] for c in st["conditions"]] == ["AbleToScale", "ScalingActive", "ScalingLimited"]
    assert env.cond("AbleToScale") == (
        "True",
        "SucceededRescale",
        "the HPA controller was able to update the target scale to 5",
    )
    assert env.cond("ScalingActive") == (
        "True",
        "ValidMetricFound",
        f"the HPA was able to successfully calculate a replica count from {CPU_METRIC}",
    )
    assert env.cond("ScalingLimited") == (
        "False",
        "DesiredWithinRange",
        "the desired count is within the acceptable range",
    )
    [event] = env.events("SuccessfulRescale")
    assert event["message"] == f"New size: 5; reason: {CPU_METRIC} above target"
    assert event["type"] == "Normal" and event["source"]["component"] == "horizontal-pod-autoscaler"
    assert event["involvedObject"]["kind"] == "HorizontalPodAutoscaler"
    validate(event)
    assert list(env.ctx.shared["hpa_history"][("default", "web")]) == [(env.ctx.now(), 5)]

    # synced every 15 s: the next sync sees 5 desired of 3 pods' usage, the same proposal
    env.mgr.advance(15)
    assert env.replicas == 5
    assert env.hpa["status"]["currentReplicas"] == 5
    assert env.cond("AbleToScale")[1] == "ReadyForNewScale"
    assert len(env.events("SuccessfulRescale")) == 1


def test_legacy_scale_up_is_capped_at_twice_the_current_count() -> None:
    env = Env(cpu="400m")  # 200%: ceil(3 * 4) = 12, capped at max(2 * 3, 4) = 6
    env.create_hpa()
    env.mgr.advance(15)
    assert env.replicas == 6
    assert env.cond("ScalingLimited") == (
        "True",
        "ScaleUpLimit",
        "the desired replica count is increasing faster than the maximum scale rate",
    )


def test_within_tolerance_nothing_changes() -> None:
    env = Env(cpu="108m")  # 54% against 50%: ratio 1.08, inside the 10% tolerance
    env.create_hpa()
    env.mgr.advance(45)
    assert env.replicas == 3
    st = env.hpa["status"]
    assert st["desiredReplicas"] == 3 and "lastScaleTime" not in st
    assert st["currentMetrics"][0]["resource"]["current"]["averageUtilization"] == 54
    assert env.cond("AbleToScale") == ("True", "ReadyForNewScale", "recommended size matches current size")
    assert env.events("SuccessfulRescale") == []
    validate(env.hpa)


def test_scale_down_waits_for_the_five_minute_window() -> None:
    env = Env(cpu="20m")  # 10%: the proposal is 1
    env.create_hpa()
    env.mgr.advance(15)
    first_sync = env.ctx.now()
    assert env.replicas == 3
    assert env.cond("AbleToScale") == (
        "True",
        "ScaleDownStabilized",
        "recent recommendations were higher than current one, applying the highest recent recommendation",
    )
    assert env.hpa["status"]["desiredReplicas"] == 3
    # the initial recommendation (the current count) still counts at exactly 300 s
    env.mgr.advance(300)
    assert env.replicas == 3
    env.mgr.advance(15)
    assert env.replicas == 1
    assert env.ctx.now() - first_sync == 315
    [event] = env.events("SuccessfulRescale")
    assert event["message"] == "New size: 1; reason: All metrics below target"


def test_behavior_pods_policy_limits_the_rate() -> None:
    env = Env(cpu="500m")  # 250% of a 100% target: ceil(3 * 2.5) = 8
    env.create_hpa(
        metrics=[
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 100}},
            }
        ],
        behavior={"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}},
    )
    seen = []
    for _ in range(14):
        env.mgr.advance(15)
        seen.append(env.replicas)
    # one pod per 60 s: at the 1st, 5th, 9th and 13th sync
    assert seen == [4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7]
    assert env.cond("ScalingLimited") == (
        "True",
        "ScaleUpLimit",
        "the desired replica count is increasing faster than the maximum scale rate",
    )
    validate(env.hpa)


def test_max_and_min_bounds() -> None:
    env = Env(cpu="150m")
    env.create_hpa(maxReplicas=4)
    env.mgr.advance(15)
    assert env.replicas == 4
    assert env.cond("ScalingLimited") == (
        "True",
        "TooManyReplicas",
        "the desired replica count is more than the maximum replica count",
    )

    low = Env(cpu="20m")
    low.create_hpa(minReplicas=2, behavior={"scaleDown": {"stabilizationWindowSeconds": 0}})
    low.mgr.advance(15)
    assert low.replicas == 2
    assert low.cond("ScalingLimited") == (
        "True",
        "TooFewReplicas",
        "the desired replica count is less than the minimum replica count",
    )
    assert low.events("SuccessfulRescale")[0]["message"] == "New size: 2; reason: All metrics below target"

    below = Env(replicas=1, cpu="100m")
    below.create_hpa(minReplicas=2)
    below.mgr.advance(15)
    assert below.replicas == 2
    assert (
        below.events("SuccessfulRescale")[0]["message"]
        == "New size: 2; reason: Current number of replicas below Spec.MinReplicas"
    )


def test_zero_replicas_disables_scaling() -> None:
    env = Env(replicas=0, pods=0)
    env.create_hpa()
    env.mgr.advance(15)
    st = env.hpa["status"]
    assert env.replicas == 0
    assert st["desiredReplicas"] == 0 and "currentReplicas" not in st and "currentMetrics" not in st
    assert env.cond("ScalingActive") == (
        "False",
        "ScalingDisabled",
        "scaling is disabled since the replica count of the target is zero",
    )
    assert env.cond("AbleToScale")[1] == "SucceededGetScale"
    validate(env.hpa)


def test_missing_metrics_and_targets_are_reported() -> None:
    env = Env()
    env.metrics.usage.clear()
    env.create_hpa()
    env.mgr.advance(15)
    reason = (
        "failed to get cpu utilization: unable to get metrics for resource cpu: "
        "no metrics returned from resource metrics API"
    )
    assert env.cond("ScalingActive") == (
        "False",
        "FailedGetResourceMetric",
        f"the HPA was unable to compute the replica count: {reason}",
    )
    assert [e["message"] for e in env.events("FailedGetResourceMetric")] == [reason]
    assert [e["message"] for e in env.events("FailedComputeMetricsReplicas")] == [
        f"invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource metric value: {reason}"
    ]
    assert env.hpa["status"]["currentMetrics"] == [{"type": ""}]
    validate(env.hpa)
    assert env.replicas == 3

    custom = Env()
    custom.create_hpa(
        metrics=[
            {
                "type": "Pods",
                "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue", "averageValue": "10"}},
            }
        ]
    )
    custom.mgr.advance(15)
    assert custom.cond("ScalingActive")[1] == "FailedGetPodsMetric"
    assert custom.events("FailedGetPodsMetric")[0]["message"] == (
        "unable to get metric rps: unable to fetch metrics from custom metrics API: "
        "no custom metrics API (custom.metrics.k8s.io) registered"
    )

    gone = Env()
    gone.store.delete("apps/deployments", "default", "web")
    gone.create_hpa()
    gone.mgr.advance(15)
    assert gone.cond("AbleToScale") == (
        "False",
        "FailedGetScale",
        'the HPA controller was unable to get the target\'s current scale: deployments.apps "web" not found',
    )
    assert gone.events("FailedGetScale")[0]["message"] == 'deployments.apps "web" not found'
    validate(gone.hpa)


def test_average_value_target_and_unready_pods() -> None:
    env = Env(cpu="300m")
    env.create_hpa(
        metrics=[
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "AverageValue", "averageValue": "100m"}},
            }
        ]
    )
    env.mgr.advance(15)
    assert env.replicas == 6  # ceil(3 * 3) = 9, legacy cap 6
    assert env.hpa["status"]["currentMetrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageValue": "300m"}}}
    ]
    assert env.cond("ScalingActive")[2].endswith("from cpu resource")

    # 60% on 3 ready pods would give ceil(3 * 1.2) = 4; a pending pod counts as 0% on scale-up,
    # 360m of 800m = 45% flips the direction, so the count stays
    pending = Env(cpu="120m")
    pending.store.create(
        "/pods",
        {
            "metadata": {"name": "web-new", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "nginx", "resources": {"requests": {"cpu": "200m"}}}]},
            "status": {"phase": "Pending"},
        },
        keep_status=True,
    )
    pending.create_hpa()
    pending.mgr.advance(15)
    assert pending.replicas == 3
    assert pending.hpa["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"] == 60
    control = Env(cpu="120m")
    control.create_hpa()
    control.mgr.advance(15)
    assert control.replicas == 4


def test_deleting_the_hpa_forgets_it() -> None:
    env = Env(cpu="150m")
    env.create_hpa()
    env.mgr.advance(15)
    env.store.delete(HPAS, "default", "web")
    env.mgr.advance(60)
    assert ("default", "web") not in env.hpa_controller._state
    assert env.mgr.errors == 0


def test_two_hpas_on_the_same_pods_are_ambiguous() -> None:
    env = Env(cpu="150m")
    env.create_hpa()
    env.store.create(
        HPAS,
        {
            "metadata": {"name": "web2", "namespace": "default"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "maxReplicas": 10,
            },
        },
    )
    env.mgr.advance(30)
    second = env.store.must_get(HPAS, "default", "web2")
    message = "pods by selector app=web are controlled by multiple HPAs: [{web default} {web2 default}]"
    cond = next(c for c in second["status"]["conditions"] if c["type"] == "ScalingActive")
    assert (cond["status"], cond["reason"], cond["message"]) == ("False", "AmbiguousSelector", message)
    assert env.cond("ScalingActive") == ("False", "AmbiguousSelector", message)
    assert env.events("AmbiguousSelector")[0]["type"] == "Warning"
    # only the first sync of "web", before "web2" claimed the pods, scaled
    assert env.replicas == 5


def test_argo_rollout_target() -> None:
    env = Env(cpu="150m")
    env.store.create(
        "argoproj.io/rollouts",
        {
            "metadata": {"name": "shop", "namespace": "default"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"HPAReplicas": 3, "selector": "app=web"},
        },
        keep_status=True,
    )
    env.create_hpa(scaleTargetRef={"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "shop"})
    env.mgr.advance(15)
    assert env.store.must_get("argoproj.io/rollouts", "default", "shop")["spec"]["replicas"] == 5
    assert env.replicas == 3
    assert env.cond("AbleToScale")[1] == "SucceededRescale"
