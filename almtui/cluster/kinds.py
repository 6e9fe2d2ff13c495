"""The resource kinds almtui reads, and their REST paths.

Why a small table instead of discovery: the screens need a fixed set of kinds, and an
informer for a kind the server does not serve (a missing CRD) simply reports
`available=False` after a 404, which is cheaper and clearer than a discovery round-trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Kind:
    group: str      # "" for the core group
    version: str
    plural: str     # the resource name in URLs; unique among KINDS
    kind: str
    namespaced: bool = True
    # Watch only this namespace, whatever the console's: node Leases live in kube-node-lease.
    watch_namespace: str | None = None
    # False: the Cache counts changes (Cache.changes) but wakes no subscriber for them; for kinds
    # that change often and that readers look at on their own schedule (node Lease renewals).
    notify: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def prefix(self) -> str:
        """"/api/v1" or "/apis/GROUP/VERSION"."""
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


NAMESPACES = Kind("", "v1", "namespaces", "Namespace", namespaced=False)
NODES = Kind("", "v1", "nodes", "Node", namespaced=False)
PODS = Kind("", "v1", "pods", "Pod")
SERVICES = Kind("", "v1", "services", "Service")
EVENTS = Kind("", "v1", "events", "Event")
CONFIGMAPS = Kind("", "v1", "configmaps", "ConfigMap")
DEPLOYMENTS = Kind("apps", "v1", "deployments", "Deployment")
REPLICASETS = Kind("apps", "v1", "replicasets", "ReplicaSet")
HPAS = Kind("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler")
PDBS = Kind("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget")
ROLLOUTS = Kind("argoproj.io", "v1alpha1", "rollouts", "Rollout")
APPLICATIONS = Kind("argoproj.io", "v1alpha1", "applications", "Application")
PIPELINES = Kind("tekton.dev", "v1", "pipelines", "Pipeline")
PIPELINERUNS = Kind("tekton.dev", "v1", "pipelineruns", "PipelineRun")
TASKRUNS = Kind("tekton.dev", "v1", "taskruns", "TaskRun")
# Node heartbeats: each kubelet renews its Lease every ~10 s (20 events/s at 200 nodes). No
# service area reads them and they notify nobody: the Health screen re-applies them on a timer
# (see ClusterService.nodes).
NODE_LEASES = Kind("coordination.k8s.io", "v1", "leases", "Lease", watch_namespace="kube-node-lease",
                   notify=False)

KINDS: tuple[Kind, ...] = (NAMESPACES, NODES, PODS, SERVICES, EVENTS, CONFIGMAPS, DEPLOYMENTS, REPLICASETS, HPAS,
                           PDBS, ROLLOUTS, APPLICATIONS, PIPELINES, PIPELINERUNS, TASKRUNS, NODE_LEASES)
# What the screens watch by default (ConfigMaps are not shown, and may be many).
SCREEN_KINDS: tuple[Kind, ...] = tuple(k for k in KINDS if k is not CONFIGMAPS)
BY_PLURAL: dict[str, Kind] = {k.plural: k for k in KINDS}


def by_plural(plural: str) -> Kind:
    """The Kind for a plural resource name; KeyError if almtui does not know it."""
    return BY_PLURAL[plural]


def resolve(kind: Kind | str) -> Kind:
    """Accept a Kind or its plural name."""
    return kind if isinstance(kind, Kind) else BY_PLURAL[kind]


def path(kind: Kind, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
    """REST path of a collection, an object or an object's subresource.

    namespace=None on a namespaced kind addresses all namespaces (lists and watches only).
    """
    if namespace and not kind.namespaced:
        raise ValueError(f"{kind} is cluster-scoped: no namespace")
    if name and kind.namespaced and not namespace:
        raise ValueError(f"{kind} is namespaced: naming an object needs its namespace")
    if sub and not name:
        raise ValueError("a subresource needs an object name")
    parts = [kind.prefix]
    if namespace:
        parts += ["namespaces", quote(namespace, safe="")]
    parts.append(kind.plural)
    if name:
        parts.append(quote(name, safe=""))
    if sub:
        parts.append(sub)
    return "/".join(parts)
