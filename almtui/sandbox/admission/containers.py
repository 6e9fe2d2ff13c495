"""Container-level validation shared by pods and templates.

Ports, env, resources, probes, mounts, volumes and tolerations, with upstream's messages.
"""

from __future__ import annotations

from typing import Any

from almtui.sandbox.admission.causes import _Errs
from almtui.sandbox.admission.names import (
    config_map_key,
    dns1123_label,
    label_value,
    port_name,
    port_num,
    qualified_name,
)
from almtui.sandbox.admission.render import GoRaw
from almtui.sandbox.admission.values import Obj, _d, _is_int, _l, _quantity, canonical_quantity

_VOLUME_SOURCES = ("hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret",
                   "nfs", "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder",
                   "cephfs",
                   "flocker", "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume", "quobyte",
                   "azureDisk", "photonPersistentDisk", "projected", "portworxVolume", "scaleIO", "storageos",
                   "csi", "ephemeral", "image")


_PROBE_DEFAULTS = (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                   ("failureThreshold", 3))


_PORT_PROTOCOLS = ("SCTP", "TCP", "UDP")


_STANDARD_CONTAINER_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage"})


_OVERCOMMIT_NATIVE = frozenset({"cpu", "memory", "ephemeral-storage"})


def _validate_container_ports(e: _Errs, ports: Any, path: str) -> None:
    names: set[str] = set()
    for i, port in enumerate(_l(ports)):
        port = _d(port)
        p = f"{path}[{i}]"
        name = port.get("name")
        if name:
            msgs = port_name(str(name))
            for msg in msgs:
                e.invalid(f"{p}.name", name, msg)
            if not msgs:
                if name in names:
                    e.duplicate(f"{p}.name", name)
                names.add(name)
        cp = port.get("containerPort")
        if not cp:
            e.required(f"{p}.containerPort")
        elif _is_int(cp):
            for msg in port_num(cp):
                e.invalid(f"{p}.containerPort", cp, msg)
        hp = port.get("hostPort")
        if _is_int(hp) and hp:
            for msg in port_num(hp):
                e.invalid(f"{p}.hostPort", hp, msg)
        proto = port.get("protocol")
        if not proto:
            e.required(f"{p}.protocol")
        elif proto not in _PORT_PROTOCOLS:
            e.unsupported(f"{p}.protocol", proto, _PORT_PROTOCOLS)


def _validate_env(e: _Errs, env: Any, path: str) -> None:
    for i, ev in enumerate(_l(env)):
        ev = _d(ev)
        p = f"{path}[{i}]"
        name = ev.get("name")
        if not name:
            e.required(f"{p}.name")
        elif any(ord(ch) > 127 or not ch.isprintable() or ch == "=" for ch in str(name)):
            e.invalid(f"{p}.name", name, "a valid environment variable name must consist only of printable "
                                         "ASCII characters other than '='")
        vf = ev.get("valueFrom")
        if vf is None:
            continue
        n = sum(1 for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef")
                if _d(vf).get(k))
        if n == 0:
            e.invalid(f"{p}.valueFrom", "", "must specify one of: `fieldRef`, `resourceFieldRef`, "
                                           "`configMapKeyRef` or `secretKeyRef`")
        elif ev.get("value"):
            e.invalid(f"{p}.valueFrom", "", "may not be specified when `value` is not empty")
        elif n > 1:
            e.invalid(f"{p}.valueFrom", "", "may not have more than one field specified at a time")
        for ref in ("configMapKeyRef", "secretKeyRef"):
            r = _d(vf).get(ref)
            if isinstance(r, dict):
                key = r.get("key")
                if not key:
                    e.required(f"{p}.valueFrom.{ref}.key")
                else:
                    for msg in config_map_key(str(key)):
                        e.invalid(f"{p}.valueFrom.{ref}.key", key, msg)


def _is_native(name: str) -> bool:
    return "/" not in name or name.split("/", 1)[0].endswith("kubernetes.io")


def _overcommit_allowed(name: str) -> bool:
    return _is_native(name) and not name.startswith("hugepages-")


def _validate_resource_name(e: _Errs, name: str, path: str) -> None:
    msgs = qualified_name(name)
    for msg in msgs:
        e.invalid(path, name, msg)
    if msgs:
        return
    if "/" not in name:
        if name not in _STANDARD_CONTAINER_RESOURCES and not name.startswith("hugepages-"):
            e.invalid(path, name, "must be a standard resource for containers")
    elif not _is_native(name) and name.startswith("requests."):
        e.invalid(path, name, "doesn't follow extended resource name standard")


def _validate_resources(e: _Errs, resources: Any, path: str) -> None:
    """validateResourceRequirements (container level)."""
    r = _d(resources)
    lims, reqs = _d(r.get("limits")), _d(r.get("requests"))
    lp, rp = f"{path}.limits", f"{path}.requests"
    for pth, rl in ((lp, lims), (rp, reqs)):
        for name, raw in rl.items():
            kp = f"{pth}[{name}]"
            _validate_resource_name(e, str(name), kp)
            q = _quantity(raw)
            if q is None:
                continue
            if q < 0:
                e.invalid(kp, canonical_quantity(raw), "must be greater than or equal to 0")
            if not _overcommit_allowed(str(name)) and not str(name).startswith("hugepages-") \
                    and q != q.to_integral_value():
                e.invalid(kp, GoRaw(canonical_quantity(raw)), "must be an integer")
    for name, raw in reqs.items():
        q = _quantity(raw)
        if q is None:
            continue
        if name in lims:
            lq = _quantity(lims[name])
            if lq is None:
                continue
            limit = canonical_quantity(lims[name])
            if q != lq and not _overcommit_allowed(str(name)):
                e.invalid(rp, canonical_quantity(raw), f"must be equal to {name} limit of {limit}")
            elif q > lq:
                e.invalid(rp, canonical_quantity(raw),
                          f"must be less than or equal to {name} limit of {limit}")
        elif not _overcommit_allowed(str(name)):
            e.required(lp, "Limit must be set for non overcommitable resources")


def _validate_handler(e: _Errs, h: Any, path: str) -> None:
    h = _d(h)
    kinds = [k for k in ("exec", "httpGet", "tcpSocket", "grpc", "sleep") if h.get(k) is not None]
    for extra in kinds[1:]:
        e.forbidden(f"{path}.{extra}", "may not specify more than 1 handler type")
    if not kinds:
        e.required(path, "must specify a handler type")
        return
    kind = kinds[0]
    body = _d(h[kind])
    if kind == "exec" and not body.get("command"):
        e.required(f"{path}.exec.command")
    if kind in ("httpGet", "tcpSocket", "grpc"):
        port = body.get("port")
        if _is_int(port):
            for msg in port_num(port):
                e.invalid(f"{path}.{kind}.port", port, msg)
        elif isinstance(port, str):
            for msg in port_name(port):
                e.invalid(f"{path}.{kind}.port", port, msg)
    if kind == "httpGet":
        if not body.get("path"):
            e.required(f"{path}.httpGet.path")
        scheme = body.get("scheme")
        if scheme not in ("HTTP", "HTTPS"):
            e.unsupported(f"{path}.httpGet.scheme", scheme or "", ("HTTP", "HTTPS"))


def _validate_probe(e: _Errs, probe: Any, path: str, kind: str) -> None:
    if not isinstance(probe, dict):
        return
    _validate_handler(e, probe, path)
    for f in ("initialDelaySeconds", *(k for k, _ in _PROBE_DEFAULTS)):
        e.nonneg(f"{path}.{f}", probe.get(f))
    tgps = probe.get("terminationGracePeriodSeconds")
    if _is_int(tgps) and tgps <= 0:
        e.invalid(f"{path}.terminationGracePeriodSeconds", tgps, "must be greater than 0")
    if kind in ("liveness", "startup") and probe.get("successThreshold") not in (None, 1):
        e.invalid(f"{path}.successThreshold", probe.get("successThreshold"), "must be 1")
    if kind == "readiness" and tgps is not None:
        e.invalid(f"{path}.terminationGracePeriodSeconds", tgps, "must not be set for readinessProbes")


def _validate_volume_mounts(e: _Errs, mounts: Any, volumes: set[str], path: str) -> None:
    seen: set[str] = set()
    for i, m in enumerate(_l(mounts)):
        m = _d(m)
        p = f"{path}[{i}]"
        name, mp = m.get("name") or "", m.get("mountPath") or ""
        if not name:
            e.required(f"{p}.name")
        if name not in volumes:
            e.not_found(f"{p}.name", name)
        if not mp:
            e.required(f"{p}.mountPath")
        if mp in seen:
            e.invalid(f"{p}.mountPath", mp, "must be unique")
        seen.add(mp)


def _validate_container_common(e: _Errs, c: Obj, volumes: set[str], path: str) -> None:
    name = c.get("name")
    if not name:
        e.required(f"{path}.name")
    else:
        for msg in dns1123_label(str(name)):
            e.invalid(f"{path}.name", name, msg)
    if not c.get("image"):
        e.required(f"{path}.image")
    tmp = c.get("terminationMessagePolicy")
    if not tmp:
        e.required(f"{path}.terminationMessagePolicy")
    elif tmp not in ("File", "FallbackToLogsOnError"):
        e.unsupported(f"{path}.terminationMessagePolicy", tmp, ("File", "FallbackToLogsOnError"))
    _validate_container_ports(e, c.get("ports"), f"{path}.ports")
    _validate_env(e, c.get("env"), f"{path}.env")
    _validate_volume_mounts(e, c.get("volumeMounts"), volumes, f"{path}.volumeMounts")
    pull = c.get("imagePullPolicy")
    if not pull:
        e.required(f"{path}.imagePullPolicy")
    elif pull not in ("Always", "IfNotPresent", "Never"):
        e.unsupported(f"{path}.imagePullPolicy", pull, ("Always", "IfNotPresent", "Never"))
    _validate_resources(e, c.get("resources"), f"{path}.resources")


def _validate_containers(e: _Errs, containers: Any, volumes: set[str], path: str) -> None:
    containers = _l(containers)
    if not containers:
        e.required(path)
        return
    names: set[Any] = set()
    for i, c in enumerate(containers):
        c = _d(c)
        p = f"{path}[{i}]"
        _validate_container_common(e, c, volumes, p)
        if c.get("name") in names:
            e.duplicate(f"{p}.name", c.get("name") or "")
        names.add(c.get("name"))
        if isinstance(c.get("lifecycle"), dict):
            for hook in ("postStart", "preStop"):
                if c["lifecycle"].get(hook) is not None:
                    _validate_handler(e, c["lifecycle"][hook], f"{p}.lifecycle.{hook}")
        for kind in ("liveness", "readiness", "startup"):
            _validate_probe(e, c.get(f"{kind}Probe"), f"{p}.{kind}Probe", kind)
        if c.get("restartPolicy") is not None:
            e.forbidden(f"{p}.restartPolicy", "may not be set for non-init containers")
    _check_host_ports(e, containers, path)


def _check_host_ports(e: _Errs, containers: list, path: str) -> None:
    seen: set[str] = set()
    for ci, c in enumerate(containers):
        for pi, port in enumerate(_l(_d(c).get("ports"))):
            port = _d(port)
            hp = port.get("hostPort")
            if not hp:
                continue
            key = f"{port.get('protocol', '')}/{port.get('hostIP', '')}/{hp}"
            if key in seen:
                e.duplicate(f"{path}[{ci}].ports[{pi}].hostPort", key)
            seen.add(key)


def _validate_init_containers(e: _Errs, inits: Any, regular: Any, volumes: set[str], path: str) -> None:
    names = {_d(c).get("name") for c in _l(regular)}
    for i, c in enumerate(_l(inits)):
        c = _d(c)
        p = f"{path}[{i}]"
        _validate_container_common(e, c, volumes, p)
        always = False
        if c.get("restartPolicy") is not None:
            if c["restartPolicy"] != "Always":
                e.unsupported(f"{p}.restartPolicy", c["restartPolicy"], ("Always",))
            always = c["restartPolicy"] == "Always"
        if c.get("name") in names:
            e.duplicate(f"{p}.name", c.get("name") or "")
        elif c.get("name"):
            names.add(c.get("name"))
        if not always:
            for f in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
                if c.get(f) is not None:
                    e.forbidden(f"{p}.{f}", "may not be set for init containers without restartPolicy=Always")


def _validate_volumes(e: _Errs, volumes: Any, path: str) -> set[str]:
    names: set[str] = set()
    for i, v in enumerate(_l(volumes)):
        v = _d(v)
        p = f"{path}[{i}]"
        before = len(e)
        sources = [k for k in _VOLUME_SOURCES if v.get(k) is not None]
        for extra in sources[1:]:
            e.forbidden(f"{p}.{extra}", "may not specify more than 1 volume type")
        if not sources:
            e.required(p, "must specify a volume type")
        name = v.get("name") or ""
        if not name:
            e.required(f"{p}.name")
        else:
            for msg in dns1123_label(str(name)):
                e.invalid(f"{p}.name", name, msg)
        if name in names:
            e.duplicate(f"{p}.name", name)
        if len(e) == before:
            names.add(name)
    return names


def _validate_tolerations(e: _Errs, tols: Any, path: str) -> None:
    for i, t in enumerate(_l(tols)):
        t = _d(t)
        p = f"{path}[{i}]"
        key, op, value, effect = (str(t.get("key") or ""), t.get("operator") or "", str(t.get("value") or ""),
                                  t.get("effect") or "")
        if key:
            for msg in qualified_name(key):
                e.invalid(f"{p}.key", key, msg)
        if not key and op != "Exists":
            e.invalid(f"{p}.operator", op, "operator must be Exists when `key` is empty, which means "
                                           '"match all values and all keys"')
        if t.get("tolerationSeconds") is not None and effect != "NoExecute":
            e.invalid(f"{p}.effect", effect, "effect must be 'NoExecute' when `tolerationSeconds` is set")
        if op in ("Equal", ""):
            msgs = label_value(value)
            if msgs:
                e.invalid(f"{p}.operator", value, ";".join(msgs))
        elif op == "Exists":
            if value:
                e.invalid(f"{p}.operator", value, "value must be empty when `operator` is 'Exists'")
        else:
            e.unsupported(f"{p}.operator", op, ("Equal", "Exists"))
        if effect:
            _validate_taint_effect(e, effect, True, f"{p}.effect")


_TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def _validate_taint_effect(e: _Errs, effect: Any, allow_empty: bool, path: str) -> None:
    if not allow_empty and not effect:
        e.required(path)
    elif effect not in _TAINT_EFFECTS:
        e.unsupported(path, effect, _TAINT_EFFECTS)
