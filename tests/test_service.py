"""The facade end to end against the sandbox: views from watches, notifications, one action through the path."""

from __future__ import annotations

import threading

import pytest

from almtui.cluster.actions.model import ActionError
from almtui.cluster.audit import AuditLog
from almtui.cluster.connection import connect
from almtui.cluster.kubeconfig import load_kubeconfig
from almtui.cluster.service import ClusterService
from tests.support import RunningSandbox, wait_until


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    s = RunningSandbox("edge-retail", seed=7, speed=20.0, workdir=tmp_path_factory.mktemp("svc")).start()
    yield s
    s.stop()


def make(sb, tmp_path, context="operator", read_only=False) -> ClusterService:
    conn = connect(load_kubeconfig([sb.kubeconfig]), context)
    svc = ClusterService(conn, read_only=read_only, audit=AuditLog(tmp_path / "audit.jsonl")).start()
    assert svc.wait_synced(30)
    return svc


def test_views_notifications_and_a_scale_through_the_action_path(sb, tmp_path):
    svc = make(sb, tmp_path)
    try:
        assert svc.freshness().is_live
        rollouts = {(r.namespace, r.name): r for r in svc.rollouts()}
        sf = rollouts[("prod", "storefront")]
        assert sf.kind == "Deployment" and sf.status_text == 'deployment "storefront" successfully rolled out'
        assert ("prod", "checkout") in rollouts and rollouts[("prod", "checkout")].kind == "Rollout"
        assert any(n.name == "gw-store-01" for n in svc.nodes())
        assert any(i.namespace == "dev" and i.name.startswith("pos-sync") for i in svc.pod_issues())
        seen: list[frozenset[str]] = []
        got = threading.Event()

        def on_change(areas: frozenset[str]) -> None:
            seen.append(areas)
            if "rollouts" in areas:
                got.set()
        svc.subscribe(on_change)
        plan = svc.plan("scale", "deployments", "staging", "pos-sync", replicas=2)
        check = svc.check(plan)
        assert check.allowed, check.refusals
        out = svc.apply(plan, check)
        assert out.status == "applied", out.message
        assert got.wait(10)
        wait_until(lambda: sb.get("apps/deployments", "staging", "pos-sync")["spec"]["replicas"] == 2, 10)
        entries = AuditLog(tmp_path / "audit.jsonl").entries()
        assert [(e["action"], e["outcome"]) for e in entries][-1:] == [("scale", "applied")]
    finally:
        svc.stop()


def test_read_only_and_viewer_are_refused_by_the_service(sb, tmp_path):
    ro = make(sb, tmp_path, read_only=True)
    try:
        assert ro.can("patch", "deployments", "prod", "storefront") == (False, ro.can("patch", "deployments",
                                                                                      "prod")[1])
        out = ro.apply(ro.plan("restart", "deployments", "prod", "storefront"))
        assert out.status == "refused"
    finally:
        ro.stop()
    viewer = make(sb, tmp_path, context="viewer")
    try:
        allowed, reason = viewer.can("patch", "deployments", "prod", "storefront")
        assert not allowed and reason
        out = viewer.apply(viewer.plan("scale", "deployments", "prod", "storefront", replicas=5))
        assert out.status == "refused"
        assert sb.get("apps/deployments", "prod", "storefront")["spec"]["replicas"] != 5
        with pytest.raises(ActionError):
            viewer.plan("scale", "deployments", "prod", "no-such-thing", replicas=1)
        for bad in ("2x", None, "", 1.5):  # a bad revision is a refusal with a message, not a ValueError
            with pytest.raises(ActionError, match="a whole number is needed"):
                viewer.plan("undo", "deployments", "prod", "storefront", to_revision=bad)
        assert viewer.plan("undo", "deployments", "prod", "storefront", to_revision=" 0 ").target.name == "storefront"
    finally:
        viewer.stop()


def test_preflight_rightsizing_and_applying_a_recommendation(sb, tmp_path):
    svc = make(sb, tmp_path)
    try:
        codes = {f.code for f in svc.preflight("deployments", "lab", "lab-single", {"images": {"app": "x:2"}})}
        assert "downtime-max-unavailable" in codes
        assert not [f for f in svc.preflight("deployments", "lab", "lab-clean") if f.severity == "error"]
        for _ in range(3):
            assert svc.poll_usage()
            sb.call(lambda s: s.manager.advance(20))
        sizing = {(w.namespace, w.name): w for w in svc.rightsizing()}
        lab = sizing[("lab", "lab-sizing")]
        change = lab.requests_change
        assert change, "the over-provisioned lab-sizing workload gets a recommendation"
        plan = svc.plan("set_requests", "deployments", "lab", "lab-sizing", requests=change)
        out = svc.apply(plan, svc.check(plan))
        assert out.status == "applied", out.message
        c = sb.get("apps/deployments", "lab", "lab-sizing")["spec"]["template"]["spec"]["containers"]
        container, res = next(iter(change.items()))
        got = next(x for x in c if x["name"] == container)["resources"]["requests"]
        assert all(got[r] == v for r, v in res.items())
        assert {n.name for n in svc.node_sizing()} >= {"gw-store-01", "gw-warehouse-01"}
    finally:
        svc.stop()


def test_rollouts_from_the_informer_indexes_match_a_fresh_build(sb, tmp_path):
    """The service's incremental, index-fed Rollouts area answers what build_rollouts over plain lists does."""
    from almtui.cluster import views as V

    conn = connect(load_kubeconfig([sb.kubeconfig]), "operator")
    svc = ClusterService(conn, audit=AuditLog(tmp_path / "audit.jsonl"), clock=lambda: 1_800_000_000.0).start()
    try:
        assert svc.wait_synced(30)

        def agree() -> bool:
            o = svc.objects  # the sandbox keeps running: retried until a moment without changes in between
            fresh = V.build_rollouts(o("deployments"), o("rollouts"), o("replicasets"), o("pods"),
                                     o("horizontalpodautoscalers"), svc.clock())
            return svc.rollouts() == fresh
        wait_until(agree, 10, what="the indexed views to agree with a fresh build")
        svc.apply(svc.plan("scale", "deployments", "staging", "pos-sync", replicas=3))
        wait_until(lambda: sum(len(rs.pods) for v in svc.rollouts() if (v.namespace, v.name) == ("staging", "pos-sync")
                               for rs in v.replicasets) == 3, 20, what="three pos-sync pods in the tree")
        wait_until(agree, 10, what="agreement after the change")
    finally:
        svc.stop()


def test_one_area_is_never_built_by_two_threads_at_once(sb, tmp_path):
    """Two screens' fetch workers may ask for the same area at once; the builders' memos (PerObject,
    NodeSums, RolloutsBuilder) hold no lock of their own, so the service builds each area in one thread
    at a time, and a second asker gets the first one's views when nothing changed meanwhile."""
    svc = make(sb, tmp_path)
    try:
        inside, most, builds = [0], [0], []
        guard = threading.Lock()

        def build() -> list:
            with guard:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            threading.Event().wait(0.2)
            with guard:
                inside[0] -= 1
            builds.append(1)
            return ["views"]
        svc._areas.pop("hpas", None)
        askers = [threading.Thread(target=svc._area, args=("hpas", build)) for _ in range(4)]
        for t in askers:
            t.start()
        for t in askers:
            t.join(10)
        assert most[0] == 1 and 1 <= len(builds) <= 4
    finally:
        svc.stop()
