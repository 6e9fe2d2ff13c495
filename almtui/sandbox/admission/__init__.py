"""Defaulting and validation ("admission") for the sandbox API server.

Why: a real API server defaults every object before storing it and rejects invalid ones with a
422 whose text kubectl prints verbatim, so the sandbox must do the same for clients to see what
they would see against a real cluster. Sources (Kubernetes 1.32/1.33, whose messages agree):

* defaulting: ``pkg/apis/{apps/v1,core/v1,autoscaling/v2}/defaults.go``; the DefaultTolerationSeconds,
  Priority and ServiceAccount admission plugins; the pod, namespace and service registry strategies.
* validation: ``pkg/apis/{core,apps,autoscaling,coordination,policy}/validation/validation.go``,
  apimachinery ``pkg/api/validation`` (object meta, names), ``pkg/apis/meta/v1/validation`` (labels,
  selectors) and ``pkg/util/validation`` (DNS names, qualified names, ports, percents).
* values in messages render as ``field.Error.ErrorBody`` did before 1.34: pointers dereferenced, then
  ``%q`` for strings, ``%v`` for numbers, ``%#v`` for maps and structs (``map[string]string{"a":"b"}``).

Cluster IPs are not taken from a stateful allocator: :func:`default` derives them from a hash of
namespace/name inside 10.96.0.0/12 (node ports likewise inside 30000-32767), so a replayed scenario
gets the same addresses; :func:`validate`, which sees the store, moves a derived address on if another
Service already holds it and rejects an explicitly requested one that is taken (an index of the
addresses stored Services hold, kept from store events, answers that in O(1)).

Layout, by concern: ``render`` (Go value rendering), ``causes`` (field errors, 422), ``names``
(name/label/key syntax), ``values`` (JSON helpers, quantities), ``meta`` (ObjectMeta, selectors),
``containers`` and ``pods``, ``apps``, ``services``, ``autoscaling``, ``core`` (namespaces, nodes,
leases, config maps, secrets, PDBs), ``custom`` (Argo Rollouts), ``defaults``. This module holds the
per-kind dispatch (:func:`default`, :func:`validate`) and :func:`install`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from almtui.sandbox.admission.apps import (
    _validate_deployment,
    _validate_deployment_status,
    _validate_replicaset,
    _validate_replicaset_status,
)
from almtui.sandbox.admission.autoscaling import _validate_hpa, _validate_hpa_status
from almtui.sandbox.admission.causes import (
    Cause,
    _Errs,
    _raise_invalid,
    field_duplicate,
    field_forbidden,
    field_not_found,
    field_too_long,
)
from almtui.sandbox.admission.core import (
    _validate_configmap,
    _validate_lease,
    _validate_namespace,
    _validate_namespace_status,
    _validate_node,
    _validate_pdb,
    _validate_secret,
)
from almtui.sandbox.admission.custom import _validate_rollout
from almtui.sandbox.admission.defaults import default
from almtui.sandbox.admission.meta import _validate_object_meta, _validate_object_meta_update, selector_matches
from almtui.sandbox.admission.names import (
    NameFn,
    config_map_key,
    dns1035_label,
    dns1123_label,
    dns1123_subdomain,
    label_value,
    name_is_dns1035_label,
    name_is_dns_label,
    name_is_dns_subdomain,
    path_segment_name,
    port_name,
    port_num,
    qualified_name,
)
from almtui.sandbox.admission.pods import _validate_pod
from almtui.sandbox.admission.render import (
    GoRaw,
    go_intstr,
    go_label_selector,
    go_quote,
    go_string_map,
    go_string_slice,
    go_value,
)
from almtui.sandbox.admission.services import (
    NODE_PORT_RANGE,
    SERVICE_CIDR,
    ServiceAllocations,
    _validate_service,
    allocations,
    cluster_ip_for,
    node_port_for,
)
from almtui.sandbox.admission.values import MAX_INT32, Obj, _d, canonical_quantity
from almtui.sandbox.resources import ResourceType

__all__ = [
    "MAX_INT32",
    "NODE_PORT_RANGE",
    "SERVICE_CIDR",
    "Cause",
    "GoRaw",
    "NameFn",
    "Obj",
    "ServiceAllocations",
    "Validator",
    "allocations",
    "canonical_quantity",
    "cluster_ip_for",
    "config_map_key",
    "default",
    "dns1035_label",
    "dns1123_label",
    "dns1123_subdomain",
    "field_duplicate",
    "field_forbidden",
    "field_not_found",
    "field_too_long",
    "go_intstr",
    "go_label_selector",
    "go_quote",
    "go_string_map",
    "go_string_slice",
    "go_value",
    "install",
    "label_value",
    "name_is_dns1035_label",
    "name_is_dns_label",
    "name_is_dns_subdomain",
    "node_port_for",
    "path_segment_name",
    "port_name",
    "port_num",
    "qualified_name",
    "selector_matches",
    "validate",
]


Validator = Callable[[_Errs, Any, Obj, Any], None]


def _validate_nothing(e: _Errs, store: Any, obj: Obj, old: Obj | None) -> None:
    """Kinds whose spec the sandbox does not check beyond object metadata."""


_SPEC_VALIDATORS: dict[str, Validator] = {
    "/pods": _validate_pod,
    "/services": _validate_service,
    "/namespaces": _validate_namespace,
    "/nodes": _validate_node,
    "/configmaps": _validate_configmap,
    "/secrets": _validate_secret,
    "/events": _validate_nothing,
    "/serviceaccounts": _validate_nothing,
    "apps/deployments": _validate_deployment,
    "apps/replicasets": _validate_replicaset,
    "autoscaling/horizontalpodautoscalers": _validate_hpa,
    "coordination.k8s.io/leases": _validate_lease,
    "policy/poddisruptionbudgets": _validate_pdb,
    "argoproj.io/rollouts": _validate_rollout,
}


_STATUS_VALIDATORS: dict[str, Callable[[_Errs, Obj, Obj], None]] = {
    "apps/deployments": _validate_deployment_status,
    "apps/replicasets": _validate_replicaset_status,
    "autoscaling/horizontalpodautoscalers": _validate_hpa_status,
    "/namespaces": _validate_namespace_status,
}


_NAME_FNS: dict[str, NameFn] = {
    "/namespaces": name_is_dns_label,
    "/services": name_is_dns1035_label,
}


# Kinds not written by clients through the generic path, or not stored at all.
_SKIP = frozenset({"apiextensions.k8s.io/customresourcedefinitions",
                   "authorization.k8s.io/selfsubjectaccessreviews",
                   "metrics.k8s.io/nodes", "metrics.k8s.io/pods"})


# Built-in kinds whose metadata goes through apimachinery's checks only (no kube finalizer-name rule).
_APIMACHINERY_META = frozenset({"coordination.k8s.io/leases"})


def validate(store: Any, res: ResourceType, obj: Obj, old: Obj | None, subresource: str | None) -> None:
    """Raise a 422 Invalid listing every problem, as the API server's strategy Validate would.

    old is None on create; subresource "status" validates only what a status write can change.
    """
    key = res.key
    if key in _SKIP:
        return
    e = _Errs()
    md = _d(obj.get("metadata"))
    if subresource == "status":
        status_fn = _STATUS_VALIDATORS.get(key)
        if status_fn is not None and old is not None:
            status_fn(e, obj, old)
    else:
        kube = not res.custom and key not in _APIMACHINERY_META
        if old is None:
            _validate_object_meta(e, md, res.namespaced, _NAME_FNS.get(key, name_is_dns_subdomain), kube)
        else:
            _validate_object_meta_update(e, md, _d(old.get("metadata")), kube)
            if key == "/pods":  # validatePodMetadataAndSpec re-runs the create-time metadata rules
                _validate_object_meta(e, md, True, name_is_dns_subdomain, True)
        spec_fn = _SPEC_VALIDATORS.get(key)
        if spec_fn is not None:
            spec_fn(e, store, obj, old)
    if e:
        _raise_invalid(res, str(md.get("name") or ""), e)


def install(store: Any) -> None:
    """Hook defaulting and validation into a Store's write path."""
    store.defaulters.append(default)
    store.admission.append(validate)
