"""Defaulting: what the API server fills in before an object is stored.

Sources: defaults.go, the mutating admission plugins (DefaultTolerationSeconds, Priority,
ServiceAccount) and the registry strategies.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from almtui.sandbox.admission.containers import _PROBE_DEFAULTS, _VOLUME_SOURCES
from almtui.sandbox.admission.services import cluster_ip_for, node_port_for
from almtui.sandbox.admission.values import Obj, _canonical_resource_list, _d, _l, _quantity
from almtui.sandbox.resources import ResourceType


def default(res: ResourceType, obj: Obj) -> None:
    """Fill in what the API server's defaulting and mutating admission would, in place."""
    fn = _DEFAULTERS.get(res.key)
    if fn is not None:
        fn(res, obj)


def _image_tag(image: str) -> str:
    """parsers.ParseImageName's tag: "latest" when neither tag nor digest is given."""
    if not image or image != image.strip():
        return ""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    if not tag and not digest:
        return "latest"
    return tag


def _default_probe(p: Any) -> None:
    if not isinstance(p, dict):
        return
    for k, v in _PROBE_DEFAULTS:
        if not p.get(k):
            p[k] = v
    _default_handler(p)


def _default_handler(h: Any) -> None:
    get = _d(h).get("httpGet")
    if isinstance(get, dict):
        if not get.get("path"):
            get["path"] = "/"
        if not get.get("scheme"):
            get["scheme"] = "HTTP"


def _default_container(c: Any, res: ResourceType) -> None:
    if not isinstance(c, dict):
        return
    if not c.get("imagePullPolicy"):
        latest = _image_tag(str(c.get("image") or "")) == "latest"
        c["imagePullPolicy"] = "Always" if latest else "IfNotPresent"
    if not c.get("terminationMessagePath"):
        c["terminationMessagePath"] = "/dev/termination-log"
    if not c.get("terminationMessagePolicy"):
        c["terminationMessagePolicy"] = "File"
    for port in _l(c.get("ports")):
        if isinstance(port, dict) and not port.get("protocol"):
            port["protocol"] = "TCP"
    for ev in _l(c.get("env")):
        ref = _d(_d(ev).get("valueFrom")).get("fieldRef")
        if isinstance(ref, dict) and not ref.get("apiVersion"):
            ref["apiVersion"] = "v1"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(c.get(probe))
    for hook in ("postStart", "preStop"):
        _default_handler(_d(c.get("lifecycle")).get(hook))
    resources = c.get("resources")
    if not isinstance(resources, dict):
        resources = c["resources"] = {}
    for part in ("limits", "requests"):
        _canonical_resource_list(resources.get(part), res.kind, res.version)


def _default_volume(v: Any) -> None:
    if not isinstance(v, dict):
        return
    if not any(v.get(k) is not None for k in _VOLUME_SOURCES):
        v["emptyDir"] = {}
    for src in ("secret", "configMap", "downwardAPI", "projected"):
        s = v.get(src)
        if isinstance(s, dict) and s.get("defaultMode") is None:
            s["defaultMode"] = 420
    if isinstance(v.get("hostPath"), dict):
        v["hostPath"].setdefault("type", "")
    for source in _l(_d(v.get("projected")).get("sources")):
        tok = _d(source).get("serviceAccountToken")
        if isinstance(tok, dict) and tok.get("expirationSeconds") is None:
            tok["expirationSeconds"] = 3600


def _default_pod_spec(spec: Obj, res: ResourceType) -> None:
    """SetDefaults_PodSpec and the per-container defaults, shared by Pods and pod templates."""
    if not spec.get("dnsPolicy"):
        spec["dnsPolicy"] = "ClusterFirst"
    if not spec.get("restartPolicy"):
        spec["restartPolicy"] = "Always"
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = 30
    if not spec.get("schedulerName"):
        spec["schedulerName"] = "default-scheduler"
    for group in ("initContainers", "containers", "ephemeralContainers"):
        for c in _l(spec.get(group)):
            _default_container(c, res)
    for v in _l(spec.get("volumes")):
        _default_volume(v)


def _default_template(spec: Obj, res: ResourceType) -> None:
    tmpl = spec.get("template")
    if not isinstance(tmpl, dict):
        tmpl = spec["template"] = {}
    tspec = tmpl.get("spec")
    if not isinstance(tspec, dict):
        tspec = tmpl["spec"] = {}
    _default_pod_spec(tspec, res)


_NOT_READY = "node.kubernetes.io/not-ready"


_UNREACHABLE = "node.kubernetes.io/unreachable"


def _default_tolerations(spec: Obj) -> None:
    """The DefaultTolerationSeconds admission plugin (create and update of the pod itself)."""
    tols = _l(spec.get("tolerations"))

    def tolerates(key: str) -> bool:
        return any(isinstance(t, dict) and t.get("key", "") in (key, "")
                   and t.get("effect", "") in ("NoExecute", "") for t in tols)

    add = [{"key": k, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
           for k in (_NOT_READY, _UNREACHABLE) if not tolerates(k)]
    if add:
        spec["tolerations"] = [*tols, *add]


def _qos_class(spec: Obj) -> str:
    """qos.GetPodQOS for the common cases (cpu and memory of regular and init containers)."""
    reqs: dict[str, Decimal] = {}
    lims: dict[str, Decimal] = {}
    guaranteed = True
    for c in [*_l(spec.get("initContainers")), *_l(spec.get("containers"))]:
        r = _d(_d(c).get("resources"))
        creq, clim = _d(r.get("requests")), _d(r.get("limits"))
        for name in ("cpu", "memory"):
            q = _quantity(creq[name]) if name in creq else None
            if q is not None and q != 0:
                reqs[name] = q
            q = _quantity(clim[name]) if name in clim else None
            if q is not None and q != 0:
                lims[name] = q
        for name in ("cpu", "memory"):
            lim = _quantity(clim[name]) if name in clim else None
            if not lim or (name in creq and _quantity(creq[name]) != lim):
                guaranteed = False
    if not reqs and not lims:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _default_pod(res: ResourceType, obj: Obj) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    # SetDefaults_Pod: requests default to limits (Pods only, not templates).
    for group in ("initContainers", "containers"):
        for c in _l(spec.get(group)):
            r = _d(_d(c).get("resources"))
            if isinstance(r.get("limits"), dict):
                reqs = r.setdefault("requests", {})
                if isinstance(reqs, dict):
                    for k, v in r["limits"].items():
                        reqs.setdefault(k, v)
    _default_pod_spec(spec, res)
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True
    if spec.get("hostNetwork"):
        for group in ("initContainers", "containers"):
            for c in _l(spec.get(group)):
                for port in _l(_d(c).get("ports")):
                    if isinstance(port, dict) and not port.get("hostPort"):
                        port["hostPort"] = port.get("containerPort")
    _default_tolerations(spec)
    # ServiceAccount admission (the token volume it also mounts is not simulated).
    if not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = spec.get("serviceAccount") or "default"
    spec["serviceAccount"] = spec["serviceAccountName"]
    # Priority admission, with no PriorityClass marked globalDefault.
    if spec.get("priority") is None and not spec.get("priorityClassName"):
        spec["priority"] = 0
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    # Pod strategy PrepareForCreate: a new pod is Pending with its QoS class.
    if not isinstance(obj.get("status"), dict):
        obj["status"] = {"phase": "Pending", "qosClass": _qos_class(spec)}


def _default_deployment(res: ResourceType, obj: Obj) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    strategy = spec.get("strategy")
    if not isinstance(strategy, dict):
        strategy = spec["strategy"] = {}
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        ru = strategy.get("rollingUpdate")
        if not isinstance(ru, dict):
            ru = strategy["rollingUpdate"] = {}
        if ru.get("maxUnavailable") is None:
            ru["maxUnavailable"] = "25%"
        if ru.get("maxSurge") is None:
            ru["maxSurge"] = "25%"
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    if spec.get("progressDeadlineSeconds") is None:
        spec["progressDeadlineSeconds"] = 600
    _default_template(spec, res)
    obj.setdefault("status", {})


def _default_replicaset(res: ResourceType, obj: Obj) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    _default_template(spec, res)
    obj.setdefault("status", {"replicas": 0})


def _default_service(res: ResourceType, obj: Obj) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    md = _d(obj.get("metadata"))
    ns, name = str(md.get("namespace") or ""), str(md.get("name") or "")
    if not spec.get("sessionAffinity"):
        spec["sessionAffinity"] = "None"
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        cfg = spec.get("sessionAffinityConfig")
        if _d(_d(cfg).get("clientIP")).get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
    if not spec.get("type"):
        spec["type"] = "ClusterIP"
    typ = spec["type"]
    for port in _l(spec.get("ports")):
        if not isinstance(port, dict):
            continue
        if not port.get("protocol"):
            port["protocol"] = "TCP"
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    external = typ in ("NodePort", "LoadBalancer") or bool(spec.get("externalIPs"))
    if external and not spec.get("externalTrafficPolicy"):
        spec["externalTrafficPolicy"] = "Cluster"
    if spec.get("internalTrafficPolicy") is None and typ in ("ClusterIP", "NodePort", "LoadBalancer"):
        spec["internalTrafficPolicy"] = "Cluster"
    if typ == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True
    if not isinstance(obj.get("status"), dict):
        obj["status"] = {"loadBalancer": {}}
    if typ == "ExternalName":
        return
    # Allocation by the service REST storage: cluster IP, families, node ports.
    ip = spec.get("clusterIP") or (_l(spec.get("clusterIPs")) or [""])[0]
    if not ip:
        ip = cluster_ip_for(ns, name)
    spec["clusterIP"] = ip
    if not spec.get("clusterIPs"):
        spec["clusterIPs"] = [ip]
    if not spec.get("ipFamilies"):
        spec["ipFamilies"] = ["IPv6" if ":" in ip else "IPv4"]
    if not spec.get("ipFamilyPolicy"):
        spec["ipFamilyPolicy"] = "SingleStack"
    if typ in ("NodePort", "LoadBalancer") and not (typ == "LoadBalancer"
                                                     and spec.get("allocateLoadBalancerNodePorts") is False):
        for i, port in enumerate(_l(spec.get("ports"))):
            if isinstance(port, dict) and not port.get("nodePort"):
                port["nodePort"] = node_port_for(ns, name, i)


def _default_scaling_rules(rules: Any, up: bool) -> dict:
    rules = dict(rules) if isinstance(rules, dict) else {}
    if rules.get("selectPolicy") is None:
        rules["selectPolicy"] = "Max"
    if up and rules.get("stabilizationWindowSeconds") is None:
        rules["stabilizationWindowSeconds"] = 0
    if rules.get("policies") is None:
        rules["policies"] = ([{"type": "Pods", "value": 4, "periodSeconds": 15},
                              {"type": "Percent", "value": 100, "periodSeconds": 15}] if up
                             else [{"type": "Percent", "value": 100, "periodSeconds": 15}])
    return rules


def _default_hpa(res: ResourceType, obj: Obj) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    if spec.get("minReplicas") is None:
        spec["minReplicas"] = 1
    if not spec.get("metrics"):
        spec["metrics"] = [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        behavior["scaleUp"] = _default_scaling_rules(behavior.get("scaleUp"), True)
        behavior["scaleDown"] = _default_scaling_rules(behavior.get("scaleDown"), False)


def _default_namespace(res: ResourceType, obj: Obj) -> None:
    md = obj.setdefault("metadata", {})
    name = md.get("name")
    if name:
        labels = md.get("labels")
        if not isinstance(labels, dict):
            labels = md["labels"] = {}
        labels["kubernetes.io/metadata.name"] = name
    creating = not isinstance(obj.get("status"), dict)
    if creating:  # namespace strategy PrepareForCreate: require the kubernetes finalizer
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            spec = obj["spec"] = {}
        fins = _l(spec.get("finalizers"))
        if "kubernetes" not in fins:
            spec["finalizers"] = [*fins, "kubernetes"]
        obj["status"] = {}
    if not obj["status"].get("phase"):
        obj["status"]["phase"] = "Active"


def _default_secret(res: ResourceType, obj: Obj) -> None:
    if not obj.get("type"):
        obj["type"] = "Opaque"
    # v1 -> internal conversion: write-only stringData is merged into data, base64-encoded.
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = obj.get("data")
        if not isinstance(data, dict):
            data = obj["data"] = {}
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode()


def _default_node(res: ResourceType, obj: Obj) -> None:
    status = obj.get("status")
    if isinstance(status, dict) and status.get("allocatable") is None and status.get("capacity") is not None:
        status["allocatable"] = copy.deepcopy(status["capacity"])


_DEFAULTERS: dict[str, Callable[[ResourceType, Obj], None]] = {
    "/pods": _default_pod,
    "/services": _default_service,
    "/namespaces": _default_namespace,
    "/secrets": _default_secret,
    "/nodes": _default_node,
    "apps/deployments": _default_deployment,
    "apps/replicasets": _default_replicaset,
    "autoscaling/horizontalpodautoscalers": _default_hpa,
}
