"""The HorizontalPodAutoscaler controller (autoscaling/v2), after pkg/controller/podautoscaler/horizontal.go.

Why it mirrors the upstream sync loop closely: users read the HPA's conditions, events and
timing (a sync every 15 s, the first one 15 s after creation, a 5-minute scale-down window)
to understand why a workload did or did not scale. The replica arithmetic lives in
:mod:`almtui.kube.hpa`; this module feeds it pods and metrics-server samples, keeps the
per-HPA recommendation and scale-event history, writes the target's replicas and the status.
Custom and external metrics are reported as unavailable, as on a cluster without an adapter.
"""

from __future__ import annotations

import copy
import re
from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from almtui.kube import hpa as algo
from almtui.kube.durations import parse_go_duration, parse_rfc3339
from almtui.kube.quantities import QuantityError, cpu_millis, format_decimal_si
from almtui.kube.selectors import LabelSelector, SelectorError, label_selector_to_string, parse_label_selector
from almtui.sandbox import errors
from almtui.sandbox.controllers.base import Context, Controller
from almtui.sandbox.controllers.nodes import PodIndex
from almtui.sandbox.errors import ApiError
from almtui.sandbox.store import Obj, WatchEvent, ts

HPAS = "autoscaling/horizontalpodautoscalers"
COMPONENT = "horizontal-pod-autoscaler"
SYNC_PERIOD = 15.0  # --horizontal-pod-autoscaler-sync-period
HISTORY_LENGTH = 240  # replica samples kept per HPA in ctx.shared["hpa_history"] (an hour of syncs)
DEFAULT_CPU_UTILIZATION = 80

_ABSENT = object()
_BAD_EXTERNAL = "invalid external metric source: neither a value target nor an average value target was set"
_NO_CUSTOM_API = (
    "unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered"
)


class _MetricError(Exception):
    """One metric could not give a proposal: the condition reason, its error, and the wrapped error."""

    def __init__(self, reason: str, error: str, wrapped: str) -> None:
        super().__init__(wrapped)
        self.reason = reason
        self.error = error
        self.wrapped = wrapped


class _FetchError(Exception):
    pass


@dataclass
class _Scale:
    """The target's /scale subresource."""

    key: str
    name: str
    spec_replicas: int
    status_replicas: int
    selector: str


@dataclass
class _History:
    """What upstream keeps in memory per HPA: unstabilized recommendations and scale events."""

    recommendations: list[tuple[float, int]] = field(default_factory=list)
    up_events: list[tuple[float, int]] = field(default_factory=list)
    down_events: list[tuple[float, int]] = field(default_factory=list)
    initialized: bool = False


# Memos of pure parsers, keyed by the text: every HPA sync reads the same timestamps, requests
# and windows again for each of its pods (thousands per sync period at 20,000 pods).
_MEMO_LIMIT = 16384
_epochs: dict[str, float | None] = {}
_millis: dict[str, int] = {}
_durations: dict[str, float] = {}
# canonical metrics-server CPU readings ("12345678n", "250m", "2"): exact integer arithmetic
_PLAIN = re.compile(r"([0-9]{1,15})([num]?)")
_PLAIN_DIV = {"n": 10**6, "u": 10**3, "m": 1}


def _remember(memo: dict, key: str, value: Any) -> Any:
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[key] = value
    return value


def _epoch(value: str | None) -> float | None:
    if not value:
        return None
    hit = _epochs.get(value, _ABSENT) if isinstance(value, str) else _ABSENT
    if hit is not _ABSENT:
        return hit  # type: ignore[return-value]
    try:
        when: float | None = parse_rfc3339(value).timestamp()
    except ValueError:
        when = None
    return _remember(_epochs, value, when) if isinstance(value, str) else when


def _milli(value: Any) -> int:
    """Quantity.MilliValue (rounded up)."""
    if not isinstance(value, str):
        return cpu_millis(value)
    hit = _millis.get(value)
    if hit is not None:
        return hit
    m = _PLAIN.fullmatch(value)
    if m is None:
        milli = cpu_millis(value)  # raises QuantityError: nothing is remembered
    elif m[2]:
        milli = -(-int(m[1]) // _PLAIN_DIV[m[2]])  # ceil, as ScaledValue rounds up
    else:
        milli = int(m[1]) * 1000
    return _remember(_millis, value, milli)


def _duration(text: str) -> float:
    """parse_go_duration, remembered; ValueError is not."""
    hit = _durations.get(text)
    if hit is None:
        hit = _remember(_durations, text, parse_go_duration(text))
    return hit


def _format_milli(milli: int) -> str:
    """resource.NewMilliQuantity(v, DecimalSI).String()."""
    return format_decimal_si(Decimal(int(milli)).scaleb(-3))


def _go_selector(sel: dict | None) -> str:
    """%+v of a *metav1.LabelSelector, as upstream error messages print it."""
    if sel is None:
        return "nil"
    labels = ",".join(f"{k}: {v}" for k, v in sorted((sel.get("matchLabels") or {}).items()))
    exprs = ",".join(
        f"LabelSelectorRequirement{{Key:{e.get('key')},Operator:{e.get('operator')},"
        f"Values:[{' '.join(e.get('values') or [])}],}}"
        for e in sel.get("matchExpressions") or []
    )
    return (
        f"&LabelSelector{{MatchLabels:map[string]string{{{labels + ',' if labels else ''}}},"
        f"MatchExpressions:[]LabelSelectorRequirement{{{exprs + ',' if exprs else ''}}},}}"
    )


def _set_condition(conds: list[dict], type_: str, status: str, reason: str, message: str, now: str) -> None:
    """setConditionInList: lastTransitionTime moves only when the status changes."""
    for c in conds:
        if c.get("type") == type_:
            break
    else:
        c = {"type": type_}
        conds.append(c)
    if c.get("status") != status:
        c["lastTransitionTime"] = now
    c["status"] = status
    c["reason"] = reason
    c["message"] = message


class HorizontalPodAutoscaler(Controller):
    """Syncs each HPA every 15 s simulated: reads the target scale and pod metrics, rescales."""

    name = COMPONENT
    watches = (HPAS,)

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        opts = ctx.options
        self.sync_period = float(opts.get("hpa_sync_period", SYNC_PERIOD))
        self.tolerance = float(opts.get("hpa_tolerance", algo.DEFAULT_TOLERANCE))
        self.downscale_window = float(opts.get("hpa_downscale_stabilization", algo.DEFAULT_DOWNSCALE_STABILIZATION))
        self.cpu_init_period = float(opts.get("hpa_cpu_initialization_period", algo.DEFAULT_CPU_INITIALIZATION_PERIOD))
        self.readiness_delay = float(opts.get("hpa_initial_readiness_delay", algo.DEFAULT_DELAY_OF_INITIAL_READINESS))
        # Upstream writes status.observedGeneration only since kubernetes#138228 (2026, feature-gated);
        # a 1.33 controller never does, so clients must not wait for it. Opt in to model newer ones.
        self.observed_generation = bool(opts.get("hpa_observed_generation", False))
        self.index = PodIndex.of(ctx)
        self.history: dict[tuple[str, str], deque] = ctx.shared.setdefault("hpa_history", {})
        self._state: dict[tuple[str, str], _History] = {}
        self._due: dict[tuple[str, str], float] = {}
        # which HPAs' last sync selected each pod (upstream's hpaSelectors BiMultimap, inverted)
        self._claims: dict[tuple[str, str], set[tuple[str, str]]] = {}
        self._claimed: dict[tuple[str, str], set[tuple[str, str]]] = {}

    # -- queueing: every sync period, and no sooner (upstream's FixedItemIntervalRateLimiter) --

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        md = ev.obj["metadata"]
        key = (md.get("namespace", ""), md["name"])
        if ev.type == "DELETED":
            yield key
            return
        if ev.type == "ADDED" or (ev.old or {}).get("spec") != ev.obj.get("spec"):
            self._schedule(key, self.sync_period)

    def _schedule(self, key: tuple[str, str], after: float) -> None:
        if key in self._due:
            return  # already waiting: a delaying queue keeps the earlier time
        self._due[key] = self.ctx.now() + after
        self.ctx.shared["manager"].enqueue(self, key, after)

    def reconcile(self, key: Any) -> float | None:
        hpa = self.store.get(HPAS, key[0], key[1])
        if hpa is None:
            self._state.pop(key, None)
            self._due.pop(key, None)
            self._claim(key, set())
            return None
        due = self._due.get(key)
        if due is not None and due > self.ctx.now() + 1e-6:
            return None  # a stale timer; the current one fires later
        self._due.pop(key, None)
        try:
            self._sync(hpa)
        finally:
            self._schedule(key, self.sync_period)
        return None

    # -- one sync (reconcileAutoscaler) --

    def _sync(self, hpa: Obj) -> None:
        md, spec = hpa["metadata"], hpa.get("spec") or {}
        ns, name = md.get("namespace", ""), md["name"]
        key = (ns, name)
        now, stamp = self.ctx.now(), ts(self.ctx.clock.now())
        original = hpa.get("status") or {}
        status = copy.deepcopy(original)
        conds: list[dict] = status.setdefault("conditions", [])

        def cond(type_: str, st: str, reason: str, message: str) -> None:
            _set_condition(conds, type_, st, reason, message, stamp)

        def event(type_: str, reason: str, message: str) -> None:
            self.ctx.events.record(hpa, type_, reason, message, COMPONENT)

        try:
            scale = self._get_scale(ns, spec.get("scaleTargetRef") or {})
        except _FetchError as e:
            event("Warning", "FailedGetScale", str(e))
            cond(
                "AbleToScale",
                "False",
                "FailedGetScale",
                f"the HPA controller was unable to get the target's current scale: {e}",
            )
            self._write_status(hpa, status)
            return
        cond(
            "AbleToScale",
            "True",
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale",
        )
        current = scale.spec_replicas
        state = self._state.setdefault(key, _History())
        if not state.initialized:  # recordInitialRecommendation
            state.recommendations = [(now, current)]
            state.initialized = True

        min_replicas = spec.get("minReplicas")
        min_replicas = 1 if min_replicas is None else int(min_replicas)
        max_replicas = int(spec.get("maxReplicas") or 0)
        metric_statuses: list[dict] | None = None
        desired, reason, rescale = 0, "", True
        if current == 0 and min_replicas != 0:
            rescale = False
            cond(
                "ScalingActive",
                "False",
                "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero",
            )
        elif current > max_replicas:
            reason, desired = "Current number of replicas above Spec.MaxReplicas", max_replicas
        elif current < min_replicas:
            reason, desired = "Current number of replicas below Spec.MinReplicas", min_replicas
        else:
            proposal, metric_name, metric_statuses, error = self._compute(hpa, scale, cond, event)
            if error is not None and proposal == -1:
                self._set_status(
                    hpa, status, current, int(original.get("desiredReplicas") or 0), metric_statuses, False
                )
                self._write_status(hpa, status)
                event("Warning", "FailedComputeMetricsReplicas", error)
                return
            rescale_metric = ""
            if proposal > desired:
                desired, rescale_metric = proposal, metric_name
            if desired > current:
                reason = f"{rescale_metric} above target"
            if desired < current:
                reason = "All metrics below target"
            desired = self._normalize(state, spec, current, desired, min_replicas, max_replicas, now, cond)
            rescale = desired != current

        if rescale:
            try:
                self._rescale(ns, scale, desired)
            except ApiError as e:
                event("Warning", "FailedRescale", f"New size: {desired}; reason: {reason}; error: {e.message}")
                cond(
                    "AbleToScale",
                    "False",
                    "FailedUpdateScale",
                    f"the HPA controller was unable to update the target scale: {e.message}",
                )
                self._set_status(
                    hpa, status, current, int(original.get("desiredReplicas") or 0), metric_statuses, False
                )
                self._write_status(hpa, status)
                return
            cond(
                "AbleToScale",
                "True",
                "SucceededRescale",
                f"the HPA controller was able to update the target scale to {desired}",
            )
            event("Normal", "SuccessfulRescale", f"New size: {desired}; reason: {reason}")
            state.up_events, state.down_events = algo.record_scale_event(
                state.up_events, state.down_events, current, desired, now, spec.get("behavior")
            )
        else:
            desired = current
        self._set_status(hpa, status, current, desired, metric_statuses, rescale)
        self._write_status(hpa, status)
        ring = self.history.setdefault(key, deque(maxlen=HISTORY_LENGTH))
        ring.append((now, desired))

    def _normalize(
        self,
        state: _History,
        spec: dict,
        current: int,
        desired: int,
        min_replicas: int,
        max_replicas: int,
        now: float,
        cond: Any,
    ) -> int:
        behavior = spec.get("behavior")
        if behavior is None:
            result = algo.normalize_legacy(
                current,
                desired,
                min_replicas,
                max_replicas,
                state.recommendations,
                now,
                self.downscale_window,
            )
            keep = self.downscale_window
        else:
            result = algo.normalize_with_behavior(
                current,
                desired,
                min_replicas,
                max_replicas,
                behavior,
                state.recommendations,
                state.up_events,
                state.down_events,
                now,
                self.downscale_window,
            )
            rules = algo.default_behavior(behavior) or {}
            down = rules["scaleDown"].get("stabilizationWindowSeconds")
            keep = max(
                float(rules["scaleUp"].get("stabilizationWindowSeconds") or 0),
                self.downscale_window if down is None else float(down),
            )
        state.recommendations = algo.record_recommendation(state.recommendations, desired, now, keep)
        cond("AbleToScale", "True", result.able_reason, result.able_message)
        cond(
            "ScalingLimited",
            "True" if result.limited else "False",
            result.limited_reason,
            result.limited_message,
        )
        return result.replicas

    def _set_status(
        self, hpa: Obj, status: dict, current: int, desired: int, metrics: list[dict] | None, rescale: bool
    ) -> None:
        """setStatus: current/desired replicas and metrics; lastScaleTime moves on a rescale."""
        for k in ("currentReplicas", "currentMetrics"):
            status.pop(k, None)
        if current:
            status["currentReplicas"] = current
        status["desiredReplicas"] = desired
        if metrics:
            status["currentMetrics"] = metrics
        if rescale:
            status["lastScaleTime"] = ts(self.ctx.clock.now())
        if self.observed_generation and "generation" in hpa["metadata"]:
            status["observedGeneration"] = hpa["metadata"]["generation"]

    def _write_status(self, hpa: Obj, status: dict) -> None:
        if not status.get("conditions"):
            status.pop("conditions", None)
        status.setdefault("desiredReplicas", 0)  # not omitempty in the Go type
        if status == (hpa.get("status") or {}):
            return
        md = hpa["metadata"]

        def put(obj: Obj) -> None:
            obj["status"] = status

        self.store.mutate(HPAS, md.get("namespace"), md["name"], put, subresource="status")

    # -- the target's /scale --

    def _get_scale(self, ns: str, ref: dict) -> _Scale:
        api_version, kind, name = ref.get("apiVersion") or "", ref.get("kind") or "", ref.get("name") or ""
        parts = api_version.split("/")
        if len(parts) > 2:
            raise _FetchError(f"unexpected GroupVersion string: {api_version}")
        group = parts[0] if len(parts) == 2 else ""
        res = next((r for r in self.store.registry.resources if r.group == group and r.kind == kind), None)
        if res is None:
            raise _FetchError(f'no matches for kind "{kind}" in group "{group}"')
        if "scale" not in res.subresources:
            raise _FetchError("the server could not find the requested resource")
        obj = self.store.get(res.key, ns, name)
        if obj is None:
            raise _FetchError(f'{res.qualified} "{name}" not found')
        spec, st = obj.get("spec") or {}, obj.get("status") or {}
        if res.key in ("apps/deployments", "apps/replicasets"):
            replicas = spec.get("replicas")
            return _Scale(
                res.key,
                name,
                1 if replicas is None else int(replicas),
                int(st.get("replicas") or 0),
                label_selector_to_string(spec.get("selector")),
            )
        if res.key == "argoproj.io/rollouts":
            selector = st.get("selector") or (
                label_selector_to_string(spec["selector"]) if spec.get("selector") else ""
            )
            return _Scale(res.key, name, int(spec.get("replicas") or 0), int(st.get("HPAReplicas") or 0), selector)
        return _Scale(
            res.key,
            name,
            int(spec.get("replicas") or 0),
            int(st.get("replicas") or 0),
            str(st.get("selector") or ""),
        )

    def _rescale(self, ns: str, scale: _Scale, replicas: int) -> None:
        def put(obj: Obj) -> None:
            obj.setdefault("spec", {})["replicas"] = replicas

        if self.store.mutate(scale.key, ns, scale.name, put) is None:
            raise errors.not_found(self.store.res(scale.key), scale.name)

    # -- metrics (computeReplicasForMetrics) --

    def _compute(
        self, hpa: Obj, scale: _Scale, cond: Any, event: Any
    ) -> tuple[int, str, list[dict] | None, str | None]:
        """The largest proposal over all metrics; -1 when the HPA must not scale on this sync."""
        ns = hpa["metadata"].get("namespace", "")
        selector, pods, problem = self._validate_selector(hpa, scale.selector, cond, event)
        if selector is None:
            return -1, "", None, problem
        specs = (hpa.get("spec") or {}).get("metrics") or [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION},
                },
            }
        ]
        statuses: list[dict] = []
        replicas, metric, invalid = 0, "", 0
        first: _MetricError | None = None
        for spec in specs:
            try:
                proposal, name, st = self._metric(ns, spec, scale, selector, pods)
            except _MetricError as e:
                event("Warning", e.reason, e.error)
                if first is None:
                    first = e
                invalid += 1
                statuses.append({"type": ""})
                continue
            statuses.append(st)
            if replicas == 0 or proposal > replicas:
                replicas, metric = proposal, name
        error = None
        if first is not None:
            error = f"invalid metrics ({invalid} invalid out of {len(specs)}), first error is: {first.wrapped}"
        if first is not None and (invalid >= len(specs) or replicas < scale.spec_replicas):
            cond(
                "ScalingActive",
                "False",
                first.reason,
                f"the HPA was unable to compute the replica count: {first.error}",
            )
            return -1, "", statuses, error
        cond(
            "ScalingActive",
            "True",
            "ValidMetricFound",
            f"the HPA was able to successfully calculate a replica count from {metric}",
        )
        return replicas, metric, statuses, error

    def _validate_selector(
        self, hpa: Obj, text: str, cond: Any, event: Any
    ) -> tuple[LabelSelector | None, list[Obj], str]:
        """validateAndParseSelector: required, parseable, and not shared with another HPA."""
        md = hpa["metadata"]
        key = (md.get("namespace", ""), md["name"])
        if not text:
            event("Warning", "SelectorRequired", "selector is required")
            cond("ScalingActive", "False", "InvalidSelector", "the HPA target's scale is missing a selector")
            return None, [], "selector is required"
        try:
            selector = parse_label_selector(text)
        except SelectorError as e:
            msg = f"couldn't convert selector into a corresponding internal selector object: {e}"
            event("Warning", "InvalidSelector", msg)
            cond("ScalingActive", "False", "InvalidSelector", msg)
            return None, [], msg
        pods = self.index.select(key[0], selector)
        names = {(key[0], p["metadata"]["name"]) for p in pods}
        self._claim(key, names)
        owners = {key}
        for pod in names:
            owners |= self._claims.get(pod, set())
        if len(owners) > 1:
            listed = " ".join(f"{{{n} {ns}}}" for ns, n in sorted(owners))
            msg = f"pods by selector {text} are controlled by multiple HPAs: [{listed}]"
            event("Warning", "AmbiguousSelector", msg)
            cond("ScalingActive", "False", "AmbiguousSelector", msg)
            return None, [], msg
        return selector, pods, ""

    def _claim(self, key: tuple[str, str], pods: set[tuple[str, str]]) -> None:
        """Record the pods an HPA selected on this sync; an empty set forgets the HPA."""
        old = self._claimed.pop(key, set())
        for pod in old - pods:
            holders = self._claims.get(pod)
            if holders is not None:
                holders.discard(key)
                if not holders:
                    del self._claims[pod]
        for pod in pods - old:
            self._claims.setdefault(pod, set()).add(key)
        if pods:
            self._claimed[key] = pods

    def _metric(
        self, ns: str, spec: dict, scale: _Scale, selector: LabelSelector, pods: list[Obj]
    ) -> tuple[int, str, dict]:
        """computeReplicasForMetric: (proposal, metric description, MetricStatus) or _MetricError."""
        type_ = spec.get("type")
        current = scale.spec_replicas
        if type_ in ("Resource", "ContainerResource"):
            src = spec.get("resource" if type_ == "Resource" else "containerResource") or {}
            resource, container = (
                src.get("name", ""),
                src.get("container") if type_ == "ContainerResource" else None,
            )
            try:
                proposal, value, name = self._resource(
                    ns, current, src.get("target") or {}, resource, container, selector, pods
                )
            except _FetchError as e:
                if type_ == "Resource":
                    raise _MetricError(
                        "FailedGetResourceMetric",
                        str(e),
                        f"failed to get {resource} resource metric value: {e}",
                    ) from None
                raise _MetricError(
                    "FailedGetContainerResourceMetric",
                    str(e),
                    f"failed to get {container} container metric value: {e}",
                ) from None
            if type_ == "Resource":
                return proposal, name, {"type": "Resource", "resource": {"name": resource, "current": value}}
            return (
                proposal,
                name,
                {
                    "type": "ContainerResource",
                    "containerResource": {"name": resource, "container": container, "current": value},
                },
            )
        if type_ == "Pods":
            metric = ((spec.get("pods") or {}).get("metric") or {}).get("name", "")
            error = f"unable to get metric {metric}: {_NO_CUSTOM_API}"
            raise _MetricError("FailedGetPodsMetric", error, f"failed to get pods metric value: {error}")
        if type_ == "Object":
            obj = spec.get("object") or {}
            metric = (obj.get("metric") or {}).get("name", "")
            target = obj.get("target") or {}
            if not (target.get("type") == "Value" and target.get("value") is not None) and not (
                target.get("type") == "AverageValue" and target.get("averageValue") is not None
            ):
                error = "invalid object metric source: neither a value target nor an average value target was set"
                raise _MetricError("FailedGetObjectMetric", error, f"failed to get object metric value: {error}")
            described = obj.get("describedObject") or {}
            error = (
                f"unable to get metric {metric}: {described.get('kind', '')} on {ns} "
                f"{described.get('name', '')}/{_NO_CUSTOM_API}"
            )
            wrapped = error if target.get("type") == "Value" else f"failed to get {metric} object metric: {error}"
            raise _MetricError("FailedGetObjectMetric", error, f"failed to get object metric value: {wrapped}")
        if type_ == "External":
            ext = spec.get("external") or {}
            metric = ext.get("metric") or {}
            mname = metric.get("name", "")
            target = ext.get("target") or {}
            if target.get("averageValue") is None and target.get("value") is None:
                raise _MetricError("FailedGetExternalMetric", _BAD_EXTERNAL, _BAD_EXTERNAL)
            error = (
                f"unable to get external metric {ns}/{mname}/{_go_selector(metric.get('selector'))}: "
                "unable to fetch metrics from external metrics API: the server could not find the "
                f"requested resource (get {mname}.external.metrics.k8s.io)"
            )
            inner = (
                f"failed to get {mname} external metric: {error}"
                if target.get("averageValue") is not None
                else f"failed to get external metric {mname}: {error}"
            )
            raise _MetricError(
                "FailedGetExternalMetric", error, f"failed to get {mname} external metric value: {inner}"
            )
        error = f"unknown metric source type {type_!r}".replace("'", '"')
        raise _MetricError("InvalidMetricSourceType", error, error)

    def _resource(
        self,
        ns: str,
        current: int,
        target: dict,
        resource: str,
        container: str | None,
        selector: LabelSelector,
        pods: list[Obj],
    ) -> tuple[int, dict, str]:
        """computeStatusForResourceMetricGeneric: utilization or average-value targets."""
        cpu = resource == "cpu"
        if target.get("averageValue") is not None:
            try:
                target_milli = _milli(target["averageValue"])
            except QuantityError as e:
                raise _FetchError(f"failed to get {resource} usage: {e}") from None
            samples = self._samples(ns, resource, container, selector, pods, "usage")
            calc = algo.calc_plain_metric_replicas(
                current,
                target_milli,
                samples,
                self.ctx.now(),
                self.tolerance,
                cpu=cpu,
                cpu_initialization_period=self.cpu_init_period,
                delay_of_initial_readiness=self.readiness_delay,
            )
            if calc.error is not None:
                raise _FetchError(f"failed to get {resource} usage: {calc.error}")
            return (
                calc.replicas,
                {"averageValue": _format_milli(calc.raw_average or 0)},
                f"{resource} resource",
            )
        if target.get("averageUtilization") is None:
            raise _FetchError(
                "invalid resource metric source: neither an average utilization target nor an "
                "average value (usage) target was set"
            )
        samples = self._samples(ns, resource, container, selector, pods, "utilization")
        calc = algo.calc_resource_utilization_replicas(
            current,
            int(target["averageUtilization"]),
            samples,
            self.ctx.now(),
            cpu=cpu,
            tolerance=self.tolerance,
            cpu_initialization_period=self.cpu_init_period,
            delay_of_initial_readiness=self.readiness_delay,
            resource_name=resource,
        )
        if calc.error is not None:
            raise _FetchError(f"failed to get {resource} utilization: {calc.error}")
        value = {"averageUtilization": calc.utilization, "averageValue": _format_milli(calc.raw_average or 0)}
        kind = "container resource" if container else "resource"
        return calc.replicas, value, f"{resource} {kind} utilization (percentage of request)"

    def _samples(
        self,
        ns: str,
        resource: str,
        container: str | None,
        selector: LabelSelector,
        pods: list[Obj],
        what: str,
    ) -> list[algo.PodSample]:
        """Pods and their metrics-server samples, as the replica calculator groups them."""
        try:
            usage = self._pod_metrics(ns, resource, container, selector, {p["metadata"]["name"] for p in pods})
        except _FetchError as e:
            raise _FetchError(
                f"failed to get {resource} {what}: unable to get metrics for resource {resource}: {e}"
            ) from None
        out = []
        for pod in pods:
            md, spec, st = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
            ready = next((c for c in st.get("conditions") or () if c.get("type") == "Ready"), None)
            sample = usage.get(md["name"])
            out.append(
                algo.PodSample(
                    name=md["name"],
                    phase=st.get("phase") or "Pending",
                    ready=None if ready is None else ready.get("status") != "False",
                    deleted=bool(md.get("deletionTimestamp")),
                    start_time=_epoch(st.get("startTime")),
                    ready_transition_time=_epoch((ready or {}).get("lastTransitionTime")),
                    request=self._requests(spec, resource, container),
                    usage=None if sample is None else float(sample[0]),
                    metric_timestamp=sample[1] if sample else 0.0,
                    metric_window=sample[2] if sample else 15.0,
                )
            )
        return out

    @staticmethod
    def _requests(spec: dict, resource: str, container: str | None) -> dict[str, float | None]:
        """calculatePodRequests: containers plus restartable init containers (sidecars)."""
        containers = list(spec.get("containers") or [])
        containers += [c for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"]
        out: dict[str, float | None] = {}
        for c in containers:
            if container and c.get("name") != container:
                continue
            value = ((c.get("resources") or {}).get("requests") or {}).get(resource)
            try:
                out[c.get("name", "")] = None if value is None else float(_milli(value))
            except QuantityError:
                out[c.get("name", "")] = None
        return out

    def _pod_metrics(
        self, ns: str, resource: str, container: str | None, selector: LabelSelector, names: set[str]
    ) -> dict[str, tuple[int, float, float]]:
        """GetResourceMetric: pod name -> (milli-units, sample time, window) from metrics.k8s.io."""
        source = self.ctx.shared.get("metrics")
        if source is None:
            raise _FetchError(
                "unable to fetch metrics from resource metrics API: the server could not find "
                "the requested resource (get pods.metrics.k8s.io)"
            )
        select = getattr(source, "select_pod_metrics", None)
        if select is not None:  # the sandbox's metrics-server: indexed, same items
            items = select(ns, names, selector)
        else:
            items = []
            for m in source.pod_metrics(ns) or ():
                mmd = m.get("metadata") or {}
                labels = mmd.get("labels")
                if mmd.get("name") in names or (labels and selector.matches(labels)):
                    items.append(m)
        if not items:
            raise _FetchError("no metrics returned from resource metrics API")
        out: dict[str, tuple[int, float, float]] = {}
        for m in items:
            mmd = m.get("metadata") or {}
            name = mmd.get("name", "")
            when = _epoch(m.get("timestamp")) or 0.0
            try:
                window = _duration(str(m.get("window") or "0s"))
            except ValueError:
                window = 0.0
            usages = [(c.get("name"), (c.get("usage") or {}).get(resource)) for c in m.get("containers") or ()]
            if container is not None:  # getContainerMetrics
                value = next((v for n, v in usages if n == container), _ABSENT)
                if value is _ABSENT:
                    raise _FetchError(
                        f"failed to get container metrics: container {container} not present in "
                        f"metrics for pod {mmd.get('namespace', ns)}/{name}"
                    )
                if value is not None:
                    out[name] = (_milli(value), when, window)
            elif usages and all(v is not None for _, v in usages):  # getPodMetrics
                out[name] = (sum(_milli(v) for _, v in usages), when, window)
        return out
