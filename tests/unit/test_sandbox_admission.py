"""Defaulting and validation of the sandbox API server, checked against upstream's 422 texts."""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

import pytest

from almtui.sandbox import admission, errors
from almtui.sandbox.admission import canonical_quantity, cluster_ip_for, go_value
from almtui.sandbox.clock import SimClock
from almtui.sandbox.store import Store

NAME_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
    "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


@pytest.fixture
def store() -> Store:
    s = Store(SimClock())
    admission.install(s)
    s.create("/namespaces", {"metadata": {"name": "default"}})
    return s


def deployment(name: str = "web", **spec: Any) -> dict:
    base = {
        "replicas": 2,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]},
        },
    }
    base.update(spec)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": base,
    }


def pod(name: str = "p", **spec: Any) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [{"name": "app", "image": "nginx"}], **spec},
    }


def service(name: str = "web", **spec: Any) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80}], **spec},
    }


def hpa(name: str = "web", **spec: Any) -> dict:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "maxReplicas": 5,
            **spec,
        },
    }


def rejected(fn: Any, *args: Any, **kw: Any) -> errors.ApiError:
    with pytest.raises(errors.ApiError) as ei:
        fn(*args, **kw)
    assert ei.value.code == 422 and ei.value.reason == "Invalid"
    return ei.value


def fields(err: errors.ApiError) -> list[str]:
    return [c["field"] for c in err.details["causes"]]


# ----------------------------------------------------------------------------------- install


def test_install_hooks_into_store() -> None:
    s = Store(SimClock())
    admission.install(s)
    assert admission.default in s.defaulters and admission.validate in s.admission


# ----------------------------------------------------------------------------------- defaults


def test_deployment_defaults(store: Store) -> None:
    d = deployment()
    del d["spec"]["replicas"]
    d["spec"]["template"]["spec"]["containers"] = [
        {
            "name": "a",
            "image": "nginx",
            "ports": [{"containerPort": 80}],
            "resources": {"requests": {"cpu": "0.5", "memory": "1024Mi"}, "limits": {"cpu": "1000m"}},
        },
        {"name": "b", "image": "registry.local:5000/app:1.2"},
        {"name": "c", "image": "app@sha256:abcd"},
    ]
    spec = store.create("apps/deployments", d)["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert spec["revisionHistoryLimit"] == 10 and spec["progressDeadlineSeconds"] == 600
    tspec = spec["template"]["spec"]
    assert (tspec["restartPolicy"], tspec["dnsPolicy"], tspec["schedulerName"]) == (
        "Always",
        "ClusterFirst",
        "default-scheduler",
    )
    assert tspec["terminationGracePeriodSeconds"] == 30 and tspec["securityContext"] == {}
    a, b, c = tspec["containers"]
    assert [x["imagePullPolicy"] for x in (a, b, c)] == ["Always", "IfNotPresent", "IfNotPresent"]
    assert a["terminationMessagePath"] == "/dev/termination-log" and a["terminationMessagePolicy"] == "File"
    assert a["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert a["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1"}}
    assert b["resources"] == {}
    # templates are not Pods: no pod-only defaults
    assert "enableServiceLinks" not in tspec and "tolerations" not in tspec


def test_deployment_strategy_fills_only_missing_parts(store: Store) -> None:
    spec = store.create("apps/deployments", deployment(strategy={"rollingUpdate": {"maxSurge": 1}}))["spec"]
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"},
    }
    spec = store.create("apps/deployments", deployment("r", strategy={"type": "Recreate"}))["spec"]
    assert spec["strategy"] == {"type": "Recreate"}


def test_replicaset_defaults(store: Store) -> None:
    rs = deployment("rs")
    rs["kind"] = "ReplicaSet"
    del rs["spec"]["replicas"]
    out = store.create("apps/replicasets", rs)
    assert out["spec"]["replicas"] == 1 and "strategy" not in out["spec"]
    assert out["spec"]["template"]["spec"]["restartPolicy"] == "Always"


def test_pod_defaults(store: Store) -> None:
    p = pod(
        containers=[
            {
                "name": "app",
                "image": "nginx:latest",
                "resources": {"limits": {"cpu": "250m", "memory": "64Mi"}},
            }
        ]
    )
    out = store.create("/pods", p)
    spec = out["spec"]
    assert spec["tolerations"] == [
        {
            "key": "node.kubernetes.io/not-ready",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        },
        {
            "key": "node.kubernetes.io/unreachable",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        },
    ]
    assert spec["enableServiceLinks"] is True and spec["priority"] == 0
    assert spec["preemptionPolicy"] == "PreemptLowerPriority"
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "default"
    c = spec["containers"][0]
    assert c["resources"]["requests"] == {"cpu": "250m", "memory": "64Mi"}  # requests default to limits
    assert c["imagePullPolicy"] == "Always"
    assert out["status"] == {"phase": "Pending", "qosClass": "Guaranteed"}
    assert store.create("/pods", pod("b"))["status"]["qosClass"] == "BestEffort"


def test_pod_keeps_tolerations_that_already_cover_the_taints(store: Store) -> None:
    out = store.create("/pods", pod(tolerations=[{"operator": "Exists"}]))
    assert out["spec"]["tolerations"] == [{"operator": "Exists"}]
    out = store.create(
        "/pods",
        pod(
            "q",
            tolerations=[
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 60,
                }
            ],
        ),
    )
    assert [t["key"] for t in out["spec"]["tolerations"]] == [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ]
    assert out["spec"]["tolerations"][0]["tolerationSeconds"] == 60


def test_service_defaults(store: Store) -> None:
    ports = [{"name": "http", "port": 80}, {"name": "m", "port": 9090, "targetPort": "metrics"}]
    out = store.create("/services", service(ports=ports))
    spec = out["spec"]
    assert spec["type"] == "ClusterIP" and spec["sessionAffinity"] == "None"
    assert spec["ports"][0] == {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 80}
    assert spec["ports"][1]["targetPort"] == "metrics"
    ip = spec["clusterIP"]
    assert ipaddress.ip_address(ip) in ipaddress.ip_network("10.96.0.0/12")
    assert ip == cluster_ip_for("default", "web") and spec["clusterIPs"] == [ip]
    assert spec["ipFamilies"] == ["IPv4"] and spec["ipFamilyPolicy"] == "SingleStack"
    assert spec["internalTrafficPolicy"] == "Cluster" and "externalTrafficPolicy" not in spec
    assert out["status"] == {"loadBalancer": {}}


def test_nodeport_service_defaults(store: Store) -> None:
    spec = store.create("/services", service(type="NodePort"))["spec"]
    assert 30000 <= spec["ports"][0]["nodePort"] <= 32767
    assert spec["externalTrafficPolicy"] == "Cluster"


def test_derived_cluster_ip_moves_on_when_taken(store: Store) -> None:
    taken = cluster_ip_for("default", "b")
    store.create("/services", service("a", clusterIP=taken))
    ip = store.create("/services", service("b"))["spec"]["clusterIP"]
    assert ip != taken and ip == cluster_ip_for("default", "b", 1)


def test_hpa_defaults(store: Store) -> None:
    spec = store.create("autoscaling/horizontalpodautoscalers", hpa())["spec"]
    assert spec["minReplicas"] == 1
    assert spec["metrics"] == [
        {
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
        }
    ]
    assert "behavior" not in spec
    spec = store.create(
        "autoscaling/horizontalpodautoscalers",
        hpa("b", behavior={"scaleDown": {"stabilizationWindowSeconds": 60}}),
    )["spec"]
    assert spec["behavior"] == {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15},
            ],
        },
        "scaleDown": {
            "stabilizationWindowSeconds": 60,
            "selectPolicy": "Max",
            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
        },
    }
    down = store.create(
        "autoscaling/horizontalpodautoscalers", hpa("c", behavior={"scaleUp": {"selectPolicy": "Min"}})
    )["spec"]["behavior"]["scaleDown"]
    assert "stabilizationWindowSeconds" not in down


def test_namespace_defaults(store: Store) -> None:
    ns = store.get("/namespaces", None, "default")
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "default"}
    assert ns["spec"] == {"finalizers": ["kubernetes"]} and ns["status"] == {"phase": "Active"}


def test_custom_resources_get_no_defaults(store: Store) -> None:
    ro = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "ro"},
        "spec": {"selector": {"matchLabels": {"app": "ro"}}, "template": {"spec": {"containers": []}}},
    }
    out = store.create("argoproj.io/rollouts", ro)
    assert out["spec"] == ro["spec"]


def test_bad_quantity_is_a_decode_error(store: Store) -> None:
    d = deployment()
    d["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "lots"}}
    with pytest.raises(errors.ApiError) as ei:
        store.create("apps/deployments", d)
    assert ei.value.code == 400
    assert ei.value.message == (
        'Deployment in version "v1" cannot be handled as a Deployment: quantities must match the regular '
        "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )


# ----------------------------------------------------------------------------------- metadata


def test_invalid_name(store: Store) -> None:
    err = rejected(store.create, "apps/deployments", deployment("Web_1"))
    assert (
        err.message
        == f'Deployment.apps "Web_1" is invalid: metadata.name: Invalid value: "Web_1": {NAME_MSG}'
    )
    assert err.details["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "field": "metadata.name",
            "message": f'Invalid value: "Web_1": {NAME_MSG}',
        }
    ]
    assert err.details["kind"] == "Deployment" and err.details["group"] == "apps"


def test_service_names_are_dns1035_labels(store: Store) -> None:
    err = rejected(store.create, "/services", service("1web"))
    assert err.message == (
        'Service "1web" is invalid: metadata.name: Invalid value: "1web": a DNS-1035 '
        "label must consist of lower "
        "case alphanumeric characters or '-', start with an alphabetic character, and "
        "end with an alphanumeric "
        "character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
    )


def test_namespace_names_are_dns_labels(store: Store) -> None:
    err = rejected(store.create, "/namespaces", {"metadata": {"name": "team.a"}})
    assert (
        err.message
        == 'Namespace "team.a" is invalid: metadata.name: Invalid value: "team.a": must not contain dots'
    )


def test_label_and_annotation_keys(store: Store) -> None:
    d = deployment()
    d["metadata"]["labels"] = {"bad key": "ok", "k": "-bad"}
    d["metadata"]["annotations"] = {"a/b/c": "x"}
    err = rejected(store.create, "apps/deployments", d)
    msgs = [c["message"] for c in err.details["causes"]]
    assert fields(err) == ["metadata.labels", "metadata.labels", "metadata.annotations"]
    assert msgs[0] == (
        'Invalid value: "bad key": name part must consist of alphanumeric characters, '
        "'-', '_' or '.', and must "
        "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
        "'123-abc', regex used "
        "for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    )
    assert msgs[1].startswith('Invalid value: "-bad": a valid label must be an empty string or consist of')
    assert msgs[2].startswith('Invalid value: "a/b/c": a qualified name must consist of alphanumeric')
    assert msgs[2].endswith("with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')")


# ----------------------------------------------------------------------------------- apps


def test_negative_replicas(store: Store) -> None:
    err = rejected(store.create, "apps/deployments", deployment(replicas=-1))
    assert err.message == (
        'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: '
        "must be greater than or equal to 0"
    )


def test_selector_must_match_template_labels(store: Store) -> None:
    d = deployment()
    d["spec"]["template"]["metadata"]["labels"] = {"app": "other", "tier": "fe"}
    err = rejected(store.create, "apps/deployments", d)
    assert err.message == (
        'Deployment.apps "web" is invalid: spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"other", "tier":"fe"}: `selector` does not match template '
        "`labels`"
    )


def test_selector_required(store: Store) -> None:
    d = deployment()
    del d["spec"]["selector"]
    err = rejected(store.create, "apps/deployments", d)
    assert err.message == (
        'Deployment.apps "web" is invalid: [spec.selector: Required value, '
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: '
        "`selector` does not match template `labels`]"
    )


def test_selector_is_immutable(store: Store) -> None:
    d = deployment()
    d["spec"]["template"]["metadata"]["labels"]["v"] = "2"
    store.create("apps/deployments", d)
    cur = copy.deepcopy(store.get("apps/deployments", "default", "web"))
    cur["spec"]["selector"]["matchLabels"]["v"] = "2"
    err = rejected(store.update, "apps/deployments", cur)
    assert err.message == (
        'Deployment.apps "web" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:'
        'map[string]string{"app":"web", "v":"2"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: '
        "field is immutable"
    )


def test_strategy_rules(store: Store) -> None:
    err = rejected(
        store.create,
        "apps/deployments",
        deployment(strategy={"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}),
    )
    assert err.message == (
        'Deployment.apps "web" is invalid: spec.strategy.rollingUpdate.maxUnavailable: Invalid value: '
        'intstr.IntOrString{Type:0, IntVal:0, StrVal:""}: may not be 0 when `maxSurge` is 0'
    )
    err = rejected(
        store.create,
        "apps/deployments",
        deployment(strategy={"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}),
    )
    assert err.message == (
        'Deployment.apps "web" is invalid: spec.strategy.rollingUpdate: Forbidden: '
        "may not be specified when strategy `type` is 'Recreate'"
    )
    err = rejected(
        store.create,
        "apps/deployments",
        deployment(strategy={"rollingUpdate": {"maxUnavailable": "150%", "maxSurge": "x"}}),
    )
    assert [c["message"] for c in err.details["causes"]] == [
        'Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"x"}: a valid percent string must be a '
        "numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for "
        "validation is '[0-9]+%')",
        'Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"150%"}: must not be greater than 100%',
    ]


def test_deadline_and_history_limits(store: Store) -> None:
    err = rejected(
        store.create,
        "apps/deployments",
        deployment(minReadySeconds=30, progressDeadlineSeconds=30, revisionHistoryLimit=-1),
    )
    assert err.message == (
        'Deployment.apps "web" is invalid: [spec.revisionHistoryLimit: Invalid value: '
        "-1: must be greater than or "
        "equal to 0, spec.progressDeadlineSeconds: Invalid value: 30: must be greater than minReadySeconds]"
    )


def test_pod_template_rules_collect_every_cause(store: Store) -> None:
    d = deployment()
    d["spec"]["template"]["spec"]["containers"] = [
        {"name": "app", "resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "500m"}}},
        {"name": "app", "image": "x"},
        {"name": "Bad_Name", "image": "x"},
    ]
    err = rejected(store.create, "apps/deployments", d)
    assert fields(err) == [
        "spec.template.spec.containers[0].image",
        "spec.template.spec.containers[0].resources.requests",
        "spec.template.spec.containers[1].name",
        "spec.template.spec.containers[2].name",
    ]
    msgs = [c["message"] for c in err.details["causes"]]
    assert msgs[0] == "Required value"
    assert msgs[1] == 'Invalid value: "1": must be less than or equal to cpu limit of 500m'
    assert msgs[2] == 'Duplicate value: "app"'
    assert msgs[3].startswith('Invalid value: "Bad_Name": a lowercase RFC 1123 label must consist of')
    assert err.message.startswith(
        'Deployment.apps "web" is invalid: [spec.template.spec.containers[0].image: Required value, '
    )


def test_containers_required(store: Store) -> None:
    d = deployment()
    d["spec"]["template"]["spec"]["containers"] = []
    err = rejected(store.create, "apps/deployments", d)
    assert err.message == 'Deployment.apps "web" is invalid: spec.template.spec.containers: Required value'


def test_replicaset_template_restart_policy(store: Store) -> None:
    rs = deployment("rs")
    rs["kind"] = "ReplicaSet"
    rs["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    err = rejected(store.create, "apps/replicasets", rs)
    assert err.message == (
        'ReplicaSet.apps "rs" is invalid: spec.template.spec.restartPolicy: Unsupported value: '
        '"Never": supported values: "Always"'
    )


def test_status_writes_validate_only_status(store: Store) -> None:
    store.create("apps/deployments", deployment())
    cur = copy.deepcopy(store.get("apps/deployments", "default", "web"))
    cur["spec"]["replicas"] = -5  # ignored by a status write
    cur["status"] = {"replicas": -1, "readyReplicas": 2}
    err = rejected(store.update, "apps/deployments", cur, subresource="status")
    assert fields(err) == [
        "status.replicas",
        "status.updatedReplicas",
        "status.readyReplicas",
        "status.availableReplicas",
    ]
    assert err.details["causes"][2]["message"] == "Invalid value: 2: cannot be greater than status.replicas"
    cur["status"] = {"replicas": 2, "readyReplicas": 2, "availableReplicas": 1}
    assert store.update("apps/deployments", cur, subresource="status")["status"]["availableReplicas"] == 1


def test_controller_style_update_passes(store: Store) -> None:
    store.create("apps/deployments", deployment())

    def annotate(o: dict) -> None:
        o["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = "1"
        o["spec"]["replicas"] = 3

    out = store.mutate("apps/deployments", "default", "web", annotate)
    assert out["spec"]["replicas"] == 3


# ----------------------------------------------------------------------------------- pods


def test_pod_update_rules(store: Store) -> None:
    store.create("/pods", pod())

    def get() -> dict:
        return copy.deepcopy(store.get("/pods", "default", "p"))

    cur = get()
    cur["spec"]["containers"][0]["image"] = "nginx:1.27"
    cur["spec"]["tolerations"].append({"key": "k", "operator": "Exists", "effect": "NoSchedule"})
    store.update("/pods", cur)
    cur = get()
    cur["spec"]["nodeName"] = "node-1"  # binding (the sandbox scheduler updates the pod)
    store.update("/pods", cur)

    cur = get()
    cur["spec"]["containers"][0]["ports"] = [{"containerPort": 8080}]
    err = rejected(store.update, "/pods", cur)
    assert err.message.startswith(
        'Pod "p" is invalid: spec: Forbidden: pod updates may not change fields other than '
        "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
        "`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
        "(allow it to be set to 1 if it was previously negative)\n  core.PodSpec{\n"
    )
    assert "Containers" in err.message

    cur = get()
    cur["spec"]["nodeName"] = "node-2"
    assert "pod updates may not change fields" in rejected(store.update, "/pods", cur).message

    cur = get()
    cur["spec"]["containers"].append({"name": "side", "image": "busybox"})
    err = rejected(store.update, "/pods", cur)
    assert (
        err.message
        == 'Pod "p" is invalid: spec.containers: Forbidden: pod updates may not add or remove containers'
    )

    cur = get()
    cur["spec"]["tolerations"][-1]["effect"] = "NoExecute"
    err = rejected(store.update, "/pods", cur)
    assert err.message == (
        'Pod "p" is invalid: spec.tolerations: Forbidden: existing toleration can not be '
        "modified except its tolerationSeconds"
    )


def test_pod_spec_rules(store: Store) -> None:
    err = rejected(
        store.create,
        "/pods",
        pod(
            restartPolicy="Sometimes",
            dnsPolicy="Magic",
            containers=[
                {
                    "name": "a",
                    "image": "x",
                    "ports": [{"containerPort": 70000, "protocol": "ICMP"}],
                    "env": [{"name": "A=B"}],
                }
            ],
        ),
    )
    assert [c["message"] for c in err.details["causes"]] == [
        "Invalid value: 70000: must be between 1 and 65535, inclusive",
        'Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
        'Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII '
        "characters other than '='",
        'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
        'Unsupported value: "Magic": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", '
        '"None"',
    ]
    assert fields(err) == [
        "spec.containers[0].ports[0].containerPort",
        "spec.containers[0].ports[0].protocol",
        "spec.containers[0].env[0].name",
        "spec.restartPolicy",
        "spec.dnsPolicy",
    ]


def test_toleration_rules(store: Store) -> None:
    err = rejected(
        store.create,
        "/pods",
        pod(tolerations=[{"key": "k", "operator": "Exists", "value": "v"}, {"key": "k", "effect": "Bad"}]),
    )
    assert [c["message"] for c in err.details["causes"]] == [
        "Invalid value: \"v\": value must be empty when `operator` is 'Exists'",
        'Unsupported value: "Bad": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"',
    ]


# ----------------------------------------------------------------------------------- services


def test_service_rules(store: Store) -> None:
    err = rejected(store.create, "/services", service(ports=[]))
    assert err.message == 'Service "web" is invalid: spec.ports: Required value'
    err = rejected(store.create, "/services", service(ports=[{"port": 80}, {"port": 80}]))
    assert fields(err) == ["spec.ports[0].name", "spec.ports[1].name", "spec.ports[1]"]
    assert err.details["causes"][2]["message"].startswith(
        'Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", AppProtocol:(*string)(nil), Port:80,'
    )
    err = rejected(store.create, "/services", service(type="Magic"))
    assert err.message == (
        'Service "web" is invalid: spec.type: Unsupported value: "Magic": supported values: '
        '"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"'
    )
    err = rejected(store.create, "/services", service(ports=[{"port": 80, "nodePort": 30080}]))
    assert err.message == (
        'Service "web" is invalid: spec.ports[0].nodePort: Forbidden: may not be used when '
        "`type` is 'ClusterIP'"
    )


def test_service_cluster_ip_allocation(store: Store) -> None:
    store.create("/services", service("a", clusterIP="10.96.5.5"))
    err = rejected(store.create, "/services", service("b", clusterIP="10.96.5.5"))
    assert err.message == (
        'Service "b" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.5.5"}: '
        "failed to allocate IP 10.96.5.5: provided IP is already allocated"
    )
    err = rejected(store.create, "/services", service("c", clusterIP="192.168.1.1"))
    assert (
        "the provided IP (192.168.1.1) is not in the valid range. The range of valid IPs is 10.96.0.0/12"
        in (err.message)
    )
    cur = copy.deepcopy(store.get("/services", "default", "a"))
    cur["spec"]["clusterIP"] = cur["spec"]["clusterIPs"][0] = "10.96.5.6"
    err = rejected(store.update, "/services", cur)
    assert err.message == (
        'Service "a" is invalid: spec.clusterIPs[0]: Invalid value: []string{"10.96.5.6"}: '
        "may not change once set"
    )


def test_service_update_keeps_allocations(store: Store) -> None:
    first = store.create("/services", service(type="NodePort"))
    cur = copy.deepcopy(first)
    del cur["spec"]["clusterIP"], cur["spec"]["clusterIPs"], cur["spec"]["ports"][0]["nodePort"]
    cur["metadata"]["labels"] = {"x": "y"}
    out = store.update("/services", cur)
    assert out["spec"]["clusterIP"] == first["spec"]["clusterIP"]
    assert out["spec"]["ports"][0]["nodePort"] == first["spec"]["ports"][0]["nodePort"]


def test_service_allocations_follow_deletes_and_port_changes(store: Store) -> None:
    store.create("/services", service("a", clusterIP="10.96.5.5", type="NodePort",
                                      ports=[{"port": 80, "nodePort": 30080}]))
    rejected(store.create, "/services", service("b", clusterIP="10.96.5.5"))
    err = rejected(store.create, "/services", service("c", type="NodePort", ports=[{"port": 80, "nodePort": 30080}]))
    assert err.message == ('Service "c" is invalid: spec.ports[0].nodePort: Invalid value: 30080: '
                           "provided port is already allocated")
    cur = copy.deepcopy(store.get("/services", "default", "a"))
    cur["spec"]["ports"][0]["nodePort"] = 30081
    store.update("/services", cur)
    assert store.create("/services", service("c", type="NodePort", ports=[{"port": 80, "nodePort": 30080}]))
    store.delete("/services", "default", "a")
    assert store.create("/services", service("b", clusterIP="10.96.5.5"))["spec"]["clusterIP"] == "10.96.5.5"
    # derived node ports of one Service never collide with each other
    ports = [{"name": f"p{i}", "port": 80 + i} for i in range(20)]
    spec = store.create("/services", service("d", type="NodePort", ports=ports))["spec"]
    assert len({p["nodePort"] for p in spec["ports"]}) == 20


def test_service_allocations_see_services_stored_before_admission() -> None:
    s = Store(SimClock())
    s.create("/namespaces", {"metadata": {"name": "default"}})
    s.create("/services", {"metadata": {"name": "early", "namespace": "default"},
                           "spec": {"clusterIP": "10.96.7.7", "ports": [{"port": 80}]}})
    admission.install(s)
    rejected(s.create, "/services", service("late", clusterIP="10.96.7.7"))


# ----------------------------------------------------------------------------------- HPA


def test_hpa_rules(store: Store) -> None:
    err = rejected(store.create, "autoscaling/horizontalpodautoscalers", hpa(minReplicas=0))
    assert err.message == (
        'HorizontalPodAutoscaler.autoscaling "web" is invalid: [spec.minReplicas: '
        "Invalid value: 0: must be greater "
        "than or equal to 1, spec.metrics: Forbidden: must specify at least one Object or External metric to "
        "support scaling to zero replicas]"
    )
    err = rejected(store.create, "autoscaling/horizontalpodautoscalers", hpa(minReplicas=6))
    assert err.message.endswith(
        "spec.maxReplicas: Invalid value: 5: must be greater than or equal to `minReplicas`"
    )
    h = hpa()
    h["spec"]["scaleTargetRef"] = {}
    err = rejected(store.create, "autoscaling/horizontalpodautoscalers", h)
    assert [(c["field"], c["message"]) for c in err.details["causes"]] == [
        ("spec.scaleTargetRef.kind", "Required value"),
        ("spec.scaleTargetRef.name", "Required value"),
    ]


def test_hpa_metric_targets(store: Store) -> None:
    err = rejected(
        store.create,
        "autoscaling/horizontalpodautoscalers",
        hpa(
            metrics=[
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Percent", "averageUtilization": 0}},
                }
            ]
        ),
    )
    assert [(c["field"], c["message"]) for c in err.details["causes"]] == [
        (
            "spec.metrics[0].resource.target.type",
            'Invalid value: "Percent": must be either Utilization, Value, or AverageValue',
        ),
        ("spec.metrics[0].resource.target.averageUtilization", "Invalid value: 0: must be greater than 0"),
    ]


def test_hpa_behavior_rules(store: Store) -> None:
    err = rejected(
        store.create,
        "autoscaling/horizontalpodautoscalers",
        hpa(
            behavior={
                "scaleUp": {
                    "stabilizationWindowSeconds": 3601,
                    "selectPolicy": "Most",
                    "policies": [{"type": "Pods", "value": 0, "periodSeconds": 1801}],
                }
            }
        ),
    )
    assert [(c["field"], c["message"]) for c in err.details["causes"]] == [
        (
            "spec.behavior.scaleUp.stabilizationWindowSeconds",
            "Invalid value: 3601: must be less than or equal to 3600",
        ),
        (
            "spec.behavior.scaleUp.selectPolicy",
            'Unsupported value: "Most": supported values: "Disabled", "Max", "Min"',
        ),
        ("spec.behavior.scaleUp.policies[0].value", "Invalid value: 0: must be greater than zero"),
        (
            "spec.behavior.scaleUp.policies[0].periodSeconds",
            "Invalid value: 1801: must be less than or equal to 1800",
        ),
    ]


# ----------------------------------------------------------------------------------- other kinds


def test_node_taint_effects(store: Store) -> None:
    node = {
        "metadata": {"name": "n1"},
        "spec": {"taints": [{"key": "dedicated", "value": "edge", "effect": "Bad"}]},
    }
    err = rejected(store.create, "/nodes", node)
    assert err.message == (
        'Node "n1" is invalid: metadata.taints[0].effect: Unsupported value: "Bad": supported '
        'values: "NoSchedule", "PreferNoSchedule", "NoExecute"'
    )


def test_lease_durations(store: Store) -> None:
    lease = {
        "metadata": {"name": "l", "namespace": "default"},
        "spec": {"leaseDurationSeconds": 0, "leaseTransitions": -1},
    }
    err = rejected(store.create, "coordination.k8s.io/leases", lease)
    assert err.message == (
        'Lease.coordination.k8s.io "l" is invalid: [spec.leaseDurationSeconds: Invalid value: 0: '
        "must be greater than 0, spec.leaseTransitions: Invalid value: -1: must be greater than "
        "or equal to 0]"
    )


def test_configmap_keys(store: Store) -> None:
    cm = {"metadata": {"name": "c", "namespace": "default"}, "data": {"ok.key": "1", "bad key": "2"}}
    err = rejected(store.create, "/configmaps", cm)
    assert fields(err) == ["data[bad key]"]


def test_namespace_status_phase(store: Store) -> None:
    cur = copy.deepcopy(store.get("/namespaces", None, "default"))
    cur["status"] = {"phase": "Terminating"}
    err = rejected(store.update, "/namespaces", cur, subresource="status")
    assert err.message == (
        'Namespace "default" is invalid: status.Phase: Invalid value: "Terminating": may only '
        "be 'Active' if `deletionTimestamp` is empty"
    )


# ----------------------------------------------------------------------------------- custom resources


def rollout(name: str = "ro", **spec: Any) -> dict:
    base = {
        "replicas": 2,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "a", "image": "x"}]},
        },
        "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}},
    }
    base.update(spec)
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": name}, "spec": base}


def test_rollout_rules(store: Store) -> None:
    store.create("argoproj.io/rollouts", rollout())
    err = rejected(store.create, "argoproj.io/rollouts", rollout("a", replicas=-1))
    assert err.message == (
        'Rollout.argoproj.io "a" is invalid: spec.replicas: Invalid value: -1: must be greater '
        "than or equal to 0"
    )
    r = rollout("b")
    del r["spec"]["selector"]
    err = rejected(store.create, "argoproj.io/rollouts", r)
    assert err.message == (
        'Rollout.argoproj.io "b" is invalid: spec.selector: Required value: Rollout has missing '
        "field '.spec.selector'"
    )
    err = rejected(
        store.create,
        "argoproj.io/rollouts",
        rollout("c", strategy={"canary": {"steps": [{"setWeight": 10, "pause": {}}, {}]}}),
    )
    assert [(c["field"], c["message"]) for c in err.details["causes"]] == [
        (
            "spec.strategy.canary.steps[0]",
            'Invalid value: "step.Experiment: false step.Pause: true step.SetWeight: '
            'true step.Analysis: false": Step must have one of the following set: experiment, setWeight, '
            "setCanaryScale or pause",
        ),
        (
            "spec.strategy.canary.steps[1]",
            'Invalid value: "step.Experiment: true step.Pause: true step.SetWeight: '
            "true step.Analysis: true step.SetCanaryScale: true step.SetHeaderRoute: true "
            'step.SetMirrorRoutes: true": '
            "Step must have one of the following set: experiment, setWeight, setCanaryScale or pause",
        ),
    ]


def test_other_custom_resources_check_only_metadata(store: Store) -> None:
    app = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "Shop", "namespace": "default"},
        "spec": {"anything": -1},
    }
    err = rejected(store.create, "argoproj.io/applications", app)
    assert fields(err) == ["metadata.name"]
    app["metadata"]["name"] = "shop"
    assert store.create("argoproj.io/applications", app)["spec"] == {"anything": -1}


# ----------------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("0.5", "500m"),
        ("1000m", "1"),
        ("1500m", "1500m"),
        ("2000", "2k"),
        ("1024Mi", "1Gi"),
        ("1.5Gi", "1536Mi"),
        ("512Ki", "512Ki"),
        ("100", "100"),
        ("1e3", "1e3"),
        (1, "1"),
        ("0", "0"),
        ("128974848", "128974848"),
    ],
)
def test_canonical_quantity(raw: Any, want: str) -> None:
    assert canonical_quantity(raw) == want


def test_resource_values_round_up_to_milli() -> None:
    assert canonical_quantity("0.0001", round_milli=True) == "1m"


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ('a"b', '"a\\"b"'),
        (3, "3"),
        (None, "null"),
        (True, "true"),
        ({"b": "2", "a": "1"}, 'map[string]string{"a":"1", "b":"2"}'),
        (["x"], '[]string{"x"}'),
    ],
)
def test_go_value(value: Any, want: str) -> None:
    assert go_value(value) == want


def test_service_type_change_releases_type_dependent_fields(store: Store) -> None:
    store.create("/services", service(type="NodePort"))
    cur = copy.deepcopy(store.get("/services", "default", "web"))
    cur["spec"]["type"] = "ClusterIP"
    spec = store.update("/services", cur)["spec"]
    assert "nodePort" not in spec["ports"][0] and "externalTrafficPolicy" not in spec
    cur = copy.deepcopy(store.get("/services", "default", "web"))
    cur["spec"].update(type="ExternalName", externalName="db.example.com")
    spec = store.update("/services", cur)["spec"]
    assert "clusterIP" not in spec and "clusterIPs" not in spec and spec["externalName"] == "db.example.com"


def test_namespace_update_keeps_spec_finalizers(store: Store) -> None:
    cur = copy.deepcopy(store.get("/namespaces", None, "default"))
    cur["spec"] = {}
    cur["metadata"]["labels"]["team"] = "edge"
    out = store.update("/namespaces", cur)
    assert out["spec"] == {"finalizers": ["kubernetes"]} and out["metadata"]["labels"]["team"] == "edge"


def test_secret_defaults(store: Store) -> None:
    sec = {"metadata": {"name": "s", "namespace": "default"}, "data": {"a": "eA=="}, "stringData": {"b": "hi"}}
    out = store.create("/secrets", sec)
    assert out["type"] == "Opaque" and out["data"] == {"a": "eA==", "b": "aGk="} and "stringData" not in out
