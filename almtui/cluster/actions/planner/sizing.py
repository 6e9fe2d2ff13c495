"""Apply a right-sizing recommendation: new container resource requests on a Deployment (strategic merge
patch) or a Rollout (whole-object PUT). The patch itself comes from `almtui.cluster.advice.rightsizing`
(imported lazily, as before); this module only turns it into a Plan.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from almtui.cluster.actions.model import JSON, STRATEGIC_MERGE_PATCH, ActionError, Plan, Request, Target
from almtui.cluster.actions.planner.common import Apps, _patch, _plan, _query, _rv, _with_rv, _workload, shown_name
from almtui.cluster.actions.planner.gitops import gitops_warnings
from almtui.cluster.kinds import DEPLOYMENTS


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
                     success=f"{shown_name(kind, target.name)} resource requests updated", status_read=False)
    work.get("metadata", {}).pop("managedFields", None)
    req = Request("PUT", target.path, work, JSON, _query(), "update of the whole Rollout with new requests",
                  expect=expect)
    return _plan(action, target, obj, [req], rv, summary=summary, warnings=warnings, verbs=(("update", ""),),
                 success=f"rollout \"{target.name}\" resource requests updated")
