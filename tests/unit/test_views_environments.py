"""The promotion matrix: apps x environments, versions, health, promotability."""

from __future__ import annotations

from almtui.cluster.views import DEFAULT_ENVIRONMENTS, build_environments


def workload(kind: str, name: str, ns: str, image: str, *, labels=None, healthy=True, containers=None) -> dict:
    status = ({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}
              if healthy else
              {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
               "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]})
    if kind == "Rollout":
        status = {"observedGeneration": "1", "phase": "Healthy" if healthy else "Degraded"}
    return {"kind": kind,
            "metadata": {"name": name, "namespace": ns, "generation": 1,
                         "labels": {"app": name} if labels is None else labels},
            "spec": {"replicas": 1, "template": {"spec": {"containers": containers or [
                {"name": "sidecar", "image": "reg/proxy:9"}, {"name": name, "image": image}]}}},
            "status": status}


def test_matrix_versions_health_and_promotability():
    deps = [workload("Deployment", "storefront", "dev", "reg/storefront:1.5.0"),
            workload("Deployment", "storefront", "staging", "reg/storefront:1.4.2"),
            workload("Deployment", "storefront", "prod", "reg/storefront:1.4.2"),
            workload("Deployment", "pos-sync", "dev", "reg/pos-sync:2.2.0-bad", healthy=False),
            workload("Deployment", "pos-sync", "staging", "reg/pos-sync:2.1.0"),
            workload("Deployment", "pos-sync", "monitoring", "reg/pos-sync:0.1")]  # not an environment
    rows = build_environments(deps, [], DEFAULT_ENVIRONMENTS, 0.0)
    assert [r.key for r in rows] == [("pos-sync",), ("storefront",)]
    pos, shop = rows
    assert pos.environments == ("dev", "staging", "prod")
    assert [c.version if c else None for c in pos.cells] == ["2.2.0-bad", "2.1.0", None]
    assert pos.cells[0].health == "Degraded"
    assert pos.cells[1].differs and not pos.cells[1].promotable  # dev is broken: nothing to promote
    dev, staging, prod = shop.cells
    assert (dev.version, dev.image, dev.kind, dev.name) == ("1.5.0", "reg/storefront:1.5.0", "Deployment",
                                                           "storefront")
    assert not dev.differs and dev.previous_version is None
    assert staging.differs and staging.promotable and staging.previous_version == "1.5.0"
    assert not prod.differs and not prod.promotable


def test_custom_environments_rollouts_and_grouping():
    envs = [("edge-test", "store-test"), ("edge", "store-01")]
    objs = [workload("Rollout", "shop-canary", "store-test", "reg/shop:2", labels={"app.kubernetes.io/name": "shop"}),
            workload("Deployment", "shop", "store-01", "reg/shop:1", labels={"app": "shop"}),
            workload("Deployment", "shop-worker", "store-01", "reg/worker:1", labels={"app": "shop"})]
    [row] = build_environments([objs[1], objs[2]], [objs[0]], envs, 0.0)
    assert row.app == "shop" and row.environments == ("edge-test", "edge")
    test_cell, edge_cell = row.cells
    assert (test_cell.kind, test_cell.version, test_cell.health) == ("Rollout", "2", "Healthy")
    assert (edge_cell.name, edge_cell.version) == ("shop", "1")  # the workload named like the app wins
    assert edge_cell.differs and edge_cell.promotable


def test_main_container_falls_back_to_first_and_empty_inputs():
    dep = workload("Deployment", "api", "dev", "x", containers=[{"name": "server", "image": "reg/api:3"}])
    [row] = build_environments([dep], [], DEFAULT_ENVIRONMENTS, 0.0)
    assert row.cells[0].version == "3"
    assert build_environments([], [], DEFAULT_ENVIRONMENTS, 0.0) == []
