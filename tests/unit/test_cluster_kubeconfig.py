"""Kubeconfig loading: kubectl's merge rules, clear errors, and how ApiClients are configured."""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from pathlib import Path

import pytest
import yaml

from almtui.cluster import kubeconfig as kcmod
from almtui.cluster.kubeconfig import ConfigError, load_kubeconfig

CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nnot-a-real-ca\n-----END CERTIFICATE-----\n").decode()


def write(path: Path, cfg: dict | str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(cfg if isinstance(cfg, str) else yaml.safe_dump(cfg))
    return str(path)


def config(*, clusters=(), users=(), contexts=(), current: str | None = None) -> dict:
    out: dict = {"apiVersion": "v1", "kind": "Config",
                 "clusters": [{"name": n, "cluster": c} for n, c in clusters],
                 "users": [{"name": n, "user": u} for n, u in users],
                 "contexts": [{"name": n, "context": c} for n, c in contexts]}
    if current is not None:
        out["current-context"] = current
    return out


def simple(name: str = "dev", server: str = "https://10.0.0.1:6443", token: str = "tok-dev", **ctx) -> dict:
    return config(clusters=[(name, {"server": server, "certificate-authority-data": CA})],
                  users=[(name, {"token": token})],
                  contexts=[(name, {"cluster": name, "user": name, **ctx})], current=name)


def exec_user(script: Path, body: str) -> dict:
    script.write_text(body)
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable,
                     "args": [str(script)], "interactiveMode": "Never"}}


# -- merging ------------------------------------------------------------------------------------


def test_merge_first_file_wins_and_first_current_context(tmp_path):
    a = write(tmp_path / "a.yaml", config(clusters=[("shared", {"server": "https://a:6443"})],
                                          users=[("u", {"token": "from-a"})],
                                          contexts=[("ctx-a", {"cluster": "shared", "user": "u"})]))
    b = write(tmp_path / "b.yaml", config(clusters=[("shared", {"server": "https://b:6443"}),
                                                    ("only-b", {"server": "https://only-b:6443"})],
                                          users=[("u", {"token": "from-b"})],
                                          contexts=[("ctx-a", {"cluster": "only-b", "user": "u"}),
                                                    ("ctx-b", {"cluster": "only-b", "user": "u",
                                                               "namespace": "shop"})],
                                          current="ctx-b"))
    c = write(tmp_path / "c.yaml", config(contexts=[("ctx-c", {"cluster": "shared"})], current="ctx-c"))
    kc = load_kubeconfig([a, b, c])
    assert [x.name for x in kc.contexts] == ["ctx-a", "ctx-b", "ctx-c"]
    ctx_a = kc.context("ctx-a")
    assert ctx_a.server == "https://a:6443" and ctx_a.source == a  # a's definitions win
    assert ctx_a.namespace == "default"
    assert kc.current is not None and kc.current.name == "ctx-b"  # the first file that sets one
    assert kc.current.namespace == "shop" and kc.current.server == "https://only-b:6443"
    client = kc.api_client("ctx-a")
    assert client.configuration.api_key["BearerToken"] == "Bearer from-a"
    assert kc.context("ctx-c").auth == "none" and kc.context("ctx-c").user == ""


def test_kubeconfig_env_is_split_and_missing_entries_skipped(tmp_path, monkeypatch):
    a = write(tmp_path / "a.yaml", simple("one"))
    b = write(tmp_path / "b.yaml", simple("two"))
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([a, str(tmp_path / "missing.yaml"), "", b]))
    kc = load_kubeconfig()
    assert kc.paths == [a, b]
    assert [c.name for c in kc.contexts] == ["one", "two"] and kc.current.name == "one"


def test_default_path_is_home_kube_config(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    path = write(Path(os.environ["HOME"]) / ".kube" / "config", simple("home"))
    kc = load_kubeconfig()
    assert kc.paths == [path] and kc.current.name == "home"


def test_context_argument_overrides_current(tmp_path):
    cfg = simple("one")
    cfg["clusters"].append({"name": "two", "cluster": {"server": "https://two:6443"}})
    cfg["contexts"].append({"name": "two", "context": {"cluster": "two"}})
    kc = load_kubeconfig([write(tmp_path / "k.yaml", cfg)], context="two")
    assert kc.current.name == "two" and kc.current.server == "https://two:6443"


def test_single_context_without_current_context_is_used(tmp_path):
    cfg = simple("solo")
    del cfg["current-context"]
    assert load_kubeconfig([write(tmp_path / "k.yaml", cfg)]).current.name == "solo"


def test_relative_paths_resolve_against_their_own_file(tmp_path, monkeypatch):
    sub = tmp_path / "conf"
    (sub / "pki").mkdir(parents=True)
    (sub / "pki" / "ca.crt").write_text("ca")
    (sub / "pki" / "token").write_text("file-token\n")
    path = write(sub / "k.yaml", config(clusters=[("c", {"server": "https://c:6443",
                                                         "certificate-authority": "pki/ca.crt"})],
                                        users=[("u", {"tokenFile": "pki/token"})],
                                        contexts=[("x", {"cluster": "c", "user": "u"})], current="x"))
    monkeypatch.chdir(tmp_path)  # not the kubeconfig's directory
    kc = load_kubeconfig([path])
    assert kc.current.auth == "token"
    cfg = kc.api_client().configuration
    assert cfg.ssl_ca_cert == str(sub / "pki" / "ca.crt")
    assert cfg.api_key["BearerToken"] == "Bearer file-token"  # the trailing newline is not sent


# -- errors -------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"kubeconfig file not found: .*nope.yaml"):
        load_kubeconfig([path])


def test_nothing_found(monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigError, match=r"no kubeconfig found: .*\.kube/config does not exist"):
        load_kubeconfig()


def test_malformed_yaml_names_file_and_line(tmp_path):
    path = write(tmp_path / "bad.yaml", "clusters:\n- name: x\n  cluster: {server: [unclosed\ncontexts: []\n")
    with pytest.raises(ConfigError) as e:
        load_kubeconfig([path])
    msg = str(e.value)
    assert "bad.yaml" in msg and "not valid YAML" in msg and "line" in msg
    assert "Traceback" not in msg


def test_not_a_mapping(tmp_path):
    path = write(tmp_path / "list.yaml", "- a\n- b\n")
    with pytest.raises(ConfigError, match=r"list.yaml is not a kubeconfig: expected a mapping"):
        load_kubeconfig([path])


def test_entry_without_name(tmp_path):
    path = write(tmp_path / "k.yaml", {"clusters": [{"cluster": {"server": "https://x"}}]})
    with pytest.raises(ConfigError, match=r"k.yaml: clusters\[0\] has no name"):
        load_kubeconfig([path])


def test_unknown_context_lists_the_available_ones(tmp_path):
    path = write(tmp_path / "k.yaml", simple("dev"))
    with pytest.raises(ConfigError) as e:
        load_kubeconfig([path], context="prod")
    assert "'prod' not found" in str(e.value) and "available: dev" in str(e.value) and "k.yaml" in str(e.value)
    kc = load_kubeconfig([path])
    with pytest.raises(ConfigError, match=r"'prod' not found"):
        kc.api_client("prod")


def test_current_context_not_defined(tmp_path):
    cfg = simple("dev")
    cfg["current-context"] = "gone"
    with pytest.raises(ConfigError, match=r"current-context 'gone' \(set in .*k.yaml\) is not defined"):
        load_kubeconfig([write(tmp_path / "k.yaml", cfg)])


def test_missing_cluster_user_and_server(tmp_path):
    cfg = config(clusters=[("noserver", {})], users=[],
                 contexts=[("a", {"cluster": "ghost", "user": "u"}), ("b", {"cluster": "noserver"}),
                           ("c", {"cluster": "noserver-x", "user": "ghost-user"}), ("d", {"user": "u"})])
    path = write(tmp_path / "k.yaml", cfg)
    kc = load_kubeconfig([path])  # nothing selected: nothing checked yet
    assert kc.current is None
    with pytest.raises(ConfigError, match=r"no current-context is set"):
        kc.api_client()
    with pytest.raises(ConfigError, match=r"context 'a' \(in .*k.yaml\): cluster 'ghost' is not defined"):
        kc.api_client("a")
    with pytest.raises(ConfigError, match=r"cluster 'noserver' \(in .*k.yaml\) has no server"):
        kc.api_client("b")
    with pytest.raises(ConfigError, match=r"context 'd' .* has no cluster"):
        kc.api_client("d")
    cfg["clusters"].append({"name": "noserver-x", "cluster": {"server": "https://x"}})
    with pytest.raises(ConfigError, match=r"user 'ghost-user' is not defined"):
        load_kubeconfig([write(tmp_path / "k2.yaml", cfg)], context="c")


def test_missing_token_file(tmp_path):
    cfg = simple("dev")
    cfg["users"][0]["user"] = {"tokenFile": str(tmp_path / "no-token")}
    with pytest.raises(ConfigError, match=r"user 'dev' .*tokenFile: No such file"):
        load_kubeconfig([write(tmp_path / "k.yaml", cfg)])


# -- credentials and TLS settings ---------------------------------------------------------------


@pytest.mark.parametrize(("user", "auth"), [
    ({"token": "t"}, "token"),
    ({"tokenFile": "/dev/null"}, "token"),
    ({"client-certificate-data": CA, "client-key-data": CA}, "client-cert"),
    ({"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "x"}}, "exec"),
    ({"auth-provider": {"name": "oidc"}}, "auth-provider"),
    ({"username": "u", "password": "p"}, "basic"),
    ({}, "none"),
])
def test_auth_kind_is_reported(tmp_path, user, auth):
    cfg = simple("dev")
    cfg["users"][0]["user"] = user
    path = write(tmp_path / "k.yaml", cfg)
    assert load_kubeconfig([path]).context("dev").auth == auth


def test_api_client_verifies_tls_and_never_debugs(tmp_path):
    from kubernetes.client import Configuration

    kc = load_kubeconfig([write(tmp_path / "k.yaml", simple("dev", token="s3cr3t-token"))])
    assert kc.current.insecure_skip_tls_verify is False
    cfg = kc.api_client().configuration
    assert cfg.verify_ssl is True and cfg.ssl_ca_cert and os.path.exists(cfg.ssl_ca_cert)
    assert cfg.debug is False and Configuration().debug is False
    assert cfg.host == "https://10.0.0.1:6443"
    assert cfg.connection_pool_maxsize >= kcmod.POOL_SIZE
    assert "s3cr3t-token" not in repr(kc) and "s3cr3t-token" not in repr(kc.current)


@pytest.mark.parametrize(("value", "verify"), [(True, False), ("true", False), (False, True), ("false", True)])
def test_insecure_skip_tls_verify(tmp_path, value, verify):
    cfg = simple("dev")
    cfg["clusters"][0]["cluster"] = {"server": "https://10.0.0.1:6443", "insecure-skip-tls-verify": value}
    kc = load_kubeconfig([write(tmp_path / "k.yaml", cfg)])
    assert kc.current.insecure_skip_tls_verify is (not verify)
    assert kc.api_client().configuration.verify_ssl is verify


def test_exec_plugin_token(tmp_path):
    cfg = simple("dev")
    cred = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
            "status": {"token": "exec-token"}}
    cfg["users"][0]["user"] = exec_user(tmp_path / "plugin.py", f"print({json.dumps(json.dumps(cred))})\n")
    kc = load_kubeconfig([write(tmp_path / "k.yaml", cfg)])
    assert kc.current.auth == "exec"
    assert kc.api_client().configuration.api_key["BearerToken"] == "Bearer exec-token"


def test_exec_plugin_failure_is_a_clear_error(tmp_path):
    cfg = simple("dev")
    cfg["users"][0]["user"] = exec_user(tmp_path / "plugin.py",
                                        "import sys\nsys.stderr.write('login required')\nsys.exit(3)\n")
    kc = load_kubeconfig([write(tmp_path / "k.yaml", cfg)])
    with pytest.raises(ConfigError) as e:
        kc.api_client()
    msg = str(e.value)
    assert "exec credential plugin" in msg and "exit status 3" in msg and "login required" in msg
    assert "user 'dev'" in msg and "k.yaml" in msg


@pytest.mark.parametrize(("script", "why"), [
    ("print('not json')", "no valid ExecCredential JSON"),
    ("print('{\"kind\": \"ExecCredential\", \"apiVersion\": \"client.authentication.k8s.io/v1beta1\", "
     "\"status\": {\"token\": \"t\"}}')", "expected 'client.authentication.k8s.io/v1'"),
    ("print('{\"kind\": \"ExecCredential\", \"apiVersion\": \"client.authentication.k8s.io/v1\", "
     "\"status\": {}}')", "neither a token nor a client certificate"),
])
def test_exec_plugin_bad_output(tmp_path, script, why):
    cfg = simple("dev")
    cfg["users"][0]["user"] = exec_user(tmp_path / "plugin.py", script + "\n")
    with pytest.raises(ConfigError, match=re.escape(why)):
        load_kubeconfig([write(tmp_path / "k.yaml", cfg)]).api_client()


def test_exec_plugin_runs_without_a_terminal_and_gets_cluster_info(tmp_path):
    """stdin is closed, interactive is false, env and provideClusterInfo are passed."""
    seen = tmp_path / "seen.json"
    script = (
        "import json, os, sys\n"
        "info = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
        f"open({str(seen)!r}, 'w').write(json.dumps({{'info': info, 'stdin': sys.stdin.read(), "
        "'env': os.environ.get('EXTRA')}))\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', 'kind': 'ExecCredential',"
        " 'status': {'token': 'tty-free'}}))\n")
    cfg = simple("dev")
    user = exec_user(tmp_path / "plugin.py", script)
    user["exec"].update(provideClusterInfo=True, env=[{"name": "EXTRA", "value": "yes"}])
    cfg["users"][0]["user"] = user
    client = load_kubeconfig([write(tmp_path / "k.yaml", cfg)]).api_client()
    assert client.configuration.api_key["BearerToken"] == "Bearer tty-free"
    got = json.loads(seen.read_text())
    assert got["stdin"] == "" and got["env"] == "yes"
    assert got["info"]["spec"]["interactive"] is False
    assert got["info"]["spec"]["cluster"]["server"] == "https://10.0.0.1:6443"
    assert got["info"]["spec"]["cluster"]["certificateAuthorityData"] == CA


@pytest.mark.parametrize(("lifetime", "refreshed"), [(3, True), (3600, False)])
def test_exec_token_is_refreshed_before_it_expires(tmp_path, lifetime, refreshed):
    counter = tmp_path / "n"
    script = (
        "import datetime, json, pathlib\n"
        f"p = pathlib.Path({str(counter)!r})\n"
        "n = int(p.read_text()) + 1 if p.exists() else 1\n"
        "p.write_text(str(n))\n"
        f"exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds={lifetime})\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', 'kind': 'ExecCredential',"
        " 'status': {'token': f't-{n}', 'expirationTimestamp': exp.strftime('%Y-%m-%dT%H:%M:%SZ')}}))\n")
    cfg = simple("dev")
    cfg["users"][0]["user"] = exec_user(tmp_path / "plugin.py", script)
    conf = load_kubeconfig([write(tmp_path / "k.yaml", cfg)]).api_client().configuration
    assert conf.api_key["BearerToken"] == "Bearer t-1"
    header = conf.auth_settings()["BearerToken"]["value"]  # what every request does first
    assert header == ("Bearer t-2" if refreshed else "Bearer t-1")


def test_exec_plugin_client_certificate(tmp_path):
    pem_cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    pem_key = "-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n"
    cred = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
            "status": {"clientCertificateData": pem_cert, "clientKeyData": pem_key}}
    cfg = simple("dev")
    cfg["users"][0]["user"] = exec_user(tmp_path / "plugin.py", f"print({json.dumps(json.dumps(cred))})\n")
    conf = load_kubeconfig([write(tmp_path / "k.yaml", cfg)]).api_client().configuration
    assert Path(conf.cert_file).read_text() == pem_cert and Path(conf.key_file).read_text() == pem_key
    assert "BearerToken" not in conf.api_key


def test_refresh_credentials_rereads_the_files(tmp_path):
    path = tmp_path / "k.yaml"
    write(path, simple("dev", token="old"))
    kc = load_kubeconfig([str(path)])
    client = kc.api_client()
    assert kc.refresh_credentials("dev", client) is False  # nothing changed
    write(path, simple("dev", token="new"))
    assert kc.refresh_credentials("dev", client) is True
    assert client.configuration.api_key["BearerToken"] == "Bearer new"
    write(path, "{{{ broken")
    assert kc.refresh_credentials("dev", client) is False  # keeps what it has
    assert client.configuration.api_key["BearerToken"] == "Bearer new"


def test_in_cluster(tmp_path, monkeypatch):
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("sa-token")
    (sa / "ca.crt").write_text("ca")
    (sa / "namespace").write_text("edge\n")
    monkeypatch.setattr(kcmod, "SA_DIR", str(sa))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    kc = load_kubeconfig()
    assert kc.in_cluster and kc.current.name == "in-cluster" and kc.current.namespace == "edge"
    assert kc.current.server == "https://10.96.0.1:443"
    cfg = kc.api_client().configuration
    assert cfg.host == "https://10.96.0.1:443" and cfg.ssl_ca_cert == str(sa / "ca.crt")
    assert cfg.api_key["BearerToken"] == "bearer sa-token"
    with pytest.raises(ConfigError, match=r"only the in-cluster configuration"):
        load_kubeconfig(context="other")
