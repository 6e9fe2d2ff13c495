"""Set container images on a Deployment or a Rollout (kubectl set image / kubectl argo rollouts set
image): kubectl's strategic merge patch with `$setElementOrder`, or the plugin's GET-modify-PUT of the
whole Rollout. Version promotion builds on it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from almtui.cluster.actions.model import JSON, STRATEGIC_MERGE_PATCH, ActionError, Plan, Request, Target
from almtui.cluster.actions.planner.common import (
    _CONTAINER_LISTS,
    Apps,
    _patch,
    _plan,
    _query,
    _rv,
    _skip,
    _spec,
    _with_rv,
    _workload,
    shown_name,
)
from almtui.cluster.actions.planner.gitops import gitops_warnings
from almtui.cluster.kinds import DEPLOYMENTS


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
                     success=f"{shown_name(kind, target.name)} image updated", status_read=False)
    if _spec(obj).get("workloadRef"):
        raise ActionError(f"{target} uses workloadRef: set the image on the referenced workload",
                          action=action, target=target)
    work.get("metadata", {}).pop("managedFields", None)
    req = Request("PUT", target.path, work, JSON, _query(), "update of the whole Rollout, as the plugin's set image",
                  expect=expect)
    return _plan(action, target, obj, [req], rv, summary=summary, warnings=warnings, verbs=(("update", ""),),
                 success=f"rollout \"{target.name}\" image updated")
