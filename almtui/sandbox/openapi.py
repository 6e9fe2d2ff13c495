"""The OpenAPI documents kubectl needs, and the CRD objects of the custom kinds.

``kubectl create/replace/apply -f`` first asks whether the server validates fields itself: it reads
``/openapi/v3``, then the group-version document, and looks for a PATCH operation tagged with the
kind's ``x-kubernetes-group-version-kind`` that declares the ``fieldValidation`` query parameter
(cli-runtime ``query_param_verifier_v3.go``; Go map order means *every* PATCH of the kind must carry
it). With that it sends ``?fieldValidation=Strict`` and never validates client-side.

Schemas are deliberately permissive. PATCH bodies do not advertise
``application/strategic-merge-patch+json``: kubectl apply would then compute its patch from these
schemas (which carry no merge keys); without it, kubectl falls back to its compiled-in patch metadata
for built-in kinds and to a JSON merge patch for custom ones, exactly as against a real cluster.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from almtui.sandbox.resources import Registry, ResourceType

__all__ = ["crd_objects", "gv_path", "openapi_v2_document", "openapi_v3_document", "openapi_v3_index",
           "schema_name"]

_INFO = {"title": "Kubernetes", "version": "v1.33.0"}
_META = "io.k8s.apimachinery.pkg.apis.meta.v1"
_SCALE_GVK = {"group": "autoscaling", "version": "v1", "kind": "Scale"}
_EVICTION_GVK = {"group": "policy", "version": "v1", "kind": "Eviction"}

# Go package of the built-in groups, as their OpenAPI definition names spell it.
_PACKAGES = {
    "": "io.k8s.api.core",
    "apiextensions.k8s.io": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions",
    "metrics.k8s.io": "io.k8s.metrics.pkg.apis.metrics",
}


def gv_path(group: str, version: str) -> str:
    """The key of a group-version in ``/openapi/v3``: "api/v1", "apis/apps/v1"."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def schema_name(group: str, version: str, kind: str) -> str:
    """OpenAPI definition name: io.k8s.api.apps.v1.Deployment; reversed domain for CRDs (io.argoproj...)."""
    if group in _PACKAGES:
        pkg = _PACKAGES[group]
    elif group.endswith(".k8s.io") or "." not in group:
        pkg = "io.k8s.api." + group.split(".")[0]
    else:
        pkg = ".".join(reversed(group.split(".")))
    return f"{pkg}.{version}.{kind}"


def _gvk(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "version": version, "kind": kind}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


# --------------------------------------------------------------------------- parameters


def _param(name: str, where: str = "query", type_: str = "string", desc: str = "",
           required: bool = False) -> dict[str, Any]:
    p: dict[str, Any] = {"name": name, "in": where, "description": desc,
                         "schema": {"type": type_, "uniqueItems": True}}
    if required:
        p["required"] = True
    return p


_DESCRIPTIONS = {
    "pretty": "If 'true', then the output is pretty printed.",
    "dryRun": "When present, indicates that modifications should not be persisted. Valid values are: "
              "- All: all dry run stages will be processed",
    "fieldManager": "fieldManager is a name associated with the actor or entity that is making these "
                    "changes.",
    "fieldValidation": "fieldValidation instructs the server on how to handle objects in the request "
                       "(POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: "
                       "- Ignore: This will ignore any unknown fields that are silently dropped from the "
                       "object, and will ignore all but the last duplicate field that the decoder "
                       "encounters. - Warn: This will send a warning via the standard warning response "
                       "header for each unknown field that is dropped from the object, and for each "
                       "duplicate field that is encountered. - Strict: This will fail the request with a "
                       "BadRequest error if any unknown fields would be dropped from the object, or if any "
                       "duplicate fields are present.",
    "force": "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields "
             "owned by other people.",
    "allowWatchBookmarks": "allowWatchBookmarks requests watch events with type \"BOOKMARK\".",
    "continue": "The continue option should be set when retrieving more results from the server.",
    "fieldSelector": "A selector to restrict the list of returned objects by their fields.",
    "labelSelector": "A selector to restrict the list of returned objects by their labels.",
    "limit": "limit is a maximum number of responses to return for a list call.",
    "resourceVersion": "resourceVersion sets a constraint on what resource versions a request may be served "
                       "from.",
    "resourceVersionMatch": "resourceVersionMatch determines how resourceVersion is applied to list calls.",
    "sendInitialEvents": "`sendInitialEvents=true` may be set together with `watch=true`.",
    "timeoutSeconds": "Timeout for the list/watch call.",
    "watch": "Watch for changes to the described resources and return them as a stream of add, update, and "
             "remove notifications.",
    "gracePeriodSeconds": "The duration in seconds before the object should be deleted.",
    "orphanDependents": "Deprecated: please use the PropagationPolicy.",
    "propagationPolicy": "Whether and how garbage collection will be performed.",
}
_BOOLS = {"force", "allowWatchBookmarks", "sendInitialEvents", "watch", "orphanDependents", "follow",
          "previous", "timestamps"}
_INTS = {"limit", "timeoutSeconds", "gracePeriodSeconds", "sinceSeconds", "tailLines"}


def _q(name: str) -> dict[str, Any]:
    """A query parameter, typed and described as upstream declares it."""
    type_ = "boolean" if name in _BOOLS else "integer" if name in _INTS else "string"
    return _param(name, type_=type_, desc=_DESCRIPTIONS.get(name, ""))


_PRETTY, _DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION, _FORCE = (
    _q(n) for n in ("pretty", "dryRun", "fieldManager", "fieldValidation", "force"))
_LIST_PARAMS = [_q(n) for n in ("allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit",
                                "resourceVersion", "resourceVersionMatch", "sendInitialEvents",
                                "timeoutSeconds", "watch")]
_DELETE_PARAMS = [_q(n) for n in ("dryRun", "gracePeriodSeconds", "orphanDependents", "propagationPolicy")]


# --------------------------------------------------------------------------- operations


def _content(schema: dict, types: tuple[str, ...] = ("application/json", "application/yaml")) -> dict:
    return {t: {"schema": schema} for t in types}


def _operation(action: str, op_id: str, desc: str, gvk: dict, response: str, params: list | None = None,
               body: str | None = None, body_types: tuple[str, ...] = ("*/*",)) -> dict[str, Any]:
    op: dict[str, Any] = {"description": desc, "operationId": op_id}
    if params:
        op["parameters"] = list(params)
    if body is not None:
        op["requestBody"] = {"content": _content(_ref(body), body_types), "required": True}
    responses: dict[str, Any] = {"200": {"description": "OK", "content": _content(_ref(response))}}
    if action in ("post", "put"):
        responses["201"] = {"description": "Created", "content": _content(_ref(response))}
    if action in ("post", "delete"):
        responses["202"] = {"description": "Accepted", "content": _content(_ref(response))}
    responses["401"] = {"description": "Unauthorized"}
    op["responses"] = responses
    op["x-kubernetes-action"] = action
    op["x-kubernetes-group-version-kind"] = dict(gvk)
    return op


_PATCH_PARAMS = [_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION, _FORCE]
_BEARER = {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization",
           "in": "header"}
_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml")


def _id_prefix(group: str, version: str) -> str:
    """operationId infix: CoreV1, AppsV1, CoordinationV1, ArgoprojIoV1alpha1."""
    g = "core" if not group else group.removesuffix(".k8s.io")
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[.\-]", g)) + version[:1].upper() + version[1:]


def _item_ops(res: ResourceType, base: str, prefix: str, scope: str) -> dict[str, dict]:
    """The collection, item and subresource paths of one resource."""
    kind, gvk = res.kind, _gvk(res.group, res.version, res.kind)
    name = schema_name(res.group, res.version, kind)
    verbs = set(res.verbs)
    paths: dict[str, dict] = {}
    ns_param = [_param("namespace", "path", desc="object name and auth scope, such as for teams and projects",
                       required=True)] if res.namespaced else []
    name_param = [_param("name", "path", desc=f"name of the {kind}", required=True)]

    coll: dict[str, Any] = {}
    if "list" in verbs:
        coll["get"] = _operation("list", f"list{prefix}{scope}{kind}",
                                 f"list or watch objects of kind {kind}", gvk, name + "List", _LIST_PARAMS)
    if "create" in verbs:
        coll["post"] = _operation("post", f"create{prefix}{scope}{kind}", f"create a {kind}", gvk, name,
                                  [_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION], body=name)
    if "deletecollection" in verbs:
        coll["delete"] = _operation("deletecollection", f"delete{prefix}Collection{scope}{kind}",
                                    f"delete collection of {kind}", gvk,
                                    f"{_META}.Status", _LIST_PARAMS + _DELETE_PARAMS,
                                    body=f"{_META}.DeleteOptions")
    if coll:
        coll["parameters"] = [*ns_param, _PRETTY]
        paths[base] = coll

    item: dict[str, Any] = {}
    if "get" in verbs:
        item["get"] = _operation("get", f"read{prefix}{scope}{kind}", f"read the specified {kind}", gvk, name)
    if "update" in verbs:
        item["put"] = _operation("put", f"replace{prefix}{scope}{kind}", f"replace the specified {kind}", gvk,
                                 name, [_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION], body=name)
    if "patch" in verbs:
        item["patch"] = _operation("patch", f"patch{prefix}{scope}{kind}",
                                   f"partially update the specified {kind}", gvk, name, _PATCH_PARAMS,
                                   body=f"{_META}.Patch", body_types=_PATCH_TYPES)
    if "delete" in verbs:
        item["delete"] = _operation("delete", f"delete{prefix}{scope}{kind}", f"delete a {kind}", gvk,
                                    f"{_META}.Status", _DELETE_PARAMS, body=f"{_META}.DeleteOptions")
    if item:
        item["parameters"] = [*name_param, *ns_param, _PRETTY]
        paths[base + "/{name}"] = item

    for sub, sub_gvk, sub_schema in (("status", gvk, name),
                                     ("scale", _SCALE_GVK, schema_name("autoscaling", "v1", "Scale"))):
        if sub not in res.subresources:
            continue
        word = sub.capitalize()
        ops: dict[str, Any] = {}
        if "get" in verbs:
            ops["get"] = _operation("get", f"read{prefix}{scope}{kind}{word}", f"read {sub} of the specified "
                                    f"{kind}", sub_gvk, sub_schema)
        if "update" in verbs:
            ops["put"] = _operation("put", f"replace{prefix}{scope}{kind}{word}", f"replace {sub} of the "
                                    f"specified {kind}", sub_gvk, sub_schema,
                                    [_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION], body=sub_schema)
        if "patch" in verbs:
            ops["patch"] = _operation("patch", f"patch{prefix}{scope}{kind}{word}", f"partially update {sub} "
                                      f"of the specified {kind}", sub_gvk, sub_schema,
                                      _PATCH_PARAMS, body=f"{_META}.Patch", body_types=_PATCH_TYPES)
        if ops:
            ops["parameters"] = [*name_param, *ns_param, _PRETTY]
            paths[f"{base}/{{name}}/{sub}"] = ops
    if "log" in res.subresources:
        paths[base + "/{name}/log"] = {
            "get": _operation("get", f"read{prefix}{scope}{kind}Log", f"read log of the specified {kind}",
                              gvk, "string", [_q(n) for n in ("container", "follow", "previous",
                                                              "sinceSeconds", "tailLines", "timestamps")]),
            "parameters": [*name_param, *ns_param, _PRETTY]}
    if "eviction" in res.subresources:
        ev = schema_name("policy", "v1", "Eviction")
        paths[base + "/{name}/eviction"] = {
            "post": _operation("post", f"create{prefix}{scope}{kind}Eviction", f"create eviction of a {kind}",
                               _EVICTION_GVK, ev, [_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION], body=ev),
            "parameters": [*name_param, *ns_param, _PRETTY]}
    return paths


def _resource_paths(res: ResourceType) -> dict[str, dict]:
    root = f"/{gv_path(res.group, res.version)}"
    prefix = _id_prefix(res.group, res.version)
    if not res.namespaced:
        return _item_ops(res, f"{root}/{res.plural}", prefix, "")
    paths = _item_ops(res, f"{root}/namespaces/{{namespace}}/{res.plural}", prefix, "Namespaced")
    if "list" in res.verbs:
        gvk = _gvk(res.group, res.version, res.kind)
        name = schema_name(res.group, res.version, res.kind) + "List"
        paths[f"{root}/{res.plural}"] = {
            "get": _operation("list", f"list{prefix}{res.kind}ForAllNamespaces",
                              f"list or watch objects of kind {res.kind}", gvk, name, _LIST_PARAMS),
            "parameters": [_PRETTY]}
    return paths


# --------------------------------------------------------------------------- schemas


def _object_schema(desc: str, gvk: dict | None, props: dict[str, Any]) -> dict[str, Any]:
    s: dict[str, Any] = {"description": desc, "type": "object", "properties": props,
                         "x-kubernetes-preserve-unknown-fields": True}
    if gvk is not None:
        s["x-kubernetes-group-version-kind"] = [dict(gvk)]
    return s


def _kind_props(ref_prefix: str) -> dict[str, Any]:
    return {
        "apiVersion": {"description": "APIVersion defines the versioned schema of this representation of an "
                                      "object.", "type": "string"},
        "kind": {"description": "Kind is a string value representing the REST resource this object "
                                "represents.", "type": "string"},
        "metadata": {"description": "Standard object's metadata.", "default": {},
                     "allOf": [{"$ref": f"{ref_prefix}{_META}.ObjectMeta"}]},
    }


def _kind_schemas(group: str, version: str, kind: str, ref_prefix: str) -> dict[str, dict]:
    """The schema of a kind and of its list, permissive (unknown fields are kept)."""
    name = schema_name(group, version, kind)
    gvk = _gvk(group, version, kind)
    props = _kind_props(ref_prefix)
    props["spec"] = {"description": f"Desired state of the {kind}.", "type": "object",
                     "x-kubernetes-preserve-unknown-fields": True}
    props["status"] = {"description": f"Most recently observed status of the {kind}.", "type": "object",
                       "x-kubernetes-preserve-unknown-fields": True}
    list_props = _kind_props(ref_prefix)
    list_props["metadata"] = {"description": "Standard list metadata.", "default": {},
                              "allOf": [{"$ref": f"{ref_prefix}{_META}.ListMeta"}]}
    list_props["items"] = {"description": f"List of {kind} objects.", "type": "array",
                           "items": {"default": {}, "allOf": [{"$ref": f"{ref_prefix}{name}"}]}}
    return {
        name: _object_schema(f"{kind} ({group or 'core'}/{version}).", gvk, props),
        name + "List": {**_object_schema(f"{kind}List is a list of {kind} objects.",
                                         _gvk(group, version, kind + "List"), list_props),
                        "required": ["items"]},
    }


def _meta_schemas(ref_prefix: str) -> dict[str, dict]:
    def obj(desc: str, props: dict[str, Any] | None = None, gvk: list | None = None) -> dict[str, Any]:
        s: dict[str, Any] = {"description": desc, "type": "object", "properties": props or {},
                             "x-kubernetes-preserve-unknown-fields": True}
        if gvk:
            s["x-kubernetes-group-version-kind"] = gvk
        return s

    string, strmap = {"type": "string"}, {"type": "object", "additionalProperties": {"type": "string"}}
    return {
        f"{_META}.ObjectMeta": obj("ObjectMeta is metadata that all persisted resources must have.", {
            "name": string, "namespace": string, "generateName": string, "uid": string,
            "resourceVersion": string, "generation": {"type": "integer", "format": "int64"},
            "creationTimestamp": {"type": "string", "format": "date-time"},
            "deletionTimestamp": {"type": "string", "format": "date-time"},
            "labels": strmap, "annotations": strmap, "finalizers": {"type": "array", "items": string},
            "ownerReferences": {"type": "array", "items": {"type": "object",
                                                           "x-kubernetes-preserve-unknown-fields": True}},
        }),
        f"{_META}.ListMeta": obj("ListMeta describes metadata that synthetic resources must have.", {
            "resourceVersion": string, "continue": string,
            "remainingItemCount": {"type": "integer", "format": "int64"}}),
        f"{_META}.Status": obj("Status is a return value for calls that don't return other objects.", {
            "status": string, "message": string, "reason": string, "code": {"type": "integer"},
            "details": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            [_gvk("", "v1", "Status")]),
        f"{_META}.DeleteOptions": obj("DeleteOptions may be provided when deleting an API object.", {
            "dryRun": {"type": "array", "items": string}, "gracePeriodSeconds": {"type": "integer"},
            "propagationPolicy": string, "orphanDependents": {"type": "boolean"}}),
        f"{_META}.Patch": obj("Patch is provided to give a concrete name and type to the Kubernetes PATCH "
                              "request body."),
        schema_name("autoscaling", "v1", "Scale"): _object_schema(
            "Scale represents a scaling request for a resource.", _SCALE_GVK,
            {**_kind_props(ref_prefix),
             "spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}},
             "status": {"type": "object", "properties": {"replicas": {"type": "integer"},
                                                         "selector": string}}}),
        schema_name("policy", "v1", "Eviction"): _object_schema(
            "Eviction evicts a pod from its node subject to certain policies and safety constraints.",
            _EVICTION_GVK, {**_kind_props(ref_prefix), "deleteOptions": {"type": "object"}}),
        "string": {"type": "string"},
    }


# --------------------------------------------------------------------------- documents


def _group_versions(registry: Registry) -> list[tuple[str, str]]:
    return [(g, v) for g, versions in registry.groups().items() for v in versions]


def openapi_v3_document(registry: Registry, gv_path_: str) -> dict | None:
    """The OpenAPI 3.0 document of one group-version ("api/v1", "apis/apps/v1"), or None if unknown."""
    path = gv_path_.strip("/").split("?", 1)[0]
    parts = path.split("/")
    if len(parts) == 2 and parts[0] == "api":
        group, version = "", parts[1]
    elif len(parts) == 3 and parts[0] == "apis":
        group, version = parts[1], parts[2]
    else:
        return None
    resources = registry.in_group_version(group, version)
    if not resources:
        return None
    ref = "#/components/schemas/"
    paths: dict[str, dict] = {}
    schemas = _meta_schemas(ref)
    for res in resources:
        paths.update(_resource_paths(res))
        schemas.update(_kind_schemas(res.group, res.version, res.kind, ref))
    return {
        "openapi": "3.0.0",
        "info": dict(_INFO),
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {"BearerToken": dict(_BEARER)},
        },
        "security": [{"BearerToken": []}],
    }


def _digest(doc: dict) -> str:
    """A stable hex digest of the document (upstream: SHA-512 of its JSON, upper-case hex)."""
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha512(raw).hexdigest().upper()


def openapi_v3_index(registry: Registry) -> dict:
    """``/openapi/v3``: every group-version's document, with a content hash in its URL."""
    paths: dict[str, dict[str, str]] = {}
    for group, version in _group_versions(registry):
        key = gv_path(group, version)
        doc = openapi_v3_document(registry, key)
        if doc is not None:
            paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={_digest(doc)}"}
    return {"paths": paths}


def openapi_v2_document(registry: Registry) -> dict:
    """A minimal Swagger 2.0 document: one definition per kind, tagged with its GVK.

    It has no paths on purpose: kubectl apply asks v2 which patch types a kind consumes, and finding
    none it uses its compiled-in strategic-merge metadata (built-in kinds) or a merge patch (CRDs).
    kubectl only reads v2 as protobuf; serve this JSON to clients that accept application/json.
    """
    ref = "#/definitions/"
    definitions = _meta_schemas(ref)
    for res in registry.resources:
        definitions.update(_kind_schemas(res.group, res.version, res.kind, ref))
    return {"swagger": "2.0", "info": dict(_INFO), "paths": {},
            "definitions": dict(sorted(definitions.items())),
            "securityDefinitions": {"BearerToken": dict(_BEARER)},
            "security": [{"BearerToken": []}]}


# --------------------------------------------------------------------------- CustomResourceDefinitions


def _crd_names(res: ResourceType) -> dict[str, Any]:
    names: dict[str, Any] = {"plural": res.plural, "singular": res.singular, "kind": res.kind,
                             "listKind": res.kind + "List"}
    if res.short_names:
        names["shortNames"] = list(res.short_names)
    if res.categories:
        names["categories"] = list(res.categories)
    return names


def _crd_subresources(res: ResourceType) -> dict[str, Any]:
    subs: dict[str, Any] = {}
    if "status" in res.subresources:
        subs["status"] = {}
    if "scale" in res.subresources:
        status_path = ".status.HPAReplicas" if res.kind == "Rollout" else ".status.replicas"
        subs["scale"] = {"specReplicasPath": ".spec.replicas", "statusReplicasPath": status_path,
                         "labelSelectorPath": ".status.selector"}
    return subs


def crd_objects(registry: Registry, now_ts: str) -> list[dict]:
    """apiextensions.k8s.io/v1 CustomResourceDefinitions for every custom resource type.

    Established and NamesAccepted, so ``kubectl get crd`` lists them and kubectl's CRD finder knows the
    kinds. uid and resourceVersion are left to the store.
    """
    out: list[dict] = []
    for res in registry.resources:
        if not res.custom:
            continue
        names = _crd_names(res)
        version: dict[str, Any] = {
            "name": res.version, "served": True, "storage": True,
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
        }
        subs = _crd_subresources(res)
        if subs:
            version["subresources"] = subs
        if res.printer_columns:
            version["additionalPrinterColumns"] = [dict(c) for c in res.printer_columns]
        conditions = [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now_ts, "reason": "NoConflicts",
             "message": "no conflicts found"},
            {"type": "Established", "status": "True", "lastTransitionTime": now_ts,
             "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"},
        ]
        out.append({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{res.plural}.{res.group}", "creationTimestamp": now_ts, "generation": 1},
            "spec": {"group": res.group, "names": names,
                     "scope": "Namespaced" if res.namespaced else "Cluster",
                     "versions": [version], "conversion": {"strategy": "None"}},
            "status": {"conditions": conditions, "acceptedNames": dict(names),
                       "storedVersions": [res.version]},
        })
    return out
