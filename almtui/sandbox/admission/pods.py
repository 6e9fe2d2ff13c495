"""Pod spec, pod template and pod update validation (core/validation ValidatePod*)."""

from __future__ import annotations

import copy
import json
from typing import Any

from almtui.sandbox.admission.causes import _Errs
from almtui.sandbox.admission.containers import (
    _validate_containers,
    _validate_init_containers,
    _validate_tolerations,
    _validate_volumes,
)
from almtui.sandbox.admission.meta import _selector_empty, _validate_annotations, _validate_labels, selector_matches
from almtui.sandbox.admission.names import dns1123_label, dns1123_subdomain
from almtui.sandbox.admission.render import go_string_map
from almtui.sandbox.admission.values import MAX_INT32, Obj, _d, _is_int, _l, _sem_eq


def _validate_pod_spec(e: _Errs, spec: Obj, path: str, is_pod: bool) -> None:
    """ValidatePodSpec (the subset of rules a workload manifest usually meets)."""
    if spec.get("terminationGracePeriodSeconds") is None:
        e.required(f"{path}.terminationGracePeriodSeconds")
    volumes = _validate_volumes(e, spec.get("volumes"), f"{path}.volumes")
    _validate_containers(e, spec.get("containers"), volumes, f"{path}.containers")
    _validate_init_containers(e, spec.get("initContainers"), spec.get("containers"), volumes,
                              f"{path}.initContainers")
    if _d(spec.get("securityContext")).get("hostNetwork") or spec.get("hostNetwork"):
        for i, c in enumerate(_l(spec.get("containers"))):
            for j, port in enumerate(_l(_d(c).get("ports"))):
                hp, cp = _d(port).get("hostPort") or 0, _d(port).get("containerPort") or 0
                if (is_pod or hp != 0) and hp != cp:
                    e.invalid(f"{path}.containers[{i}].ports[{j}].hostPort", hp,
                              "must match `containerPort` when `hostNetwork` is true")
    rp = spec.get("restartPolicy") or ""
    if not rp:
        e.required(f"{path}.restartPolicy")
    elif rp not in ("Always", "OnFailure", "Never"):
        e.unsupported(f"{path}.restartPolicy", rp, ("Always", "OnFailure", "Never"))
    dns = spec.get("dnsPolicy") or ""
    dns_policies = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
    if not dns:
        e.required(f"{path}.dnsPolicy")
    elif dns not in dns_policies:
        e.unsupported(f"{path}.dnsPolicy", dns, dns_policies)
    _validate_labels(e, spec.get("nodeSelector"), f"{path}.nodeSelector")
    if dns == "None" and not _l(_d(spec.get("dnsConfig")).get("nameservers")):
        if spec.get("dnsConfig") is None:
            e.required(f"{path}.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None")
        else:
            e.required(f"{path}.dnsConfig.nameservers",
                       "must provide at least one DNS nameserver when `dnsPolicy` is None")
    for f in ("serviceAccountName", "nodeName", "priorityClassName"):
        if spec.get(f):
            for msg in dns1123_subdomain(str(spec[f])):
                e.invalid(f"{path}.{f}", spec[f], msg)
    ads = spec.get("activeDeadlineSeconds")
    if _is_int(ads) and not 1 <= ads <= MAX_INT32:
        e.invalid(f"{path}.activeDeadlineSeconds", ads, f"must be between 1 and {MAX_INT32}, inclusive")
    for f in ("hostname", "subdomain"):
        if spec.get(f):
            for msg in dns1123_label(str(spec[f])):
                e.invalid(f"{path}.{f}", spec[f], msg)
    _validate_tolerations(e, spec.get("tolerations"), f"{path}.tolerations")
    pp = spec.get("preemptionPolicy")
    if pp is not None and pp not in ("PreemptLowerPriority", "Never"):
        if not pp:
            e.required(f"{path}.preemptionPolicy")
        else:
            e.unsupported(f"{path}.preemptionPolicy", pp, ("PreemptLowerPriority", "Never"))


def _validate_pod_template(e: _Errs, tmpl: Obj, path: str) -> None:
    """ValidatePodTemplateSpec (labels are checked at `<path>.labels`, as upstream does)."""
    md = _d(tmpl.get("metadata"))
    _validate_labels(e, md.get("labels"), f"{path}.labels")
    _validate_annotations(e, md.get("annotations"), f"{path}.annotations")
    spec = _d(tmpl.get("spec"))
    _validate_pod_spec(e, spec, f"{path}.spec", False)
    if spec.get("ephemeralContainers"):
        e.forbidden(f"{path}.spec.ephemeralContainers", "ephemeral containers not allowed in pod template")


def _validate_template_for_rs(e: _Errs, spec: Obj, path: str, owner: str) -> None:
    """ValidatePodTemplateSpecForReplicaSet."""
    tmpl = _d(spec.get("template"))
    sel = spec.get("selector")
    labels = _d(tmpl.get("metadata")).get("labels")
    # A nil selector converts to labels.Nothing(), which is not empty and matches nothing.
    if sel is None or (not _selector_empty(sel) and not selector_matches(sel, labels)):
        e.invalid(f"{path}.metadata.labels", go_string_map(labels if isinstance(labels, dict) else None),
                  "`selector` does not match template `labels`")
    _validate_pod_template(e, tmpl, path)
    rp = _d(tmpl.get("spec")).get("restartPolicy") or ""
    if rp != "Always":
        e.unsupported(f"{path}.spec.restartPolicy", rp, ("Always",))
    if _d(tmpl.get("spec")).get("activeDeadlineSeconds") is not None:
        e.forbidden(f"{path}.spec.activeDeadlineSeconds",
                    f"activeDeadlineSeconds in {owner} is not Supported")


_UPDATABLE_POD_FIELDS = ",".join((
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
))


def _go_field(key: str) -> str:
    return key[:1].upper() + key[1:]


def _spec_diff(old: Obj, new: Obj) -> str:
    """A cmp.Diff-shaped summary of the top-level PodSpec fields that differ."""
    keys = list(dict.fromkeys([*old, *new]))
    lines, same = [], 0
    for k in keys:
        if _sem_eq(old.get(k), new.get(k)):
            same += 1
            continue
        for sign, side in (("-", old), ("+", new)):
            if k in side:
                shown = json.dumps(side[k], separators=(", ", ": "), sort_keys=True)
                lines.append(f"{sign} \t{_go_field(k)}: {shown},")
    if same:
        lines.append(f"  \t... // {same} identical fields")
    return "  core.PodSpec{\n" + "\n".join(lines) + "\n  }\n"


def _validate_container_updates(e: _Errs, new: Any, old: Any, path: str) -> bool:
    new, old = _l(new), _l(old)
    if len(new) != len(old):
        e.forbidden(path, "pod updates may not add or remove containers")
        return True
    for i, c in enumerate(new):
        image = _d(c).get("image")
        if not image:
            e.required(f"{path}[{i}].image")
        elif str(image).strip() != image:
            e.invalid(f"{path}[{i}].image", image, "must not have leading or trailing whitespace")
    return False


def _validate_pod_update(e: _Errs, obj: Obj, old: Obj) -> None:
    """ValidatePodUpdate's spec rules.

    Deviation: a change of spec.nodeName from empty is allowed, because the sandbox scheduler binds
    pods by updating them (a real scheduler posts to the pods/binding subresource).
    """
    spec, old_spec = _d(obj.get("spec")), _d(old.get("spec"))
    if _validate_container_updates(e, spec.get("containers"), old_spec.get("containers"), "spec.containers"):
        return
    if _validate_container_updates(e, spec.get("initContainers"), old_spec.get("initContainers"),
                                   "spec.initContainers"):
        return
    ads, old_ads = spec.get("activeDeadlineSeconds"), old_spec.get("activeDeadlineSeconds")
    if ads is not None:
        if _is_int(ads) and not 0 <= ads <= MAX_INT32:
            e.invalid("spec.activeDeadlineSeconds", ads, f"must be between 0 and {MAX_INT32}, inclusive")
            return
        if _is_int(old_ads) and _is_int(ads) and old_ads < ads:
            e.invalid("spec.activeDeadlineSeconds", ads, "must be less than or equal to previous value")
            return
    elif old_ads is not None:
        e.invalid("spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value")
    new_tols = [_d(t) for t in _l(spec.get("tolerations"))]
    for ot in _l(old_spec.get("tolerations")):
        ot = {k: v for k, v in _d(ot).items() if k != "tolerationSeconds"}
        if not any(_sem_eq(ot, {k: v for k, v in nt.items() if k != "tolerationSeconds"}) for nt in new_tols):
            e.forbidden("spec.tolerations",
                        "existing toleration can not be modified except its tolerationSeconds")
            break
    if _sem_eq(spec, old_spec):
        return
    munged = copy.deepcopy(spec)
    for group in ("containers", "initContainers"):
        for c, oc in zip(_l(munged.get(group)), _l(old_spec.get(group)), strict=False):
            if isinstance(c, dict):
                c["image"] = _d(oc).get("image")
    for f in ("activeDeadlineSeconds", "schedulingGates", "tolerations"):
        munged.pop(f, None)
        if f in old_spec:
            munged[f] = old_spec[f]
    old_tgps = old_spec.get("terminationGracePeriodSeconds")
    new_tgps = munged.get("terminationGracePeriodSeconds")
    if _is_int(old_tgps) and old_tgps < 0 and new_tgps == 1:
        munged["terminationGracePeriodSeconds"] = old_tgps
    if not old_spec.get("nodeName"):
        munged.pop("nodeName", None)
        if "nodeName" in old_spec:
            munged["nodeName"] = old_spec["nodeName"]
    if not _sem_eq(munged, old_spec):
        e.forbidden("spec", f"pod updates may not change fields other than {_UPDATABLE_POD_FIELDS}\n"
                            + _spec_diff(old_spec, munged))


def _validate_pod(e: _Errs, store: Any, obj: Obj, old: Obj | None) -> None:
    spec = _d(obj.get("spec"))
    _validate_pod_spec(e, spec, "spec", True)
    for group in ("containers", "initContainers"):
        for i, c in enumerate(_l(spec.get(group))):
            image = _d(c).get("image")
            if isinstance(image, str) and image and image.strip() != image:
                e.invalid(f"spec.{group}[{i}].image", image, "must not have leading or trailing whitespace")
    if old is None:
        if spec.get("ephemeralContainers"):
            e.forbidden("spec.ephemeralContainers", "cannot be set on create")
    else:
        _validate_pod_update(e, obj, old)
