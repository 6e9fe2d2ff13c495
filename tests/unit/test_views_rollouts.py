"""RolloutView for Deployments and Argo Rollouts: phases, texts, weights, the RS/pod tree."""

from __future__ import annotations

import copy

from almtui.cluster.views import RolloutsBuilder, build_rollouts, deployment_phase
from almtui.kube.durations import parse_rfc3339

T0 = "2026-01-01T00:00:00Z"
NOW = parse_rfc3339(T0).timestamp() + 3600
TEMPLATE = {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "reg/web:2.0"}]}}


def deployment(name="web", ns="prod", *, replicas=3, status=None, generation=2, **spec) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "uid": f"dep-{ns}-{name}", "generation": generation,
                     "creationTimestamp": T0, "labels": {"app": name},
                     "annotations": {"deployment.kubernetes.io/revision": "2"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": copy.deepcopy(TEMPLATE), **spec},
        "status": status if status is not None else {
            "observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
            "readyReplicas": replicas, "availableReplicas": replicas,
            "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                            "message": "Deployment has minimum availability."},
                           {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                            "message": f'ReplicaSet "{name}-new" has successfully progressed.',
                            "lastTransitionTime": T0}]},
    }


def replicaset(owner: dict, hash_: str, revision: int, *, image="reg/web:2.0", replicas=3, available=None,
               created=T0, argo=False) -> dict:
    template = copy.deepcopy(TEMPLATE)
    template["spec"]["containers"][0]["image"] = image
    label = "rollouts-pod-template-hash" if argo else "pod-template-hash"
    template["metadata"]["labels"][label] = hash_
    ann = "rollout.argoproj.io/revision" if argo else "deployment.kubernetes.io/revision"
    name = f"{owner['metadata']['name']}-{hash_}"
    return {
        "metadata": {"name": name, "namespace": owner["metadata"]["namespace"], "uid": f"rs-{name}",
                     "creationTimestamp": created, "generation": 1, "labels": {"app": "web", label: hash_},
                     "annotations": {ann: str(revision)},
                     "ownerReferences": [{"kind": owner["kind"], "name": owner["metadata"]["name"],
                                          "uid": owner["metadata"]["uid"], "controller": True}]},
        "spec": {"replicas": replicas, "template": template},
        "status": {"replicas": replicas, "readyReplicas": replicas if available is None else available,
                   "availableReplicas": replicas if available is None else available, "observedGeneration": 1},
    }


def pods_of(rs: dict, n: int) -> list[dict]:
    return [{"metadata": {"name": f"{rs['metadata']['name']}-{k}", "namespace": rs["metadata"]["namespace"],
                          "creationTimestamp": T0, "labels": rs["metadata"]["labels"],
                          "ownerReferences": [{"kind": "ReplicaSet", "name": rs["metadata"]["name"],
                                               "uid": rs["metadata"]["uid"], "controller": True}]},
             "spec": {"nodeName": "n1", "containers": rs["spec"]["template"]["spec"]["containers"]},
             "status": {"phase": "Running", "containerStatuses": [
                 {"name": "web", "ready": True, "restartCount": 0, "state": {"running": {}}}]}}
            for k in range(n)]


def hpa(target_kind: str, target: str, ns="prod") -> dict:
    return {"metadata": {"name": f"{target}-hpa", "namespace": ns},
            "spec": {"scaleTargetRef": {"kind": target_kind, "name": target}, "maxReplicas": 5}}


# --- Deployments ------------------------------------------------------------------------------


def test_complete_deployment_tree():
    dep = deployment()
    new = replicaset(dep, "new1", 2)
    old = replicaset(dep, "old1", 1, image="reg/web:1.0", replicas=0)
    other = replicaset(deployment("web", "staging"), "stg1", 1)  # same name, other namespace
    pods = pods_of(new, 3)
    [view] = build_rollouts([dep], [], [old, new, other], pods, [hpa("Deployment", "web")], NOW)
    assert view.key == ("Deployment", "prod", "web")
    assert (view.kind, view.strategy, view.revision, view.images) == ("Deployment", "RollingUpdate", 2,
                                                                       ("reg/web:2.0",))
    assert (view.desired, view.current, view.updated, view.ready, view.available) == (3, 3, 3, 3, 3)
    assert view.phase == "Healthy" and view.done and view.progress == 1.0
    assert view.status_text == 'deployment "web" successfully rolled out'
    assert view.message == 'ReplicaSet "web-new" has successfully progressed.'
    assert view.hpa == "web-hpa" and view.app == "web" and view.age == 3600
    assert [(r.name, r.role, r.revision, r.status) for r in view.replicasets] == [
        ("web-new1", "new", 2, "Healthy"), ("web-old1", "old", 1, "ScaledDown")]
    assert [p.name for p in view.replicasets[0].pods] == ["web-new1-0", "web-new1-1", "web-new1-2"]
    assert view.replicasets[1].pods == ()
    assert view.current_hash == view.stable_hash == "new1"
    assert [c.type for c in view.conditions] == ["Available", "Progressing"]
    assert view.step is None and view.set_weight is None and view.active_hash is None


def test_deployment_mid_rollout():
    status = {"observedGeneration": 2, "replicas": 4, "updatedReplicas": 1, "readyReplicas": 4,
              "availableReplicas": 3,
              "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                              "message": 'ReplicaSet "web-new1" is progressing.'}]}
    dep = deployment(status=status)
    new = replicaset(dep, "new1", 2, replicas=1, available=0)
    old = replicaset(dep, "old1", 1, image="reg/web:1.0", replicas=3)
    [view] = build_rollouts([dep], [], [new, old], [], [], NOW)
    assert view.phase == "Progressing" and not view.done
    assert view.status_text == ('Waiting for deployment "web" rollout to finish: '
                                '1 out of 3 new replicas have been updated...')
    assert view.progress == 0.0
    assert view.current_hash == "new1" and view.stable_hash == "old1"
    assert view.hpa is None


def test_new_replicaset_found_by_template_even_when_revision_lags():
    dep = deployment()
    dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "1"
    new = replicaset(dep, "new1", 2)
    old = replicaset(dep, "old1", 1, image="reg/web:1.0", replicas=0)
    [view] = build_rollouts([dep], [], [old, new], [], [], NOW)
    assert {r.name: r.role for r in view.replicasets} == {"web-new1": "new", "web-old1": "old"}


def test_deployment_phases():
    exceeded = deployment(status={"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1,
                                  "conditions": [{"type": "Progressing", "status": "False",
                                                  "reason": "ProgressDeadlineExceeded",
                                                  "message": 'ReplicaSet "web-x" has timed out progressing.'}]})
    assert deployment_phase(exceeded) == ("Degraded", 'deployment "web" exceeded its progress deadline', False)
    [view] = build_rollouts([exceeded], [], [], [], [], NOW)
    assert view.phase == "Degraded" and view.message == 'ReplicaSet "web-x" has timed out progressing.'
    paused = deployment(paused=True)
    assert deployment_phase(paused)[0] == "Paused"
    unobserved = deployment()
    unobserved["metadata"]["generation"] = 3
    assert deployment_phase(unobserved) == ("Progressing", "Waiting for deployment spec update to be observed...",
                                            False)
    no_status = deployment(status={})
    assert deployment_phase(no_status)[0] == "Unknown"
    recreate = deployment(strategy={"type": "Recreate"})
    assert build_rollouts([recreate], [], [], [], [], NOW)[0].strategy == "Recreate"


def test_zero_replicas_counts_as_fully_progressed():
    dep = deployment(replicas=0, status={"observedGeneration": 2})
    [view] = build_rollouts([dep], [], [], [], [], NOW)
    assert view.progress == 1.0 and view.phase == "Healthy"


# --- Argo Rollouts ----------------------------------------------------------------------------

STEPS = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {"duration": "30s"}}]


def rollout(name="shop", *, strategy=None, status=None, spec=None) -> dict:
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name, "namespace": "prod", "uid": f"ro-{name}", "generation": 5,
                     "creationTimestamp": T0, "labels": {"app.kubernetes.io/name": "shop"},
                     "annotations": {"rollout.argoproj.io/revision": "3"}},
        "spec": {"replicas": 5, "template": copy.deepcopy(TEMPLATE),
                 "strategy": strategy or {"canary": {"steps": STEPS}}, **(spec or {})},
        "status": {"observedGeneration": "5", **(status or {})},
    }


def test_paused_canary():
    ro = rollout(status={"currentStepIndex": 1, "stableRS": "s1", "currentPodHash": "c1",
                         "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": T0}],
                         "controllerPause": True, "replicas": 5, "updatedReplicas": 1, "readyReplicas": 5,
                         "availableReplicas": 5, "phase": "Paused", "message": "CanaryPauseStep"})
    stable = replicaset(ro, "s1", 2, image="reg/web:1.0", replicas=4, argo=True)
    canary = replicaset(ro, "c1", 3, replicas=1, argo=True)
    [view] = build_rollouts([], [ro], [stable, canary], pods_of(canary, 1) + pods_of(stable, 4),
                            [hpa("Rollout", "shop")], NOW)
    assert view.key == ("Rollout", "prod", "shop")
    assert (view.strategy, view.step, view.steps, view.set_weight, view.actual_weight) == ("Canary", 1, 4, 20, 20)
    assert view.phase == "Paused" and view.paused and not view.aborted
    assert view.status_text == "Paused - CanaryPauseStep"
    assert (view.stable_hash, view.current_hash, view.revision) == ("s1", "c1", 3)
    assert [(r.role, r.roles, r.revision, len(r.pods)) for r in view.replicasets] == [
        ("canary", ("canary",), 3, 1), ("stable", ("stable",), 2, 4)]
    assert view.progress == 0.2 and view.app == "shop" and view.hpa == "shop-hpa"


def test_promoted_canary_and_computed_phase():
    ro = rollout(status={"currentStepIndex": 4, "stableRS": "c1", "currentPodHash": "c1", "replicas": 5,
                         "updatedReplicas": 5, "readyReplicas": 5, "availableReplicas": 5})
    [view] = build_rollouts([], [ro], [replicaset(ro, "c1", 3, replicas=5, argo=True)], [], [], NOW)
    assert (view.set_weight, view.actual_weight, view.step) == (100, 100, 4)
    assert view.phase == "Healthy" and view.status_text == "Healthy" and view.done
    assert view.replicasets[0].role == "stable"


def test_aborted_canary():
    ro = rollout(status={"abort": True, "currentStepIndex": 0, "stableRS": "s1", "currentPodHash": "c1",
                         "replicas": 5, "updatedReplicas": 0, "availableReplicas": 5,
                         "conditions": [{"type": "Progressing", "status": "False", "reason": "RolloutAborted",
                                         "message": "Rollout aborted update to revision 3"}]})
    [view] = build_rollouts([], [ro], [], [], [], NOW)
    assert view.aborted and view.set_weight == 0 and view.actual_weight == 0
    assert view.phase == "Degraded"
    assert view.status_text == "Degraded - RolloutAborted: Rollout aborted update to revision 3"


def test_traffic_routed_canary_uses_reported_weights():
    strategy = {"canary": {"steps": STEPS, "trafficRouting": {"nginx": {"stableIngress": "shop"}}}}
    ro = rollout(strategy=strategy, status={"currentStepIndex": 2, "availableReplicas": 5,
                                            "canary": {"weights": {"canary": {"weight": 45}}}})
    [view] = build_rollouts([], [ro], [], [], [], NOW)
    assert (view.set_weight, view.actual_weight) == (50, 45)
    del ro["status"]["canary"]
    assert build_rollouts([], [ro], [], [], [], NOW)[0].actual_weight == 50


def test_blue_green_roles():
    strategy = {"blueGreen": {"activeService": "shop", "previewService": "shop-preview",
                              "autoPromotionEnabled": False}}
    ro = rollout(strategy=strategy, status={
        "stableRS": "old1", "currentPodHash": "new1", "replicas": 10, "updatedReplicas": 5,
        "availableReplicas": 10, "blueGreen": {"activeSelector": "old1", "previewSelector": "new1"},
        "pauseConditions": [{"reason": "BlueGreenPause", "startTime": T0}], "controllerPause": True})
    rs_old = replicaset(ro, "old1", 2, image="reg/web:1.0", replicas=5, argo=True)
    rs_new = replicaset(ro, "new1", 3, replicas=5, argo=True)
    [view] = build_rollouts([], [ro], [rs_old, rs_new], [], [], NOW)
    assert view.strategy == "BlueGreen" and view.steps is None and view.set_weight is None
    assert (view.active_hash, view.preview_hash, view.stable_hash) == ("old1", "new1", "old1")
    assert [(r.hash, r.role, r.roles) for r in view.replicasets] == [
        ("new1", "preview", ("preview",)), ("old1", "active", ("stable", "active"))]
    assert view.phase == "Paused" and view.status_text == "Paused - BlueGreenPause"
    assert view.progress == 1.0


def test_rollout_with_workload_ref_takes_images_from_current_rs():
    ro = rollout(status={"currentPodHash": "c1"})
    del ro["spec"]["template"]
    ro["spec"]["workloadRef"] = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "shop"}
    [view] = build_rollouts([], [ro], [replicaset(ro, "c1", 3, image="reg/shop:9", argo=True)], [], [], NOW)
    assert view.images == ("reg/shop:9",)


def test_sorted_by_namespace_name_kind():
    views = build_rollouts([deployment("b"), deployment("a", "dev")], [rollout("b")], [], [], [], NOW)
    assert [v.key for v in views] == [("Deployment", "dev", "a"), ("Deployment", "prod", "b"),
                                      ("Rollout", "prod", "b")]


# --- the incremental builder the service keeps ------------------------------------------------


def _world() -> dict[str, list[dict]]:
    web, api = deployment("web"), deployment("api")
    rs_web, rs_api = replicaset(web, "aaa", 2), replicaset(api, "bbb", 2)
    return {"deployments": [web, api], "rollouts": [], "replicasets": [rs_web, rs_api],
            "pods": pods_of(rs_web, 3) + pods_of(rs_api, 2), "hpas": [hpa("Deployment", "web")]}


def _build(builder, w: dict[str, list[dict]], now: float = NOW):
    views = builder.build(w["deployments"], w["rollouts"], w["replicasets"], w["pods"], w["hpas"], now)
    return {v.name: v for v in views}


def test_builder_keeps_unchanged_views_and_rebuilds_only_what_changed():
    builder, w = RolloutsBuilder(), _world()
    first = _build(builder, w)
    again = _build(builder, w, NOW + 60)  # same objects: same view objects, ages as of the first build
    assert again["web"] is first["web"] and again["api"] is first["api"]
    assert again["web"].as_of == NOW

    # an informer replaces a changed pod with a new dict: only its workload is rebuilt
    pod = copy.deepcopy(w["pods"][0])
    pod["status"] = {"phase": "Pending"}
    w["pods"] = [pod, *w["pods"][1:]]
    third = _build(builder, w, NOW + 120)
    assert third["api"] is first["api"]
    assert third["web"] is not first["web"] and third["web"].as_of == NOW + 120
    assert third["web"].replicasets[0].pods[0].status == "Pending"


def test_builder_follows_hpa_replicaset_and_deletion_changes():
    builder, w = RolloutsBuilder(), _world()
    first = _build(builder, w)
    assert first["web"].hpa == "web-hpa" and first["api"].hpa is None
    w["hpas"] = [hpa("Deployment", "api")]
    second = _build(builder, w)
    assert second["web"].hpa is None and second["api"].hpa == "api-hpa"
    old_rs = replicaset(w["deployments"][1], "ccc", 1, replicas=0)
    w["replicasets"] = [*w["replicasets"], old_rs]
    third = _build(builder, w)
    assert [rs.revision for rs in third["api"].replicasets] == [2, 1]
    w["deployments"] = w["deployments"][:1]
    assert set(_build(builder, w)) == {"web"}


def test_builder_agrees_with_a_fresh_build():
    builder, w = RolloutsBuilder(), _world()
    _build(builder, w)
    pod = copy.deepcopy(w["pods"][3])
    pod["metadata"]["deletionTimestamp"] = T0
    w["pods"] = [*w["pods"][:3], pod, *w["pods"][4:]]
    incremental = _build(builder, w)  # same clock: ages agree too
    fresh = {v.name: v for v in build_rollouts(w["deployments"], w["rollouts"], w["replicasets"], w["pods"],
                                                w["hpas"], NOW)}
    assert incremental == fresh


def test_pods_are_built_only_when_read():
    w = _world()
    [web] = [v for v in build_rollouts(w["deployments"], [], w["replicasets"], w["pods"], [], NOW) if v.name == "web"]
    pods = web.replicasets[0].pods
    assert len(pods) == 3 and bool(pods) and pods._views is None  # counted without building
    assert [p.name for p in pods] == sorted(p.name for p in pods) and pods._views is not None
    assert pods[0].age == 3600.0 and pods == tuple(pods)
