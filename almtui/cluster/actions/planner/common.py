"""What every plan builder shares: object accessors, the Kind check, the resourceVersion precondition
(`_with_rv`, `test_rv`), the PATCH request and the Plan/skip constructors, and the pod template's container
lists. Kept apart so that how a plan is shaped (query, access list, snapshot of the object) changes in one
place for every action.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from almtui.cluster.actions.model import FIELD_MANAGER, Access, ActionError, Plan, Request, Target
from almtui.cluster.kinds import APPLICATIONS, DEPLOYMENTS, HPAS, PIPELINERUNS, ROLLOUTS, Kind, path

Apps = Sequence[Mapping[str, Any]]


def _md(obj: Mapping[str, Any]) -> dict:
    return obj.get("metadata") or {}


def _spec(obj: Mapping[str, Any]) -> dict:
    return obj.get("spec") or {}


def _status(obj: Mapping[str, Any]) -> dict:
    return obj.get("status") or {}


def kind_of(obj: Mapping[str, Any]) -> Kind:
    """The almtui Kind of an object read from the cluster (kind + apiVersion group)."""
    group = (obj.get("apiVersion") or "").rpartition("/")[0]
    for k in (DEPLOYMENTS, ROLLOUTS, HPAS, PIPELINERUNS, APPLICATIONS):
        if obj.get("kind") == k.kind and group == k.group:
            return k
    raise ActionError(f"almtui has no actions for {obj.get('kind') or 'this object'} "
                      f"({obj.get('apiVersion') or 'no apiVersion'})")


def _workload(obj: Mapping[str, Any], action: str) -> Kind:
    kind = kind_of(obj)
    if kind not in (DEPLOYMENTS, ROLLOUTS):
        raise ActionError(f"{action} needs a Deployment or a Rollout, not a {kind.kind}", action=action)
    return kind


def _rv(obj: Mapping[str, Any], target: Target, action: str) -> str:
    rv = _md(obj).get("resourceVersion")
    if not rv:
        raise ActionError(f"{target} has no resourceVersion: plan from an object read from the cluster",
                          action=action, target=target)
    return str(rv)


def shown_name(kind: Kind, name: str) -> str:
    """kubectl's `deployment.apps/web`."""
    return f"{kind.kind.lower()}.{kind.group}/{name}" if kind.group else f"{kind.kind.lower()}/{name}"


def _with_rv(body: dict, rv: str) -> dict:
    """A merge / strategic merge body conditioned on the resourceVersion (metadata first, for reading)."""
    out: dict[str, Any] = {"metadata": {"resourceVersion": rv}}
    for k, v in body.items():
        if k == "metadata":
            out["metadata"] = {**v, "resourceVersion": rv}
        else:
            out[k] = v
    return out


def test_rv(rv: str) -> dict:
    """The JSON patch operation that conditions the rest of the patch on the resourceVersion."""
    return {"op": "test", "path": "/metadata/resourceVersion", "value": rv}


def _query() -> dict[str, str]:
    return {"fieldManager": FIELD_MANAGER}


def _patch(target: Target, body: Any, content_type: str, description: str, *, sub: str | None = None,
           expect: list | None = None) -> Request:
    return Request("PATCH", path(target.kind, target.namespace, target.name, sub), body, content_type, _query(),
                   description, expect=expect)


def _access(verb: str, target: Target, sub: str = "") -> Access:
    return (verb, target.kind.group, target.kind.plural, sub, target.namespace, target.name)


def _plan(action: str, target: Target, obj: Mapping[str, Any], requests: list[Request], rv: str, *,
          summary: str, verbs: Iterable[tuple[str, str]] = (("patch", ""),), destructive: bool = False,
          warnings: Iterable[str] = (), success: str = "", skip: str = "", status_read: bool = True) -> Plan:
    return Plan(action=action, target=target, requests=requests, precondition_rv=rv, destructive=destructive,
                summary=summary, warnings=list(warnings),
                access=[_access(v, target, s) for v, s in verbs] if requests else [],
                before=copy.deepcopy(dict(obj)), skip_reason=skip, success_message=success,
                status_read=status_read)


def _skip(action: str, target: Target, obj: Mapping[str, Any], rv: str, summary: str, reason: str,
          warnings: Iterable[str] = ()) -> Plan:
    return _plan(action, target, obj, [], rv, summary=summary, warnings=warnings, skip=reason)


_CONTAINER_LISTS = ("initContainers", "containers")


def _images(obj: Mapping[str, Any]) -> dict[str, str]:
    pod = (_spec(obj).get("template") or {}).get("spec") or {}
    return {c.get("name"): c.get("image", "") for lst in _CONTAINER_LISTS for c in pod.get(lst) or ()}
