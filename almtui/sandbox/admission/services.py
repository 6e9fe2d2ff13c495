"""Services: validation, and the cluster-IP and node-port allocators.

The allocators consult an index of the addresses stored Services hold (kept from store events),
not a scan of every Service on each write.
"""

from __future__ import annotations

import ipaddress
import weakref
from typing import Any

from almtui.sandbox.admission.causes import _Errs
from almtui.sandbox.admission.containers import _PORT_PROTOCOLS
from almtui.sandbox.admission.meta import _validate_labels
from almtui.sandbox.admission.names import dns1123_label, dns1123_subdomain, port_name, port_num
from almtui.sandbox.admission.render import GoRaw, go_quote, go_string_slice
from almtui.sandbox.admission.values import Obj, _d, _hash, _is_int, _l

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")


NODE_PORT_RANGE = (30000, 32767)


def cluster_ip_for(namespace: str, name: str, attempt: int = 0) -> str:
    """A deterministic address in the service CIDR, skipping .0, .1 (kubernetes) and .10 (DNS)."""
    size = SERVICE_CIDR.num_addresses
    offset = 11 + (_hash("clusterip", namespace, name) + attempt) % (size - 12)
    return str(SERVICE_CIDR.network_address + offset)


def node_port_for(namespace: str, name: str, index: int, attempt: int = 0) -> int:
    lo, hi = NODE_PORT_RANGE
    return lo + (_hash("nodeport", namespace, name, str(index)) + attempt) % (hi - lo + 1)


_SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")


def _go_service_port(protocol: Any, port: Any) -> GoRaw:
    return GoRaw(f'core.ServicePort{{Name:"", Protocol:{go_quote(str(protocol or ""))}, '
                 f'AppProtocol:(*string)(nil), Port:{port if _is_int(port) else 0}, '
                 'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}')


def _drop_type_dependent_fields(spec: Obj, old_spec: Obj) -> None:
    """dropTypeDependentFields: a type change releases what the old type allocated, if left unchanged."""
    typ, old_typ = spec.get("type"), old_spec.get("type")
    node_ports = ("NodePort", "LoadBalancer")
    ports, old_ports = _l(spec.get("ports")), _l(old_spec.get("ports"))
    if typ not in node_ports and old_typ in node_ports:
        same = len(ports) == len(old_ports) and all(
            _d(p).get("nodePort") == _d(o).get("nodePort") for p, o in zip(ports, old_ports, strict=True))
        if same:
            for p in ports:
                if isinstance(p, dict):
                    p.pop("nodePort", None)
    external = typ in node_ports or bool(spec.get("externalIPs"))
    for f, keep in (("externalTrafficPolicy", external), ("allocateLoadBalancerNodePorts", typ == "LoadBalancer"),
                    ("healthCheckNodePort", typ == "LoadBalancer"), ("loadBalancerClass", typ == "LoadBalancer")):
        if not keep and f in spec and spec.get(f) == old_spec.get(f):
            del spec[f]
    if typ == "ExternalName" and old_typ != "ExternalName":
        for f in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy"):
            if f in spec and spec.get(f) == old_spec.get(f):
                del spec[f]


def _validate_service(e: _Errs, store: Any, obj: Obj, old: Obj | None) -> None:
    spec = _d(obj.get("spec"))
    if old is not None:
        _drop_type_dependent_fields(spec, _d(old.get("spec")))
    typ = spec.get("type") or ""
    ports = _l(spec.get("ports"))
    headless = spec.get("clusterIP") == "None" or (_l(spec.get("clusterIPs")) or [""])[0] == "None"
    if old is not None:
        old_spec = _d(old.get("spec"))
        if "ExternalName" not in (typ, old_spec.get("type")):
            new_ips, old_ips = _l(spec.get("clusterIPs")), _l(old_spec.get("clusterIPs"))
            if new_ips and old_ips and new_ips[0] != old_ips[0]:
                e.invalid("spec.clusterIPs[0]", go_string_slice(new_ips), "may not change once set")
    if not ports and not headless and typ != "ExternalName":
        e.required("spec.ports")
    if typ == "ExternalName":
        if spec.get("clusterIPs"):
            e.forbidden("spec.clusterIPs", "may not be set for ExternalName services")
        cname = str(spec.get("externalName") or "").removesuffix(".")
        if cname:
            for msg in dns1123_subdomain(cname):
                e.invalid("spec.externalName", cname, msg)
        else:
            e.required("spec.externalName")
    elif typ in ("LoadBalancer", "NodePort") and headless:
        e.invalid("spec.clusterIPs[0]", "None", f"may not be set to 'None' for {typ} services")
    names: set[str] = set()
    for i, port in enumerate(ports):
        port = _d(port)
        p = f"spec.ports[{i}]"
        name = port.get("name") or ""
        if len(ports) > 1 and not name:
            e.required(f"{p}.name")
        elif name:
            for msg in dns1123_label(str(name)):
                e.invalid(f"{p}.name", name, msg)
            if name in names:
                e.duplicate(f"{p}.name", name)
            names.add(name)
        num = port.get("port")
        for msg in port_num(num if _is_int(num) else 0):
            e.invalid(f"{p}.port", num if _is_int(num) else 0, msg)
        proto = port.get("protocol")
        if not proto:
            e.required(f"{p}.protocol")
        elif proto not in _PORT_PROTOCOLS:
            e.unsupported(f"{p}.protocol", proto, _PORT_PROTOCOLS)
        tp = port.get("targetPort")
        if isinstance(tp, str):
            for msg in port_name(tp):
                e.invalid(f"{p}.targetPort", tp, msg)
        elif _is_int(tp):
            for msg in port_num(tp):
                e.invalid(f"{p}.targetPort", tp, msg)
    if spec.get("selector") is not None:
        _validate_labels(e, spec.get("selector"), "spec.selector")
    affinity = spec.get("sessionAffinity") or ""
    if not affinity:
        e.required("spec.sessionAffinity")
    elif affinity not in ("ClientIP", "None"):
        e.unsupported("spec.sessionAffinity", affinity, ("ClientIP", "None"))
    ip = spec.get("clusterIP")
    if typ != "ExternalName" and ip and ip != "None":
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            e.invalid("spec.clusterIPs[0]", ip,
                      "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")
    if not typ:
        e.required("spec.type")
    elif typ not in _SERVICE_TYPES:
        e.unsupported("spec.type", typ, _SERVICE_TYPES)
    if typ == "ClusterIP":
        for i, port in enumerate(ports):
            if _d(port).get("nodePort"):
                e.forbidden(f"spec.ports[{i}].nodePort", "may not be used when `type` is 'ClusterIP'")
    seen_np: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        port = _d(port)
        if not port.get("nodePort"):
            continue
        k = (port.get("protocol"), port.get("nodePort"))
        if k in seen_np:
            e.duplicate(f"spec.ports[{i}].nodePort", port.get("nodePort"))
        seen_np.add(k)
    seen: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        port = _d(port)
        k = (port.get("protocol"), port.get("port"))
        if k in seen:
            e.duplicate(f"spec.ports[{i}]", _go_service_port(*k))
        seen.add(k)
    if spec.get("allocateLoadBalancerNodePorts") is not None and typ != "LoadBalancer":
        e.forbidden("spec.allocateLoadBalancerNodePorts", "may only be used when `type` is 'LoadBalancer'")
    external = typ in ("NodePort", "LoadBalancer") or bool(spec.get("externalIPs"))
    etp = spec.get("externalTrafficPolicy") or ""
    if not external and etp:
        e.invalid("spec.externalTrafficPolicy", etp, "may only be set for externally-accessible services")
    elif external and not etp:
        e.required("spec.externalTrafficPolicy")
    elif external and etp not in ("Cluster", "Local"):
        e.unsupported("spec.externalTrafficPolicy", etp, ("Cluster", "Local"))
    itp = spec.get("internalTrafficPolicy")
    if itp is None and typ in ("ClusterIP", "NodePort", "LoadBalancer"):
        e.required("spec.internalTrafficPolicy")
    elif itp is not None and itp not in ("Cluster", "Local"):
        e.unsupported("spec.internalTrafficPolicy", itp, ("Cluster", "Local"))
    if not e and store is not None:
        _allocate_service(e, store, obj, old)


class ServiceAllocations:
    """Which cluster IPs and node ports stored Services hold, kept current from the store's events.

    Why: allocation must know every Service's addresses; scanning them all on each Service write
    is O(services). Built from the store on first use, then maintained by `store.subscribe`.
    """

    def __init__(self, store: Any) -> None:
        self._ips: dict[str, set[tuple[str, str]]] = {}
        self._ports: dict[int, set[tuple[str, str]]] = {}
        self._held: dict[tuple[str, str], tuple[str | None, tuple[int, ...]]] = {}
        for svc in store.list("/services"):
            self._hold(svc)
        store.subscribe(self._on_event)

    def _on_event(self, ev: Any) -> None:
        if ev.key != "/services":
            return
        self._release(ev.obj)
        if ev.type != "DELETED":
            self._hold(ev.obj)

    @staticmethod
    def _key(svc: Obj) -> tuple[str, str]:
        md = svc["metadata"]
        return str(md.get("namespace") or ""), str(md["name"])

    def _hold(self, svc: Obj) -> None:
        key = self._key(svc)
        spec = _d(svc.get("spec"))
        ip = spec.get("clusterIP")
        ip = ip if isinstance(ip, str) else None
        ports = tuple(np for p in _l(spec.get("ports")) if _is_int(np := _d(p).get("nodePort")))
        self._held[key] = (ip, ports)
        if ip is not None:
            self._ips.setdefault(ip, set()).add(key)
        for np in ports:
            self._ports.setdefault(np, set()).add(key)

    def _release(self, svc: Obj) -> None:
        key = self._key(svc)
        held = self._held.pop(key, None)
        if held is None:
            return
        ip, ports = held
        if ip is not None:
            _unhold(self._ips, ip, key)
        for np in ports:
            _unhold(self._ports, np, key)

    def ip_taken(self, ip: str, by_other_than: tuple[str, str]) -> bool:
        return bool(self._ips.get(ip, set()) - {by_other_than})

    def port_taken(self, port: int, by_other_than: tuple[str, str]) -> bool:
        return bool(self._ports.get(port, set()) - {by_other_than})


def _unhold(index: dict[Any, set[tuple[str, str]]], value: Any, key: tuple[str, str]) -> None:
    holders = index.get(value)
    if holders is not None:
        holders.discard(key)
        if not holders:
            del index[value]


_ALLOCATIONS: weakref.WeakKeyDictionary[Any, ServiceAllocations] = weakref.WeakKeyDictionary()


def allocations(store: Any) -> ServiceAllocations:
    """The store's ServiceAllocations, created on first use."""
    index = _ALLOCATIONS.get(store)
    if index is None:
        index = _ALLOCATIONS[store] = ServiceAllocations(store)
    return index


def _allocate_service(e: _Errs, store: Any, obj: Obj, old: Obj | None) -> None:
    """The IP and node-port allocators: derived values move on when taken, requested ones must be free."""
    spec = _d(obj.get("spec"))
    md = _d(obj.get("metadata"))
    ns, name = str(md.get("namespace") or ""), str(md.get("name") or "")
    me = (ns, name)
    held = allocations(store)
    old_spec = _d((old or {}).get("spec"))
    ip = spec.get("clusterIP")
    if ip and ip != "None" and ip != old_spec.get("clusterIP") and spec.get("type") != "ExternalName":
        if ip == cluster_ip_for(ns, name) and old is None:
            attempt = 0
            while held.ip_taken(ip, me) and attempt < 1000:
                attempt += 1
                ip = cluster_ip_for(ns, name, attempt)
            spec["clusterIP"], spec["clusterIPs"] = ip, [ip, *_l(spec.get("clusterIPs"))[1:]]
        elif ipaddress.ip_address(ip) not in SERVICE_CIDR:
            e.invalid("spec.clusterIPs", go_string_slice(_l(spec.get("clusterIPs")) or [ip]),
                      f"failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. "
                      f"The range of valid IPs is {SERVICE_CIDR}")
        elif held.ip_taken(ip, me):
            e.invalid("spec.clusterIPs", go_string_slice(_l(spec.get("clusterIPs")) or [ip]),
                      f"failed to allocate IP {ip}: provided IP is already allocated")
    mine: set[Any] = set()  # ports this Service's earlier entries took

    def used(np: Any) -> bool:
        return np in mine or held.port_taken(np, me)

    old_ports = {_d(p).get("nodePort") for p in _l(old_spec.get("ports"))}
    lo, hi = NODE_PORT_RANGE
    for i, port in enumerate(_l(spec.get("ports"))):
        np = _d(port).get("nodePort")
        if not _is_int(np) or not np or np in old_ports:
            continue
        if old is None and np == node_port_for(ns, name, i):
            attempt = 0
            while used(np) and attempt < 3000:
                attempt += 1
                np = node_port_for(ns, name, i, attempt)
            port["nodePort"] = np
        elif not lo <= np <= hi:
            e.invalid(f"spec.ports[{i}].nodePort", np, f"provided port is not in the valid range. "
                                                       f"The range of valid ports is {lo}-{hi}")
        elif used(np):
            e.invalid(f"spec.ports[{i}].nodePort", np, "provided port is already allocated")
        mine.add(np)
