"""Scenario-supplied container log lines, so hostile-input tests can put any text in a pod's log.

Why: a real container writes whatever bytes it likes to its log, and the console shows them. The
simulated kubelet derives logs from the pod's status, so a scenario cannot say what a log holds;
the sandbox-only pod annotation ``sandbox.almtui.io/log-lines`` (a JSON list of strings, usually
set in a Deployment's pod template) adds its lines to every container of the pod, right after the
container's start-up lines. A line holding "\\n" becomes several lines, as on a real node.

PodLogs calls `with_log_lines` on what it generated for a non-follow read; a follow stream starts
after that read, so it never repeats them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

LOG_LINES_ANNOTATION = "sandbox.almtui.io/log-lines"
OFFSET = 0.02     # seconds after the container started that the first line is written
SPACING = 1e-4    # seconds between consecutive lines


class _Started(Protocol):
    started: float


def log_lines(pod: Mapping[str, Any] | None) -> list[str]:
    """The lines the pod's annotation asks for; [] when absent or not a JSON string/list of strings."""
    annotations = ((pod or {}).get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(LOG_LINES_ANNOTATION)
    if not isinstance(raw, str) or not raw:
        return []
    try:
        data = json.loads(raw)
    except ValueError:
        return []
    if isinstance(data, str):
        data = [data]
    if not isinstance(data, list):
        return []
    return [x if isinstance(x, str) else json.dumps(x) for x in data]


def with_log_lines(pod: Mapping[str, Any] | None, inst: _Started | None,
                   lines: Sequence[tuple[float, str]]) -> list[tuple[float, str]]:
    """`lines` (time, text) with the annotated lines of `pod` merged in after `inst` started."""
    extra = log_lines(pod)
    if not extra or inst is None:
        return list(lines)
    t0 = inst.started + OFFSET
    added = [(t0 + i * SPACING, text) for i, text in enumerate(extra)]
    return sorted([*lines, *added], key=lambda e: e[0])
