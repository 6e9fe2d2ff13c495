"""The sandbox's Prometheus exposition: parses, counters integrate the load model, -err pods look bad.

Everything runs on a built sandbox with a frozen clock (no HTTP except the exporter test), so the
expected numbers follow from the scenario's flat load: 40 requests/s over 4 Ready pods.
"""

from __future__ import annotations

import math

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from almtui.kube.quantities import cpu_millis, to_bytes
from almtui.sandbox.exporter import BUCKETS, Exporter, SandboxCollector, format_text, latency_profile, windows
from almtui.sandbox.runtime import Sandbox
from almtui.sandbox.scenario import parse_scenario

SPEED = 2.0
STABLE_IMAGE = "registry.local/shop:1.0"
ERR_IMAGE = "registry.local/shop:1.1-err"


def deployment(name: str, image: str, replicas: int, track: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "prod", "labels": {"app": "shop"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "shop", "track": track}},
                     "template": {"metadata": {"labels": {"app": "shop", "track": track}},
                                  "spec": {"containers": [{
                                      "name": "shop", "image": image, "ports": [{"containerPort": 8080}],
                                      "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                                                    "limits": {"cpu": "500m", "memory": "128Mi"}}}]}}}}


SCENARIO = {
    "name": "exporter-test", "settle": 120,
    "nodes": [{"name": "n1", "cpu": "4", "memory": "8Gi"}, {"name": "n2", "cpu": "2", "memory": "4Gi"}],
    "namespaces": ["prod", "monitoring"],
    "load": {"shop": {"baseRps": 40, "profile": "flat", "cpuPerRequest": 2, "idleCpu": 5, "memory": "64Mi"}},
    "objects": [
        deployment("shop", STABLE_IMAGE, 3, "stable"),
        deployment("shop-canary", ERR_IMAGE, 1, "canary"),
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
         "metadata": {"name": "shop", "namespace": "prod"},
         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "shop"},
                  "minReplicas": 3, "maxReplicas": 6,
                  "metrics": [{"type": "Resource",
                               "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                      "averageUtilization": 90}}}]}},
    ],
}


@pytest.fixture
def sandbox() -> Sandbox:
    sb = Sandbox(parse_scenario(SCENARIO), seed=3, speed=SPEED)
    sb.build()
    return sb


def scrape(collector: SandboxCollector) -> dict[str, list]:
    """Update and expose, then parse the text like Prometheus: family name -> samples."""
    from prometheus_client import CollectorRegistry, generate_latest

    reg = CollectorRegistry()
    reg.register(collector)  # type: ignore[arg-type]
    text = generate_latest(reg).decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def pods_by_track(sb: Sandbox) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for p in sb.store.list("/pods", "prod"):
        out.setdefault(p["metadata"]["labels"]["track"], []).append(p)
    return out


def value(samples: list, name: str, **labels: str) -> float:
    hits = [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(hits) == 1, (name, labels, hits)
    return hits[0]


def quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """PromQL's histogram_quantile over cumulative (le, count) pairs."""
    total = buckets[-1][1]
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le, c in buckets:
        if c >= rank:
            if math.isinf(le):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_c) / (c - prev_c)
        prev_le, prev_c = le, c
    return prev_le


def test_exposition_parses_with_the_expected_families_and_types(sandbox: Sandbox) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    reg = CollectorRegistry()
    reg.register(SandboxCollector(sandbox.ctx))  # type: ignore[arg-type]
    text = generate_latest(reg).decode()
    types = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert types["http_requests"] == "counter"
    assert types["http_request_duration_seconds"] == "histogram"
    assert types["container_cpu_usage_seconds"] == "counter"
    assert types["node_cpu_seconds"] == "counter"
    assert types["kube_pod_container_status_restarts"] == "counter"
    for gauge in ("container_memory_working_set_bytes", "node_memory_MemTotal_bytes", "node_memory_MemAvailable_bytes",
                  "kube_deployment_status_replicas_available", "kube_horizontalpodautoscaler_status_current_replicas",
                  "kube_node_status_condition", "kube_pod_container_resource_requests"):
        assert types[gauge] == "gauge", gauge
    assert "# TYPE http_requests_total counter" in text


def test_request_counters_integrate_the_model_divided_by_speed(sandbox: Sandbox) -> None:
    col = SandboxCollector(sandbox.ctx)
    first = scrape(col)
    pods = pods_by_track(sandbox)
    stable = pods["stable"][0]["metadata"]["name"]
    assert value(first["http_requests"], "http_requests_total", pod=stable, code="200") == 0.0
    sandbox.clock.advance(60)
    s = scrape(col)["http_requests"]
    total = sum(value(s, "http_requests_total", pod=stable, code=c) for c in ("200", "500"))
    # 40 req/s over 4 Ready pods for 60 simulated s, exported per wall second at speed 2
    assert total == pytest.approx(10 * 60 / SPEED)
    app_total = sum(x.value for x in s if x.name == "http_requests_total")
    assert app_total == pytest.approx(40 * 60 / SPEED)


def test_counters_are_monotonic_across_scrapes_and_rate_changes(sandbox: Sandbox) -> None:
    col = SandboxCollector(sandbox.ctx)
    last: dict[tuple, float] = {}
    counters = ("http_requests_total", "http_request_duration_seconds_bucket", "http_request_duration_seconds_count",
                "http_request_duration_seconds_sum", "container_cpu_usage_seconds_total", "node_cpu_seconds_total")

    def check() -> None:
        fams = scrape(col)
        for samples in fams.values():
            for x in samples:
                if x.name in counters:
                    key = (x.name, tuple(sorted(x.labels.items())))
                    assert x.value >= last.get(key, 0.0), key
                    last[key] = x.value

    check()
    for _ in range(3):
        sandbox.manager.advance(20)
        check()
    # the rate per pod changes when the stable Deployment scales down: counters keep growing
    sandbox.store.mutate("apps/deployments", "prod", "shop", lambda d: d["spec"].update(replicas=1))
    sandbox.store.delete("autoscaling/horizontalpodautoscalers", "prod", "shop")
    sandbox.manager.advance(7)
    check()
    sandbox.manager.advance(90)
    check()
    sandbox.clock.advance(3 * 3600)  # a long jump is merged into bounded windows
    check()


def test_err_pods_serve_many_5xx_and_slowly(sandbox: Sandbox) -> None:
    col = SandboxCollector(sandbox.ctx)
    scrape(col)
    sandbox.clock.advance(120)
    fams = scrape(col)
    ratios, p95 = {}, {}
    for track, pods in pods_by_track(sandbox).items():
        for pod in pods:
            name = pod["metadata"]["name"]
            ok = value(fams["http_requests"], "http_requests_total", pod=name, code="200")
            err = value(fams["http_requests"], "http_requests_total", pod=name, code="500")
            ratios[track] = err / (ok + err)
            buckets = sorted(((float(x.labels["le"]), x.value) for x in fams["http_request_duration_seconds"]
                              if x.name.endswith("_bucket") and x.labels["pod"] == name), key=lambda b: b[0])
            p95[track] = quantile(0.95, buckets)
    assert ratios["canary"] >= 0.2
    assert ratios["stable"] < 0.01
    assert p95["stable"] < 0.15
    assert p95["canary"] > 3 * p95["stable"]


def test_histograms_are_consistent(sandbox: Sandbox) -> None:
    col = SandboxCollector(sandbox.ctx)
    scrape(col)
    sandbox.clock.advance(45)
    fams = scrape(col)
    hist = fams["http_request_duration_seconds"]
    for pod in sandbox.store.list("/pods", "prod"):
        name = pod["metadata"]["name"]
        image = pod["spec"]["containers"][0]["image"]
        mine = [x for x in hist if x.labels["pod"] == name]
        buckets = [x for x in mine if x.name.endswith("_bucket")]
        les = [float(x.labels["le"]) for x in buckets]
        assert les == [*BUCKETS, math.inf]
        counts = [x.value for x in buckets]
        assert counts == sorted(counts)
        count = value(mine, "http_request_duration_seconds_count")
        assert counts[-1] == pytest.approx(count)
        requests = sum(value(fams["http_requests"], "http_requests_total", pod=name, code=c) for c in ("200", "500"))
        assert count == pytest.approx(requests)
        mean = value(mine, "http_request_duration_seconds_sum") / count
        assert mean == pytest.approx(latency_profile(image)[1])
        assert mean == pytest.approx(sandbox.ctx.shared["load"].latency_seconds(image, 0.5), rel=0.5)


def test_cpu_and_memory_agree_with_metrics_k8s_io(sandbox: Sandbox) -> None:
    col = SandboxCollector(sandbox.ctx)
    start = math.ceil(sandbox.ctx.now() / 15) * 15 + 15
    sandbox.clock.advance(start - sandbox.ctx.now())
    scrape(col)
    sandbox.clock.advance(10)  # stay inside one metrics-server window
    fams = scrape(col)
    readings = {p["metadata"]["name"]: p for p in sandbox.ctx.shared["metrics"].pod_metrics("prod")}
    before = {}
    for pod, reading in readings.items():
        usage = reading["containers"][0]["usage"]
        labels = {"pod": pod, "container": "shop"}
        mem = value(fams["container_memory_working_set_bytes"], "container_memory_working_set_bytes", **labels)
        assert mem == to_bytes(usage["memory"])
        before[pod] = value(fams["container_cpu_usage_seconds"], "container_cpu_usage_seconds_total", **labels)
    # the CPU counter's rate (per wall second) is the metrics.k8s.io reading of the window
    sandbox.clock.advance(4)
    fams = scrape(col)
    for pod, reading in readings.items():
        now = value(fams["container_cpu_usage_seconds"], "container_cpu_usage_seconds_total", pod=pod)
        cores = (now - before[pod]) / (4 / SPEED)
        assert cores * 1000 == pytest.approx(cpu_millis(reading["containers"][0]["usage"]["cpu"]), abs=0.01)


def test_node_series_per_node(sandbox: Sandbox) -> None:
    col = SandboxCollector(sandbox.ctx)
    first = scrape(col)
    sandbox.clock.advance(30)
    fams = scrape(col)
    cpu0, cpu1 = first["node_cpu_seconds"], fams["node_cpu_seconds"]
    for node, cpus in (("n1", 4), ("n2", 2)):
        mine = [x for x in cpu1 if x.labels["node"] == node]
        assert {x.labels["instance"] for x in mine} == {node}
        assert {x.labels["cpu"] for x in mine} == {str(i) for i in range(cpus)}
        # every CPU's modes together advance by one second per wall second
        grew = sum(x.value for x in mine) - sum(x.value for x in cpu0 if x.labels["node"] == node)
        assert grew == pytest.approx(cpus * 30 / SPEED)
        busy = sum(x.value for x in mine if x.labels["mode"] != "idle") - sum(
            x.value for x in cpu0 if x.labels["node"] == node and x.labels["mode"] != "idle")
        assert 0 < busy < grew
    readings = {n["metadata"]["name"]: n for n in sandbox.ctx.shared["metrics"].node_metrics()}
    for node in ("n1", "n2"):
        total = value(fams["node_memory_MemTotal_bytes"], "node_memory_MemTotal_bytes", node=node)
        avail = value(fams["node_memory_MemAvailable_bytes"], "node_memory_MemAvailable_bytes", node=node)
        assert total == to_bytes(sandbox.store.get("/nodes", None, node)["status"]["capacity"]["memory"])
        assert total - avail == pytest.approx(to_bytes(readings[node]["usage"]["memory"]), abs=1024)


def test_kube_state_metrics(sandbox: Sandbox) -> None:
    fams = scrape(SandboxCollector(sandbox.ctx))
    assert value(fams["kube_deployment_status_replicas_available"], "kube_deployment_status_replicas_available",
                 namespace="prod", deployment="shop") == 3
    assert value(fams["kube_deployment_spec_replicas"], "kube_deployment_spec_replicas", deployment="shop-canary") == 1
    hpa = sandbox.store.get("autoscaling/horizontalpodautoscalers", "prod", "shop")
    assert value(fams["kube_horizontalpodautoscaler_status_current_replicas"],
                 "kube_horizontalpodautoscaler_status_current_replicas", namespace="prod",
                 horizontalpodautoscaler="shop") == hpa["status"]["currentReplicas"]
    name = "kube_horizontalpodautoscaler_spec_max_replicas"
    assert value(fams[name], name, horizontalpodautoscaler="shop") == 6
    cond = fams["kube_node_status_condition"]
    for node in ("n1", "n2"):
        ready = {x.labels["status"]: x.value for x in cond
                 if x.labels["node"] == node and x.labels["condition"] == "Ready"}
        assert ready == {"true": 1.0, "false": 0.0, "unknown": 0.0}
    pod = pods_by_track(sandbox)["stable"][0]["metadata"]["name"]
    req = fams["kube_pod_container_resource_requests"]
    assert value(req, "kube_pod_container_resource_requests", pod=pod, resource="cpu", unit="core") == 0.1
    assert value(req, "kube_pod_container_resource_requests", pod=pod, resource="memory", unit="byte") == 64 << 20
    assert value(fams["kube_pod_container_resource_limits"], "kube_pod_container_resource_limits", pod=pod,
                 resource="cpu") == 0.5
    assert value(fams["kube_pod_container_status_restarts"], "kube_pod_container_status_restarts_total",
                 pod=pod, container="shop") == 0
    assert {x.labels["job"] for x in req} == {"kube-state-metrics"}


def test_partitioned_nodes_are_not_scraped_but_still_in_kube_state_metrics(sandbox: Sandbox) -> None:
    col = SandboxCollector(sandbox.ctx)
    sandbox.ctx.shared.setdefault("partitions", set()).add("n2")
    fams = scrape(col)
    on_n2 = {p["metadata"]["name"] for p in sandbox.store.list("/pods", "prod") if p["spec"]["nodeName"] == "n2"}
    assert on_n2
    assert not {x.labels["pod"] for x in fams["http_requests"]} & on_n2
    assert not {x.labels["pod"] for x in fams["container_cpu_usage_seconds"]} & on_n2
    assert {x.labels["node"] for x in fams["node_cpu_seconds"]} == {"n1"}
    assert {x.labels["node"] for x in fams["kube_node_status_condition"]} == {"n1", "n2"}
    assert on_n2 <= {x.labels["pod"] for x in fams["kube_pod_container_resource_requests"]}


def test_pod_labels_hash_and_instance(sandbox: Sandbox) -> None:
    fams = scrape(SandboxCollector(sandbox.ctx))
    for pod in sandbox.store.list("/pods", "prod"):
        md = pod["metadata"]
        labels = next(x.labels for x in fams["http_requests"] if x.labels["pod"] == md["name"])
        assert labels["pod_template_hash"] == md["labels"]["pod-template-hash"]
        assert labels["instance"] == f"{pod['status']['podIP']}:8080"
        assert labels["namespace"] == "prod" and labels["app"] == "shop"


def test_a_replaced_pod_starts_from_zero(sandbox: Sandbox) -> None:
    col = SandboxCollector(sandbox.ctx)
    scrape(col)
    sandbox.clock.advance(30)
    scrape(col)
    victim = pods_by_track(sandbox)["canary"][0]["metadata"]["name"]
    assert col.pods[("prod", victim)].requests > 0
    sandbox.store.delete("/pods", "prod", victim, grace_seconds=0)
    sandbox.manager.advance(30)
    fams = scrape(col)
    assert ("prod", victim) not in col.pods
    assert victim not in {x.labels["pod"] for x in fams["http_requests"]}
    replacement = pods_by_track(sandbox)["canary"][0]["metadata"]["name"]
    assert replacement != victim
    mine = [x.value for x in fams["http_requests"] if x.labels["pod"] == replacement]
    assert mine == [0.0, 0.0]


def test_fast_formatter_matches_prometheus_client(sandbox: Sandbox) -> None:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.metrics_core import Metric

    col = SandboxCollector(sandbox.ctx)
    scrape(col)
    sandbox.clock.advance(30)
    col.update()
    odd = Metric("odd", "a help with \\ and\nnewline", "gauge")
    odd.add_sample("odd", {"pod": 'we"ird\\name\nx'}, float("inf"))
    families = [*col.families(), odd]

    class Fixed:
        def collect(self) -> list:
            return families

    reg = CollectorRegistry()
    reg.register(Fixed())  # type: ignore[arg-type]

    def parsed(text: str) -> dict:
        return {(f.name, f.type, f.documentation): sorted((x.name, tuple(sorted(x.labels.items())), x.value)
                                                         for x in f.samples)
                for f in text_string_to_metric_families(text)}

    assert parsed(format_text(families).decode()) == parsed(generate_latest(reg).decode())


def test_windows_cut_at_steps_and_merge_long_spans() -> None:
    assert windows(10, 40) == [(0, 5), (15, 15), (30, 10)]
    assert windows(5, 5) == []
    long = windows(0, 15 * 1000)
    assert len(long) <= 64
    assert sum(s for _, s in long) == pytest.approx(15000)
    assert [t for t, _ in long] == sorted(t for t, _ in long)


async def test_exporter_serves_text_format_on_loopback(sandbox: Sandbox) -> None:
    ex = Exporter(sandbox.ctx)
    url = await ex.start()
    try:
        assert url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as s, s.get(url) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = await resp.text()
        assert {f.name for f in text_string_to_metric_families(text)} >= {"http_requests", "node_cpu_seconds"}
        assert ex.scrapes == 1
        ex._min_gap = 60.0  # as after a slow render: a scrape right after gets the previous body
        async with aiohttp.ClientSession() as s, s.get(url) as resp:
            assert await resp.text() == text
        assert ex.scrapes == 1
    finally:
        await ex.stop()
