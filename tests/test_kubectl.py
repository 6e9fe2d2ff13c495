"""kubectl conformance: the real kubectl is the referee of the sandbox.

Each test runs kubectl against a sandbox served over HTTPS and asserts kubectl's exit code
and output, and the sandbox's state, as a real cluster would give them.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.support import RunningSandbox, need_binary, wait_until

pytestmark = pytest.mark.kubectl

NS = "conformance"


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    need_binary("kubectl")
    work = tmp_path_factory.mktemp("kubectl")
    s = RunningSandbox("edge-retail", seed=3, speed=30.0, workdir=work).start()
    s.call(lambda x: x.store.create("/namespaces", {"metadata": {"name": NS}}))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def kubectl(sb, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    binary = need_binary("kubectl")

    def run(*args: str, check: bool = True, stdin: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
        env = {**os.environ, "HOME": str(home), "KUBECONFIG": sb.kubeconfig}
        proc = subprocess.run([binary, *args], capture_output=True, text=True, env=env, input=stdin, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run


def deployment_manifest(name: str, image: str = "registry.local/demo/web:1.0", replicas: int = 2, **spec) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": name, "suite": "conformance"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "web", "image": image,
                                                       "resources": {"requests": {"cpu": "10m",
                                                                                  "memory": "16Mi"}}}]}},
                 **spec},
    }


def create(kubectl, tmp_path: Path, obj: dict) -> None:
    f = tmp_path / f"{obj['metadata']['name']}.yaml"
    f.write_text(yaml.safe_dump(obj))
    out = kubectl("create", "-f", str(f))
    assert f'{obj["kind"].lower()}.apps/{obj["metadata"]["name"]} created' in out.stdout


def rollout_done(kubectl, name: str) -> None:
    out = kubectl("rollout", "status", f"deploy/{name}", "-n", NS, "--timeout=120s")
    assert f'deployment "{name}" successfully rolled out' in out.stdout


def test_version_and_discovery(kubectl):
    out = kubectl("version", "-o", "json")
    assert json.loads(out.stdout)["serverVersion"]["gitVersion"].startswith("v1.33")
    res = kubectl("api-resources").stdout
    for line in ("deployments", "deploy", "apps/v1", "rollouts", "argoproj.io/v1alpha1", "pipelineruns"):
        assert line in res
    assert "horizontalpodautoscalers" in kubectl("api-resources", "--api-group=autoscaling").stdout


def test_get_with_label_and_field_selectors(kubectl):
    out = kubectl("get", "deploy", "-A", "-l", "app in (storefront,pos-sync)", "-o", "name").stdout.split()
    assert "deployment.apps/storefront" in out and "deployment.apps/pos-sync" in out
    assert kubectl("get", "deploy", "-n", "prod", "-l", "app!=storefront", "-o", "name").stdout.split() == [
        "deployment.apps/pos-sync"]
    nodes = kubectl("get", "nodes", "--field-selector", "metadata.name=gw-store-01", "-o", "name").stdout.split()
    assert nodes == ["node/gw-store-01"]
    pods = kubectl("get", "pods", "-n", "prod", "--field-selector", "status.phase=Running",
                   "-o", "jsonpath={.items[*].status.phase}").stdout.split()
    assert pods and set(pods) == {"Running"}
    bad = kubectl("get", "pods", "-n", "prod", "--field-selector", "spec.bogus=x", check=False)
    assert bad.returncode != 0 and "is not a known field selector" in bad.stderr
    table = kubectl("get", "deploy", "-n", "prod").stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]


def test_create_replace_conflict_and_already_exists(kubectl, sb, tmp_path):
    obj = deployment_manifest("crud")
    create(kubectl, tmp_path, obj)
    again = kubectl("create", "-f", str(tmp_path / "crud.yaml"), check=False)
    assert again.returncode == 1
    assert 'deployments.apps "crud" already exists' in again.stderr
    rollout_done(kubectl, "crud")
    live = yaml.safe_load(kubectl("get", "deploy", "crud", "-n", NS, "-o", "yaml").stdout)
    live["spec"]["replicas"] = 3
    (tmp_path / "live.yaml").write_text(yaml.safe_dump(live))
    assert "deployment.apps/crud replaced" in kubectl("replace", "-f", str(tmp_path / "live.yaml")).stdout
    assert sb.get("apps/deployments", NS, "crud")["spec"]["replicas"] == 3
    # the file still carries the old resourceVersion: a stale replace is a Conflict
    stale = kubectl("replace", "-f", str(tmp_path / "live.yaml"), check=False)
    assert stale.returncode == 1
    assert ('Operation cannot be fulfilled on deployments.apps "crud": the object has been modified; '
            "please apply your changes to the latest version and try again") in stale.stderr


def test_patch_three_types(kubectl, sb, tmp_path):
    create(kubectl, tmp_path, deployment_manifest("patchy"))
    kubectl("patch", "deploy", "patchy", "-n", NS, "--type=strategic",
            "-p", '{"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"A","value":"1"}]}]}}}}')
    c = sb.get("apps/deployments", NS, "patchy")["spec"]["template"]["spec"]["containers"]
    assert c[0]["image"] == "registry.local/demo/web:1.0" and c[0]["env"] == [{"name": "A", "value": "1"}]
    kubectl("patch", "deploy", "patchy", "-n", NS, "--type=merge", "-p", '{"metadata":{"labels":{"tier":"front"}}}')
    assert sb.get("apps/deployments", NS, "patchy")["metadata"]["labels"]["tier"] == "front"
    kubectl("patch", "deploy", "patchy", "-n", NS, "--type=json",
            "-p", '[{"op":"replace","path":"/spec/replicas","value":4}]')
    assert sb.get("apps/deployments", NS, "patchy")["spec"]["replicas"] == 4
    bad = kubectl("patch", "deploy", "patchy", "-n", NS, "--type=merge", "-p", '{"spec":{"replicas":-1}}',
                  check=False)
    assert bad.returncode == 1
    # kubectl renders a 422 from its details: kind, name and the cause
    assert 'The Deployment "patchy" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0' \
        in bad.stderr
    crd = kubectl("patch", "rollout", "nope", "-n", NS, "--type=strategic", "-p", "{}", check=False)
    assert crd.returncode == 1


def test_scale_and_scale_validation(kubectl, sb, tmp_path):
    create(kubectl, tmp_path, deployment_manifest("scaly", replicas=1))
    assert "deployment.apps/scaly scaled" in kubectl("scale", "deploy/scaly", "-n", NS, "--replicas=3").stdout
    assert sb.get("apps/deployments", NS, "scaly")["spec"]["replicas"] == 3
    rollout_done(kubectl, "scaly")
    assert kubectl("get", "deploy", "scaly", "-n", NS, "-o", "jsonpath={.status.readyReplicas}").stdout == "3"
    dry = kubectl("scale", "deploy/scaly", "-n", NS, "--replicas=5", "--dry-run=server")
    assert "(server dry run)" in dry.stdout
    assert sb.get("apps/deployments", NS, "scaly")["spec"]["replicas"] == 3


def test_delete_garbage_collects_replicasets_and_pods(kubectl, sb, tmp_path):
    create(kubectl, tmp_path, deployment_manifest("gone", replicas=2))
    rollout_done(kubectl, "gone")
    uid = sb.get("apps/deployments", NS, "gone")["metadata"]["uid"]
    rs = [r for r in sb.list("apps/replicasets", NS)
          if any(o["uid"] == uid for o in r["metadata"].get("ownerReferences", []))]
    assert rs
    assert 'deployment.apps "gone" deleted' in kubectl("delete", "deploy", "gone", "-n", NS).stdout

    def cleaned():
        rs_left = [r for r in sb.list("apps/replicasets", NS) if r["metadata"]["name"].startswith("gone-")]
        pods_left = [p for p in sb.list("/pods", NS) if p["metadata"]["name"].startswith("gone-")]
        return not rs_left and not pods_left
    wait_until(cleaned, 30, what="garbage collection of gone's ReplicaSets and pods")
    missing = kubectl("get", "deploy", "gone", "-n", NS, check=False)
    assert missing.returncode == 1 and 'deployments.apps "gone" not found' in missing.stderr


def test_set_image_rollout_history_undo(kubectl, sb, tmp_path):
    create(kubectl, tmp_path, deployment_manifest("web", replicas=3))
    rollout_done(kubectl, "web")
    # as upstream, the controller copies the Deployment's annotations to the *current* new RS: annotate after set image
    out = kubectl("set", "image", "deploy/web", "-n", NS, "web=registry.local/demo/web:2.0")
    assert "deployment.apps/web image updated" in out.stdout
    kubectl("annotate", "deploy/web", "-n", NS, "kubernetes.io/change-cause=v2")
    rollout_done(kubectl, "web")
    kubectl("set", "image", "deploy/web", "-n", NS, "web=registry.local/demo/web:3.0")
    kubectl("annotate", "deploy/web", "-n", NS, "kubernetes.io/change-cause=v3", "--overwrite")
    rollout_done(kubectl, "web")
    hist = kubectl("rollout", "history", "deploy/web", "-n", NS).stdout
    lines = [ln.split() for ln in hist.splitlines() if ln and ln[0].isdigit()]
    assert [ln[0] for ln in lines] == ["1", "2", "3"]
    assert lines[1][1:] == ["v2"] and lines[2][1:] == ["v3"]
    rev2 = kubectl("rollout", "history", "deploy/web", "-n", NS, "--revision=2").stdout
    assert "registry.local/demo/web:2.0" in rev2
    assert "deployment.apps/web rolled back" in kubectl("rollout", "undo", "deploy/web", "-n", NS).stdout
    rollout_done(kubectl, "web")
    d = sb.get("apps/deployments", NS, "web")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/demo/web:2.0"
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4"
    kubectl("rollout", "undo", "deploy/web", "-n", NS, "--to-revision=1")
    rollout_done(kubectl, "web")
    d = sb.get("apps/deployments", NS, "web")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/demo/web:1.0"
    missing = kubectl("rollout", "undo", "deploy/web", "-n", NS, "--to-revision=99", check=False)
    assert missing.returncode == 1 and "unable to find specified revision 99 in history" in missing.stderr


def test_pause_resume_restart(kubectl, sb, tmp_path):
    create(kubectl, tmp_path, deployment_manifest("pauser", replicas=2))
    rollout_done(kubectl, "pauser")
    assert "deployment.apps/pauser paused" in kubectl("rollout", "pause", "deploy/pauser", "-n", NS).stdout
    assert sb.get("apps/deployments", NS, "pauser")["spec"]["paused"] is True
    kubectl("set", "image", "deploy/pauser", "-n", NS, "web=registry.local/demo/web:9.9")
    time.sleep(1.0)
    rs = [r for r in sb.list("apps/replicasets", NS) if r["metadata"]["name"].startswith("pauser-")]
    assert len(rs) == 1, "a paused Deployment creates no new ReplicaSet"
    refused = kubectl("rollout", "restart", "deploy/pauser", "-n", NS, check=False)
    assert refused.returncode == 1 and "can't restart paused deployment (run rollout resume first)" in refused.stderr
    assert "deployment.apps/pauser resumed" in kubectl("rollout", "resume", "deploy/pauser", "-n", NS).stdout
    assert not sb.get("apps/deployments", NS, "pauser")["spec"].get("paused")
    rollout_done(kubectl, "pauser")
    assert "deployment.apps/pauser restarted" in kubectl("rollout", "restart", "deploy/pauser", "-n", NS).stdout
    ann = sb.get("apps/deployments", NS, "pauser")["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in ann
    rollout_done(kubectl, "pauser")


def test_bad_image_exceeds_progress_deadline(kubectl, tmp_path):
    create(kubectl, tmp_path, deployment_manifest("crashy", replicas=1, progressDeadlineSeconds=60))
    rollout_done(kubectl, "crashy")
    kubectl("set", "image", "deploy/crashy", "-n", NS, "web=registry.local/demo/web:2.0-bad")
    out = kubectl("rollout", "status", "deploy/crashy", "-n", NS, "--timeout=120s", check=False)
    assert out.returncode == 1
    assert 'deployment "crashy" exceeded its progress deadline' in out.stderr
    pods = kubectl("get", "pods", "-n", NS, "-l", "app=crashy").stdout
    assert "CrashLoopBackOff" in pods or "Error" in pods


def test_auth_can_i(kubectl):
    assert kubectl("auth", "can-i", "patch", "deployments", "-n", "prod").stdout.strip() == "yes"
    viewer = kubectl("--context", "viewer", "auth", "can-i", "patch", "deployments", "-n", "prod", check=False)
    assert viewer.returncode == 1 and viewer.stdout.strip() == "no"
    assert kubectl("--context", "viewer", "auth", "can-i", "list", "pods").stdout.strip() == "yes"
    denied = kubectl("--context", "viewer", "scale", "deploy/storefront", "-n", "prod", "--replicas=5", check=False)
    assert denied.returncode == 1
    assert ('deployments.apps "storefront" is forbidden: User "viewer" cannot patch resource "deployments/scale" '
            'in API group "apps" in the namespace "prod"') in denied.stderr


def test_watch_prints_changes(kubectl, sb, tmp_path):
    create(kubectl, tmp_path, deployment_manifest("watched", replicas=1))
    env = {**os.environ, "KUBECONFIG": sb.kubeconfig, "HOME": str(tmp_path)}
    proc = subprocess.Popen([need_binary("kubectl"), "get", "deploy", "watched", "-n", NS, "-w",
                             "-o", "custom-columns=NAME:.metadata.name,REPLICAS:.spec.replicas"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        time.sleep(1.5)
        kubectl("scale", "deploy/watched", "-n", NS, "--replicas=2")
        time.sleep(1.5)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    rows = [ln.split() for ln in out.splitlines()]
    assert ["watched", "1"] in rows and ["watched", "2"] in rows


def test_describe_logs_top(kubectl):
    d = kubectl("describe", "deploy", "storefront", "-n", "prod").stdout
    for text in ("Name:                   storefront", "RollingUpdateStrategy:", "NewReplicaSet:", "Events:"):
        assert text in d
    node = kubectl("describe", "node", "gw-store-01").stdout
    assert "Conditions:" in node and "KubeletReady" in node and "Allocated resources:" in node
    pod = kubectl("get", "pods", "-n", "prod", "-l", "app=storefront",
                  "-o", "jsonpath={.items[0].metadata.name}").stdout
    assert "Successfully assigned" in kubectl("describe", "pod", pod, "-n", "prod").stdout
    logs = kubectl("logs", pod, "-n", "prod", "--tail=5").stdout
    assert logs.strip() and len(logs.strip().splitlines()) <= 5
    top = kubectl("top", "nodes").stdout
    assert "CPU(cores)" in top and "gw-store-01" in top
    assert "storefront" in kubectl("top", "pods", "-n", "prod").stdout
