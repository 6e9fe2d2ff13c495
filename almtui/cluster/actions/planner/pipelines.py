"""Tekton PipelineRun actions: re-run (tkn pipeline start --use-pipelinerun, a new run with a unique
action-id label so a lost answer is never retried as a second run) and cancel (tkn's JSON patch of
spec.status).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from typing import Any

from almtui.cluster.actions.model import ACTION_ID_LABEL, JSON, JSON_PATCH, ActionError, Plan, Request, Target
from almtui.cluster.actions.planner.common import _md, _plan, _query, _rv, _spec, _status, kind_of, test_rv
from almtui.cluster.kinds import PIPELINERUNS, path


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
