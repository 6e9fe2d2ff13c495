"""HorizontalPodAutoscaler autoscaling/v2 validation (autoscaling/validation)."""

from __future__ import annotations

from typing import Any

from almtui.sandbox.admission.apps import _nonneg_fields
from almtui.sandbox.admission.causes import _Errs
from almtui.sandbox.admission.names import dns1123_label, path_segment_name
from almtui.sandbox.admission.values import Obj, _d, _is_int, _l, _quantity, canonical_quantity


def _validate_hpa_status(e: _Errs, obj: Obj, old: Obj) -> None:
    _nonneg_fields(e, _d(obj.get("status")), "status", ("currentReplicas", "desiredReplicas"))


_METRIC_TYPES = ("ContainerResource", "External", "Object", "Pods", "Resource")


_METRIC_FIELDS = {"Object": "object", "Pods": "pods", "Resource": "resource", "External": "external",
                  "ContainerResource": "containerResource"}


def _validate_cross_version_ref(e: _Errs, ref: Any, path: str) -> None:
    ref = _d(ref)
    for f in ("kind", "name"):
        v = ref.get(f)
        if not v:
            e.required(f"{path}.{f}")
        else:
            for msg in path_segment_name(str(v)):
                e.invalid(f"{path}.{f}", v, msg)


def _validate_metric_target(e: _Errs, t: Any, path: str) -> None:
    t = _d(t)
    typ = t.get("type") or ""
    if not typ:
        e.required(f"{path}.type", "must specify a metric target type")
    if typ not in ("Utilization", "Value", "AverageValue"):
        e.invalid(f"{path}.type", typ, "must be either Utilization, Value, or AverageValue")
    for f in ("value", "averageValue"):
        if t.get(f) is not None:
            q = _quantity(t[f])
            if q is not None and q <= 0:
                e.invalid(f"{path}.{f}", canonical_quantity(t[f]), "must be positive")
    au = t.get("averageUtilization")
    if _is_int(au) and au < 1:
        e.invalid(f"{path}.averageUtilization", au, "must be greater than 0")


def _validate_metric_identifier(e: _Errs, ident: Any, path: str) -> None:
    name = _d(ident).get("name")
    if not name:
        e.required(f"{path}.name", "must specify a metric name")
    else:
        for msg in path_segment_name(str(name)):
            e.invalid(f"{path}.name", name, msg)


def _validate_metric_source(e: _Errs, field: str, src: Obj, path: str) -> None:
    target = _d(src.get("target"))
    if field in ("object", "external", "pods"):
        if field == "object":
            _validate_cross_version_ref(e, src.get("describedObject"), f"{path}.describedObject")
        _validate_metric_identifier(e, src.get("metric"), f"{path}.metric")
        _validate_metric_target(e, target, f"{path}.target")
        if field == "pods":
            if target.get("averageValue") is None:
                e.required(f"{path}.target.averageValue", "must specify a positive target averageValue")
        elif target.get("value") is None and target.get("averageValue") is None:
            e.required(f"{path}.target.averageValue",
                       "must set either a target value or averageValue" if field == "object"
                       else "must set either a target value for metric or a per-pod target")
        if field == "external" and target.get("value") is not None and target.get("averageValue") is not None:
            e.forbidden(f"{path}.target.value",
                        "may not set both a target value for metric and a per-pod target")
        return
    if not src.get("name"):
        e.required(f"{path}.name", "must specify a resource name")
    if field == "containerResource":
        container = src.get("container")
        if not container:
            e.required(f"{path}.container", "must specify a container")
        else:
            for msg in dns1123_label(str(container)):
                e.invalid(f"{path}.container", container, msg)
    _validate_metric_target(e, target, f"{path}.target")
    if target.get("averageUtilization") is None and target.get("averageValue") is None:
        e.required(f"{path}.target.averageUtilization",
                   "must set either a target raw value or a target utilization")
    if target.get("averageUtilization") is not None and target.get("averageValue") is not None:
        e.forbidden(f"{path}.target.averageValue",
                    "may not set both a target raw value and a target utilization")


def _validate_metric(e: _Errs, m: Obj, path: str) -> None:
    typ = m.get("type") or ""
    if not typ:
        e.required(f"{path}.type", "must specify a metric source type")
    if typ not in _METRIC_TYPES:
        e.unsupported(f"{path}.type", typ, _METRIC_TYPES)
    present = [f for f in ("object", "external", "pods", "resource", "containerResource")
               if m.get(f) is not None]
    if present:
        _validate_metric_source(e, present[0], _d(m[present[0]]), f"{path}.{present[0]}")
    expected = _METRIC_FIELDS.get(typ, "")
    if expected:
        if m.get(expected) is None:
            e.required(f"{path}.{expected}", "must populate information for the given metric source")
    else:
        e.unsupported(f"{path}.type", typ, _METRIC_TYPES)
    if len(present) != 1:
        for f in present:
            if f != expected:
                e.forbidden(f"{path}.{f}", "must populate the given metric source only")


def _validate_scaling_rules(e: _Errs, rules: Any, path: str) -> None:
    if not isinstance(rules, dict):
        return
    w = rules.get("stabilizationWindowSeconds")
    if _is_int(w) and w < 0:
        e.invalid(f"{path}.stabilizationWindowSeconds", w, "must be greater than or equal to zero")
    if _is_int(w) and w > 3600:
        e.invalid(f"{path}.stabilizationWindowSeconds", w, "must be less than or equal to 3600")
    sp = rules.get("selectPolicy")
    if sp is not None and sp not in ("Max", "Min", "Disabled"):
        e.unsupported(f"{path}.selectPolicy", sp, ("Disabled", "Max", "Min"))
    policies = _l(rules.get("policies"))
    if not policies:
        e.required(f"{path}.policies", "must specify at least one Policy")
    for i, pol in enumerate(policies):
        pol = _d(pol)
        p = f"{path}.policies[{i}]"
        if pol.get("type") not in ("Pods", "Percent"):
            e.unsupported(f"{p}.type", pol.get("type") or "", ("Percent", "Pods"))
        value, period = pol.get("value") or 0, pol.get("periodSeconds") or 0
        if _is_int(value) and value <= 0:
            e.invalid(f"{p}.value", value, "must be greater than zero")
        if _is_int(period) and period <= 0:
            e.invalid(f"{p}.periodSeconds", period, "must be greater than zero")
        if _is_int(period) and period > 1800:
            e.invalid(f"{p}.periodSeconds", period, "must be less than or equal to 1800")


def _validate_hpa(e: _Errs, store: Any, obj: Obj, old: Obj | None) -> None:
    """validateHorizontalPodAutoscalerSpec, HPAScaleToZero off (unless the old object already had 0)."""
    spec = _d(obj.get("spec"))
    lower = 0 if old is not None and _d(old.get("spec")).get("minReplicas") == 0 else 1
    mn, mx = spec.get("minReplicas"), spec.get("maxReplicas") or 0
    if _is_int(mn) and mn < lower:
        e.invalid("spec.minReplicas", mn, f"must be greater than or equal to {lower}")
    if _is_int(mx) and mx < 1:
        e.invalid("spec.maxReplicas", mx, "must be greater than 0")
    if _is_int(mn) and _is_int(mx) and mx < mn:
        e.invalid("spec.maxReplicas", mx, "must be greater than or equal to `minReplicas`")
    _validate_cross_version_ref(e, spec.get("scaleTargetRef"), "spec.scaleTargetRef")
    metrics = _l(spec.get("metrics"))
    for i, m in enumerate(metrics):
        _validate_metric(e, _d(m), f"spec.metrics[{i}]")
    if mn == 0 and not any(_d(m).get("type") in ("Object", "External") for m in metrics):
        e.forbidden("spec.metrics", "must specify at least one Object or External metric to support scaling "
                                    "to zero replicas")
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        _validate_scaling_rules(e, behavior.get("scaleUp"), "spec.behavior.scaleUp")
        _validate_scaling_rules(e, behavior.get("scaleDown"), "spec.behavior.scaleDown")
