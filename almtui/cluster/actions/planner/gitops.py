"""GitOps ownership: which Argo CD Application manages an object (tracking-id annotation, instance label
or the app's resource list) and the warning a direct change to it deserves. Every workload and HPA plan
carries that warning; Argo CD's detection rules change here only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from almtui.cluster.actions.planner.common import Apps, _md, _spec, _status

TRACKING_ID = "argocd.argoproj.io/tracking-id"
INSTANCE_LABEL = "app.kubernetes.io/instance"


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
