"""Kubeconfig loading with kubectl's merge rules and clear errors; ApiClients from the official loaders.

Why our own merge: errors must name the file and the field (never a traceback for bad input),
and relative paths must resolve against the file that set them, which is what kubectl does.
The chosen context is then handed to the official client's `KubeConfigLoader` as a minimal,
single-context config (TLS, CA and client certificates as the client implements them). Two
things are done here instead: token files are read and stripped, and exec credential plugins
are run without a terminal (the client's ExecProvider hands them the TTY's stdin/stderr, which
breaks inside a full-screen UI) and re-run shortly before their token expires or after a 401.
Nothing here logs or reprs a credential.
"""

from __future__ import annotations

import base64
import datetime
import json
import logging
import os
import subprocess
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import urllib3
import yaml
from kubernetes.client import ApiClient, Configuration
from kubernetes.config.incluster_config import InClusterConfigLoader
from kubernetes.config.kube_config import KubeConfigLoader

from almtui import __version__
from almtui.cluster.textfile import read_text

AuthKind = Literal["token", "client-cert", "exec", "auth-provider", "basic", "none"]

DEFAULT_PATH = "~/.kube/config"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
IN_CLUSTER = "in-cluster"
# Connections: informers hold one pooled connection per watch; keep headroom for requests.
POOL_SIZE = 40
EXEC_TIMEOUT = 60.0
EXPIRY_SKEW = 10.0  # refresh exec credentials this many seconds before they expire

log = logging.getLogger(__name__)

_SECTIONS = {"clusters": "cluster", "users": "user", "contexts": "context"}
# Fields holding file paths, resolved against the directory of the file that set them (as kubectl does).
_PATH_FIELDS = {"clusters": ("certificate-authority",),
                "users": ("client-certificate", "client-key", "tokenFile")}


class ConfigError(Exception):
    """Bad or missing kubeconfig; the message names the file and the field."""


@dataclass(frozen=True)
class ContextInfo:
    """What the UI may show about a context. Holds no credentials."""

    name: str
    cluster: str
    user: str
    namespace: str = "default"
    server: str = ""
    insecure_skip_tls_verify: bool = False
    auth: AuthKind = "none"
    source: str = ""  # the file that defined the context ("" in-cluster)


@dataclass
class _Entry:
    name: str
    body: dict[str, Any]
    source: str


@dataclass
class KubeConfig:
    """Merged kubeconfig: the contexts, the current one, and ApiClient factories."""

    paths: list[str]
    contexts: list[ContextInfo]
    current: ContextInfo | None
    in_cluster: bool = False
    _clusters: dict[str, _Entry] = field(default_factory=dict, repr=False)
    _users: dict[str, _Entry] = field(default_factory=dict, repr=False)
    _contexts: dict[str, _Entry] = field(default_factory=dict, repr=False)

    def context(self, name: str | None = None) -> ContextInfo:
        """The named context (default: the current one)."""
        if name is None:
            if self.current is None:
                raise ConfigError(f"no current-context is set in {self._files()}; choose one of: "
                                  f"{', '.join(c.name for c in self.contexts) or '(none)'}")
            return self.current
        for c in self.contexts:
            if c.name == name:
                return c
        raise ConfigError(f"context {name!r} not found in {self._files()}; available: "
                          f"{', '.join(c.name for c in self.contexts) or '(none)'}")

    def api_client(self, context_name: str | None = None) -> ApiClient:
        """A new ApiClient for the context: TLS verified unless insecure-skip-tls-verify, debug off."""
        info = self.context(context_name)
        client = ApiClient(configuration=self._configuration(info))
        client.user_agent = f"almtui/{__version__} (kubernetes-python)"
        return client

    def refresh_credentials(self, context_name: str, api_client: ApiClient) -> bool:
        """Re-read the kubeconfig files and re-run exec plugins; True if the credentials changed.

        Called after a 401: the user may have logged in again, or the plugin may now return a
        new token. Client certificates of a live ApiClient are not replaced.
        """
        try:
            fresh = load_kubeconfig(self.paths or None, context_name) if not self.in_cluster else self
            cfg = fresh._configuration(fresh.context(context_name))
        except ConfigError:
            return False
        target = api_client.configuration
        changed = target.api_key != cfg.api_key
        target.api_key = dict(cfg.api_key)
        target.api_key_prefix = dict(cfg.api_key_prefix)
        target.refresh_api_key_hook = cfg.refresh_api_key_hook
        return changed

    # -- internals ------------------------------------------------------------------------------

    def _files(self) -> str:
        return ", ".join(self.paths) if self.paths else "the in-cluster configuration"

    def _configuration(self, info: ContextInfo) -> Configuration:
        cfg = Configuration()
        if self.in_cluster:
            loader = InClusterConfigLoader(os.path.join(SA_DIR, "token"), os.path.join(SA_DIR, "ca.crt"))
            try:
                loader.load_and_set(cfg)
            except Exception as e:
                raise ConfigError(f"in-cluster configuration: {e}") from None
        else:
            minimal, expiry = self._minimal(info, credentials=True)
            try:
                KubeConfigLoader(minimal, active_context=info.name, config_base_path="").load_and_set(cfg)
            except Exception as e:
                raise ConfigError(f"context {info.name!r} (in {info.source}): {e}") from None
            # Tokens are static strings, or exec tokens we refresh ourselves (before expiry, or on 401);
            # auth-provider tokens keep the loader's own refresh.
            if expiry is not None:
                cfg.refresh_api_key_hook = self._exec_refresher(info, expiry)
            elif info.auth != "auth-provider":
                cfg.refresh_api_key_hook = None
        _harden(cfg)
        return cfg

    def _exec_refresher(self, info: ContextInfo, expiry: float) -> Callable[[Configuration], None]:
        """A refresh hook (run before every request) that re-runs the exec plugin shortly before expiry."""
        lock = threading.Lock()
        state = {"expiry": expiry}

        def refresh(cfg: Configuration) -> None:
            if time.time() < state["expiry"] - EXPIRY_SKEW:
                return
            with lock:
                if time.time() < state["expiry"] - EXPIRY_SKEW:
                    return
                try:
                    minimal, new_expiry = self._minimal(info, credentials=True)
                except ConfigError as e:
                    log.warning("%s", e)
                    state["expiry"] = time.time() + EXPIRY_SKEW + 30  # try again in 30 s, not on every request
                    return
                token = minimal["users"][0]["user"].get("token")
                if token:
                    cfg.api_key["BearerToken"] = f"Bearer {token}"
                state["expiry"] = new_expiry if new_expiry is not None else float("inf")
        return refresh

    def _minimal(self, info: ContextInfo, *, credentials: bool) -> tuple[dict[str, Any], float | None]:
        """A one-context config for KubeConfigLoader, and the expiry of an exec credential.

        With credentials, token files are read (and stripped) and exec plugins are run here,
        non-interactively: the official ExecProvider hands a plugin the terminal's stdin and
        stderr when stdout looks like a TTY, which it does inside a full-screen UI.
        """
        ctx = self._contexts[info.name]
        cluster_name = ctx.body.get("cluster")
        if not cluster_name:
            raise ConfigError(f"context {info.name!r} (in {ctx.source}) has no cluster")
        cluster = self._clusters.get(cluster_name)
        if cluster is None:
            raise ConfigError(f"context {info.name!r} (in {ctx.source}): cluster {cluster_name!r} is not defined "
                              f"in {self._files()}")
        if not cluster.body.get("server"):
            raise ConfigError(f"cluster {cluster_name!r} (in {cluster.source}) has no server")
        cbody = dict(cluster.body)
        if "insecure-skip-tls-verify" in cbody:  # "false" as a string must not disable verification
            cbody["insecure-skip-tls-verify"] = _truthy(cbody["insecure-skip-tls-verify"])
        out: dict[str, Any] = {
            "clusters": [{"name": cluster_name, "cluster": cbody}],
            "contexts": [{"name": info.name, "context": dict(ctx.body)}],
            "current-context": info.name,
        }
        expiry: float | None = None
        user_name = ctx.body.get("user")
        if user_name:
            user = self._users.get(user_name)
            if user is None:
                raise ConfigError(f"context {info.name!r} (in {ctx.source}): user {user_name!r} is not defined "
                                  f"in {self._files()}")
            body = dict(user.body)
            where = f"user {user_name!r} (in {user.source})"
            if body.get("tokenFile") and not body.get("token"):
                try:
                    body["token"] = Path(body.pop("tokenFile")).read_text().strip()
                except OSError as e:
                    raise ConfigError(f"{where}: tokenFile: {e.strerror}: {e.filename}") from None
            exe = body.get("exec")
            if exe is not None and not body.get("token") and credentials:
                if not isinstance(exe, dict):
                    raise ConfigError(f"{where}: exec must be a mapping")
                status = run_exec_plugin(exe, cbody, where)
                del body["exec"]
                if status.get("token"):
                    body["token"] = str(status["token"])
                else:
                    for src, dst in (("clientCertificateData", "client-certificate-data"),
                                     ("clientKeyData", "client-key-data")):
                        body[dst] = base64.b64encode(str(status[src]).encode()).decode()
                expiry = _parse_time(status.get("expirationTimestamp"))
            out["users"] = [{"name": user_name, "user": body}]
        return out, expiry


def _parse_time(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


_EXEC_CLUSTER_FIELDS = {"server": "server", "tls-server-name": "tlsServerName",
                        "insecure-skip-tls-verify": "insecureSkipTLSVerify",
                        "certificate-authority-data": "certificateAuthorityData", "proxy-url": "proxyURL"}


def run_exec_plugin(exe: dict[str, Any], cluster: dict[str, Any], where: str) -> dict[str, Any]:
    """Run a client-go credential plugin without a terminal; return its ExecCredential status."""
    api_version, command = exe.get("apiVersion"), exe.get("command")
    if not command or not api_version:
        raise ConfigError(f"{where}: exec needs both command and apiVersion")
    args = [str(command), *(str(a) for a in exe.get("args") or [])]
    env = dict(os.environ)
    for item in exe.get("env") or []:
        if isinstance(item, dict) and "name" in item:
            env[str(item["name"])] = str(item.get("value", ""))
    spec: dict[str, Any] = {"interactive": False}
    if exe.get("provideClusterInfo"):
        spec["cluster"] = {out: cluster[key] for key, out in _EXEC_CLUSTER_FIELDS.items() if key in cluster}
    env["KUBERNETES_EXEC_INFO"] = json.dumps({"apiVersion": api_version, "kind": "ExecCredential", "spec": spec})
    shown = f"exec credential plugin {command!r}"
    try:
        proc = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env,
                              timeout=EXEC_TIMEOUT, check=False)
    except FileNotFoundError:
        raise ConfigError(f"{where}: {shown} not found") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"{where}: {shown} did not finish within {EXEC_TIMEOUT:g}s") from None
    except OSError as e:
        raise ConfigError(f"{where}: {shown} cannot run: {e.strerror}") from None
    if proc.returncode != 0:
        err = " ".join(proc.stderr.split())[:300]
        raise ConfigError(f"{where}: {shown} failed with exit status {proc.returncode}" + (f": {err}" if err else ""))
    try:
        cred = json.loads(proc.stdout)
    except ValueError:
        raise ConfigError(f"{where}: {shown} printed no valid ExecCredential JSON") from None
    status = cred.get("status") if isinstance(cred, dict) else None
    if not isinstance(status, dict) or cred.get("kind") != "ExecCredential":
        raise ConfigError(f"{where}: {shown} printed no ExecCredential with a status")
    if cred.get("apiVersion") != api_version:
        raise ConfigError(f"{where}: {shown} answered apiVersion {cred.get('apiVersion')!r}, expected {api_version!r}")
    if not status.get("token") and not (status.get("clientCertificateData") and status.get("clientKeyData")):
        raise ConfigError(f"{where}: {shown} returned neither a token nor a client certificate and key")
    return status


def _harden(cfg: Configuration) -> None:
    """Settings we insist on whatever the kubeconfig says."""
    cfg.debug = False  # the client's debug mode prints headers (bearer tokens) and bodies
    cfg.connection_pool_maxsize = max(cfg.connection_pool_maxsize or 0, POOL_SIZE)
    # no retries inside urllib3 (they log a warning each): the Connection retries what is safe to retry
    # and honours Retry-After, because it knows which requests are idempotent
    cfg.retries = urllib3.Retry(total=0, redirect=0, respect_retry_after_header=False, raise_on_status=False)
    cfg.keep_alive = True  # TCP keepalive: notice a dead edge link under an idle watch
    if not cfg.verify_ssl:
        # the choice is the user's and ContextInfo reports it; a warning per request would wreck the screen
        warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)


# -- loading ------------------------------------------------------------------------------------


def _read(path: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(read_text(path))  # never blocks forever on a pipe
    except FileNotFoundError:
        raise ConfigError(f"kubeconfig file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"kubeconfig path is a directory, not a file: {path}") from None
    except PermissionError:
        raise ConfigError(f"cannot read kubeconfig {path}: permission denied") from None
    except UnicodeDecodeError:
        raise ConfigError(f"kubeconfig {path} is not UTF-8 text") from None
    except OSError as e:
        raise ConfigError(f"cannot read kubeconfig {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"kubeconfig {path} is not valid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"kubeconfig {path} is not a kubeconfig: expected a mapping at the top, "
                          f"found a {type(data).__name__}")
    return data


def _entries(path: str, data: dict[str, Any], section: str) -> Iterator[_Entry]:
    items = data.get(section)
    if items is None:
        return
    if not isinstance(items, list):
        raise ConfigError(f"kubeconfig {path}: {section} must be a list")
    inner = _SECTIONS[section]
    base = os.path.dirname(os.path.abspath(path))
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ConfigError(f"kubeconfig {path}: {section}[{i}] must be a mapping")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"kubeconfig {path}: {section}[{i}] has no name")
        body = item.get(inner) or {}
        if not isinstance(body, dict):
            raise ConfigError(f"kubeconfig {path}: {section}[{i}] ({name!r}): {inner} must be a mapping")
        body = dict(body)
        for key in _PATH_FIELDS.get(section, ()):
            value = body.get(key)
            if isinstance(value, str) and value and not os.path.isabs(value):
                body[key] = os.path.join(base, os.path.expanduser(value))
        exe = body.get("exec")
        if isinstance(exe, dict):
            cmd = exe.get("command")
            if isinstance(cmd, str) and os.sep in cmd and not os.path.isabs(cmd):
                body["exec"] = {**exe, "command": os.path.join(base, cmd)}
        yield _Entry(name, body, path)


def _auth_kind(user: dict[str, Any] | None) -> AuthKind:
    if not user:
        return "none"
    if user.get("exec"):
        return "exec"
    if user.get("auth-provider"):
        return "auth-provider"
    if user.get("token") or user.get("tokenFile"):
        return "token"
    if user.get("client-certificate") or user.get("client-certificate-data"):
        return "client-cert"
    if user.get("username"):
        return "basic"
    return "none"


def _candidate_paths() -> list[str]:
    """$KUBECONFIG entries that exist (kubectl skips missing ones), else ~/.kube/config if it exists."""
    env = os.environ.get("KUBECONFIG")
    if env:
        listed = [os.path.expanduser(p) for p in env.split(os.pathsep) if p]
        return [p for p in listed if os.path.exists(p)]
    default = os.path.expanduser(DEFAULT_PATH)
    return [default] if os.path.exists(default) else []


def load_kubeconfig(paths: list[str] | None = None, context: str | None = None) -> KubeConfig:
    """Load and merge kubeconfig files (default: $KUBECONFIG, else ~/.kube/config, else in-cluster).

    Merge rules are kubectl's: the first file to define a cluster, user or context name wins;
    current-context comes from the first file that sets one. `context` overrides the current
    context, and the selected context is checked now so mistakes surface at startup.
    """
    if paths is None:
        paths = _candidate_paths()
        if not paths:
            if os.environ.get("KUBERNETES_SERVICE_HOST"):
                return _in_cluster(context)
            env = os.environ.get("KUBECONFIG")
            where = f"none of the files in KUBECONFIG ({env}) exist" if env else \
                f"{os.path.expanduser(DEFAULT_PATH)} does not exist and KUBECONFIG is not set"
            raise ConfigError(f"no kubeconfig found: {where} (and not running inside a cluster)")
    paths = [os.path.expanduser(p) for p in paths]
    maps: dict[str, dict[str, _Entry]] = {s: {} for s in _SECTIONS}
    current, current_src = "", ""
    for path in paths:
        data = _read(path)
        for section in _SECTIONS:
            for entry in _entries(path, data, section):
                maps[section].setdefault(entry.name, entry)
        cc = data.get("current-context")
        if cc and not current:
            if not isinstance(cc, str):
                raise ConfigError(f"kubeconfig {path}: current-context must be a string")
            current, current_src = cc, path
    infos = [_context_info(e, maps) for e in maps["contexts"].values()]
    kc = KubeConfig(paths=paths, contexts=infos, current=None, _clusters=maps["clusters"],
                    _users=maps["users"], _contexts=maps["contexts"])
    if context is not None:
        kc.current = kc.context(context)
    elif current:
        if current not in maps["contexts"]:
            raise ConfigError(f"current-context {current!r} (set in {current_src}) is not defined; available: "
                              f"{', '.join(maps['contexts']) or '(none)'}")
        kc.current = kc.context(current)
    elif len(infos) == 1:
        kc.current = infos[0]
    if kc.current is not None:
        kc._minimal(kc.current, credentials=False)  # check cluster, server and user references now
    return kc


def _context_info(entry: _Entry, maps: dict[str, dict[str, _Entry]]) -> ContextInfo:
    body = entry.body
    cluster_name = str(body.get("cluster") or "")
    user_name = str(body.get("user") or "")
    cluster = maps["clusters"].get(cluster_name)
    user = maps["users"].get(user_name)
    cbody = cluster.body if cluster else {}
    return ContextInfo(name=entry.name, cluster=cluster_name, user=user_name,
                       namespace=str(body.get("namespace") or "default"),
                       server=str(cbody.get("server") or ""),
                       insecure_skip_tls_verify=_truthy(cbody.get("insecure-skip-tls-verify")),
                       auth=_auth_kind(user.body if user else None), source=entry.source)


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _in_cluster(context: str | None) -> KubeConfig:
    host = os.environ.get("KUBERNETES_SERVICE_HOST", "")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if context not in (None, IN_CLUSTER):
        raise ConfigError(f"context {context!r} not found: no kubeconfig file, only the in-cluster configuration")
    shown = f"[{host}]" if ":" in host else host
    try:
        namespace = Path(SA_DIR, "namespace").read_text().strip() or "default"
    except OSError:
        namespace = "default"
    info = ContextInfo(name=IN_CLUSTER, cluster=IN_CLUSTER, user="service-account", namespace=namespace,
                       server=f"https://{shown}:{port}", auth="token")
    return KubeConfig(paths=[], contexts=[info], current=info, in_cluster=True)
