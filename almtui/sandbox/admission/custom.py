"""Custom resources the sandbox validates beyond metadata: Argo Rollouts (rollout validation.go)."""

from __future__ import annotations

from typing import Any

from almtui.sandbox.admission.causes import _Errs
from almtui.sandbox.admission.meta import _selector_empty, _validate_label_selector
from almtui.sandbox.admission.render import go_label_selector
from almtui.sandbox.admission.values import Obj, _d, _is_int, _l

_ROLLOUT_STEP_MSG = "Step must have one of the following set: experiment, setWeight, setCanaryScale or pause"


def _validate_rollout(e: _Errs, store: Any, obj: Obj, old: Obj | None) -> None:
    """The parts of Argo Rollouts' ValidateRolloutSpec the sandbox enforces at admission.

    Deviation: a real cluster accepts these objects (the CRD schema does not check them) and the
    rollouts controller then reports an InvalidSpec condition; the sandbox rejects them up front.
    """
    spec = _d(obj.get("spec"))
    replicas = spec.get("replicas", 1)
    e.nonneg("spec.replicas", replicas)
    if spec.get("workloadRef") is None:
        sel = spec.get("selector")
        if sel is None:
            e.required("spec.selector", "Rollout has missing field '.spec.selector'")
        else:
            _validate_label_selector(e, sel, "spec.selector")
            if _selector_empty(sel):
                e.invalid("spec.selector", go_label_selector(sel), "empty selector is invalid for deployment")
    for i, step in enumerate(_l(_d(_d(spec.get("strategy")).get("canary")).get("steps"))):
        step = _d(step)
        p = f"spec.strategy.canary.steps[{i}]"
        has = {k: step.get(k) is not None for k in ("experiment", "pause", "setWeight", "analysis",
                                                     "setCanaryScale", "setHeaderRoute", "setMirrorRoute")}
        if sum(has[k] for k in ("setWeight", "pause", "experiment", "analysis")) > 1:
            e.invalid(p, f"step.Experiment: {_tf(has['experiment'])} step.Pause: {_tf(has['pause'])} "
                         f"step.SetWeight: {_tf(has['setWeight'])} step.Analysis: {_tf(has['analysis'])}",
                      _ROLLOUT_STEP_MSG)
        if not any(has.values()):
            e.invalid(p, "step.Experiment: true step.Pause: true step.SetWeight: true step.Analysis: true "
                         "step.SetCanaryScale: true step.SetHeaderRoute: true step.SetMirrorRoutes: true",
                      _ROLLOUT_STEP_MSG)
        w = step.get("setWeight")
        if _is_int(w) and not 0 <= w <= 100:
            e.invalid(f"{p}.setWeight", w, "SetWeight needs to be between 0 and 100")


def _tf(b: bool) -> str:
    return "true" if b else "false"
