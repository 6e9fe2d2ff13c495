"""The API server's HorizontalPodAutoscaler spec validation (and the behavior defaulting it runs after),
with its field paths and messages. The HPA plan refuses an invalid edit before sending it and the HPA
form validates as the user types; both follow upstream's rules from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# HPA validation limits (pkg/apis/autoscaling/validation)
MAX_PERIOD_SECONDS = 1800
MAX_STABILIZATION_WINDOW_SECONDS = 3600
SELECT_POLICIES = ("Disabled", "Max", "Min")
POLICY_TYPES = ("Percent", "Pods")


def _go(v: Any) -> str:
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, bool):
        return "true" if v else "false"
    return "null" if v is None else str(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _default_rules(rules: Any, up: bool) -> Any:
    """The API server's behavior defaulting (GenerateHPAScale{Up,Down}Rules), before validation."""
    if not isinstance(rules, dict):
        rules = {}
    rules = dict(rules)
    if rules.get("selectPolicy") is None:
        rules["selectPolicy"] = "Max"
    if rules.get("policies") is None:
        rules["policies"] = ([{"type": "Pods", "value": 4, "periodSeconds": 15},
                              {"type": "Percent", "value": 100, "periodSeconds": 15}] if up
                             else [{"type": "Percent", "value": 100, "periodSeconds": 15}])
    return rules


def _check_rules(errs: list[tuple[str, str]], rules: Any, p: str) -> None:
    if not isinstance(rules, dict):
        return
    w = rules.get("stabilizationWindowSeconds")
    if w is not None and not _is_int(w):
        errs.append((f"{p}.stabilizationWindowSeconds", f"Invalid value: {_go(w)}: must be an integer"))
    elif _is_int(w) and w < 0:
        errs.append((f"{p}.stabilizationWindowSeconds", f"Invalid value: {w}: must be greater than or equal to zero"))
    elif _is_int(w) and w > MAX_STABILIZATION_WINDOW_SECONDS:
        errs.append((f"{p}.stabilizationWindowSeconds",
                     f"Invalid value: {w}: must be less than or equal to {MAX_STABILIZATION_WINDOW_SECONDS}"))
    sp = rules.get("selectPolicy")
    if sp is not None and sp not in SELECT_POLICIES:
        errs.append((f"{p}.selectPolicy", f"Unsupported value: {_go(sp)}: supported values: "
                     + ", ".join(_go(s) for s in SELECT_POLICIES)))
    policies = rules.get("policies")
    if not policies:
        errs.append((f"{p}.policies", "Required value: must specify at least one Policy"))
    for i, pol in enumerate(policies or ()):
        pol = pol if isinstance(pol, dict) else {}
        pp = f"{p}.policies[{i}]"
        if pol.get("type") not in POLICY_TYPES:
            errs.append((f"{pp}.type", f"Unsupported value: {_go(pol.get('type') or '')}: supported values: "
                         + ", ".join(_go(s) for s in POLICY_TYPES)))
        for fld in ("value", "periodSeconds"):
            v = pol.get(fld, 0)
            if not _is_int(v):
                errs.append((f"{pp}.{fld}", f"Invalid value: {_go(v)}: must be an integer"))
            elif v <= 0:
                errs.append((f"{pp}.{fld}", f"Invalid value: {v}: must be greater than zero"))
            elif fld == "periodSeconds" and v > MAX_PERIOD_SECONDS:
                errs.append((f"{pp}.{fld}", f"Invalid value: {v}: must be less than or equal to {MAX_PERIOD_SECONDS}"))


def validate_hpa_spec(spec: Mapping[str, Any], old_spec: Mapping[str, Any] | None = None) -> list[tuple[str, str]]:
    """The API server's HPA spec rules that a policy edit can break: [(field, message)], empty when valid.

    minReplicas >= 1 (0 only if it already was: HPAScaleToZero ratcheting), maxReplicas >= 1 and >=
    minReplicas, averageUtilization > 0, and the behavior rules (windows 0..3600, periods 1..1800,
    policy values > 0, selectPolicy Max|Min|Disabled, at least one policy).
    """
    errs: list[tuple[str, str]] = []
    lower = 0 if (old_spec or {}).get("minReplicas") == 0 else 1
    mn, mx = spec.get("minReplicas"), spec.get("maxReplicas")
    if mn is not None and not _is_int(mn):
        errs.append(("spec.minReplicas", f"Invalid value: {_go(mn)}: must be an integer"))
    elif _is_int(mn) and mn < lower:
        errs.append(("spec.minReplicas", f"Invalid value: {mn}: must be greater than or equal to {lower}"))
    if not _is_int(mx):
        errs.append(("spec.maxReplicas", f"Invalid value: {_go(mx)}: must be an integer"))
    elif mx < 1:
        errs.append(("spec.maxReplicas", f"Invalid value: {mx}: must be greater than 0"))
    elif _is_int(mn) and mx < mn:
        errs.append(("spec.maxReplicas", f"Invalid value: {mx}: must be greater than or equal to `minReplicas`"))
    for i, m in enumerate(spec.get("metrics") or ()):
        for src in ("resource", "containerResource"):
            target = ((m or {}).get(src) or {}).get("target") or {}
            au = target.get("averageUtilization")
            if au is not None and (not _is_int(au) or au < 1):
                errs.append((f"spec.metrics[{i}].{src}.target.averageUtilization",
                             f"Invalid value: {_go(au)}: must be greater than 0"))
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        _check_rules(errs, _default_rules(behavior.get("scaleUp"), True), "spec.behavior.scaleUp")
        _check_rules(errs, _default_rules(behavior.get("scaleDown"), False), "spec.behavior.scaleDown")
    return errs
