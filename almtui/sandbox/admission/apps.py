"""Deployment and ReplicaSet validation (apps/validation): spec, strategy and status."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from almtui.sandbox.admission.causes import _Errs
from almtui.sandbox.admission.meta import _selector_empty, _validate_label_selector
from almtui.sandbox.admission.names import _PERCENT_FMT, _PERCENT_RE, _regex_error
from almtui.sandbox.admission.pods import _validate_template_for_rs
from almtui.sandbox.admission.render import GoRaw, go_intstr, go_label_selector, go_quote
from almtui.sandbox.admission.values import Obj, _d, _is_int, _sem_eq


def _nonneg_fields(e: _Errs, d: Obj, path: str, fields: Iterable[str]) -> None:
    for f in fields:
        e.nonneg(f"{path}.{f}", d.get(f))


def _validate_selector_and_template(e: _Errs, spec: Obj, owner: str) -> None:
    sel = spec.get("selector")
    selector_ok = True
    if sel is None:
        e.required("spec.selector")
    else:
        selector_ok = _validate_label_selector(e, sel, "spec.selector")
        if _selector_empty(sel):
            e.invalid("spec.selector", go_label_selector(sel), "empty selector is invalid for deployment")
    if not selector_ok:
        e.invalid("spec.selector", go_label_selector(sel), "invalid label selector")
    else:
        _validate_template_for_rs(e, spec, "spec.template", owner)


def _validate_rolling_update(e: _Errs, ru: Obj, path: str) -> None:
    mu, ms = ru.get("maxUnavailable"), ru.get("maxSurge")
    for f, v in (("maxUnavailable", mu), ("maxSurge", ms)):
        if isinstance(v, str):
            if not _PERCENT_RE.fullmatch(v):
                e.invalid(f"{path}.{f}", go_intstr(v), _regex_error(
                    "a valid percent string must be a numeric string followed by an ending '%'", _PERCENT_FMT,
                    "1%", "93%"))
        elif _is_int(v):
            e.nonneg(f"{path}.{f}", v)
    if _intstr_value(mu) == 0 and _intstr_value(ms) == 0:
        e.invalid(f"{path}.maxUnavailable", go_intstr(mu), "may not be 0 when `maxSurge` is 0")
    if isinstance(mu, str) and _PERCENT_RE.fullmatch(mu) and int(mu[:-1]) > 100:
        e.invalid(f"{path}.maxUnavailable", go_intstr(mu), "must not be greater than 100%")


def _intstr_value(v: Any) -> int:
    """getIntOrPercentValue: the percent number, or IntValue() (Atoi of a non-percent string, 0 on error)."""
    if isinstance(v, str):
        s = v[:-1] if _PERCENT_RE.fullmatch(v) else v
        try:
            return int(s)
        except ValueError:
            return 0
    return v if _is_int(v) else 0


def _validate_strategy(e: _Errs, strategy: Obj) -> None:
    t = strategy.get("type")
    if t == "Recreate":
        if strategy.get("rollingUpdate") is not None:
            e.forbidden("spec.strategy.rollingUpdate",
                        "may not be specified when strategy `type` is 'Recreate'")
    elif t == "RollingUpdate":
        ru = strategy.get("rollingUpdate")
        if ru is None:
            e.required("spec.strategy.rollingUpdate", "this should be defaulted and never be nil")
        else:
            _validate_rolling_update(e, _d(ru), "spec.strategy.rollingUpdate")
    else:
        ru = "(*apps.RollingUpdateDeployment)(nil)" if strategy.get("rollingUpdate") is None \
            else "(*apps.RollingUpdateDeployment)(0xc000a3e0c0)"
        e.unsupported("spec.strategy", GoRaw(f"apps.DeploymentStrategy{{Type:{go_quote(str(t or ''))}, "
                                             f"RollingUpdate:{ru}}}"), ("Recreate", "RollingUpdate"))


def _validate_deployment(e: _Errs, store: Any, obj: Obj, old: Obj | None) -> None:
    spec = _d(obj.get("spec"))
    e.nonneg("spec.replicas", spec.get("replicas"))
    _validate_selector_and_template(e, spec, "ReplicaSet")
    _validate_strategy(e, _d(spec.get("strategy")))
    e.nonneg("spec.minReadySeconds", spec.get("minReadySeconds"))
    if spec.get("revisionHistoryLimit") is not None:
        e.nonneg("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
    pds = spec.get("progressDeadlineSeconds")
    if _is_int(pds):
        e.nonneg("spec.progressDeadlineSeconds", pds)
        mrs = spec.get("minReadySeconds") or 0
        if _is_int(mrs) and pds <= mrs:
            e.invalid("spec.progressDeadlineSeconds", pds, "must be greater than minReadySeconds")
    if old is not None:
        _selector_immutable(e, spec, _d(old.get("spec")))


def _selector_immutable(e: _Errs, spec: Obj, old_spec: Obj) -> None:
    """The apps/v1 registry strategies forbid changing spec.selector on update."""
    new, prev = spec.get("selector"), old_spec.get("selector")
    if not _sem_eq(new, prev):
        e.invalid("spec.selector", go_label_selector(new) if new is not None else None, "field is immutable")


def _validate_replicaset(e: _Errs, store: Any, obj: Obj, old: Obj | None) -> None:
    spec = _d(obj.get("spec"))
    e.nonneg("spec.replicas", spec.get("replicas"))
    e.nonneg("spec.minReadySeconds", spec.get("minReadySeconds"))
    _validate_selector_and_template(e, spec, "ReplicaSet")
    if old is not None:
        _selector_immutable(e, spec, _d(old.get("spec")))


def _validate_replica_status(e: _Errs, status: Obj, fields: tuple[str, ...], checks: tuple[str, ...]) -> None:
    _nonneg_fields(e, status, "status", fields)
    replicas = status.get("replicas") or 0
    for f in checks:
        v = status.get(f) or 0
        if _is_int(v) and _is_int(replicas) and v > replicas:
            e.invalid(f"status.{f}", v, "cannot be greater than status.replicas")
    avail, ready = status.get("availableReplicas") or 0, status.get("readyReplicas") or 0
    if _is_int(avail) and _is_int(ready) and avail > ready:
        e.invalid("status.availableReplicas", avail, "cannot be greater than readyReplicas")


def _validate_deployment_status(e: _Errs, obj: Obj, old: Obj) -> None:
    status = _d(obj.get("status"))
    _validate_replica_status(e, status, ("observedGeneration", "replicas", "updatedReplicas", "readyReplicas",
                                         "availableReplicas", "unavailableReplicas", "collisionCount"),
                             ("updatedReplicas", "readyReplicas", "availableReplicas"))
    new_cc, old_cc = status.get("collisionCount"), _d(old.get("status")).get("collisionCount")
    if _is_int(old_cc) and (new_cc is None or (_is_int(new_cc) and new_cc < old_cc)):
        e.invalid("status.collisionCount", new_cc or 0, "cannot be decremented")


def _validate_replicaset_status(e: _Errs, obj: Obj, old: Obj) -> None:
    _validate_replica_status(e, _d(obj.get("status")), ("replicas", "fullyLabeledReplicas", "readyReplicas",
                                                        "availableReplicas", "observedGeneration"),
                             ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"))
