"""The resource types the sandbox serves: one table drives discovery, routing, RBAC and OpenAPI."""

from __future__ import annotations

from dataclasses import dataclass, field

READ_VERBS = ("get", "list", "watch")
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One REST resource, as an APIResource entry in discovery describes it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()
    custom: bool = False  # a custom resource: no strategic merge patch (415)
    categories: tuple[str, ...] = ()
    # field selectors this kind accepts beyond metadata.name and metadata.namespace
    field_selectors: tuple[str, ...] = ()
    printer_columns: tuple[dict, ...] = field(default=(), compare=False)

    @property
    def key(self) -> str:
        """Storage key, e.g. "apps/deployments" or "/pods" for the core group."""
        return f"{self.group}/{self.plural}"

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def qualified(self) -> str:
        """The name used in error messages: `deployments.apps`, `pods`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources


_POD_FIELDS = ("spec.nodeName", "status.phase", "spec.restartPolicy", "spec.schedulerName",
               "spec.serviceAccountName", "status.podIP", "status.nominatedNodeName")
_EVENT_FIELDS = ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                 "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                 "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type")

_ROLLOUT_COLUMNS = (
    {"name": "Desired", "type": "integer", "jsonPath": ".spec.replicas",
     "description": "Number of desired pods"},
    {"name": "Current", "type": "integer", "jsonPath": ".status.replicas",
     "description": "Total number of non-terminated pods targeted by this rollout"},
    {"name": "Up-to-date", "type": "integer", "jsonPath": ".status.updatedReplicas",
     "description": "Total number of non-terminated pods targeted by this rollout that have the desired template spec"},
    {"name": "Available", "type": "integer", "jsonPath": ".status.availableReplicas",
     "description": "Total number of available pods (ready for at least minReadySeconds) targeted by this rollout"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp",
     "description": "Time since resource was created"},
)
_TEKTON_RUN_COLUMNS = (
    {"name": "Succeeded", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Succeeded")].status'},
    {"name": "Reason", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Succeeded")].reason'},
    {"name": "StartTime", "type": "date", "jsonPath": ".status.startTime"},
    {"name": "CompletionTime", "type": "date", "jsonPath": ".status.completionTime"},
)
_APP_COLUMNS = (
    {"name": "Sync Status", "type": "string", "jsonPath": ".status.sync.status"},
    {"name": "Health Status", "type": "string", "jsonPath": ".status.health.status"},
    {"name": "Revision", "type": "string", "jsonPath": ".status.sync.revision", "priority": 10},
)

RESOURCES: tuple[ResourceType, ...] = (
    # core/v1
    ResourceType("", "v1", "namespaces", "Namespace", namespaced=False, short_names=("ns",),
                 verbs=("create", "delete", "get", "list", "patch", "update", "watch"), subresources=("status",),
                 field_selectors=("status.phase",)),
    ResourceType("", "v1", "nodes", "Node", namespaced=False, short_names=("no",), subresources=("status",),
                 field_selectors=("spec.unschedulable",)),
    ResourceType("", "v1", "pods", "Pod", short_names=("po",), categories=("all",),
                 subresources=("status", "log", "eviction"), field_selectors=_POD_FIELDS),
    ResourceType("", "v1", "services", "Service", short_names=("svc",), categories=("all",),
                 verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
                 subresources=("status", "proxy")),
    ResourceType("", "v1", "events", "Event", short_names=("ev",), field_selectors=_EVENT_FIELDS),
    ResourceType("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    ResourceType("", "v1", "secrets", "Secret", field_selectors=("type",)),
    ResourceType("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",)),
    # apps/v1
    ResourceType("apps", "v1", "deployments", "Deployment", short_names=("deploy",), categories=("all",),
                 subresources=("status", "scale")),
    ResourceType("apps", "v1", "replicasets", "ReplicaSet", short_names=("rs",), categories=("all",),
                 subresources=("status", "scale")),
    # autoscaling/v2
    ResourceType("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler",
                 short_names=("hpa",), categories=("all",), subresources=("status",)),
    # coordination.k8s.io/v1
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease"),
    # policy/v1
    ResourceType("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short_names=("pdb",),
                 subresources=("status",)),
    # authorization.k8s.io/v1 (create only)
    ResourceType("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview",
                 namespaced=False, verbs=("create",)),
    # apiextensions.k8s.io/v1: kubectl looks custom kinds up here for validation
    ResourceType("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
                 namespaced=False, short_names=("crd", "crds"), verbs=READ_VERBS, subresources=("status",)),
    # metrics.k8s.io/v1beta1 (read-only, computed)
    ResourceType("metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", namespaced=False, verbs=("get", "list")),
    ResourceType("metrics.k8s.io", "v1beta1", "pods", "PodMetrics", verbs=("get", "list")),
    # custom resources
    ResourceType("argoproj.io", "v1alpha1", "rollouts", "Rollout", short_names=("ro",), custom=True,
                 categories=("all",), subresources=("status", "scale"), printer_columns=_ROLLOUT_COLUMNS),
    ResourceType("argoproj.io", "v1alpha1", "applications", "Application", short_names=("app", "apps"),
                 custom=True, categories=("argo",), subresources=(), printer_columns=_APP_COLUMNS),
    ResourceType("tekton.dev", "v1", "pipelines", "Pipeline", custom=True, categories=("tekton", "tekton-pipelines")),
    ResourceType("tekton.dev", "v1", "pipelineruns", "PipelineRun", short_names=("pr", "prs"), custom=True,
                 categories=("tekton", "tekton-pipelines"), subresources=("status",),
                 printer_columns=_TEKTON_RUN_COLUMNS),
    ResourceType("tekton.dev", "v1", "tasks", "Task", custom=True, categories=("tekton", "tekton-pipelines")),
    ResourceType("tekton.dev", "v1", "taskruns", "TaskRun", short_names=("tr", "trs"), custom=True,
                 categories=("tekton", "tekton-pipelines"), subresources=("status",),
                 printer_columns=_TEKTON_RUN_COLUMNS),
)

# Kinds computed on read rather than stored.
COMPUTED = frozenset({"metrics.k8s.io/nodes", "metrics.k8s.io/pods"})


class Registry:
    """Lookup of resource types by group/version/plural, storage key or kind."""

    def __init__(self, resources: tuple[ResourceType, ...] = RESOURCES) -> None:
        self.resources = resources
        self._by_path = {(r.group, r.version, r.plural): r for r in resources}
        self._by_key = {r.key: r for r in resources}
        self._by_kind = {(r.group, r.kind): r for r in resources}

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def by_key(self, key: str) -> ResourceType:
        return self._by_key[key]

    def by_kind(self, group: str, kind: str) -> ResourceType | None:
        return self._by_kind.get((group, kind))

    def by_api_version_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group = api_version.rpartition("/")[0]
        return self._by_kind.get((group, kind))

    def groups(self) -> dict[str, list[str]]:
        """Group name -> versions, in a stable order (core group under "")."""
        out: dict[str, list[str]] = {}
        for r in self.resources:
            versions = out.setdefault(r.group, [])
            if r.version not in versions:
                versions.append(r.version)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [r for r in self.resources if r.group == group and r.version == version]


REGISTRY = Registry()


def kind_of(key: str) -> str:
    return REGISTRY.by_key(key).kind
