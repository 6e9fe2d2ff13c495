"""Namespace, Node, Lease, ConfigMap, Secret and PodDisruptionBudget validation."""

from __future__ import annotations

import copy
from typing import Any

from almtui.sandbox.admission.causes import _cause, _Errs
from almtui.sandbox.admission.containers import _validate_taint_effect
from almtui.sandbox.admission.meta import (
    _NOT_STANDARD_FINALIZER,
    _STANDARD_FINALIZERS,
    _validate_immutable,
    _validate_label_selector,
)
from almtui.sandbox.admission.names import (
    _PERCENT_FMT,
    _PERCENT_RE,
    _regex_error,
    config_map_key,
    label_value,
    qualified_name,
)
from almtui.sandbox.admission.render import GoRaw, go_intstr, go_quote
from almtui.sandbox.admission.values import Obj, _d, _is_int, _l, _sem_eq


def _validate_namespace_status(e: _Errs, obj: Obj, old: Obj) -> None:
    phase = _d(obj.get("status")).get("phase") or ""
    if not _d(obj.get("metadata")).get("deletionTimestamp"):
        if phase != "Active":
            e.invalid("status.Phase", phase, "may only be 'Active' if `deletionTimestamp` is empty")
    elif phase != "Terminating":
        e.invalid("status.Phase", phase, "may only be 'Terminating' if `deletionTimestamp` is not empty")


def _validate_namespace(e: _Errs, store: Any, obj: Obj, old: Obj | None) -> None:
    if old is not None:
        # namespace strategy PrepareForUpdate: spec.finalizers only change through /finalize.
        if "spec" in old:
            obj["spec"] = copy.deepcopy(old["spec"])
        else:
            obj.pop("spec", None)
        return
    for f in _l(_d(obj.get("spec")).get("finalizers")):
        for msg in qualified_name(str(f)):
            e.invalid("spec.finalizers", f, msg)
        if "/" not in str(f) and f not in _STANDARD_FINALIZERS:
            e.invalid("spec.finalizers", f, _NOT_STANDARD_FINALIZER)


def _validate_node(e: _Errs, store: Any, obj: Obj, old: Obj | None) -> None:
    seen: set[tuple[Any, Any]] = set()
    for i, taint in enumerate(_l(_d(obj.get("spec")).get("taints"))):
        taint = _d(taint)
        p = f"metadata.taints[{i}]"  # upstream validates node taints under the metadata path
        key = str(taint.get("key") or "")
        for msg in qualified_name(key):
            e.invalid(f"{p}.key", key, msg)
        msgs = label_value(str(taint.get("value") or ""))
        if msgs:
            e.invalid(f"{p}.value", str(taint.get("value") or ""), ";".join(msgs))
        _validate_taint_effect(e, taint.get("effect") or "", False, f"{p}.effect")
        k = (taint.get("effect"), key)
        if k in seen:
            value, effect = str(taint.get("value") or ""), str(taint.get("effect") or "")
            shown = GoRaw(f"core.Taint{{Key:{go_quote(key)}, Value:{go_quote(value)}, "
                          f"Effect:{go_quote(effect)}, TimeAdded:<nil>}}")
            e.append(_cause("FieldValueDuplicate", p, f"Duplicate value: {shown}: "
                            "taints must be unique by key and effect pair"))
            continue
        seen.add(k)


def _validate_lease(e: _Errs, store: Any, obj: Obj, old: Obj | None) -> None:
    spec = _d(obj.get("spec"))
    d, t = spec.get("leaseDurationSeconds"), spec.get("leaseTransitions")
    if _is_int(d) and d <= 0:
        e.invalid("spec.leaseDurationSeconds", d, "must be greater than 0")
    if _is_int(t) and t < 0:
        e.invalid("spec.leaseTransitions", t, "must be greater than or equal to 0")


def _validate_data_keys(e: _Errs, obj: Obj, fields: tuple[str, ...]) -> None:
    for f in fields:
        for k in _d(obj.get(f)):
            for msg in config_map_key(str(k)):
                e.invalid(f"{f}[{k}]", k, msg)


def _validate_immutable_data(e: _Errs, obj: Obj, old: Obj | None, fields: tuple[str, ...]) -> None:
    if old is None or old.get("immutable") is not True:
        return
    if obj.get("immutable") is not True:
        e.forbidden("immutable", "field is immutable when `immutable` is set")
    for f in fields:
        if not _sem_eq(obj.get(f), old.get(f)):
            e.forbidden(f, "field is immutable when `immutable` is set")


def _validate_configmap(e: _Errs, store: Any, obj: Obj, old: Obj | None) -> None:
    _validate_immutable_data(e, obj, old, ("data", "binaryData"))
    _validate_data_keys(e, obj, ("data", "binaryData"))
    for k in _d(obj.get("data")):
        if k in _d(obj.get("binaryData")):
            e.invalid(f"data[{k}]", k, "duplicate of key present in binaryData")


def _validate_secret(e: _Errs, store: Any, obj: Obj, old: Obj | None) -> None:
    if old is not None:
        _validate_immutable(e, obj.get("type"), old.get("type"), "type")
    _validate_immutable_data(e, obj, old, ("data",))
    _validate_data_keys(e, obj, ("data",))
    data = _d(obj.get("data"))
    typ = obj.get("type")
    required = {"kubernetes.io/dockercfg": (".dockercfg",),
                "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
                "kubernetes.io/tls": ("tls.crt", "tls.key"), "kubernetes.io/ssh-auth": ("ssh-privatekey",)}
    for k in required.get(str(typ), ()):
        if k not in data:
            e.required(f"data[{k}]")
    if typ == "kubernetes.io/basic-auth" and "username" not in data and "password" not in data:
        e.required("data[username]")
        e.required("data[password]")
    if typ == "kubernetes.io/service-account-token" \
            and not _d(_d(obj.get("metadata")).get("annotations")).get("kubernetes.io/service-account.name"):
        e.required("metadata.annotations[kubernetes.io/service-account.name]")


def _validate_pdb(e: _Errs, store: Any, obj: Obj, old: Obj | None) -> None:
    spec = _d(obj.get("spec"))
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        e.invalid("spec", GoRaw("policy.PodDisruptionBudgetSpec{...}"),
                  "minAvailable and maxUnavailable cannot be both set")
    for f in ("minAvailable", "maxUnavailable"):
        v = spec.get(f)
        if isinstance(v, str):
            if not _PERCENT_RE.fullmatch(v):
                e.invalid(f"spec.{f}", go_intstr(v), _regex_error(
                    "a valid percent string must be a numeric string followed by an ending '%'", _PERCENT_FMT,
                    "1%", "93%"))
            elif int(v[:-1]) > 100:
                e.invalid(f"spec.{f}", go_intstr(v), "must not be greater than 100%")
        elif _is_int(v):
            e.nonneg(f"spec.{f}", v)
    if spec.get("selector") is not None:
        _validate_label_selector(e, spec["selector"], "spec.selector")
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in ("AlwaysAllow", "IfHealthyBudget"):
        e.unsupported("spec.unhealthyPodEvictionPolicy", policy, ("AlwaysAllow", "IfHealthyBudget"))
