"""Tekton PipelineRuns as table rows and a summary line, like `tkn pr list` / `tkn pr describe`.

Why a module of pure functions: the Pipelines screen and the run detail show the same run the
same way (tkn's STATUS text in the colour language), and which pod and container hold the log
worth reading (the failed step, else the running one) is decided once, testably, from the raw
TaskRun's `status.steps`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from almtui.cluster import views as V
from almtui.kube.durations import human_age
from almtui.ui.sanitize import ELLIPSIS, sanitize
from almtui.ui.widgets.table import Cell, Col

Badge = Callable[..., Text]

NAME_WIDTH = 26
STATUS_WIDTH = 20

# Essential columns first: 80 columns end after AGE (PIPELINE and NAMESPACE are in the summary line
# under the table, and in view from 100 columns on).
RUN_COLUMNS = (
    Col("name", "NAME", width=NAME_WIDTH),
    Col("status", "STATUS", width=STATUS_WIDTH),
    Col("task", "TASK", width=10, max_len=10),
    Col("duration", "DURATION", width=8, justify="right"),
    Col("started", "AGE", width=5, age=True, justify="right"),
    Col("pipeline", "PIPELINE", max_len=40),
    Col("namespace", "NAMESPACE", max_len=40),
)

TASK_COLUMNS = (
    Col("task", "TASK", width=16, max_len=16),
    Col("status", "STATUS", width=STATUS_WIDTH),
    Col("duration", "DURATION", width=8, justify="right"),
    Col("pod", "POD", max_len=80),
)

FAILED = ("Failed", "TimedOut")


def middle(value: object, width: int) -> Text:
    """A sanitised single-line Text cut in the middle: run names differ in their suffix."""
    shown = sanitize(value, single_line=True)
    if len(shown) > width > 3:
        head = (width - 1) // 2
        shown = shown[:head] + ELLIPSIS + shown[len(shown) - (width - 1 - head):]
    return Text(shown, end="", no_wrap=True)


def duration_text(seconds: float | None) -> str:
    return "-" if seconds is None else human_age(seconds)


def run_status(run: V.PipelineRunView | V.TaskRunView, badge: Badge, width: int = STATUS_WIDTH) -> Text:
    """tkn's STATUS text ("Failed(PipelineRunTimeout)"), coloured by the run's coarse status; cut
    with an ellipsis to fit the column (the summary line has the reason and message in full)."""
    return badge(run.status, domain="pipeline", label=sanitize(run.status_text, max(1, width - 2), single_line=True))


def run_row(run: V.PipelineRunView, badge: Badge) -> tuple[Any, tuple[Cell, ...]]:
    return run.key, (middle(run.name, NAME_WIDTH), run_status(run, badge), run.current_task or "",
                     duration_text(run.duration), run.started_age, run.pipeline, run.namespace)


def task_row(task: V.TaskRunView, badge: Badge) -> tuple[Any, tuple[Cell, ...]]:
    return task.key, (task.pipeline_task or task.name, run_status(task, badge), duration_text(task.duration),
                      task.pod or "-")


def params_text(run: V.PipelineRunView) -> str:
    return ", ".join(f"{k}={v}" for k, v in run.params) or "(none)"


def run_summary(run: V.PipelineRunView | None, empty: str = "No PipelineRuns") -> Text:
    """Two lines under the table about the selected run: where, what, and the condition message."""
    if run is None:
        return Text(sanitize(empty, single_line=True), style="dim", end="")
    first = f"{run.namespace}/{run.name} · pipeline {run.pipeline or '-'} · params {params_text(run)}"
    reason = run.reason or run.status
    second = f"{reason}: {run.message}" if run.message else reason
    return Text.assemble((sanitize(first, 300, single_line=True), "bold"), "\n",
                         sanitize(second, 300, single_line=True), end="", no_wrap=True, overflow="ellipsis")


# -- which log to read ------------------------------------------------------------------------


@dataclass(frozen=True)
class LogTarget:
    """A pod container whose log explains the run: the failed (or running) step of one task."""

    namespace: str
    pod: str
    container: str | None
    task: str
    step: str


def log_task(run: V.PipelineRunView) -> V.TaskRunView | None:
    """The task worth reading: running or pending first, then failed, then cancelled, else the last one."""
    for wanted in (("Running", "Pending"), FAILED, ("Cancelled",)):
        for task in run.tasks:
            if task.status in wanted and task.pod:
                return task
    with_pod = [t for t in run.tasks if t.pod]
    return with_pod[-1] if with_pod else None


def _step_state(step: Mapping[str, Any]) -> tuple[str, int | None]:
    for state in ("running", "waiting", "terminated"):
        value = step.get(state)
        if isinstance(value, dict):
            code = value.get("exitCode")
            return state, code if isinstance(code, int) and not isinstance(code, bool) else None
    return "", None


def log_step(taskrun: Mapping[str, Any] | None) -> tuple[str, str | None]:
    """(step name, container) of the step to read: the first failed one, else the running one,
    else the last one; ("", None) when the TaskRun lists no steps (the pod's default container)."""
    status = (taskrun or {}).get("status")
    steps = [st for st in (status.get("steps") or []) if isinstance(st, dict)] if isinstance(status, dict) else []
    if not steps:
        return "", None
    chosen = None
    for st in steps:
        state, code = _step_state(st)
        if state == "terminated" and code not in (None, 0):
            chosen = st
            break
    if chosen is None:
        chosen = next((st for st in steps if _step_state(st)[0] == "running"), steps[-1])
    name = str(chosen.get("name") or "")
    container = chosen.get("container") or (f"step-{name}" if name else None)
    return name, str(container) if container else None


def log_target(run: V.PipelineRunView, taskrun_of: Callable[[str, str], Mapping[str, Any] | None],
               task: V.TaskRunView | None = None) -> LogTarget | None:
    """Where the log of `task` (default: the run's failed/current task) is; None without a pod."""
    task = task or log_task(run)
    if task is None or not task.pod:
        return None
    step, container = log_step(taskrun_of(task.namespace, task.name))
    return LogTarget(task.namespace, task.pod, container, task.pipeline_task or task.name, step)
