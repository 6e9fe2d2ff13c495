"""The builders run on every cache change: they must stay linear at edge-site scale.

5,000 pods / 500 Deployments / 1,000 ReplicaSets (plus nodes, events, HPAs). Timings (CPU
time of this process, so other load on the machine matters less) are printed with ``pytest -s``,
not asserted as such; the check is that doubling the input does not come close to quadrupling
the time (what an accidental O(n²) join would do).
"""

from __future__ import annotations

import gc
import time

from almtui.cluster import views

T = "2026-01-01T00:00:00Z"
NOW = 1767229200.0  # 2026-01-01T01:00:00Z


def cluster(deployments: int, pods_per_rs: int = 5) -> dict[str, list[dict]]:
    deps, rss, pods, hpas, events = [], [], [], [], []
    for n in range(deployments):
        ns, name = f"ns-{n % 20}", f"app-{n}"
        dep = {"metadata": {"name": name, "namespace": ns, "uid": f"d{n}", "generation": 2, "creationTimestamp": T,
                            "labels": {"app": name}, "annotations": {"deployment.kubernetes.io/revision": "2"}},
               "spec": {"replicas": pods_per_rs, "template": {"metadata": {"labels": {"app": name}}, "spec": {
                   "containers": [{"name": name, "image": f"reg/{name}:2",
                                   "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}},
               "status": {"observedGeneration": 2, "replicas": pods_per_rs, "updatedReplicas": pods_per_rs,
                          "availableReplicas": pods_per_rs, "readyReplicas": pods_per_rs}}
        deps.append(dep)
        hpas.append({"metadata": {"name": name, "namespace": ns},
                     "spec": {"scaleTargetRef": {"kind": "Deployment", "name": name}, "maxReplicas": 10}})
        for rev, (hash_, replicas) in enumerate((("new", pods_per_rs), ("old", 0)), start=1):
            template = {"metadata": {"labels": {"app": name, "pod-template-hash": f"{hash_}{n}"}},
                        "spec": dep["spec"]["template"]["spec"]}
            rs = {"metadata": {"name": f"{name}-{hash_}", "namespace": ns, "uid": f"rs-{hash_}{n}",
                               "labels": template["metadata"]["labels"], "creationTimestamp": T,
                               "annotations": {"deployment.kubernetes.io/revision": str(3 - rev)},
                               "ownerReferences": [{"kind": "Deployment", "name": name, "uid": f"d{n}",
                                                    "controller": True}]},
                  "spec": {"replicas": replicas, "template": template},
                  "status": {"replicas": replicas, "availableReplicas": replicas}}
            rss.append(rs)
            for k in range(replicas):
                pods.append({
                    "metadata": {"name": f"{name}-{hash_}-{k}", "namespace": ns, "creationTimestamp": T,
                                 "labels": template["metadata"]["labels"],
                                 "ownerReferences": [{"kind": "ReplicaSet", "name": rs["metadata"]["name"],
                                                      "uid": rs["metadata"]["uid"], "controller": True}]},
                    "spec": {"nodeName": f"node-{k % 50}", "containers": template["spec"]["containers"]},
                    "status": {"phase": "Running", "podIP": "10.0.0.1", "containerStatuses": [
                        {"name": name, "ready": True, "restartCount": k % 4, "state": {"running": {}}}]}})
                if k == 0:
                    events.append({"metadata": {"name": f"e{n}", "namespace": ns}, "type": "Warning",
                                   "involvedObject": {"kind": "Pod", "name": f"{name}-{hash_}-{k}"},
                                   "reason": "BackOff", "message": "m", "count": 2, "lastTimestamp": T})
    nodes = [{"metadata": {"name": f"node-{k}", "creationTimestamp": T},
              "status": {"allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"},
                         "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": T}]}}
             for k in range(50)]
    return {"deployments": deps, "replicasets": rss, "pods": pods, "hpas": hpas, "events": events, "nodes": nodes}


def build_all(c: dict[str, list[dict]]) -> dict[str, float]:
    timings = {}

    def timed(label, fn):
        start = time.process_time()
        result = fn()
        timings[label] = time.process_time() - start
        return result

    rollouts = timed("rollouts", lambda: views.build_rollouts(c["deployments"], [], c["replicasets"], c["pods"],
                                                              c["hpas"], NOW))
    assert len(rollouts) == len(c["deployments"])
    assert sum(len(rs.pods) for v in rollouts for rs in v.replicasets) == len(c["pods"])
    timed("pods", lambda: views.build_pods(c["pods"], NOW))
    timed("pod_issues", lambda: views.build_pod_issues(c["pods"], NOW))
    timed("nodes", lambda: views.build_nodes(c["nodes"], c["pods"], [], [], NOW))
    timed("events", lambda: views.build_warning_events(c["events"], NOW))
    timed("hpas", lambda: views.build_hpas(c["hpas"], {}, NOW))
    timed("environments", lambda: views.build_environments(c["deployments"], [], [("a", "ns-1"), ("b", "ns-2")],
                                                           NOW))
    return timings


def test_builders_scale_linearly():
    small, big = cluster(250, 10), cluster(500, 10)  # big: 500 deployments, 1,000 RSs, 5,000 pods
    assert (len(big["deployments"]), len(big["replicasets"]), len(big["pods"])) == (500, 1000, 5000)
    build_all(small)  # warm caches (timestamp parsing) so both runs measure the same work
    # The collector's full passes grow with every live object in the process, not with our work.
    gc.collect()
    gc.disable()
    try:
        t_small = min((build_all(small) for _ in range(2)), key=lambda t: sum(t.values()))
        t_big = min((build_all(big) for _ in range(2)), key=lambda t: sum(t.values()))
    finally:
        gc.enable()
    total_small, total_big = sum(t_small.values()), sum(t_big.values())
    print(f"\nview builders, 2,500 pods: {total_small * 1000:.0f} ms; 5,000 pods: {total_big * 1000:.0f} ms")
    for label in t_big:
        print(f"  {label:13} {t_small[label] * 1000:7.1f} ms -> {t_big[label] * 1000:7.1f} ms")
    # Linear doubles the time, quadratic quadruples it; allow generous noise on a shared machine.
    assert total_big < total_small * 3.5 + 0.05


def test_per_object_memo_gives_the_plain_answers_and_forgets_replaced_pods():
    """The failing-pods area's per-pod memos (PerObject) change nothing but the time: same views, and a
    replaced pod dict is parsed again while its old entry is dropped at the next sweep."""
    c = cluster(20)
    statuses = views.PerObject(views.common.pod_status)
    for _ in range(2):
        assert views.build_pod_issues(c["pods"], NOW, status_of=statuses) == views.build_pod_issues(c["pods"], NOW)
    old = c["pods"][0]
    new = {**old, "status": {"phase": "Failed", "reason": "Evicted", "message": "low on memory"}}
    pods = [new, *c["pods"][1:]]
    assert views.build_pod_issues(pods, NOW, status_of=statuses) == views.build_pod_issues(pods, NOW)
    quiet = views.PerObject(views.health.never_an_issue)
    for p in (c["pods"], pods):
        assert views.build_pod_issues(p, NOW, status_of=statuses, quiet=quiet) == views.build_pod_issues(p, NOW)
    assert all(entry[0] is not old for entry in statuses._old.values())
    assert all(entry[0] is not old for entry in quiet._old.values())


def test_nodes_from_the_pods_by_node_index_equal_the_plain_build_and_sum_only_changed_nodes():
    """build_nodes_indexed (the service's: pods by node, copy-on-write buckets) gives build_nodes's
    answers; after one pod changed, only its node is summed again."""
    c = cluster(20)
    index: dict[str, tuple[dict, ...]] = {}

    def reindex(pods: list[dict]) -> None:
        grouped: dict[str, list[dict]] = {}
        for p in pods:
            for v in views.health.node_index_values(p):
                grouped.setdefault(v, []).append(p)
        fresh = {k: tuple(v) for k, v in grouped.items()}
        for k, v in fresh.items():  # a bucket whose pods are the same objects stays the same tuple
            old = index.get(k)
            index[k] = old if old is not None and len(old) == len(v) and all(
                a is b for a, b in zip(old, v, strict=True)) else v
        for k in [k for k in index if k not in fresh]:
            del index[k]

    summed: list[str] = []

    def share(pod: dict) -> tuple[str, int, int]:
        summed.append(pod["spec"].get("nodeName", ""))
        return views.health.node_share(pod)

    sums = views.health.NodeSums(share)
    reindex(c["pods"])

    def indexed() -> list:
        return views.health.refresh_nodes(
            views.health.build_nodes_indexed(c["nodes"], lambda n: index.get(n, ()), NOW, sums), None, None, NOW)

    assert indexed() == views.build_nodes(c["nodes"], c["pods"], None, None, NOW)
    assert sum(n.pods for n in indexed()) > 0
    summed.clear()
    victim = next(p for p in c["pods"] if p["spec"].get("nodeName"))
    finished = {**victim, "status": {**victim.get("status", {}), "phase": "Succeeded"}}
    c["pods"] = [finished if p is victim else p for p in c["pods"]]
    reindex(c["pods"])
    assert indexed() == views.build_nodes(c["nodes"], c["pods"], None, None, NOW)
    assert set(summed) == {victim["spec"]["nodeName"]}
