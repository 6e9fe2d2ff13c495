"""almtui's own settings: `$XDG_CONFIG_HOME/almtui/config.yaml`, strictly validated.

Why strict, with line numbers: a typo in a setting that guards production (a protected
namespace, read-only mode) must not be silently ignored. Every problem is one ConfigError whose
message names the file, the line and the field, never a traceback. The YAML is composed into
nodes (not just loaded) so that every value keeps its line.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import yaml

from almtui.cluster.textfile import read_text

ENV_VAR = "ALMTUI_CONFIG"
# Where the usual installs put Prometheus (upstream manifests and charts):
DEFAULT_SERVICES = (
    "monitoring/prometheus-k8s:9090",                         # kube-prometheus
    "monitoring/prometheus-operated:9090",                    # any prometheus-operator Prometheus
    "monitoring/kube-prometheus-stack-prometheus:9090",       # kube-prometheus-stack, release of the same name
    "monitoring/prometheus-kube-prometheus-prometheus:9090",  # kube-prometheus-stack, release "prometheus"
    "monitoring/prometheus-server:80",                        # the prometheus chart, release "prometheus"
)
PLACEHOLDERS = ("namespace", "app", "hash", "pods", "window", "step", "node", "hpa")

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_PORT_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SERVICE = re.compile(r"(?P<ns>[^/]+)/(?:(?P<scheme>https?):)?(?P<name>[^:]+)(?::(?P<port>[^:]*))?")
_PROM_DURATION = re.compile(r"(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?")
_DURATION_UNITS = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}


class ConfigError(Exception):
    """A bad config file; `str()` is the whole message: file, line, field and problem."""

    def __init__(self, message: str, *, path: str = "", line: int | None = None, field: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.field = field


# -- the settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Environment:
    """One stage of the promotion order, e.g. dev -> staging -> prod."""

    name: str
    namespace: str
    context: str | None = None  # kubeconfig context; None: the current one


@dataclass(frozen=True)
class ServiceRef:
    """A Service reached through the API server's proxy: `namespace/[scheme:]name[:port]`."""

    namespace: str
    name: str
    port: str = ""    # number or port name; "" = the Service's first port
    scheme: str = ""  # "", "http" or "https" (the Prometheus pod's own scheme)

    @property
    def proxy_name(self) -> str:
        """The `services/NAME` path segment (also the RBAC resource name of the proxy)."""
        head = f"{self.scheme}:" if self.scheme else ""
        return f"{head}{self.name}:{self.port}" if self.port else f"{head}{self.name}"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.proxy_name}"


@dataclass(frozen=True)
class PrometheusConfig:
    url: str | None = None
    discover: bool = True
    services: tuple[ServiceRef, ...] = field(default_factory=lambda: tuple(_service(s) for s in DEFAULT_SERVICES))
    step: str = "30s"
    timeout: float = 10.0


@dataclass(frozen=True)
class RateLimits:
    """Client-side throttling: `qps`/`burst` for everything a user or a screen causes (actions
    included), `sync_qps`/`sync_burst` only for the informers' LISTs and watches.

    Why two budgets: qps 5 / burst 10 are client-go's rest.Config defaults (DefaultQPS = 5.0,
    DefaultBurst = 10 in k8s.io/client-go/rest/config.go), right for a steady trickle of
    requests. A cold start is a burst of paged LISTs (31 at 5,000 pods) that the small bucket
    stretches to seconds of waiting. kubectl does the same for its own start-up burst, discovery:
    `genericclioptions.NewConfigFlags(true).WithDeprecatedPasswordFlag().WithDiscoveryBurst(300)
    .WithDiscoveryQPS(50.0)` (k8s.io/kubectl/pkg/cmd/cmd.go), while its other requests keep
    client-go's 5/10; `NewConfigFlags` itself defaults the discovery burst to 100
    (k8s.io/cli-runtime/pkg/genericclioptions/config_flags.go). Hence 50 / 100 here.
    """

    qps: float = 5.0
    burst: int = 10
    timeout: float = 10.0
    sync_qps: float = 50.0   # never below qps (the connection takes the larger)
    sync_burst: int = 100    # never below burst


def _ro(d: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return MappingProxyType(dict(d or {}))


@dataclass(frozen=True)
class Config:
    """All settings, defaults filled in. `queries` holds every template (defaults + overrides)."""

    read_only: bool = False
    theme: str = "almtui-dark"
    environments: tuple[Environment, ...] = ()
    protected_namespaces: frozenset[str] = frozenset()
    prometheus: PrometheusConfig = field(default_factory=PrometheusConfig)
    queries: Mapping[str, str] = field(default_factory=lambda: _ro(default_queries()))
    rate_limits: RateLimits = field(default_factory=RateLimits)
    pending_after: float = 120.0
    keys: Mapping[str, str] = field(default_factory=_ro)
    path: str | None = None  # the file read (None: no file, all defaults)

    def environment(self, name: str) -> Environment | None:
        return next((e for e in self.environments if e.name == name), None)

    def is_protected(self, namespace: str | None) -> bool:
        return namespace is not None and namespace in self.protected_namespaces


# -- helpers shared with the metrics service ----------------------------------------------------


def default_queries() -> dict[str, str]:
    """The PromQL templates shipped in almtui/cluster/queries.yaml (a fresh copy)."""
    return dict(_default_queries())


@functools.cache
def _default_queries() -> Mapping[str, str]:
    text = resources.files("almtui.cluster").joinpath("queries.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return MappingProxyType({str(k): " ".join(str(v).split()) for k, v in data.items()})


def prom_duration_seconds(value: str) -> float | None:
    """Seconds in a Prometheus duration ("30s", "1h30m", "500ms"); None if it is not one (or is 0)."""
    if not isinstance(value, str) or not value:
        return None
    m = _PROM_DURATION.fullmatch(value)
    if m is None:
        return None
    total = 0.0
    for part in m.groups():
        if part:
            unit = "ms" if part.endswith("ms") else part[-1]
            total += int(part[: -len(unit)]) * _DURATION_UNITS[unit]
    return total or None


def template_problem(template: str) -> str | None:
    """Why a query template cannot be used (None if it can)."""
    names = []
    try:
        for _, name, spec, conv in string.Formatter().parse(template):
            if name is None:
                continue
            if spec or conv or not name.isidentifier():
                return f"bad placeholder {{{name}{'!' + conv if conv else ''}{':' + spec if spec else ''}}}; " \
                       "write PromQL's own braces doubled ({{ and }})"
            names.append(name)
    except ValueError as e:
        return f"bad template: {e}; write PromQL's own braces doubled ({{{{ and }}}})"
    unknown = [n for n in names if n not in PLACEHOLDERS]
    if unknown:
        return f"unknown placeholder {{{unknown[0]}}}; use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
    return None


# -- locating the file --------------------------------------------------------------------------


def config_path(path: str | None = None) -> tuple[str, bool]:
    """(the file to read, whether the user named it). Named files must exist; the default may not."""
    if path:
        return os.path.expanduser(path), True
    env = os.environ.get(ENV_VAR)
    if env:
        return os.path.expanduser(env), True
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    base = xdg if os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "almtui", "config.yaml"), False


def _shown(path: str) -> str:
    home = os.path.expanduser("~")
    if home and home != "/" and (path == home or path.startswith(home + os.sep)):
        return "~" + path[len(home):]
    return path


def load_config(path: str | None = None) -> Config:
    """Read and validate the config file (explicit path, else $ALMTUI_CONFIG, else the XDG default).

    A missing default file means all defaults; a file named by the user must exist.
    """
    file, named = config_path(path)
    shown = _shown(file)
    try:
        text = read_text(file)  # never blocks forever on a pipe
    except FileNotFoundError:
        if named:
            raise ConfigError(f"{shown}: config file not found", path=file) from None
        return Config()
    except IsADirectoryError:
        raise ConfigError(f"{shown}: is a directory, not a config file", path=file) from None
    except PermissionError:
        raise ConfigError(f"{shown}: cannot read the config file: permission denied", path=file) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{shown}: the config file is not UTF-8 text", path=file) from None
    except OSError as e:
        raise ConfigError(f"{shown}: cannot read the config file: {e.strerror}", path=file) from None
    return parse_config(text, file)


def parse_config(text: str, path: str = "config.yaml") -> Config:
    """Validate config YAML text; `path` is only used in messages."""
    return _Parser(text, path).parse()


# -- validation ---------------------------------------------------------------------------------


def _service(text: str) -> ServiceRef:
    """Parse `namespace/[scheme:]name[:port]`; ValueError says what is wrong."""
    m = _SERVICE.fullmatch(text)
    if m is None:
        raise ValueError("must look like NAMESPACE/NAME:PORT")
    ns, name, port = m.group("ns"), m.group("name"), m.group("port") or ""
    if not _DNS_LABEL.fullmatch(ns) or len(ns) > 63:
        raise ValueError(f"{ns!r} is not a valid namespace name")
    if not _DNS_LABEL.fullmatch(name) or len(name) > 63:
        raise ValueError(f"{name!r} is not a valid service name")
    if port:
        if port.isdigit():
            if not 1 <= int(port) <= 65535:
                raise ValueError(f"port {port} is out of range 1-65535")
        elif not (_PORT_NAME.fullmatch(port) and len(port) <= 15 and re.search("[a-z]", port)):
            raise ValueError(f"{port!r} is neither a port number nor a port name")
    return ServiceRef(ns, name, port, m.group("scheme") or "")


def _got(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return json.dumps(str(value))


class _Parser:
    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.shown = _shown(path)
        self.loader: yaml.SafeLoader | None = None

    # -- errors and values ------------------------------------------------------------------

    def error(self, node: yaml.Node | None, where: str, problem: str) -> ConfigError:
        line = node.start_mark.line + 1 if node is not None else None
        head = f"{self.shown}, line {line}" if line else self.shown
        return ConfigError(f"{head}: {where}: {problem}" if where else f"{head}: {problem}",
                           path=self.path, line=line, field=where)

    def value(self, node: yaml.Node) -> Any:
        assert self.loader is not None
        return self.loader.construct_object(node, deep=True)

    def mapping(self, node: yaml.Node, where: str,
                allowed: tuple[str, ...] | None) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """{key: (key node, value node)}; unknown and duplicate keys are errors."""
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, where, f"must be a mapping, got {_got(self.value(node))}")
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for knode, vnode in node.value:
            key = self.value(knode)
            full = f"{where}.{key}" if where else str(key)
            if not isinstance(key, str):
                raise self.error(knode, full, "field names must be strings")
            if allowed is not None and key not in allowed:
                hint = difflib.get_close_matches(key, allowed, n=1)
                tip = f'; did you mean "{hint[0]}"?' if hint else f"; known fields: {', '.join(allowed)}"
                raise self.error(knode, full, f"unknown field{tip}")
            if key in out:
                first = out[key][0].start_mark.line + 1
                raise self.error(knode, full, f"set twice (first on line {first})")
            out[key] = (knode, vnode)
        return out

    def scalar(self, node: yaml.Node, where: str, check: Callable[[Any], bool], want: str) -> Any:
        v = self.value(node)
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode) or not check(v):
            raise self.error(node, where, f"must be {want}, got {_got(v)}")
        return v

    def boolean(self, node: yaml.Node, where: str) -> bool:
        return self.scalar(node, where, lambda v: isinstance(v, bool), "true or false")

    def text_value(self, node: yaml.Node, where: str, want: str = "a non-empty string") -> str:
        return self.scalar(node, where, lambda v: isinstance(v, str) and v.strip() != "", want)

    def number(self, node: yaml.Node, where: str, *, minimum_ok: bool = False) -> float:
        def ok(v: Any) -> bool:
            return isinstance(v, int | float) and not isinstance(v, bool) and v == v and v != float("inf") \
                and (v >= 0 if minimum_ok else v > 0)
        return float(self.scalar(node, where, ok, "a number, 0 or more" if minimum_ok else "a positive number"))

    def integer(self, node: yaml.Node, where: str) -> int:
        return int(self.scalar(node, where, lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
                               "a positive whole number"))

    def namespace(self, node: yaml.Node, where: str) -> str:
        return self.scalar(node, where, lambda v: isinstance(v, str) and len(v) <= 63 and bool(_DNS_LABEL.fullmatch(v)),
                           "a namespace name (lowercase letters, digits and '-')")

    def sequence(self, node: yaml.Node, where: str, want: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, where, f"must be {want}, got {_got(self.value(node))}")
        return list(node.value)

    # -- the document -----------------------------------------------------------------------

    def parse(self) -> Config:
        self.loader = yaml.SafeLoader(self.text)
        try:
            try:
                root = self.loader.get_single_node()
            except yaml.MarkedYAMLError as e:
                mark = e.problem_mark or e.context_mark
                line = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
                problem = e.problem or e.context or "malformed"
                raise ConfigError(f"{self.shown}{line}: not valid YAML: {problem}", path=self.path,
                                  line=mark.line + 1 if mark is not None else None) from None
            except yaml.YAMLError as e:
                raise ConfigError(f"{self.shown}: not valid YAML: {str(e).splitlines()[0]}", path=self.path) from None
            if root is None:
                return Config(path=self.path)
            if isinstance(root, yaml.ScalarNode) and self.value(root) is None:
                return Config(path=self.path)
            try:
                return self.config(root)
            except yaml.YAMLError as e:  # a scalar that cannot be constructed (e.g. a bad !!timestamp)
                mark = getattr(e, "problem_mark", None)
                raise ConfigError(f"{self.shown}" + (f", line {mark.line + 1}" if mark else "") +
                                  f": not valid YAML: {getattr(e, 'problem', None) or e}", path=self.path) from None
        finally:
            self.loader.dispose()

    def config(self, root: yaml.Node) -> Config:
        if not isinstance(root, yaml.MappingNode):
            raise self.error(root, "", f"the config must be a mapping of settings, got {_got(self.value(root))}")
        fields = self.mapping(root, "", ("read_only", "theme", "environments", "protected_namespaces", "prometheus",
                                         "queries", "rate_limits", "pending_after", "keys"))
        kw: dict[str, Any] = {"path": self.path}
        for key, (_, node) in fields.items():
            if self.value(node) is None:
                continue  # `key:` with no value keeps the default
            if key == "read_only":
                kw[key] = self.boolean(node, key)
            elif key == "theme":
                kw[key] = self.text_value(node, key, "a theme name").strip()
            elif key == "environments":
                kw[key] = self.environments(node)
            elif key == "protected_namespaces":
                items = self.sequence(node, key, "a list of namespace names")
                kw[key] = frozenset(self.namespace(n, f"{key}[{i}]") for i, n in enumerate(items))
            elif key == "prometheus":
                kw[key] = self.prometheus(node)
            elif key == "queries":
                kw[key] = self.queries(node)
            elif key == "rate_limits":
                kw[key] = self.rate_limits(node)
            elif key == "pending_after":
                kw[key] = self.number(node, key, minimum_ok=True)
            elif key == "keys":
                kw[key] = self.keys(node)
        return Config(**kw)

    def environments(self, node: yaml.Node) -> tuple[Environment, ...]:
        out: list[Environment] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(self.sequence(node, "environments", "a list of {name, namespace, context}")):
            where = f"environments[{i}]"
            f = self.mapping(item, where, ("name", "namespace", "context"))
            for req in ("name", "namespace"):
                if req not in f:
                    raise self.error(item, f"{where}.{req}", "required")
            name = self.text_value(f["name"][1], f"{where}.name", "an environment name").strip()
            if name in seen:
                raise self.error(f["name"][1], f"{where}.name", f'environment "{name}" is defined twice '
                                                                f"(first on line {seen[name]})")
            seen[name] = f["name"][1].start_mark.line + 1
            namespace = self.namespace(f["namespace"][1], f"{where}.namespace")
            context = None
            if "context" in f and self.value(f["context"][1]) is not None:
                context = self.text_value(f["context"][1], f"{where}.context", "a kubeconfig context name")
            out.append(Environment(name, namespace, context))
        return tuple(out)

    def prometheus(self, node: yaml.Node) -> PrometheusConfig:
        f = self.mapping(node, "prometheus", ("url", "discover", "services", "step", "timeout"))
        kw: dict[str, Any] = {}
        for key, (_, vnode) in f.items():
            where = f"prometheus.{key}"
            if self.value(vnode) is None:
                continue
            if key == "url":
                url = self.text_value(vnode, where, "a URL (http:// or https://) or a path on the API server")
                if not url.startswith("/"):
                    parts = urlsplit(url)
                    if parts.scheme not in ("http", "https") or not parts.netloc:
                        raise self.error(vnode, where, f"must be a URL (http:// or https://) or a path on the "
                                                       f"API server, got {_got(url)}")
                kw[key] = url.rstrip("/")
            elif key == "discover":
                kw[key] = self.boolean(vnode, where)
            elif key == "services":
                refs = []
                for i, s in enumerate(self.sequence(vnode, where, "a list of NAMESPACE/NAME:PORT")):
                    text = self.text_value(s, f"{where}[{i}]", "NAMESPACE/NAME:PORT")
                    try:
                        refs.append(_service(text.strip()))
                    except ValueError as e:
                        raise self.error(s, f"{where}[{i}]", f"{e}, got {_got(text)}") from None
                kw[key] = tuple(refs)
            elif key == "step":
                v = self.value(vnode)
                if isinstance(v, int) and not isinstance(v, bool) and v > 0:
                    kw[key] = f"{v}s"
                elif isinstance(v, str) and prom_duration_seconds(v.strip()):
                    kw[key] = v.strip()
                else:
                    raise self.error(vnode, where, f"must be a duration such as 30s or 1m, got {_got(v)}")
            elif key == "timeout":
                kw[key] = self.number(vnode, where)
        return PrometheusConfig(**kw)

    def queries(self, node: yaml.Node) -> Mapping[str, str]:
        merged = default_queries()
        names = tuple(merged)
        for key, (_, vnode) in self.mapping(node, "queries", names).items():
            where = f"queries.{key}"
            tpl = self.text_value(vnode, where, "a PromQL template").strip()
            problem = template_problem(tpl)
            if problem:
                raise self.error(vnode, where, problem)
            merged[key] = tpl
        return _ro(merged)

    def rate_limits(self, node: yaml.Node) -> RateLimits:
        f = self.mapping(node, "rate_limits", ("qps", "burst", "timeout", "sync_qps", "sync_burst"))
        kw: dict[str, Any] = {}
        for key, (_, vnode) in f.items():
            if self.value(vnode) is None:
                continue
            where = f"rate_limits.{key}"
            kw[key] = self.integer(vnode, where) if key.endswith("burst") else self.number(vnode, where)
        # the sync budget is the larger one: a smaller value set next to the steady one is a mistake
        for sync, steady in (("sync_qps", "qps"), ("sync_burst", "burst")):
            if sync in kw and kw[sync] < kw.get(steady, getattr(RateLimits, steady)):
                limit = kw.get(steady, getattr(RateLimits, steady))
                raise self.error(f[sync][1], f"rate_limits.{sync}", f"must be at least rate_limits.{steady} "
                                                                    f"({limit:g}), got {_got(self.value(f[sync][1]))}")
        return RateLimits(**kw)

    def keys(self, node: yaml.Node) -> Mapping[str, str]:
        out: dict[str, str] = {}
        for key, (_, vnode) in self.mapping(node, "keys", None).items():
            where = f"keys.{key}"
            v = self.value(vnode)
            if not isinstance(v, str | int) or isinstance(v, bool) or not str(v).strip() or \
                    any(c.isspace() for c in str(v)):
                raise self.error(vnode, where, f'must be a key such as "p" or "ctrl+p" (several: "p,ctrl+p"), '
                                               f"got {_got(v)}")
            out[key] = str(v)
        return _ro(out)
