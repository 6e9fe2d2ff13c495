"""Environment promotion: give the next environment's workload the images of the source workload, for
the containers both have. Which containers match and how the plan is described change here; the
request itself is `set_image`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from almtui.cluster.actions.model import ActionError, Plan, Target
from almtui.cluster.actions.planner.common import Apps, _images, _md, _workload
from almtui.cluster.actions.planner.images import set_image


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
