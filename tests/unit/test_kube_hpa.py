"""The HPA algorithm, case by case; each expected number is worked out by hand in the comment."""

from __future__ import annotations

import pytest

from almtui.kube.hpa import (
    MSG_READY_FOR_NEW_SCALE,
    MSG_SCALE_DOWN_LIMIT,
    MSG_SCALE_DOWN_STABILIZED,
    MSG_SCALE_UP_LIMIT,
    MSG_SCALE_UP_STABILIZED,
    MSG_TOO_FEW,
    MSG_TOO_MANY,
    MSG_WITHIN_RANGE,
    PodSample,
    calc_object_average_replicas,
    calc_object_value_replicas,
    calc_plain_metric_replicas,
    calc_resource_utilization_replicas,
    default_behavior,
    desired_replicas_for,
    normalize_legacy,
    normalize_with_behavior,
    record_recommendation,
    record_scale_event,
)

NOW = 10_000.0
OLD = NOW - 3600  # started long ago: past the CPU initialization period


def pod(name, usage, request=1000.0, **kw):
    kw.setdefault("start_time", OLD)
    kw.setdefault("ready_transition_time", OLD + 5)
    kw.setdefault("metric_timestamp", NOW - 10)
    return PodSample(name, usage=usage, request=request, **kw)


def pods(*usages, **kw):
    return [pod(f"web-{i}", u, **kw) for i, u in enumerate(usages)]


def calc(current, target, samples, **kw):
    return calc_resource_utilization_replicas(current, target, samples, NOW, **kw)


# --- resource utilization ---------------------------------------------------------------------


def test_messages_are_upstream_texts():
    assert MSG_SCALE_DOWN_STABILIZED == (
        "recent recommendations were higher than current one, applying the highest recent recommendation"
    )
    assert MSG_SCALE_UP_STABILIZED == (
        "recent recommendations were lower than current one, applying the lowest recent recommendation"
    )
    assert MSG_READY_FOR_NEW_SCALE == "recommended size matches current size"
    assert MSG_WITHIN_RANGE == "the desired count is within the acceptable range"


def test_tolerance_band():
    # 3 x 530/1000 -> utilization int(1590*100/3000) = 53; 53/50 = 1.06 within 10% -> stay at 3
    r = calc(3, 50, pods(530, 530, 530))
    assert (r.replicas, r.utilization, r.raw_average, r.ready_pods, r.error) == (3, 53, 530, 3, None)
    # 55/50 = 1.1 is on the edge and still within; 45/50 = 0.9 likewise
    assert calc(3, 50, pods(550, 550, 550)).replicas == 3
    assert calc(3, 50, pods(450, 450, 450)).replicas == 3
    # 56/50 = 1.12 -> ceil(1.12 * 3) = ceil(3.36) = 4
    assert calc(3, 50, pods(560, 560, 560)).replicas == 4
    # asymmetric tolerance (down 0.5, up 0.1): 30/50 = 0.6 is within on the way down
    assert calc(3, 50, pods(300, 300, 300), tolerance=(0.5, 0.1)).replicas == 3


def test_integer_utilization_truncates():
    # (333+333+334)*100/3000 = 33.33 -> 33; raw average 1000 // 3 = 333
    r = calc(3, 50, pods(333, 333, 334))
    assert (r.utilization, r.raw_average) == (33, 333)
    # 33/50 = 0.66 -> ceil(0.66 * 3) = ceil(1.98) = 2
    assert r.replicas == 2


def test_scale_down_plain():
    # 4 x 200/1000 -> 20%; 20/50 = 0.4 -> ceil(0.4 * 4) = ceil(1.6) = 2
    assert calc(4, 50, pods(200, 200, 200, 200)).replicas == 2


def test_missing_pods_on_scale_up_count_as_zero():
    # 3 x 1000/1000 -> 100%, ratio 2.0; missing pod as 0: 3000*100/4000 = 75 -> 1.5 -> ceil(1.5*4) = 6
    samples = [*pods(1000, 1000, 1000), pod("web-new", None)]
    r = calc(4, 50, samples)
    assert (r.replicas, r.utilization, r.ready_pods) == (6, 100, 3)
    # 3 x 700 -> 70%, ratio 1.4; with the missing pod at 0: 2100*100/4000 = 52 -> 1.04 within -> stay 4
    assert calc(4, 50, [*pods(700, 700, 700), pod("web-new", None)]).replicas == 4


def test_missing_pods_on_scale_down_count_as_full_request():
    # 3 x 100 -> 10%, ratio 0.2; missing as 100% of 1000: (300+1000)*100/4000 = 32 -> 0.64
    # -> ceil(0.64 * 4) = ceil(2.56) = 3 (ignoring the missing pod would have said ceil(0.2*3) = 1)
    assert calc(4, 50, [*pods(100, 100, 100), pod("web-new", None)]).replicas == 3


def test_missing_pods_on_scale_down_use_target_above_100():
    # target 150: 3 x 600 -> 60%, ratio 0.4; missing as 150% of 1000 = 1500:
    # (1800+1500)*100/4000 = 82 -> 82/150 = 0.5467 -> ceil(0.5467 * 4) = ceil(2.19) = 3
    assert calc(4, 150, [*pods(600, 600, 600), pod("web-new", None)]).replicas == 3


def test_unready_pods_on_scale_up_count_as_zero():
    # 2 ready x 1100 -> 110%, ratio 2.2; 2 Pending pods as 0: 2200*100/4000 = 55 -> 1.1 within -> stay 4
    # (without them it would be ceil(2.2 * 2) = 5)
    samples = [*pods(1100, 1100), pod("p-0", None, phase="Pending"), pod("p-1", None, phase="Pending")]
    r = calc(4, 50, samples)
    assert (r.replicas, r.utilization, r.ready_pods) == (4, 110, 2)


def test_unready_pods_ignored_on_scale_down():
    # 2 ready x 100 -> 10%, ratio 0.2, no rebalancing for scale-down: ceil(0.2 * 2) = 1
    samples = [*pods(100, 100), pod("p-0", None, phase="Pending"), pod("p-1", None, phase="Pending")]
    assert calc(4, 50, samples).replicas == 1


def test_direction_flip_keeps_current():
    # scale-down turned up: 1 x 400 -> 40%, ratio 0.8; 3 missing as 1000 each:
    # (400+3000)*100/4000 = 85 -> 1.7 > 1 -> direction flips -> stay 4
    assert calc(4, 50, [pod("a", 400), pod("b", None), pod("c", None), pod("d", None)]).replicas == 4
    # scale-up turned down: 1 x 600 -> 60%, ratio 1.2; 3 Pending as 0: 600*100/4000 = 15 -> 0.3 -> stay 4
    pending = [pod(f"p-{i}", None, phase="Pending") for i in range(3)]
    assert calc(4, 50, [pod("a", 600), *pending]).replicas == 4


def test_new_count_against_direction_keeps_current():
    # target says 2 but 4 pods exist: 3 x 200 -> 20%, 0.4; missing as 1000: 1600*100/4000 = 40 -> 0.8
    # -> ceil(0.8 * 4) = ceil(3.2) = 4 > 2 on a scale-down -> stay 2
    assert calc(2, 50, [*pods(200, 200, 200), pod("web-new", None)]).replicas == 2


def test_ignored_pods():
    # deleted and Failed pods are dropped entirely: 2 x 500 -> 50% -> ratio 1.0 -> stay 2
    samples = [*pods(500, 500), pod("gone", 2000, deleted=True), pod("dead", 2000, phase="Failed")]
    r = calc(2, 50, samples)
    assert (r.replicas, r.utilization, r.ready_pods) == (2, 50, 2)


def test_cpu_readiness_rules():
    young = NOW - 60  # inside the 300 s initialization period
    # not ready while initialising -> unready
    assert calc(1, 50, [pod("a", 100), pod("b", 5000, start_time=young, ready=False)]).ready_pods == 1
    # ready, but the sample predates transition + window (NOW-10 < NOW-20+15) -> unready
    r = calc(1, 50, [pod("a", 100), pod("b", 5000, start_time=young, ready_transition_time=NOW - 20)])
    assert r.ready_pods == 1
    # ready and the sample is a full window after the transition (NOW-10 >= NOW-30+15) -> counted
    r = calc(1, 50, [pod("a", 100), pod("b", 5000, start_time=young, ready_transition_time=NOW - 30)])
    assert r.ready_pods == 2
    # past initialization, unready and never became ready (transition within 30 s of start) -> unready
    assert (
        calc(1, 50, [pod("a", 100), pod("b", 5000, ready=False, ready_transition_time=OLD + 10)]).ready_pods
        == 1
    )
    # past initialization, unready but had been ready (transition later than start + 30 s) -> counted
    assert (
        calc(1, 50, [pod("a", 100), pod("b", 5000, ready=False, ready_transition_time=OLD + 600)]).ready_pods
        == 2
    )
    # no Ready condition or no start time -> unready
    assert calc(1, 50, [pod("a", 100), pod("b", 5000, ready=None)]).ready_pods == 1
    assert calc(1, 50, [pod("a", 100), pod("b", 5000, start_time=None)]).ready_pods == 1
    # memory ignores readiness
    assert calc(1, 50, [pod("a", 100), pod("b", 5000, ready=False)], cpu=False).ready_pods == 2


def test_missing_request_error():
    r = calc(2, 50, [pod("web-1", 100), pod("web-2", 100, request=None)])
    assert r.error == "missing request for cpu in container app of Pod web-2"
    r = calc(2, 50, [pod("web-1", 100, request={"app": 500, "sidecar": None})])
    assert r.error == "missing request for cpu in container sidecar of Pod web-1"
    r = calc(2, 50, [pod("web-1", 100, request=None)], cpu=False)
    assert r.error == "missing request for memory in container app of Pod web-1"


def test_multi_container_requests_sum():
    # 2 containers 250 + 250 = 500 request, usage 500 -> 100%; target 50 -> ratio 2 -> ceil(2 * 1) = 2
    r = calc(1, 50, [pod("web-1", 500, request={"app": 250, "sidecar": 250})])
    assert (r.replicas, r.utilization) == (2, 100)


def test_errors():
    assert calc(2, 50, []).error == "no pods returned by selector while calculating replica count"
    r = calc(2, 50, [pod("a", None, phase="Pending")])
    assert r.error == "did not receive metrics for targeted pods (pods might be unready)"
    assert calc(2, 50, [pod("a", 100, request=0)]).error == "no metrics returned matched known pods"


# --- plain and object metrics -----------------------------------------------------------------


def test_plain_metric():
    # average 150 against 100 -> 1.5 -> ceil(1.5 * 2) = 3
    r = calc_plain_metric_replicas(2, 100, pods(150, 150, request=None), NOW)
    assert (r.replicas, r.utilization, r.raw_average) == (3, None, 150)
    # within tolerance -> stay
    assert calc_plain_metric_replicas(2, 100, pods(105, 95), NOW).replicas == 2


def test_plain_metric_missing_pods_use_target_on_scale_down():
    # average 50 vs 100 -> 0.5; missing as 100: (50+50+100)//3 = 66 -> 0.66 -> ceil(1.98) = 2
    samples = [*pods(50, 50), pod("web-new", None)]
    assert calc_plain_metric_replicas(3, 100, samples, NOW).replicas == 2
    # scale-up: average 300 vs 100 -> 3; missing as 0: 600//3 = 200 -> 2 -> ceil(2 * 3) = 6
    assert calc_plain_metric_replicas(3, 100, [*pods(300, 300), pod("web-new", None)], NOW).replicas == 6


def test_object_value():
    # ratio 3 -> ceil(3 * 3 ready) = 9; within tolerance -> current; from zero -> ceil(ratio)
    assert calc_object_value_replicas(3, 300, 100, 3) == 9
    assert calc_object_value_replicas(3, 105, 100, 3) == 3
    assert calc_object_value_replicas(0, 250, 100, 0) == 3
    assert calc_object_value_replicas(0, 0, 100, 0) == 0


def test_object_average():
    # 500 / (100 * 2) = 2.5 -> ceil(500 / 100) = 5; 210 / 200 = 1.05 within -> 2
    assert calc_object_average_replicas(2, 500, 100) == 5
    assert calc_object_average_replicas(2, 210, 100) == 2
    assert calc_object_average_replicas(0, 250, 100) == 3  # ratio +Inf -> ceil(250 / 100)


# --- behavior ---------------------------------------------------------------------------------


def test_default_behavior():
    assert default_behavior(None) is None
    filled = default_behavior({})
    assert filled == {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15},
            ],
        },
        "scaleDown": {
            "stabilizationWindowSeconds": None,
            "selectPolicy": "Max",
            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
        },
    }
    partial = default_behavior({"scaleDown": {"stabilizationWindowSeconds": 60}})
    assert partial["scaleDown"]["stabilizationWindowSeconds"] == 60
    assert partial["scaleDown"]["selectPolicy"] == "Max"
    assert partial["scaleUp"]["stabilizationWindowSeconds"] == 0
    # an explicit empty policy list is kept, as a non-nil slice is upstream
    assert default_behavior({"scaleUp": {"policies": []}})["scaleUp"]["policies"] == []


def norm(current, desired, behavior, *, mn=1, mx=100, recs=(), up=(), down=()):
    return normalize_with_behavior(current, desired, mn, mx, behavior, list(recs), list(up), list(down), NOW)


def test_default_scale_up_rate():
    # current 2: Pods 2+4 = 6, Percent ceil(2*2) = 4; Max -> 6
    n = norm(2, 20, {})
    assert (n.replicas, n.limited, n.limited_reason, n.limited_message) == (
        6,
        True,
        "ScaleUpLimit",
        MSG_SCALE_UP_LIMIT,
    )
    assert (n.able_reason, n.able_message) == ("ReadyForNewScale", MSG_READY_FOR_NEW_SCALE)


def test_select_policy_min_and_disabled_on_scale_up():
    assert norm(2, 20, {"scaleUp": {"selectPolicy": "Min"}}).replicas == 4  # min(6, 4)
    n = norm(2, 20, {"scaleUp": {"selectPolicy": "Disabled"}})
    assert (n.replicas, n.limited_reason) == (2, "ScaleUpLimit")


def test_percent_rounding():
    # scale-up percent rounds up: ceil(3 * 1.5) = ceil(4.5) = 5
    up = {"scaleUp": {"policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}]}}
    assert norm(3, 10, up).replicas == 5
    # scale-down percent rounds down: int(5 * 0.7) = int(3.5) = 3
    down = {
        "scaleDown": {
            "stabilizationWindowSeconds": 0,
            "policies": [{"type": "Percent", "value": 30, "periodSeconds": 60}],
        }
    }
    n = norm(5, 1, down)
    assert (n.replicas, n.limited_reason, n.limited_message) == (3, "ScaleDownLimit", MSG_SCALE_DOWN_LIMIT)


def test_period_events_limit_scale_up():
    pods4 = {"scaleUp": {"policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}]}}
    # 4 added 10 s ago: period start 6-4 = 2 -> limit 2+4 = 6 = current -> no growth
    n = norm(6, 20, pods4, up=[(NOW - 10, 4)])
    assert (n.replicas, n.limited_reason) == (6, "ScaleUpLimit")
    # the event fell out of the 15 s period: start 6 -> 10
    assert norm(6, 20, pods4, up=[(NOW - 20, 4)]).replicas == 10
    # exactly one period ago is already outside (events must be strictly newer)
    assert norm(6, 20, pods4, up=[(NOW - 15, 4)]).replicas == 10
    # scale-down events raise the period start: 6 + 2 = 8 -> 12
    assert norm(6, 20, pods4, down=[(NOW - 5, 2)]).replicas == 12


def test_period_events_limit_scale_down():
    one_per_minute = {
        "scaleDown": {
            "stabilizationWindowSeconds": 0,
            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
        }
    }
    # removed 1 thirty seconds ago: start 9+1 = 10 -> limit 9 = current -> stay
    assert norm(9, 1, one_per_minute, down=[(NOW - 30, 1)]).replicas == 9
    assert norm(9, 1, one_per_minute).replicas == 8


def test_select_policy_on_scale_down():
    policies = [
        {"type": "Pods", "value": 1, "periodSeconds": 60},
        {"type": "Percent", "value": 50, "periodSeconds": 60},
    ]
    # current 10: Pods -> 9, Percent -> 5. Max (the biggest change) -> 5; Min -> 9; Disabled -> 10
    base = {"stabilizationWindowSeconds": 0, "policies": policies}
    assert norm(10, 1, {"scaleDown": base}).replicas == 5
    assert norm(10, 1, {"scaleDown": {**base, "selectPolicy": "Min"}}).replicas == 9
    n = norm(10, 1, {"scaleDown": {**base, "selectPolicy": "Disabled"}})
    assert (n.replicas, n.limited_reason) == (10, "ScaleDownLimit")


def test_scale_down_stabilization_window():
    # default window 300 s: 8 (100 s ago) counts, 12 (400 s ago) does not -> max(5, 8) = 8
    n = norm(10, 5, {}, recs=[(NOW - 100, 8), (NOW - 400, 12)])
    assert (n.replicas, n.able_reason, n.able_message) == (
        8,
        "ScaleDownStabilized",
        MSG_SCALE_DOWN_STABILIZED,
    )
    assert (n.limited, n.limited_reason) == (False, "DesiredWithinRange")
    # behavior windows exclude a recommendation exactly at the cutoff
    assert norm(10, 5, {}, recs=[(NOW - 300, 8)]).replicas == 5  # default Percent 100 allows it


def test_scale_up_stabilization_window():
    # up window 60: 4 (30 s ago) -> min(7, 4) = 4; clamp(current 3 .. 4, down 7) = 4
    n = norm(3, 7, {"scaleUp": {"stabilizationWindowSeconds": 60}}, recs=[(NOW - 30, 4)])
    assert (n.replicas, n.able_reason, n.able_message) == (4, "ScaleUpStabilized", MSG_SCALE_UP_STABILIZED)


def test_behavior_bounds():
    # limit max(2+... ) = max(5+4, 10) = 10 > max 8 -> TooManyReplicas
    n = norm(5, 20, {}, mx=8)
    assert (n.replicas, n.limited, n.limited_reason, n.limited_message) == (
        8,
        True,
        "TooManyReplicas",
        MSG_TOO_MANY,
    )
    # down limit Percent 100 -> 0 < min 2 -> TooFewReplicas
    n = norm(5, 0, {"scaleDown": {"stabilizationWindowSeconds": 0}}, mn=2)
    assert (n.replicas, n.limited, n.limited_reason, n.limited_message) == (
        2,
        True,
        "TooFewReplicas",
        MSG_TOO_FEW,
    )
    n = norm(5, 5, {})
    assert (n.replicas, n.limited, n.limited_reason) == (5, False, "DesiredWithinRange")


def test_scale_down_window_from_controller_flag():
    # no window in behavior -> the controller's downscale window (here 60 s) applies
    behavior = {"scaleDown": {"policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}}
    n = normalize_with_behavior(10, 5, 1, 100, behavior, [(NOW - 100, 8)], [], [], NOW, downscale_window=60)
    assert n.replicas == 5


# --- legacy normalization ---------------------------------------------------------------------


def test_legacy_scale_up_limit():
    # max(2 * 3, 4) = 6
    n = normalize_legacy(3, 10, 1, 20, [], NOW)
    assert (n.replicas, n.limited, n.limited_reason, n.limited_message) == (
        6,
        True,
        "ScaleUpLimit",
        MSG_SCALE_UP_LIMIT,
    )
    assert normalize_legacy(1, 10, 1, 20, [], NOW).replicas == 4  # max(2, 4)
    n = normalize_legacy(3, 10, 1, 5, [], NOW)
    assert (n.replicas, n.limited_reason) == (5, "TooManyReplicas")


def test_legacy_bounds_and_stabilization():
    n = normalize_legacy(3, 0, 1, 20, [], NOW)
    assert (n.replicas, n.limited_reason, n.limited_message) == (1, "TooFewReplicas", MSG_TOO_FEW)
    n = normalize_legacy(6, 3, 1, 20, [(NOW - 60, 6)], NOW)
    assert (n.replicas, n.able_reason, n.able_message) == (
        6,
        "ScaleDownStabilized",
        MSG_SCALE_DOWN_STABILIZED,
    )
    assert (n.limited, n.limited_reason, n.limited_message) == (False, "DesiredWithinRange", MSG_WITHIN_RANGE)
    # legacy window includes the cutoff itself
    assert normalize_legacy(6, 3, 1, 20, [(NOW - 300, 6)], NOW).replicas == 6
    assert normalize_legacy(6, 3, 1, 20, [(NOW - 301, 6)], NOW).replicas == 3
    n = normalize_legacy(6, 3, 1, 20, [], NOW)
    assert (n.able_reason, n.able_message) == ("ReadyForNewScale", MSG_READY_FOR_NEW_SCALE)


# --- history helpers and preview --------------------------------------------------------------


def test_record_recommendation():
    recs = record_recommendation([(NOW - 400, 9), (NOW - 100, 7)], 5, NOW, 300)
    assert recs == [(NOW - 100, 7), (NOW, 5)]


def test_record_scale_event():
    up, down = record_scale_event([(NOW - 100, 3), (NOW - 5, 1)], [], 4, 6, NOW, {})
    assert up == [(NOW - 5, 1), (NOW, 2)]  # the 100 s old event is past the longest 15 s period
    assert down == []
    up, down = record_scale_event([], [], 6, 4, NOW, {})
    assert down == [(NOW, 2)]
    assert record_scale_event([], [], 6, 4, NOW, None) == ([], [])


@pytest.mark.parametrize(
    ("current", "usages", "behavior", "mn", "mx", "expected"),
    [
        # 3 x 900 -> 90% vs 50 -> 1.8 -> ceil(5.4) = 6, legacy cap max(6, 4) = 6
        (3, (900, 900, 900), None, 1, 10, 6),
        # same with max 5 -> 5
        (3, (900, 900, 900), None, 1, 5, 5),
        # 1 x 1000 -> 100% -> 2.0 -> ceil(2) = 2 (cap 4 not reached)
        (1, (1000,), None, 1, 10, 2),
        # behavior Pods 1: 3 -> 4
        (
            3,
            (900, 900, 900),
            {"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}},
            1,
            10,
            4,
        ),
        # 3 x 100 -> 10% -> 0.2 -> ceil(0.6) = 1, min 2 -> 2
        (3, (100, 100, 100), None, 2, 10, 2),
        # out of range current snaps to the bounds without looking at metrics
        (12, (900,) * 12, None, 1, 10, 10),
        (1, (10,), None, 2, 10, 2),
        # zero replicas: scaling disabled
        (0, (), None, 1, 10, 0),
    ],
)
def test_desired_replicas_for(current, usages, behavior, mn, mx, expected):
    assert desired_replicas_for(current, pods(*usages), 50, mn, mx, NOW, behavior) == expected


def test_desired_replicas_for_keeps_current_on_error():
    assert desired_replicas_for(3, [pod("a", 900, request=None)], 50, 1, 10, NOW) == 3
