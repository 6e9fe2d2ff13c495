"""A real Prometheus scraping the sandbox, queried through the API server's service proxy.

The RED queries a console runs must separate a canary on an `-err` image from the stable
workload. Prometheus stamps samples with the wall clock, so the test runs the sandbox fast
(simulated time x30) and scrapes every 500 ms; rates use a window the data already fills
(a `[1m]` rate over 8 s of data is extrapolated low, as on any fresh Prometheus), ratios and
quantiles use `[1m]` since they do not depend on how full the window is.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest
import requests
from kubernetes import client, config
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.util.retry import Retry

from almtui.sandbox.prometheus import PrometheusUnavailable, proxy_names, start_prometheus
from tests.support import RunningSandbox, need_binary, wait_until


def deployment(name: str, image: str, replicas: int, track: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "prod", "labels": {"app": "shop"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "shop", "track": track}},
                     "template": {"metadata": {"labels": {"app": "shop", "track": track}},
                                  "spec": {"containers": [{
                                      "name": "shop", "image": image, "ports": [{"containerPort": 8080}],
                                      "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}}}


SCENARIO = {
    "name": "prometheus-test", "settle": 120,
    "nodes": [{"name": "n1", "cpu": "4", "memory": "8Gi"}, {"name": "n2", "cpu": "2", "memory": "4Gi"}],
    "namespaces": ["prod", "monitoring"],
    "load": {"shop": {"baseRps": 40, "profile": "flat", "cpuPerRequest": 2, "idleCpu": 5, "memory": "64Mi"}},
    "objects": [deployment("shop", "registry.local/shop:1.0", 3, "stable"),
                deployment("shop-canary", "registry.local/shop:1.1-err", 1, "canary")],
}


class Env:
    def __init__(self, sb: RunningSandbox, prom: object, ca_file: str) -> None:
        self.sb, self.prom, self.ca_file = sb, prom, ca_file

    def connect(self, user: str = "operator", service: str = "prometheus-k8s:9090",
                method: str = "GET") -> PrometheusConnect:
        """PrometheusConnect through the service proxy, verifying the sandbox's CA."""
        session = requests.Session()
        session.verify = self.ca_file
        return PrometheusConnect(url=f"{self.sb.url}/api/v1/namespaces/monitoring/services/{service}/proxy",
                                 headers={"Authorization": f"Bearer {self.sb.token(user)}"},
                                 session=session, retry=Retry(total=0), timeout=10, method=method)

    def query(self, expr: str) -> dict[str, float]:
        """Instant query through the proxy: {label values joined by ',': value}."""
        out = {}
        for r in self.connect().custom_query(expr):
            key = ",".join(v for k, v in sorted(r["metric"].items()) if k != "__name__")
            out[key] = float(r["value"][1])
        return out


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    need_binary("prometheus")
    workdir: Path = tmp_path_factory.mktemp("prom")
    sb = RunningSandbox(SCENARIO, speed=30, workdir=workdir).start()
    prom = None
    try:
        prom = asyncio.run_coroutine_threadsafe(
            start_prometheus(sb.sandbox, scrape_interval="500ms", evaluation_interval="500ms"), sb.loop).result(60)
        ca_file = workdir / "ca.crt"
        kubeconfig = sb.call(lambda s: s.kubeconfig())
        ca_file.write_bytes(base64.b64decode(kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"]))
        e = Env(sb, prom, str(ca_file))
        # wait for 8 s of scrapes (Prometheus's first scrape comes ~5 s after start)
        wait_until(lambda: e.query("sum(count_over_time(up[1m]))").get("", 0) >= 16,
                   timeout=30, interval=0.5, what="16 scrapes")
        yield e
    finally:
        if prom is not None:
            asyncio.run_coroutine_threadsafe(prom.stop(), sb.loop).result(30)
        sb.stop()


def by(env: Env, label: str, expr: str) -> dict[str, float]:
    out = {}
    for r in env.connect().custom_query(expr):
        out[r["metric"].get(label, "")] = float(r["value"][1])
    return out


def hashes(env: Env) -> tuple[str, str]:
    pods = env.sb.list("/pods", "prod")
    stable = next(p for p in pods if p["metadata"]["labels"]["track"] == "stable")
    canary = next(p for p in pods if p["metadata"]["labels"]["track"] == "canary")
    return stable["metadata"]["labels"]["pod-template-hash"], canary["metadata"]["labels"]["pod-template-hash"]


@pytest.mark.prometheus
def test_red_queries_separate_the_err_canary(env: Env) -> None:
    stable, canary = hashes(env)
    # rate: 40 req/s over 4 Ready pods, in simulated requests per second whatever the speed
    rate = by(env, "pod_template_hash",
              'sum by (pod_template_hash) (rate(http_requests_total{namespace="prod",app="shop"}[5s]))')
    assert rate[stable] == pytest.approx(30, rel=0.15)
    assert rate[canary] == pytest.approx(10, rel=0.15)
    total = env.query("sum(rate(http_requests_total[5s]))")
    assert total[""] == pytest.approx(40, rel=0.15)
    errors = by(env, "pod_template_hash",
                'sum by (pod_template_hash) (rate(http_requests_total{code=~"5.."}[1m]))'
                " / sum by (pod_template_hash) (rate(http_requests_total[1m]))")
    assert errors[canary] >= 0.2
    assert errors[stable] < 0.01
    p95 = by(env, "pod_template_hash", "histogram_quantile(0.95, sum by (le, pod_template_hash) "
             "(rate(http_request_duration_seconds_bucket[1m])))")
    assert p95[stable] < 0.15
    assert p95[canary] > 0.3
    overall = env.query("histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))")
    assert p95[stable] < overall[""] < p95[canary]


@pytest.mark.prometheus
def test_resource_and_kube_state_series(env: Env) -> None:
    # per node, every CPU's modes together advance one second per second
    cpus = by(env, "node", "sum by (node) (rate(node_cpu_seconds_total[5s]))")
    assert cpus["n1"] == pytest.approx(4, rel=0.1)
    assert cpus["n2"] == pytest.approx(2, rel=0.1)
    # container CPU in cores, as metrics.k8s.io reports it: 5m idle + 10 req/s x 2m
    pod_cpu = by(env, "pod", 'sum by (pod) (rate(container_cpu_usage_seconds_total{namespace="prod"}[5s]))')
    assert len(pod_cpu) == 4
    assert all(v == pytest.approx(0.025, rel=0.15) for v in pod_cpu.values()), pod_cpu
    available = by(env, "deployment", 'kube_deployment_status_replicas_available{namespace="prod"}')
    assert available == {"shop": 3.0, "shop-canary": 1.0}
    ready = by(env, "node", 'kube_node_status_condition{condition="Ready",status="true"}')
    assert ready == {"n1": 1.0, "n2": 1.0}
    mem = by(env, "node", "node_memory_MemTotal_bytes")
    assert mem["n1"] == 8 << 30


@pytest.mark.prometheus
def test_service_and_every_proxy_name_form(env: Env) -> None:
    api = client.CoreV1Api(config.new_client_from_config(config_file=env.sb.kubeconfig, context="operator"))
    svc = api.read_namespaced_service("prometheus-k8s", "monitoring")
    assert [(p.name, p.port) for p in svc.spec.ports] == [("web", 9090)]
    for name in ("prometheus-k8s:web", "http:prometheus-k8s:9090", "prometheus-k8s"):
        assert name in proxy_names()
        assert env.connect(service=name).check_prometheus_connection()
    up = env.connect(service="prometheus-k8s:web").custom_query("up")
    assert up and up[0]["value"][1] == "1"
    # POST with a form body (large queries) is forwarded too
    posted = env.connect(method="POST").custom_query('sum(http_requests_total{namespace="prod"})')
    assert float(posted[0]["value"][1]) > 0


@pytest.mark.prometheus
def test_viewer_is_refused_the_proxy(env: Env) -> None:
    with pytest.raises(PrometheusApiClientException, match="403"):
        env.connect(user="viewer").custom_query("up")


@pytest.mark.prometheus
def test_paused_prometheus_answers_503_like_an_unreachable_endpoint(env: Env) -> None:
    prom = env.prom
    env.sb.call(lambda s: prom.pause())
    try:
        with pytest.raises(PrometheusApiClientException, match="503") as err:
            env.connect().custom_query("up")
        assert "error trying to reach service: dial tcp" in str(err.value)
        assert "connect: connection refused" in str(err.value)
    finally:
        env.sb.call(lambda s: prom.resume())
    assert env.connect().custom_query("up")


def test_missing_or_broken_binary_is_a_clear_error(tmp_path: Path) -> None:
    sb = RunningSandbox(SCENARIO, speed=1).start()
    try:
        with pytest.raises(PrometheusUnavailable, match="not an executable"):
            asyncio.run_coroutine_threadsafe(
                start_prometheus(sb.sandbox, binary=str(tmp_path / "nope")), sb.loop).result(30)
        with pytest.raises(PrometheusUnavailable, match="exited with code 1"):
            asyncio.run_coroutine_threadsafe(start_prometheus(sb.sandbox, binary="/bin/false"), sb.loop).result(30)
        assert sb.call(lambda s: [k for k in s.hooks.proxies if k[0] == "monitoring"]) == []
    finally:
        sb.stop()
