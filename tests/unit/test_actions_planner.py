"""Planner functions: the exact requests and bodies kubectl, the Argo Rollouts plugin, tkn and the Argo CD
API send, with our resourceVersion precondition; client-side refusals with the tools' messages; and the
executor's pure helpers (diff, expectations, body conditioning)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from almtui.cluster.actions import planner as p
from almtui.cluster.actions.executor import diff_objects, expectation_met
from almtui.cluster.actions.model import (
    ACTION_ID_LABEL,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    ActionError,
)
from almtui.cluster.actions.resend import conditioned
from almtui.kube.patch import json_merge_patch, json_patch, strategic_merge_patch

T = "2026-01-01T00:00:00Z"


def deployment(name="web", *, paused=False, containers=None, init=None, replicas=3, rv="100", annotations=None):
    spec = {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": containers or [{"name": "web", "image": "web:1"}]}}}
    if init:
        spec["template"]["spec"]["initContainers"] = init
    if paused:
        spec["paused"] = True
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "prod", "uid": f"uid-{name}", "resourceVersion": rv,
                         "generation": 4, "labels": {"app": name},
                         "annotations": annotations if annotations is not None else {
                             "deployment.kubernetes.io/revision": "3", "kubernetes.io/change-cause": "v3",
                             "team": "shop"}},
            "spec": spec, "status": {"replicas": replicas}}


def replicaset(owner: dict, revision: int, image: str, *, hash_="h", cause="", controlled=True, hash_label=None,
               revision_annotation=p.DEPLOYMENT_REVISION):
    label = hash_label or p.POD_TEMPLATE_HASH
    tmpl = copy.deepcopy(owner["spec"]["template"])
    tmpl["metadata"]["labels"] = {**tmpl["metadata"]["labels"], label: f"{hash_}{revision}"}
    tmpl["spec"]["containers"][0]["image"] = image
    ann = {revision_annotation: str(revision), "deployment.kubernetes.io/desired-replicas": "3"}
    if cause:
        ann[p.CHANGE_CAUSE] = cause
    refs = [{"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
             "uid": owner["metadata"]["uid"], "controller": True}] if controlled else []
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{owner['metadata']['name']}-{hash_}{revision}", "namespace": "prod",
                         "labels": {**owner["spec"]["selector"]["matchLabels"], label: f"{hash_}{revision}"},
                         "annotations": ann, "ownerReferences": refs, "creationTimestamp": T},
            "spec": {"replicas": 0, "template": tmpl}}


def rollout(name="checkout", *, steps=4, index=1, conditions=None, paused=False, bluegreen=False, rv="200",
            analysis=None, controller_pause=False, current="new", stable="old"):
    strategy = ({"blueGreen": {"activeService": "a", "previewService": "p", "autoPromotionEnabled": False}}
                if bluegreen else
                {"canary": {"steps": [{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}][:steps]}})
    status = {"currentPodHash": current, "stableRS": stable, "pauseConditions": conditions,
              "controllerPause": controller_pause}
    if not bluegreen and index is not None:
        status["currentStepIndex"] = index
    if analysis:
        status["canary"] = {"currentStepAnalysisRunStatus": {"name": "a", "status": analysis}}
    spec = {"replicas": 2, "selector": {"matchLabels": {"app": name}}, "strategy": strategy,
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": name, "image": f"{name}:1"}]}}}
    if paused:
        spec["paused"] = True
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": name, "namespace": "prod", "uid": f"uid-{name}", "resourceVersion": rv,
                         "managedFields": [{"manager": "x"}]},
            "spec": spec, "status": status}


def hpa(**spec):
    base = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "minReplicas": 3,
            "maxReplicas": 8,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                                    "averageUtilization": 60}}}],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Max",
                                       "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}}
    base.update(spec)
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "prod", "resourceVersion": "300"}, "spec": base}


def pipelinerun(name="build-run-x7k2p", *, generate="build-run-", finished=False, status=None):
    cond = {"type": "Succeeded", "status": "True" if finished else "Unknown",
            "reason": "Succeeded" if finished else "Running"}
    md = {"name": name, "namespace": "ci", "resourceVersion": "400", "labels": {"tekton.dev/pipeline": "build"}}
    if generate:
        md["generateName"] = generate
    spec = {"pipelineRef": {"name": "build"}, "params": [{"name": "rev", "value": "main"}]}
    if status:
        spec["status"] = status
    return {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": md, "spec": spec,
            "status": {"conditions": [cond]}}


def application(*, auto=False, history=True, operation=None):
    spec = {"project": "default", "source": {"repoURL": "https://git/x.git", "path": "web/prod",
                                             "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "prod"},
            "syncPolicy": {"syncOptions": ["CreateNamespace=true"]}}
    if auto:
        spec["syncPolicy"]["automated"] = {"prune": True, "selfHeal": True}
    status = {"sync": {"status": "OutOfSync"}, "operationState": {"phase": "Succeeded"},
              "resources": [{"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "prod",
                             "name": "web"}]}
    if history:
        status["history"] = [{"id": 0, "revision": "a" * 40, "source": spec["source"]},
                             {"id": 1, "revision": "b" * 40, "source": spec["source"]}]
    app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
           "metadata": {"name": "web-prod", "namespace": "argocd", "resourceVersion": "500",
                        "managedFields": [{"manager": "argocd"}]},
           "spec": spec, "status": status}
    if operation:
        app["operation"] = operation
    return app


# -- set image ----------------------------------------------------------------------------------


def test_set_image_deployment_is_kubectls_strategic_merge_patch_with_rv():
    d = deployment(containers=[{"name": "web", "image": "web:1"}, {"name": "proxy", "image": "envoy:1"}])
    plan = p.set_image(d, {"web": "web:3"})
    (req,) = plan.requests
    assert (req.method, req.path, req.content_type) == (
        "PATCH", "/apis/apps/v1/namespaces/prod/deployments/web", STRATEGIC_MERGE_PATCH)
    assert req.query == {"fieldManager": "almtui"}
    assert req.body == {"metadata": {"resourceVersion": "100"}, "spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "web"}, {"name": "proxy"}],
        "containers": [{"image": "web:3", "name": "web"}]}}}}
    assert list(req.body["spec"]["template"]["spec"]) == ["$setElementOrder/containers", "containers"]
    assert plan.precondition_rv == "100" and plan.access == [("patch", "apps", "deployments", "", "prod", "web")]
    assert plan.success_message == "deployment.apps/web image updated" and not plan.destructive
    # what the server makes of it
    after = strategic_merge_patch(d, req.body, "Deployment")
    assert [c["image"] for c in after["spec"]["template"]["spec"]["containers"]] == ["web:3", "envoy:1"]
    assert expectation_met(after, req.expect) and not expectation_met(d, req.expect)


def test_set_image_wildcard_and_init_containers():
    d = deployment(containers=[{"name": "web", "image": "web:1"}], init=[{"name": "migrate", "image": "web:1"}])
    body = p.set_image(d, {"*": "web:2"}).requests[0].body
    assert list(body["spec"]["template"]["spec"]) == [
        "$setElementOrder/initContainers", "$setElementOrder/containers", "initContainers", "containers"]
    assert body["spec"]["template"]["spec"]["initContainers"] == [{"image": "web:2", "name": "migrate"}]


def test_set_image_unknown_container_and_noop():
    d = deployment()
    with pytest.raises(ActionError, match='unable to find container named "db"') as e:
        p.set_image(d, {"db": "pg:16"})
    assert e.value.action == "set-image" and e.value.target is not None
    plan = p.set_image(d, {"web": "web:1"})
    assert plan.noop and "already" in plan.skip_reason and plan.access == []


def test_set_image_rollout_is_a_put_of_the_whole_object():
    ro = rollout()
    plan = p.set_image(ro, {"checkout": "checkout:2"})
    (req,) = plan.requests
    assert (req.method, req.path) == ("PUT", "/apis/argoproj.io/v1alpha1/namespaces/prod/rollouts/checkout")
    assert req.body["metadata"]["resourceVersion"] == "200" and "managedFields" not in req.body["metadata"]
    assert req.body["spec"]["template"]["spec"]["containers"][0]["image"] == "checkout:2"
    assert ro["spec"]["template"]["spec"]["containers"][0]["image"] == "checkout:1"  # input untouched
    assert plan.access == [("update", "argoproj.io", "rollouts", "", "prod", "checkout")]


def test_promote_version_sets_the_source_images_on_the_target():
    src = deployment("storefront", containers=[{"name": "storefront", "image": "sf:1.5.0"}])
    src["metadata"]["namespace"] = "dev"
    dst = deployment("storefront", containers=[{"name": "storefront", "image": "sf:1.4.2"},
                                               {"name": "sidecar", "image": "s:1"}])
    dst["metadata"]["namespace"] = "staging"
    plan = p.promote_version(src, dst)
    assert plan.action == "promote-version" and plan.summary.startswith("promote sf:1.5.0 from dev to staging")
    assert plan.requests[0].body["spec"]["template"]["spec"]["containers"] == [
        {"image": "sf:1.5.0", "name": "storefront"}]
    other = deployment("other", containers=[{"name": "x", "image": "x:1"}])
    with pytest.raises(ActionError, match="no container named like"):
        p.promote_version(src, other)


# -- pause / resume / restart / scale -----------------------------------------------------------


def test_pause_and_resume_bodies():
    d = deployment()
    plan = p.pause(d)
    assert plan.requests[0].body == {"metadata": {"resourceVersion": "100"}, "spec": {"paused": True}}
    assert plan.requests[0].content_type == STRATEGIC_MERGE_PATCH
    assert p.pause(deployment(paused=True)).skip_reason == "deployment.apps/web already paused"
    plan = p.resume(deployment(paused=True))
    assert plan.requests[0].body == {"metadata": {"resourceVersion": "100"}, "spec": {"paused": None}}
    after = strategic_merge_patch(deployment(paused=True), plan.requests[0].body, "Deployment")
    assert "paused" not in after["spec"] and expectation_met(after, plan.requests[0].expect)
    assert p.resume(d).skip_reason == "deployment.apps/web already resumed"
    ro = rollout(paused=True)
    assert p.pause(rollout()).requests[0].content_type == MERGE_PATCH
    req = p.resume(ro).requests[0]
    assert (req.content_type, req.body) == (MERGE_PATCH, {"metadata": {"resourceVersion": "200"},
                                                          "spec": {"paused": False}})


def test_restart_deployment_and_paused_refusal():
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    plan = p.restart(deployment(), now=now)
    ann = plan.requests[0].body["spec"]["template"]["metadata"]["annotations"]
    stamp = ann[p.RESTARTED_AT]
    assert datetime.fromisoformat(stamp.replace("Z", "+00:00")) == now
    with pytest.raises(ActionError, match=r"^can't restart paused deployment \(run rollout resume first\)$"):
        p.restart(deployment(paused=True))
    req = p.restart(rollout(), now=now).requests[0]
    assert req.body == {"metadata": {"resourceVersion": "200"}, "spec": {"restartAt": "2026-01-02T03:04:05Z"}}


def test_scale():
    d = deployment(replicas=3)
    plan = p.scale(d, 5)
    (req,) = plan.requests
    assert (req.path, req.content_type, req.body) == (
        "/apis/apps/v1/namespaces/prod/deployments/web/scale", MERGE_PATCH,
        {"metadata": {"resourceVersion": "100"}, "spec": {"replicas": 5}})
    assert plan.access == [("patch", "apps", "deployments", "scale", "prod", "web")] and not plan.destructive
    assert p.scale(d, 1).destructive and p.scale(d, 3).noop
    with pytest.raises(ActionError, match="must be greater than or equal to 0") as e:
        p.scale(d, -1)
    assert e.value.field == "spec.replicas"
    assert p.scale(rollout(), 4).requests[0].path.endswith("/rollouts/checkout/scale")


def test_actions_need_a_resource_version_and_a_known_kind():
    d = deployment()
    del d["metadata"]["resourceVersion"]
    with pytest.raises(ActionError, match="no resourceVersion"):
        p.pause(d)
    with pytest.raises(ActionError, match="no actions for ConfigMap"):
        p.pause({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
    with pytest.raises(ActionError, match="needs a Deployment or a Rollout"):
        p.pause(hpa())


# -- undo and history ---------------------------------------------------------------------------


def _history(d):
    return [replicaset(d, 1, "web:1", cause="v1"), replicaset(d, 2, "web:2", cause="v2"),
            replicaset(d, 3, "web:3", cause="v3"),
            replicaset(d, 9, "web:9", controlled=False)]  # not controlled: ignored


def test_undo_previous_revision_is_kubectls_json_patch():
    d = deployment(containers=[{"name": "web", "image": "web:3"}])
    plan = p.undo(d, _history(d))
    (req,) = plan.requests
    assert req.content_type == JSON_PATCH and plan.destructive
    test, template, annotations = req.body
    assert test == {"op": "test", "path": "/metadata/resourceVersion", "value": "100"}
    assert template["path"] == "/spec/template"
    assert template["value"]["spec"]["containers"][0]["image"] == "web:2"
    assert template["value"]["metadata"]["labels"] == {"app": "web"}  # pod-template-hash removed
    # kept from the Deployment: the skip-set; copied from the RS: everything else; dropped: "team"
    assert annotations == {"op": "replace", "path": "/metadata/annotations",
                           "value": {"deployment.kubernetes.io/revision": "3", "kubernetes.io/change-cause": "v2"}}
    after = json_patch(d, req.body)
    assert expectation_met(after, req.expect)
    assert plan.success_message == "deployment.apps/web rolled back"
    assert "revision 2 (web:2)" in plan.summary


def test_undo_to_revision_errors_and_skips():
    d = deployment(containers=[{"name": "web", "image": "web:3"}])
    rss = _history(d)
    assert p.undo(d, rss, 1).requests[0].body[1]["value"]["spec"]["containers"][0]["image"] == "web:1"
    with pytest.raises(ActionError, match=r"^unable to find specified revision 7 in history$"):
        p.undo(d, rss, 7)
    with pytest.raises(ActionError, match=r"^unable to find specified revision -1 in history$"):
        p.undo(d, rss, -1)
    with pytest.raises(ActionError, match=r'^no rollout history found for deployment "web"$'):
        p.undo(d, rss[2:3])
    skipped = p.undo(d, rss, 3)
    assert skipped.noop and skipped.skip_reason == "skipped rollback (current template already matches revision 3)"
    paused = deployment(paused=True, containers=[{"name": "web", "image": "web:3"}])
    with pytest.raises(ActionError, match=r"^you cannot rollback a paused deployment; resume it first with "
                                          r"'kubectl rollout resume deployment/web' and try again$"):
        p.undo(paused, _history(paused))


def test_undo_rollout_plugin_semantics_and_history():
    ro = rollout()
    rss = [replicaset(ro, 1, "checkout:0", hash_label=p.ROLLOUTS_POD_TEMPLATE_HASH,
                      revision_annotation=p.ROLLOUT_REVISION, cause="first"),
           replicaset(ro, 2, "checkout:1", hash_label=p.ROLLOUTS_POD_TEMPLATE_HASH,
                      revision_annotation=p.ROLLOUT_REVISION)]
    plan = p.undo(ro, rss)
    test, template = plan.requests[0].body
    assert test["op"] == "test" and template["value"]["spec"]["containers"][0]["image"] == "checkout:0"
    assert p.ROLLOUTS_POD_TEMPLATE_HASH not in template["value"]["metadata"]["labels"]
    assert plan.success_message == "rollout 'checkout' undo"
    assert p.undo(ro, rss, 2).skip_reason.startswith("skipped rollback")
    with pytest.raises(ActionError, match=r'^no revision found for rollout "checkout"$'):
        p.undo(ro, rss[1:])
    revs = p.revisions(ro, rss)
    assert [(r.revision, r.images, r.change_cause, r.current) for r in revs] == [
        (1, ("checkout:0",), "first", False), (2, ("checkout:1",), "", True)]


# -- Argo Rollouts ------------------------------------------------------------------------------


def test_promote_canary_step_adds_index_and_rv_with_status_fallback():
    plan = p.rollout_promote(rollout(index=1, conditions=None))
    (req,) = plan.requests
    assert req.path.endswith("/rollouts/checkout/status") and req.content_type == MERGE_PATCH
    assert req.body == {"metadata": {"resourceVersion": "200"},
                        "status": {"pauseConditions": None, "currentStepIndex": 2}}
    assert req.fallback is not None and req.fallback.path.endswith("/rollouts/checkout")
    assert req.fallback.body == {"metadata": {"resourceVersion": "200"}, "spec": {"paused": False},
                                 "status": {"pauseConditions": None, "currentStepIndex": 2}}
    assert plan.access == [("patch", "argoproj.io", "rollouts", "status", "prod", "checkout")]


def test_promote_clears_pause_conditions_and_unpauses():
    cond = [{"reason": "CanaryPauseStep", "startTime": T}]
    plan = p.rollout_promote(rollout(conditions=cond, paused=True))
    status_req, spec_req = plan.requests
    assert status_req.body["status"] == {"pauseConditions": None}
    assert status_req.fallback.body == {"metadata": {"resourceVersion": "200"}, "spec": {"paused": False},
                                        "status": {"pauseConditions": None}}
    assert spec_req.body == {"metadata": {"resourceVersion": "200"}, "spec": {"paused": False}}
    assert not spec_req.after_fallback and not spec_req.path.endswith("/status")
    # inconclusive analysis with controllerPause: also clear controllerPause and move on a step
    plan = p.rollout_promote(rollout(conditions=cond, analysis="Inconclusive", controller_pause=True, index=1))
    assert plan.requests[0].body["status"] == {"pauseConditions": None, "controllerPause": False,
                                               "currentStepIndex": 2}
    # the last step does not go past the end
    assert p.rollout_promote(rollout(index=4)).requests[0].body["status"]["currentStepIndex"] == 4


def test_promote_bluegreen_full_abort_retry():
    bg = rollout(bluegreen=True, conditions=[{"reason": "BlueGreenPause", "startTime": T}])
    assert p.rollout_promote_bluegreen(bg).requests[0].body["status"] == {"pauseConditions": None}
    with pytest.raises(ActionError, match="not a blue-green rollout"):
        p.rollout_promote_bluegreen(rollout())
    assert p.rollout_promote(rollout(bluegreen=True)).noop  # nothing paused: nothing to do
    full = p.rollout_promote_full(rollout())
    assert full.requests[0].body == {"metadata": {"resourceVersion": "200"}, "status": {"promoteFull": True}}
    assert full.destructive and full.requests[0].fallback.body["status"] == {"promoteFull": True}
    assert p.rollout_promote_full(rollout(current="same", stable="same")).noop
    abort = p.rollout_abort(rollout())
    assert abort.requests[0].body["status"] == {"abort": True} and abort.destructive
    assert p.rollout_retry(rollout()).requests[0].body["status"] == {"abort": False}
    with pytest.raises(ActionError, match="Argo Rollouts action"):
        p.rollout_abort(deployment())


# -- HPA ----------------------------------------------------------------------------------------


def test_hpa_update_merge_patch():
    h = hpa()
    plan = p.hpa_update(h, min_replicas=2, max_replicas=10, target_utilization=70,
                        scale_down={"stabilizationWindowSeconds": 120,
                                    "policies": [{"type": "Percent", "value": 50, "periodSeconds": 30}]},
                        scale_up={"selectPolicy": "Min"})
    (req,) = plan.requests
    assert req.content_type == MERGE_PATCH and req.body["metadata"] == {"resourceVersion": "300"}
    spec = req.body["spec"]
    assert spec["minReplicas"] == 2 and spec["maxReplicas"] == 10
    assert spec["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
    assert spec["behavior"] == {"scaleUp": {"selectPolicy": "Min"}, "scaleDown": {
        "stabilizationWindowSeconds": 120, "policies": [{"type": "Percent", "value": 50, "periodSeconds": 30}]}}
    after = json_merge_patch(h, req.body)
    assert after["spec"]["behavior"]["scaleDown"]["selectPolicy"] == "Max"  # merged, not replaced
    assert expectation_met(after, req.expect) and not expectation_met(h, req.expect)
    assert p.hpa_update(h, min_replicas=3).noop


@pytest.mark.parametrize(("kwargs", "field", "text"), [
    ({"min_replicas": 0}, "spec.minReplicas", "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1"),
    ({"max_replicas": 2}, "spec.maxReplicas",
     "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`"),
    ({"max_replicas": 0}, "spec.maxReplicas", "spec.maxReplicas: Invalid value: 0: must be greater than 0"),
    ({"target_utilization": 0}, "spec.metrics[0].resource.target.averageUtilization", "must be greater than 0"),
    ({"scale_down": {"stabilizationWindowSeconds": 3601}}, "spec.behavior.scaleDown.stabilizationWindowSeconds",
     "Invalid value: 3601: must be less than or equal to 3600"),
    ({"scale_up": {"stabilizationWindowSeconds": -1}}, "spec.behavior.scaleUp.stabilizationWindowSeconds",
     "must be greater than or equal to zero"),
    ({"scale_down": {"selectPolicy": "Sideways"}}, "spec.behavior.scaleDown.selectPolicy",
     'Unsupported value: "Sideways": supported values: "Disabled", "Max", "Min"'),
    ({"scale_down": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 1801}]}},
     "spec.behavior.scaleDown.policies[0].periodSeconds", "Invalid value: 1801: must be less than or equal to 1800"),
    ({"scale_down": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 0}]}},
     "spec.behavior.scaleDown.policies[0].periodSeconds", "must be greater than zero"),
    ({"scale_down": {"policies": [{"type": "Pods", "value": 0, "periodSeconds": 60}]}},
     "spec.behavior.scaleDown.policies[0].value", "Invalid value: 0: must be greater than zero"),
    ({"scale_down": {"policies": [{"type": "Jobs", "value": 1, "periodSeconds": 60}]}},
     "spec.behavior.scaleDown.policies[0].type", 'Unsupported value: "Jobs"'),
    ({"scale_down": {"policies": []}}, "spec.behavior.scaleDown.policies", "must specify at least one Policy"),
])
def test_hpa_validation_names_the_field(kwargs, field, text):
    with pytest.raises(ActionError) as e:
        p.hpa_update(hpa(), **kwargs)
    assert e.value.field == field and text in e.value.message
    assert e.value.message.startswith('HorizontalPodAutoscaler.autoscaling "web" is invalid: ')


def test_hpa_validation_reports_all_errors_and_ratchets_zero():
    with pytest.raises(ActionError) as e:
        p.hpa_update(hpa(), min_replicas=0, max_replicas=0)
    assert e.value.message.count("Invalid value") == 2 and ": [" in e.value.message
    zero = hpa(minReplicas=0)  # already 0 (HPAScaleToZero): may stay 0
    assert p.hpa_update(zero, max_replicas=9).requests


# -- Tekton -------------------------------------------------------------------------------------


def test_pipelinerun_rerun_as_tkn():
    run = pipelinerun(status="Cancelled")
    plan = p.pipelinerun_rerun(run)
    (req,) = plan.requests
    assert (req.method, req.path) == ("POST", "/apis/tekton.dev/v1/namespaces/ci/pipelineruns")
    assert req.body["metadata"]["generateName"] == "build-run-" and "status" not in req.body["spec"]
    assert req.body["spec"]["params"] == run["spec"]["params"] and len(req.body["metadata"]["labels"]) == 1
    assert ACTION_ID_LABEL in req.body["metadata"]["labels"] and not req.precondition
    assert plan.access == [("create", "tekton.dev", "pipelineruns", "", "ci", None)]
    assert p.pipelinerun_rerun(pipelinerun(generate=None)).requests[0].body["metadata"]["generateName"] == \
        "build-run-x7k2p-"
    assert p.pipelinerun_rerun(run, prefix_name="hotfix").requests[0].body["metadata"]["generateName"] == "hotfix-"


def test_pipelinerun_cancel_as_tkn():
    plan = p.pipelinerun_cancel(pipelinerun())
    assert plan.requests[0].body == [{"op": "test", "path": "/metadata/resourceVersion", "value": "400"},
                                     {"op": "replace", "path": "/spec/status", "value": "Cancelled"}]
    assert p.pipelinerun_cancel(pipelinerun(), grace="stoppedrunfinally").requests[0].body[1]["value"] == \
        "StoppedRunFinally"
    with pytest.raises(ActionError, match=r"^failed to cancel PipelineRun build-run-x7k2p: PipelineRun has already "
                                          r"finished execution$"):
        p.pipelinerun_cancel(pipelinerun(finished=True))


# -- Argo CD ------------------------------------------------------------------------------------


def test_app_sync_sets_the_operation_like_set_app_operation():
    app = application()
    plan = p.app_sync(app, prune=True)
    (req,) = plan.requests
    assert (req.method, req.content_type) == ("PUT", "application/json")
    assert req.body["metadata"]["resourceVersion"] == "500" and "managedFields" not in req.body["metadata"]
    op = req.body["operation"]
    assert op["sync"] == {"revision": "main", "prune": True, "syncOptions": ["CreateNamespace=true"]}
    assert op["initiatedBy"] == {"username": "almtui"} and op["retry"] == {}
    assert "operationState" not in req.body["status"]
    assert plan.destructive and plan.access == [("update", "argoproj.io", "applications", "", "argocd", "web-prod")]
    assert expectation_met(req.body, req.expect)
    with pytest.raises(ActionError, match=r"^another operation is already in progress$"):
        p.app_sync(application(operation={"sync": {}}))
    with pytest.raises(ActionError, match=r"^Cannot sync to v2: auto-sync currently set to main$"):
        p.app_sync(application(auto=True), revision="v2")


def test_app_rollback():
    with pytest.raises(ActionError, match=r"^rollback cannot be initiated when auto-sync is enabled$"):
        p.app_rollback(application(auto=True), 0)
    with pytest.raises(ActionError, match=r"^application web-prod does not have deployment with id 7$"):
        p.app_rollback(application(), 7)
    op = p.app_rollback(application(), 0).requests[0].body["operation"]
    assert op["sync"]["revision"] == "a" * 40 and op["sync"]["syncStrategy"] == {"apply": {}}
    assert op["sync"]["source"]["path"] == "web/prod"


def test_gitops_warnings():
    d = deployment()
    auto, manual = application(auto=True), application()
    assert p.gitops_warnings(d, [auto]) == [
        "managed by Argo CD app web-prod with auto-sync: GitOps will revert this change"]
    assert "next sync will revert" in p.gitops_warnings(d, [manual])[0]
    other = deployment("other")
    assert p.gitops_warnings(other, [auto]) == []
    other["metadata"]["annotations"][p.TRACKING_ID] = "web-prod:apps/Deployment:prod/other"
    assert p.gitops_warnings(other, [auto])
    label = deployment("third")
    label["metadata"]["labels"][p.INSTANCE_LABEL] = "web-prod"
    assert p.managing_app(label, [auto]) is auto
    assert p.scale(d, 4, apps=[auto]).warnings == p.gitops_warnings(d, [auto])
    disabled = application(auto=True)
    disabled["spec"]["syncPolicy"]["automated"]["enabled"] = False
    assert "next sync" in p.gitops_warnings(d, [disabled])[0]


# -- executor helpers ---------------------------------------------------------------------------


def test_diff_objects_and_conditioning():
    a = deployment(replicas=3)
    b = copy.deepcopy(a)
    b["spec"]["replicas"] = 5
    b["metadata"]["resourceVersion"] = "101"
    b["spec"]["template"]["spec"]["containers"][0]["image"] = "web:9"
    assert diff_objects(a, b) == ["spec.replicas: 3 -> 5",
                                  "spec.template.spec.containers[web].image: web:1 -> web:9",
                                  "metadata.resourceVersion: 100 -> 101"]
    req = p.scale(a, 5).requests[0]
    assert conditioned(req, "777")["metadata"]["resourceVersion"] == "777"
    assert req.body["metadata"]["resourceVersion"] == "100"  # the plan keeps what was shown
    undo_req = p.undo(deployment(containers=[{"name": "web", "image": "web:3"}]), _history(deployment())).requests[0]
    assert conditioned(undo_req, "778")[0]["value"] == "778"
