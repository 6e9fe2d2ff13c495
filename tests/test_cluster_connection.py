"""Connection against the sandbox over real HTTPS: TLS, auth (tokens, exec plugins, 401), errors, retries,
watch streams; and the freshness state machine."""

from __future__ import annotations

import base64
import json
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from almtui.cluster.connection import ApiError, Connection, ConnectionLost, TLSVerifyError, connect
from almtui.cluster.freshness import Freshness, FreshnessTracker
from almtui.cluster.kinds import CONFIGMAPS, PODS, path
from almtui.cluster.kubeconfig import load_kubeconfig
from almtui.sandbox import errors as sb_errors
from almtui.sandbox.tls import make_serving_cert
from tests.support import RunningSandbox, wait_until

FAST = {"qps": 200.0, "burst": 200}


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    s = RunningSandbox(workdir=tmp_path_factory.mktemp("sandbox"), speed=50).start()
    yield s
    s.stop()


@pytest.fixture
def own_sb(tmp_path):
    s = RunningSandbox(workdir=tmp_path, speed=50).start()
    yield s
    s.stop()


def conn_for(sb: RunningSandbox, context: str | None = None, **kw) -> Connection:
    return connect(load_kubeconfig([sb.kubeconfig]), context, **{**FAST, **kw})


def edited_kubeconfig(sb: RunningSandbox, dest: Path, edit) -> str:
    cfg = yaml.safe_load(Path(sb.kubeconfig).read_text())
    edit(cfg)
    dest.write_text(yaml.safe_dump(cfg))
    return str(dest)


def rotate_token(sb: RunningSandbox, user: str, new: str) -> None:
    """Give `user` a new token on the server: the old one now gets 401."""
    def go(s):
        u = s.auth.by_name[user]
        s.auth.users.pop(u.token, None)
        u.token = new
        s.auth.users[new] = u
    sb.call(go)


def set_hook(sb: RunningSandbox, hook) -> None:
    sb.call(lambda s: setattr(s.hooks, "before_request", hook))


# -- requests -----------------------------------------------------------------------------------


def test_get_list_and_freshness_live(sb):
    conn = conn_for(sb)
    assert conn.freshness.state.state is Freshness.OFFLINE  # nothing known yet
    assert conn.get("/version")["gitVersion"].startswith("v1.")
    pods = conn.get(path(PODS, "prod"))
    assert pods["kind"] == "PodList" and pods["items"]
    assert {p["metadata"]["name"] for p in pods["items"]} == {p["metadata"]["name"] for p in sb.list("/pods", "prod")}
    st = conn.freshness.state
    assert st.is_live and st.last_good is not None and st.error == ""
    assert conn.last_latency is not None and conn.last_latency > 0


def test_status_errors_are_parsed_and_do_not_hurt_freshness(sb):
    conn = conn_for(sb)
    with pytest.raises(ApiError) as e:
        conn.get("/apis/apps/v1/namespaces/prod/deployments/nope")
    err = e.value
    assert err.status == 404 and err.not_found and err.reason == "NotFound"
    assert err.message == 'deployments.apps "nope" not found'
    assert err.body["kind"] == "Status" and err.body["details"]["name"] == "nope"
    assert conn.freshness.state.is_live


def test_write_roundtrip_with_patch_content_types(sb):
    conn = conn_for(sb)
    url = path(CONFIGMAPS, "dev")
    created = conn.request("POST", url, body={"metadata": {"name": "rt"}, "data": {"a": "1"}})
    assert created["metadata"]["resourceVersion"]
    with pytest.raises(ApiError) as e:
        conn.request("POST", url, body={"metadata": {"name": "rt"}})
    assert e.value.conflict and e.value.reason == "AlreadyExists"
    one = path(CONFIGMAPS, "dev", "rt")
    merged = conn.request("PATCH", one, body={"data": {"b": "2"}}, content_type="application/merge-patch+json")
    assert merged["data"] == {"a": "1", "b": "2"}
    patched = conn.request("PATCH", one, body=[{"op": "replace", "path": "/data/a", "value": "x"}],
                           content_type="application/json-patch+json")
    assert patched["data"] == {"a": "x", "b": "2"}
    stale = dict(created, data={"c": "3"})
    with pytest.raises(ApiError) as e:  # resourceVersion precondition
        conn.request("PUT", one, body=stale)
    assert e.value.conflict and e.value.reason == "Conflict"
    conn.request("DELETE", one)
    assert sb.get("/configmaps", "dev", "rt") is None


def test_wrong_ca_is_a_clear_tls_error(sb, tmp_path):
    other_ca = make_serving_cert(["127.0.0.1"]).ca_pem

    def swap(cfg):
        cfg["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(other_ca).decode()

    kc = load_kubeconfig([edited_kubeconfig(sb, tmp_path / "wrong-ca.yaml", swap)])
    assert kc.current.insecure_skip_tls_verify is False
    conn = connect(kc, **FAST)
    with pytest.raises(TLSVerifyError) as e:
        conn.get("/version")
    msg = str(e.value)
    assert "TLS" in msg and "certificate-authority" in msg and "almtui-sandbox" in msg
    assert "Traceback" not in msg
    assert conn.freshness.state.state is Freshness.OFFLINE


def test_insecure_skip_tls_verify(sb, tmp_path):
    def insecure(cfg):
        cluster = cfg["clusters"][0]["cluster"]
        del cluster["certificate-authority-data"]
        cluster["insecure-skip-tls-verify"] = True

    kc = load_kubeconfig([edited_kubeconfig(sb, tmp_path / "insecure.yaml", insecure)])
    assert kc.current.insecure_skip_tls_verify is True
    assert connect(kc, **FAST).get("/version")["major"] == "1"


def test_viewer_reads_and_watches_but_cannot_write(sb):
    conn = conn_for(sb, "viewer")
    assert conn.context.name == "viewer"
    listed = conn.get(path(CONFIGMAPS, "dev"))
    with conn.watch(path(CONFIGMAPS, "dev"), {"resourceVersion": listed["metadata"]["resourceVersion"]}) as w:
        it = iter(w)
        sb.call(lambda s: s.store.create("/configmaps", {"metadata": {"name": "seen-by-viewer", "namespace": "dev"}}))
        ev = next(it)
    assert ev["type"] == "ADDED" and ev["object"]["metadata"]["name"] == "seen-by-viewer"
    with pytest.raises(ApiError) as e:
        conn.request("POST", path(CONFIGMAPS, "dev"), body={"metadata": {"name": "nope"}})
    assert e.value.forbidden and 'User "viewer" cannot create' in e.value.message
    assert conn.freshness.state.is_live  # a refusal is an answer, not an outage


# -- auth ---------------------------------------------------------------------------------------


def test_401_sets_auth_expired_until_a_request_succeeds(own_sb):
    conn = conn_for(own_sb)
    conn.get("/version")
    conn.get(path(PODS, "prod"))
    old = own_sb.token("operator")
    rotate_token(own_sb, "operator", "rotated-token")
    with pytest.raises(ApiError) as e:
        conn.get(path(PODS, "prod"))
    assert e.value.unauthorized
    st = conn.freshness.state
    assert st.state is Freshness.AUTH_EXPIRED and not st.is_live and "operator" in st.error
    rotate_token(own_sb, "operator", old)
    conn.get(path(PODS, "prod"))
    assert conn.freshness.state.is_live


def test_exec_plugin_token_is_refreshed_after_401(own_sb, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(own_sb.token("operator"))
    runs = tmp_path / "runs"
    script = tmp_path / "plugin.py"
    script.write_text(
        "import json, pathlib\n"
        f"runs = pathlib.Path({str(runs)!r})\n"
        "runs.write_text(str(int(runs.read_text() or 0) + 1) if runs.exists() else '1')\n"
        f"token = pathlib.Path({str(token_file)!r}).read_text().strip()\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', 'kind': 'ExecCredential',\n"
        "                  'status': {'token': token}}))\n")

    def use_exec(cfg):
        for u in cfg["users"]:
            if u["name"] == "operator":
                u["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable,
                                      "args": [str(script)], "interactiveMode": "Never"}}

    kc = load_kubeconfig([edited_kubeconfig(own_sb, tmp_path / "exec.yaml", use_exec)])
    assert kc.current.auth == "exec"
    conn = connect(kc, **FAST)
    assert conn.get(path(PODS, "prod"))["items"]
    assert runs.read_text() == "1"
    # the credential rotates: the server refuses the old token, the plugin now prints the new one
    rotate_token(own_sb, "operator", "fresh-exec-token")
    token_file.write_text("fresh-exec-token")
    assert conn.get(path(PODS, "prod"))["items"]  # 401, re-run the plugin, retry: transparent
    assert runs.read_text() == "2"
    assert conn.freshness.state.is_live


# -- retries and failures -----------------------------------------------------------------------


def test_retry_after_is_honoured_for_gets_only(sb):
    hits: list[str] = []

    def plan(codes):
        pending = list(codes)

        async def hook(request):
            if "/configmaps" in request.path and pending:
                code, retry_after = pending.pop(0)
                hits.append(request.method)
                headers = {"Retry-After": retry_after} if retry_after is not None else None
                raise sb_errors.ApiError(code, "TooManyRequests" if code == 429 else "ServiceUnavailable",
                                         "slow down", headers=headers)
        set_hook(sb, hook)

    conn = conn_for(sb)
    url = path(CONFIGMAPS, "dev")
    try:
        plan([(429, "1"), (503, "0")])
        start = time.monotonic()
        assert conn.get(url)["kind"] == "ConfigMapList"
        assert time.monotonic() - start >= 0.9 and hits == ["GET", "GET"]
        assert conn.freshness.state.is_live

        hits.clear()
        plan([(429, "1")])
        start = time.monotonic()
        with pytest.raises(ApiError) as e:  # a POST is never re-sent
            conn.request("POST", url, body={"metadata": {"name": "not-retried"}})
        assert e.value.status == 429 and e.value.retry_after == 1.0 and hits == ["POST"]
        assert time.monotonic() - start < 0.9

        hits.clear()
        plan([(503, None), (503, None)])
        with pytest.raises(ApiError) as e:  # 5xx without Retry-After: not retried
            conn.get(url)
        assert e.value.status == 503 and hits == ["GET"]
        assert conn.freshness.state.state is Freshness.STALE

        hits.clear()
        plan([(429, "0")] * 10)
        with pytest.raises(ApiError) as e:  # bounded
            conn.get(url)
        assert e.value.status == 429 and len(hits) == 1 + conn.max_retries
    finally:
        set_hook(sb, None)


def test_timeout_then_server_down_stale_then_offline(own_sb):
    conn = conn_for(own_sb, timeout=0.5)
    seen: list[Freshness] = []
    conn.freshness.subscribe(lambda st: seen.append(st.state))
    conn.get("/version")

    async def slow(request):
        import asyncio
        await asyncio.sleep(3)

    set_hook(own_sb, slow)
    start = time.monotonic()
    with pytest.raises(ConnectionLost, match=r"did not answer within 0.5s"):
        conn.get("/version")
    assert time.monotonic() - start < 2.5
    assert conn.freshness.state.state is Freshness.STALE
    assert conn.freshness.state.last_good is not None
    set_hook(own_sb, None)
    own_sb.stop()
    for _ in range(3):
        with pytest.raises(ConnectionLost, match=r"cannot connect to .*: Connection refused"):
            conn.get("/version")
    assert conn.freshness.state.state is Freshness.OFFLINE
    assert [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s] == [
        Freshness.LIVE, Freshness.STALE, Freshness.OFFLINE]


# -- watch streams ------------------------------------------------------------------------------


def test_watch_streams_events_and_closes_from_another_thread(sb):
    conn = conn_for(sb)
    url = path(CONFIGMAPS, "staging")
    rv = conn.get(url)["metadata"]["resourceVersion"]
    stream = conn.watch(url, {"resourceVersion": rv})
    events: list[dict] = []
    errors: list[BaseException] = []

    def consume():
        try:
            for ev in stream:
                events.append(ev)
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=consume)
    t.start()
    conn.request("POST", url, body={"metadata": {"name": "w1"}})
    wait_until(lambda: events, 5, what="the ADDED event")
    assert events[0]["type"] == "ADDED" and events[0]["object"]["metadata"]["name"] == "w1"
    start = time.monotonic()
    stream.close()
    t.join(2)
    assert not t.is_alive() and time.monotonic() - start < 1.0
    assert errors == []
    assert conn.freshness.state.is_live  # closing our own stream is not a failure


def test_expired_resource_version_raises_410(sb):
    conn = conn_for(sb)
    url = path(CONFIGMAPS, "staging")
    rv = conn.get(url)["metadata"]["resourceVersion"]
    sb.call(lambda s: (s.store.create("/configmaps", {"metadata": {"name": "bump", "namespace": "default"}}),
                       s.store.compact()))
    with pytest.raises(ApiError) as e, conn.watch(url, {"resourceVersion": rv}) as w:
        for _ in w:
            pass
    assert e.value.status == 410 and e.value.expired and e.value.reason == "Expired"


def test_stream_of_lines(sb):
    conn = conn_for(sb)
    pod = sb.list("/pods", "prod")[0]
    md = pod["metadata"]
    container = pod["spec"]["containers"][0]["name"]
    with conn.stream(path(PODS, "prod", md["name"], "log"), {"container": container, "tailLines": 3},
                     accept="text/plain") as s:
        lines = list(s)
    assert len(lines) == 3 and all(isinstance(line, bytes) and b"\n" not in line for line in lines)
    raw = conn.request_bytes("GET", path(PODS, "prod", md["name"], "log"), query={"container": container,
                                                                                 "tailLines": 3}, accept="text/plain")
    assert len(raw.splitlines()) == 3  # (the tail may have moved on meanwhile)


# -- the freshness state machine ----------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_freshness_transitions():
    clock = Clock()
    fr = FreshnessTracker(offline_after=3, clock=clock)
    seen = []
    fr.subscribe(seen.append)
    assert fr.state.state is Freshness.OFFLINE and fr.state.last_good is None
    fr.request_failed("refused")
    assert fr.state.state is Freshness.OFFLINE  # never any data
    clock.now = 1001
    fr.request_ok(0.01)
    assert fr.state.is_live and fr.state.since == 1001
    clock.now = 1005
    fr.stream_broken("pods", "reset")
    st = fr.state
    assert st.state is Freshness.STALE and st.last_good == 1001 and "pods: reset" in st.error
    assert st.age(now=1011) == 10
    fr.stream_ok("pods")
    assert fr.state.is_live
    for i in range(3):
        fr.request_failed(f"refused {i}")
    assert fr.state.state is Freshness.OFFLINE and fr.state.error == "refused 2"
    fr.auth_failed("Unauthorized")
    assert fr.state.state is Freshness.AUTH_EXPIRED
    fr.request_ok()
    assert fr.state.is_live
    fr.stream_broken("x", "gone")
    fr.stream_gone("x")
    assert fr.state.is_live
    assert [s.state for s in seen] == [Freshness.OFFLINE, Freshness.LIVE, Freshness.STALE, Freshness.LIVE,
                                       Freshness.STALE, Freshness.STALE, Freshness.OFFLINE,
                                       Freshness.AUTH_EXPIRED, Freshness.LIVE, Freshness.STALE, Freshness.LIVE]


def test_freshness_touch_is_tracked_and_subscribers_can_leave():
    clock = Clock()
    fr = FreshnessTracker(clock=clock)
    calls = []
    unsubscribe = fr.subscribe(calls.append)
    fr.request_ok()
    clock.now = 1050
    fr.touch()
    assert fr.last_good == 1050 and len(calls) == 1  # a touch is not a change of state
    unsubscribe()
    fr.request_failed("x")
    assert len(calls) == 1


def test_a_failing_subscriber_does_not_break_reporting():
    fr = FreshnessTracker()

    def boom(_):
        raise RuntimeError("subscriber bug")

    fr.subscribe(boom)
    fr.request_ok()
    assert fr.state.is_live


def test_json_error_bodies_are_never_dumped_whole():
    from almtui.cluster.connection import _api_error

    err = _api_error(502, "Bad Gateway", b"<html>" + b"x" * 5000, None)
    assert err.status == 502 and len(err.message) <= 300 and err.body == {}
    err = _api_error(429, "Too Many Requests", json.dumps({"kind": "Status", "message": "m", "reason": "R"}).encode(),
                     "3")
    assert (err.reason, err.message, err.retry_after) == ("R", "m", 3.0)


def test_no_token_in_logs_and_no_http_debug(own_sb, caplog, tmp_path):
    import http.client
    import logging

    token = own_sb.token("operator")
    conn = conn_for(own_sb)
    for name in ("", "urllib3", "kubernetes", "almtui"):  # everything, even what the client keeps quiet
        caplog.set_level(logging.DEBUG, logger=name)
    conn.get(path(PODS, "prod"))
    with pytest.raises(ApiError):
        conn.get("/api/v1/namespaces/prod/pods/nope")
    rotate_token(own_sb, "operator", "another-secret-token")
    with pytest.raises(ApiError):
        conn.get(path(PODS, "prod"))
    assert http.client.HTTPConnection.debuglevel == 0
    assert conn.api_client.configuration.debug is False
    assert caplog.records  # something was logged at DEBUG...
    assert token not in caplog.text and "another-secret-token" not in caplog.text  # ...but never a token
