"""Objects in the wild are partial: no builder may raise on missing or wrongly typed fields.

Realistic samples of every kind get random keys deleted or replaced by junk (None, numbers,
strings, lists, dicts); completely arbitrary JSON objects are fed too.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from almtui.cluster import views

T = "2026-01-01T00:00:00Z"
OWNER = [{"kind": "ReplicaSet", "name": "web-abc", "uid": "rs-1", "controller": True}]
TEMPLATE = {"metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}},
            "spec": {"containers": [{"name": "web", "image": "reg/web:1.0",
                                     "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}
COND = {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": "ok",
        "lastTransitionTime": T, "lastHeartbeatTime": T}

SAMPLES: dict[str, dict] = {
    "deployment": {"metadata": {"name": "web", "namespace": "prod", "uid": "d-1", "generation": 2,
                                "creationTimestamp": T, "labels": {"app": "web"},
                                "annotations": {"deployment.kubernetes.io/revision": "2"}},
                   "spec": {"replicas": 3, "paused": False, "strategy": {"type": "RollingUpdate"},
                            "template": TEMPLATE},
                   "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
                              "availableReplicas": 3, "conditions": [COND]}},
    "rollout": {"metadata": {"name": "shop", "namespace": "prod", "uid": "r-1", "generation": 1,
                             "annotations": {"rollout.argoproj.io/revision": "1"}},
                "spec": {"replicas": 2, "template": TEMPLATE, "restartAt": T,
                         "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}],
                                                 "trafficRouting": {"nginx": {}}},
                                      "blueGreen": {"activeService": "a"}}},
                "status": {"observedGeneration": "1", "currentStepIndex": 1, "stableRS": "abc",
                           "currentPodHash": "def", "pauseConditions": [{"reason": "CanaryPauseStep"}],
                           "blueGreen": {"activeSelector": "abc", "previewSelector": "def"},
                           "canary": {"weights": {"canary": {"weight": 20}}}, "conditions": [COND],
                           "availableReplicas": 2, "abort": False}},
    "replicaset": {"metadata": {"name": "web-abc", "namespace": "prod", "uid": "rs-1", "generation": 1,
                                "labels": {"pod-template-hash": "abc", "rollouts-pod-template-hash": "abc"},
                                "annotations": {"deployment.kubernetes.io/revision": "2", "scale-down-deadline": T},
                                "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": "d-1",
                                                     "controller": True}]},
                   "spec": {"replicas": 3, "template": TEMPLATE},
                   "status": {"replicas": 3, "availableReplicas": 3, "observedGeneration": 1,
                              "conditions": [{"type": "ReplicaFailure", "status": "True"}]}},
    "pod": {"metadata": {"name": "web-abc-1", "namespace": "prod", "creationTimestamp": T, "uid": "p-1",
                         "labels": {"app": "web", "pod-template-hash": "abc"}, "ownerReferences": OWNER,
                         "deletionTimestamp": T, "deletionGracePeriodSeconds": 30},
            "spec": {"nodeName": "n1", "containers": TEMPLATE["spec"]["containers"],
                     "initContainers": [{"name": "init", "restartPolicy": "Always",
                                         "resources": {"requests": {"cpu": "10m"}}}],
                     "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                                      "effect": "NoExecute", "tolerationSeconds": 300}],
                     "overhead": {"cpu": "10m"}},
            "status": {"phase": "Pending", "reason": "Evicted", "message": "m", "podIP": "10.0.0.1",
                       "podIPs": [{"ip": "10.0.0.1"}], "startTime": T,
                       "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": T},
                                      {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}],
                       "initContainerStatuses": [{"name": "init", "started": True, "ready": True, "restartCount": 1,
                                                  "state": {"terminated": {"exitCode": 1, "signal": 9}}}],
                       "containerStatuses": [{"name": "web", "ready": False, "restartCount": 5,
                                              "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "x"}},
                                              "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled",
                                                                           "finishedAt": T}}}]}},
    "hpa": {"metadata": {"name": "web", "namespace": "prod"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 5,
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                         "type": "Utilization", "averageUtilization": 60}}},
                                 {"type": "Object", "object": {"metric": {"name": "rps"},
                                                               "describedObject": {"kind": "Ingress", "name": "w"},
                                                               "target": {"type": "Value", "value": "10"}}}],
                     "behavior": {"scaleUp": {"policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}]},
                                  "scaleDown": {"selectPolicy": "Max"}}},
            "status": {"currentReplicas": 2, "desiredReplicas": 2, "lastScaleTime": T, "conditions": [COND],
                       "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {
                           "averageUtilization": 50}}}]}},
    "node": {"metadata": {"name": "n1", "creationTimestamp": T, "labels": {"node-role.kubernetes.io/edge": ""}},
             "spec": {"taints": [{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": T}],
                      "unschedulable": True},
             "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                        "conditions": [{"type": "Ready", "status": "Unknown", "lastHeartbeatTime": T},
                                       {"type": "MemoryPressure", "status": "True"}],
                        "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                        "nodeInfo": {"kubeletVersion": "v1.33.0"}}},
    "lease": {"metadata": {"name": "n1", "namespace": "kube-node-lease"},
              "spec": {"renewTime": "2026-01-01T00:00:00.000000Z", "leaseDurationSeconds": 40}},
    "node_metrics": {"metadata": {"name": "n1"}, "usage": {"cpu": "250m", "memory": "1Gi"}},
    "pod_metrics": {"metadata": {"name": "web-abc-1", "namespace": "prod"}, "timestamp": T, "window": "15s",
                    "containers": [{"name": "web", "usage": {"cpu": "50m", "memory": "32Mi"}}]},
    "event": {"metadata": {"name": "e", "namespace": "prod", "creationTimestamp": T}, "type": "Warning",
              "involvedObject": {"kind": "Pod", "name": "web-abc-1"}, "regarding": {"kind": "Pod"},
              "reason": "BackOff", "message": "m", "note": "n", "count": 3, "firstTimestamp": T, "lastTimestamp": T,
              "eventTime": T, "series": {"count": 2, "lastObservedTime": T}, "source": {"component": "kubelet"}},
    "pipelinerun": {"metadata": {"name": "b-1", "namespace": "ci", "labels": {"tekton.dev/pipeline": "b"}},
                    "spec": {"pipelineRef": {"name": "b"}, "status": "", "params": [{"name": "p", "value": [1]}],
                             "pipelineSpec": {}},
                    "status": {"startTime": T, "completionTime": T,
                               "conditions": [{"type": "Succeeded", "status": "False", "reason": "Failed"}],
                               "childReferences": [{"kind": "TaskRun", "name": "b-1-t", "pipelineTaskName": "t"}]}},
    "taskrun": {"metadata": {"name": "b-1-t", "namespace": "ci",
                             "labels": {"tekton.dev/pipelineRun": "b-1", "tekton.dev/pipelineTask": "t"}},
                "spec": {"status": ""},
                "status": {"startTime": T, "podName": "p", "conditions": [{"type": "Succeeded", "status": "Unknown"}]}},
    "application": {"metadata": {"name": "a", "namespace": "argocd"},
                    "spec": {"project": "p", "source": {"repoURL": "u", "targetRevision": "main"},
                             "sources": [{"repoURL": "u2"}], "destination": {"namespace": "prod"},
                             "syncPolicy": {"automated": {"selfHeal": True, "prune": True}}},
                    "status": {"sync": {"status": "Synced", "revision": "r", "revisions": ["r"]},
                               "health": {"status": "Healthy"},
                               "history": [{"id": 1, "revision": "r", "deployedAt": T, "revisions": ["r"]}],
                               "operationState": {"phase": "Succeeded", "finishedAt": T},
                               "resources": [{"kind": "Deployment", "name": "web", "health": {"status": "Healthy"}}]}},
}

JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6),
    st.sampled_from(["", "0", "-1", "1e9", "²", T, "abc:def", "Always", "True", "NoExecute"]),
    st.lists(st.one_of(st.none(), st.integers(), st.text(max_size=3)), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            out.append((*prefix, key))
            out += _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for n, value in enumerate(obj):
            out.append((*prefix, n))
            out += _paths(value, (*prefix, n))
    return out


@st.composite
def mutated(draw: st.DrawFn, kind: str) -> Any:
    obj = copy.deepcopy(SAMPLES[kind])
    paths = _paths(obj)
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        path = draw(st.sampled_from(paths))
        parent: Any = obj
        for step in path[:-1]:
            try:
                parent = parent[step]
            except (KeyError, IndexError, TypeError):
                parent = None
                break
        last = path[-1]
        if isinstance(parent, dict) and last in parent:
            if draw(st.booleans()):
                del parent[last]
            else:
                parent[last] = draw(JUNK)
        elif isinstance(parent, list) and isinstance(last, int) and last < len(parent):
            parent[last] = draw(JUNK)
    return obj if draw(st.integers(0, 20)) < 20 else draw(JUNK)  # now and then not even a dict


def some(kind: str) -> st.SearchStrategy[list]:
    return st.lists(st.one_of(st.just(copy.deepcopy(SAMPLES[kind])), mutated(kind)), max_size=3)


NOW = st.floats(min_value=0, max_value=4e9)
RELAXED = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@RELAXED
@given(some("deployment"), some("rollout"), some("replicaset"), some("pod"), some("hpa"), NOW)
def test_build_rollouts(deps, ros, rss, pods, hpas, now):
    views.build_rollouts(deps, ros, rss, pods, hpas, now)


@RELAXED
@given(some("pipelinerun"), some("taskrun"), NOW)
def test_build_pipeline_runs(prs, trs, now):
    views.build_pipeline_runs(prs, trs, now)


@RELAXED
@given(some("application"), NOW)
def test_build_applications(apps, now):
    views.build_applications(apps, now)


@RELAXED
@given(some("deployment"), some("rollout"), NOW)
def test_build_environments(deps, ros, now):
    views.build_environments(deps, ros, [("prod", "prod"), ("x", "prod")], now)


@RELAXED
@given(some("node"), some("pod"), some("lease"), some("node_metrics"), NOW)
def test_build_nodes(nodes, pods, leases, metrics, now):
    views.build_nodes(nodes, pods, leases, metrics, now)


@RELAXED
@given(some("pod"), NOW)
def test_build_pod_issues_and_pods(pods, now):
    views.build_pod_issues(pods, now)
    views.build_pods(pods, now)


@RELAXED
@given(some("event"), NOW)
def test_build_warning_events(events, now):
    views.build_warning_events(events, now)


@RELAXED
@given(some("hpa"), NOW)
def test_build_hpas(hpas, now):
    views.build_hpas(hpas, {("prod", "web"): [1, 2]}, now)


@RELAXED
@given(mutated("hpa"), some("pod"), some("pod_metrics"),
       st.dictionaries(st.sampled_from(["minReplicas", "maxReplicas", "targetUtilization", "behavior", "resource"]),
                       JUNK, max_size=3), NOW)
def test_hpa_what_if(hpa, pods, metrics, proposed, now):
    result = views.hpa_what_if(hpa if isinstance(hpa, dict) else {}, pods, metrics, proposed, now)
    assert isinstance(result, int)


JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(
        ["metadata", "spec", "status", "conditions", "name", "type", "template", "containers", "state"]), inner,
        max_size=4)),
    max_leaves=12,
)


@pytest.mark.parametrize("builder", [
    lambda objs: views.build_rollouts(objs, objs, objs, objs, objs, 0.0),
    lambda objs: views.build_pipeline_runs(objs, objs, 0.0),
    lambda objs: views.build_applications(objs, 0.0),
    lambda objs: views.build_environments(objs, objs, views.DEFAULT_ENVIRONMENTS, 0.0),
    lambda objs: views.build_nodes(objs, objs, objs, objs, 0.0),
    lambda objs: views.build_pod_issues(objs, 0.0),
    lambda objs: views.build_warning_events(objs, 0.0),
    lambda objs: views.build_hpas(objs, {}, 0.0),
])
@settings(max_examples=40, deadline=None)
@given(objs=st.lists(st.dictionaries(st.sampled_from(["metadata", "spec", "status", "type", "involvedObject"]),
                                     JSON, max_size=3), max_size=3))
def test_arbitrary_objects(builder, objs):
    builder(objs)
