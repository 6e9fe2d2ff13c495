"""One function per action: build the exact Plan (requests and bodies) from the object(s) as last read.

Why copy the reference tools byte for byte: operators know what `kubectl set image`, `kubectl rollout
undo`, `kubectl argo rollouts promote`, `tkn pipelinerun cancel` and `argocd app sync` do; the plans
send the same requests (same patch types, same bodies) plus a resourceVersion precondition (see
`almtui.cluster.actions.model`) and `fieldManager=almtui`. Refusals the tools make client-side are
ActionError with the tool's message. Nothing here does I/O: the objects come from the caller (the
informer cache), the executor re-reads when it matters.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from almtui.cluster.actions.model import (
    ACTION_ID_LABEL,
    FIELD_MANAGER,
    JSON,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    Access,
    ActionError,
    PathElem,
    Plan,
    Request,
    Target,
)
from almtui.cluster.kinds import (
    APPLICATIONS,
    DEPLOYMENTS,
    HPAS,
    PIPELINERUNS,
    ROLLOUTS,
    Kind,
    path,
)
from almtui.kube.selectors import SelectorError, from_label_selector_object

DEPLOYMENT_REVISION = "deployment.kubernetes.io/revision"
ROLLOUT_REVISION = "rollout.argoproj.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
POD_TEMPLATE_HASH = "pod-template-hash"
ROLLOUTS_POD_TEMPLATE_HASH = "rollouts-pod-template-hash"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
TRACKING_ID = "argocd.argoproj.io/tracking-id"
INSTANCE_LABEL = "app.kubernetes.io/instance"
# kubectl rollback: Deployment annotations kept as they are (not copied from the ReplicaSet)
ROLLBACK_SKIPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration", DEPLOYMENT_REVISION,
                                "deployment.kubernetes.io/revision-history",
                                "deployment.kubernetes.io/desired-replicas",
                                "deployment.kubernetes.io/max-replicas", "deprecated.deployment.rollback.to")
# HPA validation limits (pkg/apis/autoscaling/validation)
MAX_PERIOD_SECONDS = 1800
MAX_STABILIZATION_WINDOW_SECONDS = 3600
SELECT_POLICIES = ("Disabled", "Max", "Min")
POLICY_TYPES = ("Percent", "Pods")

Apps = Sequence[Mapping[str, Any]]


# -- small helpers ------------------------------------------------------------------------------


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
          warnings: Iterable[str] = (), success: str = "", skip: str = "") -> Plan:
    return Plan(action=action, target=target, requests=requests, precondition_rv=rv, destructive=destructive,
                summary=summary, warnings=list(warnings),
                access=[_access(v, target, s) for v, s in verbs] if requests else [],
                before=copy.deepcopy(dict(obj)), skip_reason=skip, success_message=success)


def _skip(action: str, target: Target, obj: Mapping[str, Any], rv: str, summary: str, reason: str,
          warnings: Iterable[str] = ()) -> Plan:
    return _plan(action, target, obj, [], rv, summary=summary, warnings=warnings, skip=reason)


def _prune(v: Any) -> Any:
    """Semantic equality: absent, null, empty maps/lists/strings and false are all "unset"."""
    if isinstance(v, Mapping):
        out = {k: _prune(x) for k, x in v.items()}
        return {k: x for k, x in out.items() if x not in (None, {}, [], "", False)}
    if isinstance(v, list):
        return [_prune(x) for x in v]
    return v


def semantic_equal(a: Any, b: Any) -> bool:
    """apiequality.Semantic.DeepEqual on decoded JSON (empty and unset compare equal)."""
    return _prune(a) == _prune(b)


def _derivative(a: Any, b: Any) -> bool:
    """apiequality.Semantic.DeepDerivative: fields unset in `a` are ignored."""
    if a is None or (isinstance(a, str | dict | list) and not a):
        return True
    if isinstance(a, Mapping):
        return isinstance(b, Mapping) and all(_derivative(v, b.get(k)) for k, v in a.items())
    if isinstance(a, list):
        return isinstance(b, list) and len(a) <= len(b) and all(_derivative(x, y) for x, y in zip(a, b, strict=False))
    return a == b


def _without_label(template: Mapping[str, Any] | None, label: str) -> dict:
    t = copy.deepcopy(dict(template or {}))
    labels = (t.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(label, None)
        if not labels:
            t["metadata"].pop("labels")
    return t


# -- GitOps ownership ---------------------------------------------------------------------------


def _auto_sync(app: Mapping[str, Any]) -> bool:
    """IsAutomatedSyncEnabled: syncPolicy.automated set, and not explicitly disabled (Argo CD 3)."""
    automated = (_spec(app).get("syncPolicy") or {}).get("automated")
    return automated is not None and (not isinstance(automated, Mapping) or automated.get("enabled") is not False)


def managing_app(obj: Mapping[str, Any], apps: Apps) -> Mapping[str, Any] | None:
    """The Argo CD Application that manages `obj`, if any.

    Detected as Argo CD does: the `argocd.argoproj.io/tracking-id` annotation
    ("<app>:<group>/<Kind>:<ns>/<name>", the app possibly "<appns>_<app>"), the
    `app.kubernetes.io/instance` label (label tracking), or the app's status.resources.
    """
    md = _md(obj)
    ns, name, kind = md.get("namespace"), md.get("name"), obj.get("kind")
    group = (obj.get("apiVersion") or "").rpartition("/")[0]
    tracked = ((md.get("annotations") or {}).get(TRACKING_ID) or "").split(":", 1)[0]
    instance = (md.get("labels") or {}).get(INSTANCE_LABEL)
    for app in apps:
        amd = _md(app)
        aname = amd.get("name")
        if tracked and tracked in (aname, f"{amd.get('namespace')}_{aname}"):
            return app
        if instance and instance == aname:
            return app
        for r in _status(app).get("resources") or ():
            if (r.get("kind") == kind and r.get("name") == name and (r.get("namespace") or ns) == ns
                    and (r.get("group") or "") == group):
                return app
    return None


def gitops_warnings(obj: Mapping[str, Any], apps: Apps) -> list[str]:
    """A warning when a direct change to `obj` will be reverted by Argo CD."""
    app = managing_app(obj, apps)
    if app is None:
        return []
    name = _md(app).get("name")
    if _auto_sync(app):
        return [f"managed by Argo CD app {name} with auto-sync: GitOps will revert this change"]
    return [f"managed by Argo CD app {name}: the next sync will revert this change"]


# -- set image / promote a version --------------------------------------------------------------


_CONTAINER_LISTS = ("initContainers", "containers")


def _images(obj: Mapping[str, Any]) -> dict[str, str]:
    pod = (_spec(obj).get("template") or {}).get("spec") or {}
    return {c.get("name"): c.get("image", "") for lst in _CONTAINER_LISTS for c in pod.get(lst) or ()}


def _set_images(pod: dict, images: Mapping[str, str]) -> dict[str, list[dict]]:
    """kubectl set image's mutation: by container name ("*" = all); the changed containers per list."""
    changed: dict[str, list[dict]] = {}
    missing = []
    for cname, image in images.items():
        found = False
        for lst in _CONTAINER_LISTS:
            for c in pod.get(lst) or ():
                if cname == "*" or c.get("name") == cname:
                    found = True
                    if c.get("image") != image:
                        c["image"] = image
                        changed.setdefault(lst, [])
                        if c not in changed[lst]:
                            changed[lst].append(c)
        if not found:
            missing.append(cname)
    if missing:
        raise ActionError(f'unable to find container named "{missing[0]}"')
    return changed


def set_image(obj: Mapping[str, Any], images: Mapping[str, str], *, apps: Apps = (),
              action: str = "set-image") -> Plan:
    """Start a rollout: set container images (kubectl set image / kubectl argo rollouts set image).

    Deployment: the strategic merge patch kubectl computes (with `$setElementOrder/containers`).
    Rollout: GET-modify-PUT of the whole object, as the plugin does.
    """
    kind = _workload(obj, action)
    target = Target.of(kind, obj)
    rv = _rv(obj, target, action)
    if not images:
        raise ActionError("no image given", action=action, target=target)
    work = copy.deepcopy(dict(obj))
    pod = work.setdefault("spec", {}).setdefault("template", {}).setdefault("spec", {})
    try:
        changed = _set_images(pod, images)
    except ActionError as e:
        raise ActionError(e.message, action=action, target=target) from None
    shown = ", ".join(f"{n}={i}" for n, i in images.items())
    warnings = gitops_warnings(obj, apps)
    summary = f"set image of {target}: {shown}"
    if not changed:
        return _skip(action, target, obj, rv, summary, f"{shown_name(kind, target.name)}: the image is already "
                     f"{shown}", warnings)
    expect = [[(("spec", "template", "spec", lst, {"name": c["name"]}, "image"), c["image"])
               for lst, cs in changed.items() for c in cs]]
    if kind is DEPLOYMENTS:
        pod_patch: dict[str, Any] = {}
        for lst in _CONTAINER_LISTS:  # sorted keys, as Go marshals the patch map
            if lst in changed:
                pod_patch[f"$setElementOrder/{lst}"] = [{"name": c.get("name")} for c in pod.get(lst) or ()]
        for lst in _CONTAINER_LISTS:
            if lst in changed:
                pod_patch[lst] = [{"image": c["image"], "name": c["name"]} for c in changed[lst]]
        body = _with_rv({"spec": {"template": {"spec": pod_patch}}}, rv)
        req = _patch(target, body, STRATEGIC_MERGE_PATCH, "strategic merge patch, as kubectl set image",
                     expect=expect)
        return _plan(action, target, obj, [req], rv, summary=summary, warnings=warnings,
                     success=f"{shown_name(kind, target.name)} image updated")
    if _spec(obj).get("workloadRef"):
        raise ActionError(f"{target} uses workloadRef: set the image on the referenced workload",
                          action=action, target=target)
    work.get("metadata", {}).pop("managedFields", None)
    req = Request("PUT", target.path, work, JSON, _query(), "update of the whole Rollout, as the plugin's set image",
                  expect=expect)
    return _plan(action, target, obj, [req], rv, summary=summary, warnings=warnings, verbs=(("update", ""),),
                 success=f"rollout \"{target.name}\" image updated")


def set_requests(obj: Mapping[str, Any], requests: Mapping[str, Mapping[str, str]], *, apps: Apps = (),
                 action: str = "set-requests") -> Plan:
    """Apply a right-sizing recommendation: new container resource requests (starts a rollout).

    Deployment: a strategic merge patch merging containers by name (as kubectl would compute it);
    Rollout: GET-modify-PUT of the whole object (custom resources take no strategic merge patch).
    """
    from almtui.cluster.advice.rightsizing import resources_patch, with_requests

    kind = _workload(obj, action)
    target = Target.of(kind, obj)
    rv = _rv(obj, target, action)
    if not requests:
        raise ActionError("no request given", action=action, target=target)
    try:
        patch = resources_patch(dict(obj), requests)
        work = with_requests(copy.deepcopy(dict(obj)), requests)
    except (ValueError, KeyError) as e:
        raise ActionError(str(e), action=action, target=target) from None
    shown = "; ".join(f"{c}: " + ", ".join(f"{r}={v}" for r, v in res.items()) for c, res in requests.items())
    summary = f"set requests of {target}: {shown}"
    warnings = gitops_warnings(obj, apps)
    expect = [[(("spec", "template", "spec", "containers", {"name": c}, "resources", "requests", r), v)
               for c, res in requests.items() for r, v in res.items()]]
    if kind is DEPLOYMENTS:
        req = _patch(target, _with_rv(patch, rv), STRATEGIC_MERGE_PATCH,
                     "strategic merge patch of container requests", expect=expect)
        return _plan(action, target, obj, [req], rv, summary=summary, warnings=warnings,
                     success=f"{shown_name(kind, target.name)} resource requests updated")
    work.get("metadata", {}).pop("managedFields", None)
    req = Request("PUT", target.path, work, JSON, _query(), "update of the whole Rollout with new requests",
                  expect=expect)
    return _plan(action, target, obj, [req], rv, summary=summary, warnings=warnings, verbs=(("update", ""),),
                 success=f"rollout \"{target.name}\" resource requests updated")


def promote_version(source: Mapping[str, Any], target_obj: Mapping[str, Any], *, apps: Apps = ()) -> Plan:
    """Promote a version to the next environment: give the target workload the source's images."""
    action = "promote-version"
    src = _images(source)
    dst = _images(target_obj)
    images = {n: img for n, img in src.items() if n in dst}
    tgt = Target.of(_workload(target_obj, action), target_obj)
    if not images:
        raise ActionError(f"{tgt} has no container named like those of {_md(source).get('name')} "
                          f"({', '.join(src) or 'none'})", action=action, target=tgt)
    plan = set_image(target_obj, images, apps=apps, action=action)
    versions = ", ".join(sorted(set(images.values())))
    plan.summary = (f"promote {versions} from {_md(source).get('namespace')} to {tgt.namespace}: " + plan.summary)
    return plan


# -- pause / resume / restart / scale -----------------------------------------------------------


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
    return _plan(action, target, obj, [req], rv, summary=summary, warnings=warnings, success=success)


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
    return _plan(action, target, obj, [req], rv, summary=summary, warnings=warnings, success=success)


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
                 success=success)


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
                 destructive=replicas < current, success=f"{shown_name(kind, target.name)} scaled")


# -- revisions and undo -------------------------------------------------------------------------


@dataclass(frozen=True)
class Revision:
    """One entry of the revision picker (kubectl rollout history)."""

    revision: int
    images: tuple[str, ...]
    change_cause: str
    created: str
    replicaset: str
    current: bool


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
                 success=success)


# -- Argo Rollouts ------------------------------------------------------------------------------


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


# -- HPA ----------------------------------------------------------------------------------------


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
                 success=f"{shown_name(HPAS, target.name)} patched")


# -- Tekton -------------------------------------------------------------------------------------


def _pipelinerun(run: Mapping[str, Any], action: str) -> tuple[Target, str]:
    if kind_of(run) is not PIPELINERUNS:
        raise ActionError(f"{_md(run).get('name')} is not a PipelineRun", action=action)
    target = Target.of(PIPELINERUNS, run)
    return target, _rv(run, target, action)


def pipelinerun_rerun(run: Mapping[str, Any], *, prefix_name: str | None = None) -> Plan:
    """tkn pipeline start --use-pipelinerun: a new PipelineRun with the old spec, spec.status cleared.

    generateName as tkn chooses it: --prefix-name + "-", else the old generateName, else "<old name>-".
    The new run also carries a unique `almtui.io/action-id` label: after a lost answer the executor
    looks for it instead of creating a second run.
    """
    action = "rerun"
    target, rv = _pipelinerun(run, action)
    md = _md(run)
    if prefix_name:
        generate = prefix_name + "-"
    elif md.get("generateName"):
        generate = md["generateName"]
    else:
        generate = f"{md.get('name')}-"
    spec = copy.deepcopy(_spec(run))
    spec.pop("status", None)  # tkn: pr.Spec.Status = "" (omitempty: not sent)
    body = {"apiVersion": run.get("apiVersion", PIPELINERUNS.api_version), "kind": "PipelineRun",
            "metadata": {"generateName": generate, "namespace": target.namespace,
                         "labels": {ACTION_ID_LABEL: uuid.uuid4().hex}},
            "spec": spec}
    pipeline = (spec.get("pipelineRef") or {}).get("name") or "(inline pipeline)"
    req = Request("POST", path(PIPELINERUNS, target.namespace), body, JSON, _query(),
                  "create a PipelineRun, as tkn pipeline start --use-pipelinerun", precondition=False)
    plan = _plan(action, target, run, [req], rv, summary=f"re-run {pipeline} with the spec of {target}",
                 verbs=(("create", ""),), success="PipelineRun started")
    plan.access = [("create", PIPELINERUNS.group, PIPELINERUNS.plural, "", target.namespace, None)]
    plan.precondition_rv = None  # a create has no version to test
    return plan


def pipelinerun_cancel(run: Mapping[str, Any], *, grace: str | None = None) -> Plan:
    """tkn pipelinerun cancel [--grace CancelledRunFinally|StoppedRunFinally]: tkn's JSON patch."""
    action = "cancel"
    target, rv = _pipelinerun(run, action)
    conditions = _status(run).get("conditions") or []
    if conditions and conditions[0].get("status") != "Unknown":
        raise ActionError(f"failed to cancel PipelineRun {target.name}: PipelineRun has already finished execution",
                          action=action, target=target)
    value = {"cancelledrunfinally": "CancelledRunFinally",
             "stoppedrunfinally": "StoppedRunFinally"}.get((grace or "").lower(), "Cancelled")
    ops = [test_rv(rv), {"op": "replace", "path": "/spec/status", "value": value}]
    req = Request("PATCH", target.path, ops, JSON_PATCH, _query(), "JSON patch, as tkn pipelinerun cancel",
                  expect=[[(("spec", "status"), value)]])
    return _plan(action, target, run, [req], rv, summary=f"cancel {target} ({value})", destructive=True,
                 success=f"PipelineRun cancelled: {target.name}")


# -- Argo CD ------------------------------------------------------------------------------------


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
    status.operationState cleared (the Application CRD has no status subresource)."""
    body = copy.deepcopy(dict(app))
    body.get("metadata", {}).pop("managedFields", None)
    body["operation"] = operation
    (body.get("status") or {}).pop("operationState", None)
    marker = operation["info"]
    req = Request("PUT", target.path, body, JSON, _query(), "update of the Application's operation, as the Argo CD "
                  "API server's SetAppOperation",
                  expect=[[(("operation", "info"), marker)], [(("status", "operationState", "operation", "info"),
                                                               marker)]])
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


# Every planner, for read-only enforcement tests and the UI's action menus.
PLANNERS = (set_image, set_requests, promote_version, pause, resume, restart, scale, undo, rollout_promote,
            rollout_promote_full, rollout_promote_bluegreen, rollout_abort, rollout_retry, hpa_update,
            pipelinerun_rerun, pipelinerun_cancel, app_sync, app_rollback)
