"""kubectl's Deployment rollout status texts and Argo Rollouts' phases, character for character."""

from __future__ import annotations

import pytest

from almtui.kube.rollout_status import (
    RolloutStatusError,
    calculate_rollout_phase,
    deployment_status,
    get_condition,
    rollout_phase,
)


def deploy(
    *, replicas=3, generation=2, observed=2, updated=3, total=3, available=3, annotations=None, conds=()
):
    spec = {} if replicas is None else {"replicas": replicas}
    return {
        "metadata": {"name": "web", "generation": generation, "annotations": annotations or {}},
        "spec": spec,
        "status": {
            "observedGeneration": observed,
            "updatedReplicas": updated,
            "replicas": total,
            "availableReplicas": available,
            "conditions": list(conds),
        },
    }


# --- deployment_status ------------------------------------------------------------------------


def test_success():
    assert deployment_status(deploy()) == ('deployment "web" successfully rolled out', True)


def test_waiting_for_spec_update():
    assert deployment_status(deploy(generation=3, observed=2)) == (
        "Waiting for deployment spec update to be observed...",
        False,
    )


def test_updated_against_spec_replicas():
    assert deployment_status(deploy(updated=1, total=4, available=3)) == (
        'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...',
        False,
    )


def test_old_replicas_pending_termination():
    assert deployment_status(deploy(updated=3, total=5, available=3)) == (
        'Waiting for deployment "web" rollout to finish: 2 old replicas are pending termination...',
        False,
    )


def test_updated_replicas_available():
    assert deployment_status(deploy(updated=3, total=3, available=1)) == (
        'Waiting for deployment "web" rollout to finish: 1 of 3 updated replicas are available...',
        False,
    )


def test_no_spec_replicas_skips_the_updated_check():
    # spec.replicas absent (nil): the first check is skipped, the next ones still apply
    assert deployment_status(deploy(replicas=None, updated=0, total=0, available=0)) == (
        'deployment "web" successfully rolled out',
        True,
    )


def test_progress_deadline_exceeded():
    cond = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
    with pytest.raises(RolloutStatusError) as err:
        deployment_status(deploy(updated=1, conds=[cond]))
    assert str(err.value) == 'deployment "web" exceeded its progress deadline'
    # not evaluated until the spec is observed
    assert deployment_status(deploy(generation=3, conds=[cond]))[1] is False


def test_revision_checks():
    annotated = deploy(annotations={"deployment.kubernetes.io/revision": "4"})
    assert deployment_status(annotated, revision=4)[1] is True
    assert deployment_status(annotated, revision=0)[1] is True
    with pytest.raises(RolloutStatusError) as err:
        deployment_status(annotated, revision=3)
    assert str(err.value) == "desired revision (3) is different from the running revision (4)"
    with pytest.raises(RolloutStatusError) as err:
        deployment_status(deploy(), revision=1)
    assert str(err.value) == "desired revision (1) is different from the running revision (0)"
    with pytest.raises(RolloutStatusError) as err:
        deployment_status(deploy(annotations={"deployment.kubernetes.io/revision": "abc"}), revision=1)
    assert str(err.value) == (
        'cannot get the revision of deployment "web": strconv.ParseInt: parsing "abc": invalid syntax'
    )


def test_get_condition():
    cond = {"type": "Progressing", "reason": "NewReplicaSetAvailable"}
    obj = deploy(conds=[{"type": "Available"}, cond])
    assert get_condition(obj, "Progressing") == cond
    assert get_condition(obj["status"], "Progressing") == cond
    assert get_condition(obj, "ReplicaFailure") is None
    assert get_condition({}, "Progressing") is None


# --- Argo Rollouts ----------------------------------------------------------------------------


def canary(**status):
    base = {
        "observedGeneration": "2",
        "replicas": 3,
        "updatedReplicas": 3,
        "availableReplicas": 3,
        "stableRS": "abc",
        "currentPodHash": "abc",
    }
    return {
        "metadata": {"name": "web", "generation": 2},
        "spec": {"replicas": 3, "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}},
        "status": {**base, **status},
    }


def blue_green(**status):
    ro = canary(**status)
    ro["spec"]["strategy"] = {"blueGreen": {"activeService": "web-active"}}
    ro["status"].setdefault("blueGreen", {"activeSelector": "abc"})
    return ro


def test_rollout_healthy():
    assert rollout_phase(canary()) == ("Healthy", "")
    assert rollout_phase(blue_green()) == ("Healthy", "")


def test_rollout_generation_not_observed():
    assert rollout_phase(canary(observedGeneration="1")) == (
        "Progressing",
        "waiting for rollout spec update to be observed",
    )
    # a newer observedGeneration, or a pre-v0.10 hash, counts as observed
    assert rollout_phase(canary(observedGeneration="3")) == ("Healthy", "")
    assert rollout_phase(canary(observedGeneration="7d9c8f6b5c")) == ("Healthy", "")
    assert rollout_phase(canary(observedGeneration=2)) == ("Healthy", "")


def test_rollout_unpausing():
    assert rollout_phase(canary(controllerPause=True)) == ("Progressing", "waiting for rollout to unpause")
    paused = canary(controllerPause=True, pauseConditions=[{"reason": "CanaryPauseStep", "startTime": "x"}])
    assert rollout_phase(paused) == ("Paused", "CanaryPauseStep")


def test_rollout_status_phase_wins():
    ro = canary(phase="Degraded", message="RolloutAborted: Rollout aborted update to revision 2")
    assert rollout_phase(ro) == ("Degraded", "RolloutAborted: Rollout aborted update to revision 2")
    assert rollout_phase(canary(phase="Healthy")) == ("Healthy", "")


def test_degraded():
    invalid = {"type": "InvalidSpec", "status": "True", "reason": "InvalidSpec", "message": "bad steps"}
    assert calculate_rollout_phase({}, {"conditions": [invalid]}) == ("Degraded", "InvalidSpec: bad steps")
    aborted = {
        "type": "Progressing",
        "status": "False",
        "reason": "RolloutAborted",
        "message": "Rollout aborted update to revision 2",
    }
    assert calculate_rollout_phase({}, {"conditions": [aborted]}) == (
        "Degraded",
        "RolloutAborted: Rollout aborted update to revision 2",
    )
    timed_out = {
        "type": "Progressing",
        "reason": "ProgressDeadlineExceeded",
        "message": 'ReplicaSet "web-1" has timed out progressing.',
    }
    assert calculate_rollout_phase({}, {"conditions": [timed_out]}) == (
        "Degraded",
        'ProgressDeadlineExceeded: ReplicaSet "web-1" has timed out progressing.',
    )
    # the first matching condition wins
    assert calculate_rollout_phase({}, {"conditions": [aborted, invalid]})[1].startswith("RolloutAborted")


def test_paused():
    ro = canary()
    assert calculate_rollout_phase({**ro["spec"], "paused": True}, ro["status"]) == (
        "Paused",
        "manually paused",
    )
    status = {
        **ro["status"],
        "pauseConditions": [{"reason": "BlueGreenPause"}, {"reason": "CanaryPauseStep"}],
    }
    assert calculate_rollout_phase(ro["spec"], status) == ("Paused", "BlueGreenPause")


def test_restarting():
    ro = canary()
    spec = {**ro["spec"], "restartAt": "2024-05-01T10:00:00Z"}
    assert calculate_rollout_phase(spec, ro["status"]) == ("Progressing", "rollout is restarting")
    status = {**ro["status"], "restartedAt": "2024-05-01T09:00:00Z"}
    assert calculate_rollout_phase(spec, status) == ("Progressing", "rollout is restarting")
    status = {**ro["status"], "restartedAt": "2024-05-01T10:00:00+00:00"}  # same instant
    assert calculate_rollout_phase(spec, status) == ("Healthy", "")


def test_replica_progress():
    ro = canary(updatedReplicas=1)
    assert calculate_rollout_phase(ro["spec"], ro["status"]) == (
        "Progressing",
        "more replicas need to be updated",
    )
    ro = canary(availableReplicas=2)
    assert calculate_rollout_phase(ro["spec"], ro["status"]) == (
        "Progressing",
        "updated replicas are still becoming available",
    )
    # spec.replicas defaults to 1
    assert calculate_rollout_phase(
        {"strategy": {"canary": {}}}, {"stableRS": "a", "currentPodHash": "a"}
    ) == (
        "Progressing",
        "more replicas need to be updated",
    )


def test_canary_phases():
    ro = canary(replicas=5)
    assert calculate_rollout_phase(ro["spec"], ro["status"]) == (
        "Progressing",
        "old replicas are pending termination",
    )
    routed = canary(replicas=5, stableRS="old")
    routed["spec"]["strategy"]["canary"]["trafficRouting"] = {"nginx": {"stableIngress": "web"}}
    assert calculate_rollout_phase(routed["spec"], routed["status"]) == (
        "Progressing",
        "waiting for all steps to complete",
    )
    ro = canary(stableRS="")
    assert calculate_rollout_phase(ro["spec"], ro["status"]) == (
        "Progressing",
        "waiting for all steps to complete",
    )


def test_blue_green_phases():
    ro = blue_green(blueGreen={"activeSelector": "old"})
    assert calculate_rollout_phase(ro["spec"], ro["status"]) == (
        "Progressing",
        "active service cutover pending",
    )
    ro = blue_green(blueGreen={})
    assert calculate_rollout_phase(ro["spec"], ro["status"]) == (
        "Progressing",
        "active service cutover pending",
    )
    ro = blue_green(stableRS="old")
    assert calculate_rollout_phase(ro["spec"], ro["status"]) == (
        "Progressing",
        "waiting for post-promotion verification to complete",
    )
    ro["spec"]["strategy"]["blueGreen"]["postPromotionAnalysis"] = {"templates": [{"templateName": "smoke"}]}
    assert calculate_rollout_phase(ro["spec"], ro["status"]) == (
        "Progressing",
        "waiting for analysis to complete",
    )
    ro["status"]["blueGreen"]["postPromotionAnalysisRunStatus"] = {"name": "r", "status": "Running"}
    assert calculate_rollout_phase(ro["spec"], ro["status"])[1] == "waiting for analysis to complete"
    ro["status"]["blueGreen"]["postPromotionAnalysisRunStatus"] = {"name": "r", "status": "Successful"}
    assert (
        calculate_rollout_phase(ro["spec"], ro["status"])[1]
        == "waiting for post-promotion verification to complete"
    )
    # blue-green does not wait for old replicas to terminate (scale-down delay keeps them)
    ro = blue_green(replicas=6)
    assert calculate_rollout_phase(ro["spec"], ro["status"]) == ("Healthy", "")
