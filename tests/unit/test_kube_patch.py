"""Merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch (apimachinery strategicpatch)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from almtui.kube.patch import (
    SCHEMA,
    SMP_KINDS,
    PatchError,
    UnsupportedPatchError,
    json_merge_patch,
    json_patch,
    strategic_merge_patch,
)

# --------------------------------------------------------------------------- RFC 7386


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [  # RFC 7386 appendix A
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_rfc_examples(target: Any, patch: Any, result: Any) -> None:
    assert json_merge_patch(target, patch) == result


def test_merge_patch_does_not_mutate() -> None:
    target = {"spec": {"replicas": 1, "template": {"labels": {"a": "b"}}}}
    patch = {"spec": {"replicas": 3, "template": {"labels": {"a": None, "c": "d"}}}}
    snapshot_t, snapshot_p = copy.deepcopy(target), copy.deepcopy(patch)
    out = json_merge_patch(target, patch)
    assert out == {"spec": {"replicas": 3, "template": {"labels": {"c": "d"}}}}
    assert target == snapshot_t and patch == snapshot_p
    out["spec"]["template"]["labels"]["x"] = "y"
    assert target == snapshot_t and patch == snapshot_p


def test_merge_patch_kubectl_scale_and_argo_promote() -> None:
    dep = {"spec": {"replicas": 1, "paused": True}, "status": {"pauseConditions": [{"reason": "x"}]}}
    assert json_merge_patch(dep, {"spec": {"replicas": 3}})["spec"] == {"replicas": 3, "paused": True}
    promoted = json_merge_patch(dep, {"status": {"pauseConditions": None, "currentStepIndex": 2}})
    assert promoted["status"] == {"currentStepIndex": 2}


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=2), children, max_size=3)
    ),
    max_leaves=12,
)
_objects = st.dictionaries(st.text(max_size=2), _json, max_size=4)


def _without_nulls(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _without_nulls(x) for k, x in v.items() if x is not None}
    return v


@given(_objects)
def test_merge_patch_empty_is_identity(target: dict[str, Any]) -> None:
    assert json_merge_patch(target, {}) == target


@given(_objects, _objects)
def test_merge_patch_is_idempotent(target: dict[str, Any], patch: dict[str, Any]) -> None:
    once = json_merge_patch(target, patch)
    assert json_merge_patch(once, patch) == once


@given(_objects)
def test_merge_patch_with_itself_strips_nulls(doc: dict[str, Any]) -> None:
    assert json_merge_patch({}, doc) == _without_nulls(doc)


# --------------------------------------------------------------------------- RFC 6902


@pytest.mark.parametrize(
    ("doc", "ops", "result"),
    [  # RFC 6902 appendix A, plus JSON pointer escapes
        ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}], {"foo": "bar", "baz": "qux"}),
        (
            {"foo": ["bar", "baz"]},
            [{"op": "add", "path": "/foo/1", "value": "qux"}],
            {"foo": ["bar", "qux", "baz"]},
        ),
        ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
        ({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}], {"foo": ["bar", "baz"]}),
        (
            {"baz": "qux", "foo": "bar"},
            [{"op": "replace", "path": "/baz", "value": "boo"}],
            {"baz": "boo", "foo": "bar"},
        ),
        (
            {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
            [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
            {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
        ),
        (
            {"foo": ["all", "grass", "cows", "eat"]},
            [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
            {"foo": ["all", "cows", "eat", "grass"]},
        ),
        (
            {"baz": "qux", "foo": ["a", 2, "c"]},
            [{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}],
            {"baz": "qux", "foo": ["a", 2, "c"]},
        ),
        (
            {"foo": "bar"},
            [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
            {"foo": "bar", "child": {"grandchild": {}}},
        ),
        (
            {"foo": ["bar"]},
            [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
            {"foo": ["bar", ["abc", "def"]]},
        ),
        ({"foo": None}, [{"op": "test", "path": "/foo", "value": None}], {"foo": None}),
        (
            {"a": {"b~c": 1, "d/e": 2}},
            [{"op": "replace", "path": "/a/b~0c", "value": 3}, {"op": "remove", "path": "/a/d~1e"}],
            {"a": {"b~c": 3}},
        ),
        ({"a": 1}, [{"op": "copy", "from": "/a", "path": "/b"}], {"a": 1, "b": 1}),
        ({"a": 1}, [{"op": "replace", "path": "", "value": [1]}], [1]),
        ({"a": 1}, [{"op": "add", "path": "/a", "value": None}], {"a": None}),
        ({"a": [1]}, [{"op": "add", "path": "/a/1", "value": 2}], {"a": [1, 2]}),
        ({"a": {"b": 1}}, [{"op": "move", "from": "/a", "path": "/a"}], {"a": {"b": 1}}),
        ({"n": 1}, [{"op": "test", "path": "/n", "value": 1.0}], {"n": 1}),
    ],
)
def test_json_patch(doc: Any, ops: list[dict[str, Any]], result: Any) -> None:
    assert json_patch(doc, ops) == result


@pytest.mark.parametrize(
    ("doc", "ops", "message"),
    [
        ({"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}], "doc is missing path"),
        ({"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}], 'testing value "/baz" failed'),
        ({"a": True}, [{"op": "test", "path": "/a", "value": 1}], "testing value"),
        ({"foo": ["bar"]}, [{"op": "add", "path": "/foo/2", "value": "x"}], "out of bounds"),
        ({"foo": ["bar"]}, [{"op": "replace", "path": "/foo/1", "value": "x"}], "out of bounds"),
        ({"foo": ["bar"]}, [{"op": "remove", "path": "/foo/-"}], "invalid array index"),
        ({"foo": ["bar"]}, [{"op": "remove", "path": "/foo/01"}], "invalid array index"),
        ({"foo": 1}, [{"op": "remove", "path": "/bar"}], "doc is missing key"),
        ({"foo": 1}, [{"op": "move", "from": "/bar", "path": "/baz"}], "doc is missing path"),
        ({"a": {"b": 1}}, [{"op": "move", "from": "/a", "path": "/a/b/c"}], "is a prefix of"),
        ({}, [{"op": "add", "path": "/a"}], 'missing "value"'),
        ({}, [{"op": "copy", "path": "/a"}], 'missing "from"'),
        ({}, [{"op": "frob", "path": "/a"}], "Unexpected kind: frob"),
        ({}, [{"op": "add", "path": "a", "value": 1}], 'must start with "/"'),
        ({"a": 1}, [{"op": "remove", "path": "/a~2"}], "bad escape"),
        ({}, {"op": "add"}, "must be a list"),
    ],
)
def test_json_patch_errors(doc: Any, ops: Any, message: str) -> None:
    with pytest.raises(PatchError, match=message.replace("(", r"\(")):
        json_patch(doc, ops)


def test_json_patch_is_atomic_and_does_not_mutate() -> None:
    doc = {"spec": {"status": ""}, "items": [1, 2]}
    ops = [
        {"op": "replace", "path": "/spec/status", "value": "Cancelled"},
        {"op": "test", "path": "/items/0", "value": 99},
    ]
    with pytest.raises(PatchError):
        json_patch(doc, ops)
    assert doc == {"spec": {"status": ""}, "items": [1, 2]}
    value = {"x": [1]}
    out = json_patch(doc, [{"op": "add", "path": "/v", "value": value}])
    out["v"]["x"].append(2)
    assert value == {"x": [1]}


def test_json_patch_kubectl_undo_and_tkn_cancel() -> None:
    dep = {
        "metadata": {"annotations": {"a": "1"}},
        "spec": {"template": {"metadata": {"labels": {"x": "y"}}}},
    }
    undo = [
        {"op": "replace", "path": "/spec/template", "value": {"metadata": {"labels": {"app": "web"}}}},
        {
            "op": "replace",
            "path": "/metadata/annotations",
            "value": {"deployment.kubernetes.io/revision": "3"},
        },
    ]
    out = json_patch(dep, undo)
    assert out["spec"]["template"] == {"metadata": {"labels": {"app": "web"}}}
    assert out["metadata"]["annotations"] == {"deployment.kubernetes.io/revision": "3"}
    tr = {"spec": {}}
    out = json_patch(tr, [{"op": "add", "path": "/spec/status", "value": "TaskRunCancelled"}])
    assert out == {"spec": {"status": "TaskRunCancelled"}}


# --------------------------------------------------------------------------- strategic merge patch


def _deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "labels": {"app": "web"},
            "finalizers": ["a", "b"],
            "ownerReferences": [{"uid": "u1", "name": "o1"}, {"uid": "u2", "name": "o2"}],
        },
        "spec": {
            "replicas": 3,
            "paused": True,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "web:2",
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                        },
                        {"name": "sidecar", "image": "side:1"},
                    ],
                    "tolerations": [{"key": "t1"}],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                },
            },
        },
        "status": {
            "conditions": [
                {"type": "Available", "status": "True"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
            ]
        },
    }


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return obj["spec"]["template"]["spec"]["containers"]


def _has_directive(v: Any) -> bool:
    if isinstance(v, dict):
        return any(k.startswith("$") or _has_directive(x) for k, x in v.items())
    if isinstance(v, list):
        return any(_has_directive(x) for x in v)
    return False


def test_kubectl_set_image_with_set_element_order() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "web"}, {"name": "sidecar"}],
                    "containers": [{"image": "web:3", "name": "web"}],
                }
            }
        }
    }
    out = strategic_merge_patch(_deployment(), patch, "Deployment")
    assert [c["name"] for c in _containers(out)] == ["web", "sidecar"]
    assert _containers(out)[0]["image"] == "web:3"
    assert _containers(out)[0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert _containers(out)[1] == {"name": "sidecar", "image": "side:1"}
    assert not _has_directive(out)


def test_set_element_order_reorders() -> None:
    patch = {
        "spec": {
            "template": {"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "web"}]}}
        }
    }
    out = strategic_merge_patch(_deployment(), patch, "Deployment")
    assert [c["name"] for c in _containers(out)] == ["sidecar", "web"]


def test_kubectl_rollout_restart_pause_resume() -> None:
    ts = "2026-11-26T21:39:39Z"
    out = strategic_merge_patch(
        _deployment(),
        {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": ts}}}}},
        "Deployment",
    )
    assert out["spec"]["template"]["metadata"] == {
        "labels": {"app": "web"},
        "annotations": {"kubectl.kubernetes.io/restartedAt": ts},
    }
    assert (
        "paused" not in strategic_merge_patch(_deployment(), {"spec": {"paused": None}}, "Deployment")["spec"]
    )
    assert strategic_merge_patch({"spec": {}}, {"spec": {"paused": True}}, "Deployment") == {
        "spec": {"paused": True}
    }


def test_does_not_mutate_inputs() -> None:
    target, patch = (
        _deployment(),
        {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "x"}]}}}},
    )
    t0, p0 = copy.deepcopy(target), copy.deepcopy(patch)
    out = strategic_merge_patch(target, patch, "Deployment")
    assert target == t0 and patch == p0
    _containers(out)[1]["image"] = "changed"
    assert target == t0


def test_containers_merge_by_name_new_items_first() -> None:
    out = strategic_merge_patch(
        _deployment(),
        {"spec": {"template": {"spec": {"containers": [{"name": "new", "image": "n:1"}]}}}},
        "Deployment",
    )
    # Without $setElementOrder upstream puts patch-only items ahead of server-only ones.
    assert [c["name"] for c in _containers(out)] == ["new", "web", "sidecar"]


def test_nested_merge_keys() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}],
                            "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443}],
                            "volumeMounts": [{"mountPath": "/data", "readOnly": True}],
                        }
                    ]
                }
            }
        }
    }
    web = _containers(strategic_merge_patch(_deployment(), patch, "Deployment"))[0]
    assert web["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "20"},
        {"name": "C", "value": "3"},
    ]
    assert web["ports"] == [{"containerPort": 80, "protocol": "TCP", "name": "http"}, {"containerPort": 443}]
    assert web["volumeMounts"] == [{"name": "data", "mountPath": "/data", "readOnly": True}]


def test_untagged_lists_are_replaced() -> None:
    out = strategic_merge_patch(
        _deployment(), {"spec": {"template": {"spec": {"tolerations": [{"key": "t2"}]}}}}, "Deployment"
    )
    assert out["spec"]["template"]["spec"]["tolerations"] == [{"key": "t2"}]
    out = strategic_merge_patch(
        _deployment(),
        {"spec": {"template": {"spec": {"containers": [{"name": "web", "args": ["x"]}]}}}},
        "Deployment",
    )
    assert _containers(out)[0]["args"] == ["x"]
    node = {"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}], "podCIDRs": ["10.0.0.0/24"]}}
    out = strategic_merge_patch(
        node, {"spec": {"taints": [{"key": "b", "effect": "NoExecute"}], "podCIDRs": ["10.0.1.0/24"]}}, "Node"
    )
    assert out["spec"]["taints"] == [{"key": "b", "effect": "NoExecute"}]  # untagged upstream
    assert out["spec"]["podCIDRs"] == ["10.0.1.0/24", "10.0.0.0/24"]  # merge set of primitives
    hpa = {"spec": {"metrics": [{"type": "Resource"}]}, "status": {"currentMetrics": [{"type": "Resource"}]}}
    out = strategic_merge_patch(hpa, {"spec": {"metrics": [{"type": "Pods"}]}}, "HorizontalPodAutoscaler")
    assert out["spec"]["metrics"] == [{"type": "Pods"}]


def test_conditions_merge_by_type_only_where_tagged() -> None:
    patch = {"status": {"conditions": [{"type": "Progressing", "status": "False", "reason": "Timeout"}]}}
    out = strategic_merge_patch(_deployment(), patch, "Deployment")
    # The patched item keeps its place: existing items are ordered as they were.
    assert out["status"]["conditions"] == [
        {"type": "Available", "status": "True"},
        {"type": "Progressing", "status": "False", "reason": "Timeout"},
    ]
    # In a kind whose status conditions are untagged the list would have been replaced.
    replaced = strategic_merge_patch({"status": {"conditions": [{"type": "A"}]}}, patch, "Lease")
    assert replaced["status"]["conditions"] == patch["status"]["conditions"]
    for kind in ("Pod", "Node", "Namespace", "ReplicaSet", "HorizontalPodAutoscaler", "Service"):
        obj = {"status": {"conditions": [{"type": "A", "status": "True"}, {"type": "B", "status": "True"}]}}
        out = strategic_merge_patch(obj, {"status": {"conditions": [{"type": "B", "status": "False"}]}}, kind)
        assert {c["type"]: c["status"] for c in out["status"]["conditions"]} == {"A": "True", "B": "False"}, (
            kind
        )


def test_service_ports_merge_by_port() -> None:
    svc = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    out = strategic_merge_patch(svc, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}, "Service")
    assert out["spec"]["ports"] == [{"port": 80, "targetPort": 9090}, {"port": 443}]


def test_metadata_lists() -> None:
    out = strategic_merge_patch(
        _deployment(),
        {"metadata": {"ownerReferences": [{"uid": "u2", "name": "x"}], "finalizers": ["c", "a"]}},
        "Deployment",
    )
    assert out["metadata"]["ownerReferences"] == [{"uid": "u1", "name": "o1"}, {"uid": "u2", "name": "x"}]
    assert out["metadata"]["finalizers"] == ["c", "a", "b"]
    for kind in SMP_KINDS:
        out = strategic_merge_patch(
            {"metadata": {"finalizers": ["x"]}}, {"metadata": {"finalizers": ["y"]}}, kind
        )
        assert sorted(out["metadata"]["finalizers"]) == ["x", "y"], kind


def test_delete_from_primitive_list() -> None:
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a", "zz"]}}
    out = strategic_merge_patch(_deployment(), patch, "Deployment")
    assert out["metadata"]["finalizers"] == ["b"]
    out = strategic_merge_patch({"metadata": {}}, patch, "Deployment")
    assert out == {"metadata": {}}  # nothing to delete from, nothing added
    patch = {
        "metadata": {
            "$setElementOrder/finalizers": ["b", "c"],
            "finalizers": ["c"],
            "$deleteFromPrimitiveList/finalizers": ["a"],
        }
    }
    assert strategic_merge_patch(_deployment(), patch, "Deployment")["metadata"]["finalizers"] == ["b", "c"]


def test_patch_delete_and_replace_in_lists() -> None:
    out = strategic_merge_patch(
        _deployment(),
        {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}},
        "Deployment",
    )
    assert [c["name"] for c in _containers(out)] == ["web"]
    out = strategic_merge_patch(
        _deployment(),
        {
            "spec": {
                "template": {
                    "spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "o:1"}]}
                }
            }
        },
        "Deployment",
    )
    assert _containers(out) == [{"name": "only", "image": "o:1"}]
    # An empty list on a merging list changes nothing; "$patch: replace" is how to clear it.
    out = strategic_merge_patch(
        _deployment(), {"spec": {"template": {"spec": {"containers": []}}}}, "Deployment"
    )
    assert len(_containers(out)) == 2
    out = strategic_merge_patch(
        _deployment(), {"spec": {"template": {"spec": {"containers": [{"$patch": "replace"}]}}}}, "Deployment"
    )
    assert _containers(out) == []


def test_patch_directives_in_maps() -> None:
    out = strategic_merge_patch(
        _deployment(), {"metadata": {"labels": {"$patch": "replace", "tier": "x"}}}, "Deployment"
    )
    assert out["metadata"]["labels"] == {"tier": "x"}
    out = strategic_merge_patch(_deployment(), {"spec": {"strategy": {"$patch": "delete"}}}, "Deployment")
    assert out["spec"]["strategy"] == {}
    out = strategic_merge_patch(_deployment(), {"$patch": "replace", "metadata": {"name": "z"}}, "Deployment")
    assert out == {"metadata": {"name": "z"}}
    # Upstream drops a map carrying $patch when the target lacks that key.
    out = strategic_merge_patch(
        {"metadata": {}}, {"metadata": {"labels": {"$patch": "replace", "a": "b"}}}, "Deployment"
    )
    assert out == {"metadata": {}}


def test_retain_keys() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    out = strategic_merge_patch(_deployment(), patch, "Deployment")
    assert out["spec"]["strategy"] == {"type": "Recreate"}
    patch = {
        "spec": {
            "strategy": {
                "$retainKeys": ["type", "rollingUpdate"],
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1},
            }
        }
    }
    out = strategic_merge_patch(_deployment(), patch, "Deployment")
    assert out["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"},
    }
    with pytest.raises(PatchError, match="invalid patch format of retainKeys"):
        strategic_merge_patch(
            _deployment(), {"spec": {"strategy": {"$retainKeys": ["type"], "other": 1}}}, "Deployment"
        )


def test_nulls_inside_new_values_are_dropped() -> None:
    out = strategic_merge_patch(
        {"spec": {}}, {"spec": {"template": {"metadata": {"labels": {"a": None, "b": "c"}}}}}, "Deployment"
    )
    assert out == {"spec": {"template": {"metadata": {"labels": {"b": "c"}}}}}


def test_type_change_replaces() -> None:
    out = strategic_merge_patch(
        {"spec": {"replicas": "x", "selector": ["a"]}},
        {"spec": {"replicas": 2, "selector": {"matchLabels": {"a": "b"}}}},
        "Deployment",
    )
    assert out == {"spec": {"replicas": 2, "selector": {"matchLabels": {"a": "b"}}}}


def test_upstream_backing_array_ordering() -> None:
    """Upstream's "add map and delete map from merging list" case: server-only items are ordered
    against the live list as modified in place by the deletion and the addition."""
    live = {
        "metadata": {
            "ownerReferences": [{"uid": "1"}, {"uid": "2", "other": "b"}, {"uid": "4", "other": "c"}]
        }
    }
    patch = {
        "metadata": {
            "$setElementOrder/ownerReferences": [{"uid": "2"}, {"uid": "3"}],
            "ownerReferences": [{"uid": "3"}, {"uid": "1", "$patch": "delete"}],
        }
    }
    out = strategic_merge_patch(live, patch, "Deployment")
    assert out["metadata"]["ownerReferences"] == [
        {"uid": "2", "other": "b"},
        {"uid": "4", "other": "c"},
        {"uid": "3"},
    ]


def test_set_element_order_with_server_only_items() -> None:
    live = {"metadata": {"finalizers": ["1", "2", "4"]}}
    patch = {"metadata": {"$setElementOrder/finalizers": ["1", "2", "3"], "finalizers": ["3"]}}
    assert strategic_merge_patch(live, patch, "Pod")["metadata"]["finalizers"] == ["1", "2", "3", "4"]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (
            {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}},
            "does not contain declared merge key: name",
        ),
        (
            {"spec": {"template": {"spec": {"containers": [{"name": "web", "$patch": "merge"}]}}}},
            "merging lists cannot yet be specified in the patch",
        ),
        (
            {"spec": {"template": {"spec": {"containers": [{"name": "web", "$patch": "frob"}]}}}},
            "unknown patch type: frob",
        ),
        ({"spec": {"strategy": {"$patch": "merge"}}}, "unknown patch type: merge"),
        ({"spec": {"template": {"spec": {"containers": ["web"]}}}}, "list element types are not identical"),
        (
            {
                "spec": {
                    "template": {
                        "spec": {
                            "$setElementOrder/containers": [{"name": "sidecar"}],
                            "containers": [{"name": "web", "image": "x"}],
                        }
                    }
                }
            },
            "doesn't match $setElementOrder list",
        ),
        (
            {"spec": {"template": {"spec": {"$setElementOrder/containers": "web"}}}},
            "invalid patch format of setElementOrder list",
        ),
    ],
)
def test_strategic_errors(patch: dict[str, Any], message: str) -> None:
    with pytest.raises(PatchError, match=message.replace("$", r"\$")):
        strategic_merge_patch(_deployment(), patch, "Deployment")


def test_unsupported_kind() -> None:
    with pytest.raises(UnsupportedPatchError, match="strategic merge patch format is not supported"):
        strategic_merge_patch({}, {}, "Rollout")
    assert issubclass(UnsupportedPatchError, PatchError)
    assert issubclass(PatchError, ValueError)


def test_every_kind_has_a_schema_root() -> None:
    for kind in SMP_KINDS:
        assert "metadata" in SCHEMA[kind], kind
    for fields in SCHEMA.values():
        for f in fields.values():
            assert f.type is None or f.type in SCHEMA, f


def test_scale_and_lease_and_configmap() -> None:
    scale = {"spec": {"replicas": 1}, "status": {"replicas": 1, "selector": "app=web"}}
    assert strategic_merge_patch(scale, {"spec": {"replicas": 4}}, "Scale")["spec"] == {"replicas": 4}
    lease = {"spec": {"holderIdentity": "n1", "renewTime": "t0"}}
    assert strategic_merge_patch(lease, {"spec": {"renewTime": "t1"}}, "Lease")["spec"]["renewTime"] == "t1"
    cm = {"data": {"a": "1", "b": "2"}}
    assert strategic_merge_patch(cm, {"data": {"a": None, "c": "3"}}, "ConfigMap") == {
        "data": {"b": "2", "c": "3"}
    }


_keys = st.text(alphabet="abcdxyz", min_size=1, max_size=3)
_plain_json = st.recursive(
    st.booleans() | st.integers(-5, 5) | st.text(max_size=3),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_keys, children, max_size=3),
    max_leaves=12,
)
_plain_objects = st.dictionaries(_keys, _plain_json, max_size=4)


@given(_plain_objects)
def test_strategic_empty_patch_is_identity(obj: dict[str, Any]) -> None:
    assert strategic_merge_patch(obj, {}, "ConfigMap") == obj


@given(_plain_objects, _plain_objects)
def test_strategic_without_schema_behaves_like_merge_patch(
    target: dict[str, Any], patch: dict[str, Any]
) -> None:
    # With no tagged fields involved, a strategic merge patch is an RFC 7386 merge patch.
    assert strategic_merge_patch(target, patch, "ConfigMap") == json_merge_patch(target, patch)


@given(
    st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True),
    st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), unique=True),
)
def test_finalizers_merge_as_a_set(live: list[str], added: list[str]) -> None:
    out = strategic_merge_patch(
        {"metadata": {"finalizers": live}}, {"metadata": {"finalizers": added}}, "Pod"
    )
    merged = out["metadata"].get("finalizers", [])
    assert sorted(merged) == sorted(set(live) | set(added))
    assert [x for x in merged if x in added] == added  # patch order wins


def test_result_is_json_serialisable() -> None:
    out = strategic_merge_patch(
        _deployment(),
        {
            "spec": {
                "template": {"spec": {"containers": [{"name": "web", "resources": {"$patch": "delete"}}]}}
            }
        },
        "Deployment",
    )
    json.dumps(out)
    assert not _has_directive(out)


def test_json_patch_replace_of_a_missing_key_sets_it_like_the_apiserver():
    """kube-apiserver uses evanphx/json-patch v4, whose replace sets a missing object key (not RFC-strict)."""
    assert json_patch({"spec": {}}, [{"op": "replace", "path": "/spec/status", "value": "Cancelled"}]) == {
        "spec": {"status": "Cancelled"}}
    with pytest.raises(PatchError):
        json_patch({"spec": {}}, [{"op": "replace", "path": "/nope/status", "value": 1}])
