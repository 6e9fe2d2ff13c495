"""almtui's config file: defaults, overrides, where it is looked for, and every error message."""

from __future__ import annotations

import os
import stat
import textwrap
from pathlib import Path

import pytest

from almtui.cluster.config import (
    DEFAULT_SERVICES,
    PLACEHOLDERS,
    Config,
    ConfigError,
    Environment,
    ServiceRef,
    config_path,
    default_queries,
    load_config,
    parse_config,
    prom_duration_seconds,
    template_problem,
)

FULL = """\
read_only: true
theme: almtui-light
environments:
  - {name: dev, namespace: dev}
  - {name: staging, namespace: staging}
  - {name: prod, namespace: prod, context: edge-prod}
protected_namespaces: [prod, payments]
prometheus:
  url: https://prom.example.com:9090/
  discover: false
  services: ["monitoring/prometheus-k8s:web", "obs/https:thanos-query", "obs/prom"]
  step: 15s
  timeout: 4.5
queries:
  rate: sum(rate(requests_total{{namespace="{namespace}",app="{app}"}}[{window}]))
rate_limits: {qps: 2.5, burst: 4, timeout: 30}
pending_after: 300
keys: {rollouts.promote: "P", app.quit: "ctrl+q,q"}
"""


def parse(text: str) -> Config:
    return parse_config(textwrap.dedent(text), "/etc/almtui.yaml")


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as e:
        parse(text)
    return str(e.value)


# -- defaults and overrides ---------------------------------------------------------------------


def test_missing_default_file_means_defaults() -> None:
    cfg = load_config()
    assert cfg == Config()
    assert cfg.path is None
    assert cfg.read_only is False and cfg.theme == "almtui-dark"
    assert cfg.environments == () and cfg.protected_namespaces == frozenset()
    assert cfg.prometheus.url is None and cfg.prometheus.discover is True
    assert [str(s) for s in cfg.prometheus.services] == list(DEFAULT_SERVICES)
    assert cfg.prometheus.step == "30s" and cfg.prometheus.timeout == 10.0
    assert (cfg.rate_limits.qps, cfg.rate_limits.burst, cfg.rate_limits.timeout) == (5.0, 10, 10.0)
    assert cfg.pending_after == 120.0
    assert dict(cfg.keys) == {}
    assert dict(cfg.queries) == default_queries()


def test_every_field_overridden() -> None:
    cfg = parse(FULL)
    assert cfg.read_only is True
    assert cfg.theme == "almtui-light"
    assert cfg.environments == (Environment("dev", "dev"), Environment("staging", "staging"),
                                Environment("prod", "prod", "edge-prod"))
    assert cfg.environment("prod") == Environment("prod", "prod", "edge-prod")
    assert cfg.environment("qa") is None
    assert cfg.protected_namespaces == frozenset({"prod", "payments"})
    assert cfg.is_protected("prod") and not cfg.is_protected("dev") and not cfg.is_protected(None)
    p = cfg.prometheus
    assert p.url == "https://prom.example.com:9090"
    assert p.discover is False
    assert p.services == (ServiceRef("monitoring", "prometheus-k8s", "web"),
                          ServiceRef("obs", "thanos-query", "", "https"), ServiceRef("obs", "prom"))
    assert [s.proxy_name for s in p.services] == ["prometheus-k8s:web", "https:thanos-query", "prom"]
    assert (p.step, p.timeout) == ("15s", 4.5)
    assert cfg.queries["rate"].startswith("sum(rate(requests_total{{")
    assert cfg.queries["p95"] == default_queries()["p95"]  # the others keep their defaults
    assert (cfg.rate_limits.qps, cfg.rate_limits.burst, cfg.rate_limits.timeout) == (2.5, 4, 30.0)
    assert cfg.pending_after == 300.0
    assert dict(cfg.keys) == {"rollouts.promote": "P", "app.quit": "ctrl+q,q"}
    assert cfg.path == "/etc/almtui.yaml"


def test_empty_file_null_values_and_partial_sections_keep_defaults() -> None:
    assert parse("") == Config(path="/etc/almtui.yaml")
    assert parse("# only a comment\n") == Config(path="/etc/almtui.yaml")
    assert parse("~\n") == Config(path="/etc/almtui.yaml")
    cfg = parse("theme:\nprometheus:\nrate_limits: {qps: 1}\n")
    assert cfg.theme == "almtui-dark"
    assert cfg.prometheus == Config().prometheus
    assert (cfg.rate_limits.qps, cfg.rate_limits.burst) == (1.0, 10)


def test_step_as_whole_seconds_and_relative_url() -> None:
    cfg = parse("prometheus: {step: 20, url: /api/v1/namespaces/obs/services/prom:9090/proxy/}\n")
    assert cfg.prometheus.step == "20s"
    assert cfg.prometheus.url == "/api/v1/namespaces/obs/services/prom:9090/proxy"


def test_config_is_frozen() -> None:
    cfg = parse(FULL)
    with pytest.raises(AttributeError):
        cfg.read_only = False  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.keys["x"] = "y"  # type: ignore[index]
    with pytest.raises(TypeError):
        cfg.queries["rate"] = "up"  # type: ignore[index]


# -- where the file is --------------------------------------------------------------------------


def test_xdg_location_env_override_and_explicit_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    xdg = Path(os.environ["XDG_CONFIG_HOME"])
    (xdg / "almtui").mkdir(parents=True)
    (xdg / "almtui" / "config.yaml").write_text("theme: from-xdg\n")
    assert config_path() == (str(xdg / "almtui" / "config.yaml"), False)
    assert load_config().theme == "from-xdg"
    env_file = tmp_path / "env.yaml"
    env_file.write_text("theme: from-env\n")
    monkeypatch.setenv("ALMTUI_CONFIG", str(env_file))
    assert load_config().theme == "from-env"
    explicit = tmp_path / "explicit.yaml"
    explicit.write_text("theme: explicit\n")
    assert load_config(str(explicit)).theme == "explicit"
    assert load_config(str(explicit)).path == str(explicit)


def test_without_xdg_the_default_is_under_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME")
    home = Path(os.environ["HOME"])
    assert config_path() == (str(home / ".config" / "almtui" / "config.yaml"), False)
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/ignored")  # the XDG spec: relative paths are invalid
    assert config_path()[0] == str(home / ".config" / "almtui" / "config.yaml")


def test_messages_show_the_home_directory_as_tilde(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME")
    home = Path(os.environ["HOME"])
    (home / ".config" / "almtui").mkdir(parents=True)
    (home / ".config" / "almtui" / "config.yaml").write_text("read_only: false\ntheme: x\n\n\n\n\n"
                                                             "rate_limits:\n  qps: fast\n")
    with pytest.raises(ConfigError) as e:
        load_config()
    assert str(e.value) == '~/.config/almtui/config.yaml, line 8: rate_limits.qps: must be a positive number, ' \
                           'got "fast"'
    assert (e.value.line, e.value.field) == (8, "rate_limits.qps")
    assert e.value.path == str(home / ".config" / "almtui" / "config.yaml")


def test_a_named_file_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"^/nonexistent/almtui\.yaml: config file not found$"):
        load_config("/nonexistent/almtui.yaml")
    monkeypatch.setenv("ALMTUI_CONFIG", str(tmp_path / "gone.yaml"))
    with pytest.raises(ConfigError, match=r"gone\.yaml: config file not found$"):
        load_config()


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(str(tmp_path))
    assert str(e.value) == f"{tmp_path}: is a directory, not a config file"
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"theme: \xff\xfe\n")
    with pytest.raises(ConfigError) as e:
        load_config(str(binary))
    assert str(e.value) == f"{binary}: the config file is not UTF-8 text"
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.yaml"
        locked.write_text("theme: x\n")
        locked.chmod(0)
        try:
            with pytest.raises(ConfigError) as e:
                load_config(str(locked))
            assert str(e.value) == f"{locked}: cannot read the config file: permission denied"
        finally:
            locked.chmod(stat.S_IRUSR | stat.S_IWUSR)


# -- errors: exact messages ---------------------------------------------------------------------


def test_malformed_yaml() -> None:
    assert error_of("theme: x\nkeys: {a: b\n") == \
        "/etc/almtui.yaml, line 3, column 1: not valid YAML: expected ',' or '}', but got '<stream end>'"
    assert error_of("theme: x\n  bad: indent\n") == \
        "/etc/almtui.yaml, line 2, column 6: not valid YAML: mapping values are not allowed here"
    assert error_of("theme: x\n---\ntheme: y\n") == \
        "/etc/almtui.yaml, line 2, column 1: not valid YAML: but found another document"
    assert error_of("theme: \"\\q\"\n") == \
        "/etc/almtui.yaml, line 1, column 10: not valid YAML: found unknown escape character 'q'"


def test_top_level_must_be_a_mapping() -> None:
    assert error_of("- a\n- b\n") == \
        "/etc/almtui.yaml, line 1: the config must be a mapping of settings, got a list"
    assert error_of("just text\n") == \
        '/etc/almtui.yaml, line 1: the config must be a mapping of settings, got "just text"'


def test_unknown_keys_with_suggestions() -> None:
    assert error_of("theme: x\nread_onyl: true\n") == \
        '/etc/almtui.yaml, line 2: read_onyl: unknown field; did you mean "read_only"?'
    assert error_of("prometheus:\n  urll: http://x\n") == \
        '/etc/almtui.yaml, line 2: prometheus.urll: unknown field; did you mean "url"?'
    assert error_of("rate_limits: {qsp: 3}\n") == \
        '/etc/almtui.yaml, line 1: rate_limits.qsp: unknown field; did you mean "qps"?'
    assert error_of("environments:\n  - {name: a, namespace: a, contxt: c}\n") == \
        '/etc/almtui.yaml, line 2: environments[0].contxt: unknown field; did you mean "context"?'
    assert error_of("queries:\n  p59: up\n") == \
        '/etc/almtui.yaml, line 2: queries.p59: unknown field; did you mean "p95"?'
    assert error_of("zzz: 1\n") == \
        "/etc/almtui.yaml, line 1: zzz: unknown field; known fields: read_only, theme, environments, " \
        "protected_namespaces, prometheus, queries, rate_limits, pending_after, keys"


def test_duplicate_keys() -> None:
    assert error_of("theme: a\nread_only: true\ntheme: b\n") == \
        "/etc/almtui.yaml, line 3: theme: set twice (first on line 1)"
    assert error_of("environments:\n  - {name: a, namespace: a}\n  - {name: a, namespace: b}\n") == \
        '/etc/almtui.yaml, line 3: environments[1].name: environment "a" is defined twice (first on line 2)'


def test_wrong_types() -> None:
    assert error_of("read_only: yes please\n") == \
        '/etc/almtui.yaml, line 1: read_only: must be true or false, got "yes please"'
    assert error_of("read_only: 1\n") == "/etc/almtui.yaml, line 1: read_only: must be true or false, got 1"
    assert error_of("theme: [a]\n") == "/etc/almtui.yaml, line 1: theme: must be a theme name, got a list"
    assert error_of("theme: 7\n") == "/etc/almtui.yaml, line 1: theme: must be a theme name, got 7"
    assert error_of("environments: {dev: dev}\n") == \
        "/etc/almtui.yaml, line 1: environments: must be a list of {name, namespace, context}, got a mapping"
    assert error_of("environments:\n  - dev\n") == \
        '/etc/almtui.yaml, line 2: environments[0]: must be a mapping, got "dev"'
    assert error_of("protected_namespaces: prod\n") == \
        '/etc/almtui.yaml, line 1: protected_namespaces: must be a list of namespace names, got "prod"'
    assert error_of("prometheus: [x]\n") == "/etc/almtui.yaml, line 1: prometheus: must be a mapping, got a list"
    assert error_of("prometheus: {discover: maybe}\n") == \
        '/etc/almtui.yaml, line 1: prometheus.discover: must be true or false, got "maybe"'
    assert error_of("prometheus: {services: monitoring/prometheus-k8s:9090}\n") == \
        '/etc/almtui.yaml, line 1: prometheus.services: must be a list of NAMESPACE/NAME:PORT, ' \
        'got "monitoring/prometheus-k8s:9090"'
    assert error_of("queries: [rate]\n") == "/etc/almtui.yaml, line 1: queries: must be a mapping, got a list"
    assert error_of("queries:\n  rate: 5\n") == \
        "/etc/almtui.yaml, line 2: queries.rate: must be a PromQL template, got 5"
    assert error_of("rate_limits:\n  burst: 2.5\n") == \
        "/etc/almtui.yaml, line 2: rate_limits.burst: must be a positive whole number, got 2.5"
    assert error_of("rate_limits: {burst: true}\n") == \
        "/etc/almtui.yaml, line 1: rate_limits.burst: must be a positive whole number, got true"
    assert error_of("keys: [p]\n") == "/etc/almtui.yaml, line 1: keys: must be a mapping, got a list"
    assert error_of("keys: {rollouts.promote: [p]}\n") == \
        '/etc/almtui.yaml, line 1: keys.rollouts.promote: must be a key such as "p" or "ctrl+p" ' \
        '(several: "p,ctrl+p"), got a list'


def test_bad_values() -> None:
    assert error_of("rate_limits:\n  qps: 0\n") == \
        "/etc/almtui.yaml, line 2: rate_limits.qps: must be a positive number, got 0"
    assert error_of("rate_limits: {timeout: -1}\n") == \
        "/etc/almtui.yaml, line 1: rate_limits.timeout: must be a positive number, got -1"
    assert error_of("rate_limits: {qps: .nan}\n") == \
        "/etc/almtui.yaml, line 1: rate_limits.qps: must be a positive number, got NaN"
    assert error_of("pending_after: -5\n") == \
        "/etc/almtui.yaml, line 1: pending_after: must be a number, 0 or more, got -5"
    assert parse("pending_after: 0\n").pending_after == 0.0
    assert error_of("theme: '  '\n") == '/etc/almtui.yaml, line 1: theme: must be a theme name, got "  "'
    assert error_of("protected_namespaces: [prod, Prod_1]\n") == \
        "/etc/almtui.yaml, line 1: protected_namespaces[1]: must be a namespace name (lowercase letters, " \
        'digits and \'-\'), got "Prod_1"'
    assert error_of("environments:\n  - {name: dev}\n") == \
        "/etc/almtui.yaml, line 2: environments[0].namespace: required"
    assert error_of("environments:\n  - {namespace: dev}\n") == \
        "/etc/almtui.yaml, line 2: environments[0].name: required"
    assert error_of("environments:\n  - {name: dev, namespace: dev, context: ''}\n") == \
        '/etc/almtui.yaml, line 2: environments[0].context: must be a kubeconfig context name, got ""'
    assert error_of("prometheus:\n  url: prometheus:9090\n") == \
        "/etc/almtui.yaml, line 2: prometheus.url: must be a URL (http:// or https://) or a path on the " \
        'API server, got "prometheus:9090"'
    assert error_of("prometheus:\n  step: fast\n") == \
        '/etc/almtui.yaml, line 2: prometheus.step: must be a duration such as 30s or 1m, got "fast"'
    assert error_of("prometheus:\n  step: 0s\n") == \
        '/etc/almtui.yaml, line 2: prometheus.step: must be a duration such as 30s or 1m, got "0s"'
    assert error_of("prometheus: {timeout: 0}\n") == \
        "/etc/almtui.yaml, line 1: prometheus.timeout: must be a positive number, got 0"
    assert error_of("keys: {app.quit: 'ctrl + q'}\n") == \
        '/etc/almtui.yaml, line 1: keys.app.quit: must be a key such as "p" or "ctrl+p" (several: "p,ctrl+p"), ' \
        'got "ctrl + q"'


@pytest.mark.parametrize(("service", "problem"), [
    ("prometheus-k8s:9090", "must look like NAMESPACE/NAME:PORT"),
    ("Monitoring/prom:9090", "'Monitoring' is not a valid namespace name"),
    ("monitoring/prom_k8s:9090", "'prom_k8s' is not a valid service name"),
    ("monitoring/prom:0", "port 0 is out of range 1-65535"),
    ("monitoring/prom:70000", "port 70000 is out of range 1-65535"),
    ("monitoring/prom:Web", "'Web' is neither a port number nor a port name"),
    ("monitoring/prom:9090:x", "must look like NAMESPACE/NAME:PORT"),
])
def test_bad_prometheus_services(service: str, problem: str) -> None:
    assert error_of(f"prometheus:\n  services:\n    - ok/fine:80\n    - {service}\n") == \
        f'/etc/almtui.yaml, line 4: prometheus.services[1]: {problem}, got "{service}"'


def test_query_templates_are_checked() -> None:
    assert error_of("queries:\n  rate: sum(rate(x{{app=\"{application}\"}}[{window}]))\n") == \
        "/etc/almtui.yaml, line 2: queries.rate: unknown placeholder {application}; use " + \
        ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    assert error_of("queries:\n  rate: 'sum(rate(x{app=\"{app}\"}[1m]))'\n") == \
        "/etc/almtui.yaml, line 2: queries.rate: bad template: unexpected '{' in field name; " \
        "write PromQL's own braces doubled ({{ and }})"
    assert error_of("queries:\n  rate: 'sum(rate(x{job=\"a\"}[1m]))'\n") == \
        "/etc/almtui.yaml, line 2: queries.rate: bad placeholder {job=\"a\"}; " \
        "write PromQL's own braces doubled ({{ and }})"
    assert error_of("queries:\n  rate: 'up{{app=\"{app!r}\"}}'\n") == \
        "/etc/almtui.yaml, line 2: queries.rate: bad placeholder {app!r}; " \
        "write PromQL's own braces doubled ({{ and }})"
    assert error_of("queries:\n  rate: 'up}'\n") == \
        "/etc/almtui.yaml, line 2: queries.rate: bad template: Single '}' encountered in format string; " \
        "write PromQL's own braces doubled ({{ and }})"
    assert error_of("queries:\n  rate: ''\n") == \
        '/etc/almtui.yaml, line 2: queries.rate: must be a PromQL template, got ""'


def test_shipped_templates_are_valid_and_complete() -> None:
    queries = default_queries()
    assert {"rate", "error_ratio", "p95", "rate_version", "error_ratio_version", "p95_version", "node_cpu",
            "node_memory", "hpa_replicas", "cpu_p50", "cpu_p95", "memory_p50", "memory_p95", "restarts",
            "pod_cpu", "pod_memory"} <= set(queries)
    for name, tpl in queries.items():
        assert template_problem(tpl) is None, name
        tpl.format_map(dict.fromkeys(PLACEHOLDERS, "x"))  # every placeholder known
    assert "kube_horizontalpodautoscaler_status_current_replicas" in queries["hpa_replicas"]
    assert "rollouts_pod_template_hash" in queries["rate_version"]
    assert "sum by (le)" in queries["p95"]


def test_prometheus_durations() -> None:
    assert prom_duration_seconds("30s") == 30
    assert prom_duration_seconds("1h30m") == 5400
    assert prom_duration_seconds("500ms") == 0.5
    assert prom_duration_seconds("2d") == 172800
    for bad in ("", "0s", "1.5m", "30", "m", "1m1h", "1m;drop", "30 s"):
        assert prom_duration_seconds(bad) is None, bad
