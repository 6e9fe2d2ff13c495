"""Zero-downtime pre-flight checks: what the cluster's current objects say about a change before it is made.

Pure functions over raw objects (the informer cache's dicts): no I/O, never raises on odd objects.
Each check answers a :class:`Finding`. Errors mean the change, as configured, will very likely
cause downtime or cannot be undone; they block until the operator overrides them explicitly (the UI
asks, the audit log records the override). Warnings only inform.

Severity choices that are judgement calls:
- Argo CD: an auto-synced app with ``selfHeal`` reverts a direct edit within seconds (error); with
  auto-sync but no selfHeal the edit stays until the next Git change is synced, and the app shows
  OutOfSync meanwhile (warning); a manually synced app reverts it at the next sync (warning).
- PodDisruptionBudgets: a missing one, or one that blocks every eviction, hurts node drains, not the
  rollout itself (the Deployment controller deletes pods directly, without the eviction API): warning.
- A container without a readinessProbe is Ready as soon as it starts, so traffic reaches pods that
  cannot serve yet: warning (it degrades a rollout; it does not stop it).
- "All pods on one node" is reported only for two or more pods (one pod is the single-replica case).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from almtui.cluster.views.common import (
    ROLLOUT_HASH_LABEL,
    controller_refs,
    d,
    dicts,
    epoch,
    find_condition,
    labels,
    millis,
    name_of,
    namespace_of,
    nbytes,
    only_dicts,
    opt_i,
    pod_requests,
    s,
    uid_of,
)
from almtui.kube.intstr import resolve_fenceposts, scaled_value
from almtui.kube.rollout_status import RolloutStatusError, deployment_status, rollout_phase
from almtui.kube.selectors import LabelSelector, SelectorError, from_label_selector_object

Severity = Literal["error", "warning"]

TRACKING_ID = "argocd.argoproj.io/tracking-id"
INSTANCE_LABEL = "app.kubernetes.io/instance"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
TAINT_NOT_READY = "node.kubernetes.io/not-ready"
# The kubelet posts node status at least every 5 min (nodeStatusReportFrequency) even with leases;
# older than that plus the 50 s grace period, a "Ready" node has stopped talking (delegated heartbeats).
STALE_HEARTBEAT = 360.0
DEFAULT_SURGE = "25%"        # apps/v1 and Argo Rollouts canary defaults
DEFAULT_UNAVAILABLE = "25%"
DEFAULT_HISTORY_LIMIT = 10   # apps/v1 and Argo Rollouts
# Canary promotion: a canary whose 5xx ratio is at least this, and at least twice the stable's, is an
# error; any ratio more than one point above the stable's is a warning.
CANARY_ERROR_RATIO = 0.05
CANARY_ERROR_FACTOR = 2.0
CANARY_WARN_MARGIN = 0.01
CANARY_LATENCY_FACTOR = 2.0  # canary p95 above twice the stable's: warning
_TERMINAL = ("Succeeded", "Failed")


@dataclass(frozen=True, slots=True)
class Finding:
    """One pre-flight result. ``code`` is stable (audit logs and overrides refer to it)."""

    code: str
    severity: Severity
    title: str
    reason: str               # one line, raw cluster strings inside (the UI sanitises)
    field: str | None = None  # JSON path in the target object, e.g. "spec.strategy.type"

    @property
    def blocking(self) -> bool:
        return self.severity == "error"


def blocking(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that need an explicit override."""
    return [f for f in findings if f.blocking]


def _sorted(findings: list[Finding]) -> list[Finding]:
    """Errors first; otherwise the order the checks ran in."""
    return sorted(findings, key=lambda f: f.severity != "error")


# --- small helpers ----------------------------------------------------------------------------------


def _kind(obj: Any) -> str:
    return s(obj, "kind") or "Deployment"


def _pod_spec(workload: Any) -> dict:
    return d(workload, "spec", "template", "spec")


def _replicas(workload: Any) -> int:
    value = opt_i(d(workload, "spec"), "replicas")
    return 1 if value is None else max(0, value)


def _selector(workload: Any) -> LabelSelector | None:
    try:
        return from_label_selector_object(d(workload, "spec").get("selector"))
    except (SelectorError, TypeError, ValueError):
        return None


def _template_labels(workload: Any) -> dict[str, str]:
    lab = d(workload, "spec", "template", "metadata", "labels")
    return {k: v for k, v in lab.items() if isinstance(k, str) and isinstance(v, str)}


def human_cpu(m: int | float) -> str:
    """Milli-cores as an operator reads them: 250 -> "250m", 1500 -> "1.5"."""
    m = math.ceil(m)
    if m >= 1000 and m % 100 == 0:
        return f"{m / 1000:g}"
    return f"{m}m"


def human_bytes(b: int | float) -> str:
    """Bytes, binary units, at most one decimal: 9663676416 -> "9Gi", 1610612736 -> "1.5Gi"."""
    b = float(b)
    for unit, size in (("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if abs(b) >= size:
            return f"{b / size:.1f}".rstrip("0").rstrip(".") + unit
    return f"{int(b)}"


def percent(ratio: float) -> str:
    """0.27 -> "27%", 0.004 -> "0.4%"."""
    return f"{ratio * 100:.1f}".rstrip("0").rstrip(".") + "%"


def _owned_by(obj: Any, owner: Any) -> bool:
    uid = uid_of(owner)
    for ref in controller_refs(obj):
        if uid and s(ref, "uid") == uid:
            return True
        if (not uid or not s(ref, "uid")) and s(ref, "kind") == _kind(owner) and s(ref, "name") == name_of(owner):
            return True
    return False


def workload_pods(workload: Any, pods: Iterable[Any], replicasets: Iterable[Any] | None = None) -> list[dict]:
    """The live (non-terminal) pods of a Deployment or Rollout.

    Through ownership (pod -> ReplicaSet -> workload) when ReplicaSets are given, which is exact even
    when selectors overlap; otherwise by the workload's selector in its namespace.
    """
    ns = namespace_of(workload)
    live = [p for p in only_dicts(pods)
            if namespace_of(p) == ns and s(d(p, "status"), "phase") not in _TERMINAL]
    owned_rs = [rs for rs in only_dicts(replicasets) if namespace_of(rs) == ns and _owned_by(rs, workload)]
    if owned_rs:
        out = [p for p in live if any(_owned_by(p, rs) for rs in owned_rs)]
        if out:
            return out
    sel = _selector(workload)
    if sel is None or sel.empty:
        return []
    return [p for p in live if sel.matches(labels(p))]


# --- nodes ------------------------------------------------------------------------------------------


def node_unready_reason(node: Any, now: float | None = None) -> str | None:
    """Why a node cannot be trusted to run pods ("NotReady", "unreachable", ...), or None if Ready."""
    ready = find_condition(d(node, "status"), "Ready")
    status = s(ready, "status") or "Unknown"
    taints = {s(t, "key") for t in dicts(d(node, "spec"), "taints")}
    if status == "Unknown" or TAINT_UNREACHABLE in taints:
        return "unreachable"
    if status != "True" or TAINT_NOT_READY in taints:
        return "NotReady"
    beat = epoch(ready.get("lastHeartbeatTime"))
    if now is not None and beat is not None and now - beat > STALE_HEARTBEAT:
        return f"Ready but silent for {int(now - beat)}s"
    return None


def _tolerates(tolerations: list[dict], taint: dict) -> bool:
    """Toleration.ToleratesTaint for any of the pod's tolerations."""
    for tol in tolerations:
        effect, key = s(tol, "effect"), s(tol, "key")
        if effect and effect != s(taint, "effect"):
            continue
        if key and key != s(taint, "key"):
            continue
        op = s(tol, "operator") or "Equal"
        if op == "Exists" or (op == "Equal" and s(tol, "value") == s(taint, "value")):
            return True
    return False


def _match_expression(node_labels: Mapping[str, str], expr: dict) -> bool:
    key, op = s(expr, "key"), s(expr, "operator")
    values = [v for v in expr.get("values") or () if isinstance(v, str)]
    have = node_labels.get(key)
    if op == "In":
        return have is not None and have in values
    if op == "NotIn":
        return have is None or have not in values
    if op == "Exists":
        return have is not None
    if op == "DoesNotExist":
        return have is None
    if op in ("Gt", "Lt") and have is not None and values:
        try:
            a, b = int(have), int(values[0])
        except ValueError:
            return False
        return a > b if op == "Gt" else a < b
    return False


def _term_matches(node: Any, term: dict) -> bool:
    node_labels = labels(node)
    exprs = dicts(term, "matchExpressions")
    fields = dicts(term, "matchFields")
    if not exprs and not fields:
        return False  # an empty term matches nothing (NodeSelectorRequirementsAsSelector)
    if not all(_match_expression(node_labels, e) for e in exprs):
        return False
    return all(_match_expression({"metadata.name": name_of(node)}, f) for f in fields)


def pod_can_run_on(pod_spec: Any, node: Any) -> bool:
    """The scheduler's static filters for a pod template: nodeSelector, required node affinity, taints."""
    node_labels = labels(node)
    for key, value in d(pod_spec, "nodeSelector").items():
        if node_labels.get(key) != value:
            return False
    required = d(pod_spec, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution")
    terms = dicts(required, "nodeSelectorTerms")
    if required and not any(_term_matches(node, t) for t in terms):
        return False
    tolerations = dicts(pod_spec, "tolerations")
    for taint in dicts(d(node, "spec"), "taints"):
        if s(taint, "effect") in ("NoSchedule", "NoExecute") and not _tolerates(tolerations, taint):
            return False
    return True


@dataclass(frozen=True, slots=True)
class NodeRoom:
    name: str
    cpu: int     # free milli-cores
    memory: int  # free bytes
    pods: int    # free pod slots

    def fits(self, cpu: int, memory: int) -> int:
        """How many pods of this size fit here."""
        n = max(0, self.pods)
        if cpu > 0:
            n = min(n, max(0, self.cpu) // cpu)
        if memory > 0:
            n = min(n, max(0, self.memory) // memory)
        return n


def node_room(nodes: Iterable[Any], pods: Iterable[Any]) -> dict[str, NodeRoom]:
    """Free capacity per node: allocatable minus the requests of every non-terminated pod bound to it."""
    used: dict[str, list[int]] = {}
    for pod in only_dicts(pods):
        node = s(d(pod, "spec"), "nodeName")
        if not node or s(d(pod, "status"), "phase") in _TERMINAL:
            continue
        cpu, mem = pod_requests(pod)
        acc = used.setdefault(node, [0, 0, 0])
        acc[0] += cpu
        acc[1] += mem
        acc[2] += 1
    out = {}
    for node in only_dicts(nodes):
        name = name_of(node)
        alloc = d(node, "status", "allocatable")
        cpu, mem, count = used.get(name, [0, 0, 0])
        max_pods = opt_i(alloc, "pods")
        out[name] = NodeRoom(name, millis(alloc.get("cpu")) - cpu, nbytes(alloc.get("memory")) - mem,
                             (110 if max_pods is None else max_pods) - count)
    return out


# --- Argo CD ----------------------------------------------------------------------------------------


def managing_application(obj: Any, applications: Iterable[Any]) -> dict | None:
    """The Argo CD Application managing ``obj``: by the tracking-id annotation ("<app>:<group>/<Kind>:<ns>/<name>",
    the app maybe "<appns>_<app>"), by the app's ``status.resources``, or by the ``app.kubernetes.io/instance``
    label when an app of that name deploys to the object's namespace (label tracking)."""
    ns, name, kind = namespace_of(obj), name_of(obj), _kind(obj)
    group = s(obj, "apiVersion").rpartition("/")[0]
    tracked = d(obj, "metadata", "annotations").get(TRACKING_ID)
    tracked_app = tracked.split(":", 1)[0] if isinstance(tracked, str) else ""
    instance = labels(obj).get(INSTANCE_LABEL, "")
    by_label = None
    for app in only_dicts(applications):
        aname, ans = name_of(app), namespace_of(app)
        if tracked_app and tracked_app in (aname, f"{ans}_{aname}"):
            return app
        for r in dicts(d(app, "status"), "resources"):
            if (s(r, "kind") == kind and s(r, "name") == name and (s(r, "namespace") or ns) == ns
                    and s(r, "group") in ("", group)):
                return app
        dest_ns = s(d(app, "spec", "destination"), "namespace")
        if instance and instance == aname and dest_ns in ("", ns) and by_label is None:
            by_label = app
    return by_label


def _auto_sync(app: Any) -> tuple[bool, bool]:
    """(auto-sync on, selfHeal on): syncPolicy.automated set and not ``enabled: false`` (Argo CD 3)."""
    automated = d(app, "spec", "syncPolicy").get("automated")
    if automated is None or (isinstance(automated, dict) and automated.get("enabled") is False):
        return False, False
    return True, isinstance(automated, dict) and automated.get("selfHeal") is True


# --- the checks -------------------------------------------------------------------------------------


def _images(workload: Any, change: Mapping[str, Any] | None) -> list[tuple[int, str, str]]:
    """(index, container, image) after the change's images are applied."""
    new = (change or {}).get("images") or {}
    out = []
    for n, c in enumerate(dicts(_pod_spec(workload), "containers")):
        cname = s(c, "name")
        image = new.get(cname, new.get("*", s(c, "image"))) if isinstance(new, Mapping) else s(c, "image")
        out.append((n, cname, image if isinstance(image, str) else s(c, "image")))
    return out


def _template_changes(workload: Any, change: Mapping[str, Any] | None) -> bool:
    """A change with no images (scale only) does not roll the pods; an unknown change (None) may."""
    if change is None:
        return True
    if change.get("template"):
        return True
    return any(image != s(c, "image") for (_, _, image), c in
               zip(_images(workload, change), dicts(_pod_spec(workload), "containers"), strict=False))


def image_problem(image: str) -> str | None:
    """'latest' for a ":latest" tag, 'untagged' for no tag at all; None when pinned (tag or digest)."""
    if not image:
        return None
    ref, _, digest = image.partition("@")
    if digest:
        return None
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        return "untagged"
    return "latest" if last.rsplit(":", 1)[1] == "latest" else None


def _strategy(workload: Any) -> tuple[str, dict]:
    """("RollingUpdate"|"Recreate"|"canary"|"blueGreen", the strategy's parameters)."""
    strategy = d(workload, "spec", "strategy")
    if _kind(workload) == "Rollout":
        if "blueGreen" in strategy:
            return "blueGreen", d(strategy, "blueGreen")
        return "canary", d(strategy, "canary")
    kind = s(strategy, "type") or "RollingUpdate"
    return kind, d(strategy, "rollingUpdate")


def _fenceposts(params: dict, replicas: int) -> tuple[int, int] | None:
    try:
        return resolve_fenceposts(params.get("maxSurge", DEFAULT_SURGE),
                                  params.get("maxUnavailable", DEFAULT_UNAVAILABLE), replicas)
    except (ValueError, TypeError):
        return None


def _check_strategy(workload: Any, change: Mapping[str, Any] | None, replicas: int) -> list[Finding]:
    out: list[Finding] = []
    current = _replicas(workload)
    if replicas == 0 and current > 0:
        out.append(Finding("scale-to-zero", "error", "Scales to zero",
                           f"the change scales {name_of(workload)} from {current} to 0 replicas: it stops serving",
                           "spec.replicas"))
    if replicas == 0 or not _template_changes(workload, change):
        return out
    kind, params = _strategy(workload)
    if kind == "Recreate":
        out.append(Finding("downtime-recreate", "error", "Recreate strategy",
                           "Recreate stops every old pod before any new one starts: downtime until the new pods "
                           "are Ready", "spec.strategy.type"))
    elif kind in ("RollingUpdate", "canary"):
        fence = _fenceposts(params, replicas)
        if fence is not None and fence[1] >= replicas:
            base = "spec.strategy.rollingUpdate" if kind == "RollingUpdate" else "spec.strategy.canary"
            raw = params.get("maxUnavailable", DEFAULT_UNAVAILABLE)
            plural = "replica" if replicas == 1 else "replicas"
            out.append(Finding("downtime-max-unavailable", "error", "Every pod may go down at once",
                               f"maxUnavailable {raw} with {replicas} {plural} lets the controller take all "
                               f"{replicas} down before a new pod is Ready", f"{base}.maxUnavailable"))
    return out


def _pdb_selects(pdb: Any, pod_labels: Mapping[str, str]) -> bool:
    try:
        sel = from_label_selector_object(d(pdb, "spec").get("selector"))
    except (SelectorError, TypeError, ValueError):
        return False
    return sel.matches(pod_labels)


def _check_pdbs(workload: Any, replicas: int, pdbs: Iterable[Any]) -> list[Finding]:
    ns = namespace_of(workload)
    pod_labels = _template_labels(workload)
    matching = [p for p in only_dicts(pdbs) if namespace_of(p) == ns and _pdb_selects(p, pod_labels)]
    if not matching:
        return [Finding("no-pdb", "warning", "No PodDisruptionBudget",
                        "no PodDisruptionBudget selects these pods: a node drain may evict all of them at once")]
    out = []
    if len(matching) > 1:
        names = ", ".join(sorted(name_of(p) for p in matching))
        out.append(Finding("pdb-multiple", "warning", "Several PodDisruptionBudgets",
                           f"{names} all select these pods: the eviction API refuses to evict pods with more than "
                           "one PodDisruptionBudget, so drains get stuck"))
    for pdb in matching:
        spec = d(pdb, "spec")
        try:
            if spec.get("maxUnavailable") is not None:
                allowed = scaled_value(spec.get("maxUnavailable"), replicas, True)
                blocks, what = allowed <= 0, f"maxUnavailable {spec.get('maxUnavailable')}"
            elif spec.get("minAvailable") is not None:
                need = scaled_value(spec.get("minAvailable"), replicas, True)
                blocks, what = replicas > 0 and need >= replicas, f"minAvailable {spec.get('minAvailable')}"
            else:
                continue
        except (ValueError, TypeError):
            continue
        if blocks:
            out.append(Finding("pdb-blocks-eviction", "warning", "PodDisruptionBudget blocks every voluntary eviction",
                               f"PodDisruptionBudget {name_of(pdb)} ({what}, {replicas} replicas) blocks every "
                               "voluntary eviction: node drains hang until it is relaxed"))
    return out


def _check_nodes(workload: Any, change: Mapping[str, Any] | None, replicas: int, nodes: Sequence[dict],
                 pods: Sequence[dict], live: list[dict], now: float | None) -> list[Finding]:
    out: list[Finding] = []
    by_name = {name_of(n): n for n in nodes}
    placed = [p for p in live if s(d(p, "spec"), "nodeName") and d(p, "metadata").get("deletionTimestamp") is None]
    used = sorted({s(d(p, "spec"), "nodeName") for p in placed})
    if len(placed) >= 2 and len(used) == 1:
        out.append(Finding("single-node", "warning", "All pods on one node",
                           f"all {len(placed)} pods run on {used[0]}: losing that node takes the app down",
                           "spec.template.spec.affinity"))
    if used:
        reasons = {n: node_unready_reason(by_name[n], now) if n in by_name else "gone" for n in used}
        if all(reasons.values()):
            where = ", ".join(f"{n} ({r})" for n, r in reasons.items())
            pinned = "spec.template.spec.nodeSelector" if d(_pod_spec(workload), "nodeSelector") else None
            out.append(Finding("node-not-ready", "error", "Pods on a node that is not Ready",
                               f"every pod runs on {where}: the pods there are not serving and new ones cannot be "
                               "verified", pinned))

    # Room for the pods the change adds while it runs: the surge, and any scale-up.
    extra = max(0, replicas - _replicas(workload))
    if replicas > 0 and _template_changes(workload, change):
        kind, params = _strategy(workload)
        if kind == "blueGreen":
            preview = opt_i(params, "previewReplicaCount")
            extra += replicas if preview is None else max(0, preview)
        elif kind != "Recreate":
            fence = _fenceposts(params, replicas)
            extra += fence[0] if fence else 0
    if extra <= 0:
        return out
    pod_spec = _pod_spec(workload)
    cpu, mem = pod_requests({"spec": pod_spec})
    room = node_room(nodes, pods)
    eligible = [room[name_of(n)] for n in nodes
                if node_unready_reason(n, now) is None and d(n, "spec").get("unschedulable") is not True
                and pod_can_run_on(pod_spec, n)]
    fits = sum(r.fits(cpu, mem) for r in eligible)
    if fits >= extra:
        return out
    size = f"{human_cpu(cpu)} CPU, {human_bytes(mem)} memory"
    plural = "pod" if extra == 1 else "pods"
    if not eligible:
        detail = "no Ready, schedulable node matches the pod's nodeSelector, affinity and tolerations"
    else:
        best = max(eligible, key=lambda r: (r.fits(cpu, mem), r.memory if mem else r.cpu))
        detail = (f"room for {fits}; the roomiest node, {best.name}, has {human_cpu(max(0, best.cpu))} CPU and "
                  f"{human_bytes(max(0, best.memory))} memory free")
    out.append(Finding("no-room-for-surge", "error", "No room for the surge pods",
                       f"the rollout needs {extra} extra {plural} ({size} each): {detail}"))
    return out


def _check_containers(workload: Any, change: Mapping[str, Any] | None) -> list[Finding]:
    out: list[Finding] = []
    containers = dicts(_pod_spec(workload), "containers")
    for n, cname, image in _images(workload, change):
        c = containers[n]
        base = f"spec.template.spec.containers[{n}]"
        if not isinstance(c.get("readinessProbe"), dict):
            out.append(Finding("no-readiness-probe", "warning", "No readiness probe",
                               f"container {cname} has no readinessProbe: it gets traffic as soon as it starts, "
                               "before it can serve", f"{base}.readinessProbe"))
        problem = image_problem(image)
        if problem == "latest":
            out.append(Finding("image-latest", "warning", "Image tag 'latest'",
                               f"container {cname} runs {image}: 'latest' moves, so pods of one revision may run "
                               "different code and a rollback may not restore the old one", f"{base}.image"))
        elif problem == "untagged":
            out.append(Finding("image-latest", "warning", "Image without a tag",
                               f"container {cname} runs {image} with no tag, which means 'latest': pods of one "
                               "revision may run different code", f"{base}.image"))
        resources = d(c, "resources")
        if not d(resources, "requests"):
            out.append(Finding("no-requests", "warning", "No resource requests",
                               f"container {cname} has no requests: the scheduler may pack it onto a full node "
                               "and it is first to be evicted under pressure", f"{base}.resources.requests"))
        if not d(resources, "limits"):
            out.append(Finding("no-limits", "warning", "No resource limits",
                               f"container {cname} has no limits: a leak or a busy loop can starve its neighbours",
                               f"{base}.resources.limits"))
    return out


def _check_ownership(workload: Any, applications: Iterable[Any]) -> list[Finding]:
    app = managing_application(workload, applications)
    if app is None:
        return []
    name = name_of(app)
    auto, heal = _auto_sync(app)
    if heal:
        return [Finding("argocd-self-heal", "error", "Argo CD will revert this change",
                        f"managed by Argo CD app {name} with auto-sync and selfHeal: GitOps reverts a direct change "
                        "within seconds; change Git instead")]
    if auto:
        return [Finding("argocd-auto-sync", "warning", "Argo CD will overwrite this change",
                        f"managed by Argo CD app {name} with auto-sync: the app goes OutOfSync and the next Git "
                        "change overwrites this one")]
    return [Finding("argocd-managed", "warning", "Managed by Argo CD",
                    f"managed by Argo CD app {name}: the next sync reverts this change")]


def _check_history(workload: Any) -> list[Finding]:
    limit = opt_i(d(workload, "spec"), "revisionHistoryLimit")
    if limit is None:
        limit = DEFAULT_HISTORY_LIMIT
    if limit <= 0:
        return [Finding("no-rollback-target", "error", "No rollback target",
                        "revisionHistoryLimit is 0: the old ReplicaSet is deleted once the rollout completes, so "
                        "there is nothing to roll back to", "spec.revisionHistoryLimit")]
    return []


def preflight(target: dict, change: Mapping[str, Any] | None = None, *, nodes: Iterable[Any] = (),
              pods: Iterable[Any] = (), pdbs: Iterable[Any] = (), replicasets: Iterable[Any] | None = None,
              applications: Iterable[Any] = (), now: float | None = None) -> list[Finding]:
    """Findings for changing a Deployment or Rollout, errors first.

    ``change`` is what is about to be applied: ``{"images": {container: image}, "replicas": n}``
    (either key optional; ``None`` = an unspecified template change, checked like a new rollout).
    The other arguments are the cluster's current objects (any namespaces; filtered here).
    """
    node_list, pod_list = only_dicts(nodes), only_dicts(pods)
    replicas = opt_i(change or {}, "replicas")
    replicas = _replicas(target) if replicas is None else max(0, replicas)
    live = workload_pods(target, pod_list, replicasets)
    findings = _check_strategy(target, change, replicas)
    findings += _check_pdbs(target, replicas, pdbs)
    findings += _check_nodes(target, change, replicas, node_list, pod_list, live, now)
    findings += _check_containers(target, change)
    findings += _check_ownership(target, applications)
    findings += _check_history(target)
    return _sorted(findings)


# --- promotion between environments -----------------------------------------------------------------


def _container_images(workload: Any) -> dict[str, str]:
    return {s(c, "name"): s(c, "image") for c in dicts(_pod_spec(workload), "containers")}


def _rolled_out(workload: Any) -> tuple[bool, str]:
    """(fully rolled out and healthy, kubectl's / Argo's words for it)."""
    try:
        if _kind(workload) == "Rollout":
            phase, message = rollout_phase(workload)
            return phase == "Healthy", message or phase
        message, done = deployment_status(workload)
        return done, message
    except (RolloutStatusError, ValueError, TypeError, KeyError, AttributeError) as e:
        return False, str(e)


def preflight_promotion(source: dict, target: dict, *, nodes: Iterable[Any] = (), pods: Iterable[Any] = (),
                        pdbs: Iterable[Any] = (), replicasets: Iterable[Any] | None = None,
                        applications: Iterable[Any] = (), now: float | None = None) -> list[Finding]:
    """Findings for promoting ``source``'s images to ``target`` (the next environment's workload)."""
    src, dst = _container_images(source), _container_images(target)
    images = {c: img for c, img in src.items() if c in dst}
    where = f"{namespace_of(source)}/{name_of(source)}"
    extra: list[Finding] = []
    if not images:
        return [Finding("promotion-no-common-container", "error", "Nothing to promote",
                        f"{namespace_of(target)}/{name_of(target)} has no container named like those of {where} "
                        f"({', '.join(src) or 'none'})")]
    missing = sorted(set(src) - set(dst))
    if missing:
        extra.append(Finding("promotion-container-mismatch", "warning", "Containers differ",
                             f"{where} has container(s) {', '.join(missing)} that the target lacks: not promoted"))
    if all(dst[c] == img for c, img in images.items()):
        extra.append(Finding("promotion-no-change", "warning", "Already at this version",
                             f"the target already runs {', '.join(sorted(set(images.values())))}"))
    done, words = _rolled_out(source)
    if not done:
        extra.append(Finding("promotion-source-not-rolled-out", "warning", "Source not verified",
                             f"{where} is not fully rolled out and healthy ({words}): the version is not proven there"))
    found = preflight(target, {"images": images}, nodes=nodes, pods=pods, pdbs=pdbs, replicasets=replicasets,
                      applications=applications, now=now)
    return _sorted(found + extra)


# --- promoting a canary / blue-green preview --------------------------------------------------------


def _ready(pod: Any) -> bool:
    return s(find_condition(d(pod, "status"), "Ready"), "status") == "True"


def _red_verified(red: Any) -> bool:
    verified = getattr(red, "verified", None)
    if verified is not None:
        return bool(verified)
    return getattr(red, "status", "") == "ok"


def _check_red(red: tuple[Any, Any] | None, label: str) -> list[Finding]:
    if red is None:
        return [Finding("canary-not-verified", "warning", "Not verified",
                        f"no request metrics for the {label}: its error rate and latency are not verified")]
    canary, stable = red
    if canary is None or not _red_verified(canary) or getattr(canary, "error_ratio", None) is None:
        message = getattr(canary, "message", "") or "no data"
        return [Finding("canary-not-verified", "warning", "Not verified",
                        f"{label} metrics: {message}; 'no data' is not 'healthy'")]
    ratio = float(canary.error_ratio)
    rate = getattr(canary, "rate", None)
    at = f" at {rate:.3g} req/s" if isinstance(rate, (int, float)) else ""
    stable_ok = stable is not None and _red_verified(stable) and getattr(stable, "error_ratio", None) is not None
    stable_ratio = float(stable.error_ratio) if stable_ok else None
    vs = f"stable {percent(stable_ratio)}" if stable_ratio is not None else "stable not verified"
    out: list[Finding] = []
    if ratio >= CANARY_ERROR_RATIO and (stable_ratio is None or ratio >= CANARY_ERROR_FACTOR * stable_ratio):
        out.append(Finding("canary-errors", "error", "Canary serves errors",
                           f"{label} serves {percent(ratio)} 5xx{at} ({vs})"))
    elif stable_ratio is not None and ratio > stable_ratio + CANARY_WARN_MARGIN:
        out.append(Finding("canary-errors", "warning", "Canary serves more errors",
                           f"{label} serves {percent(ratio)} 5xx{at} ({vs})"))
    p95 = getattr(canary, "p95", None)
    stable_p95 = getattr(stable, "p95", None) if stable_ok else None
    if isinstance(p95, (int, float)) and isinstance(stable_p95, (int, float)) and stable_p95 > 0 \
            and p95 > CANARY_LATENCY_FACTOR * stable_p95:
        out.append(Finding("canary-latency", "warning", "Canary is slower",
                           f"{label} p95 latency {p95 * 1000:.0f} ms (stable {stable_p95 * 1000:.0f} ms)"))
    return out


def preflight_rollout_promote(rollout: dict, *, pods: Iterable[Any] = (), replicasets: Iterable[Any] | None = None,
                              red: tuple[Any, Any] | None = None, full: bool = False,
                              now: float | None = None) -> list[Finding]:
    """Findings for promoting an Argo Rollout's canary (or blue-green preview) to stable.

    ``red`` is (canary, stable) request metrics, objects with ``rate``, ``error_ratio``, ``p95`` and
    ``status``/``verified`` like :class:`almtui.cluster.metrics.RED`; None means no metrics at all.
    ``full`` (promote --full) skips the remaining steps, which is worth a warning of its own.
    """
    del now  # reserved: the checks read only current state
    status = d(rollout, "status")
    kind, _params = _strategy(rollout)
    label = "preview" if kind == "blueGreen" else "canary"
    new_hash = s(status, "currentPodHash")
    stable_hash = s(status, "stableRS")
    if kind == "blueGreen":
        stable_hash = s(d(status, "blueGreen"), "activeSelector") or stable_hash
    out: list[Finding] = []
    if not new_hash or new_hash == stable_hash:
        out.append(Finding("nothing-to-promote", "warning", "Nothing to promote",
                           f"{name_of(rollout)} is not rolling out a new version (stable {stable_hash or 'unknown'})"))
        return out
    if status.get("abort") is True:
        out.append(Finding("rollout-aborted", "error", "Rollout aborted",
                           f"{name_of(rollout)} was aborted: promoting now skips the checks that aborted it"))
    live = [p for p in workload_pods(rollout, pods, replicasets)
            if labels(p).get(ROLLOUT_HASH_LABEL) == new_hash and d(p, "metadata").get("deletionTimestamp") is None]
    not_ready = [p for p in live if not _ready(p)]
    if not live:
        out.append(Finding("canary-not-ready", "error", f"No {label} pods",
                           f"no {label} pod (hash {new_hash}) is running: its version is untested"))
    elif not_ready:
        out.append(Finding("canary-not-ready", "error", f"{label.capitalize()} pods not ready",
                           f"{len(not_ready)} of {len(live)} {label} pods are not Ready "
                           f"({', '.join(sorted(name_of(p) for p in not_ready)[:3])})"))
    out += _check_red(red, label)
    if full and kind == "canary":
        steps = len(dicts(d(rollout, "spec", "strategy", "canary"), "steps"))
        index = opt_i(status, "currentStepIndex") or 0
        if steps and index < steps - 1:
            out.append(Finding("promote-full-skips-steps", "warning", "Skips the remaining steps",
                               f"promote --full skips steps {index + 1}..{steps} of {name_of(rollout)} "
                               "(pauses and analysis included)"))
    return _sorted(out)
