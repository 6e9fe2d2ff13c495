"""Security below the UI: read-only and RBAC refuse before anything is written, nothing secret is
logged or audited, TLS is verified, and HTTP debug logging stays off.

Every action kind the planner knows (`planner.PLANNERS`) goes through the service facade
(`plan` -> `check` -> `apply`), as the console's action path does, against a sandbox that records
each request it receives.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import logging
import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from textual import events

from almtui.cluster.actions import planner
from almtui.cluster.actions.checks import READ_ONLY
from almtui.cluster.actions.model import Plan
from almtui.cluster.audit import AuditLog
from almtui.cluster.connection import TLSVerifyError, connect
from almtui.cluster.freshness import FreshnessTracker
from almtui.cluster.kubeconfig import load_kubeconfig
from almtui.cluster.service import ClusterService
from almtui.sandbox.tls import make_serving_cert
from almtui.ui.app import AlmtuiApp, make_app
from almtui.ui.dialogs.confirm import ConfirmDialog, RefusalDialog
from almtui.ui.screens import BaseScreen
from tests.support import RunningSandbox
from tests.ui.conftest import FAST, console_clock, start_sandbox

SECRET_VALUE = "s3cr3t-Pa55w0rd-for-the-till-7f3a9c"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SSAR = "selfsubjectaccessreviews"

# Each facade action, its target (plural, namespace, name), its params, and the planner function it
# runs. Together they cover planner.PLANNERS (asserted below).
ACTIONS: list[tuple[str, tuple[str, str, str], dict[str, Any], Callable[..., Plan]]] = [
    ("set_image", ("deployments", "prod", "storefront"),
     {"images": {"storefront": "registry.local/retail/storefront:9.9.9"}}, planner.set_image),
    ("set_requests", ("deployments", "prod", "storefront"),
     {"requests": {"storefront": {"cpu": "300m", "memory": "192Mi"}}}, planner.set_requests),
    ("promote_version", ("deployments", "staging", "storefront"),
     {"source_plural": "deployments", "source_namespace": "dev", "source_name": "storefront"},
     planner.promote_version),
    ("pause", ("deployments", "prod", "storefront"), {}, planner.pause),
    ("resume", ("deployments", "dev", "pos-sync"), {}, planner.resume),  # paused by the fixture
    ("restart", ("deployments", "prod", "storefront"), {}, planner.restart),
    ("scale", ("deployments", "prod", "pos-sync"), {"replicas": 3}, planner.scale),
    ("undo", ("deployments", "prod", "storefront"), {"to_revision": 0}, planner.undo),
    ("promote", ("rollouts", "staging", "checkout"), {}, planner.rollout_promote),
    ("promote_full", ("rollouts", "staging", "checkout"), {}, planner.rollout_promote_full),
    ("promote", ("rollouts", "staging", "inventory"), {}, planner.rollout_promote_bluegreen),
    ("abort", ("rollouts", "staging", "checkout"), {}, planner.rollout_abort),
    ("retry", ("rollouts", "prod", "checkout"), {}, planner.rollout_retry),  # aborted by the fixture
    ("hpa_update", ("horizontalpodautoscalers", "prod", "storefront"), {"max_replicas": 9}, planner.hpa_update),
    ("rerun", ("pipelineruns", "ci", "storefront-build-run-4xk2p"), {}, planner.pipelinerun_rerun),
    ("cancel", ("pipelineruns", "ci", "storefront-build-run-q4w6j"), {}, planner.pipelinerun_cancel),
    ("sync", ("applications", "argocd", "pos-sync-prod"), {}, planner.app_sync),
    ("rollback", ("applications", "argocd", "pos-sync-prod"), {"history_id": 0}, planner.app_rollback),
]


class Recorder:
    """Wraps the sandbox's request hook (fault injection stays in force): every request, in order."""

    def __init__(self, inner: Callable[[Any], Any] | None) -> None:
        self.inner = inner
        self.seen: list[tuple[str, str, dict]] = []

    async def __call__(self, request: Any) -> None:
        self.seen.append((request.method, request.path, dict(request.query)))
        if self.inner is not None:
            await self.inner(request)

    def mark(self) -> int:
        return len(self.seen)

    def since(self, mark: int) -> list[tuple[str, str, dict]]:
        return self.seen[mark:]


def writes(seen: list[tuple[str, str, dict]]) -> list[tuple[str, str, dict]]:
    """Requests that could change something: not reads, not access reviews, not dry runs."""
    return [r for r in seen if r[0] in WRITES and SSAR not in r[1] and r[2].get("dryRun") != "All"]


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    """Our own frozen edge-retail sandbox, with objects in the states every action needs, and a Secret."""
    running = start_sandbox(tmp_path_factory.mktemp("security"))

    def prepare(s: Any) -> None:
        s.store.mutate("apps/deployments", "dev", "pos-sync", lambda o: o["spec"].__setitem__("paused", True))
        s.store.mutate("argoproj.io/rollouts", "prod", "checkout",
                       lambda o: o["status"].update(abort=True, phase="Degraded"), subresource="status")

    running.call(prepare)
    recorder = running.call(lambda s: Recorder(s.hooks.before_request))
    running.call(lambda s: setattr(s.hooks, "before_request", recorder))
    running.recorder = recorder  # type: ignore[attr-defined]
    conn = connect(load_kubeconfig([running.kubeconfig]), "operator", **FAST)
    conn.request("POST", "/api/v1/namespaces/prod/secrets", body={
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "till-credentials", "namespace": "prod"},
        "type": "Opaque", "stringData": {"password": SECRET_VALUE}})
    conn.close()
    yield running
    running.stop()


def service_for(sb: RunningSandbox, tmp_path: Path, context: str | None = None, *, read_only: bool = False,
                kubeconfig: str | None = None) -> ClusterService:
    clock = console_clock(sb)
    kc = load_kubeconfig([kubeconfig or sb.kubeconfig])
    conn = connect(kc, context, freshness=FreshnessTracker(clock=clock), **FAST)
    service = ClusterService(conn, clock=clock, read_only=read_only,
                             audit=AuditLog(tmp_path / f"audit-{context or 'operator'}.jsonl")).start()
    assert service.wait_synced(30)
    return service


@contextlib.contextmanager
def running(service: ClusterService) -> Iterator[ClusterService]:
    try:
        yield service
    finally:
        service.stop()
        service.conn.close()


def quiet(sb: RunningSandbox) -> int:
    """The recorder's mark once the service's watches are all open (nothing else is sent after a sync)."""
    rec = sb.recorder  # type: ignore[attr-defined]
    mark = rec.mark()
    for _ in range(20):
        time.sleep(0.3)
        if rec.mark() == mark:
            return mark
        mark = rec.mark()
    raise AssertionError("the service kept sending requests")


def plans(service: ClusterService) -> list[tuple[Callable[..., Plan], Plan]]:
    out = []
    for action, (plural, ns, name), params, fn in ACTIONS:
        plan = service.plan(action, plural, ns, name, **params)
        assert plan.requests and not plan.noop, (action, ns, name, plan.summary)  # a real change, were it sent
        out.append((fn, plan))
    return out


def test_the_actions_cover_every_planner():
    assert {fn for *_, fn in ACTIONS} == set(planner.PLANNERS)


def test_read_only_refuses_every_action_in_the_service_layer(sb, tmp_path):
    with running(service_for(sb, tmp_path, read_only=True)) as service:
        rec = sb.recorder  # type: ignore[attr-defined]
        mark = quiet(sb)
        made = plans(service)
        for _fn, plan in made:
            check = service.check(plan)
            assert not check.allowed and check.refusals == [READ_ONLY], check
            assert service.apply(plan, check).status == "refused"
            forged = check.__class__(allowed=True, refusals=[], warnings=[])  # a caller that skips the checks
            assert service.apply(plan, forged, override=True).status == "refused"
            assert service.apply(plan).status == "refused"
        for verb, plural, sub in (("patch", "deployments", "scale"), ("create", "pipelineruns", ""),
                                  ("update", "rollouts", ""), ("patch", "applications", "")):
            assert service.can(verb, plural, "prod", None, sub) == (False, READ_ONLY)
        assert rec.since(mark) == []  # not a write, not a review, not a dry run: nothing at all
        entries = service.audit.entries()
        assert len(entries) == 3 * len(made) and {e["outcome"] for e in entries} == {"refused"}
        assert all(e["requests_sent"] == 0 for e in entries)


def test_viewer_is_refused_by_access_review_before_any_write(sb, tmp_path):
    with running(service_for(sb, tmp_path, "viewer")) as service:
        rec = sb.recorder  # type: ignore[attr-defined]
        mark = quiet(sb)
        made = plans(service)  # the viewer may read everything, so every plan can be made
        for fn, plan in made:
            check = service.check(plan)
            assert not check.allowed and not check.overridable, (fn.__name__, check)
            assert check.refusals and all("SelfSubjectAccessReview" in r for r in check.refusals), check.refusals
            assert check.dry_run == [], fn.__name__  # refused before even a dry run
            assert service.apply(plan, check).status == "refused"
            assert service.apply(plan).status == "refused"  # the executor asks again (cached) itself
        seen = rec.since(mark)
        assert writes(seen) == [] and [r for r in seen if r[2].get("dryRun")] == []
        assert {m for m, _, _ in seen} <= {"POST"} and all(SSAR in p for _, p, _ in seen), seen
        assert [e["outcome"] for e in service.audit.entries()] == ["refused"] * (2 * len(made))
        allowed, reason = service.can("patch", "deployments", "prod", "storefront", "scale")
        assert not allowed and "viewer" in reason


# -- nothing secret in the logs or the audit log -----------------------------------------------------


class ConsoleLogs(logging.Handler):
    """The console's own log records (the in-process sandbox's are not the console's) to a file."""

    def __init__(self, path: Path) -> None:
        super().__init__(logging.DEBUG)
        self.file = logging.FileHandler(path, encoding="utf-8")
        self.file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("almtui.sandbox", "aiohttp")):
            return
        self.file.emit(record)

    def close(self) -> None:
        self.file.close()
        super().close()


@contextlib.contextmanager
def debug_logging(path: Path) -> Iterator[None]:
    root = logging.getLogger()
    handler = ConsoleLogs(path)
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
        handler.close()


def with_client_cert(sb: RunningSandbox, tmp_path: Path) -> tuple[Path, bytes]:
    """The sandbox's kubeconfig, the operator also holding a client certificate and key."""
    pair = make_serving_cert(["operator"])
    cfg = yaml.safe_load(Path(sb.kubeconfig).read_text())
    for user in cfg["users"]:
        if user["name"] == "operator":
            user["user"]["client-certificate-data"] = base64.b64encode(pair.cert_pem).decode()
            user["user"]["client-key-data"] = base64.b64encode(pair.key_pem).decode()
    path = tmp_path / "kubeconfig-cert.yaml"
    path.write_text(yaml.safe_dump(cfg))
    path.chmod(0o600)
    return path, pair.key_pem


def console(service: ClusterService, kubeconfig: str) -> AlmtuiApp:
    app = make_app(service, clock=service.clock, size=(120, 40), screen="rollouts",
                   kubeconfig=load_kubeconfig([kubeconfig]), connect_options=FAST)
    app.animation_level = "none"
    return app


async def until(pred: Callable[[], Any], timeout: float, what: str) -> None:
    for _ in range(int(timeout / 0.05)):
        if pred():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout}s")


async def act(app: AlmtuiApp, action: str, target: tuple[str, str, str], params: dict[str, Any]) -> str:
    """One action through the console's action path, confirmed with y; returns its outcome."""
    done: asyncio.Future = asyncio.get_running_loop().create_future()
    app.actions.start(action, *target, params=params,
                      on_done=lambda o: done.done() or done.set_result(o.status))
    confirmed_at = 0.0
    while not done.done():
        if isinstance(app.screen, ConfirmDialog):
            if not confirmed_at:
                app.post_message(events.Key("y", "y"))
                confirmed_at = time.monotonic()
            elif time.monotonic() - confirmed_at > 1:  # blocked (a failed dry run): cancel
                app.post_message(events.Key("escape", None))
                confirmed_at = time.monotonic()
        await asyncio.sleep(0.05)
    while isinstance(app.screen, RefusalDialog | ConfirmDialog):
        app.post_message(events.Key("escape", None))
        await asyncio.sleep(0.05)
    return done.result()


async def test_no_token_client_key_or_secret_data_in_logs_or_audit(sb, tmp_path):
    log_file = tmp_path / "almtui-debug.log"
    kubeconfig, key_pem = with_client_cert(sb, tmp_path)
    secret_forms = [SECRET_VALUE, base64.b64encode(SECRET_VALUE.encode()).decode()]
    tokens = [sb.token(u) for u in ("operator", "viewer")]
    key_lines = [line for line in key_pem.decode().splitlines() if "-----" not in line]
    key_b64 = base64.b64encode(key_pem).decode()
    with debug_logging(log_file):
        service = await asyncio.to_thread(service_for, sb, tmp_path, None, kubeconfig=str(kubeconfig))
        app = console(service, str(kubeconfig))
        async with app.run_test() as pilot:
            for key in "12345":  # every screen reads the cluster
                await pilot.press(key)
                await until(lambda: isinstance(app.screen, BaseScreen) and app.screen.loaded, 10, "a screen")
            assert await act(app, "scale", ("deployments", "prod", "pos-sync"), {"replicas": 3}) == "applied"
            assert await act(app, "set_requests", ("deployments", "staging", "pos-sync"),
                             {"requests": {"pos-sync": {"cpu": "lots"}}}) in ("refused", "failed", "cancelled")
            # faults: errors, throttling, an outage; then a rotated token (401, re-auth attempts)
            for kind, rate, seconds in (("errors", 1.0, 1.0), ("throttle", 1.0, 1.0), ("api-down", None, 1.5)):
                await asyncio.to_thread(sb.call, lambda s, k=kind, r=rate, d=seconds: s.faults.inject(k, d, r))
                await asyncio.to_thread(sb.call, lambda s: s.store.close_all_watches())
                await asyncio.sleep(seconds + 0.5)
            assert await act(app, "restart", ("deployments", "prod", "pos-sync"), {}) in (
                "applied", "refused", "failed", "unknown")
            await asyncio.to_thread(sb.call, rotate_operator_token)
            await until(lambda: isinstance(app.screen, BaseScreen)
                        and "AUTH EXPIRED" in app.screen.header.freshness_text, 15, "AUTH EXPIRED")
        viewer = await asyncio.to_thread(service_for, sb, tmp_path, "viewer")
        vapp = console(viewer, sb.kubeconfig)
        async with vapp.run_test():
            assert await act(vapp, "scale", ("deployments", "prod", "storefront"), {"replicas": 5}) == "refused"
    logs = log_file.read_text()
    audits = "".join(p.read_text() for p in tmp_path.glob("audit-*.jsonl"))
    assert "scale" in audits and "refused" in audits  # the run was audited
    for text, where in ((logs, "the debug log"), (audits, "the audit log")):
        for token in tokens:
            assert token not in text, f"a bearer token in {where}"
        assert key_b64 not in text and not any(line in text for line in key_lines), f"the client key in {where}"
        for form in secret_forms:
            assert form not in text, f"Secret data in {where}"
    for path in tmp_path.glob("audit-*.jsonl"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def rotate_operator_token(s: Any) -> None:
    user = s.auth.by_name["operator"]
    s.auth.users.pop(user.token, None)
    user.token = "rotated-" + user.token[::-1]
    s.auth.users[user.token] = user
    s.store.close_all_watches()


# -- TLS and HTTP debug logging ----------------------------------------------------------------------


def test_tls_is_verified_by_default(sb, tmp_path):
    """A kubeconfig without CA data trusts only the system's CAs: the sandbox's own CA is refused."""
    cfg = yaml.safe_load(Path(sb.kubeconfig).read_text())
    del cfg["clusters"][0]["cluster"]["certificate-authority-data"]
    path = tmp_path / "no-ca.yaml"
    path.write_text(yaml.safe_dump(cfg))
    kc = load_kubeconfig([str(path)])
    conn = connect(kc, "operator")
    assert conn.api_client.configuration.verify_ssl is True
    with pytest.raises(TLSVerifyError, match="TLS: cannot verify the certificate"):
        conn.get("/version")
    assert "TLS" in conn.freshness.state.error
    conn.close()


def test_http_debug_logging_is_never_enabled(sb):
    root = logging.getLogger()
    old = root.level
    root.setLevel(logging.DEBUG)  # even when the whole process logs at DEBUG
    try:
        conn = connect(load_kubeconfig([sb.kubeconfig]), "operator")
        conn.get("/version")
        assert conn.api_client.configuration.debug is False
        assert k8s.Configuration.get_default_copy().debug is False
        assert k8s.Configuration().debug is False
        assert http.client.HTTPConnection.debuglevel == 0
        assert logging.getLogger("urllib3").getEffectiveLevel() > logging.DEBUG
        conn.close()
    finally:
        root.setLevel(old)


def test_audit_log_is_private(tmp_path):
    audit = AuditLog(tmp_path / "state" / "almtui" / "audit.jsonl")
    audit.append({"action": "scale", "outcome": "refused", "token": "abc", "message": "Bearer abcdefghijkl"})
    assert stat.S_IMODE(audit.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(audit.path.parent.stat().st_mode) == 0o700
    text = audit.path.read_text()
    assert "abcdefghijkl" not in text and '"token":"[REDACTED]"' in text
    assert os.access(audit.path, os.R_OK)
