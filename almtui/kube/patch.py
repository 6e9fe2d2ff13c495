"""The three PATCH flavours the API server accepts for JSON bodies.

* :func:`json_merge_patch` — RFC 7386 (``application/merge-patch+json``).
* :func:`json_patch` — RFC 6902 operations with RFC 6901 pointers (``application/json-patch+json``).
* :func:`strategic_merge_patch` — ``application/strategic-merge-patch+json`` for built-in kinds,
  a port of the server side of ``apimachinery/pkg/util/strategicpatch/patch.go``
  (``StrategicMergeMapPatch``: ``MergeParallelList`` and ``IgnoreUnmatchedNulls`` both true).

None of them mutates its inputs. Errors raise :class:`PatchError` with upstream's wording where it has one.

Strategic merge needs the Go struct tags (``patchStrategy``/``patchMergeKey``). They live in
:data:`SCHEMA`, a table keyed by *type name* then *field name*: the merge key of a list therefore
depends on where the list sits (``ports`` under a ``Container`` merges by ``containerPort``, under a
``ServiceSpec`` by ``port``; ``conditions`` only merge in the status types that tag them). Each kind in
:data:`SMP_KINDS` names its root type. A field absent from the table behaves as an untagged Go field:
maps merge recursively, lists are replaced whole. Tags were read from kubernetes/api
``core/v1``, ``apps/v1``, ``autoscaling/v2`` and apimachinery ``meta/v1`` ``types.go``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SCHEMA",
    "SMP_KINDS",
    "PatchError",
    "UnsupportedPatchError",
    "json_merge_patch",
    "json_patch",
    "strategic_merge_patch",
]


class PatchError(ValueError):
    """A patch that cannot be applied (the server answers 422 or 400)."""


class UnsupportedPatchError(PatchError):
    """Strategic merge asked for a kind without Go struct tags (the server answers 415)."""


# --------------------------------------------------------------------------- helpers


def _go_repr(v: Any) -> str:
    """Roughly fmt's %v, for error messages that quote upstream."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_go_repr(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, list):
        return "[" + " ".join(_go_repr(x) for x in v) + "]"
    return str(v)


def _json_equal(a: Any, b: Any) -> bool:
    """JSON value equality: 1 == 1.0, but true != 1 and key order is irrelevant."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _same(a: Any, b: Any) -> bool:
    """Go interface equality on decoded JSON scalars: the dynamic types must match too."""
    return type(a) is type(b) and a == b


# --------------------------------------------------------------------------- RFC 7386


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


def json_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes, anything else (lists too) replaces."""
    return _merge(copy.deepcopy(target), patch)


# --------------------------------------------------------------------------- RFC 6902


def _pointer(path: Any) -> list[str]:
    """Splits an RFC 6901 pointer into unescaped tokens."""
    if not isinstance(path, str):
        raise PatchError(f"invalid JSON pointer: {path!r}")
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f'invalid JSON pointer "{path}": must start with "/"')
    tokens = []
    for raw in path[1:].split("/"):
        rest = raw.replace("~0", "").replace("~1", "")
        if "~" in rest:
            raise PatchError(f'invalid JSON pointer "{path}": bad escape in "{raw}"')
        tokens.append(raw.replace("~1", "/").replace("~0", "~"))
    return tokens


def _index(token: str, length: int, path: str, op: str, allow_end: bool) -> int:
    if allow_end and token == "-":
        return length
    if not token.isdigit() or not token.isascii() or (len(token) > 1 and token[0] == "0"):
        raise PatchError(f'{op} operation does not apply: invalid array index "{token}" in path "{path}"')
    idx = int(token)
    if idx > length or (idx == length and not allow_end):
        raise PatchError(f'{op} operation does not apply: index {idx} out of bounds in path "{path}"')
    return idx


def _parent(doc: Any, tokens: list[str], path: str, op: str) -> Any:
    """The container that holds the last token of ``path``."""
    cur = doc
    for token in tokens[:-1]:
        if isinstance(cur, dict) and token in cur:
            cur = cur[token]
        elif isinstance(cur, list):
            cur = cur[_index(token, len(cur), path, op, allow_end=False)]
        else:
            raise PatchError(f'{op} operation does not apply: doc is missing path: "{path}"')
    if not isinstance(cur, dict | list):
        raise PatchError(f'{op} operation does not apply: doc is missing path: "{path}"')
    return cur


def _get(doc: Any, path: str, op: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent, last = _parent(doc, tokens, path, op), tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f'{op} operation does not apply: doc is missing path: "{path}"')
        return parent[last]
    return parent[_index(last, len(parent), path, op, allow_end=False)]


def _add(doc: Any, path: str, value: Any, op: str = "add") -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent, last = _parent(doc, tokens, path, op), tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    else:
        parent.insert(_index(last, len(parent), path, op, allow_end=True), value)
    return doc


def _remove(doc: Any, path: str, op: str = "remove") -> Any:
    tokens = _pointer(path)
    if not tokens:
        raise PatchError(f"{op} operation does not apply: cannot remove the whole document")
    parent, last = _parent(doc, tokens, path, op), tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f'{op} operation does not apply: doc is missing key: "{path}"')
        del parent[last]
    else:
        del parent[_index(last, len(parent), path, op, allow_end=False)]
    return doc


def _replace(doc: Any, path: str, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent, last = _parent(doc, tokens, path, "replace"), tokens[-1]
    if isinstance(parent, dict):
        # As evanphx/json-patch v4 (which kube-apiserver uses) does: replacing a missing object key sets
        # it. `tkn pipelinerun cancel` and `kubectl rollout undo` rely on this.
        parent[last] = value
    else:
        parent[_index(last, len(parent), path, "replace", allow_end=False)] = value
    return doc


def _required(operation: dict[str, Any], field: str, op: str) -> Any:
    if field not in operation:
        raise PatchError(f'{op} operation is missing "{field}"')
    return operation[field]


def json_patch(target: Any, operations: list[dict[str, Any]]) -> Any:
    """RFC 6902: add/remove/replace/move/copy/test applied in order, all or nothing."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, dict):
            raise PatchError(f"invalid JSON patch operation: {operation!r}")
        op = operation.get("op")
        if op not in ("add", "remove", "replace", "move", "copy", "test"):
            raise PatchError(f"Unexpected kind: {op}")
        path = _required(operation, "path", op)
        if op == "add":
            doc = _add(doc, path, copy.deepcopy(_required(operation, "value", op)))
        elif op == "remove":
            doc = _remove(doc, path)
        elif op == "replace":
            doc = _replace(doc, path, copy.deepcopy(_required(operation, "value", op)))
        elif op == "test":
            expected = _required(operation, "value", op)
            if not _json_equal(_get(doc, path, op), expected):
                raise PatchError(f'testing value "{path}" failed')
        else:
            source = _required(operation, "from", op)
            if op == "move":
                if path == source:
                    continue
                if isinstance(path, str) and path.startswith(source + "/"):
                    raise PatchError(f'move operation does not apply: "from" {source} '
                                     f'is a prefix of "path" {path}')
                value = _get(doc, source, op)
                doc = _remove(doc, source, op)
            else:
                value = copy.deepcopy(_get(doc, source, op))
            doc = _add(doc, path, value, op)
    return doc


# --------------------------------------------------------------------------- strategic merge: schema


@dataclass(frozen=True)
class _Field:
    """The struct tags that matter for one field."""

    type: str | None = None  # struct type of a map field, or of a list's elements
    merge: bool = False  # patchStrategy:"merge" on a list
    merge_key: str | None = None  # patchMergeKey (None for lists of primitives)


def _struct(name: str) -> _Field:
    return _Field(type=name)


def _merge_list(key: str | None = None, elem: str | None = None) -> _Field:
    return _Field(type=elem, merge=True, merge_key=key)


_META = {"metadata": _struct("ObjectMeta")}

SCHEMA: dict[str, dict[str, _Field]] = {
    # apimachinery pkg/apis/meta/v1/types.go
    "ObjectMeta": {"ownerReferences": _merge_list("uid"), "finalizers": _merge_list()},
    # core/v1
    "PodTemplateSpec": {**_META, "spec": _struct("PodSpec")},
    "PodSpec": {
        "volumes": _merge_list("name"),  # merge,retainKeys
        "initContainers": _merge_list("name", "Container"),
        "containers": _merge_list("name", "Container"),
        "ephemeralContainers": _merge_list("name", "Container"),
        "imagePullSecrets": _merge_list("name"),
        "hostAliases": _merge_list("ip"),
        "topologySpreadConstraints": _merge_list("topologyKey"),
        "schedulingGates": _merge_list("name"),
        "resourceClaims": _merge_list("name"),  # merge,retainKeys
        "evictionResponders": _merge_list("name"),
        # tolerations, readinessGates, ...: untagged, replaced whole.
    },
    "Container": {  # also EphemeralContainerCommon
        "ports": _merge_list("containerPort"),
        "env": _merge_list("name"),
        "volumeMounts": _merge_list("mountPath"),
        "volumeDevices": _merge_list("devicePath"),
    },
    "PodStatus": {
        "conditions": _merge_list("type"),
        "hostIPs": _merge_list("ip"),
        "podIPs": _merge_list("ip"),
        "resourceClaimStatuses": _merge_list("name"),
        # containerStatuses & co. are untagged: replaced whole.
    },
    "Pod": {**_META, "spec": _struct("PodSpec"), "status": _struct("PodStatus")},
    "ServiceSpec": {"ports": _merge_list("port")},
    "ServiceStatus": {"conditions": _merge_list("type")},
    "Service": {**_META, "spec": _struct("ServiceSpec"), "status": _struct("ServiceStatus")},
    # NodeSpec.taints is untagged upstream (replaced whole), unlike podCIDRs.
    "NodeSpec": {"podCIDRs": _merge_list()},
    "NodeStatus": {"conditions": _merge_list("type"), "addresses": _merge_list("type")},
    "Node": {**_META, "spec": _struct("NodeSpec"), "status": _struct("NodeStatus")},
    # NamespaceSpec.finalizers is untagged upstream.
    "NamespaceStatus": {"conditions": _merge_list("type")},
    "Namespace": {**_META, "status": _struct("NamespaceStatus")},
    "Event": dict(_META),
    "ConfigMap": dict(_META),
    # apps/v1 (DeploymentSpec.strategy is retainKeys: honoured via the $retainKeys directive)
    "DeploymentSpec": {"template": _struct("PodTemplateSpec")},
    "DeploymentStatus": {"conditions": _merge_list("type")},
    "Deployment": {**_META, "spec": _struct("DeploymentSpec"), "status": _struct("DeploymentStatus")},
    "ReplicaSetSpec": {"template": _struct("PodTemplateSpec")},
    "ReplicaSetStatus": {"conditions": _merge_list("type")},
    "ReplicaSet": {**_META, "spec": _struct("ReplicaSetSpec"), "status": _struct("ReplicaSetStatus")},
    # autoscaling/v2: metrics, behavior policies and currentMetrics are atomic; conditions merge.
    "HorizontalPodAutoscalerStatus": {"conditions": _merge_list("type")},
    "HorizontalPodAutoscaler": {**_META, "status": _struct("HorizontalPodAutoscalerStatus")},
    # coordination/v1 and autoscaling/v1 Scale carry no list tags.
    "Lease": dict(_META),
    "Scale": dict(_META),
}

#: Kinds with Go struct tags, i.e. the ones the server accepts strategic merge patches for.
SMP_KINDS = frozenset({
    "Deployment", "ReplicaSet", "Pod", "Service", "Node", "Namespace", "HorizontalPodAutoscaler",
    "Event", "Lease", "ConfigMap", "Scale",
})

_UNTAGGED = _Field()


def _field(type_name: str | None, key: str) -> _Field:
    return SCHEMA.get(type_name or "", {}).get(key, _UNTAGGED)


# --------------------------------------------------------------------------- strategic merge: directives

_PATCH = "$patch"
_RETAIN_KEYS = "$retainKeys"
_DELETE_PREFIX = "$deleteFromPrimitiveList"
_ORDER_PREFIX = "$setElementOrder"


def _extract_key(key: str, prefix: str) -> str:
    parts = key.split("/", 1)
    if len(parts) <= 1 or parts[0] != prefix:
        kind = "primitive list" if prefix == _DELETE_PREFIX else "setElementOrder list"
        raise PatchError(f"invalid patch format of {kind}")
    return parts[1]


def _remove_directives(obj: Any) -> tuple[Any, bool]:
    """removeDirectives: maps carrying ``$patch`` vanish (from lists too)."""
    if isinstance(obj, dict):
        if _PATCH in obj:
            return None, False
        out = {}
        for k, v in obj.items():
            nv, keep = _remove_directives(v)
            if keep:
                out[k] = nv
        return out, True
    if isinstance(obj, list):
        items = [_remove_directives(v) for v in obj]
        return [v for v, keep in items if keep], True
    return obj, True


def _discard_nulls(obj: Any) -> None:
    """discardNullValuesFromPatch (in place)."""
    if isinstance(obj, dict):
        for k in [k for k, v in obj.items() if v is None]:
            del obj[k]
        for v in obj.values():
            _discard_nulls(v)
    elif isinstance(obj, list):
        for v in obj:
            _discard_nulls(v)


def _strip_directive_keys(obj: Any) -> Any:
    """Drops leftover ``$...`` keys, as decoding into the Go struct drops unknown fields."""
    if isinstance(obj, dict):
        return {k: _strip_directive_keys(v) for k, v in obj.items() if not k.startswith("$")}
    if isinstance(obj, list):
        return [_strip_directive_keys(v) for v in obj]
    return obj


def _take_patch_value(original: dict[str, Any], key: str, value: Any) -> None:
    _discard_nulls(value)
    value, keep = _remove_directives(value)
    if keep:
        original[key] = value
    else:
        original.pop(key, None)


# --------------------------------------------------------------------------- strategic merge: ordering


def _finder(order: list[Any], merge_key: str | None, is_map: bool) -> Callable[[Any], int]:
    """index(): position of an item in ``order`` by merge-key value (maps) or by value, else -1."""

    def val(item: Any) -> Any:
        if is_map:
            return item.get(merge_key) if isinstance(item, dict) else None
        return item

    keys = [val(o) for o in order]

    def find(item: Any) -> int:
        v = val(item)
        return next((i for i, k in enumerate(keys) if _same(k, v)), -1)

    return find


def _sort_by_order(items: list[Any], order: list[Any], merge_key: str | None, is_map: bool) -> list[Any]:
    """normalizeSliceOrder: stable sort by position in ``order``; ``$patch: delete`` items go last."""
    to_delete: list[Any] = []
    if is_map:
        for item in [*items, *order]:
            if not isinstance(item, dict):
                raise PatchError(f"expected a map, but received a {type(item).__name__}")
            if merge_key not in item:
                raise PatchError(f"map: {_go_repr(item)} does not contain declared merge key: {merge_key}")
        to_delete = [i for i in items if i.get(_PATCH) == "delete"]
        items = [i for i in items if i.get(_PATCH) != "delete"]
    find = _finder(order, merge_key, is_map)
    pos = [find(i) for i in items]
    if all(p >= 0 for p in pos):
        ranked = sorted(range(len(items)), key=lambda i: pos[i])
        items = [items[i] for i in ranked]
    else:
        # Upstream's less() answers true for unknown items; Go's insertion sort moves them forward.
        items = list(items)
        for i in range(1, len(items)):
            j = i
            while j > 0:
                a, b = find(items[j]), find(items[j - 1])
                if a >= 0 and b >= 0 and not a < b:
                    break
                items[j], items[j - 1] = items[j - 1], items[j]
                j -= 1
    return items + to_delete


def _merge_sorted(left: list[Any], right: list[Any], server_order: list[Any], merge_key: str | None,
                  is_map: bool) -> list[Any]:
    """mergeSortedSlice: interleave server-only items (left) into patch items (right)."""
    find = _finder(server_order, merge_key, is_map)
    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li, ri = find(left[i]), find(right[j])
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def _normalize_order(patch_items: list[Any], server_only: list[Any], patch_order: list[Any],
                     server_order: list[Any], merge_key: str | None, is_map: bool) -> list[Any]:
    patch_items = _sort_by_order(patch_items, patch_order, merge_key, is_map)
    server_only = _sort_by_order(server_only, server_order, merge_key, is_map)
    return _merge_sorted(server_only, patch_items, server_order, merge_key, is_map)


def _partition(merged: list[Any], by: list[Any], merge_key: str | None) -> tuple[list[Any], list[Any]]:
    """partition{Primitives,Maps}ByPresentInList: (items present in ``by``, the others)."""
    if not merge_key:
        present = [x for x in merged if any(_same(x, y) for y in by)]
        return present, [x for x in merged if not any(_same(x, y) for y in by)]
    inside, outside = [], []
    for item in merged:
        if not isinstance(item, dict):
            raise PatchError(f"expected a map, but received a {type(item).__name__}")
        if merge_key not in item:
            raise PatchError(f"map: {_go_repr(item)} does not contain declared merge key: {merge_key}")
        hit = any(isinstance(b, dict) and merge_key in b and _same(b[merge_key], item[merge_key]) for b in by)
        (inside if hit else outside).append(item)
    return inside, outside


def _element_type(*lists: list[Any] | None) -> type:
    """sliceElementType: every element of every list must share one (non-list) type."""
    found: type | None = None
    for items in lists:
        for v in items or ():
            t = type(v)
            if found is None:
                if t is list:
                    raise PatchError("lists of lists are not supported")
                found = t
            elif t is not found:
                raise PatchError(f"list element types are not identical: {_go_repr(list(lists))}")
    if found is None:
        raise PatchError("no elements in any of the given slices")
    return found


# --------------------------------------------------------------------------- strategic merge: core


def _find_by_key(items: list[Any], merge_key: str, value: Any) -> int:
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise PatchError(f"value for key {i} is not a map")
        if merge_key in item and _same(item[merge_key], value):
            return i
    return -1


def _merge_slice(original: list[Any], patch: list[Any], field: _Field, is_delete_list: bool) -> list[Any]:
    """mergeSlice: merge by merge key (maps) or as a set (primitives), then restore order.

    For lists of maps ``original`` is modified in place the way Go modifies the shared backing array
    (deletions shift left, additions refill the vacated tail): the ``$setElementOrder`` pass orders
    server-only items against that array, and upstream's results depend on it.
    """
    if not original and not patch:
        return original
    is_map = _element_type(original, patch) is dict
    key = field.merge_key
    if not is_map:
        if is_delete_list:
            return [x for x in original if not any(_same(x, d) for d in patch)]
        merged: list[Any] = []
        for x in original + patch:
            if not any(_same(x, m) for m in merged):
                merged.append(x)
        server_order = original
    else:
        if not key:
            raise PatchError("cannot merge lists without merge key")
        length, plain, replace = _apply_special_elements(original, patch, key)
        if replace:
            work, work_len, detached, patch = plain, len(plain), True, []
        else:
            work, work_len, detached, patch = original, length, False, plain
        server_order = work[:work_len]
        for item in patch:
            if key not in item:
                raise PatchError(f"map: {_go_repr(item)} does not contain declared merge key: {key}")
            idx = _find_by_key(work[:work_len], key, item[key])
            if idx >= 0:
                work[idx] = _merge_map(work[idx], item, field.type)
                continue
            _discard_nulls(item)
            if not detached and work_len < len(work):
                work[work_len] = item
            else:
                if not detached:
                    work, detached = work[:work_len], True
                work.append(item)
            work_len += 1
        merged = work[:work_len]
    patch_items, server_only = _partition(merged, patch, key)
    return _normalize_order(patch_items, server_only, patch, server_order, key, is_map)


def _apply_special_elements(original: list[Any], patch: list[Any], key: str) -> tuple[int, list[Any], bool]:
    """mergeSliceWithSpecialElements: ``$patch: delete|replace`` items of a merging list.

    Deletions shift ``original`` left in place; returns (remaining length, plain patch items, replace?).
    """
    plain: list[Any] = []
    replace = False
    length = len(original)
    for item in patch:
        if _PATCH not in item:
            plain.append(item)
            continue
        directive = item[_PATCH]
        if directive == "delete":
            if key not in item:
                raise PatchError(f"map: {_go_repr(item)} does not contain declared merge key: {key}")
            while (idx := _find_by_key(original[:length], key, item[key])) >= 0:
                original[idx:length - 1] = original[idx + 1:length]
                length -= 1
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise PatchError("merging lists cannot yet be specified in the patch")
        else:
            raise PatchError(f"unknown patch type: {_go_repr(directive)} in map: {_go_repr(item)}")
    return length, plain, replace


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    """applyRetainKeysDirective: drop original keys not listed; the patch may only set listed keys."""
    if _RETAIN_KEYS not in patch:
        return
    retain = patch.pop(_RETAIN_KEYS)
    if not isinstance(retain, list):
        raise PatchError("invalid patch format of retainKeys")
    keep = {k for k in retain if isinstance(k, str)}
    for k, v in patch.items():
        if v is None or k.startswith((_DELETE_PREFIX, _ORDER_PREFIX)):
            continue
        if k not in keep:
            raise PatchError("invalid patch format of retainKeys")
    for k in [k for k in original if k not in keep]:
        del original[k]


def _validate_order(patch_list: list[Any], order: list[Any], key: str | None) -> None:
    """validatePatchWithSetOrderList: patch items must appear in ``order``, in the same relative order."""
    if not order or not patch_list:
        return
    items = patch_list
    if key:
        items = [i for i in patch_list if not (isinstance(i, dict) and i.get(_PATCH) == "delete")]
    p = o = 0
    while p < len(items) and o < len(order):
        if isinstance(items[p], dict) and _PATCH in items[p]:
            p += 1
            continue
        if key:
            for m in (items[p], order[o]):
                if not isinstance(m, dict):
                    raise PatchError(f"expected a map, but received a {type(m).__name__}")
                if key not in m:
                    raise PatchError(f"map: {_go_repr(m)} does not contain declared merge key: {key}")
            equal = _same(items[p][key], order[o][key])
        else:
            equal = _same(items[p], order[o])
        if equal:
            p += 1
        o += 1
    if p < len(items) and o >= len(order):
        raise PatchError(f"The order in patch list:\n{_go_repr(patch_list)}\n doesn't match "
                         f"$setElementOrder list:\n{_go_repr(order)}\n")


def _apply_set_element_order(original: dict[str, Any], patch: dict[str, Any], type_name: str | None) -> None:
    """mergePatchIntoOriginal: merge each list named by ``$setElementOrder/<list>`` and order it."""
    for directive in [k for k in patch if k.startswith(_ORDER_PREFIX)]:
        order = patch.pop(directive)
        if not isinstance(order, list):
            raise PatchError("invalid patch format of setElementOrder list")
        name = _extract_key(directive, _ORDER_PREFIX)
        has_orig, has_patch = name in original, name in patch
        orig_list, patch_list = original.get(name), patch.get(name)
        if has_orig and not isinstance(orig_list, list):
            raise PatchError(f"expected a []interface {{}}, but received a {type(orig_list).__name__}")
        if has_patch and not isinstance(patch_list, list):
            raise PatchError(f"expected a []interface {{}}, but received a {type(patch_list).__name__}")
        field = _field(type_name, name)
        _validate_order(patch_list or [], order, field.merge_key)
        if has_orig and not has_patch:
            merged = orig_list
        elif has_patch and not has_orig:
            merged, _ = _remove_directives(patch_list)
        elif has_orig and has_patch:
            merged = _merge_slice(orig_list, patch_list, field, False) if field.merge else patch_list
        else:
            continue
        inside, outside = _partition(merged, order, field.merge_key)
        is_map = _element_type(orig_list, patch_list) is dict
        original[name] = _normalize_order(inside, outside, order, orig_list or [], field.merge_key, is_map)
        patch.pop(name, None)


def _merge_map(original: dict[str, Any] | None, patch: dict[str, Any],
               type_name: str | None) -> dict[str, Any]:
    """mergeMap. ``original`` and ``patch`` are private copies and are modified."""
    if _PATCH in patch:
        directive = patch[_PATCH]
        if directive == "replace":
            del patch[_PATCH]
            _discard_nulls(patch)
            return patch
        if directive == "delete":
            return {}
        raise PatchError(f"unknown patch type: {_go_repr(directive)} in map: {_go_repr(patch)}")
    if original is None:
        original = {}
    _apply_retain_keys(original, patch)
    _apply_set_element_order(original, patch, type_name)
    for key, value in list(patch.items()):
        is_delete_list = key.startswith(_DELETE_PREFIX)
        if is_delete_list:
            key = _extract_key(key, _DELETE_PREFIX)
        if value is None:
            original.pop(key, None)
            continue
        if key not in original or type(original[key]) is not type(value):
            if not is_delete_list:
                _take_patch_value(original, key, value)
            continue
        current = original[key]
        field = _field(type_name, key)
        if isinstance(current, dict):
            original[key] = _merge_map(current, value, field.type)
        elif isinstance(current, list):
            if field.merge or is_delete_list:
                original[key] = _merge_slice(current, value, field, is_delete_list)
            else:
                _discard_nulls(value)
                original[key] = value
        else:
            _take_patch_value(original, key, value)
    return original


def strategic_merge_patch(target: dict[str, Any], patch: dict[str, Any], kind: str) -> dict[str, Any]:
    """Applies a strategic merge patch to an object of a built-in ``kind`` (see :data:`SMP_KINDS`).

    Upstream quirks kept on purpose: a map carrying ``$patch`` (any value) that lands on a key absent
    from the target is dropped; ``$patch: merge`` is an error; an empty list on a merging list is a no-op.
    """
    if kind not in SMP_KINDS:
        raise UnsupportedPatchError("strategic merge patch format is not supported")
    if not isinstance(patch, dict):
        raise PatchError("invalid JSON document")
    merged = _merge_map(copy.deepcopy(target) if isinstance(target, dict) else {}, copy.deepcopy(patch), kind)
    return _strip_directive_keys(merged)
