"""The `--scale` generator (a settled cluster written straight into the store) and `--churn`."""

from __future__ import annotations

import collections
import json
import time

import pytest
from kubernetes import client, config

from almtui.kube.hashing import compute_hash
from almtui.sandbox.churn import CHURN_KEY, Churn, start_churn
from almtui.sandbox.runtime import Sandbox
from almtui.sandbox.scale import NODE_POD_LIMIT, generate, resolve
from almtui.sandbox.scenario import parse_scenario
from tests.support import RunningSandbox, wait_until

BASE = {"name": "scale-test", "settle": 30, "users": [{"name": "operator", "role": "cluster-admin"}],
        "nodes": [{"name": "edge-1"}]}
SMALL = {"pods": 60, "nodes": 4, "deployments": 6, "hpas": 2, "events": 20, "pipelineruns": 5, "namespaces": 3}


def built(scale: dict, seed: int = 1) -> Sandbox:
    sb = Sandbox(parse_scenario(BASE), seed=seed)
    generate(sb, scale)  # before build(), as `almtui sandbox --scale` does
    sb.build()
    return sb


@pytest.fixture(scope="module")
def small() -> Sandbox:
    return built(SMALL)


def test_resolve_fills_in_counts_and_refuses_what_cannot_fit():
    assert resolve({"pods": 5000}) == {"pods": 5000, "deployments": 500, "nodes": 50, "rollouts": 0, "hpas": 0,
                                       "pipelineruns": 0, "events": 0, "namespaces": 10}
    assert resolve({"deployments": 4, "hpas": 9})["pods"] == 12
    assert resolve({"deployments": 4, "hpas": 9})["hpas"] == 4
    assert resolve({"pods": 3, "deployments": 10})["deployments"] == 3
    with pytest.raises(ValueError, match="do not fit on 10 nodes"):
        resolve({"pods": 20000, "nodes": 10})
    with pytest.raises(ValueError, match="need nodes"):
        resolve({"pods": 10, "nodes": 0})
    assert resolve({"pods": NODE_POD_LIMIT * 10, "nodes": 11})["nodes"] == 11


def test_generated_objects_are_linked_like_the_controllers_link_them(small):
    store = small.store
    namespaces = {n["metadata"]["name"] for n in store.list("/namespaces")}
    assert {"scale-00", "scale-01", "scale-02"} <= namespaces
    deps = [d for d in store.list("apps/deployments") if d["metadata"]["namespace"].startswith("scale-")]
    assert len(deps) == 6 and sum(d["spec"]["replicas"] for d in deps) == 60
    for d in deps:
        md = d["metadata"]
        rss = [rs for _, rs in store.dependents(md["uid"])]
        assert len(rss) == 1
        rs = rss[0]
        pod_hash = compute_hash(d["spec"]["template"])
        assert rs["metadata"]["name"] == f"{md['name']}-{pod_hash}"
        assert rs["metadata"]["labels"]["pod-template-hash"] == pod_hash
        assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
        pods = [p for _, p in store.dependents(rs["metadata"]["uid"])]
        assert len(pods) == d["spec"]["replicas"] == rs["status"]["readyReplicas"]
        for p in pods:
            assert p["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
            assert p["metadata"]["labels"]["pod-template-hash"] == pod_hash
            assert p["status"]["phase"] == "Running"
            assert {c["type"]: c["status"] for c in p["status"]["conditions"]}["Ready"] == "True"
        status = d["status"]
        assert status["observedGeneration"] == md["generation"]
        assert status["availableReplicas"] == d["spec"]["replicas"]
        assert {c["type"]: c["reason"] for c in status["conditions"]} == {
            "Available": "MinimumReplicasAvailable", "Progressing": "NewReplicaSetAvailable"}


def test_pods_are_spread_over_nodes_within_capacity(small):
    store = small.store
    per_node = collections.Counter(p["spec"]["nodeName"] for p in store.list("/pods")
                                   if p["metadata"]["namespace"].startswith("scale-"))
    assert len(per_node) == 4 and max(per_node.values()) - min(per_node.values()) <= 1
    for node in store.list("/nodes"):
        assert per_node.get(node["metadata"]["name"], 0) <= int(node["status"]["allocatable"]["pods"])
    ips = [p["status"]["podIP"] for p in store.list("/pods")]
    assert len(ips) == len(set(ips))


def test_the_controllers_find_nothing_to_do():
    sb = built({**SMALL, "hpas": 0})  # HPAs follow the time of day, so they may rightly scale
    changed: collections.Counter = collections.Counter()
    sb.store.subscribe(lambda ev: changed.update([ev.key]) if ev.type != "ADDED" else None)
    sb.manager.advance(60)  # a minute of heartbeats and kubelet syncs
    assert changed["/pods"] == 0 and changed["apps/replicasets"] == 0
    assert changed["apps/deployments"] == 0
    assert sb.manager.errors == 0


def test_hpas_pipelineruns_and_events(small):
    store = small.store
    hpas = [h for h in store.list("autoscaling/horizontalpodautoscalers") if h["metadata"]["namespace"] != "prod"]
    assert len(hpas) == 2
    for h in hpas:
        target = store.get("apps/deployments", h["metadata"]["namespace"], h["spec"]["scaleTargetRef"]["name"])
        assert target is not None and h["spec"]["minReplicas"] <= target["spec"]["replicas"]
    runs = store.list("tekton.dev/pipelineruns")
    assert len(runs) == 5
    for r in runs:
        cond = r["status"]["conditions"][0]
        assert cond["type"] == "Succeeded" and cond["status"] in ("True", "False")
        assert r["status"]["startTime"] < r["status"]["completionTime"]
    events = [e for e in store.list("/events") if e["metadata"]["namespace"].startswith("scale-")
              and e["reason"] in ("Unhealthy", "BackOff", "Pulled", "Created", "Started")]
    assert len(events) >= 20
    assert {e["type"] for e in events} == {"Normal", "Warning"}


def test_generation_is_deterministic_by_seed():
    def shape(sb: Sandbox) -> list[tuple[str, str]]:
        return [(p["metadata"]["name"], p["spec"]["nodeName"]) for p in sb.store.list("/pods")]

    scale = {"pods": 30, "nodes": 3, "deployments": 3}
    assert shape(built(scale, seed=7)) == shape(built(scale, seed=7))
    assert shape(built(scale, seed=7)) != shape(built(scale, seed=8))


def test_generate_after_build_works_too():
    sb = Sandbox(parse_scenario(BASE), seed=1)
    sb.build()
    generate(sb, {"pods": 8, "nodes": 2, "deployments": 2, "namespaces": 1})
    assert len(sb.store.list("/pods", "scale-00")) == 8


def test_generated_deployments_scale_through_the_controllers():
    sb = built({"pods": 6, "nodes": 2, "deployments": 2, "namespaces": 1})
    dep = sb.store.list("apps/deployments", "scale-00")[0]
    name = dep["metadata"]["name"]
    sb.store.mutate("apps/deployments", "scale-00", name, lambda d: d["spec"].__setitem__("replicas", 5))
    sb.manager.settle(60)
    after = sb.store.get("apps/deployments", "scale-00", name)
    assert after["status"]["readyReplicas"] == 5 and after["status"]["observedGeneration"] == 2
    running = [p for p in sb.store.list("/pods", "scale-00") if p["metadata"]["labels"]["app"] == name
               and p["status"].get("phase") == "Running"]
    assert len(running) == 5


# -- churn -----------------------------------------------------------------------------------


def test_churn_makes_a_mix_of_changes_within_bounds():
    sb = built({"pods": 20, "nodes": 2, "deployments": 4, "namespaces": 2})
    before = {(d["metadata"]["namespace"], d["metadata"]["name"]): d["spec"]["replicas"]
              for d in sb.store.list("apps/deployments")}
    churn = Churn(sb, 10)
    rv = sb.store.rv
    for _ in range(200):
        churn.step()
    assert churn.changes >= 150 and all(churn.by_kind.values())
    assert sb.store.rv > rv
    touched = [p for p in sb.store.list("/pods") if CHURN_KEY in (p["metadata"].get("labels") or {})
               or CHURN_KEY in (p["metadata"].get("annotations") or {})]
    assert touched
    for d in sb.store.list("apps/deployments"):
        key = (d["metadata"]["namespace"], d["metadata"]["name"])
        assert abs(d["spec"]["replicas"] - before[key]) <= 1
    sb.manager.settle(30)
    assert sb.manager.errors == 0


def test_churn_is_deterministic_by_seed():
    def kinds(seed: int) -> list[str | None]:
        churn = Churn(built({"pods": 10, "nodes": 2, "deployments": 2, "namespaces": 1}, seed=seed), 5)
        return [churn.step() for _ in range(30)]

    assert kinds(3) == kinds(3)


def test_churn_runs_at_its_rate_on_a_live_sandbox(tmp_path):
    sb = RunningSandbox(BASE, workdir=tmp_path,
                        prepare=lambda s: generate(s, {"pods": 20, "nodes": 2, "deployments": 4})).start()
    try:
        task = sb.call(lambda s: start_churn(s, 40))
        wait_until(lambda: sb.call(lambda s: s.ctx.shared["churn"].changes) >= 20, 10, what="20 changes")
        sb.call(lambda s: task.cancel())
    finally:
        sb.stop()


# -- a big one -------------------------------------------------------------------------------


def test_5000_pods_build_quickly_and_list_in_pages(tmp_path):
    started = time.monotonic()
    sb = RunningSandbox(BASE, workdir=tmp_path, prepare=lambda s: generate(
        s, {"pods": 5000, "nodes": 200, "deployments": 500})).start()
    try:
        took = time.monotonic() - started
        assert took < 45, f"building 5,000 pods took {took:.1f}s"
        core = client.CoreV1Api(config.new_client_from_config(config_file=sb.kubeconfig, context="operator"))
        names: list[str] = []
        token = None
        pages = 0
        while True:
            kwargs = {"limit": 500, "_preload_content": False}
            if token:
                kwargs["_continue"] = token
            page = json.loads(core.list_pod_for_all_namespaces(**kwargs).data)
            names += [p["metadata"]["name"] for p in page["items"]]
            pages += 1
            token = page["metadata"].get("continue")
            if not token:
                break
        assert len(names) == len(set(names)) == 5000 and pages == 10
    finally:
        sb.stop()
