"""Rollout status, conditions and pauses, after argo-rollouts' ``rollout/sync.go`` (calculateBaseStatus,
calculateRolloutConditions, persistRolloutStatus, checkPausedConditions, shouldFullPromote,
promoteStable), ``rollout/pause.go`` and ``utils/conditions``.

Why a module of its own: every strategy ends its reconcile here, and the console and the plugin read
these exact fields, condition reasons and messages (``status_json`` is the status as Go marshals it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from almtui.kube.hashing import compute_hash
from almtui.kube.rollout_status import calculate_rollout_phase
from almtui.sandbox.controllers.replicaset import epoch
from almtui.sandbox.controllers.rollouts_bluegreen import is_saturated, rs_by_hash
from almtui.sandbox.controllers.rollouts_canary import (
    DEFAULT_PROGRESS_DEADLINE,
    SCALE_DOWN_DEADLINE_ANNOTATION,
    annotations_of,
    bluegreen_spec,
    canary_spec,
    count_status,
    created_key,
    current_step,
    pause_seconds,
    pod_hash,
    replica_progress_threshold_met,
    replicas_of,
    revision_of,
    rs_int,
    spec_of,
    status_of,
    steps_of,
)

Obj = dict[str, Any]
ROLLOUTS = "argoproj.io/rollouts"

# utils/conditions/conditions.go
AVAILABLE_REASON = "AvailableReason"
AVAILABLE_MESSAGE = "Rollout has minimum availability"
NOT_AVAILABLE_MESSAGE = "Rollout does not have minimum availability"
RS_UPDATED_REASON = "ReplicaSetUpdated"
NEW_RS_REASON = "NewReplicaSetCreated"
FOUND_NEW_RS_REASON = "FoundNewReplicaSet"
FAILED_RS_CREATE_REASON = "ReplicaSetCreateError"
NEW_RS_AVAILABLE_REASON = "NewReplicaSetAvailable"
RS_NOT_AVAILABLE_REASON = "ReplicaSetNotAvailable"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
ABORTED_REASON = "RolloutAborted"
RETRY_REASON = "RolloutRetry"
PAUSED_REASON = "RolloutPaused"
RESUMED_REASON = "RolloutResumed"
COMPLETED_REASON = "RolloutCompleted"
NOT_COMPLETED_REASON = "RolloutNotCompleted"
HEALTHY_REASON = "RolloutHealthy"
INVALID_SPEC_REASON = "InvalidSpec"


def status_copy(ro: Mapping) -> dict:
    """A status to edit: the top level and the conditions list are copied; condition dicts and
    nested structs are replaced, never edited, so they may be shared with the stored object."""
    status = dict(ro.get("status") or {})
    status["conditions"] = list(status.get("conditions") or [])
    return status


def go_quote(text: str) -> str:
    """Go's %q for plain names."""
    return json.dumps(text)


# --- status as Go marshals it ---------------------------------------------------------------------

_STATUS_INTS = ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")


def status_json(st: Mapping | None) -> dict[str, Any]:
    """RolloutStatus in Go's field order with omitempty; ``canary`` and ``blueGreen`` are structs, always present."""
    st = st or {}
    out: dict[str, Any] = {}
    if st.get("abort"):
        out["abort"] = True
    if st.get("pauseConditions"):
        out["pauseConditions"] = [{"reason": c.get("reason", ""), "startTime": c.get("startTime")}
                                  for c in st["pauseConditions"]]
    if st.get("controllerPause"):
        out["controllerPause"] = True
    for f in ("abortedAt", "currentPodHash", "currentStepHash"):
        if st.get(f):
            out[f] = st[f]
    for f in _STATUS_INTS:
        if st.get(f):
            out[f] = int(st[f])
    for f in ("currentStepIndex", "collisionCount"):
        if st.get(f) is not None:
            out[f] = int(st[f])
    if st.get("observedGeneration"):
        out["observedGeneration"] = str(st["observedGeneration"])
    if st.get("conditions"):
        out["conditions"] = [{k: c.get(k, "") for k in ("type", "status", "lastUpdateTime", "lastTransitionTime",
                                                         "reason", "message")} for c in st["conditions"]]
    out["canary"] = {k: v for k, v in (st.get("canary") or {}).items() if v not in (None, "", [], {})}
    bg = st.get("blueGreen") or {}
    out["blueGreen"] = {k: bg[k] for k in ("previewSelector", "activeSelector", "scaleUpPreviewCheckPoint",
                                           "prePromotionAnalysisRunStatus", "postPromotionAnalysisRunStatus")
                        if bg.get(k)}
    if st.get("HPAReplicas"):
        out["HPAReplicas"] = int(st["HPAReplicas"])
    for f in ("selector", "stableRS", "restartedAt"):
        if st.get(f):
            out[f] = st[f]
    if st.get("promoteFull"):
        out["promoteFull"] = True
    for f in ("phase", "message", "workloadObservedGeneration"):
        if st.get(f):
            out[f] = st[f]
    return out


# --- conditions -----------------------------------------------------------------------------------


def get_condition(status: Mapping | None, type_: str) -> dict | None:
    for cond in (status or {}).get("conditions") or ():
        if cond.get("type") == type_:
            return cond
    return None


def new_condition(type_: str, status: str, reason: str, message: str, now_ts: str) -> dict[str, Any]:
    return {"type": type_, "status": status, "lastUpdateTime": now_ts, "lastTransitionTime": now_ts,
            "reason": reason, "message": message}


def set_condition(status: dict, cond: dict) -> bool:
    """SetRolloutCondition: no-op for the same status and reason; True when the list changed."""
    current = get_condition(status, cond["type"])
    if current is not None and current.get("status") == cond["status"] and current.get("reason") == cond["reason"]:
        return False
    if current is not None and current.get("status") == cond["status"]:
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime")}
    status["conditions"] = [*(c for c in status.get("conditions") or [] if c.get("type") != cond["type"]), cond]
    return True


def remove_condition(status: dict, type_: str) -> None:
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != type_]


# --- pause context (rollout/pause.go) -------------------------------------------------------------


class PauseContext:
    """pauseContext: pause/abort changes requested during one reconcile, applied when status is persisted."""

    def __init__(self, ro: Obj, now_ts: str) -> None:
        self.status = status_of(ro)
        self.bluegreen = bluegreen_spec(ro)
        self.now_ts = now_ts
        self.add_reasons: list[str] = []
        self.remove_reasons: list[str] = []
        self.clear_all = False
        self.added_abort = False
        self.removed_abort = False
        self.abort_message = ""

    def has_add(self) -> bool:
        return bool(self.add_reasons)

    def is_aborted(self) -> bool:
        if self.removed_abort:
            return False
        return self.added_abort or bool(self.status.get("abort"))

    def add_abort(self, message: str) -> None:
        self.added_abort, self.abort_message = True, message

    def remove_abort(self) -> None:
        self.removed_abort = True

    def add(self, reason: str) -> None:
        self.add_reasons.append(reason)

    def remove(self, reason: str) -> None:
        self.remove_reasons.append(reason)

    def clear(self) -> None:
        self.clear_all = True

    def condition(self, reason: str) -> dict | None:
        return next((c for c in self.status.get("pauseConditions") or [] if c.get("reason") == reason), None)

    def calculate(self, new_status: dict) -> None:
        """CalculatePauseStatus: abort wins; otherwise rebuild pauseConditions and controllerPause."""
        if self.added_abort or (not self.removed_abort and self.status.get("abort")):
            new_status["abort"] = True
            new_status["abortedAt"] = self.status.get("abortedAt") or self.now_ts
            return
        new_status["abort"] = False
        new_status["abortedAt"] = None
        if self.clear_all:
            return
        controller_pause = bool(self.status.get("controllerPause"))
        conds, seen = [], set()
        for cond in self.status.get("pauseConditions") or []:
            if cond.get("reason") not in self.remove_reasons:
                conds.append(cond)
            seen.add(cond.get("reason"))
        for reason in self.add_reasons:
            if reason not in seen:
                conds.append({"reason": reason, "startTime": self.now_ts})
                controller_pause = True
        if conds:
            new_status["controllerPause"] = controller_pause
            new_status["pauseConditions"] = conds

    def completed_canary_pause(self, pause: Mapping, now: float) -> bool:
        """CompletedCanaryPauseStep: a user cleared the condition, or the duration has passed."""
        cond = self.condition("CanaryPauseStep")
        if self.status.get("controllerPause") and cond is None:
            return True
        if pause.get("duration") is not None and cond is not None:
            return now > epoch(cond["startTime"]) + pause_seconds(pause)
        return False

    def completed_bluegreen_pause(self, now: float) -> bool:
        """CompletedBlueGreenPause: resumed by hand, past autoPromotionSeconds, or nothing to wait for."""
        bg = self.bluegreen or {}
        cond = self.condition("BlueGreenPause")
        if self.has_add():
            return False
        if (self.status.get("blueGreen") or {}).get("scaleUpPreviewCheckPoint"):
            return True
        if bg.get("autoPromotionEnabled") is not False:
            seconds = int(bg.get("autoPromotionSeconds") or 0)
            if seconds == 0:
                return True
            if cond is not None:
                return now > epoch(cond["startTime"]) + seconds
            return False
        return bool(self.status.get("controllerPause")) and cond is None


# --- the status half of a reconcile ---------------------------------------------------------------


class StatusSync:
    """Status, conditions and promotion; mixed into ``rollouts._Sync`` (which provides ``ro``, the
    ReplicaSets, ``pause``, ``record`` and ``requeue_after``)."""

    ro: Obj
    new_rs: Obj | None
    stable_rs: Obj | None
    other_rss: list[Obj]
    all_rss: list[Obj]
    pause: Any
    now: float
    now_ts: str
    restarted_at: str | None
    new_rs_within_delay: bool

    def _generation(self) -> str:
        return str(int(self.ro["metadata"].get("generation") or 0))

    def check_paused_conditions(self) -> bool:
        """checkPausedConditions: Progressing/Paused conditions follow pauses, resumes and retries."""
        status = status_of(self.ro)
        if self._generation() != str(status.get("observedGeneration") or ""):
            return False
        prog = get_condition(status, "Progressing")
        prog_paused = prog is not None and prog.get("reason") == PAUSED_REASON
        paused = bool(status.get("pauseConditions")) or bool(spec_of(self.ro).get("paused"))
        abort_cond = prog is not None and prog.get("reason") == ABORTED_REASON
        conds = []
        if paused != prog_paused and not abort_cond and not self.completed(status):
            conds.append(new_condition("Progressing", "Unknown", PAUSED_REASON if paused else RESUMED_REASON,
                                       "Rollout is paused" if paused else "Rollout is resumed", self.now_ts))
        if not status.get("abort") and abort_cond:
            conds.append(new_condition("Progressing", "Unknown", RETRY_REASON, "Retrying Rollout after abort",
                                       self.now_ts))
        paused_cond = get_condition(status, "Paused")
        if paused != (paused_cond is not None and paused_cond.get("status") == "True") and not abort_cond:
            conds.append(new_condition("Paused", "True" if paused else "False", PAUSED_REASON, "Rollout is paused",
                                       self.now_ts))
        if not conds:
            return False
        return self.patch_condition(status_copy(self.ro), conds)

    def patch_condition(self, status: dict, conds: list[dict]) -> bool:
        """patchCondition: set conditions, observedGeneration and phase; write if anything changed."""
        for cond in conds:
            set_condition(status, cond)
        status["observedGeneration"] = self._generation()
        status["phase"], status["message"] = calculate_rollout_phase(spec_of(self.ro), status)
        if status_json(status) == status_json(status_of(self.ro)):
            return False
        self.update_status(status)
        return True

    def update_status(self, status: dict) -> None:
        """UpdateStatus with a status we built from c.rollout.Status."""
        body = status_json(status)
        updated = self.store.mutate(ROLLOUTS, self.ns, self.name, lambda o: o.__setitem__("status", body),
                                    subresource="status")
        if updated is not None:
            self.ro = updated

    def pod_spec_changed(self) -> bool:
        """CheckPodSpecChange."""
        current = status_of(self.ro).get("currentPodHash") or ""
        if not current:
            return False
        h = pod_hash(self.new_rs) if self.new_rs is not None else compute_hash(
            spec_of(self.ro).get("template") or {}, status_of(self.ro).get("collisionCount"))
        return current != h

    def calculate_base_status(self) -> dict:
        """calculateBaseStatus: counts over all RSs, conditions carried over, the current pod hash."""
        prev = status_copy(self.ro)
        if get_condition(prev, INVALID_SPEC_REASON) is not None:
            remove_condition(prev, INVALID_SPEC_REASON)
        if self.new_rs is not None:
            current = pod_hash(self.new_rs)
        else:
            current = compute_hash(spec_of(self.ro).get("template") or {}, prev.get("collisionCount"))
        return {
            "currentPodHash": current,
            "replicas": count_status(self.all_rss, "replicas"),
            "updatedReplicas": count_status([self.new_rs], "replicas"),
            "readyReplicas": count_status(self.all_rss, "readyReplicas"),
            "collisionCount": prev.get("collisionCount"),
            "conditions": prev.get("conditions") or [],
            "restartedAt": self.restarted_at,
            "promoteFull": current != (prev.get("stableRS") or "") and bool(prev.get("promoteFull")),
            "canary": {"weights": (prev.get("canary") or {}).get("weights")},
            "blueGreen": {},
        }

    def reset_status(self, status: dict) -> None:
        """resetRolloutStatus: a new update starts from step 0 with no pauses, aborts or checkpoints."""
        self.pause.clear()
        self.pause.remove_abort()
        status["promoteFull"] = False
        status.setdefault("blueGreen", {})["scaleUpPreviewCheckPoint"] = False
        canary = canary_spec(self.ro)
        status["currentStepIndex"] = 0 if canary is not None and steps_of(self.ro) else None

    def is_rollback(self) -> bool:
        if self.new_rs is None or self.stable_rs is None:
            return False
        to_stable = status_of(self.ro).get("stableRS") == pod_hash(self.new_rs)
        return to_stable or created_key(self.new_rs)[0] < created_key(self.stable_rs)[0]

    def is_fast_rollback(self) -> bool:
        """isFastRollback: back to stable, within the rollback window, or (blue-green) within the delay."""
        if not self.is_rollback():
            return False
        to_stable = status_of(self.ro).get("stableRS") == pod_hash(self.new_rs)
        within_delay = self.new_rs_within_delay and bluegreen_spec(self.ro) is not None
        return self.rollback_within_window() or within_delay or to_stable

    def rollback_within_window(self) -> bool:
        """isRollbackWithinWindow (spec.rollbackWindow.revisions)."""
        if self.new_rs is None or self.stable_rs is None:
            return False
        new_at, stable_at = created_key(self.new_rs)[0], created_key(self.stable_rs)[0]
        if not new_at < stable_at:
            return False
        revisions = int((spec_of(self.ro).get("rollbackWindow") or {}).get("revisions") or 0)
        if revisions <= 0:
            return False
        window = sum(1 for rs in self.all_rss if new_at < created_key(rs)[0] < stable_at)
        return window < revisions

    def should_full_promote(self, status: dict) -> str:
        """shouldFullPromote: why the current RS becomes stable now ("" while the update is under way)."""
        if self.stable_rs is None:
            return "Initial deploy"
        stored = status_of(self.ro)
        canary = canary_spec(self.ro)
        if canary is not None:
            if self.pause.is_aborted():
                return ""
            replicas = replicas_of(self.ro)
            if self.new_rs is None or (rs_int(self.new_rs, "availableReplicas") < replicas
                                       and not replica_progress_threshold_met(
                                           canary.get("replicaProgressThreshold"), self.new_rs, replicas)):
                return ""
            if stored.get("promoteFull"):
                return "Full promotion requested"
            if self.is_fast_rollback():
                return "Rollback within window" if self.rollback_within_window() else "Fast rollback"
            _, index = current_step(self.ro)
            count = len(steps_of(self.ro))
            if count == 0 or (index is not None and index == count):
                return f"Completed all {count} canary steps"
            return ""
        bg = status.get("blueGreen") or {}
        if not bg.get("activeSelector"):
            return "Initial deploy"
        if bg["activeSelector"] != status.get("currentPodHash"):
            return ""
        if stored.get("promoteFull"):
            return "Full promotion requested"
        if self.is_fast_rollback():
            return "Rollback within window" if self.rollback_within_window() else "Fast rollback"
        if self.pause.is_aborted():
            return ""
        return "Completed blue-green update"

    def promote_stable(self, status: dict, reason: str) -> None:
        """promoteStable: the current pod hash becomes stableRS (RolloutCompleted when it changes)."""
        self.pause.clear()
        self.pause.remove_abort()
        status["promoteFull"] = False
        status.setdefault("blueGreen", {})["scaleUpPreviewCheckPoint"] = False
        if canary_spec(self.ro) is not None:
            count = len(steps_of(self.ro))
            status["currentStepIndex"] = count if count > 0 else None
        if (status.get("stableRS") or "") != status["currentPodHash"]:
            status["stableRS"] = status["currentPodHash"]
            try:
                revision = revision_of(self.ro)
            except ValueError:
                revision = 0
            self.record("Normal", COMPLETED_REASON,
                        f"Rollout completed update to revision {revision} ({status['currentPodHash']}): {reason}")

    @staticmethod
    def completed(status: Mapping) -> bool:
        """RolloutCompleted: the current pod hash is stable."""
        return bool(status.get("stableRS")) and status.get("stableRS") == status.get("currentPodHash")

    def healthy(self, status: Mapping) -> bool:
        """conditions.RolloutHealthy."""
        replicas = replicas_of(self.ro)
        complete = True
        bg = bluegreen_spec(self.ro)
        if bg is not None:
            sel = status.get("blueGreen") or {}
            complete = sel.get("activeSelector") == status.get("currentPodHash") and (
                not bg.get("previewService") or sel.get("previewSelector") == status.get("currentPodHash"))
        if canary_spec(self.ro) is not None:
            count = len(steps_of(self.ro))
            all_steps = True
            if count > 0 and status.get("currentStepIndex") is not None:
                all_steps = count == int(status["currentStepIndex"])
            complete = all_steps and self.completed(status) and int(status.get("replicas") or 0) == replicas
        return (int(status.get("updatedReplicas") or 0) == replicas
                and int(status.get("availableReplicas") or 0) == replicas
                and str(status_of(self.ro).get("observedGeneration") or "") == self._generation() and complete)

    def progressing(self, status: Mapping) -> bool:
        """conditions.RolloutProgressing: any change that counts as progress since the stored status."""
        old = status_of(self.ro)
        specific = False
        if bluegreen_spec(self.ro) is not None:
            o, n = old.get("blueGreen") or {}, status.get("blueGreen") or {}
            specific = (o.get("activeSelector") or "") != (n.get("activeSelector") or "") or (
                o.get("previewSelector") or "") != (n.get("previewSelector") or "")
        if canary_spec(self.ro) is not None:
            step_moved = (status.get("currentStepIndex") is not None and old.get("currentStepIndex") is not None
                          and int(status["currentStepIndex"]) != int(old["currentStepIndex"]))
            specific = ((status.get("stableRS") or "") != (old.get("stableRS") or "") or step_moved
                        or (status.get("currentStepHash") or "") != (old.get("currentStepHash") or ""))

        def n(st: Mapping, f: str) -> int:
            return int(st.get(f) or 0)

        return (n(status, "updatedReplicas") != n(old, "updatedReplicas")
                or n(status, "replicas") - n(status, "updatedReplicas") < n(old, "replicas") - n(old, "updatedReplicas")
                or n(status, "readyReplicas") > n(old, "readyReplicas")
                or n(status, "availableReplicas") > n(old, "availableReplicas") or specific)

    def timed_out(self, status: Mapping) -> bool:
        """conditions.RolloutTimedOut."""
        cond = get_condition(status, "Progressing")
        if cond is None or cond.get("reason") in (ABORTED_REASON, PAUSED_REASON):
            return False
        if cond.get("reason") == TIMED_OUT_REASON:
            return True
        return epoch(cond["lastUpdateTime"]) + self.deadline_seconds() < self.now

    def deadline_seconds(self) -> int:
        value = spec_of(self.ro).get("progressDeadlineSeconds")
        return DEFAULT_PROGRESS_DEADLINE if value is None else int(value)

    def indefinite_step(self) -> bool:
        """isIndefiniteStep: pause/analysis/experiment steps and blue-green pauses do not time out."""
        step, _ = current_step(self.ro)
        if step is not None and any(step.get(k) is not None for k in ("experiment", "analysis", "pause")):
            return True
        cond = get_condition(status_of(self.ro), "Paused")
        return cond is not None and cond.get("status") == "True"

    def waiting_for_scale_down(self) -> bool:
        """isWaitingForReplicaSetScaleDown."""
        return any(annotations_of(rs).get(SCALE_DOWN_DEADLINE_ANNOTATION) for rs in self.other_rss)

    def _timeout_message(self) -> str:
        if self.new_rs is not None:
            return f"ReplicaSet {go_quote(self.new_rs['metadata']['name'])} has timed out progressing."
        return f"Rollout {go_quote(self.name)} has timed out progressing."

    def evaluate_progress_deadline_abort(self, status: dict) -> None:
        """evaluateProgressDeadlineAbort: spec.progressDeadlineAbort turns a timeout into an abort."""
        if not spec_of(self.ro).get("progressDeadlineAbort") or self.pause.is_aborted():
            return
        if self.completed(status) or self.progressing(status):
            return
        if self.indefinite_step() or self.waiting_for_scale_down():
            return
        if not self.timed_out(status_of(self.ro)):
            return
        msg = self._timeout_message()
        self.pause.add_abort(msg)
        self.record("Warning", ABORTED_REASON, msg)

    def calculate_conditions(self, status: dict) -> None:
        """calculateRolloutConditions: Healthy, Progressing, Available, ReplicaFailure, Completed."""
        paused = bool(status.get("pauseConditions")) or bool(spec_of(self.ro).get("paused"))
        aborted = self.pause.is_aborted()
        became_unhealthy = False
        if not paused and self.healthy(status):
            set_condition(status, new_condition("Healthy", "True", HEALTHY_REASON, "Rollout is healthy", self.now_ts))
        elif get_condition(status_of(self.ro), "Healthy") is not None:
            became_unhealthy = set_condition(status, new_condition("Healthy", "False", HEALTHY_REASON,
                                                                   "Rollout is not healthy", self.now_ts))
        if aborted:
            try:
                revision = revision_of(self.ro)
            except ValueError:
                revision = 0
            message = f"Rollout aborted update to revision {revision}"
            if self.pause.abort_message:
                message = f"{message}: {self.pause.abort_message}"
            if set_condition(status, new_condition("Progressing", "False", ABORTED_REASON, message, self.now_ts)):
                self.record("Warning", ABORTED_REASON, message)
        current = get_condition(status_of(self.ro), "Progressing")
        if not aborted:
            rs_name = self.new_rs["metadata"]["name"] if self.new_rs is not None else ""
            if self.healthy(status):
                set_condition(status, new_condition("Progressing", "True", NEW_RS_AVAILABLE_REASON,
                                                    f"ReplicaSet {go_quote(rs_name)} has successfully progressed.",
                                                    self.now_ts))
            elif self.progressing(status) or became_unhealthy:
                if self.new_rs is not None:
                    msg = f"ReplicaSet {go_quote(rs_name)} is progressing."
                else:
                    msg = f"Rollout {go_quote(self.name)} is progressing."
                reason = RS_UPDATED_REASON
                if status.get("stableRS") == status.get("currentPodHash") and became_unhealthy:
                    reason, msg = RS_NOT_AVAILABLE_REASON, NOT_AVAILABLE_MESSAGE
                cond = new_condition("Progressing", "True", reason, msg, self.now_ts)
                if current is not None:
                    if current.get("status") == "True":
                        cond["lastTransitionTime"] = current.get("lastTransitionTime")
                    remove_condition(status, "Progressing")
                set_condition(status, cond)
            elif not self.indefinite_step() and not self.waiting_for_scale_down() and self.timed_out(status):
                set_condition(status, new_condition("Progressing", "False", TIMED_OUT_REASON,
                                                    self._timeout_message(), self.now_ts))
        active_rs = rs_by_hash(self.all_rss, (status.get("blueGreen") or {}).get("activeSelector") or "")
        if bluegreen_spec(self.ro) is not None and active_rs is not None and is_saturated(self.ro, active_rs):
            available = True
        else:
            available = (canary_spec(self.ro) is not None
                         and count_status(self.all_rss, "availableReplicas") >= replicas_of(self.ro))
        set_condition(status, new_condition("Available", "True" if available else "False", AVAILABLE_REASON,
                                            AVAILABLE_MESSAGE if available else NOT_AVAILABLE_MESSAGE, self.now_ts))
        failure = self._replica_failure()
        if failure is not None:
            set_condition(status, failure)
        else:
            remove_condition(status, "ReplicaFailure")
        if self.completed(status):
            set_condition(status, new_condition("Completed", "True", COMPLETED_REASON, COMPLETED_REASON, self.now_ts))
        elif set_condition(status, new_condition("Completed", "False", COMPLETED_REASON, COMPLETED_REASON,
                                                 self.now_ts)):
            try:
                revision = revision_of(self.ro)
            except ValueError:
                revision = 0
            self.record("Normal", NOT_COMPLETED_REASON, f"Rollout not completed, started update to revision "
                                                        f"{revision} ({status.get('currentPodHash', '')})")

    def _replica_failure(self) -> dict | None:
        """getReplicaFailures: the new RS's ReplicaFailure first, else any RS's."""
        for rss in ([self.new_rs], self.all_rss):
            for rs in rss:
                for c in ((rs or {}).get("status") or {}).get("conditions") or ():
                    if c.get("type") == "ReplicaFailure":
                        return {"type": "ReplicaFailure", "status": c.get("status", ""),
                                "lastUpdateTime": c.get("lastTransitionTime"),
                                "lastTransitionTime": c.get("lastTransitionTime"),
                                "reason": c.get("reason", ""), "message": c.get("message", "")}
        return None

    def persist(self, status: dict) -> None:
        """persistRolloutStatus: observedGeneration, abort/pause, conditions, phase; write when changed."""
        status["observedGeneration"] = self._generation()
        self.evaluate_progress_deadline_abort(status)
        self.pause.calculate(status)
        self.calculate_conditions(status)
        status["phase"], status["message"] = calculate_rollout_phase(spec_of(self.ro), status)
        prev = status_of(self.ro)
        if status_json(status) == status_json(prev):
            self.requeue_stuck(status)
            return
        self.update_status(status)
        was_paused, now_paused = bool(prev.get("pauseConditions")), bool(status.get("pauseConditions"))
        if was_paused != now_paused:
            if now_paused:
                self.record("Normal", PAUSED_REASON,
                            f"Rollout is paused ({status['pauseConditions'][0].get('reason', '')})")
            elif not status.get("abortedAt"):
                self.record("Normal", RESUMED_REASON, "Rollout is resumed")

    def requeue_stuck(self, status: dict) -> None:
        """requeueStuckRollout: come back when the progress deadline would pass."""
        stored = status_of(self.ro)
        cond = get_condition(stored, "Progressing")
        if cond is None:
            return
        paused = bool(stored.get("pauseConditions")) or bool(spec_of(self.ro).get("paused"))
        if (self.healthy(status) or cond.get("reason") == TIMED_OUT_REASON or paused or stored.get("abort")
                or self.indefinite_step()):
            return
        after = epoch(cond["lastUpdateTime"]) + self.deadline_seconds() - self.now
        self.requeue_after(max(after, 0.0) + 1.0)
