"""Server-side printing: objects as a ``meta.k8s.io/v1`` Table, the way the API server prints them.

``kubectl get`` asks for ``application/json;as=Table;v=v1;g=meta.k8s.io`` and prints the cells the
server computed, so the columns and cell texts here mirror the upstream printers
(``pkg/printers/internalversion/printers.go``, always run with ``Wide: true`` by the server's
``TableConvertor``), the CRD convertor (``apiextensions-apiserver/.../tableconvertor``) and the
default convertor (``apiserver/pkg/registry/rest/table.go``). Cells are computed defensively:
stored objects may be partial, and a printer must never fail a list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from almtui.kube.durations import human_age, parse_rfc3339
from almtui.kube.podstatus import pod_status
from almtui.kube.selectors import SelectorError, from_label_selector_object
from almtui.sandbox import errors
from almtui.sandbox.resources import ResourceType

__all__ = [
    "TABLE_V1",
    "TABLE_V1BETA1",
    "jsonpath_find",
    "table_event_object",
    "table_group_version",
    "to_table",
    "wants_table",
]

TABLE_V1 = "meta.k8s.io/v1"
TABLE_V1BETA1 = "meta.k8s.io/v1beta1"

Obj = dict[str, Any]
Row = Callable[[Obj, datetime], list[Any]]

# --------------------------------------------------------------------------- content negotiation


def table_group_version(accept: str) -> str | None:
    """The Table apiVersion the Accept header negotiates, or None when a plain object wins.

    Clauses are tried by descending q (stable, like the server's negotiation): the first Table
    clause for meta.k8s.io v1/v1beta1 selects a Table, the first plain JSON/YAML/wildcard clause
    selects the plain object.
    """
    clauses: list[tuple[float, int, str, dict[str, str]]] = []
    for i, raw in enumerate(accept.split(",")):
        parts = [p.strip() for p in raw.split(";")]
        if not parts[0]:
            continue
        params: dict[str, str] = {}
        for p in parts[1:]:
            k, _, v = p.partition("=")
            params[k.strip().lower()] = v.strip().strip('"')
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 1.0
        clauses.append((-q, i, parts[0].lower(), params))
    for negq, _i, mtype, params in sorted(clauses):
        if negq == 0:
            continue
        if "as" in params:
            if (params["as"] == "Table" and params.get("g") == "meta.k8s.io"
                    and params.get("v") in ("v1", "v1beta1")
                    and mtype in ("application/json", "application/*", "*/*")):
                return f"meta.k8s.io/{params['v']}"
            continue
        if mtype in ("application/json", "application/yaml", "application/*", "*/*"):
            return None
    return None


def wants_table(accept: str) -> bool:
    """Whether the request negotiates a meta.k8s.io Table (what ``kubectl get`` sends)."""
    return table_group_version(accept) is not None


# --------------------------------------------------------------------------- time


def _parse_time(value: Any) -> datetime | None:
    """A metav1.Time/MicroTime; None for an absent (zero) or unparsable one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        return None


def _since(value: Any, now: datetime) -> str:
    """translateTimestampSince: "<unknown>" for a zero (absent) timestamp."""
    t = _parse_time(value)
    if t is None:
        return "<unknown>"
    return human_age((now - t).total_seconds())


def _rfc3339(value: Any) -> str:
    t = _parse_time(value)
    if t is None:
        return "0001-01-01T00:00:00Z"
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- small accessors


def _d(obj: Any, *path: str) -> dict:
    """The dict at path, or {} when any step is missing or not a dict."""
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj if isinstance(obj, dict) else {}


def _l(obj: Any, key: str) -> list:
    v = obj.get(key) if isinstance(obj, dict) else None
    return [x for x in v if isinstance(x, dict)] if isinstance(v, list) else []


def _s(obj: Any, key: str) -> str:
    v = obj.get(key) if isinstance(obj, dict) else None
    return v if isinstance(v, str) else ""


def _i(obj: Any, key: str, default: int = 0) -> int:
    v = obj.get(key) if isinstance(obj, dict) else None
    if isinstance(v, bool) or not isinstance(v, int | float):
        return default
    return int(v)


def _name(obj: Obj) -> str:
    return _s(_d(obj, "metadata"), "name")


def _age(obj: Obj, now: datetime) -> str:
    return _since(_d(obj, "metadata").get("creationTimestamp"), now)


def _format_labels(labels: Any) -> str:
    """labels.FormatLabels: sorted ``k=v`` pairs, "<none>" when empty."""
    if not isinstance(labels, dict) or not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def _selector_string(sel: Any) -> str:
    """LabelSelectorAsSelector(sel).String(); "<invalid>"/"<error>" never crash a row."""
    try:
        return str(from_label_selector_object(sel if isinstance(sel, dict) else None))
    except SelectorError:
        return "<invalid>"


def _format_label_selector(sel: Any) -> str:
    """metav1.FormatLabelSelector: "<none>" for an empty selector."""
    try:
        text = str(from_label_selector_object(sel if isinstance(sel, dict) else None))
    except SelectorError:
        return "<error>"
    return text or "<none>"


def _containers(template_spec: dict) -> tuple[str, str]:
    """layoutContainerCells: comma-joined names and images."""
    cs = _l(template_spec, "containers")
    return ",".join(_s(c, "name") for c in cs), ",".join(_s(c, "image") for c in cs)


def _int_or_string(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int | float):
        return str(int(v))
    return str(v)


# --------------------------------------------------------------------------- column descriptions

# SwaggerDoc texts of the fields each upstream column describes.
_DOCS: dict[str, str] = {
    "name": "Name must be unique within a namespace. Is required when creating resources, although some "
            "resources may allow a client to request the generation of an appropriate name "
            "automatically. Name is primarily intended for creation idempotence and configuration "
            "definition. Cannot be updated. More info: "
            "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
    "creationTimestamp": "CreationTimestamp is a timestamp representing the server time when this object "
                         "was created. It is not guaranteed to be set in happens-before order across "
                         "separate operations. Clients may not set this value. It is represented in "
                         "RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for "
                         "lists. More info: "
                         "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
    "pod.podIP": "podIP address allocated to the pod. Routable at least within the cluster. Empty if not "
                 "yet allocated.",
    "pod.nodeName": "NodeName indicates in which node this pod is scheduled. If empty, this pod is a "
                    "candidate for scheduling by the scheduler defined in schedulerName. Once this field "
                    "is set, the kubelet for this node becomes responsible for the lifecycle of this "
                    "pod. This field should not be used to express a desire for the pod to be scheduled "
                    "on a specific node. "
                    "https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename",
    "pod.nominatedNodeName": "nominatedNodeName is set only when this pod preempts other pods on the "
                             "node, but it cannot be scheduled right away as preemption victims receive "
                             "their graceful termination periods. This field does not guarantee that the "
                             "pod will be scheduled on this node. Scheduler may decide to place the pod "
                             "elsewhere if other nodes become available sooner. Scheduler may also "
                             "decide to give the resources on this node to a higher priority pod that is "
                             "created after preemption. As a result, this field may be different than "
                             "PodSpec.nodeName when the pod is scheduled.",
    "pod.readinessGates": "If specified, all readiness gates will be evaluated for pod readiness. A pod "
                          "is ready when all its containers are ready AND all conditions specified in "
                          "the readiness gates have status equal to \"True\" More info: "
                          "https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates",
    "node.kubeletVersion": "Kubelet Version reported by the node.",
    "node.addresses": "List of addresses reachable to the node. Queried from cloud provider, if "
                      "available. More info: "
                      "https://kubernetes.io/docs/reference/node/node-status/#addresses",
    "node.osImage": "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 "
                    "(wheezy)).",
    "node.kernelVersion": "Kernel Version reported by the node from 'uname -r' (e.g. "
                          "3.16.0-0.bpo.4-amd64).",
    "node.containerRuntimeVersion": "ContainerRuntime Version reported by the node through runtime "
                                    "remote API (e.g. containerd://1.4.2).",
    "event.lastTimestamp": "The time at which the most recent occurrence of this event was recorded.",
    "event.type": "Type of this event (Normal, Warning), new types could be added in the future",
    "event.reason": "This should be a short, machine understandable string that gives the reason for the "
                    "transition into the object's current status.",
    "event.involvedObject": "The object that this event is about.",
    "event.fieldPath": "If referring to a piece of an object instead of an entire object, this string "
                       "should contain a valid JSON/Go field access statement, such as "
                       "desiredState.manifest.containers[2].",
    "event.source": "The component reporting this event. Should be a short machine understandable string.",
    "event.message": "A human-readable description of the status of this operation.",
    "event.firstTimestamp": "The time at which the event was first recorded. (Time of server receipt is "
                            "in TypeMeta.)",
    "event.count": "The number of times this event has occurred.",
    "secret.type": "Used to facilitate programmatic handling of secret data. More info: "
                   "https://kubernetes.io/docs/concepts/configuration/secret/#secret-types",
    "secret.data": "Data contains the secret data. Each key must consist of alphanumeric characters, "
                   "'-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, "
                   "representing the arbitrary (possibly non-string) data value here. Described in "
                   "https://tools.ietf.org/html/rfc4648#section-4",
    "sa.secrets": "Secrets is a list of the secrets in the same namespace that pods running using this "
                  "ServiceAccount are allowed to use. More info: "
                  "https://kubernetes.io/docs/concepts/configuration/secret",
    "svc.type": "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are "
                "ExternalName, ClusterIP, NodePort, and LoadBalancer. More info: "
                "https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types",
    "svc.clusterIP": "clusterIP is the IP address of the service and is usually assigned randomly. More "
                     "info: "
                     "https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies",
    "svc.externalIPs": "externalIPs is a list of IP addresses for which nodes in the cluster will also "
                       "accept traffic for this service.  These IPs are not managed by Kubernetes.  The "
                       "user is responsible for ensuring that traffic arrives at a node with this IP.  A "
                       "common example is external load-balancers that are not part of the Kubernetes "
                       "system.",
    "svc.ports": "The list of ports that are exposed by this service. More info: "
                 "https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies",
    "svc.selector": "Route service traffic to pods with label keys and values matching this selector. If "
                    "empty or not present, the service is assumed to have an external process managing "
                    "its endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, "
                    "NodePort, and LoadBalancer. Ignored if type is ExternalName. More info: "
                    "https://kubernetes.io/docs/concepts/services-networking/service/",
    "rs.replicas": "Replicas is the number of desired replicas. This is a pointer to distinguish between "
                   "explicit zero and unspecified. Defaults to 1. More info: "
                   "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller",
    "rs.status.replicas": "Replicas is the most recently observed number of replicas. More info: "
                          "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller",
    "rs.readyReplicas": "The number of ready replicas for this replica set.",
    "rs.selector": "Selector is a label query over pods that should match the replica count. If the "
                   "selector is empty, it is defaulted to the labels present on the pod template. Label "
                   "keys and values that must match in order to be controlled by this replica set. More "
                   "info: "
                   "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
    "deploy.updatedReplicas": "Total number of non-terminated pods targeted by this deployment that have "
                              "the desired template spec.",
    "deploy.availableReplicas": "Total number of available pods (ready for at least minReadySeconds) "
                                "targeted by this deployment.",
    "deploy.selector": "Label selector for pods. Existing ReplicaSets whose pods are selected by this "
                       "will be the ones affected by this deployment.",
    "hpa.scaleTargetRef": "scaleTargetRef points to the target resource to scale, and is used to the "
                          "pods for which metrics should be collected, as well as to actually change the "
                          "replica count.",
    "hpa.metrics": "metrics contains the specifications for which to use to calculate the desired "
                   "replica count (the maximum replica count across all metrics will be used).  The "
                   "desired replica count is calculated multiplying the ratio between the target value "
                   "and the current value by the current number of pods.  Ergo, metrics used must "
                   "decrease as the pod count is increased, and vice-versa.  See the individual metric "
                   "source types for more information about how each type of metric must respond.",
    "hpa.minReplicas": "minReplicas is the lower limit for the number of replicas to which the "
                       "autoscaler can scale down.  It defaults to 1 pod.  minReplicas is allowed to be "
                       "0 if the alpha feature gate HPAScaleToZero is enabled and at least one Object or "
                       "External metric is configured.  Scaling is active as long as at least one metric "
                       "value is available.",
    "hpa.maxReplicas": "maxReplicas is the upper limit for the number of replicas to which the "
                       "autoscaler can scale up. It cannot be less that minReplicas.",
    "hpa.currentReplicas": "currentReplicas is current number of replicas of pods managed by this "
                           "autoscaler, as last seen by the autoscaler.",
    "cm.data": "Data contains the configuration data. Each key must consist of alphanumeric characters, "
               "'-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The "
               "keys stored in Data must not overlap with the keys in the BinaryData field, this is "
               "enforced during validation process.",
    "lease.holderIdentity": "holderIdentity contains the identity of the holder of a current lease.",
}


# --------------------------------------------------------------------------- column definitions


def _col(name: str, type_: str = "string", doc: str = "", priority: int = 0, fmt: str = "") -> dict:
    return {"name": name, "type": type_, "format": fmt, "description": _DOCS.get(doc, doc),
            "priority": priority}


def _name_col() -> dict:
    return _col("Name", doc="name", fmt="name")


def _age_col() -> dict:
    return _col("Age", doc="creationTimestamp")


_CONTAINERS = "Names of each container in the template."
_IMAGES = "Images referenced by each container in the template."

# --------------------------------------------------------------------------- printers


def _pod_row(pod: Obj, now: datetime) -> list[Any]:
    spec, status = _d(pod, "spec"), _d(pod, "status")
    reason, ready, total, restarts, last_epoch = pod_status(pod)
    last_restart = datetime.fromtimestamp(last_epoch, UTC) if last_epoch is not None else None
    restarts_cell = str(restarts)
    if restarts != 0 and last_restart is not None:
        restarts_cell = f"{restarts} ({human_age((now - last_restart).total_seconds())} ago)"

    ips = _l(status, "podIPs")
    pod_ip = _s(ips[0], "ip") if ips else _s(status, "podIP")
    gates = "<none>"
    if _l(spec, "readinessGates"):
        conds = _l(status, "conditions")
        true_count = 0
        for gate in _l(spec, "readinessGates"):
            match = next((c for c in conds if c.get("type") == gate.get("conditionType")), None)
            if match is not None and match.get("status") == "True":
                true_count += 1
        gates = f"{true_count}/{len(_l(spec, 'readinessGates'))}"
    return [_name(pod), f"{ready}/{total}", reason, restarts_cell, _age(pod, now),
            pod_ip or "<none>", _s(spec, "nodeName") or "<none>",
            _s(status, "nominatedNodeName") or "<none>", gates]


def _pod_conditions(pod: Obj) -> list[dict] | None:
    phase = _s(_d(pod, "status"), "phase")
    if phase == "Succeeded":
        return [{"type": "Completed", "status": "True", "reason": "Succeeded",
                 "message": "The pod has completed successfully."}]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]
    return None


def _node_row(node: Obj, now: datetime) -> list[Any]:
    status = _d(node, "status")
    conds = {c.get("type"): c for c in _l(status, "conditions")}
    states: list[str] = []
    if "Ready" in conds:
        states.append("Ready" if conds["Ready"].get("status") == "True" else "NotReady")
    if not states:
        states.append("Unknown")
    if _d(node, "spec").get("unschedulable") is True:
        states.append("SchedulingDisabled")
    roles: set[str] = set()
    for k, v in _d(node, "metadata", "labels").items():
        if k.startswith("node-role.kubernetes.io/") and k[len("node-role.kubernetes.io/"):]:
            roles.add(k[len("node-role.kubernetes.io/"):])
        elif k == "kubernetes.io/role" and v:
            roles.add(str(v))
    info = _d(status, "nodeInfo")

    def address(kind: str) -> str:
        return next((_s(a, "address") for a in _l(status, "addresses") if a.get("type") == kind), "<none>")

    return [_name(node), ",".join(states), ",".join(sorted(roles)) or "<none>", _age(node, now),
            _s(info, "kubeletVersion"), address("InternalIP"), address("ExternalIP"),
            _s(info, "osImage") or "<unknown>", _s(info, "kernelVersion") or "<unknown>",
            _s(info, "containerRuntimeVersion") or "<unknown>"]


def _namespace_row(ns: Obj, now: datetime) -> list[Any]:
    return [_name(ns), _s(_d(ns, "status"), "phase"), _age(ns, now)]


def _service_external_ip(svc: Obj) -> str:
    spec = _d(svc, "spec")
    external = [str(ip) for ip in spec.get("externalIPs") or [] if ip]
    kind = _s(spec, "type")
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        lb: set[str] = set()
        for ing in _l(_d(svc, "status", "loadBalancer"), "ingress"):
            if _s(ing, "ip"):
                lb.add(_s(ing, "ip"))
            elif _s(ing, "hostname"):
                lb.add(_s(ing, "hostname"))
        ips = sorted(lb)  # wide: the server never clips at 16 characters
        if external:
            return ",".join(ips + external)
        return ",".join(ips) or "<pending>"
    if kind == "ExternalName":
        return _s(spec, "externalName")
    return "<unknown>"


def _service_row(svc: Obj, now: datetime) -> list[Any]:
    spec = _d(svc, "spec")
    ips = spec.get("clusterIPs") if isinstance(spec.get("clusterIPs"), list) else []
    cluster_ip = str(ips[0]) if ips else (_s(spec, "clusterIP") or "<none>")
    ports = []
    for p in _l(spec, "ports"):
        proto = _s(p, "protocol") or "TCP"
        node_port = _i(p, "nodePort")
        ports.append(f"{_i(p, 'port')}:{node_port}/{proto}" if node_port > 0 else f"{_i(p, 'port')}/{proto}")
    return [_name(svc), _s(spec, "type"), cluster_ip, _service_external_ip(svc), ",".join(ports) or "<none>",
            _age(svc, now), _format_labels(spec.get("selector"))]


def _event_row(ev: Obj, now: datetime) -> list[Any]:
    first = (_since(ev["firstTimestamp"], now) if _parse_time(ev.get("firstTimestamp"))
             else _since(ev.get("eventTime"), now))
    last = _since(ev["lastTimestamp"], now) if _parse_time(ev.get("lastTimestamp")) else first
    count = _i(ev, "count")
    series = ev.get("series")
    if isinstance(series, dict):
        last = _since(series.get("lastObservedTime"), now)
        count = _i(series, "count")
    elif count == 0:
        count = 1
    involved = _d(ev, "involvedObject")
    kind = _s(involved, "kind").lower()
    target = f"{kind}/{_s(involved, 'name')}" if _s(involved, "name") else kind
    source = _d(ev, "source")
    component = _s(source, "component") or _s(ev, "reportingComponent")
    instance = _s(source, "host") or _s(ev, "reportingInstance")
    source_cell = f"{component}, {instance}" if instance else component
    return [last, _s(ev, "type"), _s(ev, "reason"), target, _s(involved, "fieldPath"), source_cell,
            _s(ev, "message").strip(), first, count, _name(ev)]


def _deployment_row(dep: Obj, now: datetime) -> list[Any]:
    spec, status = _d(dep, "spec"), _d(dep, "status")
    names, images = _containers(_d(spec, "template", "spec"))
    return [_name(dep), f"{_i(status, 'readyReplicas')}/{_i(spec, 'replicas', 1)}",
            _i(status, "updatedReplicas"), _i(status, "availableReplicas"), _age(dep, now),
            names, images, _selector_string(spec.get("selector"))]


def _replicaset_row(rs: Obj, now: datetime) -> list[Any]:
    spec, status = _d(rs, "spec"), _d(rs, "status")
    names, images = _containers(_d(spec, "template", "spec"))
    return [_name(rs), _i(spec, "replicas", 1), _i(status, "replicas"), _i(status, "readyReplicas"),
            _age(rs, now), names, images, _format_label_selector(spec.get("selector"))]


def _q(v: Any) -> str:
    """A quantity as printed (``Quantity.String()``); stored values are already canonical text."""
    return _int_or_string(v) if v is not None else "<nil>"


def _hpa_metric(spec: dict, st: dict) -> str:
    kind = _s(spec, "type")
    if kind in ("External", "Object"):
        key = kind[0].lower() + kind[1:]
        target, current = _d(spec, key, "target"), _d(st, key, "current") if st.get(key) else None
        if target.get("averageValue") is not None:
            cur = _q(current.get("averageValue")) if current and current.get("averageValue") is not None \
                else "<unknown>"
            return f"{cur}/{_q(target.get('averageValue'))} (avg)"
        cur = _q(current.get("value")) if current is not None else "<unknown>"
        return f"{cur}/{_q(target.get('value'))}"
    if kind == "Pods":
        cur = _q(_d(st, "pods", "current").get("averageValue")) if st.get("pods") else "<unknown>"
        return f"{cur}/{_q(_d(spec, 'pods', 'target').get('averageValue'))}"
    if kind in ("Resource", "ContainerResource"):
        key = "resource" if kind == "Resource" else "containerResource"
        src, target = _d(spec, key), _d(spec, key, "target")
        current = _d(st, key, "current") if st.get(key) else None
        if target.get("averageValue") is not None:
            cur = _q(current.get("averageValue")) if current is not None else "<unknown>"
            return f"{_s(src, 'name')}: {cur}/{_q(target.get('averageValue'))}"
        cur = "<unknown>"
        if current is not None and current.get("averageUtilization") is not None:
            cur = f"{_i(current, 'averageUtilization')}%"
        want = "<auto>"
        if target.get("averageUtilization") is not None:
            want = f"{_i(target, 'averageUtilization')}%"
        return f"{_s(src, 'name')}: {cur}/{want}"
    return "<unknown type>"


def _hpa_targets(hpa: Obj) -> str:
    """formatHPAMetrics: the first two metrics, current paired with spec by index."""
    specs = _l(_d(hpa, "spec"), "metrics")
    if not specs:
        return "<none>"
    statuses = _l(_d(hpa, "status"), "currentMetrics")
    texts = [_hpa_metric(s, statuses[i] if i < len(statuses) else {}) for i, s in enumerate(specs)]
    if len(texts) > 2:
        return f"{', '.join(texts[:2])} + {len(texts) - 2} more..."
    return ", ".join(texts)


def _hpa_row(hpa: Obj, now: datetime) -> list[Any]:
    spec = _d(hpa, "spec")
    ref = _d(spec, "scaleTargetRef")
    min_pods = str(_i(spec, "minReplicas")) if spec.get("minReplicas") is not None else "<unset>"
    return [_name(hpa), f"{_s(ref, 'kind')}/{_s(ref, 'name')}", _hpa_targets(hpa), min_pods,
            _i(spec, "maxReplicas"), _i(_d(hpa, "status"), "currentReplicas"), _age(hpa, now)]


def _lease_row(lease: Obj, now: datetime) -> list[Any]:
    return [_name(lease), _s(_d(lease, "spec"), "holderIdentity"), _age(lease, now)]


def _configmap_row(cm: Obj, now: datetime) -> list[Any]:
    return [_name(cm), len(_d(cm, "data")) + len(_d(cm, "binaryData")), _age(cm, now)]


def _secret_row(secret: Obj, now: datetime) -> list[Any]:
    return [_name(secret), _s(secret, "type"), len(_d(secret, "data")), _age(secret, now)]


def _serviceaccount_row(sa: Obj, now: datetime) -> list[Any]:
    secrets = sa.get("secrets")
    return [_name(sa), len(secrets) if isinstance(secrets, list) else 0, _age(sa, now)]


def _pdb_row(pdb: Obj, now: datetime) -> list[Any]:
    spec = _d(pdb, "spec")
    min_av = _int_or_string(spec["minAvailable"]) if spec.get("minAvailable") is not None else "N/A"
    max_un = _int_or_string(spec["maxUnavailable"]) if spec.get("maxUnavailable") is not None else "N/A"
    return [_name(pdb), min_av, max_un, _i(_d(pdb, "status"), "disruptionsAllowed"), _age(pdb, now)]


def _default_row(obj: Obj, now: datetime) -> list[Any]:
    return [_name(obj), _rfc3339(_d(obj, "metadata").get("creationTimestamp"))]


_DEFAULT_COLUMNS = [_name_col(), _col("Created At", "date", "creationTimestamp")]

_PRINTERS: dict[tuple[str, str], tuple[list[dict], Row]] = {
    ("", "Pod"): ([
        _name_col(),
        _col("Ready", doc="The aggregate readiness state of this pod for accepting traffic."),
        _col("Status", doc="The aggregate status of the containers in this pod."),
        _col("Restarts", doc="The number of times the containers in this pod have been restarted and when "
                             "the last container in this pod has restarted."),
        _age_col(),
        _col("IP", doc="pod.podIP", priority=1),
        _col("Node", doc="pod.nodeName", priority=1),
        _col("Nominated Node", doc="pod.nominatedNodeName", priority=1),
        _col("Readiness Gates", doc="pod.readinessGates", priority=1),
    ], _pod_row),
    ("", "Node"): ([
        _name_col(),
        _col("Status", doc="The status of the node"),
        _col("Roles", doc="The roles of the node"),
        _age_col(),
        _col("Version", doc="node.kubeletVersion"),
        _col("Internal-IP", doc="node.addresses", priority=1),
        _col("External-IP", doc="node.addresses", priority=1),
        _col("OS-Image", doc="node.osImage", priority=1),
        _col("Kernel-Version", doc="node.kernelVersion", priority=1),
        _col("Container-Runtime", doc="node.containerRuntimeVersion", priority=1),
    ], _node_row),
    ("", "Namespace"): ([_name_col(), _col("Status", doc="The status of the namespace"), _age_col()],
                        _namespace_row),
    ("", "Service"): ([
        _name_col(),
        _col("Type", doc="svc.type"),
        _col("Cluster-IP", doc="svc.clusterIP"),
        _col("External-IP", doc="svc.externalIPs"),
        _col("Port(s)", doc="svc.ports"),
        _age_col(),
        _col("Selector", doc="svc.selector", priority=1),
    ], _service_row),
    ("", "Event"): ([
        _col("Last Seen", doc="event.lastTimestamp"),
        _col("Type", doc="event.type"),
        _col("Reason", doc="event.reason"),
        _col("Object", doc="event.involvedObject"),
        _col("Subobject", doc="event.fieldPath", priority=1),
        _col("Source", doc="event.source", priority=1),
        _col("Message", doc="event.message"),
        _col("First Seen", doc="event.firstTimestamp", priority=1),
        _col("Count", doc="event.count", priority=1),
        _col("Name", doc="name", priority=1, fmt="name"),
    ], _event_row),
    ("", "ConfigMap"): ([_name_col(), _col("Data", doc="cm.data"), _age_col()], _configmap_row),
    ("", "Secret"): ([_name_col(), _col("Type", doc="secret.type"), _col("Data", doc="secret.data"),
                      _age_col()], _secret_row),
    ("", "ServiceAccount"): ([_name_col(), _col("Secrets", doc="sa.secrets"), _age_col()],
                             _serviceaccount_row),
    ("apps", "Deployment"): ([
        _name_col(),
        _col("Ready", doc="Number of the pod with ready state"),
        _col("Up-to-date", doc="deploy.updatedReplicas"),
        _col("Available", doc="deploy.availableReplicas"),
        _age_col(),
        _col("Containers", doc=_CONTAINERS, priority=1),
        _col("Images", doc=_IMAGES, priority=1),
        _col("Selector", doc="deploy.selector", priority=1),
    ], _deployment_row),
    ("apps", "ReplicaSet"): ([
        _name_col(),
        _col("Desired", "integer", "rs.replicas"),
        _col("Current", "integer", "rs.status.replicas"),
        _col("Ready", "integer", "rs.readyReplicas"),
        _age_col(),
        _col("Containers", doc=_CONTAINERS, priority=1),
        _col("Images", doc=_IMAGES, priority=1),
        _col("Selector", doc="rs.selector", priority=1),
    ], _replicaset_row),
    ("autoscaling", "HorizontalPodAutoscaler"): ([
        _name_col(),
        _col("Reference", doc="hpa.scaleTargetRef"),
        _col("Targets", doc="hpa.metrics"),
        _col("MinPods", doc="hpa.minReplicas"),
        _col("MaxPods", doc="hpa.maxReplicas"),
        _col("Replicas", doc="hpa.currentReplicas"),
        _age_col(),
    ], _hpa_row),
    ("coordination.k8s.io", "Lease"): ([_name_col(), _col("Holder", doc="lease.holderIdentity"), _age_col()],
                                       _lease_row),
    ("policy", "PodDisruptionBudget"): ([
        _name_col(),
        _col("Min Available", doc="The minimum number of pods that must be available."),
        _col("Max Unavailable", doc="The maximum number of pods that may be unavailable."),
        _col("Allowed Disruptions", "integer",
             "Calculated number of pods that may be disrupted at this time."),
        _age_col(),
    ], _pdb_row),
}

# --------------------------------------------------------------------------- custom resources


_TOKEN = re.compile(
    r"""\.(?P<field>[^.\[\]]+)
      | \[\s*(?P<index>-?\d+)\s*\]
      | \[\s*\*\s*\]
      | \[\s*'(?P<sq>[^']*)'\s*\] | \[\s*"(?P<dq>[^"]*)"\s*\]
      | \[\?\(\s*@(?P<fpath>(?:\.[^.\s=!<>)]+)*)\s*
          (?:(?P<op>==|!=|<=|>=|<|>)\s*(?P<lit>"[^"]*"|'[^']*'|[^)\s]+))?\s*\)\]
    """,
    re.VERBOSE,
)


def _jsonpath_steps(path: str) -> list[re.Match] | None:
    """Tokenise a simple JSONPath (``.a.b``, ``[0]``, ``[*]``, ``[?(@.k=="v")]``); None if unsupported."""
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1].strip()
    path = path.removeprefix("$")
    steps, pos = [], 0
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if m is None:
            return None
        steps.append(m)
        pos = m.end()
    return steps


def _literal(text: str) -> Any:
    if text[:1] in ("'", '"'):
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        return text


def _compare(value: Any, op: str, want: Any) -> bool:
    if op == "==":
        return value == want
    if op == "!=":
        return value != want
    if isinstance(value, bool) or isinstance(want, bool) or not isinstance(value, int | float) \
            or not isinstance(want, int | float):
        return False
    return {"<": value < want, ">": value > want, "<=": value <= want, ">=": value >= want}[op]


def jsonpath_find(obj: Any, path: str) -> list[Any]:
    """All results of a simple JSONPath over obj; missing keys give no results (AllowMissingKeys)."""
    steps = _jsonpath_steps(path)
    if steps is None:
        return []
    current = [obj]
    for m in steps:
        nxt: list[Any] = []
        for v in current:
            if m.group("field") is not None or m.group("sq") is not None or m.group("dq") is not None:
                key = next(g for g in (m.group("field"), m.group("sq"), m.group("dq")) if g is not None)
                if isinstance(v, dict) and key in v:
                    nxt.append(v[key])
            elif m.group("index") is not None:
                idx = int(m.group("index"))
                if isinstance(v, list) and -len(v) <= idx < len(v):
                    nxt.append(v[idx])
            elif m.group(0).startswith("[?"):
                if not isinstance(v, list):
                    continue
                sub = m.group("fpath") or ""
                for item in v:
                    found = jsonpath_find(item, sub) if sub else [item]
                    if m.group("op") is None:
                        if found:
                            nxt.append(item)
                    elif found and _compare(found[0], m.group("op"), _literal(m.group("lit"))):
                        nxt.append(item)
            elif isinstance(v, list):  # [*]
                nxt.extend(v)
            elif isinstance(v, dict):
                nxt.extend(v.values())
        current = nxt
    return current


def _go_text(value: Any) -> str | None:
    """jsonpath PrintResults: maps and lists as JSON, scalars as Go's fmt prints them."""
    if value is None:
        return None
    if isinstance(value, dict | list):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    return str(value)


def _custom_cell(col: dict, value: Any, now: datetime) -> Any:
    """The CRD convertor's cellForJSONValue, plus its string-column printing."""
    kind = col.get("type", "string")
    if kind == "string":
        return _go_text(value)
    if value is None or (isinstance(value, bool) and kind != "boolean"):
        return None
    if kind == "integer" and isinstance(value, int | float):
        return int(value)
    if kind == "number" and isinstance(value, int | float):
        return float(value)
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "date" and isinstance(value, str):
        t = _parse_time(value)
        return "<invalid>" if t is None else human_age((now - t).total_seconds())
    return None


_CRD_DEFAULT_COLUMNS = ({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp",
                         "description": "creationTimestamp"},)


def _custom_printer(res: ResourceType) -> tuple[list[dict], Row]:
    """NAME plus the CRD's additionalPrinterColumns (serveDefaultColumnsIfEmpty: a lone Age)."""
    cols = res.printer_columns or _CRD_DEFAULT_COLUMNS
    defs = [_name_col()]
    for c in cols:
        desc = c.get("description") or \
            f"Custom resource definition column (in JSONPath format): {c['jsonPath']}"
        defs.append({"name": c["name"], "type": c.get("type", "string"), "format": c.get("format", ""),
                     "description": _DOCS.get(desc, desc), "priority": int(c.get("priority", 0))})

    def row(obj: Obj, now: datetime) -> list[Any]:
        cells: list[Any] = [_name(obj)]
        for c in cols:
            found = jsonpath_find(obj, c["jsonPath"])
            cells.append(_custom_cell(c, found[0], now) if found else None)
        return cells

    return defs, row


def _printer(res: ResourceType) -> tuple[list[dict], Row]:
    if res.custom:
        return _custom_printer(res)
    return _PRINTERS.get((res.group, res.kind), (_DEFAULT_COLUMNS, _default_row))


# --------------------------------------------------------------------------- tables

_INCLUDE = ("None", "Metadata", "Object")
_LIST_META = ("resourceVersion", "continue", "remainingItemCount")


def _row_object(res: ResourceType, obj: Obj, include: str, api_version: str) -> Any:
    if include == "None":
        return None
    if include == "Object":
        out = dict(obj)
        out.setdefault("kind", res.kind)
        out.setdefault("apiVersion", res.group_version)
        return out
    return {"kind": "PartialObjectMetadata", "apiVersion": api_version, "metadata": _d(obj, "metadata")}


def _check_include(include_object: str | None) -> str:
    include = include_object or "Metadata"
    if include not in _INCLUDE:
        raise errors.bad_request(f'Unable to convert to Table as requested: includeObject: Invalid value: '
                                 f'"{include}": must be \'Metadata\', \'Object\', \'None\', or empty')
    return include


def to_table(res: ResourceType, objs: list[dict], now: datetime, include_object: str | None = "Metadata",
             list_meta: dict | None = None, *, api_version: str = TABLE_V1,
             with_columns: bool = True) -> dict:
    """The Table the API server answers for a list (or a single object) of ``res``.

    ``list_meta`` is the list's metadata (resourceVersion, continue, remainingItemCount); without it a
    single object's resourceVersion is used, as upstream does. Raises a 400 ApiError for a bad
    ``includeObject``. ``with_columns=False`` omits the column definitions (TableOptions.NoHeaders).
    """
    include = _check_include(include_object)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    columns, row_fn = _printer(res)
    rows = []
    for obj in objs:
        try:
            cells = row_fn(obj, now)
        except Exception:  # a partial object must not fail the whole list
            cells = [_name(obj), *[None] * (len(columns) - 1)]
        row: dict[str, Any] = {"cells": cells}
        if res.group == "" and res.kind == "Pod":
            conditions = _pod_conditions(obj)
            if conditions:
                row["conditions"] = conditions
        row["object"] = _row_object(res, obj, include, api_version)
        rows.append(row)
    if list_meta is not None:
        meta = {k: v for k, v in list_meta.items() if k in _LIST_META}
    else:
        rv = _d(objs[0], "metadata").get("resourceVersion") if len(objs) == 1 else None
        meta = {"resourceVersion": rv} if rv else {}
    return {"kind": "Table", "apiVersion": api_version, "metadata": meta,
            "columnDefinitions": [dict(c) for c in columns] if with_columns else [], "rows": rows}


def table_event_object(res: ResourceType, obj: dict, now: datetime, include_object: str | None = "Metadata",
                       with_columns: bool = True, *, api_version: str = TABLE_V1) -> dict:
    """The object of one watch event as a one-row Table.

    The server's watch Fixup sets TableOptions.NoHeaders after the first event: only the first event
    of a watch carries columnDefinitions, later ones an empty list (kubectl reuses the last columns).
    """
    return to_table(res, [obj], now, include_object, None, api_version=api_version, with_columns=with_columns)
