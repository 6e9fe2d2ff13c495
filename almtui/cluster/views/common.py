"""Shared pieces of the view models: type-safe accessors, times, conditions, owners, pods.

Objects from the wild are partial and sometimes wrongly typed (old CRD versions, hand-written
fixtures, a half-applied manifest), and a view builder runs on every cache change: one odd object
must never take a screen down. So every read goes through the accessors below, which answer a
neutral default instead of raising. Text fields stay raw cluster strings; the UI sanitises.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from almtui.kube.durations import parse_rfc3339
from almtui.kube.podstatus import pod_status as kube_pod_status
from almtui.kube.quantities import QuantityError, cpu_millis, parse_quantity, to_bytes

POD_HASH_LABEL = "pod-template-hash"
ROLLOUT_HASH_LABEL = "rollouts-pod-template-hash"

# --- type-safe accessors ----------------------------------------------------------------------


def d(obj: Any, *keys: str) -> dict:
    """The dict at ``obj[k1][k2]...``, or ``{}`` when any step is missing or not a dict."""
    for key in keys:
        if not isinstance(obj, dict):
            return {}
        obj = obj.get(key)
    return obj if isinstance(obj, dict) else {}


def lst(obj: Any, key: str) -> list:
    """The list at ``obj[key]``, or ``[]``."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, list) else []


def dicts(obj: Any, key: str) -> list[dict]:
    """The dict items of the list at ``obj[key]`` (anything else in the list is skipped)."""
    value = obj.get(key) if isinstance(obj, dict) else None
    if not value or not isinstance(value, list):
        return []
    return [x for x in value if isinstance(x, dict)]


def strs(obj: Any, key: str) -> list[str]:
    """The string items of the list at ``obj[key]``."""
    return [x for x in lst(obj, key) if isinstance(x, str)]


def s(obj: Any, key: str, default: str = "") -> str:
    """The string at ``obj[key]``; numbers are shown as text, anything else gives ``default``."""
    if not isinstance(obj, dict):
        return default
    value = obj.get(key)
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return str(value)


def opt_s(obj: Any, key: str) -> str | None:
    """The string at ``obj[key]``, or None when absent or not a string."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else None


def parse_int(value: Any) -> int | None:
    """An int from an int, a whole float or a decimal string (annotations are strings); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value == value and abs(value) < 2**63:
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in ("+", "-") else text
        if digits.isascii() and digits.isdigit() and len(digits) < 20:
            return int(text)
    return None


def to_int(value: Any, default: int = 0) -> int:
    parsed = parse_int(value)
    return default if parsed is None else parsed


def i(obj: Any, key: str, default: int = 0) -> int:
    return to_int(obj.get(key) if isinstance(obj, dict) else None, default)


def opt_i(obj: Any, key: str) -> int | None:
    return parse_int(obj.get(key) if isinstance(obj, dict) else None)


def b(obj: Any, key: str) -> bool:
    """True only for a literal JSON true."""
    return isinstance(obj, dict) and obj.get(key) is True


def labels(obj: Any) -> dict[str, str]:
    return {k: v for k, v in d(obj, "metadata", "labels").items() if isinstance(k, str) and isinstance(v, str)}


def annotations(obj: Any) -> dict[str, str]:
    return {k: v for k, v in d(obj, "metadata", "annotations").items() if isinstance(k, str) and isinstance(v, str)}


def name_of(obj: Any) -> str:
    return s(d(obj, "metadata"), "name")


def namespace_of(obj: Any) -> str:
    return s(d(obj, "metadata"), "namespace")


def uid_of(obj: Any) -> str:
    return s(d(obj, "metadata"), "uid")


def only_dicts(items: Iterable[Any] | None) -> list[dict]:
    return [x for x in items or () if isinstance(x, dict)]


# --- times ------------------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def _epoch(ts: str) -> float | None:
    try:
        return parse_rfc3339(ts).timestamp()
    except ValueError:
        return None


def epoch(ts: Any) -> float | None:
    """POSIX seconds of an RFC 3339 timestamp; None for a missing or malformed one."""
    return _epoch(ts) if isinstance(ts, str) else None


def age(ts: Any, now: float) -> float | None:
    """Seconds since ``ts`` (never negative: clocks skew), or None without a usable timestamp."""
    t = epoch(ts)
    return None if t is None else max(0.0, now - t)


def created_age(obj: Any, now: float) -> float | None:
    return age(d(obj, "metadata").get("creationTimestamp"), now)


# --- quantities -------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _cached_quantity(value: str | int | float, scale: str) -> int:
    """Quantity parsing is exact (Decimal) and slow; requests repeat the same few strings."""
    try:
        return cpu_millis(value) if scale == "m" else to_bytes(value)
    except (QuantityError, ValueError, ArithmeticError):
        return 0


def millis(value: Any) -> int:
    """A CPU quantity in milli-cores; 0 for a missing or malformed one."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return 0
    return _cached_quantity(value, "m")


def nbytes(value: Any) -> int:
    """A memory quantity in bytes (or any plain count); 0 for a missing or malformed one."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return 0
    return _cached_quantity(value, "")


def quantity_value(value: Any) -> float | None:
    """A quantity as a float in base units ("43m" -> 0.043), or None."""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return None
    try:
        return float(parse_quantity(value))
    except (QuantityError, ValueError, ArithmeticError):
        return None


# --- conditions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConditionView:
    type: str
    status: str
    reason: str
    message: str
    last_transition: str | None


def find_condition(status: Any, type_: str) -> dict:
    """The first condition of ``type_`` in ``status.conditions``, or ``{}``."""
    for cond in dicts(status, "conditions"):
        if cond.get("type") == type_:
            return cond
    return {}


def conditions(status: Any) -> tuple[ConditionView, ...]:
    return tuple(
        ConditionView(s(c, "type"), s(c, "status"), s(c, "reason"), s(c, "message"), opt_s(c, "lastTransitionTime"))
        for c in dicts(status, "conditions")
    )


# --- owners and indexes -----------------------------------------------------------------------


def controller_refs(obj: Any) -> list[dict]:
    """The controlling ownerReference (or, when none is marked controller, all of them)."""
    refs = dicts(d(obj, "metadata"), "ownerReferences")
    controlling = [r for r in refs if r.get("controller") is True]
    return controlling or refs


def owner(obj: Any) -> tuple[str, str]:
    """(kind, name) of the controlling owner, ``("", "")`` for none."""
    refs = controller_refs(obj)
    return (s(refs[0], "kind"), s(refs[0], "name")) if refs else ("", "")


def owner_index_values(obj: dict) -> list[str]:
    """Index values of an object's controlling owners: "uid:<uid>", and "name:<namespace>/<kind>/<name>"
    for owners named without a UID. Informers keep an index of these per watch event; OwnerIndex
    builds the same one from a list."""
    ns = namespace_of(obj)
    out = []
    for ref in controller_refs(obj):
        uid = s(ref, "uid")
        if uid:
            out.append("uid:" + uid)
        out.append(f"name:{ns}/{s(ref, 'kind')}/{s(ref, 'name')}")
    return out


class IndexedOwners:
    """Children by owner, answered by an index of `owner_index_values` (an informer's, kept up to date
    per watch event, so a rebuild does not re-index thousands of pods; or an OwnerIndex)."""

    __slots__ = ("lookup",)

    def __init__(self, lookup: Callable[[str], Sequence[dict]]) -> None:
        self.lookup = lookup

    def children(self, owner_obj: dict, kind: str) -> Sequence[dict]:
        uid = uid_of(owner_obj)
        if uid:
            return self.lookup("uid:" + uid)
        return self.lookup(f"name:{namespace_of(owner_obj)}/{kind}/{name_of(owner_obj)}")


class OwnerIndex(IndexedOwners):
    """The same index built once from a list of objects (for builders given plain lists), so that
    finding a workload's ReplicaSets or an RS's pods is a dict lookup, not a scan."""

    __slots__ = ()

    def __init__(self, objs: Iterable[dict]) -> None:
        index: dict[str, list[dict]] = defaultdict(list)
        for obj in objs:
            for value in owner_index_values(obj):
                index[value].append(obj)
        super().__init__(lambda value: index.get(value, []))


class PerObject:
    """`fn(obj)` remembered per object identity from one builder pass to the next.

    Informers replace a changed object and never edit one, so the same dict means the same answer.
    A builder calls it for every object of a pass, then `sweep()`: what was not asked for in that
    pass (deleted or replaced objects) is forgotten. Keeping `obj` in the entry keeps its id from
    being reused while remembered. Used where a pass over thousands of pods would otherwise redo
    the same parsing on every change (the Health areas). Not for two threads at once: the service
    builds each area in one thread at a time.
    """

    __slots__ = ("_fn", "_new", "_old")

    def __init__(self, fn: Callable[[dict], Any]) -> None:
        self._fn = fn
        self._old: dict[int, tuple[dict, Any]] = {}
        self._new: dict[int, tuple[dict, Any]] = {}

    def __call__(self, obj: dict) -> Any:
        key = id(obj)
        hit = self._new.get(key) or self._old.get(key)
        if hit is None or hit[0] is not obj:
            hit = (obj, self._fn(obj))
        self._new[key] = hit
        return hit[1]

    def sweep(self) -> None:
        self._old, self._new = self._new, {}


# --- images -----------------------------------------------------------------------------------


def containers(pod_spec: Any) -> list[dict]:
    return dicts(pod_spec, "containers")


def images(pod_spec: Any) -> tuple[str, ...]:
    return tuple(s(c, "image") for c in containers(pod_spec))


def image_tag(image: str) -> str:
    """The version part of an image reference: "reg:5000/a/b:1.4@sha256:ab.." -> "1.4".

    No tag means "latest"; a digest-only reference gives a short digest ("sha256:0123456789ab").
    """
    ref, _, digest = image.partition("@")
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        return last.rsplit(":", 1)[1]
    if digest:
        return digest[:19]
    return "latest" if ref else ""


# --- pods -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PodView:
    key: tuple[str, str]
    namespace: str
    name: str
    node: str
    phase: str
    status: str            # kubectl get pods STATUS
    ready: str             # "1/1"
    ready_count: int
    total: int
    restarts: int
    last_restart_age: float | None
    age: float | None
    ip: str
    owner_kind: str
    owner_name: str
    template_hash: str
    images: tuple[str, ...]
    deleting: bool


def pod_status(pod: Any) -> tuple[str, int, int, int, float | None]:
    """printPod (kubectl get pods): (STATUS, ready containers, total, restarts, last restart epoch)."""
    return tuple(kube_pod_status(pod))  # type: ignore[return-value]


def template_hash(obj: Any) -> str:
    """The pod-template hash label (Argo Rollouts' first, then the Deployment controller's)."""
    lab = d(obj, "metadata", "labels")
    for key in (ROLLOUT_HASH_LABEL, POD_HASH_LABEL):
        value = lab.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def build_pod(pod: dict, now: float) -> PodView:
    meta, spec, status = d(pod, "metadata"), d(pod, "spec"), d(pod, "status")
    ns, name = s(meta, "namespace"), s(meta, "name")
    text, ready, total, restarts, last_restart = pod_status(pod)
    ips = dicts(status, "podIPs")
    ip = s(ips[0], "ip") if ips else s(status, "podIP")
    owner_kind, owner_name = owner(pod)
    return PodView(
        key=(ns, name),
        namespace=ns,
        name=name,
        node=s(spec, "nodeName"),
        phase=s(status, "phase"),
        status=text,
        ready=f"{ready}/{total}",
        ready_count=ready,
        total=total,
        restarts=restarts,
        last_restart_age=None if last_restart is None else max(0.0, now - last_restart),
        age=age(meta.get("creationTimestamp"), now),
        ip=ip,
        owner_kind=owner_kind,
        owner_name=owner_name,
        template_hash=template_hash(pod),
        images=images(spec),
        deleting=meta.get("deletionTimestamp") is not None,
    )


class LazyPods(Sequence[PodView]):
    """A ReplicaSet's PodViews, built on first use and sorted by name.

    The Rollouts list needs only replica counts, which the ReplicaSet status carries; the tree and
    the detail screen need pods. Building 5,000 PodViews on every change was three quarters of a
    Rollouts rebuild, so they are built only when someone looks (then kept). Ages are as of `now`.
    """

    __slots__ = ("_now", "_objs", "_views")

    def __init__(self, objs: Sequence[dict], now: float) -> None:
        self._objs = objs
        self._now = now
        self._views: tuple[PodView, ...] | None = None

    def _built(self) -> tuple[PodView, ...]:
        views = self._views
        if views is None:  # two threads may both build; the results are equal, either is kept
            views = tuple(sorted((build_pod(p, self._now) for p in self._objs), key=lambda v: v.name))
            self._views = views
        return views

    def __len__(self) -> int:
        return len(self._objs)

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        return self._built()[index]

    def __iter__(self) -> Iterator[PodView]:
        return iter(self._built())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyPods | tuple):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._built())

    def __repr__(self) -> str:
        return f"LazyPods({len(self._objs)} pods)"


def build_pods(pods: Iterable[Any], now: float) -> list[PodView]:
    """PodViews sorted by (namespace, name), like ``kubectl get pods -A``."""
    views = [build_pod(p, now) for p in only_dicts(pods)]
    views.sort(key=lambda v: v.key)
    return views


def app_name(obj: Any) -> str:
    """The application a workload belongs to: ``app``, then ``app.kubernetes.io/name``, then its name."""
    lab = labels(obj)
    return lab.get("app") or lab.get("app.kubernetes.io/name") or name_of(obj)


def pod_requests(pod: Any) -> tuple[int, int]:
    """(cpu millis, memory bytes) the scheduler counts for a pod: the larger of the app containers
    (plus sidecar init containers) and the biggest ordinary init container."""
    spec = d(pod, "spec")
    cpu = mem = 0
    for c in containers(spec):
        req = d(c, "resources", "requests")
        cpu += millis(req.get("cpu"))
        mem += nbytes(req.get("memory"))
    init_cpu = init_mem = 0
    for c in dicts(spec, "initContainers"):
        req = d(c, "resources", "requests")
        if c.get("restartPolicy") == "Always":
            cpu += millis(req.get("cpu"))
            mem += nbytes(req.get("memory"))
        else:
            init_cpu = max(init_cpu, millis(req.get("cpu")))
            init_mem = max(init_mem, nbytes(req.get("memory")))
    overhead = d(spec, "overhead")
    return max(cpu, init_cpu) + millis(overhead.get("cpu")), max(mem, init_mem) + nbytes(overhead.get("memory"))


def mapping_get(m: Mapping[Any, Any] | None, key: Any, default: Any = None) -> Any:
    try:
        return (m or {}).get(key, default)
    except TypeError:  # unhashable key from a junk object
        return default
