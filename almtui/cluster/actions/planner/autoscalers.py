"""Change a HorizontalPodAutoscaler's policy (bounds, target utilization, behavior rules) with a merge
patch of its spec, validated first by `hpa_validation` so a bad value names its field and nothing is
sent.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from almtui.cluster.actions.model import MERGE_PATCH, ActionError, PathElem, Plan, Target
from almtui.cluster.actions.planner.common import (
    Apps,
    _md,
    _patch,
    _plan,
    _rv,
    _skip,
    _spec,
    _with_rv,
    kind_of,
    shown_name,
)
from almtui.cluster.actions.planner.gitops import gitops_warnings
from almtui.cluster.actions.planner.hpa_validation import _is_int, validate_hpa_spec
from almtui.cluster.kinds import HPAS


def _leaves(patch: Mapping[str, Any], prefix: tuple = ()) -> list[tuple[tuple[PathElem, ...], Any]]:
    out: list[tuple[tuple[PathElem, ...], Any]] = []
    for k, v in patch.items():
        if isinstance(v, Mapping) and v:
            out += _leaves(v, (*prefix, k))
        else:
            out.append(((*prefix, k), v))
    return out


def hpa_update(hpa: Mapping[str, Any], *, min_replicas: int | None = None, max_replicas: int | None = None,
               target_utilization: int | None = None, metric: str = "cpu",
               scale_up: Mapping[str, Any] | None = None, scale_down: Mapping[str, Any] | None = None,
               apps: Apps = ()) -> Plan:
    """Change an HPA's policy: bounds, target utilization, behavior windows and policies (merge patch).

    Validated here with the API server's rules first, so a bad value is an ActionError naming the
    field and nothing is sent. `scale_up`/`scale_down` merge into the current rules (a given
    `policies` list replaces the current one, as a merge patch does).
    """
    action = "hpa-update"
    if kind_of(hpa) is not HPAS:
        raise ActionError(f"{_md(hpa).get('name')} is not a HorizontalPodAutoscaler", action=action)
    target = Target.of(HPAS, hpa)
    rv = _rv(hpa, target, action)
    old = _spec(hpa)
    patch: dict[str, Any] = {}
    if min_replicas is not None and min_replicas != old.get("minReplicas", 1):
        patch["minReplicas"] = min_replicas
    if max_replicas is not None and max_replicas != old.get("maxReplicas"):
        patch["maxReplicas"] = max_replicas
    if target_utilization is not None:
        metrics = copy.deepcopy(old.get("metrics") or [])
        found = False
        for m in metrics:
            res = m.get("resource") if m.get("type") == "Resource" else None
            if res is not None and res.get("name") == metric:
                found = True
                if (res.get("target") or {}).get("averageUtilization") != target_utilization:
                    res["target"] = {"type": "Utilization", "averageUtilization": target_utilization}
                    patch["metrics"] = metrics
        if not found:
            metrics.append({"type": "Resource", "resource": {"name": metric, "target": {
                "type": "Utilization", "averageUtilization": target_utilization}}})
            patch["metrics"] = metrics
    behavior: dict[str, Any] = {}
    for key, rules in (("scaleUp", scale_up), ("scaleDown", scale_down)):
        if rules:
            cur = ((old.get("behavior") or {}).get(key)) or {}
            changes = {k: v for k, v in rules.items() if cur.get(k) != v}
            if changes:
                behavior[key] = changes
    if behavior:
        patch["behavior"] = behavior
    new = copy.deepcopy(dict(old))
    for k, v in patch.items():
        if k == "behavior":
            b = new.setdefault("behavior", {}) or {}
            new["behavior"] = b
            for d, ch in v.items():
                b[d] = {**(b.get(d) or {}), **ch}
        else:
            new[k] = v
    errs = validate_hpa_spec(new, old)
    if errs:
        text = ", ".join(f"{f}: {m}" for f, m in errs)
        if len(errs) > 1:
            text = f"[{text}]"
        raise ActionError(f'HorizontalPodAutoscaler.autoscaling "{target.name}" is invalid: {text}',
                          field=errs[0][0], action=action, target=target)
    parts = []
    for k, v in patch.items():
        if k == "metrics":
            parts.append(f"{metric} target {target_utilization}%")
        elif k == "behavior":
            parts += [f"{d} {ch}" for d, ch in v.items()]
        else:
            parts.append(f"{k} {old.get(k, 1 if k == 'minReplicas' else None)} -> {v}")
    summary = f"change {target}: {'; '.join(parts) or 'nothing'}"
    warnings = gitops_warnings(hpa, apps)
    if not patch:
        return _skip(action, target, hpa, rv, summary, f"{shown_name(HPAS, target.name)}: no change", warnings)
    expect = [[(("spec", *p), v) for p, v in _leaves(patch)]]
    req = _patch(target, _with_rv({"spec": patch}, rv), MERGE_PATCH, "merge patch of the HPA spec", expect=expect)
    lowered = (_is_int(max_replicas) and max_replicas < old.get("maxReplicas", 0))
    return _plan(action, target, hpa, [req], rv, summary=summary, warnings=warnings, destructive=bool(lowered),
                 success=f"{shown_name(HPAS, target.name)} patched", status_read=False)
