"""Rollout status texts: kubectl's DeploymentStatusViewer and Argo Rollouts' phase calculation.

Both the console (to show and wait on rollouts) and the sandbox (Argo's controller writes the phase
itself) need the same texts, character for character, so they live here once. Inputs are the plain
JSON dicts the API serves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
ROLLOUT_ABORTED_REASON = "RolloutAborted"
INVALID_SPEC = "InvalidSpec"

PHASE_HEALTHY = "Healthy"
PHASE_DEGRADED = "Degraded"
PHASE_PROGRESSING = "Progressing"
PHASE_PAUSED = "Paused"

_ANALYSIS_COMPLETED = frozenset({"Successful", "Failed", "Error", "Inconclusive"})
_GO_INT = re.compile(r"[+-]?[0-9]+")
_INT64_MAX = 2**63 - 1


class RolloutStatusError(Exception):
    """A terminal rollout state that ``kubectl rollout status`` reports as an error (non-zero exit)."""


def get_condition(obj_or_status: Mapping, type_: str) -> dict | None:
    """The first condition of ``type_`` from an object or from its ``status`` dict."""
    status = obj_or_status
    if "conditions" not in status and isinstance(status.get("status"), Mapping):
        status = status["status"]
    for cond in status.get("conditions") or []:
        if cond.get("type") == type_:
            return cond
    return None


def _quote(text: str) -> str:
    """Go's %q for the plain names Kubernetes allows."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _parse_int64(text: str) -> int:
    """strconv.ParseInt(text, 10, 64), with Go's error text."""
    if not _GO_INT.fullmatch(text):
        raise ValueError(f"strconv.ParseInt: parsing {_quote(text)}: invalid syntax")
    value = int(text)
    if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
        raise ValueError(f"strconv.ParseInt: parsing {_quote(text)}: value out of range")
    return value


# --- Deployment (kubectl rollout status) -------------------------------------------------------


def deployment_status(obj: Mapping, revision: int = 0) -> tuple[str, bool]:
    """DeploymentStatusViewer.Status: ``(message, done)``, the message without kubectl's newline.

    Raises :class:`RolloutStatusError` for a revision mismatch and for an exceeded progress deadline.
    """
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    name = metadata.get("name", "")

    if revision > 0:
        raw = (metadata.get("annotations") or {}).get(REVISION_ANNOTATION)
        try:
            current = 0 if raw is None else _parse_int64(str(raw))
        except ValueError as exc:
            raise RolloutStatusError(f"cannot get the revision of deployment {_quote(name)}: {exc}") from None
        if revision != current:
            raise RolloutStatusError(
                f"desired revision ({revision}) is different from the running revision ({current})"
            )

    if int(metadata.get("generation") or 0) > int(status.get("observedGeneration") or 0):
        return "Waiting for deployment spec update to be observed...", False

    cond = get_condition(status, "Progressing")
    if cond is not None and cond.get("reason") == TIMED_OUT_REASON:
        raise RolloutStatusError(f"deployment {_quote(name)} exceeded its progress deadline")
    replicas = spec.get("replicas")
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    prefix = f"Waiting for deployment {_quote(name)} rollout to finish: "
    if replicas is not None and updated < int(replicas):
        return f"{prefix}{updated} out of {int(replicas)} new replicas have been updated...", False
    if total > updated:
        return f"{prefix}{total - updated} old replicas are pending termination...", False
    if available < updated:
        return f"{prefix}{available} of {updated} updated replicas are available...", False
    return f"deployment {_quote(name)} successfully rolled out", True


# --- Argo Rollouts (rolloututil.go) ------------------------------------------------------------


def _generation_observed(ro: Mapping) -> bool:
    """isGenerationObserved: a non-numeric observedGeneration (pre-v0.10 hash) counts as observed."""
    observed = (ro.get("status") or {}).get("observedGeneration")
    generation = int((ro.get("metadata") or {}).get("generation") or 0)
    try:
        observed_int = _parse_int64(str(observed if observed is not None else ""))
    except ValueError:
        return True
    return observed_int >= generation


def rollout_phase(ro: Mapping) -> tuple[str, str]:
    """GetRolloutPhase: what clients show; prefers the controller's ``status.phase``/``message``."""
    status = ro.get("status") or {}
    if not _generation_observed(ro):
        return PHASE_PROGRESSING, "waiting for rollout spec update to be observed"
    if status.get("controllerPause") and not status.get("pauseConditions"):
        return PHASE_PROGRESSING, "waiting for rollout to unpause"
    # The workloadRef generation check only applies to a controller-resolved template, never to the
    # object as served, so clients never hit it.
    if status.get("phase"):
        return status["phase"], status.get("message") or ""
    return calculate_rollout_phase(ro.get("spec") or {}, status)


def _same_time(a: str, b: str) -> bool:
    try:
        return datetime.fromisoformat(a.replace("Z", "+00:00")) == datetime.fromisoformat(
            b.replace("Z", "+00:00")
        )
    except (ValueError, AttributeError):
        return a == b


def calculate_rollout_phase(spec: Mapping, status: Mapping) -> tuple[str, str]:
    """CalculateRolloutPhase: the phase the controller writes to ``status.phase``/``message``."""
    for cond in status.get("conditions") or []:
        if cond.get("type") == INVALID_SPEC:
            return PHASE_DEGRADED, f"{INVALID_SPEC}: {cond.get('message', '')}"
        if cond.get("reason") in (ROLLOUT_ABORTED_REASON, TIMED_OUT_REASON):
            return PHASE_DEGRADED, f"{cond['reason']}: {cond.get('message', '')}"
    if spec.get("paused"):
        return PHASE_PAUSED, "manually paused"
    for pause in status.get("pauseConditions") or []:
        return PHASE_PAUSED, pause.get("reason", "")
    restart_at = spec.get("restartAt")
    if restart_at is not None:
        restarted_at = status.get("restartedAt")
        if restarted_at is None or not _same_time(restart_at, restarted_at):
            return PHASE_PROGRESSING, "rollout is restarting"
    replicas = spec.get("replicas")
    replicas = 1 if replicas is None else int(replicas)
    updated = int(status.get("updatedReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if updated < replicas:
        return PHASE_PROGRESSING, "more replicas need to be updated"
    if available < updated:
        return PHASE_PROGRESSING, "updated replicas are still becoming available"

    strategy = spec.get("strategy") or {}
    stable = status.get("stableRS") or ""
    current_hash = status.get("currentPodHash") or ""
    promoted = stable != "" and stable == current_hash
    if strategy.get("blueGreen") is not None:
        blue_green = status.get("blueGreen") or {}
        active = blue_green.get("activeSelector") or ""
        if active == "" or active != current_hash:
            return PHASE_PROGRESSING, "active service cutover pending"
        if not promoted:
            if strategy["blueGreen"].get("postPromotionAnalysis") is not None:
                run = blue_green.get("postPromotionAnalysisRunStatus")
                if run is None or run.get("status") not in _ANALYSIS_COMPLETED:
                    return PHASE_PROGRESSING, "waiting for analysis to complete"
            return PHASE_PROGRESSING, "waiting for post-promotion verification to complete"
    elif strategy.get("canary") is not None:
        if strategy["canary"].get("trafficRouting") is None and int(status.get("replicas") or 0) > updated:
            # Only basic canary: blue-green and traffic-routed canaries keep old pods on purpose.
            return PHASE_PROGRESSING, "old replicas are pending termination"
        if not promoted:
            return PHASE_PROGRESSING, "waiting for all steps to complete"
    return PHASE_HEALTHY, ""
