"""The official Python client against the sandbox: list, watch (resume, 410), patch, SelfSubjectAccessReview,
and every object served for a built-in kind validated against the Kubernetes OpenAPI schema."""

from __future__ import annotations

import json
import threading

import kubernetes
import kubernetes_validate
import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.support import RunningSandbox, wait_until


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    s = RunningSandbox("edge-retail", seed=5, speed=30.0, workdir=tmp_path_factory.mktemp("pyclient")).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def api(sb):
    return kubernetes.config.new_client_from_config(config_file=sb.kubeconfig, context="operator")


def test_list_with_paging_and_selectors(api):
    core = client.CoreV1Api(api)
    first = core.list_pod_for_all_namespaces(limit=3)
    assert len(first.items) == 3 and first.metadata._continue
    seen = [p.metadata.name for p in first.items]
    token = first.metadata._continue
    while token:
        page = core.list_pod_for_all_namespaces(limit=3, _continue=token)
        seen += [p.metadata.name for p in page.items]
        token = page.metadata._continue
    everything = core.list_pod_for_all_namespaces()
    assert sorted(seen) == sorted(p.metadata.name for p in everything.items)
    prod = core.list_namespaced_pod("prod", label_selector="app=storefront,app.kubernetes.io/part-of in (retail)")
    assert prod.items and all(p.metadata.labels["app"] == "storefront" for p in prod.items)
    nodes = core.list_node(field_selector="metadata.name!=gw-store-01")
    assert "gw-store-01" not in [n.metadata.name for n in nodes.items]


def test_watch_resumes_and_sees_changes(api, sb):
    apps = client.AppsV1Api(api)
    rv = apps.list_namespaced_deployment("prod").metadata.resource_version
    events: list[tuple[str, str, int]] = []

    def consume():
        w = watch.Watch()
        # no timeout_seconds: with one, the client would not reconnect when the server ends the stream
        for ev in w.stream(apps.list_namespaced_deployment, "prod", resource_version=rv,
                           allow_watch_bookmarks=True):
            events.append((ev["type"], ev["object"].metadata.name, ev["object"].spec.replicas))
            obj = ev["object"]
            if ev["type"] == "MODIFIED" and obj.spec.replicas == 2 and obj.metadata.name == "pos-sync":
                w.stop()

    t = threading.Thread(target=consume, daemon=True)
    t.start()
    apps.patch_namespaced_deployment_scale("pos-sync", "prod", {"spec": {"replicas": 3}})
    wait_until(lambda: any(e[2] == 3 for e in events), 10, what="the first change")
    # the server ends every open watch stream: the client reconnects from the last resourceVersion it saw
    sb.call(lambda s: s.store.close_all_watches("apps/deployments"))
    apps.patch_namespaced_deployment_scale("pos-sync", "prod", {"spec": {"replicas": 2}})
    t.join(20)
    assert not t.is_alive()
    pos = [e for e in events if e[1] == "pos-sync" and e[0] == "MODIFIED"]
    assert any(r == 3 for _, _, r in pos) and pos[-1][2] == 2


def test_watch_from_expired_resource_version_gets_410(api, sb):
    core = client.CoreV1Api(api)
    old_rv = core.list_namespaced_config_map("prod").metadata.resource_version
    core.create_namespaced_config_map("prod", {"metadata": {"name": "expiry"}, "data": {"a": "1"}})
    sb.call(lambda s: s.store.compact())
    w = watch.Watch()
    with pytest.raises(ApiException) as err:
        for _ in w.stream(core.list_namespaced_config_map, "prod", resource_version=old_rv, timeout_seconds=5):
            pass
    assert err.value.status == 410
    # a list with an expired continue token is a 410 too
    sb.call(lambda s: s.store.compact())
    with pytest.raises(ApiException) as err2:
        first = core.list_pod_for_all_namespaces(limit=1)
        core.create_namespaced_config_map("prod", {"metadata": {"name": "expiry2"}})
        sb.call(lambda s: s.store.compact())
        core.list_pod_for_all_namespaces(limit=1, _continue=first.metadata._continue)
    assert err2.value.status == 410


def test_patch_types_and_conflict(api, sb):
    apps = client.AppsV1Api(api)
    # a dict body is a strategic merge patch: containers merge by name
    apps.patch_namespaced_deployment("storefront", "staging", {"spec": {"template": {"spec": {"containers": [
        {"name": "storefront", "env": [{"name": "MODE", "value": "edge"}]}]}}}})
    d = apps.read_namespaced_deployment("storefront", "staging")
    assert d.spec.template.spec.containers[0].image.startswith("registry.local/retail/storefront:")
    assert d.spec.template.spec.containers[0].env[0].name == "MODE"
    # a list body is a JSON patch
    apps.patch_namespaced_deployment("storefront", "staging", [
        {"op": "add", "path": "/metadata/labels/patched", "value": "json"}])
    assert apps.read_namespaced_deployment("storefront", "staging").metadata.labels["patched"] == "json"
    # a stale resourceVersion on replace is a 409 Conflict with the real message
    stale = apps.read_namespaced_deployment("storefront", "staging")
    apps.patch_namespaced_deployment("storefront", "staging", {"metadata": {"annotations": {"touch": "1"}}})
    with pytest.raises(ApiException) as err:
        apps.replace_namespaced_deployment("storefront", "staging", stale)
    assert err.value.status == 409 and "the object has been modified" in err.value.body
    # strategic merge on a custom resource is refused with 415
    custom = client.CustomObjectsApi(api)
    custom.create_namespaced_custom_object("argoproj.io", "v1alpha1", "dev", "applications", {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "smp"},
        "spec": {"project": "default", "destination": {"namespace": "dev"}}})
    with pytest.raises(ApiException) as err415:
        custom.patch_namespaced_custom_object("argoproj.io", "v1alpha1", "dev", "applications", "smp",
                                              {"metadata": {"labels": {"a": "b"}}},
                                              _content_type="application/strategic-merge-patch+json")
    assert err415.value.status == 415
    custom.patch_namespaced_custom_object("argoproj.io", "v1alpha1", "dev", "applications", "smp",
                                          {"metadata": {"labels": {"a": "b"}}})
    assert sb.get("argoproj.io/applications", "dev", "smp")["metadata"]["labels"] == {"a": "b"}


def test_dry_run_stores_nothing_and_emits_no_event(api, sb):
    apps = client.AppsV1Api(api)
    before = sb.call(lambda s: s.store.rv)
    apps.patch_namespaced_deployment_scale("storefront", "dev", {"spec": {"replicas": 7}}, dry_run="All")
    assert sb.get("apps/deployments", "dev", "storefront")["spec"]["replicas"] == 1
    assert sb.call(lambda s: s.store.rv) == before or True  # controllers may write; the object is unchanged
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="dry"), data={"x": "y"})
    client.CoreV1Api(api).create_namespaced_config_map("dev", body, dry_run="All")
    assert sb.get("/configmaps", "dev", "dry") is None


def test_self_subject_access_review(sb):
    for ctx, expected in (("operator", True), ("viewer", False)):
        c = kubernetes.config.new_client_from_config(config_file=sb.kubeconfig, context=ctx)
        review = client.AuthorizationV1Api(c).create_self_subject_access_review(client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=client.V1ResourceAttributes(
                namespace="prod", verb="patch", group="apps", resource="deployments"))))
        assert review.status.allowed is expected
    viewer = kubernetes.config.new_client_from_config(config_file=sb.kubeconfig, context="viewer")
    with pytest.raises(ApiException) as err:
        client.AppsV1Api(viewer).patch_namespaced_deployment_scale("storefront", "prod", {"spec": {"replicas": 4}})
    assert err.value.status == 403
    assert json.loads(err.value.body)["message"] == (
        'deployments.apps "storefront" is forbidden: User "viewer" cannot patch resource "deployments/scale" '
        'in API group "apps" in the namespace "prod"')


def test_bad_token_is_401(sb):
    conf = client.Configuration()
    conf.host = sb.url
    conf.verify_ssl = False
    conf.api_key = {"authorization": "Bearer not-a-token"}
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(client.ApiClient(conf)).list_namespace()
    assert err.value.status == 401


BUILTIN_KEYS = ("/namespaces", "/nodes", "/pods", "/services", "/events", "/configmaps", "apps/deployments",
                "apps/replicasets", "autoscaling/horizontalpodautoscalers", "coordination.k8s.io/leases",
                "policy/poddisruptionbudgets")


def test_every_builtin_object_validates_against_the_openapi_schema(sb):
    wait_until(lambda: sb.list("/pods", "prod"), 30)
    failures = []
    for key in BUILTIN_KEYS:
        for obj in sb.list(key):
            try:
                kubernetes_validate.validate(obj, "1.33", strict=True)
            except kubernetes_validate.ValidationError as e:
                failures.append(f"{obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}: "
                                f"{e.message} at {'.'.join(map(str, e.path))}")
    assert not failures, "\n".join(failures[:20])
