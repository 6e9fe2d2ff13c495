"""RolloutView: one shape for a Deployment and an Argo Rollout, with its ReplicaSet/pod tree.

The tree is what ``kubectl argo rollouts get rollout`` draws (``info/rollout_info.go``,
``info/replicaset_info.go``); the status text is what ``kubectl rollout status`` or
``kubectl argo rollouts status`` prints, so the console and the CLIs never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from almtui.kube.rollout_status import (
    PHASE_DEGRADED,
    PHASE_HEALTHY,
    PHASE_PAUSED,
    PHASE_PROGRESSING,
    RolloutStatusError,
    deployment_status,
    rollout_phase,
)

from .common import (
    POD_HASH_LABEL,
    ConditionView,
    IndexedOwners,
    LazyPods,
    OwnerIndex,
    PodView,
    annotations,
    app_name,
    b,
    conditions,
    created_age,
    d,
    dicts,
    find_condition,
    i,
    images,
    lst,
    name_of,
    namespace_of,
    only_dicts,
    opt_i,
    opt_s,
    s,
    template_hash,
    to_int,
)

PHASE_UNKNOWN = "Unknown"
DEPLOYMENT_REVISION = "deployment.kubernetes.io/revision"
ROLLOUT_REVISION = "rollout.argoproj.io/revision"
SCALE_DOWN_DEADLINE = "scale-down-deadline"


@dataclass(frozen=True, slots=True)
class ReplicaSetView:
    key: tuple[str, str]
    namespace: str
    name: str
    revision: int
    hash: str
    role: str                  # stable | canary | active | preview | new | old
    roles: tuple[str, ...]     # every tag Argo would show ("stable", "active")
    status: str                # Healthy | Progressing | ScaledDown | ReplicaFailure
    desired: int
    current: int
    ready: int
    available: int
    images: tuple[str, ...]
    pods: Sequence[PodView]    # built lazily by the builders (LazyPods): the list never needs them
    age: float | None
    scale_down_deadline: str | None


@dataclass(frozen=True, slots=True)
class RolloutView:
    key: tuple[str, str, str]  # (kind, namespace, name)
    kind: str                  # Deployment | Rollout
    namespace: str
    name: str
    strategy: str              # RollingUpdate | Recreate | Canary | BlueGreen
    revision: int
    images: tuple[str, ...]
    desired: int
    current: int
    updated: int
    ready: int
    available: int
    progress: float            # updated-and-available / desired, 0..1
    phase: str                 # Healthy | Progressing | Paused | Degraded | Unknown
    message: str
    step: int | None
    steps: int | None
    set_weight: int | None
    actual_weight: int | None
    active_hash: str | None
    preview_hash: str | None
    stable_hash: str | None
    current_hash: str | None
    conditions: tuple[ConditionView, ...]
    status_text: str
    done: bool
    paused: bool
    aborted: bool
    created: str | None
    age: float | None
    app: str
    hpa: str | None
    replicasets: tuple[ReplicaSetView, ...]
    as_of: float               # when its ages (and its ReplicaSets' and pods') were computed


# --- phases (dict in, text out; also used by the environment matrix) ---------------------------


def deployment_phase(dep: Any) -> tuple[str, str, bool]:
    """(phase, status text, done) for a Deployment, the text exactly as ``kubectl rollout status``.

    Exceeded deadline -> Degraded (the text is kubectl's error); paused -> Paused; not complete ->
    Progressing; complete -> Healthy. Without any status the controller never saw it: Unknown.
    """
    try:
        text, done = deployment_status(dep)
    except RolloutStatusError as exc:
        return PHASE_DEGRADED, str(exc), False
    except (TypeError, ValueError, AttributeError, KeyError):
        return PHASE_UNKNOWN, "", False
    if not d(dep, "status"):
        return PHASE_UNKNOWN, text, done
    if b(d(dep, "spec"), "paused"):
        return PHASE_PAUSED, text, done
    return (PHASE_HEALTHY if done else PHASE_PROGRESSING), text, done


def argo_phase(ro: Any) -> tuple[str, str]:
    """GetRolloutPhase, tolerant of malformed objects (Unknown rather than an exception)."""
    try:
        return rollout_phase(ro)
    except (TypeError, ValueError, AttributeError, KeyError):
        return PHASE_UNKNOWN, ""


def argo_status_text(phase: str, message: str) -> str:
    """A line of ``kubectl argo rollouts status``: "Progressing - <message>", or the bare phase."""
    return f"{phase} - {message}" if message else phase


# --- shared -----------------------------------------------------------------------------------


def _rs_health(rs: dict) -> str:
    """getReplicaSetHealth (argo-rollouts info/replicaset_info.go)."""
    spec, status = d(rs, "spec"), d(rs, "status")
    replicas = opt_i(spec, "replicas")
    if i(d(rs, "metadata"), "generation") <= i(status, "observedGeneration"):
        if find_condition(status, "ReplicaFailure").get("status") == "True":
            return "ReplicaFailure"
        if replicas is not None and i(status, "availableReplicas") < replicas:
            return "Progressing"
    else:
        return "Progressing"
    if replicas == 0:
        return "ScaledDown"
    return "Healthy"


def _rs_view(rs: dict, role: str, roles: tuple[str, ...], revision_key: str, pods: Sequence[dict],
             now: float) -> ReplicaSetView:
    spec, status, ann = d(rs, "spec"), d(rs, "status"), annotations(rs)
    ns, name = namespace_of(rs), name_of(rs)
    return ReplicaSetView(
        key=(ns, name),
        namespace=ns,
        name=name,
        revision=to_int(ann.get(revision_key)),
        hash=template_hash(rs),
        role=role,
        roles=roles,
        status=_rs_health(rs),
        desired=i(spec, "replicas", 1),
        current=i(status, "replicas"),
        ready=i(status, "readyReplicas"),
        available=i(status, "availableReplicas"),
        images=images(d(spec, "template", "spec")),
        pods=LazyPods(pods, now),
        age=created_age(rs, now),
        scale_down_deadline=ann.get(SCALE_DOWN_DEADLINE),
    )


def _sort_rs(views: list[ReplicaSetView]) -> tuple[ReplicaSetView, ...]:
    views.sort(key=lambda v: (-v.revision, v.name))
    return tuple(views)


def _progress(desired: int, new_available: int) -> float:
    if desired <= 0:
        return 1.0
    return max(0.0, min(1.0, new_available / desired))


def _hpa_index(hpas: Iterable[dict]) -> dict[tuple[str, str, str], str]:
    index: dict[tuple[str, str, str], str] = {}
    for hpa in sorted(hpas, key=name_of):
        ref = d(hpa, "spec", "scaleTargetRef")
        index.setdefault((namespace_of(hpa), s(ref, "kind"), s(ref, "name")), name_of(hpa))
    return index


def _without_hash(template: Any) -> Any:
    """A pod template without the pod-template-hash label (EqualIgnoreHash)."""
    if not isinstance(template, dict):
        return template
    meta = d(template, "metadata")
    labs = {k: v for k, v in d(meta, "labels").items() if k != POD_HASH_LABEL}
    meta = {k: v for k, v in meta.items() if k != "labels"}
    if labs:
        meta["labels"] = labs
    out = {k: v for k, v in template.items() if k != "metadata"}
    if meta:
        out["metadata"] = meta
    return out


# --- Deployments ------------------------------------------------------------------------------


def _deployment_view(dep: dict, rs_index: IndexedOwners, pod_index: IndexedOwners,
                     hpa_index: dict[tuple[str, str, str], str], now: float) -> RolloutView:
    meta, spec, status = d(dep, "metadata"), d(dep, "spec"), d(dep, "status")
    ns, name = s(meta, "namespace"), s(meta, "name")
    owned = rs_index.children(dep, "Deployment")
    revision = to_int(annotations(dep).get(DEPLOYMENT_REVISION))

    # The new RS: same template ignoring the hash label; oldest first when several match.
    wanted = _without_hash(spec.get("template"))
    new_rs = None
    for rs in sorted(owned, key=lambda r: (s(d(r, "metadata"), "creationTimestamp"), name_of(r))):
        if _without_hash(d(rs, "spec").get("template")) == wanted:
            new_rs = rs
            break
    if new_rs is None and revision:
        new_rs = next((r for r in owned if to_int(annotations(r).get(DEPLOYMENT_REVISION)) == revision), None)

    rs_views = []
    for rs in owned:
        role = "new" if rs is new_rs else "old"
        rs_views.append(_rs_view(rs, role, (role,), DEPLOYMENT_REVISION, pod_index.children(rs, "ReplicaSet"), now))
    replicasets = _sort_rs(rs_views)
    new_view = next((v for v in replicasets if v.role == "new"), None)

    phase, text, done = deployment_phase(dep)
    progressing, available_cond = find_condition(status, "Progressing"), find_condition(status, "Available")
    message = s(progressing, "message") or s(available_cond, "message")
    desired = i(spec, "replicas", 1)
    updated, available = i(status, "updatedReplicas"), i(status, "availableReplicas")
    new_available = new_view.available if new_view is not None else min(updated, available)
    current_hash = new_view.hash if new_view is not None else None
    stable_hash = current_hash if done else next(
        (v.hash for v in replicasets if v.role == "old" and v.current > 0), None)
    strategy = s(d(spec, "strategy"), "type") or "RollingUpdate"
    return RolloutView(
        key=("Deployment", ns, name),
        kind="Deployment",
        namespace=ns,
        name=name,
        strategy=strategy,
        revision=revision or (new_view.revision if new_view is not None else 0),
        images=images(d(spec, "template", "spec")),
        desired=desired,
        current=i(status, "replicas"),
        updated=updated,
        ready=i(status, "readyReplicas"),
        available=available,
        progress=_progress(desired, new_available),
        phase=phase,
        message=message,
        step=None,
        steps=None,
        set_weight=None,
        actual_weight=None,
        active_hash=None,
        preview_hash=None,
        stable_hash=stable_hash,
        current_hash=current_hash,
        conditions=conditions(status),
        status_text=text,
        done=done,
        paused=b(spec, "paused"),
        aborted=False,
        created=opt_s(meta, "creationTimestamp"),
        age=created_age(dep, now),
        app=app_name(dep),
        hpa=hpa_index.get((ns, "Deployment", name)),
        replicasets=replicasets,
        as_of=now,
    )


# --- Argo Rollouts ----------------------------------------------------------------------------


def _canary_weights(ro: dict, canary_available: int | None) -> tuple[int, int]:
    """(SetWeight, ActualWeight) as rollout_info.go computes them."""
    spec, status = d(ro, "spec"), d(ro, "status")
    canary = d(spec, "strategy", "canary")
    steps = lst(canary, "steps")
    index = opt_i(status, "currentStepIndex")
    index = 0 if index is None else index
    current_step = steps[index] if steps and 0 <= index < len(steps) else None
    if b(status, "abort"):
        set_weight = 0
    elif current_step is None:
        set_weight = 100
    else:
        set_weight = 0
        for n in range(index, -1, -1):
            step = steps[n]
            if isinstance(step, dict) and step.get("setWeight") is not None:
                set_weight = i(step, "setWeight")
                break
    ro_available = i(status, "availableReplicas")
    if current_step is None:
        actual = 100
    elif ro_available > 0:
        if canary.get("trafficRouting") is None:
            actual = (canary_available * 100) // ro_available if canary_available is not None else 0
        else:
            weights = d(status, "canary", "weights")
            actual = i(d(weights, "canary"), "weight") if weights else set_weight
    else:
        actual = 0
    return set_weight, actual


def _rollout_view(ro: dict, rs_index: IndexedOwners, pod_index: IndexedOwners,
                  hpa_index: dict[tuple[str, str, str], str], now: float) -> RolloutView:
    meta, spec, status = d(ro, "metadata"), d(ro, "spec"), d(ro, "status")
    ns, name = s(meta, "namespace"), s(meta, "name")
    strategy_spec = d(spec, "strategy")
    blue_green = isinstance(strategy_spec.get("blueGreen"), dict)
    strategy = "BlueGreen" if blue_green else "Canary"
    stable = opt_s(status, "stableRS") or None
    current_hash = opt_s(status, "currentPodHash") or None
    bg_status = d(status, "blueGreen")
    active = opt_s(bg_status, "activeSelector") or None
    preview = opt_s(bg_status, "previewSelector") or None

    rs_views = []
    for rs in rs_index.children(ro, "Rollout"):
        rs_hash = template_hash(rs)
        roles: list[str] = []
        if blue_green:
            if rs_hash and rs_hash == stable:
                roles.append("stable")
            if rs_hash and rs_hash == active:
                roles.append("active")
            elif rs_hash and rs_hash == preview:
                roles.append("preview")
            role = "active" if "active" in roles else "preview" if "preview" in roles else (roles or ["old"])[0]
        else:
            if rs_hash and rs_hash == stable:
                roles.append("stable")
            elif rs_hash and rs_hash == current_hash:
                roles.append("canary")
            role = roles[0] if roles else "old"
        rs_views.append(_rs_view(rs, role, tuple(roles) or ("old",), ROLLOUT_REVISION,
                                 pod_index.children(rs, "ReplicaSet"), now))
    replicasets = _sort_rs(rs_views)
    current_rs = next((v for v in replicasets if v.hash and v.hash == current_hash), None)

    canary_spec = d(strategy_spec, "canary")
    steps_list = lst(canary_spec, "steps")
    step_index = opt_i(status, "currentStepIndex")
    step = step_index if (not blue_green and steps_list and step_index is not None) else None
    set_weight = actual_weight = None
    if not blue_green:
        canary_rs = next((v for v in replicasets if "canary" in v.roles), None)
        set_weight, actual_weight = _canary_weights(ro, canary_rs.available if canary_rs else None)

    phase, message = argo_phase(ro)
    desired = i(spec, "replicas", 1)
    updated, available = i(status, "updatedReplicas"), i(status, "availableReplicas")
    new_available = current_rs.available if current_rs is not None else min(updated, available)
    template_images = images(d(spec, "template", "spec"))
    revision = to_int(annotations(ro).get(ROLLOUT_REVISION)) or (current_rs.revision if current_rs else 0)
    return RolloutView(
        key=("Rollout", ns, name),
        kind="Rollout",
        namespace=ns,
        name=name,
        strategy=strategy,
        revision=revision,
        images=template_images or (current_rs.images if current_rs else ()),
        desired=desired,
        current=i(status, "replicas"),
        updated=updated,
        ready=i(status, "readyReplicas"),
        available=available,
        progress=_progress(desired, new_available),
        phase=phase,
        message=message,
        step=step,
        steps=len(steps_list) if (not blue_green and steps_list) else None,
        set_weight=set_weight,
        actual_weight=actual_weight,
        active_hash=active,
        preview_hash=preview,
        stable_hash=stable,
        current_hash=current_hash,
        conditions=conditions(status),
        status_text=argo_status_text(phase, message),
        done=phase == PHASE_HEALTHY,
        paused=b(spec, "paused") or bool(dicts(status, "pauseConditions")),
        aborted=b(status, "abort"),
        created=opt_s(meta, "creationTimestamp"),
        age=created_age(ro, now),
        app=app_name(ro),
        hpa=hpa_index.get((ns, "Rollout", name)),
        replicasets=replicasets,
        as_of=now,
    )


def build_rollouts(deployments: Sequence[dict], rollouts: Sequence[dict], replicasets: Sequence[dict],
                   pods: Sequence[dict], hpas: Sequence[dict], now: float) -> list[RolloutView]:
    """All Deployments and Rollouts as RolloutViews, sorted by (namespace, name, kind).

    Linear: ReplicaSets and pods are indexed by owner once per call. A fresh build every time; the
    service keeps a RolloutsBuilder instead, which reuses what did not change.
    """
    return RolloutsBuilder().build(deployments, rollouts, replicasets, pods, hpas, now)


def _same(old: list[Any], new: list[Any]) -> bool:
    """Whether two source lists hold the very same objects. A pod list is usually the informer's own
    copy-on-write tuple, the same object while its pods are; other lists are compared item by item."""
    if len(old) != len(new):
        return False
    for a, b_ in zip(old, new, strict=True):
        if a is b_:
            continue
        if isinstance(a, list) and isinstance(b_, list):
            if len(a) != len(b_) or any(x is not y for x, y in zip(a, b_, strict=True)):
                return False
        elif not (isinstance(a, str) and a == b_):
            return False
    return True


class RolloutsBuilder:
    """build_rollouts that rebuilds only the workloads whose source objects changed.

    Why: the Rollouts area depends on pods and HPAs, so it is rebuilt on every pod or HPA status
    change; from scratch that cost 0.2-0.4 s at 5,000 pods, 20-30 times a minute while idle. The
    informers replace an object on every change and never edit one in place, so "the same dict
    objects as last time" (identity, with the old ones kept referenced so that ids cannot be
    reused) means "nothing to redo". A workload's view depends on the workload, its HPA's name, its
    ReplicaSets and their pods (the pods only through the lazy pod list, whose ages are those of
    the build that made it: see `RolloutView.as_of`). An unchanged workload keeps the very same
    RolloutView object, which lets the UI skip its row with an `is` check. Not for two threads at
    once: the service builds each area in one thread at a time.
    """

    def __init__(self) -> None:
        self._memo: dict[tuple[str, str, str], tuple[list[Any], RolloutView]] = {}

    def build(self, deployments: Sequence[dict], rollouts: Sequence[dict], replicasets: Sequence[dict],
              pods: Sequence[dict], hpas: Sequence[dict], now: float) -> list[RolloutView]:
        """From lists of objects: the owner indexes are built from them."""
        rs_index, pod_index = OwnerIndex(only_dicts(replicasets)), OwnerIndex(only_dicts(pods))
        return self._build(deployments, rollouts, rs_index, pod_index, hpas, now)

    def build_indexed(self, deployments: Sequence[dict], rollouts: Sequence[dict], replicasets: IndexedOwners,
                      pods: IndexedOwners, hpas: Sequence[dict], now: float) -> list[RolloutView]:
        """From owner indexes kept by the informers (IndexedOwners): no pass over all pods at all."""
        return self._build(deployments, rollouts, replicasets, pods, hpas, now)

    def _build(self, deployments: Sequence[dict], rollouts: Sequence[dict], rs_index: IndexedOwners,
               pod_index: IndexedOwners, hpas: Sequence[dict], now: float) -> list[RolloutView]:
        hpa_index = _hpa_index(only_dicts(hpas))
        old, memo = self._memo, {}
        views: list[RolloutView] = []
        for kind, objs, make in (("Deployment", deployments, _deployment_view),
                                 ("Rollout", rollouts, _rollout_view)):
            for obj in only_dicts(objs):
                ns, name = namespace_of(obj), name_of(obj)
                sources: list[Any] = [obj, hpa_index.get((ns, kind, name))]
                for rs in rs_index.children(obj, kind):
                    sources.append(rs)
                    sources.append(pod_index.children(rs, "ReplicaSet"))
                key = (kind, ns, name)
                hit = old.get(key)
                if hit is not None and _same(hit[0], sources):
                    view = hit[1]
                else:
                    view = make(obj, rs_index, pod_index, hpa_index, now)
                memo[key] = (sources, view)
                views.append(view)
        self._memo = memo
        views.sort(key=lambda v: (v.namespace, v.name, v.kind))
        return views
