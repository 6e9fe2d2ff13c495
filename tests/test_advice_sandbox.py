"""Pre-flight checks and right-sizing against the running sandbox (edge-retail + the `lab` namespace).

Each lab Deployment is built to trigger one finding (almtui/sandbox/scenarios/edge-retail-advice.yaml);
the checks read the store's objects, as the informer cache would hold them. Right-sizing is fed
metrics.k8s.io over HTTPS through almtui.cluster.connection, and its figures are checked against
values worked out by hand from the scenario's flat load for `lab-sizing` (see load.py):

    20 req/s over 2 Ready pods -> 10 req/s per pod -> CPU = 10m + 10 x 2m = 30m, every sample
    memory = 64Mi x (1 + 0.03 sin(2 pi (t/3600 + phase))) + 10 x 64 KiB, rounded down to 4 KiB pages
"""

from __future__ import annotations

import math
from importlib import resources

import pytest
import yaml

from almtui.cluster.advice import (
    UsageSamples,
    hpa_after_requests,
    managing_application,
    node_sizing,
    preflight,
    preflight_rollout_promote,
    recommend_memory,
    resources_patch,
    rightsize,
)
from almtui.cluster.advice.samples import quantile
from almtui.cluster.connection import connect
from almtui.cluster.kubeconfig import load_kubeconfig
from almtui.cluster.views.common import epoch
from almtui.sandbox.load import unit
from almtui.sandbox.scenario import Scenario, load_scenario
from tests.support import RunningSandbox, wait_until

SEED = 1
MI = 1 << 20
GIT_PATH = "lab/gitops"
FIRST_COMMIT = "0b1e0c17c88ffe00fe0aeafd8cfadba9f37da54b"
TRIGGERS = {
    "lab-single": ("downtime-max-unavailable", "error"),
    "lab-recreate": ("downtime-recreate", "error"),
    "lab-no-pdb": ("no-pdb", "warning"),
    "lab-pdb-strict": ("pdb-blocks-eviction", "warning"),
    "lab-one-node": ("single-node", "warning"),
    "lab-surge": ("no-room-for-surge", "error"),
    "lab-no-probe": ("no-readiness-probe", "warning"),
    "lab-latest": ("image-latest", "warning"),
    "lab-no-resources": ("no-requests", "warning"),
    "lab-no-history": ("no-rollback-target", "error"),
    "lab-gitops": ("argocd-self-heal", "error"),
}


def advice_scenario() -> Scenario:
    """edge-retail with the advice fragment (until edge-retail.yaml includes it) and its git path."""
    sc = load_scenario("edge-retail")
    if "lab" not in sc.namespaces:
        text = (resources.files("almtui.sandbox") / "scenarios" / "edge-retail-advice.yaml").read_text()
        frag = yaml.safe_load(text)
        sc.namespaces += frag["namespaces"]
        sc.objects += frag["objects"]
        sc.load.update(frag["load"])
    for obj in sc.objects:
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == "sandbox-git-repositories":
            repos = yaml.safe_load(obj["data"]["repositories.yaml"])
            for repo in repos.values():
                repo["paths"].setdefault(GIT_PATH, {FIRST_COMMIT: {
                    "Deployment/lab/lab-gitops": {"app": "registry.local/lab/lab-gitops:1.0.0"}}})
            obj["data"]["repositories.yaml"] = yaml.safe_dump(repos)
    return sc


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    s = RunningSandbox(advice_scenario(), seed=SEED, speed=30, workdir=tmp_path_factory.mktemp("advice")).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def conn(sb):
    c = connect(load_kubeconfig([sb.kubeconfig]))
    yield c
    c.close()


def sim_now(sb: RunningSandbox) -> float:
    return sb.call(lambda s: s.clock.time())


def cluster(sb: RunningSandbox) -> dict:
    return {"nodes": sb.list("/nodes"), "pods": sb.list("/pods"), "pdbs": sb.list("policy/poddisruptionbudgets"),
            "replicasets": sb.list("apps/replicasets"), "applications": sb.list("argoproj.io/applications"),
            "now": sim_now(sb)}


def lab_deployments(sb: RunningSandbox) -> dict[str, dict]:
    def rolled_out() -> dict[str, dict] | None:
        deps = {d["metadata"]["name"]: d for d in sb.list("apps/deployments", "lab")}
        done = all((d.get("status") or {}).get("availableReplicas") == d["spec"]["replicas"]
                   for name, d in deps.items() if name != "lab-flaky")  # gw-store-03 comes and goes
        return deps if deps and done else None

    return wait_until(rolled_out, timeout=60, what="the lab Deployments rolled out")


def codes(findings) -> list[str]:
    return [f.code for f in findings]


def test_each_finding_on_the_deployment_built_for_it(sb):
    deps = lab_deployments(sb)
    assert set(TRIGGERS) | {"lab-clean", "lab-flaky", "lab-sizing"} == set(deps)
    world = cluster(sb)
    for name, (code, severity) in TRIGGERS.items():
        found = preflight(deps[name], None, **world)
        assert code in codes(found), (name, found)
        assert {f.severity for f in found if f.code == code} == {severity}, name
    assert {"no-requests", "no-limits"} <= set(codes(preflight(deps["lab-no-resources"], None, **world)))
    latest = [f for f in preflight(deps["lab-latest"], None, **world) if f.code == "image-latest"]
    assert [f.title for f in latest] == ["Image tag 'latest'", "Image without a tag"]
    surge = next(f for f in preflight(deps["lab-surge"], None, **world) if f.code == "no-room-for-surge")
    assert "13Gi memory each" in surge.reason and "room for 0" in surge.reason
    # The clean one: nothing, for an image change as for an unspecified change.
    clean = deps["lab-clean"]
    assert preflight(clean, None, **world) == []
    assert preflight(clean, {"images": {"app": "registry.local/lab/lab-clean:1.1.0"}}, **world) == []
    # The checks read the proposed images: an untagged one is flagged even on the clean Deployment.
    assert "image-latest" in codes(preflight(clean, {"images": {"app": "registry.local/lab/lab-clean"}}, **world))


def test_argo_cd_ownership_through_the_controllers_status(sb):
    deps = lab_deployments(sb)

    def compared():
        app = sb.get("argoproj.io/applications", "argocd", "lab-gitops")
        resources = (app.get("status") or {}).get("resources") or []
        return app if any(r.get("name") == "lab-gitops" for r in resources) else None

    app = wait_until(compared, timeout=30, what="Argo CD compared lab-gitops")
    untracked = {**deps["lab-gitops"], "metadata": {**deps["lab-gitops"]["metadata"], "annotations": {}}}
    assert managing_application(untracked, [app])["metadata"]["name"] == "lab-gitops"
    assert managing_application(deps["lab-clean"], [app]) is None


def test_canary_promotion_in_staging_is_not_verified_without_metrics(sb):
    def paused():
        ro = sb.get("argoproj.io/rollouts", "staging", "checkout")
        return ro if (ro.get("status") or {}).get("pauseConditions") else None

    ro = wait_until(paused, timeout=60, what="staging/checkout paused mid-canary")
    world = cluster(sb)
    found = preflight_rollout_promote(ro, pods=world["pods"], replicasets=world["replicasets"])
    assert codes(found) == ["canary-not-verified"]


def expected_memory(pod: str, t: float) -> int:
    """load.py's memory formula for lab-sizing, by hand: 64Mi +- 3 % drift + 64 KiB per req/s, in pages."""
    phase = unit(SEED, "phase", "lab-sizing", pod)
    mem = 64 * MI * (1.0 + 0.03 * math.sin(2 * math.pi * (t / 3600.0 + phase))) + 10 * 65536
    return int(mem) // 4096 * 4096


def test_rightsizing_from_the_metrics_api(sb, conn):
    deps = lab_deployments(sb)
    dep = deps["lab-sizing"]
    samples = UsageSamples()
    seen: dict[str, set[float]] = {}
    last: dict = {}

    def enough() -> bool:
        nonlocal last
        body = conn.get("/apis/metrics.k8s.io/v1beta1/namespaces/lab/pods")
        samples.ingest(body)  # grouped by the pod-template-hash label and the pod name
        last = body
        for item in body["items"]:
            if item["metadata"]["name"].startswith("lab-sizing-"):
                seen.setdefault(item["metadata"]["name"], set()).add(item["timestamp"])
        return len(seen) == 2 and all(len(ts) >= 8 for ts in seen.values())

    wait_until(enough, timeout=60, interval=0.2, what="8 scrapes of both lab-sizing pods")
    usage = samples.usage_for(dep)
    u = usage["lab-sizing"]
    assert (u.cpu_p50, u.cpu_p95, u.pods) == (30.0, 30.0, 2)  # 10m + 10 req/s x 2m, flat

    per_pod = []
    for pod, stamps in seen.items():
        mems = sorted(float(expected_memory(pod, epoch(t))) for t in stamps)
        per_pod.append((quantile(mems, 0.5), quantile(mems, 0.95)))
    mem_p50, mem_p95 = max(p[0] for p in per_pod), max(p[1] for p in per_pod)
    assert (u.mem_p50, u.mem_p95) == (pytest.approx(mem_p50, abs=1), pytest.approx(mem_p95, abs=1))
    assert 64 * MI * 0.97 + 640 * 1024 - 4096 <= u.mem_p95 <= 64 * MI * 1.03 + 640 * 1024

    sizing = rightsize(dep, usage, pods=sb.list("/pods", "lab"), now=sim_now(sb))
    [ct] = sizing.containers
    assert (ct.cpu.request, ct.cpu.recommended_text, ct.cpu.headroom) == (500, "35m", 470.0)  # 34.5 -> 35m
    assert ct.memory.recommended == recommend_memory(mem_p95) and ct.memory.recommended_text in ("76Mi", "80Mi")
    assert ct.flags == ("cpu over-provisioned", "memory over-provisioned")
    assert sizing.requests_change == {"lab-sizing": {"cpu": "35m", "memory": ct.memory.recommended_text}}
    assert (sizing.total_cpu_request, sizing.total_cpu_recommended) == (1000, 70)

    # The patch goes through the API server's strategic merge (dry run: nothing changes).
    body = resources_patch(dep, sizing.requests_change)
    out = conn.request("PATCH", "/apis/apps/v1/namespaces/lab/deployments/lab-sizing", query={"dryRun": "All"},
                       body=body, content_type="application/strategic-merge-patch+json")
    [patched] = out["spec"]["template"]["spec"]["containers"]
    assert patched["resources"] == {"requests": {"cpu": "35m", "memory": ct.memory.recommended_text},
                                    "limits": {"cpu": "1", "memory": "512Mi"}}
    assert patched["readinessProbe"] and patched["image"] == "registry.local/lab/lab-sizing:1.0.0"
    stored = sb.get("apps/deployments", "lab", "lab-sizing")
    assert stored["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "500m"

    # Smaller requests, same load: 30m of 35m is 85 % against the HPA's 50 % -> 4 replicas.
    hpa = sb.get("autoscaling/horizontalpodautoscalers", "lab", "lab-sizing")
    pods = [p for p in sb.list("/pods", "lab") if p["metadata"]["name"].startswith("lab-sizing-")]
    metrics = [m for m in last["items"] if m["metadata"]["name"].startswith("lab-sizing-")]
    now = sim_now(sb)
    assert hpa_after_requests(hpa, pods, metrics, {}, now) == 2
    assert hpa_after_requests(hpa, pods, metrics, sizing.requests_change, now) == 4


def test_the_warehouse_is_full_on_paper_but_idle(sb, conn):
    lab_deployments(sb)
    node_metrics = conn.get("/apis/metrics.k8s.io/v1beta1/nodes")["items"]
    by = {n.name: n for n in node_sizing(sb.list("/nodes"), sb.list("/pods"), node_metrics, sim_now(sb))}
    wh = by["gw-warehouse-01"]
    assert wh.memory_allocatable == 16 * 1024 * MI - 256 * MI  # 16Gi minus the scenario's system reserve
    assert wh.memory_requested >= 13 * 1024 * MI
    assert wh.reserved_idle == ("memory",) and wh.flags == ("reserved-but-idle",)
    assert wh.memory_used_ratio < 0.3 < 0.8 < wh.memory_requested_ratio
    assert all(n.flags == () for name, n in by.items() if name != "gw-warehouse-01")


def test_all_pods_on_the_flaky_gateway_while_it_is_cut_off(sb):
    deps = lab_deployments(sb)
    sb.call(lambda s: s.faults.inject("partition", 60, resource="gw-store-03"))
    try:
        def unreachable():
            node = sb.get("/nodes", None, "gw-store-03")
            ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
            return ready["status"] == "Unknown"

        wait_until(unreachable, timeout=30, what="gw-store-03 marked Unknown")
        world = cluster(sb)
        found = preflight(deps["lab-flaky"], None, **world)
        f = next(f for f in found if f.code == "node-not-ready")
        assert f.severity == "error" and "gw-store-03 (unreachable)" in f.reason
        assert "node-not-ready" not in codes(preflight(deps["lab-clean"], None, **world))
    finally:
        sb.call(lambda s: s.faults.clear("partition"))
