"""The sandbox's etcd: objects as JSON dicts, one resourceVersion counter, a watch history window.

Why a single counter: real clusters give every write a new etcd revision, and list/watch
resume semantics (including 410 Expired for revisions older than the retained window)
hang off it. Stored dicts are never mutated in place: every write stores a fresh copy, so
readers may hold references safely and the serialized bytes can be cached per object.
"""

from __future__ import annotations

import asyncio
import bisect
import copy
import json
import random
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from almtui.kube.hashing import random_suffix
from almtui.kube.selectors import FieldSelector, LabelSelector
from almtui.sandbox import errors
from almtui.sandbox.clock import SimClock
from almtui.sandbox.resources import REGISTRY, Registry, ResourceType

Obj = dict[str, Any]
ObjKey = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped

# Kinds whose metadata.generation tracks spec changes (custom resources are added by `custom`).
# (HPAs and pods got generation tracking only after 1.33, behind feature gates.)
GENERATION_KINDS = frozenset({"apps/deployments", "apps/replicasets", "policy/poddisruptionbudgets"})
# Status writes that may also change annotations (registry/apps/*/strategy.go status strategies).
STATUS_KEEPS_ANNOTATIONS = frozenset({"apps/deployments", "apps/replicasets"})
# Deployments also bump generation when annotations change (registry/apps/deployment/strategy.go).
ANNOTATION_GENERATION = frozenset({"apps/deployments"})


def ts(dt: Any) -> str:
    """RFC 3339 at second precision, as metav1.Time serializes."""
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _without_rv(obj: Obj) -> Obj:
    return {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}}


_ATOMIC = frozenset({str, int, float, bool, type(None)})


class _NotJson(Exception):
    pass


def clone(obj: Any) -> Any:
    """copy.deepcopy for JSON-shaped values, three to five times faster.

    Why: every write copies the object it replaces (mutate, status writes, deletes), and at
    100 changes/s over 20,000 pods deepcopy's generic dispatch was a large part of the
    sandbox's CPU. Like deepcopy it keeps shared sub-objects shared within the copy; values
    of any other type (tuples, sets, ...) send the whole object through deepcopy instead.
    """
    memo: dict[int, Any] = {}

    def copy_of(o: Any) -> Any:
        t = type(o)
        if t is dict:
            new = memo.get(id(o))
            if new is None:
                new = memo[id(o)] = {}
                for k, v in o.items():
                    new[k] = v if type(v) in _ATOMIC else copy_of(v)
            return new
        if t is list:
            new = memo.get(id(o))
            if new is None:
                new = memo[id(o)] = []
                for v in o:
                    new.append(v if type(v) in _ATOMIC else copy_of(v))
            return new
        if t in _ATOMIC:
            return o
        raise _NotJson

    try:
        return copy_of(obj)
    except _NotJson:
        return copy.deepcopy(obj)


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class WatchEvent:
    rv: int
    key: str
    type: str  # ADDED | MODIFIED | DELETED
    obj: Obj
    old: Obj | None


@dataclass
class Watcher:
    """One open watch: events matching its scope are queued for the HTTP stream."""

    key: str
    namespace: str | None
    labels: LabelSelector | None
    fields: FieldSelector | None
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    closed: bool = False

    def _match(self, obj: Obj | None) -> bool:
        if obj is None:
            return False
        md = obj.get("metadata", {})
        if self.namespace and md.get("namespace") != self.namespace:
            return False
        if self.labels is not None and not self.labels.matches(md.get("labels")):
            return False
        return not (self.fields is not None and not self.fields.matches(obj))

    def translate(self, ev: WatchEvent) -> tuple[str, Obj] | None:
        """The event this watcher sees: selector transitions turn MODIFIED into ADDED/DELETED."""
        now = self._match(ev.obj)
        if ev.type == "DELETED":
            return ("DELETED", ev.obj) if now else None
        before = self._match(ev.old) if ev.old is not None else False
        if ev.type == "ADDED":
            return ("ADDED", ev.obj) if now else None
        if now and before:
            return ("MODIFIED", ev.obj)
        if now:
            return ("ADDED", ev.obj)
        if before:
            return ("DELETED", ev.obj)
        return None

    def offer(self, ev: WatchEvent) -> None:
        if self.closed:
            return
        out = self.translate(ev)
        if out is not None:
            self.queue.put_nowait((out[0], out[1], ev.rv))


Listener = Callable[[WatchEvent], None]
Admission = Callable[["Store", ResourceType, Obj, Obj | None, str | None], None]


class Store:
    """All objects of the sandbox cluster, with Kubernetes write semantics."""

    def __init__(self, clock: SimClock, rng: random.Random | None = None, registry: Registry = REGISTRY,
                 history: int = 20000) -> None:
        self.clock = clock
        self.rng = rng or random.Random(0)
        self.registry = registry
        self.rv = 1000
        self._objs: dict[str, dict[ObjKey, Obj]] = {r.key: {} for r in registry.resources}
        self._raw: dict[tuple[str, ObjKey], tuple[str, bytes]] = {}
        self._raw_gone: dict[int, tuple[Obj, bytes]] = {}  # see event_raw
        self._terminating: dict[str, set[ObjKey]] = {}  # objects with a deletionTimestamp, by kind
        # each kind's keys in (namespace, name) order, kept up to date once a list asked for them
        self._sorted: dict[str, list[ObjKey]] = {}
        self._history: deque[WatchEvent] = deque(maxlen=history)
        self._oldest_rv = self.rv  # events with rv > this are retained
        self._watchers: dict[str, list[Watcher]] = {}
        self._listeners: list[Listener] = []
        self._dependents: dict[str, set[tuple[str, ObjKey]]] = {}
        self.admission: list[Admission] = []
        self.defaulters: list[Callable[[ResourceType, Obj], None]] = []

    # -- reading --------------------------------------------------------------------------------

    def res(self, key: str) -> ResourceType:
        return self.registry.by_key(key)

    def get(self, key: str, namespace: str | None, name: str) -> Obj | None:
        return self._objs[key].get((namespace or "", name))

    def must_get(self, key: str, namespace: str | None, name: str) -> Obj:
        obj = self.get(key, namespace, name)
        if obj is None:
            raise errors.not_found(self.res(key), name)
        return obj

    def list(self, key: str, namespace: str | None = None, labels: LabelSelector | None = None,
             fields: FieldSelector | None = None) -> list[Obj]:
        """Objects in (namespace, name) order, as etcd's key order gives them."""
        bucket = self._objs[key]
        keys = self._sorted.get(key)
        if keys is None:
            keys = self._sorted[key] = sorted(bucket)
        if namespace:
            keys = keys[bisect.bisect_left(keys, (namespace,)):bisect.bisect_left(keys, (namespace + "\0",))]
        out = []
        for k in keys:
            obj = bucket[k]
            if labels is not None and not labels.matches(obj["metadata"].get("labels")):
                continue
            if fields is not None and not fields.matches(obj):
                continue
            out.append(obj)
        return out

    def keys(self, key: str, *, terminating: bool = True) -> list[ObjKey]:
        """(namespace, name) of every object of a kind, in list() order; optionally without
        those being deleted (a deletionTimestamp). Cheaper than list() for a 20,000-pod kind."""
        keys = self._sorted.get(key)
        if keys is None:
            keys = self._sorted[key] = sorted(self._objs[key])
        gone = self._terminating.get(key)
        if terminating or not gone:
            return list(keys)
        return [k for k in keys if k not in gone]

    def count(self, key: str) -> int:
        return len(self._objs[key])

    def total(self) -> int:
        """Objects stored, of every kind."""
        return sum(len(bucket) for bucket in self._objs.values())

    def raw(self, key: str, obj: Obj) -> bytes:
        """Serialized bytes of a stored object, cached per resourceVersion."""
        md = obj["metadata"]
        ck = (key, (md.get("namespace", ""), md["name"]))
        rv = md.get("resourceVersion", "")
        hit = self._raw.get(ck)
        if hit is not None and hit[0] == rv and self._objs[key].get(ck[1]) is obj:
            return hit[1]
        data = dumps(obj)
        if self._objs[key].get(ck[1]) is obj:
            self._raw[ck] = (rv, data)
        return data

    def event_raw(self, key: str, obj: Obj) -> bytes:
        """raw() for watch events: also remembers objects that are no longer stored.

        A deleted or already superseded object reaches every watcher of its kind; remembering
        the last few by identity encodes it once for all of them. (Event objects, like stored
        ones, are never edited in place, and the reference kept pins their id.)
        """
        md = obj["metadata"]
        if self._objs[key].get((md.get("namespace", ""), md["name"])) is obj:
            return self.raw(key, obj)
        hit = self._raw_gone.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
        data = dumps(obj)
        if len(self._raw_gone) >= 512:
            del self._raw_gone[next(iter(self._raw_gone))]
        self._raw_gone[id(obj)] = (obj, data)
        return data

    def dependents(self, uid: str) -> list[tuple[str, Obj]]:
        out = []
        for key, ok in list(self._dependents.get(uid, ())):
            obj = self._objs[key].get(ok)
            if obj is not None:
                out.append((key, obj))
        return out

    @property
    def oldest_rv(self) -> int:
        return self._oldest_rv

    # -- writing --------------------------------------------------------------------------------

    def _next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def _commit(self, key: str, type_: str, obj: Obj, old: Obj | None) -> None:
        md = obj["metadata"]
        ok = (md.get("namespace", ""), md["name"])
        bucket = self._objs[key]
        keys = self._sorted.get(key)
        terminating = self._terminating.get(key)
        if type_ == "DELETED":
            if bucket.pop(ok, None) is not None and keys is not None:
                del keys[bisect.bisect_left(keys, ok)]
            self._raw.pop((key, ok), None)
            if terminating:
                terminating.discard(ok)
        else:
            if ok not in bucket and keys is not None:
                bisect.insort(keys, ok)
            bucket[ok] = obj
            if md.get("deletionTimestamp"):
                self._terminating.setdefault(key, set()).add(ok)
            elif terminating:
                terminating.discard(ok)
        self._index_owners(key, ok, old, obj if type_ != "DELETED" else None)
        ev = WatchEvent(int(md["resourceVersion"]), key, type_, obj, old)
        if len(self._history) == self._history.maxlen:
            self._oldest_rv = self._history[0].rv
        self._history.append(ev)
        for w in self._watchers.get(key, ()):
            w.offer(ev)
        for fn in list(self._listeners):
            fn(ev)

    def _index_owners(self, key: str, ok: ObjKey, old: Obj | None, new: Obj | None) -> None:
        for src, add in ((old, False), (new, True)):
            if src is None:
                continue
            for ref in src["metadata"].get("ownerReferences") or ():
                uid = ref.get("uid")
                if not uid:
                    continue
                if add:
                    self._dependents.setdefault(uid, set()).add((key, ok))
                else:
                    deps = self._dependents.get(uid)
                    if deps is not None:
                        deps.discard((key, ok))

    def _admit(self, res: ResourceType, obj: Obj, old: Obj | None, subresource: str | None) -> None:
        for fn in self.admission:
            fn(self, res, obj, old, subresource)

    def create(self, key: str, obj: Obj, *, dry_run: bool = False, keep_status: bool = False) -> Obj:
        """POST semantics: generateName, uid, timestamps, resourceVersion, generation.

        keep_status is for controllers and scenarios writing objects that come with status.
        """
        res = self.res(key)
        obj = clone(obj)
        md = obj.setdefault("metadata", {})
        if res.namespaced:
            ns = md.get("namespace") or "default"
            md["namespace"] = ns
            if key != "/namespaces" and self.get("/namespaces", None, ns) is None:
                raise errors.not_found(self.res("/namespaces"), ns)
        else:
            md.pop("namespace", None)
        if not md.get("name"):
            gen = md.get("generateName")
            if not gen:
                raise errors.invalid(res, "", [errors.field_required("metadata.name",
                                                                     "name or generateName is required")])
            for _ in range(20):
                md["name"] = gen + random_suffix(self.rng)
                if self.get(key, md.get("namespace"), md["name"]) is None:
                    break
        if self.get(key, md.get("namespace"), md["name"]) is not None:
            raise errors.already_exists(res, md["name"])
        obj["apiVersion"] = res.group_version
        obj["kind"] = res.kind
        if res.has_status and not keep_status:
            obj.pop("status", None)
        for fn in self.defaulters:
            fn(res, obj)
        md.pop("resourceVersion", None)
        md["uid"] = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        md["creationTimestamp"] = ts(self.clock.now())
        md.pop("deletionTimestamp", None)
        if key in GENERATION_KINDS or res.custom:
            md["generation"] = 1
        self._admit(res, obj, None, None)
        if dry_run:
            return obj
        md["resourceVersion"] = str(self._next_rv())
        self._commit(key, "ADDED", obj, None)
        return obj

    def update(self, key: str, obj: Obj, *, subresource: str | None = None, dry_run: bool = False,
               check_rv: bool = True, force_status: bool = False, owned: bool = False) -> Obj:
        """PUT semantics. With a resourceVersion in the body, a stale one is a 409 Conflict.

        Writes to the main resource keep the stored status (for kinds with a status
        subresource); writes to /status keep everything but status.
        """
        res = self.res(key)
        md_in = obj.get("metadata") or {}
        ns = md_in.get("namespace") if res.namespaced else None
        name = md_in.get("name", "")
        old = self.get(key, ns, name)
        if old is None:
            raise errors.not_found(res, name)
        want_rv = md_in.get("resourceVersion")
        if check_rv and want_rv and want_rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(res, name)
        own = (lambda v: v) if owned else clone  # owned: the caller hands over a private copy
        if subresource == "status":
            # stored dicts are immutable, so the new object may share everything but metadata and status
            new = {**old, "metadata": clone(old["metadata"])}
            if "status" in obj:
                new["status"] = own(obj["status"])
            else:
                new.pop("status", None)
            if key in STATUS_KEEPS_ANNOTATIONS:
                # apps status strategies reset only spec and labels: the revision annotation is written this way
                anns = md_in.get("annotations")
                if anns:
                    new["metadata"]["annotations"] = clone(anns)
                else:
                    new["metadata"].pop("annotations", None)
        else:
            new = own(obj)
            new["apiVersion"] = res.group_version
            new["kind"] = res.kind
            nmd = new.setdefault("metadata", {})
            for f in ("uid", "creationTimestamp", "namespace", "deletionTimestamp", "deletionGracePeriodSeconds"):
                if f in old["metadata"]:
                    nmd[f] = old["metadata"][f]
                else:
                    nmd.pop(f, None)
            if res.has_status and not force_status:
                if "status" in old:
                    new["status"] = clone(old["status"])  # defaulters may edit new in place
                else:
                    new.pop("status", None)
            for fn in self.defaulters:
                fn(res, new)
            if "generation" in old["metadata"]:
                gen = old["metadata"]["generation"]
                if self._spec_changed(key, res, old, new):
                    gen += 1
                nmd["generation"] = gen
        self._admit(res, new, old, subresource)
        if dry_run:
            new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            return new
        if _without_rv(new) == _without_rv(old):
            return old  # a no-op write does not bump resourceVersion, as the etcd3 store guarantees
        new["metadata"]["resourceVersion"] = str(self._next_rv())
        md = new["metadata"]
        if md.get("deletionTimestamp") and not md.get("finalizers"):
            self._commit(key, "DELETED", new, old)
            self._after_delete(key, new, "Background")
            return new
        self._commit(key, "MODIFIED", new, old)
        return new

    @staticmethod
    def _spec_changed(key: str, res: ResourceType, old: Obj, new: Obj) -> bool:
        if res.custom:
            strip = ("metadata", "status")
            return {k: v for k, v in old.items() if k not in strip} != {
                k: v for k, v in new.items() if k not in strip}
        if old.get("spec") != new.get("spec"):
            return True
        if key in ANNOTATION_GENERATION:
            return old["metadata"].get("annotations") != new["metadata"].get("annotations")
        return False

    def mutate(self, key: str, namespace: str | None, name: str, fn: Callable[[Obj], Any], *,
               subresource: str | None = None) -> Obj | None:
        """Read-modify-write for controllers: fn edits a copy; nothing is written when unchanged."""
        old = self.get(key, namespace, name)
        if old is None:
            return None
        new = clone(old)
        fn(new)
        if new == old:
            return old
        return self.update(key, new, subresource=subresource, check_rv=False,
                           force_status=subresource is None, owned=True)

    def delete(self, key: str, namespace: str | None, name: str, *, propagation: str | None = None,
               grace_seconds: int | None = None, precondition_rv: str | None = None,
               precondition_uid: str | None = None, dry_run: bool = False) -> Obj:
        """DELETE semantics: graceful pods, finalizers, owner-reference garbage collection."""
        res = self.res(key)
        old = self.get(key, namespace, name)
        if old is None:
            raise errors.not_found(res, name)
        md = old["metadata"]
        if precondition_uid and precondition_uid != md.get("uid"):
            raise errors.conflict(res, name, f"Precondition failed: UID in precondition: {precondition_uid}, "
                                             f"UID in object meta: {md.get('uid')}")
        if precondition_rv and precondition_rv != md.get("resourceVersion"):
            raise errors.conflict(res, name, "Precondition failed: ResourceVersion in precondition: "
                                             f"{precondition_rv}, ResourceVersion in object meta: "
                                             f"{md.get('resourceVersion')}")
        if dry_run:
            return old
        propagation = propagation or "Background"
        graceful = key == "/pods" and (old.get("spec") or {}).get("nodeName") and grace_seconds != 0 \
            and (old.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        finalizers = list(md.get("finalizers") or [])
        if propagation == "Foreground":
            for dkey, dep in self.dependents(md["uid"]):
                dmd = dep["metadata"]
                self._try_delete(dkey, dmd.get("namespace"), dmd["name"], "Foreground")
        if propagation == "Orphan":
            for dkey, dep in self.dependents(md["uid"]):
                def strip(o: Obj, uid: str = md["uid"]) -> None:
                    refs = [r for r in o["metadata"].get("ownerReferences", []) if r.get("uid") != uid]
                    if refs:
                        o["metadata"]["ownerReferences"] = refs
                    else:
                        o["metadata"].pop("ownerReferences", None)
                dmd = dep["metadata"]
                self.mutate(dkey, dmd.get("namespace"), dmd["name"], strip)
        if graceful or finalizers:
            if md.get("deletionTimestamp"):
                if graceful and grace_seconds == 0:
                    return self._hard_delete(key, old, propagation)
                return old
            new = clone(old)
            nmd = new["metadata"]
            grace = (old.get("spec") or {}).get("terminationGracePeriodSeconds", 30) \
                if grace_seconds is None else grace_seconds
            nmd["deletionTimestamp"] = ts(self.clock.now())
            if graceful:
                nmd["deletionGracePeriodSeconds"] = grace
            if "generation" in nmd:
                nmd["generation"] += 1
            nmd["resourceVersion"] = str(self._next_rv())
            self._commit(key, "MODIFIED", new, old)
            return new
        return self._hard_delete(key, old, propagation)

    def _try_delete(self, key: str, ns: str | None, name: str, propagation: str) -> None:
        try:
            self.delete(key, ns, name, propagation=propagation)
        except errors.ApiError:
            pass

    def _hard_delete(self, key: str, old: Obj, propagation: str) -> Obj:
        new = clone(old)
        new["metadata"]["resourceVersion"] = str(self._next_rv())
        self._commit(key, "DELETED", new, old)
        self._after_delete(key, new, propagation)
        return new

    def _after_delete(self, key: str, obj: Obj, propagation: str) -> None:
        """Garbage collection: dependents whose every owner is gone are deleted too."""
        uid = obj["metadata"].get("uid")
        if propagation == "Orphan" or not uid:
            return
        for dkey, dep in self.dependents(uid):
            refs = dep["metadata"].get("ownerReferences") or []
            alive = [r for r in refs if r.get("uid") != uid and self._owner_exists(r, dep)]
            if not alive:
                dmd = dep["metadata"]
                self._try_delete(dkey, dmd.get("namespace"), dmd["name"], "Background")
        self._dependents.pop(uid, None)
        if key == "/namespaces":
            ns = obj["metadata"]["name"]
            for k, bucket in self._objs.items():
                for ok in [ok for ok in bucket if ok[0] == ns]:
                    self._try_delete(k, ns, ok[1], "Background")

    def _owner_exists(self, ref: dict, dep: Obj) -> bool:
        res = self.registry.by_api_version_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
        if res is None:
            return False
        owner = self.get(res.key, dep["metadata"].get("namespace") if res.namespaced else None, ref.get("name", ""))
        return owner is not None and owner["metadata"].get("uid") == ref.get("uid")

    # -- watching -------------------------------------------------------------------------------

    def subscribe(self, fn: Listener) -> None:
        """Controllers hear every committed change synchronously, in order."""
        self._listeners.append(fn)

    def open_watch(self, key: str, namespace: str | None, labels: LabelSelector | None,
                   fields: FieldSelector | None, since_rv: int | None) -> Watcher:
        """A watcher primed with the events after since_rv, or synthetic ADDEDs when None.

        Raises 410 Expired when since_rv is older than the retained window.
        """
        w = Watcher(key, namespace, labels, fields)
        if since_rv is None:
            for obj in self.list(key, namespace, labels, fields):
                w.queue.put_nowait(("ADDED", obj, int(obj["metadata"]["resourceVersion"])))
        else:
            if since_rv < self._oldest_rv:
                raise errors.expired(f"too old resource version: {since_rv} ({self._oldest_rv + 1})")
            for ev in self._history:
                if ev.rv > since_rv and ev.key == key:
                    w.offer(ev)
        self._watchers.setdefault(key, []).append(w)
        return w

    def close_watch(self, w: Watcher) -> None:
        w.closed = True
        lst = self._watchers.get(w.key)
        if lst and w in lst:
            lst.remove(w)

    def close_all_watches(self, key: str | None = None, expire: bool = False) -> int:
        """End open watch streams (fault injection); with expire, each gets a 410 ERROR first."""
        n = 0
        for k, lst in list(self._watchers.items()):
            if key and k != key:
                continue
            for w in list(lst):
                w.queue.put_nowait(("EXPIRE" if expire else "CLOSE", None, self.rv))
                n += 1
        return n

    def compact(self) -> None:
        """Forget the watch history, as etcd compaction does: older resourceVersions now get 410."""
        self._history.clear()
        self._oldest_rv = self.rv

    def iter_all(self) -> Iterable[tuple[str, Obj]]:
        for key, bucket in self._objs.items():
            for obj in bucket.values():
                yield key, obj
