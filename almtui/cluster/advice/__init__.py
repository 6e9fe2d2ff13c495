"""Advice before and after a change: zero-downtime pre-flight checks and resource right-sizing.

``preflight`` reads the cluster's current objects and answers findings (errors block until the
operator overrides them; warnings inform). ``rightsizing`` compares requests with observed usage and
produces the exact patch that applies a recommendation. ``samples`` keeps metrics.k8s.io history in
memory for clusters without Prometheus. All of it is pure or in-memory: no I/O here.
"""

from .preflight import (
    Finding,
    blocking,
    managing_application,
    node_room,
    pod_can_run_on,
    preflight,
    preflight_promotion,
    preflight_rollout_promote,
    workload_pods,
)
from .rightsizing import (
    ContainerSizing,
    ContainerUsage,
    NodeSizing,
    ResourceSizing,
    WorkloadSizing,
    hpa_after_requests,
    node_sizing,
    recommend_cpu,
    recommend_memory,
    resources_patch,
    rightsize,
    usage_from_quantiles,
    with_requests,
)
from .samples import UsageSamples, quantile, workload_of

__all__ = [
    "ContainerSizing",
    "ContainerUsage",
    "Finding",
    "NodeSizing",
    "ResourceSizing",
    "UsageSamples",
    "WorkloadSizing",
    "blocking",
    "hpa_after_requests",
    "managing_application",
    "node_room",
    "node_sizing",
    "pod_can_run_on",
    "preflight",
    "preflight_promotion",
    "preflight_rollout_promote",
    "quantile",
    "recommend_cpu",
    "recommend_memory",
    "resources_patch",
    "rightsize",
    "usage_from_quantiles",
    "with_requests",
    "workload_of",
    "workload_pods",
]
