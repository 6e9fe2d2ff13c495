"""Argo CD Applications (argoproj.io/v1alpha1) synced from a simulated Git repository.

The sandbox has no Git and no repo-server. A "repository" is data: revisions map to the images each
managed workload should run. It comes from ``ctx.options["gitops"]`` (scenario options, tests) and from
the ConfigMap ``argocd/sandbox-git-repositories`` (key ``repositories.yaml``, so scenario fragments and
clients can add commits at run time; it wins over options for the same repository URL)::

    https://git.edge-retail.local/retail/deploy.git:
      refs: {main: c3d4..., HEAD: c3d4...}          # branches and tags -> commit
      commits: [a1b2..., b2c3..., c3d4...]           # optional order (oldest first)
      paths:
        storefront/staging:                          # spec.source.path
          a1b2...: {Deployment/staging/storefront: {storefront: registry.local/retail/storefront:1.4.0}}
          c3d4...: {Deployment/staging/storefront: {storefront: registry.local/retail/storefront:1.4.2}}

A resource is ``Kind/namespace/name`` (or ``Kind/name`` in spec.destination.namespace), Kind being
Deployment or Rollout, mapped to container name -> image. A path that a commit does not list keeps its
contents from the newest earlier commit that does. Revisions resolve like the repo-server's: a ref, a
full SHA or a unique SHA prefix.

What the application controller does (controller/appcontroller.go, gitops-engine):

- Compare: the target revision's images against the live workloads give status.sync (Synced or OutOfSync,
  revision, comparedTo) and status.resources; health is derived from the live objects the way Argo CD's
  health checks do (Deployment rollout state, the Rollout's phase) and the app takes the worst of them;
  summary.images lists the live images. reconciledAt moves on change or every 180 s (the refresh period).
- Operations: setting `operation: {sync: {revision, prune, source, syncStrategy}, initiatedBy}` (what the
  API server's SetAppOperation does for `argocd app sync` and `argocd app rollback`) starts an
  operationState (Running); a second later the controller "applies" the revision, i.e. sets the managed
  workloads' images (with Argo CD 3's `argocd.argoproj.io/tracking-id` annotation), records the
  syncResult, appends status.history (trimmed to revisionHistoryLimit, default 10) and clears `operation`.
  Events: OperationStarted, OperationCompleted, ResourceUpdated, with upstream's texts.
- Auto-sync (syncPolicy.automated): an OutOfSync app is synced to its target revision, unless that
  revision and source were already synced (then only selfHeal re-syncs, after upstream's self-heal
  backoff: 0 s, 2 s, 6 s, ... capped at 5 min, counted in operation.sync.autoHealAttemptsCount). Drift
  is acted on one refresh (2 s) after it is first seen, so the OutOfSync state is observable: that is
  "GitOps will revert your change".
- Refusals the API server would make, made here instead because the sandbox has no argocd-server: an
  operation on an auto-synced app that would move it off its target revision or source ends at once with
  phase Error and the API server's message: "rollback cannot be initiated when auto-sync is enabled" for
  a rollback (what server/application Rollback sets: an apply-strategy sync to a revision in the app's
  history, or any sync to another source), else "Cannot sync to <rev>: auto-sync currently set to
  <target>" for a sync to another revision. A refused operation leaves no syncResult and, unlike
  upstream's "already attempted" check, does not stop later auto-syncs.
- Deleting an app with the resources finalizer deletes its live workloads, then drops the finalizer.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import yaml

from almtui.kube.durations import parse_rfc3339
from almtui.kube.rollout_status import RolloutStatusError, deployment_status, rollout_phase
from almtui.sandbox.controllers.base import Context, Controller
from almtui.sandbox.errors import ApiError
from almtui.sandbox.store import Obj, WatchEvent, ts

APP_KEY = "argoproj.io/applications"
COMPONENT = "argocd-application-controller"
CONTROLLER_NAMESPACE = "argocd"
REPO_CONFIGMAP = ("argocd", "sandbox-git-repositories")
REPO_DATA_KEY = "repositories.yaml"
TRACKING_ANNOTATION = "argocd.argoproj.io/tracking-id"
RESOURCES_FINALIZER = "resources-finalizer.argocd.argoproj.io"
RESYNC = 180.0  # timeout.reconciliation
REFRESH_DELAY = 2.0  # from a live change to the comparison that acts on it
SYNC_SECONDS = 1.0  # how long applying a revision takes
HISTORY_LIMIT = 10
SELF_HEAL_BACKOFF = (2.0, 3.0, 300.0)  # --self-heal-backoff-timeout-seconds, -factor, -cap-seconds
HEALTH_ORDER = ("Healthy", "Suspended", "Progressing", "Missing", "Degraded", "Unknown")
SUCCEEDED_MESSAGE = "successfully synced (all tasks run)"
ROLLBACK_REFUSED = "rollback cannot be initiated when auto-sync is enabled"
# Kind -> (store key, group, version)
KINDS: dict[str, tuple[str, str, str]] = {
    "Deployment": ("apps/deployments", "apps", "v1"),
    "Rollout": ("argoproj.io/rollouts", "argoproj.io", "v1alpha1"),
}
Ref = tuple[str, str, str]  # (kind, namespace, name)


class RepoError(Exception):
    """What the repo-server would answer: unknown repository, revision or path."""


class GitRepos:
    """The simulated repositories (see the module docstring)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = {self._norm(k): v for k, v in (data or {}).items() if isinstance(v, Mapping)}

    @staticmethod
    def _norm(url: str) -> str:
        url = str(url).rstrip("/")
        return url[:-4] if url.endswith(".git") else url

    def _repo(self, url: str) -> Mapping[str, Any]:
        repo = self.data.get(self._norm(url))
        if repo is None:
            raise RepoError(f"repository not found: {url}")
        return repo

    def commits(self, url: str) -> list[str]:
        repo = self._repo(url)
        if repo.get("commits"):
            return [str(c) for c in repo["commits"]]
        out: list[str] = []
        for revs in (repo.get("paths") or {}).values():
            for rev in revs or {}:
                if str(rev) not in out:
                    out.append(str(rev))
        for sha in (repo.get("refs") or {}).values():
            if str(sha) not in out:
                out.append(str(sha))
        return out

    def resolve(self, url: str, revision: str | None) -> str:
        """A ref, a full SHA or a unique SHA prefix -> the full SHA."""
        repo = self._repo(url)
        rev = str(revision or "HEAD")
        refs = {str(k): str(v) for k, v in (repo.get("refs") or {}).items()}
        if rev in refs:
            return refs[rev]
        commits = self.commits(url)
        if rev == "HEAD":
            for branch in ("main", "master"):
                if branch in refs:
                    return refs[branch]
            if commits:
                return commits[-1]
        if rev in commits:
            return rev
        hits = [c for c in commits if len(rev) >= 4 and c.startswith(rev)]
        if len(hits) == 1:
            return hits[0]
        raise RepoError(f"unable to resolve '{rev}' to a commit SHA")

    def manifests(self, url: str, path: str, sha: str, namespace: str) -> dict[Ref, dict[str, str]]:
        """The workloads a path holds at a commit: (kind, namespace, name) -> {container: image}."""
        repo = self._repo(url)
        revs = (repo.get("paths") or {}).get(path)
        if revs is None:
            raise RepoError(f"{path}: app path does not exist")
        revs = {str(k): v for k, v in revs.items()}
        chosen = revs.get(sha)
        if chosen is None:
            order = self.commits(url)
            if sha in order:
                for c in reversed(order[: order.index(sha) + 1]):
                    if c in revs:
                        chosen = revs[c]
                        break
        if chosen is None:
            raise RepoError(f"{path}: app path does not exist at revision {sha}")
        out: dict[Ref, dict[str, str]] = {}
        for key, images in (chosen or {}).items():
            parts = str(key).split("/")
            if len(parts) == 2:
                parts = [parts[0], namespace, parts[1]]
            if len(parts) != 3 or parts[0] not in KINDS:
                raise RepoError(f"{path}: unsupported resource {key!r} (Deployment or Rollout)")
            out[(parts[0], parts[1], parts[2])] = {str(c): str(i) for c, i in (images or {}).items()}
        return out


# -- health (gitops-engine pkg/health, resource_customizations/argoproj.io/Rollout) ------------------

def deployment_health(obj: Obj) -> tuple[str, str]:
    name = obj["metadata"]["name"]
    if (obj.get("spec") or {}).get("paused"):
        return "Suspended", "Deployment is paused"
    if int(obj["metadata"].get("generation") or 0) > int((obj.get("status") or {}).get("observedGeneration") or 0):
        return "Progressing", ("Waiting for rollout to finish: observed deployment generation less than desired "
                               "generation")
    try:
        msg, done = deployment_status(obj)
    except RolloutStatusError:
        return "Degraded", f'Deployment "{name}" exceeded its progress deadline'
    if not done:
        return "Progressing", msg.replace(f'Waiting for deployment "{name}" rollout to finish: ',
                                          "Waiting for rollout to finish: ")
    return "Healthy", ""


def rollout_health(obj: Obj) -> tuple[str, str]:
    observed = (obj.get("status") or {}).get("observedGeneration")
    gen = int(obj["metadata"].get("generation") or 0)
    try:
        if observed is None or int(observed) < gen:
            return "Progressing", "Waiting for rollout spec update to be observed"
    except (TypeError, ValueError):
        pass
    phase, message = rollout_phase(obj)
    return ("Suspended" if phase == "Paused" else phase), message


def worst(statuses: Iterable[str]) -> str:
    out = "Healthy"
    for s in statuses:
        if HEALTH_ORDER.index(s if s in HEALTH_ORDER else "Unknown") > HEALTH_ORDER.index(out):
            out = s if s in HEALTH_ORDER else "Unknown"
    return out


def self_heal_delay(attempts: int) -> float:
    """wait.Backoff{2s, factor 3, cap 5m} stepped `attempts` times (0 -> no delay)."""
    base, factor, cap = SELF_HEAL_BACKOFF
    delay = 0.0
    d = base
    for _ in range(attempts):
        delay = d
        d = min(d * factor, cap)
    return delay


def _containers(obj: Obj) -> list[dict]:
    return (((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []


def _time(s: str | None) -> float | None:
    if not s:
        return None
    try:
        return parse_rfc3339(s).timestamp()
    except ValueError:
        return None


def _ts(t: float) -> str:
    return ts(datetime.fromtimestamp(t, UTC))


def _source(spec: Mapping[str, Any]) -> dict:
    return copy.deepcopy(dict(spec.get("source") or {}))


class ApplicationController(Controller):
    """argocd-application-controller for Applications, against the simulated repositories."""

    name = "argocd-application"
    watches = (APP_KEY, "apps/deployments", "argoproj.io/rollouts", "/configmaps")

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self._by_ref: dict[Ref, set[tuple[str, str]]] = {}
        self._refs: dict[tuple[str, str], set[Ref]] = {}
        self._cm_cache: tuple[str, dict] | None = None
        self._drift_seen: dict[tuple[str, str], float] = {}  # apps OutOfSync now -> when first seen

    # -- watching -----------------------------------------------------------------------------

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        md = ev.obj["metadata"]
        if ev.key == APP_KEY:
            yield (md.get("namespace", ""), md["name"])
        elif ev.key == "/configmaps":
            if (md.get("namespace"), md["name"]) == REPO_CONFIGMAP:
                for app in self.store.list(APP_KEY):
                    yield (app["metadata"]["namespace"], app["metadata"]["name"])
        else:
            kind = "Deployment" if ev.key == "apps/deployments" else "Rollout"
            yield from sorted(self._by_ref.get((kind, md.get("namespace", ""), md["name"]), ()))

    def _index(self, key: tuple[str, str], refs: set[Ref]) -> None:
        for r in self._refs.get(key, set()) - refs:
            self._by_ref.get(r, set()).discard(key)
        for r in refs:
            self._by_ref.setdefault(r, set()).add(key)
        if refs:
            self._refs[key] = refs
        else:
            self._refs.pop(key, None)

    def repos(self) -> GitRepos:
        data = dict(self.ctx.options.get("gitops") or {})
        cm = self.store.get("/configmaps", *REPO_CONFIGMAP)
        if cm is not None:
            rv = cm["metadata"].get("resourceVersion", "")
            if self._cm_cache is None or self._cm_cache[0] != rv:
                try:
                    parsed = yaml.safe_load((cm.get("data") or {}).get(REPO_DATA_KEY) or "") or {}
                except yaml.YAMLError:
                    parsed = {}
                self._cm_cache = (rv, parsed if isinstance(parsed, dict) else {})
            data.update(self._cm_cache[1])
        return GitRepos(data)

    # -- reconcile ----------------------------------------------------------------------------

    def reconcile(self, key: Any) -> float | None:
        ns, name = key
        app = self.store.get(APP_KEY, ns, name)
        if app is None:
            self._index(key, set())
            self._drift_seen.pop(key, None)
            return None
        if app["metadata"].get("deletionTimestamp"):
            self._finalize(app)
            return None
        now = self.ctx.now()
        old = app.get("status") or {}
        status = copy.deepcopy(old)
        spec = app.get("spec") or {}
        repos = self.repos()
        operation = copy.deepcopy(app.get("operation")) if app.get("operation") else None
        requeue = RESYNC
        events: list[tuple[str, str, str]] = []

        if operation is not None:
            state = status.get("operationState")
            if not state or state.get("phase") in ("Succeeded", "Failed", "Error"):
                status["operationState"] = {"operation": copy.deepcopy(operation), "phase": "Running",
                                            "startedAt": _ts(now)}
                requeue = SYNC_SECONDS
            else:
                due = (_time(state.get("startedAt")) or now) + SYNC_SECONDS
                if now >= due:
                    events += self._sync(app, status, operation, repos, now)
                    operation = None
                else:
                    requeue = min(requeue, due - now)

        compare = self._compare(app, status, repos, now)
        self._index(key, {r for r in compare})
        if (status.get("sync") or {}).get("status") == "OutOfSync":
            self._drift_seen.setdefault(key, now)
        else:
            self._drift_seen.pop(key, None)

        if operation is None and (spec.get("syncPolicy") or {}).get("automated") is not None:
            op, wait, condition = self._auto_sync(app, status, self._drift_seen.get(key, now), now)
            if op is not None:
                operation = op
                status.pop("operationState", None)
                target = op["sync"]["revision"]
                events.append(("Normal", "OperationStarted", f"Initiated automated sync to '{target}'"))
                requeue = 0.0
            elif wait is not None:
                requeue = min(requeue, wait)
            self._set_condition(status, "SyncError", condition, now)
        else:
            self._set_condition(status, "SyncError", None, now)

        sync_old = (old.get("sync") or {}).get("status", "")
        sync_new = (status.get("sync") or {}).get("status", "")
        if sync_old != sync_new:
            events.append(("Normal", "ResourceUpdated", f"Updated sync status: {sync_old} -> {sync_new}"))
        health_old = (old.get("health") or {}).get("status", "")
        health_new = (status.get("health") or {}).get("status", "")
        if health_old != health_new:
            status["health"]["lastTransitionTime"] = _ts(now)
            events.append(("Normal", "ResourceUpdated", f"Updated health status: {health_old} -> {health_new}"))
        elif (old.get("health") or {}).get("lastTransitionTime"):
            status["health"]["lastTransitionTime"] = old["health"]["lastTransitionTime"]
        last = _time(old.get("reconciledAt"))
        changed = {k: v for k, v in status.items() if k != "reconciledAt"} != {
            k: v for k, v in old.items() if k != "reconciledAt"}
        if changed or last is None or now - last >= RESYNC:
            status["reconciledAt"] = _ts(now)
        self._write(app, status, operation)
        for type_, reason, message in events:
            if self.ctx.events is not None:
                self.ctx.events.record(app, type_, reason, message, COMPONENT)
        return requeue

    def _write(self, app: Obj, status: dict, operation: dict | None) -> None:
        order = ("resources", "sync", "health", "history", "conditions", "reconciledAt", "operationState",
                 "observedAt", "sourceType", "summary", "controllerNamespace")
        ordered = {k: status[k] for k in order if k in status}
        ordered.update({k: v for k, v in status.items() if k not in ordered})

        def apply(o: Obj) -> None:
            o["status"] = ordered
            if operation is None:
                o.pop("operation", None)
            else:
                o["operation"] = operation

        md = app["metadata"]
        self.store.mutate(APP_KEY, md["namespace"], md["name"], apply)

    @staticmethod
    def _set_condition(status: dict, type_: str, message: str | None, now: float) -> None:
        conds = [c for c in status.get("conditions") or () if c.get("type") != type_]
        old = next((c for c in status.get("conditions") or () if c.get("type") == type_), None)
        if message:
            stamp = old.get("lastTransitionTime") if old and old.get("message") == message else _ts(now)
            conds.append({"type": type_, "message": message, "lastTransitionTime": stamp})
        if conds:
            status["conditions"] = conds
        else:
            status.pop("conditions", None)

    # -- compare ------------------------------------------------------------------------------

    def _compare(self, app: Obj, status: dict, repos: GitRepos, now: float) -> dict[Ref, dict[str, str]]:
        spec = app.get("spec") or {}
        source = _source(spec)
        dest = copy.deepcopy(spec.get("destination") or {})
        compared = {"source": source, "destination": dest}
        try:
            sha = repos.resolve(source.get("repoURL", ""), source.get("targetRevision"))
            desired = repos.manifests(source.get("repoURL", ""), source.get("path", ""), sha,
                                      dest.get("namespace", ""))
        except RepoError as e:
            status["sync"] = {"status": "Unknown", "comparedTo": compared}
            status["health"] = {"status": "Unknown"}
            self._set_condition(status, "ComparisonError",
                                "Failed to load target state: failed to generate manifest for source 1 of 1: "
                                f"rpc error: code = Unknown desc = {e}", now)
            status.pop("resources", None)
            return {}
        self._set_condition(status, "ComparisonError", None, now)
        resources, healths, images = [], [], set()
        for ref in sorted(desired):
            kind, ns, name = ref
            key, group, version = KINDS[kind]
            live = self.store.get(key, ns, name)
            entry: dict[str, Any] = {"group": group, "version": version, "kind": kind, "namespace": ns, "name": name}
            if live is None:
                entry["status"], health, message = "OutOfSync", "Missing", ""
            else:
                live_images = {c.get("name"): c.get("image") for c in _containers(live)}
                images.update(i for i in live_images.values() if i)
                ok = all(live_images.get(c) == img for c, img in desired[ref].items())
                entry["status"] = "Synced" if ok else "OutOfSync"
                health, message = deployment_health(live) if kind == "Deployment" else rollout_health(live)
            entry["health"] = {"status": health, **({"message": message} if message else {})}
            healths.append(health)
            resources.append(entry)
        in_sync = all(r["status"] == "Synced" for r in resources)
        status["resources"] = resources
        status["sync"] = {"status": "Synced" if in_sync else "OutOfSync", "comparedTo": compared, "revision": sha}
        status["health"] = {"status": worst(healths)}
        status["sourceType"] = status.get("sourceType") or "Directory"
        status["summary"] = {"images": sorted(images)} if images else {}
        status["controllerNamespace"] = CONTROLLER_NAMESPACE
        return desired

    # -- operations ---------------------------------------------------------------------------

    def _sync(self, app: Obj, status: dict, operation: dict, repos: GitRepos,
              now: float) -> list[tuple[str, str, str]]:
        """Run a sync operation to completion; returns the events to record."""
        spec = app.get("spec") or {}
        state = status["operationState"]
        sync = operation.get("sync") or {}
        source = copy.deepcopy(sync.get("source") or _source(spec))
        requested = sync.get("revision") or source.get("targetRevision") or "HEAD"
        dest_ns = (spec.get("destination") or {}).get("namespace", "")
        automated = (spec.get("syncPolicy") or {}).get("automated") is not None
        by_auto = bool((operation.get("initiatedBy") or {}).get("automated"))

        def finish(phase: str, message: str, result: dict | None) -> list[tuple[str, str, str]]:
            state.update({"phase": phase, "message": message, "finishedAt": _ts(now)})
            if result is not None:
                state["syncResult"] = result
            else:
                state.pop("syncResult", None)
            words = ["Partial sync operation" if sync.get("resources") else "Sync operation"]
            if result is not None:
                words += ["to", result["revision"]]
            if phase == "Succeeded":
                return [("Normal", "OperationCompleted", " ".join([*words, "succeeded"]))]
            return [("Warning", "OperationCompleted", " ".join([*words, "failed:", message]))]

        try:
            sha = repos.resolve(source.get("repoURL", ""), requested)
            desired = repos.manifests(source.get("repoURL", ""), source.get("path", ""), sha, dest_ns)
        except RepoError as e:
            return finish("Error", f"ComparisonError: {e}", None)
        if automated and not by_auto:
            spec_source = _source(spec)
            try:
                target = repos.resolve(spec_source.get("repoURL", ""), spec_source.get("targetRevision"))
            except RepoError:
                target = ""
            in_history = any(h.get("revision") == sha for h in status.get("history") or ())
            if source != spec_source or ((sync.get("syncStrategy") or {}).get("apply") is not None and in_history):
                return finish("Error", ROLLBACK_REFUSED, None)
            if sha != target:
                return finish("Error", f"Cannot sync to {requested}: auto-sync currently set to "
                                       f"{spec_source.get('targetRevision') or 'HEAD'}", None)
        only = {(r.get("kind"), r.get("name")) for r in sync.get("resources") or ()}
        results, failed = [], []
        for ref in sorted(desired):
            kind, ns, name = ref
            if only and (kind, name) not in only:
                continue
            key, group, version = KINDS[kind]
            res = {"group": group, "version": version, "kind": kind, "namespace": ns, "name": name}
            shown = f"{kind.lower()}.{group}/{name}"
            changed = self._apply(app, key, ref, desired[ref])
            if changed is None:
                failed.append(f'{kind.lower()}s.{group} "{name}" not found')
                res.update({"status": "SyncFailed", "message": failed[-1]})
            else:
                res.update({"status": "Synced", "message": f"{shown} {'configured' if changed else 'unchanged'}"})
            res.update({"hookPhase": "Running" if changed is not None else "Failed", "syncPhase": "Sync",
                        "images": sorted(set(desired[ref].values()))})
            results.append(res)
        result = {"resources": results, "revision": sha, "source": source}
        if failed:
            return finish("Failed", f"one or more objects failed to apply, reason: {failed[0]}", result)
        self._record_history(app, status, sha, source, state, operation, now)
        return finish("Succeeded", SUCCEEDED_MESSAGE, result)

    def _apply(self, app: Obj, key: str, ref: Ref, images: dict[str, str]) -> bool | None:
        """Set a workload's images (kubectl apply of the image fields); None when it does not exist."""
        kind, ns, name = ref
        live = self.store.get(key, ns, name)
        if live is None:
            return None
        group = KINDS[kind][1]
        tracking = f"{app['metadata']['name']}:{group}/{kind}:{ns}/{name}"

        def apply(o: Obj) -> None:
            for c in _containers(o):
                if c.get("name") in images:
                    c["image"] = images[c["name"]]
            o["metadata"].setdefault("annotations", {})[TRACKING_ANNOTATION] = tracking

        before = [c.get("image") for c in _containers(live)]
        new = self.store.mutate(key, ns, name, apply)
        return new is not None and [c.get("image") for c in _containers(new)] != before

    @staticmethod
    def _record_history(app: Obj, status: dict, sha: str, source: dict, state: dict, operation: dict,
                        now: float) -> None:
        """persistRevisionHistory: ids count up from 0, trimmed to revisionHistoryLimit."""
        history = list(status.get("history") or [])
        next_id = int(history[-1].get("id", 0)) + 1 if history else 0
        entry = {"revision": sha, "deployedAt": _ts(now), "id": next_id, "source": source,
                 "deployStartedAt": state.get("startedAt")}
        if operation.get("initiatedBy"):
            entry["initiatedBy"] = copy.deepcopy(operation["initiatedBy"])
        history.append(entry)
        limit = (app.get("spec") or {}).get("revisionHistoryLimit")
        limit = HISTORY_LIMIT if limit is None else max(int(limit), 0)
        status["history"] = history[len(history) - limit:] if len(history) > limit else history

    def _auto_sync(self, app: Obj, status: dict, drift_since: float,
                   now: float) -> tuple[dict | None, float | None, str | None]:
        """autoSync: (operation to start, seconds to wait, SyncError message)."""
        spec = app.get("spec") or {}
        automated = (spec.get("syncPolicy") or {}).get("automated") or {}
        sync = status.get("sync") or {}
        if sync.get("status") != "OutOfSync" or app["metadata"].get("deletionTimestamp"):
            return None, None, None
        if now < drift_since + REFRESH_DELAY:
            return None, drift_since + REFRESH_DELAY - now, None  # act on the refresh after the change
        target = sync.get("revision", "")
        source = _source(spec)
        state = status.get("operationState") or {}
        result = state.get("syncResult") or {}
        attempted = bool(result) and result.get("revision") == target and result.get("source") == source
        op: dict[str, Any] = {"sync": {"revision": target, "prune": bool(automated.get("prune")),
                                       "source": source}, "initiatedBy": {"automated": True},
                              "retry": {"limit": 5}}
        if (spec.get("syncPolicy") or {}).get("syncOptions"):
            op["sync"]["syncOptions"] = list(spec["syncPolicy"]["syncOptions"])
        if attempted:
            if state.get("phase") != "Succeeded":
                return None, None, f"Failed last sync attempt to [{target}]: {state.get('message', '')}"
            if not automated.get("selfHeal"):
                return None, None, None
            attempts = int(((state.get("operation") or {}).get("sync") or {}).get("autoHealAttemptsCount") or 0)
            finished = _time(state.get("finishedAt"))
            remaining = self_heal_delay(attempts) - (now - finished if finished is not None else 0.0)
            if remaining > 0:
                return None, remaining, None
            op["sync"]["autoHealAttemptsCount"] = attempts + 1
            op["sync"]["resources"] = [
                {**({"group": r["group"]} if r.get("group") else {}), "kind": r["kind"], "name": r["name"]}
                for r in status.get("resources") or () if r.get("status") != "Synced"]
        return op, None, None

    def _finalize(self, app: Obj) -> None:
        md = app["metadata"]
        fins = list(md.get("finalizers") or [])
        ours = [f for f in fins if f == RESOURCES_FINALIZER or f.startswith(RESOURCES_FINALIZER + "/")]
        if not ours:
            return
        for r in (app.get("status") or {}).get("resources") or ():
            kind = r.get("kind", "")
            if kind in KINDS:
                try:
                    self.store.delete(KINDS[kind][0], r.get("namespace"), r.get("name", ""))
                except ApiError:
                    pass

        def drop(o: Obj) -> None:
            o["metadata"]["finalizers"] = [f for f in o["metadata"].get("finalizers") or () if f not in ours]

        self.store.mutate(APP_KEY, md["namespace"], md["name"], drop)
        self._index((md["namespace"], md["name"]), set())


__all__ = ["ApplicationController", "GitRepos", "RepoError", "deployment_health", "rollout_health",
           "self_heal_delay", "worst"]
