"""Tekton PipelineRuns and their TaskRuns, as ``tkn pr list`` / ``tkn pr describe`` show them.

``status`` is a coarse class the screens colour and filter by; ``status_text`` is tkn's own
column text (``formatted.Condition``: "Failed(PipelineRunTimeout)"), and reason/message stay raw.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .common import d, dicts, epoch, labels, only_dicts, opt_s, s

PIPELINE_LABEL = "tekton.dev/pipeline"
PIPELINERUN_LABEL = "tekton.dev/pipelineRun"
PIPELINETASK_LABEL = "tekton.dev/pipelineTask"

_CANCELLED = frozenset({"Cancelled", "PipelineRunCancelled", "TaskRunCancelled", "CancelledRunFinally",
                        "StoppedRunFinally"})
_TIMED_OUT = frozenset({"PipelineRunTimeout", "TaskRunTimeout"})
_PENDING = frozenset({"PipelineRunPending", "Pending", "ExceededNodeResources", "ExceededResourceQuota",
                      "CreateContainerConfigError"})


@dataclass(frozen=True, slots=True)
class TaskRunView:
    key: tuple[str, str]
    namespace: str
    name: str
    pipeline_task: str
    status: str                # Succeeded | Failed | Running | Cancelled | Pending | TimedOut
    reason: str
    message: str
    status_text: str           # tkn's STATUS column
    started: str | None
    duration: float | None     # seconds; a running task counts up to now
    pod: str


@dataclass(frozen=True, slots=True)
class PipelineRunView:
    key: tuple[str, str]
    namespace: str
    name: str
    pipeline: str
    status: str
    reason: str
    message: str
    status_text: str
    current_task: str | None   # the running task, else the failed one
    tasks: tuple[TaskRunView, ...]
    params: tuple[tuple[str, str], ...]
    started: str | None
    started_age: float | None
    duration: float | None
    completed: str | None
    done: bool


def _succeeded(status: Any) -> dict:
    conds = dicts(status, "conditions")
    for cond in conds:
        if cond.get("type") == "Succeeded":
            return cond
    return conds[0] if conds else {}


def classify(cond: dict, spec_status: str = "") -> str:
    """The coarse status of a run from its Succeeded condition."""
    state, reason = s(cond, "status"), s(cond, "reason")
    if not cond:
        return "Pending"
    if state == "True":
        return "Succeeded"
    if state == "False":
        if reason in _CANCELLED:
            return "Cancelled"
        if reason in _TIMED_OUT:
            return "TimedOut"
        return "Failed"
    if reason in _PENDING or spec_status == "PipelineRunPending":
        return "Pending"
    return "Running"


def tkn_status(status: Any) -> str:
    """formatted.Condition (tektoncd/cli): the first condition's status, with its reason in brackets."""
    conds = dicts(status, "conditions")
    if not conds:
        return "---"
    first = conds[0]
    text = {"False": "Failed", "True": "Succeeded", "Unknown": "Running"}.get(s(first, "status"), "")
    reason = s(first, "reason")
    if reason and reason != text:
        if reason in ("PipelineRunCancelled", "TaskRunCancelled", "Cancelled"):
            return f"Cancelled({reason})"
        if reason in ("PipelineRunStopping", "TaskRunStopping"):
            return f"Failed({reason})"
        if reason in ("CreateContainerConfigError", "ExceededNodeResources", "ExceededResourceQuota"):
            return f"Pending({reason})"
        return f"{text}({reason})"
    return text


def _duration(status: Any, now: float) -> float | None:
    start = epoch(status.get("startTime"))
    if start is None:
        return None
    end = epoch(status.get("completionTime"))
    return max(0.0, (now if end is None else end) - start)


def _taskrun_view(tr: dict | None, ns: str, name: str, pipeline_task: str, now: float) -> TaskRunView:
    status = d(tr, "status")
    cond = _succeeded(status)
    return TaskRunView(
        key=(ns, name),
        namespace=ns,
        name=name,
        pipeline_task=pipeline_task or labels(tr).get(PIPELINETASK_LABEL, ""),
        status=classify(cond, s(d(tr, "spec"), "status")),
        reason=s(cond, "reason"),
        message=s(cond, "message"),
        status_text=tkn_status(status),
        started=opt_s(status, "startTime"),
        duration=_duration(status, now),
        pod=s(status, "podName"),
    )


def _param_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    except (TypeError, ValueError):
        return str(value)


def _current_task(tasks: Sequence[TaskRunView]) -> str | None:
    for wanted in (("Running", "Pending"), ("Failed", "TimedOut", "Cancelled")):
        for task in tasks:
            if task.status in wanted:
                return task.pipeline_task or task.name
    return None


def build_pipeline_runs(pipelineruns: Sequence[dict], taskruns: Sequence[dict], now: float) -> list[PipelineRunView]:
    """PipelineRuns newest first (by start, else creation), each with its TaskRuns in run order.

    Children come from ``status.childReferences``; TaskRuns labelled with the run but not yet
    referenced (or from an older Tekton without child references) are appended by start time.
    """
    by_name: dict[tuple[str, str], dict] = {}
    by_run: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for tr in only_dicts(taskruns):
        meta = d(tr, "metadata")
        ns = s(meta, "namespace")
        by_name[(ns, s(meta, "name"))] = tr
        run = labels(tr).get(PIPELINERUN_LABEL)
        if run:
            by_run[(ns, run)].append(tr)

    views: list[tuple[tuple[float, str, str], PipelineRunView]] = []
    for pr in only_dicts(pipelineruns):
        meta, spec, status = d(pr, "metadata"), d(pr, "spec"), d(pr, "status")
        ns, name = s(meta, "namespace"), s(meta, "name")
        tasks: list[TaskRunView] = []
        seen: set[str] = set()
        for ref in dicts(status, "childReferences"):
            if s(ref, "kind", "TaskRun") != "TaskRun":
                continue
            child = s(ref, "name")
            seen.add(child)
            tasks.append(_taskrun_view(by_name.get((ns, child)), ns, child, s(ref, "pipelineTaskName"), now))
        extra = [tr for tr in by_run.get((ns, name), ()) if s(d(tr, "metadata"), "name") not in seen]
        extra.sort(key=lambda tr: (s(d(tr, "status"), "startTime"), s(d(tr, "metadata"), "name")))
        tasks += [_taskrun_view(tr, ns, s(d(tr, "metadata"), "name"), "", now) for tr in extra]

        cond = _succeeded(status)
        run_status = classify(cond, s(spec, "status"))
        pipeline = (s(d(spec, "pipelineRef"), "name") or labels(pr).get(PIPELINE_LABEL)
                    or ("(embedded)" if spec.get("pipelineSpec") else ""))
        started_at = epoch(status.get("startTime"))
        sort_time = started_at if started_at is not None else epoch(meta.get("creationTimestamp")) or 0.0
        views.append(((-sort_time, ns, name), PipelineRunView(
            key=(ns, name),
            namespace=ns,
            name=name,
            pipeline=pipeline,
            status=run_status,
            reason=s(cond, "reason"),
            message=s(cond, "message"),
            status_text=tkn_status(status),
            current_task=_current_task(tasks),
            tasks=tuple(tasks),
            params=tuple((s(p, "name"), _param_text(p.get("value"))) for p in dicts(spec, "params")),
            started=opt_s(status, "startTime"),
            started_age=None if started_at is None else max(0.0, now - started_at),
            duration=_duration(status, now),
            completed=opt_s(status, "completionTime"),
            done=s(cond, "status") in ("True", "False"),
        )))

    views.sort(key=lambda pair: pair[0])
    return [view for _, view in views]
