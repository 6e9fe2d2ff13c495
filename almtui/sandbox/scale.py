"""`almtui sandbox --scale`: a large generated cluster that builds in seconds.

Why not let the controllers build it: creating 5,000 pods one by one through the
ReplicaSet controller, scheduler and kubelets takes minutes (measured: 500 pods 3.7 s,
2,000 pods 26 s, superlinear). So Deployments, their ReplicaSets and Pods are written
straight into the store in the settled state the controllers would have reached: real
pod-template hashes, ownerReferences with the owners' uids, pods Running/Ready on nodes
within capacity, statuses the kubelet adopts unchanged. The controllers then find nothing
to do, and from there on everything (scaling, rollouts, churn) goes through them as usual.

Rollouts (when the rollouts controller exists) and HPAs are created bare and left to
their controllers, as there are few of them. PipelineRuns are finished runs; events are
a Normal/Warning mix about the generated objects. Everything is deterministic by seed.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import logging
import math
import random
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from almtui.kube.hashing import compute_hash, random_suffix
from almtui.sandbox.controllers.kubelet import image_id, normalize_image, qos_class
from almtui.sandbox.scenario import node_object
from almtui.sandbox.store import Obj, Store, ts

log = logging.getLogger(__name__)

NODE_POD_LIMIT = 250  # the kubelet's IPAM hands out 253 addresses per node /24
APPS = ("web", "api", "cart", "search", "auth", "catalog", "pricing", "stock", "checkout", "media",
        "orders", "notify", "ledger", "gateway", "report")
ZONES = ("store-a", "store-b", "store-c", "warehouse")
CPU_REQUESTS = ("10m", "25m", "50m")
MEM_REQUESTS = ("32Mi", "48Mi", "64Mi")
ROLLOUT_REPLICAS = 2
HPA_CPU_REQUEST = "100m"
SCALE_LABEL = "sandbox.almtui.io/generated"
SETTLE_SECONDS = 5.0  # controllers adopt the generated objects (kubelets, first HPA syncs)


def resolve(scale: dict[str, int]) -> dict[str, int]:
    """Fill in the counts the user left out, from the ones given; ValueError if they cannot fit."""
    s = {k: int(v) for k, v in scale.items()}
    pods = s.get("pods")
    deps = s.get("deployments")
    if pods is None:
        pods = (deps if deps is not None else 0) * 3
    if deps is None:
        deps = math.ceil(pods / 10) if pods else 0
    if pods and deps > pods:
        deps = pods  # every generated Deployment runs at least one pod
    if deps and not pods:
        pods = deps
    rollouts = s.get("rollouts", 0)
    total = pods + rollouts * ROLLOUT_REPLICAS
    nodes = s.get("nodes")
    if nodes is None:
        nodes = max(3, math.ceil(total / 100)) if total else 0
    if total and not nodes:
        raise ValueError("--scale: pods need nodes; give nodes=N with N > 0")
    if nodes and math.ceil(total * 1.1 / nodes) > NODE_POD_LIMIT:
        need = math.ceil(total * 1.1 / NODE_POD_LIMIT)
        raise ValueError(f"--scale: {total} pods do not fit on {nodes} nodes "
                         f"(at most {NODE_POD_LIMIT} pods per node); use nodes={need} or more")
    return {"pods": pods, "deployments": deps, "nodes": nodes, "rollouts": rollouts,
            "hpas": min(s.get("hpas", 0), deps), "pipelineruns": s.get("pipelineruns", 0),
            "events": s.get("events", 0), "namespaces": max(1, s.get("namespaces", 10))}


def generate(sandbox: Any, scale: dict[str, int]) -> dict[str, int]:
    """Add the generated cluster to `sandbox`; returns the resolved counts.

    Called before `sandbox.build()`, generation is deferred until the scenario has been
    built and settled: settling runs minutes of simulated time, and every node's heartbeats
    and every metrics scrape over the generated cluster would make that slow. Called after
    `build()`, it generates at once. Either way the result is settled for SETTLE_SECONDS.
    """
    counts = resolve(scale)  # bad input fails before anything is built
    if sandbox.store.get("/namespaces", None, "default") is not None:
        _generate_now(sandbox, counts)
        return counts
    build = sandbox.build

    def build_then_generate() -> None:
        build()
        _generate_now(sandbox, counts)

    sandbox.build = build_then_generate
    return counts


def _generate_now(sandbox: Any, counts: dict[str, int]) -> None:
    started = time.monotonic()
    gen = _Generator(sandbox, counts)
    gen.run()
    sandbox.manager.settle(SETTLE_SECONDS)
    log.info("--scale: generated %s in %.1fs", ", ".join(f"{v} {k}" for k, v in gen.made.items() if v),
             time.monotonic() - started)


class _Generator:
    """One generation run: deterministic by the sandbox's seed."""

    def __init__(self, sandbox: Any, counts: dict[str, int]) -> None:
        self.sb = sandbox
        self.store: Store = sandbox.store
        self.n = counts
        self.rng = random.Random(f"scale/{sandbox.seed}")
        self.now = ts(self.store.clock.now())
        self.namespaces = [f"scale-{i:02d}" for i in range(counts["namespaces"])]
        self.nodes: list[tuple[str, str, str]] = []  # (name, InternalIP, podCIDR base)
        self._next_ip: dict[str, int] = {}
        self._slot = 0
        self.hpa_targets: list[Obj] = []
        self.made = {k: 0 for k in ("namespaces", "nodes", "deployments", "replicasets", "pods", "rollouts",
                                    "hpas", "pipelineruns", "events")}

    def run(self) -> None:
        self._namespaces()
        self._nodes()
        self._deployments()
        self._rollouts()
        self._hpas()
        self._pipelineruns()
        self._events()

    def _create(self, key: str, obj: Obj, kind: str) -> Obj:
        out = self.store.create(key, obj, keep_status="status" in obj)
        self.made[kind] += 1
        return out

    # -- infrastructure ---------------------------------------------------------------------

    def _namespaces(self) -> None:
        for ns in self.namespaces:
            if self.store.get("/namespaces", None, ns) is None:
                self._create("/namespaces", {"metadata": {"name": ns, "labels": {SCALE_LABEL: "true"}}},
                             "namespaces")

    def _nodes(self) -> None:
        n = self.n["nodes"]
        if not n:
            return
        total = self.n["pods"] + self.n["rollouts"] * ROLLOUT_REPLICAS
        cap = min(NODE_POD_LIMIT, max(110, math.ceil(total * 1.25 / n)))
        for i in range(n):
            name = f"scale-node-{i:03d}"
            ip = f"10.43.{i // 250}.{i % 250 + 2}"
            cidr_base = f"10.{200 + i // 256}.{i % 256}"
            spec = {"name": name, "cpu": "16", "memory": "64Gi", "pods": cap, "ip": ip,
                    "podCIDR": f"{cidr_base}.0/24",
                    "labels": {"topology.kubernetes.io/zone": ZONES[i % len(ZONES)],
                               "node-role.kubernetes.io/edge": "", SCALE_LABEL: "true"}}
            self._create("/nodes", node_object(spec), "nodes")
            self.nodes.append((name, ip, cidr_base))

    def _place(self) -> tuple[str, str, str]:
        """The next node round-robin (an even spread stays within each node's pod capacity)."""
        name, ip, base = self.nodes[self._slot % len(self.nodes)]
        self._slot += 1
        host = self._next_ip.get(name, 2)
        self._next_ip[name] = host + 1
        return name, ip, f"{base}.{host}"

    # -- workloads --------------------------------------------------------------------------

    def _deployments(self) -> None:
        deps, pods = self.n["deployments"], self.n["pods"]
        hpa_every = max(1, deps // self.n["hpas"]) if self.n["hpas"] else 0
        for d in range(deps):
            replicas = pods // deps + (1 if d < pods % deps else 0)
            ns = self.namespaces[d % len(self.namespaces)]
            name = f"{APPS[d % len(APPS)]}-{d:04d}"
            with_hpa = bool(hpa_every) and d % hpa_every == 0 and d // hpa_every < self.n["hpas"]
            self._deployment(ns, name, replicas, d, with_hpa)

    def _template(self, name: str, d: int, with_hpa: bool) -> dict[str, Any]:
        cpu = HPA_CPU_REQUEST if with_hpa else CPU_REQUESTS[d % len(CPU_REQUESTS)]
        container: dict[str, Any] = {
            "name": APPS[d % len(APPS)], "image": f"registry.local/scale/{APPS[d % len(APPS)]}:1.{d % 7}.0",
            "ports": [{"containerPort": 8080, "name": "http"}],
            "resources": {"requests": {"cpu": cpu, "memory": MEM_REQUESTS[d % len(MEM_REQUESTS)]},
                          "limits": {"memory": "256Mi"}}}
        if d % 2 == 0:
            container["readinessProbe"] = {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10}
        return {"metadata": {"labels": {"app": name, "app.kubernetes.io/part-of": "scale"}},
                "spec": {"containers": [container]}}

    def _deployment(self, ns: str, name: str, replicas: int, d: int, with_hpa: bool) -> None:
        labels = {"app": name, "app.kubernetes.io/part-of": "scale"}
        dep = self._create("apps/deployments", {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": labels,
                         "annotations": {"deployment.kubernetes.io/revision": "1"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": self._template(name, d, with_hpa)},
        }, "deployments")
        if with_hpa:
            self.hpa_targets.append(dep)
        template = dep["spec"]["template"]
        pod_hash = compute_hash(template, None)
        rs_name = f"{name}-{pod_hash}"
        rs_template = {**template, "metadata": {**template.get("metadata", {}), "labels": dict(sorted(
            {**template["metadata"]["labels"], "pod-template-hash": pod_hash}.items()))}}
        surge = _resolve_percent(dep["spec"]["strategy"].get("rollingUpdate", {}).get("maxSurge", "25%"), replicas)
        rs = self._create("apps/replicasets", {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": rs_name, "namespace": ns, "labels": dict(rs_template["metadata"]["labels"]),
                         "annotations": {"deployment.kubernetes.io/desired-replicas": str(replicas),
                                         "deployment.kubernetes.io/max-replicas": str(replicas + surge),
                                         "deployment.kubernetes.io/revision": "1"},
                         "ownerReferences": [_controller_ref(dep)]},
            "spec": {"replicas": replicas,
                     "selector": {"matchLabels": dict(sorted({"app": name, "pod-template-hash": pod_hash}.items()))},
                     "template": rs_template},
            "status": {"replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": replicas,
                       "availableReplicas": replicas, "observedGeneration": 1},
        }, "replicasets")
        if replicas:
            first = self._pod(rs, rs_template)
            with _admission_off(self.store):
                for _ in range(replicas - 1):
                    self._pod(rs, first)
        self.store.mutate("apps/deployments", ns, name, lambda o: o.__setitem__("status", {
            "observedGeneration": o["metadata"].get("generation", 1), "replicas": replicas,
            "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
            "conditions": [
                {"type": "Available", "status": "True", "lastUpdateTime": self.now,
                 "lastTransitionTime": self.now, "reason": "MinimumReplicasAvailable",
                 "message": "Deployment has minimum availability."},
                {"type": "Progressing", "status": "True", "lastUpdateTime": self.now,
                 "lastTransitionTime": self.now, "reason": "NewReplicaSetAvailable",
                 "message": f'ReplicaSet "{rs_name}" has successfully progressed.'}]}),
            subresource="status")

    def _pod(self, rs: Obj, template: Obj) -> Obj:
        """One Running, Ready pod of `rs`; `template` is the RS template or an admitted sibling pod."""
        rmd = rs["metadata"]
        ns = rmd["namespace"]
        while True:
            name = f"{rmd['name']}-{random_suffix(self.rng)}"
            if self.store.get("/pods", ns, name) is None:
                break
        node, host_ip, pod_ip = self._place()
        spec = {**template["spec"], "nodeName": node}  # shallow: store.create copies it
        statuses = []
        for c in spec["containers"]:
            cs: dict[str, Any] = {
                "name": c["name"], "state": {"running": {"startedAt": self.now}}, "lastState": {},
                "ready": True, "restartCount": 0, "image": _normalized(c["image"]),
                "imageID": _image_id(c["image"]),
                "containerID": "containerd://" + hashlib.sha256(f"{ns}/{name}/{c['name']}".encode()).hexdigest(),
                "started": True}
            res = c.get("resources") or {}
            if res.get("requests") or res.get("limits"):
                cs["resources"] = {k: dict(res[k]) for k in ("limits", "requests") if res.get(k)}
            statuses.append(cs)
        qos = (template.get("status") or {}).get("qosClass") or qos_class({"spec": spec})
        conds = [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": self.now}
                 for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "generateName": f"{rmd['name']}-", "namespace": ns,
                            "labels": dict(template["metadata"]["labels"]), "ownerReferences": [_controller_ref(rs)]},
               "spec": spec,
               "status": {"phase": "Running", "conditions": conds, "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
                          "podIP": pod_ip, "podIPs": [{"ip": pod_ip}], "startTime": self.now,
                          "containerStatuses": statuses, "qosClass": qos}}
        return self._create("/pods", pod, "pods")

    def _rollouts(self) -> None:
        n = self.n["rollouts"]
        if not n:
            return
        if importlib.util.find_spec("almtui.sandbox.controllers.rollouts") is None:
            log.warning("--scale: rollouts=%d skipped: this build has no Argo Rollouts controller", n)
            return
        for r in range(n):
            ns = self.namespaces[r % len(self.namespaces)]
            name = f"canary-{r:04d}"
            self._create("argoproj.io/rollouts", {
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
                "spec": {"replicas": ROLLOUT_REPLICAS, "revisionHistoryLimit": 3,
                         "selector": {"matchLabels": {"app": name}},
                         "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{
                             "name": "app", "image": f"registry.local/scale/canary:2.{r % 5}.0",
                             "resources": {"requests": {"cpu": "25m", "memory": "32Mi"}}}]}},
                         "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {"duration": "30s"}},
                                                           {"setWeight": 60}, {"pause": {}}]}}},
            }, "rollouts")

    def _hpas(self) -> None:
        """HPAs on some Deployments, whose traffic peaks around the HPA's target at midday.

        Each target gets a load override (cpu per pod at the daily peak 40-90% of the 100m
        request) so autoscaling follows the daily curve instead of pinning at maxReplicas.
        """
        loads = self.sb.ctx.options.setdefault("load", {})
        for dep in self.hpa_targets:
            md = dep["metadata"]
            replicas = dep["spec"]["replicas"]
            loads.setdefault(md["name"], {"baseRps": round(replicas * self.rng.uniform(30, 80), 1),
                                          "cpuPerRequest": 1.0, "idleCpu": 10, "memory": "48Mi"})
            self._create("autoscaling/horizontalpodautoscalers", {
                "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": md["name"], "namespace": md["namespace"]},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": md["name"]},
                         "minReplicas": max(1, replicas), "maxReplicas": max(2, replicas * 2),
                         "metrics": [{"type": "Resource", "resource": {
                             "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]},
            }, "hpas")

    def _pipelineruns(self) -> None:
        n = self.n["pipelineruns"]
        if not n:
            return
        for ns in self.namespaces[: min(n, len(self.namespaces))]:
            self.store.create("tekton.dev/pipelines", {
                "apiVersion": "tekton.dev/v1", "kind": "Pipeline", "metadata": {"name": "build", "namespace": ns},
                "spec": {"tasks": [{"name": "fetch", "taskRef": {"name": "git-clone"}},
                                   {"name": "build", "taskRef": {"name": "kaniko"}, "runAfter": ["fetch"]}]}})
        now = self.store.clock.now()
        for i in range(n):
            ns = self.namespaces[i % len(self.namespaces)]
            name = f"build-run-{random_suffix(self.rng)}"
            failed = self.rng.random() < 0.2
            done = now - timedelta(seconds=self.rng.uniform(60, 7200))  # finished within the last 2 h
            start = done - timedelta(seconds=self.rng.uniform(30, 600))
            message = f"Tasks Completed: 2 (Failed: {int(failed)}, Cancelled 0), Skipped: 0"
            cond = {"type": "Succeeded", "status": "False" if failed else "True",
                    "reason": "Failed" if failed else "Succeeded", "message": message,
                    "lastTransitionTime": ts(done)}
            self._create("tekton.dev/pipelineruns", {
                "apiVersion": "tekton.dev/v1", "kind": "PipelineRun",
                "metadata": {"name": name, "namespace": ns, "labels": {"tekton.dev/pipeline": "build"}},
                "spec": {"pipelineRef": {"name": "build"}, "params": [{"name": "rev", "value": f"r{i}"}],
                         "timeouts": {"pipeline": "1h0m0s"}},
                "status": {"startTime": ts(start), "completionTime": ts(done), "conditions": [cond]},
            }, "pipelineruns")

    def _events(self) -> None:
        n = self.n["events"]
        if not n:
            return
        pods = self.store.list("/pods")
        pods = [p for p in pods if p["metadata"]["namespace"] in set(self.namespaces)] or pods
        if not pods:
            return
        for i in range(n):
            pod = pods[self.rng.randrange(len(pods))]
            md = pod["metadata"]
            node = pod["spec"].get("nodeName", "")
            c = pod["spec"]["containers"][0]
            kind = self.rng.random()
            if kind < 0.3:
                type_, reason, count = "Warning", "Unhealthy", self.rng.randint(1, 30)
                message = "Readiness probe failed: HTTP probe failed with statuscode: 503"
            elif kind < 0.4:
                type_, reason, count = "Warning", "BackOff", self.rng.randint(1, 12)
                message = f"Back-off restarting failed container {c['name']} in pod {md['name']}_{md['namespace']}" \
                          f"({md['uid']})"
            else:
                type_, count = "Normal", 1
                reason, message = self.rng.choice((
                    ("Pulled", f'Container image "{c["image"]}" already present on machine'),
                    ("Created", f"Created container: {c['name']}"),
                    ("Started", f"Started container {c['name']}")))
            self._create("/events", {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": f"{md['name']}.{i:016x}", "namespace": md["namespace"]},
                "involvedObject": {"kind": "Pod", "namespace": md["namespace"], "name": md["name"],
                                   "uid": md["uid"], "apiVersion": "v1",
                                   "resourceVersion": md["resourceVersion"],
                                   "fieldPath": f"spec.containers{{{c['name']}}}"},
                "reason": reason, "message": message, "type": type_,
                "source": {"component": "kubelet", "host": node},
                "firstTimestamp": self.now, "lastTimestamp": self.now, "count": count,
                "reportingComponent": "kubelet", "reportingInstance": node,
            }, "events")


_normalized = functools.lru_cache(maxsize=1024)(normalize_image)
_image_id = functools.lru_cache(maxsize=1024)(image_id)


@contextlib.contextmanager
def _admission_off(store: Store) -> Iterator[None]:
    """Skip defaulting and validation for a pod cloned from an admitted sibling.

    Siblings differ only in name, node and addresses, so admission would change nothing;
    skipping it halves the cost of a 20,000-pod build.
    """
    saved = store.admission, store.defaulters
    store.admission, store.defaulters = [], []
    try:
        yield
    finally:
        store.admission, store.defaulters = saved


def _controller_ref(owner: Obj) -> dict[str, Any]:
    md = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": md["name"], "uid": md["uid"],
            "controller": True, "blockOwnerDeletion": True}


def _resolve_percent(value: Any, total: int) -> int:
    """intstr.GetScaledValueFromIntOrPercent rounding up, as maxSurge is resolved."""
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * total / 100)
    return int(value)
