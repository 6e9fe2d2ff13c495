"""Tekton Pipelines (tekton.dev/v1): PipelineRun and TaskRun reconcilers, step pods and step logs.

Modelled after tektoncd/pipeline (pkg/reconciler/pipelinerun, pkg/reconciler/taskrun, pkg/pod):

- A PipelineRun resolves its Pipeline (pipelineRef or inline pipelineSpec), copies it with parameters
  substituted into status.pipelineSpec, and runs its tasks in runAfter order (a DAG; independent tasks
  in parallel), then its `finally` tasks. Each task gets a TaskRun named kmeta.ChildName(run, "-" + task),
  owned by the run and listed in status.childReferences. Skipping, counting, reasons and messages follow
  pipelinerunstate.go ("Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 2"); events follow
  events.Emit: Started, then one per change of the Succeeded condition (Running, Succeeded, Failed).
- spec.status: Cancelled patches every running TaskRun with TaskRunCancelled and cancel.go's
  statusMessage, and the run is Cancelled at once; CancelledRunFinally / StoppedRunFinally are the
  graceful variants; PipelineRunPending starts nothing until the field is cleared. spec.timeouts.pipeline
  (default 1h0m0s) times the run out (PipelineRunTimeout), cancelling its TaskRuns with the timeout message.
- A TaskRun gets a pod `<taskrun>-pod` with one container `step-<name>` per step and restartPolicy Never.
  Step timing is a seeded plan: a few seconds to a minute per step, by what the step's name says it does.
  A TaskRun, pipeline task, Task or step whose name ends in `-fail` fails: its test step (else the last
  step) exits 1 and the later steps are skipped, as Tekton's entrypoint does. Cancel and timeout mark the
  unfinished steps terminated and delete the pod (keep-pod-on-cancel is off by default upstream).

Kubelet coordination. The plan is the single source of step timing. If the kubelet offers run-to-completion
(it creates the list ``ctx.shared["container_exits"]`` and asks each registered
``fn(pod, container, started) -> (exit_at, exit_code) | None`` when it starts a container), the TaskRun
controller registers `step_exit` and reads step states from the pod's container statuses, as upstream
does. Otherwise the controller overlays the plan on the pod's running containers itself: steps terminate
in the TaskRun status on schedule while the pod keeps running (the kubelet does not end containers).

Logs. The controller registers `step_log_source` with the kubelet's PodLogs (``ctx.shared["logs"]``):
build output for step containers (git fetch, `go test` with "ok 12 tests" or "error: test
checkout_test.go:42 failed", image build and push lines), generated from the plan; PodLogs cuts it at
"now", follows it, and serves every other container itself.

Scenario staging (sandbox-only annotations, so a scenario can build a spread-out run history while it
settles): `sandbox.almtui.io/release-after: "<s>"` on a PipelineRun created with spec.status
PipelineRunPending clears the field <s> seconds after creation, as a queueing admission controller
(tekton-kueue) would; `sandbox.almtui.io/cancel-after: "<s>"` sets spec.status Cancelled <s> seconds after
the run started, as `tkn pipelinerun cancel` would.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from almtui.kube.durations import format_go_duration, parse_go_duration, parse_rfc3339
from almtui.sandbox.controllers.base import Context, Controller
from almtui.sandbox.errors import ApiError
from almtui.sandbox.load import unit
from almtui.sandbox.store import Obj, WatchEvent, ts

PR_KEY = "tekton.dev/pipelineruns"
TR_KEY = "tekton.dev/taskruns"
API_VERSION = "tekton.dev/v1"
PR_COMPONENT = "pipelinerun-controller"
TR_COMPONENT = "taskrun-controller"
DEFAULT_TIMEOUT = 3600.0  # config-defaults default-timeout-minutes: 60
MANAGED_BY = "tekton-pipelines"
RELEASE = "v1.0.0"
STARTUP = 2.0  # seconds from pod creation until the first step runs (pulls, init containers)
# Tekton < v1.12 reports a failed step as "Failed"; v1.12+ says "StepFailed".
STEP_FAILED_REASON = "Failed"

CANCELLED_BY_PIPELINE = "TaskRun cancelled as the PipelineRun it belongs to has been cancelled."
CANCELLED_BY_TIMEOUT = "TaskRun cancelled as the PipelineRun it belongs to has timed out."
ANN_RELEASE_AFTER = "sandbox.almtui.io/release-after"
ANN_CANCEL_AFTER = "sandbox.almtui.io/cancel-after"

SKIP_STOPPING = "PipelineRun was stopping"
SKIP_GRACEFULLY_CANCELLED = "PipelineRun was gracefully cancelled"
SKIP_GRACEFULLY_STOPPED = "PipelineRun was gracefully stopped"
SKIP_PARENT = "Parent Tasks were skipped"
SKIP_TIMEOUT = "PipelineRun timeout has been reached"

_PARAM = re.compile(r"\$\(params(?:\.([A-Za-z0-9_.-]+)|\[['\"]([^'\"]+)['\"]\])\)")
_RESULT_REF = re.compile(r"\$\(tasks\.([a-z0-9-]+)\.results\.")


# -- pure helpers --------------------------------------------------------------------------------

def child_name(parent: str, suffix: str) -> str:
    """knative.dev/pkg/kmeta.ChildName: parent+suffix, hashed down to 63 characters when longer."""
    longest, head = 63, 63 - 32
    if len(parent) <= longest - len(suffix):
        return parent + suffix
    if head - len(suffix) <= 0:
        h = hashlib.md5((parent + suffix).encode()).hexdigest()
        ret = parent[:head] + h
        if len(ret) < longest:
            ret += suffix[: longest - len(ret)]
        return ret.rstrip("-.")
    return parent[: head - len(suffix)] + hashlib.md5(parent.encode()).hexdigest() + suffix


def go_quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def succeeded(obj_or_status: Obj | None) -> dict | None:
    """The Succeeded condition of an object or of its status."""
    st = obj_or_status or {}
    if "conditions" not in st and isinstance(st.get("status"), dict):
        st = st["status"]
    return next((c for c in st.get("conditions") or () if c.get("type") == "Succeeded"), None)


def is_done(obj: Obj | None) -> bool:
    c = succeeded(obj)
    return c is not None and c.get("status") in ("True", "False")


def mark(status: dict, cstatus: str, reason: str, message: str, now: str) -> None:
    """knative SetCondition: the transition time moves only when status, reason or message change."""
    old = succeeded(status)
    new: dict[str, Any] = {"type": "Succeeded", "status": cstatus, "lastTransitionTime": now}
    if reason:
        new["reason"] = reason
    if message:
        new["message"] = message
    if old is not None and (old.get("status"), old.get("reason", ""), old.get("message", "")) == (
            cstatus, reason, message):
        new["lastTransitionTime"] = old.get("lastTransitionTime", now)
    others = [c for c in status.get("conditions") or () if c.get("type") != "Succeeded"]
    status["conditions"] = [new, *others]
    if cstatus in ("True", "False"):
        status["completionTime"] = new["lastTransitionTime"]


def _sig(c: dict | None) -> tuple | None:
    return None if c is None else (c.get("status"), c.get("reason", ""), c.get("message", ""))


def emit(ctx: Context, obj: Obj, before: dict | None, after: dict | None, component: str) -> None:
    """events.Emit (k8sevent.EmitK8sEvents): one event per change of the Succeeded condition."""
    if after is None or _sig(before) == _sig(after) or ctx.events is None:
        return
    st = after.get("status")
    if st == "True":
        ctx.events.record(obj, "Normal", "Succeeded", after.get("message", ""), component)
    elif st == "False":
        ctx.events.record(obj, "Warning", "Failed", after.get("message", ""), component)
    elif before is None:
        ctx.events.record(obj, "Normal", "Started", "", component)
    else:
        ctx.events.record(obj, "Normal", after.get("reason", ""), after.get("message", ""), component)


def duration(value: Any, default: float = DEFAULT_TIMEOUT) -> float:
    if value in (None, ""):
        return default
    try:
        return parse_go_duration(str(value))
    except ValueError:
        return default


def seconds(value: Any) -> float:
    """A scenario delay: plain seconds ("300") or a Go duration ("5m")."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return duration(value, 0.0)


def _time(s: str | None) -> float | None:
    if not s:
        return None
    try:
        return parse_rfc3339(s).timestamp()
    except ValueError:
        return None


def _ts(t: float) -> str:
    return ts(datetime.fromtimestamp(t, UTC))


def substitute(value: Any, params: dict[str, str], context: dict[str, str]) -> Any:
    """$(params.x), $(params['x']) and $(context.*) replacement in strings, lists and dicts."""
    if isinstance(value, str):
        out = _PARAM.sub(lambda m: params.get(m.group(1) or m.group(2), m.group(0)), value)
        for k, v in context.items():
            out = out.replace(f"$(context.{k})", v)
        return out
    if isinstance(value, list):
        return [substitute(v, params, context) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, params, context) for k, v in value.items()}
    return value


def param_values(spec_params: list[dict] | None, given: list[dict] | None) -> dict[str, str]:
    """Pipeline/Task param defaults overridden by the run's values (string params only)."""
    out: dict[str, str] = {}
    for p in spec_params or ():
        d = p.get("default")
        if isinstance(d, str):
            out[p["name"]] = d
    for p in given or ():
        v = p.get("value")
        if isinstance(v, str):
            out[p.get("name", "")] = v
    return out


# -- step plan -------------------------------------------------------------------------------------

_KINDS: tuple[tuple[str, tuple[str, ...], tuple[int, int]], ...] = (
    ("fetch", ("fetch", "clone", "checkout", "git", "source"), (3, 10)),
    ("test", ("test", "lint", "check", "verify", "scan"), (15, 60)),
    ("build", ("build", "compile", "kaniko", "buildah", "package", "image"), (20, 60)),
    ("push", ("push", "publish", "upload", "release"), (4, 15)),
    ("deploy", ("deploy", "sync", "promote", "rollout", "notify"), (3, 12)),
)


def step_kind(*names: str) -> tuple[str, tuple[int, int]]:
    for kind, words, rng in _KINDS:
        if any(w in n for n in names for w in words):
            return kind, rng
    return "run", (3, 60)


@dataclass(frozen=True)
class StepPlan:
    """When one step runs and how it ends."""

    name: str
    container: str
    image: str
    kind: str
    start: float
    finish: float
    exit_code: int
    skipped: bool = False


def _fails(name: str | None) -> bool:
    return bool(name) and str(name).endswith("-fail")


def plan_steps(pod: Obj, seed: int) -> list[StepPlan]:
    """The seeded schedule of a step pod's containers, anchored at the pod's creation."""
    md = pod["metadata"]
    labels = md.get("labels") or {}
    anchor = _time(md.get("creationTimestamp")) or 0.0
    ctrs = [c for c in (pod.get("spec") or {}).get("containers") or () if c["name"].startswith("step-")]
    task_fails = any(_fails(labels.get(k)) for k in ("tekton.dev/taskRun", "tekton.dev/pipelineTask",
                                                          "tekton.dev/task"))
    hint = step_kind(labels.get("tekton.dev/pipelineTask", ""), labels.get("tekton.dev/task", ""))
    kinds = [k if (k := step_kind(c["name"][5:]))[0] != "run" else hint for c in ctrs]
    fail_at: int | None = next((i for i, c in enumerate(ctrs) if _fails(c["name"])), None)
    if fail_at is None and task_fails and ctrs:
        fail_at = next((i for i, (k, _) in enumerate(kinds) if k == "test"), len(ctrs) - 1)
    out: list[StepPlan] = []
    t = anchor + STARTUP
    failed = False
    for i, c in enumerate(ctrs):
        kind, (lo, hi) = kinds[i]
        name = c["name"][5:]
        if failed:
            out.append(StepPlan(name, c["name"], c.get("image", ""), kind, t, t, 1, True))
            continue
        dur = lo + int(unit(seed, "tekton-step", md.get("uid", ""), c["name"]) * (hi - lo + 1))
        code = 0
        if i == fail_at:
            dur, code, failed = max(2, dur * 2 // 3), 1, True
        out.append(StepPlan(name, c["name"], c.get("image", ""), kind, t, t + dur, code))
        t += dur
    return out


def is_step_pod(pod: Obj | None) -> bool:
    return pod is not None and bool(((pod.get("metadata") or {}).get("labels") or {}).get("tekton.dev/taskRun"))


# -- step logs -------------------------------------------------------------------------------------

def _app(labels: dict[str, str], params: dict[str, str]) -> str:
    if params.get("app"):
        return params["app"]
    name = labels.get("tekton.dev/pipeline") or labels.get("tekton.dev/task") or "app"
    for cut in ("-build-flaky", "-build", "build-", "-ci", "-pipeline"):
        name = name.replace(cut, "")
    return name or "app"


def step_lines(step: StepPlan, seed: int, uid: str, labels: dict[str, str],
               params: dict[str, str]) -> list[tuple[float, str]]:
    """(time, text) of everything a step prints, from its plan; the caller cuts at 'now'."""
    t0, t1 = step.start, step.finish
    span = max(t1 - t0, 0.5)
    app = _app(labels, params)
    repo = params.get("git-url") or params.get("url") or f"https://git.edge-retail.local/retail/{app}.git"
    rev = params.get("revision") or params.get("git-revision") or "main"
    image = params.get("image") or f"registry.local/retail/{app}"
    sha = hashlib.sha1(f"{seed}/{uid}/{rev}".encode()).hexdigest()

    def u(*k: Any) -> float:
        return unit(seed, "tekton-log", uid, step.container, *k)

    if step.skipped:
        stamp = datetime.fromtimestamp(t0, UTC).strftime("%Y/%m/%d %H:%M:%S")
        return [(t0 + 0.01, f"{stamp} Skipping step because a previous step failed")]
    lines: list[tuple[float, str]] = []
    if step.kind == "fetch":
        lines = [(0.02, f"+ git clone --depth 1 --branch {rev} {repo} /workspace/source"),
                 (0.05, "Cloning into '/workspace/source'..."),
                 (0.55, f"Receiving objects: 100% ({200 + int(u(1) * 3000)}/{200 + int(u(1) * 3000)}), done."),
                 (0.8, f"HEAD is now at {sha[:7]} Merge pull request #{100 + int(u(2) * 400)} from retail/{app}"),
                 (0.97, f'{{"level":"info","msg":"Successfully cloned {repo} @ {sha} in path /workspace/source"}}')]
    elif step.kind == "test":
        pkgs = ("cart", "checkout", "catalog", "payments", "inventory", "api")
        lines = [(0.01, "+ go test ./... -count=1"),
                 (0.08, "go: downloading github.com/stretchr/testify v1.9.0")]
        n = len(pkgs)
        for i, p in enumerate(pkgs):
            frac = 0.15 + 0.8 * (i + 1) / (n + 1)
            if step.exit_code and p == "checkout":
                lines += [(frac, "--- FAIL: TestCheckoutTotals (0.03s)"),
                          (frac + 0.001, "    checkout_test.go:42: expected total 42.00, got 41.99"),
                          (frac + 0.002, "FAIL"),
                          (frac + 0.003, f"FAIL\tgit.edge-retail.local/retail/{app}/internal/{p}\t0.051s")]
                lines += [(0.97, "FAIL"), (0.98, "error: test checkout_test.go:42 failed"),
                          (0.99, "make: *** [Makefile:12: test] Error 1")]
                break
            secs = 0.1 + 2.4 * u("pkg", p)
            lines.append((frac, f"ok  \tgit.edge-retail.local/retail/{app}/internal/{p}\t{secs:.3f}s"))
        else:
            lines.append((0.99, f"ok {8 + int(u(3) * 40)} tests"))
    elif step.kind == "build":
        lines = [(0.01, 'INFO[0000] Resolved base name golang:1.22 to builder'),
                 (0.05, "INFO[0001] Retrieving image manifest golang:1.22"),
                 (0.2, "INFO[0004] Built cross stage deps: map[0:[/out/app]]"),
                 (0.45, f"INFO[{int(span * 0.45):04d}] RUN CGO_ENABLED=0 go build -o /out/app ./cmd/{app}"),
                 (0.8, f"INFO[{int(span * 0.8):04d}] Taking snapshot of full filesystem..."),
                 (0.97, f"INFO[{int(span * 0.97):04d}] Skipping push to container registry due to --no-push flag")]
    elif step.kind == "push":
        digest = hashlib.sha256(f"{seed}/{uid}/digest".encode()).hexdigest()
        lines = [(0.05, f"+ crane push /workspace/image.tar {image}:{sha[:7]}"),
                 (0.6, f"2 layers pushed to {image}:{sha[:7]}"),
                 (0.95, f"{image}@sha256:{digest}")]
    elif step.kind == "deploy":
        lines = [(0.05, f"+ argocd app sync {app}-staging --revision {sha[:7]}"),
                 (0.9, f"Sync operation to {sha[:7]} succeeded")]
    else:
        lines = [(0.02, f"+ {step.name}"), (0.95, "done")]
    return [(t0 + f * span, text) for f, text in lines]


def step_log_source(ctx: Context, seed: int) -> Callable[[str, str, str, bool], list[tuple[float, str]] | None]:
    """A PodLogs source (podlogs.register_source) serving step containers' output from their plan."""

    def lines(namespace: str, pod: str, container: str, previous: bool) -> list[tuple[float, str]] | None:
        obj = ctx.store.get("/pods", namespace, pod)
        if previous or not is_step_pod(obj):
            return None  # step containers never restart: PodLogs says there is no previous one
        step = next((s for s in plan_steps(obj, seed) if s.container == container), None)
        if step is None:
            return None
        md = obj["metadata"]
        labels = md.get("labels") or {}
        tr = ctx.store.get(TR_KEY, md.get("namespace"), labels.get("tekton.dev/taskRun", ""))
        params = param_values(None, ((tr or {}).get("spec") or {}).get("params"))
        return step_lines(step, seed, md.get("uid", ""), labels, params)

    return lines



# -- TaskRun ---------------------------------------------------------------------------------------

def _owner_ref(obj: Obj) -> dict:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def _steps_of(spec: dict) -> list[dict]:
    steps = []
    for i, s in enumerate(spec.get("steps") or ()):
        steps.append({**s, "name": s.get("name") or f"unnamed-{i}"})
    return steps


class TaskRunController(Controller):
    """pkg/reconciler/taskrun: start, pod, step states, cancel, timeout, completion."""

    name = "tekton-taskrun"
    watches = (TR_KEY, "/pods")

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.seed = int(ctx.options.get("seed", 0) or 0)
        logs = ctx.shared.get("logs")
        if logs is None:
            from almtui.sandbox.podlogs import PodLogs

            logs = ctx.shared["logs"] = PodLogs(ctx)
        self.step_logs = step_log_source(ctx, self.seed)
        if hasattr(logs, "register_source"):
            logs.register_source(self.step_logs)
        self._exit_hook = False
        _ = self.kubelet_runs_steps  # register the exit hook now when the kubelet is already there

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        if ev.key == "/pods":
            md = ev.obj["metadata"]
            tr = (md.get("labels") or {}).get("tekton.dev/taskRun")
            if tr:
                yield (md.get("namespace", ""), tr)
            return
        yield from super().keys_for(ev)

    # -- kubelet contract ---------------------------------------------------------------------

    @property
    def kubelet_runs_steps(self) -> bool:
        """Whether the kubelet ends step containers itself (see the module docstring)."""
        if not self._exit_hook:
            hooks = self.ctx.shared.get("container_exits")
            if isinstance(hooks, list):
                if self.step_exit not in hooks:
                    hooks.append(self.step_exit)
                self._exit_hook = True
        return self._exit_hook

    def step_exit(self, pod: Obj, container: str, started: float) -> tuple[float, int] | None:
        """When a step container exits and with which code (the kubelet's run-to-completion hook)."""
        if not is_step_pod(pod):
            return None
        step = next((s for s in plan_steps(pod, self.seed) if s.container == container), None)
        if step is None:
            return None
        return max(step.finish, started + 0.5), step.exit_code

    # -- reconcile ----------------------------------------------------------------------------

    def reconcile(self, key: Any) -> float | None:
        ns, name = key
        tr = self.store.get(TR_KEY, ns, name)
        if tr is None or is_done(tr):
            return None
        spec = tr.get("spec") or {}
        status = copy.deepcopy(tr.get("status") or {})
        labels = dict(tr["metadata"].get("labels") or {})
        before = succeeded(status)
        now = self.ctx.now()
        stamp = _ts(now)
        pending = spec.get("status") == "TaskRunPending"
        if not status.get("startTime") and not pending:
            status["startTime"] = stamp
            mark(status, "Unknown", "Started", (before or {}).get("message", ""), stamp)
            emit(self.ctx, tr, None, succeeded(status), TR_COMPONENT)
            before = succeeded(status)
        timeout = duration(spec.get("timeout"))
        started = _time(status.get("startTime"))
        requeue: float | None = None
        if spec.get("status") == "TaskRunCancelled":
            msg = f"TaskRun {go_quote(name)} was cancelled. {spec.get('statusMessage', '')}"
            self._fail(tr, status, "TaskRunCancelled", msg, now)
        elif pending:
            mark(status, "Unknown", "TaskRunPending", f"TaskRun {go_quote(name)} is pending", stamp)
        elif started is not None and timeout > 0 and now - started > timeout:
            msg = f"TaskRun {go_quote(name)} failed to finish within {go_quote(format_go_duration(timeout))}"
            self._fail(tr, status, "TaskRunTimeout", msg, now)
        else:
            task_spec, task_name, err = self._resolve(tr)
            if err is not None:
                mark(status, "False", "TaskRunResolutionFailed", err, stamp)
            else:
                status["taskSpec"] = task_spec
                if task_name:
                    labels["tekton.dev/task"] = task_name
                requeue = self._run(tr, status, task_spec, labels, now)
            if started is not None and timeout > 0 and not is_done({"status": status}):
                left = started + timeout - now + 0.001
                requeue = left if requeue is None else min(requeue, left)
        self._write(tr, status, labels)
        emit(self.ctx, tr, before, succeeded(status), TR_COMPONENT)
        return None if is_done({"status": status}) else requeue

    def _write(self, tr: Obj, status: dict, labels: dict[str, str]) -> None:
        md = tr["metadata"]

        def apply(o: Obj) -> None:
            o["status"] = status
            if labels:
                o["metadata"]["labels"] = labels

        self.store.mutate(TR_KEY, md["namespace"], md["name"], apply)

    def _resolve(self, tr: Obj) -> tuple[dict, str, str | None]:
        spec = tr.get("spec") or {}
        stored = (tr.get("status") or {}).get("taskSpec")
        if stored:
            ref = (spec.get("taskRef") or {}).get("name", "")
            return copy.deepcopy(stored), ref, None
        if spec.get("taskSpec"):
            return copy.deepcopy(spec["taskSpec"]), "", None
        ref = spec.get("taskRef") or {}
        name = ref.get("name", "")
        task = self.store.get("tekton.dev/tasks", tr["metadata"]["namespace"], name) if name else None
        if task is None:
            what = f'tasks.tekton.dev "{name}" not found' if name else "unsupported taskRef"
            return {}, "", f"error when listing tasks for taskRun {tr['metadata']['name']}: {what}"
        return copy.deepcopy(task.get("spec") or {}), name, None

    def _pod_for(self, tr: Obj, status: dict, task_spec: dict, tr_labels: dict[str, str]) -> Obj:
        md = tr["metadata"]
        pod_name = status.get("podName") or child_name(md["name"], "-pod")
        pod = self.store.get("/pods", md["namespace"], pod_name)
        if pod is not None:
            return pod
        labels = {**tr_labels, "app.kubernetes.io/managed-by": MANAGED_BY,
                  "tekton.dev/taskRun": md["name"], "tekton.dev/taskRunUID": md["uid"]}
        spec = tr.get("spec") or {}
        ctx = {"taskRun.name": md["name"], "taskRun.namespace": md["namespace"], "taskRun.uid": md["uid"]}
        params = param_values(task_spec.get("params"), spec.get("params"))
        containers = []
        for i, s in enumerate(_steps_of(task_spec)):
            s = substitute(s, params, ctx)
            args = ["-post_file", f"/tekton/run/{i}/out", "-termination_path", "/tekton/termination",
                    "-step_metadata_dir", f"/tekton/run/{i}/status"]
            if i:
                args = ["-wait_file", f"/tekton/run/{i - 1}/out", *args]
            if s.get("script"):
                args += ["-entrypoint", f"/tekton/scripts/script-{i}-{md['uid'][:5]}", "--"]
            else:
                cmd = list(s.get("command") or ["/ko-app/entrypoint"])
                args += ["-entrypoint", cmd[0], "--", *cmd[1:], *(s.get("args") or [])]
            c: dict[str, Any] = {"name": f"step-{s['name']}", "image": s.get("image") or "alpine:3.20",
                                 "command": ["/tekton/bin/entrypoint"], "args": args,
                                 "workingDir": s.get("workingDir") or "/workspace"}
            if s.get("env"):
                c["env"] = s["env"]
            if s.get("computeResources"):
                c["resources"] = s["computeResources"]
            c["terminationMessagePath"] = "/tekton/termination"
            c["terminationMessagePolicy"] = "File"
            containers.append(c)
        if not containers:
            containers.append({"name": "step-unnamed-0", "image": "alpine:3.20", "command": ["true"]})
        timeout = duration(spec.get("timeout"))
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name, "namespace": md["namespace"], "labels": labels,
                         "annotations": {"pipeline.tekton.dev/release": RELEASE},
                         "ownerReferences": [_owner_ref(tr)]},
            "spec": {"restartPolicy": "Never", "serviceAccountName": spec.get("serviceAccountName") or "default",
                     "activeDeadlineSeconds": int(timeout * 1.5) if timeout > 0 else 2147483647,
                     "containers": containers},
        }
        return self.store.create("/pods", pod)

    def _run(self, tr: Obj, status: dict, task_spec: dict, labels: dict[str, str], now: float) -> float | None:
        """Create the pod if needed and derive status from it; returns when to look again."""
        kubelet = self.kubelet_runs_steps  # registers the exit hook before any step container starts
        pod = self._pod_for(tr, status, task_spec, labels)
        status["podName"] = pod["metadata"]["name"]
        stamp = _ts(now)
        plan = plan_steps(pod, self.seed)
        pst = pod.get("status") or {}
        by_name = {cs.get("name"): cs for cs in pst.get("containerStatuses") or ()}
        steps = []
        nxt: float | None = None
        for step in plan:
            cs = by_name.get(step.container)
            if cs is None:
                continue
            state = copy.deepcopy(cs.get("state") or {})
            if not kubelet and "running" in state:
                if now >= step.finish:
                    state = {"terminated": {
                        "exitCode": step.exit_code, "reason": "Completed" if step.exit_code == 0 else "Error",
                        "startedAt": state["running"].get("startedAt"), "finishedAt": _ts(step.finish),
                        "containerID": cs.get("containerID", "")}}
                else:
                    nxt = step.finish if nxt is None else min(nxt, step.finish)
            entry = {**state, "name": step.name, "container": step.container, "imageID": cs.get("imageID", "")}
            if "terminated" in state:
                entry["terminationReason"] = "Skipped" if step.skipped else state["terminated"].get("reason", "")
            steps.append(entry)
        if steps:
            status["steps"] = steps
        complete = (bool(plan) and len(steps) == len(plan) and all("terminated" in s for s in steps)) or (
            kubelet and pst.get("phase") in ("Succeeded", "Failed"))
        if complete:
            failed = next((s for s in steps if (s.get("terminated") or {}).get("exitCode", 0) != 0), None)
            if failed is not None or pst.get("phase") == "Failed":
                term = (failed or {}).get("terminated") or {}
                msg = f"{go_quote(failed['container'])} exited with code {term.get('exitCode', 1)}" if failed else \
                    "build failed for unspecified reasons."
                if failed and term.get("reason"):
                    msg += f": {term['reason']}"
                mark(status, "False", STEP_FAILED_REASON, msg, stamp)
            else:
                mark(status, "True", "Succeeded", "All Steps have completed executing", stamp)
            return None
        if pst.get("phase") == "Running":
            mark(status, "Unknown", "Running", "Not all Steps in the Task have finished executing", stamp)
        else:
            mark(status, "Unknown", "Pending", _waiting_message(pod), stamp)
        return None if nxt is None else max(nxt - now, 0.001)

    def _fail(self, tr: Obj, status: dict, reason: str, message: str, now: float) -> None:
        """failTaskRun: mark failed, terminate unfinished steps, delete the pod."""
        stamp = _ts(now)
        mark(status, "False", reason, message, stamp)
        status["completionTime"] = stamp
        pod_name = status.get("podName")
        if not pod_name:
            return
        for step in status.get("steps") or ():
            for state in ("running", "waiting"):
                if state in step:
                    began = (step[state] or {}).get("startedAt") or tr["metadata"].get("creationTimestamp")
                    step.pop(state)
                    step["terminated"] = {"exitCode": 1, "reason": reason, "startedAt": began, "finishedAt": stamp,
                                          "message": f"Step {step['name']} terminated as pod {pod_name} is terminated"}
                    step["terminationReason"] = reason
        try:
            self.store.delete("/pods", tr["metadata"]["namespace"], pod_name)
        except ApiError as e:
            if e.code != 404:
                raise


def _waiting_message(pod: Obj) -> str:
    """pkg/pod/status.go getWaitingMessage."""
    st = pod.get("status") or {}
    for cs in st.get("containerStatuses") or ():
        wait = (cs.get("state") or {}).get("waiting") or {}
        if wait.get("message"):
            return f"build step {go_quote(cs.get('name', ''))} is pending with reason {go_quote(wait['message'])}"
    for c in st.get("conditions") or ():
        if c.get("status") != "True":
            return (f"pod status {go_quote(c.get('type', ''))}:{go_quote(c.get('status', ''))}; "
                    f"message: {go_quote(c.get('message', ''))}")
    return st.get("message") or "Pending"


# -- PipelineRun -----------------------------------------------------------------------------------

@dataclass
class _Task:
    """One pipeline task and what has become of it (ResolvedPipelineTask)."""

    spec: dict
    final: bool
    tr: Obj | None = None
    skip_reason: str | None = None

    @property
    def name(self) -> str:
        return self.spec["name"]

    @property
    def cond(self) -> dict | None:
        return succeeded(self.tr) if self.tr is not None else None

    @property
    def succeeded(self) -> bool:
        return (self.cond or {}).get("status") == "True"

    @property
    def failure(self) -> bool:
        return (self.cond or {}).get("status") == "False"

    @property
    def cancelled(self) -> bool:
        return self.failure and (self.cond or {}).get("reason") == "TaskRunCancelled"

    @property
    def cancelled_for_timeout(self) -> bool:
        return self.cancelled and ((self.tr or {}).get("spec") or {}).get("statusMessage") == CANCELLED_BY_TIMEOUT

    @property
    def running(self) -> bool:
        return self.tr is not None and not self.succeeded and not self.failure

    @property
    def done(self) -> bool:
        return self.skip_reason is not None or self.succeeded or self.failure


def _deps(task: dict) -> list[str]:
    deps = list(task.get("runAfter") or ())
    for p in task.get("params") or ():
        v = p.get("value")
        for m in _RESULT_REF.finditer(v if isinstance(v, str) else str(v)):
            if m.group(1) not in deps:
                deps.append(m.group(1))
    return deps


def _graph_error(tasks: list[dict]) -> str | None:
    names = [t.get("name", "") for t in tasks]
    known = set(names)
    for t in tasks:
        for d in _deps(t):
            if d not in known:
                return (f"task {go_quote(t.get('name', ''))} depends on {go_quote(d)} "
                        "which is not declared in the Pipeline")
    state: dict[str, int] = {}
    by_name = {t.get("name", ""): t for t in tasks}

    def visit(n: str, path: list[str]) -> str | None:
        if state.get(n) == 2:
            return None
        if state.get(n) == 1:
            return f"cycle detected; task {go_quote(n)} depends on {go_quote(path[-1])}" if path else "cycle detected"
        state[n] = 1
        for d in _deps(by_name[n]):
            err = visit(d, [*path, n])
            if err:
                return err
        state[n] = 2
        return None

    for n in names:
        err = visit(n, [])
        if err:
            return err
    return None


class PipelineRunController(Controller):
    """pkg/reconciler/pipelinerun: resolve, schedule the DAG and finally tasks, cancel, time out."""

    name = "tekton-pipelinerun"
    watches = (PR_KEY, TR_KEY)

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        if ev.key == TR_KEY:
            owner = self.owner_key(ev.obj, "PipelineRun")
            if owner is not None:
                yield owner
            return
        yield from super().keys_for(ev)

    def reconcile(self, key: Any) -> float | None:
        ns, name = key
        pr = self.store.get(PR_KEY, ns, name)
        if pr is None or is_done(pr):
            return None
        now = self.ctx.now()
        stamp = _ts(now)
        spec = pr.get("spec") or {}
        md = pr["metadata"]
        ann = md.get("annotations") or {}
        status = copy.deepcopy(pr.get("status") or {})
        labels = dict(md.get("labels") or {})
        before = succeeded(status)
        spec_status = spec.get("status") or ""
        if spec_status == "PipelineRunPending" and ANN_RELEASE_AFTER in ann:
            due = (_time(md.get("creationTimestamp")) or now) + seconds(ann[ANN_RELEASE_AFTER])
            if now >= due:
                self.store.mutate(PR_KEY, ns, name, lambda o: o["spec"].pop("status", None))
                return 0.0
        if not status.get("startTime") and spec_status != "PipelineRunPending":
            status["startTime"] = stamp
            mark(status, "Unknown", "Started", (before or {}).get("message", ""), stamp)
            emit(self.ctx, pr, None, succeeded(status), PR_COMPONENT)
            before = succeeded(status)
        if "tekton.dev/pipeline" not in labels:
            ref = (spec.get("pipelineRef") or {}).get("name")
            labels["tekton.dev/pipeline"] = ref or md.get("generateName", "").rstrip("-") or name
        requeue: float | None = None
        if spec_status == "Cancelled":
            self._cancel_children(pr, status, CANCELLED_BY_PIPELINE)
            mark(status, "False", "Cancelled", f"PipelineRun {go_quote(name)} was cancelled", stamp)
        elif spec_status == "PipelineRunPending":
            mark(status, "Unknown", "PipelineRunPending", f"PipelineRun {go_quote(name)} is pending", stamp)
            if ANN_RELEASE_AFTER in ann:
                due = (_time(md.get("creationTimestamp")) or now) + seconds(ann[ANN_RELEASE_AFTER])
                requeue = max(due - now, 0.001)
        else:
            requeue = self._reconcile_running(pr, status, labels, now)
            cancel_after = ann.get(ANN_CANCEL_AFTER)
            started = _time(status.get("startTime"))
            if cancel_after and started is not None and not is_done({"status": status}):
                due = started + seconds(cancel_after)
                if now >= due:
                    self.store.mutate(PR_KEY, ns, name, lambda o: o["spec"].__setitem__("status", "Cancelled"))
                    requeue = 0.0
                else:
                    requeue = min(requeue if requeue is not None else due - now, due - now)

        def apply(o: Obj) -> None:
            o["status"] = status
            o["metadata"]["labels"] = labels

        self.store.mutate(PR_KEY, ns, name, apply)
        emit(self.ctx, pr, before, succeeded(status), PR_COMPONENT)
        if is_done({"status": status}):
            return None
        return requeue

    # -- the running path ---------------------------------------------------------------------

    def _resolve(self, pr: Obj) -> tuple[dict | None, str, str, str]:
        """(pipeline spec, pipeline name, failure reason, failure message)."""
        spec = pr.get("spec") or {}
        md = pr["metadata"]
        stored = (pr.get("status") or {}).get("pipelineSpec")
        if stored:
            return copy.deepcopy(stored), (spec.get("pipelineRef") or {}).get("name") or md["name"], "", ""
        if spec.get("pipelineSpec"):
            return copy.deepcopy(spec["pipelineSpec"]), md["name"], "", ""
        ref = (spec.get("pipelineRef") or {}).get("name", "")
        p = self.store.get("tekton.dev/pipelines", md["namespace"], ref) if ref else None
        if p is None:
            err = f'pipelines.tekton.dev "{ref}" not found' if ref else "unsupported pipelineRef"
            return None, ref, "CouldntGetPipeline", (
                f"Error retrieving pipeline for pipelinerun {md['namespace']}/{md['name']}: "
                f"error when getting Pipeline for PipelineRun {md['name']}: {err}")
        return copy.deepcopy(p.get("spec") or {}), ref, "", ""

    def _reconcile_running(self, pr: Obj, status: dict, labels: dict, now: float) -> float | None:
        md, spec = pr["metadata"], pr.get("spec") or {}
        ns, name = md["namespace"], md["name"]
        stamp = _ts(now)
        pspec, pname, reason, message = self._resolve(pr)
        if pspec is None:
            mark(status, "False", reason, message, stamp)
            return None
        ctx = {"pipelineRun.name": name, "pipelineRun.namespace": ns, "pipelineRun.uid": md["uid"],
               "pipeline.name": pname}
        pspec = substitute(pspec, param_values(pspec.get("params"), spec.get("params")), ctx)
        status["pipelineSpec"] = pspec
        tasks = [_Task(t, False) for t in pspec.get("tasks") or ()]
        tasks += [_Task(t, True) for t in pspec.get("finally") or ()]
        err = _graph_error(pspec.get("tasks") or ())
        if err:
            mark(status, "False", "PipelineInvalidGraph",
                 f"PipelineRun {ns}/{name}'s Pipeline DAG is invalid: {err}", stamp)
            return None
        for t in tasks:
            ref = (t.spec.get("taskRef") or {}).get("name")
            if ref and not t.spec.get("taskSpec") and self.store.get("tekton.dev/tasks", ns, ref) is None:
                mark(status, "False", "CouldntGetTask",
                     f"Pipeline {ns}/{pname} can't be Run; it contains Tasks that don't exist: "
                     f'Couldn\'t retrieve Task "{ref}": tasks.tekton.dev "{ref}" not found', stamp)
                return None
        self._attach(pr, status, tasks)
        timeout = duration((spec.get("timeouts") or {}).get("pipeline"))
        started = _time(status.get("startTime")) or now
        timed_out = timeout > 0 and now - started > timeout
        spec_status = spec.get("status") or ""
        if spec_status == "CancelledRunFinally" and any(t.running for t in tasks if not t.final):
            self._cancel_children(pr, status, CANCELLED_BY_PIPELINE, [t for t in tasks if not t.final])
            self._attach(pr, status, tasks)
        self._skips(tasks, spec_status, timed_out)
        if not timed_out:
            created = self._schedule(pr, status, tasks, spec_status, now)
            if created:
                self._attach(pr, status, tasks)
                self._skips(tasks, spec_status, timed_out)
        if timed_out:
            self._cancel_children(pr, status, CANCELLED_BY_TIMEOUT)
            self._attach(pr, status, tasks)
            self._skips(tasks, spec_status, timed_out)
        self._condition(pr, status, tasks, spec_status, timed_out, timeout, stamp)
        refs = [{"apiVersion": API_VERSION, "kind": "TaskRun", "name": t.tr["metadata"]["name"],
                 "pipelineTaskName": t.name, **({"whenExpressions": t.spec["when"]} if t.spec.get("when") else {})}
                for t in tasks if t.tr is not None]
        if refs:
            status["childReferences"] = refs
        skipped = [{"name": t.name, "reason": t.skip_reason} for t in tasks if t.skip_reason]
        if skipped:
            status["skippedTasks"] = skipped
        else:
            status.pop("skippedTasks", None)
        if timeout > 0 and not is_done({"status": status}):
            return max(started + timeout - now + 0.001, 0.001)
        return None

    def _attach(self, pr: Obj, status: dict, tasks: list[_Task]) -> None:
        ns, name = pr["metadata"]["namespace"], pr["metadata"]["name"]
        known = {c.get("pipelineTaskName"): c.get("name") for c in status.get("childReferences") or ()}
        for t in tasks:
            tr = self.store.get(TR_KEY, ns, known.get(t.name) or child_name(name, "-" + t.name))
            if tr is not None and self.owner_key(tr, "PipelineRun") == (ns, name):
                t.tr = tr

    def _skips(self, tasks: list[_Task], spec_status: str, timed_out: bool) -> None:
        """ResolvedPipelineTask.Skip / IsFinallySkipped, parents before children."""
        dag = [t for t in tasks if not t.final]
        by_name = {t.name: t for t in dag}
        stopping = any(t.failure for t in dag)
        for t in tasks:
            t.skip_reason = None
        resolved: set[str] = set()

        def skip(t: _Task) -> str | None:
            if t.name in resolved:
                return t.skip_reason
            resolved.add(t.name)
            reason = None
            if t.tr is None:
                if stopping:
                    reason = SKIP_STOPPING
                elif spec_status == "CancelledRunFinally":
                    reason = SKIP_GRACEFULLY_CANCELLED
                elif spec_status == "StoppedRunFinally":
                    reason = SKIP_GRACEFULLY_STOPPED
                elif any(skip(by_name[d]) for d in _deps(t.spec) if d in by_name):
                    reason = SKIP_PARENT
                elif timed_out:
                    reason = SKIP_TIMEOUT
            t.skip_reason = reason
            return reason

        for t in dag:
            skip(t)
        dag_done = all(t.done for t in dag)
        for t in tasks:
            if t.final and t.tr is None and dag_done and timed_out:
                t.skip_reason = SKIP_TIMEOUT

    def _schedule(self, pr: Obj, status: dict, tasks: list[_Task], spec_status: str, now: float) -> bool:
        """runNextSchedulableTask: DAG candidates whose parents are done, then finally tasks."""
        dag = [t for t in tasks if not t.final]
        by_name = {t.name: t for t in dag}
        nxt: list[_Task] = []
        if spec_status not in ("Cancelled", "CancelledRunFinally"):
            stopping = any(t.failure for t in dag)
            if not stopping and spec_status != "StoppedRunFinally":
                for t in dag:
                    if t.tr is None and t.skip_reason is None and all(
                            by_name[d].done for d in _deps(t.spec) if d in by_name):
                        nxt.append(t)
        if all(t.done for t in dag):
            finals = [t for t in tasks if t.final and t.tr is None and t.skip_reason is None]
            if finals and not status.get("finallyStartTime"):
                status["finallyStartTime"] = _ts(now)
            nxt += finals
        for t in nxt:
            self._create_taskrun(pr, status, t)
        return bool(nxt)

    def _create_taskrun(self, pr: Obj, status: dict, t: _Task) -> None:
        md, spec = pr["metadata"], pr.get("spec") or {}
        labels = {**(md.get("labels") or {}), "tekton.dev/pipelineRun": md["name"],
                  "tekton.dev/pipelineRunUID": md["uid"], "tekton.dev/pipelineTask": t.name,
                  "tekton.dev/memberOf": "finally" if t.final else "tasks",
                  "app.kubernetes.io/managed-by": MANAGED_BY}
        if "tekton.dev/pipeline" not in labels:
            ref = (spec.get("pipelineRef") or {}).get("name")
            labels["tekton.dev/pipeline"] = ref or md["name"]
        annotations = {k: v for k, v in (md.get("annotations") or {}).items()
                       if not k.startswith(("sandbox.almtui.io/", "kubectl.kubernetes.io/"))}
        tmpl = spec.get("taskRunTemplate") or {}
        tr_spec: dict[str, Any] = {"serviceAccountName": tmpl.get("serviceAccountName") or "default",
                                   "timeout": t.spec.get("timeout") or format_go_duration(DEFAULT_TIMEOUT)}
        if t.spec.get("params"):
            tr_spec["params"] = copy.deepcopy(t.spec["params"])
        if t.spec.get("taskSpec"):
            ts_ = copy.deepcopy(t.spec["taskSpec"])
            ts_.pop("metadata", None)
            tr_spec["taskSpec"] = ts_
        else:
            tr_spec["taskRef"] = {"kind": "Task", **copy.deepcopy(t.spec.get("taskRef") or {})}
        tr = {"apiVersion": API_VERSION, "kind": "TaskRun",
              "metadata": {"name": child_name(md["name"], "-" + t.name), "namespace": md["namespace"],
                           "labels": labels, "ownerReferences": [_owner_ref(pr)],
                           **({"annotations": annotations} if annotations else {})},
              "spec": tr_spec}
        try:
            t.tr = self.store.create(TR_KEY, tr)
        except ApiError as e:
            if e.code != 409:
                raise

    def _cancel_children(self, pr: Obj, status: dict, message: str, only: list[_Task] | None = None) -> None:
        """cancel.go / timeout.go: JSON-patch each unfinished child TaskRun."""
        ns = pr["metadata"]["namespace"]
        names = [c.get("name") for c in status.get("childReferences") or () if c.get("kind", "TaskRun") == "TaskRun"]
        if only is not None:
            names = [t.tr["metadata"]["name"] for t in only if t.tr is not None]
        for n in names:
            tr = self.store.get(TR_KEY, ns, n or "")
            if tr is None or is_done(tr) or (tr.get("spec") or {}).get("status") == "TaskRunCancelled":
                continue

            def patch(o: Obj, msg: str = message) -> None:
                o["spec"]["status"] = "TaskRunCancelled"
                o["spec"]["statusMessage"] = msg

            self.store.mutate(TR_KEY, ns, n or "", patch)

    def _condition(self, pr: Obj, status: dict, tasks: list[_Task], spec_status: str, timed_out: bool,
                   timeout: float, stamp: str) -> None:
        """PipelineRunFacts.GetPipelineConditionStatus."""
        name = pr["metadata"]["name"]
        if timed_out:
            mark(status, "False", "PipelineRunTimeout",
                 f"PipelineRun {go_quote(name)} failed to finish within {go_quote(format_go_duration(timeout))}",
                 stamp)
            return
        ok = failed = cancelled = skipped = incomplete = 0
        for t in tasks:
            if t.succeeded:
                ok += 1
            elif t.cancelled_for_timeout:
                failed += 1
            elif t.cancelled:
                cancelled += 1
            elif t.failure:
                failed += 1
            elif t.skip_reason:
                skipped += 1
            else:
                incomplete += 1
        completed = ok + failed + cancelled
        if incomplete == 0:
            cstatus, reason = "True", "Succeeded"
            message = f"Tasks Completed: {completed} (Failed: {failed}, Cancelled {cancelled}), Skipped: {skipped}"
            if skipped:
                reason = "Completed"
            if failed:
                cstatus, reason = "False", "Failed"
            elif spec_status in ("CancelledRunFinally", "StoppedRunFinally"):
                cstatus, reason = "False", "Cancelled"
                message = f"PipelineRun {go_quote(name)} was cancelled"
            elif cancelled:
                cstatus, reason = "False", "Cancelled"
            mark(status, cstatus, reason, message, stamp)
            return
        finals_done = all(t.done for t in tasks if t.final)
        reason = "Running"
        if spec_status == "CancelledRunFinally":
            reason = "CancelledRunningFinally"
        elif spec_status == "StoppedRunFinally":
            reason = "StoppedRunningFinally"
        elif cancelled or (failed and finals_done):
            reason = "PipelineRunStopping"
        mark(status, "Unknown", reason,
             f"Tasks Completed: {completed} (Failed: {failed}, Cancelled {cancelled}), Incomplete: {incomplete}, "
             f"Skipped: {skipped}", stamp)


__all__ = ["PipelineRunController", "StepPlan", "TaskRunController", "child_name", "emit", "mark", "plan_steps",
           "step_lines", "step_log_source", "succeeded"]
