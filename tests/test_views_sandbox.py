"""View models built from a running sandbox make sense, and agree with kubectl where kubectl has a say.

The views are fed the sandbox store's raw objects (what the informers would hold) and the
sandbox's simulated clock as ``now``.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from almtui.cluster import views
from tests.support import RunningSandbox, wait_until

PHASES = {"Healthy", "Progressing", "Paused", "Degraded", "Unknown"}


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    s = RunningSandbox("edge-retail", speed=30, workdir=tmp_path_factory.mktemp("views")).start()
    yield s
    s.stop()


def now(sb: RunningSandbox) -> float:
    return sb.call(lambda s: s.clock.time())


def rollouts(sb: RunningSandbox) -> dict[tuple[str, str, str], views.RolloutView]:
    built = views.build_rollouts(sb.list("apps/deployments"), sb.list("argoproj.io/rollouts"),
                                 sb.list("apps/replicasets"), sb.list("/pods"),
                                 sb.list("autoscaling/horizontalpodautoscalers"), now(sb))
    return {v.key: v for v in built}


def kubectl_runner(sb: RunningSandbox, home):
    binary = shutil.which("kubectl") or ("/usr/bin/kubectl" if os.path.exists("/usr/bin/kubectl") else None)
    if binary is None:
        return None

    def run(*args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "HOME": str(home), "KUBECONFIG": sb.kubeconfig}
        return subprocess.run([binary, *args], capture_output=True, text=True, env=env, timeout=60)

    return run


def test_storefront_rollout_view(sb):
    view = wait_until(lambda: (v := rollouts(sb).get(("Deployment", "prod", "storefront"))) and v.done and v,
                      timeout=60, what="prod/storefront rolled out")
    assert view.status_text == 'deployment "storefront" successfully rolled out'
    assert (view.phase, view.strategy, view.hpa, view.app) == ("Healthy", "RollingUpdate", "storefront", "storefront")
    assert view.images == ("registry.local/retail/storefront:1.4.2",)
    # The scenario's history: 1.4.0 -> 1.4.1 -> 1.4.2, so revision 3 on top of two scaled-down RSs.
    assert view.revision == 3
    assert [rs.revision for rs in view.replicasets] == [3, 2, 1]
    new = view.replicasets[0]
    assert new.role == "new" and new.hash == view.current_hash
    assert len(new.pods) == view.desired >= 3 and all(p.template_hash == new.hash for p in new.pods)
    assert all(rs.role == "old" and rs.desired == 0 and rs.pods == () for rs in view.replicasets[1:])
    assert view.progress == 1.0


def test_bad_pos_sync_is_a_crash_loop(sb):
    def crash():
        issues = views.build_pod_issues(sb.list("/pods"), now(sb))
        return next((x for x in issues if x.namespace == "dev" and x.name.startswith("pos-sync-")
                     and x.kind == "CrashLoopBackOff"), None)

    issue = wait_until(crash, timeout=60, what="a CrashLoopBackOff issue for dev/pos-sync")
    assert issue.severity == 0 and issue.restarts >= 1 and issue.node
    assert issue.owner_kind == "ReplicaSet" and issue.owner_name.startswith("pos-sync-")
    assert "CrashLoopBackOff" in issue.detail
    dev = rollouts(sb)[("Deployment", "dev", "pos-sync")]
    assert dev.phase in ("Progressing", "Degraded") and not dev.done
    [pod] = dev.replicasets[0].pods
    assert pod.ready == "0/1" and pod.images == ("registry.local/retail/pos-sync:2.2.0-bad",)


def test_hpa_view(sb):
    def hpa():
        [view] = [v for v in views.build_hpas(sb.list("autoscaling/horizontalpodautoscalers"), {}, now(sb))
                  if v.key == ("prod", "storefront")]
        return view if view.metrics[0].current_text.endswith("%") else None

    view = wait_until(hpa, timeout=60, what="storefront HPA with a CPU reading")
    assert (view.target, view.min, view.max) == ("Deployment/storefront", 3, 8)
    assert 3 <= view.current <= 8 and 3 <= view.desired <= 8
    metric = view.metrics[0]
    assert (metric.name, metric.kind, metric.target_text) == ("cpu", "Utilization", "60%")
    assert metric.current_value is not None and metric.current_text == f"{int(metric.current_value)}%"
    assert view.scaling_active == "ValidMetricFound"
    assert view.scale_down == "window 300s; 1 pod/60s"
    assert rollouts(sb)[("Deployment", "prod", "storefront")].hpa == "storefront"


def test_environment_matrix_and_events(sb):
    rows = {r.app: r for r in views.build_environments(sb.list("apps/deployments"), sb.list("argoproj.io/rollouts"),
                                                       views.DEFAULT_ENVIRONMENTS, now(sb))}
    shop = rows["storefront"]
    assert [c.version for c in shop.cells] == ["1.5.0-rc.1", "1.4.2", "1.4.2"]
    assert shop.cells[1].differs and not shop.cells[2].differs
    pos = rows["pos-sync"]
    assert [c.version for c in pos.cells] == ["2.2.0-bad", "2.1.0", "2.1.0"]
    assert not pos.cells[1].promotable  # dev is not healthy: nothing to promote
    warnings = views.build_warning_events(sb.list("/events"), now(sb))
    assert any(w.reason == "BackOff" and w.object_name.startswith("pos-sync-") for w in warnings)
    last_seen = [w.last_seen for w in warnings if w.last_seen is not None]
    assert last_seen == sorted(last_seen)


def test_other_kinds_build(sb):
    t = now(sb)
    for view in views.build_rollouts([], sb.list("argoproj.io/rollouts"), sb.list("apps/replicasets"),
                                     sb.list("/pods"), [], t):
        assert view.phase in PHASES and view.strategy in ("Canary", "BlueGreen")
        assert view.status_text.startswith(view.phase)
    for run in views.build_pipeline_runs(sb.list("tekton.dev/pipelineruns"), sb.list("tekton.dev/taskruns"), t):
        assert run.status in {"Succeeded", "Failed", "Running", "Cancelled", "Pending", "TimedOut"}
        assert all(task.name for task in run.tasks)
    for app in views.build_applications(sb.list("argoproj.io/applications"), t):
        assert app.sync_status and app.health_status


def test_status_texts_match_kubectl(sb, tmp_path):
    run = kubectl_runner(sb, tmp_path)
    if run is None:
        pytest.skip("kubectl is not installed")
    for dep in sb.list("apps/deployments"):
        ns, name = dep["metadata"]["namespace"], dep["metadata"]["name"]
        for _ in range(10):
            before = sb.get("apps/deployments", ns, name)
            proc = run("rollout", "status", f"deployment/{name}", "-n", ns, "--watch=false")
            after = sb.get("apps/deployments", ns, name)
            if before["metadata"]["resourceVersion"] == after["metadata"]["resourceVersion"]:
                break
        [view] = views.build_rollouts([after], [], [], [], [], now(sb))
        printed = proc.stdout.strip() or proc.stderr.strip().removeprefix("error: ")
        assert view.status_text == printed, (ns, name)
        assert (proc.returncode != 0) == (view.phase == "Degraded"), (ns, name)

    for _ in range(10):
        before = {p["metadata"]["name"]: p for p in sb.list("/pods", "dev")}
        proc = run("get", "pods", "-n", "dev", "--no-headers")
        after = {p["metadata"]["name"]: p for p in sb.list("/pods", "dev")}
        if {k: v["metadata"]["resourceVersion"] for k, v in before.items()} == \
                {k: v["metadata"]["resourceVersion"] for k, v in after.items()}:
            break
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines() if line.strip()}
    assert rows.keys() == after.keys()
    for name, pod in after.items():
        view = views.build_pod(pod, now(sb))
        assert (view.ready, view.status, str(view.restarts)) == tuple(rows[name][1:4]), name


def test_unreachable_node_counts_down_to_eviction(sb):
    """Last in the module on purpose: it cuts a node off, which reschedules pods."""
    t = now(sb)
    nodes = views.build_nodes(sb.list("/nodes"), sb.list("/pods"), sb.list("coordination.k8s.io/leases"), [], t)
    assert len(nodes) == 4 and all(n.roles == ("edge",) and n.zone for n in nodes)
    assert all(n.heartbeat_age is not None and n.heartbeat_age < 60 for n in nodes if n.ready == "True")
    victim = next(n.name for n in nodes if n.pods and n.ready == "True" and n.name != "gw-store-03")
    sb.call(lambda s: s.ctx.shared["partitions"].add(victim))

    def counting_down():
        node = next(n for n in views.build_nodes(sb.list("/nodes"), sb.list("/pods"),
                                                 sb.list("coordination.k8s.io/leases"), [], now(sb))
                    if n.name == victim)
        return node if node.eviction_countdown is not None else None

    node = wait_until(counting_down, timeout=60, what=f"{victim} tainted unreachable:NoExecute")
    assert node.unreachable and node.ready == "Unknown" and node.reason == "NodeStatusUnknown"
    assert ("node.kubernetes.io/unreachable", "NoExecute") in [(k, e) for k, e, _ in node.taints]
    assert 0 <= node.eviction_countdown <= 300
    assert node.lease_age is not None and node.lease_age >= 40
