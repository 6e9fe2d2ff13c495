"""The traffic model: determinism, daily shape, spikes, overrides, per-pod shares and image conventions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from almtui.sandbox.load import LoadModel, app_of, daily_factor, image_kind

DAY0 = datetime(2025, 1, 6, tzinfo=UTC).timestamp()


def at(hour: float, day: int = 0) -> float:
    return DAY0 + day * 86400 + hour * 3600


def test_deterministic_given_seed_and_time() -> None:
    a, b, c = LoadModel(7), LoadModel(7), LoadModel(8)
    times = [at(h / 4) for h in range(96)]
    assert [a.app_rps("web", t) for t in times] == [b.app_rps("web", t) for t in times]
    assert [a.app_rps("web", t) for t in times] != [c.app_rps("web", t) for t in times]
    assert a.pod_usage("web", "web-1", at(12), ready=True, ready_pods=3) == b.pod_usage(
        "web", "web-1", at(12), ready=True, ready_pods=3)
    assert a.params("web") == b.params("web") and a.params("web") != a.params("api")


def test_daily_curve_low_at_night_peaks_midday_and_evening() -> None:
    assert daily_factor(at(3.5)) < 0.25
    assert daily_factor(at(12.5)) > 0.95
    assert daily_factor(at(20)) > 0.75
    assert daily_factor(at(16)) < daily_factor(at(12.5))
    assert all(0.0 < daily_factor(at(h / 10)) <= 1.0 for h in range(240))
    model = LoadModel(1)
    night = sum(model.app_rps("web", at(3, d)) for d in range(7))
    noon = sum(model.app_rps("web", at(12.5, d)) for d in range(7))
    assert noon > 3 * night


def test_occasional_seeded_spikes() -> None:
    model = LoadModel(3)
    buckets = [model.spike("web", DAY0 + i * 600 + 300) for i in range(6 * 24 * 7)]
    spiky = [b for b in buckets if b > 1.0]
    assert 0 < len(spiky) < len(buckets) * 0.1
    assert all(2.0 <= b <= 4.0 for b in spiky)  # mid-bucket is the spike's peak
    assert buckets == [LoadModel(3).spike("web", DAY0 + i * 600 + 300) for i in range(6 * 24 * 7)]


def test_override_flat_profile_gives_exact_values() -> None:
    options = {"load": {"web": {"baseRps": 120, "cpuPerRequest": 1.5, "idleCpu": 5, "memory": "64Mi",
                                "profile": "flat"}}}
    model = LoadModel(1, None, options)
    assert model.app_rps("web", at(3)) == 120 == model.app_rps("web", at(13))
    cpu, mem = model.pod_usage("web", "web-1", at(13), ready=True, ready_pods=4)
    assert cpu == 5 + 30 * 1.5
    base = 64 << 20
    assert base * 0.97 + 30 * 65536 - 4096 <= mem <= base * 1.03 + 30 * 65536
    assert mem % 4096 == 0
    assert model.pod_usage("web", "web-1", at(13), ready=False) == (5.0, model.pod_usage(
        "web", "web-1", at(13), ready=False)[1])
    options["load"]["web"]["baseRps"] = 240  # live scenario change
    assert model.app_rps("web", at(13)) == 240


def test_daily_override_scales_with_curve() -> None:
    model = LoadModel(1, None, {"load": {"api": {"baseRps": 50}}})
    assert model.app_rps("api", at(12.5)) <= 50 * 4
    assert model.app_rps("api", at(3)) < model.app_rps("api", at(12.5))


def test_share_follows_ready_pods() -> None:
    model = LoadModel(1, None, {"load": {"web": {"baseRps": 90, "cpuPerRequest": 1, "idleCpu": 0,
                                                 "profile": "flat"}}})
    pod = {"metadata": {"name": "web-1", "namespace": "prod", "labels": {"app": "web"}},
           "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    model.observe(pod)
    model.set_ready("prod", "web", "web-2", True)
    model.set_ready("prod", "web", "web-3", False)
    assert model.ready_pods("web", "prod") == 2
    assert model.pod_rps("web", "web-1", at(1), namespace="prod") == 45
    assert model.pod_usage("web", "web-3", at(1), namespace="prod")[0] == 0  # not Ready: no traffic
    assert model.pod_rps("web", "web-2", at(1)) == 45  # namespace found by pod name
    model.observe({**pod, "metadata": {**pod["metadata"], "deletionTimestamp": "2025-01-01T00:00:00Z"}})
    assert model.ready_pods("web", "prod") == 1
    model.observe(pod, deleted=True)
    model.forget("prod", "web-2")
    assert model.ready_pods("web") == 0


def test_image_conventions() -> None:
    assert image_kind("shop/api:1.2-err") == "err"
    assert image_kind("registry.local:5000/shop/api:1.2-bad") == "bad"
    assert image_kind("api:1.2-slow") == "slow"
    assert image_kind("registry.local:5000/shop-bad/api:1.2") == ""
    assert image_kind("nginx") == ""
    assert LoadModel.error_ratio("shop/api:1.2-err") >= 0.2
    assert LoadModel.error_ratio("shop/api:1.2") < 0.01
    for q in (0.5, 0.9, 0.95, 0.99):
        ratio = LoadModel.latency_seconds("shop/api:1.2-err", q) / LoadModel.latency_seconds("shop/api:1.2", q)
        assert 3 <= ratio <= 5
    lat = [LoadModel.latency_seconds("nginx:1", q) for q in (0.1, 0.5, 0.9, 0.99, 1.0)]
    assert lat == sorted(lat)


def test_app_of() -> None:
    assert app_of({"metadata": {"name": "p", "labels": {"app": "web"}}}) == "web"
    assert app_of({"metadata": {"name": "p", "labels": {"app.kubernetes.io/name": "api"}}}) == "api"
    rs_pod = {"metadata": {"name": "shop-7d9f8-abcde", "labels": {"pod-template-hash": "7d9f8"},
                           "ownerReferences": [{"kind": "ReplicaSet", "name": "shop-7d9f8", "controller": True}]}}
    assert app_of(rs_pod) == "shop"
    assert app_of({"metadata": {"name": "bare"}}) == "bare"


@pytest.mark.parametrize("memory", [134217728, "128Mi", "0.125Gi"])
def test_memory_override_quantities(memory: object) -> None:
    model = LoadModel(1, None, {"load": {"web": {"memory": memory}}})
    assert model.params("web")["memory"] == 128 << 20
