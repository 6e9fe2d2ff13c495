"""Right-sizing: the formula, the flags, the patch, the HPA interaction, node sizing, usage samples."""

from __future__ import annotations

import copy
import math
from datetime import UTC, datetime

import pytest

from almtui.cluster.advice import (
    ContainerUsage,
    UsageSamples,
    hpa_after_requests,
    node_sizing,
    quantile,
    recommend_cpu,
    recommend_memory,
    resources_patch,
    rightsize,
    usage_from_quantiles,
    with_requests,
    workload_of,
)
from almtui.cluster.advice.samples import cpu_millis_exact
from almtui.cluster.metrics import Quantiles
from almtui.kube.patch import strategic_merge_patch

MI = 1 << 20
NOW = 1_800_000_000.0


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def workload(*containers: dict, replicas: int = 2, kind: str = "Deployment") -> dict:
    return {"apiVersion": "apps/v1" if kind == "Deployment" else "argoproj.io/v1alpha1", "kind": kind,
            "metadata": {"name": "web", "namespace": "prod", "uid": "uid-web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": list(containers)}}}}


def c(name: str = "app", requests: dict | None = None, limits: dict | None = None) -> dict:
    out: dict = {"name": name, "image": f"registry.local/{name}:1"}
    res = {}
    if requests:
        res["requests"] = requests
    if limits:
        res["limits"] = limits
    if res:
        out["resources"] = res
    return out


# --- the formula -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("p95", "expected"), [
    (0, 10), (5, 10), (8, 10),          # never below 10m
    (30, 35),                           # 34.5 -> 35 (5m steps below 100m)
    (86, 100),                          # 98.9 -> 100
    (87, 110),                          # 100.05: 10m steps from 100m
    (100, 120),                         # 115 -> 120
    (869, 1000),                        # 999.35 -> 1000
    (870, 1050),                        # 1000.5: 50m steps from 1000m
    (2000, 2300),                       # 2300 exactly
])
def test_recommend_cpu(p95, expected):
    assert recommend_cpu(p95) == expected


@pytest.mark.parametrize(("p95_mi", "expected_mi"), [
    (0, 16), (10, 16),                  # never below 16Mi
    (50, 60),                           # 57.5 -> 60 (4Mi steps below 128Mi)
    (100, 116),                         # 115 -> 116
    (111, 128),                         # 127.65 -> 128
    (112, 144),                         # 128.8: 16Mi steps from 128Mi
    (890, 1024),                        # 1023.5 -> 1024
    (900, 1088),                        # 1035: 64Mi steps from 1Gi
])
def test_recommend_memory(p95_mi, expected_mi):
    assert recommend_memory(p95_mi * MI) == expected_mi * MI


# --- per workload ----------------------------------------------------------------------------------


def test_over_provisioned_workload_and_its_patch():
    w = workload(c(requests={"cpu": "500m", "memory": "256Mi"}, limits={"cpu": "1", "memory": "512Mi"}))
    usage = {"app": ContainerUsage(28.0, 30.0, 60 * MI, 66 * MI, samples=40, pods=2)}
    r = rightsize(w, usage, now=NOW)
    [ct] = r.containers
    assert (ct.cpu.request, ct.cpu.limit, ct.cpu.p50, ct.cpu.p95) == (500, 1000, 28.0, 30.0)
    assert ct.cpu.headroom == 470.0 and ct.cpu.utilization == pytest.approx(0.06)
    assert (ct.cpu.recommended, ct.cpu.recommended_text) == (35, "35m")
    assert (ct.memory.recommended, ct.memory.recommended_text) == (76 * MI, "76Mi")  # 75.9 -> 76
    assert ct.cpu.flags == ("over-provisioned",) and ct.memory.flags == ("over-provisioned",)
    assert ct.flags == ("cpu over-provisioned", "memory over-provisioned")
    assert r.requests_change == {"app": {"cpu": "35m", "memory": "76Mi"}}
    assert (r.cpu_request, r.cpu_recommended, r.total_cpu_request, r.total_cpu_recommended) == (500, 35, 1000, 70)
    assert (r.memory_request, r.total_memory_recommended) == (256 * MI, 152 * MI)
    assert r.key == ("Deployment", "prod", "web") and r.flags == ct.flags


def test_under_provisioned_and_within_range():
    w = workload(c(requests={"cpu": "100m", "memory": "64Mi"}))
    r = rightsize(w, {"app": ContainerUsage(80, 95, 40 * MI, 50 * MI)}, now=NOW)
    [ct] = r.containers
    assert ct.cpu.flags == ("under-provisioned",) and ct.cpu.recommended == 110
    assert ct.memory.flags == () and ct.memory.recommended == 60 * MI  # 78 % of the request: left alone
    assert r.requests_change == {"app": {"cpu": "110m"}}


def test_throttled_cpu_is_not_shrunk():
    w = workload(c(requests={"cpu": "400m"}, limits={"cpu": "200m"}))
    [ct] = rightsize(w, {"app": ContainerUsage(150, 190, None, None)}, now=NOW).containers
    assert "throttled" in ct.cpu.flags and "over-provisioned" not in ct.cpu.flags
    assert ct.cpu.recommended == 400  # at least the current request
    # The Prometheus throttling ratio flags it too, below the limit.
    w = workload(c(requests={"cpu": "100m"}, limits={"cpu": "1"}))
    [ct] = rightsize(w, {"app": ContainerUsage(40, 60, None, None)}, now=NOW, throttling={"app": 0.3}).containers
    assert ct.cpu.flags == ("throttled",)
    [ct] = rightsize(w, {"app": ContainerUsage(40, 60, None, None)}, now=NOW, throttling={"app": 0.1}).containers
    assert ct.cpu.flags == ()


def _oom_pod(finished: float) -> dict:
    return {"metadata": {"name": "web-abc-1", "namespace": "prod", "labels": {"app": "web"}},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "app", "restartCount": 1, "state": {"running": {}},
                 "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": iso(finished)}}}]}}


def test_oom_killed_recently():
    w = workload(c(requests={"cpu": "100m", "memory": "256Mi"}, limits={"memory": "256Mi"}))
    usage = {"app": ContainerUsage(10, 20, 90 * MI, 100 * MI)}
    r = rightsize(w, usage, pods=[_oom_pod(NOW - 600)], window=3600, now=NOW)
    [ct] = r.containers
    assert ct.oom_killed and ct.memory.flags == ("oom-killed",)
    assert ct.memory.recommended == 256 * MI and "memory" not in r.requests_change.get("app", {})
    [ct] = rightsize(w, usage, pods=[_oom_pod(NOW - 7200)], window=3600, now=NOW).containers
    assert not ct.oom_killed and "over-provisioned" in ct.memory.flags


def test_no_data_and_no_request():
    w = workload(c("app"), c("sidecar", requests={"cpu": "50m", "memory": "32Mi"}))
    r = rightsize(w, {"app": ContainerUsage(5, 8, 20 * MI, 24 * MI)}, now=NOW)
    app, sidecar = r.containers
    assert app.cpu.flags == ("no-request",) and app.cpu.headroom is None and app.cpu.recommended == 10
    assert sidecar.cpu.flags == ("no-data",) and sidecar.cpu.recommended is None
    assert r.requests_change == {"app": {"cpu": "10m", "memory": "28Mi"}}
    assert r.cpu_recommended is None and r.cpu_request == 50  # no total without data for every container


def test_usage_from_prometheus_quantiles():
    u = usage_from_quantiles(Quantiles(0.012, 0.03, 60e6, 70e6, "ok"))
    assert u == ContainerUsage(12.0, 30.0, 60e6, 70e6)
    assert usage_from_quantiles(Quantiles(None, None, None, None, "no-data", "x")) is None
    assert usage_from_quantiles(None) is None


# --- the patch -------------------------------------------------------------------------------------


def test_resources_patch_is_kubectls_strategic_merge_patch():
    w = workload(c("app", requests={"cpu": "500m", "memory": "256Mi"}, limits={"cpu": "1"}),
                 c("sidecar", requests={"cpu": "50m"}))
    body = resources_patch(w, {"sidecar": {"memory": "32Mi", "cpu": "20m"}, "app": {"cpu": "500m"}})
    assert body == {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
        "containers": [{"name": "sidecar", "resources": {"requests": {"cpu": "20m", "memory": "32Mi"}}}]}}}}
    merged = strategic_merge_patch(w, body, "Deployment")
    app, sidecar = merged["spec"]["template"]["spec"]["containers"]
    assert app == w["spec"]["template"]["spec"]["containers"][0]
    assert sidecar["resources"] == {"requests": {"cpu": "20m", "memory": "32Mi"}}
    assert sidecar["image"] == "registry.local/sidecar:1"
    assert resources_patch(w, {"app": {"cpu": "500m"}}) == {}
    with pytest.raises(ValueError, match='container named "nope"'):
        resources_patch(w, {"nope": {"cpu": "1"}})
    with pytest.raises(ValueError, match="not 'ephemeral-storage'"):
        resources_patch(w, {"app": {"ephemeral-storage": "1Gi"}})


def test_with_requests_for_custom_resources():
    ro = workload(c("app", requests={"cpu": "500m"}, limits={"cpu": "1"}), kind="Rollout")
    before = copy.deepcopy(ro)
    out = with_requests(ro, {"app": {"cpu": "35m", "memory": "76Mi"}})
    assert ro == before
    assert out["spec"]["template"]["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "35m", "memory": "76Mi"}, "limits": {"cpu": "1"}}


# --- HPA interaction -------------------------------------------------------------------------------


def hpa_pods(n: int, request: str) -> tuple[list[dict], list[dict]]:
    pods, metrics = [], []
    for k in range(n):
        name = f"web-5d8f7c9b4d-{k}"
        pods.append({"metadata": {"name": name, "namespace": "prod", "labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "app", "resources": {"requests": {"cpu": request}}}]},
                     "status": {"phase": "Running", "startTime": iso(NOW - 3600),
                                "conditions": [{"type": "Ready", "status": "True",
                                                "lastTransitionTime": iso(NOW - 3500)}]}})
        metrics.append({"metadata": {"name": name, "namespace": "prod"}, "timestamp": iso(NOW - 10),
                        "window": "15s", "containers": [{"name": "app", "usage": {"cpu": "30m", "memory": "64Mi"}}]})
    return pods, metrics


HPA = {"metadata": {"name": "web", "namespace": "prod"},
       "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 2, "maxReplicas": 6,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                    "type": "Utilization", "averageUtilization": 50}}}]},
       "status": {"currentReplicas": 2, "desiredReplicas": 2}}


def test_smaller_requests_make_the_hpa_scale_out():
    pods, metrics = hpa_pods(2, "500m")
    # 30m of 500m is 6 %: the HPA wants its minimum.
    assert hpa_after_requests(HPA, pods, metrics, {}, NOW) == 2
    # 30m of 35m is 85 %: ratio 1.7 -> ceil(1.7 x 2) = 4 (the legacy limit max(2 x 2, 4) allows it).
    assert hpa_after_requests(HPA, pods, metrics, {"app": {"cpu": "35m"}}, NOW) == 4
    assert pods[0]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "500m"  # inputs untouched
    # 30m of 60m is 50 %: on target.
    assert hpa_after_requests(HPA, pods, metrics, {"app": {"cpu": "60m"}}, NOW) == 2


# --- nodes -----------------------------------------------------------------------------------------


def test_reserved_but_idle_node():
    nodes = [{"metadata": {"name": name}, "status": {
        "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True"}]}} for name in ("busy", "idle", "fine")]
    pods = [{"metadata": {"name": f"p-{n}", "namespace": "x"},
             "spec": {"nodeName": n, "containers": [{"name": "a", "resources": {"requests": {
                 "cpu": "3500m", "memory": "1Gi"}}}]}, "status": {"phase": "Running"}} for n in ("busy", "idle")]
    usage = {"busy": ("3", "2Gi"), "idle": ("400m", "2Gi"), "fine": ("400m", "2Gi")}
    metrics = [{"metadata": {"name": n}, "usage": {"cpu": cpu, "memory": mem}} for n, (cpu, mem) in usage.items()]
    by = {n.name: n for n in node_sizing(nodes, pods, metrics, NOW)}
    assert by["idle"].reserved_idle == ("cpu",) and by["idle"].flags == ("reserved-but-idle",)
    assert by["busy"].flags == () and by["fine"].flags == ()
    assert (by["idle"].cpu_allocatable, by["idle"].cpu_requested, by["idle"].cpu_used) == (4000, 3500, 400)
    assert by["idle"].cpu_requested_ratio == 0.875 and by["idle"].memory_used_ratio == 0.25
    assert node_sizing(nodes, pods, None, NOW)[0].flags == ("no-metrics",)


# --- usage samples ---------------------------------------------------------------------------------


def test_quantile_is_prometheus_quantile_over_time():
    values = [float(v) for v in range(1, 21)]  # 1..20
    assert quantile(values, 0.5) == 10.5
    assert quantile(values, 0.95) == pytest.approx(19.05)
    assert quantile([7.0], 0.95) == 7.0
    assert math.isnan(quantile([], 0.5))
    assert (quantile(values, 0), quantile(values, 1)) == (1.0, 20.0)


def pm(name: str, t: float, cpu: str, mem: str = "64Mi", *, hash_label: str = "pod-template-hash",
       hash_: str = "5d8f7c9b4d", app: str = "web", ns: str = "prod", extra: tuple = ()) -> dict:
    return {"metadata": {"name": name, "namespace": ns, "labels": {"app": app, hash_label: hash_}},
            "timestamp": iso(t), "window": "15s",
            "containers": [{"name": "app", "usage": {"cpu": cpu, "memory": mem}}, *extra]}


def test_samples_per_workload_busiest_pod_and_window():
    s = UsageSamples(max_age=3600)
    for k in range(20):
        t = NOW - 15 * (19 - k)
        s.ingest({"items": [pm("web-5d8f7c9b4d-aaaaa", t, f"{(k + 1) * 1_000_000}n"),  # 1..20m
                            pm("web-5d8f7c9b4d-bbbbb", t, "5m", "32Mi")]})
    assert s.ingest([pm("web-5d8f7c9b4d-aaaaa", NOW, "99m")]) == 0  # the same scrape again
    u = s.workload_usage("prod", "Deployment", "web")
    assert u["app"] == ContainerUsage(10.5, pytest.approx(19.05), 64 * MI, 64 * MI, samples=40, pods=2)
    assert s.app_usage("prod", "web") == u
    # The last 60 s hold the samples at NOW-60..NOW, i.e. 16..20m.
    recent = s.workload_usage("prod", "Deployment", "web", window=60)["app"]
    assert (recent.cpu_p50, recent.samples) == (18.0, 10)
    assert s.workload_usage("prod", "Deployment", "other") == {}
    assert s.newest == NOW and len(s) == 2


def test_samples_group_rollouts_owners_and_apps():
    s = UsageSamples()
    s.ingest([pm("checkout-6c9f8d7b5a-x1", NOW, "10m", hash_label="rollouts-pod-template-hash", hash_="6c9f8d7b5a",
                 app="checkout")])
    assert s.workload_usage("prod", "Rollout", "checkout")["app"].cpu_p95 == 10.0
    # ownerReferences from the cache win: a ReplicaSet owned by a Deployment with another name.
    pod = {"metadata": {"name": "odd-7", "namespace": "prod", "labels": {"app": "x"},
                        "ownerReferences": [{"kind": "ReplicaSet", "name": "odd-rs", "controller": True}]}}
    rs = {"metadata": {"name": "odd-rs", "namespace": "prod",
                       "ownerReferences": [{"kind": "Deployment", "name": "real-name", "controller": True}]}}
    s.ingest([pm("odd-7", NOW, "3m", app="x")], pods=[pod], replicasets=[rs])
    assert s.workload_usage("prod", "Deployment", "real-name")["app"].cpu_p95 == 3.0
    assert workload_of(pod) == ("prod", "ReplicaSet", "odd-rs")
    assert workload_of({"metadata": {"name": "bare", "namespace": "prod"}}) is None
    sts = {"metadata": {"name": "db-0", "namespace": "prod",
                        "ownerReferences": [{"kind": "StatefulSet", "name": "db", "controller": True}]}}
    assert workload_of(sts) == ("prod", "StatefulSet", "db")
    dep = {"kind": "Deployment", "metadata": {"name": "unknown", "namespace": "prod", "labels": {"app": "checkout"}}}
    assert s.usage_for(dep)["app"].cpu_p95 == 10.0  # falls back to the app label


def test_samples_are_bounded_and_age_out():
    s = UsageSamples(max_age=60, max_pods=3)
    assert s.capacity == 5
    for k in range(10):
        s.ingest([pm("web-5d8f7c9b4d-aaaaa", NOW + 15 * k, f"{k}m")])
    assert s.workload_usage("prod", "Deployment", "web", now=NOW + 135)["app"].samples == 5  # ring of 5
    for n in range(4):  # a fourth pod evicts the least recently updated one
        s.ingest([pm(f"api-6c9f8d7b5a-{n}", NOW + 135 + n, "1m", app="api", hash_="6c9f8d7b5a")])
    assert len(s) == 3 and s.pod_count("prod", "Deployment", "web") == 0
    assert s.pod_count("prod", "Deployment", "api") == 3
    s.ingest([pm("late-6c9f8d7b5a-z", NOW + 1000, "1m", app="late", hash_="6c9f8d7b5a")])  # the others are now too old
    assert len(s) == 1
    s.forget("prod", "late-6c9f8d7b5a-z")
    assert len(s) == 0 and s.app_usage("prod", "late") == {}


def test_samples_keep_exact_values():
    s = UsageSamples()
    s.ingest([pm("web-5d8f7c9b4d-aaaaa", NOW, "12345678n", "70406144")])  # 68756 KiB, page-aligned
    u = s.workload_usage("prod", "Deployment", "web")["app"]
    assert u.cpu_p95 == pytest.approx(12.345678, rel=1e-6) and u.mem_p95 == 70406144.0
    assert [cpu_millis_exact(v) for v in ("250m", "1", "1500u", "0.5", None)] == [250.0, 1000.0, 1.5, 500.0, 0.0]
    assert s.ingest([{"metadata": {"name": "x"}, "containers": []}]) == 0  # no timestamp, no now: skipped
    assert s.ingest({"items": None}) == 0


def test_samples_memory_stays_bounded():
    """At the bound (5,000 pods, an hour at 15 s) the history stays around the documented 25 MB."""
    import tracemalloc

    s = UsageSamples(max_pods=5000)
    assert s.capacity == 241
    pods = 200
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    s.ingest([pm(f"web-5d8f7c9b4d-{n}", NOW, "1m") for n in range(pods)])
    for entry in s._pods.values():
        ring = entry.containers["app"]
        for k in range(1, 400):  # more than the capacity: the ring wraps
            ring.add(NOW + 15 * k, 1.0, 1.0)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert all(len(e.containers["app"].t) == 241 for e in s._pods.values())
    assert used / pods * 5000 < 30e6
