"""View models: small immutable dataclasses built from raw Kubernetes JSON by pure functions.

The screens render only these. Each builder takes lists of raw dicts from the cache plus ``now``
(POSIX seconds), indexes what it needs once per call (linear at thousands of pods), and never
raises on partial or malformed objects. Every view has a stable ``key`` tuple for table rows.
Text fields are raw cluster strings: the UI sanitises them before display.
"""

from .applications import ApplicationView, HistoryEntry, ManagedResource, build_applications
from .autoscalers import HPAView, MetricView, build_hpas, hpa_what_if
from .common import (
    ConditionView,
    IndexedOwners,
    PerObject,
    PodView,
    age,
    build_pod,
    build_pods,
    image_tag,
    owner_index_values,
)
from .environments import DEFAULT_ENVIRONMENTS, EnvCell, EnvironmentView, build_environments
from .health import NodeHealth, PodIssue, WarningEvent, build_nodes, build_pod_issues, build_warning_events
from .pipelines import PipelineRunView, TaskRunView, build_pipeline_runs
from .rollouts import ReplicaSetView, RolloutsBuilder, RolloutView, argo_phase, build_rollouts, deployment_phase

__all__ = [
    "DEFAULT_ENVIRONMENTS",
    "ApplicationView",
    "ConditionView",
    "EnvCell",
    "EnvironmentView",
    "HPAView",
    "HistoryEntry",
    "IndexedOwners",
    "ManagedResource",
    "MetricView",
    "NodeHealth",
    "PerObject",
    "PipelineRunView",
    "PodIssue",
    "PodView",
    "ReplicaSetView",
    "RolloutView",
    "RolloutsBuilder",
    "TaskRunView",
    "WarningEvent",
    "age",
    "argo_phase",
    "build_applications",
    "build_environments",
    "build_hpas",
    "build_nodes",
    "build_pipeline_runs",
    "build_pod",
    "build_pod_issues",
    "build_pods",
    "build_rollouts",
    "build_warning_events",
    "deployment_phase",
    "hpa_what_if",
    "image_tag",
    "owner_index_values",
]
