"""Pre-flight checks, one crafted situation per finding (and the same situation without the problem)."""

from __future__ import annotations

import copy

import pytest

from almtui.cluster.advice import (
    Finding,
    blocking,
    managing_application,
    pod_can_run_on,
    preflight,
    preflight_promotion,
    preflight_rollout_promote,
)
from almtui.cluster.advice.preflight import human_bytes, human_cpu, image_problem, node_unready_reason, percent
from almtui.cluster.metrics import RED

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def node(name: str, *, ready: str = "True", cpu: str = "4", memory: str = "8Gi", taints=None, labels=None,
         unschedulable: bool = False, heartbeat: str | None = None) -> dict:
    cond = {"type": "Ready", "status": ready}
    if heartbeat:
        cond["lastHeartbeatTime"] = heartbeat
    spec: dict = {"taints": taints} if taints else {}
    if unschedulable:
        spec["unschedulable"] = True
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": spec,
            "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": "110"}, "conditions": [cond]}}


def container(name: str = "app", image: str = "registry.local/web:1.0.0", *, probe: bool = True,
              requests: dict | None = None, limits: dict | None = None) -> dict:
    c: dict = {"name": name, "image": image}
    if probe:
        c["readinessProbe"] = {"httpGet": {"path": "/healthz", "port": 8080}}
    resources = {}
    if requests is not False:
        resources["requests"] = requests if requests is not None else {"cpu": "100m", "memory": "64Mi"}
    if limits is not False:
        resources["limits"] = limits if limits is not None else {"cpu": "500m", "memory": "128Mi"}
    c["resources"] = resources
    return c


def deployment(name: str = "web", ns: str = "prod", *, replicas: int | None = 3, strategy: dict | None = None,
               containers: list | None = None, history: int | None = 10, pod_spec: dict | None = None,
               annotations: dict | None = None, labels: dict | None = None) -> dict:
    spec: dict = {
        "selector": {"matchLabels": {"app": name}},
        "strategy": strategy or {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": containers or [container()], **(pod_spec or {})}},
    }
    if replicas is not None:
        spec["replicas"] = replicas
    if history is not None:
        spec["revisionHistoryLimit"] = history
    md: dict = {"name": name, "namespace": ns, "uid": f"uid-{ns}-{name}", "labels": labels or {"app": name}}
    if annotations:
        md["annotations"] = annotations
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": md, "spec": spec}


def replicaset(dep: dict, hash_: str = "5d8f7c9b4d") -> dict:
    md = dep["metadata"]
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{md['name']}-{hash_}", "namespace": md["namespace"], "uid": f"rs-{md['name']}",
                         "labels": {"app": md["name"], "pod-template-hash": hash_},
                         "ownerReferences": [{"kind": dep["kind"], "name": md["name"], "uid": md["uid"],
                                              "controller": True}]}}


def pod(dep: dict, n: int, node_name: str, *, ready: bool = True, phase: str = "Running", rs: dict | None = None,
        requests: dict | None = None, extra_labels: dict | None = None) -> dict:
    md = dep["metadata"]
    rs = rs or replicaset(dep)
    spec = copy.deepcopy(dep["spec"]["template"]["spec"])
    if requests is not None:
        for c in spec["containers"]:
            c["resources"] = {"requests": requests}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{rs['metadata']['name']}-{n:05d}", "namespace": md["namespace"],
                         "labels": {**dep["spec"]["template"]["metadata"]["labels"],
                                    **rs["metadata"]["labels"], **(extra_labels or {})},
                         "ownerReferences": [{"kind": "ReplicaSet", "name": rs["metadata"]["name"],
                                              "uid": rs["metadata"]["uid"], "controller": True}]},
            "spec": {**spec, "nodeName": node_name},
            "status": {"phase": phase,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def pdb(name: str, ns: str = "prod", *, selector: dict | None = None, **spec) -> dict:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"matchLabels": {"app": "web"}} if selector is None else selector, **spec}}


def application(name: str, *, automated: dict | None = None, resources: list | None = None,
                dest_ns: str = "prod") -> dict:
    spec: dict = {"destination": {"namespace": dest_ns, "server": "https://kubernetes.default.svc"},
                  "source": {"repoURL": "https://git.example/deploy.git", "path": name}}
    if automated is not None:
        spec["syncPolicy"] = {"automated": automated}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd"}, "spec": spec,
            "status": {"resources": resources or []}}


NODES = [node("n1"), node("n2"), node("n3")]


def world(dep: dict, *, nodes=None, pods=None, pdbs=None, apps=(), spread=("n1", "n2", "n3")) -> dict:
    """A healthy cluster around ``dep``: its pods spread over the nodes and a PDB that does not block."""
    rs = replicaset(dep)
    replicas = dep["spec"].get("replicas", 1)
    if pods is None:
        pods = [pod(dep, n, spread[n % len(spread)], rs=rs) for n in range(replicas)]
    return {"nodes": NODES if nodes is None else nodes, "pods": pods, "replicasets": [rs],
            "pdbs": [pdb("web", minAvailable=max(replicas - 1, 0))] if pdbs is None else pdbs,
            "applications": list(apps), "now": NOW}


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def only(findings: list[Finding], code: str) -> Finding:
    [found] = [f for f in findings if f.code == code]
    return found


# --- the clean case --------------------------------------------------------------------------------


def test_a_clean_deployment_has_no_findings():
    dep = deployment()
    assert preflight(dep, {"images": {"app": "registry.local/web:1.1.0"}}, **world(dep)) == []
    assert preflight(dep, None, **world(dep)) == []


def test_odd_objects_never_raise():
    assert isinstance(preflight({}, None), list)
    assert isinstance(preflight({"spec": "junk", "metadata": 3}, {"images": 5}, nodes=[1, None, {"status": []}],
                                pods=["x", {"spec": None}], pdbs=[{"spec": {"selector": 7}}],
                                applications=[{"spec": {"syncPolicy": "x"}}]), list)
    assert isinstance(preflight_rollout_promote({}, pods=[None]), list)
    assert isinstance(preflight_promotion({}, {}), list)


# --- availability ----------------------------------------------------------------------------------


def test_single_replica_with_max_unavailable_one_is_downtime():
    dep = deployment(replicas=1, strategy={"type": "RollingUpdate",
                                           "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}})
    f = only(preflight(dep, None, **world(dep)), "downtime-max-unavailable")
    assert f.severity == "error" and f.blocking
    assert f.field == "spec.strategy.rollingUpdate.maxUnavailable"
    assert "maxUnavailable 1 with 1 replica" in f.reason


@pytest.mark.parametrize(("replicas", "rolling", "down"), [
    (1, {}, False),                                        # defaults 25 %/25 %: surge 1, unavailable 0
    (1, {"maxSurge": 1, "maxUnavailable": 1}, True),
    (4, {"maxSurge": 0, "maxUnavailable": "100%"}, True),
    (4, {"maxSurge": 1, "maxUnavailable": "75%"}, False),  # floor(3) < 4
    (2, {"maxSurge": 0, "maxUnavailable": 1}, False),
])
def test_max_unavailable_is_resolved_like_the_controller(replicas, rolling, down):
    dep = deployment(replicas=replicas, strategy={"type": "RollingUpdate", "rollingUpdate": rolling})
    assert ("downtime-max-unavailable" in codes(preflight(dep, None, **world(dep)))) is down


def test_a_scale_only_change_does_not_roll_pods():
    dep = deployment(replicas=1, strategy={"type": "Recreate"})
    assert "downtime-recreate" in codes(preflight(dep, None, **world(dep)))
    assert "downtime-recreate" not in codes(preflight(dep, {"replicas": 2}, **world(dep)))
    same_image = {"images": {"app": dep["spec"]["template"]["spec"]["containers"][0]["image"]}}
    assert "downtime-recreate" not in codes(preflight(dep, same_image, **world(dep)))


def test_recreate_is_downtime():
    dep = deployment(strategy={"type": "Recreate"})
    f = only(preflight(dep, {"images": {"app": "registry.local/web:2"}}, **world(dep)), "downtime-recreate")
    assert (f.severity, f.field) == ("error", "spec.strategy.type")


def test_scaling_to_zero_is_an_error():
    dep = deployment()
    f = only(preflight(dep, {"replicas": 0}, **world(dep)), "scale-to-zero")
    assert f.severity == "error" and "from 3 to 0" in f.reason


def test_no_pdb_is_a_warning():
    dep = deployment()
    other_ns = pdb("web", ns="staging", minAvailable=1)
    other_app = pdb("api", selector={"matchLabels": {"app": "api"}}, minAvailable=1)
    f = only(preflight(dep, None, **world(dep, pdbs=[other_ns, other_app])), "no-pdb")
    assert f.severity == "warning"


@pytest.mark.parametrize(("spec", "blocks"), [
    ({"minAvailable": 3}, True),
    ({"minAvailable": "100%"}, True),
    ({"minAvailable": "67%"}, True),      # ceil(2.01) = 3: rounded up, as the disruption controller does
    ({"minAvailable": "66%"}, False),     # ceil(1.98) = 2
    ({"minAvailable": 2}, False),
    ({"maxUnavailable": 0}, True),
    ({"maxUnavailable": "0%"}, True),
    ({"maxUnavailable": "10%"}, False),   # ceil(0.3) = 1
    ({"maxUnavailable": 1}, False),
])
def test_pdb_that_blocks_every_eviction(spec, blocks):
    dep = deployment()
    found = preflight(dep, None, **world(dep, pdbs=[pdb("web", **spec)]))
    assert ("pdb-blocks-eviction" in codes(found)) is blocks
    if blocks:
        f = only(found, "pdb-blocks-eviction")
        assert f.severity == "warning" and "blocks every voluntary eviction" in f.reason


def test_an_empty_pdb_selector_selects_the_whole_namespace_and_two_pdbs_are_reported():
    dep = deployment()
    found = preflight(dep, None, **world(dep, pdbs=[pdb("all", selector={}, maxUnavailable=1),
                                                    pdb("web", maxUnavailable=1)]))
    assert codes(found) == ["pdb-multiple"]
    assert "all, web" in found[0].reason


def test_pods_on_a_single_node():
    dep = deployment()
    f = only(preflight(dep, None, **world(dep, spread=("n2",))), "single-node")
    assert f.severity == "warning" and "all 3 pods run on n2" in f.reason
    one = deployment(replicas=1)
    assert "single-node" not in codes(preflight(one, None, **world(one)))


@pytest.mark.parametrize(("bad", "words"), [
    (node("n2", ready="False"), "NotReady"),
    (node("n2", ready="Unknown"), "unreachable"),
    (node("n2", taints=[{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]), "unreachable"),
    (node("n2", heartbeat="2027-01-15T07:00:00Z"), "Ready but silent"),
])
def test_all_pods_on_a_node_that_is_not_ready(bad, words):
    dep = deployment(replicas=1)
    f = only(preflight(dep, None, **world(dep, nodes=[node("n1"), bad], spread=("n2",))), "node-not-ready")
    assert f.severity == "error" and f"n2 ({words}" in f.reason


def test_one_pod_on_a_bad_node_out_of_several_is_not_node_not_ready():
    dep = deployment()
    nodes = [node("n1"), node("n2", ready="Unknown"), node("n3")]
    assert "node-not-ready" not in codes(preflight(dep, None, **world(dep, nodes=nodes)))


def test_node_unready_reason_with_a_fresh_heartbeat():
    assert node_unready_reason(node("n", heartbeat="2027-01-15T07:59:00Z"), 1_800_000_000.0) is None
    assert node_unready_reason({}, None) == "unreachable"


# --- capacity for the surge ------------------------------------------------------------------------


def _busy(n: str, cpu: str) -> dict:
    """A pod of another app using ``cpu`` on node ``n``."""
    other = deployment("filler", replicas=1)
    return pod(other, int(n[1:]), n, requests={"cpu": cpu, "memory": "0"})


def test_surge_needs_a_node_with_room_not_just_enough_room_in_total():
    # 2 x 600m free, but the surge pod needs 1000m on one node.
    dep = deployment(replicas=2, containers=[container(requests={"cpu": "1", "memory": "64Mi"})])
    nodes = [node("n1", cpu="2"), node("n2", cpu="2")]
    pods = [pod(dep, 0, "n1"), pod(dep, 1, "n2"), _busy("n1", "400m"), _busy("n2", "400m")]
    f = only(preflight(dep, {"images": {"app": "registry.local/web:2"}}, **world(dep, nodes=nodes, pods=pods)),
             "no-room-for-surge")
    assert f.severity == "error"
    assert "needs 1 extra pod (1 CPU, 64Mi memory each)" in f.reason and "room for 0" in f.reason
    # Move the other app off n2: now the surge pod fits there.
    pods.pop()
    assert "no-room-for-surge" not in codes(preflight(dep, None, **world(dep, nodes=nodes, pods=pods)))


def test_surge_room_ignores_nodes_that_cannot_take_the_pod():
    dep = deployment(replicas=1, containers=[container(requests={"cpu": "1", "memory": "64Mi"})])
    full = [pod(dep, 0, "n1"), _busy("n1", "3")]
    taint = [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]
    for spare in (node("n2", ready="False"), node("n2", unschedulable=True), node("n2", taints=taint),
                  node("n2", labels={"zone": "b"})):
        dep["spec"]["template"]["spec"]["nodeSelector"] = {} if "zone" not in spare["metadata"]["labels"] else {
            "zone": "a"}
        found = preflight(dep, None, **world(dep, nodes=[node("n1"), spare], pods=full))
        assert "no-room-for-surge" in codes(found), spare
    # A toleration makes the tainted node usable again.
    dep["spec"]["template"]["spec"] = {**dep["spec"]["template"]["spec"], "nodeSelector": {},
                                       "tolerations": [{"key": "dedicated", "operator": "Exists"}]}
    found = preflight(dep, None, **world(dep, nodes=[node("n1"), node("n2", taints=taint)], pods=full))
    assert "no-room-for-surge" not in codes(found)


def test_terminated_pods_free_their_requests_and_scale_up_needs_room_too():
    dep = deployment(replicas=1, containers=[container(requests={"cpu": "1", "memory": "64Mi"})])
    done = _busy("n1", "3")
    done["status"]["phase"] = "Succeeded"
    assert "no-room-for-surge" not in codes(preflight(dep, None, **world(
        dep, nodes=[node("n1")], pods=[pod(dep, 0, "n1"), done])))
    # 4 CPU, one pod of 1 CPU running: 3 more fit, 4 more (scale 1 -> 4 plus a surge pod) do not.
    dep["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    w = world(dep, nodes=[node("n1")], pods=[pod(dep, 0, "n1")])
    assert "no-room-for-surge" not in codes(preflight(dep, {"replicas": 4}, **w))  # scale only: 3 pods
    f = only(preflight(dep, {"replicas": 4, "images": {"app": "x:2"}}, **w), "no-room-for-surge")
    assert "needs 4 extra pods" in f.reason


def test_recreate_needs_no_surge_room_and_blue_green_needs_a_full_preview():
    dep = deployment(replicas=2, strategy={"type": "Recreate"},
                     containers=[container(requests={"cpu": "1500m", "memory": "64Mi"})])
    w = world(dep, nodes=[node("n1")], pods=[pod(dep, 0, "n1"), pod(dep, 1, "n1")])
    assert "no-room-for-surge" not in codes(preflight(dep, None, **w))
    ro = copy.deepcopy(dep)
    ro["apiVersion"], ro["kind"] = "argoproj.io/v1alpha1", "Rollout"
    ro["spec"]["strategy"] = {"blueGreen": {"activeService": "web"}}
    w = world(ro, nodes=[node("n1", cpu="4"), node("n2", cpu="2")], pods=[pod(ro, 0, "n1"), pod(ro, 1, "n1")])
    f = only(preflight(ro, None, **w), "no-room-for-surge")
    assert "needs 2 extra pods" in f.reason and "room for 1" in f.reason


def test_pod_can_run_on_node_affinity():
    affinity = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "NotIn",
                                                     "values": ["n3"]}]},
                              {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n9"]}]}]}}}}
    assert pod_can_run_on(affinity, node("n1"))
    assert not pod_can_run_on(affinity, node("n3"))
    assert pod_can_run_on(affinity, node("n9"))
    gt = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["4"]}]}]}}}}
    assert pod_can_run_on(gt, node("big", labels={"cores": "8"}))
    assert not pod_can_run_on(gt, node("small", labels={"cores": "2"}))
    assert not pod_can_run_on(gt, node("none"))


# --- probes, images, resources ---------------------------------------------------------------------


def test_no_readiness_probe():
    dep = deployment(containers=[container(), container("sidecar", probe=False)])
    f = only(preflight(dep, None, **world(dep)), "no-readiness-probe")
    assert f.severity == "warning" and "sidecar" in f.reason
    assert f.field == "spec.template.spec.containers[1].readinessProbe"


@pytest.mark.parametrize(("image", "problem"), [
    ("nginx", "untagged"), ("nginx:latest", "latest"), ("reg.local:5000/team/app", "untagged"),
    ("reg.local:5000/team/app:1.2", None), ("nginx:latest@sha256:" + "a" * 64, None),
    ("nginx@sha256:" + "b" * 64, None), ("nginx:1.27", None), ("", None),
])
def test_image_problem(image, problem):
    assert image_problem(image) == problem


def test_latest_and_untagged_images_including_the_proposed_ones():
    dep = deployment(containers=[container(image="registry.local/web:latest"),
                                 container("sidecar", image="registry.local/shipper")])
    found = [f for f in preflight(dep, None, **world(dep)) if f.code == "image-latest"]
    assert [(f.title, f.field) for f in found] == [
        ("Image tag 'latest'", "spec.template.spec.containers[0].image"),
        ("Image without a tag", "spec.template.spec.containers[1].image")]
    pinned = deployment()
    assert "image-latest" in codes(preflight(pinned, {"images": {"app": "registry.local/web:latest"}},
                                             **world(pinned)))
    assert "image-latest" not in codes(preflight(dep, {"images": {"app": "a:1", "sidecar": "b:2"}}, **world(dep)))


def test_missing_requests_and_limits():
    dep = deployment(containers=[container(requests=False, limits=False)])
    found = preflight(dep, None, **world(dep))
    assert only(found, "no-requests").field == "spec.template.spec.containers[0].resources.requests"
    assert only(found, "no-limits").severity == "warning"
    only_limits = deployment(containers=[container(requests=False)])
    assert codes(preflight(only_limits, None, **world(only_limits))) == ["no-requests"]


# --- ownership and history -------------------------------------------------------------------------


def _managed(**automated) -> tuple[dict, dict]:
    dep = deployment()
    app = application("web-prod", automated=automated if automated else None,
                      resources=[{"group": "apps", "kind": "Deployment", "namespace": "prod", "name": "web"}])
    return dep, app


def test_auto_sync_with_self_heal_is_an_error():
    dep, app = _managed(prune=True, selfHeal=True)
    f = only(preflight(dep, None, **world(dep, apps=[app])), "argocd-self-heal")
    assert f.severity == "error" and "web-prod" in f.reason


def test_auto_sync_without_self_heal_and_manual_sync_are_warnings():
    dep, app = _managed(prune=True)
    assert only(preflight(dep, None, **world(dep, apps=[app])), "argocd-auto-sync").severity == "warning"
    dep, app = _managed()
    assert only(preflight(dep, None, **world(dep, apps=[app])), "argocd-managed").severity == "warning"
    dep, app = _managed(enabled=False, selfHeal=True)  # Argo CD 3: automated but disabled
    assert codes(preflight(dep, None, **world(dep, apps=[app]))) == ["argocd-managed"]


def test_managing_application_by_tracking_id_and_instance_label():
    app = application("web-prod", automated={"selfHeal": True})
    tracked = deployment(annotations={"argocd.argoproj.io/tracking-id": "web-prod:apps/Deployment:prod/web"})
    assert managing_application(tracked, [app]) is app
    apps_ns = deployment(annotations={"argocd.argoproj.io/tracking-id": "argocd_web-prod:apps/Deployment:prod/web"})
    assert managing_application(apps_ns, [app]) is app
    labelled = deployment(labels={"app": "web", "app.kubernetes.io/instance": "web-prod"})
    assert managing_application(labelled, [app]) is app
    assert managing_application(labelled, [application("web-prod", dest_ns="staging")]) is None
    assert managing_application(deployment(), [app]) is None
    other = application("other", resources=[{"group": "apps", "kind": "Deployment", "namespace": "dev",
                                             "name": "web"}])
    assert managing_application(deployment(), [other]) is None


def test_no_rollback_target():
    dep = deployment(history=0)
    f = only(preflight(dep, None, **world(dep)), "no-rollback-target")
    assert (f.severity, f.field) == ("error", "spec.revisionHistoryLimit")
    defaulted = deployment(history=None)
    assert "no-rollback-target" not in codes(preflight(defaulted, None, **world(defaulted)))


def test_errors_come_first_and_blocking_picks_them():
    dep = deployment(history=0, containers=[container(probe=False)], strategy={"type": "Recreate"})
    found = preflight(dep, None, **world(dep))
    assert codes(found) == ["downtime-recreate", "no-rollback-target", "no-readiness-probe"]
    assert [f.code for f in blocking(found)] == ["downtime-recreate", "no-rollback-target"]


# --- promotion between environments ----------------------------------------------------------------


def _complete(dep: dict) -> dict:
    dep = copy.deepcopy(dep)
    r = dep["spec"]["replicas"]
    dep["metadata"]["generation"] = 2
    dep["status"] = {"observedGeneration": 2, "replicas": r, "updatedReplicas": r, "readyReplicas": r,
                     "availableReplicas": r}
    return dep


def test_promotion_checks_the_target_with_the_source_images():
    source = _complete(deployment(ns="staging", containers=[container(image="registry.local/web:latest")]))
    target = deployment()
    found = preflight_promotion(source, target, **world(target))
    assert codes(found) == ["image-latest"]
    assert "registry.local/web:latest" in found[0].reason


def test_promotion_findings_of_its_own():
    source = deployment(ns="staging", containers=[container(image="registry.local/web:2.0"),
                                                  container("extra", image="x:1")])
    target = deployment()
    found = preflight_promotion(source, target, **world(target))
    assert set(codes(found)) == {"promotion-container-mismatch", "promotion-source-not-rolled-out"}
    assert "extra" in only(found, "promotion-container-mismatch").reason
    same = _complete(deployment(ns="staging"))
    assert codes(preflight_promotion(same, target, **world(target))) == ["promotion-no-change"]
    unrelated = _complete(deployment(ns="staging", containers=[container("other")]))
    [f] = preflight_promotion(unrelated, target, **world(target))
    assert (f.code, f.severity) == ("promotion-no-common-container", "error")


# --- promoting a canary ----------------------------------------------------------------------------


def rollout(*, step: int = 1, new: str = "6c9f8d7b5a", stable: str = "5d8f7c9b4d", blue_green: bool = False) -> dict:
    dep = deployment("checkout", replicas=4)
    dep["apiVersion"], dep["kind"] = "argoproj.io/v1alpha1", "Rollout"
    if blue_green:
        dep["spec"]["strategy"] = {"blueGreen": {"activeService": "checkout-active"}}
        dep["status"] = {"currentPodHash": new, "stableRS": stable,
                         "blueGreen": {"activeSelector": stable, "previewSelector": new}}
    else:
        dep["spec"]["strategy"] = {"canary": {"steps": [{"setWeight": 25}, {"pause": {}}, {"setWeight": 50},
                                                        {"pause": {"duration": "30s"}}]}}
        dep["status"] = {"currentPodHash": new, "stableRS": stable, "currentStepIndex": step}
    return dep


def canary_pods(ro: dict, *, ready: int, total: int, hash_: str = "6c9f8d7b5a") -> list[dict]:
    rs = replicaset(ro, hash_)
    rs["metadata"]["labels"] = {"app": "checkout", "rollouts-pod-template-hash": hash_}
    return [pod(ro, n, "n1", rs=rs, ready=n < ready) for n in range(total)], rs


def test_canary_errors_block_promotion():
    ro = rollout()
    pods, rs = canary_pods(ro, ready=1, total=1)
    red = (RED(12.0, 0.27, 0.3, "ok"), RED(36.0, 0.004, 0.08, "ok"))
    found = preflight_rollout_promote(ro, pods=pods, replicasets=[rs], red=red)
    f = only(found, "canary-errors")
    assert f.severity == "error"
    assert "canary serves 27% 5xx at 12 req/s (stable 0.4%)" in f.reason
    assert only(found, "canary-latency").reason == "canary p95 latency 300 ms (stable 80 ms)"


def test_canary_error_thresholds():
    ro = rollout()
    pods, rs = canary_pods(ro, ready=1, total=1)

    def run(canary: float, stable: float | None) -> list[Finding]:
        s_red = RED(30.0, stable, 0.08, "ok") if stable is not None else RED(None, None, None, "no-data", "x")
        return preflight_rollout_promote(ro, pods=pods, replicasets=[rs],
                                         red=(RED(10.0, canary, 0.08, "ok"), s_red))

    assert codes(run(0.002, 0.002)) == []
    assert only(run(0.03, 0.004), "canary-errors").severity == "warning"   # above stable + 1 point
    assert only(run(0.06, 0.004), "canary-errors").severity == "error"
    assert codes(run(0.06, 0.05)) == []                                    # not worse than stable (+1 point)
    assert only(run(0.06, None), "canary-errors").reason.endswith("(stable not verified)")


def test_no_metrics_means_not_verified():
    ro = rollout()
    pods, rs = canary_pods(ro, ready=1, total=1)
    f = only(preflight_rollout_promote(ro, pods=pods, replicasets=[rs]), "canary-not-verified")
    assert f.severity == "warning" and "not verified" in f.reason
    no_data = (RED(None, None, None, "no-data", "not verified: no Prometheus"), RED(None, None, None, "no-data"))
    f = only(preflight_rollout_promote(ro, pods=pods, replicasets=[rs], red=no_data), "canary-not-verified")
    assert "no Prometheus" in f.reason


def test_canary_pods_not_ready():
    ro = rollout()
    pods, rs = canary_pods(ro, ready=1, total=3)
    stable_rs = replicaset(ro, "5d8f7c9b4d")
    stable = [pod(ro, 10 + n, "n2", rs=stable_rs, extra_labels={"rollouts-pod-template-hash": "5d8f7c9b4d"},
                  ready=False) for n in range(2)]
    red = (RED(1.0, 0.0, 0.05, "ok"), RED(1.0, 0.0, 0.05, "ok"))
    found = preflight_rollout_promote(ro, pods=pods + stable, replicasets=[rs, stable_rs], red=red)
    f = only(found, "canary-not-ready")
    assert f.severity == "error" and f.reason.startswith("2 of 3 canary pods are not Ready")
    assert only(preflight_rollout_promote(ro, pods=[], red=red), "canary-not-ready").title == "No canary pods"


def test_nothing_to_promote_blue_green_and_full_promotion():
    assert codes(preflight_rollout_promote(rollout(new="5d8f7c9b4d"))) == ["nothing-to-promote"]
    bg = rollout(blue_green=True)
    pods, rs = canary_pods(bg, ready=0, total=2)
    f = only(preflight_rollout_promote(bg, pods=pods, replicasets=[rs]), "canary-not-ready")
    assert f.title == "Preview pods not ready"
    ro = rollout(step=1)
    pods, rs = canary_pods(ro, ready=1, total=1)
    red = (RED(1.0, 0.0, 0.05, "ok"), RED(1.0, 0.0, 0.05, "ok"))
    f = only(preflight_rollout_promote(ro, pods=pods, replicasets=[rs], red=red, full=True),
             "promote-full-skips-steps")
    assert "steps 2..4" in f.reason
    aborted = rollout()
    aborted["status"]["abort"] = True
    assert "rollout-aborted" in codes(preflight_rollout_promote(aborted, pods=pods, replicasets=[rs], red=red))


def test_text_helpers():
    assert [human_cpu(x) for x in (5, 250, 1000, 1500, 2820)] == ["5m", "250m", "1", "1.5", "2820m"]
    assert [human_bytes(x) for x in (512, 1536, 64 << 20, 13 << 30, int(6.84 * (1 << 30)))] == [
        "512", "1.5Ki", "64Mi", "13Gi", "6.8Gi"]
    assert [percent(x) for x in (0.27, 0.004, 0.0, 1.0, 0.1234)] == ["27%", "0.4%", "0%", "100%", "12.3%"]
