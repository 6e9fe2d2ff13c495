"""One function per action: build the exact Plan (requests and bodies) from the object(s) as last read.

Why copy the reference tools byte for byte: operators know what `kubectl set image`, `kubectl rollout
undo`, `kubectl argo rollouts promote`, `tkn pipelinerun cancel` and `argocd app sync` do; the plans
send the same requests (same patch types, same bodies) plus a resourceVersion precondition (see
`almtui.cluster.actions.model`) and `fieldManager=almtui`. Refusals the tools make client-side are
ActionError with the tool's message. Nothing here does I/O: the objects come from the caller (the
informer cache), the executor re-reads when it matters.

The builders live in modules named for what they act on (workloads, images, promotion, sizing,
history, rollouts, autoscalers, pipelines, applications; shared pieces in common, equality, gitops
and hpa_validation). This package re-exports their public names, so callers write `planner.scale(...)`.
"""

from almtui.cluster.actions.planner.applications import app_rollback, app_sync
from almtui.cluster.actions.planner.autoscalers import hpa_update
from almtui.cluster.actions.planner.common import Apps, kind_of, shown_name, test_rv
from almtui.cluster.actions.planner.equality import semantic_equal
from almtui.cluster.actions.planner.gitops import INSTANCE_LABEL, TRACKING_ID, gitops_warnings, managing_app
from almtui.cluster.actions.planner.history import (
    CHANGE_CAUSE,
    DEPLOYMENT_REVISION,
    POD_TEMPLATE_HASH,
    ROLLBACK_SKIPPED_ANNOTATIONS,
    ROLLOUT_REVISION,
    ROLLOUTS_POD_TEMPLATE_HASH,
    Revision,
    revisions,
    undo,
)
from almtui.cluster.actions.planner.hpa_validation import (
    MAX_PERIOD_SECONDS,
    MAX_STABILIZATION_WINDOW_SECONDS,
    POLICY_TYPES,
    SELECT_POLICIES,
    validate_hpa_spec,
)
from almtui.cluster.actions.planner.images import set_image
from almtui.cluster.actions.planner.pipelines import pipelinerun_cancel, pipelinerun_rerun
from almtui.cluster.actions.planner.promotion import promote_version
from almtui.cluster.actions.planner.rollouts import (
    rollout_abort,
    rollout_promote,
    rollout_promote_bluegreen,
    rollout_promote_full,
    rollout_retry,
)
from almtui.cluster.actions.planner.sizing import set_requests
from almtui.cluster.actions.planner.workloads import RESTARTED_AT, pause, restart, resume, scale

# Every planner, for read-only enforcement tests and the UI's action menus.
PLANNERS = (set_image, set_requests, promote_version, pause, resume, restart, scale, undo, rollout_promote,
            rollout_promote_full, rollout_promote_bluegreen, rollout_abort, rollout_retry, hpa_update,
            pipelinerun_rerun, pipelinerun_cancel, app_sync, app_rollback)

__all__ = [
    "CHANGE_CAUSE",
    "DEPLOYMENT_REVISION",
    "INSTANCE_LABEL",
    "MAX_PERIOD_SECONDS",
    "MAX_STABILIZATION_WINDOW_SECONDS",
    "PLANNERS",
    "POD_TEMPLATE_HASH",
    "POLICY_TYPES",
    "RESTARTED_AT",
    "ROLLBACK_SKIPPED_ANNOTATIONS",
    "ROLLOUTS_POD_TEMPLATE_HASH",
    "ROLLOUT_REVISION",
    "SELECT_POLICIES",
    "TRACKING_ID",
    "Apps",
    "Revision",
    "app_rollback",
    "app_sync",
    "gitops_warnings",
    "hpa_update",
    "kind_of",
    "managing_app",
    "pause",
    "pipelinerun_cancel",
    "pipelinerun_rerun",
    "promote_version",
    "restart",
    "resume",
    "revisions",
    "rollout_abort",
    "rollout_promote",
    "rollout_promote_bluegreen",
    "rollout_promote_full",
    "rollout_retry",
    "scale",
    "semantic_equal",
    "set_image",
    "set_requests",
    "shown_name",
    "test_rv",
    "undo",
    "validate_hpa_spec",
]
