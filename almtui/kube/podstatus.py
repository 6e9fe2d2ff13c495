"""kubectl's pod STATUS column (printPod), shared by the sandbox's server-side printing and the console.

Same walk as upstream pkg/printers/internalversion/printers.go: init containers first, then
app containers in reverse order, the last waiting/terminated reason winning. It runs for
every pod on every rebuild, hence the plain loops and the tolerance of partial objects.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from almtui.kube.durations import parse_rfc3339


class PodStatus(NamedTuple):
    reason: str  # the STATUS column
    ready: int
    total: int
    restarts: int
    last_restart: float | None  # POSIX time of the most recent container termination


def _d(obj: Any, key: str) -> dict:
    v = obj.get(key) if isinstance(obj, dict) else None
    return v if isinstance(v, dict) else {}


def _dicts(obj: Any, key: str) -> list[dict]:
    v = obj.get(key) if isinstance(obj, dict) else None
    return [x for x in v if isinstance(x, dict)] if isinstance(v, list) else []


def _s(obj: Any, key: str) -> str:
    v = obj.get(key) if isinstance(obj, dict) else None
    return v if isinstance(v, str) else ""


def _i(obj: Any, key: str) -> int:
    v = obj.get(key) if isinstance(obj, dict) else None
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _later(current: float | None, cs: dict) -> float | None:
    finished = _d(_d(cs, "lastState"), "terminated").get("finishedAt")
    if not isinstance(finished, str):
        return current
    try:
        t = parse_rfc3339(finished).timestamp()
    except ValueError:
        return current
    return t if current is None or t > current else current


def pod_status(pod: Any) -> PodStatus:
    spec, status = _d(pod, "spec"), _d(pod, "status")
    restarts = restartable_restarts = ready = 0
    total = len(_dicts(spec, "containers"))
    last_restart: float | None = None
    last_restartable: float | None = None
    phase = _s(status, "phase")
    reason = _s(status, "reason") or phase
    gated = initialized = pod_ready = False
    for cond in _dicts(status, "conditions"):
        ctype = cond.get("type")
        if ctype == "PodScheduled":
            gated = gated or cond.get("reason") == "SchedulingGated"
        elif ctype == "Initialized":
            initialized = cond.get("status") == "True"
        elif ctype == "Ready":
            pod_ready = cond.get("status") == "True"
    if gated:
        reason = "SchedulingGated"

    initializing = False
    if spec.get("initContainers") or status.get("initContainerStatuses"):
        init_specs = {_s(c, "name"): c for c in _dicts(spec, "initContainers")}
        total += sum(1 for c in init_specs.values() if c.get("restartPolicy") == "Always")
        for n, cs in enumerate(_dicts(status, "initContainerStatuses")):
            count = _i(cs, "restartCount")
            restarts += count
            last_restart = _later(last_restart, cs)
            restartable = _d(init_specs, _s(cs, "name")).get("restartPolicy") == "Always"
            if restartable:
                restartable_restarts += count
                last_restartable = _later(last_restartable, cs)
            state = _d(cs, "state")
            terminated, waiting = state.get("terminated"), state.get("waiting")
            if isinstance(terminated, dict) and _i(terminated, "exitCode") == 0:
                continue
            if restartable and cs.get("started") is True:
                if cs.get("ready") is True:
                    ready += 1
                continue
            if isinstance(terminated, dict):
                if not _s(terminated, "reason"):
                    sig = _i(terminated, "signal")
                    reason = f"Init:Signal:{sig}" if sig else f"Init:ExitCode:{_i(terminated, 'exitCode')}"
                else:
                    reason = "Init:" + _s(terminated, "reason")
            elif isinstance(waiting, dict) and _s(waiting, "reason") not in ("", "PodInitializing"):
                reason = "Init:" + _s(waiting, "reason")
            else:
                reason = f"Init:{n}/{len(init_specs)}"
            initializing = True
            break

    if not initializing or initialized:
        restarts, last_restart = restartable_restarts, last_restartable
        has_running = False
        for cs in reversed(_dicts(status, "containerStatuses")):
            restarts += _i(cs, "restartCount")
            last_restart = _later(last_restart, cs)
            state = cs.get("state")
            if not isinstance(state, dict):
                continue
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if isinstance(waiting, dict) and _s(waiting, "reason"):
                reason = _s(waiting, "reason")
            elif isinstance(terminated, dict):
                if _s(terminated, "reason"):
                    reason = _s(terminated, "reason")
                else:
                    sig = _i(terminated, "signal")
                    reason = f"Signal:{sig}" if sig else f"ExitCode:{_i(terminated, 'exitCode')}"
            elif cs.get("ready") is True and isinstance(state.get("running"), dict):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if pod_ready else "NotReady"

    deleting = _d(pod, "metadata").get("deletionTimestamp") is not None
    if deleting and _s(status, "reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and phase not in ("Failed", "Succeeded"):
        reason = "Terminating"
    return PodStatus(reason, ready, total, restarts, last_restart)
