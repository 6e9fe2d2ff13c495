"""MetricsService against the sandbox: a real Prometheus behind the API server's service proxy,
discovery as operator and as viewer, RED separating an `-err` canary from the stable version,
usage and HPA history, and the metrics.k8s.io fallback when there is no Prometheus.

The sandbox runs fast (x30) and Prometheus scrapes every 500 ms (see tests/test_prometheus.py
for why rates use a `5s` window here).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import dataclasses
import math
import threading
from pathlib import Path

import pytest
import yaml

from almtui.cluster.config import Config, ServiceRef
from almtui.cluster.connection import Connection, connect
from almtui.cluster.freshness import Freshness
from almtui.cluster.kubeconfig import load_kubeconfig
from almtui.cluster.metrics import NOT_VERIFIED, MetricsService, pods_regex, promql_string
from almtui.sandbox.prometheus import start_prometheus
from almtui.sandbox.tls import make_serving_cert
from tests.support import RunningSandbox, need_binary, wait_until
from tests.test_prometheus import SCENARIO as PROM_SCENARIO

HPA = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
       "metadata": {"name": "shop", "namespace": "prod"},
       "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "shop"},
                "minReplicas": 3, "maxReplicas": 3,
                "metrics": [{"type": "Resource", "resource": {
                    "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]}}
SCENARIO = {**copy.deepcopy(PROM_SCENARIO), "name": "metrics-test"}
SCENARIO["objects"] = [*SCENARIO["objects"], HPA]
FAST = {"qps": 200.0, "burst": 200}


def config(**prometheus: object) -> Config:
    base = Config()
    return dataclasses.replace(base, prometheus=dataclasses.replace(base.prometheus, **prometheus))


def service(sb: RunningSandbox, user: str = "operator", cfg: Config | None = None, kubeconfig: str | None = None,
            **kw: object) -> MetricsService:
    conn = connect(load_kubeconfig([kubeconfig or sb.kubeconfig]), user, **FAST)
    return MetricsService(conn, cfg or config(step="1s", timeout=5), **kw)


def hashes(sb: RunningSandbox) -> tuple[str, str]:
    """(stable, canary) pod template hashes."""
    pods = sb.list("/pods", "prod")
    by_track = {p["metadata"]["labels"]["track"]: p["metadata"]["labels"]["pod-template-hash"] for p in pods}
    return by_track["stable"], by_track["canary"]


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory):
    need_binary("prometheus")
    s = RunningSandbox(SCENARIO, speed=30, workdir=tmp_path_factory.mktemp("metrics")).start()
    prom = None
    try:
        prom = asyncio.run_coroutine_threadsafe(
            start_prometheus(s.sandbox, scrape_interval="500ms", evaluation_interval="500ms"), s.loop).result(60)
        s.prom = prom  # type: ignore[attr-defined]
        probe = service(s, ttl=0)
        # 5 s windows full of scrapes (the first comes ~5 s after start)
        wait_until(lambda: probe.red("prod", "shop", window="5s").verified and
                   probe.red("prod", "shop", window="5s").rate > 35, timeout=40, interval=0.5, what="RED data")
        yield s
    finally:
        if prom is not None:
            asyncio.run_coroutine_threadsafe(prom.stop(), s.loop).result(30)
        s.stop()


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory):
    """A sandbox without Prometheus (no --prometheus)."""
    s = RunningSandbox(PROM_SCENARIO, speed=30, workdir=tmp_path_factory.mktemp("bare")).start()
    yield s
    s.stop()


# -- discovery ----------------------------------------------------------------------------------


@pytest.mark.prometheus
def test_operator_discovers_prometheus_through_the_service_proxy(sb: RunningSandbox) -> None:
    svc = service(sb)
    assert svc.discovery is None
    d = svc.discover()
    assert d.source == "prometheus"
    assert d.service == "monitoring/prometheus-k8s:9090"
    assert d.url == f"{sb.url}/api/v1/namespaces/monitoring/services/prometheus-k8s:9090/proxy"
    assert d.version and d.reason == f"found monitoring/prometheus-k8s:9090 (Prometheus {d.version})"
    assert svc.discover() is d  # cached


@pytest.mark.prometheus
def test_discovery_follows_the_configured_order(sb: RunningSandbox) -> None:
    cfg = config(services=(ServiceRef("monitoring", "prometheus-operated", "9090"),
                           ServiceRef("monitoring", "prometheus-k8s", "web")))
    d = service(sb, cfg=cfg).discover()
    assert d.source == "prometheus"
    assert d.service == "monitoring/prometheus-k8s:web"
    off = service(sb, cfg=config(discover=False)).discover()
    assert off.source == "metrics-api"
    assert off.reason == "Prometheus discovery is off (prometheus.discover: false)"


@pytest.mark.prometheus
def test_viewer_is_refused_the_proxy_and_falls_back_to_the_metrics_api(sb: RunningSandbox) -> None:
    svc = service(sb, "viewer")
    d = svc.discover()
    assert d.source == "metrics-api"
    assert d.reason == ("no permission to proxy to monitoring/prometheus-k8s, monitoring/prometheus-operated, "
                        "monitoring/kube-prometheus-stack-prometheus, "
                        "monitoring/prometheus-kube-prometheus-prometheus, monitoring/prometheus-server")
    red = svc.red("prod", "shop")
    assert (red.status, red.message, red.rate, red.verified) == ("no-data", NOT_VERIFIED, None, False)
    nodes = svc.node_usage()
    assert nodes.source == "metrics-api" and nodes.status == "ok"
    assert set(nodes) == {"n1", "n2"}
    assert all(cpu > 0 and mem > 0 for cpu, mem in nodes.values())
    pods = svc.pod_usage("prod", "shop")
    assert pods.source == "metrics-api" and len(pods) == 3  # the stable Deployment's pods, not shop-canary's
    assert all(p.startswith("shop-") and not p.startswith("shop-canary-") for p in pods)
    assert svc.usage_quantiles("prod", "shop").status == "no-data"
    assert svc.hpa_history("prod", "shop").status == "no-data"


@pytest.mark.prometheus
def test_explicit_urls(sb: RunningSandbox) -> None:
    path = "/api/v1/namespaces/monitoring/services/prometheus-k8s:9090/proxy"
    d = service(sb, cfg=config(url=path)).discover()
    assert (d.source, d.url, d.reason) == ("prometheus", sb.url + path, f"prometheus.url {path}")
    direct = sb.prom.url  # type: ignore[attr-defined]
    svc = service(sb, cfg=config(url=direct))
    assert svc.discover().source == "prometheus"
    assert svc.red("prod", "shop", window="5s").verified
    svc = service(sb, cfg=config(url="http://127.0.0.1:9", timeout=2))
    d = svc.discover()
    assert d.source == "metrics-api"
    assert d.reason == "prometheus.url http://127.0.0.1:9: cannot connect to 127.0.0.1:9"


@pytest.mark.prometheus
def test_prometheus_queries_verify_the_kubeconfig_ca(sb: RunningSandbox, tmp_path: Path) -> None:
    kc = yaml.safe_load(Path(sb.kubeconfig).read_text())
    other_ca = make_serving_cert(["127.0.0.1"]).ca_pem
    kc["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(other_ca).decode()
    bad = tmp_path / "kubeconfig"
    bad.write_text(yaml.safe_dump(kc))
    path = "/api/v1/namespaces/monitoring/services/prometheus-k8s:9090/proxy"
    d = service(sb, cfg=config(url=path), kubeconfig=str(bad)).discover()
    assert d.source == "none"
    host = sb.url.split("//", 1)[1]
    assert d.reason.startswith(f"prometheus.url {path}: TLS: cannot verify Prometheus at {host}: "
                               "certificate verify failed: ")


# -- RED ----------------------------------------------------------------------------------------


@pytest.mark.prometheus
def test_red_separates_the_err_canary_from_the_stable_version(sb: RunningSandbox) -> None:
    stable, canary = hashes(sb)
    svc = service(sb)
    c, s = svc.canary_vs_stable("prod", "shop", canary, stable, window="5s")
    assert c.verified and s.verified
    assert c.rate == pytest.approx(10, rel=0.15)
    assert s.rate == pytest.approx(30, rel=0.15)
    assert c.error_ratio >= 0.2
    assert s.error_ratio < 0.01
    assert c.p95 > 0.3 and s.p95 < 0.15
    whole = svc.red("prod", "shop", window="5s")
    assert whole.verified and whole.rate == pytest.approx(40, rel=0.15)
    assert s.error_ratio < whole.error_ratio < c.error_ratio
    assert svc.red("prod", "shop", canary, window="5s").error_ratio == pytest.approx(c.error_ratio, abs=0.02)


@pytest.mark.prometheus
def test_red_without_traffic_is_not_verified(sb: RunningSandbox) -> None:
    svc = service(sb)
    none = svc.red("prod", "nothing-here", window="5s")
    assert (none.status, none.rate, none.error_ratio) == ("no-data", None, None)
    assert none.message == "not verified: no request metrics for prod/nothing-here"
    bad_hash = svc.red("prod", "shop", "zzzzzzzz", window="5s")
    assert bad_hash.status == "no-data" and not bad_hash.verified
    assert svc.red("prod", "shop", window="1m;drop").status == "error"
    assert svc.red("prod", "shop", window="1m;drop").message == \
        "window must be a duration such as 1m or 30s, got '1m;drop'"


@pytest.mark.prometheus
def test_red_series_for_sparklines(sb: RunningSandbox) -> None:
    stable, _ = hashes(sb)
    svc = service(sb, ttl=0)
    # the grid ends at the last whole step: wait until that point has a full 5 s window behind it
    series = wait_until(lambda: (s := svc.red_series("prod", "shop", stable, minutes=1, step="5s", window="5s"))
                        and s.rate and s.rate[-1] == pytest.approx(30, rel=0.15) and s, timeout=15, what="a full step")
    assert series.status == "ok" and series.step == 5.0
    assert len(series.rate) == len(series.error_ratio) == len(series.p95) == 13
    assert series.error_ratio[-1] < 0.01 and series.p95[-1] < 0.15
    assert math.isnan(series.rate[0])  # before Prometheus started: a gap, never a zero


@pytest.mark.prometheus
def test_answers_are_cached_and_shared_between_threads(sb: RunningSandbox) -> None:
    svc = service(sb, ttl=30)
    results = []
    threads = [threading.Thread(target=lambda: results.append(svc.red("prod", "shop", window="5s")))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    # rates move all the time: equal floats mean one answer, shared
    assert len(results) == 8 and all(r == results[0] for r in results)
    assert svc.red("prod", "shop", window="5s") == results[0]


@pytest.mark.prometheus
def test_unreachable_prometheus_is_an_error_not_a_verdict(sb: RunningSandbox) -> None:
    svc = service(sb, ttl=0)
    conn: Connection = svc.conn
    assert svc.discover().source == "prometheus"
    conn.get("/api/v1/namespaces")
    prom = sb.prom  # type: ignore[attr-defined]
    sb.call(lambda s: prom.pause())
    try:
        red = svc.red("prod", "shop", window="5s")
        assert red.status == "error" and not red.verified
        assert red.message.startswith("Prometheus unreachable (503): error trying to reach service: dial tcp")
        d = svc.discover(force=True)
        assert d.source == "metrics-api"
        assert d.reason.startswith("monitoring/prometheus-k8s:9090 unreachable: error trying to reach service")
        assert conn.freshness.state.state is Freshness.LIVE  # a missing Prometheus is not a stale cluster
        assert svc.node_usage().source == "metrics-api"
    finally:
        sb.call(lambda s: prom.resume())
    assert svc.discover(force=True).source == "prometheus"


# -- usage, autoscaling, right-sizing ------------------------------------------------------------


@pytest.mark.prometheus
def test_node_and_pod_usage_from_prometheus(sb: RunningSandbox) -> None:
    svc = service(sb)
    nodes = svc.node_usage(window="5s")
    assert nodes.source == "prometheus" and nodes.status == "ok"
    api = service(sb, "viewer").node_usage()
    assert set(nodes) == set(api) == {"n1", "n2"}
    for name, (cpu, mem) in nodes.items():
        assert cpu == pytest.approx(api[name][0], rel=0.3)
        assert mem == pytest.approx(api[name][1], rel=0.05)
    pods = svc.pod_usage("prod", "shop", window="5s")
    assert pods.source == "prometheus" and len(pods) == 3
    assert all(cpu == pytest.approx(0.025, rel=0.15) for cpu, _ in pods.values())
    assert set(svc.pod_usage("prod", window="5s")) == set(pods) | set(svc.pod_usage("prod", "shop-canary"))
    series = svc.node_series("n1", minutes=1, step="5s", window="5s")
    assert series.status == "ok" and len(series.cpu) == 13
    assert series.memory[-1] == pytest.approx(nodes["n1"][1], rel=0.05)


@pytest.mark.prometheus
def test_hpa_history_quantiles_and_restarts(sb: RunningSandbox) -> None:
    svc = service(sb)
    history = svc.hpa_history("prod", "shop", minutes=1)
    assert history.status == "ok" and history and set(history) == {3}
    assert svc.hpa_history("prod", "nope", minutes=1).status == "no-data"
    cpu50, cpu95, mem50, mem95 = q = svc.usage_quantiles("prod", "shop", window="10s")
    assert q.status == "ok"
    assert cpu50 == pytest.approx(0.025, rel=0.2) and cpu95 >= cpu50
    assert mem50 == pytest.approx(64 << 20, rel=0.1) and mem95 >= mem50
    restarts = svc.restarts("prod", "shop")
    assert (restarts.status, restarts.value) == ("ok", 0.0)


# -- without Prometheus -------------------------------------------------------------------------


def test_without_prometheus_the_metrics_api_gives_usage_and_red_is_not_verified(bare: RunningSandbox) -> None:
    svc = MetricsService(connect(load_kubeconfig([bare.kubeconfig]), "operator", **FAST))
    d = svc.discover()
    assert d.source == "metrics-api"
    assert d.reason.startswith("not found: monitoring/prometheus-k8s:9090, monitoring/prometheus-operated:9090")
    red = svc.red("prod", "shop")
    assert (red.status, red.message) == ("no-data", NOT_VERIFIED)
    c, s = svc.canary_vs_stable("prod", "shop", "a", "b")
    assert c.message == s.message == NOT_VERIFIED
    assert svc.red_series("prod", "shop").status == "no-data"
    nodes = wait_until(lambda: (u := svc.node_usage()) and u, what="node metrics")
    assert nodes.source == "metrics-api" and set(nodes) == {"n1", "n2"}
    pods = svc.pod_usage("prod", "shop-canary")
    assert len(pods) == 1 and next(iter(pods.values()))[0] == pytest.approx(0.025, rel=0.05)
    assert svc.usage_quantiles("prod", "shop").message == NOT_VERIFIED
    svc.close()


def test_promql_values_are_escaped() -> None:
    assert promql_string('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    assert pods_regex("shop.v2") == r"shop\.v2-([bcdfghjklmnpqrstvwxz2456789]{1,10}-)?[bcdfghjklmnpqrstvwxz2456789]{5}"
    assert pods_regex(None) == ".+"
