"""Revision history and undo for Deployments and Rollouts: the ReplicaSets a workload controls, their
revision annotations (kubectl rollout history, for the revision picker) and the rollback JSON patch of
kubectl rollout undo / kubectl argo rollouts undo, with their "already at that revision" rules.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from almtui.cluster.actions.model import JSON_PATCH, ActionError, Plan, Request, Target
from almtui.cluster.actions.planner.common import (
    _CONTAINER_LISTS,
    Apps,
    _images,
    _md,
    _plan,
    _query,
    _rv,
    _skip,
    _spec,
    _workload,
    shown_name,
    test_rv,
)
from almtui.cluster.actions.planner.equality import _derivative, semantic_equal
from almtui.cluster.actions.planner.gitops import gitops_warnings
from almtui.cluster.kinds import DEPLOYMENTS, Kind
from almtui.kube.selectors import SelectorError, from_label_selector_object

DEPLOYMENT_REVISION = "deployment.kubernetes.io/revision"
ROLLOUT_REVISION = "rollout.argoproj.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
POD_TEMPLATE_HASH = "pod-template-hash"
ROLLOUTS_POD_TEMPLATE_HASH = "rollouts-pod-template-hash"
# kubectl rollback: Deployment annotations kept as they are (not copied from the ReplicaSet)
ROLLBACK_SKIPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration", DEPLOYMENT_REVISION,
                                "deployment.kubernetes.io/revision-history",
                                "deployment.kubernetes.io/desired-replicas",
                                "deployment.kubernetes.io/max-replicas", "deprecated.deployment.rollback.to")


@dataclass(frozen=True)
class Revision:
    """One entry of the revision picker (kubectl rollout history)."""

    revision: int
    images: tuple[str, ...]
    change_cause: str
    created: str
    replicaset: str
    current: bool


def _without_label(template: Mapping[str, Any] | None, label: str) -> dict:
    t = copy.deepcopy(dict(template or {}))
    labels = (t.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(label, None)
        if not labels:
            t["metadata"].pop("labels")
    return t


def _controlled(obj: Mapping[str, Any], replicasets: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The ReplicaSets selected by the workload's selector and controlled by it (deploymentutil)."""
    uid = _md(obj).get("uid")
    try:
        selector = from_label_selector_object(_spec(obj).get("selector"))
    except SelectorError:
        return []
    out = []
    for rs in replicasets:
        md = _md(rs)
        if md.get("namespace") != _md(obj).get("namespace") or not selector.matches(md.get("labels") or {}):
            continue
        if any(r.get("controller") and r.get("uid") == uid for r in md.get("ownerReferences") or ()):
            out.append(rs)
    return out


def _revision_of(rs: Mapping[str, Any], annotation: str) -> int | None:
    """deploymentutil.Revision: a missing annotation is 0, a malformed one is skipped."""
    v = (_md(rs).get("annotations") or {}).get(annotation)
    if v is None:
        return 0
    try:
        return int(v)
    except ValueError:
        return None


def _history(obj: Mapping[str, Any], replicasets: Iterable[Mapping[str, Any]]) -> tuple[Kind, str, list]:
    kind = _workload(obj, "undo")
    annotation = DEPLOYMENT_REVISION if kind is DEPLOYMENTS else ROLLOUT_REVISION
    out = []
    for rs in _controlled(obj, replicasets):
        rev = _revision_of(rs, annotation)
        if rev is not None:
            out.append((rev, rs))
    return kind, annotation, out


def revisions(obj: Mapping[str, Any], replicasets: Iterable[Mapping[str, Any]]) -> list[Revision]:
    """The workload's revisions, ascending (kubectl rollout history), for the revision picker."""
    kind, _, hist = _history(obj, replicasets)
    hash_label = POD_TEMPLATE_HASH if kind is DEPLOYMENTS else ROLLOUTS_POD_TEMPLATE_HASH
    current = _without_label(_spec(obj).get("template"), hash_label)
    out = []
    for rev, rs in sorted(hist, key=lambda x: x[0]):
        tmpl = _spec(rs).get("template") or {}
        pod = tmpl.get("spec") or {}
        images = tuple(c.get("image", "") for lst in _CONTAINER_LISTS for c in pod.get(lst) or ())
        md = _md(rs)
        out.append(Revision(rev, images, (md.get("annotations") or {}).get(CHANGE_CAUSE, ""),
                            md.get("creationTimestamp", ""), md.get("name", ""),
                            semantic_equal(_without_label(tmpl, hash_label), current)))
    return out


def _pick(hist: list, to_revision: int) -> Mapping[str, Any] | None:
    """deploymentRevision / rolloutRevision: the given revision, or the second-highest one."""
    if to_revision > 0:
        return next((rs for rev, rs in hist if rev == to_revision), None)
    latest, previous = (-1, None), (-1, None)
    for rev, rs in hist:
        if latest[0] < rev:
            previous, latest = latest, (rev, rs)
        elif previous[0] < rev:
            previous = (rev, rs)
    return previous[1]


def undo(obj: Mapping[str, Any], replicasets: Iterable[Mapping[str, Any]], to_revision: int = 0, *,
         apps: Apps = ()) -> Plan:
    """kubectl rollout undo [--to-revision] / kubectl argo rollouts undo, with their rollback rules."""
    action = "undo"
    kind, _, hist = _history(obj, replicasets)
    target = Target.of(kind, obj)
    rv = _rv(obj, target, action)
    warnings = gitops_warnings(obj, apps)
    if to_revision < 0:
        raise ActionError(f"unable to find specified revision {to_revision} in history", action=action,
                          target=target)
    rs = _pick(hist, to_revision)
    if rs is None:
        if to_revision > 0:
            msg = f"unable to find specified revision {to_revision} in history"
        elif kind is DEPLOYMENTS:
            msg = f'no rollout history found for deployment "{target.name}"'
        else:
            msg = f'no revision found for rollout "{target.name}"'
        raise ActionError(msg, action=action, target=target)
    revision = _revision_of(rs, DEPLOYMENT_REVISION if kind is DEPLOYMENTS else ROLLOUT_REVISION)
    summary = f"roll {target} back to revision {revision} ({', '.join(_images(rs).values())})"
    rs_template = _spec(rs).get("template") or {}
    current = _spec(obj).get("template") or {}
    if kind is DEPLOYMENTS:
        if _spec(obj).get("paused"):
            raise ActionError("you cannot rollback a paused deployment; resume it first with 'kubectl rollout "
                              f"resume deployment/{target.name}' and try again", action=action, target=target)
        equal = semantic_equal(_without_label(rs_template, POD_TEMPLATE_HASH),
                               _without_label(current, POD_TEMPLATE_HASH))
    else:
        equal = _derivative(_without_label(current, ROLLOUTS_POD_TEMPLATE_HASH),
                            _without_label(rs_template, ROLLOUTS_POD_TEMPLATE_HASH))
    if equal:  # kubectl prints the revision it was asked for (0 by default); we name the one it matched
        return _skip(action, target, obj, rv, summary,
                     f"skipped rollback (current template already matches revision {revision})", warnings)
    template = _without_label(rs_template, POD_TEMPLATE_HASH if kind is DEPLOYMENTS else ROLLOUTS_POD_TEMPLATE_HASH)
    ops: list[dict] = [test_rv(rv), {"op": "replace", "path": "/spec/template", "value": template}]
    if kind is DEPLOYMENTS:
        dep_ann = _md(obj).get("annotations") or {}
        annotations = {k: dep_ann[k] for k in ROLLBACK_SKIPPED_ANNOTATIONS if k in dep_ann}
        annotations.update({k: v for k, v in (_md(rs).get("annotations") or {}).items()
                            if k not in ROLLBACK_SKIPPED_ANNOTATIONS})
        ops.append({"op": "replace", "path": "/metadata/annotations", "value": annotations})
        desc, success = "JSON patch, as kubectl rollout undo", f"{shown_name(kind, target.name)} rolled back"
    else:
        if _spec(obj).get("workloadRef"):
            raise ActionError(f"{target} uses workloadRef: undo the referenced workload", action=action,
                              target=target)
        desc, success = "JSON patch, as kubectl argo rollouts undo", f"rollout '{target.name}' undo"
    req = Request("PATCH", target.path, ops, JSON_PATCH, _query(), desc,
                  expect=[[(("spec", "template"), template)]])
    return _plan(action, target, obj, [req], rv, summary=summary, warnings=warnings, destructive=True,
                 success=success, status_read=False)
