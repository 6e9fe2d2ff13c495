"""The OpenAPI documents kubectl reads before create/replace/apply, and the CRD objects."""

from __future__ import annotations

import json

import pytest

from almtui.sandbox.openapi import (
    crd_objects,
    gv_path,
    openapi_v2_document,
    openapi_v3_document,
    openapi_v3_index,
    schema_name,
)
from almtui.sandbox.resources import REGISTRY, ResourceType

GROUP_VERSIONS = [(g, v) for g, vs in REGISTRY.groups().items() for v in vs]
METHODS = ("get", "put", "post", "delete", "patch")
ACTIONS = ("get", "list", "post", "put", "patch", "delete", "deletecollection")


def doc_for(group: str, version: str) -> dict:
    doc = openapi_v3_document(REGISTRY, gv_path(group, version))
    assert doc is not None
    return doc


def operations(doc: dict):
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def gvk(res: ResourceType) -> dict[str, str]:
    return {"group": res.group, "version": res.version, "kind": res.kind}


def query_params(op: dict) -> set[str]:
    return {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}


def test_index_lists_every_group_version_with_a_hash() -> None:
    index = openapi_v3_index(REGISTRY)
    want = {gv_path(g, v) for g, v in GROUP_VERSIONS}
    assert set(index["paths"]) == want
    assert {"api/v1", "apis/apps/v1", "apis/argoproj.io/v1alpha1", "apis/tekton.dev/v1"} <= want
    for key, entry in index["paths"].items():
        url = entry["serverRelativeURL"]
        prefix, _, digest = url.partition("?hash=")
        assert prefix == f"/openapi/v3/{key}"
        assert len(digest) == 128 and all(c in "0123456789ABCDEF" for c in digest)
    assert openapi_v3_index(REGISTRY) == index  # stable across calls


@pytest.mark.parametrize("path", ["apis/nope/v1", "api/v2", "bogus", "apis/apps", ""])
def test_unknown_group_version_has_no_document(path: str) -> None:
    assert openapi_v3_document(REGISTRY, path) is None


def test_document_accepts_leading_slash_and_hash_query() -> None:
    assert openapi_v3_document(REGISTRY, "/apis/apps/v1?hash=ABC") == doc_for("apps", "v1")


@pytest.mark.parametrize(("group", "version"), GROUP_VERSIONS)
def test_document_shape(group: str, version: str) -> None:
    doc = doc_for(group, version)
    json.dumps(doc)  # plain JSON
    assert doc["openapi"].startswith("3.")
    schemas = doc["components"]["schemas"]
    for _path, _method, op in operations(doc):
        assert op["x-kubernetes-action"] in ACTIONS
        assert set(op["x-kubernetes-group-version-kind"]) == {"group", "version", "kind"}
        assert "200" in op["responses"]
    # every $ref resolves inside the document
    refs = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.add(node["$ref"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    for ref in refs:
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref


@pytest.mark.parametrize("res", [r for r in REGISTRY.resources if "patch" in r.verbs], ids=lambda r: r.key)
def test_every_patchable_kind_declares_field_validation(res: ResourceType) -> None:
    """QueryParamVerifierV3 decides on the first PATCH of the GVK in Go map order: every one must say yes."""
    doc = doc_for(res.group, res.version)
    patches = [op for _p, m, op in operations(doc) if m == "patch" and op["x-kubernetes-group-version-kind"]
               == gvk(res)]
    assert patches
    for op in patches:
        assert "fieldValidation" in query_params(op)
        assert "application/strategic-merge-patch+json" not in op["requestBody"]["content"]
        assert "application/merge-patch+json" in op["requestBody"]["content"]


def test_every_write_operation_declares_field_validation() -> None:
    for g, v in GROUP_VERSIONS:
        for path, method, op in operations(doc_for(g, v)):
            if method in ("post", "put", "patch"):
                assert "fieldValidation" in query_params(op), (path, method)


def test_deployment_paths_and_operations() -> None:
    paths = doc_for("apps", "v1")["paths"]
    item = paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    assert set(item) == {"get", "put", "patch", "delete", "parameters"}
    assert item["patch"]["operationId"] == "patchAppsV1NamespacedDeployment"
    assert {p["name"] for p in item["parameters"]} == {"name", "namespace", "pretty"}
    coll = paths["/apis/apps/v1/namespaces/{namespace}/deployments"]
    assert (coll["get"]["x-kubernetes-action"], coll["post"]["x-kubernetes-action"],
            coll["delete"]["x-kubernetes-action"]) == ("list", "post", "deletecollection")
    assert "labelSelector" in query_params(coll["get"])
    assert paths["/apis/apps/v1/deployments"]["get"]["operationId"] == "listAppsV1DeploymentForAllNamespaces"
    scale = paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"]
    assert scale["x-kubernetes-group-version-kind"] == {"group": "autoscaling", "version": "v1",
                                                        "kind": "Scale"}
    status = paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status"]["patch"]
    assert status["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1",
                                                         "kind": "Deployment"}


def test_verbs_limit_operations() -> None:
    core = doc_for("", "v1")["paths"]
    assert set(core["/api/v1/nodes/{name}"]) >= {"get", "patch"}
    assert "delete" not in core["/api/v1/namespaces"]  # namespaces have no deletecollection
    ssar = doc_for("authorization.k8s.io", "v1")["paths"]
    assert list(ssar) == ["/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"]
    assert set(ssar["/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"]) == {"post", "parameters"}
    crd_item = doc_for("apiextensions.k8s.io", "v1")["paths"][
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"]
    assert set(crd_item) == {"get", "parameters"}


def test_custom_resource_paths() -> None:
    paths = doc_for("argoproj.io", "v1alpha1")["paths"]
    patch = paths["/apis/argoproj.io/v1alpha1/namespaces/{namespace}/rollouts/{name}"]["patch"]
    assert patch["operationId"] == "patchArgoprojIoV1alpha1NamespacedRollout"
    assert "/apis/argoproj.io/v1alpha1/namespaces/{namespace}/rollouts/{name}/scale" in paths
    assert "/apis/argoproj.io/v1alpha1/namespaces/{namespace}/applications/{name}/status" not in paths


@pytest.mark.parametrize("res", REGISTRY.resources, ids=lambda r: r.key)
def test_component_schema_per_kind(res: ResourceType) -> None:
    schemas = doc_for(res.group, res.version)["components"]["schemas"]
    schema = schemas[schema_name(res.group, res.version, res.kind)]
    assert schema["type"] == "object"
    assert schema["x-kubernetes-group-version-kind"] == [gvk(res)]
    assert {"apiVersion", "kind", "metadata", "spec", "status"} <= set(schema["properties"])
    listed = schemas[schema_name(res.group, res.version, res.kind + "List")]
    assert listed["properties"]["items"]["type"] == "array"


@pytest.mark.parametrize(("group", "version", "kind", "want"), [
    ("", "v1", "Pod", "io.k8s.api.core.v1.Pod"),
    ("apps", "v1", "Deployment", "io.k8s.api.apps.v1.Deployment"),
    ("coordination.k8s.io", "v1", "Lease", "io.k8s.api.coordination.v1.Lease"),
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition",
     "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"),
    ("argoproj.io", "v1alpha1", "Rollout", "io.argoproj.v1alpha1.Rollout"),
    ("tekton.dev", "v1", "PipelineRun", "dev.tekton.v1.PipelineRun"),
])
def test_schema_names(group: str, version: str, kind: str, want: str) -> None:
    assert schema_name(group, version, kind) == want


def test_v2_document() -> None:
    doc = openapi_v2_document(REGISTRY)
    json.dumps(doc)
    assert doc["swagger"] == "2.0" and doc["paths"] == {}
    for res in REGISTRY.resources:
        d = doc["definitions"][schema_name(res.group, res.version, res.kind)]
        assert d["x-kubernetes-group-version-kind"] == [gvk(res)]
        assert d["properties"]["metadata"]["allOf"][0]["$ref"].startswith("#/definitions/")


def test_crd_objects() -> None:
    crds = {c["metadata"]["name"]: c for c in crd_objects(REGISTRY, "2026-05-01T12:00:00Z")}
    custom = [r for r in REGISTRY.resources if r.custom]
    assert set(crds) == {f"{r.plural}.{r.group}" for r in custom}
    for res in custom:
        crd = crds[f"{res.plural}.{res.group}"]
        assert crd["apiVersion"] == "apiextensions.k8s.io/v1" and crd["kind"] == "CustomResourceDefinition"
        spec = crd["spec"]
        assert spec["group"] == res.group and spec["scope"] == "Namespaced"
        assert spec["names"]["kind"] == res.kind and spec["names"]["plural"] == res.plural
        assert spec["names"]["singular"] == res.singular
        assert spec["names"].get("shortNames", []) == list(res.short_names)
        assert spec["names"].get("categories", []) == list(res.categories)
        (version,) = spec["versions"]
        assert version["name"] == res.version and version["served"] and version["storage"]
        assert version["schema"]["openAPIV3Schema"]["x-kubernetes-preserve-unknown-fields"] is True
        assert version.get("additionalPrinterColumns", []) == [dict(c) for c in res.printer_columns]
        assert ("status" in version.get("subresources", {})) == ("status" in res.subresources)
        conds = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conds == {"NamesAccepted": "True", "Established": "True"}
        assert crd["status"]["acceptedNames"] == spec["names"]
        assert crd["status"]["storedVersions"] == [res.version]
    rollout = crds["rollouts.argoproj.io"]["spec"]["versions"][0]["subresources"]["scale"]
    assert rollout == {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.HPAReplicas",
                       "labelSelectorPath": ".status.selector"}
    assert "additionalPrinterColumns" not in crds["pipelines.tekton.dev"]["spec"]["versions"][0]
