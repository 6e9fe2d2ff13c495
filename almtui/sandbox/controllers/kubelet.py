"""Simulated kubelets: one controller runs the pods of every node.

Why one controller: a kubelet's observable behaviour is the status it writes for the pods
bound to its node, the events it records and the logs/metrics it serves. Simulating them
all from one work queue keeps 20,000 pods cheap: each pod has a small runtime record, and
the controller asks to be woken at the pod's next transition (image pulled, container
started, readiness probe passed, container crashed, back-off expired, grace period over).

Lifecycle (times x10 for `-slow` images): bound -> Pending/ContainerCreating at once;
sandbox (podIP, PodReadyToStartContainers) after 0.5 s; per container, in order: pull
(1.2 s, only when the image is not on the node or the pull policy is Always), create and
start 0.3 s later; Ready 1 s after start, or the readinessProbe's initialDelaySeconds
(3 s when unset). `-bad` containers exit with code 1 two seconds after each start.

Run to completion: hooks in ``ctx.shared["container_exits"]`` (``fn(pod, container, started_at)
-> (exit_at, exit_code) | None``, first answer wins) say when a container started at
``started_at`` exits; the Tekton controller plans step containers this way. An exited container
is terminated (Completed for code 0, else Error) and restarted per ``spec.restartPolicy``
(Always: always; OnFailure: non-zero codes; Never: never) with the kubelet's crash back-off
(immediately, then 10 s doubling to 300 s). When no container will run again the pod is
terminal, as kubelet's getPhase says: Succeeded if every container exited 0, else Failed;
its Ready conditions turn False (PodCompleted / PodFailed) and the kubelet forgets it.

Deleted pods (deletionTimestamp) stop their containers and are removed with grace 0 after
min(deletionGracePeriodSeconds, 2 s). Nodes named in ``ctx.shared["partitions"]`` get no
kubelet work at all until they leave the set; their pods keep their last status. Pods
bound to a Node that does not exist are left to the pod GC controller (controllers/nodes.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from almtui.kube.durations import format_go_duration, parse_rfc3339
from almtui.kube.quantities import cpu_millis, to_bytes
from almtui.sandbox.controllers.base import Context, Controller
from almtui.sandbox.errors import ApiError
from almtui.sandbox.load import LoadModel, image_kind
from almtui.sandbox.store import Obj, WatchEvent, ts

COMPONENT = "kubelet"
ExitHook = Callable[[Obj, str, float], tuple[float, int] | None]
KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady")
SANDBOX_DELAY = 0.5
PULL_SECONDS = 1.2
START_DELAY = 0.3
READY_DELAY = 1.0  # no readiness probe
PROBE_DELAY = 3.0  # readiness probe without initialDelaySeconds
CRASH_AFTER = 2.0  # `-bad` containers exit this long after starting
SYNC_DELAY = 1.0  # the kubelet notices an exited container on its next sync
BACKOFF_INITIAL = 10.0
BACKOFF_MAX = 300.0
STOP_SECONDS = 2.0  # how long a container takes to stop after SIGTERM
SLOW_FACTOR = 10.0


# -- pure helpers --------------------------------------------------------------------------------

def _sha(*parts: Any) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def normalize_image(image: str) -> str:
    """The reference containerd reports: "nginx:1.25" -> "docker.io/library/nginx:1.25"."""
    name, _, digest = image.partition("@")
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = "docker.io/library/" + name
    elif "." not in first and ":" not in first and first != "localhost":
        name = "docker.io/" + name
    if not digest and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name + ("@" + digest if digest else "")


def image_id(image: str) -> str:
    """A deterministic repo digest: "docker.io/library/nginx@sha256:<hex>"."""
    norm = normalize_image(image)
    repo = norm.split("@", 1)[0]
    tail = repo.rsplit("/", 1)
    if ":" in tail[-1]:
        repo = repo[: repo.rfind(":")]
    return f"{repo}@sha256:{_sha('image', norm)}"


def image_size(image: str) -> int:
    return 20_000_000 + int(_sha("size", image)[:8], 16) % 180_000_000


def pull_policy(container: dict[str, Any]) -> str:
    """The defaulted imagePullPolicy: Always for ":latest" or no tag, else IfNotPresent."""
    if container.get("imagePullPolicy"):
        return str(container["imagePullPolicy"])
    image = str(container.get("image", ""))
    if "@" in image:
        return "IfNotPresent"
    tail = image.rsplit("/", 1)[-1]
    return "IfNotPresent" if ":" in tail and not tail.endswith(":latest") else "Always"


def qos_class(pod: Obj) -> str:
    """pkg/apis/core/helper/qos: Guaranteed, Burstable or BestEffort."""
    spec = pod.get("spec") or {}
    containers = list(spec.get("initContainers") or []) + list(spec.get("containers") or [])
    requests: dict[str, int] = {}
    limits: dict[str, int] = {}
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req = {k: v for k, v in (res.get("requests") or {}).items() if k in ("cpu", "memory")}
        lim = {k: v for k, v in (res.get("limits") or {}).items() if k in ("cpu", "memory")}
        for k, v in req.items():
            requests[k] = requests.get(k, 0) + _amount(k, v)
        for k, v in lim.items():
            limits[k] = limits.get(k, 0) + _amount(k, v)
        if set(lim) != {"cpu", "memory"}:
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and all(requests.get(k, limits[k]) == limits[k] for k in limits):
        return "Guaranteed"
    return "Burstable"


def _amount(resource: str, v: Any) -> int:
    return cpu_millis(v) if resource == "cpu" else to_bytes(v)


def format_pod(pod: Obj) -> str:
    """kubelet's format.Pod: name_namespace(uid)."""
    md = pod["metadata"]
    return f"{md['name']}_{md.get('namespace', '')}({md.get('uid', '')})"


def _when(s: str | None, default: float) -> float:
    if not s:
        return default
    try:
        return parse_rfc3339(s).timestamp()
    except ValueError:
        return default


def set_condition(conds: list[dict[str, Any]], type_: str, status: str, now: str,
                  reason: str | None = None, message: str | None = None) -> None:
    """Add or replace a pod condition; lastTransitionTime moves only when status changes."""
    new: dict[str, Any] = {"type": type_, "status": status, "lastProbeTime": None, "lastTransitionTime": now}
    if reason:
        new["reason"] = reason
    if message:
        new["message"] = message
    for i, c in enumerate(conds):
        if c.get("type") == type_:
            if c.get("status") == status and c.get("lastTransitionTime"):
                new["lastTransitionTime"] = c["lastTransitionTime"]
            conds[i] = new
            return
    conds.append(new)


# -- runtime state -------------------------------------------------------------------------------

@dataclass
class Ctr:
    """One container's runtime state as the kubelet tracks it."""

    name: str
    image: str
    kind: str
    scale: float
    stage: str = "idle"  # idle|queued|pulling|creating|running|exited|backoff|done|stopped
    due: float | None = None
    started_at: float | None = None
    ready: bool = False
    ready_at: float | None = None
    exit_at: float | None = None  # when the running container exits (hook or `-bad`)
    exit_code: int = 1
    restarts: int = 0
    backoff: float = 0.0
    cid: str = ""
    status_image: str = ""
    status_image_id: str = ""
    terminated: dict[str, Any] | None = None  # state.terminated while exited
    last: dict[str, Any] | None = None  # lastState.terminated
    waiting_reason: str = "ContainerCreating"
    waiting_message: str | None = None
    ever_started: bool = False


@dataclass
class Run:
    """One pod's runtime on its node."""

    uid: str
    ns: str
    name: str
    node: str
    admitted_at: float
    sandbox_at: float
    ctrs: list[Ctr]
    host_ip: str = ""
    pod_ip: str = ""
    sandbox_ready: bool = False
    stop_at: float | None = None
    stop_done_at: float | None = None
    stopped: bool = False  # deleted: containers stopped
    timer_at: float | None = None

    @property
    def finished(self) -> bool:
        """Every container exited for good: the pod is terminal."""
        return bool(self.ctrs) and all(c.stage == "done" for c in self.ctrs)


class IPAM:
    """host-local style pod IPs: the node's podCIDR (or a /24 handed out in order of first use)."""

    def __init__(self) -> None:
        self._cidr: dict[str, tuple[str, int]] = {}
        self._next_block = 0
        self._used: dict[str, set[int]] = {}
        self._last: dict[str, int] = {}

    def _base(self, node: Obj | None, name: str) -> str:
        cidr = ((node or {}).get("spec") or {}).get("podCIDR")
        if cidr:
            return cidr.split("/", 1)[0].rsplit(".", 1)[0]
        if name not in self._cidr:
            i = self._next_block
            self._next_block += 1
            self._cidr[name] = (f"10.{244 + i // 256}.{i % 256}", i)
        return self._cidr[name][0]

    def allocate(self, node: Obj | None, name: str) -> str:
        base = self._base(node, name)
        used = self._used.setdefault(name, set())
        last = self._last.get(name, 1)
        for step in range(1, 254):
            host = (last - 1 + step) % 253 + 2  # 2..254, after the last one handed out
            if host not in used:
                used.add(host)
                self._last[name] = host
                return f"{base}.{host}"
        return f"{base}.255"

    def reserve(self, name: str, ip: str) -> None:
        try:
            self._used.setdefault(name, set()).add(int(ip.rsplit(".", 1)[1]))
        except (ValueError, IndexError):
            pass

    def release(self, name: str, ip: str) -> None:
        try:
            self._used.get(name, set()).discard(int(ip.rsplit(".", 1)[1]))
        except (ValueError, IndexError):
            pass


def node_ip(node: Obj | None, name: str) -> str:
    for a in ((node or {}).get("status") or {}).get("addresses") or ():
        if a.get("type") == "InternalIP" and a.get("address"):
            return str(a["address"])
    h = int(_sha("node", name)[:4], 16)
    return f"10.0.{h // 250 % 250}.{h % 250 + 2}"


# -- the kubelet controller ----------------------------------------------------------------------

class Kubelet(Controller):
    """Runs the pods bound to every (non-partitioned) node; see the module docstring."""

    name = "kubelet"
    watches = ("/pods", "/nodes")
    period = 1.0  # partition checks and live log streaming

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        seed = int(ctx.options.get("seed", 0) or 0)
        if "load" not in ctx.shared:
            ctx.shared["load"] = LoadModel(seed, ctx.clock, ctx.options)
        self.load: LoadModel = ctx.shared["load"]
        if "logs" not in ctx.shared:
            from almtui.sandbox.podlogs import PodLogs

            ctx.shared["logs"] = PodLogs(ctx)
        if "metrics" not in ctx.shared:
            from almtui.sandbox.podmetrics import PodMetrics

            ctx.shared["metrics"] = PodMetrics(ctx)
        ctx.shared.setdefault("partitions", set())
        self.exit_hooks: list[ExitHook] = ctx.shared.setdefault("container_exits", [])
        self._runs: dict[tuple[str, str], Run] = {}
        self._by_node: dict[str, set[tuple[str, str]]] = {}
        self._pod_node: dict[tuple[str, str], str] = {}
        self._images: dict[str, set[str]] = {}
        self._seen_partitions: set[str] = set()
        self.ipam = IPAM()

    # -- indexes ----------------------------------------------------------------------------

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        if ev.key == "/nodes":
            if ev.type == "ADDED":
                yield from sorted(self._by_node.get(ev.obj["metadata"]["name"], ()))
            return
        md = ev.obj["metadata"]
        key = (md.get("namespace", ""), md["name"])
        deleted = ev.type == "DELETED"
        self.load.observe(ev.obj, deleted=deleted)
        node = "" if deleted else ((ev.obj.get("spec") or {}).get("nodeName") or "")
        old = self._pod_node.get(key)
        if old != node:
            if old:
                self._by_node.get(old, set()).discard(key)
            if node:
                self._by_node.setdefault(node, set()).add(key)
                self._pod_node[key] = node
            else:
                self._pod_node.pop(key, None)
        if deleted:
            run = self._runs.get(key)
            if run is not None and run.uid == md.get("uid"):
                self._drop(key)
            return
        if node:
            yield key

    def _drop(self, key: tuple[str, str]) -> None:
        run = self._runs.pop(key, None)
        if run is not None and run.pod_ip:
            self.ipam.release(run.node, run.pod_ip)

    def pods_on(self, node: str) -> list[tuple[str, str]]:
        return sorted(self._by_node.get(node, ()))

    @property
    def partitions(self) -> set[str]:
        return self.ctx.shared.get("partitions") or set()

    def tick(self) -> None:
        current = set(self.partitions)
        resumed = self._seen_partitions - current
        self._seen_partitions = current
        mgr = self.ctx.shared.get("manager")
        if mgr is not None:
            for node in sorted(resumed):
                for key in self.pods_on(node):
                    mgr.enqueue(self, key)
        logs = self.ctx.shared.get("logs")
        if logs is not None and hasattr(logs, "pump"):
            logs.pump()

    # -- reconcile --------------------------------------------------------------------------

    def reconcile(self, key: Any) -> float | None:
        ns, name = key
        pod = self.store.get("/pods", ns, name)
        if pod is None:
            self._drop(key)
            return None
        spec = pod.get("spec") or {}
        node_name = spec.get("nodeName")
        if not node_name or node_name in self.partitions:
            return None
        node = self.store.get("/nodes", None, node_name)
        if node is None:
            return None  # no kubelet: the pod GC controller deals with it
        md = pod["metadata"]
        run = self._runs.get(key)
        if run is not None and run.uid != md.get("uid"):
            self._drop(key)
            run = None
        now = self.ctx.now()
        if run is None:
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                if md.get("deletionTimestamp"):
                    self._remove(pod)
                return None
            run = self._admit(pod, node, now)
            self._runs[key] = run
        if run.timer_at is not None and now >= run.timer_at:
            run.timer_at = None
        if md.get("deletionTimestamp") and run.stop_at is None:
            self._begin_stop(run, pod, now)
        self._advance(run, pod, now)
        self._write(run, pod, now)
        if run.stopped:
            self._remove(pod)
            self._drop(key)
            return None
        if run.finished:
            self._drop(key)  # terminal: the pod stays, its sandbox and timers go
            return None
        nxt = self._next_due(run)
        if nxt is None or (run.timer_at is not None and run.timer_at <= nxt):
            return None
        run.timer_at = nxt
        return max(nxt - now, 0.001)

    def _admit(self, pod: Obj, node: Obj, now: float) -> Run:
        """Start tracking a pod; adopt whatever a previous kubelet already reported."""
        md, spec = pod["metadata"], pod.get("spec") or {}
        status = pod.get("status") or {}
        node_name = spec["nodeName"]
        ctrs = []
        for c in spec.get("containers") or ():
            kind = image_kind(c.get("image"))
            ctrs.append(Ctr(name=c["name"], image=str(c.get("image", "")), kind=kind,
                            scale=SLOW_FACTOR if kind == "slow" else 1.0))
        scale = max((c.scale for c in ctrs), default=1.0)
        admitted = _when(status.get("startTime"), now)
        run = Run(uid=md.get("uid", ""), ns=md.get("namespace", ""), name=md["name"], node=node_name,
                  admitted_at=admitted, sandbox_at=admitted + SANDBOX_DELAY * scale, ctrs=ctrs,
                  host_ip=status.get("hostIP") or node_ip(node, node_name))
        if status.get("podIP"):
            run.pod_ip = status["podIP"]
            run.sandbox_ready = True
            self.ipam.reserve(node_name, run.pod_ip)
        old = {cs.get("name"): cs for cs in status.get("containerStatuses") or ()}
        images = self._images.setdefault(node_name, set())
        for c in ctrs:
            cs = old.get(c.name)
            if not cs:
                continue
            c.restarts = int(cs.get("restartCount") or 0)
            c.last = (cs.get("lastState") or {}).get("terminated")
            state = cs.get("state") or {}
            term = state.get("terminated")
            if "running" in state and cs.get("containerID"):
                c.stage, c.ever_started = "running", True
                c.started_at = _when(state["running"].get("startedAt"), now)
                c.cid = cs["containerID"]
                c.status_image, c.status_image_id = cs.get("image", ""), cs.get("imageID", "")
                c.ready = bool(cs.get("ready")) and c.kind != "bad"
                c.ready_at = None if c.ready else self._ready_delay(pod, c, c.started_at)
                c.exit_at, c.exit_code = self._exit_plan(pod, c, c.started_at)
                if c.kind == "bad" and c.exit_at is not None:
                    c.exit_at = max(c.exit_at, now)
                if c.exit_at is not None:
                    c.backoff = min(BACKOFF_MAX, BACKOFF_INITIAL * 2 ** max(c.restarts - 1, 0))
                images.add(c.image)
            elif term and not restarts(spec, int(term.get("exitCode") or 0)):
                # exited for good before we arrived
                c.stage, c.ever_started, c.terminated = "done", True, term
                c.cid = cs.get("containerID") or term.get("containerID") or ""
                c.status_image, c.status_image_id = cs.get("image", ""), cs.get("imageID", "")
            elif c.restarts or c.last:
                # crash-looping when we arrived: restart on the next sync
                c.ever_started = True
                c.stage, c.due = "exited", now
                c.terminated = state.get("terminated") or c.last
                c.backoff = min(BACKOFF_MAX, BACKOFF_INITIAL * 2 ** max(c.restarts - 1, 0))
        if run.sandbox_ready:
            first = next((c for c in ctrs if c.stage == "idle"), None)
            if first is not None:
                first.stage, first.due = "queued", now
        return run

    # -- transitions ------------------------------------------------------------------------

    def _ready_delay(self, pod: Obj, c: Ctr, started: float) -> float | None:
        """When the container turns Ready (never for `-bad`)."""
        if c.kind == "bad":
            return None
        probe = _spec_container(pod, c.name).get("readinessProbe")
        delay = READY_DELAY if probe is None else float(probe.get("initialDelaySeconds") or PROBE_DELAY)
        return started + delay * c.scale

    def _event(self, pod: Obj, run: Run, type_: str, reason: str, message: str) -> None:
        if self.ctx.events is not None:
            self.ctx.events.record(pod, type_, reason, message, COMPONENT, host=run.node)

    def _advance(self, run: Run, pod: Obj, now: float) -> None:
        """Apply every transition due by `now`, in time order."""
        for _ in range(10000):  # bounded catch-up after a long partition
            due_items: list[tuple[float, int, Ctr | None]] = []
            if not run.sandbox_ready and run.stop_at is None:
                due_items.append((run.sandbox_at, -1, None))
            for i, c in enumerate(run.ctrs):
                d = self._ctr_due(c, run)
                if d is not None:
                    due_items.append((d, i, c))
            if run.stop_done_at is not None and not run.stopped:
                due_items.append((run.stop_done_at, len(run.ctrs), None))
            if not due_items:
                return
            when, idx, c = min(due_items, key=lambda x: (x[0], x[1]))
            if when > now:
                return
            if idx == -1:
                run.sandbox_ready = True
                run.pod_ip = self.ipam.allocate(self.store.get("/nodes", None, run.node), run.node)
                first = next((x for x in run.ctrs if x.stage == "idle"), None)
                if first is not None:
                    first.stage, first.due = "queued", when
            elif c is None:
                self._finish_stop(run)
            else:
                self._step(run, pod, c, when)

    def _ctr_due(self, c: Ctr, run: Run) -> float | None:
        if run.stop_at is not None:
            return None
        if c.stage in ("queued", "pulling", "creating", "exited", "backoff"):
            return c.due
        if c.stage == "running":
            ds = [t for t in (c.ready_at if not c.ready else None, c.exit_at) if t is not None]
            return min(ds) if ds else None
        return None

    def _step(self, run: Run, pod: Obj, c: Ctr, when: float) -> None:
        images = self._images.setdefault(run.node, set())
        if c.stage == "queued":
            if pull_policy(_spec_container(pod, c.name)) == "Always" or c.image not in images:
                self._event(pod, run, "Normal", "Pulling", f'Pulling image "{c.image}"')
                c.stage, c.due = "pulling", when + PULL_SECONDS * c.scale
            else:
                self._event(pod, run, "Normal", "Pulled", _present(c.image))
                c.stage, c.due = "creating", when + START_DELAY * c.scale
        elif c.stage == "pulling":
            d = format_go_duration(PULL_SECONDS * c.scale)
            images.add(c.image)
            self._event(pod, run, "Normal", "Pulled",
                        f'Successfully pulled image "{c.image}" in {d} ({d} including waiting). '
                        f"Image size: {image_size(c.image)} bytes.")
            c.stage, c.due = "creating", when + START_DELAY * c.scale
        elif c.stage == "creating":
            self._start(run, pod, c, when)
            nxt = next((x for x in run.ctrs if x.stage == "idle"), None)
            if nxt is not None:
                nxt.stage, nxt.due = "queued", when
        elif c.stage == "running":
            if c.exit_at is not None and c.exit_at <= when:
                self._exit(pod, c, c.exit_at)
            else:
                c.ready, c.ready_at = True, None
        elif c.stage == "exited":
            if c.backoff <= 0:
                c.backoff = BACKOFF_INITIAL
                self._restart(run, pod, c, when)
            else:
                fin = _when((c.terminated or {}).get("finishedAt"), when)
                c.last = c.terminated
                c.stage, c.due = "backoff", max(fin + c.backoff, when)
                c.waiting_reason = "CrashLoopBackOff"
                c.waiting_message = (f"back-off {format_go_duration(c.backoff)} restarting failed "
                                     f"container={c.name} pod={format_pod(pod)}")
                self._event(pod, run, "Warning", "BackOff",
                            f"Back-off restarting failed container {c.name} in pod {format_pod(pod)}")
        elif c.stage == "backoff":
            c.backoff = min(c.backoff * 2, BACKOFF_MAX)
            self._restart(run, pod, c, when)

    def _start(self, run: Run, pod: Obj, c: Ctr, when: float) -> None:
        c.cid = "containerd://" + _sha(run.uid, c.name, c.restarts)
        c.status_image = normalize_image(c.image)
        c.status_image_id = image_id(c.image)
        c.stage, c.due, c.started_at, c.ever_started = "running", None, when, True
        c.terminated, c.waiting_message, c.waiting_reason = None, None, "ContainerCreating"
        c.ready = False
        c.ready_at = self._ready_delay(pod, c, when)
        c.exit_at, c.exit_code = self._exit_plan(pod, c, when)
        self._event(pod, run, "Normal", "Created", f"Created container: {c.name}")
        self._event(pod, run, "Normal", "Started", f"Started container {c.name}")

    def _exit_plan(self, pod: Obj, c: Ctr, started: float) -> tuple[float | None, int]:
        """When a container started at `started` exits, and its code: the hooks, else `-bad` crashes."""
        for hook in list(self.exit_hooks):
            answer = hook(pod, c.name, started)
            if answer is not None:
                exit_at, code = answer
                return max(float(exit_at), started), int(code)
        if c.kind == "bad":
            return started + CRASH_AFTER, 1
        return None, 0

    def _exit(self, pod: Obj, c: Ctr, when: float) -> None:
        """The container's process ended: terminated now; restarted on the next sync if the policy says so."""
        code = c.exit_code
        c.terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                        "startedAt": ts(_dt(c.started_at or when)), "finishedAt": ts(_dt(when)),
                        "containerID": c.cid}
        c.ready, c.exit_at, c.ready_at = False, None, None
        if restarts(pod.get("spec") or {}, code):
            c.stage, c.due = "exited", when + SYNC_DELAY
        else:
            c.stage, c.due = "done", None

    def _restart(self, run: Run, pod: Obj, c: Ctr, when: float) -> None:
        c.last = c.terminated
        c.restarts += 1
        self._event(pod, run, "Normal", "Pulled", _present(c.image))
        self._start(run, pod, c, when)

    def _begin_stop(self, run: Run, pod: Obj, now: float) -> None:
        md = pod["metadata"]
        grace = md.get("deletionGracePeriodSeconds")
        grace = float(grace) if grace is not None else 30.0
        run.stop_at = now
        run.stop_done_at = now + min(grace, STOP_SECONDS)
        for c in run.ctrs:
            if c.stage == "running":
                self._event(pod, run, "Normal", "Killing", f"Stopping container {c.name}")

    def _finish_stop(self, run: Run) -> None:
        when = run.stop_done_at or self.ctx.now()
        for c in run.ctrs:
            if c.stage == "running":
                c.terminated = {"exitCode": 0, "reason": "Completed",
                                "startedAt": ts(_dt(c.started_at or when)),
                                "finishedAt": ts(_dt(when)), "containerID": c.cid}
            c.stage, c.ready, c.due = "stopped", False, None
        run.stopped = True

    def _next_due(self, run: Run) -> float | None:
        dues = [] if run.sandbox_ready or run.stop_at is not None else [run.sandbox_at]
        dues += [d for c in run.ctrs if (d := self._ctr_due(c, run)) is not None]
        if run.stop_done_at is not None and not run.stopped:
            dues.append(run.stop_done_at)
        return min(dues) if dues else None

    # -- status -----------------------------------------------------------------------------

    def render(self, run: Run, pod: Obj, now: float) -> dict[str, Any]:
        """The PodStatus this kubelet reports (field order as the API server serialises it)."""
        old = pod.get("status") or {}
        stamp = ts(_dt(now))
        statuses = [self._container_status(run, pod, c) for c in run.ctrs]
        all_ready = bool(run.ctrs) and all(c.ready for c in run.ctrs)
        unready = [c.name for c in run.ctrs if not c.ready]
        terminal = run.stopped or run.finished
        if terminal:
            ok = all((c.terminated or {}).get("exitCode") == 0 for c in run.ctrs)
            phase = "Succeeded" if ok else "Failed"
        elif all(c.ever_started for c in run.ctrs) and run.ctrs:
            phase = "Running"
        else:
            phase = "Pending"
        conds = [dict(c) for c in old.get("conditions") or () if c.get("type") in KUBELET_CONDITIONS]
        sandbox = "True" if run.sandbox_ready and not terminal else "False"
        set_condition(conds, "PodReadyToStartContainers", sandbox, stamp)
        # status/generate.go: Initialized says PodCompleted, the Ready pair PodCompleted or PodFailed
        set_condition(conds, "Initialized", "True", stamp, "PodCompleted" if phase == "Succeeded" else None)
        if terminal:
            why = "PodCompleted" if phase == "Succeeded" else "PodFailed"
            set_condition(conds, "Ready", "False", stamp, why)
            set_condition(conds, "ContainersReady", "False", stamp, why)
        elif all_ready:
            set_condition(conds, "Ready", "True", stamp)
            set_condition(conds, "ContainersReady", "True", stamp)
        else:
            msg = f"containers with unready status: [{' '.join(unready)}]"
            set_condition(conds, "Ready", "False", stamp, "ContainersNotReady", msg)
            set_condition(conds, "ContainersReady", "False", stamp, "ContainersNotReady", msg)
        by_type = {c["type"]: c for c in conds}
        ordered = [by_type[t] for t in KUBELET_CONDITIONS]
        ordered += [c for c in old.get("conditions") or () if c.get("type") not in KUBELET_CONDITIONS]
        if not any(c.get("type") == "PodScheduled" for c in ordered):
            set_condition(ordered, "PodScheduled", "True", stamp)
        status: dict[str, Any] = {"phase": phase, "conditions": ordered}
        for k in ("message", "reason", "nominatedNodeName"):
            if k in old:
                status[k] = old[k]
        status["hostIP"] = run.host_ip
        status["hostIPs"] = [{"ip": run.host_ip}]
        if run.pod_ip:
            status["podIP"] = run.pod_ip
            status["podIPs"] = [{"ip": run.pod_ip}]
        status["startTime"] = ts(_dt(run.admitted_at))
        status["containerStatuses"] = statuses
        status["qosClass"] = old.get("qosClass") or qos_class(pod)
        return status

    def _container_status(self, run: Run, pod: Obj, c: Ctr) -> dict[str, Any]:
        if c.stage == "running":
            state: dict[str, Any] = {"running": {"startedAt": ts(_dt(c.started_at or 0.0))}}
        elif c.terminated is not None and c.stage in ("exited", "done", "stopped"):
            state = {"terminated": dict(c.terminated)}
        else:
            w: dict[str, Any] = {"reason": c.waiting_reason}
            if c.waiting_message:
                w["message"] = c.waiting_message
            state = {"waiting": w}
        cs: dict[str, Any] = {"name": c.name, "state": state,
                              "lastState": {"terminated": dict(c.last)} if c.last else {},
                              "ready": c.ready, "restartCount": c.restarts,
                              "image": c.status_image or c.image, "imageID": c.status_image_id}
        if c.cid:
            cs["containerID"] = c.cid
        cs["started"] = c.stage == "running"
        res = _spec_container(pod, c.name).get("resources") or {}
        if c.stage == "running" and (res.get("requests") or res.get("limits")):
            cs["resources"] = {k: dict(res[k]) for k in ("limits", "requests") if res.get(k)}
        return cs

    def _write(self, run: Run, pod: Obj, now: float) -> None:
        status = self.render(run, pod, now)
        if status == pod.get("status"):
            return  # nothing new: skip the store's copy-and-compare
        # a status PUT without resourceVersion: the store copies only what it keeps
        self.store.update("/pods", {"metadata": pod["metadata"], "status": status}, subresource="status",
                          check_rv=False)

    def _remove(self, pod: Obj) -> None:
        md = pod["metadata"]
        try:
            self.store.delete("/pods", md.get("namespace"), md["name"], grace_seconds=0,
                              precondition_uid=md.get("uid"))
        except ApiError as e:
            if e.code not in (404, 409):
                raise


def restarts(spec: dict[str, Any], exit_code: int) -> bool:
    """Whether the kubelet restarts a container that exited with `exit_code` (spec.restartPolicy)."""
    policy = spec.get("restartPolicy") or "Always"
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _spec_container(pod: Obj, name: str) -> dict[str, Any]:
    for c in (pod.get("spec") or {}).get("containers") or ():
        if c.get("name") == name:
            return c
    return {}


def _present(image: str) -> str:
    return f'Container image "{image}" already present on machine'
