"""ObjectMeta and label-selector validation (apimachinery pkg/api/validation, meta/v1/validation)."""

from __future__ import annotations

from typing import Any

from almtui.sandbox.admission.causes import _Errs
from almtui.sandbox.admission.names import NameFn, label_value, name_is_dns_label, qualified_name
from almtui.sandbox.admission.render import GoRaw, go_quote, go_string_slice
from almtui.sandbox.admission.values import Obj, _d, _is_int, _l, _sem_eq

_STANDARD_FINALIZERS = frozenset({"kubernetes", "orphan", "foregroundDeletion"})


_NOT_STANDARD_FINALIZER = "name is neither a standard finalizer name nor is it fully qualified"


_ANNOTATIONS_MAX = 256 * 1024


def _validate_labels(e: _Errs, labels: Any, path: str) -> None:
    for k, v in _d(labels).items():
        for msg in qualified_name(str(k)):
            e.invalid(path, k, msg)
        for msg in label_value(v if isinstance(v, str) else str(v)):
            e.invalid(path, v, msg)


def _validate_annotations(e: _Errs, ann: Any, path: str) -> None:
    ann = _d(ann)
    for k in ann:
        for msg in qualified_name(str(k).lower()):
            e.invalid(path, k, msg)
    if sum(len(str(k)) + len(str(v)) for k, v in ann.items()) > _ANNOTATIONS_MAX:
        e.too_long(path, _ANNOTATIONS_MAX)


def _validate_owner_refs(e: _Errs, refs: Any, path: str) -> None:
    first = ""
    for ref in _l(refs):
        ref = _d(ref)
        api_version, kind = str(ref.get("apiVersion") or ""), str(ref.get("kind") or "")
        version = api_version.rpartition("/")[2]
        if not version:
            e.invalid(f"{path}.apiVersion", api_version, "version must not be empty")
        if not kind:
            e.invalid(f"{path}.kind", kind, "kind must not be empty")
        if not ref.get("name"):
            e.invalid(f"{path}.name", str(ref.get("name") or ""), "name must not be empty")
        if not ref.get("uid"):
            e.invalid(f"{path}.uid", str(ref.get("uid") or ""), "uid must not be empty")
        if api_version == "v1" and kind == "Event":
            shown = GoRaw(f"v1.OwnerReference{{APIVersion:{go_quote(api_version)}, Kind:{go_quote(kind)}, "
                          f"Name:{go_quote(str(ref.get('name', '')))}, ...}}")
            e.invalid(path, shown, "/v1, Kind=Event is disallowed from being an owner")
        if ref.get("controller") is True:
            cur = f"{kind}/{ref.get('name', '')}"
            if first:
                e.invalid(path, GoRaw("[]v1.OwnerReference{...}"), "Only one reference can have Controller "
                          f'set to true. Found "true" in references for {first} and {cur}')
            else:
                first = cur


def _validate_finalizers(e: _Errs, fins: Any, path: str, kube: bool) -> None:
    fins = [str(f) for f in _l(fins)]
    for f in fins:
        for msg in qualified_name(f):
            e.invalid(path, f, msg)
    if "orphan" in fins and "foregroundDeletion" in fins:
        e.invalid(path, fins, "finalizer orphan and foregroundDeletion cannot be both set")
    if kube:
        _validate_kube_finalizers(e, fins, path)


def _validate_kube_finalizers(e: _Errs, fins: list[str], path: str) -> None:
    for i, f in enumerate(fins):
        if "/" not in f and f not in _STANDARD_FINALIZERS:
            e.invalid(f"{path}[{i}]", f, _NOT_STANDARD_FINALIZER)


def _validate_object_meta(e: _Errs, md: Obj, namespaced: bool, name_fn: NameFn, kube: bool) -> None:
    """ValidateObjectMeta (apimachinery, plus core's finalizer-name rule for built-in kinds)."""
    gen = md.get("generateName")
    if gen:
        for msg in name_fn(str(gen), True):
            e.invalid("metadata.generateName", gen, msg)
    name = md.get("name") or ""
    if not name:
        e.required("metadata.name", "name or generateName is required")
    else:
        for msg in name_fn(str(name), False):
            e.invalid("metadata.name", name, msg)
    ns = md.get("namespace") or ""
    if namespaced:
        if not ns:
            e.required("metadata.namespace")
        else:
            for msg in name_is_dns_label(str(ns), False):
                e.invalid("metadata.namespace", ns, msg)
    elif ns:
        e.forbidden("metadata.namespace", "not allowed on this type")
    e.nonneg("metadata.generation", md.get("generation"))
    _validate_labels(e, md.get("labels"), "metadata.labels")
    _validate_annotations(e, md.get("annotations"), "metadata.annotations")
    _validate_owner_refs(e, md.get("ownerReferences"), "metadata.ownerReferences")
    _validate_finalizers(e, md.get("finalizers"), "metadata.finalizers", kube)


def _validate_object_meta_update(e: _Errs, md: Obj, old_md: Obj, kube: bool) -> None:
    """ValidateObjectMetaUpdate (identity fields are restored by the store before admission)."""
    if old_md.get("deletionTimestamp"):
        extra = sorted(set(map(str, _l(md.get("finalizers")))) - set(map(str, _l(old_md.get("finalizers")))))
        if extra:
            e.forbidden("metadata.finalizers", "no new finalizers can be added if the object is being "
                        f"deleted, found new finalizers {go_string_slice(extra)}")
    if _is_int(md.get("generation")) and _is_int(old_md.get("generation")) \
            and md["generation"] < old_md["generation"]:
        e.invalid("metadata.generation", md["generation"], "must not be decremented")
    _validate_labels(e, md.get("labels"), "metadata.labels")
    _validate_annotations(e, md.get("annotations"), "metadata.annotations")
    _validate_owner_refs(e, md.get("ownerReferences"), "metadata.ownerReferences")
    if kube:
        _validate_kube_finalizers(e, [str(f) for f in _l(md.get("finalizers"))], "metadata.finalizers")


def _validate_immutable(e: _Errs, new: Any, old: Any, path: str, shown: Any = None) -> None:
    if not _sem_eq(new, old):
        e.invalid(path, new if shown is None else shown, "field is immutable")


_SELECTOR_OPS = ("In", "NotIn", "Exists", "DoesNotExist")


def _validate_label_selector(e: _Errs, sel: Any, path: str) -> bool:
    """ValidateLabelSelector; returns whether LabelSelectorAsSelector would accept it."""
    ok = True
    sel = _d(sel)
    before = len(e)
    _validate_labels(e, sel.get("matchLabels"), f"{path}.matchLabels")
    for i, req in enumerate(_l(sel.get("matchExpressions"))):
        req = _d(req)
        p = f"{path}.matchExpressions[{i}]"
        op, values = req.get("operator"), _l(req.get("values"))
        if op in ("In", "NotIn"):
            if not values:
                e.required(f"{p}.values", "must be specified when `operator` is 'In' or 'NotIn'")
        elif op in ("Exists", "DoesNotExist"):
            if values:
                e.forbidden(f"{p}.values",
                            "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
        else:
            e.invalid(f"{p}.operator", op if op is not None else "", "not a valid selector operator")
            ok = False
        for msg in qualified_name(str(req.get("key") or "")):
            e.invalid(f"{p}.key", str(req.get("key") or ""), msg)
        for j, v in enumerate(values):
            for msg in label_value(str(v)):
                e.invalid(f"{p}.values[{j}]", v, msg)
    return ok and len(e) == before


def selector_matches(sel: Any, labels: Any) -> bool:
    """metav1.LabelSelectorAsSelector(sel).Matches(labels) for a valid selector."""
    sel, labels = _d(sel), _d(labels)
    for k, v in _d(sel.get("matchLabels")).items():
        if labels.get(k) != v:
            return False
    for req in _l(sel.get("matchExpressions")):
        req = _d(req)
        key, op, values = req.get("key"), req.get("operator"), _l(req.get("values"))
        has = key in labels
        if (op == "In" and (not has or labels[key] not in values)) \
                or (op == "NotIn" and has and labels[key] in values) \
                or (op == "Exists" and not has) or (op == "DoesNotExist" and has):
            return False
    return True


def _selector_empty(sel: Any) -> bool:
    sel = _d(sel)
    return not sel.get("matchLabels") and not sel.get("matchExpressions")
