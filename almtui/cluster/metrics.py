"""Metrics for the screens: RED per workload and per version, node and pod usage, HPA history.

Why this shape:
- Prometheus is usually reached through the API server's service proxy, with the kubeconfig's
  own credentials and CA, so nothing extra has to be exposed on an edge cluster. Discovery asks
  a SelfSubjectAccessReview before probing each candidate, so the reason we fall back can be
  told precisely ("no permission to proxy to ..."), not guessed from an error.
- Without Prometheus, usage comes from metrics.k8s.io; RED then says "not verified", never
  healthy: no data is not good news.
- Callers are UI worker threads on a thin link: nothing raises, answers are cached for a few
  seconds, identical concurrent questions share one request, and the templates one screen needs
  go to Prometheus as a single query (each tagged with a label), not one request per template.
- Probes and metrics.k8s.io calls use a side Connection with its own freshness tracker: a
  missing Prometheus (503 from the proxy) must not mark the cluster itself as stale.
"""

from __future__ import annotations

import ast
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import requests
from prometheus_api_client import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.util.retry import Retry

from almtui.cluster.config import Config, ServiceRef, prom_duration_seconds
from almtui.cluster.connection import ApiError, Connection, ConnectionLost
from almtui.cluster.freshness import FreshnessTracker
from almtui.kube.hashing import ALPHANUMS
from almtui.kube.quantities import parse_quantity

log = logging.getLogger(__name__)

Status = Literal["ok", "no-data", "error"]
Source = Literal["prometheus", "metrics-api", "none"]
NOT_VERIFIED = "not verified: no Prometheus"
TAG = "almtui_q"  # the label that tells the templates of one batched query apart
SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
METRICS_API = "/apis/metrics.k8s.io/v1beta1"
POOL_SIZE = 4


# -- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Discovery:
    """Where metrics come from, and why: `reason` says what was found or what failed."""

    source: Source
    reason: str
    url: str = ""      # Prometheus's base URL (no credentials in it)
    service: str = ""  # "monitoring/prometheus-k8s:9090"; "" for prometheus.url
    version: str = ""


@dataclass(frozen=True)
class RED:
    """Request rate (req/s), 5xx ratio (0..1) and p95 latency (s). Only status "ok" is verified."""

    rate: float | None
    error_ratio: float | None
    p95: float | None
    status: Status
    message: str = ""

    @property
    def verified(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class REDSeries:
    """RED over time for sparklines: one value per step from `start`; NaN where there is no sample."""

    rate: list[float]
    error_ratio: list[float]
    p95: list[float]
    status: Status
    message: str = ""
    start: float = 0.0  # epoch seconds of the first point
    step: float = 0.0   # seconds between points


@dataclass(frozen=True)
class NodeSeries:
    cpu: list[float]     # cores
    memory: list[float]  # bytes
    status: Status
    message: str = ""
    start: float = 0.0
    step: float = 0.0


@dataclass(frozen=True)
class Quantiles:
    """The busiest pod's CPU (cores) and memory (bytes) quantiles over a window, for right-sizing.

    Unpacks as (cpu_p50, cpu_p95, mem_p50, mem_p95).
    """

    cpu_p50: float | None
    cpu_p95: float | None
    mem_p50: float | None
    mem_p95: float | None
    status: Status
    message: str = ""

    def __iter__(self) -> Iterator[float | None]:
        return iter((self.cpu_p50, self.cpu_p95, self.mem_p50, self.mem_p95))


@dataclass(frozen=True)
class Value:
    value: float | None
    status: Status
    message: str = ""


class Usage(dict[str, tuple[float, int]]):
    """{node or pod: (cpu cores, memory bytes)}, plus where it came from and whether to trust it."""

    def __init__(self, items: dict[str, tuple[float, int]] | None = None, *, status: Status = "ok",
                 message: str = "", source: Source = "none") -> None:
        super().__init__(items or {})
        self.status: Status = status
        self.message = message
        self.source: Source = source


class History(list[int]):
    """Values over time (gaps left out), with a status."""

    def __init__(self, items: list[int] | None = None, *, status: Status = "ok", message: str = "") -> None:
        super().__init__(items or [])
        self.status: Status = status
        self.message = message


@dataclass
class _Answer:
    """One (batched) query's outcome: per template name, [(labels, value or [(t, value)])]."""

    ok: bool
    message: str = ""
    data: dict[str, list[tuple[dict[str, str], Any]]] = field(default_factory=dict)

    def first(self, name: str) -> float | None:
        rows = self.data.get(name) or []
        if not rows:
            return None
        v = rows[0][1]
        return None if v is None or math.isnan(v) else v


@dataclass(frozen=True)
class _Target:
    url: str
    cluster: bool  # send the kubeconfig's credentials and verify with its CA


# -- PromQL helpers -----------------------------------------------------------------------------


def promql_string(value: str) -> str:
    """Escape a value for use inside a double-quoted PromQL string (a label matcher)."""
    out = []
    for ch in value:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def _regex_literal(value: str) -> str:
    """A literal for an RE2 regex: every non-alphanumeric character escaped."""
    return "".join(ch if ch.isalnum() or ch == "_" else "\\" + ch for ch in value)


def pods_regex(app: str | None) -> str:
    """RE2 regex for a workload's pod names: NAME-HASH-XXXXX (Deployment, Rollout) or NAME-XXXXX."""
    if not app:
        return ".+"
    cls = f"[{ALPHANUMS}]"
    return f"{_regex_literal(app)}-({cls}{{1,10}}-)?{cls}{{5}}"


def _float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _http_problem(text: str) -> str:
    """Readable text for prometheus_api_client's "HTTP Status Code N (b'...')"."""
    m = re.match(r"HTTP Status Code (\d+) \((.*)\)\Z", text, re.S)
    if not m:
        return text[:300]
    code = int(m.group(1))
    detail = ""
    try:
        raw = ast.literal_eval(m.group(2))
        body = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    except (ValueError, SyntaxError):
        body = m.group(2)
    try:
        doc = json.loads(body)
        if isinstance(doc, dict):
            detail = str(doc.get("message") or doc.get("error") or "")
    except ValueError:
        detail = " ".join(body.split())
    detail = detail[:300]
    if code == 401:
        return "Prometheus: 401 Unauthorized: the credentials were not accepted"
    if code == 403:
        return f"Prometheus: 403 Forbidden: {detail}" if detail else "Prometheus: 403 Forbidden"
    if code in (502, 503, 504):
        return f"Prometheus unreachable ({code}): {detail}" if detail else f"Prometheus unreachable ({code})"
    if code in (400, 422):
        return f"query rejected by Prometheus: {detail}"
    return f"Prometheus answered {code}: {detail}" if detail else f"Prometheus answered {code}"


# -- the service --------------------------------------------------------------------------------


class MetricsService:
    """Thread-safe metrics for one cluster connection. No method raises for cluster or network trouble."""

    def __init__(self, conn: Connection, config: Config | None = None, *, ttl: float = 5.0,
                 rediscover_after: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.conn = conn
        self.config = config or Config()
        self.ttl = ttl
        self.rediscover_after = rediscover_after
        self.timeout = float(self.config.prometheus.timeout)
        self._clock = clock
        # probes and metrics.k8s.io: same client and rate limiter, but their own freshness
        self._api = Connection(conn.context, conn.api_client, timeout=self.timeout, max_retries=1,
                               freshness=FreshnessTracker())
        self._api.limiter = conn.limiter
        self._discover_lock = threading.Lock()
        self._discovery: Discovery | None = None
        self._discovered_at = 0.0
        self._target: _Target | None = None
        self._pool: list[PrometheusConnect] = []
        self._pool_lock = threading.Lock()
        self._cache: dict[tuple, tuple[float, Any]] = {}
        self._inflight: dict[tuple, threading.Event] = {}
        self._cache_lock = threading.Lock()

    # -- discovery --------------------------------------------------------------------------------

    @property
    def discovery(self) -> Discovery | None:
        """The last discovery outcome, without triggering one (None: not run yet)."""
        return self._discovery

    def discover(self, force: bool = False) -> Discovery:
        """Find Prometheus (once; retried after `rediscover_after` seconds while not found)."""
        with self._discover_lock:
            now = self._clock()
            d = self._discovery
            if d is not None and not force and (d.source == "prometheus"
                                                or now - self._discovered_at < self.rediscover_after):
                return d
            try:
                d, target = self._discover()
            except Exception as e:  # never let a surprise escape into a UI worker
                log.warning("metrics discovery failed: %s", type(e).__name__)
                d, target = Discovery("none", f"discovery failed: {type(e).__name__}: {e}"[:300]), None
            if target != self._target:
                self._drop_clients()
                with self._cache_lock:
                    self._cache.clear()
            self._target = target
            self._discovery, self._discovered_at = d, self._clock()
            log.info("metrics source: %s (%s)", d.source, d.reason)
            return d

    def _discover(self) -> tuple[Discovery, _Target | None]:
        pcfg = self.config.prometheus
        if pcfg.url:
            target = self._explicit_target(pcfg.url)
            self._target = target
            self._drop_clients()
            ans = self._query_now({"probe": "vector(1)"})
            if ans.ok:
                return Discovery("prometheus", f"prometheus.url {pcfg.url}", url=target.url), target
            reason = f"prometheus.url {pcfg.url}: {ans.message}"
        elif not pcfg.discover:
            reason = "Prometheus discovery is off (prometheus.discover: false)"
        else:
            denied: list[str] = []
            missing: list[str] = []
            other: list[str] = []
            for ref in pcfg.services:
                kind, detail = self._try_service(ref)
                if kind == "found":
                    host = self.conn.api_client.configuration.host.rstrip("/")
                    url = f"{host}/api/v1/namespaces/{quote(ref.namespace, safe='')}/services/" \
                          f"{quote(ref.proxy_name, safe=':')}/proxy"
                    return Discovery("prometheus", f"found {ref}" + (f" (Prometheus {detail})" if detail else ""),
                                     url=url, service=str(ref), version=detail), _Target(url, True)
                if kind == "offline":
                    return Discovery("none", f"API server unreachable: {detail}"), None
                if kind == "denied":
                    denied.append(f"{ref.namespace}/{ref.name}")
                elif kind == "missing":
                    missing.append(str(ref))
                else:
                    other.append(detail)
            parts = []  # the most telling first: refused, then failing, then absent
            if denied:
                parts.append(f"no permission to proxy to {', '.join(dict.fromkeys(denied))}")
            parts += other
            if missing:
                parts.append(f"not found: {', '.join(missing)}")
            reason = "; ".join(parts) or "no Prometheus services configured (prometheus.services)"
        try:
            self._api.request("GET", METRICS_API)
        except ApiError as e:
            why = "not served" if e.not_found or e.status == 503 else str(e)
            return Discovery("none", f"{reason}; metrics.k8s.io: {why}"), None
        except ConnectionLost as e:
            return Discovery("none", f"{reason}; metrics.k8s.io: {e}"), None
        return Discovery("metrics-api", reason), None

    def _try_service(self, ref: ServiceRef) -> tuple[str, str]:
        """("found", version) | ("denied"|"missing"|"other"|"offline", detail) for one candidate."""
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                  "spec": {"resourceAttributes": {"namespace": ref.namespace, "verb": "get", "resource": "services",
                                                  "subresource": "proxy", "name": ref.proxy_name}}}
        try:
            answer = self._api.request("POST", SSAR, body=review)
            if not (answer.get("status") or {}).get("allowed"):
                return "denied", ""
        except ApiError:
            pass  # reviews not available: the probe tells
        except ConnectionLost as e:
            return "offline", str(e)
        path = (f"/api/v1/namespaces/{quote(ref.namespace, safe='')}/services/{quote(ref.proxy_name, safe=':')}"
                "/proxy/api/v1/status/buildinfo")
        try:
            info = self._api.request("GET", path)
        except ApiError as e:
            if e.forbidden:
                return "denied", ""
            if e.not_found and e.body.get("kind") == "Status":
                return "missing", ""
            if e.status in (502, 503, 504):
                return "other", f"{ref} unreachable: {e.message}"
            return "other", f"{ref}: {e}"[:300]
        except ConnectionLost as e:
            return "offline", str(e)
        if not isinstance(info, dict) or info.get("status") != "success":
            return "other", f"{ref} does not answer like Prometheus"
        return "found", str((info.get("data") or {}).get("version") or "")

    def _explicit_target(self, url: str) -> _Target:
        """prometheus.url: a path on the API server, or a URL (credentials only for the API server's own host)."""
        host = self.conn.api_client.configuration.host.rstrip("/")
        if url.startswith("/"):
            return _Target(host + url.rstrip("/"), True)
        a, b = urlsplit(url), urlsplit(host)
        return _Target(url.rstrip("/"), (a.scheme, a.netloc) == (b.scheme, b.netloc))

    # -- Prometheus clients -------------------------------------------------------------------------

    def _new_client(self, target: _Target) -> PrometheusConnect:
        session = requests.Session()
        if target.cluster:
            cfg = self.conn.api_client.configuration
            session.trust_env = False  # as the official client: no proxy or CA bundle from the environment
            session.verify = (cfg.ssl_ca_cert or True) if cfg.verify_ssl else False
            if cfg.cert_file:
                session.cert = (cfg.cert_file, cfg.key_file) if cfg.key_file else cfg.cert_file
            if cfg.proxy:
                session.proxies = {"http": cfg.proxy, "https": cfg.proxy}
        return PrometheusConnect(url=target.url, headers={}, session=session, retry=Retry(total=0, redirect=0),
                                 timeout=(min(5.0, self.timeout), self.timeout), method="GET")  # type: ignore[arg-type]

    def _drop_clients(self) -> None:
        with self._pool_lock:
            pool, self._pool = self._pool, []
        for pc in pool:
            pc.close()

    def _headers(self, target: _Target) -> dict[str, str]:
        if not target.cluster:
            return {}
        # runs the configuration's refresh hook, so exec-plugin tokens are renewed before they expire
        token = self.conn.api_client.configuration.get_api_key_with_prefix("BearerToken")
        return {"Authorization": token} if token else {}

    def _with_client(self, fn: Callable[[PrometheusConnect], Any]) -> tuple[Any, str | None]:
        """(fn's answer, None) or (None, why it failed). Never raises."""
        target = self._target
        if target is None:
            return None, NOT_VERIFIED
        if not self.conn.limiter.acquire(timeout=self.timeout):
            return None, "not sent: client-side rate limit (rate_limits.qps)"
        with self._pool_lock:
            pc = self._pool.pop() if self._pool else None
        if pc is None or pc.url != target.url:
            pc = self._new_client(target)
        host = urlsplit(target.url).netloc
        try:
            pc.headers = self._headers(target)
            return fn(pc), None
        except PrometheusApiClientException as e:
            return None, _http_problem(str(e))
        except requests.exceptions.SSLError as e:
            m = re.search(r"certificate verify failed: ([^()\]'\"]+)", str(e))
            detail = f"certificate verify failed: {m.group(1).strip()}" if m else str(e)[-200:]
            return None, f"TLS: cannot verify Prometheus at {host}: {detail}"
        except requests.exceptions.ConnectTimeout:
            return None, f"timed out connecting to {host}"
        except requests.exceptions.ReadTimeout:
            return None, f"Prometheus did not answer within {self.timeout:g}s"
        except requests.exceptions.ConnectionError:
            return None, f"cannot connect to {host}"
        except ValueError:
            return None, "Prometheus's answer is not JSON"
        except (KeyError, TypeError, IndexError):
            return None, "unexpected answer from Prometheus"
        except Exception as e:
            return None, f"{type(e).__name__}: {e}"[:300]
        finally:
            pc.headers = {}
            with self._pool_lock:
                if len(self._pool) < POOL_SIZE and self._target == target:
                    self._pool.append(pc)
                    pc = None
            if pc is not None:
                pc.close()

    # -- queries ------------------------------------------------------------------------------------

    @staticmethod
    def _batch(named: dict[str, str]) -> str:
        if len(named) == 1:
            return next(iter(named.values()))
        return " or ".join(f'label_replace(({expr}), "{TAG}", "{name}", "", "")' for name, expr in named.items())

    @staticmethod
    def _split(named: dict[str, str], rows: list[dict], key: str) -> dict[str, list[tuple[dict[str, str], Any]]]:
        only = next(iter(named)) if len(named) == 1 else None
        out: dict[str, list[tuple[dict[str, str], Any]]] = {name: [] for name in named}
        for r in rows:
            labels = dict(r.get("metric") or {})
            name = only or labels.pop(TAG, None)
            if name not in out:
                continue
            raw = r.get(key)
            if key == "value":
                val: Any = _float(raw[1]) if raw else math.nan
            else:
                val = [(float(t), _float(v)) for t, v in raw or ()]
            out[name].append((labels, val))
        return out

    def _query_now(self, named: dict[str, str]) -> _Answer:
        expr = self._batch(named)
        params = {"timeout": f"{max(1, int(self.timeout))}s"}
        rows, err = self._with_client(lambda pc: pc.custom_query(expr, params=params))
        if err is not None:
            return _Answer(False, err)
        return _Answer(True, data=self._split(named, rows or [], "value"))

    def _instant(self, named: dict[str, str]) -> _Answer:
        return self._cached(("instant", self._batch(named)), lambda: self._query_now(named))

    def _range(self, named: dict[str, str], minutes: float, step: str) -> tuple[_Answer, float, float]:
        """(answer, start, step seconds): the grid is aligned on the step so cached answers line up."""
        step_s = prom_duration_seconds(step) or 30.0
        end = math.floor(time.time() / step_s) * step_s
        start = end - max(1.0, minutes * 60)
        expr = self._batch(named)

        def run() -> _Answer:
            rows, err = self._with_client(lambda pc: pc.custom_query_range(
                expr, start_time=datetime.fromtimestamp(start, UTC), end_time=datetime.fromtimestamp(end, UTC),
                step=step, params={"timeout": f"{max(1, int(self.timeout))}s"}))
            if err is not None:
                return _Answer(False, err)
            return _Answer(True, data=self._split(named, rows or [], "values"))
        return self._cached(("range", expr, start, end, step), run), start, step_s

    def _cached(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """compute() at most once per `ttl` per key; concurrent askers wait for the one request."""
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None and self._clock() - hit[0] < self.ttl:
                return hit[1]
            event = self._inflight.get(key)
            owner = event is None
            if owner:
                event = self._inflight[key] = threading.Event()
        assert event is not None
        if not owner:
            event.wait(self.timeout * 2 + 5)
            with self._cache_lock:
                hit = self._cache.get(key)
            if hit is not None:
                return hit[1]
        try:
            value = compute()
        except Exception as e:
            value = _Answer(False, f"{type(e).__name__}: {e}"[:300])
        with self._cache_lock:
            now = self._clock()
            if len(self._cache) > 256:
                self._cache = {k: v for k, v in self._cache.items() if now - v[0] < self.ttl}
            self._cache[key] = (now, value)
            if owner:
                self._inflight.pop(key, None)
        if owner:
            event.set()
        return value

    def _render(self, name: str, **values: str | None) -> str:
        """Fill a template: label values escaped for PromQL strings; window/step already validated."""
        subst = {p: "" for p in ("namespace", "app", "hash", "node", "hpa", "window", "step")}
        for k, v in values.items():
            if v is None:
                continue
            subst[k] = v if k in ("window", "step") else promql_string(v)
        subst["pods"] = promql_string(pods_regex(values.get("app")))
        subst["step"] = subst["step"] or self.config.prometheus.step
        return self.config.queries[name].format_map(subst)

    def _prometheus(self) -> Discovery | None:
        d = self.discover()
        return d if d.source == "prometheus" else None

    @staticmethod
    def _bad_duration(what: str, value: str) -> str | None:
        if prom_duration_seconds(value) is None:
            return f"{what} must be a duration such as 1m or 30s, got {value!r}"
        return None

    # -- RED ----------------------------------------------------------------------------------------

    def red(self, namespace: str, app: str, hash: str | None = None, window: str = "1m") -> RED:
        """Rate, error ratio and p95 of an app (its `app` label), or of one version (its pod template hash)."""
        return self._reds(namespace, app, [hash], window)[0]

    def canary_vs_stable(self, namespace: str, app: str, canary_hash: str, stable_hash: str,
                         window: str = "1m") -> tuple[RED, RED]:
        """(canary, stable), fetched together in one query."""
        canary, stable = self._reds(namespace, app, [canary_hash, stable_hash], window)
        return canary, stable

    def _reds(self, namespace: str, app: str, hashes: list[str | None], window: str) -> list[RED]:
        bad = self._bad_duration("window", window)
        if bad:
            return [RED(None, None, None, "error", bad) for _ in hashes]
        if self._prometheus() is None:
            return [RED(None, None, None, "no-data", NOT_VERIFIED) for _ in hashes]
        named: dict[str, str] = {}
        for i, h in enumerate(hashes):
            suffix = "_version" if h else ""
            for part in ("rate", "error_ratio", "p95"):
                named[f"{part}{i}"] = self._render(part + suffix, namespace=namespace, app=app, hash=h, window=window)
        ans = self._instant(named)
        out = []
        for i, h in enumerate(hashes):
            who = f"{namespace}/{app}" + (f" (pod template hash {h})" if h else "")
            out.append(self._red_of(ans, str(i), who, window))
        return out

    @staticmethod
    def _red_of(ans: _Answer, i: str, who: str, window: str) -> RED:
        if not ans.ok:
            return RED(None, None, None, "error", ans.message)
        rate, ratio, p95 = ans.first(f"rate{i}"), ans.first(f"error_ratio{i}"), ans.first(f"p95{i}")
        if rate is None:
            return RED(None, None, None, "no-data", f"not verified: no request metrics for {who}")
        if rate <= 0:
            return RED(0.0, None, None, "no-data", f"not verified: no requests to {who} in the last {window}")
        if ratio is None:
            return RED(rate, None, p95, "no-data", f"not verified: no error ratio for {who}")
        return RED(rate, ratio, p95, "ok", "" if p95 is not None else f"no latency histogram for {who}")

    def red_series(self, namespace: str, app: str, hash: str | None = None, minutes: float = 15,
                   step: str = "30s", window: str = "1m") -> REDSeries:
        """RED every `step` over the last `minutes`, for sparklines."""
        bad = self._bad_duration("step", step) or self._bad_duration("window", window)
        if bad:
            return REDSeries([], [], [], "error", bad)
        if self._prometheus() is None:
            return REDSeries([], [], [], "no-data", NOT_VERIFIED)
        suffix = "_version" if hash else ""
        named = {part: self._render(part + suffix, namespace=namespace, app=app, hash=hash, window=window)
                 for part in ("rate", "error_ratio", "p95")}
        ans, start, step_s = self._range(named, minutes, step)
        if not ans.ok:
            return REDSeries([], [], [], "error", ans.message, start, step_s)
        n = round(minutes * 60 / step_s) + 1
        grids = {part: self._grid(ans, part, start, step_s, n) for part in named}
        if all(math.isnan(v) for v in grids["rate"]):
            return REDSeries(grids["rate"], grids["error_ratio"], grids["p95"], "no-data",
                             f"not verified: no request metrics for {namespace}/{app}", start, step_s)
        return REDSeries(grids["rate"], grids["error_ratio"], grids["p95"], "ok", "", start, step_s)

    @staticmethod
    def _grid(ans: _Answer, name: str, start: float, step: float, n: int) -> list[float]:
        out = [math.nan] * n
        rows = ans.data.get(name) or []
        if rows:
            for t, v in rows[0][1]:
                k = round((t - start) / step)
                if 0 <= k < n:
                    out[k] = v
        return out

    # -- nodes and pods -----------------------------------------------------------------------------

    def node_usage(self, window: str = "1m") -> Usage:
        """{node: (cpu cores, memory bytes)}: Prometheus (node-exporter), else metrics.k8s.io."""
        bad = self._bad_duration("window", window)
        if bad:
            return Usage(status="error", message=bad)
        why = ""
        if self._prometheus() is not None:
            ans = self._instant({"cpu": self._render("node_cpu", window=window),
                                 "mem": self._render("node_memory", window=window)})
            usage = self._usage_of(ans, ("instance", "node"))
            if usage.status == "ok":
                return usage
            why = usage.message
        got = self._metrics_api(f"{METRICS_API}/nodes")
        if why and got.status != "ok":
            got.message = f"{why}; metrics.k8s.io: {got.message}"
        return got

    def pod_usage(self, namespace: str, app: str | None = None, window: str = "1m") -> Usage:
        """{pod: (cpu cores, memory bytes)} in a namespace, or of one workload's pods.

        Here `app` is the workload's (Deployment's, Rollout's) name: container metrics carry no
        app label, so pods are matched by name (NAME-HASH-XXXXX), the same with metrics.k8s.io.
        """
        bad = self._bad_duration("window", window)
        if bad:
            return Usage(status="error", message=bad)
        why = ""
        if self._prometheus() is not None:
            ans = self._instant({"cpu": self._render("pod_cpu", namespace=namespace, app=app, window=window),
                                 "mem": self._render("pod_memory", namespace=namespace, app=app)})
            usage = self._usage_of(ans, ("pod",))
            if usage.status == "ok":
                return usage
            why = usage.message
        got = self._metrics_api(f"{METRICS_API}/namespaces/{quote(namespace, safe='')}/pods")
        if app:
            pattern = re.compile(pods_regex(app))
            for pod in [p for p in got if not pattern.fullmatch(p)]:
                del got[pod]
            if got.status == "ok" and not got:
                got.status, got.message = "no-data", f"metrics.k8s.io has no readings for {namespace}/{app}"
        if why and got.status != "ok":
            got.message = f"{why}; metrics.k8s.io: {got.message}"
        return got

    @staticmethod
    def _usage_of(ans: _Answer, keys: tuple[str, ...]) -> Usage:
        if not ans.ok:
            return Usage(status="error", message=ans.message, source="prometheus")
        cpu: dict[str, float] = {}
        mem: dict[str, float] = {}
        for name, target in (("cpu", cpu), ("mem", mem)):
            for labels, v in ans.data.get(name) or ():
                who = next((labels[k] for k in keys if labels.get(k)), "")
                if who and not math.isnan(v):
                    target[who] = v
        items = {k: (cpu.get(k, math.nan), int(mem[k]) if k in mem else 0) for k in sorted(set(cpu) | set(mem))}
        if not items:
            return Usage(status="no-data", message="no usage series in Prometheus", source="prometheus")
        return Usage(items, source="prometheus")

    def _metrics_api(self, path: str) -> Usage:
        try:
            doc = self._cached(("api", path), lambda: self._api_get(path))
        except Exception as e:  # _cached already converts; belt and braces
            return Usage(status="error", message=str(e)[:300], source="metrics-api")
        if isinstance(doc, _Answer):
            return Usage(status="error", message=doc.message, source="metrics-api")
        items: dict[str, tuple[float, int]] = {}
        for it in doc.get("items") or ():
            try:
                name = it["metadata"]["name"]
                if "containers" in it:
                    cpu = sum(float(parse_quantity((c.get("usage") or {}).get("cpu", "0"))) for c in it["containers"])
                    mem = sum(int(parse_quantity((c.get("usage") or {}).get("memory", "0"))) for c in it["containers"])
                else:
                    usage = it.get("usage") or {}
                    cpu = float(parse_quantity(usage.get("cpu", "0")))
                    mem = int(parse_quantity(usage.get("memory", "0")))
            except (KeyError, TypeError, ValueError, ArithmeticError):
                continue
            items[name] = (cpu, mem)
        if not items:
            return Usage(status="no-data", message="metrics.k8s.io returned no readings", source="metrics-api")
        return Usage(dict(sorted(items.items())), source="metrics-api")

    def _api_get(self, path: str) -> dict | _Answer:
        try:
            doc = self._api.request("GET", path)
        except ApiError as e:
            if e.not_found or e.status == 503:
                return _Answer(False, "metrics.k8s.io is not served (is metrics-server installed?)")
            if e.forbidden:
                return _Answer(False, f"no permission to read {path}")
            return _Answer(False, str(e)[:300])
        except ConnectionLost as e:
            return _Answer(False, str(e))
        return doc if isinstance(doc, dict) else _Answer(False, "metrics.k8s.io: unexpected answer")

    def node_series(self, node: str, minutes: float = 15, step: str | None = None, window: str = "1m") -> NodeSeries:
        """One node's CPU (cores) and memory (bytes) over time, for sparklines (Prometheus only)."""
        step = step or self.config.prometheus.step
        bad = self._bad_duration("step", step) or self._bad_duration("window", window)
        if bad:
            return NodeSeries([], [], "error", bad)
        if self._prometheus() is None:
            return NodeSeries([], [], "no-data", NOT_VERIFIED)
        named = {"cpu": self._render("node_cpu_one", node=node, window=window),
                 "mem": self._render("node_memory_one", node=node)}
        ans, start, step_s = self._range(named, minutes, step)
        if not ans.ok:
            return NodeSeries([], [], "error", ans.message, start, step_s)
        n = round(minutes * 60 / step_s) + 1
        cpu, mem = self._grid(ans, "cpu", start, step_s, n), self._grid(ans, "mem", start, step_s, n)
        status: Status = "no-data" if all(math.isnan(v) for v in cpu + mem) else "ok"
        return NodeSeries(cpu, mem, status, f"no node-exporter series for {node}" if status != "ok" else "",
                          start, step_s)

    # -- autoscaling and right-sizing ---------------------------------------------------------------

    def hpa_history(self, namespace: str, hpa: str, minutes: float = 30) -> History:
        """The HPA's current replicas every `prometheus.step` over the last `minutes` (gaps left out)."""
        if self._prometheus() is None:
            return History(status="no-data", message=NOT_VERIFIED)
        ans, _, _ = self._range({"replicas": self._render("hpa_replicas", namespace=namespace, hpa=hpa)},
                                minutes, self.config.prometheus.step)
        if not ans.ok:
            return History(status="error", message=ans.message)
        rows = ans.data.get("replicas") or []
        values = [round(v) for _, v in (rows[0][1] if rows else ()) if not math.isnan(v)]
        if not values:
            return History(status="no-data", message=f"no kube-state-metrics series for HPA {namespace}/{hpa}")
        return History(values)

    def usage_quantiles(self, namespace: str, app: str, window: str = "1h") -> Quantiles:
        """The busiest pod's CPU and memory p50/p95 over `window` (Prometheus only; `app` as in pod_usage)."""
        bad = self._bad_duration("window", window)
        if bad:
            return Quantiles(None, None, None, None, "error", bad)
        if self._prometheus() is None:
            return Quantiles(None, None, None, None, "no-data", NOT_VERIFIED)
        names = ("cpu_p50", "cpu_p95", "memory_p50", "memory_p95")
        ans = self._instant({n: self._render(n, namespace=namespace, app=app, window=window) for n in names})
        if not ans.ok:
            return Quantiles(None, None, None, None, "error", ans.message)
        vals = [ans.first(n) for n in names]
        if all(v is None for v in vals):
            return Quantiles(None, None, None, None, "no-data",
                             f"not verified: no container metrics for {namespace}/{app} in the last {window}")
        return Quantiles(*vals, status="ok")

    def restarts(self, namespace: str, app: str, window: str = "1h") -> Value:
        """Container restarts of a workload's pods over `window` (kube-state-metrics; `app` as in pod_usage)."""
        bad = self._bad_duration("window", window)
        if bad:
            return Value(None, "error", bad)
        if self._prometheus() is None:
            return Value(None, "no-data", NOT_VERIFIED)
        ans = self._instant({"restarts": self._render("restarts", namespace=namespace, app=app, window=window)})
        if not ans.ok:
            return Value(None, "error", ans.message)
        v = ans.first("restarts")
        if v is None:
            return Value(None, "no-data", f"no kube-state-metrics series for {namespace}/{app}")
        return Value(v, "ok")

    def close(self) -> None:
        """Drop pooled Prometheus sessions (the shared Connection stays open)."""
        self._drop_clients()
