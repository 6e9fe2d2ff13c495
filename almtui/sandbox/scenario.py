"""Scenarios: YAML descriptions of an edge site (nodes, users, manifests, revision history, load).

A scenario is applied to an empty store through the same write paths as API requests, then
the controllers settle it with the clock frozen, so a seed reproduces the same cluster.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any

import yaml

from almtui.kube.quantities import cpu_millis, to_bytes

BUILTIN = ("edge-retail", "hostile")


class ScenarioError(ValueError):
    """A scenario that cannot be loaded; the message names the file and the problem."""


@dataclass
class Scenario:
    name: str
    description: str = ""
    users: list[dict] = field(default_factory=list)
    nodes: list[dict] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    objects: list[dict] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)
    load: dict[str, dict] = field(default_factory=dict)
    settle: float = 600.0
    options: dict[str, Any] = field(default_factory=dict)
    include: list[str] = field(default_factory=list)  # fragment files whose objects/history/load are appended


def _read(name_or_path: str, base: Any = None) -> tuple[str, str]:
    if base is None and name_or_path in BUILTIN:
        ref = importlib_resources.files("almtui.sandbox") / "scenarios" / f"{name_or_path}.yaml"
        return ref.read_text(encoding="utf-8"), f"<builtin {name_or_path}>"
    if base is not None:
        ref = base / name_or_path
        try:
            return ref.read_text(encoding="utf-8"), str(ref)
        except OSError as e:
            raise ScenarioError(f"{ref}: cannot read included fragment: {e.strerror}") from None
    path = Path(name_or_path)
    if not path.exists():
        raise ScenarioError(f"scenario {name_or_path!r} is neither a built-in ({', '.join(BUILTIN)}) nor a file")
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except OSError as e:
        raise ScenarioError(f"{path}: cannot read scenario: {e.strerror}") from None


def _yaml(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise ScenarioError(f"{where}:{line} invalid YAML: {getattr(e, 'problem', e)}") from None


def load_scenario(name_or_path: str = "edge-retail") -> Scenario:
    """Load a built-in or file scenario, appending the objects, history and load of its includes."""
    text, where = _read(name_or_path)
    data = _yaml(text, where)
    if isinstance(data, dict) and data.get("include"):
        base = (importlib_resources.files("almtui.sandbox") / "scenarios" if name_or_path in BUILTIN
                else Path(name_or_path).parent)
        for frag in data["include"]:
            ftext, fwhere = _read(frag, base)
            fdata = _yaml(ftext, fwhere) or {}
            if not isinstance(fdata, dict) or set(fdata) - {"objects", "history", "load", "namespaces"}:
                raise ScenarioError(f"{fwhere}: a fragment may hold only objects, history, load and namespaces")
            for k in ("objects", "history", "namespaces"):
                data.setdefault(k, [])
                data[k] = list(data[k]) + list(fdata.get(k) or [])
            data.setdefault("load", {}).update(fdata.get("load") or {})
    return parse_scenario(data, where)


def parse_scenario(data: Any, where: str = "<scenario>") -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: a scenario must be a mapping")
    known = {f for f in Scenario.__dataclass_fields__}
    unknown = set(data) - known
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s): {', '.join(sorted(unknown))}")
    if not data.get("name"):
        raise ScenarioError(f"{where}: field 'name' is required")
    sc = Scenario(**{k: copy.deepcopy(v) for k, v in data.items()})
    for i, node in enumerate(sc.nodes):
        if not isinstance(node, dict) or not node.get("name"):
            raise ScenarioError(f"{where}: nodes[{i}]: a node needs a name")
        try:
            cpu_millis(node.get("cpu", "4"))
            to_bytes(node.get("memory", "8Gi"))
        except ValueError as e:
            raise ScenarioError(f"{where}: nodes[{i}] ({node['name']}): {e}") from None
    for i, obj in enumerate(sc.objects):
        if not isinstance(obj, dict) or not obj.get("kind") or not obj.get("apiVersion"):
            raise ScenarioError(f"{where}: objects[{i}]: each object needs apiVersion and kind")
    return sc


def node_object(spec: dict, kubelet_version: str = "v1.33.0") -> dict:
    """A Node as a kubelet registers it, from the scenario's short form."""
    name = spec["name"]
    cpu = str(spec.get("cpu", "4"))
    mem = str(spec.get("memory", "8Gi"))
    pods = str(spec.get("pods", 110))
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
              "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64", **(spec.get("labels") or {})}
    alloc_cpu = max(cpu_millis(cpu) - 100, 100)
    alloc_mem = max(to_bytes(mem) - 256 * 1024 * 1024, 256 * 1024 * 1024)
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels,
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                     "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": {"podCIDR": spec.get("podCIDR", ""), **({"taints": spec["taints"]} if spec.get("taints") else {})},
        "status": {
            "capacity": {"cpu": cpu, "memory": mem, "pods": pods, "ephemeral-storage": "61255492Ki"},
            "allocatable": {"cpu": f"{alloc_cpu}m", "memory": f"{alloc_mem // 1024}Ki", "pods": pods,
                            "ephemeral-storage": "56453061334"},
            "addresses": [{"type": "InternalIP", "address": spec.get("ip", "10.0.0.1")},
                          {"type": "Hostname", "address": name}],
            "nodeInfo": {"machineID": hashlib.md5(name.encode()).hexdigest(), "systemUUID": name,
                         "bootID": name, "kernelVersion": "6.1.0-28-amd64",
                         "osImage": spec.get("osImage", "Debian GNU/Linux 12 (bookworm)"),
                         "containerRuntimeVersion": "containerd://1.7.24", "kubeletVersion": kubelet_version,
                         "kubeProxyVersion": kubelet_version, "operatingSystem": "linux", "architecture": "amd64"},
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "conditions": [],
        },
    }
