"""Rollout controls shared by Deployments and Argo Rollouts: pause, resume, restart and scale, each with
the patch kubectl (strategic merge) or the Argo Rollouts plugin (merge) sends. They change the
workload's spec without touching its pod template's containers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from almtui.cluster.actions.model import MERGE_PATCH, STRATEGIC_MERGE_PATCH, ActionError, Plan, Target
from almtui.cluster.actions.planner.common import (
    Apps,
    _patch,
    _plan,
    _rv,
    _skip,
    _spec,
    _with_rv,
    _workload,
    shown_name,
)
from almtui.cluster.actions.planner.gitops import gitops_warnings
from almtui.cluster.kinds import DEPLOYMENTS

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def pause(obj: Mapping[str, Any], *, apps: Apps = ()) -> Plan:
    """kubectl rollout pause / kubectl argo rollouts pause."""
    action = "pause"
    kind = _workload(obj, action)
    target = Target.of(kind, obj)
    rv = _rv(obj, target, action)
    warnings = gitops_warnings(obj, apps)
    summary = f"pause {target}"
    if _spec(obj).get("paused"):
        return _skip(action, target, obj, rv, summary, f"{shown_name(kind, target.name)} already paused", warnings)
    expect = [[(("spec", "paused"), True)]]
    if kind is DEPLOYMENTS:
        req = _patch(target, _with_rv({"spec": {"paused": True}}, rv), STRATEGIC_MERGE_PATCH,
                     "strategic merge patch, as kubectl rollout pause", expect=expect)
        success = f"{shown_name(kind, target.name)} paused"
    else:
        req = _patch(target, _with_rv({"spec": {"paused": True}}, rv), MERGE_PATCH,
                     "merge patch, as kubectl argo rollouts pause", expect=expect)
        success = f"rollout '{target.name}' paused"
    return _plan(action, target, obj, [req], rv, summary=summary, warnings=warnings, success=success, status_read=False)


def resume(obj: Mapping[str, Any], *, apps: Apps = ()) -> Plan:
    """kubectl rollout resume; for a Rollout, the unpause half of the plugin's promote."""
    action = "resume"
    kind = _workload(obj, action)
    target = Target.of(kind, obj)
    rv = _rv(obj, target, action)
    warnings = gitops_warnings(obj, apps)
    summary = f"resume {target}"
    if not _spec(obj).get("paused"):
        reason = (f"{shown_name(kind, target.name)} already resumed" if kind is DEPLOYMENTS else
                  f"rollout '{target.name}' is not paused (promote continues past a pause step)")
        return _skip(action, target, obj, rv, summary, reason, warnings)
    expect = [[(("spec", "paused"), None)]]
    if kind is DEPLOYMENTS:
        req = _patch(target, _with_rv({"spec": {"paused": None}}, rv), STRATEGIC_MERGE_PATCH,
                     "strategic merge patch, as kubectl rollout resume", expect=expect)
        success = f"{shown_name(kind, target.name)} resumed"
    else:
        req = _patch(target, _with_rv({"spec": {"paused": False}}, rv), MERGE_PATCH,
                     "merge patch, as kubectl argo rollouts promote does for a paused Rollout", expect=expect)
        success = f"rollout '{target.name}' resumed"
    return _plan(action, target, obj, [req], rv, summary=summary, warnings=warnings, success=success, status_read=False)


def restart(obj: Mapping[str, Any], *, apps: Apps = (), now: datetime | None = None) -> Plan:
    """kubectl rollout restart (template annotation) / kubectl argo rollouts restart (spec.restartAt)."""
    action = "restart"
    kind = _workload(obj, action)
    target = Target.of(kind, obj)
    rv = _rv(obj, target, action)
    warnings = gitops_warnings(obj, apps)
    now = now or datetime.now(UTC)
    if kind is DEPLOYMENTS:
        if _spec(obj).get("paused"):
            raise ActionError("can't restart paused deployment (run rollout resume first)", action=action,
                              target=target)
        stamp = now.astimezone().isoformat(timespec="seconds")  # kubectl: time.Now().Format(RFC3339), local
        if stamp.endswith("+00:00"):
            stamp = stamp[:-6] + "Z"
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        expect = [[(("spec", "template", "metadata", "annotations", RESTARTED_AT), stamp)]]
        req = _patch(target, _with_rv(body, rv), STRATEGIC_MERGE_PATCH, "strategic merge patch, as kubectl "
                     "rollout restart", expect=expect)
        success = f"{shown_name(kind, target.name)} restarted"
    else:
        stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        req = _patch(target, _with_rv({"spec": {"restartAt": stamp}}, rv), MERGE_PATCH,
                     "merge patch, as kubectl argo rollouts restart", expect=[[(("spec", "restartAt"), stamp)]])
        success = f"rollout '{target.name}' restarts in 0s"
    return _plan(action, target, obj, [req], rv, summary=f"restart the pods of {target}", warnings=warnings,
                 success=success, status_read=False)


def scale(obj: Mapping[str, Any], replicas: int, *, apps: Apps = ()) -> Plan:
    """kubectl scale: a merge patch of the scale subresource (Deployment or Rollout)."""
    action = "scale"
    kind = _workload(obj, action)
    target = Target.of(kind, obj)
    rv = _rv(obj, target, action)
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        raise ActionError(f"spec.replicas: Invalid value: {replicas!r}: must be an integer", field="spec.replicas",
                          action=action, target=target)
    if replicas < 0:
        raise ActionError(f"spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0",
                          field="spec.replicas", action=action, target=target)
    current = _spec(obj).get("replicas", 1)
    warnings = gitops_warnings(obj, apps)
    summary = f"scale {target} from {current} to {replicas} replicas"
    if current == replicas:
        return _skip(action, target, obj, rv, summary, f"{shown_name(kind, target.name)} already has {replicas} "
                     "replicas", warnings)
    req = _patch(target, _with_rv({"spec": {"replicas": replicas}}, rv), MERGE_PATCH,
                 "merge patch of the scale subresource, as kubectl scale", sub="scale",
                 expect=[[(("spec", "replicas"), replicas)]])
    return _plan(action, target, obj, [req], rv, summary=summary, warnings=warnings, verbs=(("patch", "scale"),),
                 destructive=replicas < current, success=f"{shown_name(kind, target.name)} scaled", status_read=False)
