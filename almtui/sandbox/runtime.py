"""Assemble and run one sandbox cluster: store, admission, RBAC, controllers, scenario, HTTP server."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import importlib
import inspect
import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from almtui.sandbox import admission, faults, openapi
from almtui.sandbox.auth import Authorizer
from almtui.sandbox.clock import SimClock
from almtui.sandbox.controllers.base import Context, Controller, Manager
from almtui.sandbox.errors import ApiError
from almtui.sandbox.resources import REGISTRY
from almtui.sandbox.scenario import Scenario, node_object
from almtui.sandbox.server import ApiServer, Hooks
from almtui.sandbox.store import Store, ts
from almtui.sandbox.tls import ServingCert, make_serving_cert

log = logging.getLogger(__name__)

# Controller modules, in the order their controllers run within one pass.
CONTROLLER_MODULES = ("deployment", "replicaset", "rollouts", "scheduler", "kubelet", "nodes", "hpa",
                      "tekton", "argocd", "events")
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# From this many stored objects on (a --scale cluster), start() moves the built heap out of the
# cyclic garbage collector's sight (gc.freeze): its full collections otherwise rescan every
# object of a 20,000-pod cluster, half a second each, every few scrape windows while idle.
FREEZE_MIN_OBJECTS = 5000
# ... and lets a full collection wait for this many younger ones (CPython: 10). Objects replaced
# after the freeze pile up again: at 5,000 pods and 100 changes/s the full collections grew from
# 32 to 464 ms, every 2-3 s, each stalling every request and watch (gc.callbacks, make bench's
# watch phase). A real API server's collector does not stop the world for that long.
FULL_GC_AFTER = 1000


def discover_controllers(ctx: Context, modules: tuple[str, ...] = CONTROLLER_MODULES) -> list[Controller]:
    """Instantiate every Controller subclass defined in the listed modules, in definition order."""
    out: list[Controller] = []
    for mod_name in modules:
        try:
            mod = importlib.import_module(f"almtui.sandbox.controllers.{mod_name}")
        except ModuleNotFoundError as e:
            if e.name == f"almtui.sandbox.controllers.{mod_name}":
                continue  # an optional controller that is not part of this build
            raise
        for obj in list(vars(mod).values()):
            if (inspect.isclass(obj) and issubclass(obj, Controller) and obj is not Controller
                    and obj.__module__ == mod.__name__ and not inspect.isabstract(obj)
                    and not getattr(obj, "abstract", False)):
                out.append(obj(ctx))
    return out


class Sandbox:
    """One simulated cluster and its API server."""

    def __init__(self, scenario: Scenario, *, seed: int = 1, speed: float = 1.0,
                 options: dict[str, Any] | None = None, start: datetime | None = None,
                 frozen: bool = False) -> None:
        """start: the simulated instant the cluster reaches once built (default: the wall clock);
        frozen: simulated time does not run after start() (controllers still react to requests),
        for deterministic screenshots."""
        self.scenario = scenario
        self.seed = seed
        self.frozen = frozen
        # Start in the past by the most the scenario can settle, then catch up to `start` after
        # building, so timestamps look current to clients that compare them with their own clock.
        self.anchor = (start or datetime.now(UTC)).replace(microsecond=0)
        budget = scenario.settle * (2 + len(scenario.history)) + 60
        self.clock = SimClock(speed, start=self.anchor - timedelta(seconds=budget))
        self.clock.freeze()  # frozen until start(): building is deterministic
        self.rng = random.Random(seed)
        self.store = Store(self.clock, random.Random(seed + 1))
        admission.install(self.store)
        token_rng = random.Random(seed + 2)
        self.auth = Authorizer.from_scenario(scenario.users or None,
                                             lambda: f"{token_rng.getrandbits(128):032x}")
        opts = {**scenario.options, **(options or {})}
        opts.setdefault("load", scenario.load)
        opts.setdefault("flaky_nodes", {n["name"]: n["flaky"] for n in scenario.nodes if n.get("flaky")})
        opts.setdefault("seed", seed)
        self.ctx = Context(self.store, self.clock, self.rng, opts)
        self.controllers = discover_controllers(self.ctx)
        self.manager = Manager(self.ctx, self.controllers)
        self.hooks = Hooks(logs=self.ctx.shared.get("logs"), metrics=self.ctx.shared.get("metrics"))
        self.server = ApiServer(self.store, self.auth, self.hooks)
        self.faults = faults.install(self)
        self._churn: asyncio.Task | None = None
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task | None = None
        self._froze_heap = False
        self._gc_threshold: tuple[int, int, int] = gc.get_threshold()
        self.tls: ServingCert | None = None
        self.url = ""

    # -- building -------------------------------------------------------------------------------

    def build(self) -> None:
        """Apply the scenario and settle it (clock frozen, deterministic)."""
        now = ts(self.clock.now())
        for crd in openapi.crd_objects(REGISTRY, now):
            self.store.create("apiextensions.k8s.io/customresourcedefinitions", crd, keep_status=True)
        for ns in dict.fromkeys((*SYSTEM_NAMESPACES, *self.scenario.namespaces)):
            self.store.create("/namespaces", {"metadata": {"name": ns}})
        for i, spec in enumerate(self.scenario.nodes):
            node = node_object({"ip": f"10.42.0.{10 + i}", **spec})
            self.store.create("/nodes", node, keep_status=True)
        self.manager.resync()
        self.manager.settle(30)
        for obj in self.scenario.objects:
            self.apply(obj)
        self.manager.settle(self.scenario.settle)
        for step in self.scenario.history:
            self._history_step(step)
            self.manager.settle(self.scenario.settle)
        lag = self.anchor.timestamp() - self.clock.time()
        if lag > 0:
            self.manager.advance(lag, step=5.0)

    def apply(self, obj: dict) -> dict:
        """Create one manifest through the normal write path (defaulting, validation)."""
        res = REGISTRY.by_api_version_kind(obj["apiVersion"], obj["kind"])
        if res is None:
            raise ValueError(f"unknown kind {obj['apiVersion']}/{obj['kind']}")
        return self.store.create(res.key, obj, keep_status="status" in obj)

    def _history_step(self, step: dict) -> None:
        """Roll a workload to new images, recording a change-cause: builds revision history."""
        kind = step.get("kind", "Deployment")
        key = "apps/deployments" if kind == "Deployment" else "argoproj.io/rollouts"
        ns, name = step["namespace"], step["name"]

        def roll(obj: dict) -> None:
            for c in obj["spec"]["template"]["spec"]["containers"]:
                if c["name"] in step.get("images", {}):
                    c["image"] = step["images"][c["name"]]
            if step.get("changeCause"):
                obj["metadata"].setdefault("annotations", {})["kubernetes.io/change-cause"] = step["changeCause"]

        self.store.mutate(key, ns, name, roll)
        if kind == "Rollout" and step.get("promote") == "full":
            # let the controller observe the new template first: a template change resets promoteFull
            self.manager.settle(self.scenario.settle)
            from almtui.sandbox.controllers.rollouts import promote_full

            promote_full(self.store, ns, name)

    # -- serving --------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve HTTPS (kubectl sends bearer tokens only over TLS) with a fresh CA."""
        self.tls = make_serving_cert([host])
        self._runner = web.AppRunner(self.server.app(), handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, ssl_context=self.tls.ssl_context())
        await site.start()
        sock = site._server.sockets[0]  # type: ignore[union-attr]
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"https://{shown}:{bound}"
        if not self.frozen:
            self.clock.thaw()
        if self.store.total() >= FREEZE_MIN_OBJECTS and not self._froze_heap:
            gc.collect()
            gc.freeze()  # objects are still freed by reference counting; stop() unfreezes
            self._gc_threshold = gc.get_threshold()
            gc.set_threshold(*self._gc_threshold[:2], FULL_GC_AFTER)
            self._froze_heap = True
        self._task = asyncio.create_task(self.manager.run())
        if float(self.ctx.options.get("churn") or 0) > 0:
            from almtui.sandbox.churn import start_churn

            self._churn = start_churn(self)
        return self.url

    async def stop(self) -> None:
        self.faults.clear()
        if self._churn is not None:
            self._churn.cancel()
        self.manager.stop()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 2)
        self.store.close_all_watches()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._froze_heap:
            gc.unfreeze()  # what the sandbox leaves behind may be collected again
            gc.set_threshold(*self._gc_threshold)
            self._froze_heap = False

    def kubeconfig(self, namespace: str = "default") -> dict:
        """A kubeconfig with one context per user; `operator` is the current one."""
        cluster = "almtui-sandbox"
        users = list(self.auth.by_name.values())
        return {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": cluster, "cluster": {
                "server": self.url,
                "certificate-authority-data": base64.b64encode(self.tls.ca_pem).decode()}}],
            "users": [{"name": u.name, "user": {"token": u.token}} for u in users],
            "contexts": [{"name": u.name, "context": {"cluster": cluster, "user": u.name, "namespace": namespace}}
                         for u in users],
            "current-context": "operator" if "operator" in self.auth.by_name else users[0].name,
        }


def create_or_ignore(store: Store, key: str, obj: dict) -> None:
    with contextlib.suppress(ApiError):
        store.create(key, obj)
