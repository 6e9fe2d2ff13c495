"""Fault injection as the official Python client (and the `almtui sandbox fault` CLI) sees it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from argparse import Namespace
from pathlib import Path

import pytest
import urllib3
import yaml
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from almtui.sandbox import faults as faultmod
from almtui.sandbox.faultcli import run_fault
from tests.support import RunningSandbox, wait_until

SCENARIO = {
    "name": "faults", "settle": 30,
    "users": [{"name": "operator", "role": "cluster-admin"}, {"name": "viewer", "role": "view"}],
    "nodes": [{"name": "edge-1", "cpu": "4", "memory": "8Gi"}, {"name": "edge-2", "cpu": "4", "memory": "8Gi"}],
    "namespaces": ["prod"],
    "objects": [{
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "prod", "labels": {"app": "web"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "registry.local/web:1.0"}]}}},
    }],
}


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    running = RunningSandbox(SCENARIO, speed=20.0, workdir=tmp_path_factory.mktemp("faults"),
                             prepare=faultmod.install).start()
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def _clear(request):
    yield
    if "sb" in request.fixturenames:
        request.getfixturevalue("sb").call(lambda s: s.ctx.shared["faults"].clear())


def inject(sb: RunningSandbox, kind: str, duration: float = 30.0, **kw) -> dict:
    return sb.call(lambda s: s.ctx.shared["faults"].inject(kind, duration, **kw).describe())


def api(sb: RunningSandbox, retries: object = None) -> client.ApiClient:
    """A client for the operator; retries=False turns off urllib3's own retrying."""
    cfg = client.Configuration()
    config.load_kube_config(config_file=sb.kubeconfig, context="operator", client_configuration=cfg)
    if retries is not None:
        cfg.retries = retries
    return client.ApiClient(cfg)


def test_active_faults_are_visible_to_tests(sb):
    inject(sb, "latency", 30, rate=0.1, resource="pods")
    active = sb.call(lambda s: s.ctx.shared["faults"].active())
    assert [f["kind"] for f in active] == ["latency"]
    assert active[0]["rate"] == 0.1 and active[0]["resource"] == "pods" and 29 < active[0]["remaining"] <= 30


def test_fault_ends_after_its_wall_clock_duration(sb):
    inject(sb, "errors", 0.3, rate=1.0)
    time.sleep(0.5)
    assert sb.call(lambda s: s.ctx.shared["faults"].active()) == []
    assert client.CoreV1Api(api(sb, retries=False)).list_namespaced_pod("prod").items


def test_throttle_answers_429_with_retry_after_like_max_in_flight(sb):
    inject(sb, "throttle")
    core = client.CoreV1Api(api(sb, retries=False))
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_pod("prod")
    e = exc.value
    assert e.status == 429
    assert e.headers["Retry-After"] == "1"
    assert e.body == "Too many requests, please try again later.\n"
    assert e.headers["Content-Type"].startswith("text/plain")


def test_throttled_get_is_retried_after_retry_after_by_the_default_client(sb):
    inject(sb, "throttle", 1.2)
    started = time.monotonic()
    pods = client.CoreV1Api(api(sb)).list_namespaced_pod("prod")  # urllib3 honours Retry-After on GET
    assert pods.items and time.monotonic() - started >= 1.0


def test_errors_fail_the_given_fraction_with_upstream_status_bodies(sb):
    inject(sb, "errors", rate=0.5)
    apps = client.AppsV1Api(api(sb, retries=False))
    failures: dict[int, ApiException] = {}
    failed = 0
    for _ in range(60):
        try:
            apps.read_namespaced_deployment("web", "prod")
        except ApiException as e:
            failed += 1
            failures.setdefault(e.status, e)
    assert 15 <= failed <= 45
    assert set(failures) == {500, 503}
    internal = json.loads(failures[500].body)
    assert internal["reason"] == "InternalError"
    assert internal["message"] == "Internal error occurred: etcdserver: request timed out"
    unavailable = json.loads(failures[503].body)
    assert unavailable["reason"] == "ServiceUnavailable" and unavailable["message"] == "apiserver is shutting down"
    assert failures[503].headers["Retry-After"] == "1"


def test_latency_delays_only_the_named_resource(sb):
    inject(sb, "latency", rate=0.6, resource="pods")
    c = api(sb)
    started = time.monotonic()
    client.AppsV1Api(c).list_namespaced_deployment("prod")
    fast = time.monotonic() - started
    started = time.monotonic()
    client.CoreV1Api(c).list_namespaced_pod("prod")
    slow = time.monotonic() - started
    assert slow >= 0.6 and fast < 0.5


def test_reset_drops_the_connection_mid_response(sb):
    inject(sb, "reset", rate=1.0)
    core = client.CoreV1Api(api(sb, retries=False))
    with pytest.raises(urllib3.exceptions.ProtocolError):
        core.list_namespaced_pod("prod")


def test_reset_cuts_watch_streams(sb):
    inject(sb, "reset", rate=1.0, resource="pods")
    core = client.CoreV1Api(api(sb, retries=False))
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.ProtocolError):
        for _ in watch.Watch().stream(core.list_namespaced_pod, "prod", timeout_seconds=30):
            pass
    assert time.monotonic() - started < 10


def _watch_in_thread(fn, *args, **kwargs) -> tuple[threading.Thread, dict]:
    out: dict = {"events": []}

    def run() -> None:
        try:
            for ev in watch.Watch().stream(fn, *args, **kwargs):
                out["events"].append(ev["type"])
        except Exception as e:  # reported to the test
            out["error"] = e
        out["ended"] = time.monotonic()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def test_watch_close_ends_open_and_new_watches_early(sb):
    core = client.CoreV1Api(api(sb))
    t, out = _watch_in_thread(core.list_namespaced_pod, "prod", timeout_seconds=60)
    wait_until(lambda: len(out["events"]) >= 2, 10, what="the initial ADDED events")
    inject(sb, "watch-close")
    t.join(5)
    assert not t.is_alive() and "error" not in out
    started = time.monotonic()
    t2, out2 = _watch_in_thread(core.list_namespaced_pod, "prod", timeout_seconds=60)
    t2.join(faultmod.WATCH_INTERVAL + 5)
    assert not t2.is_alive() and "error" not in out2
    assert out2["ended"] - started < faultmod.WATCH_INTERVAL + 3


def test_watch_expire_gives_410_after_the_clients_one_retry(sb):
    c = api(sb)
    core = client.CoreV1Api(c)
    rv = core.list_namespaced_pod("prod").metadata.resource_version
    t, out = _watch_in_thread(core.list_namespaced_pod, "prod", resource_version=rv)
    time.sleep(0.3)
    # a write after the list, so compaction leaves the list's resourceVersion behind
    client.AppsV1Api(c).patch_namespaced_deployment("web", "prod", {"metadata": {"labels": {"touched": "1"}}})
    inject(sb, "watch-expire")
    t.join(10)
    assert not t.is_alive()
    err = out.get("error")
    assert isinstance(err, ApiException) and err.status == 410
    assert "Expired: too old resource version" in err.reason


def test_watch_expire_answers_old_resource_versions_with_an_error_event(sb):
    c = api(sb)
    rv = client.AppsV1Api(c).list_namespaced_deployment("prod").metadata.resource_version
    client.AppsV1Api(c).patch_namespaced_deployment("web", "prod", {"metadata": {"labels": {"touched": "2"}}})
    inject(sb, "watch-expire")
    resp = client.AppsV1Api(c).list_namespaced_deployment("prod", watch=True, resource_version=rv,
                                                         timeout_seconds=5, _preload_content=False)
    first = json.loads(resp.data.splitlines()[0])
    assert resp.status == 200
    assert first["type"] == "ERROR" and first["object"]["code"] == 410 and first["object"]["reason"] == "Expired"


def test_api_down_gives_connection_errors_then_recovers(sb):
    inject(sb, "api-down", 2.0)
    core = client.CoreV1Api(api(sb))
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.HTTPError) as exc:
        core.list_namespaced_pod("prod")
    assert not isinstance(exc.value, ApiException)
    assert isinstance(exc.value, (urllib3.exceptions.MaxRetryError, urllib3.exceptions.ProtocolError))
    # the admin endpoint keeps answering, so the fault can be inspected and cleared
    assert [f["kind"] for f in sb.call(lambda s: s.ctx.shared["faults"].active())] == ["api-down"]
    time.sleep(max(0.0, 2.2 - (time.monotonic() - started)))
    assert core.list_namespaced_pod("prod").items


def test_api_down_cuts_open_watch_streams(sb):
    core = client.CoreV1Api(api(sb, retries=False))
    t, out = _watch_in_thread(core.list_namespaced_pod, "prod", timeout_seconds=60)
    wait_until(lambda: len(out["events"]) >= 2, 10, what="the initial ADDED events")
    inject(sb, "api-down", 1.0)
    t.join(5)
    assert not t.is_alive()
    assert isinstance(out.get("error"), urllib3.exceptions.HTTPError)


def test_conflict_fails_writes_that_carry_a_resource_version(sb):
    inject(sb, "conflict")
    apps = client.AppsV1Api(api(sb))
    dep = apps.read_namespaced_deployment("web", "prod")
    dep.metadata.labels["tier"] = "front"
    with pytest.raises(ApiException) as exc:
        apps.replace_namespaced_deployment("web", "prod", dep)
    assert exc.value.status == 409
    body = json.loads(exc.value.body)
    assert body["reason"] == "Conflict"
    assert body["message"] == ('Operation cannot be fulfilled on deployments.apps "web": the object has been '
                               "modified; please apply your changes to the latest version and try again")
    patched = apps.patch_namespaced_deployment("web", "prod", {"metadata": {"labels": {"tier": "front"}}})
    assert patched.metadata.labels["tier"] == "front"
    assert faultmod.CONFLICT_ANNOTATION in patched.metadata.annotations


def test_partition_makes_the_node_unknown_until_it_ends(sb):
    fault = inject(sb, "partition", 60, resource="edge-2")
    assert fault["node"] == "edge-2"
    core = client.CoreV1Api(api(sb))

    def ready() -> str:
        node = core.read_node("edge-2")
        return next(c.status for c in node.status.conditions if c.type == "Ready")

    wait_until(lambda: ready() == "Unknown", 30, what="edge-2 Ready=Unknown")
    sb.call(lambda s: s.ctx.shared["faults"].clear("partition"))
    assert "edge-2" not in sb.call(lambda s: set(s.ctx.shared["partitions"]))
    wait_until(lambda: ready() == "True", 30, what="edge-2 Ready again")


def test_prometheus_down_needs_a_prometheus_and_pauses_it(sb):
    with pytest.raises(faultmod.FaultError, match="runs no Prometheus"):
        inject(sb, "prometheus-down")

    class Prom:
        paused = False

        def pause(self) -> None:
            self.paused = True

        def resume(self) -> None:
            self.paused = False

    prom = Prom()
    sb.call(lambda s: s.ctx.shared.__setitem__("prometheus", prom))
    try:
        inject(sb, "prometheus-down")
        assert prom.paused
        sb.call(lambda s: s.ctx.shared["faults"].clear())
        assert not prom.paused
    finally:
        sb.call(lambda s: s.ctx.shared.pop("prometheus", None))


def test_bad_faults_are_refused(sb):
    for kind, kw, msg in (("nope", {}, "unknown fault"), ("errors", {"rate": 2}, "fraction"),
                          ("latency", {"resource": "gizmos"}, "unknown resource"),
                          ("partition", {"resource": "no-such-node"}, "not found")):
        with pytest.raises(faultmod.FaultError, match=msg):
            inject(sb, kind, **kw)
    with pytest.raises(faultmod.FaultError, match="duration"):
        inject(sb, "latency", 0)


# -- the admin endpoint and the CLI -----------------------------------------------------------


def _args(sb: RunningSandbox, kind: str, **kw) -> Namespace:
    return Namespace(fault_kubeconfig=sb.kubeconfig, kind=kind, duration=kw.get("duration", 60.0),
                     rate=kw.get("rate"), resource=kw.get("resource"))


def test_cli_injects_lists_and_clears(sb, capsys):
    assert run_fault(_args(sb, "errors", duration=45, rate=0.25, resource="pods")) == 0
    assert capsys.readouterr().out == "fault errors active for 45s (rate 0.25, resource pods)\n"
    assert [f["kind"] for f in sb.call(lambda s: s.ctx.shared["faults"].active())] == ["errors"]
    assert run_fault(_args(sb, "clear")) == 0
    assert capsys.readouterr().out == "cleared: errors\n"
    assert run_fault(_args(sb, "clear")) == 0
    assert capsys.readouterr().out == "no faults were active\n"


def test_admin_endpoint_needs_an_admin_token(sb):
    import urllib.request

    from almtui.sandbox.faultcli import CliError, load_target, request

    server, tls, _ = load_target(sb.kubeconfig)
    with pytest.raises(CliError, match="forbidden"):
        request(server, tls, sb.token("viewer"), "GET")
    req = urllib.request.Request(server + "/admin/faults")
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, context=tls, timeout=5)
    assert exc.value.code == 401


def test_cli_reports_errors_without_traceback(sb, tmp_path, capsys):
    assert run_fault(Namespace(fault_kubeconfig=str(tmp_path / "missing"), kind="latency", duration=5,
                               rate=None, resource=None)) == 2
    assert "cannot read kubeconfig" in capsys.readouterr().err
    assert run_fault(_args(sb, "latency", resource="gizmos")) == 2
    assert 'unknown resource "gizmos"' in capsys.readouterr().err
    cfg = yaml.safe_load(Path(sb.kubeconfig).read_text())
    cfg["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    dead = tmp_path / "dead.yaml"
    dead.write_text(yaml.safe_dump(cfg))
    assert run_fault(Namespace(fault_kubeconfig=str(dead), kind="api-down", duration=5, rate=None,
                               resource=None)) == 2
    err = capsys.readouterr().err
    assert err.startswith("almtui sandbox fault: no sandbox answers at https://127.0.0.1:1") and "Traceback" not in err


def test_fault_cli_against_a_sandbox_process(tmp_path):
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(yaml.safe_dump(SCENARIO))
    kubeconfig = tmp_path / "kubeconfig.yaml"
    paths = [str(Path(__file__).resolve().parents[1]), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    proc = subprocess.Popen([sys.executable, "-m", "almtui", "sandbox", "--scenario", str(scenario),
                             "--kubeconfig", str(kubeconfig), "--speed", "20"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("https://127.0.0.1:"), proc.stderr.read() if proc.poll() is not None else url

        def fault(*argv: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "almtui", "sandbox", "fault", "--kubeconfig",
                                   str(kubeconfig), *argv], capture_output=True, text=True, env=env, timeout=30)

        r = fault("api-down", "--duration", "30")
        assert r.returncode == 0 and r.stdout == "fault api-down active for 30s\n", r.stderr
        core = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig), context="operator"))
        with pytest.raises(urllib3.exceptions.HTTPError):
            core.list_namespaced_pod("prod")
        r = fault("clear")
        assert r.returncode == 0 and r.stdout == "cleared: api-down\n", r.stderr
        assert core.list_namespaced_pod("prod").items
        r = fault("bogus")
        assert r.returncode == 2 and "invalid choice" in r.stderr
    finally:
        proc.terminate()
        proc.wait(10)
