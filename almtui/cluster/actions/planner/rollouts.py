"""Argo Rollouts' own steps: promote (one step, full, blue-green), abort and retry, as the plugin's merge
patches of /status (falling back to the main resource on clusters without the status subresource). The
canary step arithmetic lives here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from almtui.cluster.actions.model import MERGE_PATCH, ActionError, Plan, Request, Target
from almtui.cluster.actions.planner.common import (
    Apps,
    _md,
    _patch,
    _plan,
    _rv,
    _skip,
    _spec,
    _status,
    _with_rv,
    kind_of,
)
from almtui.cluster.actions.planner.gitops import gitops_warnings
from almtui.cluster.kinds import ROLLOUTS


def _rollout(obj: Mapping[str, Any], action: str) -> tuple[Target, str]:
    if kind_of(obj) is not ROLLOUTS:
        raise ActionError(f"{action} is an Argo Rollouts action; {_md(obj).get('name')} is a {obj.get('kind')}",
                          action=action)
    target = Target.of(ROLLOUTS, obj)
    return target, _rv(obj, target, action)


def _status_patch(target: Target, rv: str, status: dict, unified: dict | None, description: str,
                  expect: list | None = None) -> Request:
    """A merge patch of /status, repeated against the main resource on 404 (Rollouts v0.9)."""
    fallback = _patch(target, _with_rv(unified if unified is not None else {"status": status}, rv), MERGE_PATCH,
                      description + " (main resource: no status subresource)", expect=expect)
    req = _patch(target, _with_rv({"status": status}, rv), MERGE_PATCH, description, sub="status", expect=expect)
    req.fallback = fallback
    return req


def _current_step(obj: Mapping[str, Any]) -> int | None:
    """GetCurrentCanaryStep's index: None without canary steps, else currentStepIndex (default 0)."""
    canary = (_spec(obj).get("strategy") or {}).get("canary")
    if canary is None or not canary.get("steps"):
        return None
    idx = _status(obj).get("currentStepIndex")
    return int(idx) if idx is not None else 0


def rollout_promote(obj: Mapping[str, Any], *, full: bool = False, apps: Apps = ()) -> Plan:
    """kubectl argo rollouts promote [--full]: the plugin's merge patches, status first.

    Our addition: every patch carries the resourceVersion the step was computed from, so two promotes
    (from two consoles, or a double key press) cannot skip a step: the second one gets a conflict.
    """
    action = "promote-full" if full else "promote"
    target, rv = _rollout(obj, action)
    spec, status = _spec(obj), _status(obj)
    strategy = spec.get("strategy") or {}
    steps = len((strategy.get("canary") or {}).get("steps") or ())
    warnings = gitops_warnings(obj, apps)
    requests: list[Request] = []
    verbs: list[tuple[str, str]] = []
    if full:
        summary = f"fully promote {target}: skip the remaining steps, pauses and analysis"
        if status.get("currentPodHash") != status.get("stableRS"):
            requests.append(_status_patch(target, rv, {"promoteFull": True}, None,
                                          "merge patch, as kubectl argo rollouts promote --full",
                                          expect=[[(("status", "promoteFull"), True)],
                                                  [(("status", "stableRS"), status.get("currentPodHash"))]]))
            verbs.append(("patch", "status"))
        if not requests:
            return _skip(action, target, obj, rv, summary, f"rollout '{target.name}' is already fully promoted",
                         warnings)
        return _plan(action, target, obj, requests, rv, summary=summary, warnings=warnings, verbs=verbs,
                     destructive=True, success=f"rollout '{target.name}' fully promoted")
    index = _current_step(obj)
    conditions = status.get("pauseConditions") or []
    analysis = ((status.get("canary") or {}).get("currentStepAnalysisRunStatus") or {}).get("status")
    inconclusive = strategy.get("canary") is not None and analysis == "Inconclusive"
    unified: dict[str, Any] = {"spec": {"paused": False}, "status": {"pauseConditions": None}}
    status_patch: dict[str, Any] | None = None
    if inconclusive and conditions and status.get("controllerPause"):
        if index is not None:
            nxt = index + 1 if index < steps else index
            status_patch = {"pauseConditions": None, "controllerPause": False, "currentStepIndex": nxt}
    elif conditions:
        status_patch = {"pauseConditions": None}
    elif strategy.get("canary") is not None and index is not None:
        nxt = index + 1 if index < steps else index
        status_patch = {"pauseConditions": None, "currentStepIndex": nxt}
        unified = {"spec": {"paused": False}, "status": {"pauseConditions": None, "currentStepIndex": nxt}}
    if status_patch is not None:
        step = f" (step {status_patch['currentStepIndex']}/{steps})" if "currentStepIndex" in status_patch else ""
        requests.append(_status_patch(target, rv, status_patch, unified,
                                      f"merge patch, as kubectl argo rollouts promote{step}"))
        verbs.append(("patch", "status"))
    if spec.get("paused"):
        req = _patch(target, _with_rv({"spec": {"paused": False}}, rv), MERGE_PATCH,
                     "merge patch, as kubectl argo rollouts promote (unpause)", expect=[[(("spec", "paused"), None)]])
        req.after_fallback = False  # the unified fallback patch already unpaused
        requests.append(req)
        verbs.append(("patch", ""))
    what = "blue-green rollout" if strategy.get("blueGreen") is not None else "rollout"
    summary = f"promote {what} {target}"
    if index is not None and steps:
        summary += f" (at step {min(index, steps)}/{steps})"
    if not requests:
        return _skip(action, target, obj, rv, summary, f"rollout '{target.name}' is not paused and has no step "
                     "to promote", warnings)
    return _plan(action, target, obj, requests, rv, summary=summary, warnings=warnings, verbs=verbs,
                 success=f"rollout '{target.name}' promoted")


def rollout_promote_full(obj: Mapping[str, Any], *, apps: Apps = ()) -> Plan:
    return rollout_promote(obj, full=True, apps=apps)


def rollout_promote_bluegreen(obj: Mapping[str, Any], *, apps: Apps = ()) -> Plan:
    """Promote a blue-green Rollout's preview to active (the plugin's promote on a blueGreen strategy)."""
    if ((_spec(obj).get("strategy") or {}).get("blueGreen")) is None:
        target, _ = _rollout(obj, "promote")
        raise ActionError(f"{target} is not a blue-green rollout", action="promote", target=target)
    return rollout_promote(obj, apps=apps)


def rollout_abort(obj: Mapping[str, Any], *, apps: Apps = ()) -> Plan:
    """kubectl argo rollouts abort: traffic back to stable, the canary scaled down."""
    action = "abort"
    target, rv = _rollout(obj, action)
    req = _status_patch(target, rv, {"abort": True}, None, "merge patch, as kubectl argo rollouts abort",
                        expect=[[(("status", "abort"), True)]])
    return _plan(action, target, obj, [req], rv, summary=f"abort the update of {target}: back to the stable version",
                 warnings=gitops_warnings(obj, apps), verbs=(("patch", "status"),), destructive=True,
                 success=f"rollout '{target.name}' aborted")


def rollout_retry(obj: Mapping[str, Any], *, apps: Apps = ()) -> Plan:
    """kubectl argo rollouts retry rollout: clear the abort so the update runs again."""
    action = "retry"
    target, rv = _rollout(obj, action)
    req = _status_patch(target, rv, {"abort": False}, None, "merge patch, as kubectl argo rollouts retry",
                        expect=[[(("status", "abort"), None)]])
    return _plan(action, target, obj, [req], rv, summary=f"retry the aborted update of {target}",
                 warnings=gitops_warnings(obj, apps), verbs=(("patch", "status"),),
                 success=f"rollout '{target.name}' retried")
