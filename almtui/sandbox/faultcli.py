"""`almtui sandbox fault`: inject a fault into a running sandbox through its admin endpoint.

The kubeconfig written by `almtui sandbox` says where the sandbox is (server URL, CA) and
holds the operator's token, which the admin endpoint requires. Every failure is one clear
line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import base64
import json
import ssl
import sys
import urllib.error
import urllib.request
from typing import Any

import yaml

ADMIN_PATH = "/admin/faults"
TIMEOUT = 10.0


class CliError(Exception):
    """A failure to report on one line."""


def load_target(path: str) -> tuple[str, ssl.SSLContext, str]:
    """(server URL, TLS context trusting the kubeconfig's CA, bearer token) of the current context."""
    try:
        with open(path, encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
    except OSError as e:
        raise CliError(f"cannot read kubeconfig {path}: {e.strerror}") from None
    except yaml.YAMLError:
        raise CliError(f"kubeconfig {path} is not valid YAML") from None
    if not isinstance(cfg, dict):
        raise CliError(f"kubeconfig {path} is not a kubeconfig")
    current = cfg.get("current-context")
    ctx = _named(cfg.get("contexts"), current, "context") if current else None
    if ctx is None:
        raise CliError(f"kubeconfig {path} has no current context")
    cluster = _named(cfg.get("clusters"), ctx.get("cluster"), "cluster")
    user = _named(cfg.get("users"), ctx.get("user"), "user")
    if cluster is None or not cluster.get("server"):
        raise CliError(f"kubeconfig {path}: context {current!r} names no cluster with a server")
    token = (user or {}).get("token")
    if not token:
        raise CliError(f"kubeconfig {path}: context {current!r} has no bearer token")
    server = str(cluster["server"]).rstrip("/")
    tls = ssl.create_default_context()
    if cluster.get("certificate-authority-data"):
        try:
            tls = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        except (ValueError, ssl.SSLError):
            raise CliError(f"kubeconfig {path}: certificate-authority-data is not a PEM certificate") from None
    elif cluster.get("certificate-authority"):
        try:
            tls = ssl.create_default_context(cafile=cluster["certificate-authority"])
        except (OSError, ssl.SSLError) as e:
            raise CliError(f"kubeconfig {path}: cannot load {cluster['certificate-authority']}: {e}") from None
    return server, tls, str(token)


def _named(items: Any, name: Any, field: str) -> dict | None:
    for item in items or ():
        if isinstance(item, dict) and item.get("name") == name and isinstance(item.get(field), dict):
            return item[field]
    return None


def request(server: str, tls: ssl.SSLContext, token: str, method: str, body: dict | None = None) -> dict:
    """One call to the admin endpoint; CliError with the server's message on failure."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(server + ADMIN_PATH, data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                                          "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT, context=tls) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        try:
            message = json.loads(e.read()).get("message") or e.reason
        except (ValueError, AttributeError):
            message = e.reason
        if e.code == 404:
            raise CliError(f"{server} does not offer fault injection (is it an almtui sandbox?)") from None
        raise CliError(f"{server}: {message}") from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, ssl.SSLError):
            raise CliError(f"{server}: TLS failed ({reason.reason or reason}); is the kubeconfig current?") from None
        text = getattr(reason, "strerror", None) or str(reason)
        raise CliError(f"no sandbox answers at {server} ({text})") from None
    except (TimeoutError, OSError) as e:
        raise CliError(f"no sandbox answers at {server} ({e})") from None
    except ValueError:
        raise CliError(f"{server} answered with something that is not JSON") from None


def describe(fault: dict) -> str:
    extra = []
    if fault.get("rate") is not None:
        unit = "s" if fault.get("kind") == "latency" else ""
        extra.append(f"{'delay' if unit else 'rate'} {fault['rate']:g}{unit}")
    if fault.get("resource"):
        extra.append(f"resource {fault['resource']}")
    if fault.get("node"):
        extra.append(f"node {fault['node']}")
    tail = f" ({', '.join(extra)})" if extra else ""
    return f"fault {fault.get('kind')} active for {fault.get('duration', 0):g}s{tail}"


def run_fault(args: Any) -> int:
    """Entry point for `almtui sandbox fault`; returns the exit status."""
    try:
        server, tls, token = load_target(args.fault_kubeconfig)
        if args.kind == "clear":
            cleared = request(server, tls, token, "DELETE").get("cleared") or []
            print(f"cleared: {', '.join(cleared)}" if cleared else "no faults were active", flush=True)
            return 0
        body: dict[str, Any] = {"kind": args.kind, "duration": args.duration}
        if getattr(args, "rate", None) is not None:
            body["rate"] = args.rate
        if getattr(args, "resource", None):
            body["resource"] = args.resource
        answer = request(server, tls, token, "POST", body)
        print(describe(answer.get("fault") or body), flush=True)
        return 0
    except CliError as e:
        print(f"almtui sandbox fault: {e}", file=sys.stderr)
        return 2
