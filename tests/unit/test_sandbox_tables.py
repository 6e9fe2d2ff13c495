"""Server-side printing: the Table cells kubectl prints, checked against upstream printer behaviour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from almtui.sandbox.errors import ApiError
from almtui.sandbox.resources import REGISTRY
from almtui.sandbox.tables import (
    jsonpath_find,
    table_event_object,
    table_group_version,
    to_table,
    wants_table,
)

NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
KUBECTL_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,"
                  "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")

PODS = REGISTRY.lookup("", "v1", "pods")
NODES = REGISTRY.lookup("", "v1", "nodes")
DEPLOYMENTS = REGISTRY.lookup("apps", "v1", "deployments")
HPAS = REGISTRY.lookup("autoscaling", "v2", "horizontalpodautoscalers")
PIPELINERUNS = REGISTRY.lookup("tekton.dev", "v1", "pipelineruns")


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str, age: float = 300, **extra) -> dict:
    return {"name": name, "namespace": "shop", "creationTimestamp": ago(age), "resourceVersion": "42",
            **extra}


def cells(res, obj: dict) -> list:
    return to_table(res, [obj], NOW)["rows"][0]["cells"]


def names(res) -> list[tuple[str, int]]:
    return [(c["name"], c["priority"]) for c in to_table(res, [], NOW)["columnDefinitions"]]


# --------------------------------------------------------------------------- negotiation


@pytest.mark.parametrize(("accept", "want"), [
    (KUBECTL_ACCEPT, "meta.k8s.io/v1"),
    ("application/json;as=Table;v=v1beta1;g=meta.k8s.io", "meta.k8s.io/v1beta1"),
    ("application/json", None),
    ("", None),
    ("*/*", None),
    ("application/json, application/json;as=Table;v=v1;g=meta.k8s.io", None),
    ("application/json;q=0.5, application/json;as=Table;v=v1;g=meta.k8s.io", "meta.k8s.io/v1"),
    ("application/json;as=Table;v=v2;g=meta.k8s.io,application/json", None),
    ("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json", None),
])
def test_table_negotiation(accept: str, want: str | None) -> None:
    assert table_group_version(accept) == want
    assert wants_table(accept) is (want is not None)


# --------------------------------------------------------------------------- table shape


def test_table_shape_and_partial_object_metadata() -> None:
    pod = {"metadata": meta("web-1"), "spec": {"containers": [{"name": "web"}]},
           "status": {"phase": "Running"}}
    table = to_table(PODS, [pod], NOW)
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42"}
    for col in table["columnDefinitions"]:
        assert set(col) == {"name", "type", "format", "description", "priority"}
    row = table["rows"][0]
    assert row["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": pod["metadata"]}
    assert len(row["cells"]) == len(table["columnDefinitions"])


def test_include_object_variants_and_list_meta() -> None:
    pod = {"metadata": meta("web-1")}
    full = to_table(PODS, [pod], NOW, "Object", {"resourceVersion": "99", "continue": "abc"})
    assert full["metadata"] == {"resourceVersion": "99", "continue": "abc"}
    assert full["rows"][0]["object"] == {"kind": "Pod", "apiVersion": "v1", "metadata": pod["metadata"]}
    assert to_table(PODS, [pod], NOW, "None")["rows"][0]["object"] is None
    assert to_table(PODS, [pod], NOW, "")["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    with pytest.raises(ApiError) as e:
        to_table(PODS, [pod], NOW, "Everything")
    assert e.value.code == 400
    assert "includeObject: Invalid value" in e.value.message


def test_watch_event_table_carries_columns_only_first() -> None:
    pod = {"metadata": meta("web-1")}
    first = table_event_object(PODS, pod, NOW, "Metadata", True)
    later = table_event_object(PODS, pod, NOW, "Metadata", False)
    assert len(first["columnDefinitions"]) == 9 and later["columnDefinitions"] == []
    assert len(first["rows"]) == len(later["rows"]) == 1
    assert later["rows"][0]["cells"] == first["rows"][0]["cells"]
    assert later["metadata"] == {"resourceVersion": "42"}


@pytest.mark.parametrize("res", REGISTRY.resources, ids=lambda r: r.key)
@pytest.mark.parametrize("obj", [{}, {"metadata": {"name": "x"}, "spec": None, "status": "weird"},
                                 {"metadata": {"name": "x"}, "spec": {"containers": [None, 3]},
                                  "status": {"conditions": "nope", "containerStatuses": [{"state": None}]}}])
def test_partial_objects_never_crash(res, obj: dict) -> None:
    table = to_table(res, [obj], NOW)
    assert len(table["rows"][0]["cells"]) == len(table["columnDefinitions"])


# --------------------------------------------------------------------------- pods


def test_pod_columns() -> None:
    assert names(PODS) == [("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0), ("IP", 1),
                           ("Node", 1), ("Nominated Node", 1), ("Readiness Gates", 1)]


def test_crashloop_pod() -> None:
    pod = {"metadata": meta("web-1", age=3600 * 5 + 180),
           "spec": {"containers": [{"name": "web"}, {"name": "sidecar"}], "nodeName": "edge-1"},
           "status": {"phase": "Running", "podIP": "10.1.0.7",
                      "containerStatuses": [
                          {"name": "web", "ready": False, "restartCount": 5,
                           "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                           "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(120)}}},
                          {"name": "sidecar", "ready": True, "restartCount": 0, "state": {"running": {}}}]}}
    assert cells(PODS, pod) == ["web-1", "1/2", "CrashLoopBackOff", "5 (2m ago)", "5h3m", "10.1.0.7",
                                "edge-1", "<none>", "<none>"]


@pytest.mark.parametrize(("status", "deleting", "want"), [
    ({"phase": "Pending", "containerStatuses": [{"state": {"waiting": {"reason": "ContainerCreating"}}}]},
     False, "ContainerCreating"),
    ({"phase": "Pending", "containerStatuses": [{"state": {"waiting": {"reason": "ErrImagePull"}}}]},
     False, "ErrImagePull"),
    ({"phase": "Succeeded", "containerStatuses": [{"state": {"terminated": {"exitCode": 0,
                                                                           "reason": "Completed"}}}]},
     False, "Completed"),
    ({"phase": "Failed", "containerStatuses": [{"state": {"terminated": {"exitCode": 137}}}]}, False,
     "ExitCode:137"),
    ({"phase": "Running", "containerStatuses": [{"ready": True, "state": {"running": {}}}]}, True,
     "Terminating"),
    ({"phase": "Succeeded"}, True, "Succeeded"),
    ({"phase": "Running", "reason": "NodeLost"}, True, "Unknown"),
    ({"phase": "Pending", "initContainerStatuses": [{"name": "init", "state": {"running": {}}}]}, False,
     "Init:0/1"),
    ({"phase": "Pending", "initContainerStatuses": [
        {"name": "init", "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}, False,
     "Init:CrashLoopBackOff"),
    ({"phase": "Pending",
      "initContainerStatuses": [{"name": "init", "state": {"terminated": {"exitCode": 2}}}]},
     False, "Init:ExitCode:2"),
    ({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                                          "reason": "SchedulingGated"}]}, False, "SchedulingGated"),
    ({"phase": "Running", "containerStatuses": [
        {"ready": True, "state": {"running": {}}},
        {"state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
      "conditions": [{"type": "Ready", "status": "False"}]}, False, "NotReady"),
])
def test_pod_status_column(status: dict, deleting: bool, want: str) -> None:
    md = meta("p", deletionTimestamp=ago(1)) if deleting else meta("p")
    pod = {"metadata": md, "spec": {"containers": [{"name": "c"}], "initContainers": [{"name": "init"}]},
           "status": status}
    assert cells(PODS, pod)[2] == want


def test_pod_row_conditions_and_sidecar_counting() -> None:
    done = {"metadata": meta("job-1"), "spec": {"containers": [{"name": "c"}]},
            "status": {"phase": "Succeeded"}}
    row = to_table(PODS, [done], NOW)["rows"][0]
    assert row["conditions"] == [{"type": "Completed", "status": "True", "reason": "Succeeded",
                                  "message": "The pod has completed successfully."}]
    assert "conditions" not in to_table(PODS, [{"metadata": meta("x")}], NOW)["rows"][0]
    sidecar = {"metadata": meta("p"),
               "spec": {"containers": [{"name": "app"}],
                        "initContainers": [{"name": "proxy", "restartPolicy": "Always"}],
                        "readinessGates": [{"conditionType": "example.com/gate"}]},
               "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.9"}, {"ip": "fd00::9"}],
                          "conditions": [{"type": "Initialized", "status": "True"},
                                         {"type": "example.com/gate", "status": "True"}],
                          "initContainerStatuses": [{"name": "proxy", "started": True, "ready": True,
                                                     "restartCount": 1, "state": {"running": {}}}],
                          "containerStatuses": [{"name": "app", "ready": True, "state": {"running": {}}}]}}
    assert cells(PODS, sidecar)[1:4] == ["2/2", "Running", "1"]
    assert cells(PODS, sidecar)[5] == "10.0.0.9"
    assert cells(PODS, sidecar)[8] == "1/1"


# --------------------------------------------------------------------------- nodes


def node(name: str, ready: str | None, **spec) -> dict:
    conds = [{"type": "MemoryPressure", "status": "False"}]
    if ready is not None:
        conds.append({"type": "Ready", "status": ready})
    return {"metadata": {"name": name, "creationTimestamp": ago(86400 * 3),
                         "labels": {"node-role.kubernetes.io/edge": "", "kubernetes.io/role": "worker"}},
            "spec": spec,
            "status": {"conditions": conds,
                       "addresses": [{"type": "InternalIP", "address": "192.168.1.10"}],
                       "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "Ubuntu 24.04",
                                    "kernelVersion": "6.8.0", "containerRuntimeVersion": "containerd://2.0"}}}


def test_node_columns_and_cells() -> None:
    assert [n for n, _ in names(NODES)] == ["Name", "Status", "Roles", "Age", "Version", "Internal-IP",
                                            "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"]
    assert cells(NODES, node("edge-1", "True")) == [
        "edge-1", "Ready", "edge,worker", "3d", "v1.33.0", "192.168.1.10", "<none>", "Ubuntu 24.04", "6.8.0",
        "containerd://2.0"]


@pytest.mark.parametrize(("ready", "unschedulable", "want"), [
    ("True", False, "Ready"),
    ("False", False, "NotReady"),
    ("Unknown", False, "NotReady"),
    (None, False, "Unknown"),
    ("True", True, "Ready,SchedulingDisabled"),
    (None, True, "Unknown,SchedulingDisabled"),
])
def test_node_status(ready: str | None, unschedulable: bool, want: str) -> None:
    assert cells(NODES, node("n", ready, unschedulable=unschedulable))[1] == want


def test_node_without_roles_or_info() -> None:
    assert cells(NODES, {"metadata": {"name": "bare"}}) == [
        "bare", "Unknown", "<none>", "<unknown>", "", "<none>", "<none>", "<unknown>", "<unknown>",
        "<unknown>"]


# --------------------------------------------------------------------------- workloads


def test_deployment_mid_rollout() -> None:
    dep = {"metadata": meta("web", age=90),
           "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "tier": "front"}},
                    "template": {"spec": {"containers": [{"name": "web", "image": "web:2"},
                                                         {"name": "log", "image": "fluent:1"}]}}},
           "status": {"replicas": 4, "updatedReplicas": 1, "readyReplicas": 2, "availableReplicas": 2}}
    assert names(DEPLOYMENTS) == [("Name", 0), ("Ready", 0), ("Up-to-date", 0), ("Available", 0), ("Age", 0),
                                  ("Containers", 1), ("Images", 1), ("Selector", 1)]
    assert cells(DEPLOYMENTS, dep) == ["web", "2/3", 1, 2, "90s", "web,log", "web:2,fluent:1",
                                       "app=web,tier=front"]


def test_replicaset_and_selector_expressions() -> None:
    rs = REGISTRY.lookup("apps", "v1", "replicasets")
    obj = {"metadata": meta("web-6f7d"),
           "spec": {"replicas": 2, "selector": {"matchExpressions": [
               {"key": "app", "operator": "In", "values": ["web", "api"]},
               {"key": "canary", "operator": "DoesNotExist"}]},
               "template": {"spec": {"containers": [{"name": "web", "image": "web:1"}]}}},
           "status": {"replicas": 2, "readyReplicas": 1}}
    assert cells(rs, obj) == ["web-6f7d", 2, 2, 1, "5m", "web", "web:1", "app in (api,web),!canary"]
    assert cells(rs, {"metadata": meta("x"), "spec": {"selector": {}}})[-1] == "<none>"


def hpa(metrics: list, current: list | None = None, **spec) -> dict:
    status = {"currentReplicas": 3}
    if current is not None:
        status["currentMetrics"] = current
    return {"metadata": meta("web"),
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "maxReplicas": 10, "metrics": metrics, **spec},
            "status": status}


CPU60 = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                    "averageUtilization": 60}}}
CPU45 = {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 45,
                                                                     "averageValue": "90m"}}}


def test_hpa_with_current_metrics() -> None:
    assert [n for n, _ in names(HPAS)] == ["Name", "Reference", "Targets", "MinPods", "MaxPods", "Replicas",
                                           "Age"]
    assert cells(HPAS, hpa([CPU60], [CPU45], minReplicas=2)) == [
        "web", "Deployment/web", "cpu: 45%/60%", "2", 10, 3, "5m"]


def test_hpa_without_current_metrics() -> None:
    assert cells(HPAS, hpa([CPU60]))[2:4] == ["cpu: <unknown>/60%", "<unset>"]
    assert cells(HPAS, hpa([]))[2] == "<none>"


def test_hpa_value_metrics_and_overflow() -> None:
    mem = {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue",
                                                                         "averageValue": "200Mi"}}}
    pods = {"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue",
                                                                           "averageValue": "100"}}}
    ext = {"type": "External", "external": {"metric": {"name": "queue"}, "target": {"type": "Value",
                                                                                    "value": "30"}}}
    current = [{"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "150Mi"}}},
               {"type": "Pods", "pods": {"current": {"averageValue": "80"}}}]
    assert cells(HPAS, hpa([mem, pods], current))[2] == "memory: 150Mi/200Mi, 80/100"
    assert cells(HPAS, hpa([mem, pods, ext], current))[2] == "memory: 150Mi/200Mi, 80/100 + 1 more..."
    assert cells(HPAS, hpa([ext]))[2] == "<unknown>/30"


# --------------------------------------------------------------------------- other built-in kinds


def test_service_cells() -> None:
    svc = REGISTRY.lookup("", "v1", "services")
    lb = {"metadata": meta("shop"),
          "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                   "selector": {"app": "shop"},
                   "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080},
                             {"port": 53, "protocol": "UDP"}]},
          "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}]}}}
    assert cells(svc, lb) == ["shop", "LoadBalancer", "10.96.0.10", "203.0.113.9", "80:30080/TCP,53/UDP",
                              "5m", "app=shop"]
    pending = {"metadata": meta("p"), "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.11"}}
    assert cells(svc, pending)[2:5] == ["10.96.0.11", "<pending>", "<none>"]
    headless = {"metadata": meta("h"), "spec": {"type": "ClusterIP", "clusterIPs": ["None"]}}
    assert cells(svc, headless)[2:4] == ["None", "<none>"]


def test_event_cells() -> None:
    events = REGISTRY.lookup("", "v1", "events")
    ev = {"metadata": meta("web-1.17a"), "type": "Warning", "reason": "BackOff",
          "message": "Back-off restarting failed container\n",
          "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{web}"},
          "source": {"component": "kubelet", "host": "edge-1"},
          "firstTimestamp": ago(600), "lastTimestamp": ago(30), "count": 12}
    assert [n for n, _ in names(events)][:7] == ["Last Seen", "Type", "Reason", "Object", "Subobject",
                                                 "Source", "Message"]
    assert cells(events, ev) == ["30s", "Warning", "BackOff", "pod/web-1", "spec.containers{web}",
                                 "kubelet, edge-1", "Back-off restarting failed container", "10m", 12,
                                 "web-1.17a"]
    new_api = {"metadata": meta("e2"), "eventTime": "2026-05-01T11:59:00.123456Z",
               "reportingComponent": "ctl", "involvedObject": {"kind": "Deployment"},
               "series": {"count": 4, "lastObservedTime": ago(5)}}
    c = cells(events, new_api)
    assert (c[0], c[3], c[5], c[7], c[8]) == ("5s", "deployment", "ctl", "59s", 4)


@pytest.mark.parametrize(("plural", "group", "version", "obj", "want"), [
    ("namespaces", "", "v1", {"metadata": meta("shop"), "status": {"phase": "Active"}},
     ["shop", "Active", "5m"]),
    ("configmaps", "", "v1",
     {"metadata": meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}},
     ["cfg", 3, "5m"]),
    ("secrets", "", "v1",
     {"metadata": meta("tls"), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "k": ""}},
     ["tls", "kubernetes.io/tls", 2, "5m"]),
    ("serviceaccounts", "", "v1", {"metadata": meta("default")}, ["default", 0, "5m"]),
    ("leases", "coordination.k8s.io", "v1",
     {"metadata": meta("edge-1"), "spec": {"holderIdentity": "edge-1"}}, ["edge-1", "edge-1", "5m"]),
    ("poddisruptionbudgets", "policy", "v1",
     {"metadata": meta("web"), "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}},
     ["web", "50%", "N/A", 1, "5m"]),
    ("poddisruptionbudgets", "policy", "v1", {"metadata": meta("db"), "spec": {"maxUnavailable": 1}},
     ["db", "N/A", "1", 0, "5m"]),
])
def test_simple_printers(plural: str, group: str, version: str, obj: dict, want: list) -> None:
    assert cells(REGISTRY.lookup(group, version, plural), obj) == want


def test_default_printer_name_and_created_at() -> None:
    crds = REGISTRY.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    table = to_table(crds, [{"metadata": {"name": "rollouts.argoproj.io",
                                          "creationTimestamp": "2026-04-01T10:00:00Z"}}], NOW)
    assert [(c["name"], c["type"]) for c in table["columnDefinitions"]] == [("Name", "string"),
                                                                            ("Created At", "date")]
    assert table["rows"][0]["cells"] == ["rollouts.argoproj.io", "2026-04-01T10:00:00Z"]


# --------------------------------------------------------------------------- custom resources


def test_pipelinerun_printer_columns() -> None:
    assert [(c["name"], c["type"]) for c in to_table(PIPELINERUNS, [], NOW)["columnDefinitions"]] == [
        ("Name", "string"), ("Succeeded", "string"), ("Reason", "string"), ("StartTime", "date"),
        ("CompletionTime", "date")]
    done = {"metadata": meta("build-7"),
            "status": {"conditions": [{"type": "Ready", "status": "False"},
                                      {"type": "Succeeded", "status": "True", "reason": "Succeeded"}],
                       "startTime": ago(700), "completionTime": ago(65)}}
    assert cells(PIPELINERUNS, done) == ["build-7", "True", "Succeeded", "11m", "65s"]
    running = {"metadata": meta("build-8"), "status": {"startTime": ago(10), "conditions": [
        {"type": "Succeeded", "status": "Unknown", "reason": "Running"}]}}
    assert cells(PIPELINERUNS, running) == ["build-8", "Unknown", "Running", "10s", None]
    assert cells(PIPELINERUNS, {"metadata": meta("new")}) == ["new", None, None, None, None]


def test_custom_resource_without_columns_gets_age() -> None:
    pipelines = REGISTRY.lookup("tekton.dev", "v1", "pipelines")
    table = to_table(pipelines, [{"metadata": meta("ci")}], NOW)
    assert [(c["name"], c["type"]) for c in table["columnDefinitions"]] == [("Name", "string"),
                                                                            ("Age", "date")]
    assert table["rows"][0]["cells"] == ["ci", "5m"]


def test_rollout_integer_columns_and_priority() -> None:
    rollouts = REGISTRY.lookup("argoproj.io", "v1alpha1", "rollouts")
    ro = {"metadata": meta("shop"), "spec": {"replicas": 5},
          "status": {"replicas": 6.0, "updatedReplicas": "x"}}
    assert cells(rollouts, ro) == ["shop", 5, 6, None, None, "5m"]
    apps = REGISTRY.lookup("argoproj.io", "v1alpha1", "applications")
    last = to_table(apps, [], NOW)["columnDefinitions"][-1]
    assert (last["name"], last["priority"]) == ("Revision", 10)


def test_jsonpath_subset() -> None:
    obj = {"a": {"b": [{"k": "x", "v": 1}, {"k": "y", "v": 2, "m": {"z": True}}]}, "n": None}
    assert jsonpath_find(obj, ".a.b[1].v") == [2]
    assert jsonpath_find(obj, '{.a.b[?(@.k=="y")].m}') == [{"z": True}]
    assert jsonpath_find(obj, ".a.b[?(@.v>1)].k") == ["y"]
    assert jsonpath_find(obj, ".a.b[?(@.m)].k") == ["y"]
    assert jsonpath_find(obj, ".a.b[*].k") == ["x", "y"]
    assert jsonpath_find(obj, ".a.b[-1].k") == ["y"]
    assert jsonpath_find(obj, ".a.missing.x") == []
    assert jsonpath_find(obj, ".a['b'][0].k") == ["x"]
