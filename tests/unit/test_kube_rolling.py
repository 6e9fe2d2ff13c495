"""Deployment rolling-update arithmetic: whole rollouts simulated sync by sync, plus the helpers."""

from __future__ import annotations

import pytest

from almtui.kube.rolling import (
    DESIRED_REPLICAS_ANNOTATION,
    MAX_REPLICAS_ANNOTATION,
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    OldRS,
    cleanup_unhealthy_plan,
    deployment_complete,
    deployment_progressing,
    deployment_timed_out,
    last_revision,
    max_revision,
    max_scaled_down,
    new_rs_new_replicas,
    next_revision,
    reconcile_old_plan,
    replicas_annotations,
    resolved_max_surge,
    resolved_max_unavailable,
    revision_of,
    scale_down_old_plan,
    set_new_rs_revision,
)


def simulate(replicas, surge, unavailable, *, new_becomes_available=True, max_syncs=50):
    """Run rolloutRolling until nothing changes; pods become available instantly (or never, for new).

    Returns the scale calls as ("new"|"old", count) and checks the rolling-update invariants after
    every call.
    """
    surge_n = resolved_max_surge(replicas, surge, unavailable)
    unavailable_n = resolved_max_unavailable(replicas, surge, unavailable)
    old_spec = old_avail = replicas
    new_spec = new_avail = 0
    steps = []
    for _ in range(max_syncs):
        target = new_rs_new_replicas(replicas, surge, unavailable, old_spec + new_spec, new_spec)
        if target != new_spec:
            new_spec = target
            new_avail = target if new_becomes_available else 0
            steps.append(("new", target))
        else:
            plan = reconcile_old_plan(
                replicas, surge, unavailable, [OldRS("old", 1, old_spec, old_avail)], new_spec, new_avail
            )
            if not plan:
                break
            for name, count in plan:
                assert name == "old"
                old_spec = count
                old_avail = min(old_avail, count)
                steps.append(("old", count))
        assert old_spec + new_spec <= replicas + surge_n
        assert old_avail + new_avail >= replicas - unavailable_n
    else:
        pytest.fail("rollout did not settle")
    return steps, (old_spec, new_spec)


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable", "expected"),
    [
        # surge ceil(0.75)=1, unavailable floor(0.75)=0
        (3, "25%", "25%", [("new", 1), ("old", 2), ("new", 2), ("old", 1), ("new", 3), ("old", 0)]),
        # surge ceil(2.5)=3, unavailable floor(2.5)=2: new 3; old 13-8=5; new 3+min(5,7)=8; old 0; new 10
        (10, "25%", "25%", [("new", 3), ("old", 5), ("new", 8), ("old", 0), ("new", 10)]),
        # no surge: old goes first, one at a time
        (
            4,
            0,
            1,
            [("old", 3), ("new", 1), ("old", 2), ("new", 2), ("old", 1), ("new", 3), ("old", 0), ("new", 4)],
        ),
        # surge 2, unavailable 0: new 2; old 7-5=2 -> 3; new 4; old 1; new 5; old 0
        (5, 2, 0, [("new", 2), ("old", 3), ("new", 4), ("old", 1), ("new", 5), ("old", 0)]),
        # surge ceil(0.25)=1, unavailable 0
        (1, "25%", "25%", [("new", 1), ("old", 0)]),
        # both fenceposts resolve to 0 -> unavailable forced to 1 (ResolveFenceposts)
        (2, "0%", "1%", [("old", 1), ("new", 1), ("old", 0), ("new", 2)]),
    ],
)
def test_rolling_sequences(replicas, surge, unavailable, expected):
    steps, final = simulate(replicas, surge, unavailable)
    assert steps == expected
    assert final == (0, replicas)


def test_rollout_stalls_when_new_pods_never_become_available():
    # Upstream's own example: 10 replicas, surge 3, unavailable 2, crash-looping new pods.
    # new 3; old: 13-8-3=2 -> 8; new: 11<13 -> 5; then maxScaledDown = 13-8-5 = 0: stuck at old 8 / new 5.
    steps, final = simulate(10, 3, 2, new_becomes_available=False)
    assert steps == [("new", 3), ("old", 8), ("new", 5)]
    assert final == (8, 5)


def test_new_rs_new_replicas_edges():
    assert new_rs_new_replicas(3, "25%", "25%", 4, 1) == 1  # at replicas + surge: no change
    assert new_rs_new_replicas(3, "25%", "25%", 3, 0) == 1
    assert new_rs_new_replicas(3, 5, 0, 3, 0) == 3  # never above replicas
    assert new_rs_new_replicas(3, 1, 0, 3, 3) == 3  # saturated
    assert new_rs_new_replicas(3, 1, 0, 5, 5) == 3  # oversized new RS scales down to replicas
    assert new_rs_new_replicas(3, None, 1, 3, 0) == 0  # no surge given: nothing to add


def test_max_scaled_down():
    # 10 replicas, unavailable 2, surge 3: 13 - 8 - (5 - 0) = 0
    assert max_scaled_down(10, 2, 3, 13, 5, 0) == 0
    assert max_scaled_down(10, 2, 3, 13, 3, 3) == 5
    assert max_scaled_down(0, "25%", "25%", 2, 0, 0) == 2  # zero replicas: maxUnavailable is 0


def test_cleanup_unhealthy_oldest_first_and_capped():
    old = [
        OldRS("b", 20, spec_replicas=3, available_replicas=1),  # 2 unhealthy
        OldRS("a", 10, spec_replicas=2, available_replicas=0),  # 2 unhealthy, older
        OldRS("c", 30, spec_replicas=2, available_replicas=2),  # healthy
    ]
    assert cleanup_unhealthy_plan(old, 3) == [("a", 0), ("b", 2)]
    assert cleanup_unhealthy_plan(old, 10) == [("a", 0), ("b", 1)]
    assert cleanup_unhealthy_plan(old, 0) == []


def test_cleanup_ties_break_on_name():
    old = [OldRS("z", 5, 1, 0), OldRS("m", 5, 1, 0)]
    assert cleanup_unhealthy_plan(old, 1) == [("m", 0)]


def test_cleanup_stops_at_lagging_status():
    # "a" reports more available than desired (scale-down not yet reflected): upstream aborts there.
    old = [OldRS("a", 1, 2, 3), OldRS("b", 2, 2, 0)]
    assert cleanup_unhealthy_plan(old, 5) == []
    assert reconcile_old_plan(4, 1, 1, old, 0, 0) == []


def test_scale_down_old_plan():
    old = [OldRS("new-ish", 20, 3, 3), OldRS("oldest", 10, 2, 2), OldRS("empty", 5, 0, 0)]
    # 7 available, min 4: remove 3, oldest first
    assert scale_down_old_plan(old, 7, 4) == [("oldest", 0), ("new-ish", 2)]
    assert scale_down_old_plan(old, 4, 4) == []


def test_reconcile_old_plan_cleanup_then_scale_down():
    # replicas 4, surge 1, unavailable 1; old RS spec 4 with 1 unhealthy; new RS spec 1 available 1.
    # maxScaledDown = 5 - 3 - 0 = 2; cleanup removes the 1 unhealthy -> 3;
    # available 3 + 1 = 4 > min 3 -> scale down by 1 -> 2.
    plan = reconcile_old_plan(4, 1, 1, [OldRS("old", 1, 4, 3)], 1, 1)
    assert plan == [("old", 3), ("old", 2)]


def test_reconcile_old_plan_ignores_inactive_old_rs():
    # An inactive RS (spec 0) with pods still terminating must not add to the available count.
    old = [OldRS("gone", 1, 0, 2), OldRS("old", 2, 2, 2)]
    # replicas 2, surge 1 unavailable 0: all 3 pods, min 2, maxScaledDown 3-2-0=1; available 2+1=3 -> 1
    assert reconcile_old_plan(2, 1, 0, old, 1, 1) == [("old", 1)]
    assert reconcile_old_plan(2, 1, 0, [OldRS("gone", 1, 0, 2)], 2, 2) == []


def test_replicas_annotations():
    assert replicas_annotations(10, "25%", "25%") == {
        DESIRED_REPLICAS_ANNOTATION: "10",
        MAX_REPLICAS_ANNOTATION: "13",
    }


def _deploy(replicas=3, generation=2, status=None, deadline=600):
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": replicas, "progressDeadlineSeconds": deadline},
        "status": status or {},
    }


def test_deployment_complete():
    done = {"updatedReplicas": 3, "replicas": 3, "availableReplicas": 3, "observedGeneration": 2}
    assert deployment_complete(_deploy(), done)
    assert not deployment_complete(_deploy(), {**done, "replicas": 4})
    assert not deployment_complete(_deploy(), {**done, "availableReplicas": 2})
    assert not deployment_complete(_deploy(), {**done, "observedGeneration": 1})
    assert deployment_complete(
        {"metadata": {}, "spec": {}}, {"updatedReplicas": 1, "replicas": 1, "availableReplicas": 1}
    )


def test_deployment_progressing():
    old = {"replicas": 4, "updatedReplicas": 1, "readyReplicas": 3, "availableReplicas": 3}
    d = _deploy(status=old)
    assert not deployment_progressing(d, dict(old))
    assert deployment_progressing(d, {**old, "updatedReplicas": 2, "replicas": 5})
    assert deployment_progressing(d, {**old, "replicas": 3})  # an old pod went away
    assert deployment_progressing(d, {**old, "readyReplicas": 4})
    assert deployment_progressing(d, {**old, "availableReplicas": 4})
    assert not deployment_progressing(d, {**old, "availableReplicas": 2})


def test_deployment_timed_out():
    t0 = 1_700_000_000.0

    def status(reason, ts="2023-11-14T22:13:20Z"):  # == t0
        return {"conditions": [{"type": "Progressing", "reason": reason, "lastUpdateTime": ts}]}

    d = _deploy(deadline=600)
    assert not deployment_timed_out(d, status("ReplicaSetUpdated"), t0 + 600)  # not strictly after
    assert deployment_timed_out(d, status("ReplicaSetUpdated"), t0 + 601)
    assert not deployment_timed_out(d, status("NewReplicaSetAvailable"), t0 + 10_000)
    assert deployment_timed_out(d, status("ProgressDeadlineExceeded"), t0)
    assert not deployment_timed_out(d, {}, t0 + 10_000)
    assert not deployment_timed_out(_deploy(deadline=None), status("ReplicaSetUpdated"), t0 + 10_000)
    assert not deployment_timed_out(_deploy(deadline=2**31 - 1), status("ReplicaSetUpdated"), t0 + 10_000)


def test_revisions():
    rss = [{REVISION_ANNOTATION: "3"}, {REVISION_ANNOTATION: "10"}, None, {REVISION_ANNOTATION: "x"}, {}]
    assert revision_of({REVISION_ANNOTATION: "10"}) == 10
    assert revision_of(None) == 0
    with pytest.raises(ValueError, match=r'strconv\.ParseInt: parsing "x": invalid syntax'):
        revision_of({REVISION_ANNOTATION: "x"})
    assert max_revision(rss) == 10  # integer compare: "10" > "3"
    assert last_revision(rss) == 3
    assert next_revision(rss) == 11
    assert next_revision([]) == 1


def test_set_new_rs_revision_fresh_and_never_lowered():
    ann, changed = set_new_rs_revision({}, 1)
    assert (ann, changed) == ({REVISION_ANNOTATION: "1"}, True)
    ann, changed = set_new_rs_revision({REVISION_ANNOTATION: "5"}, 4)
    assert (ann, changed) == ({REVISION_ANNOTATION: "5"}, False)


def test_set_new_rs_revision_rollback_appends_history():
    ann, changed = set_new_rs_revision({REVISION_ANNOTATION: "2"}, 5)
    assert changed
    assert ann == {REVISION_ANNOTATION: "5", REVISION_HISTORY_ANNOTATION: "2"}
    ann, _ = set_new_rs_revision(ann, 7)
    assert ann[REVISION_HISTORY_ANNOTATION] == "2,5"


def test_set_new_rs_revision_history_capped():
    history = ",".join(str(n) for n in range(1000, 1400))  # 400 * 5 - 1 = 1999 chars
    ann, _ = set_new_rs_revision({REVISION_ANNOTATION: "2000", REVISION_HISTORY_ANNOTATION: history}, 2001)
    new_history = ann[REVISION_HISTORY_ANNOTATION]
    assert len(new_history) <= 2000
    assert new_history.endswith(",1399,2000")
    assert new_history.startswith("1001,")  # the oldest entry was dropped
