"""Argo CD Application actions: sync and rollback, each an update of the whole Application with
`operation` set, as the Argo CD API server's SetAppOperation does, with the refusals `argocd app sync`
and `argocd app rollback` make.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from typing import Any

from almtui.cluster.actions.model import JSON, ActionError, Plan, Request, Target
from almtui.cluster.actions.planner.common import _md, _plan, _query, _rv, _spec, _status, kind_of
from almtui.cluster.actions.planner.gitops import _auto_sync
from almtui.cluster.kinds import APPLICATIONS


def _application(app: Mapping[str, Any], action: str) -> tuple[Target, str]:
    if kind_of(app) is not APPLICATIONS:
        raise ActionError(f"{_md(app).get('name')} is not an Argo CD Application", action=action)
    target = Target.of(APPLICATIONS, app)
    if app.get("operation"):
        raise ActionError("another operation is already in progress", action=action, target=target)
    if _md(app).get("deletionTimestamp"):
        raise ActionError("application is deleting", action=action, target=target)
    return target, _rv(app, target, action)


def _set_operation(app: Mapping[str, Any], target: Target, rv: str, operation: dict, action: str,
                   summary: str, destructive: bool) -> Plan:
    """argo.SetAppOperation: an update of the whole Application with `operation` set and
    status.operationState cleared (the Application CRD has no status subresource). On a conflict
    SetAppOperation reads the Application again and retries unless an operation is in progress:
    the request's `rebase` does the same for the executor."""
    def body_on(fresh: Mapping[str, Any]) -> dict:
        body = copy.deepcopy(dict(fresh))
        body.get("metadata", {}).pop("managedFields", None)
        body["operation"] = operation
        (body.get("status") or {}).pop("operationState", None)
        return body

    def rebase(fresh: dict) -> dict:
        if fresh.get("operation"):
            raise ActionError("another operation is already in progress", action=action, target=target)
        return body_on(fresh)

    marker = operation["info"]
    req = Request("PUT", target.path, body_on(app), JSON, _query(), "update of the Application's operation, as the "
                  "Argo CD API server's SetAppOperation",
                  expect=[[(("operation", "info"), marker)], [(("status", "operationState", "operation", "info"),
                                                               marker)]], rebase=rebase)
    return _plan(action, target, app, [req], rv, summary=summary, verbs=(("update", ""),), destructive=destructive,
                 success=f"application '{target.name}' {'sync' if action == 'sync' else 'rollback'} initiated")


def _info() -> list[dict[str, str]]:
    """operation.info: shown by Argo CD, and lets the executor recognise its own operation."""
    return [{"name": "initiated-by", "value": "almtui"}, {"name": "almtui-action-id", "value": uuid.uuid4().hex}]


def app_sync(app: Mapping[str, Any], *, revision: str | None = None, prune: bool = False,
             initiated_by: str = "almtui") -> Plan:
    """argocd app sync: set `operation.sync` as the API server's Sync does."""
    action = "sync"
    target, rv = _application(app, action)
    spec = _spec(app)
    source = spec.get("source") or {}
    target_rev = source.get("targetRevision") or "HEAD"
    if _auto_sync(app) and revision and revision != target_rev:
        raise ActionError(f"Cannot sync to {revision}: auto-sync currently set to {source.get('targetRevision', '')}",
                          action=action, target=target)
    sync: dict[str, Any] = {"revision": revision or target_rev}
    if prune:
        sync["prune"] = True
    policy = spec.get("syncPolicy") or {}
    if policy.get("syncOptions"):
        sync["syncOptions"] = list(policy["syncOptions"])
    operation = {"sync": sync, "initiatedBy": {"username": initiated_by}, "info": _info(),
                 "retry": copy.deepcopy(policy.get("retry") or {})}
    return _set_operation(app, target, rv, operation, action,
                          f"sync {target} to {sync['revision']}{' with prune' if prune else ''}", destructive=prune)


def app_rollback(app: Mapping[str, Any], history_id: int, *, prune: bool = False,
                 initiated_by: str = "almtui") -> Plan:
    """argocd app rollback <id>: a sync to a history entry, refused while auto-sync is on."""
    action = "rollback"
    target, rv = _application(app, action)
    if _auto_sync(app):
        raise ActionError("rollback cannot be initiated when auto-sync is enabled", action=action, target=target)
    entry = next((h for h in _status(app).get("history") or () if h.get("id") == history_id), None)
    if entry is None:
        raise ActionError(f"application {target.name} does not have deployment with id {history_id}", action=action,
                          target=target)
    if not entry.get("source") and not entry.get("sources"):
        raise ActionError("cannot rollback to revision deployed with Argo CD v0.11 or lower. sync to revision "
                          "instead.", action=action, target=target)
    sync: dict[str, Any] = {"revision": entry.get("revision", "")}
    if prune:
        sync["prune"] = True
    policy = _spec(app).get("syncPolicy") or {}
    if policy.get("syncOptions"):
        sync["syncOptions"] = list(policy["syncOptions"])
    sync["syncStrategy"] = {"apply": {}}
    if entry.get("source"):
        sync["source"] = copy.deepcopy(entry["source"])
    if entry.get("sources"):
        sync["sources"] = copy.deepcopy(entry["sources"])
    operation = {"sync": sync, "initiatedBy": {"username": initiated_by}, "info": _info(), "retry": {}}
    return _set_operation(app, target, rv, operation, action,
                          f"roll {target} back to history {history_id} ({entry.get('revision', '')[:12]})",
                          destructive=True)
