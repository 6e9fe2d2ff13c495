"""Argo CD Applications (``argoproj.io/v1alpha1``), as ``argocd app get`` / ``app history`` show them.

``auto_sync`` matters beyond display: a direct edit to an object an auto-synced Application
manages is reverted, and Argo CD refuses a rollback while auto-sync is on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .common import age, d, dicts, i, only_dicts, opt_s, s, strs


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    id: int
    revision: str
    deployed_at: str | None


@dataclass(frozen=True, slots=True)
class ManagedResource:
    group: str
    kind: str
    namespace: str
    name: str
    status: str        # Synced | OutOfSync | ...
    health: str        # Healthy | Progressing | Degraded | ... ("" when Argo CD tracks none)


@dataclass(frozen=True, slots=True)
class ApplicationView:
    key: tuple[str, str]
    namespace: str
    name: str
    project: str
    repo_url: str
    path: str
    sync_status: str           # Synced | OutOfSync | Unknown
    health_status: str         # Healthy | Progressing | Degraded | Suspended | Missing | Unknown
    health_message: str
    revision: str              # the revision last compared/synced
    target_revision: str       # spec.source.targetRevision ("HEAD" by default)
    auto_sync: bool
    self_heal: bool
    prune: bool
    last_sync: str | None      # when the last sync operation finished (else the newest history entry)
    last_sync_age: float | None
    operation_phase: str       # Running | Succeeded | Failed | Error | Terminating | ""
    operation_message: str
    history: tuple[HistoryEntry, ...]
    resources: tuple[ManagedResource, ...]
    destination_namespace: str
    destination_server: str


def _source(spec: dict) -> dict:
    source = d(spec, "source")
    if source:
        return source
    sources = dicts(spec, "sources")
    return sources[0] if sources else {}


def build_applications(apps: Sequence[dict], now: float) -> list[ApplicationView]:
    """Applications sorted by (namespace, name)."""
    views = []
    for app in only_dicts(apps):
        meta, spec, status = d(app, "metadata"), d(app, "spec"), d(app, "status")
        ns, name = s(meta, "namespace"), s(meta, "name")
        source = _source(spec)
        automated = d(spec, "syncPolicy").get("automated")
        auto = isinstance(automated, dict) and automated.get("enabled") is not False
        sync = d(status, "sync")
        revisions = strs(sync, "revisions")
        operation = d(status, "operationState")
        history = tuple(
            HistoryEntry(i(h, "id"), s(h, "revision") or next(iter(strs(h, "revisions")), ""), opt_s(h, "deployedAt"))
            for h in dicts(status, "history")
        )
        last_sync = opt_s(operation, "finishedAt") or (history[-1].deployed_at if history else None)
        resources = tuple(
            ManagedResource(s(r, "group"), s(r, "kind"), s(r, "namespace"), s(r, "name"), s(r, "status"),
                            s(d(r, "health"), "status"))
            for r in dicts(status, "resources")
        )
        destination = d(spec, "destination")
        views.append(ApplicationView(
            key=(ns, name),
            namespace=ns,
            name=name,
            project=s(spec, "project") or "default",
            repo_url=s(source, "repoURL"),
            path=s(source, "path") or s(source, "chart"),
            sync_status=s(sync, "status") or "Unknown",
            health_status=s(d(status, "health"), "status") or "Unknown",
            health_message=s(d(status, "health"), "message"),
            revision=s(sync, "revision") or (revisions[0] if revisions else ""),
            target_revision=s(source, "targetRevision") or "HEAD",
            auto_sync=auto,
            self_heal=auto and isinstance(automated, dict) and automated.get("selfHeal") is True,
            prune=auto and isinstance(automated, dict) and automated.get("prune") is True,
            last_sync=last_sync,
            last_sync_age=age(last_sync, now),
            operation_phase=s(operation, "phase"),
            operation_message=s(operation, "message"),
            history=history,
            resources=resources,
            destination_namespace=s(destination, "namespace"),
            destination_server=s(destination, "server") or s(destination, "name"),
        ))
    views.sort(key=lambda v: v.key)
    return views
